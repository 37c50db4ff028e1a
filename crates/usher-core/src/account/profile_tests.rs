//! The Profile section on a whole node (`TestNode`, a real SQLite store), with an outbox
//! that records what it is given.

use std::sync::Arc;

use usher_domain::{Email, Mail, ScopeSet, User, UserStore};

use super::*;
use crate::mail::{Mailing, PlainCompose, Recorder, verify_email};
use crate::testing::TestNode;
use crate::tokens;

/// A node whose outbox is the `Recorder` returned with it.
fn node() -> (TestNode, Arc<Recorder>) {
    let mut node = TestNode::new();
    let recorder = Arc::new(Recorder::default());
    node.core.mail = Mailing {
        compose: Arc::new(PlainCompose),
        outbox: recorder.clone(),
    };
    (node, recorder)
}

/// `username` with the address `<username>@example.org`, verified or not, and a
/// browser session signed in just now.
fn person(node: &TestNode, username: &str, verified: bool) -> (User, Session) {
    let user = node.person(username);
    node.db.delete_user(&user.username).unwrap();
    let user = User {
        email: Some(email(&format!("{username}@example.org"))),
        email_verified: verified,
        ..user
    };
    node.db.insert_user(&user).unwrap();
    let session = node.session(
        &user,
        &format!("cookie-{username}"),
        &format!("lineage-{username}"),
        0,
    );
    (user, session)
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn mails(recorder: &Recorder) -> Vec<Mail> {
    recorder.mails.lock().unwrap().clone()
}

/// The token of the link in `mail`.
fn token_of(mail: &Mail) -> String {
    let link = mail.link.clone().unwrap();
    assert!(mail.text.contains(&link));
    link.split_once("?token=").unwrap().1.to_owned()
}

fn stored(node: &TestNode, user: &User) -> User {
    node.db.get_user(&user.id).unwrap().unwrap()
}

/// The `email` and `email_verified` claims the person's tokens carry now.
async fn email_claims(node: &TestNode, user: &User) -> (Option<String>, Option<bool>) {
    let person = node.core.user(&user.id).await.unwrap().unwrap();
    let claims = tokens::standard_claims(&person, &ScopeSet::parse("openid email").unwrap());
    (
        claims.email().map(|e| e.as_str().to_owned()),
        claims.email_verified(),
    )
}

fn full_form() -> ProfileForm<'static> {
    ProfileForm {
        name: " Alice Liddell ",
        preferred_username: "Ali",
        phone_number: "+64 4-555 0100",
        street_address: "1 Main St\r\nFlat 2",
        locality: "Wellington",
        region: "",
        postal_code: "6011",
        country: "New Zealand",
    }
}

#[tokio::test]
async fn a_profile_update_stores_every_field_or_none() {
    let (node, _) = node();
    let (alice, here) = person(&node, "alice", true);
    let core = &node.core;
    // Warm the node's cache: the update must not leave a stale copy behind.
    core.user(&alice.id).await.unwrap();
    assert_eq!(
        update(core, &here, &full_form()).await,
        Ok(UpdateOutcome::Updated)
    );
    let after = stored(&node, &alice);
    assert_eq!(after.name.as_ref().unwrap().as_str(), "Alice Liddell");
    assert_eq!(after.preferred_username_claim(), "Ali");
    assert_eq!(after.profile.phone_number.unwrap().as_str(), "+6445550100");
    let address = after.profile.address.unwrap();
    assert_eq!(
        address.fields().street_address.as_deref(),
        Some("1 Main St\nFlat 2")
    );
    assert_eq!(address.fields().region, None);
    assert_eq!(
        ProfileView::of(&core.user(&alice.id).await.unwrap().unwrap()).phone_number,
        "+6445550100",
        "the node's cached person is the new one"
    );

    // One bad field: nothing of the form is stored, and the message names the field.
    let bad_phone = ProfileForm {
        name: "Someone Else",
        phone_number: "555 0100",
        ..full_form()
    };
    let Ok(UpdateOutcome::Refused(message)) = update(core, &here, &bad_phone).await else {
        panic!("a phone number without + and a country code is refused");
    };
    assert!(message.starts_with("Phone number:"), "{message}");
    assert_eq!(
        stored(&node, &alice).name.unwrap().as_str(),
        "Alice Liddell"
    );
    for (form, field) in [
        (
            ProfileForm {
                preferred_username: "a\u{7}b",
                ..full_form()
            },
            "Preferred username:",
        ),
        (
            ProfileForm {
                country: "New\u{1b}Zealand",
                ..full_form()
            },
            "Address:",
        ),
        (
            ProfileForm {
                locality: &"x".repeat(101),
                ..full_form()
            },
            "Address:",
        ),
    ] {
        let Ok(UpdateOutcome::Refused(message)) = update(core, &here, &form).await else {
            panic!("{form:?} is refused");
        };
        assert!(message.starts_with(field), "{message}");
    }

    // Empty fields clear their claims; the address and e-mail are untouched by it.
    assert_eq!(
        update(core, &here, &ProfileForm::default()).await,
        Ok(UpdateOutcome::Updated)
    );
    let cleared = stored(&node, &alice);
    assert_eq!(cleared.name, None);
    assert_eq!(cleared.profile, usher_domain::ProfileClaims::default());
    assert_eq!(cleared.preferred_username_claim(), "alice");
    assert_eq!(cleared.email, alice.email);
    assert!(cleared.email_verified);
}

