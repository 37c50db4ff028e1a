//! The vocabulary of second factors (issue 14, docs/design/mfa.md): what a person may
//! present after their password (an authenticator-app code, a recovery code), what is
//! stored of each factor, and how a sign-in's methods are named on the wire (`amr`,
//! RFC 8176; `acr`, OIDC Core §2).
//!
//! Typed input is parsed here, once, at the edge: a [`TotpCode`] is six ASCII digits, a
//! [`RecoveryCode`] is twelve symbols of [`RECOVERY_ALPHABET`] whatever case, dashes or
//! spaces the person typed. Secrets are never held here in the clear: a TOTP secret
//! arrives sealed (by `usher-keys`), a recovery code is stored only as a keyed hash.
//! The rules of single use (a TOTP step accepted once, a recovery code spent once) are
//! stated on the [`crate::ports::FactorStore`] port, whose implementations make each of
//! them one atomic statement.

use std::fmt;

use crate::time::UnixTime;
use crate::user::UserId;

/// The symbols of a recovery code: Crockford's base32 in lower case (digits and letters
/// without `i`, `l`, `o`, `u`), 32 symbols, so 5 bits each. The letters people confuse
/// with digits are not in it, and typing them is forgiven ([`RecoveryCode::parse`]).
pub const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Symbols in a recovery code: 12 × 5 = 60 bits.
pub const RECOVERY_CODE_LEN: usize = 12;

/// How many recovery codes a person gets at a time.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Digits of an authenticator-app code (RFC 6238 with the RFC 4226 default).
pub const TOTP_DIGITS: usize = 6;

/// The length of a TOTP time step, in seconds (RFC 6238 §4.1, `X`).
pub const TOTP_STEP_SECONDS: i64 = 30;

/// The time step that contains `now` (RFC 6238 §4: `T = floor((now - T0) / X)`, `T0 = 0`).
pub fn totp_step(now: UnixTime) -> i64 {
    now.seconds().div_euclid(TOTP_STEP_SECONDS)
}

/// Why typed text is not a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not six digits.
    #[error("an authenticator code is six digits")]
    NotATotpCode,
    /// Not twelve symbols of the recovery alphabet.
    #[error("a recovery code looks like xxxx-xxxx-xxxx")]
    NotARecoveryCode,
}

/// Longest text looked at: anything longer is refused before it is scanned further.
const MAX_TYPED: usize = 64;

/// A code typed from an authenticator app: exactly [`TOTP_DIGITS`] ASCII digits, spaces
/// around or between them ignored (`123 456`). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl TotpCode {
    pub fn parse(typed: &str) -> Result<TotpCode, CodeError> {
        if typed.len() > MAX_TYPED {
            return Err(CodeError::NotATotpCode);
        }
        let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == TOTP_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(TotpCode(digits))
        } else {
            Err(CodeError::NotATotpCode)
        }
    }

    /// The six digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(<redacted>)")
    }
}

/// A recovery code, as generated or as typed: twelve symbols of [`RECOVERY_ALPHABET`].
/// Typed text is forgiven its case, dashes and whitespace, and the letters Crockford's
/// base32 leaves out read as the digits they look like (`o` → `0`, `i`/`l` → `1`).
/// `Display` writes `xxxx-xxxx-xxxx` (to show once); `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    pub fn parse(typed: &str) -> Result<RecoveryCode, CodeError> {
        if typed.len() > MAX_TYPED {
            return Err(CodeError::NotARecoveryCode);
        }
        let mut symbols = String::with_capacity(RECOVERY_CODE_LEN);
        for c in typed.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let c = match c.to_ascii_lowercase() {
                'o' => '0',
                'i' | 'l' => '1',
                other => other,
            };
            if !c.is_ascii() || !RECOVERY_ALPHABET.contains(&(c as u8)) {
                return Err(CodeError::NotARecoveryCode);
            }
            symbols.push(c);
        }
        if symbols.len() == RECOVERY_CODE_LEN {
            Ok(RecoveryCode(symbols))
        } else {
            Err(CodeError::NotARecoveryCode)
        }
    }

    /// The twelve symbols without dashes: what is hashed.
    pub fn compact(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        write!(f, "{}-{}-{}", &s[..4], &s[4..8], &s[8..])
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// A person's authenticator app (TOTP, RFC 6238), as stored. One per person.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub user_id: UserId,
    /// The shared secret sealed under the factor sub-key of the KEK, bound to the
    /// person's id (`usher_keys::FactorSealer`). Never logged.
    pub sealed_secret: String,
    pub created_at: UnixTime,
    /// The latest time step a code was accepted for: only a later step is accepted next
    /// (RFC 6238 §5.2: a code is accepted once). `None` before the first.
    pub last_used_step: Option<i64>,
    /// Whether the person proved, with a current code, that their app holds the secret.
    /// An unconfirmed factor is neither asked for nor accepted at sign-in.
    pub confirmed: bool,
}

