//! Sign-up and invitations on a whole node (`TestNode`, a real SQLite store), with an
//! outbox that records what it is given.

use std::sync::Arc;

use usher_domain::{Email, Mail, SignupMode, User, UserStore, Username};

use super::*;
use crate::mail::{MAIL_REQUESTS_PER_WINDOW, Mailing, PlainCompose, Recorder};
use crate::testing::TestNode;

fn node(mode: SignupMode) -> (TestNode, Arc<Recorder>) {
    let mut node = TestNode::with_settings(|s| s.signup = mode);
    let recorder = Arc::new(Recorder::default());
    node.core.mail = Mailing {
        compose: Arc::new(PlainCompose),
        outbox: recorder.clone(),
    };
    (node, recorder)
}

fn mails(recorder: &Recorder) -> Vec<Mail> {
    recorder.mails.lock().unwrap().clone()
}

fn here() -> ClientAddress {
    ClientAddress::Ip("198.51.100.7".parse().unwrap())
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

const PW: &str = "a long enough new password";

/// A filled-in form, with a fresh form token for `invite` (or none).
async fn filled(core: &Core, invite: Option<&str>) -> (String, Option<String>) {
    match form(core, invite).await.unwrap() {
        SignupForm::Show(view) => (view.form_token, invite.map(str::to_owned)),
        other => panic!("no form: {other:?}"),
    }
}

async fn post(
    core: &Core,
    form_token: &str,
    invite: Option<&str>,
    username: &str,
    address_typed: &str,
    client: &ClientAddress,
) -> SignupOutcome {
    sign_up(
        core,
        SignupRequest {
            form_token: Some(form_token),
            invite,
            username,
            email: address_typed,
            name: "",
            password: PW.to_owned(),
            confirm: PW,
            address: client,
        },
    )
    .await
    .unwrap()
}

fn stored(node: &TestNode, username: &str) -> Option<User> {
    node.db
        .find_user(&Username::parse(username).unwrap())
        .unwrap()
}

fn invite_token(mail: &Mail) -> String {
    let link = mail.link.clone().unwrap();
    assert!(mail.text.contains(&link));
    link.split_once("?invite=").unwrap().1.to_owned()
}

#[tokio::test]
async fn off_means_no_form_no_sign_up_and_no_invitation() {
    let (node, recorder) = node(SignupMode::Off);
    let core = &node.core;
    assert_eq!(form(core, None).await, Ok(SignupForm::NotFound));
    assert_eq!(form(core, Some("x")).await, Ok(SignupForm::NotFound));
    let outcome = post(core, "t", None, "zed", "zed@example.org", &here()).await;
    assert_eq!(outcome, SignupOutcome::NotFound);
    assert!(stored(&node, "zed").is_none());
    assert_eq!(
        invite(core, email("x@example.org"), None, None)
            .await
            .err()
            .map(|e| e.to_string()),
        Some("sign-up is off: set signup = \"invite\" (or \"open\") in the configuration, or USHER_SIGNUP, first".to_owned())
    );
    assert!(mails(&recorder).is_empty());
}

#[tokio::test]
async fn open_sign_up_creates_an_unverified_person_and_mails_a_verification_link() {
    let (node, recorder) = node(SignupMode::Open);
    let core = &node.core;
    let (token, _) = filled(core, None).await;
    let outcome = post(core, &token, None, "Zed", "zed@example.org", &here()).await;
    assert_eq!(outcome, SignupOutcome::CheckMail);
    let zed = stored(&node, "zed").expect("created");
    assert_eq!(zed.email, Some(email("zed@example.org")));
    assert!(!zed.email_verified);
    assert!(usher_keys::verify_password(
        &usher_domain::Password::parse(PW.into()).unwrap(),
        &zed.password_hash
    ));
    let sent = mails(&recorder);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .link
            .as_deref()
            .unwrap()
            .contains("/account/verify-email?token=")
    );
    // The form is single-use.
    let again = post(core, &token, None, "zed2", "zed2@example.org", &here()).await;
    assert_eq!(again, SignupOutcome::Refused(FormRefusal::Unknown));
    assert!(stored(&node, "zed2").is_none());
    // The verification link verifies.
    let verify = sent[0].link.clone().unwrap();
    let t = verify.split_once("?token=").unwrap().1;
    assert_eq!(
        crate::mail::verify_email(core, t).await,
        Ok(crate::mail::Verified::Verified)
    );
    assert!(stored(&node, "zed").unwrap().email_verified);
}

