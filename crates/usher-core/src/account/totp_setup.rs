//! Setting up, confirming and removing the authenticator app from the account page.
//!
//! Setting up draws a new secret and stores it *unconfirmed* and sealed
//! (`FactorStore::insert_totp`, one upsert that never replaces a confirmed app); the
//! page shows it (QR code, base32, `otpauth://` URI) and never round-trips it through a
//! form: confirming re-reads the unconfirmed row. Confirming checks a current code
//! through the sign-in's own check (`mfa::check_code`: throttled on `mfa:<user id>`,
//! ±1 step, constant time) and confirms with the matched step recorded as used
//! (`FactorStore::confirm_totp`, one compare-and-set). The first confirmed second factor
//! comes with ten recovery codes, shown once. Removing the app, when it was the last
//! second factor, removes the recovery codes too (they would recover nothing).

use std::fmt;

use usher_domain::{RecoveryCode, Session, TotpCode, TotpFactor, UserId};
use usher_keys::TotpSecret;

use crate::Core;
use crate::account::forms::{self, FormPurpose};
use crate::account::{FactorChange, event, recovery_codes};
use crate::failure::{Failure, blocking};
use crate::mfa::{self, CodeCheck, enroll};

fn same_handle(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

/// What the setup page shows. `Debug` hides the secret and the URI.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSetupPage {
    /// Which setup the page shows (posted back as `setup`: see
    /// [`crate::mfa::enroll::TotpSetup::handle`]).
    pub handle: String,
    /// The secret in base32 without padding (RFC 4648 §6), to type into an app.
    pub secret: String,
    /// The `otpauth://totp/…` URI, which the QR code encodes.
    pub uri: String,
    /// The confirm form's single-use token.
    pub form_token: String,
}

impl fmt::Debug for TotpSetupPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSetupPage(<redacted>)")
    }
}

/// What "Set up an authenticator app" decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOutcome {
    /// A new unconfirmed app: show its setup page.
    Show(TotpSetupPage),
    /// The person already has a confirmed app: it must be removed first.
    AlreadySetUp,
}

/// What confirming with a code decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The app is confirmed. `recovery_codes` holds the ten new codes when this was the
    /// person's first second factor (show them once; they are stored only hashed).
    Confirmed {
        recovery_codes: Option<Vec<RecoveryCode>>,
    },
    /// Not six digits: the same page again, with an error.
    Malformed(TotpSetupPage),
    /// Not the current code (or its step was used): the same page again, with an error.
    Wrong(TotpSetupPage),
    /// Too many wrong codes: wait this many seconds.
    Throttled { wait: i64, page: TotpSetupPage },
    /// There is no unconfirmed app to confirm (never set up, removed, or confirmed
    /// already in another tab).
    NothingToConfirm,
}

/// What removing the app decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// Removed; `recovery_codes_removed` when it was the last second factor.
    Removed { recovery_codes_removed: bool },
    /// There was no app.
    NothingToRemove,
}

async fn factor_of(core: &Core, user: &UserId) -> Result<Option<TotpFactor>, Failure> {
    let factors = core.stores.factors.clone();
    let user = user.clone();
    blocking(move || factors.get_totp(&user)).await
}

/// The issuer label an app shows beside the account: the issuer's host.
fn issuer_label(core: &Core) -> String {
    url::Url::parse(core.settings.issuer.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "Usher".to_owned())
}

/// The setup page of `secret`, with a new confirm token.
async fn page(
    core: &Core,
    session: &Session,
    secret: &TotpSecret,
    sealed: &str,
) -> Result<TotpSetupPage, Failure> {
    let username = match core.user(&session.user_id).await? {
        Some(u) => u.username.as_str().to_owned(),
        None => session.user_id.as_str().to_owned(),
    };
    Ok(TotpSetupPage {
        handle: enroll::handle_of(sealed),
        secret: secret.to_base32(),
        uri: secret.otpauth_uri(&issuer_label(core), &username),
        form_token: forms::issue(core, session, FormPurpose::TotpConfirm).await?,
    })
}

/// The setup page again, re-derived from the stored unconfirmed row (never from the
/// form).
async fn again(
    core: &Core,
    session: &Session,
    factor: &TotpFactor,
) -> Result<TotpSetupPage, Failure> {
    let secret = mfa::open_secret(core, &session.user_id, factor)?;
    page(core, session, &secret, &factor.sealed_secret).await
}

