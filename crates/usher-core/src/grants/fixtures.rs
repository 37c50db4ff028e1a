//! What the grants' unit tests arrange: clients of each kind, a signed-in person, codes
//! issued in that sign-in, forms, and the refusal a result holds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use usher_domain::authorize::{RawParams, Rejection};
use usher_domain::{
    AuthorizationCode, Client, CodeStore, RegistrationInput, ScopeSet, Session, StoreError, User,
    UserId, Username,
};

use crate::grants::{TokenError, TokenRequest, TokenResponse};
use crate::testing::TestNode;

/// The RFC 7636 Appendix B verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const REDIRECT: &str = "https://app.example/cb";

pub use crate::testing::form;

/// A client registered for `grants` with `scope`, confidential or public.
pub fn client(node: &TestNode, id: &str, public: bool, grants: &[&str], scope: &str) -> Client {
    let code = grants.contains(&"authorization_code");
    node.client(
        id,
        RegistrationInput {
            public,
            redirect_uris: if code {
                vec![REDIRECT.to_owned()]
            } else {
                vec![]
            },
            grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
            scope: Some(scope.to_owned()),
            ..RegistrationInput::default()
        },
    )
}

/// A confidential web app with the code and refresh grants.
pub fn web_app(node: &TestNode, id: &str) -> Client {
    client(
        node,
        id,
        false,
        &["authorization_code", "refresh_token"],
        "openid profile email offline_access api:read api:write",
    )
}

/// A browser session of `user` (its own lineage), as the login page would record it.
pub fn sign_in(node: &TestNode, user: &User) -> Session {
    let (cookie, _) = crate::secret_pair().unwrap();
    let (_, lineage_hash) = crate::secret_pair().unwrap();
    node.session(user, &cookie, &lineage_hash, 0)
}

/// What a code was issued for.
pub struct CodeFor<'a> {
    pub scope: &'a str,
    pub challenge: Option<&'a str>,
    pub redirect_uri_sent: bool,
    pub nonce: Option<&'a str>,
    /// The RFC 8707 resources granted at `/authorize`.
    pub resources: &'a [&'a str],
}

impl Default for CodeFor<'_> {
    fn default() -> Self {
        CodeFor {
            scope: "openid profile",
            challenge: Some(CHALLENGE),
            redirect_uri_sent: true,
            nonce: None,
            resources: &[],
        }
    }
}

/// A code issued to `client` in `session` (valid for 60 s), after the person's consent
/// to its scopes (as the consent page saves it); returns the raw code.
pub fn code(node: &TestNode, client: &Client, session: &Session, what: CodeFor<'_>) -> String {
    let (raw, _) = crate::secret_pair().unwrap();
    usher_domain::ConsentStore::save_consent(
        &node.db,
        &session.user_id,
        &client.id,
        &ScopeSet::parse(what.scope).unwrap().into(),
        node.now(),
    )
    .unwrap();
    node.db
        .insert_code(&AuthorizationCode {
            code_hash: usher_keys::sha256_b64url(&raw),
            client_id: client.id.clone(),
            redirect_uri: REDIRECT.parse().unwrap(),
            redirect_uri_sent: what.redirect_uri_sent,
            user_id: session.user_id.clone(),
            lineage_hash: session.lineage_hash.clone(),
            scopes: ScopeSet::parse(what.scope).unwrap(),
            resources: what
                .resources
                .iter()
                .map(|r| usher_domain::ResourceUri::parse(r).unwrap())
                .collect(),
            nonce: what.nonce.map(str::to_owned),
            code_challenge: what.challenge.map(|c| c.parse().unwrap()),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            created_at: node.now(),
            expires_at: node.now().plus(60),
        })
        .unwrap();
    raw
}

/// The token request a form makes (panics on a refused `grant_type`).
pub fn request(form: &RawParams) -> TokenRequest {
    TokenRequest::parse(form).unwrap()
}

/// The form of a correct exchange of `code`.
pub fn exchange_form(code: &str) -> RawParams {
    form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ])
}

/// The refusal `result` holds (panics on tokens or a failure).
pub fn refusal(result: Result<TokenResponse, TokenError>) -> Rejection {
    match result {
        Err(TokenError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The claims of a JWT, unverified (the tests read what was minted).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A people store that has forgotten everyone: what a grant sees when the person was
/// deleted after its code or family was read (the embedded store deletes their codes and
/// families with them, so only a race gets there).
struct NoPeople;

impl usher_domain::UserStore for NoPeople {
    fn insert_user(&self, _: &User) -> Result<(), StoreError> {
        Ok(())
    }
    fn get_user(&self, _: &UserId) -> Result<Option<User>, StoreError> {
        Ok(None)
    }
    fn find_user(&self, _: &Username) -> Result<Option<User>, StoreError> {
        Ok(None)
    }
    fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Ok(vec![])
    }
    fn delete_user(&self, _: &Username) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn set_password_hash(&self, _: &Username, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn update_profile(
        &self,
        _: &UserId,
        _: Option<&usher_domain::PersonName>,
        _: &usher_domain::ProfileClaims,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn update_person_if(&self, _: &User, _: &User) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn set_disabled(
        &self,
        _: &UserId,
        _: Option<usher_domain::UnixTime>,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }
}

/// Makes the node's people store forget everyone (see [`NoPeople`]).
pub fn forget_people(node: &mut TestNode) {
    node.core.stores.users = std::sync::Arc::new(NoPeople);
}
