//! The account page's decisions on a whole node (`TestNode`): the built-in client, the
//! recent-sign-in rule, the single-use forms, setting up and removing the app, and
//! recovery codes. Codes are computed from the secret the setup page shows, with
//! `usher-keys`' TOTP.

use std::sync::Arc;

use usher_domain::{
    AuthorizationCode, ClientStore, CodeStore, FactorStore, ScopeSet, Session, TotpCode, User,
    totp_step,
};
use usher_keys::TotpSecret;

use super::forms::{self, FormPurpose, FormRefusal};
use super::login::{self, Callback, CallbackOutcome, CallbackRefusal, ReturnTo};
use super::recovery_codes::{self, RegenerateOutcome};
use super::totp_setup::{self, ConfirmOutcome, RemoveOutcome, SetupOutcome, TotpSetupPage};
use super::*;
use crate::mfa::{RecoveryOutcome, TotpOutcome, use_recovery_code, verify_totp};
use crate::testing::TestNode;

/// A session of `person` whose cookie is returned with it, signed in `ago` seconds ago.
fn signed_in(node: &TestNode, person: &User, ago: i64) -> (String, Session) {
    let (cookie, _) = crate::secret_pair().unwrap();
    let (_, lineage) = crate::secret_pair().unwrap();
    let session = node.session(person, &cookie, &lineage, ago);
    (cookie, session)
}

fn secret_of(page: &TotpSetupPage) -> TotpSecret {
    TotpSecret::from_base32(&page.secret).unwrap()
}

fn current_code(node: &TestNode, page: &TotpSetupPage) -> String {
    secret_of(page).code_at_step(totp_step(node.now())).unwrap()
}

/// A code of `page`'s secret that is none of the codes accepted now.
fn wrong_code(node: &TestNode, page: &TotpSetupPage) -> String {
    let secret = secret_of(page);
    let now = totp_step(node.now());
    let near: Vec<String> = (now - 1..=now + 1)
        .map(|s| secret.code_at_step(s).unwrap())
        .collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap()
}

