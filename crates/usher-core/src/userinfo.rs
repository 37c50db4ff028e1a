//! The userinfo endpoint's decision (OIDC Core §5.3): given the bearer token the request
//! carried, the claims of the person it speaks for, or why not.
//!
//! The token must pass [`verify_access_token`] for [`Purpose::Userinfo`] (RS256, `at+jwt`,
//! this issuer, the userinfo audience, unexpired, not revoked, a person as subject, the
//! `openid` scope), and its person must still exist. The claims are those its scope
//! allows ([`tokens::standard_claims`]: `profile` → `name`, `email` → `email` and
//! `email_verified`; `groups` → the person's groups, read now), always with `sub`. Finding the token in the request (header or
//! form) and the RFC 6750 §3 challenges that carry a refusal are the HTTP adapter's.

use openidconnect::StandardClaims;
use openidconnect::core::CoreGenderClaim;
use usher_domain::{Origin, PresentedOrigin};

use crate::Core;
use crate::access_token::{AccessTokenError, Purpose, verify_access_token};
use crate::failure::Failure;
use crate::tokens;

/// The claims userinfo returns: `sub` and what the token's scope allows, with the
/// person's groups (read now) for the `groups` scope.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserinfoClaims {
    #[serde(flatten)]
    pub standard: StandardClaims<CoreGenderClaim>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// Why userinfo answers no claims. The messages are fixed sentences, safe for an
/// `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserinfoError {
    /// RFC 6750 §3.1 `invalid_token`: the verifier refused the token (never with
    /// [`AccessTokenError::InsufficientScope`] or [`AccessTokenError::Failure`], which
    /// have their own variants).
    #[error(transparent)]
    InvalidToken(AccessTokenError),
    /// `invalid_token` too: the token is valid but its person has been deleted.
    #[error("the person no longer exists")]
    PersonGone,
    /// `invalid_token` too: the token is valid but an administrator disabled its person.
    #[error("the person's account is disabled")]
    PersonDisabled,
    /// RFC 6750 §3.1 `insufficient_scope`: a valid token without `openid`.
    #[error("the userinfo endpoint needs the openid scope")]
    InsufficientScope,
    /// RFC 6750 §3.1 `invalid_request`: the request came from a browser origin that is
    /// not one of the allowed origins of the client the token was issued to (`cors.rs`).
    #[error("{}", crate::cors::ORIGIN_REFUSED)]
    OriginRefused,
    /// A store could not be read: neither valid nor invalid.
    #[error("a store could not be read")]
    Failure(Failure),
}

/// The claims for the bearer token `token` (see the module documentation), for a
/// request without `Origin`.
pub async fn userinfo(core: &Core, token: &str) -> Result<UserinfoClaims, UserinfoError> {
    userinfo_from(core, token, &PresentedOrigin::Absent)
        .await
        .map(|(claims, _)| claims)
}

