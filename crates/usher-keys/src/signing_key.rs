//! Creating signing keys: OpenSSL generates the key (RSA for RS256, P-256 for ES256,
//! Ed25519 for EdDSA), its `kid` is the RFC 7638 thumbprint of the public key, and the
//! PKCS#8 private key is sealed under the KEK with the `kid` as associated data, so a
//! sealed key cannot be moved to another record. This module also holds the public
//! halves as JWK members ([`PublicParts`]): read from a private key, read from a stored
//! JWK, turned into an OpenSSL public key, and rendered as the published JWK.

use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::Rsa;
use serde_json::Value;
use usher_domain::{KeyState, SigningAlg, SigningKeyRecord, UnixTime};

use crate::b64;
use crate::error::KeyError;
use crate::kek::Kek;

/// The RSA modulus sizes Usher generates.
const SUPPORTED_BITS: [u32; 3] = [2048, 3072, 4096];

/// The length of a P-256 coordinate and of an Ed25519 public key, in bytes.
const COORDINATE_LEN: usize = 32;

/// The public half of a signing key, as its JWK members (base64url, no padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicParts {
    /// `kty` RSA: modulus and exponent.
    Rsa { n: String, e: String },
    /// `kty` EC, `crv` P-256: the point's coordinates, each 32 bytes.
    P256 { x: String, y: String },
    /// `kty` OKP, `crv` Ed25519 (RFC 8037 §2): the 32-byte public key.
    Ed25519 { x: String },
}

