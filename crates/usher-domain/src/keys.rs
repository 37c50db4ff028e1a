//! Signing-key records: the state machine `next → active → retired → removed`.

use std::fmt;
use std::str::FromStr;

use crate::time::UnixTime;

/// Where a signing key is in its life (DESIGN.md, "Signing keys and rotation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Published in JWKS, not yet signing.
    Next,
    /// The one key that signs.
    Active,
    /// Published until every token it signed has expired; never signs.
    Retired,
    /// Gone from JWKS.
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Removed => "removed",
        }
    }

    /// Whether keys in this state belong in the published JWKS.
    pub fn is_published(self) -> bool {
        matches!(self, KeyState::Next | KeyState::Active | KeyState::Retired)
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(KeyState::Next),
            "active" => Ok(KeyState::Active),
            "retired" => Ok(KeyState::Retired),
            "removed" => Ok(KeyState::Removed),
            other => Err(format!("unknown key state {other:?}")),
        }
    }
}

/// A signing key as stored: public JWK in the clear, private key encrypted under the KEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    pub state: KeyState,
    /// The signing algorithm; always `RS256` today.
    pub alg: String,
    /// The RSA modulus size in bits.
    pub bits: u32,
    /// The public JWK as JSON (`kty`, `n`, `e`, `kid`, `alg`, `use`).
    pub public_jwk: String,
    /// The PKCS#8 private key, encrypted with AES-256-GCM under the KEK (base64).
    pub private_key_encrypted: String,
    pub created_at: UnixTime,
    /// A `next` key may become active from this time (end of pre-publication).
    pub activate_after: Option<UnixTime>,
    pub activated_at: Option<UnixTime>,
    /// When an active key is due to be replaced (schedule), for `keys list`.
    pub retire_after: Option<UnixTime>,
    pub retired_at: Option<UnixTime>,
    /// A retired key leaves JWKS from this time (its last token has expired).
    pub remove_after: Option<UnixTime>,
    pub removed_at: Option<UnixTime>,
}
