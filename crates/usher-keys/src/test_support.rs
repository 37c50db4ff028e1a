//! Shared fixtures for this crate's tests: one KEK and two 2048-bit signing keys,
//! generated once per test binary so that the tests stay fast.

use std::sync::OnceLock;

use usher_domain::{KeyState, SigningKeyRecord, UnixTime};

use crate::kek::Kek;
use crate::signing_key::generate_signing_key;

pub(crate) fn test_kek() -> &'static Kek {
    static KEK: OnceLock<Kek> = OnceLock::new();
    KEK.get_or_init(|| Kek::generate().unwrap())
}

/// An active 2048-bit key sealed under [`test_kek`], created at 1 700 000 000.
pub(crate) fn test_key() -> &'static SigningKeyRecord {
    static KEY: OnceLock<SigningKeyRecord> = OnceLock::new();
    KEY.get_or_init(|| {
        generate_signing_key(test_kek(), 2048, KeyState::Active, UnixTime(1_700_000_000)).unwrap()
    })
}

/// A second active 2048-bit key sealed under [`test_kek`], created a little later.
pub(crate) fn test_key_2() -> &'static SigningKeyRecord {
    static KEY: OnceLock<SigningKeyRecord> = OnceLock::new();
    KEY.get_or_init(|| {
        generate_signing_key(test_kek(), 2048, KeyState::Active, UnixTime(1_700_000_100)).unwrap()
    })
}

/// An active P-256 (ES256) key sealed under [`test_kek`].
pub(crate) fn test_es256_key() -> &'static SigningKeyRecord {
    static KEY: OnceLock<SigningKeyRecord> = OnceLock::new();
    KEY.get_or_init(|| {
        crate::signing_key::generate_key(
            test_kek(),
            usher_domain::SigningAlg::Es256,
            0,
            KeyState::Active,
            UnixTime(1_700_000_200),
        )
        .unwrap()
    })
}

/// An active Ed25519 (EdDSA) key sealed under [`test_kek`].
pub(crate) fn test_eddsa_key() -> &'static SigningKeyRecord {
    static KEY: OnceLock<SigningKeyRecord> = OnceLock::new();
    KEY.get_or_init(|| {
        crate::signing_key::generate_key(
            test_kek(),
            usher_domain::SigningAlg::EdDsa,
            0,
            KeyState::Active,
            UnixTime(1_700_000_300),
        )
        .unwrap()
    })
}
