//! Sealing state that Usher hands to a browser and reads back from a form: the pending
//! authorization request of a login or consent page travels in a hidden field, so that
//! showing the page writes nothing to the database. AES-256-GCM (the KEK's own format)
//! under a sub-key derived from the KEK for this purpose alone, with associated data that
//! names what was sealed: a sealed value cannot be altered, read, or passed off as
//! another kind of value, and every node with the same KEK can open it.

use std::fmt;

use crate::error::KeyError;
use crate::kek::Kek;

const SUBKEY_LABEL: &[u8] = b"usher form seal v1";

/// Seals and opens values under the form sub-key. `Debug` never shows the key.
#[derive(Clone)]
pub struct FormSealer {
    key: Kek,
}

impl fmt::Debug for FormSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FormSealer(<redacted>)")
    }
}

impl FormSealer {
    /// Derives the sealing key as HMAC-SHA-256(KEK, "usher form seal v1").
    pub fn from_kek(kek: &Kek) -> FormSealer {
        FormSealer {
            key: kek.derive(SUBKEY_LABEL),
        }
    }

    /// `plaintext` sealed and bound to `purpose` (which [`FormSealer::open`] must be given
    /// again): `v1.` and base64url, safe in an HTML attribute and a form field.
    pub fn seal(&self, plaintext: &[u8], purpose: &[u8]) -> Result<String, KeyError> {
        self.key.encrypt(plaintext, purpose)
    }

    /// Opens a value sealed by [`FormSealer::seal`] for the same `purpose`. Anything
    /// altered, sealed under another KEK or for another purpose is [`KeyError::Unseal`].
    pub fn open(&self, sealed: &str, purpose: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.key.decrypt(sealed, purpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::test_kek;

    #[test]
    fn a_sealed_value_opens_only_unchanged_for_its_purpose_under_its_kek() {
        let sealer = FormSealer::from_kek(test_kek());
        let sealed = sealer.seal(b"pending request", b"login").unwrap();
        assert_eq!(sealer.open(&sealed, b"login").unwrap(), b"pending request");
        assert!(matches!(
            sealer.open(&sealed, b"consent"),
            Err(KeyError::Unseal)
        ));
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 5;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(matches!(
            sealer.open(&flipped, b"login"),
            Err(KeyError::Unseal)
        ));
        let other = FormSealer::from_kek(&Kek::generate().unwrap());
        assert!(matches!(
            other.open(&sealed, b"login"),
            Err(KeyError::Unseal)
        ));
        // The sub-key is not the KEK: the KEK cannot open it.
        assert!(matches!(
            test_kek().decrypt(&sealed, b"login"),
            Err(KeyError::Unseal)
        ));
        assert_eq!(format!("{sealer:?}"), "FormSealer(<redacted>)");
    }
}