impl fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpFactor")
            .field("user_id", &self.user_id)
            .field("sealed_secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("last_used_step", &self.last_used_step)
            .field("confirmed", &self.confirmed)
            .finish()
    }
}

/// A person's recovery codes, as stored: only keyed hashes (`SecretHasher`), each with
/// when it was spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodeRecord {
    pub user_id: UserId,
    pub code_hash: String,
    pub created_at: UnixTime,
    pub used_at: Option<UnixTime>,
}

/// Authentication method reference values (RFC 8176 §2), for the `amr` claim of ID
/// tokens (OIDC Core §2). [`Amr::as_str`] is the registered wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Amr {
    /// Biometric authentication using facial recognition.
    Face,
    /// Biometric authentication using a fingerprint.
    Fpt,
    /// Use of geolocation information for authentication.
    Geo,
    /// Proof-of-possession of a hardware-secured key (a security key, a platform
    /// authenticator's device-bound passkey).
    Hwk,
    /// Biometric authentication using an iris scan.
    Iris,
    /// Knowledge-based authentication.
    Kba,
    /// Multiple-channel authentication.
    Mca,
    /// Multiple-factor authentication: used with the values of the factors.
    Mfa,
    /// One-time password (RFC 4226, RFC 6238); Usher also uses it for a recovery code.
    Otp,
    /// Personal identification number or pattern.
    Pin,
    /// Password-based authentication.
    Pwd,
    /// Risk-based authentication.
    Rba,
    /// Biometric authentication using a retina scan.
    Retina,
    /// Smart card.
    Sc,
    /// Confirmation using SMS text message.
    Sms,
    /// Proof-of-possession of a software-secured key (a synced passkey).
    Swk,
    /// Confirmation by telephone call.
    Tel,
    /// User presence test.
    User,
    /// Biometric authentication using a voiceprint.
    Vbm,
    /// Windows integrated authentication.
    Wia,
    /// Federated: the person signed in at an upstream identity provider Usher trusts
    /// (docs/design/upstream.md). Not among RFC 8176's values; the one Microsoft Entra
    /// and others emit for a brokered sign-in, and what the upstream issue asks for.
    Fed,
}

impl Amr {
    /// Every registered value, in the order of RFC 8176 §2.
    pub const ALL: [Amr; 21] = [
        Amr::Face,
        Amr::Fpt,
        Amr::Geo,
        Amr::Hwk,
        Amr::Iris,
        Amr::Kba,
        Amr::Mca,
        Amr::Mfa,
        Amr::Otp,
        Amr::Pin,
        Amr::Pwd,
        Amr::Rba,
        Amr::Retina,
        Amr::Sc,
        Amr::Sms,
        Amr::Swk,
        Amr::Tel,
        Amr::User,
        Amr::Vbm,
        Amr::Wia,
        Amr::Fed,
    ];

    /// The registered value (RFC 8176 §2).
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Face => "face",
            Amr::Fpt => "fpt",
            Amr::Geo => "geo",
            Amr::Hwk => "hwk",
            Amr::Iris => "iris",
            Amr::Kba => "kba",
            Amr::Mca => "mca",
            Amr::Mfa => "mfa",
            Amr::Otp => "otp",
            Amr::Pin => "pin",
            Amr::Pwd => "pwd",
            Amr::Rba => "rba",
            Amr::Retina => "retina",
            Amr::Sc => "sc",
            Amr::Sms => "sms",
            Amr::Swk => "swk",
            Amr::Tel => "tel",
            Amr::User => "user",
            Amr::Vbm => "vbm",
            Amr::Wia => "wia",
            Amr::Fed => "fed",
        }
    }

    /// The value a wire string names; `None` for an unregistered one.
    pub fn parse(raw: &str) -> Option<Amr> {
        Amr::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

impl fmt::Display for Amr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authentication context classes Usher will advertise (`acr_values_supported`) and
/// put in `acr` (OIDC Core §2, §3.1.2.1 `acr_values`), strongest last. `phr` and `phrh`
/// are the OpenID Extended Authentication Profile's registered values for
/// phishing-resistant (and hardware-protected) authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Acr {
    /// A password alone.
    Password,
    /// A password and a second factor, or a passkey.
    Mfa,
    /// Phishing-resistant: a passkey (origin-bound, with user verification).
    PhishingResistant,
}

