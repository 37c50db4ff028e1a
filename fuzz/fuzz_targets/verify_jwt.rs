//! Fuzzes JWT verification as userinfo and introspection run it on presented tokens:
//! nothing the fuzzer builds may verify (it has no private key), and nothing may panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use usher_domain::{KeyState, UnixTime};
use usher_keys::{Kek, KeyRing, generate_signing_key};

fn ring() -> Option<&'static KeyRing> {
    static RING: OnceLock<Option<KeyRing>> = OnceLock::new();
    RING.get_or_init(|| {
        let kek = Kek::generate().ok()?;
        let key = generate_signing_key(&kek, 2048, KeyState::Active, UnixTime(1_700_000_000)).ok()?;
        KeyRing::from_records(&[key], &kek).ok()
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let (Ok(token), Some(ring)) = (std::str::from_utf8(data), ring()) else {
        return;
    };
    assert!(ring.verify_jwt(token).is_err(), "a forged token verified");
});
