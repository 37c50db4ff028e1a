//! The sign-in's second step (docs/design/mfa.md), each rule stated by a test on a whole
//! node without HTTP: codes computed here from the secret, as an app would.

use std::sync::Arc;

use usher_domain::{
    Acr, Amr, AuthMethods, CodeStore, FactorStore, InteractionStep, MfaPolicy, ProtocolError,
    RegistrationInput, TotpFactor, User, totp_step,
};
use usher_keys::TotpSecret;

use super::decision::authorize;
use super::login::{LoginOutcome, login};
use super::second_factor::{SecondFactorAttempt, SecondFactorOutcome, acknowledge, submit};
use super::tests::{
    attempt, client_error, cookies, first_party, refusal, request, sealed, sealed_login, signed_in,
    stored,
};
use super::*;
use crate::testing::{PASSWORD, TestNode};

/// Gives `user` a confirmed authenticator app; returns its secret.
pub(super) fn with_app(node: &TestNode, user: &User) -> TotpSecret {
    let secret = TotpSecret::generate().unwrap();
    let sealed = node
        .core
        .factor_sealer
        .seal_totp(&user.id, &secret)
        .unwrap();
    let factor = TotpFactor {
        user_id: user.id.clone(),
        sealed_secret: sealed.clone(),
        created_at: node.now(),
        last_used_step: None,
        confirmed: false,
    };
    assert!(node.db.insert_totp(&factor).unwrap());
    // Confirmed with a step long past, so that every current code is still unused.
    assert!(node.db.confirm_totp(&user.id, 1, &sealed).unwrap());
    secret
}

pub(super) fn code_now(node: &TestNode, secret: &TotpSecret) -> String {
    secret.code_at_step(totp_step(node.now())).unwrap()
}

/// Signs in with the password through `/authorize` and the login form; the
/// second-factor page that follows.
async fn password_step(node: &TestNode, client: &usher_domain::Client) -> SecondFactorForm {
    password_step_with(node, client, &[]).await
}

async fn password_step_with(
    node: &TestNode,
    client: &usher_domain::Client,
    extra: &[(&str, &str)],
) -> SecondFactorForm {
    let (_, form) =
        sealed_login(authorize(&node.core, &request(client, extra), cookies(None)).await);
    match login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await {
        LoginOutcome::SecondFactor(page) => page,
        other => panic!("not the second step: {other:?}"),
    }
}

pub(super) async fn post(
    node: &TestNode,
    page: &SecondFactorForm,
    code: &str,
) -> SecondFactorOutcome {
    submit(
        &node.core,
        SecondFactorAttempt {
            fields: stored(&page.form),
            code,
            setup: page.setup.as_ref().map(|s| s.handle.as_str()),
        },
        cookies(None),
    )
    .await
}

fn again(outcome: SecondFactorOutcome) -> SecondFactorForm {
    match outcome {
        SecondFactorOutcome::Again(page) => page,
        other => panic!("not refused: {other:?}"),
    }
}

pub(super) fn signed(
    outcome: SecondFactorOutcome,
) -> (usher_domain::Session, String, SignInOutcome) {
    match outcome {
        SecondFactorOutcome::SignedIn {
            session,
            session_cookie_value,
            next,
            ..
        } => (session, session_cookie_value, next),
        other => panic!("not signed in: {other:?}"),
    }
}

/// How many sessions `user` has — by ending them all: call it only where that does not
/// matter (before a sign-in, or last).
fn sessions_of(node: &TestNode, user: &User) -> usize {
    use usher_domain::SessionStore;
    node.db.delete_user_sessions(&user.id).unwrap()
}

#[tokio::test]
async fn a_person_with_an_app_gets_no_session_until_a_right_code_and_the_code_carries_mfa() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let secret = with_app(&node, &alice);

    let page = password_step(&node, &app).await;
    assert_eq!(page.username, "alice");
    assert!(page.setup.is_none() && page.problem.is_none());
    assert_eq!(
        sessions_of(&node, &alice),
        0,
        "nothing before the second step"
    );

    let (session, cookie, next) = signed(post(&node, &page, &code_now(&node, &secret)).await);
    assert_eq!(session.amr, AuthMethods::password_and_otp());
    assert_eq!(session.amr.acr(), Acr::Mfa);
    assert!(!cookie.is_empty());
    let SignInOutcome::IssueCode(redirect) = next else {
        panic!("not a code: {next:?}");
    };
    let stored = node
        .db
        .redeem_code(&usher_keys::sha256_b64url(&redirect.code), node.now())
        .unwrap();
    let usher_domain::CodeRedemption::Redeemed(code) = stored else {
        panic!("the code was not stored: {stored:?}");
    };
    assert_eq!(code.amr.as_slice(), [Amr::Pwd, Amr::Otp, Amr::Mfa]);
}

