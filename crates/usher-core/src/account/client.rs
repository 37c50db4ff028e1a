//! Usher's built-in client, `usher-account`: the account page signs people in to Usher
//! through Usher's own authorization endpoint, as a first-party client of itself (like
//! Keycloak's built-in account console). It is never stored: the core's client lookup
//! (`Core::client`, `Core::remembered_client`, `Core::reload_client`) synthesises it from
//! the settings, so no row can change it. Migration 000015 stores a placeholder row
//! under its id only for the foreign key of `authorization_codes.client_id`; the store
//! never returns, lists, deletes or updates that row, and a client created with this id
//! is a conflict (the CLI draws UUIDs anyway, and refuses the id in its commands).
//!
//! Public (no secret), PKCE S256 required, scope `openid`, one redirect URI:
//! `<issuer>/account/callback`. Because that URI is on the issuer's own origin, where
//! only Usher listens, it skips the consent page although it is public
//! (`ClientRegistration::built_in`).

use usher_domain::{
    AuthMethod, Client, ClientId, ClientName, ClientRegistration, GrantType, RedirectUri, ScopeSet,
    UnixTime,
};

use crate::Settings;

/// The built-in client's id.
pub const ACCOUNT_CLIENT_ID: &str = usher_domain::client::BUILT_IN_ACCOUNT_CLIENT_ID;

/// The account page's own path.
pub const ACCOUNT_PATH: &str = "/account";

/// Where the authorization endpoint sends the account page's codes.
pub const CALLBACK_PATH: &str = "/account/callback";

/// The authorization endpoint's path (the router serves it at the same constant).
pub const AUTHORIZE_PATH: &str = "/authorize";

/// The name the login page shows ("to continue to …").
pub const ACCOUNT_CLIENT_NAME: &str = "your Usher account";

/// Whether `id` names the built-in client.
pub fn is_built_in(id: &ClientId) -> bool {
    id.as_str() == ACCOUNT_CLIENT_ID
}

/// The built-in client's redirect URI.
pub fn redirect_uri(settings: &Settings) -> String {
    settings.issuer.endpoint(CALLBACK_PATH)
}

/// The built-in client for this node's issuer. `None` only if the issuer cannot carry a
/// redirect URI (it always can: an issuer is https, or http on loopback).
pub fn built_in(settings: &Settings) -> Option<Client> {
    let redirect = match RedirectUri::parse(&redirect_uri(settings)) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(cause = %e, "the account page's redirect URI is not valid");
            return None;
        }
    };
    Some(Client {
        id: ClientId::parse(ACCOUNT_CLIENT_ID)?,
        secret_hash: None,
        registration: ClientRegistration {
            name: ClientName::parse(ACCOUNT_CLIENT_NAME).ok()?,
            auth_method: AuthMethod::None,
            redirect_uris: vec![redirect],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: ScopeSet::parse("openid").ok()?,
            audiences: Vec::new(),
            pkce_required: true,
            first_party: true,
            // The account page asks for what the person's own sign-in gives; the server's
            // `mfa` setting still applies to it.
            require_mfa: false,
            backchannel_logout: None,
            allowed_origins: Vec::new(),
            id_token_signed_response_alg: None,
            built_in: true,
            metadata_document: false,
            dynamically_registered: false,
            allowed_groups: Vec::new(),
        },
        created_at: UnixTime(0),
    })
}