#[tokio::test]
async fn open_sign_up_refuses_a_taken_username_but_never_says_an_address_is_taken() {
    let (node, recorder) = node(SignupMode::Open);
    let core = &node.core;
    let alice = node.person("alice");
    node.db.delete_user(&alice.username).unwrap();
    node.db
        .insert_user(&User {
            email: Some(email("alice@example.org")),
            email_verified: true,
            ..alice
        })
        .unwrap();
    // A taken username is said, and the form comes back with a new token.
    let (token, _) = filled(core, None).await;
    match post(core, &token, None, "ALICE", "new@example.org", &here()).await {
        SignupOutcome::Again { problem, form } => {
            assert_eq!(problem, Problem::UsernameTaken);
            assert_ne!(form.form_token, token);
        }
        other => panic!("{other:?}"),
    }
    // A taken address: the same answer as a free one, an account with the address
    // unverified (so that the username cannot tell the two apart), a mail to the owner.
    let (token, _) = filled(core, None).await;
    let taken = post(core, &token, None, "mallory", "Alice@Example.org", &here()).await;
    let (token, _) = filled(core, None).await;
    let free = post(core, &token, None, "carol", "carol@example.org", &here()).await;
    assert_eq!(taken, free);
    assert_eq!(taken, SignupOutcome::CheckMail);
    let mallory = stored(&node, "mallory").expect("created, as for a free address");
    assert!(!mallory.email_verified);
    assert!(stored(&node, "carol").is_some());
    // The probe "sign up again with the same username" says taken in both cases.
    for name in ["mallory", "carol"] {
        let (token, _) = filled(core, None).await;
        assert!(matches!(
            post(core, &token, None, name, "other@example.org", &here()).await,
            SignupOutcome::Again {
                problem: Problem::UsernameTaken,
                ..
            }
        ));
    }
    // Nor can the new account's own mail budget (which its owner can probe from the
    // account page: the sixth link asked for is refused) tell them apart.
    let mut left = Vec::new();
    for name in ["mallory", "carol"] {
        let id = stored(&node, name).unwrap().id;
        let mut granted = 0;
        while crate::mail::count(core, crate::mail::verify_person_key(&id))
            .await
            .unwrap()
            .is_none()
        {
            granted += 1;
        }
        left.push(granted);
    }
    assert_eq!(left[0], left[1], "the same budget is left in both cases");
    let sent = mails(&recorder);
    assert_eq!(sent.len(), 2);
    let to_alice = &sent[0];
    assert_eq!(to_alice.to.as_str(), "Alice@Example.org");
    assert_eq!(
        to_alice.subject,
        "Someone tried to create an account with your address"
    );
    assert!(to_alice.link.is_none(), "no secret link in it");
    assert!(
        to_alice
            .text
            .contains("https://usher.example/password/forgot")
    );
    assert!(!to_alice.text.contains("mallory"));
    // Mallory's account can never get Alice's address verified: a verification link
    // for it (from the account page) is refused when used.
    // (The link is made directly: the probe above used up mallory's mail budget.)
    let mallory = stored(&node, "mallory").unwrap();
    let t = crate::mail::issue_link(
        core,
        &mallory,
        &email("Alice@Example.org"),
        usher_domain::MailPurpose::VerifyEmail,
    )
    .await
    .unwrap();
    assert_eq!(
        crate::mail::verify_email(core, &t).await,
        Ok(crate::mail::Verified::TakenElsewhere)
    );
    assert!(!stored(&node, "mallory").unwrap().email_verified);
}

/// An address someone registered first, unverified, does not keep its owner out: the
/// owner's own sign-up gets a verification link too, and whoever confirms first has it.
#[tokio::test]
async fn an_unverified_squatter_does_not_keep_the_owner_out() {
    let (node, recorder) = node(SignupMode::Open);
    let core = &node.core;
    let (token, _) = filled(core, None).await;
    post(core, &token, None, "squatter", "owner@example.org", &here()).await;
    let (token, _) = filled(core, None).await;
    post(core, &token, None, "owner", "owner@example.org", &here()).await;
    let sent = mails(&recorder);
    assert_eq!(sent.len(), 2, "two verification links");
    let token_of = |i: usize| {
        let link = sent[i].link.clone().unwrap();
        link.split_once("?token=").unwrap().1.to_owned()
    };
    assert_eq!(
        crate::mail::verify_email(core, &token_of(1)).await,
        Ok(crate::mail::Verified::Verified)
    );
    assert!(stored(&node, "owner").unwrap().email_verified);
    assert_eq!(
        crate::mail::verify_email(core, &token_of(0)).await,
        Ok(crate::mail::Verified::TakenElsewhere)
    );
    assert!(!stored(&node, "squatter").unwrap().email_verified);
}

