//! Signing-key rotation as pure planning: given the stored key records, the schedule and
//! `now`, decide which transitions of `next → active → retired → removed` are due, and
//! what each record looks like after its transition. Every signing algorithm has its own
//! cycle: the keys of one algorithm are planned as if the others did not exist, on the
//! same schedule.
//!
//! Nothing here reads a clock, generates a key or touches storage: the caller (every node's
//! rotation task, and the admin CLI) performs the planned transitions with the store's
//! compare-and-set methods, so that of several nodes planning the same transition exactly
//! one performs it. The timing rules, and why they keep every verifier working, are in
//! `docs/design/key-rotation.md`.

use crate::keys::{KeyState, SigningAlg, SigningKeyRecord};
use crate::time::UnixTime;

/// When keys move from one state to the next, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationSchedule {
    /// How long a key signs before it is replaced.
    pub rotate_every: i64,
    /// How long a `next` key is published before it may sign. The binary checks that it
    /// is at least twice the JWKS max-age plus [`RotationSchedule::propagation`].
    pub prepublish: i64,
    /// The longest lifetime of any token a key signs (access tokens and ID tokens).
    pub token_lifetime: i64,
    /// How long another node may still act on the key set it loaded before a transition
    /// (its poll interval plus a margin for clock skew). A retired key may still sign on
    /// such a node for this long, so it stays published that much longer.
    pub propagation: i64,
}

/// A transition that is due, with the records as they become.
// Planned a few at a time and consumed at once: boxing the records would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Generate a key for `alg` and insert it as `next`, to sign from `activate_after` on
    /// (only if no other `next` key of `alg` exists by then).
    CreateNext {
        alg: SigningAlg,
        activate_after: UnixTime,
    },
    /// Make `next` the active key and write `retiring` (the old active key, now retired)
    /// in the same transaction.
    Promote {
        next: SigningKeyRecord,
        retiring: Option<SigningKeyRecord>,
    },
    /// Take a retired key out of the JWKS: every token it signed has expired.
    Remove { key: SigningKeyRecord },
}

/// The active key of `alg` (the most recently activated one, should there be several).
pub fn active_key(keys: &[SigningKeyRecord], alg: SigningAlg) -> Option<&SigningKeyRecord> {
    keys.iter()
        .filter(|k| k.state == KeyState::Active && k.alg == alg)
        .max_by(|a, b| {
            (a.activated_at, a.created_at, &a.kid).cmp(&(b.activated_at, b.created_at, &b.kid))
        })
}

/// The `next` key of `alg` that activates first (normally the only one).
pub fn next_key<'a>(
    keys: &'a [SigningKeyRecord],
    alg: SigningAlg,
    schedule: &RotationSchedule,
) -> Option<&'a SigningKeyRecord> {
    keys.iter()
        .filter(|k| k.state == KeyState::Next && k.alg == alg)
        .min_by(|a, b| {
            (activates_at(a, schedule), a.created_at, &a.kid).cmp(&(
                activates_at(b, schedule),
                b.created_at,
                &b.kid,
            ))
        })
}

/// When a `next` key may start signing.
pub fn activates_at(key: &SigningKeyRecord, schedule: &RotationSchedule) -> UnixTime {
    key.activate_after
        .unwrap_or_else(|| key.created_at.plus(schedule.prepublish))
}

/// When the active key is due to be replaced.
pub fn replace_due(active: &SigningKeyRecord, schedule: &RotationSchedule) -> UnixTime {
    active.retire_after.unwrap_or_else(|| {
        active
            .activated_at
            .unwrap_or(active.created_at)
            .plus(schedule.rotate_every)
    })
}

/// When a retired key may leave the JWKS, if it is known.
pub fn removal_due(retired: &SigningKeyRecord, schedule: &RotationSchedule) -> Option<UnixTime> {
    retired.remove_after.or_else(|| {
        retired
            .retired_at
            .map(|t| t.plus(schedule.token_lifetime + schedule.propagation))
    })
}

