//! Signing in at an upstream provider from the login page (docs/design/upstream.md).
//!
//! [`start`]: the login page's "Sign in with …" button posts the login form's own
//! interaction fields and the upstream's id. The form is spent (one start per form);
//! a sign-in in flight is stored — keyed by the hash of the `state` sent, holding the
//! nonce, the PKCE verifier and the interaction's next form token sealed under the KEK,
//! bound to this browser, ten minutes — and the browser goes to the upstream.
//!
//! [`callback`]: the upstream sends the browser back to `/upstream/{id}/callback`. The
//! sign-in in flight is *taken* (deleted as it is read: a `state` is good once, however
//! many callbacks race), must be this browser's and this upstream's (a callback at
//! another upstream's address is refused: mix-up), then the code is exchanged and the ID
//! token verified ([`crate::upstream::relying_party`]). The identity is the pair
//! (upstream, subject):
//! - linked to a person: that person signs in;
//! - else, a person with that *verified* address exists: nothing is linked; the login
//!   page asks them to prove the Usher account (password or passkey), and only a sign-in
//!   as that person links it ([`link_after_proof`]) — never by address alone;
//! - else, when the upstream creates people: a new person and the link, in one
//!   transaction (nothing half-way);
//! - else: refused.
//!
//! The session's `amr` is `fed` and the upstream's methods — those that speak of a second
//! factor only when the operator trusts the upstream for it; otherwise a second factor
//! Usher would ask is asked as after a password.

use serde::{Deserialize, Serialize};
use serde_json::json;
use usher_domain::{
    Amr, AuditActor, AuditEvent, AuditKind, AuthMethods, CeremonyKind, InteractionStep, JitInsert,
    ProtocolError, Upstream, UpstreamId, UpstreamIdentity, User, UserId, Username,
    WebauthnCeremony,
};

use super::decision::{policy_requires_mfa, rejection};
use super::interaction::{self, FormError, Pending};
use super::login::{LoginOutcome, after_login, new_session};
use super::{BackToClient, Cookies, Form, FormFields, FormRefusal, LoginForm, SignInOutcome};
use crate::upstream::UpstreamFailure;
use crate::upstream::relying_party::{self, Flight, UpstreamPerson};
use crate::{Core, Failure, blocking, secret_pair};

/// How long a sign-in at an upstream may take, in seconds.
pub const FLIGHT_TTL_SECONDS: i64 = 600;

/// An upstream the login page offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamButton {
    pub id: String,
    pub name: String,
}

