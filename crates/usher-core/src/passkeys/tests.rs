//! The passkey ceremonies end to end, on a real node (`TestNode`: the embedded store on
//! a SQLite file) with a software authenticator that signs for real (`soft.rs`).

mod soft;

use serde_json::Value;
use usher_domain::{Amr, Issuer, PasskeyName, PasskeyStore, User, UserId};

use super::*;
use crate::testing::TestNode;
use soft::SoftAuthenticator;

const ORIGIN: &str = "https://usher.example";
const BROWSER: &str = "binding-cookie-of-the-browser";
/// The client address of the tests' sign-ins.
const HERE: ClientAddress =
    ClientAddress::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));

fn authenticator() -> SoftAuthenticator {
    SoftAuthenticator::new(ORIGIN)
}

/// Adds a passkey for `user` with `device`, in [`BROWSER`]; the stored passkey.
async fn register(node: &TestNode, user: &User, device: &mut SoftAuthenticator) -> Passkey {
    let started = start_registration(&node.core, user, Some(BROWSER))
        .await
        .unwrap();
    assert_eq!(started.binding, BROWSER);
    let response = device.create(&started.challenge).unwrap();
    let name = PasskeyName::parse(" Laptop ").unwrap();
    match finish_registration(
        &node.core,
        user,
        &started.ceremony_id,
        Some(BROWSER),
        &response,
        &name,
    )
    .await
    .unwrap()
    {
        RegistrationOutcome::Added(passkey) => passkey,
        other => panic!("not added: {other:?}"),
    }
}