/// A freshly generated key as the `next` key: published now, signing from `activate_after`.
pub fn as_next(mut generated: SigningKeyRecord, activate_after: UnixTime) -> SigningKeyRecord {
    generated.state = KeyState::Next;
    generated.activate_after = Some(activate_after);
    generated.activated_at = None;
    generated.retire_after = None;
    generated.retired_at = None;
    generated.remove_after = None;
    generated.removed_at = None;
    generated
}

/// `next` as it becomes when it starts signing at `now`.
pub fn promoted(
    next: &SigningKeyRecord,
    schedule: &RotationSchedule,
    now: UnixTime,
) -> SigningKeyRecord {
    SigningKeyRecord {
        state: KeyState::Active,
        activated_at: Some(now),
        retire_after: Some(now.plus(schedule.rotate_every)),
        ..next.clone()
    }
}

/// The active key as it becomes when it stops signing at `now`: published until every
/// token it signed (on any node) has expired.
pub fn retired(
    active: &SigningKeyRecord,
    schedule: &RotationSchedule,
    now: UnixTime,
) -> SigningKeyRecord {
    SigningKeyRecord {
        state: KeyState::Retired,
        retired_at: Some(now),
        remove_after: Some(now.plus(schedule.token_lifetime + schedule.propagation)),
        ..active.clone()
    }
}

/// Any key as it becomes when it leaves the JWKS at `now` (on schedule, or because it is
/// compromised).
pub fn removed(key: &SigningKeyRecord, now: UnixTime) -> SigningKeyRecord {
    SigningKeyRecord {
        state: KeyState::Removed,
        retired_at: key.retired_at.or(match key.state {
            KeyState::Active => Some(now),
            _ => None,
        }),
        removed_at: Some(now),
        ..key.clone()
    }
}

/// The transitions due at `now`, in the order to perform them: removals, then for each
/// algorithm (RS256, ES256, EdDSA) a promotion, or else the creation of a `next` key. A
/// promotion and the creation of the key after it are never planned together: the next
/// plan (after the promotion is stored) sees the new active key's schedule.
pub fn plan(
    keys: &[SigningKeyRecord],
    schedule: &RotationSchedule,
    now: UnixTime,
) -> Vec<Transition> {
    let mut out = Vec::new();
    for key in keys.iter().filter(|k| k.state == KeyState::Retired) {
        if removal_due(key, schedule).is_some_and(|due| due <= now) {
            out.push(Transition::Remove {
                key: removed(key, now),
            });
        }
    }
    for alg in SigningAlg::ALL {
        plan_alg(keys, alg, schedule, now, &mut out);
    }
    out
}

