//! The vocabulary of passkeys (WebAuthn credentials; issue 14, docs/design/mfa.md): what
//! is stored of a person's passkey, the name they give it, and the record of a WebAuthn
//! ceremony (a registration or an authentication) between its start and its finish.
//!
//! The WebAuthn library's own types stay out of this crate: a passkey's credential (its
//! public key, signature counter and backup flags, as the library serialises it) is held
//! here as an opaque JSON string, and a ceremony's state arrives already sealed. The
//! rules of single use — a ceremony is finished once, a credential is updated only from
//! the value it was read as — are stated on the [`crate::ports::PasskeyStore`] port, whose
//! implementations make each of them one statement.

use std::fmt;

use crate::time::UnixTime;
use crate::user::UserId;

/// How long a ceremony may take between its start and its finish, in seconds (the
/// challenge's lifetime).
pub const CEREMONY_TTL_SECONDS: i64 = 5 * 60;

/// The name a person gives a passkey: trimmed, 1–64 characters, no control characters.
/// Empty (or blank) text is the default name, [`PasskeyName::DEFAULT`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

/// Why text is not a passkey name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyNameError {
    #[error("a passkey's name is at most 64 characters")]
    TooLong,
    #[error("a passkey's name cannot contain control characters")]
    ControlCharacter,
}

impl PasskeyName {
    /// The name of a passkey whose person gave none.
    pub const DEFAULT: &'static str = "Passkey";
    /// The longest name, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Parses typed text: surrounding whitespace is dropped; nothing left is the default
    /// name.
    pub fn parse(typed: &str) -> Result<PasskeyName, PasskeyNameError> {
        let trimmed = typed.trim();
        if trimmed.is_empty() {
            return Ok(PasskeyName::default());
        }
        if trimmed.chars().count() > PasskeyName::MAX_CHARS {
            return Err(PasskeyNameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(PasskeyNameError::ControlCharacter);
        }
        Ok(PasskeyName(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for PasskeyName {
    fn default() -> PasskeyName {
        PasskeyName(PasskeyName::DEFAULT.to_owned())
    }
}

impl fmt::Display for PasskeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's passkey, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Passkey {
    /// Usher's own id of the passkey (random, for the account page's links).
    pub id: String,
    pub user_id: UserId,
    /// The WebAuthn credential id, base64url without padding. Unique across people.
    pub credential_id: String,
    pub name: PasskeyName,
    /// The credential as the WebAuthn library serialises it (public key, signature
    /// counter, backup flags): opaque here, compared whole by the compare-and-set that
    /// updates it. Public, but never logged.
    pub credential: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    /// Set when an assertion's signature counter went backwards (a possibly cloned
    /// authenticator): a suspect passkey is refused until the person removes it.
    pub suspect: bool,
}

impl fmt::Debug for Passkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passkey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("credential", &"<omitted>")
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("suspect", &self.suspect)
            .finish_non_exhaustive()
    }
}

/// Which WebAuthn ceremony a stored state belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CeremonyKind {
    /// Adding a passkey (`navigator.credentials.create`).
    Register,
    /// Signing in with a passkey (`navigator.credentials.get`).
    Authenticate,
    /// A sign-in at an upstream provider in flight: the id is the hash of the `state`
    /// sent there; the sealed state holds the nonce, the PKCE verifier and the pending
    /// interaction (docs/design/upstream.md).
    Upstream,
    /// An upstream identity waiting to be linked once the person proves the Usher
    /// account it matched (their password or passkey); keyed by the interaction.
    UpstreamLink,
}

impl CeremonyKind {
    /// The stored value (`webauthn_ceremonies.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::Authenticate => "authenticate",
            CeremonyKind::Upstream => "upstream",
            CeremonyKind::UpstreamLink => "upstream_link",
        }
    }

    pub fn parse(raw: &str) -> Option<CeremonyKind> {
        match raw {
            "register" => Some(CeremonyKind::Register),
            "authenticate" => Some(CeremonyKind::Authenticate),
            "upstream" => Some(CeremonyKind::Upstream),
            "upstream_link" => Some(CeremonyKind::UpstreamLink),
            _ => None,
        }
    }
}

impl fmt::Display for CeremonyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WebAuthn ceremony between its start and its finish: stored so that any node can
/// finish what another started, and taken (deleted) by the one finish that answers it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebauthnCeremony {
    /// The hash of the ceremony id (the id itself travels in the page and is never
    /// stored).
    pub id_hash: String,
    pub kind: CeremonyKind,
    /// The person adding a passkey; `None` for a sign-in, where the passkey names them.
    pub user_id: Option<UserId>,
    /// The library's ceremony state (the challenge), sealed with associated data naming
    /// the ceremony id and kind. Never logged.
    pub state: String,
    /// The hash of the browser-binding cookie of the browser that started it.
    pub browser_hash: String,
    pub expires_at: UnixTime,
}

impl fmt::Debug for WebauthnCeremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebauthnCeremony")
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("state", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passkey_name_is_trimmed_bounded_and_defaults_to_passkey() {
        assert_eq!(
            PasskeyName::parse("  Work laptop ").unwrap().as_str(),
            "Work laptop"
        );
        assert_eq!(PasskeyName::parse("").unwrap().as_str(), "Passkey");
        assert_eq!(PasskeyName::parse(" \t ").unwrap(), PasskeyName::default());
        let longest = "é".repeat(64);
        assert_eq!(PasskeyName::parse(&longest).unwrap().as_str(), longest);
        assert_eq!(
            PasskeyName::parse(&"é".repeat(65)),
            Err(PasskeyNameError::TooLong)
        );
        assert_eq!(
            PasskeyName::parse("a\u{0}b"),
            Err(PasskeyNameError::ControlCharacter)
        );
        assert_eq!(
            PasskeyName::parse("line\nbreak"),
            Err(PasskeyNameError::ControlCharacter)
        );
    }

    #[test]
    fn ceremony_kinds_round_trip_their_stored_values() {
        for kind in [CeremonyKind::Register, CeremonyKind::Authenticate] {
            assert_eq!(CeremonyKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CeremonyKind::parse("Register"), None);
    }

    #[test]
    fn debug_output_hides_credentials_and_sealed_state() {
        let passkey = Passkey {
            id: "pk-1".into(),
            user_id: UserId::parse("u-1").unwrap(),
            credential_id: "Y3JlZC1pZA".into(),
            name: PasskeyName::default(),
            credential: r#"{"cred":{"secret-looking":1}}"#.into(),
            created_at: UnixTime(1),
            last_used_at: None,
            suspect: false,
        };
        assert!(!format!("{passkey:?}").contains("secret-looking"));
        let ceremony = WebauthnCeremony {
            id_hash: "hash".into(),
            kind: CeremonyKind::Register,
            user_id: None,
            state: "v1.sealed-state".into(),
            browser_hash: "browser".into(),
            expires_at: UnixTime(2),
        };
        assert!(!format!("{ceremony:?}").contains("sealed-state"));
    }
}
