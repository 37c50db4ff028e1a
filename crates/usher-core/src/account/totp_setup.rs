//! Setting up, confirming and removing the authenticator app from the account page.
//!
//! Setting up and confirming are `mfa::enroll`'s (shared with the sign-in's own setup):
//! a new secret stored *unconfirmed* and sealed, shown (QR code, base32, `otpauth://`
//! URI) and never round-tripped through a form, confirmed with a current code (throttled
//! like every app code, ±1 step, constant time, one compare-and-set). This module adds
//! the account page's single-use form tokens and pages. The first confirmed second
//! factor comes with ten recovery codes, shown once. Removing the app, when it was the last
//! second factor, removes the recovery codes too (they would recover nothing).

use std::fmt;

use usher_domain::{RecoveryCode, Session, TotpCode, TotpFactor, User, UserId};

use crate::Core;
use crate::account::forms::{self, FormPurpose};
use crate::account::{FactorChange, event};
use crate::failure::{Failure, blocking};
use crate::mfa::{self, enroll, enroll::TotpSetup};

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

async fn person(core: &Core, session: &Session) -> Result<User, Failure> {
    core.user(&session.user_id).await?.ok_or_else(|| {
        tracing::error!(sub = %session.user_id, "a live session of a person who does not exist");
        Failure::Internal
    })
}

/// The page of `setup`, with a new confirm token.
async fn page(core: &Core, session: &Session, setup: TotpSetup) -> Result<TotpSetupPage, Failure> {
    Ok(TotpSetupPage {
        handle: setup.handle,
        secret: setup.secret,
        uri: setup.uri,
        form_token: forms::issue(core, session, FormPurpose::TotpConfirm).await?,
    })
}

/// The setup named by `handle` again, re-derived from the stored unconfirmed row (never
/// from the form); `None` if it was confirmed, replaced or removed meanwhile.
async fn again(
    core: &Core,
    session: &Session,
    user: &User,
    handle: &str,
) -> Result<Option<TotpSetupPage>, Failure> {
    match enroll::pending_totp(core, user, handle).await? {
        Some(setup) => Ok(Some(page(core, session, setup).await?)),
        None => Ok(None),
    }
}

/// "Set up an authenticator app": a new secret, stored unconfirmed and sealed (it
/// replaces an earlier unconfirmed one, never a confirmed one).
pub async fn begin(core: &Core, session: &Session) -> Result<SetupOutcome, Failure> {
    let user = person(core, session).await?;
    match enroll::start_totp(core, &user).await? {
        Some(setup) => Ok(SetupOutcome::Show(page(core, session, setup).await?)),
        None => Ok(SetupOutcome::AlreadySetUp),
    }
}

/// Confirms the person's unconfirmed app with `typed`, a code from it
/// ([`enroll::confirm_totp`], shared with the sign-in's setup).
pub async fn confirm(
    core: &Core,
    session: &Session,
    typed: &str,
    handle: &str,
) -> Result<ConfirmOutcome, Failure> {
    let user = person(core, session).await?;
    // Only the setup the page showed: one replaced meanwhile (another tab, a sign-in
    // that set one up) is neither confirmed nor shown here.
    let Some(shown) = again(core, session, &user, handle).await? else {
        return Ok(ConfirmOutcome::NothingToConfirm);
    };
    let Ok(code) = TotpCode::parse(typed) else {
        return Ok(ConfirmOutcome::Malformed(shown));
    };
    let outcome = enroll::confirm_totp(core, &user.id, &code, handle).await?;
    let shown_again = || async {
        again(core, session, &user, handle)
            .await
            .map(|page| page.ok_or(()))
    };
    Ok(match outcome {
        enroll::ConfirmOutcome::Confirmed { recovery_codes } => ConfirmOutcome::Confirmed {
            recovery_codes: recovery_codes.map(|codes| codes.0),
        },
        enroll::ConfirmOutcome::Wrong => match shown_again().await? {
            Ok(page) => ConfirmOutcome::Wrong(page),
            Err(()) => ConfirmOutcome::NothingToConfirm,
        },
        enroll::ConfirmOutcome::Throttled { wait } => match shown_again().await? {
            Ok(page) => ConfirmOutcome::Throttled { wait, page },
            Err(()) => ConfirmOutcome::NothingToConfirm,
        },
        enroll::ConfirmOutcome::NoPendingSetup => ConfirmOutcome::NothingToConfirm,
    })
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
        event(core, user, FactorChange::TotpRemoved).await;
        crate::mail::alert(core, user, usher_domain::SecurityAlert::FactorRemoved).await;
    }
    Ok(RemoveOutcome::Removed {
        recovery_codes_removed,
    })
}
