//! Small helpers for the two base64 alphabets this crate writes: URL-safe without padding
//! (JOSE, tokens, sealed values) and standard with padding (the KEK, as `openssl rand
//! -base64 32` prints it). Decoding is strict: padding where none is expected and
//! non-canonical trailing bits are refused.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Encodes bytes as base64url without padding.
pub(crate) fn url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` for anything else.
pub(crate) fn url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Encodes bytes as standard base64 with padding.
pub(crate) fn std_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64 with padding; `None` for anything else.
pub(crate) fn std_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}
