//! The key ring as the HTTP layer serves it: the ring plus its JWKS body and `ETag`,
//! computed once per key-set change, never per request.

use openssl::sha::sha256;
use usher_keys::KeyRing;

/// A key ring with its rendered JWKS response.
pub struct PublishedKeys {
    pub ring: KeyRing,
    pub jwks_body: Vec<u8>,
    /// A strong entity tag, quoted: a hash of the body.
    pub etag: String,
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
        PublishedKeys {
            ring,
            jwks_body,
            etag,
        }
    }
}
