//! The key ring: the signing keys of the database as this node uses them. It holds the
//! decrypted private key of the one active key, the public keys of every published key
//! (`next`, `active`, `retired`) indexed by `kid`, and the JWK Set rendered once. Signing
//! uses the active key; verification pins the algorithm to RS256 and picks the key by the
//! token's `kid`. Everything is parsed once when the ring is built, so the per-request
//! work is one RSA operation.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Padding;
use openssl::sign::{Signer, Verifier};
use serde_json::{Map, Value};
use usher_domain::{KeyState, SigningKeyRecord};

use crate::b64;
use crate::error::KeyError;
use crate::kek::Kek;
use crate::signing_key::{
    ALG, public_jwk_value, public_key_from_components, rsa_components, rsa_thumbprint,
};

/// Tokens longer than this are refused before any decoding (a cheap guard; real access
/// and ID tokens are a few kilobytes at most).
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The in-memory key ring built from stored records. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    active_kid: String,
    active_private: PKey<Private>,
    /// The public key of every published key, by `kid`.
    published: HashMap<String, PKey<Public>>,
    /// The active key's public JWK, as published.
    active_jwk: Value,
    jwks_json: String,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.inner.published.keys().map(String::as_str).collect();
        kids.sort_unstable();
        f.debug_struct("KeyRing")
            .field("active_kid", &self.inner.active_kid)
            .field("published_kids", &kids)
            .finish_non_exhaustive()
    }
}

/// A published key checked and ready to use.
struct PublishedKey {
    kid: String,
    state: KeyState,
    created_at: i64,
    public_key: PKey<Public>,
    jwk: Value,
}

impl KeyRing {
    /// Builds the ring from stored records, decrypting the private part of the active key
    /// (and no other) with `kek`.
    ///
    /// If, against the invariant, several records are active, the most recently activated
    /// one signs (all of them are published, so their tokens verify either way).
    ///
    /// Errors: [`KeyError::NoActiveKey`] if no record is active; [`KeyError::Decrypt`] if
    /// the active key's private part does not decrypt with this KEK;
    /// [`KeyError::BadKeyRecord`] if a published record is inconsistent (algorithm other
    /// than RS256, unreadable public key, or a `kid` that is not its thumbprint).
    pub fn from_records(records: &[SigningKeyRecord], kek: &Kek) -> Result<KeyRing, KeyError> {
        let active = records
            .iter()
            .filter(|r| r.state == KeyState::Active)
            .max_by(|a, b| {
                (a.activated_at, a.created_at, &a.kid).cmp(&(b.activated_at, b.created_at, &b.kid))
            })
            .ok_or(KeyError::NoActiveKey)?;

        let mut keys = Vec::new();
        for record in records.iter().filter(|r| r.state.is_published()) {
            keys.push(check_published(record)?);
        }

        let active_private = open_private_key(active, kek)?;
        let active_public = keys
            .iter()
            .find(|k| k.kid == active.kid)
            .map(|k| &k.public_key)
            .ok_or_else(|| bad_record(&active.kid, "it is active but not published"))?;
        if !active_private.public_eq(active_public) {
            return Err(bad_record(
                &active.kid,
                "its private key does not match its public key",
            ));
        }

        // Active first, then next, then retired; newest first within a state.
        let rank = |k: &PublishedKey| match (k.kid == active.kid, k.state) {
            (true, _) => 0,
            (false, KeyState::Active) => 1,
            (false, KeyState::Next) => 2,
            (false, _) => 3,
        };
        keys.sort_by(|a, b| {
            (rank(a), std::cmp::Reverse(a.created_at), &a.kid).cmp(&(
                rank(b),
                std::cmp::Reverse(b.created_at),
                &b.kid,
            ))
        });

        let active_jwk = keys
            .iter()
            .find(|k| k.kid == active.kid)
            .map(|k| k.jwk.clone())
            .ok_or_else(|| bad_record(&active.kid, "it is active but not published"))?;
        let mut published = HashMap::with_capacity(keys.len());
        let mut jwks = Vec::with_capacity(keys.len());
        for key in keys {
            if published.contains_key(&key.kid) {
                continue;
            }
            jwks.push(key.jwk);
            published.insert(key.kid, key.public_key);
        }
        let jwks_json = serde_json::json!({ "keys": jwks }).to_string();

        Ok(KeyRing {
            inner: Arc::new(Inner {
                active_kid: active.kid.clone(),
                active_private,
                published,
                active_jwk,
                jwks_json,
            }),
        })
    }

    /// The `kid` of the key that signs.
    pub fn active_kid(&self) -> &str {
        &self.inner.active_kid
    }

    /// The public JWK Set, `{"keys":[…]}`, with only `kty`, `use`, `alg`, `kid`, `n` and
    /// `e` for each published key: the active key first, then `next`, then `retired`.
    pub fn jwks_json(&self) -> &str {
        &self.inner.jwks_json
    }

    /// The active key's private key, for adapters that sign through OpenSSL.
    pub fn active_private_key(&self) -> &PKey<Private> {
        &self.inner.active_private
    }

