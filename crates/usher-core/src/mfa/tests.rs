//! The second-factor decisions on a whole node (`TestNode`: a fresh SQLite file), with
//! codes computed from the secret the test sealed and stored itself: no enrollment path
//! exists yet.

use usher_domain::{
    FactorStore, RecoveryCode, ThrottleStore, TotpCode, TotpFactor, User, totp_step,
};
use usher_keys::{FactorSealer, Kek, TotpSecret, generate_recovery_codes};

use super::*;
use crate::testing::TestNode;

/// Gives `person` a confirmed authenticator app whose confirming code was used long ago.
fn enroll(node: &TestNode, person: &User) -> TotpSecret {
    let secret = TotpSecret::generate().unwrap();
    let sealed = node
        .core
        .factor_sealer
        .seal_totp(&person.id, &secret)
        .unwrap();
    node.db
        .insert_totp(&TotpFactor {
            user_id: person.id.clone(),
            sealed_secret: sealed.clone(),
            created_at: node.now(),
            last_used_step: None,
            confirmed: false,
        })
        .unwrap();
    assert!(
        node.db
            .confirm_totp(&person.id, totp_step(node.now()) - 100, &sealed)
            .unwrap()
    );
    secret
}

fn code(secret: &TotpSecret, step: i64) -> TotpCode {
    TotpCode::parse(&secret.code_at_step(step).unwrap()).unwrap()
}

/// Whether the code of `step` differs from the codes of the steps around `now` (the
/// one-in-a-million collision would make a "wrong" code right).
fn distinct(secret: &TotpSecret, step: i64, now: i64) -> bool {
    let c = secret.code_at_step(step).unwrap();
    (now - 1..=now + 1).all(|s| secret.code_at_step(s).unwrap() != c)
}

/// Whether a reservation on `key` now is the first of its window (nothing counted).
fn first_attempt_of_its_window(node: &TestNode, key: &str) -> bool {
    let policy = ThrottlePolicy::new(5, 30);
    matches!(
        node.db.reserve_attempt(key, node.now(), &policy),
        Ok(Reservation::Granted(f)) if f.count == 1
    )
}

fn give_codes(node: &TestNode, person: &User) -> Vec<RecoveryCode> {
    let codes = generate_recovery_codes().unwrap();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| node.core.secrets.hash_recovery_code(&person.id, c))
        .collect();
    node.db
        .replace_recovery_codes(&person.id, &hashes, node.now())
        .unwrap();
    codes
}

#[tokio::test]
async fn a_current_code_is_accepted_once_and_then_is_a_replay() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let secret = enroll(&node, &alice);
    let step = totp_step(node.now());
    assert_eq!(
        verify_totp(&node.core, &alice.id, &code(&secret, step)).await,
        Ok(TotpOutcome::Accepted { step })
    );
    assert_eq!(
        verify_totp(&node.core, &alice.id, &code(&secret, step)).await,
        Ok(TotpOutcome::Replayed)
    );
    // Still within its window ten seconds later: still a replay.
    node.advance(10);
    if totp_step(node.now()) == step {
        assert_eq!(
            verify_totp(&node.core, &alice.id, &code(&secret, step)).await,
            Ok(TotpOutcome::Replayed)
        );
    }
}

#[tokio::test]
async fn one_step_of_drift_is_allowed_and_an_earlier_step_never_follows_a_later_one() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let secret = enroll(&node, &alice);
    let now = totp_step(node.now());
    assert_eq!(
        verify_totp(&node.core, &alice.id, &code(&secret, now - 1)).await,
        Ok(TotpOutcome::Accepted { step: now - 1 })
    );
    assert_eq!(
        verify_totp(&node.core, &alice.id, &code(&secret, now + 1)).await,
        Ok(TotpOutcome::Accepted { step: now + 1 })
    );
    // The current step's code is now older than the last one used.
    if secret.code_at_step(now) != secret.code_at_step(now + 1) {
        assert_eq!(
            verify_totp(&node.core, &alice.id, &code(&secret, now)).await,
            Ok(TotpOutcome::Replayed)
        );
    }
    for far in [now - 2, now + 2, now - 1000] {
        if distinct(&secret, far, now) {
            assert_eq!(
                verify_totp(&node.core, &alice.id, &code(&secret, far)).await,
                Ok(TotpOutcome::Wrong),
                "step {far}"
            );
        }
    }
}

