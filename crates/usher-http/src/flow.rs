//! The authorization flow shared by `/authorize`, the login form and the consent form:
//! deciding whether the person must log in or consent, carrying the pending request from
//! page to page, and finally issuing the code and redirecting back to the client.
//!
//! The first page (login, or consent for someone already signed in) writes nothing: its
//! form carries the pending request sealed (`SealedInteraction`, AES-256-GCM under a KEK
//! sub-key) with a fresh interaction id, an expiry and the hash of the browser's binding
//! cookie. Posting that form stores the interaction under its id with an insert that
//! fails if the id exists, so the first form works once; later forms carry the id and a
//! one-use CSRF token, spent by compare-and-set. Every form is accepted only from a
//! browser whose binding cookie hashes to the one recorded (docs/design/sign-in.md).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use usher_domain::authorize::{AuthorizationRequest, RawParams, Rejection};
use usher_domain::{
    AuthorizationCode, Client, ClientId, Interaction, InteractionStep, ProtocolError, Session,
    UnixTime, UserId,
};
use usher_keys::sha256_b64url;

use crate::Core;
use crate::cookies;
use crate::id_token_hint::{HintError, IdTokenHint};
use crate::pages::{self, ConsentPage, ErrorPage, FormState, LoginPage, ScopeLine};
use crate::respond::{Failure, blocking, error_redirect, redirect, with_query};

/// An error page for when the server itself failed mid-flow.
pub fn failure_page(f: Failure) -> HttpResponse {
    let (status, message) = match f {
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable for a moment. Please try again shortly.",
        ),
        Failure::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Please try again.",
        ),
    };
    pages::error(
        status,
        ErrorPage {
            title: "Sign-in is unavailable",
            message,
        },
    )
}

/// A 400 error page: the request cannot be trusted or continued.
pub fn bad_request_page(title: &str, message: &str) -> HttpResponse {
    pages::error(StatusCode::BAD_REQUEST, ErrorPage { title, message })
}

/// The error response sent back to the client's redirect URI (RFC 6749 §4.1.2.1 with
/// RFC 9207's `iss`).
pub fn redirect_error(
    state: &Core,
    redirect_uri: &str,
    client_state: Option<&str>,
    rejection: &Rejection,
) -> HttpResponse {
    tracing::info!(error = rejection.error.code(), description = %rejection.description, "authorization request refused");
    error_redirect(
        redirect_uri,
        rejection.error,
        &rejection.description,
        client_state,
        state.settings.issuer.as_str(),
    )
}

pub fn rejection(error: ProtocolError, description: &str) -> Rejection {
    Rejection {
        error,
        description: description.to_owned(),
    }
}

/// The browser's current session, if its cookie names a live one.
pub async fn current_session(state: &Core, req: &HttpRequest) -> Result<Option<Session>, Failure> {
    let cookie = cookies::read(req, &state.settings, cookies::SESSION);
    state.session(cookie.as_deref()).await
}