async fn set_up(node: &TestNode, session: &Session) -> TotpSetupPage {
    match totp_setup::begin(&node.core, session).await.unwrap() {
        SetupOutcome::Show(page) => page,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_built_in_client_is_synthesised_public_first_party_and_pkce_bound() {
    let node = TestNode::new();
    let id = usher_domain::ClientId::parse("usher-account").unwrap();
    let client = node.core.client(&id).await.unwrap().unwrap();
    assert!(client.is_public());
    assert!(client.is_first_party());
    assert!(client.registration.pkce_required);
    assert_eq!(
        client.registration.redirect_uris[0].as_str(),
        "https://usher.example/account/callback"
    );
    assert!(client.may_skip_interaction("https://usher.example/account/callback"));
    assert_eq!(
        client.registration.scopes,
        ScopeSet::parse("openid").unwrap()
    );
    // The store never answers for it (its row exists only for foreign keys).
    assert_eq!(node.db.get_client(&id), Ok(None));
    assert!(node.db.list_clients().unwrap().is_empty());
}

#[tokio::test]
async fn a_change_needs_a_sign_in_at_most_five_minutes_old() {
    let node = TestNode::new();
    let alice = node.person("alice");
    for (ago, recent) in [(0, true), (300, true), (301, false), (3000, false)] {
        let (cookie, session) = signed_in(&node, &alice, ago);
        assert_eq!(
            recency(&node.core, &session) == Recency::Recent,
            recent,
            "{ago}"
        );
        let token = forms::issue(&node.core, &session, FormPurpose::Account)
            .await
            .unwrap();
        let change = begin_change(
            &node.core,
            Some(&cookie),
            Some(&token),
            FormPurpose::Account,
        )
        .await
        .unwrap();
        if recent {
            assert_eq!(change, Change::Allowed(session));
        } else {
            assert_eq!(change, Change::Stale);
        }
    }
    // No session: sign in first (nothing else is looked at).
    assert_eq!(
        begin_change(&node.core, None, None, FormPurpose::Account).await,
        Ok(Change::SignedOut)
    );
    assert_eq!(
        begin_change(&node.core, Some("gone"), None, FormPurpose::Account).await,
        Ok(Change::SignedOut)
    );
}

#[tokio::test]
async fn a_form_token_works_once_for_its_session_and_purpose_only() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let (cookie, session) = signed_in(&node, &alice, 0);
    let (other_cookie, other) = signed_in(&node, &alice, 0);
    let gate = |cookie: String, token: Option<String>, purpose| {
        let core = node.core.clone();
        async move {
            begin_change(&core, Some(&cookie), token.as_deref(), purpose)
                .await
                .unwrap()
        }
    };
    let token = forms::issue(&node.core, &session, FormPurpose::Account)
        .await
        .unwrap();
    assert_eq!(
        gate(cookie.clone(), Some(token.clone()), FormPurpose::Account).await,
        Change::Allowed(session.clone())
    );
    // Replayed.
    assert_eq!(
        gate(cookie.clone(), Some(token.clone()), FormPurpose::Account).await,
        Change::Refused(FormRefusal::Unknown)
    );
    // Another session's page (and the token is spent all the same).
    let token = forms::issue(&node.core, &other, FormPurpose::Account)
        .await
        .unwrap();
    assert_eq!(
        gate(cookie.clone(), Some(token.clone()), FormPurpose::Account).await,
        Change::Refused(FormRefusal::OtherSession)
    );
    assert_eq!(
        gate(other_cookie, Some(token), FormPurpose::Account).await,
        Change::Refused(FormRefusal::Unknown)
    );
    // Another form's token.
    let token = forms::issue(&node.core, &session, FormPurpose::TotpConfirm)
        .await
        .unwrap();
    assert_eq!(
        gate(cookie.clone(), Some(token), FormPurpose::Account).await,
        Change::Refused(FormRefusal::WrongPurpose)
    );
    // Too old.
    let token = forms::issue(&node.core, &session, FormPurpose::Account)
        .await
        .unwrap();
    // (The test session lives an hour: it is the token's own expiry that refuses it.)
    node.advance(node.core.settings.interaction_ttl);
    assert_eq!(
        gate(cookie.clone(), Some(token), FormPurpose::Account).await,
        Change::Refused(FormRefusal::Expired)
    );
    // Missing or malformed: refused without a store call.
    for bad in [None, Some("short".to_owned()), Some("x".repeat(43) + "!")] {
        assert_eq!(
            gate(cookie.clone(), bad, FormPurpose::Account).await,
            Change::Refused(FormRefusal::Unknown)
        );
    }
}

#[tokio::test]
async fn of_twenty_concurrent_posts_of_one_form_exactly_one_proceeds() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let (cookie, session) = signed_in(&node, &alice, 0);
    let token = forms::issue(&node.core, &session, FormPurpose::Account)
        .await
        .unwrap();
    let cookie = Arc::new(cookie);
    let token = Arc::new(token);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (core, cookie, token) = (node.core.clone(), cookie.clone(), token.clone());
            tokio::spawn(async move {
                begin_change(&core, Some(&cookie), Some(&token), FormPurpose::Account).await
            })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Ok(Change::Allowed(_))) {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 1);
}