impl PublicParts {
    /// The algorithm whose keys have this shape.
    pub(crate) fn alg(&self) -> SigningAlg {
        match self {
            PublicParts::Rsa { .. } => SigningAlg::Rs256,
            PublicParts::P256 { .. } => SigningAlg::Es256,
            PublicParts::Ed25519 { .. } => SigningAlg::EdDsa,
        }
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic
    /// order, no whitespace (RFC 7638 §3.2; RFC 8037 §2 for OKP), as base64url.
    pub(crate) fn thumbprint(&self) -> String {
        // Serialising each value as a JSON string escapes anything unusual; base64url
        // values come out unchanged.
        let q = |v: &str| Value::String(v.to_owned());
        let canonical = match self {
            PublicParts::Rsa { n, e } => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, q(e), q(n)),
            PublicParts::P256 { x, y } => {
                format!(r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#, q(x), q(y))
            }
            PublicParts::Ed25519 { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":{}}}"#, q(x))
            }
        };
        b64::url_encode(&openssl::sha::sha256(canonical.as_bytes()))
    }

    /// The public JWK with exactly the members Usher publishes: `kty`, `use`, `alg`,
    /// `kid` and the key's own members.
    pub(crate) fn jwk(&self, kid: &str) -> Value {
        let mut jwk = serde_json::Map::new();
        let kty = match self {
            PublicParts::Rsa { .. } => "RSA",
            PublicParts::P256 { .. } => "EC",
            PublicParts::Ed25519 { .. } => "OKP",
        };
        jwk.insert("kty".into(), kty.into());
        jwk.insert("use".into(), "sig".into());
        jwk.insert("alg".into(), self.alg().as_str().into());
        jwk.insert("kid".into(), kid.into());
        match self {
            PublicParts::Rsa { n, e } => {
                jwk.insert("n".into(), n.as_str().into());
                jwk.insert("e".into(), e.as_str().into());
            }
            PublicParts::P256 { x, y } => {
                jwk.insert("crv".into(), "P-256".into());
                jwk.insert("x".into(), x.as_str().into());
                jwk.insert("y".into(), y.as_str().into());
            }
            PublicParts::Ed25519 { x } => {
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert("x".into(), x.as_str().into());
            }
        }
        Value::Object(jwk)
    }

    /// Reads the members of `alg`'s key shape from a stored JWK, refusing any other
    /// `kty` or `crv`. Only these members are taken: the published JWK is rebuilt from
    /// them, so nothing else stored there can ever reach the JWK Set.
    pub(crate) fn from_jwk(alg: SigningAlg, jwk: &Value) -> Result<PublicParts, String> {
        let member = |name: &str| jwk.get(name).and_then(Value::as_str);
        let owned = |name: &str| {
            member(name)
                .map(str::to_owned)
                .ok_or_else(|| format!("its public JWK lacks {name}"))
        };
        match alg {
            SigningAlg::Rs256 => {
                if member("kty") != Some("RSA") {
                    return Err("its public JWK is not an RSA key".into());
                }
                Ok(PublicParts::Rsa {
                    n: owned("n")?,
                    e: owned("e")?,
                })
            }
            SigningAlg::Es256 => {
                if member("kty") != Some("EC") || member("crv") != Some("P-256") {
                    return Err("its public JWK is not a P-256 key".into());
                }
                Ok(PublicParts::P256 {
                    x: owned("x")?,
                    y: owned("y")?,
                })
            }
            SigningAlg::EdDsa => {
                if member("kty") != Some("OKP") || member("crv") != Some("Ed25519") {
                    return Err("its public JWK is not an Ed25519 key".into());
                }
                Ok(PublicParts::Ed25519 { x: owned("x")? })
            }
        }
    }

    /// The public half of a private key of `alg`; an error if the key has another type
    /// (or curve), or an RSA modulus shorter than 2048 bits.
    pub(crate) fn of_private(alg: SigningAlg, pkey: &PKey<Private>) -> Result<PublicParts, String> {
        match alg {
            SigningAlg::Rs256 => {
                let rsa = pkey
                    .rsa()
                    .map_err(|_| "its private key is not an RSA key")?;
                if rsa.size() * 8 < 2048 {
                    return Err("its modulus is shorter than 2048 bits".into());
                }
                let (n, e) = rsa_components(rsa.n(), rsa.e());
                Ok(PublicParts::Rsa { n, e })
            }
            SigningAlg::Es256 => {
                let ec = pkey
                    .ec_key()
                    .map_err(|_| "its private key is not an EC key")?;
                ec_parts(&ec).map_err(|_| "its private key is not a P-256 key".to_owned())
            }
            SigningAlg::EdDsa => {
                if pkey.id() != Id::ED25519 {
                    return Err("its private key is not an Ed25519 key".into());
                }
                let raw = pkey
                    .raw_public_key()
                    .map_err(|_| "its private key is not an Ed25519 key")?;
                Ok(PublicParts::Ed25519 {
                    x: b64::url_encode(&raw),
                })
            }
        }
    }

    /// The OpenSSL public key: an RSA modulus of at least 2048 bits, a point on P-256
    /// (checked), or 32 bytes of Ed25519.
    pub(crate) fn public_key(&self) -> Result<PKey<Public>, String> {
        match self {
            PublicParts::Rsa { n, e } => public_key_from_components(n, e),
            PublicParts::P256 { x, y } => {
                let coordinate = |v: &str, name: &str| {
                    let bytes = b64::url_decode(v)
                        .filter(|b| b.len() == COORDINATE_LEN)
                        .ok_or_else(|| format!("its {name} is not 32 bytes of base64url"))?;
                    BigNum::from_slice(&bytes).map_err(|err| format!("bad {name}: {err}"))
                };
                let (x, y) = (coordinate(x, "x")?, coordinate(y, "y")?);
                let group = p256().map_err(|err| format!("P-256: {err}"))?;
                let ec = EcKey::from_public_key_affine_coordinates(&group, &x, &y)
                    .map_err(|_| "its point is not on P-256".to_owned())?;
                ec.check_key()
                    .map_err(|_| "its point is not a valid P-256 public key".to_owned())?;
                PKey::from_ec_key(ec).map_err(|err| format!("bad EC key: {err}"))
            }
            PublicParts::Ed25519 { x } => {
                let bytes = b64::url_decode(x)
                    .filter(|b| b.len() == COORDINATE_LEN)
                    .ok_or("its x is not 32 bytes of base64url")?;
                PKey::public_key_from_raw_bytes(&bytes, Id::ED25519)
                    .map_err(|err| format!("bad Ed25519 key: {err}"))
            }
        }
    }
}

fn p256() -> Result<EcGroup, openssl::error::ErrorStack> {
    EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
}

/// The coordinates of a P-256 key; an error for any other curve.
fn ec_parts<T: openssl::pkey::HasPublic>(
    ec: &EcKey<T>,
) -> Result<PublicParts, openssl::error::ErrorStack> {
    if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
        return Err(openssl::error::ErrorStack::get());
    }
    let mut ctx = BigNumContext::new()?;
    let (mut x, mut y) = (BigNum::new()?, BigNum::new()?);
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)?;
    let len = COORDINATE_LEN as i32;
    Ok(PublicParts::P256 {
        x: b64::url_encode(&x.to_vec_padded(len)?),
        y: b64::url_encode(&y.to_vec_padded(len)?),
    })
}

/// Generates a new RSA signing key (RS256) with OpenSSL; see [`generate_key`].
pub fn generate_signing_key(
    kek: &Kek,
    bits: u32,
    state: KeyState,
    now: UnixTime,
) -> Result<SigningKeyRecord, KeyError> {
    generate_key(kek, SigningAlg::Rs256, bits, state, now)
}

