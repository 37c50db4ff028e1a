//! Signing keys: list, rotate (publish the next key on schedule, or promote now), retire
//! a compromised key — `usher keys …` and `/admin/api/v1/keys`. The transitions need the
//! key-encryption key and the rotation schedule, which the binary holds: it implements
//! [`KeyAdmin`] once (`usher/src/key_admin.rs`) for both the CLI and the node
//! ([`crate::Core::key_admin`]). Every node picks a transition up at its next key poll
//! (docs/design/key-rotation.md).

use usher_domain::{SigningAlg, SigningKeyRecord, UnixTime};

use super::{AdminError, By, rfc3339};

/// A signing key as shown: never its private half.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub kid: String,
    /// `next`, `active`, `retired` or `removed`.
    pub state: String,
    pub alg: String,
    /// The RSA modulus size (RS256 keys).
    pub bits: u32,
    pub created: String,
    pub activates: Option<String>,
    pub activated: Option<String>,
    pub retires: Option<String>,
    pub retired: Option<String>,
    pub removes: Option<String>,
    pub removed: Option<String>,
}

impl KeyView {
    pub fn of(k: &SigningKeyRecord) -> KeyView {
        let time = |t: Option<UnixTime>| t.map(rfc3339);
        KeyView {
            kid: k.kid.clone(),
            state: k.state.as_str().to_owned(),
            alg: k.alg.as_str().to_owned(),
            bits: k.bits,
            created: rfc3339(k.created_at),
            activates: time(k.activate_after),
            activated: time(k.activated_at),
            retires: time(k.retire_after),
            retired: time(k.retired_at),
            removes: time(k.remove_after),
            removed: time(k.removed_at),
        }
    }
}

/// A next key published on schedule (or the one already waiting).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NextKey {
    pub key: KeyView,
    /// Whether this call published it (false: one was already waiting).
    pub created_now: bool,
    /// When it starts signing.
    pub signs_from: String,
}

/// A key made active at once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Promoted {
    pub alg: String,
    pub active: KeyView,
    pub previous: Option<KeyView>,
    /// Whether the new key was published before (false: verifiers with a cached JWKS
    /// will not find it until they refetch).
    pub was_published: bool,
}

/// A key removed from the JWKS (compromised), and the key that signs instead when it was
/// the active one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Retired {
    pub removed: String,
    pub active: Option<KeyView>,
}

/// The key transitions an administrator may ask for; each writes its events (`key.*`)
/// to the audit trail as done by `by`.
pub trait KeyAdmin: Send + Sync {
    /// Every key, by creation.
    fn list(&self) -> Result<Vec<SigningKeyRecord>, AdminError>;
    /// Publishes the next key of `alg` (it signs after the pre-publication period).
    fn publish_next(&self, alg: SigningAlg, by: &By) -> Result<NextKey, AdminError>;
    /// Makes the next key of `alg` (or a new one) active at once; the old one retires.
    fn promote_now(&self, alg: SigningAlg, by: &By) -> Result<Promoted, AdminError>;
    /// Removes the key `kid` from the JWKS at once (compromised); when it is the active
    /// key, another becomes active first.
    fn retire(&self, kid: &str, by: &By) -> Result<Retired, AdminError>;
}

/// The algorithms `--alg` names (all of them when absent).
pub fn parse_algs(raw: Option<&str>) -> Result<Vec<SigningAlg>, AdminError> {
    match raw {
        None => Ok(SigningAlg::ALL.to_vec()),
        Some(raw) => Ok(vec![SigningAlg::parse(raw).ok_or_else(|| {
            AdminError::Invalid(format!(
                "--alg {raw:?} is not RS256, ES256 or EdDSA (names are case-sensitive)"
            ))
        })?]),
    }
}

/// A key id as an operator types it.
pub fn check_kid(kid: &str) -> Result<(), AdminError> {
    let plausible = (1..=128).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plausible {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "{kid:?} is not a key id; `usher keys list` shows them"
        )))
    }
}
