//! Refresh-token families: the port [`FamilyStore`] and its vocabulary.
//!
//! A family is every refresh token descended from one authorization (one code
//! redemption). The store keeps, per family, who and what it is for, its lifetimes, the
//! hash of the one current token, and (for the optional grace window) the hash of the
//! token just replaced with the child sealed for whoever holds that parent. Rotation,
//! reuse detection and revocation are single atomic steps inside the store, so two
//! nodes can never both rotate the same token. Two implementations pass one contract
//! suite: Redis (`usher-families`) and the SQL database (`usher-store`).
//!
//! The trait is asynchronous (Redis is), written with boxed futures so that it stays
//! usable as `Arc<dyn FamilyStore>` without a macro crate. Time arrives as a parameter;
//! the caller hashes tokens (`base64url(SHA-256(secret))`) and seals the grace child,
//! so the store sees neither a token nor a key.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::audit::AuditActor;
use crate::client::ClientId;
use crate::mfa::AuthMethods;
use crate::ports::StoreError;
use crate::resource::ResourceUri;
use crate::scope::{OFFLINE_ACCESS, ScopeSet};
use crate::time::UnixTime;
use crate::user::UserId;

/// The future every [`FamilyStore`] method returns.
pub type FamilyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A family's identifier: the part of a refresh token before the `.`. Random (Usher
/// draws 128 bits), base64url, 16–64 characters. Not a secret on its own: it appears in
/// logs and in the admin CLI; a token also needs its secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FamilyId(String);

impl FamilyId {
    pub fn parse(raw: &str) -> Option<FamilyId> {
        let ok = (16..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| FamilyId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a family was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// An earlier token of the family was presented again: presumed stolen.
    Reuse,
    /// The client revoked it (RFC 7009).
    Revoked,
    /// The browser session it was issued through ended (RP-initiated logout).
    Logout,
    /// An administrator revoked this family (`usher families revoke`).
    Admin,
    /// An administrator ended every session of the person (`usher user revoke-sessions`).
    UserSessions,
    /// The person removed the app's access on their account page ("Connected apps").
    AccessRemoved,
}

impl RevokeReason {
    pub const ALL: [RevokeReason; 6] = [
        RevokeReason::Reuse,
        RevokeReason::Revoked,
        RevokeReason::Logout,
        RevokeReason::Admin,
        RevokeReason::UserSessions,
        RevokeReason::AccessRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Reuse => "reuse",
            RevokeReason::Revoked => "revoked_by_client",
            RevokeReason::Logout => "logout",
            RevokeReason::Admin => "admin",
            RevokeReason::UserSessions => "user_sessions_revoked",
            RevokeReason::AccessRemoved => "access_removed_by_user",
        }
    }

    pub fn parse(raw: &str) -> Option<RevokeReason> {
        RevokeReason::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// Whether a family granted `scopes` outlives the end of the browser session it was
/// issued in. OpenID Connect Core §11: `offline_access` asks for access "even when the
/// End-User is not logged in", so logout leaves such a family alone (the person, the
/// client or an administrator can still revoke it); every other family is *online* and
/// ends with its browser session.
pub fn survives_logout(scopes: &ScopeSet) -> bool {
    scopes.contains(OFFLINE_ACCESS)
}

/// What revoking one family did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// No such family (never existed, or gone after its expiry).
    Unknown,
    /// It was revoked before; nothing changed (the first revocation and its reason stay).
    AlreadyRevoked,
    /// Revoked by this call: the one transition a counter should count.
    Revoked,
}

impl RevokeOutcome {
    /// Whether the family exists (revoked now or before).
    pub fn exists(self) -> bool {
        self != RevokeOutcome::Unknown
    }
}

/// A revocation: when, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub at: UnixTime,
    pub reason: RevokeReason,
}

/// A new family, as the code exchange creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFamily {
    pub id: FamilyId,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub scopes: ScopeSet,
    /// The RFC 8707 resources of the original grant (the code's); a refresh may narrow
    /// them for one access token, never widen them. Empty: none were asked for.
    pub resources: Vec<ResourceUri>,
    pub auth_time: UnixTime,
    /// How the person signed in (the code's).
    pub amr: AuthMethods,
    /// The hash of the browser-session lineage the authorization happened in (see
    /// [`crate::Session::lineage_hash`]): logout revokes the lineage's online families.
    pub lineage_hash: Option<String>,
    /// The hash of the first refresh token.
    pub token_hash: String,
    pub created_at: UnixTime,
    /// The absolute end of the family.
    pub expires_at: UnixTime,
    /// The idle end: pushed forward (never past `expires_at`) by every rotation.
    pub idle_expires_at: UnixTime,
}

/// A family as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub id: FamilyId,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub scopes: ScopeSet,
    /// The RFC 8707 resources of the original grant (the code's); a refresh may narrow
    /// them for one access token, never widen them. Empty: none were asked for.
    pub resources: Vec<ResourceUri>,
    pub auth_time: UnixTime,
    /// How the person signed in (the code's).
    pub amr: AuthMethods,
    pub lineage_hash: Option<String>,
    /// The hash of the one current token.
    pub token_hash: String,
    pub created_at: UnixTime,
    pub last_rotated_at: Option<UnixTime>,
    pub expires_at: UnixTime,
    pub idle_expires_at: UnixTime,
    pub revoked: Option<Revocation>,
}

