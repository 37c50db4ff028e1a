//! The introspection endpoint's decision (RFC 7662): given the authenticated client and
//! the token it presents, whether the token is active and what to say about it.
//!
//! A refresh token is active when Usher minted it ([`refresh_tokens::recognise`]), its
//! family exists, is active (neither revoked nor past its absolute or idle end) and the
//! token is the family's current one (compared in constant time), and the caller is the
//! client it was issued to: a refresh token is described only to its own client. An
//! access token is active when [`verify_access_token`] accepts it for
//! [`Purpose::Introspection`]: signed by Usher, `at+jwt`, this issuer, unexpired, not
//! revoked, and the caller is its own client or a resource server (a confidential client
//! the operator created: `Client::may_introspect_others`). Everything else — garbage, another server's token, another client's token —
//! is inactive, with nothing said about why. `token_type_hint` is not read: a token is
//! recognised by its shape. A token of a person who was disabled or deleted is inactive
//! ([`Core::active_user`]). Authenticating the client and the JSON are the HTTP
//! adapter's.

use usher_domain::{AuthMethods, Client, ClientId, FamilyState, ScopeSet, UnixTime};

use crate::Core;
use crate::access_token::{AccessTokenError, Purpose, verify_access_token};
use crate::failure::Failure;
use crate::refresh_tokens;

/// The answer to an introspection request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// `{"active": false}`.
    Inactive,
    /// An active token, and what the caller may know of it.
    Active(Box<ActiveToken>),
}

/// Which kind of token an active one is (`token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An RFC 9068 access token (`Bearer`).
    Access,
    /// A refresh token of a family.
    Refresh,
}

/// The fields RFC 7662 §2.2 describes an active token with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    pub kind: TokenKind,
    pub scope: ScopeSet,
    pub client_id: ClientId,
    pub sub: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    /// Always present for a refresh token; for an access token when it carries one.
    pub auth_time: Option<UnixTime>,
    /// How the person signed in (`amr`, and `acr` from it): a refresh token's family's;
    /// an access token's when it carries one.
    pub amr: Option<AuthMethods>,
    pub iss: String,
    /// One or more audiences (sent as a string when there is one).
    pub aud: Vec<String>,
    /// The access token's `jti`; for a refresh token, the family id and the first 16
    /// characters of the token's hash (`<family>.<hash prefix>`), never the token.
    pub jti: String,
}

/// Whether `token`, presented by the authenticated `client`, is active (see the module
/// documentation). A store that cannot be read is a [`Failure`], never "inactive".
pub async fn introspect(
    core: &Core,
    client: &Client,
    token: &str,
) -> Result<Introspection, Failure> {
    let now = core.now();
    if let Some(presented) = refresh_tokens::recognise(&core.secrets, token) {
        let Some(family) = core.stores.families.get(&presented.family).await? else {
            return Ok(Introspection::Inactive);
        };
        let current = family.token_hash.len() == presented.hash.len()
            && openssl::memcmp::eq(family.token_hash.as_bytes(), presented.hash.as_bytes());
        if family.client_id != client.id || !current || family.state(now) != FamilyState::Active {
            return Ok(Introspection::Inactive);
        }
        // A disabled (or deleted) person's tokens are inactive, whatever the token.
        if core.active_user(&family.user_id).await?.is_err() {
            return Ok(Introspection::Inactive);
        }
        let short: String = presented.hash.chars().take(16).collect();
        return Ok(Introspection::Active(Box::new(ActiveToken {
            kind: TokenKind::Refresh,
            scope: family.scopes.clone(),
            client_id: family.client_id.clone(),
            sub: family.user_id.as_str().to_owned(),
            exp: family.ends_at(),
            iat: family.last_rotated_at.unwrap_or(family.created_at),
            auth_time: Some(family.auth_time),
            amr: Some(family.amr.clone()),
            iss: core.settings.issuer.as_str().to_owned(),
            aud: vec![family.client_id.as_str().to_owned()],
            jti: format!("{}.{short}", family.id),
        })));
    }
    let claims =
        match verify_access_token(core, token, Purpose::Introspection { caller: client }).await {
            Ok(claims) => claims,
            Err(AccessTokenError::Failure(f)) => return Err(f),
            Err(_) => return Ok(Introspection::Inactive),
        };
    if let Some(person) = claims.person()
        && core.active_user(&person).await?.is_err()
    {
        return Ok(Introspection::Inactive);
    }
    Ok(Introspection::Active(Box::new(ActiveToken {
        kind: TokenKind::Access,
        scope: claims.scope,
        client_id: claims.client_id,
        sub: claims.sub,
        exp: claims.exp,
        iat: claims.iat,
        auth_time: claims.auth_time,
        amr: claims.amr,
        iss: claims.iss,
        aud: claims.aud,
        jti: claims.jti,
    })))
}

