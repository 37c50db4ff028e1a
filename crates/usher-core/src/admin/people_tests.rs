//! Updating, disabling and enabling people: the shared operations' rules, on a whole node.

use usher_domain::{AuditKind, FamilyState, SessionStore as _, UserError, UserStore as _};

use super::*;
use crate::admin::{AdminStores, By, etag};
use crate::testing::{FamilySpec, TestNode};

fn by(node: &TestNode) -> By {
    By::cli(node.now())
}

fn alice() -> Username {
    Username::parse("alice").unwrap()
}

fn change(f: impl FnOnce(&mut PersonChange)) -> CheckedChange {
    let mut c = PersonChange::default();
    f(&mut c);
    c.check().unwrap()
}

#[test]
fn a_change_is_parsed_with_the_rules_and_texts_of_create() {
    assert_eq!(
        PersonChange::default().check().unwrap_err().to_string(),
        "nothing to change: give --name, --email, --email-verified, --preferred-username, --phone-number or --phone-number-verified (or --no-name, --no-email, --no-preferred-username, --no-phone-number)"
    );
    let bad = PersonChange {
        email: Some(Some("not an address".to_owned())),
        ..PersonChange::default()
    };
    assert_eq!(
        bad.check().unwrap_err(),
        AdminError::Invalid(UserError::BadEmail.to_string())
    );
    let bad = PersonChange {
        phone_number: Some(Some("555".to_owned())),
        ..PersonChange::default()
    };
    assert_eq!(
        bad.check().unwrap_err(),
        AdminError::Invalid(UserError::BadPhoneNumber.to_string())
    );
}

#[test]
fn a_new_name_follows_today_s_rules_not_the_lookup_s() {
    let new = |username: &str| NewPerson {
        username: username.to_owned(),
        name: None,
        email: None,
        email_verified: false,
        preferred_username: None,
        phone_number: None,
        phone_number_verified: false,
    };
    // A zero-width space: a name stored before it was refused still loads and is found,
    // but no new one is made with it (two names that look alike).
    let sneaky = "ali\u{200b}ce";
    assert!(Username::from_stored(sneaky).is_ok());
    assert!(matches!(new(sneaky).check(), Err(AdminError::Invalid(_))));
    assert_eq!(new("alice").check().unwrap().username().as_str(), "alice");
}

#[tokio::test]
async fn an_update_follows_create_s_rules_and_writes_its_event() {
    let node = TestNode::new();
    let stores = AdminStores::of(&node.core);
    let before = node.person("alice");
    let detail = update(
        &stores,
        &alice(),
        &change(|c| {
            c.name = Some(Some(" Alice L. ".to_owned()));
            c.email = Some(Some("alice@example.org".to_owned()));
            c.email_verified = Some(true);
            c.phone_number = Some(Some("+1 555 010 9999".to_owned()));
        }),
        None,
        &by(&node),
    )
    .unwrap();
    let p = &detail.person;
    assert_eq!(p.name.as_deref(), Some("Alice L."));
    assert_eq!(p.email.as_deref(), Some("alice@example.org"));
    assert!(p.email_verified);
    assert_eq!(p.phone_number.as_deref(), Some("+15550109999"));
    assert!(!p.phone_number_verified);
    let events = node.audit_events();
    let e = &events.last().unwrap().event;
    assert_eq!(e.kind, AuditKind::PersonUpdated);
    assert_eq!(e.person.as_ref(), Some(&before.id));
    assert_eq!(e.detail.as_map()["before"]["name"], serde_json::Value::Null);
    assert_eq!(e.detail.as_map()["after"]["name"], "Alice L.");
    assert!(!e.detail.to_stored().contains("argon2"));

    // Another person cannot be marked verified at alice's verified address (reset links
    // for both would go to one mailbox); unverified, they may share it.
    node.person("bob");
    let bob = Username::parse("bob").unwrap();
    let refused = update(
        &stores,
        &bob,
        &change(|c| {
            c.email = Some(Some("ALICE@example.org".to_owned()));
            c.email_verified = Some(true);
        }),
        None,
        &by(&node),
    );
    assert!(
        matches!(&refused, Err(AdminError::Conflict(m)) if m.contains("another person has verified")),
        "{refused:?}"
    );
    update(
        &stores,
        &bob,
        &change(|c| c.email = Some(Some("alice@example.org".to_owned()))),
        None,
        &by(&node),
    )
    .unwrap();

    // A new address is not verified unless the change says so; a removed one neither.
    let detail = update(
        &stores,
        &alice(),
        &change(|c| c.email = Some(Some("new@example.org".to_owned()))),
        None,
        &by(&node),
    )
    .unwrap();
    assert!(!detail.person.email_verified);
    // Verified needs an address (create's text).
    let refused = update(
        &stores,
        &alice(),
        &change(|c| {
            c.email = Some(None);
            c.email_verified = Some(true);
        }),
        None,
        &by(&node),
    );
    assert_eq!(
        refused.unwrap_err(),
        AdminError::Invalid("--email-verified needs --email".to_owned())
    );
    // A change that changes nothing writes nothing.
    let count = node.audit_events().len();
    update(
        &stores,
        &alice(),
        &change(|c| c.email = Some(Some("new@example.org".to_owned()))),
        None,
        &by(&node),
    )
    .unwrap();
    assert_eq!(node.audit_events().len(), count);
    assert_eq!(
        update(
            &stores,
            &Username::parse("nobody").unwrap(),
            &change(|c| c.name = Some(None)),
            None,
            &by(&node)
        )
        .unwrap_err(),
        AdminError::NotFound("no user nobody".to_owned())
    );
}