#[tokio::test]
async fn a_wrong_or_replayed_code_shows_a_new_form_and_the_spent_one_is_refused() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let secret = with_app(&node, &alice);

    let first = password_step(&node, &app).await;
    let wrong = again(post(&node, &first, "000000").await);
    assert_eq!(wrong.problem, Some(SecondFactorProblem::Wrong));
    // Not a code at all: refused the same way, and counted nowhere.
    let junk = again(post(&node, &wrong, "not a code").await);
    assert_eq!(junk.problem, Some(SecondFactorProblem::Wrong));
    // The spent forms are refused.
    let replayed_form = post(&node, &first, &code_now(&node, &secret)).await;
    let SecondFactorOutcome::Refused(o) = replayed_form else {
        panic!("a spent form was accepted: {replayed_form:?}");
    };
    assert_eq!(refusal(&o), FormRefusal::AlreadySubmitted);

    let code = code_now(&node, &secret);
    signed(post(&node, &junk, &code).await);
    // The same code in another sign-in, within its 30 seconds: a replay.
    let other = password_step(&node, &app).await;
    let replayed = again(post(&node, &other, &code).await);
    assert_eq!(replayed.problem, Some(SecondFactorProblem::Replayed));
    // The next step's code works.
    node.advance(30);
    signed(post(&node, &replayed, &code_now(&node, &secret)).await);
}

#[tokio::test]
async fn a_recovery_code_works_once_and_never_twice() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    with_app(&node, &alice);
    let codes = crate::mfa::enroll::new_recovery_codes(&node.core, &alice.id)
        .await
        .unwrap();
    let typed = codes.0[3].to_string().to_uppercase();

    let page = password_step(&node, &app).await;
    let (session, _, _) = signed(post(&node, &page, &typed).await);
    assert_eq!(session.amr.acr(), Acr::Mfa);
    let page = password_step(&node, &app).await;
    let twice = again(post(&node, &page, &typed).await);
    assert_eq!(twice.problem, Some(SecondFactorProblem::Wrong));
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_person_and_a_throttled_attempt_checks_nothing() {
    let node = TestNode::with_settings(|s| s.login_max_failures = 2);
    let app = first_party(&node);
    let alice = node.person("alice");
    let secret = with_app(&node, &alice);

    let mut page = password_step(&node, &app).await;
    for _ in 0..2 {
        page = again(post(&node, &page, "000000").await);
        assert_eq!(page.problem, Some(SecondFactorProblem::Wrong));
    }
    // Locked: even the right code is not checked.
    let locked = again(post(&node, &page, &code_now(&node, &secret)).await);
    assert!(
        matches!(locked.problem, Some(SecondFactorProblem::Throttled { wait }) if wait > 0),
        "{locked:?}"
    );
    node.advance(31);
    signed(post(&node, &locked, &code_now(&node, &secret)).await);
}

#[tokio::test]
async fn a_client_that_requires_mfa_leads_a_person_without_one_through_setting_up_an_app() {
    let node = TestNode::new();
    let app = node.client(
        "strict",
        RegistrationInput {
            redirect_uris: vec!["https://app.example/cb".to_owned()],
            first_party: true,
            require_mfa: true,
            ..RegistrationInput::default()
        },
    );
    let bob = node.person("alice");

    let page = password_step(&node, &app).await;
    let setup = page.setup.clone().expect("the app is set up here");
    assert!(
        setup
            .uri
            .starts_with("otpauth://totp/usher.example:alice?secret=")
    );
    assert!(setup.uri.contains(&setup.secret));
    assert_eq!(sessions_of(&node, &bob), 0);
    let secret = TotpSecret::from_base32(&setup.secret).unwrap();

    // A wrong code shows the same secret again (re-read from the stored setup).
    let wrong = again(post(&node, &page, "000000").await);
    assert_eq!(wrong.setup.as_ref().map(|s| &s.secret), Some(&setup.secret));

    let (session, cookie, next) = signed(post(&node, &wrong, &code_now(&node, &secret)).await);
    assert_eq!(session.amr.acr(), Acr::Mfa);
    let SignInOutcome::ShowRecoveryCodes(shown) = next else {
        panic!("the new recovery codes are not shown: {next:?}");
    };
    assert_eq!(shown.codes.0.len(), 10);
    assert_eq!(
        crate::mfa::enroll::recovery_codes_left(&node.core, &bob.id)
            .await
            .unwrap(),
        10
    );
    // Continuing needs the session that was just made; then the code is issued.
    let without = acknowledge(&node.core, stored(&shown.form), cookies(None)).await;
    assert_eq!(refusal(&without), FormRefusal::NoLongerSignedIn);
    let done = acknowledge(&node.core, stored(&shown.form), cookies(Some(&cookie))).await;
    assert!(matches!(done, SignInOutcome::IssueCode(_)), "{done:?}");
    // The sign-in is over: the form cannot be posted again.
    let again = acknowledge(&node.core, stored(&shown.form), cookies(Some(&cookie))).await;
    refusal(&again);
    // From now on she is asked for his app's code.
    node.advance(30);
    let next_time = password_step(&node, &app).await;
    assert!(next_time.setup.is_none());
}