#[tokio::test]
async fn setting_up_the_app_stores_it_unconfirmed_until_a_current_code_confirms_it() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let (_, session) = signed_in(&node, &alice, 0);
    let page = set_up(&node, &session).await;
    assert_eq!(page.secret.len(), 32, "160 bits in base32");
    assert!(
        page.uri
            .starts_with("otpauth://totp/usher.example:alice?secret="),
        "{}",
        page.uri
    );
    assert!(page.uri.contains(&page.secret));
    let stored = node.db.get_totp(&alice.id).unwrap().unwrap();
    assert!(!stored.confirmed);
    assert!(!stored.sealed_secret.contains(&page.secret), "sealed");
    assert_eq!(
        security(&node.core, &alice.id).await.unwrap().totp,
        TotpState::Unconfirmed
    );
    // Setting up again replaces the unconfirmed secret.
    let page = set_up(&node, &session).await;
    assert_ne!(
        node.db.get_totp(&alice.id).unwrap().unwrap().sealed_secret,
        stored.sealed_secret
    );
    // Not six digits, or a wrong code: the same secret again, with a new form token.
    let ConfirmOutcome::Malformed(again) = totp_setup::confirm(
        &node.core,
        &session,
        "12ab",
        &current_handle(&node, &session),
    )
    .await
    .unwrap() else {
        panic!("malformed code accepted");
    };
    assert_eq!(again.secret, page.secret);
    assert_ne!(again.form_token, page.form_token);
    let wrong = wrong_code(&node, &page);
    let ConfirmOutcome::Wrong(again) = totp_setup::confirm(
        &node.core,
        &session,
        &wrong,
        &current_handle(&node, &session),
    )
    .await
    .unwrap() else {
        panic!("wrong code accepted");
    };
    assert_eq!(again.secret, page.secret);
    assert_eq!(again.uri, page.uri);
    // An unconfirmed app is not a second factor yet.
    assert_eq!(
        crate::mfa::has_second_factor(&node.core, &alice.id).await,
        Ok(false)
    );
    // The current code confirms it, and ten recovery codes come with the first factor.
    let code = current_code(&node, &page);
    let ConfirmOutcome::Confirmed {
        recovery_codes: Some(codes),
    } = totp_setup::confirm(
        &node.core,
        &session,
        &code,
        &current_handle(&node, &session),
    )
    .await
    .unwrap()
    else {
        panic!("not confirmed");
    };
    assert_eq!(codes.len(), 10);
    assert_eq!(
        crate::mfa::has_second_factor(&node.core, &alice.id).await,
        Ok(true)
    );
    let view = security(&node.core, &alice.id).await.unwrap();
    assert_eq!(view.recovery_codes_left, 10);
    assert!(
        matches!(view.totp, TotpState::Active { since, last_used: Some(_) } if since == node.now())
    );
    // The confirming code's step was used: it cannot sign in again.
    let typed = TotpCode::parse(&code).unwrap();
    assert_eq!(
        verify_totp(&node.core, &alice.id, &typed).await,
        Ok(TotpOutcome::Replayed)
    );
    // A confirmed app is never replaced by setting up again.
    assert_eq!(
        totp_setup::begin(&node.core, &session).await,
        Ok(SetupOutcome::AlreadySetUp)
    );
    assert!(node.db.get_totp(&alice.id).unwrap().unwrap().confirmed);
    // Nothing left to confirm.
    assert_eq!(
        totp_setup::confirm(
            &node.core,
            &session,
            &code,
            &current_handle(&node, &session)
        )
        .await,
        Ok(ConfirmOutcome::NothingToConfirm)
    );
    // A recovery code works, once.
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &codes[0]).await,
        Ok(RecoveryOutcome::Accepted { left: 9 })
    );
}

#[tokio::test]
async fn confirming_is_throttled_on_the_persons_second_factor_key() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let (_, session) = signed_in(&node, &alice, 0);
    let page = set_up(&node, &session).await;
    let wrong = wrong_code(&node, &page);
    for _ in 0..5 {
        assert!(matches!(
            totp_setup::confirm(
                &node.core,
                &session,
                &wrong,
                &current_handle(&node, &session)
            )
            .await,
            Ok(ConfirmOutcome::Wrong(_))
        ));
    }
    let code = current_code(&node, &page);
    let outcome = totp_setup::confirm(
        &node.core,
        &session,
        &code,
        &current_handle(&node, &session),
    )
    .await;
    let Ok(ConfirmOutcome::Throttled { wait, page: again }) = outcome else {
        panic!("{outcome:?}");
    };
    assert!(wait > 0 && wait <= 30);
    assert_eq!(again.secret, page.secret);
    assert!(!node.db.get_totp(&alice.id).unwrap().unwrap().confirmed);
}

