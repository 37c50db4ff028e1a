//! Signing in with a passkey from the login page (docs/design/mfa.md, "Passkeys"): no
//! username, no password. The page's script gets options from
//! [`crate::passkeys::start_authentication`] and posts the authenticator's answer with
//! the login form's own interaction fields; this decides it. The form is spent first
//! (one answer per form, like a password), then the ceremony is finished
//! ([`crate::passkeys::finish_authentication`]: single-use, bound to this browser). An
//! accepted passkey is a complete multi-factor sign-in on its own (`amr` `hwk`/`swk`,
//! `user`, `mfa`; `acr` `phr`): a fresh session, and the sign-in continues as after a
//! password. Anything else shows the login page again with a new form and one message
//! that says nothing about which person, if any, the passkey belongs to.

use usher_domain::{AuthMethods, InteractionStep};

use super::interaction;
use super::login::{LoginOutcome, after_login, new_session};
use super::{Cookies, Form, FormFields, LoginForm, SignInOutcome};
use crate::Core;
use crate::passkeys::{self, AuthenticationOutcome};

/// What the passkey form posted: the login form's interaction fields, the ceremony id
/// and the authenticator's answer (JSON). `Debug` shows neither.
pub struct PasskeyAttempt<'a> {
    pub fields: FormFields<'a>,
    pub ceremony: &'a str,
    pub credential: &'a str,
}

impl std::fmt::Debug for PasskeyAttempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyAttempt")
            .field("fields", &self.fields)
            .field("ceremony", &crate::redact::REDACTED)
            .field("credential", &crate::redact::REDACTED)
            .finish()
    }
}

/// Decides a posted passkey sign-in. A refusal is [`LoginOutcome::PasskeyNotAccepted`]
/// with a new login form.
pub async fn login(core: &Core, attempt: PasskeyAttempt<'_>, cookies: Cookies<'_>) -> LoginOutcome {
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
    // Spend the form: one answer per form.
    let next = match interaction::renew(core, &p).await {
        Ok(n) => n,
        Err(e) => return e.into(),
    };
    let page = LoginForm {
        client_name: p.client.registration.name.as_str().to_owned(),
        form: Form::Stored {
            interaction: p.interaction.id.clone(),
            csrf: next.csrf.clone(),
        },
        username: String::new(),
        binding: None,
        passkeys: passkeys::available(&core.settings),
        signup: crate::signup::offered(&core.settings),
        upstreams: super::upstream::buttons(core).await,
        link: None,
    };
    let answered =
        passkeys::answer(core, attempt.ceremony, cookies.binding, attempt.credential).await;
    let outcome = match answered {
        Ok(o) => o,
        Err(f) => return LoginOutcome::Refused(SignInOutcome::failure(f)),
    };
    let AuthenticationOutcome::Accepted { user_id, amr, .. } = outcome else {
        let event = usher_domain::AuditEvent::new(
            core.now(),
            usher_domain::AuditKind::SignInFailed,
            usher_domain::AuditActor::Anonymous,
        )
        .client(&p.client.id)
        .address(crate::audit::address_text(cookies.address.as_ref()))
        .detail(serde_json::json!({"method": "passkey", "reason": "not_accepted"}));
        crate::audit::record(core, event).await;
        return LoginOutcome::PasskeyNotAccepted(page);
    };
    let user = match core.active_user(&user_id).await {
        Ok(Ok(u)) => u,
        Ok(Err(crate::Inactive::Gone)) => return LoginOutcome::PasskeyNotAccepted(page),
        Ok(Err(why)) => {
            let address = cookies.address.as_ref();
            return super::login::disabled(core, &p, &user_id, "passkey", address, why).await;
        }
        Err(f) => return LoginOutcome::Refused(SignInOutcome::failure(f)),
    };
    let Some(amr) = AuthMethods::new(amr) else {
        return LoginOutcome::Refused(SignInOutcome::failure(crate::Failure::Internal));
    };
    // A fresh session for every sign-in (no session fixation); the old one ends.
    let signed_in = match new_session(core, cookies, &user, amr).await {
        Ok(s) => s,
        Err(f) => return LoginOutcome::Refused(SignInOutcome::failure(f)),
    };
    let next = after_login(core, &p, &next.csrf_hash, &signed_in.session).await;
    LoginOutcome::SignedIn {
        session: signed_in.session,
        session_cookie_value: signed_in.cookie,
        device_cookie_value: signed_in.device,
        next,
    }
}
