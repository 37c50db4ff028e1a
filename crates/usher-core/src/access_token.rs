//! The one verifier of access tokens (RFC 9068) that Usher's own endpoints accept:
//! userinfo, introspection and revocation all call [`verify_access_token`].
//!
//! Every caller gets the same checks: an RS256 signature by a published key (algorithm
//! pinned, key chosen by `kid`, in `usher-keys`), the header `typ` `at+jwt` (so an ID
//! token is never taken for an access token), `iss` this issuer, the claims RFC 9068 §2.2
//! requires in the shape Usher writes them, `exp` in the future by the node's clock, and
//! a `jti` that has not been revoked. The [`Purpose`] adds what one caller needs: the
//! userinfo audience, a person as subject and the `openid` scope for userinfo; the
//! calling client's right to see or revoke the token for introspection and revocation.
//!
//! The module names no actix type: the node's keys, issuer, clock and revoked-token set
//! arrive through [`AccessTokenContext`], so it can move to a crate without the web
//! framework, and its rules are unit-tested here without a server. What a refusal looks
//! like on the wire (401, 403, `{"active":false}`, a silent 200) is each endpoint's
//! business.

use std::sync::Arc;

use serde_json::{Map, Value};
use usher_domain::{Amr, AuthMethods, Client, ClientId, ScopeSet, UnixTime, UserId};

use crate::Core;
use crate::failure::Failure;
use crate::keys::PublishedKeys;
use crate::tokens::ACCESS_TOKEN_TYP;

/// What the verifier needs from the node: [`Core`] in the server, a double in the tests
/// below. (`async fn` in a public trait: no caller needs a `Send` bound on the future.)
#[allow(async_fn_in_trait)]
pub trait AccessTokenContext {
    /// The published keys (the ring verifies signatures).
    fn keys(&self) -> Arc<PublishedKeys>;
    /// This server's issuer identifier, as `iss` must carry it.
    fn issuer(&self) -> &str;
    /// The audience of tokens meant for the userinfo endpoint.
    fn userinfo_audience(&self) -> String;
    /// The node's clock.
    fn now(&self) -> UnixTime;
    /// Whether `jti` has been revoked.
    async fn is_jti_revoked(&self, jti: &str) -> Result<bool, Failure>;
}

impl AccessTokenContext for Core {
    fn keys(&self) -> Arc<PublishedKeys> {
        self.published_keys()
    }

    fn issuer(&self) -> &str {
        self.settings.issuer.as_str()
    }

    fn userinfo_audience(&self) -> String {
        self.settings.userinfo_audience()
    }

    fn now(&self) -> UnixTime {
        Core::now(self)
    }

    async fn is_jti_revoked(&self, jti: &str) -> Result<bool, Failure> {
        Core::is_jti_revoked(self, jti).await
    }
}

/// Who presents the token, and for what: the checks beyond the common ones.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// `/userinfo` (OIDC Core §5.3): the audience includes the userinfo URL, the subject
    /// is a person, and the scope includes `openid`.
    Userinfo,
    /// `/introspect` (RFC 7662) by `caller`: its own token, or any token when the caller
    /// is a resource server ([`Client::may_introspect_others`]).
    Introspection { caller: &'a Client },
    /// `/revoke` (RFC 7009) by `caller`: only its own token.
    Revocation { caller: &'a Client },
    /// The admin API: the audience is `<issuer>/admin` and nothing else (`admin::auth`,
    /// which checks the scope and the caller).
    Admin,
}

/// A verified access token's claims (RFC 9068 §2.2), typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// `iss`: always this server's issuer.
    pub iss: String,
    /// `sub`: a person's id, or the client's own id for `client_credentials`.
    pub sub: String,
    /// `aud`: one or more audiences (sent as a string when there is one).
    pub aud: Vec<String>,
    pub client_id: ClientId,
    pub scope: ScopeSet,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub jti: String,
    /// `auth_time`, in tokens issued for a person's sign-in.
    pub auth_time: Option<UnixTime>,
    /// `amr` (its `acr` follows), in tokens issued for a person's sign-in since issue 14.
    pub amr: Option<AuthMethods>,
}