#[tokio::test]
async fn removing_the_last_factor_removes_the_recovery_codes_and_a_new_app_brings_new_ones() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let (_, session) = signed_in(&node, &alice, 0);
    assert_eq!(
        totp_setup::remove(&node.core, &session).await,
        Ok(RemoveOutcome::NothingToRemove)
    );
    let page = set_up(&node, &session).await;
    let code = current_code(&node, &page);
    let ConfirmOutcome::Confirmed {
        recovery_codes: Some(old),
    } = totp_setup::confirm(
        &node.core,
        &session,
        &code,
        &current_handle(&node, &session),
    )
    .await
    .unwrap()
    else {
        panic!("not confirmed");
    };
    assert_eq!(
        totp_setup::remove(&node.core, &session).await,
        Ok(RemoveOutcome::Removed {
            recovery_codes_removed: true
        })
    );
    assert_eq!(node.db.get_totp(&alice.id), Ok(None));
    assert_eq!(node.db.recovery_codes_left(&alice.id), Ok(0));
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &old[1]).await,
        Ok(RecoveryOutcome::Wrong)
    );
    // Without a second factor there is nothing for codes to recover.
    assert_eq!(
        recovery_codes::regenerate(&node.core, &session).await,
        Ok(RegenerateOutcome::NoSecondFactor)
    );
    node.advance(60);
    let page = set_up(&node, &session).await;
    let code = current_code(&node, &page);
    let ConfirmOutcome::Confirmed {
        recovery_codes: Some(new),
    } = totp_setup::confirm(
        &node.core,
        &session,
        &code,
        &current_handle(&node, &session),
    )
    .await
    .unwrap()
    else {
        panic!("not confirmed");
    };
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    // The trail: added, removed, added again — by alice, about alice, naming the factor
    // and no secret.
    use usher_domain::{AuditActor, AuditKind};
    let trail: Vec<_> = node
        .audit_events()
        .into_iter()
        .map(|e| e.event)
        .filter(|e| matches!(e.kind, AuditKind::MfaAdded | AuditKind::MfaRemoved))
        .collect();
    let kinds: Vec<AuditKind> = trail.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::MfaAdded,
            AuditKind::MfaRemoved,
            AuditKind::MfaAdded
        ]
    );
    for e in &trail {
        assert_eq!(e.actor, AuditActor::Person(alice.id.clone()));
        assert_eq!(e.person.as_ref(), Some(&alice.id));
        assert_eq!(e.detail.as_map()["factor"], "totp");
    }
    let text = format!("{:?}", node.audit_events());
    assert!(!text.contains(&page.secret) && !text.contains(&new[0].to_string()));
}

#[tokio::test]
async fn new_recovery_codes_void_the_old_ones_spent_or_not() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let (_, session) = signed_in(&node, &alice, 0);
    let page = set_up(&node, &session).await;
    let code = current_code(&node, &page);
    let ConfirmOutcome::Confirmed {
        recovery_codes: Some(old),
    } = totp_setup::confirm(
        &node.core,
        &session,
        &code,
        &current_handle(&node, &session),
    )
    .await
    .unwrap()
    else {
        panic!("not confirmed");
    };
    assert!(matches!(
        use_recovery_code(&node.core, &alice.id, &old[0]).await,
        Ok(RecoveryOutcome::Accepted { left: 9 })
    ));
    let before = crate::metrics::global().value(
        crate::metrics::Counter::FactorsChanged,
        "recovery_codes_regenerated",
    );
    let RegenerateOutcome::Generated(new) = recovery_codes::regenerate(&node.core, &session)
        .await
        .unwrap()
    else {
        panic!("no codes");
    };
    assert!(
        crate::metrics::global().value(
            crate::metrics::Counter::FactorsChanged,
            "recovery_codes_regenerated"
        ) > before
    );
    assert_eq!(new.len(), 10);
    assert_eq!(recovery_codes::left(&node.core, &alice.id).await, Ok(10));
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &old[1]).await,
        Ok(RecoveryOutcome::Wrong)
    );
    assert_eq!(
        use_recovery_code(&node.core, &alice.id, &new[1]).await,
        Ok(RecoveryOutcome::Accepted { left: 9 })
    );
}