#[tokio::test]
async fn without_a_confirmed_app_there_is_no_factor_to_check() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let any = TotpCode::parse("123456").unwrap();
    assert_eq!(has_second_factor(&node.core, &alice.id).await, Ok(false));
    assert_eq!(
        verify_totp(&node.core, &alice.id, &any).await,
        Ok(TotpOutcome::NoFactor)
    );
    // Set up but never confirmed: not asked for, not accepted.
    let secret = TotpSecret::generate().unwrap();
    let sealed = node
        .core
        .factor_sealer
        .seal_totp(&alice.id, &secret)
        .unwrap();
    node.db
        .insert_totp(&TotpFactor {
            user_id: alice.id.clone(),
            sealed_secret: sealed,
            created_at: node.now(),
            last_used_step: None,
            confirmed: false,
        })
        .unwrap();
    assert_eq!(has_second_factor(&node.core, &alice.id).await, Ok(false));
    let current = code(&secret, totp_step(node.now()));
    assert_eq!(
        verify_totp(&node.core, &alice.id, &current).await,
        Ok(TotpOutcome::NoFactor)
    );
    let bob = node.person("bob");
    enroll(&node, &bob);
    assert_eq!(has_second_factor(&node.core, &bob.id).await, Ok(true));
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords_and_a_success_clears_them() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let secret = enroll(&node, &alice);
    let now = totp_step(node.now());
    let wrong = (0..)
        .map(|n| now - 10 - n)
        .find(|s| distinct(&secret, *s, now))
        .unwrap();
    // The default policy: five failures, then 30 seconds.
    for _ in 0..5 {
        assert_eq!(
            verify_totp(&node.core, &alice.id, &code(&secret, wrong)).await,
            Ok(TotpOutcome::Wrong)
        );
    }
    // Locked: even the right code is not checked (and its step stays unused).
    let outcome = verify_totp(&node.core, &alice.id, &code(&secret, now)).await;
    assert!(
        matches!(outcome, Ok(TotpOutcome::Throttled { wait }) if wait > 0 && wait <= 30),
        "{outcome:?}"
    );
    // Recovery codes share the lock: guessing moves to them in vain.
    let codes = give_codes(&node, &alice);
    assert!(matches!(
        use_recovery_code(&node.core, &alice.id, &codes[0]).await,
        Ok(RecoveryOutcome::Throttled { .. })
    ));
    // The lock is the person's second factor only: their password throttle is untouched.
    assert!(first_attempt_of_its_window(&node, "user:alice"));
    node.advance(31);
    let step = totp_step(node.now());
    assert_eq!(
        verify_totp(&node.core, &alice.id, &code(&secret, step)).await,
        Ok(TotpOutcome::Accepted { step })
    );
    assert!(first_attempt_of_its_window(&node, &throttle_key(&alice.id)));
}

#[tokio::test]
async fn a_recovery_code_works_once_whatever_way_it_is_typed() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let bob = node.person("bob");
    let codes = give_codes(&node, &alice);
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &codes[0]).await,
        Ok(RecoveryOutcome::Accepted { left: 9 })
    );
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &codes[0]).await,
        Ok(RecoveryOutcome::Wrong)
    );
    let typed = codes[1].to_string().to_uppercase().replace('-', " ");
    let typed = RecoveryCode::parse(&typed).unwrap();
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &typed).await,
        Ok(RecoveryOutcome::Accepted { left: 8 })
    );
    // Alice's codes are hers alone.
    assert_eq!(
        use_recovery_code(&node.core, &bob.id, &codes[2]).await,
        Ok(RecoveryOutcome::Wrong)
    );
    // New codes void the old ones.
    let fresh = give_codes(&node, &alice);
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &codes[2]).await,
        Ok(RecoveryOutcome::Wrong)
    );
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &fresh[2]).await,
        Ok(RecoveryOutcome::Accepted { left: 9 })
    );
}

#[tokio::test]
async fn a_secret_that_does_not_open_is_an_internal_failure_not_a_wrong_code() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let other = FactorSealer::from_kek(&Kek::generate().unwrap());
    let secret = TotpSecret::generate().unwrap();
    node.db
        .insert_totp(&TotpFactor {
            user_id: alice.id.clone(),
            sealed_secret: other.seal_totp(&alice.id, &secret).unwrap(),
            created_at: node.now(),
            last_used_step: None,
            confirmed: true,
        })
        .unwrap();
    let current = code(&secret, totp_step(node.now()));
    assert_eq!(
        verify_totp(&node.core, &alice.id, &current).await,
        Err(Failure::Internal)
    );
}

