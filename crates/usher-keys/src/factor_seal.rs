//! Sealing second-factor secrets at rest: a person's TOTP secret is stored sealed with
//! AES-256-GCM (the KEK's format) under a sub-key derived from the KEK for this purpose
//! alone (`HMAC-SHA-256(KEK, "usher factor secret seal v1")`), with the person's id in the
//! associated data, so a sealed secret opens only as that person's TOTP secret. While a
//! KEK change rolls through, the sub-key of the previous KEK opens too; a KEK rotation
//! must re-seal these rows (`FactorStore::reseal_totp`; docs/design/mfa.md).
//!
//! The same sub-key seals the state of a WebAuthn ceremony in flight (its challenge),
//! with the ceremony's id and kind in the associated data, so a state opens only for the
//! ceremony it was stored for. Those rows live five minutes: a KEK change does not
//! re-seal them (one started under the previous KEK still opens while it is kept).

use std::fmt;

use usher_domain::UserId;

use crate::error::KeyError;
use crate::kek::Kek;
use crate::totp::TotpSecret;

const SUBKEY_LABEL: &[u8] = b"usher factor secret seal v1";
const TOTP_AAD_PREFIX: &str = "usher totp secret v1:";
const CEREMONY_AAD_PREFIX: &str = "usher webauthn ceremony v1:";
const UPSTREAM_AAD_PREFIX: &str = "usher upstream client secret v1:";

/// Seals and opens second-factor secrets. `Debug` never shows the key.
#[derive(Clone)]
pub struct FactorSealer {
    key: Kek,
}

impl fmt::Debug for FactorSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FactorSealer(<redacted>)")
    }
}

impl FactorSealer {
    /// The sub-key of `kek` (and of its previous KEK, for opening only).
    pub fn from_kek(kek: &Kek) -> FactorSealer {
        FactorSealer {
            key: kek.derive_with_previous(SUBKEY_LABEL),
        }
    }

    /// `user`'s TOTP secret, sealed for the database (`v1.` and base64url).
    pub fn seal_totp(&self, user: &UserId, secret: &TotpSecret) -> Result<String, KeyError> {
        self.key.encrypt(secret.as_bytes(), &totp_aad(user))
    }

    /// Opens what [`FactorSealer::seal_totp`] sealed for the same `user`; anything else
    /// (another person's row, another KEK, an altered value) is [`KeyError::Unseal`].
    pub fn open_totp(&self, user: &UserId, sealed: &str) -> Result<TotpSecret, KeyError> {
        let bytes = self.key.decrypt(sealed, &totp_aad(user))?;
        TotpSecret::from_bytes(bytes).ok_or(KeyError::Unseal)
    }
}

impl FactorSealer {
    /// The serialised state of the WebAuthn ceremony `ceremony_id` of kind `kind`
    /// (`register` or `authenticate`), sealed for the database.
    pub fn seal_ceremony(
        &self,
        ceremony_id: &str,
        kind: &str,
        state: &[u8],
    ) -> Result<String, KeyError> {
        self.key.encrypt(state, &ceremony_aad(ceremony_id, kind))
    }

    /// Opens what [`FactorSealer::seal_ceremony`] sealed for the same id and kind;
    /// anything else is [`KeyError::Unseal`].
    pub fn open_ceremony(
        &self,
        ceremony_id: &str,
        kind: &str,
        sealed: &str,
    ) -> Result<Vec<u8>, KeyError> {
        self.key.decrypt(sealed, &ceremony_aad(ceremony_id, kind))
    }
}

impl FactorSealer {
    /// An upstream provider's client secret, sealed for the database with the
    /// upstream's id in the associated data (docs/design/upstream.md).
    pub fn seal_upstream_secret(&self, upstream: &str, secret: &str) -> Result<String, KeyError> {
        self.key.encrypt(secret.as_bytes(), &upstream_aad(upstream))
    }

