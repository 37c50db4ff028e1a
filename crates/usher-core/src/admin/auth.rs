//! Who may call the admin API: a bearer access token issued by this server, for the
//! audience `<issuer>/admin`, with the scope `admin:read` (to read) or `admin:write` (to
//! read and change), and, when it speaks for a person, that person a member of
//! `usher-admins` now (read at each request, so removing a member shuts the door at
//! once). A token for a client (`client_credentials`) works while that client is still
//! registered with the admin audience. Everything else is refused: deny by default
//! (docs/design/admin-api.md).

use usher_domain::{ClientId, GroupName, Issuer, ScopeSet, UserId};

use crate::Core;
use crate::access_token::{AccessTokenError, Purpose, verify_access_token};
use crate::failure::{Failure, blocking};

/// The scope that lets a token read through the admin API.
pub const ADMIN_READ: &str = "admin:read";
/// The scope that lets a token read and change through the admin API.
pub const ADMIN_WRITE: &str = "admin:write";
/// The path that names the admin API as an audience.
pub const ADMIN_AUDIENCE_PATH: &str = "/admin";

/// The audience of tokens for the admin API.
pub fn admin_audience(issuer: &Issuer) -> String {
    issuer.endpoint(ADMIN_AUDIENCE_PATH)
}

/// [`admin_audience`] of an issuer given as text (the token verifier's).
pub fn admin_audience_of(issuer: &str) -> String {
    format!("{issuer}{ADMIN_AUDIENCE_PATH}")
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
}

impl Need {
    /// Whether `scope` allows it (`admin:write` includes reading).
    pub fn allowed_by(self, scope: &ScopeSet) -> bool {
        match self {
            Need::Read => scope.contains(ADMIN_READ) || scope.contains(ADMIN_WRITE),
            Need::Write => scope.contains(ADMIN_WRITE),
        }
    }

    /// The scope to name in a refusal.
    pub fn scope(self) -> &'static str {
        match self {
            Need::Read => ADMIN_READ,
            Need::Write => ADMIN_WRITE,
        }
    }
}

/// Who called: the actor of what the call changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCaller {
    /// A member of `usher-admins`, through a client (the console, or a script a person
    /// signed in to).
    Person { id: UserId, client: ClientId },
    /// A client acting for itself (`client_credentials`).
    Client(ClientId),
}

/// Why the admin API refuses a request. The texts are fixed sentences.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminAuthError {
    /// No bearer token (RFC 6750 §3.1: 401 without an error code).
    #[error("the admin API needs a bearer access token")]
    NoToken,
    /// RFC 6750 `invalid_token` (401).
    #[error("{0}")]
    InvalidToken(String),
    /// RFC 6750 `insufficient_scope` (403): the token may not do this.
    #[error("the access token lacks the scope {0}")]
    InsufficientScope(&'static str),
    /// 403: the person is not (or no longer) a member of `usher-admins`, or the client
    /// no longer holds the admin audience.
    #[error("the access token's subject may not use the admin API")]
    NotAnAdmin,
    #[error("a store could not be read")]
    Failure(Failure),
}

