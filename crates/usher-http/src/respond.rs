//! The one place that turns outcomes into HTTP: token-endpoint JSON errors, redirects back
//! to a client, and running blocking store calls off the executor.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION, PRAGMA, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use usher_domain::{ProtocolError, StoreError};

/// A failure of the server's own dependencies, not of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The database (or another store) could not be reached: 503, try again.
    Unavailable,
    /// A bug or corrupt data: 500.
    Internal,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "a store is unavailable");
                Failure::Unavailable
            }
            StoreError::Conflict(cause) | StoreError::Corrupt(cause) => {
                tracing::error!(%cause, "a store call failed");
                Failure::Internal
            }
        }
    }
}

/// Runs a blocking store call on actix's blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match web::block(f).await {
        Ok(result) => result.map_err(|e| {
            crate::metrics::inc(crate::metrics::Counter::StoreErrors, "database");
            Failure::from(e)
        }),
        Err(e) => {
            tracing::error!(cause = %e, "the blocking pool failed");
            Err(Failure::Internal)
        }
    }
}

/// A JSON body that must never be cached (RFC 6749 §5.1).
pub fn json_no_store(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(body)
}

/// An RFC 6749 §5.2 error from the token (or revocation/introspection) endpoint.
/// `invalid_client` is 401, with a `Basic` challenge when the client tried Basic.
pub fn token_error(error: ProtocolError, description: &str, tried_basic: bool) -> HttpResponse {
    let status = match error {
        ProtocolError::InvalidClient => StatusCode::UNAUTHORIZED,
        ProtocolError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ProtocolError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = json_no_store(
        status,
        &json!({ "error": error.code(), "error_description": description }),
    );
    if error == ProtocolError::InvalidClient
        && tried_basic
        && let Ok(v) = "Basic realm=\"usher\", charset=\"UTF-8\"".parse()
    {
        response.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    response
}

/// A dependency failure, as a token-endpoint JSON error.
pub fn token_failure(f: Failure) -> HttpResponse {
    match f {
        Failure::Unavailable => token_error(
            ProtocolError::TemporarilyUnavailable,
            "the server cannot reach its storage; try again shortly",
            false,
        ),
        Failure::Internal => token_error(ProtocolError::ServerError, "internal error", false),
    }
}

/// `uri` with `pairs` added to its query (keeping any query it has: RFC 6749 §3.1.2).
pub fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::from(uri);
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    let extra = serializer.finish();
    if extra.is_empty() {
        return out;
    }
    out.push(if uri.contains('?') { '&' } else { '?' });
    out.push_str(&extra);
    out
}

/// A `303 See Other` to a client's redirect URI (never cached).
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_query_keeps_the_registered_query() {
        assert_eq!(
            with_query(
                "https://a.example/cb?x=1",
                &[("code", "a b"), ("state", "s&t")]
            ),
            "https://a.example/cb?x=1&code=a+b&state=s%26t"
        );
        assert_eq!(
            with_query("https://a.example/cb", &[("e", "1")]),
            "https://a.example/cb?e=1"
        );
    }
}