#[tokio::test]
async fn a_new_phone_number_is_unverified_and_a_kept_one_keeps_its_mark() {
    let (node, _) = node();
    let (alice, here) = person(&node, "alice", true);
    let core = &node.core;
    let mut marked = stored(&node, &alice);
    marked.profile.phone_number = Some(usher_domain::PhoneNumber::parse("+6445550100").unwrap());
    marked.profile.phone_number_verified = true;
    node.db
        .update_profile(&alice.id, None, &marked.profile)
        .unwrap();
    // The same number, typed differently: still verified.
    update(core, &here, &full_form()).await.unwrap();
    assert!(stored(&node, &alice).profile.phone_number_verified);
    let other = ProfileForm {
        phone_number: "+64 4 555 0199",
        ..full_form()
    };
    update(core, &here, &other).await.unwrap();
    assert!(!stored(&node, &alice).profile.phone_number_verified);
    // And back to the first number: verified no more (only an operator marks it).
    update(core, &here, &full_form()).await.unwrap();
    assert!(!stored(&node, &alice).profile.phone_number_verified);
}

#[tokio::test]
async fn a_new_address_waits_for_its_link_then_switches_and_the_old_one_is_told() {
    let (node, recorder) = node();
    let (alice, here) = person(&node, "alice", true);
    let core = &node.core;
    assert_eq!(
        request_email_change(core, &here, " alice@new.example ").await,
        Ok(EmailOutcome::LinkSent)
    );
    // One mail, to the NEW address, carrying the link; nothing changed yet: the old
    // address is still the person's, verified, and what tokens carry.
    let sent = mails(&recorder);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to.as_str(), "alice@new.example");
    assert!(
        sent[0]
            .link
            .as_deref()
            .unwrap()
            .starts_with("https://usher.example/account/verify-email?token=")
    );
    let before = stored(&node, &alice);
    assert_eq!(before.email, Some(email("alice@example.org")));
    assert!(before.email_verified);
    assert_eq!(
        email_claims(&node, &alice).await,
        (Some("alice@example.org".to_owned()), Some(true))
    );
    // A reset asked for now still goes to the old address only.
    assert_eq!(
        crate::mail::send_reset_links(core, &email("alice@new.example")).await,
        Ok(0)
    );

    // The link's button: the address switches, verified; the old address is told.
    let token = token_of(&sent[0]);
    assert_eq!(verify_email(core, &token).await, Ok(Verified::Changed));
    let after = stored(&node, &alice);
    assert_eq!(after.email, Some(email("alice@new.example")));
    assert!(after.email_verified);
    assert_eq!(
        email_claims(&node, &alice).await,
        (Some("alice@new.example".to_owned()), Some(true))
    );
    let sent = mails(&recorder);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].to.as_str(), "alice@example.org");
    assert_eq!(sent[1].subject, SecurityAlert::EmailChanged.subject());
    assert_eq!(sent[1].link, None);
    assert!(
        !sent[1].text.contains("alice@new.example"),
        "the old mailbox is not told the new address"
    );
    // Once only.
    assert_eq!(verify_email(core, &token).await, Ok(Verified::Invalid));
    // Reset mail now goes to the new address, not the old one.
    assert_eq!(
        crate::mail::send_reset_links(core, &email("alice@example.org")).await,
        Ok(0)
    );
    assert_eq!(
        crate::mail::send_reset_links(core, &email("alice@new.example")).await,
        Ok(1)
    );
}