/// Decides whether the bearer token `token` may make a request that needs `need`.
pub async fn authorize(
    core: &Core,
    token: Option<&str>,
    need: Need,
) -> Result<AdminCaller, AdminAuthError> {
    let token = token.ok_or(AdminAuthError::NoToken)?;
    let claims = match verify_access_token(core, token, Purpose::Admin).await {
        Ok(claims) => claims,
        Err(AccessTokenError::Failure(f)) => return Err(AdminAuthError::Failure(f)),
        Err(e) => return Err(AdminAuthError::InvalidToken(e.to_string())),
    };
    // The client must still exist and still be registered for the admin audience: a
    // deleted client's tokens, or a client whose audience was taken away, stop at once.
    let audience = admin_audience(&core.settings.issuer);
    let client = core
        .reload_client(&claims.client_id)
        .await
        .map_err(AdminAuthError::Failure)?
        .ok_or(AdminAuthError::NotAnAdmin)?;
    // The console's built-in client is registered for neither the admin audience nor the
    // admin scopes, so the token endpoint never issues it a token for `<issuer>/admin`:
    // such a token is one a person took in the console (`admin::token::mint`), and it
    // speaks for that person only, with the scope it carries.
    let console = crate::account::client::is_built_in(&client.id);
    // A client that described itself (RFC 7591, a metadata document) is never an
    // administrator, whatever its token says.
    if !console
        && (client.describes_itself()
            || !client
                .registration
                .audiences
                .iter()
                .any(|a| a.as_str() == audience))
    {
        return Err(AdminAuthError::NotAnAdmin);
    }
    // What the token may do is what it says *and* what its client may still ask for: a
    // client narrowed from admin:write to admin:read stops writing at once, not when its
    // tokens expire.
    if !need.allowed_by(&claims.scope)
        || (!console && !need.allowed_by(&client.registration.scopes))
    {
        return Err(AdminAuthError::InsufficientScope(need.scope()));
    }
    // A client_credentials token: the client is its subject, and no person signed in.
    if !console && claims.auth_time.is_none() && claims.sub == claims.client_id.as_str() {
        return Ok(AdminCaller::Client(claims.client_id));
    }
    // The console's token is a person's sign-in, always.
    if console && claims.auth_time.is_none() {
        return Err(AdminAuthError::NotAnAdmin);
    }
    let person = claims.person().ok_or(AdminAuthError::NotAnAdmin)?;
    // Read afresh, as the membership is: a person disabled (or deleted) on any node
    // stops administering at once.
    let users = core.stores.users.clone();
    let who = person.clone();
    let found = blocking(move || users.get_user(&who))
        .await
        .map_err(AdminAuthError::Failure)?;
    if crate::standing(found).is_err() {
        return Err(AdminAuthError::NotAnAdmin);
    }
    // The console's token lives only as long as the sign-in it was taken from: some live
    // session of the person must still have its `auth_time`. Ending that session (the
    // person signing out, an administrator ending one or all of their sessions, a new
    // password, a second-factor reset, a disabled account) ends the token with it, not
    // up to 15 minutes later (docs/design/admin-api.md).
    if console {
        let sessions = core.stores.sessions.clone();
        let (who, now) = (person.clone(), core.now());
        let live = blocking(move || sessions.list_user_sessions(&who, now))
            .await
            .map_err(AdminAuthError::Failure)?;
        if !live.iter().any(|s| Some(s.auth_time) == claims.auth_time) {
            return Err(AdminAuthError::InvalidToken(
                "the console sign-in this token was taken from has ended".to_owned(),
            ));
        }
    }
    let groups = core.stores.groups.clone();
    let who = person.clone();
    let memberships = blocking(move || groups.groups_of(&who))
        .await
        .map_err(AdminAuthError::Failure)?;
    if !memberships.contains(&GroupName::admins()) {
        return Err(AdminAuthError::NotAnAdmin);
    }
    Ok(AdminCaller::Person {
        id: person,
        client: claims.client_id,
    })
}

#[cfg(test)]
mod tests {
    use usher_domain::{ClientStore as _, GroupStore as _, ScopeSet};

    use super::*;
    use crate::testing::{AccessTokenSpec, TestNode, registration};
    use crate::tokens::{self, AccessTokenInput};

    fn admin_aud(node: &TestNode) -> Vec<String> {
        vec![admin_audience(&node.core.settings.issuer)]
    }

    /// A `client_credentials` token of `client` (no `auth_time`: no person signed in).
    fn service_token(node: &TestNode, client: &str, audience: &[String], scope: &str) -> String {
        let keys = node.core.published_keys();
        let now = node.now();
        tokens::access_token(
            &keys.ring,
            &AccessTokenInput {
                alg: node.core.settings.access_token_alg,
                issuer: node.core.settings.issuer.as_str(),
                subject: client,
                audience,
                client_id: client,
                scope: &ScopeSet::parse(scope).unwrap(),
                auth_time: None,
                amr: None,
                groups: None,
                issued_at: now,
                expires_at: now.plus(600),
            },
        )
        .unwrap()
        .token
    }

    fn console(node: &TestNode) {
        let mut input = registration();
        input.audiences = admin_aud(node);
        input.scope = Some("openid admin:read admin:write".into());
        node.client("console", input);
    }

    #[tokio::test]
    async fn a_person_must_be_in_usher_admins_now() {
        let node = TestNode::new();
        console(&node);
        let alice = node.person("alice");
        let aud = admin_aud(&node);
        let token = node
            .access_token(AccessTokenSpec {
                client: "console",
                audience: Some(&aud),
                scope: "openid admin:read",
                ..Default::default()
            })
            .token;
        let core = &node.core;
        assert_eq!(
            authorize(core, Some(&token), Need::Read).await,
            Err(AdminAuthError::NotAnAdmin)
        );
        node.db
            .add_member(&GroupName::admins(), &alice.username, node.now())
            .unwrap();
        assert!(matches!(
            authorize(core, Some(&token), Need::Read).await,
            Ok(AdminCaller::Person { .. })
        ));
        // admin:read does not change anything.
        assert_eq!(
            authorize(core, Some(&token), Need::Write).await,
            Err(AdminAuthError::InsufficientScope(ADMIN_WRITE))
        );
        // Removed from the group: refused at the next request, with the same token.
        node.db
            .remove_member(&GroupName::admins(), &alice.username)
            .unwrap();
        assert_eq!(
            authorize(core, Some(&token), Need::Read).await,
            Err(AdminAuthError::NotAnAdmin)
        );
    }

