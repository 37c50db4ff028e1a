//! The key ring as the HTTP layer serves it: the ring plus its JWKS body and `ETag`,
//! computed once per key-set change, never per request.

use openidconnect::core::CoreJsonWebKey;
use openssl::sha::sha256;
use usher_keys::KeyRing;

/// A key ring with its rendered JWKS response.
pub struct PublishedKeys {
    pub ring: KeyRing,
    pub jwks_body: Vec<u8>,
    /// A strong entity tag, quoted: a hash of the body.
    pub etag: String,
    /// The active key's public JWK as `openidconnect` wants it for ID tokens (parsed once
    /// here, not per token); `None` only if the ring's own JWK did not parse.
    pub active_jwk: Option<CoreJsonWebKey>,
}

impl PublishedKeys {
    pub fn new(ring: KeyRing) -> PublishedKeys {
        let jwks_body = ring.jwks_json().as_bytes().to_vec();
        let digest = sha256(&jwks_body);
        let etag = format!(
            "\"{}\"",
            digest[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let active_jwk = serde_json::from_value(ring.active_jwk().clone()).ok();
        PublishedKeys {
            ring,
            jwks_body,
            etag,
            active_jwk,
        }
    }
}
