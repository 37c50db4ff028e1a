//! The key ring: the signing keys of the database as this node uses them. It holds the
//! decrypted private key of the one active key of each algorithm (RS256, ES256, EdDSA),
//! the public keys of every published key (`next`, `active`, `retired`) indexed by `kid`
//! with the algorithm of each, and the JWK Set rendered once. Signing uses the active
//! key of the algorithm asked for; verification picks the key by the token's `kid` and
//! accepts only that key's algorithm, so no token can choose how it is checked.
//! Everything is parsed once when the ring is built, so the per-request work is one
//! signature operation.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Padding;
use openssl::sign::{Signer, Verifier};
use serde_json::{Map, Value};
use usher_domain::{KeyState, SigningAlg, SigningKeyRecord};

use crate::b64;
use crate::error::KeyError;
use crate::kek::Kek;
use crate::signing_key::PublicParts;

/// Tokens longer than this are refused before any decoding (a cheap guard; real access
/// and ID tokens are a few kilobytes at most).
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The length of an ES256 signature: R and S, 32 bytes each (RFC 7518 §3.4).
const ES256_SIGNATURE_LEN: usize = 64;

/// The in-memory key ring built from stored records. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    /// The active RS256 key: a ring always has one.
    rs256: ActiveKey,
    /// The active keys of the other algorithms, where they have one.
    others: HashMap<SigningAlg, ActiveKey>,
    /// The public key of every published key, with its algorithm, by `kid`.
    published: HashMap<String, (SigningAlg, PKey<Public>)>,
    jwks_json: String,
}

struct ActiveKey {
    kid: String,
    private: PKey<Private>,
    /// Its public JWK, as published.
    jwk: Value,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.inner.published.keys().map(String::as_str).collect();
        kids.sort_unstable();
        let active: Vec<(&str, &str)> = SigningAlg::ALL
            .into_iter()
            .filter_map(|alg| Some((alg.as_str(), self.active_key(alg)?.kid.as_str())))
            .collect();
        f.debug_struct("KeyRing")
            .field("active", &active)
            .field("published_kids", &kids)
            .finish_non_exhaustive()
    }
}

/// A published key checked and ready to use.
struct PublishedKey {
    kid: String,
    alg: SigningAlg,
    state: KeyState,
    created_at: i64,
    public_key: PKey<Public>,
    jwk: Value,
}

impl KeyRing {
    /// Builds the ring from stored records, decrypting the private part of the active key
    /// of each algorithm (and no other) with `kek`.
    ///
    /// If, against the invariant, several records of one algorithm are active, the most
    /// recently activated one signs (all of them are published, so their tokens verify
    /// either way).
    ///
    /// Errors: [`KeyError::NoActiveKey`] if no RS256 record is active (the other
    /// algorithms may lack one: they then cannot sign); [`KeyError::Decrypt`] if an
    /// active key's private part does not decrypt with this KEK;
    /// [`KeyError::BadKeyRecord`] if a published record is inconsistent (a public key
    /// that is not of its algorithm's shape or does not parse, or a `kid` that is not its
    /// thumbprint).
    pub fn from_records(records: &[SigningKeyRecord], kek: &Kek) -> Result<KeyRing, KeyError> {
        let mut active_records = Vec::new();
        for alg in SigningAlg::ALL {
            let active = records
                .iter()
                .filter(|r| r.state == KeyState::Active && r.alg == alg)
                .max_by(|a, b| {
                    (a.activated_at, a.created_at, &a.kid).cmp(&(
                        b.activated_at,
                        b.created_at,
                        &b.kid,
                    ))
                });
            match active {
                Some(record) => active_records.push(record),
                None if alg == SigningAlg::Rs256 => return Err(KeyError::NoActiveKey),
                None => {}
            }
        }

        let mut keys = Vec::new();
        for record in records.iter().filter(|r| r.state.is_published()) {
            keys.push(check_published(record)?);
        }

        let mut active = HashMap::with_capacity(active_records.len());
        for record in &active_records {
            let private = open_private_key(record, kek)?;
            let published = keys
                .iter()
                .find(|k| k.kid == record.kid)
                .ok_or_else(|| bad_record(&record.kid, "it is active but not published"))?;
            if !private.public_eq(&published.public_key) {
                return Err(bad_record(
                    &record.kid,
                    "its private key does not match its public key",
                ));
            }
            active.insert(
                record.alg,
                ActiveKey {
                    kid: record.kid.clone(),
                    private,
                    jwk: published.jwk.clone(),
                },
            );
        }

        // The active keys first (RS256, ES256, EdDSA), then next, then retired; newest
        // first within a state.
        let rank = |k: &PublishedKey| {
            let signs = active_records.iter().any(|a| a.kid == k.kid);
            match (signs, k.state) {
                (true, _) => 0,
                (false, KeyState::Active) => 1,
                (false, KeyState::Next) => 2,
                (false, _) => 3,
            }
        };
        keys.sort_by(|a, b| {
            (rank(a), a.alg, std::cmp::Reverse(a.created_at), &a.kid).cmp(&(
                rank(b),
                b.alg,
                std::cmp::Reverse(b.created_at),
                &b.kid,
            ))
        });

        let mut published = HashMap::with_capacity(keys.len());
        let mut jwks = Vec::with_capacity(keys.len());
        for key in keys {
            if published.contains_key(&key.kid) {
                continue;
            }
            jwks.push(key.jwk);
            published.insert(key.kid, (key.alg, key.public_key));
        }
        let jwks_json = serde_json::json!({ "keys": jwks }).to_string();

        let rs256 = active
            .remove(&SigningAlg::Rs256)
            .ok_or(KeyError::NoActiveKey)?;
        Ok(KeyRing {
            inner: Arc::new(Inner {
                rs256,
                others: active,
                published,
                jwks_json,
            }),
        })
    }