    /// Opens what [`FactorSealer::seal_upstream_secret`] sealed for the same upstream;
    /// anything else is [`KeyError::Unseal`].
    pub fn open_upstream_secret(&self, upstream: &str, sealed: &str) -> Result<String, KeyError> {
        let bytes = self.key.decrypt(sealed, &upstream_aad(upstream))?;
        String::from_utf8(bytes).map_err(|_| KeyError::Unseal)
    }
}

fn upstream_aad(upstream: &str) -> Vec<u8> {
    format!("{UPSTREAM_AAD_PREFIX}{upstream}").into_bytes()
}

fn ceremony_aad(ceremony_id: &str, kind: &str) -> Vec<u8> {
    // The kind has no ':' and comes first, so the split is unambiguous.
    format!("{CEREMONY_AAD_PREFIX}{kind}:{ceremony_id}").into_bytes()
}

fn totp_aad(user: &UserId) -> Vec<u8> {
    format!("{TOTP_AAD_PREFIX}{user}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::test_kek;

    #[test]
    fn a_sealed_totp_secret_opens_only_for_its_person_under_its_kek() {
        let sealer = FactorSealer::from_kek(test_kek());
        let alice = UserId::parse("u-alice").unwrap();
        let bob = UserId::parse("u-bob").unwrap();
        let secret = TotpSecret::generate().unwrap();
        let sealed = sealer.seal_totp(&alice, &secret).unwrap();
        assert!(!sealed.contains(&secret.to_base32()));
        assert_eq!(sealer.open_totp(&alice, &sealed).unwrap(), secret);
        assert!(matches!(
            sealer.open_totp(&bob, &sealed),
            Err(KeyError::Unseal)
        ));
        let other = FactorSealer::from_kek(&Kek::generate().unwrap());
        assert!(matches!(
            other.open_totp(&alice, &sealed),
            Err(KeyError::Unseal)
        ));
        // Neither the KEK itself nor another sub-key opens it.
        assert!(test_kek().decrypt(&sealed, &totp_aad(&alice)).is_err());
        let form = crate::FormSealer::from_kek(test_kek());
        assert!(form.open(&sealed, &totp_aad(&alice)).is_err());
        assert_eq!(format!("{sealer:?}"), "FactorSealer(<redacted>)");
    }

    #[test]
    fn a_sealed_ceremony_state_opens_only_for_its_id_and_kind() {
        let sealer = FactorSealer::from_kek(test_kek());
        let state = br#"{"challenge":"abc"}"#;
        let sealed = sealer.seal_ceremony("id-1", "register", state).unwrap();
        assert!(!sealed.contains("challenge"));
        assert_eq!(
            sealer.open_ceremony("id-1", "register", &sealed).unwrap(),
            state
        );
        for (id, kind) in [("id-2", "register"), ("id-1", "authenticate")] {
            assert!(matches!(
                sealer.open_ceremony(id, kind, &sealed),
                Err(KeyError::Unseal)
            ));
        }
        // Not a TOTP secret of anyone's either.
        let user = UserId::parse("id-1").unwrap();
        assert!(sealer.open_totp(&user, &sealed).is_err());
    }

    #[test]
    fn during_a_kek_change_secrets_sealed_under_the_previous_kek_still_open() {
        let old = Kek::generate().unwrap();
        let new = Kek::generate().unwrap();
        let alice = UserId::parse("u-alice").unwrap();
        let secret = TotpSecret::generate().unwrap();
        let sealed_old = FactorSealer::from_kek(&old)
            .seal_totp(&alice, &secret)
            .unwrap();
        let rolling = FactorSealer::from_kek(&new.clone().with_previous(&old));
        assert_eq!(rolling.open_totp(&alice, &sealed_old).unwrap(), secret);
        // It seals under the new KEK's sub-key only.
        let sealed_new = rolling.seal_totp(&alice, &secret).unwrap();
        assert_eq!(
            FactorSealer::from_kek(&new)
                .open_totp(&alice, &sealed_new)
                .unwrap(),
            secret
        );
        assert!(
            FactorSealer::from_kek(&old)
                .open_totp(&alice, &sealed_new)
                .is_err()
        );
        assert!(
            FactorSealer::from_kek(&new)
                .open_totp(&alice, &sealed_old)
                .is_err()
        );
    }
}