/// Signs in with `device` in [`BROWSER`].
async fn sign_in(node: &TestNode, device: &mut SoftAuthenticator) -> AuthenticationOutcome {
    let started = start_authentication(&node.core, Some(BROWSER), &HERE)
        .await
        .unwrap();
    let response = device.get(&started.challenge);
    finish_authentication(&node.core, &started.ceremony_id, Some(BROWSER), &response)
        .await
        .unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn stored(node: &TestNode, passkey: &Passkey) -> Passkey {
    node.db
        .find_passkey(&passkey.credential_id)
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_registered_passkey_signs_its_person_in_with_hwk_user_mfa() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let mut device = authenticator();
    let passkey = register(&node, &alice, &mut device).await;
    assert_eq!(passkey.user_id, alice.id);
    assert_eq!(passkey.name.as_str(), "Laptop");
    assert_eq!(
        passkey.credential_id,
        credential_id_text(&device.credentials[0].id)
    );
    assert_eq!(stored(&node, &passkey), passkey);

    node.advance(60);
    let outcome = sign_in(&node, &mut device).await;
    assert_eq!(
        outcome,
        AuthenticationOutcome::Accepted {
            user_id: alice.id.clone(),
            passkey_id: passkey.id.clone(),
            amr: vec![Amr::Hwk, Amr::User, Amr::Mfa],
        }
    );
    // The new counter and the time of use are recorded.
    let after = stored(&node, &passkey);
    assert_eq!(after.last_used_at, Some(node.now()));
    assert_ne!(after.credential, passkey.credential);
    assert!(
        after.credential.contains(r#""counter":1"#),
        "{}",
        after.credential
    );
    // And again: the counter moves on.
    assert!(matches!(
        sign_in(&node, &mut device).await,
        AuthenticationOutcome::Accepted { .. }
    ));
    assert!(
        stored(&node, &passkey)
            .credential
            .contains(r#""counter":2"#)
    );
}

#[tokio::test]
async fn a_synced_passkey_signs_in_with_swk() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let mut device = authenticator();
    device.synced = true;
    let passkey = register(&node, &alice, &mut device).await;
    for _ in 0..2 {
        // Zero counters every time: not a regression.
        assert_eq!(
            sign_in(&node, &mut device).await,
            AuthenticationOutcome::Accepted {
                user_id: alice.id.clone(),
                passkey_id: passkey.id.clone(),
                amr: vec![Amr::Swk, Amr::User, Amr::Mfa],
            }
        );
    }
}

#[tokio::test]
async fn the_options_ask_for_a_discoverable_user_verified_credential() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let mut device = authenticator();
    let first = register(&node, &alice, &mut device).await;

    let started = start_registration(&node.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    let options = json(&started.challenge);
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "usher.example");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["requireResidentKey"], true);
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(
        pk["user"]["id"],
        credential_id_text(user_handle(&alice.id).as_bytes())
    );
    // The passkey she has is excluded: her authenticator refuses to make another.
    let excluded: Vec<&str> = pk["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, [first.credential_id.as_str()]);
    assert_eq!(device.create(&started.challenge), Err("InvalidStateError"));
    assert_eq!(
        started.expires_at,
        node.now().plus(usher_domain::CEREMONY_TTL_SECONDS)
    );

    let started = start_authentication(&node.core, None, &HERE).await.unwrap();
    // A browser without a binding cookie gets a new one.
    assert_eq!(started.binding.len(), 43);
    let options = json(&started.challenge);
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert_eq!(options["publicKey"]["rpId"], "usher.example");
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert!(options.get("mediation").is_none());
    // Only hashes and sealed states are stored.
    let ceremonies = node
        .db
        .take_ceremony(&usher_keys::sha256_b64url(&started.ceremony_id))
        .unwrap()
        .unwrap();
    assert!(!ceremonies.state.contains(&started.ceremony_id));
    assert_eq!(
        ceremonies.browser_hash,
        usher_keys::sha256_b64url(&started.binding)
    );
    assert!(!format!("{started:?}").contains(&started.ceremony_id));
    assert!(!format!("{started:?}").contains(&started.binding));
}

#[tokio::test]
async fn an_authentication_response_is_accepted_once() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let mut device = authenticator();
    register(&node, &alice, &mut device).await;
    let started = start_authentication(&node.core, Some(BROWSER), &HERE)
        .await
        .unwrap();
    let response = device.get(&started.challenge);
    let finish =
        || finish_authentication(&node.core, &started.ceremony_id, Some(BROWSER), &response);
    assert!(matches!(
        finish().await.unwrap(),
        AuthenticationOutcome::Accepted { .. }
    ));
    // The ceremony was taken: the same answer again is refused before any check.
    assert_eq!(finish().await.unwrap(), AuthenticationOutcome::Expired);
    // Nor does it answer another ceremony's challenge.
    let other = start_authentication(&node.core, Some(BROWSER), &HERE)
        .await
        .unwrap();
    assert_eq!(
        finish_authentication(&node.core, &other.ceremony_id, Some(BROWSER), &response)
            .await
            .unwrap(),
        AuthenticationOutcome::Invalid
    );
}

#[tokio::test]
async fn a_ceremony_is_finished_only_in_the_browser_that_started_it() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let mut device = authenticator();
    register(&node, &alice, &mut device).await;
    let started = start_authentication(&node.core, Some(BROWSER), &HERE)
        .await
        .unwrap();
    let response = device.get(&started.challenge);
    for other in [Some("another-browser"), None] {
        let started = start_authentication(&node.core, Some(BROWSER), &HERE)
            .await
            .unwrap();
        let response = device.get(&started.challenge);
        assert_eq!(
            finish_authentication(&node.core, &started.ceremony_id, other, &response)
                .await
                .unwrap(),
            AuthenticationOutcome::OtherBrowser
        );
        // Refusing it spent it.
        assert_eq!(
            finish_authentication(&node.core, &started.ceremony_id, Some(BROWSER), &response)
                .await
                .unwrap(),
            AuthenticationOutcome::Expired
        );
    }
    // Registration too.
    let reg = start_registration(&node.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    let created = {
        let mut second = authenticator();
        second.create(&reg.challenge).unwrap()
    };
    assert_eq!(
        finish_registration(
            &node.core,
            &alice,
            &reg.ceremony_id,
            Some("another-browser"),
            &created,
            &PasskeyName::default()
        )
        .await
        .unwrap(),
        RegistrationOutcome::OtherBrowser
    );
    // The first ceremony, in its own browser, still works.
    assert!(matches!(
        finish_authentication(&node.core, &started.ceremony_id, Some(BROWSER), &response)
            .await
            .unwrap(),
        AuthenticationOutcome::Accepted { .. }
    ));
}

