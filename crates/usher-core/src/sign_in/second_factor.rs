//! The second step of a sign-in (docs/design/mfa.md, "Sign-in in two steps").
//!
//! After a right password, a person who has an authenticator app — or any person, when
//! the server, the client or the request needs a second factor ([`needed_acr`]) — gets
//! no session yet: the interaction moves to its `second_factor` step, recording who
//! typed the password and when, and the second-factor page asks for a code from the app
//! or a recovery code. A person who must have a second factor and has none sets up an
//! authenticator app on that page instead (the secret is stored sealed and unconfirmed,
//! never carried in the form) and confirms it with a code; their new recovery codes are
//! then shown once (`recovery_codes` step) before the sign-in continues.
//!
//! Each form is single-use like the login form's: a post spends it (compare-and-set)
//! before the code is checked, and every refusal comes with a new form. Codes are
//! throttled on the person's own key ([`crate::mfa`]); malformed text is refused without
//! being counted or checked. Only when the step passes is a session created, with the
//! methods used (`amr`), and the sign-in continues as after a password.
//!
//! [`needed_acr`]: super::decision::needed_acr

use usher_domain::{
    AuditActor, AuditEvent, AuditKind, AuthMethods, Interaction, InteractionStep, RecoveryCode,
    Session, TotpCode, User,
};

use super::interaction::{self, FormError, NextForm, Pending};
use super::login::{NewSession, after_login, new_session};
use super::{
    Cookies, Form, FormFields, FormRefusal, RecoveryCodesForm, SecondFactorForm,
    SecondFactorProblem, SignInOutcome,
};
use crate::mfa::enroll::{self, ConfirmOutcome, TotpSetup};
use crate::mfa::{self, RecoveryOutcome, TotpOutcome};
use crate::passkeys::{self, AuthenticationOutcome};
use crate::redact::REDACTED;
use crate::{Core, Failure, secret_pair};

/// Whether the sign-in continues with a second step after `user`'s right password: if
/// they have a second factor, or policy `forced` one (then a person without one sets
/// one up); if so, moves the interaction there (its current token is `next`'s) and
/// returns the page.
pub(super) async fn begin(
    core: &Core,
    p: &Pending,
    next: &NextForm,
    user: &User,
    forced: bool,
) -> Result<Option<SecondFactorForm>, FormError> {
    begin_with(core, p, next, user, forced, None).await
}

/// [`begin`] after a first step that was not a password (an upstream sign-in,
/// `first`): kept in the interaction, so the session that follows the second step says
/// what was really used.
pub(super) async fn begin_after(
    core: &Core,
    p: &Pending,
    next: &NextForm,
    user: &User,
    forced: bool,
    first: AuthMethods,
) -> Result<Option<SecondFactorForm>, FormError> {
    begin_with(core, p, next, user, forced, Some(first)).await
}

/// The methods of a passed second step: the first step's (a password unless the
/// interaction says otherwise), then `then`.
fn after_first(
    p: &Pending,
    then: impl IntoIterator<Item = usher_domain::Amr>,
) -> Option<AuthMethods> {
    let first: Vec<usher_domain::Amr> = p
        .interaction
        .first_amr
        .as_ref()
        .map_or_else(|| vec![usher_domain::Amr::Pwd], |m| m.as_slice().to_vec());
    AuthMethods::new(first.into_iter().chain(then))
}

