use std::sync::Arc;

use usher_domain::{
    AuditKind, ClaimMapping, Upstream, UpstreamId, UpstreamIdentity, UpstreamStore, User, UserStore,
};

use super::*;
use crate::testing::TestNode;

fn upstream(node: &TestNode, id: &str, name: &str) -> UpstreamId {
    let upstream = Upstream {
        id: UpstreamId::parse(id).unwrap(),
        name: name.to_owned(),
        issuer: format!("https://{id}.example"),
        client_id: "usher-downstream".to_owned(),
        client_secret_sealed: None,
        scope: "openid email profile".to_owned(),
        claim_mapping: ClaimMapping::default(),
        endpoints: None,
        enabled: true,
        trusted_for_mfa: false,
        create_people: true,
        created_at: node.now(),
    };
    assert!(node.db.insert_upstream(&upstream).unwrap());
    upstream.id
}

fn link(node: &TestNode, user: &User, upstream: &UpstreamId, subject: &str) {
    assert!(
        node.db
            .link_identity(&UpstreamIdentity {
                upstream: upstream.clone(),
                subject: subject.to_owned(),
                user_id: user.id.clone(),
                created_at: node.now(),
            })
            .unwrap()
    );
}

/// A person created at their first upstream sign-in: no password.
fn passwordless(node: &TestNode, username: &str) -> User {
    let user = User {
        password_hash: String::new(),
        ..node.person(username)
    };
    assert!(node.db.delete_user(&user.username).unwrap());
    node.db.insert_user(&user).unwrap();
    user
}

fn unlinked_events(node: &TestNode) -> Vec<usher_domain::AuditEvent> {
    node.audit_events()
        .into_iter()
        .map(|r| r.event)
        .filter(|e| e.kind == AuditKind::UpstreamUnlinked)
        .collect()
}

#[tokio::test]
async fn identities_are_listed_with_their_upstreams_names_and_removed_once() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let bob = node.person("bob");
    let corp = upstream(&node, "corp", "Corp <SSO>");
    let social = upstream(&node, "social", "Social");
    link(&node, &alice, &corp, "a-1");
    link(&node, &alice, &social, "a-2");
    link(&node, &bob, &corp, "b-1");

    let listed = list(&node.core, &alice.id).await.unwrap();
    let names: Vec<(&str, &str, &str)> = listed
        .iter()
        .map(|l| (l.upstream.as_str(), l.name.as_str(), l.subject.as_str()))
        .collect();
    assert_eq!(
        names,
        [("corp", "Corp <SSO>", "a-1"), ("social", "Social", "a-2")]
    );
    assert!(
        list(&node.core, &node.person("carol").id)
            .await
            .unwrap()
            .is_empty()
    );

    let session = node.session(&alice, "cookie", "lineage", 0);
    // Bob's identity, an unknown one, junk: not Alice's.
    for (up, sub) in [
        ("corp", "b-1"),
        ("corp", "nobody"),
        ("Not An Id!", "a-1"),
        ("", ""),
    ] {
        assert_eq!(
            remove(&node.core, &session, up, sub).await,
            Ok(RemoveOutcome::NotLinked),
            "{up} {sub}"
        );
    }
    assert_eq!(
        remove(&node.core, &session, "corp", "a-1").await,
        Ok(RemoveOutcome::Removed)
    );
    assert_eq!(
        remove(&node.core, &session, "corp", "a-1").await,
        Ok(RemoveOutcome::NotLinked)
    );
    let left = list(&node.core, &alice.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].upstream.as_str(), "social");
    // Bob's identity through the same upstream is untouched.
    assert_eq!(list(&node.core, &bob.id).await.unwrap().len(), 1);

    let events = unlinked_events(&node);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].detail.to_value(),
        serde_json::json!({"upstream": "corp"}),
        "the subject stays out"
    );
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_removed() {
    let node = TestNode::new();
    let dana = passwordless(&node, "dana");
    let corp = upstream(&node, "corp", "Corp");
    link(&node, &dana, &corp, "d-1");
    let session = node.session(&dana, "cookie", "lineage", 0);
    assert_eq!(
        remove(&node.core, &session, "corp", "d-1").await,
        Ok(RemoveOutcome::LastWayToSignIn)
    );
    assert_eq!(list(&node.core, &dana.id).await.unwrap().len(), 1);
    assert!(unlinked_events(&node).is_empty());

    // A second identity, but of a disabled upstream: still the last working way.
    let old = upstream(&node, "old", "Old");
    link(&node, &dana, &old, "d-2");
    let mut disabled = node.db.get_upstream(&old).unwrap().unwrap();
    disabled.enabled = false;
    assert!(node.db.update_upstream(&disabled).unwrap());
    assert_eq!(
        remove(&node.core, &session, "corp", "d-1").await,
        Ok(RemoveOutcome::LastWayToSignIn)
    );
    // Enabled again, either can go, but not both.
    disabled.enabled = true;
    assert!(node.db.update_upstream(&disabled).unwrap());
    assert_eq!(
        remove(&node.core, &session, "corp", "d-1").await,
        Ok(RemoveOutcome::Removed)
    );
    assert_eq!(
        remove(&node.core, &session, "old", "d-2").await,
        Ok(RemoveOutcome::LastWayToSignIn)
    );
}

#[tokio::test]
async fn with_a_password_the_only_identity_can_be_removed() {
    let node = TestNode::new();
    let alice = node.person("alice");
    let corp = upstream(&node, "corp", "Corp");
    link(&node, &alice, &corp, "a-1");
    let session = node.session(&alice, "cookie", "lineage", 0);
    assert_eq!(
        remove(&node.core, &session, "corp", "a-1").await,
        Ok(RemoveOutcome::Removed)
    );
    assert!(list(&node.core, &alice.id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_removals_of_one_identity_report_one_removal() {
    let node = Arc::new(TestNode::new());
    let alice = node.person("alice");
    let corp = upstream(&node, "corp", "Corp");
    link(&node, &alice, &corp, "a-1");
    let session = Arc::new(node.session(&alice, "cookie", "lineage", 0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (node, session) = (node.clone(), session.clone());
        tasks.push(tokio::spawn(async move {
            remove(&node.core, &session, "corp", "a-1").await.unwrap()
        }));
    }
    let mut removed = 0;
    for t in tasks {
        match t.await.unwrap() {
            RemoveOutcome::Removed => removed += 1,
            RemoveOutcome::NotLinked => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(removed, 1);
    assert_eq!(unlinked_events(&node).len(), 1);
}

#[tokio::test]
async fn with_a_passkey_a_passwordless_persons_only_identity_can_be_removed() {
    let node = TestNode::new();
    let dana = passwordless(&node, "dana");
    let corp = upstream(&node, "corp", "Corp");
    link(&node, &dana, &corp, "d-1");
    let passkey = usher_domain::Passkey {
        id: "pk-1".to_owned(),
        user_id: dana.id.clone(),
        credential_id: "cred-1".to_owned(),
        name: usher_domain::PasskeyName::parse("Laptop").unwrap(),
        credential: "{}".to_owned(),
        created_at: node.now(),
        last_used_at: None,
        suspect: false,
    };
    usher_domain::PasskeyStore::insert_passkey(&node.db, &passkey, crate::passkeys::MAX_PASSKEYS)
        .unwrap();
    let session = node.session(&dana, "cookie", "lineage", 0);
    assert_eq!(
        remove(&node.core, &session, "corp", "d-1").await,
        Ok(RemoveOutcome::Removed)
    );
}