#[cfg(test)]
mod tests {
    use usher_domain::{FamilyId, RegistrationInput, RevokeReason, Rotation, User};

    use super::*;
    use crate::testing::{AccessTokenSpec, FamilySpec, TestNode, registration};
    use crate::tokens::MintedAccessToken;

    /// A node with a confidential client `app` (refresh tokens), a confidential `rs`
    /// (a resource server), a public `spa`, and alice.
    fn node() -> (TestNode, Client, Client, Client, User) {
        let node = TestNode::new();
        let app = node.client("app", registration());
        let rs = node.client("rs", registration());
        let spa = node.client(
            "spa",
            RegistrationInput {
                public: true,
                redirect_uris: vec!["https://spa.example/cb".to_owned()],
                ..RegistrationInput::default()
            },
        );
        let alice = node.person("alice");
        (node, app, rs, spa, alice)
    }

    /// An access token the node signs for `client` and alice, good for ten minutes.
    fn access_token(node: &TestNode, client: &Client) -> MintedAccessToken {
        node.access_token(AccessTokenSpec {
            client: client.id.as_str(),
            audience: Some(&["https://api.example".to_owned()]),
            scope: "openid profile",
            signed_in_ago: 5,
            ..AccessTokenSpec::default()
        })
    }

    /// Starts a refresh family of `client` for alice; returns its id and first token.
    async fn family(node: &TestNode, client: &Client) -> (FamilyId, String) {
        node.family(FamilySpec {
            name: client.id.as_str(),
            client: client.id.as_str(),
            signed_in_ago: 5,
            ..FamilySpec::default()
        })
        .await
    }

    #[tokio::test]
    async fn an_access_token_is_described_to_its_own_client() {
        let (node, app, _, _, _) = node();
        let t = access_token(&node, &app);
        let Introspection::Active(active) = introspect(&node.core, &app, &t.token).await.unwrap()
        else {
            panic!("inactive");
        };
        assert_eq!(
            *active,
            ActiveToken {
                kind: TokenKind::Access,
                scope: ScopeSet::parse("openid profile").unwrap(),
                client_id: app.id.clone(),
                sub: "u-alice".to_owned(),
                exp: node.now().plus(600),
                iat: node.now(),
                auth_time: Some(node.now().plus(-5)),
                amr: Some(AuthMethods::password()),
                iss: "https://usher.example".to_owned(),
                aud: vec!["https://api.example".to_owned()],
                jti: t.jti,
            }
        );
    }

    #[tokio::test]
    async fn a_disabled_person_s_tokens_are_inactive_until_they_are_enabled() {
        use usher_domain::UserStore as _;
        let (node, app, _, _, alice) = node();
        let access = access_token(&node, &app);
        let (_, refresh) = family(&node, &app).await;
        assert!(node.db.set_disabled(&alice.id, Some(node.now())).unwrap());
        node.core.forget_user(&alice.id);
        for token in [&access.token, &refresh] {
            assert_eq!(
                introspect(&node.core, &app, token).await,
                Ok(Introspection::Inactive)
            );
        }
        assert!(node.db.set_disabled(&alice.id, None).unwrap());
        node.core.forget_user(&alice.id);
        for token in [&access.token, &refresh] {
            assert!(matches!(
                introspect(&node.core, &app, token).await,
                Ok(Introspection::Active(_))
            ));
        }
    }

    #[tokio::test]
    async fn another_clients_access_token_is_described_to_a_confidential_client_only() {
        let (node, app, rs, spa, _) = node();
        let apps = access_token(&node, &app);
        assert!(matches!(
            introspect(&node.core, &rs, &apps.token).await,
            Ok(Introspection::Active(_))
        ));
        assert_eq!(
            introspect(&node.core, &spa, &apps.token).await,
            Ok(Introspection::Inactive)
        );
        // A public client still sees its own.
        let spas = access_token(&node, &spa);
        assert!(matches!(
            introspect(&node.core, &spa, &spas.token).await,
            Ok(Introspection::Active(_))
        ));
    }

