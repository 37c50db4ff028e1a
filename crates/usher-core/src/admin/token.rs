//! An admin API access token for a person, taken in the console (`/admin/token`): the
//! issue's "from a person in `usher-admins` through the console". It lets an operator
//! who signed in to the console script the admin API (curl, a notebook) as themselves,
//! without a `client_credentials` client of their own.
//!
//! The token is an ordinary RFC 9068 access token minted by [`crate::tokens::access_token`]
//! (the token endpoint's own code): `sub` the person, `client_id` the console's built-in
//! client `usher-account`, `aud` `<issuer>/admin` alone, `scope` `admin:read` or
//! `admin:read admin:write`, `auth_time`/`amr` of the console's sign-in, and a lifetime
//! of [`PERSON_TOKEN_TTL`] (never past the console session's end). The built-in client is
//! registered for neither the admin audience nor the admin scopes, so the token endpoint
//! can never issue it such a token: this function is the only way to get one, and
//! [`super::auth`] accepts a token of the built-in client only for a person, only with
//! the scope it carries, and only while that person is in `usher-admins`.
//!
//! It is shown once (the page after the POST, `Cache-Control: no-store`), never stored,
//! never logged; the audit trail's `admin.token_issued` names the person, the scope, the
//! expiry and the `jti`, never the token.

use usher_domain::{AuditKind, GroupName, ScopeSet, Session, UnixTime, User};

use super::auth::{ADMIN_READ, ADMIN_WRITE, admin_audience};
use super::{AdminError, AdminStores, By, rfc3339};
use crate::Core;
use crate::account::client::ACCOUNT_CLIENT_ID;
use crate::failure::{Failure, blocking};
use crate::tokens::{AccessTokenInput, access_token};

/// How long a person's admin token lives: long enough for a scripted task, short enough
/// that a token pasted somewhere it should not be is soon worthless (an access token
/// cannot be recalled one by one; removal from `usher-admins` stops it at once).
pub const PERSON_TOKEN_TTL: i64 = 15 * 60;

/// What the token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAccess {
    /// `admin:read`.
    Read,
    /// `admin:read admin:write`.
    ReadWrite,
}

impl TokenAccess {
    /// The form's value: `read` or `write`.
    pub fn parse(raw: &str) -> Result<TokenAccess, AdminError> {
        match raw.trim() {
            "read" => Ok(TokenAccess::Read),
            "write" => Ok(TokenAccess::ReadWrite),
            other => Err(AdminError::Invalid(format!(
                "{other:?} is not an access: choose read or write"
            ))),
        }
    }

    fn scope(self) -> ScopeSet {
        let text = match self {
            TokenAccess::Read => ADMIN_READ.to_owned(),
            TokenAccess::ReadWrite => format!("{ADMIN_READ} {ADMIN_WRITE}"),
        };
        ScopeSet::parse(&text).unwrap_or_default()
    }
}

/// A person's admin token, to show once (`Debug` leaves the token out).
#[derive(Clone, PartialEq, Eq)]
pub struct PersonToken {
    pub access_token: String,
    pub scope: String,
    /// RFC 3339.
    pub expires_at: String,
    pub expires_in: i64,
}

impl std::fmt::Debug for PersonToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonToken")
            .field("access_token", &"[redacted]")
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Mints an admin API token for `person`, signed in with `session`, if they are a
/// member of `usher-admins` now (read here, whatever the caller checked before).
pub async fn mint(
    core: &Core,
    person: &User,
    session: &Session,
    access: TokenAccess,
    by: &By,
) -> Result<PersonToken, AdminError> {
    if session.user_id != person.id {
        return Err(AdminError::Failure(Failure::Internal));
    }
    let groups = core.stores.groups.clone();
    let who = person.id.clone();
    let memberships = blocking(move || groups.groups_of(&who))
        .await
        .map_err(AdminError::Failure)?;
    if !memberships.contains(&GroupName::admins()) {
        return Err(AdminError::Conflict(format!(
            "{} is not a member of usher-admins",
            person.username
        )));
    }
    let now = core.now();
    let expires_at = UnixTime(
        now.plus(PERSON_TOKEN_TTL)
            .seconds()
            .min(session.expires_at.seconds()),
    );
    if expires_at <= now {
        return Err(AdminError::Conflict(
            "the console session ends now: sign in again".to_owned(),
        ));
    }
    let settings = &core.settings;
    let scope = access.scope();
    let audience = vec![admin_audience(&settings.issuer)];
    let minted = access_token(
        &core.published_keys().ring,
        &AccessTokenInput {
            alg: settings.access_token_alg,
            issuer: settings.issuer.as_str(),
            subject: person.id.as_str(),
            audience: &audience,
            client_id: ACCOUNT_CLIENT_ID,
            scope: &scope,
            auth_time: Some(session.auth_time),
            amr: Some(&session.amr),
            groups: None,
            issued_at: now,
            expires_at,
        },
    )
    .map_err(|cause| {
        tracing::error!(%cause, "cannot sign a person's admin token");
        AdminError::Failure(Failure::Internal)
    })?;
    tracing::info!(
        event = "admin_token_issued",
        sub = %person.id,
        scope = %scope,
        "an admin API token was issued to a person through the console"
    );
    let event = by
        .event(AuditKind::AdminTokenIssued)
        .person(&person.id)
        .client(
            &usher_domain::ClientId::parse(ACCOUNT_CLIENT_ID)
                .ok_or(AdminError::Failure(Failure::Internal))?,
        )
        .target(&minted.jti)
        .detail(serde_json::json!({
            "scope": scope.to_string(),
            "expires_at": rfc3339(expires_at),
        }));
    // Recorded before the token is handed over: a write credential never leaves without
    // its trace (if the trail cannot be written, the token is never shown, so it is
    // harmless).
    let stores = AdminStores::of(core);
    super::run(move || Ok(stores.audit.record_event(&event)?)).await?;
    Ok(PersonToken {
        access_token: minted.token,
        scope: scope.to_string(),
        expires_at: rfc3339(expires_at),
        expires_in: expires_at.seconds() - now.seconds(),
    })
}

