//! Refresh-token families: list (by person, by client) and revoke — `usher families …`
//! and `/admin/api/v1/families`. The family store is the embedded database or Redis.

use usher_domain::{
    ClientId, Family, FamilyFilter, FamilyId, FamilyStore, RevokeReason, UnixTime, Username,
};

use super::page::{Page, PageRequest, paginate};
use super::{AdminError, AdminStores, By, rfc3339};

/// A family as shown: never a token or its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FamilyView {
    pub id: String,
    pub client_id: String,
    /// The person's id (or the client's, for a client acting for itself).
    pub subject: String,
    pub scope: String,
    pub created_at: String,
    pub last_rotated_at: Option<String>,
    pub expires_at: String,
    /// `active`, `idle`, `expired` or `revoked`.
    pub state: String,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
}

impl FamilyView {
    pub fn of(f: &Family, now: UnixTime) -> FamilyView {
        FamilyView {
            id: f.id.as_str().to_owned(),
            client_id: f.client_id.as_str().to_owned(),
            subject: f.user_id.as_str().to_owned(),
            scope: f.scopes.to_string(),
            created_at: rfc3339(f.created_at),
            last_rotated_at: f.last_rotated_at.map(rfc3339),
            expires_at: rfc3339(f.ends_at()),
            state: f.state(now).as_str().to_owned(),
            revoked_at: f.revoked.map(|r| rfc3339(r.at)),
            revoked_reason: f.revoked.map(|r| r.reason.as_str().to_owned()),
        }
    }
}

pub fn parse_id(raw: &str) -> Result<FamilyId, AdminError> {
    FamilyId::parse(raw)
        .ok_or_else(|| AdminError::Invalid(format!("{raw:?} is not a refresh-token family id")))
}

pub fn parse_client(raw: &str) -> Result<ClientId, AdminError> {
    ClientId::parse(raw).ok_or_else(|| AdminError::Invalid(format!("{raw:?} is not a client id")))
}

/// The families of `username` and/or `client` (every family when neither is given).
pub async fn list(
    stores: &AdminStores,
    families: &dyn FamilyStore,
    username: Option<Username>,
    client: Option<ClientId>,
    page: &PageRequest,
    now: UnixTime,
) -> Result<Page<FamilyView>, AdminError> {
    let user = match username {
        None => None,
        Some(name) => {
            let users = stores.users.clone();
            let found = super::run(move || {
                users
                    .find_user(&name)?
                    .map(|u| u.id)
                    .ok_or_else(|| AdminError::NotFound(format!("no user {name}")))
            })
            .await?;
            Some(found)
        }
    };
    let listed = families.list(&FamilyFilter { user, client }).await?;
    let views = listed.iter().map(|f| FamilyView::of(f, now)).collect();
    Ok(paginate(views, |v: &FamilyView| v.id.as_str(), page))
}

/// Revokes family `id`: its refresh token stops working at once. The one
/// `family.revoked` event (reason `admin`) names `by`'s actor: the audited family store
/// writes it ([`FamilyStore::revoke_as`]), so it is written once, whoever asks.
pub async fn revoke(families: &dyn FamilyStore, id: &FamilyId, by: &By) -> Result<(), AdminError> {
    if !families
        .revoke_as(id, RevokeReason::Admin, by.at, &by.actor)
        .await?
        .exists()
    {
        return Err(AdminError::NotFound(format!(
            "no refresh-token family {id}"
        )));
    }
    tracing::info!(family_id = %id, "refresh-token family revoked by an administrator");
    Ok(())
}

#[cfg(test)]
mod tests {
    use usher_domain::{AuditActor, AuditKind, FamilyState};

    use super::*;
    use crate::testing::{FamilySpec, TestNode};

    #[tokio::test]
    async fn an_administrators_revocation_is_written_once_naming_them() {
        let node = TestNode::new();
        let root = node.person("root");
        let (id, _) = node.family(FamilySpec::default()).await;
        let by = By {
            actor: AuditActor::Person(root.id.clone()),
            address: None,
            at: node.now(),
        };
        revoke(node.core.stores.families.as_ref(), &id, &by)
            .await
            .unwrap();
        assert_eq!(node.family_state(&id).await, FamilyState::Revoked);
        // Again: nothing more revoked, nothing more written.
        revoke(node.core.stores.families.as_ref(), &id, &by)
            .await
            .unwrap();
        let revoked: Vec<_> = node
            .audit_events()
            .into_iter()
            .filter(|e| e.event.kind == AuditKind::FamilyRevoked)
            .collect();
        assert_eq!(revoked.len(), 1);
        let event = &revoked[0].event;
        assert_eq!(event.actor, AuditActor::Person(root.id.clone()));
        assert_eq!(event.target.as_deref(), Some(id.as_str()));
        assert_eq!(
            event.detail.as_map().get("reason"),
            Some(&serde_json::json!("admin"))
        );
        let unknown = FamilyId::parse("fam-unknown-000000000000").unwrap();
        assert!(matches!(
            revoke(node.core.stores.families.as_ref(), &unknown, &by).await,
            Err(AdminError::NotFound(_))
        ));
    }
}
