//! The sign-in's decisions: whether the person must (again) log in, whether they must
//! consent, whose `id_token_hint` it is, and what `/authorize` does with a request once
//! it is validated — issue a code at once, show the login or the consent page, or send
//! an error back to the client.

use crate::client_metadata::MetadataError;
use usher_domain::authorize::{
    AuthorizationRequest, Params, RawParams, Rejection, UntrustedError, identify_client,
    resolve_redirect_uri,
};
use usher_domain::{
    Acr, Client, InteractionStep, MfaPolicy, ProtocolError, Session, UnixTime, UserId,
};

use super::interaction::{self, MAX_SEALED_LEN};
use super::{
    BackToClient, ConsentForm, Cookies, ErrorPageKind, Form, LoginForm, NoAccess, SignInOutcome,
};
use crate::id_token_hint::{HintError, IdTokenHint};
use crate::resources::TargetError;
use crate::{Core, Failure, blocking};

pub fn rejection(error: ProtocolError, description: &str) -> Rejection {
    Rejection {
        error,
        description: description.to_owned(),
    }
}

/// The weakest sign-in this request accepts (docs/design/mfa.md, "Policy"): a second
/// factor when the server requires one (`mfa = "required"`), when the client was
/// registered with `--require-mfa`, or when `acr_values` names `urn:usher:acr:mfa` (or a
/// stronger value: a password sign-in can reach `mfa` at most, so `phr` asks for `mfa`
/// until passkey sign-in exists, and the `acr` returned says what was reached).
pub fn needed_acr(core: &Core, client: &Client, request: &AuthorizationRequest) -> Acr {
    let mut need = Acr::Password;
    if policy_requires_mfa(core, client) {
        need = Acr::Mfa;
    }
    if let Some(asked) = request.acr {
        need = need.max(asked.min(Acr::Mfa));
    }
    need
}

/// Whether the server's or the client's policy requires a second factor: only then is a
/// person without one made to set one up during a sign-in. A request's own
/// `acr_values` asks for a stronger sign-in from people who have a factor, but never
/// makes anyone enrol one (whoever has the password could otherwise enrol their own app
/// on an account without one just by asking); the `acr` returned says what was reached.
pub fn policy_requires_mfa(core: &Core, client: &Client) -> bool {
    core.settings.mfa == MfaPolicy::Required || client.registration.require_mfa
}

/// Whether the person must (again) sign in for this request: no session, `prompt=login`,
/// `max_age` passed, or a session weaker than the request needs (`need`; step-up repeats
/// the whole sign-in, password first).
pub fn login_needed(
    request: &AuthorizationRequest,
    session: Option<&Session>,
    now: i64,
    need: Acr,
) -> bool {
    match session {
        None => true,
        Some(_) if request.prompt.login => true,
        Some(s) if s.amr.acr() < need => true,
        // OIDC Core §3.1.2.1: max_age=0 is prompt=login (whole seconds would otherwise
        // let a login within the same second pass).
        Some(s) => request
            .max_age
            .is_some_and(|max| max == 0 || now.saturating_sub(s.auth_time.seconds()) > max as i64),
    }
}

/// Whether the consent page must be shown. Always for a client whose identity its
/// redirect URI cannot prove (a public client on loopback or a private-use scheme: RFC
/// 8252 §8.6); never for a (confidential) first-party client; otherwise unless the
/// person already granted these scopes, at these resources (RFC 8707), to the client and
/// `prompt=consent` was not sent.
pub async fn consent_needed(
    core: &Core,
    client: &Client,
    user: &UserId,
    request: &AuthorizationRequest,
) -> Result<bool, Failure> {
    if !client.may_skip_interaction(request.redirect_uri.as_str()) {
        return Ok(true);
    }
    if client.is_first_party() {
        return Ok(false);
    }
    if request.prompt.consent {
        return Ok(true);
    }
    let consents = core.stores.consents.clone();
    let (user, client_id) = (user.clone(), client.id.clone());
    let granted = blocking(move || consents.get_consent(&user, &client_id)).await?;
    Ok(!granted.is_some_and(|g| g.covers(&request.scope, &request.resources)))
}

/// The subject named by an `id_token_hint`, which must be an ID token Usher issued to a
/// registered client (expired ones are fine: OIDC Core §3.1.2.1); see
/// [`IdTokenHint::verify`].
pub async fn hint_subject(core: &Core, hint: &str) -> Result<String, Rejection> {
    match IdTokenHint::verify(core, hint).await {
        Ok(h) => Ok(h.subject),
        Err(HintError::Invalid) => Err(rejection(
            ProtocolError::InvalidRequest,
            "id_token_hint is not an ID token issued by this server",
        )),
        Err(HintError::Failure(_)) => Err(rejection(
            ProtocolError::TemporarilyUnavailable,
            "the server cannot reach its storage; try again shortly",
        )),
    }
}

