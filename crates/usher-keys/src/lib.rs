//! Usher's cryptography in one place: the key-encryption key (KEK) that seals signing keys
//! at rest, the signing keys themselves (RS256, ES256 and EdDSA) and the key ring that signs and verifies JWTs
//! and publishes the JWK Set, the keyed hash for client secrets, the sealing of pending
//! sign-in state handed to browsers, argon2id for people's passwords, and the second
//! factors' secrets: TOTP (RFC 6238) codes and secrets sealed at rest, and recovery
//! codes stored as keyed hashes. Every private-key operation goes through OpenSSL; the
//! `rsa` crate is never used here (RUSTSEC-2023-0071). Nothing secret ever appears in a `Debug` output or an error
//! message of this crate.

mod b64;
mod error;
mod factor_seal;
mod form_seal;
mod hmac;
mod kek;
mod password;
mod recovery;
mod ring;
mod secret;
mod signing_key;
mod totp;

#[cfg(test)]
mod test_support;

pub use error::KeyError;
pub use factor_seal::FactorSealer;
pub use form_seal::FormSealer;
pub use kek::Kek;
pub use password::{hash_password, verify_password, verify_password_dummy};
pub use recovery::generate_recovery_codes;
pub use ring::KeyRing;
pub use secret::{SecretHasher, random_token, sha256_b64url};
pub use signing_key::{generate_key, generate_signing_key, rsa_thumbprint};
pub use totp::{TOTP_SECRET_BYTES, TotpSecret};