impl Acr {
    pub const ALL: [Acr; 3] = [Acr::Password, Acr::Mfa, Acr::PhishingResistant];

    pub fn as_str(self) -> &'static str {
        match self {
            Acr::Password => "urn:usher:acr:pwd",
            Acr::Mfa => "urn:usher:acr:mfa",
            Acr::PhishingResistant => "phr",
        }
    }

    pub fn parse(raw: &str) -> Option<Acr> {
        Acr::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// What a sign-in that used `methods` reached: phishing-resistant with a hardware
    /// or software key, multi-factor with `mfa`, else a password.
    pub fn of(methods: &[Amr]) -> Acr {
        if methods.iter().any(|m| matches!(m, Amr::Hwk | Amr::Swk)) {
            Acr::PhishingResistant
        } else if methods.contains(&Amr::Mfa) {
            Acr::Mfa
        } else {
            Acr::Password
        }
    }
}

/// Whether every sign-in needs a second factor (setting `mfa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MfaPolicy {
    /// Asked of people who have one, and of sign-ins for clients or requests that need
    /// it (the default).
    #[default]
    Optional,
    /// Every sign-in; a person without one sets one up right after the password.
    Required,
}

impl MfaPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaPolicy::Optional => "optional",
            MfaPolicy::Required => "required",
        }
    }

    pub fn parse(raw: &str) -> Option<MfaPolicy> {
        match raw {
            "optional" => Some(MfaPolicy::Optional),
            "required" => Some(MfaPolicy::Required),
            _ => None,
        }
    }
}

/// The methods one sign-in used (the `amr` of its ID tokens, RFC 8176), in the order they
/// were used, each at most once; never empty. Stored as their wire strings joined by
/// spaces (sessions, codes, refresh families).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthMethods(Vec<Amr>);

impl AuthMethods {
    /// A password alone.
    pub fn password() -> AuthMethods {
        AuthMethods(vec![Amr::Pwd])
    }

    /// A password and a one-time code (an authenticator app's, or a recovery code).
    pub fn password_and_otp() -> AuthMethods {
        AuthMethods(vec![Amr::Pwd, Amr::Otp, Amr::Mfa])
    }

    /// `methods` without repeats, in order; `None` if empty.
    pub fn new(methods: impl IntoIterator<Item = Amr>) -> Option<AuthMethods> {
        let mut out: Vec<Amr> = Vec::new();
        for m in methods {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        (!out.is_empty()).then_some(AuthMethods(out))
    }

    /// Reads the stored form; `None` for an empty or unregistered value (a corrupt row).
    pub fn parse_stored(raw: &str) -> Option<AuthMethods> {
        let methods: Option<Vec<Amr>> = raw.split(' ').map(Amr::parse).collect();
        AuthMethods::new(methods?)
    }

    /// The stored form: wire strings joined by single spaces.
    pub fn to_stored(&self) -> String {
        let words: Vec<&str> = self.0.iter().map(|m| m.as_str()).collect();
        words.join(" ")
    }

    pub fn as_slice(&self) -> &[Amr] {
        &self.0
    }

    /// The wire strings, for the `amr` claim.
    pub fn wire(&self) -> Vec<&'static str> {
        self.0.iter().map(|m| m.as_str()).collect()
    }