impl AccessTokenClaims {
    /// The person the token speaks for, when its subject is one: not a
    /// `client_credentials` token, whose subject is its client and which carries no
    /// `auth_time` (no person signed in).
    pub fn person(&self) -> Option<UserId> {
        if self.auth_time.is_none() && self.sub == self.client_id.as_str() {
            return None;
        }
        UserId::parse(&self.sub)
    }

    /// `aud` as Usher writes it: a string for one audience, an array for several.
    pub fn aud_json(&self) -> Value {
        match self.aud.as_slice() {
            [one] => Value::String(one.clone()),
            many => Value::from(many.to_vec()),
        }
    }
}

/// Why a token was refused. The messages are fixed sentences, safe for an
/// `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenError {
    #[error("the access token is malformed or its signature is not valid")]
    BadSignature,
    #[error("the token is not an access token")]
    NotAnAccessToken,
    #[error("the access token was issued by another server")]
    WrongIssuer,
    #[error("the access token lacks a claim it must carry, or one is malformed")]
    BadClaims,
    #[error("the access token is not meant for the userinfo endpoint")]
    WrongAudience,
    #[error("the access token is not meant for the admin API")]
    NotForAdmin,
    #[error("the access token was issued to another client")]
    OtherClient,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token has been revoked")]
    Revoked,
    #[error("the access token's subject is malformed")]
    NotAPerson,
    /// Valid, but without the scope the purpose needs (RFC 6750 §3.1: 403).
    #[error("the userinfo endpoint needs the openid scope")]
    InsufficientScope,
    /// The revoked-token set could not be read: neither valid nor invalid.
    #[error("the revoked-token set could not be read")]
    Failure(Failure),
}

/// Verifies `token` for `purpose` (see the module documentation). Cheap checks come
/// first; the revoked-token set is read last, only for a token that passed them all.
pub async fn verify_access_token(
    ctx: &impl AccessTokenContext,
    token: &str,
    purpose: Purpose<'_>,
) -> Result<AccessTokenClaims, AccessTokenError> {
    let (typ, raw) = ctx
        .keys()
        .ring
        .verify_jwt(token)
        .map_err(|_| AccessTokenError::BadSignature)?;
    if typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(AccessTokenError::NotAnAccessToken);
    }
    if raw.get("iss").and_then(Value::as_str) != Some(ctx.issuer()) {
        return Err(AccessTokenError::WrongIssuer);
    }
    let claims = typed(&raw).ok_or(AccessTokenError::BadClaims)?;
    match purpose {
        Purpose::Userinfo => {
            let audience = ctx.userinfo_audience();
            if !claims.aud.contains(&audience) {
                return Err(AccessTokenError::WrongAudience);
            }
        }
        Purpose::Introspection { caller } => {
            if claims.client_id != caller.id && !caller.may_introspect_others() {
                return Err(AccessTokenError::OtherClient);
            }
        }
        Purpose::Revocation { caller } => {
            if claims.client_id != caller.id {
                return Err(AccessTokenError::OtherClient);
            }
        }
        Purpose::Admin => {
            // The admin audience alone: a token also meant for another API could be
            // replayed here by that API.
            let audience = crate::admin::auth::admin_audience_of(ctx.issuer());
            if claims.aud != [audience] {
                return Err(AccessTokenError::NotForAdmin);
            }
        }
    }
    if claims.exp <= ctx.now() {
        return Err(AccessTokenError::Expired);
    }
    if ctx
        .is_jti_revoked(&claims.jti)
        .await
        .map_err(AccessTokenError::Failure)?
    {
        return Err(AccessTokenError::Revoked);
    }
    if let Purpose::Userinfo = purpose {
        if claims.person().is_none() {
            return Err(AccessTokenError::NotAPerson);
        }
        if !claims.scope.contains(usher_domain::scope::OPENID) {
            return Err(AccessTokenError::InsufficientScope);
        }
    }
    Ok(claims)
}