#[tokio::test]
async fn invite_mode_needs_an_invitation_and_creates_the_person_verified() {
    let (node, recorder) = node(SignupMode::Invite);
    let core = &node.core;
    assert_eq!(form(core, None).await, Ok(SignupForm::InvitationNeeded));
    assert_eq!(
        post(core, "t", None, "zed", "zed@example.org", &here()).await,
        SignupOutcome::InvitationNeeded
    );
    let made = invite(
        core,
        email("Newcomer@example.org"),
        Some(PersonName::parse("New Comer").unwrap()),
        None,
    )
    .await
    .unwrap();
    assert!(made.mailed);
    let sent = mails(&recorder);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to.as_str(), "Newcomer@example.org");
    let token = invite_token(&sent[0]);
    assert_eq!(token.len(), 43, "256 bits");
    assert_eq!(made.link, sent[0].link.clone());
    // Only the hash is stored.
    assert!(
        node.core
            .stores
            .invitations
            .find_invitation(&token)
            .unwrap()
            .is_none()
    );
    let view = match form(core, Some(&token)).await.unwrap() {
        SignupForm::Show(v) => v,
        other => panic!("{other:?}"),
    };
    let invited = view.invited.clone().unwrap();
    assert_eq!(invited.email, "Newcomer@example.org");
    assert_eq!(invited.name.as_deref(), Some("New Comer"));
    // The form is bound to its invitation: an open form's token does not pass.
    let forged = crate::account::forms::issue_sealed(core, ANONYMOUS, FormPurpose::SignUp).unwrap();
    assert_eq!(
        post(core, &forged, Some(&token), "newcomer", "", &here()).await,
        SignupOutcome::Refused(FormRefusal::OtherSession)
    );
    // The address typed is ignored: the invitation's is the person's, verified.
    let outcome = post(
        core,
        &view.form_token,
        Some(&token),
        "newcomer",
        "other@example.org",
        &here(),
    )
    .await;
    assert_eq!(
        outcome,
        SignupOutcome::Created {
            username: "newcomer".into()
        }
    );
    let person = stored(&node, "newcomer").unwrap();
    assert_eq!(person.email, Some(email("Newcomer@example.org")));
    assert!(person.email_verified);
    assert_eq!(person.name.unwrap().as_str(), "New Comer");
    // Used: the link is dead.
    assert_eq!(
        form(core, Some(&token)).await,
        Ok(SignupForm::InvitationInvalid)
    );
    // An address with an account cannot be invited.
    assert!(matches!(
        invite(core, email("newcomer@EXAMPLE.org"), None, None).await,
        Err(crate::admin::AdminError::Conflict(..))
    ));
}

#[tokio::test]
async fn an_expired_invitation_creates_nobody() {
    let (node, recorder) = node(SignupMode::Invite);
    let core = &node.core;
    invite(core, email("late@example.org"), None, Some(3600))
        .await
        .unwrap();
    let token = invite_token(&mails(&recorder)[0]);
    // Shown while live…
    filled(core, Some(&token)).await;
    node.advance(3600);
    assert_eq!(
        form(core, Some(&token)).await,
        Ok(SignupForm::InvitationInvalid)
    );
    // …and refused once expired, even with a fresh form token.
    let fresh =
        crate::account::forms::issue_sealed(core, &invite_binding(&token), FormPurpose::SignUp)
            .unwrap();
    assert_eq!(
        post(core, &fresh, Some(&token), "late", "", &here()).await,
        SignupOutcome::InvitationInvalid
    );
    assert!(stored(&node, "late").is_none());
}

