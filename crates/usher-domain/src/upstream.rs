//! Upstream identity providers: another OpenID Connect provider (or a plain OAuth 2.0
//! one with a user-info endpoint) whose people may sign in to Usher, Usher acting as
//! their relying party (docs/design/upstream.md).
//!
//! An upstream identity is the pair (upstream, `sub`) — never an e-mail address. It is
//! linked to one Usher person ([`UpstreamIdentity`]); a person may hold several.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{StoreError, UnixTime, User, UserId};

/// The most bytes of an upstream's `sub` Usher keeps (OIDC Core §2: at most 255 ASCII
/// characters).
pub const MAX_SUBJECT_BYTES: usize = 255;

/// An upstream's short name: the path segment of its callback
/// (`/upstream/{id}/callback`) and what the CLI and API call it. 1–40 characters of
/// `[a-z0-9-]`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UpstreamId(String);

impl UpstreamId {
    pub fn parse(raw: &str) -> Result<UpstreamId, UpstreamError> {
        let ok = !raw.is_empty()
            && raw.len() <= 40
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        if ok {
            Ok(UpstreamId(raw.to_owned()))
        } else {
            Err(UpstreamError::Invalid(
                "an upstream id is 1 to 40 characters of a-z, 0-9 and '-', not starting with '-'",
            ))
        }
    }

    /// An id made from a display name ("Google Workspace" → `google-workspace`); `None`
    /// when nothing usable is left.
    pub fn from_name(name: &str) -> Option<UpstreamId> {
        let mut out = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        let trimmed: String = out.trim_end_matches('-').chars().take(40).collect();
        UpstreamId::parse(trimmed.trim_end_matches('-')).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UpstreamId {
    type Error = UpstreamError;
    fn try_from(raw: String) -> Result<UpstreamId, UpstreamError> {
        UpstreamId::parse(&raw)
    }
}

impl From<UpstreamId> for String {
    fn from(id: UpstreamId) -> String {
        id.0
    }
}

impl fmt::Display for UpstreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an upstream's settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("{0}")]
    Invalid(&'static str),
}

/// Where a plain OAuth 2.0 provider (no discovery, no ID token: GitHub) is reached. An
/// OpenID Connect provider has none: its discovery document says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualEndpoints {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
}

/// Which upstream claim fills which of Usher's fields. Each value is a top-level claim
/// name of the ID token or the user-info answer. Text form (`--claim-mapping`):
/// `sub=id,username=login,name=name,email=email,email_verified=email_verified`, any
/// subset; the rest keep their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimMapping {
    /// The upstream's stable identifier of the person (default `sub`).
    pub subject: String,
    /// The wished-for username of a person created at first sign-in (default
    /// `preferred_username`; the e-mail's local part when absent).
    pub username: String,
    pub name: String,
    pub email: String,
    /// The claim saying the upstream verified the address (default
    /// `email_verified`); `None`: an address from this upstream is never taken as
    /// verified.
    pub email_verified: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> ClaimMapping {
        ClaimMapping {
            subject: "sub".to_owned(),
            username: "preferred_username".to_owned(),
            name: "name".to_owned(),
            email: "email".to_owned(),
            email_verified: Some("email_verified".to_owned()),
        }
    }
}

impl ClaimMapping {
    /// Parses the text form over the defaults. An empty value for `email_verified`
    /// (`email_verified=`) means "never verified".
    pub fn parse(raw: &str) -> Result<ClaimMapping, UpstreamError> {
        let mut mapping = ClaimMapping::default();
        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((field, claim)) = pair.split_once('=') else {
                return Err(UpstreamError::Invalid(
                    "a claim mapping is field=claim pairs separated by commas",
                ));
            };
            let claim = claim.trim();
            let valid_claim = claim.len() <= 64
                && claim
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            if !valid_claim || (claim.is_empty() && field.trim() != "email_verified") {
                return Err(UpstreamError::Invalid(
                    "a mapped claim name is 1 to 64 characters of letters, digits, '_', '-' and '.'",
                ));
            }
            let claim = claim.to_owned();
            match field.trim() {
                "sub" => mapping.subject = claim,
                "username" => mapping.username = claim,
                "name" => mapping.name = claim,
                "email" => mapping.email = claim,
                "email_verified" => {
                    mapping.email_verified = (!claim.is_empty()).then_some(claim);
                }
                _ => {
                    return Err(UpstreamError::Invalid(
                        "a claim mapping maps sub, username, name, email or email_verified",
                    ));
                }
            }
        }
        Ok(mapping)
    }

    /// The text form ([`ClaimMapping::parse`] reads it back).
    pub fn to_text(&self) -> String {
        format!(
            "sub={},username={},name={},email={},email_verified={}",
            self.subject,
            self.username,
            self.name,
            self.email,
            self.email_verified.as_deref().unwrap_or("")
        )
    }
}

