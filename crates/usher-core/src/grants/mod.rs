//! The grants of the token endpoint (RFC 6749 §4, §6), one module each, and what they
//! share: the request read from the form ([`TokenRequest`]), the typed outcome
//! ([`TokenResponse`] or [`TokenError`]) and the `grant_type` dispatch. RFC 8707
//! `resource` is decided by each grant (`crate::resources` for the person grants).
//!
//! A grant takes the authenticated client and the request's parameters as values and
//! decides; it names no HTTP type. `usher-http`'s token endpoint renders the outcome
//! (status, JSON body, cache headers) and counts the tokens issued from
//! [`TokenResponse::grant_type`].

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod person_tokens;
pub mod refresh_token;

#[cfg(test)]
pub(crate) mod fixtures;

use usher_domain::authorize::{RawParams, Rejection, single};
use usher_domain::scope::ScopeError;
use usher_domain::{Client, GrantType, ProtocolError, ScopeSet};

use crate::Core;
use crate::failure::Failure;
use crate::redact::{REDACTED, redacted};

/// What a grant issued: the values of an RFC 6749 §5.1 response.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The grant that issued it (the tokens-issued metric is counted by it).
    pub grant_type: GrantType,
    /// The access token (`token_type` is always `Bearer`).
    pub access_token: String,
    /// The access token's lifetime, in seconds.
    pub expires_in: i64,
    pub scope: ScopeSet,
    pub refresh_token: Option<String>,
    /// For a person's grant with `openid`.
    pub id_token: Option<String>,
}

/// Never shows a token, so a `{:?}` cannot put one in a log.
impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("grant_type", &self.grant_type)
            .field("access_token", &REDACTED)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("id_token", &redacted(&self.id_token))
            .finish()
    }
}

/// Why a grant issued nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// An RFC 6749 §5.2 error with a description that names the fix.
    Refused(Rejection),
    /// The server, not the request, failed (503 or 500).
    Failure(Failure),
}

impl From<Failure> for TokenError {
    fn from(f: Failure) -> TokenError {
        TokenError::Failure(f)
    }
}

impl From<crate::resources::TargetError> for TokenError {
    fn from(e: crate::resources::TargetError) -> TokenError {
        match e {
            crate::resources::TargetError::Refused(r) => TokenError::Refused(r),
            crate::resources::TargetError::Failure(f) => TokenError::Failure(f),
        }
    }
}

impl TokenError {
    /// A refusal with `error` and `description`.
    pub fn refused(error: ProtocolError, description: impl Into<String>) -> TokenError {
        TokenError::Refused(Rejection {
            error,
            description: description.into(),
        })
    }

    /// An `invalid_grant` refusal.
    pub fn invalid_grant(description: impl Into<String>) -> TokenError {
        TokenError::refused(ProtocolError::InvalidGrant, description)
    }
}

/// Refuses a client that is not registered for `grant` (`unauthorized_client`), as every
/// grant does before it reads its parameters.
pub(crate) fn require_grant(client: &Client, grant: GrantType) -> Result<(), TokenError> {
    if client.allows_grant(grant) {
        return Ok(());
    }
    Err(TokenError::refused(
        ProtocolError::UnauthorizedClient,
        format!(
            "this client is not registered for the {} grant",
            grant.as_str()
        ),
    ))
}

/// A token request's parameters, read from the form once (the endpoint has refused
/// repeated parameters, `resource` excepted). Only `grant_type` is checked here; each
/// grant refuses what it needs in its own order (its client first, then `resource`, then
/// its parameters), so a request is answered as it always was.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub grant_type: GrantType,
    /// `code` (authorization_code).
    pub code: Option<String>,
    /// `redirect_uri` (authorization_code).
    pub redirect_uri: Option<String>,
    /// `code_verifier` (authorization_code), checked against the code's challenge.
    pub code_verifier: Option<String>,
    /// `refresh_token` (refresh_token).
    pub refresh_token: Option<String>,
    /// `device_code` (urn:ietf:params:oauth:grant-type:device_code).
    pub device_code: Option<String>,
    /// `scope` (refresh_token, client_credentials), parsed; each grant words its own
    /// refusal of a malformed one.
    pub scope: Option<Result<ScopeSet, ScopeError>>,
    /// Every `resource` sent (RFC 8707 §2 lets it repeat), empty ones included.
    pub resources: Vec<String>,
}

/// Never shows the code, the verifier or the refresh token.
impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("code", &redacted(&self.code))
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &redacted(&self.code_verifier))
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("device_code", &redacted(&self.device_code))
            .field("scope", &self.scope)
            .field("resources", &self.resources)
            .finish()
    }
}