/// Sends wrong app codes until `n` of them were checked (and refused), waiting out each
/// 15-minute-window lock on the way, as a patient guesser would.
async fn guess_wrong(node: &TestNode, person: &User, secret: &TotpSecret, n: usize) {
    let mut checked = 0;
    while checked < n {
        let now = totp_step(node.now());
        let wrong = (0..)
            .map(|k| now - 10 - k)
            .find(|s| distinct(secret, *s, now))
            .unwrap();
        match verify_totp(&node.core, &person.id, &code(secret, wrong)).await {
            Ok(TotpOutcome::Wrong) => checked += 1,
            Ok(TotpOutcome::Throttled { wait }) => node.advance(wait + 1),
            other => panic!("after {checked} wrong codes: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_day_of_wrong_codes_locks_app_codes_for_a_day_but_not_recovery_codes() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let secret = enroll(&node, &alice);
    guess_wrong(&node, &alice, &secret, DAILY_CODE_FAILURES as usize).await;
    // The short lock may still run: wait it out, then even the right code is refused
    // unchecked (and its step stays unused).
    node.advance(3600);
    let step = totp_step(node.now());
    let outcome = verify_totp(&node.core, &alice.id, &code(&secret, step)).await;
    assert!(
        matches!(outcome, Ok(TotpOutcome::DailyCap { wait }) if wait > 3600 && wait <= 86_400),
        "{outcome:?}"
    );
    // A recovery code is not capped: the person gets in.
    let codes = give_codes(&node, &alice);
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &codes[0]).await,
        Ok(RecoveryOutcome::Accepted { left: 9 })
    );
    // A day after the cap began, app codes work again.
    node.advance(86_400);
    let step = totp_step(node.now());
    assert_eq!(
        verify_totp(&node.core, &alice.id, &code(&secret, step)).await,
        Ok(TotpOutcome::Accepted { step })
    );
}

#[tokio::test]
async fn right_codes_and_throttled_attempts_do_not_count_toward_the_daily_cap() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let secret = enroll(&node, &alice);
    // Wrong codes until the short throttle locks; the attempts it refuses are not
    // counted.
    let mut counted = 0;
    let bad = code(&secret, 1);
    while verify_totp(&node.core, &alice.id, &bad).await == Ok(TotpOutcome::Wrong) {
        counted += 1;
    }
    for _ in 0..3 {
        assert!(matches!(
            verify_totp(&node.core, &alice.id, &bad).await,
            Ok(TotpOutcome::Throttled { .. })
        ));
    }
    node.advance(3600);
    // Right codes, one per step, many of them: none is counted.
    for _ in 0..40 {
        let step = totp_step(node.now());
        assert_eq!(
            verify_totp(&node.core, &alice.id, &code(&secret, step)).await,
            Ok(TotpOutcome::Accepted { step })
        );
        node.advance(30);
    }
    guess_wrong(
        &node,
        &alice,
        &secret,
        DAILY_CODE_FAILURES as usize - 1 - counted,
    )
    .await;
    // One wrong code left before the cap.
    guess_wrong(&node, &alice, &secret, 1).await;
    let step = totp_step(node.now());
    assert!(matches!(
        verify_totp(&node.core, &alice.id, &code(&secret, step)).await,
        Ok(TotpOutcome::DailyCap { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_cap_holds_under_concurrent_guesses() {
    let node = std::sync::Arc::new(TestNode::new());
    let alice = node.person("alice");
    let secret = enroll(&node, &alice);
    // One wrong code left today (counted straight on the daily key).
    for _ in 1..DAILY_CODE_FAILURES {
        assert!(matches!(
            node.db
                .reserve_attempt(&daily_key(&alice.id), node.now(), &daily_policy()),
            Ok(Reservation::Granted(_))
        ));
    }
    let now = totp_step(node.now());
    let wrong = (0..)
        .map(|k| now - 10 - k)
        .find(|s| distinct(&secret, *s, now))
        .unwrap();
    let guess = std::sync::Arc::new(code(&secret, wrong));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (node, guess, user) = (node.clone(), guess.clone(), alice.id.clone());
        tasks.push(tokio::spawn(async move {
            verify_totp(&node.core, &user, &guess).await.unwrap()
        }));
    }
    let (mut checked, mut capped) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            TotpOutcome::Wrong => checked += 1,
            TotpOutcome::DailyCap { .. } => capped += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((checked, capped), (1, 19));
}