async fn begin_with(
    core: &Core,
    p: &Pending,
    next: &NextForm,
    user: &User,
    forced: bool,
    first: Option<AuthMethods>,
) -> Result<Option<SecondFactorForm>, FormError> {
    let has = mfa::has_second_factor(core, &user.id).await?;
    if !has && !forced {
        return Ok(None);
    }
    // `None` when a confirmed app appeared meanwhile: its code is asked instead.
    let setup = if has {
        None
    } else {
        enroll::start_totp(core, user).await?
    };
    let (csrf, csrf_hash) = secret_pair()?;
    let moved = Interaction {
        csrf_hash,
        step: InteractionStep::SecondFactor,
        user_id: Some(user.id.clone()),
        auth_time: Some(core.now()),
        first_amr: first,
        ..p.interaction.clone()
    };
    if !interaction::advance(core, &next.csrf_hash, &moved).await? {
        return Err(FormRefusal::AlreadySubmitted.into());
    }
    tracing::info!(
        event = "second_factor_asked",
        sub = %user.id,
        setup = setup.is_some(),
        "password accepted; second factor asked"
    );
    Ok(Some(page(core, p, user, csrf, setup, None).await?))
}

/// The second-factor page of `p` for `user`, with the form token `csrf`.
async fn page(
    core: &Core,
    p: &Pending,
    user: &User,
    csrf: String,
    setup: Option<TotpSetup>,
    problem: Option<SecondFactorProblem>,
) -> Result<SecondFactorForm, Failure> {
    let passkey = setup.is_none()
        && crate::passkeys::available(&core.settings)
        && mfa::has_passkey(core, &user.id).await?;
    Ok(SecondFactorForm {
        client_name: p.client.registration.name.as_str().to_owned(),
        username: user.username.as_str().to_owned(),
        form: Form::Stored {
            interaction: p.interaction.id.clone(),
            csrf,
        },
        setup,
        problem,
        passkey,
    })
}

/// What the second-factor form posted.
pub struct SecondFactorAttempt<'a> {
    pub fields: FormFields<'a>,
    /// As typed: an app's six digits, or a recovery code.
    pub code: &'a str,
    /// The handle of the authenticator-app setup the page showed (`setup`), if any.
    pub setup: Option<&'a str>,
}

impl std::fmt::Debug for SecondFactorAttempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondFactorAttempt")
            .field("fields", &self.fields)
            .field("code", &REDACTED)
            .finish()
    }
}

/// What the second-factor form decided. `Debug` does not show the session cookie's
/// value.
// Built once per sign-in and moved once to be rendered: boxing the session would buy
// nothing but an allocation.
#[allow(clippy::large_enum_variant)]
pub enum SecondFactorOutcome {
    /// The step passed: set the session cookie to `session_cookie_value` and render
    /// `next` (the recovery codes, the consent page or the code).
    SignedIn {
        session: Session,
        session_cookie_value: String,
        /// The known-browser cookie to set ([`crate::browsers`]), if any.
        device_cookie_value: Option<String>,
        next: SignInOutcome,
    },
    /// Refused: the page again with a new form and the problem (401, or 429 when
    /// throttled).
    Again(SecondFactorForm),
    /// The form was refused or the server failed.
    Refused(SignInOutcome),
}

impl std::fmt::Debug for SecondFactorOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecondFactorOutcome::SignedIn { session, next, .. } => f
                .debug_struct("SignedIn")
                .field("session", session)
                .field("session_cookie_value", &REDACTED)
                .field("next", next)
                .finish(),
            SecondFactorOutcome::Again(form) => f.debug_tuple("Again").field(form).finish(),
            SecondFactorOutcome::Refused(o) => f.debug_tuple("Refused").field(o).finish(),
        }
    }
}

impl From<FormError> for SecondFactorOutcome {
    fn from(e: FormError) -> SecondFactorOutcome {
        SecondFactorOutcome::Refused(match e {
            FormError::Refused(r) => SignInOutcome::refused(r),
            FormError::Failure(f) => SignInOutcome::failure(f),
        })
    }
}

impl From<Failure> for SecondFactorOutcome {
    fn from(f: Failure) -> SecondFactorOutcome {
        SecondFactorOutcome::Refused(SignInOutcome::failure(f))
    }
}

/// What checking the code decided, before anything is issued.
enum Checked {
    /// Passed; `codes`: recovery codes made with a new app, to show once.
    Passed(Option<enroll::RecoveryCodes>),
    Refused(SecondFactorProblem, Option<TotpSetup>),
}

