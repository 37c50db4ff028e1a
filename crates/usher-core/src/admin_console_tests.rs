//! The console's gate on a whole node (`TestNode`): who may use it (not signed in, not a
//! member, a member, a member removed mid-session), its single-use form tokens (reuse
//! and racing posts), and that its operations are the admin operations (the stale tag).

use usher_domain::{GroupName, GroupStore as _, User};

use super::*;
use crate::testing::{TestNode, registration};

/// A session of `person`, signed in just now; its cookie.
fn signed_in(node: &TestNode, person: &User) -> String {
    let (cookie, _) = crate::secret_pair().unwrap();
    let (_, lineage) = crate::secret_pair().unwrap();
    node.session(person, &cookie, &lineage, 0);
    cookie
}

fn make_admin(node: &TestNode, person: &User) {
    node.db
        .add_member(&GroupName::admins(), &person.username, node.now())
        .unwrap();
}

async fn admin_of(node: &TestNode, cookie: &str) -> Admin {
    match access(&node.core, Some(cookie)).await.unwrap() {
        Access::Admin(admin) => *admin,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn without_a_live_session_the_console_asks_for_a_sign_in() {
    let node = TestNode::new();
    assert_eq!(access(&node.core, None).await, Ok(Access::NotSignedIn));
    assert_eq!(
        access(&node.core, Some("no-such-session")).await,
        Ok(Access::NotSignedIn)
    );
    assert_eq!(post(&node.core, None, None).await, Ok(Post::NotSignedIn));
    // The sign-in is the built-in client's, with PKCE, and returns to the console.
    let start = sign_in(&node.core).unwrap();
    assert!(
        start
            .location
            .starts_with("https://usher.example/authorize?")
    );
    assert!(start.location.contains("client_id=usher-account"));
    assert!(start.location.contains("code_challenge_method=S256"));
    assert!(start.cookie_value.ends_with(".admin"));
    assert_eq!(ReturnTo::Admin.path(), CONSOLE_PATH);
}

#[tokio::test]
async fn a_person_outside_usher_admins_is_refused() {
    let node = TestNode::new();
    let bob = node.person("bob");
    let cookie = signed_in(&node, &bob);
    assert_eq!(
        access(&node.core, Some(&cookie)).await,
        Ok(Access::NotAnAdmin {
            username: "bob".into()
        })
    );
    // Membership of another group is not enough.
    let staff = GroupName::parse("staff").unwrap();
    crate::admin::groups::create(
        &AdminStores::of(&node.core),
        staff.clone(),
        None,
        &crate::admin::By::cli(node.now()),
    )
    .unwrap();
    node.db
        .add_member(&staff, &bob.username, node.now())
        .unwrap();
    assert!(matches!(
        access(&node.core, Some(&cookie)).await,
        Ok(Access::NotAnAdmin { .. })
    ));
}

#[tokio::test]
async fn a_member_of_usher_admins_is_admitted() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    assert_eq!(admin.username(), "alice");
    assert_eq!(admin.person().id, alice.id);
    let token = form_token(&node.core, &admin).await.unwrap();
    assert_eq!(
        post(&node.core, Some(&cookie), Some(&token)).await,
        Ok(Post::Admin(Box::new(admin)))
    );
}

#[tokio::test]
async fn a_member_removed_mid_session_is_refused_at_the_next_request() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    let token = form_token(&node.core, &admin).await.unwrap();
    node.db
        .remove_member(&GroupName::admins(), &alice.username)
        .unwrap();
    // The same session, a page and a form rendered while a member: both refused now.
    assert_eq!(
        access(&node.core, Some(&cookie)).await,
        Ok(Access::NotAnAdmin {
            username: "alice".into()
        })
    );
    assert_eq!(
        post(&node.core, Some(&cookie), Some(&token)).await,
        Ok(Post::NotAnAdmin {
            username: "alice".into()
        })
    );
    // Added back: admitted again, with no new sign-in.
    make_admin(&node, &alice);
    assert!(matches!(
        access(&node.core, Some(&cookie)).await,
        Ok(Access::Admin(_))
    ));
}

