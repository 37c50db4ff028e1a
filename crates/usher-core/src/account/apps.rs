//! "Connected apps" on the account page (issue 15, docs/design/accounts.md): every
//! client the person consented to, with the scopes, when, and whether it holds offline
//! access; "remove access" forgets the consent and revokes the client's refresh-token
//! families of that person, so the app's refresh token fails and its next sign-in asks
//! for consent again.
//!
//! Removing is an account change like the others ([`super::begin_change`]: a live
//! session, the form's single-use token, a recent sign-in). The consent goes first (no
//! new code is issued without asking from then on), then the families, twice: a code
//! redeemed while the first pass ran makes its family after that pass, and the second
//! pass catches it (as `everywhere::end_person` does for sessions).

use usher_domain::{
    ClientId, FamilyFilter, FamilyState, RevokeReason, ScopeSet, Session, UnixTime, UserId,
};

use crate::Core;
use crate::failure::{Failure, blocking};

/// One line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: ClientId,
    /// The client's registered name (its id if the client is gone meanwhile).
    pub name: String,
    /// What the person granted.
    pub scopes: ScopeSet,
    /// When the grant was made or last widened.
    pub granted_at: UnixTime,
    /// Whether the app holds a live refresh-token family with `offline_access` (it can
    /// act while the person is signed out).
    pub offline: bool,
}

/// Every app the person consented to, most recent grant first.
pub async fn list(core: &Core, user: &UserId) -> Result<Vec<ConnectedApp>, Failure> {
    let consents = core.stores.consents.clone();
    let owner = user.clone();
    let granted = blocking(move || consents.list_consents(&owner)).await?;
    let families = core
        .stores
        .families
        .list(&FamilyFilter {
            user: Some(user.clone()),
            client: None,
        })
        .await?;
    let now = core.now();
    let mut apps = Vec::with_capacity(granted.len());
    for consent in granted {
        let name = match core.client(&consent.client_id).await? {
            Some(client) => client.registration.name.as_str().to_owned(),
            None => consent.client_id.as_str().to_owned(),
        };
        let offline = families.iter().any(|f| {
            f.client_id == consent.client_id
                && f.state(now) == FamilyState::Active
                && f.scopes.contains("offline_access")
        });
        apps.push(ConnectedApp {
            client_id: consent.client_id,
            name,
            scopes: consent.scopes,
            granted_at: consent.updated_at,
            offline,
        });
    }
    Ok(apps)
}

/// What "remove access" did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// The consent is gone and this many families were revoked.
    Removed { families: usize },
    /// The person had neither a consent nor a family for that client (or the id is not
    /// a client id): nothing changed.
    NotConnected,
}

/// Removes the access of client `client` (the form's raw value) for the session's
/// person; the session passed the account gate.
pub async fn remove(
    core: &Core,
    session: &Session,
    client: &str,
) -> Result<RemoveOutcome, Failure> {
    let Some(client) = ClientId::parse(client) else {
        return Ok(RemoveOutcome::NotConnected);
    };
    let user = session.user_id.clone();
    let consents = core.stores.consents.clone();
    let (owner, app) = (user.clone(), client.clone());
    let had_consent = blocking(move || consents.delete_consent(&owner, &app)).await?;
    // Device approvals not yet claimed by a poll are taken back too: otherwise one
    // approved before the removal could still be claimed once a later approval of the
    // same app saved a consent again (grants/device_code.rs).
    let devices = core.stores.devices.clone();
    let (owner, app) = (user.clone(), client.clone());
    let denied = blocking(move || devices.deny_unclaimed_device_grants(&owner, &app)).await?;
    let mut revoked = revoke_families(core, &user, &client).await?;
    revoked += revoke_families(core, &user, &client).await?;
    if !had_consent && revoked == 0 && denied == 0 {
        return Ok(RemoveOutcome::NotConnected);
    }
    tracing::warn!(
        event = "app_access_removed",
        sub = %user,
        client_id = %client,
        families = revoked,
        device_approvals = denied,
        "the person removed an app's access"
    );
    Ok(RemoveOutcome::Removed { families: revoked })
}

