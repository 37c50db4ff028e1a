//! Creating RS256 signing keys: OpenSSL generates the RSA key, its `kid` is the RFC 7638
//! thumbprint of the public key, and the PKCS#8 private key is sealed under the KEK with
//! the `kid` as associated data, so a sealed key cannot be moved to another record. This
//! module also holds the helpers that turn an RSA public key into its JWK members.

use openssl::bn::{BigNum, BigNumRef};
use openssl::pkey::{PKey, Public};
use openssl::rsa::Rsa;
use usher_domain::{KeyState, SigningKeyRecord, UnixTime};

use crate::b64;
use crate::error::KeyError;
use crate::kek::Kek;

/// The only JWS algorithm Usher signs with or accepts.
pub(crate) const ALG: &str = "RS256";

/// The RSA modulus sizes Usher generates.
const SUPPORTED_BITS: [u32; 3] = [2048, 3072, 4096];

/// Generates a new RSA signing key with OpenSSL and returns it as a record in `state`,
/// created at `now`, with its private key sealed under `kek`. The optional timestamps
/// are left empty for the caller to fill.
pub fn generate_signing_key(
    kek: &Kek,
    bits: u32,
    state: KeyState,
    now: UnixTime,
) -> Result<SigningKeyRecord, KeyError> {
    if !SUPPORTED_BITS.contains(&bits) {
        return Err(KeyError::UnsupportedKeySize(bits));
    }
    let rsa = Rsa::generate(bits).map_err(|e| KeyError::openssl("generating an RSA key", &e))?;
    let n = b64::url_encode(&rsa.n().to_vec());
    let e = b64::url_encode(&rsa.e().to_vec());
    let kid = rsa_thumbprint(&n, &e);
    let pkey = PKey::from_rsa(rsa).map_err(|e| KeyError::openssl("wrapping the RSA key", &e))?;
    let der = pkey
        .private_key_to_pkcs8()
        .map_err(|e| KeyError::openssl("encoding the private key as PKCS#8", &e))?;
    let private_key_encrypted = kek.encrypt(&der, kid.as_bytes())?;

    Ok(SigningKeyRecord {
        public_jwk: public_jwk_json(&kid, &n, &e),
        kid,
        state,
        alg: ALG.to_owned(),
        bits,
        private_key_encrypted,
        created_at: now,
        activate_after: None,
        activated_at: None,
        retire_after: None,
        retired_at: None,
        remove_after: None,
        removed_at: None,
    })
}

/// The RFC 7638 JWK thumbprint of an RSA public key given as its base64url `n` and `e`:
/// SHA-256 over `{"e":…,"kty":"RSA","n":…}` (members in that order, no whitespace),
/// as base64url without padding.
pub fn rsa_thumbprint(n_b64url: &str, e_b64url: &str) -> String {
    // Serialising each value as a JSON string escapes anything unusual; base64url
    // values come out unchanged.
    let e = serde_json::Value::String(e_b64url.to_owned());
    let n = serde_json::Value::String(n_b64url.to_owned());
    let canonical = format!(r#"{{"e":{e},"kty":"RSA","n":{n}}}"#);
    b64::url_encode(&openssl::sha::sha256(canonical.as_bytes()))
}

/// The public JWK with exactly the members Usher publishes.
pub(crate) fn public_jwk_value(kid: &str, n: &str, e: &str) -> serde_json::Value {
    let mut jwk = serde_json::Map::new();
    jwk.insert("kty".into(), "RSA".into());
    jwk.insert("use".into(), "sig".into());
    jwk.insert("alg".into(), ALG.into());
    jwk.insert("kid".into(), kid.into());
    jwk.insert("n".into(), n.into());
    jwk.insert("e".into(), e.into());
    serde_json::Value::Object(jwk)
}

fn public_jwk_json(kid: &str, n: &str, e: &str) -> String {
    public_jwk_value(kid, n, e).to_string()
}

/// The base64url `n` and `e` of an RSA key.
pub(crate) fn rsa_components(n: &BigNumRef, e: &BigNumRef) -> (String, String) {
    (b64::url_encode(&n.to_vec()), b64::url_encode(&e.to_vec()))
}

/// An OpenSSL public key from base64url `n` and `e`, refusing moduli below 2048 bits.
pub(crate) fn public_key_from_components(n: &str, e: &str) -> Result<PKey<Public>, String> {
    let n = b64::url_decode(n).ok_or("its modulus n is not base64url")?;
    let e = b64::url_decode(e).ok_or("its exponent e is not base64url")?;
    let n = BigNum::from_slice(&n).map_err(|err| format!("bad modulus: {err}"))?;
    let e = BigNum::from_slice(&e).map_err(|err| format!("bad exponent: {err}"))?;
    if n.num_bits() < 2048 {
        return Err(format!(
            "its modulus has {} bits, fewer than 2048",
            n.num_bits()
        ));
    }
    let rsa = Rsa::from_public_components(n, e).map_err(|err| format!("bad RSA key: {err}"))?;
    PKey::from_rsa(rsa).map_err(|err| format!("bad RSA key: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{test_kek, test_key};

    #[test]
    fn the_thumbprint_of_the_rfc_7638_example_key_matches_the_rfc() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            rsa_thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_generated_key_has_its_own_thumbprint_as_kid_and_a_complete_record() {
        let record = test_key();
        let jwk: serde_json::Value = serde_json::from_str(&record.public_jwk).unwrap();
        let n = jwk["n"].as_str().unwrap();
        let e = jwk["e"].as_str().unwrap();
        assert_eq!(record.kid, rsa_thumbprint(n, e));
        assert_eq!(jwk["kid"], record.kid.as_str());
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk.as_object().unwrap().len(), 6);
        assert_eq!(e, "AQAB");
        assert_eq!(record.alg, "RS256");
        assert_eq!(record.bits, 2048);
        assert_eq!(record.state, KeyState::Active);
        assert_eq!(record.created_at, UnixTime(1_700_000_000));
        assert!(record.activated_at.is_none() && record.removed_at.is_none());
        assert!(record.private_key_encrypted.starts_with("v1."));
    }

    #[test]
    fn the_sealed_private_key_is_pkcs8_bound_to_the_kid() {
        let record = test_key();
        let der = test_kek()
            .decrypt(&record.private_key_encrypted, record.kid.as_bytes())
            .unwrap();
        let pkey = PKey::private_key_from_pkcs8(&der).unwrap();
        assert_eq!(pkey.bits(), 2048);
        assert!(
            test_kek()
                .decrypt(&record.private_key_encrypted, b"another kid")
                .is_err()
        );
    }

    #[test]
    fn unsupported_key_sizes_are_refused() {
        for bits in [0, 1024, 2047, 2049, 8192] {
            assert_eq!(
                generate_signing_key(test_kek(), bits, KeyState::Next, UnixTime(0)),
                Err(KeyError::UnsupportedKeySize(bits))
            );
        }
    }

    #[test]
    fn small_moduli_are_refused_as_public_keys() {
        let small = Rsa::generate(1024).unwrap();
        let (n, e) = rsa_components(small.n(), small.e());
        assert!(public_key_from_components(&n, &e).is_err());
        assert!(public_key_from_components("!!", "AQAB").is_err());
    }
}