impl TokenRequest {
    /// Reads a token request from its form: `grant_type` must be one Usher supports;
    /// every other parameter is kept as sent (empty values are absent).
    pub fn parse(form: &RawParams) -> Result<TokenRequest, TokenError> {
        let grant_type = match single(form, "grant_type") {
            None => {
                return Err(TokenError::refused(
                    ProtocolError::InvalidRequest,
                    "grant_type is missing",
                ));
            }
            Some(g) => g.parse().map_err(|_| {
                TokenError::refused(
                    ProtocolError::UnsupportedGrantType,
                    "this grant_type is not supported; use authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code",
                )
            })?,
        };
        let text = |name: &str| single(form, name).map(str::to_owned);
        Ok(TokenRequest {
            grant_type,
            code: text("code"),
            redirect_uri: text("redirect_uri"),
            code_verifier: text("code_verifier"),
            refresh_token: text("refresh_token"),
            device_code: text("device_code"),
            scope: single(form, "scope").map(ScopeSet::parse),
            resources: form
                .iter()
                .filter(|(k, _)| k == "resource")
                .map(|(_, v)| v.clone())
                .collect(),
        })
    }
}

/// A token request of an authenticated `client`: the grant it names decides.
pub async fn token(
    core: &Core,
    client: Client,
    request: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    // A dynamically registered client is removed when unused: a code exchanged or a
    // refresh made is a use (recorded at most once an hour, `registration::note_use`).
    let dynamic = client
        .registration
        .dynamically_registered
        .then(|| client.id.clone());
    let issued = match request.grant_type {
        GrantType::AuthorizationCode => authorization_code::exchange(core, client, request).await,
        GrantType::RefreshToken => refresh_token::refresh(core, client, request).await,
        GrantType::ClientCredentials => client_credentials::issue(core, client, request).await,
        GrantType::DeviceCode => device_code::poll(core, client, request).await,
    };
    if let (Some(id), Ok(_)) = (dynamic, &issued) {
        crate::registration::note_use(core, id).await;
    }
    issued
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::form;

    #[test]
    fn grant_type_is_required_and_must_be_one_usher_supports() {
        let grant_type = |f: RawParams| TokenRequest::parse(&f).map(|r| r.grant_type);
        assert_eq!(
            grant_type(form(&[("grant_type", "refresh_token")])),
            Ok(GrantType::RefreshToken)
        );
        for missing in [form(&[]), form(&[("grant_type", "")])] {
            assert_eq!(
                grant_type(missing),
                Err(TokenError::refused(
                    ProtocolError::InvalidRequest,
                    "grant_type is missing"
                ))
            );
        }
        for unsupported in ["password", "implicit", "device_code"] {
            let Err(TokenError::Refused(r)) = grant_type(form(&[("grant_type", unsupported)]))
            else {
                panic!("{unsupported} was accepted");
            };
            assert_eq!(r.error, ProtocolError::UnsupportedGrantType);
            assert_eq!(
                r.description,
                "this grant_type is not supported; use authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code"
            );
        }
    }

    #[test]
    fn a_request_keeps_its_parameters_and_every_resource() {
        let r = TokenRequest::parse(&form(&[
            ("grant_type", "client_credentials"),
            ("scope", "api:read"),
            ("code", ""),
            ("resource", "https://a.example"),
            ("resource", ""),
        ]))
        .unwrap();
        assert_eq!(r.scope, Some(ScopeSet::parse("api:read")));
        assert_eq!(r.code, None);
        assert_eq!(r.resources, ["https://a.example", ""]);
    }

    #[test]
    fn debug_output_never_shows_a_token_code_or_verifier() {
        let r = TokenRequest::parse(&form(&[
            ("grant_type", "authorization_code"),
            ("code", "the-code"),
            ("code_verifier", "the-verifier"),
            ("refresh_token", "the-refresh-token"),
            ("device_code", "the-device-code"),
        ]))
        .unwrap();
        let shown = format!("{r:?}");
        let issued = TokenResponse {
            grant_type: GrantType::AuthorizationCode,
            access_token: "the-access-token".into(),
            expires_in: 300,
            scope: ScopeSet::default(),
            refresh_token: Some("the-refresh-token".into()),
            id_token: Some("the-id-token".into()),
        };
        let shown = format!("{shown} {issued:?}");
        for secret in [
            "the-code",
            "the-device-code",
            "the-verifier",
            "the-refresh-token",
            "the-access-token",
            "the-id-token",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
