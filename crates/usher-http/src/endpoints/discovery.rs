//! `GET /.well-known/openid-configuration` (OIDC Discovery 1.0 §4) and the same document
//! at `/.well-known/oauth-authorization-server` (RFC 8414 §3).
//!
//! The document is rendered once at start from the issuer and the route constants, with
//! `openidconnect`'s provider-metadata type, and served from memory.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, Resource, web};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, IssuerUrl, JsonWebKeySetUrl,
    ProviderMetadata, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};
use usher_domain::scope::OIDC_SCOPES;
use usher_domain::{Acr, AuthMethod, GrantType, Issuer, SigningAlg};

use crate::Core;
use crate::routes;

/// Members that `openidconnect`'s metadata type does not carry (RFC 8414, RFC 7636).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsherMetadata {
    /// RFC 8414 §2 / RFC 7636 §6.2: S256 only; `plain` is refused and so not listed.
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207 §3: every authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 8414 §2 / RFC 7009: `POST /revoke`.
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 8414 §2 / RFC 7662: `POST /introspect`.
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// OpenID Connect RP-Initiated Logout 1.0 §2.1: `GET`/`POST /logout`.
    pub end_session_endpoint: String,
    /// OpenID Connect Back-Channel Logout 1.0 §2.1: clients registered with a
    /// `backchannel_logout_uri` are sent logout tokens.
    pub backchannel_logout_supported: bool,
    /// Back-Channel Logout 1.0 §2.1: logout tokens carry `sid` (and ID tokens carry it).
    pub backchannel_logout_session_supported: bool,
}

impl AdditionalProviderMetadata for UsherMetadata {}

/// Usher's provider metadata type.
pub type UsherProviderMetadata = ProviderMetadata<
    UsherMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The scopes discovery lists: OIDC Core §5.4's `openid`, `profile`, `email`, `phone`,
/// `address`, and `offline_access` (§11, refresh tokens).
pub const SCOPES_SUPPORTED: [&str; 6] = OIDC_SCOPES;

/// The `acr` values a sign-in can reach today (docs/design/mfa.md): a password, and a
/// password with a second factor. `phr` joins them with passkey sign-in.
pub const ACR_VALUES_SUPPORTED: [Acr; 2] = [Acr::Password, Acr::Mfa];

/// The claims Usher puts in ID tokens and userinfo responses.
pub const CLAIMS_SUPPORTED: [&str; 19] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "acr",
    "amr",
    "name",
    "preferred_username",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "address",
    "sid",
];

/// The client authentication methods of the token, revocation and introspection
/// endpoints (they share `client_auth`).
fn auth_methods() -> Vec<String> {
    AuthMethod::ALL
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// Renders the discovery document for an issuer.
pub fn render(issuer: &Issuer) -> Result<Vec<u8>, String> {
    let url_err = |e: url::ParseError| format!("the issuer does not form endpoint URLs: {e}");
    let metadata = UsherProviderMetadata::new(
        IssuerUrl::new(issuer.as_str().to_owned()).map_err(url_err)?,
        AuthUrl::new(issuer.endpoint(routes::AUTHORIZE)).map_err(url_err)?,
        JsonWebKeySetUrl::new(issuer.endpoint(routes::JWKS)).map_err(url_err)?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        // Every algorithm Usher keeps keys for (docs/design/key-rotation.md,
        // "Algorithms"): RS256 first, the default. Userinfo and introspection answer
        // plain JSON, and no client authenticates with a JWT, so no other
        // `*_signing_alg_values_supported` member is listed.
        SigningAlg::ALL
            .into_iter()
            .map(usher_core::tokens::core_alg)
            .collect(),
        UsherMetadata {
            code_challenge_methods_supported: vec!["S256".to_owned()],
            authorization_response_iss_parameter_supported: true,
            revocation_endpoint: issuer.endpoint(routes::REVOKE),
            revocation_endpoint_auth_methods_supported: auth_methods(),
            introspection_endpoint: issuer.endpoint(routes::INTROSPECT),
            introspection_endpoint_auth_methods_supported: auth_methods(),
            end_session_endpoint: issuer.endpoint(routes::LOGOUT),
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
        },
    )
    .set_token_endpoint(Some(
        TokenUrl::new(issuer.endpoint(routes::TOKEN)).map_err(url_err)?,
    ))
    .set_userinfo_endpoint(Some(
        UserInfoUrl::new(issuer.endpoint(routes::USERINFO)).map_err(url_err)?,
    ))
    .set_scopes_supported(Some(
        SCOPES_SUPPORTED
            .iter()
            .map(|s| Scope::new((*s).to_owned()))
            .collect(),
    ))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(
        GrantType::ALL
            .iter()
            .map(|g| match g {
                GrantType::AuthorizationCode => CoreGrantType::AuthorizationCode,
                GrantType::RefreshToken => CoreGrantType::RefreshToken,
                GrantType::ClientCredentials => CoreGrantType::ClientCredentials,
            })
            .collect(),
    ))
    .set_token_endpoint_auth_methods_supported(Some(
        AuthMethod::ALL
            .iter()
            .map(|m| match m {
                AuthMethod::ClientSecretBasic => CoreClientAuthMethod::ClientSecretBasic,
                AuthMethod::ClientSecretPost => CoreClientAuthMethod::ClientSecretPost,
                AuthMethod::None => CoreClientAuthMethod::None,
            })
            .collect(),
    ))
    .set_claims_supported(Some(
        CLAIMS_SUPPORTED
            .iter()
            .map(|c| CoreClaimName::new((*c).to_owned()))
            .collect(),
    ))
    .set_acr_values_supported(Some(
        ACR_VALUES_SUPPORTED
            .iter()
            .map(|a| AuthenticationContextClass::new(a.as_str().to_owned()))
            .collect(),
    ))
    .set_claims_parameter_supported(Some(false))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false));
    serde_json::to_vec(&metadata).map_err(|e| format!("discovery does not serialise: {e}"))
}

async fn get(state: web::Data<Core>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .body(state.discovery.to_vec())
}

pub fn routes() -> impl actix_web::dev::HttpServiceFactory {
    (
        Resource::new(routes::DISCOVERY).route(web::get().to(get)),
        Resource::new(routes::OAUTH_METADATA).route(web::get().to(get)),
    )
}