    fn active_key(&self, alg: SigningAlg) -> Option<&ActiveKey> {
        match alg {
            SigningAlg::Rs256 => Some(&self.inner.rs256),
            other => self.inner.others.get(&other),
        }
    }

    fn active(&self, alg: SigningAlg) -> Result<&ActiveKey, KeyError> {
        self.active_key(alg).ok_or(KeyError::NoActiveKeyFor(alg))
    }

    fn rs256(&self) -> &ActiveKey {
        &self.inner.rs256
    }

    /// The `kid` of the RS256 key that signs.
    pub fn active_kid(&self) -> &str {
        &self.rs256().kid
    }

    /// The `kid` of the key that signs with `alg`, if one is active.
    pub fn active_kid_for(&self, alg: SigningAlg) -> Option<&str> {
        self.active_key(alg).map(|k| k.kid.as_str())
    }

    /// The algorithms that have an active key, in the order of [`SigningAlg::ALL`].
    pub fn signing_algs(&self) -> Vec<SigningAlg> {
        SigningAlg::ALL
            .into_iter()
            .filter(|alg| self.active_key(*alg).is_some())
            .collect()
    }

    /// The public JWK Set, `{"keys":[…]}`, with only `kty`, `use`, `alg`, `kid` and the
    /// key's public members (`n`, `e`; `crv`, `x`, `y`; `crv`, `x`) for each published
    /// key: the active keys first, then `next`, then `retired`.
    pub fn jwks_json(&self) -> &str {
        &self.inner.jwks_json
    }

    /// The active RS256 key's private key, for adapters that sign through OpenSSL.
    pub fn active_private_key(&self) -> &PKey<Private> {
        &self.rs256().private
    }

    /// Signs `claims` as a compact JWS with RS256 and its active key; see
    /// [`KeyRing::sign_jwt_with`].
    pub fn sign_jwt(&self, typ: &str, claims: &Map<String, Value>) -> Result<String, KeyError> {
        self.sign_jwt_with(SigningAlg::Rs256, typ, claims)
    }

    /// Signs `claims` as a compact JWS with `alg` and its active key; the header is
    /// `{"alg":alg,"typ":typ,"kid":<that key's kid>}`.
    pub fn sign_jwt_with(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &Map<String, Value>,
    ) -> Result<String, KeyError> {
        let key = self.active(alg)?;
        let header = serde_json::json!({
            "alg": alg.as_str(),
            "typ": typ,
            "kid": key.kid,
        });
        let payload = serde_json::to_vec(claims)
            .map_err(|e| KeyError::Crypto(format!("serialising the claims: {e}")))?;
        let signing_input = format!(
            "{}.{}",
            b64::url_encode(header.to_string().as_bytes()),
            b64::url_encode(&payload)
        );
        let signature = sign_with(alg, &key.private, signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64::url_encode(&signature)))
    }

    /// The active RS256 key's public JWK as published (`kty`, `use`, `alg`, `kid`, `n`,
    /// `e`).
    pub fn active_jwk(&self) -> &Value {
        &self.rs256().jwk
    }

    /// The public JWK of the key that signs with `alg`, if one is active.
    pub fn active_jwk_for(&self, alg: SigningAlg) -> Option<&Value> {
        self.active_key(alg).map(|k| &k.jwk)
    }

    /// An RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `message` with the active
    /// RS256 key, through OpenSSL.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.sign(SigningAlg::Rs256, message)
    }

    /// A JWS signature of `message` (RFC 7518 §3: for ES256 the 64 bytes of R and S)
    /// with the active key of `alg`, through OpenSSL.
    pub fn sign(&self, alg: SigningAlg, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        sign_with(alg, &self.active(alg)?.private, message)
    }

    /// Verifies a compact JWS: its `kid` must name a published key, the header's `alg`
    /// must be exactly that key's algorithm (an RS256 key never checks an ES256 or HS256
    /// token, and so on), and the signature must verify with that key. Returns the
    /// header's `typ`, if any, and the claims. Time, issuer and audience are not checked
    /// here: callers do that with their clock and configuration.
    pub fn verify_jwt(
        &self,
        token: &str,
    ) -> Result<(Option<String>, Map<String, Value>), KeyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(KeyError::token("it is too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyError::token("it is not a compact JWS of three parts"));
        };

        let header = decode_json_object(header_b64, "header")?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => SigningAlg::parse(alg)
                .ok_or_else(|| KeyError::token("its algorithm is not one Usher signs with"))?,
            _ => return Err(KeyError::token("its header has no algorithm")),
        };
        if header.contains_key("crit") {
            return Err(KeyError::token("it has critical header parameters"));
        }
        let Some(Value::String(kid)) = header.get("kid") else {
            return Err(KeyError::token("its header has no kid"));
        };
        let typ = match header.get("typ") {
            None => None,
            Some(Value::String(typ)) => Some(typ.clone()),
            Some(_) => return Err(KeyError::token("its typ is not a string")),
        };
        let (key_alg, public_key) = self
            .inner
            .published
            .get(kid)
            .ok_or_else(|| KeyError::token("its kid names no published key"))?;
        if *key_alg != alg {
            return Err(KeyError::token(
                "its algorithm is not the algorithm of the key its kid names",
            ));
        }

        let signature = b64::url_decode(signature_b64)
            .ok_or_else(|| KeyError::token("its signature is not base64url"))?;
        let signing_input_len = header_b64.len() + 1 + payload_b64.len();
        let signing_input = token
            .get(..signing_input_len)
            .ok_or_else(|| KeyError::token("it is not a compact JWS of three parts"))?;
        if !verifies(*key_alg, public_key, signing_input.as_bytes(), &signature) {
            return Err(KeyError::token("its signature does not verify"));
        }

        let claims = decode_json_object(payload_b64, "payload")?;
        Ok((typ, claims))
    }
}

