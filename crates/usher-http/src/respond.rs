//! The one place that turns outcomes into HTTP: token-endpoint JSON errors and redirects
//! back to a client.
//!
//! Every `error_description` Usher sends — in a JSON error ([`token_error`]) or in a
//! redirect ([`error_redirect`]) — passes through [`wire_description`] here, so whatever a
//! description holds, what goes out is in RFC 6749's character set.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION, PRAGMA, WWW_AUTHENTICATE};
use serde_json::{Value, json};
pub use usher_core::Failure;
use usher_domain::ProtocolError;
use usher_domain::error::wire_description;

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
        &json!({ "error": error.code(), "error_description": wire_description(description) }),
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

/// An authorization error sent back to the client's redirect URI (RFC 6749 §4.1.2.1):
/// `error`, `error_description` (filtered to the allowed characters), the client's
/// `state` as sent, and `iss` (RFC 9207).
pub fn error_redirect(
    redirect_uri: &str,
    error: ProtocolError,
    description: &str,
    client_state: Option<&str>,
    issuer: &str,
) -> HttpResponse {
    redirect(&error_location(
        redirect_uri,
        error,
        description,
        client_state,
        issuer,
    ))
}

/// Where [`error_redirect`] sends the browser: the redirect URI with `error`,
/// `error_description`, `state` and `iss` (RFC 6749 §4.1.2.1, RFC 9207); also the target
/// of a page's link back to the client.
pub fn error_location(
    redirect_uri: &str,
    error: ProtocolError,
    description: &str,
    client_state: Option<&str>,
    issuer: &str,
) -> String {
    let description = wire_description(description);
    let mut pairs = vec![
        ("error", error.code()),
        ("error_description", description.as_str()),
    ];
    if let Some(s) = client_state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", issuer));
    with_query(redirect_uri, &pairs)
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
    use actix_web::body::MessageBody as _;
    use proptest::prelude::*;
    use usher_domain::error::is_description_char;

    use super::*;

    fn allowed(description: &str) -> bool {
        description.chars().all(is_description_char)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever a description holds, the JSON error and the redirect carry only
        /// RFC 6749's `%x20-21 / %x23-5B / %x5D-7E`.
        #[test]
        fn every_error_description_on_the_wire_is_in_the_allowed_set(
            description in prop_oneof![".{0,80}", any::<String>(), "[\\x00-\\x7f]{0,80}"]
        ) {
            let response = token_error(ProtocolError::InvalidRequest, &description, false);
            let body = response.into_body().try_into_bytes().unwrap();
            let json: Value = serde_json::from_slice(&body).unwrap();
            let sent = json["error_description"].as_str().unwrap();
            prop_assert!(allowed(sent), "{:?}", sent);
            prop_assert_eq!(sent.chars().count(), description.chars().count());

            let response = error_redirect(
                "https://app.example/cb?x=1",
                ProtocolError::InvalidScope,
                &description,
                Some("st"),
                "https://usher.example",
            );
            let location = response.headers().get(LOCATION).unwrap().to_str().unwrap();
            let url = url::Url::parse(location).unwrap();
            let sent: Vec<String> = url
                .query_pairs()
                .filter(|(k, _)| k == "error_description")
                .map(|(_, v)| v.into_owned())
                .collect();
            prop_assert_eq!(sent.len(), 1);
            prop_assert!(allowed(&sent[0]), "{:?}", sent[0]);
            // A description can add no parameter of its own.
            let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
            prop_assert_eq!(names, ["x", "error", "error_description", "state", "iss"]);
        }
    }

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
