//! Client authentication at the token endpoint (RFC 6749 §2.3): `client_secret_basic`
//! (with the §2.3.1 form-encoding of id and secret), `client_secret_post`, and `none`
//! for public clients. A client must use the method it was registered with.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use usher_domain::authorize::RawParams;
use usher_domain::{AuthMethod, Client, ClientId, ProtocolError};

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

fn fail(error: ProtocolError, description: &'static str, tried_basic: bool) -> AuthFailure {
    AuthFailure {
        error,
        description,
        tried_basic,
        failure: None,
    }
}

/// Credentials as presented.
struct Presented {
    client_id: String,
    secret: Option<String>,
    method: AuthMethod,
}

fn form_decode(raw: &str) -> Option<String> {
    params::decode(raw.as_bytes())
        .ok()
        .and_then(|mut p| (p.len() == 1).then(|| p.remove(0).0))
        .or_else(|| raw.is_empty().then(String::new))
}

fn presented(req: &HttpRequest, form: &RawParams) -> Result<Presented, AuthFailure> {
    // The endpoints refuse every repeat before they get here; this keeps a future caller
    // that lets other names repeat from reading credentials out of a repeated pair.
    let credentials: RawParams = form
        .iter()
        .filter(|(k, _)| k == "client_id" || k == "client_secret")
        .cloned()
        .collect();
    if params::reject_repeats(&credentials, &[]).is_err() {
        return Err(fail(
            ProtocolError::InvalidRequest,
            "client_id or client_secret is repeated",
            false,
        ));
    }
    let body_id = params::single(form, "client_id");
    let body_secret = params::single(form, "client_secret");
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(h) = header {
        let (id, secret) = basic_credentials(h).map_err(|e| {
            fail(
                ProtocolError::InvalidClient,
                match e {
                    BasicError::NotBasic => "the Authorization header must use the Basic scheme",
                    BasicError::Malformed => "the Basic credentials are malformed",
                },
                true,
            )
        })?;
        if body_secret.is_some() {
            return Err(fail(
                ProtocolError::InvalidRequest,
                "use one client authentication method, not Basic and client_secret together",
                true,
            ));
        }
        if body_id.is_some_and(|b| b != id) {
            return Err(fail(
                ProtocolError::InvalidRequest,
                "client_id in the body differs from the Basic credentials",
                true,
            ));
        }
        return Ok(Presented {
            client_id: id,
            secret: Some(secret),
            method: AuthMethod::ClientSecretBasic,
        });
    }
    let Some(id) = body_id else {
        return Err(fail(
            ProtocolError::InvalidClient,
            "client authentication is missing: use HTTP Basic, client_secret_post, or client_id for a public client",
            false,
        ));
    };
    Ok(match body_secret {
        Some(s) => Presented {
            client_id: id.to_owned(),
            secret: Some(s.to_owned()),
            method: AuthMethod::ClientSecretPost,
        },
        None => Presented {
            client_id: id.to_owned(),
            secret: None,
            method: AuthMethod::None,
        },
    })
}

/// Why an `Authorization` header is not usable Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicError {
    /// Another scheme (or none).
    NotBasic,
    /// Not base64, not UTF-8, no colon, or a bad form-encoding of either part.
    Malformed,
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

/// Authenticates the client of a token-endpoint request.
pub async fn authenticate(
    state: &Core,
    req: &HttpRequest,
    form: &RawParams,
) -> Result<Client, AuthFailure> {
    let p = presented(req, form)?;
    let basic = p.method == AuthMethod::ClientSecretBasic;
    let unknown = || {
        fail(
            ProtocolError::InvalidClient,
            "client authentication failed",
            basic,
        )
    };
    let Some(id) = ClientId::parse(&p.client_id) else {
        return Err(unknown());
    };
    let accepts = |client: &Client| {
        client.registration.auth_method == p.method
            && match (&p.secret, &client.secret_hash) {
                (None, None) => client.is_public(),
                (Some(secret), Some(hash)) => state.secrets.verify(secret, hash),
                _ => false,
            }
    };
    // This node's copy first (no store call). If it refuses, it may be a moment old (a
    // secret rotated just now): the store decides, exactly as without a copy.
    if let Some(c) = state.remembered_client(&id)
        && accepts(&c)
    {
        return Ok(crate::access::tag_client(req, c));
    }
    let client = match state.reload_client(&id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            // Spend what a real check spends, so timing does not reveal unknown ids.
            if let Some(s) = &p.secret {
                let _ = state
                    .secrets
                    .verify(s, "hmac-sha256.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
            }
            return Err(unknown());
        }
        Err(f) => {
            return Err(AuthFailure {
                failure: Some(f),
                ..unknown()
            });
        }
    };
    if accepts(&client) {
        return Ok(crate::access::tag_client(req, client));
    }
    if client.registration.auth_method != p.method {
        tracing::info!(client_id = %client.id, "client used an authentication method it is not registered for");
    } else {
        tracing::info!(client_id = %client.id, "client authentication failed");
    }
    Err(unknown())
}
