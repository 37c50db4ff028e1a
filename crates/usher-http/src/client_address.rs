//! Reads the client address off a request: the peer and the `Forwarded` /
//! `X-Forwarded-For` fields, handed to [`usher_core::client_address::of`], which decides
//! (behind `trusted_proxies` only) whose address it is.

use actix_web::HttpRequest;
use usher_core::client_address::{self, ClientAddress, TrustedProxies};

/// The client address of `req`.
pub fn of(req: &HttpRequest, trusted: &TrustedProxies) -> ClientAddress {
    let header = |name: &str| {
        let mut values = req.headers().get_all(name).peekable();
        values.peek()?;
        // Repeated fields form one list (RFC 9110 §5.3). Bytes a client put on the left
        // stay there; they cannot make the part its proxies wrote unreadable.
        let parts: Vec<String> = values
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        Some(parts.join(","))
    };
    client_address::of(
        req.peer_addr().map(|a| a.ip()),
        header("forwarded").as_deref(),
        header("x-forwarded-for").as_deref(),
        trusted,
    )
}