/// The subject named by an `id_token_hint`, which must be an ID token Usher issued to a
/// registered client (expired ones are fine: OIDC Core §3.1.2.1); see
/// [`IdTokenHint::verify`].
pub async fn hint_subject(state: &Core, hint: &str) -> Result<String, Rejection> {
    match IdTokenHint::verify(state, hint).await {
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

/// Whether the person must (again) enter their password for this request.
pub fn login_needed(request: &AuthorizationRequest, session: Option<&Session>, now: i64) -> bool {
    match session {
        None => true,
        Some(_) if request.prompt.login => true,
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
/// person already granted these scopes to the client and `prompt=consent` was not sent.
pub async fn consent_needed(
    state: &Core,
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
    let consents = state.stores.consents.clone();
    let (user, client_id) = (user.clone(), client.id.clone());
    let granted = blocking(move || consents.get_consent(&user, &client_id)).await?;
    Ok(!granted.is_some_and(|g| request.scope.is_subset(&g)))
}

pub use usher_core::secret_pair;

/// What the first page's form carries, sealed: an interaction not stored yet, with
/// everything needed to continue it on any node.
#[derive(serde::Serialize, serde::Deserialize)]
struct SealedInteraction {
    id: String,
    step: String,
    browser_hash: String,
    user_id: Option<String>,
    auth_time: Option<i64>,
    created_at: i64,
    expires_at: i64,
    request: AuthorizationRequest,
}

/// The associated data of a sealed interaction: nothing else sealed with the form key can
/// pass for one.
const SEAL_PURPOSE: &[u8] = b"usher pending interaction v1";

/// The longest sealed interaction a page may carry. The login and consent forms are
/// limited to 64 KiB ([`crate::params::MAX_FORM_BYTES`]); this leaves room for the other
/// fields. Only a request whose values are near the 4 KiB limit each, and full of
/// characters JSON must escape, comes near it.
const MAX_SEALED_LEN: usize = 48 * 1024;

/// The browser's binding: the one it has, or a new random one.
fn binding_for(state: &Core, req: &HttpRequest) -> Result<String, Failure> {
    match cookies::browser_binding(req, &state.settings) {
        Some(b) => Ok(b),
        None => secret_pair().map(|(binding, _)| binding),
    }
}

/// Shows the first page of an interaction at `step` — the login page, or the consent page
/// for the signed-in `user` — without storing anything: the page's form carries the
/// pending request sealed, and the browser-binding cookie is set (kept if it exists).
pub async fn start_interaction(
    state: &Core,
    req: &HttpRequest,
    client: &Client,
    request: &AuthorizationRequest,
    step: InteractionStep,
    user: Option<(UserId, UnixTime)>,
) -> HttpResponse {
    let sealed = || -> Result<(String, String), Failure> {
        let binding = binding_for(state, req)?;
        let (id, _) = secret_pair()?;
        let now = state.now();
        let pending = SealedInteraction {
            id,
            step: step.as_str().to_owned(),
            browser_hash: sha256_b64url(&binding),
            user_id: user.as_ref().map(|(u, _)| u.as_str().to_owned()),
            auth_time: user.as_ref().map(|(_, t)| t.seconds()),
            created_at: now.seconds(),
            expires_at: now.plus(state.settings.interaction_ttl).seconds(),
            request: request.clone(),
        };
        let json = serde_json::to_vec(&pending).map_err(|_| Failure::Internal)?;
        let sealed = state.sealer.seal(&json, SEAL_PURPOSE).map_err(|e| {
            tracing::error!(cause = %e, "a pending interaction could not be sealed");
            Failure::Internal
        })?;
        Ok((sealed, binding))
    };
    let (sealed, binding) = match sealed() {
        Ok(v) => v,
        Err(f) => return failure_page(f),
    };
    if sealed.len() > MAX_SEALED_LEN {
        return redirect_error(
            state,
            request.redirect_uri.as_str(),
            request.state.as_deref(),
            &rejection(
                ProtocolError::InvalidRequest,
                "the request is too large to continue; shorten state, nonce, login_hint or id_token_hint",
            ),
        );
    }
    let form = FormState::Sealed(&sealed);
    let mut response = match step {
        InteractionStep::Login => pages::login(
            StatusCode::OK,
            LoginPage {
                client_name: client.registration.name.as_str(),
                form,
                username: request.login_hint.as_deref().unwrap_or(""),
                error: None,
            },
        ),
        InteractionStep::Consent => {
            let username = match &user {
                Some((u, _)) => username_of(state, u).await,
                None => String::new(),
            };
            consent_page(client, request, &username, form)
        }
    };
    // The same value as before, if the browser had one: other tabs' forms stay valid.
    let cookie = cookies::make(
        &state.settings,
        cookies::BROWSER,
        binding,
        state.settings.interaction_ttl,
    );
    if response.add_cookie(&cookie).is_err() {
        return failure_page(Failure::Internal);
    }
    response
}

/// The consent page for a request, with the form's hidden fields.
pub fn consent_page(
    client: &Client,
    request: &AuthorizationRequest,
    username: &str,
    form: FormState<'_>,
) -> HttpResponse {
    let scopes = request
        .scope
        .iter()
        .map(|s| ScopeLine {
            scope: s.as_str().to_owned(),
            description: pages::describe_scope(s.as_str()),
        })
        .collect();
    pages::consent(ConsentPage {
        client_name: client.registration.name.as_str(),
        username,
        scopes,
        form,
        unverified: !client.may_skip_interaction(request.redirect_uri.as_str()),
    })
}

/// The username to show on the consent page ("Signed in as …").
pub async fn username_of(state: &Core, user: &UserId) -> String {
    match state.user(user).await {
        Ok(Some(u)) => u.username.as_str().to_owned(),
        _ => String::new(),
    }
}

/// Issues an authorization code for the session and redirects to the client with it.
pub async fn issue_code(
    state: &Core,
    request: &AuthorizationRequest,
    session: &Session,
) -> HttpResponse {
    let result: Result<String, Failure> = async {
        let (code, code_hash) = secret_pair()?;
        let now = state.now();
        let row = AuthorizationCode {
            code_hash,
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_sent: request.redirect_uri_sent,
            user_id: session.user_id.clone(),
            lineage_hash: session.lineage_hash.clone(),
            scopes: request.scope.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: session.auth_time,
            created_at: now,
            expires_at: now.plus(state.settings.code_ttl),
        };
        let codes = state.stores.codes.clone();
        blocking(move || codes.insert_code(&row)).await?;
        Ok(code)
    }
    .await;
    match result {
        Ok(code) => {
            tracing::info!(client_id = %request.client_id, "authorization code issued");
            let mut pairs = vec![("code", code.as_str())];
            if let Some(s) = &request.state {
                pairs.push(("state", s.as_str()));
            }
            pairs.push(("iss", state.settings.issuer.as_str()));
            // The browser binding stays: another sign-in may be running in another tab.
            redirect(&with_query(request.redirect_uri.as_str(), &pairs))
        }
        Err(f) => failure_page(f),
    }
}

/// Loads a client by its id string, for the form steps.
pub async fn load_client(state: &Core, id: &str) -> Result<Option<Client>, Failure> {
    let Some(id) = ClientId::parse(id) else {
        return Ok(None);
    };
    state.client(&id).await
}

/// A pending interaction, loaded for a form step.
pub struct Pending {
    pub interaction: Interaction,
    pub request: AuthorizationRequest,
    pub client: Client,
    form: PendingForm,
}

impl Pending {
    /// The posted form's own fields, to show the same form again when it was refused
    /// before being spent (a throttled login): it stays good for one more attempt.
    pub fn unspent_form<'a>(&self, form: &'a RawParams) -> Option<FormState<'a>> {
        match self.form {
            PendingForm::Sealed => crate::params::single(form, "pending").map(FormState::Sealed),
            PendingForm::Stored { .. } => Some(FormState::Stored {
                interaction: crate::params::single(form, "interaction")?,
                csrf: crate::params::single(form, "csrf")?,
            }),
        }
    }
}

/// Which kind of form was posted.
enum PendingForm {
    /// The first form: the interaction is not stored yet.
    Sealed,
    /// A later form, with the hash of the CSRF token it carried.
    Stored { csrf_hash: String },
}

/// The page for a form that expired, was altered, or whose sign-in is over.
fn expired_page() -> HttpResponse {
    bad_request_page(
        "This page has expired",
        "The sign-in took too long or was already completed. Go back to the application and start again.",
    )
}

/// The page for a form posted from another browser than the one that started it.
fn other_browser_page() -> HttpResponse {
    bad_request_page(
        "This form does not belong to this browser",
        "Cookies must be enabled to sign in. Go back to the application and start again.",
    )
}

fn internal_page() -> HttpResponse {
    failure_page(Failure::Internal)
}

fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

/// Loads the interaction a form posts to, at `step`, and checks that the form belongs to
/// this browser: the binding hash it records is that of the browser's binding cookie. A
/// first form's sealed interaction must open under the form key and be unexpired; a later
/// form's stored interaction must be live. A form already used is refused here too, by
/// reading only (a first form whose interaction is stored, a later form whose token is
/// not the current one), so a replayed form reaches neither the throttle nor the store.
/// Nothing is spent here: [`renew`] and [`conclude`] do that, and decide races.
pub async fn pending(
    state: &Core,
    req: &HttpRequest,
    form: &RawParams,
    step: InteractionStep,
) -> Result<Pending, HttpResponse> {
    let binding = cookies::browser_binding(req, &state.settings).map(|b| sha256_b64url(&b));
    let now = state.now();
    let (interaction, form) = match crate::params::single(form, "pending") {
        Some(sealed) => {
            let Some(binding) = binding else {
                return Err(other_browser_page());
            };
            let interaction = unseal(state, sealed, &binding, step, now).map_err(|page| page())?;
            // Already stored: this first form was used. Said now, before anything is
            // reserved or written; the insert in `renew`/`conclude` still decides a race.
            let store = state.stores.interactions.clone();
            let lookup = interaction.id.clone();
            match blocking(move || store.get_interaction(&lookup, now)).await {
                Ok(None) => {}
                Ok(Some(_)) => return Err(reused_form_page()),
                Err(f) => return Err(failure_page(f)),
            }
            (interaction, PendingForm::Sealed)
        }
        None => {
            let (Some(id), Some(csrf)) = (
                crate::params::single(form, "interaction"),
                crate::params::single(form, "csrf"),
            ) else {
                return Err(bad_request_page(
                    "This form is incomplete",
                    "Go back to the application and start again.",
                ));
            };
            let Some(binding) = binding else {
                return Err(other_browser_page());
            };
            let store = state.stores.interactions.clone();
            let lookup = id.to_owned();
            let interaction = match blocking(move || store.get_interaction(&lookup, now)).await {
                Ok(Some(i)) if i.step == step => i,
                Ok(_) => return Err(expired_page()),
                Err(f) => return Err(failure_page(f)),
            };
            if !same_hash(&interaction.browser_hash, &binding) {
                return Err(other_browser_page());
            }
            let csrf_hash = sha256_b64url(csrf);
            // Not this form's current token (used, or never valid): said now, before
            // anything is reserved or written; the compare-and-set still decides a race.
            if !same_hash(&interaction.csrf_hash, &csrf_hash) {
                return Err(reused_form_page());
            }
            (interaction, PendingForm::Stored { csrf_hash })
        }
    };
    let request: AuthorizationRequest =
        serde_json::from_str(&interaction.request).map_err(|_| failure_page(Failure::Internal))?;
    let client = match state.client(&request.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(expired_page()),
        Err(f) => return Err(failure_page(f)),
    };
    Ok(Pending {
        interaction,
        request,
        client,
        form,
    })
}

/// Opens a first form's sealed interaction: anything that does not open, is expired or is
/// for another step is the "expired" page; one bound to another browser is refused. The
/// error is the page to show.
fn unseal(
    state: &Core,
    sealed: &str,
    binding_hash: &str,
    step: InteractionStep,
    now: UnixTime,
) -> Result<Interaction, fn() -> HttpResponse> {
    let opened = state
        .sealer
        .open(sealed, SEAL_PURPOSE)
        .ok()
        .and_then(|json| serde_json::from_slice::<SealedInteraction>(&json).ok());
    let Some(s) = opened else {
        return Err(expired_page);
    };
    if !same_hash(&s.browser_hash, binding_hash) {
        return Err(other_browser_page);
    }
    if now.seconds() >= s.expires_at || s.step != step.as_str() {
        return Err(expired_page);
    }
    let user_id = match s.user_id.as_deref().map(UserId::parse) {
        None => None,
        Some(Some(u)) => Some(u),
        Some(None) => return Err(expired_page),
    };
    let request =
        serde_json::to_string(&s.request).map_err(|_| internal_page as fn() -> HttpResponse)?;
    Ok(Interaction {
        id: s.id,
        // Set by `renew` or `conclude`, whichever stores it.
        csrf_hash: Interaction::SPENT.to_owned(),
        browser_hash: s.browser_hash,
        step,
        request,
        user_id,
        auth_time: s.auth_time.map(UnixTime),
        created_at: UnixTime(s.created_at),
        expires_at: UnixTime(s.expires_at),
    })
}

/// Spends the posted form and hands out the token of the next form of this interaction:
/// a first form stores the interaction (once: the insert fails if its id exists), a later
/// one replaces its CSRF token by compare-and-set. Returns the new token and its hash, or
/// the page to show (already submitted, or a failure).
pub async fn renew(state: &Core, p: &Pending) -> Result<(String, String), HttpResponse> {
    let (csrf, csrf_hash) = secret_pair().map_err(failure_page)?;
    let next = Interaction {
        csrf_hash: csrf_hash.clone(),
        ..p.interaction.clone()
    };
    let spent = match &p.form {
        PendingForm::Sealed => insert(state, next).await,
        PendingForm::Stored {
            csrf_hash: expected,
        } => advance(state, expected, &next).await,
    };
    match spent {
        Ok(true) => Ok((csrf, csrf_hash)),
        Ok(false) => Err(reused_form_page()),
        Err(f) => Err(failure_page(f)),
    }
}

/// Spends the posted form and ends the interaction. A first form stores its interaction
/// already finished, keeping the id so that the sealed form cannot be posted again.
pub async fn conclude(state: &Core, p: &Pending) -> Result<(), HttpResponse> {
    let ended = match &p.form {
        PendingForm::Sealed => {
            let spent = Interaction {
                csrf_hash: Interaction::SPENT.to_owned(),
                request: String::new(),
                ..p.interaction.clone()
            };
            insert(state, spent).await
        }
        PendingForm::Stored { csrf_hash } => finish(state, &p.interaction.id, csrf_hash).await,
    };
    match ended {
        Ok(true) => Ok(()),
        Ok(false) => Err(reused_form_page()),
        Err(f) => Err(failure_page(f)),
    }
}

/// Stores a new interaction; `Ok(false)`: its id exists (its sealed form was used).
async fn insert(state: &Core, interaction: Interaction) -> Result<bool, Failure> {
    let store = state.stores.interactions.clone();
    blocking(move || store.insert_interaction(&interaction)).await
}

/// Replaces the interaction's CSRF token (and step/user) if the form's token is still the
/// current one. `Ok(false)`: the token was already used (or never valid).
pub async fn advance(
    state: &Core,
    expected_csrf_hash: &str,
    next: &Interaction,
) -> Result<bool, Failure> {
    let store = state.stores.interactions.clone();
    let (expected, next, now) = (expected_csrf_hash.to_owned(), next.clone(), state.now());
    blocking(move || store.advance_interaction(&expected, &next, now)).await
}

/// Ends the interaction if the form's token is still current.
pub async fn finish(state: &Core, id: &str, expected_csrf_hash: &str) -> Result<bool, Failure> {
    let store = state.stores.interactions.clone();
    let (id, expected, now) = (id.to_owned(), expected_csrf_hash.to_owned(), state.now());
    blocking(move || store.finish_interaction(&id, &expected, now)).await
}

/// The page for a form whose CSRF token was already used.
pub fn reused_form_page() -> HttpResponse {
    bad_request_page(
        "This form was already submitted",
        "Each sign-in form can be sent once. Go back to the application and start again.",
    )
}