#[tokio::test]
async fn email_verified_follows_an_unverified_address_until_its_new_link_is_confirmed() {
    let (node, recorder) = node();
    let (bob, here) = person(&node, "bob", false);
    let core = &node.core;
    assert_eq!(
        email_claims(&node, &bob).await,
        (Some("bob@example.org".to_owned()), Some(false))
    );
    // The same address, unverified: a verification link for it.
    assert_eq!(
        request_email_change(core, &here, "bob@example.org").await,
        Ok(EmailOutcome::VerificationSent)
    );
    // A new one instead; confirming it switches and verifies, and nobody is alerted
    // (the old address was never proven to be the person's).
    request_email_change(core, &here, "bob@new.example")
        .await
        .unwrap();
    let sent = mails(&recorder);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].to.as_str(), "bob@new.example");
    assert_eq!(
        verify_email(core, &token_of(&sent[1])).await,
        Ok(Verified::Changed)
    );
    assert_eq!(
        mails(&recorder).len(),
        2,
        "no alert to an unverified address"
    );
    assert_eq!(
        email_claims(&node, &bob).await,
        (Some("bob@new.example".to_owned()), Some(true))
    );
    // The older verification link (for the old address) died with the change.
    assert_eq!(
        verify_email(core, &token_of(&sent[0])).await,
        Ok(Verified::Invalid)
    );
    // Now it is verified: asking for it again changes nothing and mails nothing.
    assert_eq!(
        request_email_change(core, &here, "bob@new.example").await,
        Ok(EmailOutcome::Unchanged)
    );
    assert_eq!(mails(&recorder).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_confirmations_of_one_link_change_the_address_once() {
    let (node, recorder) = node();
    let (alice, here) = person(&node, "alice", true);
    let node = Arc::new(node);
    request_email_change(&node.core, &here, "alice@new.example")
        .await
        .unwrap();
    let token = token_of(&mails(&recorder)[0]);
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (node, token, barrier) = (node.clone(), token.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            verify_email(&node.core, &token).await.unwrap()
        }));
    }
    let mut changed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Verified::Changed => changed += 1,
            Verified::Invalid => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(changed, 1);
    assert_eq!(
        stored(&node, &alice).email,
        Some(email("alice@new.example"))
    );
    let alerts = mails(&recorder)
        .iter()
        .filter(|m| m.subject == SecurityAlert::EmailChanged.subject())
        .count();
    assert_eq!(alerts, 1);
}

#[tokio::test]
async fn only_the_latest_request_can_take_effect_and_a_taken_address_is_not_revealed() {
    let (node, recorder) = node();
    let (alice, here) = person(&node, "alice", true);
    let (carol, _) = person(&node, "carol", true);
    let core = &node.core;
    request_email_change(core, &here, "first@new.example")
        .await
        .unwrap();
    // Carol's address: the same answer as any other address (the core never looks).
    assert_eq!(
        request_email_change(core, &here, "CAROL@example.org").await,
        Ok(EmailOutcome::LinkSent)
    );
    let sent = mails(&recorder);
    assert_eq!(
        verify_email(core, &token_of(&sent[0])).await,
        Ok(Verified::Invalid),
        "a newer request kills the older link"
    );
    assert_eq!(
        stored(&node, &alice).email,
        Some(email("alice@example.org"))
    );
    // Opened by whoever reads carol's mailbox: carol has it verified, so it is not
    // confirmed for alice as well (apps that trust `email_verified` would take alice
    // for carol); only the mailbox's owner learns why. Nothing changed.
    assert_eq!(
        verify_email(core, &token_of(&sent[1])).await,
        Ok(Verified::TakenElsewhere)
    );
    assert_eq!(
        stored(&node, &alice).email,
        Some(email("alice@example.org"))
    );
    assert_eq!(stored(&node, &carol), carol);
}

/// A change an intruder asked for while signed in dies when the person throws them
/// out: "sign out everywhere" (and a reset, a password change, `revoke-sessions`)
/// delete pending address changes with the reset links.
#[tokio::test]
async fn a_pending_change_dies_when_the_person_signs_out_everywhere() {
    let (node, recorder) = node();
    let (alice, here) = person(&node, "alice", true);
    let core = &node.core;
    request_email_change(core, &here, "intruder@evil.example")
        .await
        .unwrap();
    let change = token_of(&mails(&recorder)[0]);
    crate::everywhere::end_person(core, &alice.id, crate::everywhere::Why::SignOutEverywhere)
        .await
        .unwrap();
    assert_eq!(verify_email(core, &change).await, Ok(Verified::Invalid));
    assert_eq!(
        stored(&node, &alice).email,
        Some(email("alice@example.org"))
    );
}

