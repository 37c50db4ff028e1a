//! Throttling logins, per client address and per account, in the shared store so every
//! node sees the same counters.
//!
//! An attempt is *reserved* against both keys before its password is checked, each with
//! one atomic statement ([`usher_domain::throttle`] states the rule): the address first,
//! then the account. If either is locked, the attempt is refused without checking the
//! password, and an address reservation already made is given back, so an attempt that
//! was never checked counts nowhere. A failure needs nothing more: its reservation is the
//! count. A success clears the account's counters and gives the address reservation
//! back, so people signing in from one address never lock it; only failures do.
//! After `login_max_failures` attempts in a 15-minute window a key is locked for
//! `login_lockout` seconds, doubling with each attempt after a lock ends, up to 15
//! minutes.

use usher_domain::{LoginFailures, Reservation, ThrottlePolicy, Username};

use crate::Core;
use crate::client_address::ClientAddress;
use crate::failure::{Failure, blocking};

/// The throttle keys of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// `ip:<address>` (an IPv6 address's /64), if the attempt is counted per address.
    address: Option<String>,
    /// `user:<username in lower case>`.
    account: String,
}

/// The account key of text typed that is not a username at all (a username has no
/// whitespace, so no account's key can be this one). Such text can never sign in; one
/// shared key keeps a flood of long or random garbage from writing a counter row each.
const NOT_A_USERNAME: &str = "user: not a username";

/// The throttle keys for `username` typed from `address`. The account key is built from
/// the parsed username (lower case, at most 64 characters), never from raw text.
pub fn keys(username: &str, address: &ClientAddress) -> Keys {
    Keys {
        address: address.throttle_key(),
        account: match Username::parse(username) {
            Ok(u) => format!("user:{}", u.as_str()),
            Err(_) => NOT_A_USERNAME.to_owned(),
        },
    }
}

/// What the throttle decided about one attempt.
#[derive(Debug)]
pub enum Attempt {
    /// The password may be checked; the reservations to settle after a success.
    Allowed(Reserved),
    /// Refused unchecked: wait this many seconds.
    Throttled { wait: i64 },
}

/// The reservations an allowed attempt holds.
#[derive(Debug)]
pub struct Reserved {
    keys: Keys,
    address: Option<LoginFailures>,
    account: LoginFailures,
}

impl Reserved {
    /// When this attempt, failed, locks its address or account: the lockout's length in
    /// seconds from `now` (the reservation that fills a budget carries its lock).
    pub fn locks(&self, now: usher_domain::UnixTime) -> Option<i64> {
        [Some(&self.account), self.address.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|f| f.locked_until)
            .filter(|until| *until > now)
            .map(|until| until.seconds() - now.seconds())
            .max()
    }
}

fn policy(state: &Core) -> ThrottlePolicy {
    ThrottlePolicy::new(
        state.settings.login_max_failures,
        state.settings.login_lockout,
    )
}

/// Reserves the attempt against the address, then the account.
pub async fn reserve(state: &Core, keys: Keys) -> Result<Attempt, Failure> {
    let now = state.now();
    let policy = policy(state);
    let store = state.stores.throttle.clone();
    blocking(move || {
        let wait = |until: usher_domain::UnixTime| (until.seconds() - now.seconds()).max(1);
        let address = match &keys.address {
            None => None,
            Some(key) => match store.reserve_attempt(key, now, &policy)? {
                Reservation::Granted(f) => Some(f),
                Reservation::Refused { until } => {
                    return Ok(Attempt::Throttled { wait: wait(until) });
                }
            },
        };
        let account = match store.reserve_attempt(&keys.account, now, &policy) {
            Ok(r) => r,
            Err(e) => {
                // Nothing was checked: the address slot goes back (best effort; the
                // store just failed, and the error is what the caller must see).
                if let (Some(key), Some(granted)) = (&keys.address, &address) {
                    let _ = store.release_attempt(key, granted, &policy);
                }
                return Err(e);
            }
        };
        match account {
            Reservation::Granted(account) => Ok(Attempt::Allowed(Reserved {
                keys,
                address,
                account,
            })),
            Reservation::Refused { until } => {
                if let (Some(key), Some(granted)) = (&keys.address, &address) {
                    store.release_attempt(key, granted, &policy)?;
                }
                Ok(Attempt::Throttled { wait: wait(until) })
            }
        }
    })
    .await
}

/// Settles a successful attempt: the account's counters are cleared (its owner is
/// back), the address reservation is given back. The address's failures are kept: one
/// valid account must not reset the counter an attacker accumulates from an address.
pub async fn succeeded(state: &Core, reserved: Reserved) -> Result<(), Failure> {
    let policy = policy(state);
    let store = state.stores.throttle.clone();
    blocking(move || {
        store.clear_failures(&reserved.keys.account)?;
        if let (Some(key), Some(granted)) = (&reserved.keys.address, &reserved.address) {
            store.release_attempt(key, granted, &policy)?;
        }
        Ok(())
    })
    .await
}

/// Gives both reservations back, for an attempt whose password was never checked (its
/// form turned out to be spent already): it counts nowhere.
pub async fn give_back(state: &Core, reserved: Reserved) -> Result<(), Failure> {
    let policy = policy(state);
    let store = state.stores.throttle.clone();
    blocking(move || {
        store.release_attempt(&reserved.keys.account, &reserved.account, &policy)?;
        if let (Some(key), Some(granted)) = (&reserved.keys.address, &reserved.address) {
            store.release_attempt(key, granted, &policy)?;
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn accounts_are_keyed_in_lower_case_and_addresses_only_when_known() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            keys("Alice", &ClientAddress::Ip(ip)),
            Keys {
                address: Some("ip:2001:db8::/64".to_owned()),
                account: "user:alice".to_owned(),
            }
        );
        assert_eq!(
            keys("bob", &ClientAddress::BehindUntrustedProxy).address,
            None
        );
    }

    #[test]
    fn text_that_is_no_username_shares_one_bounded_key() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let long = "x".repeat(60_000);
        for typed in [long.as_str(), "two words", "", "tab\there"] {
            assert_eq!(
                keys(typed, &ClientAddress::Ip(ip)).account,
                NOT_A_USERNAME,
                "{typed:.20}"
            );
        }
        assert_ne!(keys("not", &ClientAddress::Ip(ip)).account, NOT_A_USERNAME);
    }
}
