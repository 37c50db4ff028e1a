//! Second-factor decisions (issue 14, docs/design/mfa.md): checking a code from a
//! person's authenticator app and spending one of their recovery codes, each returning
//! a typed outcome. The sign-in flow's second step calls these; the account page
//! (`account/`) confirms a new authenticator app through the same check
//! ([`check_code`]).
//!
//! Guessing is limited like passwords: every attempt first reserves a slot on the
//! person's own throttle key, `mfa:<user id>` (the login throttle's rule and settings,
//! `throttle.rs`; a key no username key can equal, since those start with `user:`), and
//! only a success clears it. Authenticator-app codes are also capped per day: the
//! person's key `mfa-day:<user id>` takes [`DAILY_CODE_FAILURES`] wrong codes in 24
//! hours and then refuses app codes, unchecked, for 24 hours; a recovery code (60
//! bits, nothing to guess) or a passkey still works, and the page says so. Without the
//! cap, the 15-minute windows let about 700 guesses a day through, which over months
//! finds a six-digit code (three valid codes a window) with a real chance. A code is
//! accepted once: the matched time step is recorded
//! with one compare-and-set (`FactorStore::accept_totp_step`), a recovery code is spent
//! with one `UPDATE … WHERE used_at IS NULL`. Codes never reach a log line; failures
//! and the use of a recovery code are security events at `warn`.

use usher_domain::{
    LoginFailures, RecoveryCode, Reservation, ThrottlePolicy, TotpCode, TotpFactor, UserId,
};
use usher_keys::TotpSecret;

use crate::Core;
use crate::failure::{Failure, blocking};
use crate::metrics::{self, Counter};

/// What checking an authenticator-app code decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpOutcome {
    /// The code is right and its time step had not been used: the second factor passed.
    Accepted { step: i64 },
    /// The code is not one of the current step or its neighbours (counted as a failure).
    Wrong,
    /// The code is right but its step, or a later one, was already used: a replay
    /// (counted as a failure).
    Replayed,
    /// Too many failures: nothing was checked; wait this many seconds.
    Throttled { wait: i64 },
    /// Too many wrong app codes today: app codes are refused unchecked for this many
    /// seconds; a recovery code or a passkey still works.
    DailyCap { wait: i64 },
    /// The person has no confirmed authenticator app.
    NoFactor,
}

/// What presenting a recovery code decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryOutcome {
    /// The code was unspent and is now spent; `left` are still unspent.
    Accepted { left: usize },
    /// Not an unspent code of this person (counted as a failure).
    Wrong,
    /// Too many failures: nothing was checked; wait this many seconds.
    Throttled { wait: i64 },
}

/// The throttle key of a person's second-factor attempts.
pub fn throttle_key(user: &UserId) -> String {
    format!("mfa:{user}")
}

/// Wrong authenticator-app codes a person may send in 24 hours; the last of them locks
/// app codes for 24 hours (recovery codes and passkeys are not counted or locked).
pub const DAILY_CODE_FAILURES: u32 = 30;

/// The key of the daily cap on a person's authenticator-app codes.
pub fn daily_key(user: &UserId) -> String {
    format!("mfa-day:{user}")
}

/// The daily cap as a throttle rule: one window of a day, every lock a day.
pub fn daily_policy() -> ThrottlePolicy {
    const DAY: i64 = 24 * 60 * 60;
    ThrottlePolicy {
        max_failures: DAILY_CODE_FAILURES,
        first_lock: DAY,
        window: DAY,
        max_lock: DAY,
    }
}

fn policy(core: &Core) -> ThrottlePolicy {
    ThrottlePolicy::new(
        core.settings.login_max_failures,
        core.settings.login_lockout,
    )
}

/// Whether the person has a second factor a sign-in must ask for: a confirmed
/// authenticator app, or a passkey — even one marked suspect (its counter went
/// backwards): such a passkey is refused, but it must not silently turn the account
/// back into a password-only one; the person then needs a recovery code, or the
/// operator's `usher user mfa-reset`.
pub async fn has_second_factor(core: &Core, user: &UserId) -> Result<bool, Failure> {
    let factors = core.stores.factors.clone();
    let passkeys = core.stores.passkeys.clone();
    let user = user.clone();
    blocking(move || {
        if factors.get_totp(&user)?.is_some_and(|f| f.confirmed) {
            return Ok(true);
        }
        Ok(!passkeys.list_passkeys(&user)?.is_empty())
    })
    .await
}