/// Revokes every live family of `user` for `client`; how many this call revoked.
async fn revoke_families(core: &Core, user: &UserId, client: &ClientId) -> Result<usize, Failure> {
    let filter = FamilyFilter {
        user: Some(user.clone()),
        client: Some(client.clone()),
    };
    let now = core.now();
    let mut revoked = 0;
    for family in core.stores.families.list(&filter).await? {
        if family.revoked.is_some() {
            continue;
        }
        let outcome = core
            .stores
            .families
            .revoke(&family.id, RevokeReason::AccessRemoved, now)
            .await?;
        if outcome == usher_domain::RevokeOutcome::Revoked {
            revoked += 1;
        }
    }
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use usher_domain::ConsentStore;

    use super::*;
    use crate::testing::{FamilySpec, TestNode, registration};

    fn scopes(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[tokio::test]
    async fn apps_are_listed_with_offline_access_and_removing_one_ends_its_families_only() {
        let node = TestNode::new();
        let alice = node.person("alice");
        let bob = node.person("bob");
        node.client("app", registration());
        node.client("shop", registration());
        let (app, shop) = (
            ClientId::parse("app").unwrap(),
            ClientId::parse("shop").unwrap(),
        );
        for (user, client, scope, at) in [
            (&alice, &app, "openid offline_access", 10),
            (&alice, &shop, "openid profile", 20),
            (&bob, &app, "openid", 30),
        ] {
            node.db
                .save_consent(&user.id, client, &scopes(scope).into(), UnixTime(at))
                .unwrap();
        }
        let (offline, _) = node.family(FamilySpec::default()).await;
        let (online, _) = node
            .family(FamilySpec {
                name: "app-online",
                scope: "openid",
                ..FamilySpec::default()
            })
            .await;
        let (shops, _) = node
            .family(FamilySpec {
                name: "shop",
                client: "shop",
                ..FamilySpec::default()
            })
            .await;
        let (bobs, _) = node
            .family(FamilySpec {
                name: "bob",
                user: bob.id.as_str(),
                ..FamilySpec::default()
            })
            .await;
        let listed = list(&node.core, &alice.id).await.unwrap();
        let names: Vec<(&str, bool)> = listed
            .iter()
            .map(|a| (a.client_id.as_str(), a.offline))
            .collect();
        assert_eq!(names, [("shop", true), ("app", true)]);
        assert_eq!(listed[0].scopes, scopes("openid profile"));

        let session = node.session(&alice, "cookie", "lineage", 0);
        assert_eq!(
            remove(&node.core, &session, "app").await,
            Ok(RemoveOutcome::Removed { families: 2 })
        );
        assert_eq!(node.family_state(&offline).await, FamilyState::Revoked);
        assert_eq!(node.family_state(&online).await, FamilyState::Revoked);
        // Alice's other app and Bob's grant to the same app are untouched.
        assert_eq!(node.family_state(&shops).await, FamilyState::Active);
        assert_eq!(node.family_state(&bobs).await, FamilyState::Active);
        assert_eq!(node.db.get_consent(&alice.id, &app), Ok(None));
        assert!(node.db.get_consent(&bob.id, &app).unwrap().is_some());
        let left: Vec<_> = list(&node.core, &alice.id).await.unwrap();
        assert_eq!(left.len(), 1);
        // Again, or an app never connected, or junk: nothing changes.
        assert_eq!(
            remove(&node.core, &session, "app").await,
            Ok(RemoveOutcome::NotConnected)
        );
        assert_eq!(
            remove(&node.core, &session, "nobody").await,
            Ok(RemoveOutcome::NotConnected)
        );
        assert_eq!(
            remove(&node.core, &session, "").await,
            Ok(RemoveOutcome::NotConnected)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_removals_of_one_app_report_one_removal() {
        let node = std::sync::Arc::new(TestNode::new());
        let alice = node.person("alice");
        node.client("app", registration());
        node.db
            .save_consent(
                &alice.id,
                &ClientId::parse("app").unwrap(),
                &scopes("openid").into(),
                UnixTime(1),
            )
            .unwrap();
        let session = std::sync::Arc::new(node.session(&alice, "cookie", "lineage", 0));
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (node, session) = (node.clone(), session.clone());
            tasks.push(tokio::spawn(async move {
                remove(&node.core, &session, "app").await.unwrap()
            }));
        }
        let mut removed = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), RemoveOutcome::Removed { .. }) {
                removed += 1;
            }
        }
        assert_eq!(removed, 1);
    }
}