/// The claims in the shape Usher writes them, or `None`.
fn typed(raw: &Map<String, Value>) -> Option<AccessTokenClaims> {
    let text = |name: &str| raw.get(name).and_then(Value::as_str);
    let time = |name: &str| raw.get(name).and_then(Value::as_i64).map(UnixTime);
    let aud: Vec<String> = match raw.get("aud")? {
        Value::String(one) => vec![one.clone()],
        Value::Array(list) => list
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    if aud.is_empty() {
        return None;
    }
    let sub = text("sub").filter(|s| !s.is_empty())?;
    let jti = text("jti").filter(|s| !s.is_empty())?;
    let auth_time = match raw.get("auth_time") {
        None => None,
        Some(v) => Some(UnixTime(v.as_i64()?)),
    };
    // Written by Usher as an array of registered values; anything else is not Usher's.
    let amr = match raw.get("amr") {
        None => None,
        Some(Value::Array(list)) => {
            let methods: Vec<Amr> = list
                .iter()
                .map(|m| m.as_str().and_then(Amr::parse))
                .collect::<Option<_>>()?;
            Some(AuthMethods::new(methods)?)
        }
        Some(_) => return None,
    };
    Some(AccessTokenClaims {
        amr,
        iss: text("iss")?.to_owned(),
        sub: sub.to_owned(),
        aud,
        client_id: ClientId::parse(text("client_id")?)?,
        scope: ScopeSet::parse(text("scope")?).ok()?,
        exp: time("exp")?,
        iat: time("iat")?,
        jti: jti.to_owned(),
        auth_time,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::OnceLock;

    use serde_json::json;
    use usher_domain::SigningAlg;
    use usher_domain::client::{ClientRegistration, RegistrationInput};
    use usher_domain::{KeyState, Username};
    use usher_keys::{Kek, KeyRing, generate_key};

    use super::*;
    use crate::tokens::{self, AccessTokenInput, IdTokenInput};

    const ISSUER: &str = "https://id.example";
    const USERINFO: &str = "https://id.example/userinfo";
    const NOW: UnixTime = UnixTime(1_700_000_100);

    /// Two rings with one active key per algorithm each: Usher's, and a stranger's.
    fn rings() -> &'static (Arc<PublishedKeys>, KeyRing) {
        static RINGS: OnceLock<(Arc<PublishedKeys>, KeyRing)> = OnceLock::new();
        RINGS.get_or_init(|| {
            let ring = || {
                let kek = Kek::generate().unwrap();
                let keys: Vec<_> = SigningAlg::ALL
                    .into_iter()
                    .map(|alg| {
                        generate_key(&kek, alg, 2048, KeyState::Active, UnixTime(0)).unwrap()
                    })
                    .collect();
                KeyRing::from_records(&keys, &kek).unwrap()
            };
            (Arc::new(PublishedKeys::new(ring())), ring())
        })
    }

    struct Node {
        now: UnixTime,
        revoked: HashSet<String>,
        store_down: bool,
    }

    impl Node {
        fn new() -> Node {
            Node {
                now: NOW,
                revoked: HashSet::new(),
                store_down: false,
            }
        }
    }

    impl AccessTokenContext for Node {
        fn keys(&self) -> Arc<PublishedKeys> {
            rings().0.clone()
        }
        fn issuer(&self) -> &str {
            ISSUER
        }
        fn userinfo_audience(&self) -> String {
            USERINFO.to_owned()
        }
        fn now(&self) -> UnixTime {
            self.now
        }
        async fn is_jti_revoked(&self, jti: &str) -> Result<bool, Failure> {
            if self.store_down {
                return Err(Failure::Unavailable);
            }
            Ok(self.revoked.contains(jti))
        }
    }

    fn client(id: &str, public: bool) -> Client {
        let registration = ClientRegistration::new(RegistrationInput {
            name: "App".into(),
            public,
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Default::default()
        })
        .unwrap();
        Client {
            id: ClientId::parse(id).unwrap(),
            secret_hash: None,
            registration,
            created_at: UnixTime(0),
        }
    }

    /// A token as Usher mints it for `app`: a person, the userinfo audience, `openid`.
    fn minted(scope: &str, audience: &[&str]) -> tokens::MintedAccessToken {
        minted_with(SigningAlg::Rs256, scope, audience)
    }

    fn minted_with(alg: SigningAlg, scope: &str, audience: &[&str]) -> tokens::MintedAccessToken {
        let audience: Vec<String> = audience.iter().map(|a| (*a).to_owned()).collect();
        tokens::access_token(
            &rings().0.ring,
            &AccessTokenInput {
                alg,
                issuer: ISSUER,
                subject: "u-1",
                audience: &audience,
                client_id: "app",
                scope: &ScopeSet::parse(scope).unwrap(),
                auth_time: Some(UnixTime(1_700_000_000)),
                amr: Some(&AuthMethods::password_and_otp()),
                groups: None,
                issued_at: UnixTime(1_700_000_000),
                expires_at: UnixTime(1_700_000_600),
            },
        )
        .unwrap()
    }

    fn good() -> String {
        minted("openid profile", &[USERINFO]).token
    }

    /// The claims of `good()`, changed, re-signed by Usher's key with header `typ`.
    fn resigned(typ: &str, change: impl FnOnce(&mut Map<String, Value>)) -> String {
        let payload = good().split('.').nth(1).unwrap().to_owned();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap();
        let mut claims: Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
        change(&mut claims);
        rings().0.ring.sign_jwt(typ, &claims).unwrap()
    }

    async fn verify(
        node: &Node,
        token: &str,
        purpose: Purpose<'_>,
    ) -> Result<AccessTokenClaims, AccessTokenError> {
        verify_access_token(node, token, purpose).await
    }

    #[tokio::test]
    async fn a_minted_token_verifies_with_its_claims_typed() {
        let t = minted("openid profile", &[USERINFO, "https://api.example"]);
        let claims = verify(&Node::new(), &t.token, Purpose::Userinfo)
            .await
            .unwrap();
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.sub, "u-1");
        assert_eq!(claims.person(), UserId::parse("u-1"));
        assert_eq!(claims.aud, vec![USERINFO, "https://api.example"]);
        assert_eq!(claims.aud_json(), json!([USERINFO, "https://api.example"]));
        assert_eq!(claims.client_id.as_str(), "app");
        assert_eq!(claims.scope.to_string(), "openid profile");
        assert_eq!(claims.exp, UnixTime(1_700_000_600));
        assert_eq!(claims.iat, UnixTime(1_700_000_000));
        assert_eq!(claims.auth_time, Some(UnixTime(1_700_000_000)));
        // A client_credentials token (its client the subject, no sign-in) speaks for no
        // person: introspection must not look for one (it would find none and say
        // inactive).
        let service = AccessTokenClaims {
            sub: "app".to_owned(),
            auth_time: None,
            amr: None,
            ..claims.clone()
        };
        assert_eq!(service.person(), None);
        let signed_in_as_app = AccessTokenClaims {
            sub: "app".to_owned(),
            ..claims.clone()
        };
        assert_eq!(signed_in_as_app.person(), UserId::parse("app"));
        assert_eq!(claims.jti, t.jti);
        let one = verify(&Node::new(), &good(), Purpose::Userinfo)
            .await
            .unwrap();
        assert_eq!(one.aud_json(), json!(USERINFO));
    }

    #[tokio::test]
    async fn access_tokens_of_every_algorithm_verify_and_name_their_algorithm() {
        for alg in SigningAlg::ALL {
            let t = minted_with(alg, "openid", &[USERINFO]);
            let header = t.token.split('.').next().unwrap();
            let header: Value = serde_json::from_slice(
                &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(
                header["kid"].as_str(),
                rings().0.ring.active_kid_for(alg),
                "{alg}"
            );
            let claims = verify(&Node::new(), &t.token, Purpose::Userinfo)
                .await
                .unwrap();
            assert_eq!(claims.jti, t.jti);
        }
    }

    #[tokio::test]
    async fn a_token_whose_algorithm_is_not_its_keys_is_a_bad_signature() {
        let b64 = |bytes: &[u8]| {
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
        };
        let ring = &rings().0.ring;
        let payload = good().split('.').nth(1).unwrap().to_owned();
        for (key_alg, claimed) in [
            (SigningAlg::Es256, "RS256"),
            (SigningAlg::Es256, "HS256"),
            (SigningAlg::Es256, "EdDSA"),
            (SigningAlg::EdDsa, "ES256"),
            (SigningAlg::EdDsa, "HS256"),
            (SigningAlg::Rs256, "ES256"),
            (SigningAlg::Rs256, "EdDSA"),
        ] {
            let kid = ring.active_kid_for(key_alg).unwrap();
            let header = json!({"alg": claimed, "typ": ACCESS_TOKEN_TYP, "kid": kid});
            let input = format!("{}.{payload}", b64(header.to_string().as_bytes()));
            // Signed for real by the key the kid names, with the key's own algorithm.
            let sig = ring.sign(key_alg, input.as_bytes()).unwrap();
            let token = format!("{input}.{}", b64(&sig));
            assert_eq!(
                verify(&Node::new(), &token, Purpose::Userinfo).await,
                Err(AccessTokenError::BadSignature),
                "{key_alg} key, header {claimed}"
            );
        }
    }

    #[tokio::test]
    async fn a_forged_typ_is_not_an_access_token() {
        for typ in ["JWT", "jwt", "application/at+jwt", "AT+JWT2", ""] {
            let token = resigned(typ, |_| {});
            assert_eq!(
                verify(&Node::new(), &token, Purpose::Userinfo).await,
                Err(AccessTokenError::NotAnAccessToken),
                "{typ}"
            );
        }
        // And resigned unchanged with `at+jwt`, the same claims pass.
        let same = resigned(ACCESS_TOKEN_TYP, |_| {});
        assert!(verify(&Node::new(), &same, Purpose::Userinfo).await.is_ok());
    }

    #[tokio::test]
    async fn an_id_token_is_not_an_access_token() {
        let user = usher_domain::User {
            id: UserId::parse("u-1").unwrap(),
            username: Username::parse("alice").unwrap(),
            password_hash: String::new(),
            name: None,
            email: None,
            email_verified: false,
            profile: usher_domain::ProfileClaims::default(),
            created_at: UnixTime(0),
            disabled_at: None,
        };
        let id_token = tokens::id_token(
            &rings().0,
            &IdTokenInput {
                alg: SigningAlg::Rs256,
                issuer: ISSUER,
                client_id: "app",
                user: &user,
                scope: &ScopeSet::parse("openid").unwrap(),
                nonce: None,
                auth_time: UnixTime(1_700_000_000),
                amr: &AuthMethods::password(),
                issued_at: UnixTime(1_700_000_000),
                expires_at: UnixTime(1_700_000_600),
                access_token: &good(),
                sid: None,
                groups: None,
            },
        )
        .unwrap();
        let app = client("app", false);
        for purpose in [
            Purpose::Userinfo,
            Purpose::Introspection { caller: &app },
            Purpose::Revocation { caller: &app },
        ] {
            assert_eq!(
                verify(&Node::new(), &id_token, purpose).await,
                Err(AccessTokenError::NotAnAccessToken),
                "{purpose:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_token_from_another_issuer_or_key_is_refused() {
        let token = resigned(ACCESS_TOKEN_TYP, |c| {
            c.insert("iss".into(), json!("https://evil.example"));
        });
        assert_eq!(
            verify(&Node::new(), &token, Purpose::Userinfo).await,
            Err(AccessTokenError::WrongIssuer)
        );
        let payload = good().split('.').nth(1).unwrap().to_owned();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap();
        let claims: Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
        let stranger = rings().1.sign_jwt(ACCESS_TOKEN_TYP, &claims).unwrap();
        for bad in [stranger.as_str(), "garbage", "a.b.c", ""] {
            assert_eq!(
                verify(&Node::new(), bad, Purpose::Userinfo).await,
                Err(AccessTokenError::BadSignature),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn an_expired_token_is_refused_by_the_nodes_clock() {
        let mut node = Node::new();
        node.now = UnixTime(1_700_000_599);
        assert!(verify(&node, &good(), Purpose::Userinfo).await.is_ok());
        node.now = UnixTime(1_700_000_600);
        assert_eq!(
            verify(&node, &good(), Purpose::Userinfo).await,
            Err(AccessTokenError::Expired)
        );
        let app = client("app", false);
        assert_eq!(
            verify(&node, &good(), Purpose::Revocation { caller: &app }).await,
            Err(AccessTokenError::Expired)
        );
    }

    #[tokio::test]
    async fn a_revoked_token_is_refused_and_an_unreadable_set_is_a_failure() {
        let t = minted("openid", &[USERINFO]);
        let mut node = Node::new();
        node.revoked.insert(t.jti.clone());
        let app = client("app", false);
        for purpose in [
            Purpose::Userinfo,
            Purpose::Introspection { caller: &app },
            Purpose::Revocation { caller: &app },
        ] {
            assert_eq!(
                verify(&node, &t.token, purpose).await,
                Err(AccessTokenError::Revoked)
            );
        }
        let down = Node {
            store_down: true,
            ..Node::new()
        };
        assert_eq!(
            verify(&down, &t.token, Purpose::Userinfo).await,
            Err(AccessTokenError::Failure(Failure::Unavailable))
        );
    }

    #[tokio::test]
    async fn userinfo_needs_its_audience_a_person_and_openid() {
        let api_only = minted("openid", &["https://api.example"]).token;
        assert_eq!(
            verify(&Node::new(), &api_only, Purpose::Userinfo).await,
            Err(AccessTokenError::WrongAudience)
        );
        let no_openid = minted("profile", &[USERINFO]).token;
        assert_eq!(
            verify(&Node::new(), &no_openid, Purpose::Userinfo).await,
            Err(AccessTokenError::InsufficientScope)
        );
        let not_a_person = resigned(ACCESS_TOKEN_TYP, |c| {
            c.insert("sub".into(), json!("a b"));
        });
        assert_eq!(
            verify(&Node::new(), &not_a_person, Purpose::Userinfo).await,
            Err(AccessTokenError::NotAPerson)
        );
        // Introspection and revocation do not care about the audience or the scope.
        let app = client("app", false);
        for token in [&api_only, &no_openid] {
            assert!(
                verify(&Node::new(), token, Purpose::Introspection { caller: &app })
                    .await
                    .is_ok()
            );
            assert!(
                verify(&Node::new(), token, Purpose::Revocation { caller: &app })
                    .await
                    .is_ok()
            );
        }
    }

    #[tokio::test]
    async fn only_owners_revoke_and_only_operators_resource_servers_introspect_others() {
        let token = good();
        let resource_server = client("rs", false);
        let other_public = client("spa", true);
        let own_public = client("app", true);
        assert!(
            verify(
                &Node::new(),
                &token,
                Purpose::Introspection {
                    caller: &resource_server
                }
            )
            .await
            .is_ok()
        );
        assert!(
            verify(
                &Node::new(),
                &token,
                Purpose::Introspection {
                    caller: &own_public
                }
            )
            .await
            .is_ok()
        );
        assert_eq!(
            verify(
                &Node::new(),
                &token,
                Purpose::Introspection {
                    caller: &other_public
                }
            )
            .await,
            Err(AccessTokenError::OtherClient)
        );
        // A confidential client that registered itself (RFC 7591) is no resource server.
        let mut self_registered = client("agent", false);
        self_registered.registration.dynamically_registered = true;
        assert_eq!(
            verify(
                &Node::new(),
                &token,
                Purpose::Introspection {
                    caller: &self_registered
                }
            )
            .await,
            Err(AccessTokenError::OtherClient)
        );
        assert_eq!(
            verify(
                &Node::new(),
                &token,
                Purpose::Revocation {
                    caller: &resource_server
                }
            )
            .await,
            Err(AccessTokenError::OtherClient)
        );
        assert!(
            verify(
                &Node::new(),
                &token,
                Purpose::Revocation {
                    caller: &own_public
                }
            )
            .await
            .is_ok()
        );
    }

    #[tokio::test]
    async fn claims_missing_or_malformed_are_refused() {
        let changes: Vec<(&str, Option<Value>)> = vec![
            ("sub", None),
            ("sub", Some(json!(""))),
            ("aud", None),
            ("aud", Some(json!([]))),
            ("aud", Some(json!([7]))),
            ("client_id", None),
            ("scope", None),
            ("scope", Some(json!("a\"b"))),
            ("exp", None),
            ("exp", Some(json!("soon"))),
            ("iat", None),
            ("jti", None),
            ("auth_time", Some(json!("then"))),
        ];
        for (name, value) in changes {
            let token = resigned(ACCESS_TOKEN_TYP, |c| match value {
                Some(v) => {
                    c.insert(name.into(), v);
                }
                None => {
                    c.remove(name);
                }
            });
            assert_eq!(
                verify(&Node::new(), &token, Purpose::Userinfo).await,
                Err(AccessTokenError::BadClaims),
                "{name}"
            );
        }
    }
}
