//! Client authentication at the token, revocation and introspection endpoints, the HTTP
//! side: reads the `Authorization` header (`client_secret_basic`, with the RFC 6749
//! §2.3.1 form-encoding of id and secret) and hands the presented credentials to
//! [`usher_core::client_auth`], which decides. Whether the client tried Basic — for the
//! `WWW-Authenticate` challenge — is known here: it sent the header.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
pub use usher_core::client_auth::BasicError;
use usher_core::client_auth::{self as core_auth, ClientAuthError, Credentials};
use usher_domain::authorize::RawParams;
use usher_domain::{Client, ProtocolError};

use crate::Core;
use crate::params;
use crate::respond::Failure;

/// Why authentication failed, ready for [`crate::respond::token_error`].
pub struct AuthFailure {
    pub error: ProtocolError,
    pub description: &'static str,
    pub tried_basic: bool,
    /// Set when the server, not the client, failed.
    pub failure: Option<Failure>,
}

impl AuthFailure {
    fn new(e: ClientAuthError, tried_basic: bool) -> AuthFailure {
        match e {
            ClientAuthError::Refused { error, description } => AuthFailure {
                error,
                description,
                tried_basic,
                failure: None,
            },
            ClientAuthError::Failure(f) => AuthFailure {
                error: ProtocolError::InvalidClient,
                description: core_auth::AUTHENTICATION_FAILED,
                tried_basic,
                failure: Some(f),
            },
        }
    }
}

fn form_decode(raw: &str) -> Option<String> {
    params::decode(raw.as_bytes())
        .ok()
        .and_then(|mut p| (p.len() == 1).then(|| p.remove(0).0))
        .or_else(|| raw.is_empty().then(String::new))
}

/// Parses an `Authorization: Basic …` header value into the client id and secret, each
/// form-decoded (RFC 6749 §2.3.1). Public so the property tests and the fuzzer reach it.
pub fn basic_credentials(header: &str) -> Result<(String, String), BasicError> {
    let encoded = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, rest)| rest.trim())
        .ok_or(BasicError::NotBasic)?;
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|_| BasicError::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| BasicError::Malformed)?;
    let (id, secret) = decoded.split_once(':').ok_or(BasicError::Malformed)?;
    let id = form_decode(id).ok_or(BasicError::Malformed)?;
    let secret = form_decode(secret).ok_or(BasicError::Malformed)?;
    Ok((id, secret))
}

/// Authenticates the client of a token-endpoint request: reads the header, lets the core
/// decide, and tags the request with the client for the access log.
pub async fn authenticate(
    state: &Core,
    req: &HttpRequest,
    form: &RawParams,
) -> Result<Client, AuthFailure> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(basic_credentials);
    let tried_basic = header.is_some();
    let presented =
        Credentials::presented(header, form).map_err(|e| AuthFailure::new(e, tried_basic))?;
    match core_auth::authenticate(state, &presented).await {
        Ok(client) => Ok(crate::access::tag_client(req, client)),
        Err(e) => Err(AuthFailure::new(e, tried_basic)),
    }
}