/// "Set up an authenticator app": a new secret, stored unconfirmed and sealed (it
/// replaces an earlier unconfirmed one, never a confirmed one).
pub async fn begin(core: &Core, session: &Session) -> Result<SetupOutcome, Failure> {
    let user = &session.user_id;
    let secret = TotpSecret::generate().map_err(|e| {
        tracing::error!(cause = %e, "no randomness");
        Failure::Internal
    })?;
    let sealed = core.factor_sealer.seal_totp(user, &secret).map_err(|e| {
        tracing::error!(cause = %e, "an authenticator-app secret could not be sealed");
        Failure::Internal
    })?;
    let factor = TotpFactor {
        user_id: user.clone(),
        sealed_secret: sealed.clone(),
        created_at: core.now(),
        last_used_step: None,
        confirmed: false,
    };
    let factors = core.stores.factors.clone();
    if !blocking(move || factors.insert_totp(&factor)).await? {
        return Ok(SetupOutcome::AlreadySetUp);
    }
    Ok(SetupOutcome::Show(
        page(core, session, &secret, &sealed).await?,
    ))
}

/// Confirms the person's unconfirmed app with `typed`, a code from it.
pub async fn confirm(
    core: &Core,
    session: &Session,
    typed: &str,
    handle: &str,
) -> Result<ConfirmOutcome, Failure> {
    let user = &session.user_id;
    // Only the setup the page showed: one replaced meanwhile (another tab, a sign-in
    // that set one up) is neither confirmed nor shown here.
    let factor = match factor_of(core, user).await? {
        Some(f) if !f.confirmed && same_handle(&enroll::handle_of(&f.sealed_secret), handle) => f,
        _ => return Ok(ConfirmOutcome::NothingToConfirm),
    };
    let Ok(code) = TotpCode::parse(typed) else {
        return Ok(ConfirmOutcome::Malformed(
            again(core, session, &factor).await?,
        ));
    };
    let step = match mfa::check_code(core, user, &factor, &code, "totp_setup").await? {
        CodeCheck::Matched { step } => step,
        CodeCheck::Wrong => return Ok(ConfirmOutcome::Wrong(again(core, session, &factor).await?)),
        CodeCheck::Throttled { wait } => {
            return Ok(ConfirmOutcome::Throttled {
                wait,
                page: again(core, session, &factor).await?,
            });
        }
    };
    // Whether this is the person's first second factor (checked before confirming:
    // today the app is the only kind; passkeys will count here too).
    let first = !mfa::has_second_factor(core, user).await?;
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    let checked = factor.sealed_secret.clone();
    if !blocking(move || factors.confirm_totp(&owner, step, &checked)).await? {
        // Confirmed, replaced or removed meanwhile (another tab, a sign-in that set one
        // up), or this step was used: only the same setup is shown again.
        mfa::replayed(user, "totp_setup");
        return Ok(match factor_of(core, user).await? {
            Some(f) if !f.confirmed && f.sealed_secret == factor.sealed_secret => {
                ConfirmOutcome::Wrong(again(core, session, &f).await?)
            }
            _ => ConfirmOutcome::NothingToConfirm,
        });
    }
    mfa::succeeded(core, user).await?;
    event(user, FactorChange::TotpAdded);
    enroll::end_sessions_and_families(core, user).await?;
    let recovery_codes = if first {
        Some(recovery_codes::issue_new(core, user).await?)
    } else {
        None
    };
    Ok(ConfirmOutcome::Confirmed { recovery_codes })
}

/// Removes the person's authenticator app (confirmed or not). When no second factor is
/// left, the recovery codes go too.
pub async fn remove(core: &Core, session: &Session) -> Result<RemoveOutcome, Failure> {
    let user = &session.user_id;
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    let existed = factor_of(core, user).await?;
    if !blocking(move || factors.delete_totp(&owner)).await? {
        return Ok(RemoveOutcome::NothingToRemove);
    }
    let was_confirmed = existed.is_some_and(|f| f.confirmed);
    let mut recovery_codes_removed = false;
    if !mfa::has_second_factor(core, user).await? {
        let factors = core.stores.factors.clone();
        let (owner, now) = (user.clone(), core.now());
        blocking(move || factors.replace_recovery_codes(&owner, &[], now)).await?;
        recovery_codes_removed = true;
    }
    if was_confirmed {
        event(user, FactorChange::TotpRemoved);
    }
    Ok(RemoveOutcome::Removed {
        recovery_codes_removed,
    })
}