#[tokio::test]
async fn an_update_needs_the_current_tag_and_of_two_from_one_read_exactly_one_wins() {
    let node = TestNode::new();
    let stores = AdminStores::of(&node.core);
    let read = node.person("alice");
    let tag = etag(&show(&stores, &alice()).unwrap());
    assert_eq!(
        update(
            &stores,
            &alice(),
            &change(|c| c.name = Some(Some("A".to_owned()))),
            Some("\"stale\""),
            &by(&node)
        )
        .unwrap_err(),
        AdminError::Stale
    );
    assert_eq!(
        update(
            &stores,
            &alice(),
            &change(|c| c.name = Some(Some("A".to_owned()))),
            Some("*"),
            &by(&node)
        )
        .unwrap_err(),
        AdminError::Stale
    );
    let first = update(
        &stores,
        &alice(),
        &change(|c| c.name = Some(Some("First".to_owned()))),
        Some(&tag),
        &by(&node),
    )
    .unwrap();
    assert_eq!(first.person.name.as_deref(), Some("First"));
    assert_eq!(
        update(
            &stores,
            &alice(),
            &change(|c| c.name = Some(Some("Second".to_owned()))),
            Some(&tag),
            &by(&node)
        )
        .unwrap_err(),
        AdminError::Stale
    );
    // The store's compare-and-set: two writers who read the same person, one wins.
    let mut one = read.clone();
    one.name = Some(PersonName::parse("One").unwrap());
    let mut two = read.clone();
    two.name = Some(PersonName::parse("Two").unwrap());
    let now = node.db.get_user(&read.id).unwrap().unwrap();
    assert!(node.db.update_person_if(&now, &one).unwrap());
    assert!(!node.db.update_person_if(&now, &two).unwrap());
    assert_eq!(node.db.get_user(&read.id).unwrap().unwrap().name, one.name);
}

#[tokio::test]
async fn disabling_ends_every_sign_in_and_enabling_lets_the_person_back() {
    let node = TestNode::new();
    let alice_user = node.person("alice");
    node.session(&alice_user, "cookie", "lineage", 0);
    let (family, _) = node.family(FamilySpec::default()).await;
    let detail = disable(&node.core, &alice(), &by(&node)).await.unwrap();
    assert!(detail.person.disabled);
    assert!(detail.person.disabled_at.is_some());
    assert!(
        node.db
            .list_user_sessions(&alice_user.id, node.now())
            .unwrap()
            .is_empty()
    );
    assert_ne!(node.family_state(&family).await, FamilyState::Active);
    assert_eq!(
        node.core.active_user(&alice_user.id).await.unwrap(),
        Err(crate::Inactive::Disabled)
    );
    // Again: nothing changes, no second event.
    disable(&node.core, &alice(), &by(&node)).await.unwrap();
    let kinds = node.audit_kinds();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == AuditKind::PersonDisabled)
            .count(),
        1
    );

    let detail = enable(&node.core, &alice(), &by(&node)).await.unwrap();
    assert!(!detail.person.disabled);
    assert_eq!(detail.person.disabled_at, None);
    assert!(node.core.active_user(&alice_user.id).await.unwrap().is_ok());
    assert!(node.audit_kinds().contains(&AuditKind::PersonEnabled));
    assert_eq!(
        disable(&node.core, &Username::parse("nobody").unwrap(), &by(&node))
            .await
            .unwrap_err(),
        AdminError::NotFound("no user nobody".to_owned())
    );
}

#[tokio::test]
async fn a_session_that_outlived_the_disabling_opens_nothing() {
    let node = TestNode::new();
    let alice_user = node.person("alice");
    node.session(&alice_user, "cookie", "lineage", 0);
    assert!(node.core.session(Some("cookie")).await.unwrap().is_some());
    // Disabled in the store only (the ending of their sessions failed, or a sign-in
    // inserted this one just after it): the session is still there, and opens nothing.
    node.db
        .set_disabled(&alice_user.id, Some(node.now()))
        .unwrap();
    node.core.forget_user(&alice_user.id);
    assert_eq!(
        node.db
            .list_user_sessions(&alice_user.id, node.now())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(node.core.session(Some("cookie")).await.unwrap(), None);
    // Enabled again: the session works (nothing ended it).
    node.db.set_disabled(&alice_user.id, None).unwrap();
    node.core.forget_user(&alice_user.id);
    assert!(node.core.session(Some("cookie")).await.unwrap().is_some());
}
