//! The login throttle's rule: how one attempt is *reserved* against a key (an account or
//! a client address) before its password is checked, and how a reservation is given
//! back. The stores implement [`ThrottlePolicy::reserve`] and [`ThrottlePolicy::release`]
//! as single atomic SQL statements; the functions here are the reference those statements
//! are tested against, and the place the rule is written down.
//!
//! A key's counters ([`LoginFailures`]) hold the attempts reserved in the current window:
//! failures, plus attempts still being checked (a success gives its reservation back or
//! clears the account). The window starts with its first attempt and lasts
//! [`ThrottlePolicy::window`] seconds. The attempt that brings the count to
//! `max_failures` is still checked, and locks the key for `first_lock` seconds; while a
//! key is locked nothing is reserved (the attempt is refused unchecked, and nothing
//! changes). Each attempt reserved after a lock ends locks the key again, for twice as
//! long as the one before, up to [`ThrottlePolicy::max_lock`]. So, whatever the
//! concurrency, a window checks at most `max_failures` attempts before its first lock and
//! one per lock after it ([`ThrottlePolicy::most_checked_per_window`]).

use crate::session::LoginFailures;
use crate::time::UnixTime;

/// The limits of the login throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Attempts checked in a window before the key locks (at least 1).
    pub max_failures: u32,
    /// The first lock, in seconds (at least 1); each later one doubles, up to `max_lock`.
    pub first_lock: i64,
    /// How long a window lasts after its first attempt, in seconds.
    pub window: i64,
    /// The longest lock, in seconds.
    pub max_lock: i64,
}

/// What [`ThrottlePolicy::reserve`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt may be checked; the key's counters now (this attempt included).
    Granted(LoginFailures),
    /// The key is locked until this time; nothing was reserved or changed.
    Refused { until: UnixTime },
}

impl ThrottlePolicy {
    /// Windows of 15 minutes and locks of at most 15 minutes.
    pub const WINDOW: i64 = 15 * 60;
    pub const MAX_LOCK: i64 = 15 * 60;