/// The promotion or creation due for the keys of one algorithm.
fn plan_alg(
    keys: &[SigningKeyRecord],
    alg: SigningAlg,
    schedule: &RotationSchedule,
    now: UnixTime,
    out: &mut Vec<Transition>,
) {
    let active = active_key(keys, alg);
    match next_key(keys, alg, schedule) {
        Some(next) => {
            if activates_at(next, schedule) <= now {
                out.push(Transition::Promote {
                    next: promoted(next, schedule, now),
                    retiring: active.map(|a| retired(a, schedule, now)),
                });
            }
        }
        None => {
            if let Some(active) = active {
                let due = replace_due(active, schedule);
                if due.plus(-schedule.prepublish) <= now {
                    out.push(Transition::CreateNext {
                        alg,
                        activate_after: due.max(now.plus(schedule.prepublish)),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn schedule() -> RotationSchedule {
        RotationSchedule {
            rotate_every: 30 * DAY,
            prepublish: 2 * DAY,
            token_lifetime: 600,
            propagation: 90,
        }
    }

    fn key(kid: &str, state: KeyState, created: i64) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            state,
            alg: SigningAlg::Rs256,
            bits: 2048,
            public_jwk: "{}".into(),
            private_key_encrypted: "v1.x".into(),
            created_at: UnixTime(created),
            activate_after: None,
            activated_at: None,
            retire_after: None,
            retired_at: None,
            remove_after: None,
            removed_at: None,
        }
    }

    fn active(kid: &str, at: i64) -> SigningKeyRecord {
        promoted(&key(kid, KeyState::Next, at), &schedule(), UnixTime(at))
    }

    /// Applies a plan the way a store would (ignoring key generation details).
    fn apply(keys: &mut Vec<SigningKeyRecord>, plan: Vec<Transition>, now: UnixTime, n: &mut u32) {
        for t in plan {
            match t {
                Transition::CreateNext {
                    alg,
                    activate_after,
                } => {
                    *n += 1;
                    let mut new = key(&format!("k{n}"), KeyState::Next, now.seconds());
                    new.alg = alg;
                    keys.push(as_next(new, activate_after));
                }
                Transition::Promote { next, retiring } => {
                    for k in keys.iter_mut() {
                        if k.kid == next.kid {
                            *k = next.clone();
                        }
                        if let Some(r) = &retiring
                            && k.kid == r.kid
                        {
                            *k = r.clone();
                        }
                    }
                }
                Transition::Remove { key } => {
                    for k in keys.iter_mut().filter(|k| k.kid == key.kid) {
                        *k = key.clone();
                    }
                }
            }
        }
    }

    #[test]
    fn nothing_is_due_for_a_fresh_active_key() {
        let keys = vec![active("a", 0)];
        assert!(plan(&keys, &schedule(), UnixTime(DAY)).is_empty());
        assert!(plan(&keys, &schedule(), UnixTime(28 * DAY - 1)).is_empty());
    }

    #[test]
    fn a_next_key_is_created_one_prepublication_before_the_active_key_is_due() {
        let keys = vec![active("a", 0)];
        assert_eq!(
            plan(&keys, &schedule(), UnixTime(28 * DAY)),
            vec![Transition::CreateNext {
                alg: SigningAlg::Rs256,
                activate_after: UnixTime(30 * DAY)
            }]
        );
        // Late (a node was down): the new key still gets its full pre-publication.
        assert_eq!(
            plan(&keys, &schedule(), UnixTime(40 * DAY)),
            vec![Transition::CreateNext {
                alg: SigningAlg::Rs256,
                activate_after: UnixTime(42 * DAY)
            }]
        );
    }

    #[test]
    fn a_next_key_is_promoted_only_once_its_prepublication_has_passed() {
        let mut next = as_next(key("b", KeyState::Next, 28 * DAY), UnixTime(30 * DAY));
        next.created_at = UnixTime(28 * DAY);
        let keys = vec![active("a", 0), next];
        assert!(plan(&keys, &schedule(), UnixTime(30 * DAY - 1)).is_empty());
        let now = UnixTime(30 * DAY);
        let planned = plan(&keys, &schedule(), now);
        let [
            Transition::Promote {
                next,
                retiring: Some(old),
            },
        ] = planned.as_slice()
        else {
            panic!("{planned:?}");
        };
        assert_eq!((next.kid.as_str(), next.state), ("b", KeyState::Active));
        assert_eq!(next.activated_at, Some(now));
        assert_eq!(next.retire_after, Some(now.plus(30 * DAY)));
        assert_eq!((old.kid.as_str(), old.state), ("a", KeyState::Retired));
        assert_eq!(old.retired_at, Some(now));
        assert_eq!(old.remove_after, Some(now.plus(600 + 90)));
    }

    #[test]
    fn a_retired_key_is_removed_once_its_last_token_has_expired_everywhere() {
        let old = retired(&active("a", 0), &schedule(), UnixTime(1000));
        let keys = vec![active("b", 1000), old.clone()];
        assert!(plan(&keys, &schedule(), UnixTime(1000 + 689)).is_empty());
        let planned = plan(&keys, &schedule(), UnixTime(1000 + 690));
        assert_eq!(
            planned,
            vec![Transition::Remove {
                key: removed(&old, UnixTime(1690))
            }]
        );
    }

    #[test]
    fn months_of_planning_keep_one_active_key_and_prepublish_every_key() {
        let s = schedule();
        let mut keys = vec![active("k0", 0)];
        let mut n = 0;
        let mut published_since: std::collections::HashMap<String, i64> = Default::default();
        published_since.insert("k0".into(), 0);
        let mut promotions = 0;
        let mut t = 0;
        while t < 200 * DAY {
            let before: Vec<_> = keys.clone();
            let due = plan(&keys, &s, UnixTime(t));
            apply(&mut keys, due, UnixTime(t), &mut n);
            assert_eq!(
                keys.iter().filter(|k| k.state == KeyState::Active).count(),
                1
            );
            for k in &keys {
                published_since.entry(k.kid.clone()).or_insert(t);
                let was_active = before
                    .iter()
                    .any(|b| b.kid == k.kid && b.state == KeyState::Active);
                if k.state == KeyState::Active && !was_active {
                    promotions += 1;
                    assert!(
                        t - published_since[&k.kid] >= s.prepublish,
                        "{} signed too early",
                        k.kid
                    );
                }
            }
            t += 3600;
        }
        assert!(promotions >= 6, "{promotions}");
        assert!(keys.iter().filter(|k| k.state.is_published()).count() <= 3);
    }

    #[test]
    fn every_algorithm_keeps_its_own_cycle_with_one_active_key_each() {
        let s = schedule();
        // Three keys started at different times: their cycles stay apart.
        let mut keys = Vec::new();
        for (i, alg) in SigningAlg::ALL.into_iter().enumerate() {
            let mut k = active(&format!("first-{alg}"), i as i64 * 5 * DAY);
            k.alg = alg;
            keys.push(k);
        }
        let mut n = 0;
        let mut published_since: std::collections::HashMap<String, i64> = Default::default();
        let mut promotions: std::collections::HashMap<SigningAlg, u32> = Default::default();
        let mut t = 10 * DAY;
        while t < 200 * DAY {
            let before = keys.clone();
            let due = plan(&keys, &s, UnixTime(t));
            apply(&mut keys, due, UnixTime(t), &mut n);
            for alg in SigningAlg::ALL {
                let of_alg = |state| {
                    keys.iter()
                        .filter(|k| k.alg == alg && k.state == state)
                        .count()
                };
                assert_eq!(of_alg(KeyState::Active), 1, "{alg} at {t}");
                assert!(of_alg(KeyState::Next) <= 1, "{alg} at {t}");
            }
            for k in &keys {
                published_since.entry(k.kid.clone()).or_insert(t);
                let was = before.iter().find(|b| b.kid == k.kid);
                if k.state == KeyState::Active && was.is_some_and(|b| b.state == KeyState::Next) {
                    *promotions.entry(k.alg).or_default() += 1;
                    assert!(t - published_since[&k.kid] >= s.prepublish, "{}", k.kid);
                }
                if let Some(b) = was {
                    assert_eq!(b.alg, k.alg, "a key never changes algorithm");
                }
            }
            t += 3600;
        }
        for alg in SigningAlg::ALL {
            assert!(promotions.get(&alg).copied().unwrap_or(0) >= 5, "{alg}");
        }
    }

    #[test]
    fn without_an_active_key_a_due_next_key_is_promoted_alone() {
        let next = as_next(key("b", KeyState::Next, 0), UnixTime(10));
        let planned = plan(&[next], &schedule(), UnixTime(10));
        assert!(matches!(
            planned.as_slice(),
            [Transition::Promote { retiring: None, .. }]
        ));
    }

    #[test]
    fn a_compromised_active_key_is_removed_with_its_retirement_time() {
        let gone = removed(&active("a", 0), UnixTime(50));
        assert_eq!(gone.state, KeyState::Removed);
        assert_eq!(gone.retired_at, Some(UnixTime(50)));
        assert_eq!(gone.removed_at, Some(UnixTime(50)));
    }
}
