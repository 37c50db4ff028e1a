//! PKCE values (RFC 7636) as parsed types. The S256 comparison itself is a hash, done
//! outside the domain; here is only what the strings must look like.

use std::fmt;

/// A `code_challenge` sent with `code_challenge_method=S256`: the base64url (no padding)
/// SHA-256 of a verifier, so exactly 43 characters of `[A-Za-z0-9_-]`. Serialised as
/// that string (stored pending requests), parsed again when read.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub fn parse_s256(raw: &str) -> Option<CodeChallenge> {
        let ok = raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| CodeChallenge(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeChallenge({})", self.0)
    }
}

impl std::str::FromStr for CodeChallenge {
    type Err = &'static str;

    fn from_str(raw: &str) -> Result<CodeChallenge, Self::Err> {
        CodeChallenge::parse_s256(raw).ok_or("not an S256 code_challenge")
    }
}

impl fmt::Display for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CodeChallenge {
    type Error = &'static str;

    fn try_from(raw: String) -> Result<CodeChallenge, Self::Error> {
        raw.parse()
    }
}

impl From<CodeChallenge> for String {
    fn from(c: CodeChallenge) -> String {
        c.0
    }
}

/// A `code_verifier` (RFC 7636 §4.1): 43–128 characters of `[A-Za-z0-9-._~]`.
/// A verifier is a secret until redeemed: its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    pub fn parse(raw: &str) -> Option<CodeVerifier> {
        let ok = (43..=128).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        ok.then(|| CodeVerifier(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_is_43_to_128_unreserved_characters() {
        assert!(CodeVerifier::parse(&"a".repeat(42)).is_none());
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_some());
        assert!(CodeVerifier::parse(&"a".repeat(128)).is_some());
        assert!(CodeVerifier::parse(&"a".repeat(129)).is_none());
        assert!(CodeVerifier::parse(&format!("{}+", "a".repeat(43))).is_none());
        assert!(CodeVerifier::parse(&format!("{}-._~", "A9".repeat(20))).is_some());
    }

    #[test]
    fn an_s256_challenge_is_43_base64url_characters() {
        assert!(CodeChallenge::parse_s256("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").is_some());
        assert!(CodeChallenge::parse_s256("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c").is_none());
        assert!(CodeChallenge::parse_s256("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM").is_none());
    }
}