/// The enabled upstreams, for the login page's buttons (none when the store fails:
/// the page still offers the password).
pub async fn buttons(core: &Core) -> Vec<UpstreamButton> {
    let store = core.stores.upstreams.clone();
    match blocking(move || store.list_upstreams()).await {
        Ok(all) => all
            .into_iter()
            .filter(|u| u.enabled)
            .map(|u| UpstreamButton {
                id: u.id.as_str().to_owned(),
                name: u.name,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The callback an upstream sends the browser back to: `{issuer}/upstream/{id}/callback`
/// (what the operator registers at the provider).
pub fn callback_url(core: &Core, upstream: &UpstreamId) -> String {
    format!(
        "{}/upstream/{}/callback",
        core.settings.issuer.as_str().trim_end_matches('/'),
        upstream
    )
}

/// Why a sign-in at an upstream ended without a person, for the page that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProblemKind {
    /// The person (or the upstream) said no.
    Denied,
    /// The upstream could not be reached or failed.
    Unavailable,
    /// The upstream's answer was refused (a token that does not verify).
    Invalid,
    /// No person is linked to this identity and the upstream creates none.
    NoAccount,
}

/// The page after a failed sign-in at an upstream. Its one link takes the person back
/// to the app with `access_denied` or `temporarily_unavailable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamProblem {
    pub upstream_name: String,
    pub client_name: String,
    pub kind: UpstreamProblemKind,
    pub back: Option<BackToClient>,
}

/// What the button starts.
#[derive(Debug)]
pub enum StartOutcome {
    /// Send the browser here (303).
    Redirect(String),
    /// The sign-in cannot start: a page.
    Page(SignInOutcome),
}

/// The sealed content of a sign-in in flight.
#[derive(Serialize, Deserialize)]
struct InFlight {
    upstream: UpstreamId,
    nonce: String,
    verifier: String,
    interaction: String,
    csrf: String,
}

/// The sealed content of an identity waiting for its person to prove the account.
#[derive(Serialize, Deserialize)]
struct PendingLink {
    upstream: UpstreamId,
    subject: String,
    person: String,
}

fn link_key(interaction: &str) -> String {
    usher_keys::sha256_b64url(&format!("usher upstream link:{interaction}"))
}

async fn enabled_upstream(core: &Core, raw: &str) -> Result<Option<Upstream>, Failure> {
    let Ok(id) = UpstreamId::parse(raw) else {
        return Ok(None);
    };
    let store = core.stores.upstreams.clone();
    let found = blocking(move || store.get_upstream(&id)).await?;
    Ok(found.filter(|u| u.enabled))
}

fn sealing_failed(e: impl std::fmt::Display) -> Failure {
    tracing::error!(cause = %e, "an upstream sign-in could not be sealed or opened");
    Failure::Internal
}

/// Decides the "Sign in with …" button.
pub async fn start(
    core: &Core,
    fields: FormFields<'_>,
    upstream: &str,
    cookies: Cookies<'_>,
) -> StartOutcome {
    let page = |o: SignInOutcome| StartOutcome::Page(o);
    let p = match interaction::pending(core, fields, cookies.binding, InteractionStep::Login).await
    {
        Ok(p) => p,
        Err(e) => return page(form_error(e)),
    };
    let upstream = match enabled_upstream(core, upstream).await {
        Ok(Some(u)) => u,
        Ok(None) => return page(SignInOutcome::refused(FormRefusal::Expired)),
        Err(f) => return page(SignInOutcome::failure(f)),
    };
    // Spend the form: one start per form.
    let next = match interaction::renew(core, &p).await {
        Ok(n) => n,
        Err(e) => return page(form_error(e)),
    };
    // An OpenID provider's discovery is read (or kept) before anything is stored: one
    // that cannot be reached ends here.
    let metadata = match &upstream.endpoints {
        Some(_) => None,
        None => match core
            .upstream_providers
            .metadata(&upstream, core.now().seconds())
            .await
        {
            Ok(m) => Some(m),
            Err(e) => return page(problem(core, &p, &next.csrf_hash, &upstream, &e).await),
        },
    };
    let Some(binding) = cookies.binding else {
        return page(SignInOutcome::refused(FormRefusal::OtherBrowser));
    };
    let flight = match (secret_pair(), secret_pair(), secret_pair()) {
        (Ok((state, state_hash)), Ok((nonce, _)), Ok((verifier, _))) => (
            Flight {
                state,
                nonce,
                verifier,
            },
            state_hash,
        ),
        _ => return page(SignInOutcome::failure(Failure::Internal)),
    };
    let (flight, state_hash) = flight;
    let sealed = InFlight {
        upstream: upstream.id.clone(),
        nonce: flight.nonce.clone(),
        verifier: flight.verifier.clone(),
        interaction: p.interaction.id.clone(),
        csrf: next.csrf.clone(),
    };
    let stored = match seal(core, &state_hash, CeremonyKind::Upstream, &sealed) {
        Ok(s) => s,
        Err(f) => return page(SignInOutcome::failure(f)),
    };
    let ceremony = WebauthnCeremony {
        id_hash: state_hash,
        kind: CeremonyKind::Upstream,
        user_id: None,
        state: stored,
        browser_hash: usher_keys::sha256_b64url(binding),
        expires_at: core.now().plus(FLIGHT_TTL_SECONDS),
    };
    let store = core.stores.passkeys.clone();
    if let Err(f) = blocking(move || store.insert_ceremony(&ceremony)).await {
        return page(SignInOutcome::failure(f));
    }
    let callback = callback_url(core, &upstream.id);
    let url = match (metadata, &upstream.endpoints) {
        (Some(metadata), _) => {
            relying_party::authorization_url(metadata, &upstream, &callback, &flight)
        }
        (None, Some(endpoints)) => {
            relying_party::manual_authorization_url(&upstream, endpoints, &callback, &flight)
        }
        (None, None) => Err(UpstreamFailure::Invalid("the upstream has no endpoints")),
    };
    match url {
        Ok(url) => {
            tracing::info!(event = "upstream_started", upstream = %upstream.id, "sign-in at an upstream started");
            StartOutcome::Redirect(url.to_string())
        }
        Err(e) => page(problem(core, &p, &next.csrf_hash, &upstream, &e).await),
    }
}

fn seal(
    core: &Core,
    id_hash: &str,
    kind: CeremonyKind,
    value: &impl Serialize,
) -> Result<String, Failure> {
    let json = serde_json::to_vec(value).map_err(sealing_failed)?;
    core.factor_sealer
        .seal_ceremony(id_hash, kind.as_str(), &json)
        .map_err(sealing_failed)
}

/// Takes the stored value of `kind` under `id_hash`: present, of that kind, unexpired,
/// this browser's; `None` otherwise (already taken, or never there).
async fn take<T: for<'de> Deserialize<'de>>(
    core: &Core,
    id_hash: &str,
    kind: CeremonyKind,
    browser_hash: &str,
) -> Result<Option<T>, Failure> {
    let store = core.stores.passkeys.clone();
    let key = id_hash.to_owned();
    let Some(row) = blocking(move || store.take_ceremony(&key)).await? else {
        return Ok(None);
    };
    let same_browser = row.browser_hash.len() == browser_hash.len()
        && openssl::memcmp::eq(row.browser_hash.as_bytes(), browser_hash.as_bytes());
    if row.kind != kind || row.expires_at <= core.now() || !same_browser {
        return Ok(None);
    }
    let json = core
        .factor_sealer
        .open_ceremony(id_hash, kind.as_str(), &row.state)
        .map_err(sealing_failed)?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(sealing_failed)
}

/// What the upstream sent back to the callback. `Debug` shows no code.
pub struct CallbackParams<'a> {
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    pub error: Option<&'a str>,
    pub iss: Option<&'a str>,
}

impl std::fmt::Debug for CallbackParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("code", &self.code.map(|_| crate::redact::REDACTED))
            .field("state", &self.state.map(|_| crate::redact::REDACTED))
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Decides the upstream's callback.
pub async fn callback(
    core: &Core,
    upstream: &str,
    params: CallbackParams<'_>,
    cookies: Cookies<'_>,
) -> LoginOutcome {
    let refused = |r: FormRefusal| LoginOutcome::Refused(SignInOutcome::refused(r));
    let failed = |f: Failure| LoginOutcome::Refused(SignInOutcome::failure(f));
    let (Some(state), Some(binding)) = (params.state, cookies.binding) else {
        return refused(FormRefusal::Expired);
    };
    if state.len() > 128 {
        return refused(FormRefusal::Expired);
    }
    let state_hash = usher_keys::sha256_b64url(state);
    let browser_hash = usher_keys::sha256_b64url(binding);
    let flight: InFlight =
        match take(core, &state_hash, CeremonyKind::Upstream, &browser_hash).await {
            Ok(Some(f)) => f,
            Ok(None) => return refused(FormRefusal::Expired),
            Err(f) => return failed(f),
        };
    // The callback of another upstream than the one this sign-in went to: refused
    // (a mix-up: one upstream's answer presented as another's).
    if flight.upstream.as_str() != upstream {
        tracing::warn!(
            event = "upstream_mixup",
            "an upstream callback arrived at another upstream's address"
        );
        return refused(FormRefusal::Expired);
    }
    let fields = FormFields {
        pending: None,
        interaction: Some(&flight.interaction),
        csrf: Some(&flight.csrf),
    };
    let p = match interaction::pending(core, fields, Some(binding), InteractionStep::Login).await {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    let upstream = match enabled_upstream(core, upstream).await {
        Ok(Some(u)) => u,
        Ok(None) => return refused(FormRefusal::Expired),
        Err(f) => return failed(f),
    };
    let next = match interaction::renew(core, &p).await {
        Ok(n) => n,
        Err(e) => return e.into(),
    };
    let person = match redeem(core, &upstream, &params, &flight).await {
        Ok(person) => person,
        Err(e) => {
            return LoginOutcome::Refused(problem(core, &p, &next.csrf_hash, &upstream, &e).await);
        }
    };
    let store = core.stores.upstreams.clone();
    let (id, subject) = (upstream.id.clone(), person.subject.clone());
    let linked = match blocking(move || store.find_identity(&id, &subject)).await {
        Ok(l) => l,
        Err(f) => return failed(f),
    };
    let user_id = match linked {
        Some(identity) => identity.user_id,
        None => match first_sign_in(core, &p, &next, &upstream, &person, &browser_hash).await {
            Ok(FirstSignIn::Created(id)) => id,
            Ok(FirstSignIn::Page(outcome)) => return outcome,
            Err(f) => return failed(f),
        },
    };
    let user = match core.active_user(&user_id).await {
        Ok(Ok(u)) => u,
        Ok(Err(crate::Inactive::Gone)) => return refused(FormRefusal::Expired),
        Ok(Err(why)) => {
            let address = cookies.address.as_ref();
            return super::login::disabled(core, &p, &user_id, "upstream", address, why).await;
        }
        Err(f) => return failed(f),
    };
    let amr = methods(&upstream, &person.amr);
    let strong = upstream.trusted_for_mfa && amr.acr() != usher_domain::Acr::Password;
    if !strong {
        let forced = policy_requires_mfa(core, &p.client);
        match super::second_factor::begin_after(core, &p, &next, &user, forced, amr.clone()).await {
            Ok(Some(form)) => return LoginOutcome::SecondFactor(form),
            Ok(None) => {}
            Err(e) => return e.into(),
        }
    }
    let signed_in = match new_session(core, cookies, &user, amr).await {
        Ok(s) => s,
        Err(f) => return failed(f),
    };
    let next = after_login(core, &p, &next.csrf_hash, &signed_in.session).await;
    LoginOutcome::SignedIn {
        session: signed_in.session,
        session_cookie_value: signed_in.cookie,
        device_cookie_value: signed_in.device,
        next,
    }
}

/// The sign-in's `amr`: the upstream's methods (those that speak of a second factor
/// only when the upstream is trusted for it), then `fed`.
pub fn methods(upstream: &Upstream, from_upstream: &[Amr]) -> AuthMethods {
    let strong = |m: &Amr| {
        matches!(
            m,
            Amr::Mfa | Amr::Otp | Amr::Hwk | Amr::Swk | Amr::Sc | Amr::Sms | Amr::Tel
        )
    };
    let kept = from_upstream
        .iter()
        .copied()
        .filter(|m| upstream.trusted_for_mfa || !strong(m))
        .filter(|m| *m != Amr::Fed);
    AuthMethods::new(kept.chain(std::iter::once(Amr::Fed)))
        .unwrap_or_else(|| AuthMethods::new([Amr::Fed]).unwrap_or_else(AuthMethods::password))
}

async fn redeem(
    core: &Core,
    upstream: &Upstream,
    params: &CallbackParams<'_>,
    flight: &InFlight,
) -> Result<UpstreamPerson, UpstreamFailure> {
    if let Some(error) = params.error {
        return Err(match error {
            "temporarily_unavailable" | "server_error" => {
                UpstreamFailure::Unavailable("the upstream said it is unavailable".to_owned())
            }
            _ => UpstreamFailure::Denied,
        });
    }
    // RFC 9207: an upstream that says who it is must be the one asked.
    if let Some(iss) = params.iss
        && iss != upstream.issuer
    {
        return Err(UpstreamFailure::Invalid(
            "the callback names another issuer",
        ));
    }
    let code = params
        .code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or(UpstreamFailure::Invalid("the callback carries no code"))?;
    let secret = match &upstream.client_secret_sealed {
        Some(sealed) => Some(
            core.factor_sealer
                .open_upstream_secret(upstream.id.as_str(), sealed)
                .map_err(|_| UpstreamFailure::Invalid("the upstream's secret does not open"))?,
        ),
        None => None,
    };
    let flight = Flight {
        state: String::new(),
        nonce: flight.nonce.clone(),
        verifier: flight.verifier.clone(),
    };
    let callback = callback_url(core, &upstream.id);
    match &upstream.endpoints {
        Some(endpoints) => {
            relying_party::redeem_manual(
                &core.upstream_providers,
                upstream,
                endpoints,
                secret,
                &callback,
                code,
                &flight,
            )
            .await
        }
        None => {
            relying_party::redeem(
                &core.upstream_providers,
                upstream,
                secret,
                &callback,
                code,
                &flight,
                core.now().seconds(),
            )
            .await
        }
    }
}

// Built once per first sign-in and moved once: boxing the page would buy nothing.
#[allow(clippy::large_enum_variant)]
enum FirstSignIn {
    Created(UserId),
    Page(LoginOutcome),
}

/// An identity no person holds yet.
async fn first_sign_in(
    core: &Core,
    p: &Pending,
    next: &interaction::NextForm,
    upstream: &Upstream,
    person: &UpstreamPerson,
    browser_hash: &str,
) -> Result<FirstSignIn, Failure> {
    // A person who verified this address at Usher: they must prove the account first.
    let holder = match (&person.email, person.email_verified) {
        (Some(email), true) => verified_holder(core, email).await?,
        _ => None,
    };
    if let Some(holder) = holder {
        let link = PendingLink {
            upstream: upstream.id.clone(),
            subject: person.subject.clone(),
            person: holder.as_str().to_owned(),
        };
        let key = link_key(&p.interaction.id);
        // A second identity waiting in this interaction (the person went to the
        // upstream again) replaces the first.
        let _ = take::<PendingLink>(core, &key, CeremonyKind::UpstreamLink, browser_hash).await?;
        let stored = seal(core, &key, CeremonyKind::UpstreamLink, &link)?;
        let ceremony = WebauthnCeremony {
            id_hash: key,
            kind: CeremonyKind::UpstreamLink,
            user_id: None,
            state: stored,
            browser_hash: browser_hash.to_owned(),
            expires_at: p.interaction.expires_at,
        };
        let store = core.stores.passkeys.clone();
        blocking(move || store.insert_ceremony(&ceremony)).await?;
        tracing::info!(event = "upstream_link_asked", upstream = %upstream.id, "an upstream identity matched a person's verified address; their sign-in is asked");
        return Ok(FirstSignIn::Page(LoginOutcome::LinkAsked(LoginForm {
            client_name: p.client.registration.name.as_str().to_owned(),
            form: Form::Stored {
                interaction: p.interaction.id.clone(),
                csrf: next.csrf.clone(),
            },
            username: String::new(),
            binding: None,
            passkeys: crate::passkeys::available(&core.settings),
            signup: false,
            upstreams: Vec::new(),
            link: Some(upstream.name.clone()),
        })));
    }
    if !upstream.create_people {
        let outcome = problem_of(
            core,
            p,
            &next.csrf_hash,
            upstream,
            UpstreamProblemKind::NoAccount,
        )
        .await;
        return Ok(FirstSignIn::Page(LoginOutcome::Refused(outcome)));
    }
    create_person(core, upstream, person)
        .await
        .map(|r| match r {
            Ok(id) => FirstSignIn::Created(id),
            Err(kind) => FirstSignIn::Page(LoginOutcome::Refused(SignInOutcome::ErrorPage(
                super::ErrorPageKind::Failure(kind),
            ))),
        })
}

/// The one person whose verified address `email` is, if any.
async fn verified_holder(core: &Core, email: &str) -> Result<Option<UserId>, Failure> {
    let Ok(email) = usher_domain::Email::parse(email) else {
        return Ok(None);
    };
    let store = core.stores.mail.clone();
    let people = blocking(move || store.find_users_by_email(&email)).await?;
    Ok(people.into_iter().find(|u| u.email_verified).map(|u| u.id))
}

/// A new person for an identity (just in time): the wished-for username (or the
/// address's local part, or `user`), made unique with a number; the name and address
/// as the upstream says (the address verified only when it says so). Created with the
/// link in one transaction; a racing first sign-in of the same identity finds the
/// person the other created.
async fn create_person(
    core: &Core,
    upstream: &Upstream,
    person: &UpstreamPerson,
) -> Result<Result<UserId, Failure>, Failure> {
    let wished = person
        .username
        .clone()
        .or_else(|| {
            person
                .email
                .as_deref()
                .and_then(|e| e.split('@').next())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "user".to_owned());
    let base: String = wished
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(48)
        .collect();
    let base = if base.is_empty() {
        "user".to_owned()
    } else {
        base
    };
    let email = person
        .email
        .as_deref()
        .and_then(|e| usher_domain::Email::parse(e).ok());
    let name = person
        .name
        .as_deref()
        .and_then(|n| usher_domain::PersonName::parse(n).ok());
    for attempt in 0..12u32 {
        let candidate = match attempt {
            0 => base.clone(),
            1..=8 => format!("{base}{}", attempt + 1),
            _ => format!("{base}-{}", &secret_pair()?.0[..6].to_ascii_lowercase()),
        };
        let Ok(username) = Username::parse(&candidate) else {
            continue;
        };
        let now = core.now();
        let user = User {
            id: UserId::parse(&uuid::Uuid::new_v4().to_string()).ok_or(Failure::Internal)?,
            username,
            // No password: this person signs in through the upstream (or sets one
            // through a reset link mailed to a verified address).
            password_hash: String::new(),
            name: name.clone(),
            email: email.clone(),
            email_verified: email.is_some() && person.email_verified,
            profile: Default::default(),
            created_at: now,
            disabled_at: None,
        };
        let identity = UpstreamIdentity {
            upstream: upstream.id.clone(),
            subject: person.subject.clone(),
            user_id: user.id.clone(),
            created_at: now,
        };
        let store = core.stores.upstreams.clone();
        let (u, i) = (user.clone(), identity.clone());
        match blocking(move || store.create_person_with_identity(&u, &i)).await? {
            JitInsert::Created => {
                let event = AuditEvent::new(now, AuditKind::PersonCreated, AuditActor::Anonymous)
                    .person(&user.id)
                    .detail(json!({"upstream": upstream.id.as_str(), "by": "upstream"}));
                crate::audit::record(core, event).await;
                tracing::info!(event = "upstream_person_created", upstream = %upstream.id, "a person was created at their first upstream sign-in");
                return Ok(Ok(user.id));
            }
            JitInsert::AlreadyLinked(id) => return Ok(Ok(id)),
            JitInsert::UsernameTaken => continue,
        }
    }
    Ok(Err(Failure::Internal))
}

/// After a person signed in during an interaction in which an upstream identity matched
/// their verified address: links it, if the person who signed in is the one it matched.
/// Called by [`after_login`] for every sign-in; a sign-in without such a wait costs one
/// lookup.
pub(super) async fn link_after_proof(core: &Core, p: &Pending, user: &UserId) {
    let key = link_key(&p.interaction.id);
    let link: PendingLink = match take(
        core,
        &key,
        CeremonyKind::UpstreamLink,
        &p.interaction.browser_hash,
    )
    .await
    {
        Ok(Some(l)) => l,
        Ok(None) => return,
        Err(_) => return,
    };
    if link.person != user.as_str() {
        tracing::info!(
            event = "upstream_link_skipped",
            "another person signed in than the one the upstream identity matched; nothing linked"
        );
        return;
    }
    // An upstream disabled (or deleted) while the person signed in links nothing.
    if !matches!(
        enabled_upstream(core, link.upstream.as_str()).await,
        Ok(Some(_))
    ) {
        return;
    }
    let identity = UpstreamIdentity {
        upstream: link.upstream.clone(),
        subject: link.subject,
        user_id: user.clone(),
        created_at: core.now(),
    };
    let store = core.stores.upstreams.clone();
    match blocking(move || store.link_identity(&identity)).await {
        Ok(true) => {
            let event = AuditEvent::new(
                core.now(),
                AuditKind::UpstreamLinked,
                AuditActor::Person(user.clone()),
            )
            .person(user)
            .detail(json!({"upstream": link.upstream.as_str()}));
            crate::audit::record(core, event).await;
            tracing::info!(event = "upstream_linked", upstream = %link.upstream, "an upstream identity was linked after the person proved their account");
        }
        Ok(false) => {
            tracing::info!(
                event = "upstream_link_taken",
                "the upstream identity was linked meanwhile; nothing changed"
            );
        }
        Err(_) => {}
    }
}

fn form_error(e: FormError) -> SignInOutcome {
    match e {
        FormError::Refused(r) => SignInOutcome::refused(r),
        FormError::Failure(f) => SignInOutcome::failure(f),
    }
}

/// The page after a failure at the upstream: the interaction ends, and the page's link
/// takes the person back to the app with `temporarily_unavailable` (the upstream could
/// not be reached) or `access_denied` (anything else).
async fn problem(
    core: &Core,
    p: &Pending,
    csrf_hash: &str,
    upstream: &Upstream,
    e: &UpstreamFailure,
) -> SignInOutcome {
    tracing::info!(event = "upstream_failed", upstream = %upstream.id, reason = %e, "a sign-in at an upstream failed");
    let kind = match e {
        UpstreamFailure::Unavailable(_) => UpstreamProblemKind::Unavailable,
        UpstreamFailure::Denied => UpstreamProblemKind::Denied,
        UpstreamFailure::Invalid(_) => UpstreamProblemKind::Invalid,
    };
    problem_of(core, p, csrf_hash, upstream, kind).await
}

async fn problem_of(
    core: &Core,
    p: &Pending,
    csrf_hash: &str,
    upstream: &Upstream,
    kind: UpstreamProblemKind,
) -> SignInOutcome {
    let _ = interaction::finish(core, &p.interaction.id, csrf_hash).await;
    let event = AuditEvent::new(core.now(), AuditKind::SignInFailed, AuditActor::Anonymous)
        .client(&p.client.id)
        .detail(json!({"method": "upstream", "upstream": upstream.id.as_str(), "reason": format!("{kind:?}").to_lowercase()}));
    crate::audit::record(core, event).await;
    let (error, description) = match kind {
        UpstreamProblemKind::Unavailable => (
            ProtocolError::TemporarilyUnavailable,
            "the upstream identity provider could not be reached",
        ),
        _ => (
            ProtocolError::AccessDenied,
            "the sign-in at the upstream identity provider did not succeed",
        ),
    };
    let back = (!p.client.describes_itself()).then(|| BackToClient {
        redirect_uri: p.request.redirect_uri.clone(),
        rejection: rejection(error, description),
        state: p.request.state.clone(),
    });
    SignInOutcome::UpstreamProblem(UpstreamProblem {
        upstream_name: upstream.name.clone(),
        client_name: p.client.registration.name.as_str().to_owned(),
        kind,
        back,
    })
}
