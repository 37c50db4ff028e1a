//! Scopes (RFC 6749 §3.3): a scope token and a set of them.

use std::collections::BTreeSet;
use std::fmt;

/// One scope token: `1*( %x21 / %x23-5B / %x5D-7E )`, at most 128 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(String);

/// The scopes that have a meaning defined by OpenID Connect and that Usher honours.
pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";
/// `phone_number`, `phone_number_verified` (OIDC Core §5.4).
pub const PHONE: &str = "phone";
/// `address` (OIDC Core §5.4).
pub const ADDRESS: &str = "address";
pub const OFFLINE_ACCESS: &str = "offline_access";
/// The person's groups as a flat `groups` claim (not OpenID Connect's, but the name
/// Keycloak, Authelia and most apps read; docs/design/groups.md). Only a client
/// registered with it may ask for it; a dynamically registered client never may.
pub const GROUPS: &str = "groups";

/// The scopes Usher itself gives meaning to (OpenID Connect's, and `groups`), which
/// belong to no resource server, in the order discovery lists them.
pub const OIDC_SCOPES: [&str; 7] = [
    OPENID,
    PROFILE,
    EMAIL,
    PHONE,
    ADDRESS,
    OFFLINE_ACCESS,
    GROUPS,
];

const MAX_SCOPE_LEN: usize = 128;

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The refused token is kept for the CLI's message ([`ScopeError::offender`]) but is
    /// not part of `Display`, which may end up in an `error_description`.
    #[error(
        "a scope has a character RFC 6749 section 3.3 does not allow (space-separate scopes; no quotes or backslashes)"
    )]
    BadCharacter(String),
    #[error("a scope is longer than {MAX_SCOPE_LEN} characters")]
    TooLong,
}

impl ScopeError {
    /// The scope token that was refused, when there is one to show (to the person who
    /// typed it at the CLI, never to a client).
    pub fn offender(&self) -> Option<&str> {
        match self {
            ScopeError::BadCharacter(raw) => Some(raw),
            ScopeError::TooLong => None,
        }
    }
}

impl Scope {
    /// Parses one scope token.
    pub fn parse(raw: &str) -> Result<Scope, ScopeError> {
        if raw.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        let valid = !raw.is_empty()
            && raw
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if valid {
            Ok(Scope(raw.to_owned()))
        } else {
            Err(ScopeError::BadCharacter(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of scopes, kept sorted and without duplicates. Serialised as its space-delimited
/// wire form (a pending request's `scope` in sealed forms and stored interactions).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a space-delimited list (RFC 6749 §3.3). Repeated spaces are tolerated;
    /// any other whitespace is a bad character. An empty string is the empty set.
    pub fn parse(raw: &str) -> Result<ScopeSet, ScopeError> {
        raw.split(' ')
            .filter(|s| !s.is_empty())
            .map(Scope::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(ScopeSet)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes in both `self` and `other`.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// The scopes in `self`, `other` or both.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.union(&other.0).cloned().collect())
    }

    /// `self` without the scopes named in `names`.
    pub fn without(&self, names: &[&str]) -> ScopeSet {
        ScopeSet(
            self.0
                .iter()
                .filter(|s| !names.contains(&s.as_str()))
                .cloned()
                .collect(),
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }
}

impl fmt::Display for ScopeSet {
    /// The space-delimited wire form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
            first = false;
        }
        Ok(())
    }
}

impl std::str::FromStr for ScopeSet {
    type Err = ScopeError;

    fn from_str(raw: &str) -> Result<ScopeSet, ScopeError> {
        ScopeSet::parse(raw)
    }
}

impl TryFrom<String> for ScopeSet {
    type Error = ScopeError;

    fn try_from(raw: String) -> Result<ScopeSet, ScopeError> {
        ScopeSet::parse(&raw)
    }
}

impl From<ScopeSet> for String {
    fn from(scopes: ScopeSet) -> String {
        scopes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_intersection_keeps_only_common_scopes() {
        let a = ScopeSet::parse("openid profile offline_access").unwrap();
        let b = ScopeSet::parse("openid email offline_access").unwrap();
        assert_eq!(a.intersection(&b).to_string(), "offline_access openid");
        assert!(a.intersection(&ScopeSet::default()).is_empty());
    }

    #[test]
    fn the_union_keeps_every_scope_once() {
        let a = ScopeSet::parse("openid profile").unwrap();
        let b = ScopeSet::parse("openid email read:things").unwrap();
        assert_eq!(a.union(&b).to_string(), "email openid profile read:things");
        assert_eq!(a.union(&ScopeSet::default()), a);
        assert_eq!(ScopeSet::default().union(&b), b);
        assert_eq!(
            a.union(&b).without(&["openid", "email"]).to_string(),
            "profile read:things"
        );
    }

    #[test]
    fn parses_space_delimited_scopes_sorted_and_deduplicated() {
        let s = ScopeSet::parse("profile openid  profile read:things").unwrap();
        assert_eq!(s.to_string(), "openid profile read:things");
        assert!(s.contains("openid"));
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_characters_outside_the_scope_token_grammar() {
        for bad in ["a\"b", "a\\b", "é", "a\tb", "a\nb"] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Scope::parse(&"a".repeat(129)), Err(ScopeError::TooLong));
    }

    #[test]
    fn subset_is_by_scope() {
        let small = ScopeSet::parse("openid").unwrap();
        let big = ScopeSet::parse("openid email").unwrap();
        assert!(small.is_subset(&big));
        assert!(!big.is_subset(&small));
    }
}