fn bad_record(kid: &str, reason: &str) -> KeyError {
    KeyError::BadKeyRecord {
        kid: kid.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Checks a published record and parses its public key. Only the public members of its
/// algorithm's key shape are taken from the stored JWK; the published JWK is rebuilt from
/// them, so nothing else stored there (a private member, say) can ever reach the JWK Set.
fn check_published(record: &SigningKeyRecord) -> Result<PublishedKey, KeyError> {
    let jwk: Value = serde_json::from_str(&record.public_jwk)
        .map_err(|_| bad_record(&record.kid, "its public JWK is not JSON"))?;
    let parts = PublicParts::from_jwk(record.alg, &jwk)
        .map_err(|reason| bad_record(&record.kid, &reason))?;
    if parts.thumbprint() != record.kid {
        return Err(bad_record(
            &record.kid,
            "its kid is not the RFC 7638 thumbprint of its public key",
        ));
    }
    let public_key = parts
        .public_key()
        .map_err(|reason| bad_record(&record.kid, &reason))?;
    Ok(PublishedKey {
        kid: record.kid.clone(),
        alg: record.alg,
        state: record.state,
        created_at: record.created_at.seconds(),
        jwk: parts.jwk(&record.kid),
        public_key,
    })
}

/// Decrypts and parses an active key's private part, and checks that it is a key of its
/// record's algorithm whose thumbprint is the record's `kid`.
fn open_private_key(record: &SigningKeyRecord, kek: &Kek) -> Result<PKey<Private>, KeyError> {
    let decrypt_error = || KeyError::Decrypt {
        kid: record.kid.clone(),
    };
    let der = kek
        .decrypt(&record.private_key_encrypted, record.kid.as_bytes())
        .map_err(|_| decrypt_error())?;
    let pkey = PKey::private_key_from_pkcs8(&der).map_err(|_| decrypt_error())?;
    let parts = PublicParts::of_private(record.alg, &pkey)
        .map_err(|reason| bad_record(&record.kid, &reason))?;
    if parts.thumbprint() != record.kid {
        return Err(bad_record(
            &record.kid,
            "its private key does not belong to its kid",
        ));
    }
    Ok(pkey)
}

fn decode_json_object(part: &str, what: &str) -> Result<Map<String, Value>, KeyError> {
    let bytes = b64::url_decode(part)
        .ok_or_else(|| KeyError::BadToken(format!("its {what} is not base64url")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(KeyError::BadToken(format!(
            "its {what} is not a JSON object"
        ))),
    }
}

/// Signs `message` with `alg` (the caller matched `key` to it).
fn sign_with(alg: SigningAlg, key: &PKey<Private>, message: &[u8]) -> Result<Vec<u8>, KeyError> {
    let failed =
        |e: openssl::error::ErrorStack| KeyError::openssl(&format!("signing with {alg}"), &e);
    match alg {
        SigningAlg::Rs256 => {
            let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(failed)?;
            signer.set_rsa_padding(Padding::PKCS1).map_err(failed)?;
            signer.update(message).map_err(failed)?;
            signer.sign_to_vec().map_err(failed)
        }
        SigningAlg::Es256 => {
            // OpenSSL writes an ECDSA signature as DER; JWS wants R and S, each padded
            // to 32 bytes (RFC 7518 §3.4).
            let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(failed)?;
            signer.update(message).map_err(failed)?;
            let der = signer.sign_to_vec().map_err(failed)?;
            let sig = EcdsaSig::from_der(&der).map_err(failed)?;
            let half = (ES256_SIGNATURE_LEN / 2) as i32;
            let mut raw = sig.r().to_vec_padded(half).map_err(failed)?;
            raw.extend(sig.s().to_vec_padded(half).map_err(failed)?);
            Ok(raw)
        }
        SigningAlg::EdDsa => {
            let mut signer = Signer::new_without_digest(key).map_err(failed)?;
            signer.sign_oneshot_to_vec(message).map_err(failed)
        }
    }
}

/// Whether `signature` is `alg`'s signature of `message` under `key`.
fn verifies(alg: SigningAlg, key: &PKey<Public>, message: &[u8], signature: &[u8]) -> bool {
    let verify = || -> Result<bool, openssl::error::ErrorStack> {
        match alg {
            SigningAlg::Rs256 => {
                let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
                verifier.set_rsa_padding(Padding::PKCS1)?;
                verifier.update(message)?;
                verifier.verify(signature)
            }
            SigningAlg::Es256 => {
                if signature.len() != ES256_SIGNATURE_LEN {
                    return Ok(false);
                }
                let (r, s) = signature.split_at(ES256_SIGNATURE_LEN / 2);
                let sig = EcdsaSig::from_private_components(
                    BigNum::from_slice(r)?,
                    BigNum::from_slice(s)?,
                )?;
                let der = sig.to_der()?;
                let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
                verifier.update(message)?;
                verifier.verify(&der)
            }
            SigningAlg::EdDsa => {
                let mut verifier = Verifier::new_without_digest(key)?;
                verifier.verify_oneshot(signature, message)
            }
        }
    };
    verify().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing_key::generate_signing_key;
    use crate::test_support::{test_eddsa_key, test_es256_key, test_kek, test_key, test_key_2};
    use usher_domain::UnixTime;

    fn ring() -> KeyRing {
        KeyRing::from_records(&[test_key().clone()], test_kek()).unwrap()
    }

    fn claims() -> Map<String, Value> {
        let Value::Object(map) = serde_json::json!({
            "iss": "https://id.example",
            "sub": "user-1",
            "aud": ["api"],
            "exp": 1_700_000_600,
            "scope": "openid profile",
        }) else {
            unreachable!()
        };
        map
    }

    fn with_state(record: &SigningKeyRecord, state: KeyState) -> SigningKeyRecord {
        SigningKeyRecord {
            state,
            ..record.clone()
        }
    }

    /// A token with the given header and claims and a dummy signature.
    fn forged(header: &Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64::url_encode(header.to_string().as_bytes()),
            b64::url_encode(&serde_json::to_vec(&claims()).unwrap()),
            b64::url_encode(sig)
        )
    }

    fn assert_bad_token(ring: &KeyRing, token: &str) {
        match ring.verify_jwt(token) {
            Err(KeyError::BadToken(_)) => {}
            other => panic!("{token:?} gave {other:?}"),
        }
    }

    #[test]
    fn a_signed_token_verifies_and_returns_its_typ_and_claims() {
        let ring = ring();
        let token = ring.sign_jwt("at+jwt", &claims()).unwrap();
        let (typ, got) = ring.verify_jwt(&token).unwrap();
        assert_eq!(typ.as_deref(), Some("at+jwt"));
        assert_eq!(got, claims());

        let header_b64 = token.split('.').next().unwrap();
        let header: Value = serde_json::from_slice(&b64::url_decode(header_b64).unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": ring.active_kid()})
        );
    }

    #[test]
    fn tokens_from_the_ring_verify_with_josekit_using_the_published_jwk() {
        let ring = ring();
        let token = ring.sign_jwt("JWT", &claims()).unwrap();
        let jwks = josekit::jwk::JwkSet::from_bytes(ring.jwks_json().as_bytes()).unwrap();
        let jwk = jwks.get(ring.active_kid())[0];
        let verifier = josekit::jws::RS256.verifier_from_jwk(jwk).unwrap();
        let (payload, header) = josekit::jwt::decode_with_verifier(&token, &verifier).unwrap();
        assert_eq!(header.token_type(), Some("JWT"));
        assert_eq!(payload.subject(), Some("user-1"));
    }

    #[test]
    fn a_token_without_typ_verifies_with_none() {
        let ring = ring();
        let token = ring.sign_jwt("x", &claims()).unwrap();
        // Re-sign by hand with a header lacking typ.
        let header = serde_json::json!({"alg": "RS256", "kid": ring.active_kid()});
        let input = format!(
            "{}.{}",
            b64::url_encode(header.to_string().as_bytes()),
            token.split('.').nth(1).unwrap()
        );
        let mut signer = Signer::new(MessageDigest::sha256(), ring.active_private_key()).unwrap();
        signer.update(input.as_bytes()).unwrap();
        let sig = signer.sign_to_vec().unwrap();
        let token = format!("{input}.{}", b64::url_encode(&sig));
        let (typ, got) = ring.verify_jwt(&token).unwrap();
        assert_eq!(typ, None);
        assert_eq!(got, claims());
    }

    #[test]
    fn verification_refuses_alg_none() {
        let ring = ring();
        let header = serde_json::json!({"alg": "none", "kid": ring.active_kid()});
        assert_bad_token(&ring, &forged(&header, b""));
        let header = serde_json::json!({"alg": "NONE", "kid": ring.active_kid()});
        assert_bad_token(&ring, &forged(&header, b"x"));
        let header = serde_json::json!({"kid": ring.active_kid()});
        assert_bad_token(&ring, &forged(&header, b"x"));
    }

    #[test]
    fn verification_refuses_an_hs256_token_keyed_with_the_public_key() {
        let ring = ring();
        // The classic confusion attack: HMAC keyed with the public JWK's modulus bytes.
        let header = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": ring.active_kid()});
        let jwks: Value = serde_json::from_str(ring.jwks_json()).unwrap();
        let n = jwks["keys"][0]["n"].as_str().unwrap();
        let input = format!(
            "{}.{}",
            b64::url_encode(header.to_string().as_bytes()),
            b64::url_encode(&serde_json::to_vec(&claims()).unwrap())
        );
        let mac = crate::hmac::hmac_sha256(n.as_bytes(), input.as_bytes());
        assert_bad_token(&ring, &format!("{input}.{}", b64::url_encode(&mac)));
        let header = serde_json::json!({"alg": "RS512", "kid": ring.active_kid()});
        assert_bad_token(&ring, &forged(&header, &[0u8; 256]));
    }

    #[test]
    fn verification_refuses_an_unknown_or_missing_kid() {
        let ring = ring();
        // Signed by the right key but naming a kid nobody published.
        let token = ring.sign_jwt("JWT", &claims()).unwrap();
        let (_, payload_sig) = token.split_once('.').unwrap();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "nobody"});
        let renamed = format!(
            "{}.{payload_sig}",
            b64::url_encode(header.to_string().as_bytes())
        );
        assert_bad_token(&ring, &renamed);
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        assert_bad_token(&ring, &forged(&header, &[0u8; 256]));
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": 7});
        assert_bad_token(&ring, &forged(&header, &[0u8; 256]));
    }

    #[test]
    fn verification_refuses_a_bad_signature_or_altered_claims() {
        let ring = ring();
        let token = ring.sign_jwt("JWT", &claims()).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = b64::url_decode(sig).unwrap();
        sig[10] ^= 0x80;
        assert_bad_token(&ring, &format!("{input}.{}", b64::url_encode(&sig)));
        assert_bad_token(&ring, &format!("{input}."));

        let mut altered = claims();
        altered.insert("sub".into(), "admin".into());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64::url_encode(&serde_json::to_vec(&altered).unwrap()),
            parts[2]
        );
        assert_bad_token(&ring, &forged);

        // A token signed by another key that claims this ring's kid.
        let other = KeyRing::from_records(&[test_key_2().clone()], test_kek()).unwrap();
        let theirs = other.sign_jwt("JWT", &claims()).unwrap();
        let (_, rest) = theirs.split_once('.').unwrap();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": ring.active_kid()});
        let relabelled = format!("{}.{rest}", b64::url_encode(header.to_string().as_bytes()));
        assert_bad_token(&ring, &relabelled);
    }

    #[test]
    fn verification_refuses_malformed_tokens() {
        let ring = ring();
        let good = ring.sign_jwt("JWT", &claims()).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let crit = serde_json::json!({"alg": "RS256", "kid": ring.active_kid(), "crit": ["exp"]});
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        let cases = [
            String::new(),
            ".".into(),
            "..".into(),
            "a.b".into(),
            format!("{good}.extra"),
            format!("{}.{}", parts[0], parts[1]),
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            format!("!!.{}.{}", parts[1], parts[2]),
            format!("{}.{}.{}", b64::url_encode(b"[1,2]"), parts[1], parts[2]),
            format!(
                "{}.{}.{}",
                b64::url_encode(b"{not json"),
                parts[1],
                parts[2]
            ),
            format!("{}.{}.%%%", parts[0], parts[1]),
            forged(&crit, &[0u8; 256]),
            long,
        ];
        for token in &cases {
            assert_bad_token(&ring, token);
        }
    }

    #[test]
    fn a_signed_non_object_payload_is_refused() {
        let ring = ring();
        let header = serde_json::json!({"alg": "RS256", "kid": ring.active_kid()});
        let input = format!(
            "{}.{}",
            b64::url_encode(header.to_string().as_bytes()),
            b64::url_encode(b"\"just a string\"")
        );
        let mut signer = Signer::new(MessageDigest::sha256(), ring.active_private_key()).unwrap();
        signer.update(input.as_bytes()).unwrap();
        let token = format!(
            "{input}.{}",
            b64::url_encode(&signer.sign_to_vec().unwrap())
        );
        assert_bad_token(&ring, &token);
    }

    #[test]
    fn the_jwks_has_no_private_member_and_names_kid_alg_and_use() {
        let ring = ring();
        let jwks: Value = serde_json::from_str(ring.jwks_json()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        for key in keys {
            let key = key.as_object().unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(!key.contains_key(private), "{private}");
            }
            let mut names: Vec<&str> = key.keys().map(String::as_str).collect();
            names.sort_unstable();
            assert_eq!(names, ["alg", "e", "kid", "kty", "n", "use"]);
            assert_eq!(key["kid"], ring.active_kid());
            assert_eq!(key["alg"], "RS256");
            assert_eq!(key["use"], "sig");
        }
    }

    #[test]
    fn stored_private_members_never_reach_the_jwks() {
        let mut record = test_key().clone();
        let mut jwk: Value = serde_json::from_str(&record.public_jwk).unwrap();
        jwk["d"] = "c2VjcmV0".into();
        jwk["x5c"] = serde_json::json!(["abc"]);
        record.public_jwk = jwk.to_string();
        let ring = KeyRing::from_records(&[record], test_kek()).unwrap();
        assert!(!ring.jwks_json().contains("\"d\""));
        // As a member, not as text: a random 2048-bit modulus holds "x5c" about once in 700 keys.
        let jwks: Value = serde_json::from_str(ring.jwks_json()).unwrap();
        for key in jwks["keys"].as_array().unwrap() {
            assert!(key.get("d").is_none() && key.get("x5c").is_none(), "{key}");
        }
    }

    #[test]
    fn the_jwks_lists_active_then_next_then_retired_and_leaves_out_removed_keys() {
        let active = test_key().clone();
        let next = with_state(test_key_2(), KeyState::Next);
        let retired =
            generate_signing_key(test_kek(), 2048, KeyState::Retired, UnixTime(5)).unwrap();
        let removed =
            generate_signing_key(test_kek(), 2048, KeyState::Removed, UnixTime(6)).unwrap();
        let records = [
            removed.clone(),
            retired.clone(),
            next.clone(),
            active.clone(),
        ];
        let ring = KeyRing::from_records(&records, test_kek()).unwrap();

        assert_eq!(ring.active_kid(), active.kid);
        let jwks: Value = serde_json::from_str(ring.jwks_json()).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(
            kids,
            [active.kid.as_str(), next.kid.as_str(), retired.kid.as_str()]
        );

        // Tokens from the next key (once it is active) verify on this ring already;
        // tokens naming the removed key do not.
        let next_ring =
            KeyRing::from_records(&[with_state(&next, KeyState::Active)], test_kek()).unwrap();
        let token = next_ring.sign_jwt("JWT", &claims()).unwrap();
        assert!(ring.verify_jwt(&token).is_ok());
        let removed_ring =
            KeyRing::from_records(&[with_state(&removed, KeyState::Active)], test_kek()).unwrap();
        let token = removed_ring.sign_jwt("JWT", &claims()).unwrap();
        assert_bad_token(&ring, &token);
    }

    #[test]
    fn only_the_active_private_key_is_decrypted() {
        // A published, non-active key whose sealed private part is garbage is fine.
        let mut next = with_state(test_key_2(), KeyState::Next);
        next.private_key_encrypted = "v1.garbage".into();
        let ring = KeyRing::from_records(&[test_key().clone(), next], test_kek()).unwrap();
        assert_eq!(ring.active_kid(), test_key().kid);
    }

    #[test]
    fn building_the_ring_with_the_wrong_kek_names_the_kek() {
        let wrong = Kek::generate().unwrap();
        let err = KeyRing::from_records(&[test_key().clone()], &wrong).unwrap_err();
        assert_eq!(
            err,
            KeyError::Decrypt {
                kid: test_key().kid.clone()
            }
        );
        let message = err.to_string();
        assert!(
            message.contains("USHER_KEK") && message.contains("keys/kek"),
            "{message}"
        );
        assert!(!message.contains(&test_kek().to_base64()));
    }

    #[test]
    fn a_private_key_sealed_for_another_kid_does_not_decrypt() {
        let mut record = test_key().clone();
        record.private_key_encrypted = test_key_2().private_key_encrypted.clone();
        assert!(matches!(
            KeyRing::from_records(&[record], test_kek()),
            Err(KeyError::Decrypt { .. })
        ));
    }

    #[test]
    fn building_the_ring_without_an_active_key_fails() {
        assert_eq!(
            KeyRing::from_records(&[], test_kek()).unwrap_err(),
            KeyError::NoActiveKey
        );
        let next = with_state(test_key(), KeyState::Next);
        let retired = with_state(test_key_2(), KeyState::Retired);
        assert_eq!(
            KeyRing::from_records(&[next, retired], test_kek()).unwrap_err(),
            KeyError::NoActiveKey
        );
    }

    #[test]
    fn inconsistent_published_records_are_refused() {
        let mut wrong_kid = with_state(test_key_2(), KeyState::Retired);
        wrong_kid.kid = "not-the-thumbprint".into();
        let mut wrong_alg = with_state(test_key_2(), KeyState::Next);
        wrong_alg.alg = SigningAlg::Es256;
        let mut bad_json = with_state(test_key_2(), KeyState::Next);
        bad_json.public_jwk = "{".into();
        for record in [wrong_kid, wrong_alg, bad_json] {
            assert!(matches!(
                KeyRing::from_records(&[test_key().clone(), record], test_kek()),
                Err(KeyError::BadKeyRecord { .. })
            ));
        }
    }

    #[test]
    fn with_two_active_keys_the_most_recently_activated_signs() {
        let mut older = test_key().clone();
        older.activated_at = Some(UnixTime(100));
        let mut newer = test_key_2().clone();
        newer.activated_at = Some(UnixTime(200));
        let ring = KeyRing::from_records(&[newer.clone(), older.clone()], test_kek()).unwrap();
        assert_eq!(ring.active_kid(), newer.kid);
        let ring = KeyRing::from_records(&[older, newer.clone()], test_kek()).unwrap();
        assert_eq!(ring.active_kid(), newer.kid);
    }

    #[test]
    fn the_ring_is_send_sync_and_its_debug_shows_no_key_material() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<KeyRing>();
        let ring = ring();
        let shown = format!("{ring:?}");
        assert!(shown.contains(ring.active_kid()));
        assert!(!shown.contains("PKey") && !shown.contains("BEGIN"));
    }

    fn ring_of_all() -> KeyRing {
        KeyRing::from_records(
            &[
                test_key().clone(),
                test_es256_key().clone(),
                test_eddsa_key().clone(),
            ],
            test_kek(),
        )
        .unwrap()
    }

    fn header_of(token: &str) -> Value {
        let header_b64 = token.split('.').next().unwrap();
        serde_json::from_slice(&b64::url_decode(header_b64).unwrap()).unwrap()
    }

    #[test]
    fn every_algorithm_signs_with_its_own_active_key_and_verifies() {
        let ring = ring_of_all();
        assert_eq!(ring.signing_algs(), SigningAlg::ALL.to_vec());
        for (alg, record) in [
            (SigningAlg::Rs256, test_key()),
            (SigningAlg::Es256, test_es256_key()),
            (SigningAlg::EdDsa, test_eddsa_key()),
        ] {
            assert_eq!(ring.active_kid_for(alg), Some(record.kid.as_str()));
            let token = ring.sign_jwt_with(alg, "at+jwt", &claims()).unwrap();
            assert_eq!(
                header_of(&token),
                serde_json::json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": record.kid})
            );
            let (typ, got) = ring.verify_jwt(&token).unwrap();
            assert_eq!((typ.as_deref(), got), (Some("at+jwt"), claims()));
            // Altered claims do not verify under any algorithm.
            let parts: Vec<&str> = token.split('.').collect();
            let mut altered = claims();
            altered.insert("sub".into(), "admin".into());
            let altered = format!(
                "{}.{}.{}",
                parts[0],
                b64::url_encode(&serde_json::to_vec(&altered).unwrap()),
                parts[2]
            );
            assert_bad_token(&ring, &altered);
        }
        let es = ring.sign(SigningAlg::Es256, b"m").unwrap();
        assert_eq!(es.len(), 64, "ES256 signatures are R || S");
        assert_eq!(ring.sign(SigningAlg::EdDsa, b"m").unwrap().len(), 64);
    }

    #[test]
    fn es256_and_eddsa_tokens_verify_with_josekit_using_the_published_jwks() {
        let ring = ring_of_all();
        let jwks = josekit::jwk::JwkSet::from_bytes(ring.jwks_json().as_bytes()).unwrap();
        let es = ring
            .sign_jwt_with(SigningAlg::Es256, "JWT", &claims())
            .unwrap();
        let jwk = jwks.get(ring.active_kid_for(SigningAlg::Es256).unwrap())[0];
        let verifier = josekit::jws::ES256.verifier_from_jwk(jwk).unwrap();
        let (payload, _) = josekit::jwt::decode_with_verifier(&es, &verifier).unwrap();
        assert_eq!(payload.subject(), Some("user-1"));

        let ed = ring
            .sign_jwt_with(SigningAlg::EdDsa, "JWT", &claims())
            .unwrap();
        let jwk = jwks.get(ring.active_kid_for(SigningAlg::EdDsa).unwrap())[0];
        let verifier = josekit::jws::EdDSA.verifier_from_jwk(jwk).unwrap();
        let (payload, _) = josekit::jwt::decode_with_verifier(&ed, &verifier).unwrap();
        assert_eq!(payload.subject(), Some("user-1"));
    }

    #[test]
    fn a_token_is_checked_only_with_the_algorithm_of_the_key_its_kid_names() {
        let ring = ring_of_all();
        let es_kid = ring.active_kid_for(SigningAlg::Es256).unwrap().to_owned();
        let ed_kid = ring.active_kid_for(SigningAlg::EdDsa).unwrap().to_owned();
        let rs_kid = ring.active_kid().to_owned();
        let jwks: Value = serde_json::from_str(ring.jwks_json()).unwrap();
        let member = |kid: &str, name: &str| {
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["kid"] == kid)
                .unwrap()[name]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let payload = b64::url_encode(&serde_json::to_vec(&claims()).unwrap());

        // HS256 keyed with the public key's bytes, naming an EC or OKP key.
        for (kid, public) in [
            (&es_kid, member(&es_kid, "x")),
            (&ed_kid, member(&ed_kid, "x")),
        ] {
            let header = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid});
            let input = format!(
                "{}.{payload}",
                b64::url_encode(header.to_string().as_bytes())
            );
            let mac = crate::hmac::hmac_sha256(public.as_bytes(), input.as_bytes());
            assert_bad_token(&ring, &format!("{input}.{}", b64::url_encode(&mac)));
        }

        // A real signature by each key, presented under another key's kid (so another
        // algorithm's key), or under its own kid with another algorithm's name.
        let signed_by = |alg: SigningAlg, header: &Value| {
            let input = format!(
                "{}.{payload}",
                b64::url_encode(header.to_string().as_bytes())
            );
            let sig = ring.sign(alg, input.as_bytes()).unwrap();
            format!("{input}.{}", b64::url_encode(&sig))
        };
        let kids = [
            (SigningAlg::Rs256, &rs_kid),
            (SigningAlg::Es256, &es_kid),
            (SigningAlg::EdDsa, &ed_kid),
        ];
        for (signer, own_kid) in kids {
            for (named, kid) in kids {
                let header = serde_json::json!({"alg": named.as_str(), "kid": kid});
                let token = signed_by(signer, &header);
                if signer == named {
                    assert!(ring.verify_jwt(&token).is_ok(), "{signer} as itself");
                } else {
                    assert_bad_token(&ring, &token);
                }
                // The key's own kid under another algorithm's name.
                let header = serde_json::json!({"alg": named.as_str(), "kid": own_kid});
                let token = signed_by(signer, &header);
                if signer == named {
                    assert!(ring.verify_jwt(&token).is_ok());
                } else {
                    match ring.verify_jwt(&token) {
                        Err(KeyError::BadToken(why)) => assert!(
                            why.contains("not the algorithm of the key"),
                            "{signer} as {named}: {why}"
                        ),
                        other => panic!("{signer} as {named}: {other:?}"),
                    }
                }
            }
        }
        // Algorithms Usher never signs with are refused whatever the kid.
        for alg in ["ES384", "ES512", "PS256", "Ed25519", "EdDSA ", "none"] {
            let header = serde_json::json!({"alg": alg, "kid": es_kid});
            assert_bad_token(&ring, &forged(&header, &[0u8; 64]));
        }
        // An ES256 signature of the wrong length is refused, not parsed.
        let token = ring
            .sign_jwt_with(SigningAlg::Es256, "JWT", &claims())
            .unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = b64::url_decode(sig).unwrap();
        sig.push(0);
        assert_bad_token(&ring, &format!("{input}.{}", b64::url_encode(&sig)));
    }

    #[test]
    fn the_jwks_publishes_ec_and_okp_keys_with_only_their_public_members() {
        let ring = ring_of_all();
        let jwks: Value = serde_json::from_str(ring.jwks_json()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
        assert_eq!(algs, ["RS256", "ES256", "EdDSA"]);
        let names = |k: &Value| {
            let mut n: Vec<String> = k.as_object().unwrap().keys().cloned().collect();
            n.sort_unstable();
            n
        };
        assert_eq!(
            names(&keys[1]),
            ["alg", "crv", "kid", "kty", "use", "x", "y"]
        );
        assert_eq!(
            (keys[1]["kty"].as_str(), keys[1]["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        assert_eq!(names(&keys[2]), ["alg", "crv", "kid", "kty", "use", "x"]);
        assert_eq!(
            (keys[2]["kty"].as_str(), keys[2]["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
        for key in keys {
            assert_eq!(key["use"], "sig");
            assert!(key.get("d").is_none());
        }
        // A private member stored beside an EC key never reaches the JWKS.
        let mut record = test_es256_key().clone();
        let mut jwk: Value = serde_json::from_str(&record.public_jwk).unwrap();
        jwk["d"] = "c2VjcmV0".into();
        record.public_jwk = jwk.to_string();
        let ring = KeyRing::from_records(&[test_key().clone(), record], test_kek()).unwrap();
        let jwks: Value = serde_json::from_str(ring.jwks_json()).unwrap();
        for key in jwks["keys"].as_array().unwrap() {
            assert!(key.get("d").is_none(), "{key}");
        }
    }

    #[test]
    fn an_algorithm_without_an_active_key_cannot_sign_but_its_next_key_is_published() {
        let next_es = with_state(test_es256_key(), KeyState::Next);
        let ring =
            KeyRing::from_records(&[test_key().clone(), next_es.clone()], test_kek()).unwrap();
        assert_eq!(ring.signing_algs(), [SigningAlg::Rs256]);
        assert_eq!(
            ring.sign_jwt_with(SigningAlg::Es256, "JWT", &claims()),
            Err(KeyError::NoActiveKeyFor(SigningAlg::Es256))
        );
        assert!(ring.jwks_json().contains(&next_es.kid));
        // Its tokens, once it signs elsewhere, verify here already.
        let elsewhere = ring_of_all();
        let token = elsewhere
            .sign_jwt_with(SigningAlg::Es256, "JWT", &claims())
            .unwrap();
        assert!(ring.verify_jwt(&token).is_ok());
        // Without an active RS256 key there is no ring at all.
        assert_eq!(
            KeyRing::from_records(&[test_es256_key().clone()], test_kek()).unwrap_err(),
            KeyError::NoActiveKey
        );
    }

    #[test]
    fn a_record_whose_key_is_not_of_its_algorithm_is_refused() {
        // An RSA key recorded as ES256, and a P-256 key recorded as EdDSA.
        let mut rsa_as_es = test_key_2().clone();
        rsa_as_es.alg = SigningAlg::Es256;
        let mut ec_as_ed = test_es256_key().clone();
        ec_as_ed.alg = SigningAlg::EdDsa;
        for record in [rsa_as_es, ec_as_ed] {
            assert!(matches!(
                KeyRing::from_records(&[test_key().clone(), record], test_kek()),
                Err(KeyError::BadKeyRecord { .. })
            ));
        }
    }
}