/// Whether the person has a passkey a second step can offer (not marked suspect).
pub async fn has_passkey(core: &Core, user: &UserId) -> Result<bool, Failure> {
    let passkeys = core.stores.passkeys.clone();
    let user = user.clone();
    let found = blocking(move || passkeys.list_passkeys(&user)).await?;
    Ok(found.iter().any(|p| !p.suspect))
}

/// Reserves one second-factor attempt for `user`: the granted counters, or how long to
/// wait.
pub(crate) async fn reserve(
    core: &Core,
    user: &UserId,
) -> Result<Result<LoginFailures, i64>, Failure> {
    let throttle = core.stores.throttle.clone();
    let key = throttle_key(user);
    let now = core.now();
    let policy = policy(core);
    let reservation = blocking(move || throttle.reserve_attempt(&key, now, &policy)).await?;
    Ok(match reservation {
        Reservation::Granted(counters) => Ok(counters),
        Reservation::Refused { until } => Err((until.seconds() - now.seconds()).max(1)),
    })
}

/// A success: the person's second-factor failures are forgotten.
pub(crate) async fn clear(core: &Core, user: &UserId) -> Result<(), Failure> {
    let throttle = core.stores.throttle.clone();
    let key = throttle_key(user);
    blocking(move || throttle.clear_failures(&key)).await
}

/// What checking a code against a stored secret found, before anything is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeCheck {
    /// The code of this time step (within ±1 of now); the caller records it as used.
    Matched { step: i64 },
    /// No step near now has this code (the attempt stays counted).
    Wrong,
    /// Too many failures: nothing was checked; wait this many seconds.
    Throttled { wait: i64 },
    /// The daily cap on app codes is reached: nothing was checked; wait this many
    /// seconds (or use a recovery code or a passkey).
    DailyCap { wait: i64 },
}

/// The shared part of checking an authenticator-app code, for sign-in
/// ([`verify_totp`]) and for confirming a new app (`enroll::confirm_totp`): reserve an
/// attempt on the daily cap `mfa-day:<user id>` and then on `mfa:<user id>`, open the
/// sealed secret, and find the step whose code matches (±1 step, compared in constant
/// time). A matched code gives its daily reservation back (only wrong codes count
/// there); it records nothing else: the caller accepts the step with its own
/// compare-and-set and then calls [`succeeded`]. Security events are logged here, with
/// `method`.
pub(crate) async fn check_code(
    core: &Core,
    user: &UserId,
    factor: &TotpFactor,
    code: &TotpCode,
    method: &'static str,
) -> Result<CodeCheck, Failure> {
    let throttle = core.stores.throttle.clone();
    let (key, now) = (daily_key(user), core.now());
    let daily = match blocking(move || throttle.reserve_attempt(&key, now, &daily_policy())).await?
    {
        Reservation::Granted(counters) => counters,
        Reservation::Refused { until } => {
            metrics::inc(Counter::SecondFactorEvents, "daily_cap");
            tracing::warn!(
                event = "second_factor_daily_cap",
                sub = %user,
                method,
                "authenticator-app code refused unchecked: too many wrong codes today"
            );
            return Ok(CodeCheck::DailyCap {
                wait: (until.seconds() - now.seconds()).max(1),
            });
        }
    };
    let give_back_daily = || {
        let throttle = core.stores.throttle.clone();
        let key = daily_key(user);
        blocking(move || throttle.release_attempt(&key, &daily, &daily_policy()))
    };
    if let Err(wait) = reserve(core, user).await? {
        give_back_daily().await?;
        throttled(user, method);
        return Ok(CodeCheck::Throttled { wait });
    }
    let secret = open_secret(core, user, factor)?;
    match secret.verify(code, core.now()) {
        Some(step) => {
            give_back_daily().await?;
            Ok(CodeCheck::Matched { step })
        }
        None => {
            refused(user, method, "wrong");
            Ok(CodeCheck::Wrong)
        }
    }
}