    /// The authentication context these methods reached.
    pub fn acr(&self) -> Acr {
        Acr::of(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_totp_code_is_six_digits_with_spaces_forgiven() {
        assert_eq!(TotpCode::parse("123456").unwrap().as_str(), "123456");
        assert_eq!(TotpCode::parse(" 123 456\t").unwrap().as_str(), "123456");
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "１２３４５６",
            "123-456",
            &"1".repeat(65),
        ] {
            assert_eq!(TotpCode::parse(bad), Err(CodeError::NotATotpCode), "{bad}");
        }
        assert_eq!(
            format!("{:?}", TotpCode::parse("123456").unwrap()),
            "TotpCode(<redacted>)"
        );
    }

    #[test]
    fn a_recovery_code_forgives_case_dashes_spaces_and_look_alikes() {
        let code = RecoveryCode::parse("abcd-efgh-jk01").unwrap();
        assert_eq!(code.compact(), "abcdefghjk01");
        assert_eq!(code.to_string(), "abcd-efgh-jk01");
        for typed in [
            "ABCD-EFGH-JK01",
            "abcd efgh jk01",
            " abcdefghjk01 ",
            "abcd--efgh-jkOI",
            "abcd-efgh-jkol",
        ] {
            assert_eq!(RecoveryCode::parse(typed), Ok(code.clone()), "{typed}");
        }
        for bad in [
            "",
            "abcd-efgh-jk0",
            "abcd-efgh-jk011",
            "abcd-efgh-jku1",
            "abcd_efgh_jk01",
            "abcd-efgh-jk0é",
            &"a".repeat(65),
        ] {
            assert_eq!(
                RecoveryCode::parse(bad),
                Err(CodeError::NotARecoveryCode),
                "{bad}"
            );
        }
        assert_eq!(format!("{code:?}"), "RecoveryCode(<redacted>)");
    }

    #[test]
    fn the_recovery_alphabet_has_32_distinct_unambiguous_symbols() {
        let mut sorted = RECOVERY_ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
        for confusable in [b'i', b'l', b'o', b'u'] {
            assert!(!RECOVERY_ALPHABET.contains(&confusable));
        }
        // 60 bits or more per code.
        const { assert!(RECOVERY_CODE_LEN * 5 >= 60) };
    }

    #[test]
    fn time_steps_follow_rfc_6238() {
        assert_eq!(totp_step(UnixTime(59)), 1);
        assert_eq!(totp_step(UnixTime(1_111_111_109)), 0x0235_23EC);
        assert_eq!(totp_step(UnixTime(0)), 0);
        assert_eq!(totp_step(UnixTime(29)), 0);
        assert_eq!(totp_step(UnixTime(30)), 1);
    }

    #[test]
    fn amr_values_round_trip_their_rfc_8176_strings() {
        for amr in Amr::ALL {
            assert_eq!(Amr::parse(amr.as_str()), Some(amr));
            assert_eq!(amr.to_string(), amr.as_str());
        }
        assert_eq!(Amr::Pwd.as_str(), "pwd");
        assert_eq!(Amr::Otp.as_str(), "otp");
        assert_eq!(Amr::Hwk.as_str(), "hwk");
        assert_eq!(Amr::Mfa.as_str(), "mfa");
        assert_eq!(Amr::parse("password"), None);
        assert_eq!(Amr::parse("PWD"), None);
    }

    #[test]
    fn acr_follows_the_methods_used() {
        assert_eq!(Acr::of(&[Amr::Pwd]), Acr::Password);
        assert_eq!(Acr::of(&[Amr::Pwd, Amr::Otp, Amr::Mfa]), Acr::Mfa);
        assert_eq!(
            Acr::of(&[Amr::Hwk, Amr::User, Amr::Mfa]),
            Acr::PhishingResistant
        );
        for acr in Acr::ALL {
            assert_eq!(Acr::parse(acr.as_str()), Some(acr));
        }
        assert!(Acr::Password < Acr::Mfa && Acr::Mfa < Acr::PhishingResistant);
    }

    #[test]
    fn a_totp_factor_debug_hides_its_sealed_secret() {
        let f = TotpFactor {
            user_id: UserId::parse("u1").unwrap(),
            sealed_secret: "v1.secret".into(),
            created_at: UnixTime(1),
            last_used_step: None,
            confirmed: false,
        };
        assert!(!format!("{f:?}").contains("v1.secret"));
    }

    #[test]
    fn auth_methods_round_trip_through_their_stored_form() {
        let m = AuthMethods::password_and_otp();
        assert_eq!(m.to_stored(), "pwd otp mfa");
        assert_eq!(AuthMethods::parse_stored("pwd otp mfa"), Some(m.clone()));
        assert_eq!(m.acr(), Acr::Mfa);
        assert_eq!(AuthMethods::password().acr(), Acr::Password);
        for bad in ["", " ", "pwd  otp", "pwd,otp", "password"] {
            assert_eq!(AuthMethods::parse_stored(bad), None, "{bad:?}");
        }
        assert_eq!(
            AuthMethods::new([Amr::Hwk, Amr::User, Amr::Hwk]).map(|m| m.to_stored()),
            Some("hwk user".to_owned())
        );
        assert_eq!(AuthMethods::new([]), None);
    }
}
