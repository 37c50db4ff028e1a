//! Client secrets and other random values. Secrets that Usher generates carry 256 bits of
//! entropy, so a keyed fast hash (HMAC-SHA-256 under a sub-key of the KEK) is the right
//! way to store them: a slow password hash would only cap the token endpoint's throughput.
//! Comparison is constant-time.
//!
//! The hashing key is derived from the KEK once; from then on it is stored in the
//! database sealed under the KEK ([`SecretHasher::seal`]), so that a KEK rotation
//! re-seals it instead of changing it, and every stored hash keeps verifying.

use std::fmt;

use crate::b64;
use crate::error::KeyError;
use crate::hmac::hmac_sha256;
use crate::kek::Kek;

const HASH_PREFIX: &str = "hmac-sha256.";
const SUBKEY_LABEL: &[u8] = b"usher client-secret hash v1";
/// The associated data of the sealed hashing key: it opens as nothing else.
const SEALED_AAD: &[u8] = b"usher sealed client-secret hash key v1";

/// `n_bytes` bytes from OpenSSL's CSPRNG as base64url without padding (for client ids,
/// authorization codes, refresh-token secrets and the like).
pub fn random_token(n_bytes: usize) -> Result<String, KeyError> {
    let mut bytes = vec![0u8; n_bytes];
    openssl::rand::rand_bytes(&mut bytes)
        .map_err(|e| KeyError::openssl("generating random bytes", &e))?;
    Ok(b64::url_encode(&bytes))
}

/// Hashes and checks client secrets under a sub-key derived from the KEK. `Debug` never
/// shows the key.
#[derive(Clone)]
pub struct SecretHasher {
    subkey: [u8; 32],
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher(<redacted>)")
    }
}

impl SecretHasher {
    /// Derives the hashing key as HMAC-SHA-256(KEK, "usher client-secret hash v1"), so the
    /// KEK itself is never used for anything but sealing.
    pub fn from_kek(kek: &Kek) -> SecretHasher {
        SecretHasher {
            subkey: hmac_sha256(kek.as_bytes(), SUBKEY_LABEL),
        }
    }

    /// The hashing key sealed under `kek` (its current key), for the database.
    pub fn seal(&self, kek: &Kek) -> Result<String, KeyError> {
        kek.encrypt(&self.subkey, SEALED_AAD)
    }

    /// Opens a hashing key sealed by [`SecretHasher::seal`] under `kek` (or its previous
    /// KEK); [`KeyError::Unseal`] for any other KEK or an altered value.
    pub fn unseal(kek: &Kek, sealed: &str) -> Result<SecretHasher, KeyError> {
        let bytes = kek.decrypt(sealed, SEALED_AAD)?;
        let subkey: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::Unseal)?;
        Ok(SecretHasher { subkey })
    }

    /// A public name for this hashing key: the first 16 bytes of
    /// HMAC-SHA-256(key, "usher client-secret hash id v1"), base64url. Not secret; stored
    /// beside the sealed key so that a lost key is noticed instead of derived again.
    pub fn fingerprint(&self) -> String {
        let mac = hmac_sha256(&self.subkey, b"usher client-secret hash id v1");
        b64::url_encode(&mac[..16])
    }

    /// A new client secret: 32 random bytes, base64url without padding (43 characters).
    pub fn generate_secret() -> Result<String, KeyError> {
        random_token(32)
    }

    /// The stored form of `secret`: `hmac-sha256.` + base64url-nopad(HMAC-SHA-256).
    pub fn hash(&self, secret: &str) -> String {
        let mac = hmac_sha256(&self.subkey, secret.as_bytes());
        format!("{HASH_PREFIX}{}", b64::url_encode(&mac))
    }

    /// Whether `secret` matches the stored hash. The comparison takes the same time for
    /// every stored value of the expected length; a malformed stored value is `false`.
    pub fn verify(&self, secret: &str, stored: &str) -> bool {
        let expected = self.hash(secret);
        // `memcmp::eq` requires equal lengths; the length of a stored hash is not secret.
        expected.len() == stored.len()
            && openssl::memcmp::eq(expected.as_bytes(), stored.as_bytes())
    }
}

/// `base64url(SHA-256(value))`, without padding: how Usher stores codes, session ids and
/// CSRF tokens (they are high-entropy, so an unkeyed hash is enough to make a database
/// leak useless for replay).
pub fn sha256_b64url(value: &str) -> String {
    crate::b64::url_encode(&openssl::sha::sha256(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::test_kek;

    #[test]
    fn random_tokens_have_the_right_length_and_differ() {
        let a = random_token(32).unwrap();
        let b = random_token(32).unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(random_token(16).unwrap().len(), 22);
        assert_eq!(random_token(0).unwrap(), "");
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn a_secret_hash_verifies_the_right_secret_only() {
        let hasher = SecretHasher::from_kek(test_kek());
        let secret = SecretHasher::generate_secret().unwrap();
        assert_eq!(secret.len(), 43);
        let stored = hasher.hash(&secret);
        assert!(stored.starts_with("hmac-sha256."));
        assert!(!stored.contains(&secret));
        assert!(hasher.verify(&secret, &stored));
        assert!(!hasher.verify("wrong", &stored));
        assert!(!hasher.verify(&format!("{secret}x"), &stored));
        assert!(!hasher.verify("", &stored));
    }

    #[test]
    fn a_malformed_stored_hash_never_verifies() {
        let hasher = SecretHasher::from_kek(test_kek());
        let secret = "s3cret";
        let stored = hasher.hash(secret);
        let body = &stored["hmac-sha256.".len()..];
        for bad in [
            String::new(),
            "hmac-sha256.".into(),
            body.to_owned(),
            format!("sha256.{body}"),
            format!("{stored}="),
            stored[..stored.len() - 1].to_owned(),
            secret.to_owned(),
        ] {
            assert!(!hasher.verify(secret, &bad), "{bad:?}");
        }
    }

    #[test]
    fn the_hash_depends_on_the_kek_and_is_not_keyed_by_the_kek_directly() {
        let a = SecretHasher::from_kek(test_kek());
        let b = SecretHasher::from_kek(&Kek::generate().unwrap());
        assert_ne!(a.hash("same"), b.hash("same"));
        let direct = format!(
            "hmac-sha256.{}",
            b64::url_encode(&hmac_sha256(test_kek().as_bytes(), b"same"))
        );
        assert_ne!(a.hash("same"), direct);
    }

    #[test]
    fn a_sealed_hashing_key_opens_under_its_kek_only_and_hashes_the_same() {
        let old = Kek::generate().unwrap();
        let new = Kek::generate().unwrap();
        let hasher = SecretHasher::from_kek(&old);
        let sealed = hasher.seal(&new).unwrap();
        let opened = SecretHasher::unseal(&new, &sealed).unwrap();
        assert_eq!(opened.hash("s"), hasher.hash("s"));
        assert!(SecretHasher::unseal(&old, &sealed).is_err());
        assert!(SecretHasher::unseal(&new, &new.encrypt(&[0; 32], b"kid").unwrap()).is_err());
    }

    #[test]
    fn the_secret_hasher_debug_output_is_redacted() {
        let hasher = SecretHasher::from_kek(test_kek());
        assert_eq!(format!("{hasher:?}"), "SecretHasher(<redacted>)");
    }
}