/// The pieces of a started sign-in: (state, verifier) from the cookie value.
fn cookie_parts(cookie: &str) -> (String, String) {
    let mut parts = cookie.split('.');
    (
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
    )
}

/// A code for the built-in client, issued in `session` for the challenge of `verifier`.
fn account_code(node: &TestNode, session: &Session, verifier: &str) -> String {
    let (raw, hash) = crate::secret_pair().unwrap();
    node.db
        .insert_code(&AuthorizationCode {
            code_hash: hash,
            client_id: usher_domain::ClientId::parse("usher-account").unwrap(),
            redirect_uri: "https://usher.example/account/callback".parse().unwrap(),
            redirect_uri_sent: true,
            user_id: session.user_id.clone(),
            lineage_hash: session.lineage_hash.clone(),
            scopes: ScopeSet::parse("openid").unwrap(),
            resources: vec![],
            nonce: Some("n".to_owned()),
            code_challenge: Some(usher_keys::sha256_b64url(verifier).parse().unwrap()),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            created_at: node.now(),
            expires_at: node.now().plus(60),
        })
        .unwrap();
    raw
}

#[tokio::test]
async fn the_sign_in_goes_through_authorize_with_pkce_and_the_callback_spends_the_code() {
    let node = TestNode::new();
    let start = login::start(&node.core, ReturnTo::Security, Some(300)).unwrap();
    let url = url::Url::parse(&start.location).unwrap();
    assert_eq!(url.path(), "/authorize");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let (state, verifier) = cookie_parts(&start.cookie_value);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "usher-account");
    assert_eq!(q["redirect_uri"], "https://usher.example/account/callback");
    assert_eq!(q["scope"], "openid");
    assert_eq!(q["state"], state);
    assert_eq!(q["code_challenge"], usher_keys::sha256_b64url(&verifier));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["max_age"], "300");
    assert!(!q["nonce"].is_empty());
    assert!(
        !start.location.contains(&verifier),
        "the verifier stays in the cookie"
    );

    let alice = node.person("alice");
    let (_, session) = signed_in(&node, &alice, 0);
    let code = account_code(&node, &session, &verifier);
    let callback = |cookie: Option<&'static str>, state: Option<String>, code: Option<String>| {
        let core = node.core.clone();
        async move {
            login::finish(
                &core,
                Callback {
                    cookie,
                    state: state.as_deref(),
                    code: code.as_deref(),
                    error: None,
                },
            )
            .await
            .unwrap()
        }
    };
    let cookie: &'static str = Box::leak(start.cookie_value.clone().into_boxed_str());
    // No cookie, another state: refused before the code is touched.
    assert_eq!(
        callback(None, Some(state.clone()), Some(code.clone())).await,
        CallbackOutcome::Refused(CallbackRefusal::NotStarted)
    );
    let mut other = state.clone();
    other.replace_range(0..1, if other.starts_with('A') { "B" } else { "A" });
    assert_eq!(
        callback(Some(cookie), Some(other), Some(code.clone())).await,
        CallbackOutcome::Refused(CallbackRefusal::StateMismatch)
    );
    assert_eq!(
        callback(Some(cookie), Some(state.clone()), None).await,
        CallbackOutcome::Refused(CallbackRefusal::SignInFailed)
    );
    assert_eq!(
        callback(Some(cookie), Some(state.clone()), Some(code.clone())).await,
        CallbackOutcome::SignedIn(ReturnTo::Security)
    );
    // Spent.
    assert_eq!(
        callback(Some(cookie), Some(state.clone()), Some(code)).await,
        CallbackOutcome::Refused(CallbackRefusal::CodeRefused)
    );
    // A code whose challenge is not this browser's verifier is refused.
    let (_, wrong_verifier) = crate::secret_pair().unwrap();
    let code = account_code(&node, &session, &wrong_verifier[..43]);
    assert_eq!(
        callback(Some(cookie), Some(state), Some(code)).await,
        CallbackOutcome::Refused(CallbackRefusal::CodeRefused)
    );
}