    /// Signs `claims` as a compact JWS with RS256 and the active key; the header is
    /// `{"alg":"RS256","typ":typ,"kid":<active kid>}`.
    pub fn sign_jwt(&self, typ: &str, claims: &Map<String, Value>) -> Result<String, KeyError> {
        let header = serde_json::json!({
            "alg": ALG,
            "typ": typ,
            "kid": self.inner.active_kid,
        });
        let payload = serde_json::to_vec(claims)
            .map_err(|e| KeyError::Crypto(format!("serialising the claims: {e}")))?;
        let signing_input = format!(
            "{}.{}",
            b64::url_encode(header.to_string().as_bytes()),
            b64::url_encode(&payload)
        );
        let signature = self.sign_rs256(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", b64::url_encode(&signature)))
    }

    /// The active key's public JWK as published (`kty`, `use`, `alg`, `kid`, `n`, `e`).
    pub fn active_jwk(&self) -> &Value {
        &self.inner.active_jwk
    }

    /// An RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `message` with the active
    /// key, through OpenSSL.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signer = Signer::new(MessageDigest::sha256(), &self.inner.active_private)
            .map_err(|e| KeyError::openssl("starting an RS256 signature", &e))?;
        signer
            .set_rsa_padding(Padding::PKCS1)
            .map_err(|e| KeyError::openssl("selecting PKCS#1 v1.5 padding", &e))?;
        signer
            .update(message)
            .map_err(|e| KeyError::openssl("signing", &e))?;
        signer
            .sign_to_vec()
            .map_err(|e| KeyError::openssl("signing", &e))
    }

    /// Verifies a compact JWS: the header's `alg` must be exactly `RS256`, its `kid` must
    /// name a published key, and the signature must verify with that key. Returns the
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
        match header.get("alg") {
            Some(Value::String(alg)) if alg == ALG => {}
            Some(Value::String(_)) => {
                return Err(KeyError::token("its algorithm is not RS256"));
            }
            _ => return Err(KeyError::token("its header has no algorithm")),
        }
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
        let public_key = self
            .inner
            .published
            .get(kid)
            .ok_or_else(|| KeyError::token("its kid names no published key"))?;

        let signature = b64::url_decode(signature_b64)
            .ok_or_else(|| KeyError::token("its signature is not base64url"))?;
        let signing_input_len = header_b64.len() + 1 + payload_b64.len();
        let signing_input = token
            .get(..signing_input_len)
            .ok_or_else(|| KeyError::token("it is not a compact JWS of three parts"))?;
        if !rs256_verifies(public_key, signing_input.as_bytes(), &signature) {
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

/// Checks a published record and parses its public key. Only `n` and `e` are taken from
/// the stored JWK; the published JWK is rebuilt from them, so nothing else stored there
/// (a private member, say) can ever reach the JWK Set.
fn check_published(record: &SigningKeyRecord) -> Result<PublishedKey, KeyError> {
    if record.alg != ALG {
        return Err(bad_record(
            &record.kid,
            &format!("its algorithm is {:?}, not RS256", record.alg),
        ));
    }
    let jwk: Value = serde_json::from_str(&record.public_jwk)
        .map_err(|_| bad_record(&record.kid, "its public JWK is not JSON"))?;
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if member("kty") != Some("RSA") {
        return Err(bad_record(&record.kid, "its public JWK is not an RSA key"));
    }
    let (Some(n), Some(e)) = (member("n"), member("e")) else {
        return Err(bad_record(&record.kid, "its public JWK lacks n or e"));
    };
    if rsa_thumbprint(n, e) != record.kid {
        return Err(bad_record(
            &record.kid,
            "its kid is not the RFC 7638 thumbprint of its public key",
        ));
    }
    let public_key =
        public_key_from_components(n, e).map_err(|reason| bad_record(&record.kid, &reason))?;
    Ok(PublishedKey {
        kid: record.kid.clone(),
        state: record.state,
        created_at: record.created_at.seconds(),
        jwk: public_jwk_value(&record.kid, n, e),
        public_key,
    })
}

/// Decrypts and parses the active key's private part.
fn open_private_key(record: &SigningKeyRecord, kek: &Kek) -> Result<PKey<Private>, KeyError> {
    let decrypt_error = || KeyError::Decrypt {
        kid: record.kid.clone(),
    };
    let der = kek
        .decrypt(&record.private_key_encrypted, record.kid.as_bytes())
        .map_err(|_| decrypt_error())?;
    let pkey = PKey::private_key_from_pkcs8(&der).map_err(|_| decrypt_error())?;
    let rsa = pkey
        .rsa()
        .map_err(|_| bad_record(&record.kid, "its private key is not an RSA key"))?;
    let (n, e) = rsa_components(rsa.n(), rsa.e());
    if rsa_thumbprint(&n, &e) != record.kid {
        return Err(bad_record(
            &record.kid,
            "its private key does not belong to its kid",
        ));
    }
    if rsa.size() * 8 < 2048 {
        return Err(bad_record(
            &record.kid,
            "its modulus is shorter than 2048 bits",
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

fn rs256_verifies(key: &PKey<Public>, message: &[u8], signature: &[u8]) -> bool {
    let verify = || -> Result<bool, openssl::error::ErrorStack> {
        let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
        verifier.set_rsa_padding(Padding::PKCS1)?;
        verifier.update(message)?;
        verifier.verify(signature)
    };
    verify().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing_key::generate_signing_key;
    use crate::test_support::{test_kek, test_key, test_key_2};
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
        wrong_alg.alg = "HS256".into();
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
}