/// What `/authorize` does with a request (RFC 6749 §3.1, OIDC Core §3.1.2): until the
/// client and its redirect URI are trusted, errors are Usher's own page; then the request
/// is validated (errors go back to the client), the `id_token_hint` checked against the
/// browser's session, and the person signed in, asked for consent, or given a code.
pub async fn authorize(core: &Core, raw: &RawParams, cookies: Cookies<'_>) -> SignInOutcome {
    let params = Params::new(raw);
    let untrusted = |e: UntrustedError| {
        tracing::info!(cause = %e, "authorization request refused without redirect");
        SignInOutcome::ErrorPage(ErrorPageKind::Untrusted(e))
    };
    let (client_id, sent_redirect) = match identify_client(&params) {
        Ok(v) => v,
        Err(e) => return untrusted(e),
    };
    let client = match client_id.metadata_url() {
        // A Client ID Metadata Document: its own errors, on Usher's page (the redirect
        // URI is not trusted before the document is).
        Some(_) => match core.metadata_client(&client_id).await {
            Ok(c) => c,
            Err(MetadataError::Off) => return untrusted(UntrustedError::UnknownClient),
            Err(MetadataError::Failure(f)) => return SignInOutcome::failure(f),
            Err(e) => {
                return untrusted(UntrustedError::ClientMetadata {
                    category: e.category(),
                });
            }
        },
        None => match core.client(&client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return untrusted(UntrustedError::UnknownClient),
            Err(f) => return SignInOutcome::failure(f),
        },
    };
    let redirect_uri = match resolve_redirect_uri(&client, sent_redirect.as_deref()) {
        Ok(r) => r,
        Err(e) => return untrusted(e),
    };
    // From here on the redirect URI is trusted: errors go back to the client.
    let client_state = params.one("state").ok().flatten();
    // A client that described itself gets Usher's page instead (`error_for`).
    let fail = |r: Rejection| SignInOutcome::error_for(&client, &redirect_uri, client_state, r);
    let mut request = match AuthorizationRequest::parse(
        &params,
        &client,
        redirect_uri.clone(),
        sent_redirect.is_some(),
    ) {
        Ok(r) => r,
        Err(r) => return fail(r),
    };
    // RFC 8707: the resources must be registered and open to this client; the scope
    // becomes what is granted for them (crate::resources).
    match crate::resources::authorize(core, &client, &mut request).await {
        Ok(()) => {}
        Err(TargetError::Refused(r)) => return fail(r),
        Err(TargetError::Failure(f)) => return SignInOutcome::failure(f),
    }
    let hinted = match &request.id_token_hint {
        Some(hint) => match hint_subject(core, hint).await {
            Ok(sub) => Some(sub),
            Err(r) => return fail(r),
        },
        None => None,
    };
    let session = match core.session(cookies.session).await {
        Ok(s) => s,
        Err(f) => return SignInOutcome::failure(f),
    };
    if let (Some(sub), Some(s)) = (&hinted, &session)
        && sub != s.user_id.as_str()
    {
        return fail(rejection(
            ProtocolError::LoginRequired,
            "the id_token_hint names another person than the one signed in",
        ));
    }

    let now = core.now().seconds();
    let need = needed_acr(core, &client, &request);
    let session = match session {
        Some(s) if !login_needed(&request, Some(&s), now, need) => s,
        _ if request.prompt.none => {
            return fail(rejection(
                ProtocolError::LoginRequired,
                "the person is not signed in (or must sign in again) and prompt=none was sent",
            ));
        }
        _ => {
            return first_page(
                core,
                cookies.binding,
                &client,
                &request,
                InteractionStep::Login,
                None,
            )
            .await;
        }
    };
    // A client restricted to groups: checked before consent and before any code.
    if let Some(refused) = group_gate(core, &client, &request, &session.user_id).await {
        return refused;
    }
    match consent_needed(core, &client, &session.user_id, &request).await {
        Ok(false) => super::code::issue_code(core, &request, &session).await,
        // OIDC Core §3.1.2.6: interaction_required, not consent_required, because no
        // remembered consent will ever let this client through without a page.
        Ok(true)
            if request.prompt.none
                && !client.may_skip_interaction(request.redirect_uri.as_str()) =>
        {
            fail(rejection(
                ProtocolError::InteractionRequired,
                "this public client's redirect URI cannot prove its identity, so the person must approve every sign-in on a page; prompt=none cannot be honoured",
            ))
        }
        Ok(true) if request.prompt.none => fail(rejection(
            ProtocolError::ConsentRequired,
            "the person has not consented to these scopes and prompt=none was sent",
        )),
        Ok(true) => {
            first_page(
                core,
                cookies.binding,
                &client,
                &request,
                InteractionStep::Consent,
                Some((session.user_id.clone(), session.auth_time)),
            )
            .await
        }
        Err(f) => SignInOutcome::failure(f),
    }
}

/// The `error_description` of a sign-in refused because the person is in none of the
/// client's allowed groups.
pub const NOT_A_MEMBER: &str = "the person is not in any group allowed to use this client";