/// Opens a factor's sealed secret; one that does not open is an internal failure
/// (another KEK, or a row moved to another person), never a wrong code.
pub(crate) fn open_secret(
    core: &Core,
    user: &UserId,
    factor: &TotpFactor,
) -> Result<TotpSecret, Failure> {
    core.factor_sealer
        .open_totp(user, &factor.sealed_secret)
        .map_err(|e| {
            tracing::error!(sub = %user, cause = %e, "an authenticator-app secret does not open");
            Failure::Internal
        })
}

/// A code's step was matched but could not be recorded (already used, or the factor
/// changed meanwhile): the security event of a replay.
pub(crate) fn replayed(user: &UserId, method: &'static str) {
    refused(user, method, "replayed");
}

/// After a matched step was recorded: the person's second-factor failures are forgotten.
pub(crate) async fn succeeded(core: &Core, user: &UserId) -> Result<(), Failure> {
    clear(core, user).await
}

/// Checks `code` against `user`'s authenticator app at the node's time, within ±1 step,
/// and accepts its step once.
pub async fn verify_totp(
    core: &Core,
    user: &UserId,
    code: &TotpCode,
) -> Result<TotpOutcome, Failure> {
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    let factor = match blocking(move || factors.get_totp(&owner)).await? {
        Some(factor) if factor.confirmed => factor,
        _ => return Ok(TotpOutcome::NoFactor),
    };
    let step = match check_code(core, user, &factor, code, "totp").await? {
        CodeCheck::Matched { step } => step,
        CodeCheck::Wrong => return Ok(TotpOutcome::Wrong),
        CodeCheck::Throttled { wait } => return Ok(TotpOutcome::Throttled { wait }),
        CodeCheck::DailyCap { wait } => return Ok(TotpOutcome::DailyCap { wait }),
    };
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    if !blocking(move || factors.accept_totp_step(&owner, step)).await? {
        replayed(user, "totp");
        return Ok(TotpOutcome::Replayed);
    }
    succeeded(core, user).await?;
    metrics::inc(Counter::SecondFactorEvents, "passed");
    tracing::info!(event = "second_factor", sub = %user, method = "totp", "second factor passed");
    Ok(TotpOutcome::Accepted { step })
}

/// Spends `code` if it is one of `user`'s unspent recovery codes.
pub async fn use_recovery_code(
    core: &Core,
    user: &UserId,
    code: &RecoveryCode,
) -> Result<RecoveryOutcome, Failure> {
    if let Err(wait) = reserve(core, user).await? {
        throttled(user, "recovery_code");
        return Ok(RecoveryOutcome::Throttled { wait });
    }
    let hash = core.secrets.hash_recovery_code(user, code);
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    let now = core.now();
    let spent = blocking(move || {
        if factors.spend_recovery_code(&owner, &hash, now)? {
            factors.recovery_codes_left(&owner).map(Some)
        } else {
            Ok(None)
        }
    })
    .await?;
    let Some(left) = spent else {
        refused(user, "recovery_code", "wrong");
        return Ok(RecoveryOutcome::Wrong);
    };
    clear(core, user).await?;
    metrics::inc(Counter::SecondFactorEvents, "recovery_code_used");
    metrics::inc(Counter::SecondFactorEvents, "passed");
    tracing::warn!(
        event = "recovery_code_used",
        sub = %user,
        left,
        "a recovery code was used"
    );
    Ok(RecoveryOutcome::Accepted { left })
}

/// The security event of an attempt refused unchecked: too many failures.
pub(crate) fn throttled(user: &UserId, method: &'static str) {
    metrics::inc(Counter::SecondFactorEvents, "throttled");
    tracing::warn!(
        event = "second_factor_throttled",
        sub = %user,
        method,
        "second-factor attempt refused: too many failures"
    );
}

/// The security event of a second factor refused (`wrong`, or `replayed`: a code already
/// used). Never the code itself.
pub(crate) fn refused(user: &UserId, method: &'static str, reason: &'static str) {
    metrics::inc(Counter::SecondFactorEvents, "failed");
    tracing::warn!(
        event = "second_factor_failed",
        sub = %user,
        method,
        reason,
        "second factor refused"
    );
}

pub mod enroll;

#[cfg(test)]
mod tests;