/// The handle of the person's pending authenticator-app setup, as its page carries it
/// (empty if there is none).
fn current_handle(node: &TestNode, session: &Session) -> String {
    node.db
        .get_totp(&session.user_id)
        .unwrap()
        .map(|f| crate::mfa::enroll::handle_of(&f.sealed_secret))
        .unwrap_or_default()
}

#[tokio::test]
async fn adding_an_app_ends_every_session_and_a_password_only_session_cannot_change_factors() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let (cookie, session) = signed_in(&node, &alice, 0);
    // Another browser signed in with the password alone (a thief, say).
    let (thief_cookie, _) = signed_in(&node, &alice, 0);
    let page = set_up(&node, &session).await;
    let code = current_code(&node, &page);
    let confirmed = totp_setup::confirm(&node.core, &session, &code, &page.handle).await;
    assert!(
        matches!(confirmed, Ok(ConfirmOutcome::Confirmed { .. })),
        "{confirmed:?}"
    );
    // Every session is over, the thief's and this one.
    for c in [&cookie, &thief_cookie] {
        assert_eq!(node.core.session(Some(c)).await, Ok(None));
    }
    // A recent session made with the password alone cannot change anything now.
    let (weak, weak_session) = signed_in(&node, &alice, 0);
    let token = forms::issue(&node.core, &weak_session, FormPurpose::Account)
        .await
        .unwrap();
    assert_eq!(
        begin_change(&node.core, Some(&weak), Some(&token), FormPurpose::Account).await,
        Ok(Change::Weak)
    );
    // One made with both factors can.
    let (strong, _) = crate::secret_pair().unwrap();
    let mut strong_session = node.session(&alice, &strong, "lineage-2", 0);
    strong_session.amr = usher_domain::AuthMethods::password_and_otp();
    {
        use usher_domain::SessionStore;
        node.db.delete_session(&strong_session.id_hash).unwrap();
        node.db.insert_session(&strong_session).unwrap();
    }
    let token = forms::issue(&node.core, &strong_session, FormPurpose::Account)
        .await
        .unwrap();
    assert!(matches!(
        begin_change(
            &node.core,
            Some(&strong),
            Some(&token),
            FormPurpose::Account
        )
        .await,
        Ok(Change::Allowed(_))
    ));
}

#[tokio::test]
async fn a_setup_replaced_meanwhile_is_neither_confirmed_nor_shown() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let (_, session) = signed_in(&node, &alice, 0);
    let first = set_up(&node, &session).await;
    // Another setup (another tab, or a sign-in that sets one up) replaces it.
    let second = set_up(&node, &session).await;
    assert_ne!(first.handle, second.handle);
    // A code of the first secret, posted with the first page's handle: nothing is
    // confirmed and the second secret is not shown in its place.
    let code = current_code(&node, &first);
    assert_eq!(
        totp_setup::confirm(&node.core, &session, &code, &first.handle).await,
        Ok(ConfirmOutcome::NothingToConfirm)
    );
    // Even a code of the second secret with the first page's handle.
    let code = current_code(&node, &second);
    assert_eq!(
        totp_setup::confirm(&node.core, &session, &code, &first.handle).await,
        Ok(ConfirmOutcome::NothingToConfirm)
    );
    assert!(!node.db.get_totp(&alice.id).unwrap().unwrap().confirmed);
}
