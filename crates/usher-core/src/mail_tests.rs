//! The mail flows on a whole node (`TestNode`, a real SQLite store), with an outbox
//! that records what it is given.

use std::sync::Arc;

use usher_domain::{Email, FamilyState, SessionStore, User, UserStore};

use super::*;
use crate::testing::{FamilySpec, PASSWORD, TestNode};

/// A node whose outbox is `Recorder` returned with it.
fn node() -> (TestNode, Arc<Recorder>) {
    let mut node = TestNode::new();
    let recorder = Arc::new(Recorder::default());
    node.core.mail = Mailing {
        compose: Arc::new(PlainCompose),
        outbox: recorder.clone(),
    };
    (node, recorder)
}

/// `username` with the address `<username>@example.org`, verified or not.
fn person(node: &TestNode, username: &str, verified: bool) -> User {
    let user = node.person(username);
    node.db.delete_user(&user.username).unwrap();
    let user = User {
        email: Some(Email::parse(&format!("{username}@example.org")).unwrap()),
        email_verified: verified,
        ..user
    };
    node.db.insert_user(&user).unwrap();
    user
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

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

#[tokio::test]
async fn a_reset_link_is_mailed_only_to_a_verified_address_that_has_an_account() {
    let (node, recorder) = node();
    person(&node, "alice", true);
    person(&node, "bob", false);
    let core = &node.core;
    assert_eq!(
        send_reset_links(core, &email("ALICE@example.org")).await,
        Ok(1)
    );
    assert_eq!(
        send_reset_links(core, &email("bob@example.org")).await,
        Ok(0)
    );
    assert_eq!(
        send_reset_links(core, &email("nobody@example.org")).await,
        Ok(0)
    );
    let sent = mails(&recorder);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to.as_str(), "alice@example.org");
    let link = sent[0].link.clone().unwrap();
    assert!(link.starts_with("https://usher.example/password/reset?token="));
    // 256 bits, and only its hash is stored.
    let token = token_of(&sent[0]);
    assert_eq!(token.len(), 43);
    assert!(core.stores.mail.find_mail_token(&token).unwrap().is_none());
    assert!(reset_link_owner(core, &token).await.unwrap().is_some());
}

#[tokio::test]
async fn the_forgot_form_answers_alike_for_known_and_unknown_addresses() {
    let (node, _) = node();
    person(&node, "alice", true);
    let core = &node.core;
    let address = ClientAddress::Ip("192.0.2.7".parse().unwrap());
    for typed in ["alice@example.org", "nobody@example.org"] {
        let token = forgot_form(core).await.unwrap();
        assert_eq!(
            forgot(core, Some(&token), typed, &address).await,
            Ok(Forgot::Accepted)
        );
        // The form's token works once.
        assert_eq!(
            forgot(core, Some(&token), typed, &address).await,
            Ok(Forgot::Refused(FormRefusal::Unknown))
        );
    }
    let token = forgot_form(core).await.unwrap();
    assert_eq!(
        forgot(core, Some(&token), "not an address", &address).await,
        Ok(Forgot::NotAnAddress)
    );
}

#[tokio::test]
async fn a_reset_sets_the_password_ends_every_sign_in_and_works_once() {
    let (node, recorder) = node();
    let alice = person(&node, "alice", true);
    let core = &node.core;
    node.client("app", crate::testing::registration());
    let session = node.session(&alice, "cookie-a", "lineage-a", 10);
    let (family, _) = node
        .family(FamilySpec {
            name: "a",
            user: alice.id.as_str(),
            ..FamilySpec::default()
        })
        .await;
    send_reset_links(core, &email("alice@example.org"))
        .await
        .unwrap();
    let token = token_of(&mails(&recorder)[0]);
    let ResetForm::Show {
        username,
        form_token,
    } = reset_form(core, &token).await.unwrap()
    else {
        panic!("the link should open the form");
    };
    assert_eq!(username, "alice");
    // Opening the link spends nothing.
    assert!(matches!(
        reset_form(core, &token).await.unwrap(),
        ResetForm::Show { .. }
    ));
    let new = "a new and long password";
    assert_eq!(
        reset(core, &token, Some(&form_token), new.into(), new).await,
        Ok(ResetOutcome::Done {
            username: "alice".into()
        })
    );
    let stored = node.db.get_user(&alice.id).unwrap().unwrap();
    let typed = |p: &str| usher_domain::Password::parse(p.to_owned()).unwrap();
    assert!(usher_keys::verify_password(
        &typed(new),
        &stored.password_hash
    ));
    assert!(!usher_keys::verify_password(
        &typed(PASSWORD),
        &stored.password_hash
    ));
    assert_eq!(
        node.db.get_session(&session.id_hash, node.now()).unwrap(),
        None
    );
    assert!(matches!(
        node.family_state(&family).await,
        FamilyState::Revoked
    ));
    // The link is spent: neither the form nor a post works again.
    assert_eq!(reset_form(core, &token).await, Ok(ResetForm::Invalid));
    let form_token =
        forms::issue_sealed(core, &reset_binding(&token), FormPurpose::PasswordReset).unwrap();
    assert_eq!(
        reset(core, &token, Some(&form_token), new.into(), new).await,
        Ok(ResetOutcome::Invalid)
    );
}

