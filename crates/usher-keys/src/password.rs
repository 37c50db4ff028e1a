//! People's passwords: argon2id with the OWASP parameters (19 MiB of memory, two passes,
//! one lane) and a fresh random salt, stored as a PHC string. Hashing and verifying take
//! tens of milliseconds of CPU, so callers must run them off the async executor's threads
//! (`spawn_blocking` or `web::block`).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use usher_domain::Password;

use crate::error::KeyError;

/// OWASP's argon2id recommendation: m = 19456 KiB, t = 2, p = 1.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn argon2() -> Result<Argon2<'static>, KeyError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|e| KeyError::Password(format!("bad argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with argon2id (OWASP parameters) and a random 16-byte salt from the
/// operating system's CSPRNG, returning the PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
///
/// CPU- and memory-heavy: call it off the async executor (`spawn_blocking`/`web::block`).
pub fn hash_password(password: &Password) -> Result<String, KeyError> {
    let hash = argon2()?
        .hash_password(password.expose().as_bytes())
        .map_err(|e| KeyError::Password(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc`; `false` for a wrong password or a
/// hash that cannot be parsed. The parameters are taken from the stored hash.
///
/// CPU- and memory-heavy: call it off the async executor (`spawn_blocking`/`web::block`).
pub fn verify_password(password: &Password, phc: &str) -> bool {
    match argon2() {
        Ok(argon2) => argon2
            .verify_password(password.expose().as_bytes(), phc)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of [`verify_password`] against a fixed dummy hash (computed once), so
/// that signing in as an unknown user takes as long as a wrong password. Always `false`.
///
/// CPU- and memory-heavy: call it off the async executor (`spawn_blocking`/`web::block`).
pub fn verify_password_dummy(password: &Password) -> bool {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let dummy = Password::parse("usher dummy password, never valid".to_owned()).ok()?;
        hash_password(&dummy).ok()
    });
    match dummy {
        Some(phc) => {
            let _ = verify_password(password, phc);
        }
        None => {
            // Hashing cannot fail with fixed parameters; if it somehow did, still spend
            // the same work so the timing does not tell.
            let _ = hash_password(password);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(s.to_owned()).unwrap()
    }

    #[test]
    fn a_password_hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let hash = hash_password(&pw("correct horse battery staple")).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(&pw("correct horse battery staple"), &hash));
        assert!(!verify_password(
            &pw("correct horse battery stapler"),
            &hash
        ));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let a = hash_password(&pw("hunter2")).unwrap();
        let b = hash_password(&pw("hunter2")).unwrap();
        assert_ne!(a, b);
        assert!(verify_password(&pw("hunter2"), &a) && verify_password(&pw("hunter2"), &b));
    }

    #[test]
    fn an_unparseable_hash_never_verifies() {
        for bad in [
            "",
            "hunter2",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$AAAA",
        ] {
            assert!(!verify_password(&pw("hunter2"), bad), "{bad:?}");
        }
    }

    #[test]
    fn the_dummy_verification_always_fails() {
        assert!(!verify_password_dummy(&pw(
            "usher dummy password, never valid"
        )));
        assert!(!verify_password_dummy(&pw("anything")));
    }
}