/// Decides a posted second-factor form.
pub async fn submit(
    core: &Core,
    attempt: SecondFactorAttempt<'_>,
    cookies: Cookies<'_>,
) -> SecondFactorOutcome {
    let p = match interaction::pending(
        core,
        attempt.fields,
        cookies.binding,
        InteractionStep::SecondFactor,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    let Some(user_id) = p.interaction.user_id.clone() else {
        return FormError::Refused(FormRefusal::Expired).into();
    };
    let user = match core.active_user(&user_id).await {
        Ok(Ok(u)) => u,
        // Deleted since the password was typed.
        Ok(Err(crate::Inactive::Gone)) => return FormError::Refused(FormRefusal::Expired).into(),
        // Disabled since: refused before the form or a code is spent.
        Ok(Err(crate::Inactive::Disabled)) => {
            return FormError::Refused(FormRefusal::AccountDisabled).into();
        }
        Err(f) => return f.into(),
    };
    // Spend the form: one checked code per form.
    let next = match interaction::renew(core, &p).await {
        Ok(n) => n,
        Err(e) => return e.into(),
    };
    let checked = match check(core, &user, attempt.code, attempt.setup.unwrap_or("")).await {
        Ok(c) => c,
        Err(f) => return f.into(),
    };
    let codes = match checked {
        Checked::Passed(codes) => codes,
        Checked::Refused(problem, setup) => {
            second_step_refused(core, &user.id, &p, cookies.address.as_ref(), &problem).await;
            let csrf = next.csrf.clone();
            return match page(core, &p, &user, csrf, setup, Some(problem)).await {
                Ok(form) => SecondFactorOutcome::Again(form),
                Err(f) => f.into(),
            };
        }
    };
    passed(
        core,
        cookies,
        &p,
        &next,
        &user,
        after_first(&p, [usher_domain::Amr::Otp, usher_domain::Amr::Mfa])
            .unwrap_or_else(AuthMethods::password_and_otp),
        codes,
    )
    .await
}

/// The step passed with `amr`: a fresh session (no session fixation), then the new
/// recovery codes (`codes`) or what follows a sign-in.
async fn passed(
    core: &Core,
    cookies: Cookies<'_>,
    p: &Pending,
    next: &NextForm,
    user: &User,
    amr: AuthMethods,
    codes: Option<enroll::RecoveryCodes>,
) -> SecondFactorOutcome {
    let signed_in = new_session(core, cookies, user, amr).await;
    let NewSession {
        session,
        cookie: session_cookie_value,
        device: device_cookie_value,
    } = match signed_in {
        Ok(s) => s,
        Err(f) => return f.into(),
    };
    let next = match codes {
        Some(codes) => show_codes(core, p, next, user, codes).await,
        None => after_login(core, p, &next.csrf_hash, &session).await,
    };
    SecondFactorOutcome::SignedIn {
        session,
        session_cookie_value,
        device_cookie_value,
        next,
    }
}

/// What the second-factor page's passkey form posted: its interaction fields, the
/// ceremony id and the authenticator's answer (JSON). `Debug` shows neither.
pub struct PasskeyStep<'a> {
    pub fields: FormFields<'a>,
    pub ceremony: &'a str,
    pub credential: &'a str,
}

impl std::fmt::Debug for PasskeyStep<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyStep")
            .field("fields", &self.fields)
            .field("ceremony", &REDACTED)
            .field("credential", &REDACTED)
            .finish()
    }
}