/// A reset link stored for the old address just as a change was confirmed (the race
/// between "Forgot your password?" and the confirmation) does not work: a reset link
/// works only while it names the person's verified address.
#[tokio::test]
async fn a_reset_link_for_an_address_the_person_left_does_not_work() {
    let (node, recorder) = node();
    let (alice, here) = person(&node, "alice", true);
    let core = &node.core;
    request_email_change(core, &here, "alice@new.example")
        .await
        .unwrap();
    let change = token_of(&mails(&recorder)[0]);
    assert_eq!(verify_email(core, &change).await, Ok(Verified::Changed));
    // Issued for the old address after the change's clean-up ran.
    let late = crate::mail::issue_link(
        core,
        &alice,
        &email("alice@example.org"),
        usher_domain::MailPurpose::PasswordReset,
    )
    .await
    .unwrap();
    assert_eq!(
        crate::mail::reset_form(core, &late).await,
        Ok(crate::mail::ResetForm::Invalid)
    );
    let form_token = crate::account::forms::issue_sealed(
        core,
        &crate::mail::reset_binding(&late),
        crate::account::forms::FormPurpose::PasswordReset,
    )
    .unwrap();
    let password = "a new long password";
    assert_eq!(
        crate::mail::reset(core, &late, Some(&form_token), password.into(), password).await,
        Ok(crate::mail::ResetOutcome::Invalid)
    );
    assert_eq!(stored(&node, &alice).password_hash, alice.password_hash);
}

/// The preferred username cannot be another account's login name (apps that take it
/// for a local account name would let anyone be "admin"); one's own is fine.
#[tokio::test]
async fn the_preferred_username_cannot_be_another_account_s_username() {
    let (node, _) = node();
    let (_, here) = person(&node, "alice", true);
    let _ = person(&node, "admin", true);
    let core = &node.core;
    let form = |preferred: &'static str| ProfileForm {
        preferred_username: preferred,
        ..ProfileForm::default()
    };
    match update(core, &here, &form("ADMIN")).await.unwrap() {
        UpdateOutcome::Refused(m) => assert!(m.contains("another account's username"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        update(core, &here, &form("Alice")).await,
        Ok(UpdateOutcome::Updated)
    );
    assert_eq!(
        update(core, &here, &form("Queen of Hearts")).await,
        Ok(UpdateOutcome::Updated)
    );
}

#[tokio::test]
async fn change_links_are_limited_per_person_and_per_address_mailed() {
    let (node, recorder) = node();
    let (_, alice) = person(&node, "alice", true);
    let (_, bob) = person(&node, "bob", true);
    let core = &node.core;
    let per_window = crate::mail::MAIL_REQUESTS_PER_WINDOW as usize;
    for i in 0..per_window {
        assert_eq!(
            request_email_change(core, &alice, &format!("a{i}@new.example")).await,
            Ok(EmailOutcome::LinkSent)
        );
    }
    assert_eq!(
        request_email_change(core, &alice, "another@new.example").await,
        Ok(EmailOutcome::Throttled)
    );
    assert_eq!(mails(&recorder).len(), per_window);
    // Others may still ask, but not make Usher mail one stranger's address over and
    // over, even together (alice's requests did not count against it: each went to a
    // new address). Bob and carol stay under the per-person limit.
    let (_, carol) = person(&node, "carol", true);
    for i in 0..per_window {
        let who = if i % 2 == 0 { &bob } else { &carol };
        assert_eq!(
            request_email_change(core, who, "victim@example.net").await,
            Ok(EmailOutcome::LinkSent)
        );
    }
    assert_eq!(
        request_email_change(core, &carol, "VICTIM@example.net").await,
        Ok(EmailOutcome::Throttled)
    );
    assert_eq!(
        request_email_change(core, &bob, "someone@example.net").await,
        Ok(EmailOutcome::LinkSent)
    );
    assert_eq!(
        request_email_change(core, &bob, "not an address").await,
        Ok(EmailOutcome::NotAnAddress)
    );
}

#[tokio::test]
async fn links_mailed_to_the_old_address_die_when_the_address_changes() {
    let (node, recorder) = node();
    let (alice, here) = person(&node, "alice", true);
    let core = &node.core;
    assert_eq!(
        crate::mail::send_reset_links(core, &email("alice@example.org")).await,
        Ok(1)
    );
    let reset = token_of(&mails(&recorder)[0]);
    assert!(
        crate::mail::reset_link_owner(core, &reset)
            .await
            .unwrap()
            .is_some()
    );
    request_email_change(core, &here, "alice@new.example")
        .await
        .unwrap();
    let change = token_of(&mails(&recorder)[1]);
    assert_eq!(verify_email(core, &change).await, Ok(Verified::Changed));
    assert_eq!(
        crate::mail::reset_link_owner(core, &reset).await,
        Ok(None),
        "the reset link went to an address that is no longer the person's"
    );
    let _ = alice;
}
