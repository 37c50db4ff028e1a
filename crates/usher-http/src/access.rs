//! The access middleware: every request gets a request id (returned as `X-Request-Id`),
//! is counted and timed in [`crate::metrics`] under its route pattern, and produces one
//! structured log line with the request id, method, route, status, latency and — when a
//! client authenticated — its client id.
//!
//! The line is built only from values that cannot carry a secret: the route *pattern*
//! (never the raw path or query, which hold codes, states and hints), the status, the
//! time, and the id of an authenticated client. No header is logged, so an
//! `Authorization` header, a cookie or a token never reaches the log.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use usher_domain::Client;

use crate::metrics;

/// The response header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request id, in the request's extensions (handlers may read it).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The authenticated client's id, put in the request's extensions by client
/// authentication so the access line can name it.
#[derive(Debug, Clone)]
struct ClientTag(String);

/// Records that `client` authenticated on this request; returns it unchanged.
pub fn tag_client(req: &HttpRequest, client: Client) -> Client {
    req.extensions_mut()
        .insert(ClientTag(client.id.as_str().to_owned()));
    client
}

/// A request id from the proxy in front (`X-Request-Id`, e.g. nginx's `$request_id`)
/// when it is a short token of safe characters; otherwise a fresh random one.
fn request_id(req: &ServiceRequest) -> String {
    let incoming = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (8..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if let Some(v) = incoming {
        return v.to_owned();
    }
    let mut bytes = [0u8; 12];
    if openssl::rand::rand_bytes(&mut bytes).is_err() {
        // Uniqueness, not secrecy: a counter is enough if the RNG fails.
        static FALLBACK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = FALLBACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&n.to_be_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware (`middleware::from_fn(access::log)`).
pub async fn log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    // A closed set: an invented method must not add a metrics series or log its text.
    let method = metrics::MethodLabel::of(req.method().as_str());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let result = next.call(req).await;
    let elapsed = started.elapsed();
    let (status, client_id) = match &result {
        Ok(res) => (
            res.status().as_u16(),
            res.request()
                .extensions()
                .get::<ClientTag>()
                .map(|c| c.0.clone()),
        ),
        Err(e) => (e.as_response_error().status_code().as_u16(), None),
    };
    metrics::global().observe_request(&route, method, status, elapsed);
    let method = method.as_str();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let client_id = client_id.as_deref().unwrap_or("-");
    if status >= 500 {
        tracing::warn!(target: "usher::access", event = "request", request_id = %id, method = %method, route = %route, status, latency_ms, client_id = %client_id, "request");
    } else {
        tracing::info!(target: "usher::access", event = "request", request_id = %id, method = %method, route = %route, status, latency_ms, client_id = %client_id, "request");
    }
    let mut res = result?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    Ok(res)
}