    #[tokio::test]
    async fn a_disabled_admin_is_refused_at_once() {
        use usher_domain::UserStore as _;
        let node = TestNode::new();
        console(&node);
        let alice = node.person("alice");
        node.db
            .add_member(&GroupName::admins(), &alice.username, node.now())
            .unwrap();
        let aud = admin_aud(&node);
        let token = node
            .access_token(AccessTokenSpec {
                client: "console",
                audience: Some(&aud),
                scope: "openid admin:read",
                ..Default::default()
            })
            .token;
        // The node's cached copy says nothing: the person is read afresh.
        assert!(node.core.active_user(&alice.id).await.unwrap().is_ok());
        assert!(node.db.set_disabled(&alice.id, Some(node.now())).unwrap());
        assert_eq!(
            authorize(&node.core, Some(&token), Need::Read).await,
            Err(AdminAuthError::NotAnAdmin)
        );
    }

    #[tokio::test]
    async fn only_tokens_for_the_admin_audience_open_it() {
        let node = TestNode::new();
        console(&node);
        let core = &node.core;
        assert_eq!(
            authorize(core, None, Need::Read).await,
            Err(AdminAuthError::NoToken)
        );
        assert!(matches!(
            authorize(core, Some("not-a-jwt"), Need::Read).await,
            Err(AdminAuthError::InvalidToken(_))
        ));
        // A userinfo token of the same client, with the admin scopes: another audience.
        let userinfo = node
            .access_token(AccessTokenSpec {
                client: "console",
                scope: "openid admin:read admin:write",
                ..Default::default()
            })
            .token;
        assert_eq!(
            authorize(core, Some(&userinfo), Need::Read).await,
            Err(AdminAuthError::InvalidToken(
                AccessTokenError::NotForAdmin.to_string()
            ))
        );
        // The admin audience beside another: another API could replay it here.
        let mut both = admin_aud(&node);
        both.push("https://api.example".into());
        let shared = service_token(&node, "console", &both, "admin:write");
        assert_eq!(
            authorize(core, Some(&shared), Need::Read).await,
            Err(AdminAuthError::InvalidToken(
                AccessTokenError::NotForAdmin.to_string()
            ))
        );
        // The right audience without an admin scope.
        let aud = admin_aud(&node);
        let plain = service_token(&node, "console", &aud, "openid");
        assert_eq!(
            authorize(core, Some(&plain), Need::Read).await,
            Err(AdminAuthError::InsufficientScope(ADMIN_READ))
        );
    }

    #[tokio::test]
    async fn a_service_token_works_while_its_client_holds_the_admin_audience() {
        let node = TestNode::new();
        console(&node);
        let mut other = registration();
        other.audiences = vec!["https://api.example".into()];
        other.scope = Some("openid admin:write".into());
        node.client("other", other);
        let aud = admin_aud(&node);
        let core = &node.core;
        let token = service_token(&node, "console", &aud, "admin:write");
        assert_eq!(
            authorize(core, Some(&token), Need::Write).await,
            Ok(AdminCaller::Client(ClientId::parse("console").unwrap()))
        );
        // A client not registered for the admin audience, even with a token naming it
        // (minted here; the token endpoint would never issue one).
        let forged = service_token(&node, "other", &aud, "admin:write");
        assert_eq!(
            authorize(core, Some(&forged), Need::Read).await,
            Err(AdminAuthError::NotAnAdmin)
        );
        // Narrowed to admin:read: its admin:write token reads, and writes no more.
        let mut narrowed = node
            .db
            .get_client(&ClientId::parse("console").unwrap())
            .unwrap()
            .unwrap();
        narrowed.registration.scopes = ScopeSet::parse("openid admin:read").unwrap();
        assert!(node.db.replace_operator_client(&narrowed).unwrap());
        assert!(authorize(core, Some(&token), Need::Read).await.is_ok());
        assert_eq!(
            authorize(core, Some(&token), Need::Write).await,
            Err(AdminAuthError::InsufficientScope(ADMIN_WRITE))
        );
        // Deleted: its unexpired token stops at once.
        node.db
            .delete_client(&ClientId::parse("console").unwrap())
            .unwrap();
        assert_eq!(
            authorize(core, Some(&token), Need::Read).await,
            Err(AdminAuthError::NotAnAdmin)
        );
    }
}