/// What a family is doing at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyState {
    Active,
    Expired,
    Revoked,
}

impl FamilyState {
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyState::Active => "active",
            FamilyState::Expired => "expired",
            FamilyState::Revoked => "revoked",
        }
    }
}

impl Family {
    /// The end of the family's life at the moment: the earlier of its two expiries.
    pub fn ends_at(&self) -> UnixTime {
        self.expires_at.min(self.idle_expires_at)
    }

    pub fn state(&self, now: UnixTime) -> FamilyState {
        if self.revoked.is_some() {
            FamilyState::Revoked
        } else if now >= self.ends_at() {
            FamilyState::Expired
        } else {
            FamilyState::Active
        }
    }
}

/// One rotation request: "if `presented_hash` is the current token, make `next_hash`
/// the current one".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub family: FamilyId,
    pub presented_hash: String,
    pub next_hash: String,
    /// The child token sealed for the holder of the presented token, kept for the grace
    /// window only; `None` when grace is off.
    pub sealed_next: Option<String>,
    pub now: UnixTime,
    /// Seconds of inactivity after which the family ends.
    pub idle_ttl: i64,
    /// Seconds after this rotation during which presenting the presented token again
    /// returns the same child; 0 = off.
    pub grace: i64,
}

/// What a rotation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was the current one; `next_hash` now is. Exactly one
    /// concurrent caller with the same token gets this.
    Rotated(Family),
    /// The presented token is the parent of the current one and the grace window is
    /// open: nothing changed; the child already issued is returned, still sealed.
    Grace {
        family: Family,
        sealed_child: String,
    },
    /// The presented token is an earlier one: the family has just been revoked (reason
    /// [`RevokeReason::Reuse`]), its current token included.
    Reused(Family),
    /// The family was already revoked.
    Revoked(Family),
    /// The family has passed its absolute or idle end.
    Expired(Family),
    /// No such family (never existed, or gone after its expiry).
    Unknown,
}

/// Which families to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FamilyFilter {
    pub user: Option<UserId>,
    pub client: Option<ClientId>,
}

/// Refresh-token families. Every method is one atomic step per family.
pub trait FamilyStore: Send + Sync {
    /// `"redis"` or `"embedded"`, for logs and `/readyz`.
    fn kind(&self) -> &'static str;

    /// Stores a new family. A duplicate id is [`StoreError::Conflict`].
    fn create<'a>(&'a self, family: &'a NewFamily) -> FamilyFuture<'a, ()>;

    /// Rotation, grace and reuse detection, atomically (see [`RotateOutcome`]).
    fn rotate<'a>(&'a self, rotation: &'a Rotation) -> FamilyFuture<'a, RotateOutcome>;

    /// The family, revoked and expired ones included while they are still stored.
    fn get<'a>(&'a self, id: &'a FamilyId) -> FamilyFuture<'a, Option<Family>>;

    /// Revokes the family; idempotent (an earlier revocation and its reason stay).
    /// Says whether this call revoked it, or it was revoked before, or is unknown.
    fn revoke<'a>(
        &'a self,
        id: &'a FamilyId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, RevokeOutcome>;

    /// [`FamilyStore::revoke`] on behalf of `actor` (an administrator): a store that
    /// writes the audit trail (`usher-core`'s `AuditedFamilies`) names them in its one
    /// `family.revoked` event instead of its own actor; a store that writes no trail
    /// ignores `actor`.
    fn revoke_as<'a>(
        &'a self,
        id: &'a FamilyId,
        reason: RevokeReason,
        now: UnixTime,
        actor: &'a AuditActor,
    ) -> FamilyFuture<'a, RevokeOutcome> {
        let _ = actor;
        self.revoke(id, reason, now)
    }

    /// Revokes the *online* families issued in one browser-session lineage (those
    /// that do not [`survives_logout`]); offline ones are left alone. Returns how many
    /// this call revoked (not those revoked before).
    fn revoke_online<'a>(
        &'a self,
        lineage_hash: &'a str,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize>;

    /// Revokes every family of a person, offline ones included; returns how many this
    /// call revoked (not those revoked before).
    fn revoke_user<'a>(
        &'a self,
        user: &'a UserId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize>;

    /// The stored families matching `filter`, oldest first.
    fn list<'a>(&'a self, filter: &'a FamilyFilter) -> FamilyFuture<'a, Vec<Family>>;

    /// A cheap round trip, for `/readyz`.
    fn ping(&self) -> FamilyFuture<'_, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_ids_are_base64url_of_a_sensible_length() {
        assert!(FamilyId::parse("AAAAAAAAAAAAAAAAAAAAAA").is_some());
        assert!(FamilyId::parse("abc-_0123456789xyz").is_some());
        assert!(FamilyId::parse("short").is_none());
        assert!(FamilyId::parse("has.a.dot.in.it.xxxxxx").is_none());
        assert!(FamilyId::parse(&"a".repeat(65)).is_none());
    }

    #[test]
    fn reasons_round_trip() {
        for r in RevokeReason::ALL {
            assert_eq!(RevokeReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(RevokeReason::parse("nope"), None);
    }
}