#[tokio::test]
async fn a_refused_password_keeps_the_link_and_a_late_link_is_refused() {
    let (node, recorder) = node();
    person(&node, "alice", true);
    let core = &node.core;
    send_reset_links(core, &email("alice@example.org"))
        .await
        .unwrap();
    let token = token_of(&mails(&recorder)[0]);
    let ResetForm::Show { form_token, .. } = reset_form(core, &token).await.unwrap() else {
        panic!("form");
    };
    let outcome = reset(core, &token, Some(&form_token), "one".into(), "two")
        .await
        .unwrap();
    let ResetOutcome::BadPassword { form_token, .. } = outcome else {
        panic!("{outcome:?}");
    };
    // The CSRF token is bound to the link: another link's form is refused.
    let other = forms::issue_sealed(core, "reset:other", FormPurpose::PasswordReset).unwrap();
    assert_eq!(
        reset(core, &token, Some(&other), "p".into(), "p").await,
        Ok(ResetOutcome::Refused(FormRefusal::OtherSession))
    );
    // The form from the refusal still works, and the link is still live.
    let ResetOutcome::BadPassword { form_token, .. } =
        reset(core, &token, Some(&form_token), "".into(), "")
            .await
            .unwrap()
    else {
        panic!("an empty password is refused");
    };
    node.advance(RESET_LINK_TTL);
    assert_eq!(reset_form(core, &token).await, Ok(ResetForm::Invalid));
    assert_eq!(
        reset(core, &token, Some(&form_token), "p".into(), "p").await,
        Ok(ResetOutcome::Refused(FormRefusal::Expired))
    );
    let fresh =
        forms::issue_sealed(core, &reset_binding(&token), FormPurpose::PasswordReset).unwrap();
    assert_eq!(
        reset(core, &token, Some(&fresh), "p".into(), "p").await,
        Ok(ResetOutcome::Invalid),
        "a link older than 30 minutes is refused"
    );
}

#[tokio::test]
async fn twenty_concurrent_resets_with_one_link_have_one_winner() {
    let (node, recorder) = node();
    person(&node, "alice", true);
    let core = node.core.clone();
    send_reset_links(&core, &email("alice@example.org"))
        .await
        .unwrap();
    let token = token_of(&mails(&recorder)[0]);
    let binding = reset_binding(&token);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let form_token = forms::issue_sealed(&core, &binding, FormPurpose::PasswordReset).unwrap();
        let (core, token) = (core.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let p = format!("new password number {i}");
            reset(&core, &token, Some(&form_token), p.clone(), &p).await
        }));
    }
    let mut done = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            ResetOutcome::Done { .. } => done += 1,
            ResetOutcome::Invalid => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(done, 1);
}

#[tokio::test]
async fn reset_mail_is_throttled_per_address_typed() {
    let (node, recorder) = node();
    person(&node, "alice", true);
    let core = &node.core;
    for _ in 0..(MAIL_REQUESTS_PER_WINDOW + 3) {
        send_reset_links(core, &email("alice@example.org"))
            .await
            .unwrap();
    }
    assert_eq!(mails(&recorder).len(), MAIL_REQUESTS_PER_WINDOW as usize);
}