#[tokio::test]
async fn required_mfa_or_acr_values_step_a_password_session_up_and_prompt_none_is_refused() {
    let node = TestNode::with_settings(|s| s.mfa = MfaPolicy::Required);
    let app = first_party(&node);
    let alice = node.person("alice");
    let cookie = signed_in(&node, &alice, 10);
    // A password-only session is not enough: the whole sign-in again.
    let outcome = authorize(&node.core, &request(&app, &[]), cookies(Some(&cookie))).await;
    sealed_login(outcome);
    let none = authorize(
        &node.core,
        &request(&app, &[("prompt", "none")]),
        cookies(Some(&cookie)),
    )
    .await;
    assert_eq!(client_error(&none), ProtocolError::LoginRequired);

    let relaxed = TestNode::new();
    let app = first_party(&relaxed);
    let carol = relaxed.person("alice");
    let cookie = signed_in(&relaxed, &carol, 10);
    let plain = authorize(&relaxed.core, &request(&app, &[]), cookies(Some(&cookie))).await;
    assert!(matches!(plain, SignInOutcome::IssueCode(_)), "{plain:?}");
    let asked = authorize(
        &relaxed.core,
        &request(&app, &[("acr_values", "urn:usher:acr:mfa")]),
        cookies(Some(&cookie)),
    )
    .await;
    sealed_login(asked);
    // Unknown values are ignored; the weakest known one counts.
    let unknown = authorize(
        &relaxed.core,
        &request(&app, &[("acr_values", "gold urn:usher:acr:pwd")]),
        cookies(Some(&cookie)),
    )
    .await;
    assert!(
        matches!(unknown, SignInOutcome::IssueCode(_)),
        "{unknown:?}"
    );
    // The request's acr_values never makes her enrol (only server or client policy
    // does): without a factor she signs in with her password, and `acr` says so.
    let (_, form) = sealed_login(
        authorize(
            &relaxed.core,
            &request(&app, &[("acr_values", "urn:usher:acr:mfa")]),
            cookies(None),
        )
        .await,
    );
    let outcome = login(
        &relaxed.core,
        attempt(sealed(&form), PASSWORD),
        cookies(None),
    )
    .await;
    let LoginOutcome::SignedIn { session, .. } = outcome else {
        panic!("not signed in: {outcome:?}");
    };
    assert_eq!(session.amr.acr(), Acr::Password);
    // With an app, the same request asks for its code.
    with_app(&relaxed, &carol);
    let page = password_step_with(&relaxed, &app, &[("acr_values", "urn:usher:acr:mfa")]).await;
    assert!(page.setup.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_concurrent_posts_of_one_second_factor_form_exactly_one_signs_in() {
    let node = Arc::new(TestNode::new());
    let app = first_party(&node);
    let alice = node.person("alice");
    let secret = with_app(&node, &alice);
    let page = Arc::new(password_step(&node, &app).await);
    let code = Arc::new(code_now(&node, &secret));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (node, page, code) = (node.clone(), page.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            matches!(
                post(&node, &page, &code).await,
                SecondFactorOutcome::SignedIn { .. }
            )
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(sessions_of(&node, &alice), 1);
}

#[tokio::test]
async fn the_interaction_waits_at_its_second_factor_step_and_debug_shows_no_secret() {
    let node = TestNode::with_settings(|s| s.mfa = MfaPolicy::Required);
    let app = first_party(&node);
    node.person("alice");
    let page = password_step(&node, &app).await;
    let Form::Stored { interaction, csrf } = &page.form else {
        panic!("not a stored form");
    };
    use usher_domain::InteractionStore;
    let row = node
        .db
        .get_interaction(interaction, node.now())
        .unwrap()
        .unwrap();
    assert_eq!(row.step, InteractionStep::SecondFactor);
    let setup = page.setup.clone().unwrap();
    let shown = format!("{page:?}");
    for secret in [csrf.as_str(), setup.secret.as_str(), setup.uri.as_str()] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[tokio::test]
async fn a_suspect_passkey_still_counts_as_a_second_factor_so_a_password_is_not_enough() {
    use usher_domain::{Passkey, PasskeyName, PasskeyStore};
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let passkey = Passkey {
        id: "pk-1".to_owned(),
        user_id: alice.id.clone(),
        credential_id: "Y3JlZGVudGlhbA".to_owned(),
        name: PasskeyName::parse("Laptop").unwrap(),
        credential: "{}".to_owned(),
        created_at: node.now(),
        last_used_at: None,
        suspect: false,
    };
    assert_eq!(
        node.db.insert_passkey(&passkey, 25),
        Ok(usher_domain::PasskeyInsert::Stored)
    );
    assert!(node.db.mark_passkey_suspect("pk-1").unwrap());
    // Refused at sign-in, but the account does not fall back to a password alone: the
    // second step is asked (a recovery code, or the operator's mfa-reset), and the
    // suspect passkey is not offered.
    let page = password_step(&node, &app).await;
    assert!(!page.passkey && page.setup.is_none());
}

#[tokio::test]
async fn a_sign_in_waiting_at_its_second_step_cannot_finish_once_everything_ended() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let secret = with_app(&node, &alice);
    // The old password was typed; the second step waits. Then the password is reset.
    let page = password_step(&node, &app).await;
    crate::everywhere::end_person(&node.core, &alice.id, crate::everywhere::Why::PasswordReset)
        .await
        .unwrap();
    let code = code_now(&node, &secret);
    let outcome = post(&node, &page, &code).await;
    assert!(
        !matches!(outcome, SecondFactorOutcome::SignedIn { .. }),
        "{outcome:?}"
    );
    assert_eq!(sessions_of(&node, &alice), 0);
}

#[tokio::test]
async fn a_sign_in_waiting_at_its_second_step_cannot_finish_after_a_password_change() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let secret = with_app(&node, &alice);
    // Someone typed the old password; the second step waits. Alice changes it on her
    // account page, from another browser.
    let page = password_step(&node, &app).await;
    let here = node.session(&alice, "cookie-here", "lineage-here", 0);
    let changed = crate::account::password::change(
        &node.core,
        &here,
        crate::account::password::PasswordChange {
            current: crate::testing::PASSWORD,
            new: "a much longer new passphrase",
            confirm: "a much longer new passphrase",
            sign_out_apps: false,
        },
        &crate::client_address::ClientAddress::Unknown,
    )
    .await
    .unwrap();
    assert!(matches!(
        changed,
        crate::account::password::ChangeOutcome::Changed { .. }
    ));
    let code = code_now(&node, &secret);
    let outcome = post(&node, &page, &code).await;
    assert!(
        !matches!(outcome, SecondFactorOutcome::SignedIn { .. }),
        "{outcome:?}"
    );
    // Only Alice's own session remains.
    assert_eq!(sessions_of(&node, &alice), 1);
}

#[tokio::test]
async fn a_person_disabled_while_at_the_second_step_is_refused_and_nothing_is_spent() {
    use usher_domain::UserStore as _;
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let secret = with_app(&node, &alice);
    let page = password_step(&node, &app).await;
    // Disabled (only the flag: the waiting sign-in is not ended here).
    assert!(node.db.set_disabled(&alice.id, Some(node.now())).unwrap());
    node.core.forget_user(&alice.id);
    let code = code_now(&node, &secret);
    let SecondFactorOutcome::Refused(refused) = post(&node, &page, &code).await else {
        panic!("not refused");
    };
    assert_eq!(
        super::tests::refusal(&refused),
        FormRefusal::AccountDisabled
    );
    assert_eq!(sessions_of(&node, &alice), 0);
    // Nothing was spent: enabled again, the same form and code pass.
    assert!(node.db.set_disabled(&alice.id, None).unwrap());
    node.core.forget_user(&alice.id);
    signed(post(&node, &page, &code).await);
}