#[tokio::test]
async fn a_removed_passkey_is_not_recognised_like_an_unknown_one() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let bob = node.person("bob");
    let mut device = authenticator();
    let passkey = register(&node, &alice, &mut device).await;
    // Only its person removes it.
    assert!(
        !remove_passkey(&node.core, &bob.id, &passkey.id)
            .await
            .unwrap()
    );
    assert!(
        remove_passkey(&node.core, &alice.id, &passkey.id)
            .await
            .unwrap()
    );
    assert!(
        !remove_passkey(&node.core, &alice.id, &passkey.id)
            .await
            .unwrap()
    );
    assert_eq!(
        sign_in(&node, &mut device).await,
        AuthenticationOutcome::NotRecognised
    );
    // A credential this node never saw gets the same answer.
    let mut stranger = authenticator();
    let other_node = TestNode::new();
    let carol = other_node.person("carol");
    register(&other_node, &carol, &mut stranger).await;
    assert_eq!(
        sign_in(&node, &mut stranger).await,
        AuthenticationOutcome::NotRecognised
    );
}

#[tokio::test]
async fn a_counter_that_goes_backwards_refuses_and_marks_the_passkey_suspect() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let mut device = authenticator();
    let passkey = register(&node, &alice, &mut device).await;
    let mut clone = device.clone_device();
    assert!(matches!(
        sign_in(&node, &mut device).await,
        AuthenticationOutcome::Accepted { .. }
    ));
    assert!(matches!(
        sign_in(&node, &mut device).await,
        AuthenticationOutcome::Accepted { .. }
    ));
    // The clone's counter (1) is behind the stored one (2).
    assert_eq!(
        sign_in(&node, &mut clone).await,
        AuthenticationOutcome::CounterRegression
    );
    let suspect = stored(&node, &passkey);
    assert!(suspect.suspect);
    assert!(
        list_passkeys(&node.core, &alice.id).await.unwrap()[0].suspect,
        "the account page shows it"
    );
    // From now on even the real device (counter 3) is refused, until it is removed.
    assert_eq!(
        sign_in(&node, &mut device).await,
        AuthenticationOutcome::CounterRegression
    );
    assert_eq!(stored(&node, &passkey).credential, suspect.credential);
}

#[tokio::test]
async fn a_ceremony_started_on_one_node_finishes_on_another() {
    let first = TestNode::new();
    let second = first.sharing_database();
    let alice = first.person("alice");
    let mut device = authenticator();

    let reg = start_registration(&first.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    let created = device.create(&reg.challenge).unwrap();
    let added = finish_registration(
        &second.core,
        &alice,
        &reg.ceremony_id,
        Some(BROWSER),
        &created,
        &PasskeyName::default(),
    )
    .await
    .unwrap();
    let RegistrationOutcome::Added(passkey) = added else {
        panic!("{added:?}");
    };
    assert_eq!(passkey.name.as_str(), "Passkey");

    let started = start_authentication(&second.core, Some(BROWSER), &HERE)
        .await
        .unwrap();
    let response = device.get(&started.challenge);
    assert!(matches!(
        finish_authentication(&first.core, &started.ceremony_id, Some(BROWSER), &response)
            .await
            .unwrap(),
        AuthenticationOutcome::Accepted { .. }
    ));
    // Taken on the first node: gone for the second.
    assert_eq!(
        finish_authentication(&second.core, &started.ceremony_id, Some(BROWSER), &response)
            .await
            .unwrap(),
        AuthenticationOutcome::Expired
    );
}

#[tokio::test]
async fn a_ceremony_expires_after_five_minutes() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let mut device = authenticator();
    register(&node, &alice, &mut device).await;
    let started = start_authentication(&node.core, Some(BROWSER), &HERE)
        .await
        .unwrap();
    let response = device.get(&started.challenge);
    node.advance(usher_domain::CEREMONY_TTL_SECONDS);
    assert_eq!(
        finish_authentication(&node.core, &started.ceremony_id, Some(BROWSER), &response)
            .await
            .unwrap(),
        AuthenticationOutcome::Expired
    );
    assert_eq!(
        finish_authentication(&node.core, "no-such-ceremony", Some(BROWSER), &response)
            .await
            .unwrap(),
        AuthenticationOutcome::Expired
    );
    assert_eq!(
        finish_authentication(&node.core, &"x".repeat(4096), Some(BROWSER), &response)
            .await
            .unwrap(),
        AuthenticationOutcome::Expired
    );
}

