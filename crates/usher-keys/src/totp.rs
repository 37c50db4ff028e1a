//! Authenticator-app codes: TOTP (RFC 6238) with HMAC-SHA-1, 6 digits and 30-second
//! steps, which is what every authenticator app computes from an `otpauth://` URI. This
//! module owns the shared secret ([`TotpSecret`]: 160 random bits, RFC 4226 §4 R6), its
//! base32 form (RFC 4648 §6, no padding) and URI, HOTP (RFC 4226 §5) for one step, and
//! verification within ±1 step of clock drift (RFC 6238 §5.2) in constant time. Which
//! steps were already used is not its business: the caller records the matched step
//! (`FactorStore::accept_totp_step`) so a code is accepted once. Nothing here logs, and
//! `Debug` never shows a secret.

use std::fmt;

use usher_domain::mfa::{TOTP_DIGITS, TOTP_STEP_SECONDS};
use usher_domain::{TotpCode, UnixTime, totp_step};

use crate::error::KeyError;
use crate::hmac::hmac_sha1;

/// Bytes of a secret Usher generates (160 bits, RFC 4226 §4 R6's recommendation).
pub const TOTP_SECRET_BYTES: usize = 20;
/// The shortest secret accepted (128 bits, RFC 4226 §4 R6's requirement).
const MIN_SECRET_BYTES: usize = 16;
/// The longest secret accepted (anything longer is not from an authenticator app).
const MAX_SECRET_BYTES: usize = 64;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A TOTP shared secret. `Debug` prints `TotpSecret(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A fresh secret of [`TOTP_SECRET_BYTES`] from OpenSSL's CSPRNG.
    pub fn generate() -> Result<TotpSecret, KeyError> {
        let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
        openssl::rand::rand_bytes(&mut bytes)
            .map_err(|e| KeyError::openssl("generating a TOTP secret", &e))?;
        Ok(TotpSecret(bytes))
    }

    /// A secret from its bytes: 16 to 64 of them; `None` otherwise.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<TotpSecret> {
        (MIN_SECRET_BYTES..=MAX_SECRET_BYTES)
            .contains(&bytes.len())
            .then_some(TotpSecret(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in base32 (RFC 4648 §6) without padding, as apps take it typed in.
    pub fn to_base32(&self) -> String {
        base32_encode(&self.0)
    }

    /// A secret from base32 without padding (upper or lower case); `None` for anything
    /// else, including non-canonical trailing bits and a wrong length.
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        base32_decode(text).and_then(TotpSecret::from_bytes)
    }

    /// The `otpauth://totp/` URI an app reads from a QR code (the Key Uri Format of
    /// Google Authenticator, which the other apps follow): label `issuer:account`, and
    /// `secret`, `issuer`, `algorithm`, `digits`, `period`; issuer and account
    /// percent-encoded (everything but RFC 3986's unreserved characters).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
             &algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}",
            account = percent_encode(account),
            secret = self.to_base32(),
        )
    }

    /// The code for time step `step` ([`totp_step`]): HOTP with the step as counter,
    /// [`TOTP_DIGITS`] digits. `None` for a step before 1970.
    pub fn code_at_step(&self, step: i64) -> Option<String> {
        let counter = u64::try_from(step).ok()?;
        Some(hotp(&self.0, counter, TOTP_DIGITS as u32))
    }

    /// The step whose code `code` is, among the step of `now` and the ones either side
    /// (±30 s of drift); the current step wins, then the previous, then the next. All
    /// three are computed and compared in constant time whatever matches.
    pub fn verify(&self, code: &TotpCode, now: UnixTime) -> Option<i64> {
        let current = totp_step(now);
        let mut matched = None;
        for step in [current, current - 1, current + 1] {
            let Some(expected) = self.code_at_step(step) else {
                continue;
            };
            let equal = expected.len() == code.as_str().len()
                && openssl::memcmp::eq(expected.as_bytes(), code.as_str().as_bytes());
            if equal && matched.is_none() {
                matched = Some(step);
            }
        }
        matched
    }
}

/// HOTP (RFC 4226 §5.3): dynamic truncation of HMAC-SHA-1(key, counter), `digits`
/// decimal digits with leading zeros.
pub(crate) fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mac = hmac_sha1(key, &counter.to_be_bytes());
    let offset = usize::from(mac[19] & 0x0f);
    let binary = (u32::from(mac[offset]) & 0x7f) << 24
        | u32::from(mac[offset + 1]) << 16
        | u32::from(mac[offset + 2]) << 8
        | u32::from(mac[offset + 3]);
    let value = binary % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// RFC 4648 §6 base32, no padding.
fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// RFC 4648 §6 base32 without padding, either case; `None` for another symbol, padding,
/// a length no byte string encodes to, or non-zero trailing bits.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    if !matches!(text.len() % 8, 0 | 2 | 4 | 5 | 7) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = BASE32.iter().position(|&s| s == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    (buffer == 0).then_some(out)
}

/// Percent-encodes every byte but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), *want, "count {counter}");
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_sha1_in_8_and_6_digits() {
        let vectors: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let secret = TotpSecret::from_bytes(RFC_KEY.to_vec()).unwrap();
        for (time, eight) in vectors {
            let step = totp_step(UnixTime(time));
            assert_eq!(hotp(RFC_KEY, step as u64, 8), eight, "T = {time}");
            let six = &eight[2..];
            assert_eq!(secret.code_at_step(step).unwrap(), six, "T = {time}");
            let code = TotpCode::parse(six).unwrap();
            assert_eq!(secret.verify(&code, UnixTime(time)), Some(step));
        }
    }

    #[test]
    fn verification_allows_one_step_of_drift_either_way_and_no_more() {
        let secret = TotpSecret::generate().unwrap();
        let now = UnixTime(1_800_000_015);
        let step = totp_step(now);
        let code_of = |s: i64| TotpCode::parse(&secret.code_at_step(s).unwrap()).unwrap();
        assert_eq!(secret.verify(&code_of(step), now), Some(step));
        assert_eq!(secret.verify(&code_of(step - 1), now), Some(step - 1));
        assert_eq!(secret.verify(&code_of(step + 1), now), Some(step + 1));
        for far in [step - 2, step + 2, step - 100] {
            let code = code_of(far);
            // A code of a far step is refused unless it happens to equal a near one.
            let collides = [step - 1, step, step + 1]
                .iter()
                .any(|s| secret.code_at_step(*s).unwrap() == code.as_str());
            if !collides {
                assert_eq!(secret.verify(&code, now), None, "step {far}");
            }
        }
        let other = TotpSecret::generate().unwrap();
        let theirs = TotpCode::parse(&other.code_at_step(step).unwrap()).unwrap();
        if theirs != code_of(step) && theirs != code_of(step - 1) && theirs != code_of(step + 1) {
            assert_eq!(secret.verify(&theirs, now), None);
        }
        assert_eq!(secret.code_at_step(-1), None);
        assert_eq!(secret.verify(&code_of(0), UnixTime(0)), Some(0));
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(
                base32_decode(&encoded.to_lowercase()).unwrap(),
                plain.as_bytes()
            );
        }
        for bad in ["MY======", "M", "MZX", "MZ", "MZXW6YTBO1", "MZ XW", "M0"] {
            assert_eq!(base32_decode(bad), None, "{bad}");
        }
        let secret = TotpSecret::generate().unwrap();
        let text = secret.to_base32();
        assert_eq!(text.len(), 32);
        assert_eq!(TotpSecret::from_base32(&text), Some(secret));
        // Shorter than 128 bits is no secret.
        assert_eq!(TotpSecret::from_base32("MZXW6YTBOI"), None);
    }

    #[test]
    fn generated_secrets_are_160_bits_and_differ() {
        let a = TotpSecret::generate().unwrap();
        let b = TotpSecret::generate().unwrap();
        assert_eq!(a.as_bytes().len(), 20);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "TotpSecret(<redacted>)");
    }

    #[test]
    fn the_otpauth_uri_percent_encodes_issuer_and_account() {
        let secret = TotpSecret::from_bytes(RFC_KEY.to_vec()).unwrap();
        assert_eq!(
            secret.otpauth_uri("Usher Example", "alice@example.com"),
            "otpauth://totp/Usher%20Example:alice%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Usher%20Example\
             &algorithm=SHA1&digits=6&period=30"
        );
        let uri = secret.otpauth_uri("a:b&c", "é/x?y");
        assert!(
            uri.starts_with("otpauth://totp/a%3Ab%26c:%C3%A9%2Fx%3Fy?"),
            "{uri}"
        );
    }
}
