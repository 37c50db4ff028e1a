//! Signing-key records: the state machine `next → active → retired → removed`, and the
//! JWS algorithms Usher signs with (each with keys of its own, docs/design/key-rotation.md).

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

/// A JWS algorithm Usher signs with (RFC 7518 §3.1, RFC 8037 §3.1). Every algorithm has
/// its own keys, each in its own `next → active → retired` cycle; a token is only ever
/// verified with the algorithm of the key its `kid` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default, for compatibility).
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// EdDSA on Ed25519.
    EdDsa,
}

impl SigningAlg {
    /// Every algorithm, RS256 first.
    pub const ALL: [SigningAlg; 3] = [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa];

    /// The JOSE name (`RS256`, `ES256`, `EdDSA`).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    /// The JOSE name, exactly (JOSE names are case-sensitive).
    pub fn parse(s: &str) -> Option<SigningAlg> {
        SigningAlg::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SigningAlg::parse(s)
            .ok_or_else(|| format!("{s:?} is not a signing algorithm: RS256, ES256 or EdDSA"))
    }
}

/// A signing key as stored: public JWK in the clear, private key encrypted under the KEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    pub state: KeyState,
    /// The algorithm this key signs with, and the only one its tokens verify with.
    pub alg: SigningAlg,
    /// The key size in bits (the RSA modulus; 256 for P-256 and Ed25519).
    pub bits: u32,
    /// The public JWK as JSON (`kty`, `use`, `alg`, `kid`, and `n`/`e`, `crv`/`x`/`y` or
    /// `crv`/`x`).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_parse_by_their_exact_jose_names() {
        for alg in SigningAlg::ALL {
            assert_eq!(SigningAlg::parse(alg.as_str()), Some(alg));
            assert_eq!(alg.as_str().parse::<SigningAlg>(), Ok(alg));
        }
        for other in ["rs256", "EDDSA", "HS256", "none", "ES384", "PS256", ""] {
            assert_eq!(SigningAlg::parse(other), None, "{other}");
        }
    }
}
