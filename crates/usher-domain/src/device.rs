//! The device authorization grant (RFC 8628): the user code's format, a pending device
//! authorization as it is stored, and the port that stores it.
//!
//! A device authorization has two secrets. The *device code* (32 random bytes, only its
//! SHA-256 stored) is what the device polls `/token` with. The *user code* is what the
//! person types on the verification page: eight letters of [`UserCode::ALPHABET`]
//! (twenty consonants with no vowel, so no word and no look-alike pair such as `0`/`O`
//! or `1`/`I`), shown as `XXXX-XXXX` — 20⁸ ≈ 2³⁴·⁶ values. It is stored only as a keyed
//! hash (HMAC under a key derived from the KEK), so a copy of the database cannot be
//! searched for live codes offline. Typed input is normalised: letters in any case,
//! dashes and spaces anywhere.
//!
//! Every state change is one compare-and-set in the store ([`DeviceGrantStore`]): a
//! pending authorization is approved or denied once, a poll of a pending one either
//! passes the interval or slows the device down, and an approved one is claimed by
//! exactly one poll.

use crate::client::ClientId;
use crate::mfa::AuthMethods;
use crate::ports::StoreError;
use crate::resource::ResourceUri;
use crate::scope::ScopeSet;
use crate::time::UnixTime;
use crate::user::UserId;

/// How much a `slow_down` adds to the polling interval, in seconds (RFC 8628 §3.5).
pub const SLOW_DOWN_SECONDS: i64 = 5;
/// How much earlier than its interval a poll may come without `slow_down`: one second,
/// for a device whose clock ticks a little fast or whose request went out on the
/// second boundary (review finding 7, docs/design/device-grant.md).
pub const POLL_TOLERANCE_SECONDS: i64 = 1;

/// A user code, normalised: eight letters of [`UserCode::ALPHABET`], upper case, no dash.
/// `Debug` does not show it (it is a secret while its authorization is pending).
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCode(<redacted>)")
    }
}

impl UserCode {
    /// Twenty consonants: no vowels (no words), no digits, no `Y` (half a vowel).
    pub const ALPHABET: &'static [u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
    /// Letters in a code.
    pub const LEN: usize = 8;

    /// Reads what a person typed: case-insensitive; dashes, spaces and tabs anywhere are
    /// ignored. `None` unless exactly eight letters of the alphabet remain. At most 64
    /// characters are looked at.
    pub fn parse(typed: &str) -> Option<UserCode> {
        if typed.len() > 64 {
            return None;
        }
        let mut code = String::with_capacity(Self::LEN);
        for c in typed.chars() {
            if c == '-' || c == ' ' || c == '\t' {
                continue;
            }
            let upper = c.to_ascii_uppercase();
            if !upper.is_ascii() || !Self::ALPHABET.contains(&(upper as u8)) {
                return None;
            }
            code.push(upper);
        }
        (code.len() == Self::LEN).then_some(UserCode(code))
    }

    /// A code drawn from `random` bytes by rejection sampling (a byte of 240 or more is
    /// skipped, so every letter is equally likely). `None` if the bytes ran out first:
    /// the caller draws again.
    pub fn from_random(random: &[u8]) -> Option<UserCode> {
        let code: String = random
            .iter()
            .filter(|b| **b < 240)
            .take(Self::LEN)
            .map(|b| char::from(Self::ALPHABET[usize::from(*b % 20)]))
            .collect();
        (code.len() == Self::LEN).then_some(UserCode(code))
    }

    /// The normalised form (what is hashed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How it is shown: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceGrantStatus {
    /// Waiting for the person.
    Pending,
    /// The person approved; the device's next poll gets tokens.
    Approved,
    /// The person denied.
    Denied,
    /// A poll got the tokens: the device code is spent.
    Claimed,
}

impl DeviceGrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceGrantStatus::Pending => "pending",
            DeviceGrantStatus::Approved => "approved",
            DeviceGrantStatus::Denied => "denied",
            DeviceGrantStatus::Claimed => "claimed",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceGrantStatus> {
        [
            DeviceGrantStatus::Pending,
            DeviceGrantStatus::Approved,
            DeviceGrantStatus::Denied,
            DeviceGrantStatus::Claimed,
        ]
        .into_iter()
        .find(|g| g.as_str() == s)
    }
}

/// Who approved, and how they had signed in: what the tokens are issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApproval {
    pub user_id: UserId,
    /// The lineage of the browser session the person approved in (refresh families of
    /// the grant belong to it, as a code's do).
    pub lineage_hash: String,
    pub auth_time: UnixTime,
    pub amr: AuthMethods,
}

