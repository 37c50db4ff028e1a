//! Throttling failed logins, per account and per client address, in the shared store so
//! every node sees the same counters. After `login_max_failures` failures within a
//! 15-minute window, the key is locked for `login_lockout` seconds, doubling with each
//! further failure up to 15 minutes.

use usher_domain::{LoginFailures, UnixTime};

use crate::respond::{Failure, blocking};
use crate::state::AppState;

const WINDOW: i64 = 15 * 60;
const MAX_LOCK: i64 = 15 * 60;

/// The throttle keys of a login attempt.
pub fn keys(username: &str, address: Option<&str>) -> Vec<String> {
    let mut keys = vec![format!("user:{}", username.to_lowercase())];
    if let Some(a) = address {
        keys.push(format!("ip:{a}"));
    }
    keys
}

/// Seconds to wait, if any key is locked.
pub async fn locked_for(state: &AppState, keys: &[String]) -> Result<Option<i64>, Failure> {
    let now = state.now();
    let mut wait = None;
    for key in keys {
        let store = state.stores.throttle.clone();
        let k = key.clone();
        if let Some(f) = blocking(move || store.get_failures(&k)).await?
            && let Some(until) = f.locked_until
            && until > now
        {
            let secs = until.seconds() - now.seconds();
            wait = Some(wait.map_or(secs, |w: i64| w.max(secs)));
        }
    }
    Ok(wait)
}

/// The counters after one more failure at `now`.
pub fn after_failure(
    previous: Option<LoginFailures>,
    now: UnixTime,
    max_failures: u32,
    lockout: i64,
) -> LoginFailures {
    let mut f = match previous {
        Some(f) if now.seconds() - f.window_start.seconds() <= WINDOW => f,
        _ => LoginFailures {
            count: 0,
            window_start: now,
            locked_until: None,
        },
    };
    f.count = f.count.saturating_add(1);
    if f.count >= max_failures {
        let over = (f.count - max_failures).min(16);
        let secs = lockout.saturating_mul(1_i64 << over).min(MAX_LOCK);
        f.locked_until = Some(now.plus(secs));
    }
    f
}

/// Records a failure against every key.
pub async fn record_failure(state: &AppState, keys: &[String]) -> Result<(), Failure> {
    let now = state.now();
    for key in keys {
        let store = state.stores.throttle.clone();
        let (k, max, lockout) = (
            key.clone(),
            state.settings.login_max_failures,
            state.settings.login_lockout,
        );
        blocking(move || {
            let next = after_failure(store.get_failures(&k)?, now, max, lockout);
            store.put_failures(&k, &next)
        })
        .await?;
    }
    Ok(())
}

/// Forgets an account's failures after a successful login. The address counter is kept:
/// one valid account must not reset the counter an attacker accumulates from an address.
pub async fn record_success(state: &AppState, username: &str) -> Result<(), Failure> {
    let store = state.stores.throttle.clone();
    let key = format!("user:{}", username.to_lowercase());
    blocking(move || store.clear_failures(&key)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_maximum_and_doubles_up_to_the_cap() {
        let mut f = None;
        for _ in 0..4 {
            f = Some(after_failure(f, UnixTime(1000), 5, 30));
            assert_eq!(f.unwrap().locked_until, None);
        }
        let fifth = after_failure(f, UnixTime(1000), 5, 30);
        assert_eq!(fifth.locked_until, Some(UnixTime(1030)));
        let sixth = after_failure(Some(fifth), UnixTime(1040), 5, 30);
        assert_eq!(sixth.locked_until, Some(UnixTime(1100)));
        let mut many = sixth;
        for _ in 0..30 {
            many = after_failure(Some(many), UnixTime(1100), 5, 30);
        }
        assert_eq!(many.locked_until, Some(UnixTime(1100 + MAX_LOCK)));
    }

    #[test]
    fn a_new_window_starts_after_fifteen_quiet_minutes() {
        let f = after_failure(None, UnixTime(0), 5, 30);
        let later = after_failure(Some(f), UnixTime(WINDOW + 1), 5, 30);
        assert_eq!(later.count, 1);
    }
}
