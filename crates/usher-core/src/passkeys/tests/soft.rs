//! A software authenticator and client for the tests: what a browser and a platform
//! authenticator do with the options of `navigator.credentials.create/get`, with real
//! P-256 keys and ES256 signatures (OpenSSL), packed self-attestation, and a minimal
//! CBOR encoder (RFC 8949 §3: the few major types an attestation object needs).
//!
//! `webauthn-authenticator-rs`'s `SoftPasskey` could not serve: it refuses resident
//! keys and returns no user handle, so it cannot make a discoverable passkey.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::{Value, json};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

/// A CBOR data item, as far as WebAuthn needs.
pub enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(&'static str),
    Map(Vec<(Cbor, Cbor)>),
}

impl Cbor {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Int(n) if *n >= 0 => head(out, 0, n.unsigned_abs()),
            Cbor::Int(n) => head(out, 1, (-1 - n).unsigned_abs()),
            Cbor::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Cbor::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend_from_slice(t.as_bytes());
            }
            Cbor::Map(entries) => {
                head(out, 5, entries.len() as u64);
                for (k, v) in entries {
                    k.write(out);
                    v.write(out);
                }
            }
        }
    }
}

/// A major type and its argument (RFC 8949 §3.1).
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// A discoverable credential the authenticator holds.
#[derive(Clone)]
pub struct Credential {
    pub id: Vec<u8>,
    pub rp_id: String,
    pub user_handle: Vec<u8>,
    key: PKey<Private>,
    pub counter: u32,
}

/// A browser (its origin) with a platform authenticator in it.
pub struct SoftAuthenticator {
    origin: String,
    /// A synced passkey provider (backup eligible and backed up; counters stay 0), or a
    /// device-bound authenticator (counters go up by one per assertion).
    pub synced: bool,
    /// Whether the authenticator verifies the person (PIN, biometric).
    pub verifies_user: bool,
    /// Answer a creation with the last credential again, ignoring `excludeCredentials`
    /// (a broken or malicious client).
    pub reuse_last: bool,
    pub credentials: Vec<Credential>,
}

impl SoftAuthenticator {
    pub fn new(origin: &str) -> SoftAuthenticator {
        SoftAuthenticator {
            origin: origin.to_owned(),
            synced: false,
            verifies_user: true,
            reuse_last: false,
            credentials: Vec::new(),
        }
    }

    /// Moves this browser to another origin (a phishing site, another port).
    pub fn set_origin(&mut self, origin: &str) {
        origin.clone_into(&mut self.origin);
    }

    fn flags(&self) -> u8 {
        let mut flags = UP;
        if self.verifies_user {
            flags |= UV;
        }
        if self.synced {
            flags |= BE | BS;
        }
        flags
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// `navigator.credentials.create(options)`, `options` as the server sent them; the
    /// credential as `PublicKeyCredential.toJSON()` writes it, or `Err` where a browser
    /// would throw (`InvalidStateError` for an excluded credential).
    pub fn create(&mut self, options: &str) -> Result<String, &'static str> {
        let options: Value = serde_json::from_str(options).unwrap();
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().unwrap().to_owned();
        let challenge = pk["challenge"].as_str().unwrap();
        assert!(
            pk["pubKeyCredParams"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["alg"] == -7),
            "ES256 is offered"
        );
        let credential = if self.reuse_last {
            self.credentials.last().cloned().unwrap()
        } else {
            let excluded = pk["excludeCredentials"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for c in &excluded {
                let id = unb64(c["id"].as_str().unwrap());
                if self.credentials.iter().any(|mine| mine.id == id) {
                    return Err("InvalidStateError");
                }
            }
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            let mut id = vec![0u8; 32];
            openssl::rand::rand_bytes(&mut id).unwrap();
            Credential {
                id,
                rp_id: rp_id.clone(),
                user_handle: unb64(pk["user"]["id"].as_str().unwrap()),
                key: PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap(),
                counter: 0,
            }
        };
        let client_data = self.client_data("webauthn.create", challenge);
        let mut auth_data = openssl::sha::sha256(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags() | AT);
        auth_data.extend_from_slice(&credential.counter.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&u16::try_from(credential.id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&credential.id);
        auth_data.extend_from_slice(&cose_key(&credential.key));
        // Packed self-attestation (WebAuthn L3 §8.2): signed by the credential's own key.
        let signature = sign(&credential.key, &auth_data, &client_data);
        let attestation = Cbor::Map(vec![
            (Cbor::Text("fmt"), Cbor::Text("packed")),
            (
                Cbor::Text("attStmt"),
                Cbor::Map(vec![
                    (Cbor::Text("alg"), Cbor::Int(-7)),
                    (Cbor::Text("sig"), Cbor::Bytes(signature)),
                ]),
            ),
            (Cbor::Text("authData"), Cbor::Bytes(auth_data)),
        ])
        .encode();
        let id = b64(&credential.id);
        if !self.reuse_last {
            self.credentials.push(credential);
        }
        Ok(json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client_data),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
        .to_string())
    }

    /// `navigator.credentials.get(options)` with the newest credential for the relying
    /// party (among `allowCredentials`, if any): the assertion as `toJSON()` writes it.
    pub fn get(&mut self, options: &str) -> String {
        let options: Value = serde_json::from_str(options).unwrap();
        let pk = &options["publicKey"];
        let rp_id = pk["rpId"].as_str().unwrap();
        let challenge = pk["challenge"].as_str().unwrap().to_owned();
        let allowed: Vec<Vec<u8>> = pk["allowCredentials"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| unb64(c["id"].as_str().unwrap()))
            .collect();
        let synced = self.synced;
        let flags = self.flags();
        let client_data = self.client_data("webauthn.get", &challenge);
        let credential = self
            .credentials
            .iter_mut()
            .rev()
            .find(|c| c.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&c.id)))
            .expect("a credential for this relying party");
        if !synced {
            credential.counter += 1;
        }
        let mut auth_data = openssl::sha::sha256(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&credential.counter.to_be_bytes());
        let signature = sign(&credential.key, &auth_data, &client_data);
        let id = b64(&credential.id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(&signature),
                "userHandle": b64(&credential.user_handle),
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }

    /// A copy of this authenticator's keys in another device (a clone): the same
    /// credentials, their counters as they are now.
    pub fn clone_device(&self) -> SoftAuthenticator {
        SoftAuthenticator {
            origin: self.origin.clone(),
            synced: self.synced,
            verifies_user: self.verifies_user,
            reuse_last: false,
            credentials: self.credentials.clone(),
        }
    }
}

/// ES256 over `authenticatorData || SHA-256(clientDataJSON)`, DER-encoded.
fn sign(key: &PKey<Private>, auth_data: &[u8], client_data: &[u8]) -> Vec<u8> {
    let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
    signer.update(auth_data).unwrap();
    signer.update(&openssl::sha::sha256(client_data)).unwrap();
    signer.sign_to_vec().unwrap()
}

/// The credential public key as a COSE_Key (RFC 9053 §7.1.1: EC2, ES256, P-256).
fn cose_key(key: &PKey<Private>) -> Vec<u8> {
    let ec = key.ec_key().unwrap();
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
    let mut ctx = BigNumContext::new().unwrap();
    ec.public_key()
        .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
        .unwrap();
    Cbor::Map(vec![
        (Cbor::Int(1), Cbor::Int(2)),
        (Cbor::Int(3), Cbor::Int(-7)),
        (Cbor::Int(-1), Cbor::Int(1)),
        (Cbor::Int(-2), Cbor::Bytes(x.to_vec_padded(32).unwrap())),
        (Cbor::Int(-3), Cbor::Bytes(y.to_vec_padded(32).unwrap())),
    ])
    .encode()
}

#[test]
fn the_cbor_encoder_writes_rfc_8949_appendix_a_examples() {
    assert_eq!(Cbor::Int(0).encode(), [0x00]);
    assert_eq!(Cbor::Int(23).encode(), [0x17]);
    assert_eq!(Cbor::Int(24).encode(), [0x18, 0x18]);
    assert_eq!(Cbor::Int(1000).encode(), [0x19, 0x03, 0xe8]);
    assert_eq!(Cbor::Int(-1).encode(), [0x20]);
    assert_eq!(Cbor::Int(-7).encode(), [0x26]);
    assert_eq!(Cbor::Int(-100).encode(), [0x38, 0x63]);
    assert_eq!(Cbor::Bytes(vec![1, 2, 3, 4]).encode(), [0x44, 1, 2, 3, 4]);
    assert_eq!(Cbor::Text("IETF").encode(), [0x64, b'I', b'E', b'T', b'F']);
    assert_eq!(
        Cbor::Map(vec![
            (Cbor::Int(1), Cbor::Int(2)),
            (Cbor::Int(3), Cbor::Int(4))
        ])
        .encode(),
        [0xa2, 0x01, 0x02, 0x03, 0x04]
    );
}