/// The group restriction of a client (docs/design/groups.md): `None` when `user` may use
/// it (or it is not restricted); else the "You do not have access" page — or, for
/// `prompt=none`, which shows no page, `access_denied` to the client at once.
pub async fn group_gate(
    core: &Core,
    client: &Client,
    request: &AuthorizationRequest,
    user: &UserId,
) -> Option<SignInOutcome> {
    match crate::groups::may_use(core, client, user).await {
        Ok(true) => None,
        Err(f) => Some(SignInOutcome::failure(f)),
        Ok(false) => {
            let denied = rejection(ProtocolError::AccessDenied, NOT_A_MEMBER);
            if request.prompt.none {
                return Some(SignInOutcome::error_for(
                    client,
                    &request.redirect_uri,
                    request.state.as_deref(),
                    denied,
                ));
            }
            Some(SignInOutcome::NoAccess(NoAccess {
                client_name: client.registration.name.as_str().to_owned(),
                username: username_of(core, user).await,
                back: (!client.describes_itself()).then(|| BackToClient {
                    redirect_uri: request.redirect_uri.clone(),
                    rejection: denied,
                    state: request.state.clone(),
                }),
            }))
        }
    }
}

/// The first page of an interaction at `step` — the login page, or the consent page for
/// the signed-in `user` — without storing anything: the page's form carries the pending
/// request sealed, and the browser-binding cookie is to be set (kept if it exists).
pub async fn first_page(
    core: &Core,
    binding: Option<&str>,
    client: &Client,
    request: &AuthorizationRequest,
    step: InteractionStep,
    user: Option<(UserId, UnixTime)>,
) -> SignInOutcome {
    let sealed = match interaction::seal(core, binding, request, step, user.as_ref()) {
        Ok(s) => s,
        Err(f) => return SignInOutcome::failure(f),
    };
    if sealed.sealed.len() > MAX_SEALED_LEN {
        return SignInOutcome::error_for(
            client,
            &request.redirect_uri,
            request.state.as_deref(),
            rejection(
                ProtocolError::InvalidRequest,
                "the request is too large to continue; shorten state, nonce, login_hint or id_token_hint",
            ),
        );
    }
    let form = Form::Sealed(sealed.sealed);
    match step {
        InteractionStep::Login => SignInOutcome::ShowLogin(LoginForm {
            client_name: client.registration.name.as_str().to_owned(),
            form,
            username: request.login_hint.clone().unwrap_or_default(),
            binding: Some(sealed.binding),
            passkeys: crate::passkeys::available(&core.settings),
            signup: crate::signup::offered(&core.settings),
            upstreams: super::upstream::buttons(core).await,
            link: None,
        }),
        // The later steps are never a first page: they follow a posted login form.
        InteractionStep::SecondFactor | InteractionStep::RecoveryCodes => {
            SignInOutcome::failure(crate::Failure::Internal)
        }
        InteractionStep::Consent => {
            let username = match &user {
                Some((u, _)) => username_of(core, u).await,
                None => String::new(),
            };
            let resources = crate::resources::labels(core, &request.resources).await;
            SignInOutcome::ShowConsent(consent_form(
                client,
                request,
                resources,
                username,
                form,
                Some(sealed.binding),
            ))
        }
    }
}

/// Where a redirect URI sends the person: its host (with a port other than the
/// scheme's), or its private-use scheme.
fn redirect_host(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) if !h.is_empty() => format!("{h}:{p}"),
            (Some(h), None) if !h.is_empty() => h.to_owned(),
            _ => format!("{}:", u.scheme()),
        },
        Err(_) => uri.to_owned(),
    }
}

/// The consent page for a request.
pub fn consent_form(
    client: &Client,
    request: &AuthorizationRequest,
    resources: Vec<String>,
    username: String,
    form: Form,
    binding: Option<String>,
) -> ConsentForm {
    // A metadata-document client always sees this page (`may_skip_interaction`); the
    // page names the host of its document, and warns about the device only when the
    // redirect URI is not https.
    let published_by = client
        .id
        .metadata_url()
        .filter(|_| client.registration.metadata_document)
        .map(|u| u.host().to_owned());
    let unverified = match &published_by {
        Some(_) => !request.redirect_uri.as_str().starts_with("https://"),
        None => !client.redirect_proves_identity(request.redirect_uri.as_str()),
    };
    ConsentForm {
        client_name: client.registration.name.as_str().to_owned(),
        username,
        scopes: request.scope.clone(),
        resources,
        unverified,
        published_by,
        // Where the code goes, for every client that described itself: a metadata
        // document's redirect URI may be on another host than the document.
        self_registered_host: client
            .describes_itself()
            .then(|| redirect_host(request.redirect_uri.as_str())),
        form,
        binding,
    }
}

/// The username to show on the consent page ("Signed in as …"); empty if it cannot be
/// read.
pub async fn username_of(core: &Core, user: &UserId) -> String {
    match core.user(user).await {
        Ok(Some(u)) => u.username.as_str().to_owned(),
        _ => String::new(),
    }
}
