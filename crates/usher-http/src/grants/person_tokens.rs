//! The tokens a person's grant returns (authorization code and refresh): an access token
//! for the userinfo audience, and for `openid` an ID token, in one RFC 6749 §5.1 body.
//! Both grants mint through here, so the two responses cannot drift apart.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;
use usher_domain::scope::OPENID;
use usher_domain::{Client, ProtocolError, ScopeSet, UnixTime, User};

use crate::Core;
use crate::respond::{json_no_store, token_error};
use crate::tokens::{self, AccessTokenInput, IdTokenInput, MintedAccessToken};

/// Whose tokens, for what.
pub struct Grant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: &'a ScopeSet,
    pub auth_time: UnixTime,
    /// The `nonce` of the authorization request (code exchange only).
    pub nonce: Option<&'a str>,
    pub now: UnixTime,
}

impl Grant<'_> {
    /// When the access (and ID) token expire.
    pub fn expires_at(&self, state: &Core) -> UnixTime {
        self.now.plus(state.settings.access_token_ttl)
    }
}

/// A 500 `server_error` body; the cause goes to the log only.
pub(crate) fn server_error(what: &str, cause: &str) -> HttpResponse {
    tracing::error!(%cause, "{what}");
    token_error(ProtocolError::ServerError, "internal error", false)
}

/// Signs the access token (RFC 9068, audience: Usher's userinfo endpoint).
pub fn access_token(
    state: &Core,
    grant: &Grant<'_>,
) -> Result<MintedAccessToken, Box<HttpResponse>> {
    let settings = &state.settings;
    let audience = vec![settings.userinfo_audience()];
    tokens::access_token(
        &state.published_keys().ring,
        &AccessTokenInput {
            issuer: settings.issuer.as_str(),
            subject: grant.user.id.as_str(),
            audience: &audience,
            client_id: grant.client.id.as_str(),
            scope: grant.scope,
            auth_time: Some(grant.auth_time),
            issued_at: grant.now,
            expires_at: grant.expires_at(state),
        },
    )
    .map_err(|cause| Box::new(server_error("cannot sign an access token", &cause)))
}

/// The token response: the access token, the refresh token if any, and for `openid` an
/// ID token (with `at_hash` of this access token).
pub fn respond(
    state: &Core,
    grant: &Grant<'_>,
    access: &MintedAccessToken,
    refresh_token: Option<String>,
    grant_type: &str,
) -> HttpResponse {
    let settings = &state.settings;
    let mut body = json!({
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl,
        "scope": grant.scope.to_string(),
    });
    if let Some(t) = refresh_token {
        body["refresh_token"] = json!(t);
    }
    if grant.scope.contains(OPENID) {
        let id_token = tokens::id_token(
            &state.published_keys(),
            &IdTokenInput {
                issuer: settings.issuer.as_str(),
                client_id: grant.client.id.as_str(),
                user: grant.user,
                scope: grant.scope,
                nonce: grant.nonce,
                auth_time: grant.auth_time,
                issued_at: grant.now,
                expires_at: grant.expires_at(state),
                access_token: &access.token,
            },
        );
        match id_token {
            Ok(t) => body["id_token"] = json!(t),
            Err(cause) => return server_error("cannot sign an ID token", &cause),
        }
    }
    tracing::info!(client_id = %grant.client.id, grant_type, "tokens issued");
    json_no_store(StatusCode::OK, &body)
}
