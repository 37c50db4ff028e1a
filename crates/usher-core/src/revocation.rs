//! The revocation endpoint's decision (RFC 7009): given the authenticated client and the
//! token it presents, what to revoke.
//!
//! A refresh token Usher minted ([`refresh_tokens::recognise`]) whose family belongs to
//! the client revokes the whole family (any of its tokens, current or not, names it). An
//! access token that [`verify_access_token`] accepts for [`Purpose::Revocation`] — the
//! client's own, live — has its `jti` revoked until it expires, so Usher's own endpoints
//! (userinfo, introspection) refuse it. Anything else — garbage, an unknown family, a
//! token already dead, another client's token — revokes nothing and is no error (RFC
//! 7009 §2.2: the answer tells a caller nothing about tokens it does not hold). Only a
//! store that cannot be written is a failure, which the client may retry (§2.2.1).
//! `token_type_hint` is not read: a token is recognised by its shape. Authenticating the
//! client and the response are the HTTP adapter's.

use usher_domain::{Client, FamilyId, RevokeReason};

use crate::Core;
use crate::access_token::{AccessTokenError, Purpose, verify_access_token};
use crate::failure::Failure;
use crate::refresh_tokens;

/// What a revocation request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The refresh-token family the token belongs to is revoked.
    Family(FamilyId),
    /// The access token with this `jti` is revoked until it expires.
    AccessToken { jti: String },
    /// Nothing was revoked, and the client is not told why.
    Nothing(NothingRevoked),
}

/// Why a revocation request revoked nothing (for tests and logs, never for the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NothingRevoked {
    /// A refresh token of a family that does not exist (any more).
    UnknownFamily,
    /// A refresh token of another client's family.
    OtherClientsRefreshToken,
    /// An access token issued to another client.
    OtherClientsAccessToken,
    /// Not a live access token of this server: garbage, expired, already revoked, ….
    NotALiveToken,
}

/// Revokes what `token` names, if it is `client`'s (see the module documentation).
pub async fn revoke(core: &Core, client: &Client, token: &str) -> Result<Revocation, Failure> {
    let now = core.now();
    if let Some(presented) = refresh_tokens::recognise(&core.secrets, token) {
        let families = &core.stores.families;
        let Some(family) = families.get(&presented.family).await? else {
            return Ok(Revocation::Nothing(NothingRevoked::UnknownFamily));
        };
        if family.client_id != client.id {
            tracing::info!(client_id = %client.id, family_id = %family.id, "a client tried to revoke another client's refresh token; nothing revoked");
            return Ok(Revocation::Nothing(
                NothingRevoked::OtherClientsRefreshToken,
            ));
        }
        families
            .revoke(&family.id, RevokeReason::Revoked, now)
            .await?;
        tracing::info!(client_id = %client.id, family_id = %family.id, "refresh-token family revoked by its client");
        return Ok(Revocation::Family(family.id));
    }
    let claims = match verify_access_token(core, token, Purpose::Revocation { caller: client })
        .await
    {
        Ok(claims) => claims,
        Err(AccessTokenError::OtherClient) => {
            tracing::info!(client_id = %client.id, "a client tried to revoke another client's access token; nothing revoked");
            return Ok(Revocation::Nothing(NothingRevoked::OtherClientsAccessToken));
        }
        Err(AccessTokenError::Failure(f)) => return Err(f),
        // Not a live access token of this server: nothing to revoke (RFC 7009 §2.2).
        Err(_) => return Ok(Revocation::Nothing(NothingRevoked::NotALiveToken)),
    };
    core.revoke_jti(&claims.jti, claims.exp).await?;
    tracing::info!(client_id = %client.id, "access token revoked by its client");
    Ok(Revocation::AccessToken { jti: claims.jti })
}

#[cfg(test)]
mod tests {
    use usher_domain::FamilyState;

    use super::*;
    use crate::testing::{AccessTokenSpec, FamilySpec, TestNode, registration};
    use crate::tokens::MintedAccessToken;