#[tokio::test]
async fn a_form_token_works_once_for_its_own_session_and_the_console_only() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let other = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    let token = form_token(&node.core, &admin).await.unwrap();
    assert!(matches!(
        post(&node.core, Some(&cookie), Some(&token)).await,
        Ok(Post::Admin(_))
    ));
    assert_eq!(
        post(&node.core, Some(&cookie), Some(&token)).await,
        Ok(Post::Refused(FormRefusal::Unknown))
    );
    assert_eq!(
        post(&node.core, Some(&cookie), None).await,
        Ok(Post::Refused(FormRefusal::Unknown))
    );
    // Another browser of the same person cannot post this page's token.
    let token = form_token(&node.core, &admin).await.unwrap();
    assert_eq!(
        post(&node.core, Some(&other), Some(&token)).await,
        Ok(Post::Refused(FormRefusal::OtherSession))
    );
    // An account page's token is not a console token.
    let account = forms::issue(&node.core, admin.session(), FormPurpose::Account)
        .await
        .unwrap();
    assert_eq!(
        post(&node.core, Some(&cookie), Some(&account)).await,
        Ok(Post::Refused(FormRefusal::WrongPurpose))
    );
    // Too old.
    let late = form_token(&node.core, &admin).await.unwrap();
    node.advance(node.core.settings.interaction_ttl);
    assert_eq!(
        post(&node.core, Some(&cookie), Some(&late)).await,
        Ok(Post::Refused(FormRefusal::Expired))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_posts_of_one_form_exactly_one_proceeds() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    for racers in [2, 16] {
        let token = form_token(&node.core, &admin).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..racers {
            let (core, cookie, token) = (node.core.clone(), cookie.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                post(&core, Some(&cookie), Some(&token)).await
            }));
        }
        let mut admitted = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Post::Admin(_) => admitted += 1,
                Post::Refused(FormRefusal::Unknown) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(admitted, 1, "{racers} racing posts");
    }
}

