//! The one error type of this crate. Its messages say what went wrong and, where there is
//! one, what to do about it; they never contain key material, secrets, passwords or the
//! tokens that were presented.

/// Why a key, token or secret operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key-encryption key could not be read or is not 32 bytes of standard base64.
    #[error("invalid key-encryption key: {0}")]
    BadKek(String),
    /// The active signing key's private part did not decrypt under this KEK.
    #[error(
        "the private part of the active signing key {kid} does not decrypt: either the \
         key-encryption key is wrong (check USHER_KEK, or the keys/kek file, on this node: \
         every node of a cluster needs the same KEK) or the stored key is corrupt"
    )]
    Decrypt { kid: String },
    /// A sealed value did not decrypt: wrong KEK, wrong context, or it was altered.
    #[error(
        "a sealed value does not decrypt: the key-encryption key or its context is wrong, \
         or the value was altered"
    )]
    Unseal,
    /// No stored signing key is in the `active` state.
    #[error(
        "no signing key is active: create or activate one (for example `usher keys rotate --now`)"
    )]
    NoActiveKey,
    /// No stored signing key of this algorithm is in the `active` state.
    #[error("no {0} signing key is active: Usher creates one when it starts")]
    NoActiveKeyFor(usher_domain::SigningAlg),
    /// A stored signing-key record is inconsistent (its public key, kid or algorithm).
    #[error("signing key {kid} is unusable: {reason}")]
    BadKeyRecord { kid: String, reason: String },
    /// An RSA modulus size other than 2048, 3072 or 4096 bits was asked for.
    #[error("RSA keys of {0} bits are not supported: use 2048, 3072 or 4096")]
    UnsupportedKeySize(u32),
    /// OpenSSL or another primitive failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
    /// Reading or writing a key file failed.
    #[error("{0}")]
    Io(String),
    /// A presented token is malformed, uses another algorithm or key, or does not verify.
    #[error("token rejected: {0}")]
    BadToken(String),
    /// A password could not be hashed.
    #[error("password hashing failed: {0}")]
    Password(String),
}

impl KeyError {
    /// Wraps an OpenSSL failure, saying which step failed. OpenSSL's error stack names
    /// library functions and reasons only, never key material.
    pub(crate) fn openssl(step: &str, err: &openssl::error::ErrorStack) -> KeyError {
        KeyError::Crypto(format!("{step}: {err}"))
    }

    pub(crate) fn token(reason: &str) -> KeyError {
        KeyError::BadToken(reason.to_owned())
    }
}