/// A device authorization as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    /// SHA-256 of the device code (base64url).
    pub device_code_hash: String,
    /// The keyed hash of the normalised user code.
    pub user_code_hash: String,
    pub client_id: ClientId,
    pub scopes: ScopeSet,
    /// RFC 8707 resources asked for (empty: none).
    pub resources: Vec<ResourceUri>,
    pub status: DeviceGrantStatus,
    /// Set once approved.
    pub approval: Option<DeviceApproval>,
    /// The polling interval now, in seconds (grows by [`SLOW_DOWN_SECONDS`] with each
    /// `slow_down`).
    pub interval: i64,
    pub last_poll_at: Option<UnixTime>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// What a poll of a pending authorization found ([`DeviceGrantStore::poll_device_grant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollGate {
    /// At least `interval` seconds since the last poll: still pending.
    Pending,
    /// Too soon: the interval is now this many seconds.
    SlowDown { interval: i64 },
    /// It is no longer pending (decided meanwhile), or gone.
    NotPending,
}

/// Device authorizations (table `device_grants`).
pub trait DeviceGrantStore: Send + Sync {
    /// Stores a new pending authorization; `false` (nothing written) when its user code
    /// hash is already taken by another one (the caller draws another code).
    fn insert_device_grant(&self, grant: &DeviceGrant) -> Result<bool, StoreError>;
    /// The authorization of a device code hash, whatever its state.
    fn find_device_grant(&self, device_code_hash: &str) -> Result<Option<DeviceGrant>, StoreError>;
    /// The authorization of a user code hash, whatever its state.
    fn find_device_grant_by_user_code(
        &self,
        user_code_hash: &str,
    ) -> Result<Option<DeviceGrant>, StoreError>;
    /// Approves (`Some`) or denies (`None`) the authorization of `user_code_hash` if it is
    /// still pending and not expired at `now`: one compare-and-set; `true` for the one
    /// caller whose decision was written.
    fn decide_device_grant(
        &self,
        user_code_hash: &str,
        approval: Option<&DeviceApproval>,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// A poll of a pending authorization at `now`: records it if the interval has passed
    /// since the last one ([`PollGate::Pending`]); otherwise adds [`SLOW_DOWN_SECONDS`]
    /// to the interval and records the poll ([`PollGate::SlowDown`]).
    fn poll_device_grant(
        &self,
        device_code_hash: &str,
        now: UnixTime,
    ) -> Result<PollGate, StoreError>;
    /// Claims an approved authorization for the one poll that gets its tokens: approved →
    /// claimed if not expired at `now`, one compare-and-set; `true` for exactly one
    /// caller however many race.
    fn claim_device_grant(&self, device_code_hash: &str, now: UnixTime)
    -> Result<bool, StoreError>;
    /// Denies every authorization `user` approved for `client` that no poll claimed yet
    /// (approved → denied, one statement): "Remove access" takes back approvals not yet
    /// turned into tokens. How many were denied.
    fn deny_unclaimed_device_grants(
        &self,
        user: &UserId,
        client: &ClientId,
    ) -> Result<usize, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_read_in_any_case_with_or_without_dashes_and_spaces() {
        for typed in [
            "BCDF-GHJK",
            "bcdfghjk",
            " bcdf ghjk ",
            "Bc-Df-Gh-Jk",
            "BCDFGHJK",
        ] {
            assert_eq!(
                UserCode::parse(typed).map(|c| c.as_str().to_owned()),
                Some("BCDFGHJK".to_owned()),
                "{typed}"
            );
        }
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ0",
            "BCDF_GHJK",
            "ＢCDF-GHJK",
        ] {
            assert_eq!(UserCode::parse(bad), None, "{bad}");
        }
        assert_eq!(UserCode::parse(&"-".repeat(65)), None);
        assert_eq!(UserCode::parse("bcdfghjk").unwrap().display(), "BCDF-GHJK");
    }

    #[test]
    fn random_codes_use_every_letter_and_skip_biased_bytes() {
        let bytes: Vec<u8> = (0..=255).collect();
        let code = UserCode::from_random(&bytes).unwrap();
        assert_eq!(code.as_str(), "BCDFGHJK");
        // 240..=255 would favour the first 16 letters: skipped.
        let mut biased = vec![250u8; 10];
        biased.extend([19, 19, 19, 19, 19, 19, 19, 19]);
        assert_eq!(UserCode::from_random(&biased).unwrap().as_str(), "ZZZZZZZZ");
        assert_eq!(UserCode::from_random(&[255; 40]), None);
        assert!(!format!("{code:?}").contains("BCDF"));
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["pending", "approved", "denied", "claimed"] {
            assert_eq!(DeviceGrantStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(DeviceGrantStatus::parse("other"), None);
    }
}
