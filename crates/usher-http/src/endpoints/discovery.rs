//! `GET /.well-known/openid-configuration` (OIDC Discovery 1.0 §4) and the same document
//! as RFC 8414 authorization-server metadata at `/.well-known/oauth-authorization-server`
//! — and, when the issuer has a path (`https://host/tenant`), also at
//! `/.well-known/oauth-authorization-server/tenant`, where RFC 8414 §3.1 puts it (the
//! well-known segment between the host and the issuer's path). A proxy that serves Usher
//! under the issuer's path forwards that one location to Usher as it is.
//!
//! The document is rendered once at start by [`render`] — one function for both, so the
//! two can never differ — from the issuer and the route constants, with `openidconnect`'s
//! provider-metadata type, and served from memory. Any origin may read it
//! (`Access-Control-Allow-Origin: *`, docs/design/cors.md).

use actix_web::http::Method;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, Resource, web};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, IssuerUrl, JsonWebKeySetUrl,
    ProviderMetadata, RegistrationUrl, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};
use usher_domain::scope::OIDC_SCOPES;
use usher_domain::{Acr, AuthMethod, GrantType, Issuer, SigningAlg};

use crate::Core;
use crate::cors;
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
    /// draft-ietf-oauth-client-id-metadata-document: whether a client id may be the URL
    /// of a metadata document (`client_metadata_documents`; docs/design/registration.md).
    /// Said explicitly when `false`, so MCP clients fall back to registration or a
    /// registered client id.
    pub client_id_metadata_document_supported: bool,
    /// RFC 8628 §4: `POST /device_authorization`.
    pub device_authorization_endpoint: String,
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
/// `address`, `offline_access` (§11, refresh tokens), and `groups` (the person's groups,
/// docs/design/groups.md).
pub const SCOPES_SUPPORTED: [&str; 7] = OIDC_SCOPES;

/// The `acr` values a sign-in can reach today (docs/design/mfa.md): a password, and a
/// password with a second factor. `phr` joins them with passkey sign-in.
pub const ACR_VALUES_SUPPORTED: [Acr; 2] = [Acr::Password, Acr::Mfa];

/// The claims Usher puts in ID tokens and userinfo responses.
pub const CLAIMS_SUPPORTED: [&str; 20] = [
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
    "groups",
];

/// The client authentication methods of the token, revocation and introspection
/// endpoints (they share `client_auth`).
fn auth_methods() -> Vec<String> {
    AuthMethod::ALL
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// How clients that the operator did not create may come in, as discovery announces it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientIntake {
    /// Dynamic client registration is on (then `registration_endpoint` is listed,
    /// RFC 8414 §2).
    pub registration: bool,
    /// Client ID Metadata Documents are accepted.
    pub client_metadata_documents: bool,
}

/// Renders the discovery document for an issuer.
pub fn render(issuer: &Issuer, intake: ClientIntake) -> Result<Vec<u8>, String> {
    let ClientIntake {
        registration,
        client_metadata_documents,
    } = intake;
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
            client_id_metadata_document_supported: client_metadata_documents,
            device_authorization_endpoint: issuer.endpoint(routes::DEVICE_AUTHORIZATION),
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
                GrantType::DeviceCode => CoreGrantType::DeviceCode,
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
    .set_request_uri_parameter_supported(Some(false))
    .set_registration_endpoint(if registration {
        Some(RegistrationUrl::new(issuer.endpoint(routes::REGISTER)).map_err(url_err)?)
    } else {
        None
    });
    serde_json::to_vec(&metadata).map_err(|e| format!("discovery does not serialise: {e}"))
}

async fn get(state: web::Data<Core>) -> HttpResponse {
    cors::public(
        HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "application/json"))
            .insert_header((CACHE_CONTROL, "public, max-age=300"))
            .body(state.discovery.to_vec()),
    )
}

/// RFC 8414 §3.1's location of the metadata of `issuer`: the well-known path, then the
/// issuer's path if it has one (`/.well-known/oauth-authorization-server/tenant`).
/// `None` for an issuer without a path (the plain location serves it).
pub fn issuer_path_location(issuer: &Issuer) -> Option<String> {
    let url = url::Url::parse(issuer.as_str()).ok()?;
    let path = url.path();
    (path != "/" && !path.is_empty()).then(|| format!("{}{path}", routes::OAUTH_METADATA))
}

fn resource(path: &str) -> Resource {
    Resource::new(path)
        .route(web::get().to(get))
        .route(web::method(Method::OPTIONS).to(cors::public_preflight))
}

pub fn routes(issuer: &Issuer) -> Vec<Resource> {
    let mut resources = vec![
        resource(routes::DISCOVERY),
        resource(routes::OAUTH_METADATA),
    ];
    if let Some(location) = issuer_path_location(issuer) {
        resources.push(resource(&location));
    }
    resources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_path_variant_puts_the_well_known_segment_before_the_path() {
        let at = |raw: &str| issuer_path_location(&Issuer::parse(raw).unwrap());
        assert_eq!(at("https://auth.example"), None);
        assert_eq!(
            at("https://auth.example/tenant"),
            Some("/.well-known/oauth-authorization-server/tenant".to_owned())
        );
        assert_eq!(
            at("https://auth.example/a/b"),
            Some("/.well-known/oauth-authorization-server/a/b".to_owned())
        );
    }

    #[test]
    fn one_document_carries_the_rfc_8414_members() {
        let doc: serde_json::Value = serde_json::from_slice(
            &render(
                &Issuer::parse("https://auth.example/t").unwrap(),
                ClientIntake::default(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(doc["issuer"], "https://auth.example/t");
        assert_eq!(doc["token_endpoint"], "https://auth.example/t/token");
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["client_id_metadata_document_supported"], false);
        assert!(doc.get("registration_endpoint").is_none());
        let on: serde_json::Value = serde_json::from_slice(
            &render(
                &Issuer::parse("https://auth.example/t").unwrap(),
                ClientIntake {
                    registration: true,
                    client_metadata_documents: true,
                },
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(on["client_id_metadata_document_supported"], true);
        assert_eq!(
            on["registration_endpoint"],
            "https://auth.example/t/register"
        );
    }
}
