//! The login form's decision. The attempt is reserved with the throttle per account and
//! per address first (a locked key refuses it unchecked and writes nothing), then the
//! form is spent (one checked attempt per form), then the password is checked with
//! argon2id on the [`crate::passwords::PasswordPool`] — an unknown username costs the
//! same time as a wrong password and gets the same answer — and the reservation settled.
//! A success starts a fresh session (no session fixation) and continues the sign-in —
//! unless a second factor is asked ([`super::second_factor`]): then no session exists
//! until that step passes.

use serde_json::json;
use usher_domain::{
    AuditActor, AuditEvent, AuditKind, AuthMethods, Interaction, InteractionStep, Password,
    ProtocolError, Session, User, UserId, Username,
};

use super::decision::{
    consent_form, consent_needed, group_gate, hint_subject, policy_requires_mfa, rejection,
    username_of,
};
use super::interaction::{self, FormError, Pending};
use super::{Cookies, Form, FormFields, FormRefusal, LoginForm, SecondFactorForm, SignInOutcome};
use crate::client_address::ClientAddress;
use crate::metrics::{self, Counter};
use crate::redact::REDACTED;
use crate::{Core, Failure, blocking, secret_pair, throttle};

/// What the login form decided. `Debug` does not show the session cookie's value (nor
/// the forms' secrets).
// Built once per sign-in and moved once to be rendered: boxing the session would buy
// nothing but an allocation.
#[allow(clippy::large_enum_variant)]
pub enum LoginOutcome {
    /// The person signed in: set the session cookie to `session_cookie_value` and render
    /// `next` (with that cookie, whatever `next` is).
    SignedIn {
        session: Session,
        session_cookie_value: String,
        /// The known-browser cookie to set ([`crate::browsers`]), if any.
        device_cookie_value: Option<String>,
        next: SignInOutcome,
    },
    /// The password was right and a second factor is asked (or must be set up): no
    /// session yet; show the second-factor page.
    SecondFactor(SecondFactorForm),
    /// Unknown username or wrong password: the login page again, with a new form (401).
    WrongPassword(LoginForm),
    /// A passkey sign-in was refused (not recognised, expired, another browser, invalid):
    /// the login page again, with a new form (401).
    PasskeyNotAccepted(LoginForm),
    /// An upstream identity matched a person's verified address: the login page again,
    /// asking that person to sign in here to link it (200).
    LinkAsked(LoginForm),
    /// Refused unchecked: wait `wait` seconds; the same form again, unspent (429).
    Throttled { wait: i64, form: LoginForm },
    /// The form was refused or the server failed.
    Refused(SignInOutcome),
}

impl std::fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginOutcome::SignedIn { session, next, .. } => f
                .debug_struct("SignedIn")
                .field("session", session)
                .field("session_cookie_value", &REDACTED)
                .field("next", next)
                .finish(),
            LoginOutcome::SecondFactor(form) => f.debug_tuple("SecondFactor").field(form).finish(),
            LoginOutcome::PasskeyNotAccepted(form) => {
                f.debug_tuple("PasskeyNotAccepted").field(form).finish()
            }
            LoginOutcome::WrongPassword(form) => {
                f.debug_tuple("WrongPassword").field(form).finish()
            }
            LoginOutcome::LinkAsked(form) => f.debug_tuple("LinkAsked").field(form).finish(),
            LoginOutcome::Throttled { wait, form } => f
                .debug_struct("Throttled")
                .field("wait", wait)
                .field("form", form)
                .finish(),
            LoginOutcome::Refused(outcome) => f.debug_tuple("Refused").field(outcome).finish(),
        }
    }
}

/// What the login form posted.
pub struct LoginAttempt<'a> {
    pub fields: FormFields<'a>,
    /// As typed (trimmed here).
    pub username: &'a str,
    pub password: String,
    pub address: &'a ClientAddress,
}

impl From<FormError> for LoginOutcome {
    fn from(e: FormError) -> LoginOutcome {
        LoginOutcome::Refused(match e {
            FormError::Refused(r) => SignInOutcome::refused(r),
            FormError::Failure(f) => SignInOutcome::failure(f),
        })
    }
}

fn failed(f: Failure) -> LoginOutcome {
    LoginOutcome::Refused(SignInOutcome::failure(f))
}