/// A registered upstream provider.
#[derive(Clone, PartialEq, Eq)]
pub struct Upstream {
    pub id: UpstreamId,
    /// Shown on the button: "Sign in with {name}". 1–60 characters, no control
    /// characters.
    pub name: String,
    /// The provider's issuer (OpenID Connect: its discovery is
    /// `{issuer}/.well-known/openid-configuration`, and ID tokens must name it).
    pub issuer: String,
    pub client_id: String,
    /// The client secret, sealed under the KEK (`usher_keys::FactorSealer::
    /// seal_upstream_secret`, the upstream id in the associated data); `None`: Usher is
    /// a public client of this upstream (PKCE alone).
    pub client_secret_sealed: Option<String>,
    /// The scopes asked for, space-separated (default `openid email profile`).
    pub scope: String,
    pub claim_mapping: ClaimMapping,
    /// `Some` for a plain OAuth 2.0 provider; `None` for OpenID Connect (discovery).
    pub endpoints: Option<ManualEndpoints>,
    /// Whether the login page offers it.
    pub enabled: bool,
    /// Whether a second factor done at the upstream (its `amr` says `mfa`, `otp`,
    /// `hwk`…) satisfies a client or policy that requires one. Off by default: Usher
    /// asks its own.
    pub trusted_for_mfa: bool,
    /// Whether a first sign-in with no linked person creates one (just in time).
    pub create_people: bool,
    pub created_at: UnixTime,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret_sealed",
                &self.client_secret_sealed.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .field("claim_mapping", &self.claim_mapping)
            .field("endpoints", &self.endpoints)
            .field("enabled", &self.enabled)
            .field("trusted_for_mfa", &self.trusted_for_mfa)
            .field("create_people", &self.create_people)
            .finish_non_exhaustive()
    }
}

/// Checks a display name: 1–60 characters, no control characters, not only spaces.
pub fn check_upstream_name(raw: &str) -> Result<String, UpstreamError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(UpstreamError::Invalid(
            "an upstream's name is 1 to 60 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// One upstream identity linked to a person: the pair (upstream, subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamIdentity {
    pub upstream: UpstreamId,
    /// The upstream's `sub` (or the mapped subject claim), as sent.
    pub subject: String,
    pub user_id: UserId,
    pub created_at: UnixTime,
}

/// What [`UpstreamStore::create_person_with_identity`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JitInsert {
    Created,
    /// The username is taken: nothing was written.
    UsernameTaken,
    /// The identity was linked meanwhile (a racing first sign-in): nothing was written;
    /// the person it is linked to.
    AlreadyLinked(UserId),
}

/// Storage of upstream providers and linked identities.
pub trait UpstreamStore: Send + Sync {
    /// `false`: the id is taken (nothing written).
    fn insert_upstream(&self, upstream: &Upstream) -> Result<bool, StoreError>;
    fn get_upstream(&self, id: &UpstreamId) -> Result<Option<Upstream>, StoreError>;
    /// Every upstream, by id.
    fn list_upstreams(&self) -> Result<Vec<Upstream>, StoreError>;
    /// Replaces every field but `id` and `created_at`; `false`: no such upstream.
    fn update_upstream(&self, upstream: &Upstream) -> Result<bool, StoreError>;
    /// Deletes the upstream and every identity linked through it; `false`: none.
    fn delete_upstream(&self, id: &UpstreamId) -> Result<bool, StoreError>;

    fn find_identity(
        &self,
        upstream: &UpstreamId,
        subject: &str,
    ) -> Result<Option<UpstreamIdentity>, StoreError>;
    /// `false`: the pair is already linked (to anyone): nothing written.
    fn link_identity(&self, identity: &UpstreamIdentity) -> Result<bool, StoreError>;
    /// A person's linked identities, oldest first.
    fn list_identities(&self, user: &UserId) -> Result<Vec<UpstreamIdentity>, StoreError>;
    /// `false`: the person holds no such identity.
    fn unlink_identity(
        &self,
        user: &UserId,
        upstream: &UpstreamId,
        subject: &str,
    ) -> Result<bool, StoreError>;
    /// Creates `user` and links `identity` to them in one transaction: both or neither.
    fn create_person_with_identity(
        &self,
        user: &User,
        identity: &UpstreamIdentity,
    ) -> Result<JitInsert, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_lowercase_words() {
        assert!(UpstreamId::parse("google").is_ok());
        assert!(UpstreamId::parse("entra-1").is_ok());
        for bad in ["", "-x", "Google", "a/b", "a b", &"a".repeat(41), "é"] {
            assert!(UpstreamId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            UpstreamId::from_name("Google Workspace").unwrap().as_str(),
            "google-workspace"
        );
        assert_eq!(
            UpstreamId::from_name("  ACME (corp) ").unwrap().as_str(),
            "acme-corp"
        );
        assert!(UpstreamId::from_name("日本").is_none());
    }

    #[test]
    fn a_claim_mapping_overrides_defaults_and_reads_back() {
        let m = ClaimMapping::parse("sub=id, username=login").unwrap();
        assert_eq!(m.subject, "id");
        assert_eq!(m.username, "login");
        assert_eq!(m.email, "email");
        assert_eq!(ClaimMapping::parse(&m.to_text()).unwrap(), m);
        let never = ClaimMapping::parse("email_verified=").unwrap();
        assert_eq!(never.email_verified, None);
        assert_eq!(ClaimMapping::parse(&never.to_text()).unwrap(), never);
        for bad in ["sub", "colour=red", "sub=", "sub=a b", "name=x;y"] {
            assert!(ClaimMapping::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_upstream_name("  Google ").unwrap(), "Google");
        assert!(check_upstream_name("").is_err());
        assert!(check_upstream_name("a\nb").is_err());
        assert!(check_upstream_name(&"x".repeat(61)).is_err());
    }
}