#[tokio::test]
async fn a_ceremony_of_one_kind_does_not_finish_the_other() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let mut device = authenticator();
    register(&node, &alice, &mut device).await;
    let reg = start_registration(&node.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    let sign_in = start_authentication(&node.core, Some(BROWSER), &HERE)
        .await
        .unwrap();
    let assertion = device.get(&sign_in.challenge);
    assert_eq!(
        finish_authentication(&node.core, &reg.ceremony_id, Some(BROWSER), &assertion)
            .await
            .unwrap(),
        AuthenticationOutcome::Expired
    );
    let created = authenticator().create(&reg.challenge).unwrap();
    assert_eq!(
        finish_registration(
            &node.core,
            &alice,
            &sign_in.ceremony_id,
            Some(BROWSER),
            &created,
            &PasskeyName::default()
        )
        .await
        .unwrap(),
        RegistrationOutcome::Expired
    );
}

#[tokio::test]
async fn a_registration_is_finished_only_by_its_person_with_user_verification() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let bob = node.person("bob");
    let mut device = authenticator();
    // Started for Alice, finished in the same browser by Bob (who signed in since).
    let reg = start_registration(&node.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    let created = device.create(&reg.challenge).unwrap();
    assert_eq!(
        finish_registration(
            &node.core,
            &bob,
            &reg.ceremony_id,
            Some(BROWSER),
            &created,
            &PasskeyName::default()
        )
        .await
        .unwrap(),
        RegistrationOutcome::Expired
    );
    // An authenticator that does not verify the person is refused.
    let mut lax = authenticator();
    lax.verifies_user = false;
    let reg = start_registration(&node.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    let created = lax.create(&reg.challenge).unwrap();
    assert_eq!(
        finish_registration(
            &node.core,
            &alice,
            &reg.ceremony_id,
            Some(BROWSER),
            &created,
            &PasskeyName::default()
        )
        .await
        .unwrap(),
        RegistrationOutcome::Invalid
    );
    // Garbage is invalid, not a failure.
    let reg = start_registration(&node.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    assert_eq!(
        finish_registration(
            &node.core,
            &alice,
            &reg.ceremony_id,
            Some(BROWSER),
            "{\"not\": \"a credential\"}",
            &PasskeyName::default()
        )
        .await
        .unwrap(),
        RegistrationOutcome::Invalid
    );
    assert_eq!(node.db.list_passkeys(&alice.id).unwrap(), vec![]);
}

#[tokio::test]
async fn the_same_authenticator_credential_is_stored_once() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let mut device = authenticator();
    register(&node, &alice, &mut device).await;
    // A client that ignores excludeCredentials and answers with the same credential.
    device.reuse_last = true;
    let reg = start_registration(&node.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    let created = device.create(&reg.challenge).unwrap();
    assert_eq!(
        finish_registration(
            &node.core,
            &alice,
            &reg.ceremony_id,
            Some(BROWSER),
            &created,
            &PasskeyName::default()
        )
        .await
        .unwrap(),
        RegistrationOutcome::Duplicate
    );
    // Another person's ceremony (nothing excluded there) is refused by the store.
    let bob = node.person("bob");
    let reg = start_registration(&node.core, &bob, Some(BROWSER))
        .await
        .unwrap();
    let created = device.create(&reg.challenge).unwrap();
    assert_eq!(
        finish_registration(
            &node.core,
            &bob,
            &reg.ceremony_id,
            Some(BROWSER),
            &created,
            &PasskeyName::default()
        )
        .await
        .unwrap(),
        RegistrationOutcome::Duplicate
    );
    assert_eq!(node.db.list_passkeys(&bob.id).unwrap(), vec![]);
    assert_eq!(node.db.list_passkeys(&alice.id).unwrap().len(), 1);
}

#[tokio::test]
async fn passkeys_are_listed_and_renamed_for_their_person_only() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let bob = node.person("bob");
    let passkey = register(&node, &alice, &mut authenticator()).await;
    node.advance(10);
    let second = register(&node, &alice, &mut authenticator()).await;
    let listed = list_passkeys(&node.core, &alice.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [passkey.id.as_str(), second.id.as_str()]
    );
    assert_eq!(listed[0].created_at, passkey.created_at);
    assert_eq!(listed[0].last_used_at, None);
    let name = PasskeyName::parse("YubiKey").unwrap();
    assert!(
        !rename_passkey(&node.core, &bob.id, &passkey.id, &name)
            .await
            .unwrap()
    );
    assert!(
        rename_passkey(&node.core, &alice.id, &passkey.id, &name)
            .await
            .unwrap()
    );
    assert_eq!(
        list_passkeys(&node.core, &alice.id).await.unwrap()[0].name,
        name
    );
    assert!(list_passkeys(&node.core, &bob.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_issuer_on_an_ip_address_has_no_passkeys() {
    let node = TestNode::with_settings(|s| {
        s.issuer = Issuer::parse("http://127.0.0.1:8080").unwrap();
    });
    let alice = node.person("alice");
    assert!(!available(&node.core.settings));
    assert_eq!(
        start_registration(&node.core, &alice, Some(BROWSER))
            .await
            .unwrap_err(),
        PasskeyError::Unavailable
    );
    assert_eq!(
        start_authentication(&node.core, Some(BROWSER), &HERE)
            .await
            .unwrap_err(),
        PasskeyError::Unavailable
    );
    assert_eq!(
        finish_authentication(&node.core, "id", Some(BROWSER), "{}")
            .await
            .unwrap_err(),
        PasskeyError::Unavailable
    );
}

#[tokio::test]
async fn a_localhost_issuer_with_a_port_and_a_path_has_passkeys_for_its_origin() {
    let node = TestNode::with_settings(|s| {
        s.issuer = Issuer::parse("http://localhost:8080/tenant").unwrap();
    });
    let alice = node.person("alice");
    let mut device = SoftAuthenticator::new("http://localhost:8080");
    let reg = start_registration(&node.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    assert_eq!(json(&reg.challenge)["publicKey"]["rp"]["id"], "localhost");
    let created = device.create(&reg.challenge).unwrap();
    assert!(matches!(
        finish_registration(
            &node.core,
            &alice,
            &reg.ceremony_id,
            Some(BROWSER),
            &created,
            &PasskeyName::default()
        )
        .await
        .unwrap(),
        RegistrationOutcome::Added(_)
    ));
    // The same assertion from another origin (port) is refused.
    let mut elsewhere = device.clone_device();
    elsewhere.set_origin("http://localhost:9090");
    assert_eq!(
        sign_in(&node, &mut elsewhere).await,
        AuthenticationOutcome::Invalid
    );
    assert!(matches!(
        sign_in(&node, &mut device).await,
        AuthenticationOutcome::Accepted { .. }
    ));
}

#[test]
fn a_user_handle_is_the_uuid_id_itself_or_derived_from_the_id() {
    let uuid_id = UserId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
    assert_eq!(
        user_handle(&uuid_id).hyphenated().to_string(),
        uuid_id.as_str()
    );
    // Upper case is not how Usher writes ids: derived, like any other id.
    let upper = UserId::parse("0F8FAD5B-D9CB-469F-A165-70867728950E").unwrap();
    let derived = user_handle(&upper);
    assert_ne!(derived, user_handle(&uuid_id));
    assert_eq!(derived.get_version_num(), 8);
    let alice = UserId::parse("u-alice").unwrap();
    assert_eq!(user_handle(&alice), user_handle(&alice));
    assert_ne!(
        user_handle(&alice),
        user_handle(&UserId::parse("u-bob").unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_ceremonies_are_limited_per_address_even_when_started_at_once() {
    let node = std::sync::Arc::new(TestNode::new());
    let mut tasks = Vec::new();
    for _ in 0..CEREMONIES_PER_STARTER + 10 {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            start_authentication(&node.core, None, &HERE).await
        }));
    }
    let (mut started, mut busy) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => started += 1,
            Err(PasskeyError::Busy { wait }) => {
                assert!(wait > 0 && wait <= CEREMONY_TTL_SECONDS, "{wait}");
                busy += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((started, busy), (CEREMONIES_PER_STARTER, 10));
    // One row per ceremony started, none for the refused ones (counted by purging them
    // all).
    assert_eq!(
        node.db.purge_ceremonies(UnixTime(i64::MAX)),
        Ok(CEREMONIES_PER_STARTER as usize)
    );
    // Another address (an IPv6 one, counted by its /64) is not held back.
    let elsewhere: ClientAddress = ClientAddress::Ip("2001:db8::1".parse().unwrap());
    assert!(
        start_authentication(&node.core, None, &elsewhere)
            .await
            .is_ok()
    );
    // Unknown addresses are counted only in the total.
    assert!(
        start_authentication(&node.core, None, &ClientAddress::Unknown)
            .await
            .is_ok()
    );
    // Five minutes later the address may start again.
    node.advance(CEREMONY_TTL_SECONDS + 1);
    assert!(start_authentication(&node.core, None, &HERE).await.is_ok());
}

#[tokio::test]
async fn registrations_are_limited_per_person_and_a_person_has_at_most_the_cap_of_passkeys() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let bob = node.person("bob");
    for _ in 0..CEREMONIES_PER_STARTER {
        start_registration(&node.core, &alice, Some(BROWSER))
            .await
            .unwrap();
    }
    assert!(matches!(
        start_registration(&node.core, &alice, Some(BROWSER)).await,
        Err(PasskeyError::Busy { .. })
    ));
    // Bob is not held back by Alice's attempts.
    start_registration(&node.core, &bob, Some(BROWSER))
        .await
        .unwrap();
    node.advance(CEREMONY_TTL_SECONDS + 1);
    // At the cap, no ceremony starts at all.
    for i in 0..MAX_PASSKEYS {
        let mut p = fake_passkey(&alice.id, i);
        p.created_at = node.now();
        assert_eq!(
            node.db.insert_passkey(&p, MAX_PASSKEYS),
            Ok(usher_domain::PasskeyInsert::Stored)
        );
    }
    assert!(matches!(
        start_registration(&node.core, &alice, Some(BROWSER)).await,
        Err(PasskeyError::Full)
    ));
}

#[tokio::test]
async fn a_registration_that_finds_the_cap_reached_meanwhile_stores_nothing() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let started = start_registration(&node.core, &alice, Some(BROWSER))
        .await
        .unwrap();
    // Meanwhile (another tab), the person reached the cap.
    for i in 0..MAX_PASSKEYS {
        node.db
            .insert_passkey(&fake_passkey(&alice.id, i), MAX_PASSKEYS)
            .unwrap();
    }
    let response = authenticator().create(&started.challenge).unwrap();
    let name = PasskeyName::parse("One too many").unwrap();
    let outcome = finish_registration(
        &node.core,
        &alice,
        &started.ceremony_id,
        Some(BROWSER),
        &response,
        &name,
    )
    .await
    .unwrap();
    assert_eq!(outcome, RegistrationOutcome::Full);
    assert_eq!(
        node.db.list_passkeys(&alice.id).unwrap().len(),
        MAX_PASSKEYS
    );
}

/// A stored passkey of `user` that no authenticator holds (for filling up to the cap).
fn fake_passkey(user: &UserId, i: usize) -> Passkey {
    Passkey {
        id: format!("fake-{i}"),
        user_id: user.clone(),
        credential_id: format!("fake-credential-{i}"),
        name: PasskeyName::parse(&format!("Key {i}")).unwrap(),
        credential: "{}".into(),
        created_at: UnixTime(0),
        last_used_at: None,
        suspect: false,
    }
}
