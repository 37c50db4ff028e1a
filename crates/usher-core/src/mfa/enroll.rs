//! Setting up an authenticator app (docs/design/mfa.md, "Factors"): a new secret is
//! stored sealed and *unconfirmed* (an unconfirmed factor is neither asked for nor
//! accepted at sign-in), shown to the person as text, `otpauth://` URI and QR code, and
//! confirmed with a current code. The secret never travels through a form: every page
//! that shows it re-reads the unconfirmed row. The first confirmed second factor comes
//! with ten recovery codes, returned once to be shown once.
//!
//! Used by the sign-in's second step (a person who must have a second factor and has
//! none) and by the account page.

use usher_domain::{RecoveryCode, TotpCode, TotpFactor, User, UserId};
use usher_keys::TotpSecret;

use super::{clear, refused, reserve, throttled};
use crate::Core;
use crate::failure::{Failure, blocking};
use crate::redact::REDACTED;

/// What the person needs to add the secret to their app. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSetup {
    /// The secret in base32 without padding, to type by hand.
    pub secret: String,
    /// The `otpauth://totp/…` URI, for the QR code.
    pub uri: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSetup")
            .field("secret", &REDACTED)
            .field("uri", &REDACTED)
            .finish()
    }
}

/// What confirming a setup with a code decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The app is confirmed. `recovery_codes`: the new set, to show once, when the person
    /// had no unspent recovery code (their first second factor).
    Confirmed {
        recovery_codes: Option<RecoveryCodes>,
    },
    /// Not a current code of the pending secret (counted as a failure).
    Wrong,
    /// Too many failures: nothing was checked; wait this many seconds.
    Throttled { wait: i64 },
    /// There is no setup to confirm (never started, replaced, or already confirmed).
    NoPendingSetup,
}

/// A fresh set of recovery codes, to show once. `Debug` does not show them.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodes(pub Vec<RecoveryCode>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes, {REDACTED})", self.0.len())
    }
}

/// The name an app shows for the entry: the issuer's host (and port).
fn issuer_label(core: &Core) -> String {
    let issuer = core.settings.issuer.as_str();
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| u.port().map_or(h.to_owned(), |p| format!("{h}:{p}")))
        })
        .unwrap_or_else(|| issuer.to_owned())
}

fn setup_of(core: &Core, user: &User, secret: &TotpSecret) -> TotpSetup {
    TotpSetup {
        secret: secret.to_base32(),
        uri: secret.otpauth_uri(&issuer_label(core), user.username.as_str()),
    }
}

/// Starts setting up an authenticator app for `user`: a new secret, stored sealed and
/// unconfirmed (replacing an earlier unconfirmed one). `None` if the person already has
/// a confirmed app (it must be removed first).
pub async fn start_totp(core: &Core, user: &User) -> Result<Option<TotpSetup>, Failure> {
    let secret = TotpSecret::generate().map_err(|e| {
        tracing::error!(cause = %e, "no randomness for an authenticator-app secret");
        Failure::Internal
    })?;
    let sealed = core
        .factor_sealer
        .seal_totp(&user.id, &secret)
        .map_err(|e| {
            tracing::error!(cause = %e, "an authenticator-app secret cannot be sealed");
            Failure::Internal
        })?;
    let factor = TotpFactor {
        user_id: user.id.clone(),
        sealed_secret: sealed,
        created_at: core.now(),
        last_used_step: None,
        confirmed: false,
    };
    let factors = core.stores.factors.clone();
    if !blocking(move || factors.insert_totp(&factor)).await? {
        return Ok(None);
    }
    Ok(Some(setup_of(core, user, &secret)))
}

/// The unconfirmed setup of `user`, to show again (after a wrong code); `None` if there
/// is none.
pub async fn pending_totp(core: &Core, user: &User) -> Result<Option<TotpSetup>, Failure> {
    let Some(factor) = unconfirmed(core, &user.id).await? else {
        return Ok(None);
    };
    let secret = open(core, &user.id, &factor.sealed_secret)?;
    Ok(Some(setup_of(core, user, &secret)))
}

async fn unconfirmed(core: &Core, user: &UserId) -> Result<Option<TotpFactor>, Failure> {
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    let found = blocking(move || factors.get_totp(&owner)).await?;
    Ok(found.filter(|f| !f.confirmed))
}

fn open(core: &Core, user: &UserId, sealed: &str) -> Result<TotpSecret, Failure> {
    core.factor_sealer.open_totp(user, sealed).map_err(|e| {
        tracing::error!(sub = %user, cause = %e, "an authenticator-app secret does not open");
        Failure::Internal
    })
}

/// Confirms `user`'s pending setup with a current `code` (±1 step, throttled on the
/// person's second-factor key like every code), recording its step as used; on the
/// person's first second factor, makes ten recovery codes.
pub async fn confirm_totp(
    core: &Core,
    user: &UserId,
    code: &TotpCode,
) -> Result<ConfirmOutcome, Failure> {
    let Some(factor) = unconfirmed(core, user).await? else {
        return Ok(ConfirmOutcome::NoPendingSetup);
    };
    if let Err(wait) = reserve(core, user).await? {
        throttled(user, "totp_setup");
        return Ok(ConfirmOutcome::Throttled { wait });
    }
    let secret = open(core, user, &factor.sealed_secret)?;
    let Some(step) = secret.verify(code, core.now()) else {
        refused(user, "totp_setup", "wrong");
        return Ok(ConfirmOutcome::Wrong);
    };
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    // One compare-and-set: of two tabs confirming at once, one wins; a setup replaced
    // meanwhile (another tab started again) has another secret, whose code this is not.
    let confirmed = blocking(move || {
        let current = factors.get_totp(&owner)?;
        if current.is_none_or(|c| c.sealed_secret != factor.sealed_secret) {
            return Ok(false);
        }
        factors.confirm_totp(&owner, step)
    })
    .await?;
    if !confirmed {
        return Ok(ConfirmOutcome::NoPendingSetup);
    }
    clear(core, user).await?;
    tracing::warn!(event = "factor_added", sub = %user, kind = "totp", "an authenticator app was added");
    let recovery_codes = if recovery_codes_left(core, user).await? == 0 {
        Some(new_recovery_codes(core, user).await?)
    } else {
        None
    };
    Ok(ConfirmOutcome::Confirmed { recovery_codes })
}

/// How many of the person's recovery codes are unspent.
pub async fn recovery_codes_left(core: &Core, user: &UserId) -> Result<usize, Failure> {
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    blocking(move || factors.recovery_codes_left(&owner)).await
}

/// Makes ten new recovery codes for `user`, replacing (voiding) every earlier one; the
/// codes are returned once, only their keyed hashes are stored.
pub async fn new_recovery_codes(core: &Core, user: &UserId) -> Result<RecoveryCodes, Failure> {
    let codes = usher_keys::generate_recovery_codes().map_err(|e| {
        tracing::error!(cause = %e, "no randomness for recovery codes");
        Failure::Internal
    })?;
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| core.secrets.hash_recovery_code(user, c))
        .collect();
    let factors = core.stores.factors.clone();
    let (owner, now) = (user.clone(), core.now());
    blocking(move || factors.replace_recovery_codes(&owner, &hashes, now)).await?;
    tracing::warn!(event = "recovery_codes_regenerated", sub = %user, "new recovery codes were made");
    Ok(RecoveryCodes(codes))
}