#[tokio::test]
async fn the_forgot_form_is_throttled_per_client_address_under_concurrency() {
    let (node, _) = node();
    let core = node.core.clone();
    let address = ClientAddress::Ip("198.51.100.9".parse().unwrap());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let token = forgot_form(&core).await.unwrap();
        let core = core.clone();
        tasks.push(tokio::spawn(async move {
            forgot(&core, Some(&token), &format!("n{i}@example.org"), &address).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Forgot::Accepted => accepted += 1,
            Forgot::Throttled { wait } => assert!(wait > 0),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(accepted, MAIL_REQUESTS_PER_WINDOW as usize);
}

#[tokio::test]
async fn a_verification_link_marks_the_address_once_and_only_while_it_is_current() {
    let (node, recorder) = node();
    let bob = person(&node, "bob", false);
    let core = &node.core;
    assert_eq!(send_verification(core, &bob).await, Ok(true));
    let sent = mails(&recorder);
    assert!(
        sent[0]
            .link
            .as_deref()
            .unwrap()
            .starts_with("https://usher.example/account/verify-email?token=")
    );
    let token = token_of(&sent[0]);
    // A reset link's token is not a verification link, and the other way round.
    assert_eq!(reset_form(core, &token).await, Ok(ResetForm::Invalid));
    assert_eq!(verify_email(core, &token).await, Ok(Verified::Verified));
    assert!(node.db.get_user(&bob.id).unwrap().unwrap().email_verified);
    assert_eq!(verify_email(core, &token).await, Ok(Verified::Invalid));
    // Verified: nothing more to send.
    let bob = node.db.get_user(&bob.id).unwrap().unwrap();
    assert_eq!(send_verification(core, &bob).await, Ok(false));

    // A link for an address the person no longer has verifies nothing.
    let carol = person(&node, "carol", false);
    send_verification(core, &carol).await.unwrap();
    let token = token_of(mails(&recorder).last().unwrap());
    node.db.delete_user(&carol.username).unwrap();
    let moved = User {
        email: Some(email("carol@elsewhere.example")),
        ..carol
    };
    node.db.insert_user(&moved).unwrap();
    // (Re-creating the person dropped her links: a new one for the old address.)
    let (token2, hash) = crate::secret_pair().unwrap();
    core.stores
        .mail
        .insert_mail_token(&MailToken {
            token_hash: hash,
            user_id: moved.id.clone(),
            purpose: MailPurpose::VerifyEmail,
            email: email("carol@example.org"),
            expires_at: node.now().plus(60),
        })
        .unwrap();
    assert_eq!(verify_email(core, &token).await, Ok(Verified::Invalid));
    assert_eq!(
        verify_email(core, &token2).await,
        Ok(Verified::AddressChanged)
    );
    assert!(!node.db.get_user(&moved.id).unwrap().unwrap().email_verified);
}

#[tokio::test]
async fn security_alerts_go_to_a_verified_address_only_and_carry_no_link_to_redact() {
    let (node, recorder) = node();
    let alice = person(&node, "alice", true);
    let bob = person(&node, "bob", false);
    // A password change on the account page tells Alice.
    let here = node.session(&alice, "cookie", "lineage", 0);
    let address = crate::client_address::ClientAddress::Unknown;
    let changed = crate::account::password::change(
        &node.core,
        &here,
        crate::account::password::PasswordChange {
            current: PASSWORD,
            new: "a much longer new passphrase",
            confirm: "a much longer new passphrase",
            sign_out_apps: false,
        },
        &address,
    )
    .await
    .unwrap();
    assert!(matches!(
        changed,
        crate::account::password::ChangeOutcome::Changed { .. }
    ));
    let sent = mails(&recorder);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, email("alice@example.org"));
    assert_eq!(sent[0].subject, "Your password was changed");
    assert!(
        sent[0].text.contains("https://usher.example/account"),
        "{}",
        sent[0].text
    );
    assert_eq!(sent[0].link, None);
    // Bob's address is not verified: no mail, and nothing fails.
    alert(&node.core, &bob.id, SecurityAlert::FactorAdded).await;
    assert_eq!(mails(&recorder).len(), 1);
    // A reused refresh token tells the person once.
    use crate::grants::fixtures::{CodeFor, code, exchange_form, request, sign_in, web_app};
    let app = web_app(&node, "app");
    let session = sign_in(&node, &alice);
    let code = code(
        &node,
        &app,
        &session,
        CodeFor {
            scope: "openid offline_access",
            ..CodeFor::default()
        },
    );
    let issued = crate::grants::authorization_code::exchange(
        &node.core,
        app.clone(),
        &request(&exchange_form(&code)),
    )
    .await
    .unwrap();
    let first = issued.refresh_token.unwrap();
    let refresh = |token: String| {
        let core = &node.core;
        let app = app.clone();
        async move {
            let form =
                crate::testing::form(&[("grant_type", "refresh_token"), ("refresh_token", &token)]);
            crate::grants::refresh_token::refresh(core, app, &request(&form)).await
        }
    };
    assert!(refresh(first.clone()).await.is_ok());
    assert!(refresh(first.clone()).await.is_err());
    assert!(refresh(first).await.is_err());
    let sent = mails(&recorder);
    let reused: Vec<_> = sent
        .iter()
        .filter(|m| m.subject == "An app's access to your account was ended")
        .collect();
    assert_eq!(reused.len(), 1, "{sent:?}");
}

#[tokio::test]
async fn a_reset_never_enables_a_disabled_person() {
    let (node, recorder) = node();
    let alice = person(&node, "alice", true);
    let core = &node.core;
    assert!(node.db.set_disabled(&alice.id, Some(node.now())).unwrap());
    send_reset_links(core, &email("alice@example.org"))
        .await
        .unwrap();
    let token = token_of(&mails(&recorder)[0]);
    let ResetForm::Show { form_token, .. } = reset_form(core, &token).await.unwrap() else {
        panic!("the link should open the form");
    };
    let new = "a new and long password";
    assert!(matches!(
        reset(core, &token, Some(&form_token), new.into(), new).await,
        Ok(ResetOutcome::Done { .. })
    ));
    let stored = node.db.get_user(&alice.id).unwrap().unwrap();
    assert_eq!(stored.disabled_at, Some(node.now()));
    assert!(!stored.may_sign_in());
}