#[tokio::test]
async fn twenty_concurrent_posts_of_one_invitation_create_one_person() {
    let (node, recorder) = node(SignupMode::Invite);
    let core = node.core.clone();
    invite(&core, email("once@example.org"), None, None)
        .await
        .unwrap();
    let token = invite_token(&mails(&recorder)[0]);
    // Twenty forms opened first (opening spends nothing), then posted at once.
    let mut forms = Vec::new();
    for _ in 0..20 {
        forms.push(filled(&core, Some(&token)).await.0);
    }
    let mut tasks = Vec::new();
    for (i, form_token) in forms.into_iter().enumerate() {
        let (core, token) = (core.clone(), token.clone());
        // Each from its own address: the throttle is not what stops them.
        let client = ClientAddress::Ip(format!("198.51.100.{}", i + 10).parse().unwrap());
        tasks.push(tokio::spawn(async move {
            post(
                &core,
                &form_token,
                Some(&token),
                &format!("racer{i}"),
                "",
                &client,
            )
            .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            SignupOutcome::Created { .. } => created += 1,
            SignupOutcome::InvitationInvalid => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1);
    let people = node.db.list_users().unwrap();
    assert_eq!(
        people
            .iter()
            .filter(|u| u.username.as_str().starts_with("racer"))
            .count(),
        1
    );
}

#[tokio::test]
async fn sign_ups_are_throttled_per_client_address_under_concurrency() {
    let (node, _) = node(SignupMode::Open);
    let core = node.core.clone();
    let mut forms = Vec::new();
    for _ in 0..20 {
        forms.push(filled(&core, None).await.0);
    }
    let mut tasks = Vec::new();
    for (i, form_token) in forms.into_iter().enumerate() {
        let core = core.clone();
        tasks.push(tokio::spawn(async move {
            post(
                &core,
                &form_token,
                None,
                &format!("bot{i}"),
                &format!("bot{i}@example.org"),
                &here(),
            )
            .await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            SignupOutcome::CheckMail => accepted += 1,
            SignupOutcome::Throttled { wait } => assert!(wait > 0),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(accepted, MAIL_REQUESTS_PER_WINDOW as usize);
    let bots = node
        .db
        .list_users()
        .unwrap()
        .into_iter()
        .filter(|u| u.username.as_str().starts_with("bot"))
        .count();
    assert_eq!(bots, MAIL_REQUESTS_PER_WINDOW as usize);
    // Another address is not held up.
    let (form_token, _) = filled(&core, None).await;
    let elsewhere = ClientAddress::Ip("203.0.113.5".parse().unwrap());
    assert_eq!(
        post(
            &core,
            &form_token,
            None,
            "human",
            "human@example.org",
            &elsewhere
        )
        .await,
        SignupOutcome::CheckMail
    );
}

#[tokio::test]
async fn bad_fields_show_the_form_again_and_create_nothing() {
    let (node, _) = node(SignupMode::Open);
    let core = &node.core;
    let (token, _) = filled(core, None).await;
    let outcome = sign_up(
        core,
        SignupRequest {
            form_token: Some(&token),
            invite: None,
            username: "dora",
            email: "dora@example.org",
            name: "",
            password: "one".into(),
            confirm: "two",
            address: &here(),
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        outcome,
        SignupOutcome::Again {
            problem: Problem::Password(_),
            ..
        }
    ));
    let (token, _) = filled(core, None).await;
    let outcome = post(core, &token, None, "dora", "not an address", &here()).await;
    assert!(matches!(
        outcome,
        SignupOutcome::Again {
            problem: Problem::Email(_),
            ..
        }
    ));
    assert!(stored(&node, "dora").is_none());
}

/// Twenty sign-ups at once naming one mailbox, each from its own client address (the
/// per-address throttle does not stop them): twenty accounts, but at most the mail
/// policy's number of mails reach the mailbox.
#[tokio::test]
async fn one_mailbox_gets_a_bounded_number_of_mails_however_many_sign_ups_name_it() {
    let (node, recorder) = node(SignupMode::Open);
    let core = node.core.clone();
    let mut forms = Vec::new();
    for _ in 0..20 {
        forms.push(filled(&core, None).await.0);
    }
    let mut tasks = Vec::new();
    for (i, form_token) in forms.into_iter().enumerate() {
        let core = core.clone();
        let client = ClientAddress::Ip(format!("198.51.100.{}", i + 10).parse().unwrap());
        tasks.push(tokio::spawn(async move {
            post(
                &core,
                &form_token,
                None,
                &format!("flood{i}"),
                "Victim@example.org",
                &client,
            )
            .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), SignupOutcome::CheckMail);
    }
    let to_victim = mails(&recorder)
        .iter()
        .filter(|m| m.to.as_str().eq_ignore_ascii_case("victim@example.org"))
        .count();
    assert_eq!(to_victim, MAIL_REQUESTS_PER_WINDOW as usize);
}

/// Sign-ups whose client address is not known (a proxy nobody configured) share one
/// budget instead of none.
#[tokio::test]
async fn sign_ups_from_unknown_addresses_share_one_budget() {
    let (node, _) = node(SignupMode::Open);
    let core = node.core.clone();
    let mut forms = Vec::new();
    for _ in 0..10 {
        forms.push(filled(&core, None).await.0);
    }
    let mut tasks = Vec::new();
    for (i, form_token) in forms.into_iter().enumerate() {
        let core = core.clone();
        let client = if i % 2 == 0 {
            ClientAddress::Unknown
        } else {
            ClientAddress::BehindUntrustedProxy
        };
        tasks.push(tokio::spawn(async move {
            post(
                &core,
                &form_token,
                None,
                &format!("anon{i}"),
                &format!("anon{i}@example.org"),
                &client,
            )
            .await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            SignupOutcome::CheckMail => accepted += 1,
            SignupOutcome::Throttled { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(accepted, MAIL_REQUESTS_PER_WINDOW as usize);
}