/// Decides the second step done with a passkey: the passkey must be one of the person
/// who typed the password (any other is refused like an unknown one). The session's
/// `amr` is the password's and the passkey's.
pub async fn submit_passkey(
    core: &Core,
    attempt: PasskeyStep<'_>,
    cookies: Cookies<'_>,
) -> SecondFactorOutcome {
    let p = match interaction::pending(
        core,
        attempt.fields,
        cookies.binding,
        InteractionStep::SecondFactor,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    let Some(user_id) = p.interaction.user_id.clone() else {
        return FormError::Refused(FormRefusal::Expired).into();
    };
    let user = match core.active_user(&user_id).await {
        Ok(Ok(u)) => u,
        Ok(Err(crate::Inactive::Gone)) => return FormError::Refused(FormRefusal::Expired).into(),
        // Disabled since: refused before the form or a code is spent.
        Ok(Err(crate::Inactive::Disabled)) => {
            return FormError::Refused(FormRefusal::AccountDisabled).into();
        }
        Err(f) => return f.into(),
    };
    let next = match interaction::renew(core, &p).await {
        Ok(n) => n,
        Err(e) => return e.into(),
    };
    let answered =
        passkeys::answer(core, attempt.ceremony, cookies.binding, attempt.credential).await;
    let outcome = match answered {
        Ok(o) => o,
        Err(f) => return f.into(),
    };
    let amr = match outcome {
        AuthenticationOutcome::Accepted { user_id, amr, .. } if user_id == user.id => {
            after_first(&p, amr)
        }
        _ => None,
    };
    let Some(amr) = amr else {
        mfa::refused(&user.id, "passkey", "not_accepted");
        let refusal = SecondFactorProblem::PasskeyNotAccepted;
        second_step_refused(core, &user.id, &p, cookies.address.as_ref(), &refusal).await;
        let csrf = next.csrf.clone();
        let problem = Some(refusal);
        return match page(core, &p, &user, csrf, None, problem).await {
            Ok(form) => SecondFactorOutcome::Again(form),
            Err(f) => f.into(),
        };
    };
    passed(core, cookies, &p, &next, &user, amr, None).await
}

/// The audit event of a refused second step: `sign_in.throttled` when nothing was
/// checked, `sign_in.failed` otherwise (never the code typed).
async fn second_step_refused(
    core: &Core,
    user: &usher_domain::UserId,
    p: &Pending,
    address: Option<&crate::client_address::ClientAddress>,
    problem: &SecondFactorProblem,
) {
    let (kind, reason) = match problem {
        // A refusal during a lockout writes nothing (it costs the sender nothing: a row
        // each would grow the trail without bound); the failures before it were written.
        SecondFactorProblem::Throttled { .. } | SecondFactorProblem::DailyCap { .. } => return,
        SecondFactorProblem::Wrong => (AuditKind::SignInFailed, "wrong_code"),
        SecondFactorProblem::Replayed => (AuditKind::SignInFailed, "replayed_code"),
        SecondFactorProblem::PasskeyNotAccepted => {
            (AuditKind::SignInFailed, "passkey_not_accepted")
        }
    };
    let event = AuditEvent::new(core.now(), kind, AuditActor::Anonymous)
        .person(user)
        .client(&p.client.id)
        .address(crate::audit::address_text(address))
        .detail(serde_json::json!({"method": "second_factor", "reason": reason}));
    crate::audit::record(core, event).await;
}

/// Checks the typed code: against the person's app and recovery codes, or — when they
/// have no app yet — against the app being set up.
async fn check(core: &Core, user: &User, typed: &str, handle: &str) -> Result<Checked, Failure> {
    if mfa::has_second_factor(core, &user.id).await? {
        if let Ok(code) = TotpCode::parse(typed) {
            return Ok(match mfa::verify_totp(core, &user.id, &code).await? {
                TotpOutcome::Accepted { .. } => Checked::Passed(None),
                TotpOutcome::Replayed => Checked::Refused(SecondFactorProblem::Replayed, None),
                TotpOutcome::Throttled { wait } => {
                    Checked::Refused(SecondFactorProblem::Throttled { wait }, None)
                }
                TotpOutcome::DailyCap { wait } => {
                    Checked::Refused(SecondFactorProblem::DailyCap { wait }, None)
                }
                TotpOutcome::Wrong | TotpOutcome::NoFactor => {
                    Checked::Refused(SecondFactorProblem::Wrong, None)
                }
            });
        }
        if let Ok(code) = RecoveryCode::parse(typed) {
            return Ok(match mfa::use_recovery_code(core, &user.id, &code).await? {
                RecoveryOutcome::Accepted { .. } => Checked::Passed(None),
                RecoveryOutcome::Throttled { wait } => {
                    Checked::Refused(SecondFactorProblem::Throttled { wait }, None)
                }
                RecoveryOutcome::Wrong => Checked::Refused(SecondFactorProblem::Wrong, None),
            });
        }
        return Ok(Checked::Refused(SecondFactorProblem::Wrong, None));
    }
    // Setting up: only an app code confirms it.
    let outcome = match TotpCode::parse(typed) {
        Ok(code) => enroll::confirm_totp(core, &user.id, &code, handle).await?,
        Err(_) => ConfirmOutcome::Wrong,
    };
    let problem = match outcome {
        ConfirmOutcome::Confirmed { recovery_codes } => return Ok(Checked::Passed(recovery_codes)),
        ConfirmOutcome::Wrong => SecondFactorProblem::Wrong,
        ConfirmOutcome::Throttled { wait } => SecondFactorProblem::Throttled { wait },
        // Replaced or removed meanwhile: a new setup is shown.
        ConfirmOutcome::NoPendingSetup => SecondFactorProblem::Wrong,
    };
    // The same setup again; a replaced one is never shown here: a new one is started.
    let setup = match enroll::pending_totp(core, user, handle).await? {
        Some(s) => Some(s),
        None => enroll::start_totp(core, user).await?,
    };
    Ok(Checked::Refused(problem, setup))
}

/// Moves the interaction to its `recovery_codes` step and shows the new codes once.
async fn show_codes(
    core: &Core,
    p: &Pending,
    next: &NextForm,
    user: &User,
    codes: enroll::RecoveryCodes,
) -> SignInOutcome {
    let (csrf, csrf_hash) = match secret_pair() {
        Ok(v) => v,
        Err(f) => return SignInOutcome::failure(f),
    };
    let moved = Interaction {
        csrf_hash,
        step: InteractionStep::RecoveryCodes,
        user_id: Some(user.id.clone()),
        auth_time: Some(core.now()),
        ..p.interaction.clone()
    };
    match interaction::advance(core, &next.csrf_hash, &moved).await {
        Ok(true) => {}
        Ok(false) => return SignInOutcome::refused(FormRefusal::AlreadySubmitted),
        Err(f) => return SignInOutcome::failure(f),
    }
    SignInOutcome::ShowRecoveryCodes(RecoveryCodesForm {
        client_name: p.client.registration.name.as_str().to_owned(),
        codes,
        form: Form::Stored {
            interaction: p.interaction.id.clone(),
            csrf,
        },
    })
}

/// Decides the posted "continue" form of the recovery-codes page: the person who set up
/// the factor must still be the one signed in in this browser; then the sign-in goes on
/// as after a password (consent, or the code).
pub async fn acknowledge(
    core: &Core,
    fields: FormFields<'_>,
    cookies: Cookies<'_>,
) -> SignInOutcome {
    let p = match interaction::pending(
        core,
        fields,
        cookies.binding,
        InteractionStep::RecoveryCodes,
    )
    .await
    {
        Ok(p) => p,
        Err(FormError::Refused(r)) => return SignInOutcome::refused(r),
        Err(FormError::Failure(f)) => return SignInOutcome::failure(f),
    };
    let session = match core.session(cookies.session).await {
        Ok(Some(s)) if Some(&s.user_id) == p.interaction.user_id.as_ref() => s,
        Ok(_) => return SignInOutcome::refused(FormRefusal::NoLongerSignedIn),
        Err(f) => return SignInOutcome::failure(f),
    };
    // A stored form's token is the interaction's current one (checked by `pending`).
    let csrf_hash = p.interaction.csrf_hash.clone();
    after_login(core, &p, &csrf_hash, &session).await
}
