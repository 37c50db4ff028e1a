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

use super::{CodeCheck, check_code, replayed, succeeded};
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
    /// Names this setup (a hash of its sealed secret, which says nothing about the
    /// secret): the confirming form carries it, so a code confirms only the setup whose
    /// secret the page showed, and a setup replaced meanwhile (another tab, another
    /// sign-in) is never shown in its place.
    pub handle: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSetup")
            .field("secret", &REDACTED)
            .field("uri", &REDACTED)
            .field("handle", &self.handle)
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

/// The name an app shows beside the account: the issuer's host.
fn issuer_label(core: &Core) -> String {
    url::Url::parse(core.settings.issuer.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "Usher".to_owned())
}

fn setup_of(core: &Core, user: &User, secret: &TotpSecret, sealed: &str) -> TotpSetup {
    TotpSetup {
        secret: secret.to_base32(),
        uri: secret.otpauth_uri(&issuer_label(core), user.username.as_str()),
        handle: handle_of(sealed),
    }
}

/// The handle of a setup whose sealed secret is `sealed`.
pub fn handle_of(sealed: &str) -> String {
    usher_keys::sha256_b64url(&format!("usher totp setup v1\u{0}{sealed}"))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

/// Ends every session and refresh family of `user`: a second factor was just added, so
/// nothing signed in without it may go on (a password thief's session among them).
pub async fn end_sessions_and_families(core: &Core, user: &UserId) -> Result<(), Failure> {
    crate::everywhere::end_person(core, user, crate::everywhere::Why::NewFactor).await?;
    Ok(())
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
        sealed_secret: sealed.clone(),
        created_at: core.now(),
        last_used_step: None,
        confirmed: false,
    };
    let factors = core.stores.factors.clone();
    if !blocking(move || factors.insert_totp(&factor)).await? {
        return Ok(None);
    }
    Ok(Some(setup_of(core, user, &secret, &sealed)))
}

/// The unconfirmed setup of `user` named by `handle`, to show again (after a wrong
/// code); `None` if there is none or it was replaced.
pub async fn pending_totp(
    core: &Core,
    user: &User,
    handle: &str,
) -> Result<Option<TotpSetup>, Failure> {
    let Some(factor) = unconfirmed(core, &user.id).await? else {
        return Ok(None);
    };
    if !same(&handle_of(&factor.sealed_secret), handle) {
        return Ok(None);
    }
    let secret = open(core, &user.id, &factor.sealed_secret)?;
    Ok(Some(setup_of(core, user, &secret, &factor.sealed_secret)))
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

/// Confirms `user`'s pending setup named by `handle` with a current `code` (±1 step,
/// throttled like every app code: [`super::check_code`]), recording its step as used
/// with one compare-and-set on the secret the code was checked against (of two tabs
/// confirming at once, one wins; a setup replaced meanwhile is not confirmed); then
/// ends every earlier session and family of the person, and gives ten recovery codes
/// when the person has no unspent one (their first second factor, or all spent).
pub async fn confirm_totp(
    core: &Core,
    user: &UserId,
    code: &TotpCode,
    handle: &str,
) -> Result<ConfirmOutcome, Failure> {
    let Some(factor) = unconfirmed(core, user).await? else {
        return Ok(ConfirmOutcome::NoPendingSetup);
    };
    if !same(&handle_of(&factor.sealed_secret), handle) {
        return Ok(ConfirmOutcome::NoPendingSetup);
    }
    let step = match check_code(core, user, &factor, code, "totp_setup").await? {
        CodeCheck::Matched { step } => step,
        CodeCheck::Wrong => return Ok(ConfirmOutcome::Wrong),
        CodeCheck::Throttled { wait } | CodeCheck::DailyCap { wait } => {
            return Ok(ConfirmOutcome::Throttled { wait });
        }
    };
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    let checked = factor.sealed_secret.clone();
    if !blocking(move || factors.confirm_totp(&owner, step, &checked)).await? {
        // Confirmed, replaced or removed meanwhile: a code of the same setup still
        // pending was a replay of its step; anything else has nothing to confirm.
        replayed(user, "totp_setup");
        return Ok(match unconfirmed(core, user).await? {
            Some(f) if f.sealed_secret == factor.sealed_secret => ConfirmOutcome::Wrong,
            _ => ConfirmOutcome::NoPendingSetup,
        });
    }
    succeeded(core, user).await?;
    crate::account::event(core, user, crate::account::FactorChange::TotpAdded).await;
    crate::mail::alert(core, user, usher_domain::SecurityAlert::FactorAdded).await;
    end_sessions_and_families(core, user).await?;
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
/// codes are returned once, only their keyed hashes are stored. The caller logs the
/// event (a first set comes with `factor_added`; "Generate new codes" logs
/// `recovery_codes_regenerated`).
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
    Ok(RecoveryCodes(codes))
}