/// The claims for the bearer token `token`, for a request from `origin`: with an
/// `Origin`, it must be one of the allowed origins of the client the token was issued to
/// (`cors::check`); the origin to answer with CORS headers comes back beside the claims.
pub async fn userinfo_from(
    core: &Core,
    token: &str,
    origin: &PresentedOrigin,
) -> Result<(UserinfoClaims, Option<Origin>), UserinfoError> {
    let claims = match verify_access_token(core, token, Purpose::Userinfo).await {
        Ok(claims) => claims,
        Err(AccessTokenError::Failure(f)) => return Err(UserinfoError::Failure(f)),
        Err(AccessTokenError::InsufficientScope) => return Err(UserinfoError::InsufficientScope),
        Err(e) => return Err(UserinfoError::InvalidToken(e)),
    };
    let allowed = match origin {
        PresentedOrigin::Absent => None,
        presented => {
            let client = match core.client(&claims.client_id).await {
                Ok(Some(client)) => client,
                // A deleted client's token allows no origin.
                Ok(None) => return Err(UserinfoError::OriginRefused),
                Err(f) => return Err(UserinfoError::Failure(f)),
            };
            crate::cors::check(&client, presented).map_err(|_| UserinfoError::OriginRefused)?
        }
    };
    // Verified for this purpose: the subject is a person.
    let Some(user_id) = claims.person() else {
        return Err(UserinfoError::InvalidToken(AccessTokenError::NotAPerson));
    };
    let user = match core.active_user(&user_id).await {
        Ok(Ok(user)) => user,
        Ok(Err(crate::Inactive::Gone)) => return Err(UserinfoError::PersonGone),
        Ok(Err(crate::Inactive::Disabled)) => return Err(UserinfoError::PersonDisabled),
        Err(f) => return Err(UserinfoError::Failure(f)),
    };
    let groups = if claims.scope.contains(usher_domain::scope::GROUPS) {
        match crate::groups::groups_of(core, &user.id).await {
            Ok(groups) => Some(crate::groups::claim(&groups)),
            Err(f) => return Err(UserinfoError::Failure(f)),
        }
    } else {
        None
    };
    let standard = tokens::standard_claims(&user, &claims.scope);
    Ok((UserinfoClaims { standard, groups }, allowed))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use usher_domain::{
        Address, AddressFields, Email, PersonName, PhoneNumber, PreferredUsername, ProfileClaims,
        RegistrationInput, ScopeSet, UnixTime, User, UserStore, Username,
    };

    use super::*;
    use crate::testing::{AccessTokenSpec, TestNode};
    use crate::tokens::{IdTokenInput, MintedAccessToken};

    /// An access token the node signs for `app` and `subject`, good for ten minutes.
    fn access_token(
        node: &TestNode,
        subject: &str,
        scope: &str,
        audience: &[String],
    ) -> MintedAccessToken {
        node.access_token(AccessTokenSpec {
            subject,
            scope,
            audience: Some(audience),
            ..AccessTokenSpec::default()
        })
    }

    fn for_userinfo(node: &TestNode) -> Vec<String> {
        vec![node.core.settings.userinfo_audience()]
    }

    /// A node with the client `app` and alice, who has a name and an e-mail address.
    fn node_with_alice() -> (TestNode, User) {
        let node = TestNode::new();
        node.client(
            "app",
            RegistrationInput {
                redirect_uris: vec!["https://app.example/cb".to_owned()],
                ..RegistrationInput::default()
            },
        );
        let alice = User {
            id: usher_domain::UserId::parse("u-alice").unwrap(),
            username: Username::parse("alice").unwrap(),
            password_hash: String::new(),
            name: Some(PersonName::parse("Alice Liddell").unwrap()),
            email: Some(Email::parse("alice@example.com").unwrap()),
            email_verified: true,
            profile: ProfileClaims {
                preferred_username: None,
                phone_number: Some(PhoneNumber::parse("+64 4 555 0100").unwrap()),
                phone_number_verified: false,
                address: Address::new(&AddressFields {
                    street_address: Some("1 Main St\nFlat 2".into()),
                    country: Some("New Zealand".into()),
                    ..AddressFields::default()
                })
                .unwrap(),
            },
            created_at: UnixTime(0),
            disabled_at: None,
        };
        node.db.insert_user(&alice).unwrap();
        (node, alice)
    }

    async fn claims_for(node: &TestNode, token: &str) -> Result<Value, UserinfoError> {
        userinfo(&node.core, token)
            .await
            .map(|c| serde_json::to_value(c).unwrap())
    }

    #[tokio::test]
    async fn the_groups_scope_returns_the_person_s_groups_of_now() {
        use usher_domain::{Group, GroupName, GroupStore};
        let (node, alice) = node_with_alice();
        let sub = alice.id.as_str();
        let aud = for_userinfo(&node);
        for name in ["sales", "eng"] {
            let group = Group {
                name: GroupName::parse(name).unwrap(),
                description: None,
                created_at: UnixTime(0),
            };
            node.db.insert_group(&group).unwrap();
            node.db
                .add_member(&group.name, &alice.username, UnixTime(0))
                .unwrap();
        }
        let token = access_token(&node, sub, "openid groups", &aud).token;
        assert_eq!(
            claims_for(&node, &token).await,
            Ok(json!({ "sub": sub, "groups": ["eng", "sales"] }))
        );
        // Without the scope: no claim, not an empty one.
        let plain = access_token(&node, sub, "openid", &aud).token;
        assert_eq!(claims_for(&node, &plain).await, Ok(json!({ "sub": sub })));
        // A removal shows at the next call, with the same token.
        node.db
            .remove_member(&GroupName::parse("sales").unwrap(), &alice.username)
            .unwrap();
        assert_eq!(
            claims_for(&node, &token).await,
            Ok(json!({ "sub": sub, "groups": ["eng"] }))
        );
    }

    #[tokio::test]
    async fn with_an_origin_the_tokens_client_must_own_it() {
        let (node, alice) = node_with_alice();
        node.client(
            "other",
            RegistrationInput {
                redirect_uris: vec!["https://other.example/cb".to_owned()],
                ..RegistrationInput::default()
            },
        );
        let token = access_token(&node, alice.id.as_str(), "openid", &for_userinfo(&node)).token;
        let from = |raw: &str| PresentedOrigin::from_header_values([Some(raw)].into_iter());
        let (_, allowed) = userinfo_from(&node.core, &token, &from("https://app.example"))
            .await
            .unwrap();
        assert_eq!(allowed, Some(Origin::parse("https://app.example").unwrap()));
        let (_, allowed) = userinfo_from(&node.core, &token, &PresentedOrigin::Absent)
            .await
            .unwrap();
        assert_eq!(allowed, None);
        for refused in ["https://other.example", "null", "https://evil.example"] {
            assert_eq!(
                userinfo_from(&node.core, &token, &from(refused))
                    .await
                    .map(|_| ()),
                Err(UserinfoError::OriginRefused),
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn the_scope_decides_which_claims_besides_sub_are_returned() {
        let (node, alice) = node_with_alice();
        let sub = alice.id.as_str();
        let aud = for_userinfo(&node);
        let cases = [
            ("openid", json!({ "sub": sub })),
            (
                "openid profile",
                json!({ "sub": sub, "name": "Alice Liddell", "preferred_username": "alice" }),
            ),
            (
                "openid phone",
                json!({ "sub": sub, "phone_number": "+6445550100", "phone_number_verified": false }),
            ),
            (
                "openid address",
                json!({ "sub": sub, "address": {
                    "street_address": "1 Main St\nFlat 2", "country": "New Zealand",
                } }),
            ),
            (
                "openid email",
                json!({ "sub": sub, "email": "alice@example.com", "email_verified": true }),
            ),
            (
                "openid profile email",
                json!({
                    "sub": sub, "name": "Alice Liddell", "preferred_username": "alice",
                    "email": "alice@example.com", "email_verified": true,
                }),
            ),
        ];
        for (scope, expected) in cases {
            let token = access_token(&node, sub, scope, &aud).token;
            assert_eq!(claims_for(&node, &token).await, Ok(expected), "{scope}");
        }
        // A preferred username of their own replaces the login username; a person
        // without a phone number or address gets neither claim, not an empty one.
        let mut changed = alice.clone();
        changed.profile = ProfileClaims {
            preferred_username: Some(PreferredUsername::parse("Al").unwrap()),
            ..ProfileClaims::default()
        };
        node.db.delete_user(&alice.username).unwrap();
        node.db.insert_user(&changed).unwrap();
        node.core.forget_user(&alice.id);
        let token = access_token(&node, sub, "openid profile phone address", &aud).token;
        assert_eq!(
            claims_for(&node, &token).await,
            Ok(json!({ "sub": sub, "name": "Alice Liddell", "preferred_username": "Al" }))
        );
    }

    #[tokio::test]
    async fn a_token_without_openid_has_insufficient_scope() {
        let (node, alice) = node_with_alice();
        let token = access_token(&node, alice.id.as_str(), "profile", &for_userinfo(&node));
        assert_eq!(
            claims_for(&node, &token.token).await,
            Err(UserinfoError::InsufficientScope)
        );
        // The same sentence the verifier gives.
        assert_eq!(
            UserinfoError::InsufficientScope.to_string(),
            AccessTokenError::InsufficientScope.to_string()
        );
    }

    #[tokio::test]
    async fn a_token_for_another_audience_is_an_invalid_token() {
        let (node, alice) = node_with_alice();
        let api = vec!["https://api.example".to_owned()];
        let token = access_token(&node, alice.id.as_str(), "openid", &api);
        let refused = claims_for(&node, &token.token).await;
        assert_eq!(
            refused,
            Err(UserinfoError::InvalidToken(AccessTokenError::WrongAudience))
        );
        assert_eq!(
            refused.unwrap_err().to_string(),
            "the access token is not meant for the userinfo endpoint"
        );
    }

    #[tokio::test]
    async fn an_expired_token_is_an_invalid_token() {
        let (node, alice) = node_with_alice();
        let token = access_token(&node, alice.id.as_str(), "openid", &for_userinfo(&node));
        node.advance(599);
        assert!(claims_for(&node, &token.token).await.is_ok());
        node.advance(1);
        assert_eq!(
            claims_for(&node, &token.token).await,
            Err(UserinfoError::InvalidToken(AccessTokenError::Expired))
        );
    }

    #[tokio::test]
    async fn a_revoked_token_is_an_invalid_token() {
        let (node, alice) = node_with_alice();
        let token = access_token(&node, alice.id.as_str(), "openid", &for_userinfo(&node));
        node.core
            .revoke_jti(&token.jti, node.now().plus(600))
            .await
            .unwrap();
        assert_eq!(
            claims_for(&node, &token.token).await,
            Err(UserinfoError::InvalidToken(AccessTokenError::Revoked))
        );
    }

    #[tokio::test]
    async fn an_id_token_is_not_accepted_as_an_access_token() {
        let (node, alice) = node_with_alice();
        let access = access_token(&node, alice.id.as_str(), "openid", &for_userinfo(&node));
        let id_token = tokens::id_token(
            &node.core.published_keys(),
            &IdTokenInput {
                alg: usher_domain::SigningAlg::Rs256,
                issuer: node.core.settings.issuer.as_str(),
                client_id: "app",
                user: &alice,
                scope: &ScopeSet::parse("openid").unwrap(),
                nonce: None,
                auth_time: node.now(),
                amr: &usher_domain::AuthMethods::password(),
                issued_at: node.now(),
                expires_at: node.now().plus(600),
                access_token: &access.token,
                sid: None,
                groups: None,
            },
        )
        .unwrap();
        assert_eq!(
            claims_for(&node, &id_token).await,
            Err(UserinfoError::InvalidToken(
                AccessTokenError::NotAnAccessToken
            ))
        );
    }

    #[tokio::test]
    async fn garbage_is_an_invalid_token() {
        let (node, _) = node_with_alice();
        for garbage in ["", "garbage", "a.b.c"] {
            assert_eq!(
                claims_for(&node, garbage).await,
                Err(UserinfoError::InvalidToken(AccessTokenError::BadSignature)),
                "{garbage}"
            );
        }
    }

    #[tokio::test]
    async fn a_token_of_a_disabled_person_is_an_invalid_token() {
        let (node, alice) = node_with_alice();
        let token = access_token(&node, alice.id.as_str(), "openid", &for_userinfo(&node));
        assert!(node.db.set_disabled(&alice.id, Some(node.now())).unwrap());
        node.core.forget_user(&alice.id);
        let refused = claims_for(&node, &token.token).await;
        assert_eq!(refused, Err(UserinfoError::PersonDisabled));
        assert_eq!(
            refused.unwrap_err().to_string(),
            "the person's account is disabled"
        );
    }

    #[tokio::test]
    async fn a_token_of_a_deleted_person_is_an_invalid_token() {
        let (node, alice) = node_with_alice();
        let token = access_token(&node, alice.id.as_str(), "openid", &for_userinfo(&node));
        assert!(claims_for(&node, &token.token).await.is_ok());
        assert!(node.db.delete_user(&alice.username).unwrap());
        let refused = claims_for(&node, &token.token).await;
        assert_eq!(refused, Err(UserinfoError::PersonGone));
        assert_eq!(
            refused.unwrap_err().to_string(),
            "the person no longer exists"
        );
    }
}
