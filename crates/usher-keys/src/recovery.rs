//! Recovery codes: ten random codes shown once, each twelve symbols of Crockford's
//! base32 (60 bits; `usher_domain::mfa::RECOVERY_ALPHABET`), written `xxxx-xxxx-xxxx`.
//! They are stored only as keyed hashes ([`SecretHasher::hash_recovery_code`]): the
//! codes are random, so a fast keyed hash is enough, and a copy of the database without
//! the KEK cannot be tested against guesses. Typed input is parsed and normalised by
//! `usher_domain::RecoveryCode::parse` before it is hashed.

use usher_domain::mfa::{RECOVERY_ALPHABET, RECOVERY_CODE_COUNT, RECOVERY_CODE_LEN};
use usher_domain::{RecoveryCode, UserId};

use crate::error::KeyError;
use crate::secret::SecretHasher;

/// [`RECOVERY_CODE_COUNT`] distinct fresh codes from OpenSSL's CSPRNG. Each symbol is 5
/// bits of one random 64-bit word, so there is no modulo bias.
pub fn generate_recovery_codes() -> Result<Vec<RecoveryCode>, KeyError> {
    let mut codes: Vec<RecoveryCode> = Vec::with_capacity(RECOVERY_CODE_COUNT);
    while codes.len() < RECOVERY_CODE_COUNT {
        let mut bytes = [0u8; 8];
        openssl::rand::rand_bytes(&mut bytes)
            .map_err(|e| KeyError::openssl("generating a recovery code", &e))?;
        let word = u64::from_be_bytes(bytes);
        let symbols: String = (0..RECOVERY_CODE_LEN)
            .map(|i| char::from(RECOVERY_ALPHABET[((word >> (5 * i)) & 31) as usize]))
            .collect();
        let code = RecoveryCode::parse(&symbols)
            .map_err(|_| KeyError::Crypto("a generated recovery code does not parse".into()))?;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

impl SecretHasher {
    /// The stored form of one of `user`'s recovery codes: the keyed hash of
    /// `recovery-code:<user id>:<the twelve symbols>`, so equal codes of two people
    /// hash apart and no recovery hash is a client secret's.
    pub fn hash_recovery_code(&self, user: &UserId, code: &RecoveryCode) -> String {
        self.hash(&format!("recovery-code:{user}:{}", code.compact()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::test_kek;

    #[test]
    fn ten_distinct_readable_codes_are_generated() {
        let codes = generate_recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            let shown = code.to_string();
            assert_eq!(shown.len(), 14);
            assert_eq!(shown.matches('-').count(), 2);
            assert_eq!(RecoveryCode::parse(&shown).as_ref(), Ok(code));
            assert_eq!(
                RecoveryCode::parse(&shown.to_uppercase()).as_ref(),
                Ok(code)
            );
        }
        let mut unique: Vec<_> = codes.iter().map(|c| c.compact().to_owned()).collect();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_ne!(
            generate_recovery_codes().unwrap(),
            codes,
            "two generations differ"
        );
    }

    #[test]
    fn recovery_hashes_are_keyed_per_person_and_hide_the_code() {
        let hasher = SecretHasher::from_kek(test_kek());
        let alice = UserId::parse("u-alice").unwrap();
        let bob = UserId::parse("u-bob").unwrap();
        let code = RecoveryCode::parse("abcd-efgh-jk01").unwrap();
        let typed = RecoveryCode::parse("ABCD EFGH JKOI").unwrap();
        let stored = hasher.hash_recovery_code(&alice, &code);
        assert_eq!(hasher.hash_recovery_code(&alice, &typed), stored);
        assert_ne!(hasher.hash_recovery_code(&bob, &code), stored);
        assert!(!stored.contains("abcd"));
        let other = SecretHasher::from_kek(&crate::Kek::generate().unwrap());
        assert_ne!(other.hash_recovery_code(&alice, &code), stored);
    }
}