    /// `max_failures` attempts, then `first_lock` seconds, doubling; 15-minute windows.
    pub fn new(max_failures: u32, first_lock: i64) -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures: max_failures.max(1),
            first_lock: first_lock.max(1),
            window: ThrottlePolicy::WINDOW,
            max_lock: ThrottlePolicy::MAX_LOCK,
        }
    }

    /// How many doublings of `first_lock` stay below `max_lock`: from this many attempts
    /// past `max_failures` on, every lock is `max_lock`.
    pub fn doublings(&self) -> u32 {
        let mut steps = 0;
        while steps < 62 && self.first_lock.saturating_mul(1_i64 << steps) < self.max_lock {
            steps += 1;
        }
        steps
    }

    /// The lock that the `count`-th attempt of a window sets, in seconds, if any.
    pub fn lock_seconds(&self, count: u32) -> Option<i64> {
        let over = count.checked_sub(self.max_failures)?;
        Some(if over >= self.doublings() {
            self.max_lock
        } else {
            self.first_lock << over
        })
    }

    /// One reservation for a key whose counters are `previous`, at `now`.
    pub fn reserve(&self, previous: Option<LoginFailures>, now: UnixTime) -> Reservation {
        if let Some(until) = previous.and_then(|p| p.locked_until)
            && until > now
        {
            return Reservation::Refused { until };
        }
        let (count, window_start) = match previous {
            Some(p) if p.window_start.seconds() >= now.seconds().saturating_sub(self.window) => {
                (p.count.saturating_add(1), p.window_start)
            }
            _ => (1, now),
        };
        Reservation::Granted(LoginFailures {
            count,
            window_start,
            locked_until: self.lock_seconds(count).map(|s| now.plus(s)),
        })
    }

    /// Gives back the reservation that returned `granted` (an attempt that succeeded, or
    /// that another key refused), when the key's counters are now `current`. Returns
    /// the new counters, or `None` when nothing changes (a new window has begun since).
    ///
    /// The count goes down by one. The lock goes when the count falls below
    /// `max_failures`, and when it is still the one this reservation set (an earlier lock
    /// had ended, or the reservation would not have been granted); a lock set by a later
    /// attempt stays.
    pub fn release(
        &self,
        current: LoginFailures,
        granted: &LoginFailures,
    ) -> Option<LoginFailures> {
        if current.window_start != granted.window_start || current.count == 0 {
            return None;
        }
        let count = current.count - 1;
        let ours = granted.locked_until.is_some() && current.locked_until == granted.locked_until;
        Some(LoginFailures {
            count,
            window_start: current.window_start,
            locked_until: if count < self.max_failures || ours {
                None
            } else {
                current.locked_until
            },
        })
    }

    /// The most attempts one window can check for one key: `max_failures`, plus one
    /// after each lock that ends before the window does (locks of `first_lock`,
    /// doubling). With 5 and 30 s: locks end 30, 90, 210 and 450 s after the fifth
    /// attempt, the next at 930 s, so 9.
    pub fn most_checked_per_window(&self) -> u32 {
        let mut checked = self.max_failures;
        let mut elapsed: i64 = 0;
        let mut count = self.max_failures;
        while let Some(lock) = self.lock_seconds(count) {
            elapsed = elapsed.saturating_add(lock);
            if elapsed > self.window {
                break;
            }
            checked += 1;
            count += 1;
        }
        checked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(r: Reservation) -> LoginFailures {
        match r {
            Reservation::Granted(f) => f,
            Reservation::Refused { until } => panic!("refused until {until:?}"),
        }
    }

    #[test]
    fn the_fifth_attempt_is_checked_and_locks_the_sixth_out() {
        let p = ThrottlePolicy::new(5, 30);
        let mut f = None;
        for n in 1..=4 {
            let g = granted(p.reserve(f, UnixTime(1000)));
            assert_eq!((g.count, g.locked_until), (n, None));
            f = Some(g);
        }
        let fifth = granted(p.reserve(f, UnixTime(1000)));
        assert_eq!(fifth.locked_until, Some(UnixTime(1030)));
        assert_eq!(
            p.reserve(Some(fifth), UnixTime(1029)),
            Reservation::Refused {
                until: UnixTime(1030)
            }
        );
        // After the lock: one more, locked twice as long.
        let sixth = granted(p.reserve(Some(fifth), UnixTime(1030)));
        assert_eq!((sixth.count, sixth.locked_until), (6, Some(UnixTime(1090))));
    }

    #[test]
    fn locks_double_up_to_the_cap() {
        let p = ThrottlePolicy::new(5, 30);
        assert_eq!(p.doublings(), 5);
        let locks: Vec<_> = (4..=12).map(|n| p.lock_seconds(n)).collect();
        assert_eq!(
            locks,
            [
                None,
                Some(30),
                Some(60),
                Some(120),
                Some(240),
                Some(480),
                Some(900),
                Some(900),
                Some(900)
            ]
        );
        assert_eq!(p.lock_seconds(u32::MAX), Some(900));
        let huge = ThrottlePolicy::new(1, 5000);
        assert_eq!((huge.doublings(), huge.lock_seconds(1)), (0, Some(900)));
    }

    #[test]
    fn a_new_window_starts_fifteen_minutes_after_the_first_attempt() {
        let p = ThrottlePolicy::new(5, 30);
        let f = granted(p.reserve(None, UnixTime(0)));
        let same = granted(p.reserve(Some(f), UnixTime(p.window)));
        assert_eq!(same.count, 2);
        let later = granted(p.reserve(Some(same), UnixTime(p.window + 1)));
        assert_eq!(
            (later.count, later.window_start),
            (1, UnixTime(p.window + 1))
        );
    }

    #[test]
    fn the_bound_per_window_is_what_reservations_allow() {
        let p = ThrottlePolicy::new(5, 30);
        assert_eq!(p.most_checked_per_window(), 9);
        // Simulate an attacker who tries every second for a whole window.
        let mut f = None;
        let mut checked = 0;
        for t in 0..=p.window {
            for _ in 0..40 {
                if let Reservation::Granted(g) = p.reserve(f, UnixTime(t)) {
                    checked += 1;
                    f = Some(g);
                }
            }
        }
        assert_eq!(checked, p.most_checked_per_window());
        assert_eq!(ThrottlePolicy::new(1, 900).most_checked_per_window(), 2);
    }

    #[test]
    fn a_release_gives_the_attempt_back_and_lifts_only_its_own_lock() {
        let p = ThrottlePolicy::new(5, 30);
        let four = LoginFailures {
            count: 4,
            window_start: UnixTime(100),
            locked_until: None,
        };
        // The fifth attempt locked the key; it succeeded: as if it never happened.
        let fifth = granted(p.reserve(Some(four), UnixTime(200)));
        assert_eq!(p.release(fifth, &fifth), Some(four));
        // A sixth after the first lock ended, given back: the count stays at the limit,
        // the lock it set goes.
        let five = LoginFailures {
            count: 5,
            window_start: UnixTime(100),
            locked_until: Some(UnixTime(130)),
        };
        let sixth = granted(p.reserve(Some(five), UnixTime(300)));
        assert_eq!(
            p.release(sixth, &sixth),
            Some(LoginFailures {
                locked_until: None,
                ..five
            })
        );
        // A lock a later attempt set stays while the count is at the limit.
        let third = LoginFailures { count: 3, ..four };
        let later = LoginFailures {
            count: 6,
            window_start: UnixTime(100),
            locked_until: Some(UnixTime(400)),
        };
        assert_eq!(
            p.release(later, &third).map(|f| f.locked_until),
            Some(Some(UnixTime(400)))
        );
        // Below the limit no lock remains.
        let locked_at_five = LoginFailures {
            count: 5,
            window_start: UnixTime(100),
            locked_until: Some(UnixTime(400)),
        };
        assert_eq!(
            p.release(locked_at_five, &third).map(|f| f.locked_until),
            Some(None)
        );
        // Another window: nothing to give back.
        let next = LoginFailures {
            window_start: UnixTime(5000),
            ..four
        };
        assert_eq!(p.release(next, &four), None);
    }
}
