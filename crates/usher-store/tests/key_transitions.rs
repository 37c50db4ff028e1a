//! The two multi-row key transitions of `KeyStore` — inserting the one `next` key and
//! swapping the active key — on SQLite and PostgreSQL, alone and under contention: of
//! several nodes attempting the same transition, exactly one performs it.

// A test crate: its helpers are not `#[test]` functions, so clippy's allow-unwrap-in-tests
// does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};

use usher_domain::{KeyState, KeyStore, SigningAlg, SigningKeyRecord, StoreError, UnixTime};
use usher_store::Database;

fn key(kid: &str, state: KeyState, created_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        state,
        alg: usher_domain::SigningAlg::Rs256,
        bits: 2048,
        public_jwk: format!(r#"{{"kty":"RSA","kid":"{kid}","n":"AQAB","e":"AQAB"}}"#),
        private_key_encrypted: format!("encrypted-{kid}"),
        created_at: UnixTime(created_at),
        activate_after: None,
        activated_at: None,
        retire_after: None,
        retired_at: None,
        remove_after: None,
        removed_at: None,
    }
}

fn states(db: &Database) -> Vec<(String, KeyState)> {
    let mut all: Vec<_> = db
        .list_keys()
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.state))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Runs `attempt` on `nodes` threads at once; returns how many returned true.
fn race(nodes: usize, attempt: impl Fn(usize) -> bool + Send + Sync + 'static) -> usize {
    let barrier = Arc::new(Barrier::new(nodes));
    let attempt = Arc::new(attempt);
    let handles: Vec<_> = (0..nodes)
        .map(|i| {
            let (barrier, attempt) = (barrier.clone(), attempt.clone());
            std::thread::spawn(move || {
                barrier.wait();
                attempt(i)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|won| *won)
        .count()
}

fn one_next_key_is_inserted_however_many_nodes_try(db: &Database) {
    db.insert_key(&key("a", KeyState::Active, 1)).unwrap();
    let racing = db.clone();
    let wins = race(6, move |i| {
        racing
            .insert_next_key(&key(&format!("n{i}"), KeyState::Next, 2))
            .unwrap()
    });
    assert_eq!(wins, 1);
    let next: Vec<_> = states(db)
        .into_iter()
        .filter(|(_, s)| *s == KeyState::Next)
        .collect();
    assert_eq!(next.len(), 1);
    // While it is there, no other next key gets in.
    assert_eq!(
        db.insert_next_key(&key("late", KeyState::Next, 3)),
        Ok(false)
    );
}

fn promotion_swaps_the_active_key_in_one_transaction(db: &Database) {
    let active = key("a", KeyState::Active, 1);
    let next = key("b", KeyState::Next, 2);
    db.insert_key(&active).unwrap();
    db.insert_key(&next).unwrap();
    let retired = SigningKeyRecord {
        state: KeyState::Retired,
        retired_at: Some(UnixTime(10)),
        remove_after: Some(UnixTime(700)),
        ..active.clone()
    };
    let promoted = SigningKeyRecord {
        state: KeyState::Active,
        activated_at: Some(UnixTime(10)),
        retire_after: Some(UnixTime(99)),
        ..next.clone()
    };
    assert_eq!(db.promote_key(&promoted, Some(&retired)), Ok(true));
    let stored = db.list_keys().unwrap();
    assert!(stored.contains(&promoted) && stored.contains(&retired));
    // A second attempt finds the states changed and writes nothing.
    assert_eq!(db.promote_key(&promoted, Some(&retired)), Ok(false));

    // If the key to promote is no longer next, the old active key is left active too.
    let c = key("c", KeyState::Next, 3);
    db.insert_key(&c).unwrap();
    let c_gone = SigningKeyRecord {
        state: KeyState::Removed,
        removed_at: Some(UnixTime(11)),
        ..c.clone()
    };
    assert_eq!(db.update_key_if(&c_gone, KeyState::Next), Ok(true));
    let b_retired = SigningKeyRecord {
        state: KeyState::Retired,
        ..promoted.clone()
    };
    let c_active = SigningKeyRecord {
        state: KeyState::Active,
        ..c
    };
    assert_eq!(db.promote_key(&c_active, Some(&b_retired)), Ok(false));
    assert_eq!(
        states(db),
        vec![
            ("a".into(), KeyState::Retired),
            ("b".into(), KeyState::Active),
            ("c".into(), KeyState::Removed)
        ]
    );
}

fn of_racing_promotions_exactly_one_wins(db: &Database) {
    let active = key("a", KeyState::Active, 1);
    db.insert_key(&active).unwrap();
    db.insert_key(&key("b", KeyState::Next, 2)).unwrap();
    let racing = db.clone();
    let wins = race(6, move |i| {
        let keys = racing.list_keys().unwrap();
        let next = keys.iter().find(|k| k.kid == "b").unwrap();
        let old = keys.iter().find(|k| k.kid == "a").unwrap();
        let promoted = SigningKeyRecord {
            state: KeyState::Active,
            activated_at: Some(UnixTime(100 + i as i64)),
            ..next.clone()
        };
        let retired = SigningKeyRecord {
            state: KeyState::Retired,
            retired_at: Some(UnixTime(100 + i as i64)),
            ..old.clone()
        };
        racing.promote_key(&promoted, Some(&retired)).unwrap()
    });
    assert_eq!(wins, 1);
    assert_eq!(
        states(db),
        vec![
            ("a".into(), KeyState::Retired),
            ("b".into(), KeyState::Active)
        ]
    );
}

fn without_an_old_key_a_promotion_needs_no_active_key(db: &Database) {
    let next = key("b", KeyState::Next, 2);
    db.insert_key(&next).unwrap();
    db.insert_key(&key("a", KeyState::Active, 1)).unwrap();
    let promoted = SigningKeyRecord {
        state: KeyState::Active,
        ..next
    };
    assert_eq!(db.promote_key(&promoted, None), Ok(false));
    assert_eq!(
        states(db),
        vec![("a".into(), KeyState::Active), ("b".into(), KeyState::Next)]
    );
}

fn of_alg(kid: &str, alg: SigningAlg, state: KeyState, created_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        alg,
        ..key(kid, state, created_at)
    }
}

fn every_algorithm_has_its_own_active_and_next_key(db: &Database) {
    for (i, alg) in SigningAlg::ALL.into_iter().enumerate() {
        db.insert_key(&of_alg(
            &format!("a-{alg}"),
            alg,
            KeyState::Active,
            i as i64,
        ))
        .unwrap();
    }
    // A second active key of one algorithm is still refused.
    assert!(matches!(
        db.insert_key(&of_alg("a2", SigningAlg::Es256, KeyState::Active, 9)),
        Err(StoreError::Conflict(_))
    ));
    // One next key per algorithm, however many nodes try for each.
    let racing = db.clone();
    let wins = race(6, move |i| {
        let alg = SigningAlg::ALL[i % 3];
        racing
            .insert_next_key(&of_alg(&format!("n{i}"), alg, KeyState::Next, 20))
            .unwrap()
    });
    assert_eq!(wins, 3);
    let keys = db.list_keys().unwrap();
    for alg in SigningAlg::ALL {
        let count = |state| {
            keys.iter()
                .filter(|k| k.alg == alg && k.state == state)
                .count()
        };
        assert_eq!(
            (count(KeyState::Active), count(KeyState::Next)),
            (1, 1),
            "{alg}"
        );
    }
    // Promoting the ES256 next key touches only ES256 keys.
    let next = keys
        .iter()
        .find(|k| k.alg == SigningAlg::Es256 && k.state == KeyState::Next)
        .unwrap();
    let old = keys.iter().find(|k| k.kid == "a-ES256").unwrap();
    let promoted = SigningKeyRecord {
        state: KeyState::Active,
        ..next.clone()
    };
    let retired = SigningKeyRecord {
        state: KeyState::Retired,
        ..old.clone()
    };
    assert_eq!(db.promote_key(&promoted, Some(&retired)), Ok(true));
    // Without an old key, a promotion needs no active key of its own algorithm.
    let ed_next = keys
        .iter()
        .find(|k| k.alg == SigningAlg::EdDsa && k.state == KeyState::Next)
        .unwrap();
    let ed_promoted = SigningKeyRecord {
        state: KeyState::Active,
        ..ed_next.clone()
    };
    assert_eq!(db.promote_key(&ed_promoted, None), Ok(false));
    // And never replaces a key of another algorithm.
    let rs_old = keys.iter().find(|k| k.kid == "a-RS256").unwrap();
    assert!(db.promote_key(&ed_promoted, Some(rs_old)).is_err());
    let after = db.list_keys().unwrap();
    let state = |kid: &str| after.iter().find(|k| k.kid == kid).unwrap().state;
    assert_eq!(state("a-RS256"), KeyState::Active);
    assert_eq!(state("a-ES256"), KeyState::Retired);
    assert_eq!(state(&next.kid), KeyState::Active);
    assert_eq!(state("a-EdDSA"), KeyState::Active);
    assert_eq!(state(&ed_next.kid), KeyState::Next);
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let t = usher_store::testing::TestDb::sqlite();
                    super::$name(&t.database());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let t = usher_store::testing::TestDb::postgres();
                    super::$name(&t.database());
                }
            )*
        }
    };
}

both_backends!(
    one_next_key_is_inserted_however_many_nodes_try,
    promotion_swaps_the_active_key_in_one_transaction,
    of_racing_promotions_exactly_one_wins,
    without_an_old_key_a_promotion_needs_no_active_key,
    every_algorithm_has_its_own_active_and_next_key,
);