#[cfg(test)]
mod tests {
    use usher_domain::{AuditActor, ClientId, GroupStore as _};

    use super::*;
    use crate::admin::auth::{AdminAuthError, AdminCaller, Need, authorize};
    use crate::testing::{AccessTokenSpec, TestNode};

    fn by(node: &TestNode, person: &User) -> By {
        By {
            actor: AuditActor::Person(person.id.clone()),
            address: None,
            at: node.now(),
        }
    }

    fn claims(token: &str) -> serde_json::Value {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_member_gets_a_short_token_the_admin_api_takes_while_they_stay_a_member() {
        let node = TestNode::new();
        let alice = node.person("alice");
        let session = node.session(&alice, "cookie-a", "lineage-a", 0);
        let core = &node.core;
        // Not a member: nothing minted.
        assert!(matches!(
            mint(
                core,
                &alice,
                &session,
                TokenAccess::ReadWrite,
                &by(&node, &alice)
            )
            .await,
            Err(AdminError::Conflict(_))
        ));
        node.db
            .add_member(&GroupName::admins(), &alice.username, node.now())
            .unwrap();
        let read = mint(
            core,
            &alice,
            &session,
            TokenAccess::Read,
            &by(&node, &alice),
        )
        .await
        .unwrap();
        assert_eq!(read.scope, "admin:read");
        assert_eq!(read.expires_in, PERSON_TOKEN_TTL);
        let c = claims(&read.access_token);
        assert_eq!(c["sub"], alice.id.as_str());
        assert_eq!(c["client_id"], ACCOUNT_CLIENT_ID);
        assert_eq!(c["aud"], admin_audience(&core.settings.issuer));
        assert_eq!(c["exp"], node.now().plus(PERSON_TOKEN_TTL).seconds());
        let caller = authorize(core, Some(&read.access_token), Need::Read).await;
        assert_eq!(
            caller,
            Ok(AdminCaller::Person {
                id: alice.id.clone(),
                client: ClientId::parse(ACCOUNT_CLIENT_ID).unwrap()
            })
        );
        // admin:read only: no change.
        assert_eq!(
            authorize(core, Some(&read.access_token), Need::Write).await,
            Err(AdminAuthError::InsufficientScope(ADMIN_WRITE))
        );
        let write = mint(
            core,
            &alice,
            &session,
            TokenAccess::ReadWrite,
            &by(&node, &alice),
        )
        .await
        .unwrap();
        assert_eq!(write.scope, "admin:read admin:write");
        assert!(
            authorize(core, Some(&write.access_token), Need::Write)
                .await
                .is_ok()
        );
        // The trail names the person, the scope and the expiry, never the token.
        let issued: Vec<_> = node
            .audit_events()
            .into_iter()
            .filter(|e| e.event.kind == AuditKind::AdminTokenIssued)
            .collect();
        assert_eq!(issued.len(), 2);
        assert_eq!(issued[1].event.actor, AuditActor::Person(alice.id.clone()));
        assert_eq!(issued[1].event.person.as_ref(), Some(&alice.id));
        assert_eq!(
            issued[1].event.detail.as_map().get("scope"),
            Some(&serde_json::json!("admin:read admin:write"))
        );
        let trail = format!("{:?}", node.audit_events());
        assert!(!trail.contains(&write.access_token));
        // Removed from usher-admins: the token they hold is refused at once.
        node.db
            .remove_member(&GroupName::admins(), &alice.username)
            .unwrap();
        assert_eq!(
            authorize(core, Some(&write.access_token), Need::Read).await,
            Err(AdminAuthError::NotAnAdmin)
        );
        // Past its lifetime: expired.
        node.db
            .add_member(&GroupName::admins(), &alice.username, node.now())
            .unwrap();
        node.advance(PERSON_TOKEN_TTL);
        assert!(matches!(
            authorize(core, Some(&write.access_token), Need::Read).await,
            Err(AdminAuthError::InvalidToken(_))
        ));
    }

    #[tokio::test]
    async fn the_token_ends_with_the_console_sign_in_it_was_taken_from() {
        let node = TestNode::new();
        let alice = node.person("alice");
        node.db
            .add_member(&GroupName::admins(), &alice.username, node.now())
            .unwrap();
        let session = node.session(&alice, "cookie-a", "lineage-a", 0);
        let core = &node.core;
        let token = mint(
            core,
            &alice,
            &session,
            TokenAccess::ReadWrite,
            &by(&node, &alice),
        )
        .await
        .unwrap()
        .access_token;
        assert!(authorize(core, Some(&token), Need::Write).await.is_ok());
        // Another session of hers, signed in at another time, does not keep it alive.
        node.advance(5);
        node.session(&alice, "cookie-b", "lineage-b", 0);
        // The console session ends (signed out, or ended by an administrator).
        use usher_domain::SessionStore as _;
        assert!(node.db.delete_session(&session.id_hash).unwrap());
        assert!(matches!(
            authorize(core, Some(&token), Need::Read).await,
            Err(AdminAuthError::InvalidToken(_))
        ));
    }

    #[tokio::test]
    async fn no_token_is_handed_over_when_its_trace_cannot_be_written() {
        let node = TestNode::new();
        let alice = node.person("alice");
        node.db
            .add_member(&GroupName::admins(), &alice.username, node.now())
            .unwrap();
        let session = node.session(&alice, "cookie-a", "lineage-a", 0);
        node.break_audit_trail();
        assert!(matches!(
            mint(
                &node.core,
                &alice,
                &session,
                TokenAccess::Read,
                &by(&node, &alice)
            )
            .await,
            Err(AdminError::Failure(_))
        ));
    }

    #[tokio::test]
    async fn the_token_never_outlives_the_console_session_nor_is_minted_for_another_person() {
        let node = TestNode::new();
        let alice = node.person("alice");
        let bob = node.person("bob");
        node.db
            .add_member(&GroupName::admins(), &alice.username, node.now())
            .unwrap();
        let mut session = node.session(&alice, "cookie-a", "lineage-a", 0);
        session.expires_at = node.now().plus(60);
        let token = mint(
            &node.core,
            &alice,
            &session,
            TokenAccess::Read,
            &by(&node, &alice),
        )
        .await
        .unwrap();
        assert_eq!(token.expires_in, 60);
        assert!(
            mint(
                &node.core,
                &bob,
                &session,
                TokenAccess::Read,
                &by(&node, &bob)
            )
            .await
            .is_err()
        );
        assert!(TokenAccess::parse("admin").is_err());
    }

    #[tokio::test]
    async fn a_persons_token_of_the_console_client_opens_the_api_only_as_minted_here() {
        let node = TestNode::new();
        let alice = node.person("alice");
        node.db
            .add_member(&GroupName::admins(), &alice.username, node.now())
            .unwrap();
        let core = &node.core;
        let admin = vec![admin_audience(&core.settings.issuer)];
        // The console client's token for userinfo, with admin scopes: not for the API.
        let userinfo = node
            .access_token(AccessTokenSpec {
                client: ACCOUNT_CLIENT_ID,
                subject: alice.id.as_str(),
                scope: "openid admin:write",
                ..Default::default()
            })
            .token;
        assert!(matches!(
            authorize(core, Some(&userinfo), Need::Read).await,
            Err(AdminAuthError::InvalidToken(_))
        ));
        // Another client's person token for the admin audience, the client not
        // registered for it: refused as before.
        node.client("app", crate::testing::registration());
        let other = node
            .access_token(AccessTokenSpec {
                client: "app",
                subject: alice.id.as_str(),
                audience: Some(&admin),
                scope: "admin:write",
                ..Default::default()
            })
            .token;
        assert_eq!(
            authorize(core, Some(&other), Need::Read).await,
            Err(AdminAuthError::NotAnAdmin)
        );
        // The console client's token without a person's sign-in: refused.
        let keys = core.published_keys();
        let scope = ScopeSet::parse("admin:write").unwrap();
        let unsigned_in = access_token(
            &keys.ring,
            &AccessTokenInput {
                alg: core.settings.access_token_alg,
                issuer: core.settings.issuer.as_str(),
                subject: ACCOUNT_CLIENT_ID,
                audience: &admin,
                client_id: ACCOUNT_CLIENT_ID,
                scope: &scope,
                auth_time: None,
                amr: None,
                groups: None,
                issued_at: node.now(),
                expires_at: node.now().plus(60),
            },
        )
        .unwrap()
        .token;
        assert_eq!(
            authorize(core, Some(&unsigned_in), Need::Read).await,
            Err(AdminAuthError::NotAnAdmin)
        );
    }
}
