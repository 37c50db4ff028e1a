//! The tokens a person's grant returns (authorization code and refresh): an access token
//! for the userinfo audience — or, with RFC 8707 resources, for them
//! (`crate::resources`) — and for `openid` an ID token, in one [`TokenResponse`].
//! Both grants mint through here, so the two responses cannot drift apart.

use usher_domain::scope::OPENID;
use usher_domain::{AuthMethods, Client, GrantType, ResourceUri, ScopeSet, UnixTime, User};

use crate::Core;
use crate::failure::Failure;
use crate::grants::{TokenError, TokenResponse};
use crate::groups::{self, Admission};
use crate::tokens::{self, AccessTokenInput, IdTokenInput, MintedAccessToken};

/// Whose tokens, for what.
pub struct Grant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: &'a ScopeSet,
    /// The access token's audiences (RFC 8707); empty: Usher's userinfo endpoint.
    pub resources: &'a [ResourceUri],
    pub auth_time: UnixTime,
    /// How the person signed in.
    pub amr: &'a AuthMethods,
    /// The `nonce` of the authorization request (code exchange only).
    pub nonce: Option<&'a str>,
    /// The browser session's `sid` (`tokens::sid_of` its lineage), for the ID token.
    pub sid: Option<&'a str>,
    /// The person's groups as the `groups` claim (`crate::groups::admit`), when the
    /// grant has the `groups` scope: read at this issuance, so a membership change shows
    /// in the next token.
    pub groups: Option<&'a [String]>,
    pub now: UnixTime,
}

impl Grant<'_> {
    /// When the access (and ID) token expire.
    pub fn expires_at(&self, core: &Core) -> UnixTime {
        self.now.plus(core.settings.access_token_ttl)
    }
}

/// The `groups` claim for a person grant, or the refusal when the client is restricted
/// to groups the person is no longer in (`invalid_grant`: the grant itself no longer
/// stands).
pub async fn groups_claim(
    core: &Core,
    client: &Client,
    user: &User,
    scope: &ScopeSet,
) -> Result<Option<Vec<String>>, TokenError> {
    match groups::admit(core, client, &user.id, scope).await? {
        Admission::Admitted { claim } => Ok(claim),
        Admission::NotAMember => Err(TokenError::invalid_grant(NOT_A_MEMBER)),
    }
}

/// The `error_description` of a person grant refused because the person is in none of
/// the client's allowed groups.
pub const NOT_A_MEMBER: &str = "the person is not in any group allowed to use this client";

/// A signing failure: the cause goes to the log only; the client sees `server_error`.
pub(crate) fn signing_failed(what: &str, cause: &str) -> Failure {
    tracing::error!(%cause, "{what}");
    Failure::Internal
}

/// Signs the access token (RFC 9068; audience: the grant's resources, or else Usher's
/// userinfo endpoint).
pub fn access_token(core: &Core, grant: &Grant<'_>) -> Result<MintedAccessToken, Failure> {
    let settings = &core.settings;
    let audience = if grant.resources.is_empty() {
        vec![settings.userinfo_audience()]
    } else {
        grant
            .resources
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect()
    };
    tokens::access_token(
        &core.published_keys().ring,
        &AccessTokenInput {
            alg: settings.access_token_alg,
            issuer: settings.issuer.as_str(),
            subject: grant.user.id.as_str(),
            audience: &audience,
            client_id: grant.client.id.as_str(),
            scope: grant.scope,
            auth_time: Some(grant.auth_time),
            amr: Some(grant.amr),
            groups: grant.groups,
            issued_at: grant.now,
            expires_at: grant.expires_at(core),
        },
    )
    .map_err(|cause| signing_failed("cannot sign an access token", &cause))
}

/// The token response: the access token, the refresh token if any, and for `openid` an
/// ID token (with `at_hash` of this access token).
pub fn respond(
    core: &Core,
    grant: &Grant<'_>,
    access: MintedAccessToken,
    refresh_token: Option<String>,
    grant_type: GrantType,
) -> Result<TokenResponse, Failure> {
    let settings = &core.settings;
    let id_token = if grant.scope.contains(OPENID) {
        let signed = tokens::id_token(
            &core.published_keys(),
            &IdTokenInput {
                alg: settings.id_token_alg_for(grant.client),
                issuer: settings.issuer.as_str(),
                client_id: grant.client.id.as_str(),
                user: grant.user,
                scope: grant.scope,
                nonce: grant.nonce,
                auth_time: grant.auth_time,
                amr: grant.amr,
                issued_at: grant.now,
                expires_at: grant.expires_at(core),
                access_token: &access.token,
                sid: grant.sid,
                groups: grant.groups,
            },
        );
        Some(signed.map_err(|cause| signing_failed("cannot sign an ID token", &cause))?)
    } else {
        None
    };
    tracing::info!(client_id = %grant.client.id, grant_type = grant_type.as_str(), "tokens issued");
    Ok(TokenResponse {
        grant_type,
        access_token: access.token,
        expires_in: settings.access_token_ttl,
        scope: grant.scope.clone(),
        refresh_token,
        id_token,
    })
}