/// Decides a posted login form.
pub async fn login(core: &Core, attempt: LoginAttempt<'_>, cookies: Cookies<'_>) -> LoginOutcome {
    let p = match interaction::pending(
        core,
        attempt.fields,
        cookies.binding,
        InteractionStep::Login,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    let typed = attempt.username.trim().to_owned();
    let upstreams = super::upstream::buttons(core).await;
    let page = |form: Form| LoginForm {
        client_name: p.client.registration.name.as_str().to_owned(),
        form,
        username: typed.clone(),
        binding: None,
        passkeys: crate::passkeys::available(&core.settings),
        signup: crate::signup::offered(&core.settings),
        upstreams: upstreams.clone(),
        link: None,
    };
    // Reserved before the form is spent and the password checked: a locked key refuses
    // the attempt unchecked, however many arrive at once (throttle.rs), and writes
    // nothing — the form is shown again, still unspent, so a refused burst of first forms
    // stores no interaction.
    let reserved = match throttle::reserve(core, throttle::keys(&typed, attempt.address)).await {
        Ok(throttle::Attempt::Allowed(reserved)) => reserved,
        Ok(throttle::Attempt::Throttled { wait }) => {
            metrics::inc(Counter::LoginThrottled, "");
            tracing::warn!(
                event = "login_throttled",
                "login attempt refused: too many failures"
            );
            // No audit row per refused attempt: refusals cost an attacker nothing, so a
            // row each would let anyone grow the trail without bound. The lockout is
            // written once, by the failure that began it (below).
            return LoginOutcome::Throttled {
                wait,
                form: page(p.unspent_form()),
            };
        }
        Err(f) => return failed(f),
    };
    // Spend the form: a form is good for one checked attempt.
    let next = match interaction::renew(core, &p).await {
        Ok(v) => v,
        Err(e) => {
            // Never checked: the attempt counts nowhere.
            if let Err(f) = throttle::give_back(core, reserved).await {
                return failed(f);
            }
            return e.into();
        }
    };
    let user = match check_password(core, &typed, attempt.password).await {
        Ok(u) => u,
        Err(f) => {
            // Never checked (the store failed, or the password-check pool was full): the
            // attempt counts nowhere, as if refused before it was reserved.
            if let Err(f) = throttle::give_back(core, reserved).await {
                return failed(f);
            }
            return failed(f);
        }
    };
    let user = match user {
        Ok(user) => user,
        Err(known) => {
            metrics::inc(Counter::LoginFailures, "");
            tracing::info!(event = "login_failed", "login failed");
            // The person when the username is theirs; the text typed never (it may be a
            // password typed into the wrong field): docs/design/audit.md.
            let reason = if known.is_some() {
                "wrong_password"
            } else {
                "unknown_username"
            };
            let mut event =
                AuditEvent::new(core.now(), AuditKind::SignInFailed, AuditActor::Anonymous)
                    .client(&p.client.id)
                    .address(crate::audit::address_text(Some(attempt.address)))
                    .detail(json!({"method": "password", "reason": reason}));
            if let Some(person) = &known {
                event = event.person(person);
            }
            crate::audit::record(core, event).await;
            // This failure filled a budget: the lockout begins, written once (every
            // refusal during it writes nothing). One reservation fills it, however many
            // attempts race (throttle.rs).
            if let Some(wait) = reserved.locks(core.now()) {
                let mut event = AuditEvent::new(
                    core.now(),
                    AuditKind::SignInThrottled,
                    AuditActor::Anonymous,
                )
                .client(&p.client.id)
                .address(crate::audit::address_text(Some(attempt.address)))
                .detail(json!({"method": "password", "wait_seconds": wait}));
                if let Some(person) = &known {
                    event = event.person(person);
                }
                crate::audit::record(core, event).await;
            }
            return LoginOutcome::WrongPassword(page(Form::Stored {
                interaction: p.interaction.id.clone(),
                csrf: next.csrf,
            }));
        }
    };
    // The password was right: only now may the page say the account is disabled (it
    // tells nobody who lacks the password whether the username exists). Nothing starts:
    // no session, no second step; the attempt counts nowhere.
    if let Err(why) = crate::standing(Some(user.clone())) {
        if let Err(f) = throttle::give_back(core, reserved).await {
            return failed(f);
        }
        return disabled(core, &p, &user.id, "password", Some(attempt.address), why).await;
    }
    if let Err(f) = throttle::succeeded(core, reserved).await {
        return failed(f);
    }
    let forced = policy_requires_mfa(core, &p.client);
    match super::second_factor::begin(core, &p, &next, &user, forced).await {
        Ok(Some(form)) => return LoginOutcome::SecondFactor(form),
        Ok(None) => {}
        Err(e) => return e.into(),
    }

    // A fresh session for every login (no session fixation); the old one ends.
    let signed_in = new_session(core, cookies, &user, AuthMethods::password()).await;
    let NewSession {
        session,
        cookie: session_cookie_value,
        device: device_cookie_value,
    } = match signed_in {
        Ok(s) => s,
        Err(f) => return failed(f),
    };
    let next = after_login(core, &p, &next.csrf_hash, &session).await;
    LoginOutcome::SignedIn {
        session,
        session_cookie_value,
        device_cookie_value,
        next,
    }
}

/// The refusal of a sign-in whose person may not sign in ([`crate::standing`]), after
/// their password or passkey was accepted: written to the audit trail, and the page
/// that says the account is disabled.
pub(super) async fn disabled(
    core: &Core,
    p: &Pending,
    user: &UserId,
    method: &str,
    address: Option<&ClientAddress>,
    why: crate::Inactive,
) -> LoginOutcome {
    tracing::info!(event = "login_refused", reason = ?why, "a sign-in was refused: the person may not sign in");
    let event = AuditEvent::new(core.now(), AuditKind::SignInFailed, AuditActor::Anonymous)
        .client(&p.client.id)
        .person(user)
        .address(crate::audit::address_text(address))
        .detail(json!({"method": method, "reason": "disabled"}));
    crate::audit::record(core, event).await;
    LoginOutcome::Refused(SignInOutcome::refused(super::FormRefusal::AccountDisabled))
}

/// What follows a login: the `id_token_hint` must name the person who signed in; then
/// the consent page (the interaction moves to its consent step) or the code.
pub(super) async fn after_login(
    core: &Core,
    p: &Pending,
    csrf_hash: &str,
    session: &Session,
) -> SignInOutcome {
    let request = &p.request;
    super::upstream::link_after_proof(core, p, &session.user_id).await;
    if let Some(hint) = &request.id_token_hint {
        let matches = hint_subject(core, hint)
            .await
            .is_ok_and(|s| s == session.user_id.as_str());
        if !matches {
            let _ = interaction::finish(core, &p.interaction.id, csrf_hash).await;
            return SignInOutcome::error_for(
                &p.client,
                &request.redirect_uri,
                request.state.as_deref(),
                rejection(
                    ProtocolError::LoginRequired,
                    "the person who signed in is not the one the id_token_hint names",
                ),
            );
        }
    }
    // A client restricted to groups: the person who signed in must be in one of them,
    // before consent and before any code. The interaction ends here.
    if let Some(refused) = group_gate(core, &p.client, request, &session.user_id).await {
        let _ = interaction::finish(core, &p.interaction.id, csrf_hash).await;
        return refused;
    }
    match consent_needed(core, &p.client, &session.user_id, request).await {
        Ok(true) => {
            let (csrf, next_hash) = match secret_pair() {
                Ok(v) => v,
                Err(f) => return SignInOutcome::failure(f),
            };
            let next = Interaction {
                csrf_hash: next_hash,
                step: InteractionStep::Consent,
                user_id: Some(session.user_id.clone()),
                auth_time: Some(session.auth_time),
                ..p.interaction.clone()
            };
            match interaction::advance(core, csrf_hash, &next).await {
                Ok(true) => {}
                Ok(false) => return SignInOutcome::refused(FormRefusal::AlreadySubmitted),
                Err(f) => return SignInOutcome::failure(f),
            }
            let username = username_of(core, &session.user_id).await;
            let form = Form::Stored {
                interaction: p.interaction.id.clone(),
                csrf,
            };
            let resources = crate::resources::labels(core, &request.resources).await;
            SignInOutcome::ShowConsent(consent_form(
                &p.client, request, resources, username, form, None,
            ))
        }
        Ok(false) => match interaction::finish(core, &p.interaction.id, csrf_hash).await {
            Ok(true) => super::code::issue_code(core, request, session).await,
            Ok(false) => SignInOutcome::refused(FormRefusal::AlreadySubmitted),
            Err(f) => SignInOutcome::failure(f),
        },
        Err(f) => SignInOutcome::failure(f),
    }
}

/// The user, if the username exists and the password matches; otherwise the id of the
/// person the username is (`None`: no such person). Both failure kinds cost one argon2id
/// verification.
async fn check_password(
    core: &Core,
    username: &str,
    password: String,
) -> Result<Result<User, Option<UserId>>, Failure> {
    let users = core.stores.users.clone();
    let username = Username::parse(username).ok();
    let user = match username {
        Some(u) => blocking(move || users.find_user(&u)).await?,
        None => None,
    };
    let verified = core
        .passwords
        .run(move || {
            let Ok(password) = Password::parse(password) else {
                // Empty or oversized: still spend the time, so nothing is learnt from it.
                let filler = Password::parse("x".to_owned()).ok();
                if let Some(f) = filler {
                    usher_keys::verify_password_dummy(&f);
                }
                return Err(user.map(|u| u.id));
            };
            match user {
                // A person without a password (created at an upstream sign-in): no hash
                // to check, the same time spent, the same answer as a wrong password.
                Some(u) if u.password_hash.is_empty() => {
                    usher_keys::verify_password_dummy(&password);
                    Err(Some(u.id))
                }
                Some(u) if usher_keys::verify_password(&password, &u.password_hash) => Ok(u),
                Some(u) => Err(Some(u.id)),
                None => {
                    usher_keys::verify_password_dummy(&password);
                    Err(None)
                }
            }
        })
        .await?;
    Ok(verified)
}

/// A new session, the value of its cookie, and the known-browser cookie to set.
pub(super) struct NewSession {
    pub session: Session,
    pub cookie: String,
    pub device: Option<String>,
}

/// Creates a session for `user` and ends the browser's previous one (named by the
/// session cookie); the session records the request's client address and user agent.
/// The new session inherits the previous one's lineage when it is the same person's (a
/// re-authentication); a different person's lineage is ended first, as by a logout
/// ([`crate::lineage::for_login`]). Then the browser is recorded among the person's
/// known browsers, which may mail the new-browser alert ([`crate::browsers`]).
pub(super) async fn new_session(
    core: &Core,
    cookies: Cookies<'_>,
    user: &User,
    amr: AuthMethods,
) -> Result<NewSession, Failure> {
    let previous_cookie = cookies.session;
    let current = core.session(previous_cookie).await?;
    let lineage_hash = crate::lineage::for_login(core, current, &user.id).await?;
    let (id, id_hash) = secret_pair()?;
    let (_, other_lineage) = secret_pair()?;
    let now = core.now();
    let (address, user_agent) = crate::browsers::origin(cookies.address, cookies.user_agent);
    let session = Session {
        id_hash,
        lineage_hash,
        user_id: user.id.clone(),
        auth_time: now,
        amr,
        created_at: now,
        expires_at: now.plus(core.settings.session_ttl),
        address,
        user_agent,
    };
    let sessions = core.stores.sessions.clone();
    let previous = previous_cookie.map(usher_keys::sha256_b64url);
    // If the session this browser named is gone (it expired, or a logout or `user
    // revoke-sessions` ended it while this login was being checked), its lineage must
    // not come back to life with this session (codes issued in it before that logout
    // would be redeemable again): the store starts a new one. One transaction, so no
    // one sees the lineage without a session in between.
    let session =
        blocking(move || sessions.replace_session(previous.as_deref(), &session, &other_lineage))
            .await?;
    tracing::info!(event = "login", "person signed in");
    let event = AuditEvent::new(
        now,
        AuditKind::SignInSucceeded,
        AuditActor::Person(user.id.clone()),
    )
    .person(&user.id)
    .address(crate::audit::address_text(cookies.address.as_ref()))
    .detail(json!({"amr": session.amr.wire()}));
    crate::audit::record(core, event).await;
    let device = crate::browsers::signed_in(core, &session, cookies.device).await;
    Ok(NewSession {
        session,
        cookie: id,
        device,
    })
}
