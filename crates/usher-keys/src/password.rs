//! People's passwords: argon2id with the OWASP parameters (19 MiB of memory, two passes,
//! one lane) and a fresh random salt, stored as a PHC string. Hashing and verifying take
//! tens of milliseconds of CPU, so callers must run them off the async executor's threads
//! (`spawn_blocking` or `web::block`).
//!
//! Memory: argon2id needs a 19 MiB work area. Allocating it per check left glibc's
//! per-thread arenas holding hundreds of megabytes under login load (docs/benchmarks.md),
//! so each thread keeps one work area and reuses it. Call these from a small, fixed set
//! of threads (the server's password pool): each thread that ever checks a password keeps
//! its 19 MiB until it exits.

use std::cell::RefCell;
use std::sync::OnceLock;

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
/// hash that cannot be parsed. The parameters are taken from the stored hash; only
/// argon2id hashes are accepted. The output is compared in constant time.
///
/// CPU- and memory-heavy: call it off the async executor (`spawn_blocking`/`web::block`).
pub fn verify_password(password: &Password, phc: &str) -> bool {
    verify(password.expose().as_bytes(), phc).unwrap_or(false)
}

/// The largest work area a stored hash may ask for: four times Usher's own cost. A hash
/// asking for more is refused rather than allowed to allocate without bound.
const MAX_M_COST_KIB: u32 = 4 * M_COST_KIB;

thread_local! {
    /// This thread's argon2 work area, grown on first use and then reused.
    static WORK_AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn verify(password: &[u8], phc: &str) -> Option<bool> {
    let parsed = PasswordHash::new(phc).ok()?;
    if Algorithm::try_from(parsed.algorithm.as_str()).ok()? != Algorithm::Argon2id {
        return Some(false);
    }
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).ok()?;
    if params.m_cost() > MAX_M_COST_KIB {
        return Some(false);
    }
    let (salt, expected) = (parsed.salt.as_ref()?, parsed.hash.as_ref()?);
    let mut computed = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    WORK_AREA.with(|area| {
        let mut area = area.try_borrow_mut().ok()?;
        if area.len() < blocks {
            area.resize(blocks, Block::new());
        }
        argon2
            .hash_password_into_with_memory(password, salt, &mut computed, &mut area[..blocks])
            .ok()
    })?;
    // `memcmp::eq` requires equal lengths; both are the stored output's length.
    Some(openssl::memcmp::eq(&computed, expected.as_bytes()))
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

    /// A PHC string made by the argon2 crate's own hasher with the given parameters.
    fn reference_hash(password: &str, algorithm: Algorithm, m_cost: u32) -> String {
        let params = Params::new(m_cost, 1, 1, None).unwrap();
        Argon2::new(algorithm, Version::V0x13, params)
            .hash_password_with_salt(password.as_bytes(), b"saltsaltsaltsalt")
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_reused_work_area_gives_the_same_answers_as_a_fresh_one() {
        // Big, then small, then big again, on one thread: the work area is reused and
        // sliced; every answer must match the argon2 crate's own (fresh-memory) hashes.
        let big = hash_password(&pw("correct horse")).unwrap();
        let small = reference_hash("battery staple", Algorithm::Argon2id, 64);
        for _ in 0..2 {
            assert!(verify_password(&pw("correct horse"), &big));
            assert!(!verify_password(&pw("correct horsE"), &big));
            assert!(verify_password(&pw("battery staple"), &small));
            assert!(!verify_password(&pw("battery stapl"), &small));
        }
    }

    #[test]
    fn only_argon2id_hashes_of_bounded_cost_are_accepted() {
        let argon2i = reference_hash("hunter2", Algorithm::Argon2i, 64);
        assert!(!verify_password(&pw("hunter2"), &argon2i));
        // A stored hash asking for more memory than the bound is refused even with the
        // right password (a tampered row cannot make a login allocate without limit).
        let greedy = reference_hash("hunter2", Algorithm::Argon2id, MAX_M_COST_KIB + 8);
        assert!(!verify_password(&pw("hunter2"), &greedy));
    }

    #[test]
    fn the_dummy_verification_always_fails() {
        assert!(!verify_password_dummy(&pw(
            "usher dummy password, never valid"
        )));
        assert!(!verify_password_dummy(&pw("anything")));
    }
}
