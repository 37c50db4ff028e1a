//! The key ring as the HTTP layer serves it: the ring plus its JWKS body and `ETag`,
//! computed once per key-set change, never per request.

use std::collections::HashMap;

use openidconnect::core::CoreJsonWebKey;
use openssl::sha::sha256;
use usher_domain::SigningAlg;
use usher_keys::KeyRing;

/// A key ring with its rendered JWKS response.
pub struct PublishedKeys {
    pub ring: KeyRing,
    pub jwks_body: Vec<u8>,
    /// A strong entity tag, quoted: a hash of the body.
    pub etag: String,
    /// The public JWK of each algorithm's active key as `openidconnect` wants it for ID
    /// tokens (parsed once here, not per token); an algorithm is missing only if it has
    /// no active key or, against expectation, its JWK did not parse.
    pub active_jwks: HashMap<SigningAlg, CoreJsonWebKey>,
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
        let active_jwks = SigningAlg::ALL
            .into_iter()
            .filter_map(|alg| {
                let jwk = ring.active_jwk_for(alg)?;
                Some((alg, serde_json::from_value(jwk.clone()).ok()?))
            })
            .collect();
        PublishedKeys {
            ring,
            jwks_body,
            etag,
            active_jwks,
        }
    }
}