#[tokio::test]
async fn the_console_changes_a_client_only_from_the_view_it_showed() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    let mut input = registration();
    input.name = "Shop".to_owned();
    let created = create_client(&node.core, &admin, input).await.unwrap();
    assert!(
        created.secret.is_some(),
        "a confidential client's secret, once"
    );
    let id = created.client.id.to_string();
    let shown = client(&node.core, &admin, &id).await.unwrap();
    let staff = create_group(&node.core, &admin, "staff", None)
        .await
        .unwrap();
    let restrict = AccessChange {
        origins: None,
        groups: Some(vec![GroupName::parse(&staff.name).unwrap()]),
    };
    let changed = update_client_access(&node.core, &admin, &id, restrict.clone(), &shown.etag)
        .await
        .unwrap();
    assert_eq!(changed.view.allowed_groups, vec!["staff".to_owned()]);
    // A second operator's form, rendered from the earlier view: refused, nothing written.
    let open = AccessChange {
        origins: None,
        groups: Some(Vec::new()),
    };
    assert_eq!(
        update_client_access(&node.core, &admin, &id, open, &shown.etag).await,
        Err(AdminError::Stale)
    );
    assert_eq!(
        delete_client(&node.core, &admin, &id, &shown.etag).await,
        Err(AdminError::Stale)
    );
    let now = client(&node.core, &admin, &id).await.unwrap();
    assert_eq!(now.view.allowed_groups, vec!["staff".to_owned()]);
    // The same rules and texts as the CLI and the API.
    assert_eq!(
        delete_group(&node.core, &admin, "staff").await,
        Err(AdminError::Conflict(format!(
            "clients are restricted to group staff: {id}; change them first with `usher client update ID --allowed-group …` or `--no-allowed-groups`"
        )))
    );
    assert!(matches!(
        client(&node.core, &admin, "usher-account").await,
        Err(AdminError::Invalid(_))
    ));
    delete_client(&node.core, &admin, &id, &now.etag)
        .await
        .unwrap();
    assert!(matches!(
        client(&node.core, &admin, &id).await,
        Err(AdminError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_clients_list_searches_names_and_ids() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    for name in ["Shop", "Blog", "Shop admin"] {
        let mut input = registration();
        input.name = name.to_owned();
        create_client(&node.core, &admin, input).await.unwrap();
    }
    let found = clients(&node.core, &admin, "shop".into(), PageRequest::default())
        .await
        .unwrap();
    let mut names: Vec<_> = found.items.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Shop", "Shop admin"]);
    let all = clients(&node.core, &admin, String::new(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    let id = &all.items[1].client_id;
    let by_id = clients(
        &node.core,
        &admin,
        id[..13].to_owned(),
        PageRequest::default(),
    )
    .await
    .unwrap();
    assert_eq!(by_id.items.len(), 1);
    let first = clients(
        &node.core,
        &admin,
        String::new(),
        PageRequest {
            after: None,
            limit: Some(2),
        },
    )
    .await
    .unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(first.next.is_some());
}

#[test]
fn blank_audit_filters_filter_nothing_and_before_is_an_event_id() {
    let blank = AuditFilters {
        person: Some("  ".to_owned()),
        client: Some(String::new()),
        kind: Some(String::new()),
        since: Some(" ".to_owned()),
        until: None,
        before: Some(String::new()),
    };
    let query = blank.query().unwrap();
    assert_eq!(
        (
            query.person,
            query.client,
            query.kind,
            query.since,
            query.until,
            query.before
        ),
        (None, None, None, None, None, None)
    );
    let paged = AuditFilters {
        kind: Some(" group.created ".to_owned()),
        before: Some("42".to_owned()),
        ..AuditFilters::default()
    };
    let query = paged.query().unwrap();
    assert_eq!(query.kind.as_deref(), Some("group.created"));
    assert_eq!(query.before, Some(42));
    for bad in ["x", "-1", "0", "1.5"] {
        let f = AuditFilters {
            before: Some(bad.to_owned()),
            ..AuditFilters::default()
        };
        assert!(matches!(f.query(), Err(AdminError::Invalid(_))), "{bad}");
    }
}

#[tokio::test]
async fn the_audit_page_shows_the_consoles_changes_as_the_operator_newest_first() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let mut admin = admin_of(&node, &cookie).await;
    admin.from_address(Some("192.0.2.7".to_owned()));
    create_group(&node.core, &admin, "staff", None)
        .await
        .unwrap();
    create_group(&node.core, &admin, "ops", None).await.unwrap();
    let created = AuditFilters {
        kind: Some("group.created".to_owned()),
        ..AuditFilters::default()
    };
    let page = audit(&node.core, &admin, &created).await.unwrap();
    let targets: Vec<_> = page.events.iter().map(|e| e.target.clone()).collect();
    assert_eq!(
        targets,
        vec![Some("ops".to_owned()), Some("staff".to_owned())],
        "newest first"
    );
    for e in &page.events {
        assert_eq!(e.actor, format!("person:{}", alice.id.as_str()));
        assert_eq!(e.address.as_deref(), Some("192.0.2.7"));
    }
    assert_eq!(page.next_before, None, "not a full page");
    // Paging on from the newest: only the older one.
    let before = AuditFilters {
        before: Some(page.events[0].id.to_string()),
        ..created.clone()
    };
    let older = audit(&node.core, &admin, &before).await.unwrap();
    assert_eq!(older.events.len(), 1);
    assert_eq!(older.events[0].target.as_deref(), Some("staff"));
    // A kind that is not one is refused with the API's words.
    let unknown = AuditFilters {
        kind: Some("no.such".to_owned()),
        ..AuditFilters::default()
    };
    assert!(matches!(
        audit(&node.core, &admin, &unknown).await,
        Err(AdminError::Invalid(_))
    ));
}

#[tokio::test]
async fn the_console_creates_a_person_from_its_form_and_finds_them_by_a_search() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    // The form sends every field: blank name and e-mail are none, not refused.
    let carol = create_person(
        &node.core,
        &admin,
        " carol ",
        "a long enough password",
        Some(" "),
        Some(""),
    )
    .await
    .unwrap();
    assert_eq!(carol.username, "carol");
    assert_eq!((carol.name, carol.email), (None, None));
    let dave = create_person(
        &node.core,
        &admin,
        "dave",
        "a long enough password",
        Some("Dave Jones"),
        Some("dave@example.com"),
    )
    .await
    .unwrap();
    assert_eq!(dave.email.as_deref(), Some("dave@example.com"));
    assert!(matches!(
        create_person(
            &node.core,
            &admin,
            "dave",
            "a long enough password",
            None,
            None
        )
        .await,
        Err(AdminError::Conflict(_))
    ));
    assert!(matches!(
        create_person(&node.core, &admin, "erin", "", None, None).await,
        Err(AdminError::Invalid(_))
    ));
    let found = |q: &str| {
        let q = q.to_owned();
        let core = &node.core;
        let admin = &admin;
        async move {
            people(core, admin, q, PageRequest::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|p| p.username)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("JONES").await, vec!["dave".to_owned()]);
    assert_eq!(found("@example.com").await, vec!["dave".to_owned()]);
    assert_eq!(found("").await, vec!["alice", "carol", "dave"]);
    // Created by alice, in the trail.
    let created = AuditFilters {
        kind: Some("person.created".to_owned()),
        ..AuditFilters::default()
    };
    let page = audit(&node.core, &admin, &created).await.unwrap();
    assert_eq!(page.events.len(), 2);
    assert!(
        page.events
            .iter()
            .all(|e| e.actor == format!("person:{}", alice.id.as_str()))
    );
}

#[tokio::test]
async fn without_key_operations_the_keys_page_says_so_and_changes_nothing() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    assert_eq!(signing_keys(&node.core, &admin).await, Ok(None));
    assert!(matches!(
        rotate_keys(&node.core, &admin, None, false).await,
        Err(AdminError::Conflict(_))
    ));
    assert!(matches!(
        remove_key(&node.core, &admin, "k1").await,
        Err(AdminError::Conflict(_))
    ));
    // The form's algorithm: blank or "all" is every one; a wrong name is refused.
    assert_eq!(key_algs(Some("")).unwrap().len(), 3);
    assert_eq!(key_algs(Some("all")).unwrap().len(), 3);
    assert_eq!(key_algs(Some("ES256")).unwrap().len(), 1);
    assert!(key_algs(Some("es256")).is_err());
    assert!(matches!(
        remove_key(&node.core, &admin, "not a kid").await,
        Err(AdminError::Invalid(_))
    ));
}

#[tokio::test]
async fn families_are_listed_by_username_and_an_unknown_one_is_not_found() {
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    let page = families_of(&node.core, &admin, "alice", PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert!(matches!(
        families_of(&node.core, &admin, "nobody", PageRequest::default()).await,
        Err(AdminError::NotFound(_))
    ));
    assert!(matches!(
        revoke_family(&node.core, &admin, "not a family").await,
        Err(AdminError::Invalid(_))
    ));
}

#[tokio::test]
async fn the_console_edits_a_profile_with_its_tag_and_disables_anyone_but_its_operator() {
    let node = TestNode::new();
    let alice = node.person("alice");
    node.person("bob");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    let admin = admin_of(&node, &cookie).await;
    let read = person_tagged(&node.core, &admin, "bob").await.unwrap();
    let form = PersonForm {
        name: " Bob Builder ",
        email: "bob@example.org",
        email_verified: true,
        ..PersonForm::default()
    };
    let saved = update_person(&node.core, &admin, "bob", form.clone(), &read.etag)
        .await
        .unwrap();
    assert_eq!(saved.view.person.name.as_deref(), Some("Bob Builder"));
    assert!(saved.view.person.email_verified);
    // A new address with the box left ticked as it was rendered: not verified (a reset
    // link must not go to an address nobody proved); ticking it anew would be needed.
    let moved = update_person(
        &node.core,
        &admin,
        "bob",
        PersonForm {
            email: "bob@attacker.example",
            ..form.clone()
        },
        &saved.etag,
    )
    .await
    .unwrap();
    assert_eq!(
        moved.view.person.email.as_deref(),
        Some("bob@attacker.example")
    );
    assert!(!moved.view.person.email_verified);
    // Back to the first address, box ticked where it was unticked: verified as said.
    let saved = update_person(&node.core, &admin, "bob", form.clone(), &moved.etag)
        .await
        .unwrap();
    assert!(saved.view.person.email_verified);
    // The page's tag is spent by the change: the same form again is stale.
    assert_eq!(
        update_person(&node.core, &admin, "bob", form, &read.etag)
            .await
            .unwrap_err(),
        AdminError::Stale
    );
    // Blank fields remove, with create's texts for a bad value.
    let bad = PersonForm {
        phone_number: "call me",
        ..PersonForm::default()
    };
    assert_eq!(
        update_person(&node.core, &admin, "bob", bad, &saved.etag)
            .await
            .unwrap_err(),
        AdminError::Invalid(usher_domain::UserError::BadPhoneNumber.to_string())
    );
    let cleared = update_person(
        &node.core,
        &admin,
        "bob",
        PersonForm::default(),
        &saved.etag,
    )
    .await
    .unwrap();
    assert_eq!(cleared.view.person.name, None);
    assert_eq!(cleared.view.person.email, None);

    let done = disable_person(&node.core, &admin, "bob").await.unwrap();
    assert!(done.person.disabled);
    assert!(matches!(
        disable_person(&node.core, &admin, "alice").await,
        Err(AdminError::Conflict(_))
    ));
    let done = enable_person(&node.core, &admin, "bob").await.unwrap();
    assert!(!done.person.disabled);
    let events = node.audit_events();
    let by_alice = format!("person:{}", alice.id.as_str());
    for kind in [
        usher_domain::AuditKind::PersonUpdated,
        usher_domain::AuditKind::PersonDisabled,
        usher_domain::AuditKind::PersonEnabled,
    ] {
        let e = events.iter().find(|e| e.event.kind == kind).unwrap();
        assert_eq!(e.event.actor.to_stored(), by_alice);
    }
}

#[tokio::test]
async fn a_disabled_operator_is_signed_out_of_the_console() {
    use usher_domain::UserStore as _;
    let node = TestNode::new();
    let alice = node.person("alice");
    make_admin(&node, &alice);
    let cookie = signed_in(&node, &alice);
    assert!(node.db.set_disabled(&alice.id, Some(node.now())).unwrap());
    node.core.forget_user(&alice.id);
    assert_eq!(
        access(&node.core, Some(&cookie)).await.unwrap(),
        Access::NotSignedIn
    );
}