/// Generates a new signing key for `alg` with OpenSSL and returns it as a record in
/// `state`, created at `now`, with its private key sealed under `kek`. `rsa_bits` is the
/// modulus size of an RS256 key (2048, 3072 or 4096); P-256 and Ed25519 keys have 256
/// bits. The optional timestamps are left empty for the caller to fill.
pub fn generate_key(
    kek: &Kek,
    alg: SigningAlg,
    rsa_bits: u32,
    state: KeyState,
    now: UnixTime,
) -> Result<SigningKeyRecord, KeyError> {
    let (pkey, bits) = match alg {
        SigningAlg::Rs256 => {
            if !SUPPORTED_BITS.contains(&rsa_bits) {
                return Err(KeyError::UnsupportedKeySize(rsa_bits));
            }
            let rsa = Rsa::generate(rsa_bits)
                .map_err(|e| KeyError::openssl("generating an RSA key", &e))?;
            let pkey =
                PKey::from_rsa(rsa).map_err(|e| KeyError::openssl("wrapping the RSA key", &e))?;
            (pkey, rsa_bits)
        }
        SigningAlg::Es256 => {
            let group = p256().map_err(|e| KeyError::openssl("selecting P-256", &e))?;
            let ec = EcKey::generate(&group)
                .map_err(|e| KeyError::openssl("generating a P-256 key", &e))?;
            let pkey =
                PKey::from_ec_key(ec).map_err(|e| KeyError::openssl("wrapping the EC key", &e))?;
            (pkey, 256)
        }
        SigningAlg::EdDsa => {
            let pkey = PKey::generate_ed25519()
                .map_err(|e| KeyError::openssl("generating an Ed25519 key", &e))?;
            (pkey, 256)
        }
    };
    let parts = PublicParts::of_private(alg, &pkey).map_err(KeyError::Crypto)?;
    let kid = parts.thumbprint();
    let der = pkey
        .private_key_to_pkcs8()
        .map_err(|e| KeyError::openssl("encoding the private key as PKCS#8", &e))?;
    let private_key_encrypted = kek.encrypt(&der, kid.as_bytes())?;

    Ok(SigningKeyRecord {
        public_jwk: parts.jwk(&kid).to_string(),
        kid,
        state,
        alg,
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
    PublicParts::Rsa {
        n: n_b64url.to_owned(),
        e: e_b64url.to_owned(),
    }
    .thumbprint()
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
        assert_eq!(record.alg, SigningAlg::Rs256);
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

    #[test]
    fn the_thumbprints_of_the_rfc_8037_and_rfc_7638_style_examples_match() {
        // RFC 8037 Appendix A.3: the Ed25519 example key's thumbprint.
        let okp = PublicParts::Ed25519 {
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
        };
        assert_eq!(
            okp.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn generated_p256_and_ed25519_keys_have_their_own_thumbprints_and_shapes() {
        for (alg, kty, members) in [(SigningAlg::Es256, "EC", 7), (SigningAlg::EdDsa, "OKP", 6)] {
            let record = generate_key(test_kek(), alg, 0, KeyState::Next, UnixTime(5)).unwrap();
            assert_eq!((record.alg, record.bits), (alg, 256));
            let jwk: Value = serde_json::from_str(&record.public_jwk).unwrap();
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], record.kid.as_str());
            assert_eq!(jwk.as_object().unwrap().len(), members);
            let parts = PublicParts::from_jwk(alg, &jwk).unwrap();
            assert_eq!(parts.thumbprint(), record.kid);
            assert!(parts.public_key().is_ok());
            // The sealed private key is PKCS#8 of the same key, bound to the kid.
            let der = test_kek()
                .decrypt(&record.private_key_encrypted, record.kid.as_bytes())
                .unwrap();
            let pkey = PKey::private_key_from_pkcs8(&der).unwrap();
            assert_eq!(PublicParts::of_private(alg, &pkey).unwrap(), parts);
            // And it is not a key of either other algorithm.
            for other in SigningAlg::ALL.into_iter().filter(|a| *a != alg) {
                assert!(PublicParts::of_private(other, &pkey).is_err(), "{other}");
                assert!(PublicParts::from_jwk(other, &jwk).is_err(), "{other}");
            }
        }
    }

    #[test]
    fn public_keys_that_are_not_on_their_curve_or_the_wrong_length_are_refused() {
        let record = generate_key(
            test_kek(),
            SigningAlg::Es256,
            0,
            KeyState::Next,
            UnixTime(0),
        )
        .unwrap();
        let jwk: Value = serde_json::from_str(&record.public_jwk).unwrap();
        let PublicParts::P256 { x, y } = PublicParts::from_jwk(SigningAlg::Es256, &jwk).unwrap()
        else {
            panic!("not P-256");
        };
        let mut bent = b64::url_decode(&y).unwrap();
        bent[31] ^= 1;
        let off_curve = PublicParts::P256 {
            x: x.clone(),
            y: b64::url_encode(&bent),
        };
        assert!(off_curve.public_key().is_err());
        let short = PublicParts::P256 {
            x: b64::url_encode(&[1u8; 31]),
            y,
        };
        assert!(short.public_key().is_err());
        let short = PublicParts::Ed25519 {
            x: b64::url_encode(&[1u8; 31]),
        };
        assert!(short.public_key().is_err());
    }
}