    #[tokio::test]
    async fn an_expired_or_revoked_access_token_is_inactive() {
        let (node, app, _, _, _) = node();
        let expiring = access_token(&node, &app);
        let revoked = access_token(&node, &app);
        node.core
            .revoke_jti(&revoked.jti, node.now().plus(600))
            .await
            .unwrap();
        assert_eq!(
            introspect(&node.core, &app, &revoked.token).await,
            Ok(Introspection::Inactive)
        );
        node.advance(600);
        assert_eq!(
            introspect(&node.core, &app, &expiring.token).await,
            Ok(Introspection::Inactive)
        );
    }

    #[tokio::test]
    async fn garbage_and_other_shapes_are_inactive() {
        let (node, app, _, _, _) = node();
        let (id, token) = family(&node, &app).await;
        let forged = format!("{id}.{}", "A".repeat(65));
        for garbage in [
            "",
            "garbage",
            "a.b.c",
            forged.as_str(),
            &token[..token.len() - 1],
        ] {
            assert_eq!(
                introspect(&node.core, &app, garbage).await,
                Ok(Introspection::Inactive),
                "{garbage}"
            );
        }
    }

    #[tokio::test]
    async fn a_live_refresh_token_is_described_to_its_own_client_only() {
        let (node, app, rs, _, _) = node();
        let (id, token) = family(&node, &app).await;
        let Introspection::Active(active) = introspect(&node.core, &app, &token).await.unwrap()
        else {
            panic!("inactive");
        };
        let hash = usher_keys::sha256_b64url(token.split_once('.').unwrap().1);
        assert_eq!(
            *active,
            ActiveToken {
                kind: TokenKind::Refresh,
                scope: ScopeSet::parse("openid offline_access").unwrap(),
                client_id: app.id.clone(),
                sub: "u-alice".to_owned(),
                // The nearer of the absolute and the idle end.
                exp: node.now().plus(1800),
                iat: node.now(),
                auth_time: Some(node.now().plus(-5)),
                amr: Some(AuthMethods::password()),
                iss: "https://usher.example".to_owned(),
                aud: vec!["app".to_owned()],
                jti: format!("{id}.{}", &hash[..16]),
            }
        );
        // Not even a confidential client learns of another client's refresh token.
        assert_eq!(
            introspect(&node.core, &rs, &token).await,
            Ok(Introspection::Inactive)
        );
    }

    #[tokio::test]
    async fn a_rotated_revoked_or_expired_refresh_token_is_inactive() {
        let (node, app, _, _, _) = node();
        let families = &node.core.stores.families;

        // Rotated: the old token is no longer the family's current one.
        let (id, old) = family(&node, &app).await;
        let (_, _, next_hash) = refresh_tokens::mint(&node.core.secrets, &id).unwrap();
        families
            .rotate(&Rotation {
                family: id.clone(),
                presented_hash: usher_keys::sha256_b64url(old.split_once('.').unwrap().1),
                next_hash,
                sealed_next: None,
                now: node.now(),
                idle_ttl: 1800,
                grace: 0,
            })
            .await
            .unwrap();
        assert_eq!(
            introspect(&node.core, &app, &old).await,
            Ok(Introspection::Inactive)
        );

        // Revoked.
        let other = node.client("app2", registration());
        let (id, token) = family(&node, &other).await;
        families
            .revoke(&id, RevokeReason::Revoked, node.now())
            .await
            .unwrap();
        assert_eq!(
            introspect(&node.core, &other, &token).await,
            Ok(Introspection::Inactive)
        );

        // Idle past its end.
        let third = node.client("app3", registration());
        let (_, token) = family(&node, &third).await;
        node.advance(1799);
        assert!(matches!(
            introspect(&node.core, &third, &token).await,
            Ok(Introspection::Active(_))
        ));
        node.advance(1);
        assert_eq!(
            introspect(&node.core, &third, &token).await,
            Ok(Introspection::Inactive)
        );
    }
}