    /// A node with the confidential clients `app` and `other`, and alice.
    fn node() -> (TestNode, Client, Client) {
        let node = TestNode::new();
        let app = node.client("app", registration());
        let other = node.client("other", registration());
        node.person("alice");
        (node, app, other)
    }

    /// An access token the node signs for `client` and alice, good for ten minutes.
    fn access_token(node: &TestNode, client: &Client) -> MintedAccessToken {
        node.access_token(AccessTokenSpec {
            client: client.id.as_str(),
            ..AccessTokenSpec::default()
        })
    }

    /// Starts a refresh family of `client` for alice; returns its id and first token.
    async fn family(node: &TestNode, client: &Client) -> (FamilyId, String) {
        node.family(FamilySpec {
            name: client.id.as_str(),
            client: client.id.as_str(),
            ..FamilySpec::default()
        })
        .await
    }

    #[tokio::test]
    async fn a_client_revokes_its_own_access_token_and_it_no_longer_verifies() {
        let (node, app, _) = node();
        let t = access_token(&node, &app);
        assert!(
            verify_access_token(&node.core, &t.token, Purpose::Userinfo)
                .await
                .is_ok()
        );
        assert_eq!(
            revoke(&node.core, &app, &t.token).await,
            Ok(Revocation::AccessToken { jti: t.jti.clone() })
        );
        assert_eq!(
            verify_access_token(&node.core, &t.token, Purpose::Userinfo).await,
            Err(AccessTokenError::Revoked)
        );
        // Revoking it again finds no live token.
        assert_eq!(
            revoke(&node.core, &app, &t.token).await,
            Ok(Revocation::Nothing(NothingRevoked::NotALiveToken))
        );
    }

    #[tokio::test]
    async fn another_clients_access_token_is_left_alone() {
        let (node, app, other) = node();
        let t = access_token(&node, &app);
        assert_eq!(
            revoke(&node.core, &other, &t.token).await,
            Ok(Revocation::Nothing(NothingRevoked::OtherClientsAccessToken))
        );
        assert!(!node.core.is_jti_revoked(&t.jti).await.unwrap());
        assert!(
            verify_access_token(&node.core, &t.token, Purpose::Userinfo)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_refresh_token_revokes_its_whole_family() {
        let (node, app, _) = node();
        let (id, token) = family(&node, &app).await;
        let (untouched, _) = family(&node, &node.client("third", registration())).await;
        assert_eq!(node.family_state(&id).await, FamilyState::Active);
        assert_eq!(
            revoke(&node.core, &app, &token).await,
            Ok(Revocation::Family(id.clone()))
        );
        assert_eq!(node.family_state(&id).await, FamilyState::Revoked);
        assert_eq!(node.family_state(&untouched).await, FamilyState::Active);
    }

    #[tokio::test]
    async fn another_clients_refresh_token_is_left_alone() {
        let (node, app, other) = node();
        let (id, token) = family(&node, &app).await;
        assert_eq!(
            revoke(&node.core, &other, &token).await,
            Ok(Revocation::Nothing(
                NothingRevoked::OtherClientsRefreshToken
            ))
        );
        assert_eq!(node.family_state(&id).await, FamilyState::Active);
    }

    #[tokio::test]
    async fn an_unknown_token_revokes_nothing_and_is_no_error() {
        let (node, app, _) = node();
        let nobody = FamilyId::parse("fam-nobody-000000000").unwrap();
        let (unknown_family, _, _) = refresh_tokens::mint(&node.core.secrets, &nobody).unwrap();
        assert_eq!(
            revoke(&node.core, &app, &unknown_family).await,
            Ok(Revocation::Nothing(NothingRevoked::UnknownFamily))
        );
        let expired = access_token(&node, &app);
        node.advance(600);
        for token in ["", "garbage", "a.b.c", expired.token.as_str()] {
            assert_eq!(
                revoke(&node.core, &app, token).await,
                Ok(Revocation::Nothing(NothingRevoked::NotALiveToken)),
                "{token}"
            );
        }
    }
}
