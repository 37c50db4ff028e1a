//! The storage ports: what the HTTP layer and the CLI need from storage, as traits.
//!
//! `usher-store` implements them over diesel (SQLite and PostgreSQL). The traits are
//! synchronous; callers on an async executor run them through `spawn_blocking`.

use crate::client::{Client, ClientId};
use crate::keys::{KeyState, SigningKeyRecord};
use crate::mfa::TotpFactor;
use crate::passkey::{Passkey, PasskeyName, WebauthnCeremony};
use crate::resource::ResourceUri;
use crate::scope::ScopeSet;
use crate::session::{
    AuthorizationCode, CodeRedemption, FormToken, Interaction, LoginFailures, Session,
};
use crate::throttle::{Reservation, ThrottlePolicy};
use crate::time::UnixTime;
use crate::user::{PersonName, ProfileClaims, User, UserId, Username};

/// A storage failure, stripped of driver types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. a duplicate username).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database could not be reached or answered with an error.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A stored row does not parse into a domain value.
    #[error("a stored row is corrupt: {0}")]
    Corrupt(String),
}

/// Who may use a client, as `set_client_access_if` compares and writes it: its
/// registered allowed origins (empty: the default) and its allowed groups.
#[derive(Debug, Clone, Copy)]
pub struct ClientAccess<'a> {
    pub origins: &'a [crate::origin::Origin],
    pub groups: &'a [crate::group::GroupName],
}

/// Registered clients.
pub trait ClientStore: Send + Sync {
    fn insert_client(&self, client: &Client) -> Result<(), StoreError>;
    fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Returns whether a client was deleted.
    fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError>;
    /// Replaces the secret hash; returns whether the client exists.
    fn set_client_secret_hash(&self, id: &ClientId, hash: &str) -> Result<bool, StoreError>;
    /// Replaces the registered `--allowed-origin`s (empty: back to the default from the
    /// redirect URIs); returns whether the client exists.
    fn set_client_allowed_origins(
        &self,
        id: &ClientId,
        origins: &[crate::origin::Origin],
    ) -> Result<bool, StoreError>;
    /// Replaces the `--allowed-group`s (empty: anyone may use the client); returns
    /// whether the client exists.
    fn set_client_allowed_groups(
        &self,
        id: &ClientId,
        groups: &[crate::group::GroupName],
    ) -> Result<bool, StoreError>;
    /// Replaces the allowed origins and the allowed groups together, only while both are
    /// still `expected` (a compare-and-set: the admin API's `If-Match`, so that two
    /// administrators never overwrite each other silently); `false` when the client is
    /// gone or either was changed meanwhile (nothing written).
    fn set_client_access_if(
        &self,
        id: &ClientId,
        expected: ClientAccess<'_>,
        new: ClientAccess<'_>,
    ) -> Result<bool, StoreError>;
    /// Writes the row of a metadata-document client (`registration.metadata_document`):
    /// inserted when absent, its name, grants, scopes and redirect URIs replaced when
    /// present, in one transaction, so that the rows that reference the client (codes,
    /// consents) stay. A registered client with the same id is never touched (there is
    /// none: registered ids are never URLs); a concurrent insert of the same id by
    /// another node is not an error.
    fn upsert_metadata_client(&self, client: &Client) -> Result<(), StoreError>;
    /// Replaces an operator-created client's registration (its row, with the secret
    /// hash and creation time given, and its redirect URIs) in one transaction, keeping
    /// the rows that reference it (consents, codes, families); `false` when there is no
    /// such client (a self-described one is never touched: `usher apply`).
    fn replace_operator_client(&self, client: &Client) -> Result<bool, StoreError>;
}

/// People who sign in.
pub trait UserStore: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the username is taken.
    fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    fn get_user(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError>;
    fn list_users(&self) -> Result<Vec<User>, StoreError>;
    fn delete_user(&self, username: &Username) -> Result<bool, StoreError>;
    fn set_password_hash(&self, username: &Username, hash: &str) -> Result<bool, StoreError>;
    /// Sets the person's `name` and profile claims (everything but the username, the
    /// password and the e-mail address); `false` when there is no such person.
    fn update_profile(
        &self,
        user: &UserId,
        name: Option<&PersonName>,
        claims: &ProfileClaims,
    ) -> Result<bool, StoreError>;
    /// Compare-and-set of a person's profile: writes `new`'s name, e-mail address (and
    /// whether it is verified) and profile claims only while the stored row of
    /// `expected.id` still has exactly `expected`'s. Returns whether it wrote (`false`:
    /// gone, or changed meanwhile). One statement, so of two administrators who read the
    /// same person exactly one wins.
    fn update_person_if(&self, expected: &User, new: &User) -> Result<bool, StoreError>;
    /// Disables the person (`Some(at)`: only if they are not disabled already) or enables
    /// them (`None`: only if they are disabled). Returns whether it changed the row.
    fn set_disabled(&self, user: &UserId, at: Option<UnixTime>) -> Result<bool, StoreError>;
}

/// Signing keys.
pub trait KeyStore: Send + Sync {
    fn insert_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    /// Every key, newest first.
    fn list_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Compare-and-set: writes `key` (state and timestamps) only if the stored row with
    /// the same `kid` is still in state `expected`. Returns whether it wrote. This is how
    /// exactly one node of a cluster performs each transition.
    fn update_key_if(&self, key: &SigningKeyRecord, expected: KeyState)
    -> Result<bool, StoreError>;
    /// Inserts `key` (a new key in state `next`) unless some key of the same algorithm
    /// is already `next`.
    /// Serialised with [`KeyStore::promote_key`] across every node, so two nodes that
    /// both planned a new key insert one between them. Returns whether it inserted.
    fn insert_next_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError>;
    /// One transaction: writes `old` (the active key as it becomes, retired or removed)
    /// only if it is still `active`, then `new` (the key that becomes active) only if it
    /// is still `next`. Both or neither; returns whether it wrote. With `old` absent,
    /// `new` is promoted only if no key of its algorithm is active. `old` and `new` have
    /// the same algorithm: every algorithm has its own active key. The index of one
    /// active key per algorithm makes any other order impossible, so this is the only way
    /// an active key changes.
    fn promote_key(
        &self,
        new: &SigningKeyRecord,
        old: Option<&SigningKeyRecord>,
    ) -> Result<bool, StoreError>;
}

/// A cheap round trip, for `/readyz`.
pub trait Ping: Send + Sync {
    fn ping(&self) -> Result<(), StoreError>;
}

/// Browser sessions, keyed by the hash of the cookie's id.
pub trait SessionStore: Send + Sync {
    fn insert_session(&self, session: &Session) -> Result<(), StoreError>;
    /// A sign-in's new session, in one transaction: deletes the browser's previous
    /// session (`previous`, by id hash) and inserts `session`, which keeps its lineage
    /// only if the previous session was still there; otherwise (it expired, or a logout
    /// ended it meanwhile) the session gets `fresh_lineage`. Returns the stored session.
    /// At no moment can another transaction see the lineage without a session.
    fn replace_session(
        &self,
        previous: Option<&str>,
        session: &Session,
        fresh_lineage: &str,
    ) -> Result<Session, StoreError>;
    /// The session, if it exists and `now < expires_at`.
    fn get_session(&self, id_hash: &str, now: UnixTime) -> Result<Option<Session>, StoreError>;
    fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;
    /// Whether some session of the lineage is live at `now` (the code exchange asks:
    /// a code whose sign-in has ended starts nothing).
    fn lineage_signed_in(&self, lineage_hash: &str, now: UnixTime) -> Result<bool, StoreError>;
    /// Ends every session of a lineage; returns how many.
    fn delete_lineage_sessions(&self, lineage_hash: &str) -> Result<usize, StoreError>;
    /// Ends every session of a person; returns how many.
    fn delete_user_sessions(&self, user: &UserId) -> Result<usize, StoreError>;
    /// The person's live sessions at `now`, newest first.
    fn list_user_sessions(&self, user: &UserId, now: UnixTime) -> Result<Vec<Session>, StoreError>;
}

/// Pending login/consent interactions.
pub trait InteractionStore: Send + Sync {
    /// Inserts the interaction if no row has its id (live, finished or expired but not yet
    /// purged); false if one has. Of two requests inserting one id, exactly one gets true.
    fn insert_interaction(&self, interaction: &Interaction) -> Result<bool, StoreError>;
    /// The interaction, if it exists, is not finished and `now < expires_at`.
    fn get_interaction(&self, id: &str, now: UnixTime) -> Result<Option<Interaction>, StoreError>;
    /// Compare-and-set: if the stored `csrf_hash` is still `expected_csrf_hash` (and the
    /// interaction has not expired), replace the whole row's mutable fields (`csrf_hash`,
    /// `step`, `user_id`, `auth_time`) with those of `next` and return true. A CSRF
    /// token can therefore be used once: a second use finds another hash and gets false.
    fn advance_interaction(
        &self,
        expected_csrf_hash: &str,
        next: &Interaction,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Compare-and-set on the CSRF hash to [`Interaction::SPENT`], for the last step; true
    /// if it finished the interaction. The row (without its request) stays until it
    /// expires, so its id cannot be inserted again.
    fn finish_interaction(
        &self,
        id: &str,
        expected_csrf_hash: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Spends every unfinished interaction that has reached a person (a right password,
    /// waiting at its second step or consent): none of them can finish any more. For
    /// ending everything a person is signed in with; returns how many.
    fn spend_user_interactions(&self, user: &UserId) -> Result<usize, StoreError>;
}

/// Remembered consent, per person and client.
pub trait ConsentStore: Send + Sync {
    /// What the person has granted the client, if anything.
    fn get_consent(
        &self,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Option<ConsentGrant>, StoreError>;
    /// Records a grant: the stored grant becomes `grant` (callers pass the union,
    /// [`ConsentGrant::widened`]).
    fn save_consent(
        &self,
        user: &UserId,
        client: &ClientId,
        grant: &ConsentGrant,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Every client the person has granted something, most recently granted first.
    fn list_consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError>;
    /// Forgets the person's grant to the client (the next sign-in asks again); whether
    /// there was one.
    fn delete_consent(&self, user: &UserId, client: &ClientId) -> Result<bool, StoreError>;
}

/// What a person granted a client: scopes, and the resources (RFC 8707) the access is
/// for. A request is covered — the consent page may be skipped — only when both its
/// scopes and its resources are among them: consent to `read` at one API is not consent
/// to `read` at another (docs/design/resources.md).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsentGrant {
    pub scopes: ScopeSet,
    /// In the order they were first granted, without repeats.
    pub resources: Vec<ResourceUri>,
}

impl ConsentGrant {
    /// Whether a request for `scopes` at `resources` was already granted.
    pub fn covers(&self, scopes: &ScopeSet, resources: &[ResourceUri]) -> bool {
        scopes.is_subset(&self.scopes) && resources.iter().all(|r| self.resources.contains(r))
    }

    /// This grant widened by a new one (a new consent adds to what was granted).
    pub fn widened(mut self, scopes: &ScopeSet, resources: &[ResourceUri]) -> ConsentGrant {
        self.scopes = self.scopes.union(scopes);
        for r in resources {
            if !self.resources.contains(r) {
                self.resources.push(r.clone());
            }
        }
        self
    }
}

impl From<ScopeSet> for ConsentGrant {
    /// A grant of scopes for no particular resource.
    fn from(scopes: ScopeSet) -> ConsentGrant {
        ConsentGrant {
            scopes,
            resources: Vec::new(),
        }
    }
}

/// A person's remembered grant to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub client_id: ClientId,
    pub scopes: ScopeSet,
    /// The resources (RFC 8707) the scopes were granted for; empty when none was named.
    pub resources: Vec<ResourceUri>,
    /// When the grant was last widened or made.
    pub updated_at: UnixTime,
}

/// Authorization codes: single use, atomically.
pub trait CodeStore: Send + Sync {
    fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
    /// The code, consumed or not, read without changing anything. The token endpoint
    /// checks the presenting client, the redirect URI and the PKCE verifier against it
    /// *before* [`CodeStore::redeem_code`] spends it, so a request that could never have
    /// redeemed the code burns nothing and revokes nothing (the fields it checks never
    /// change, so reading them first is as good as reading them in the redemption).
    fn find_code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>, StoreError>;
    /// Atomically marks the code consumed at `now` (one `UPDATE … WHERE consumed_at IS
    /// NULL`): exactly one caller ever gets [`CodeRedemption::Redeemed`]. Expired codes
    /// are still reported (the caller checks `expires_at`), so a replay after expiry is
    /// still detected.
    fn redeem_code(&self, code_hash: &str, now: UnixTime) -> Result<CodeRedemption, StoreError>;
    /// Records an access token issued from a redeemed code (to revoke it on replay).
    /// Returns `false` when the code was replayed meanwhile (a replay can race the first
    /// redemption): the caller must then revoke the token and not hand it out.
    fn record_code_token(
        &self,
        code_hash: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError>;
}

/// Single-use values that are recorded only when they are used (a logout confirmation
/// token is a MAC over the session and a nonce; spending records the nonce).
pub trait NonceStore: Send + Sync {
    /// Records `nonce_hash` as spent, remembered until `expires_at`. Returns `true` for
    /// exactly one caller per nonce, however many race; `false` when it was spent before.
    fn spend_nonce(&self, nonce_hash: &str, expires_at: UnixTime) -> Result<bool, StoreError>;
}

/// The single-use tokens of the account page's forms (CSRF): stored when a page is
/// rendered, taken when its form is posted.
pub trait FormTokenStore: Send + Sync {
    /// Stores a new token (its hash is random: a duplicate is a `Conflict`).
    fn insert_form_token(&self, token: &FormToken) -> Result<(), StoreError>;
    /// Takes the token whose hash is `token_hash`: ONE `DELETE … WHERE token_hash = ?
    /// RETURNING …`, so of any number of callers racing for one token exactly one gets
    /// it, and every later caller gets `None`. The row is returned as it was (expired or
    /// bound to another session too): the caller decides, and the token is spent anyway.
    fn take_form_token(&self, token_hash: &str) -> Result<Option<FormToken>, StoreError>;
}

/// Access tokens refused before their `exp` (by `jti`).
pub trait RevocationStore: Send + Sync {
    /// Idempotent.
    fn revoke_jti(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError>;
    fn is_jti_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// The revoked `jti`s whose tokens have not expired at `now` (`expires_at > now`),
    /// at most `limit` of them, in no particular order. A node keeps this set in memory
    /// so checking a token needs no store call (the caller treats `limit` results as
    /// "too many to hold" and falls back to [`RevocationStore::is_jti_revoked`]).
    fn revoked_jtis(&self, now: UnixTime, limit: usize) -> Result<Vec<String>, StoreError>;
}

/// Login-attempt counters, shared by every node. Each method is one atomic statement:
/// there is no read-then-write, so concurrent attempts can neither skip the limit nor
/// lose a count (`crate::throttle` states the rule).
pub trait ThrottleStore: Send + Sync {
    /// Reserves one attempt for `key` at `now`, before its password is checked:
    /// [`ThrottlePolicy::reserve`] applied to the stored counters atomically.
    fn reserve_attempt(
        &self,
        key: &str,
        now: UnixTime,
        policy: &ThrottlePolicy,
    ) -> Result<Reservation, StoreError>;
    /// Gives back a reservation that returned `granted`: [`ThrottlePolicy::release`]
    /// applied atomically (nothing happens if the key's window has changed since).
    fn release_attempt(
        &self,
        key: &str,
        granted: &LoginFailures,
        policy: &ThrottlePolicy,
    ) -> Result<(), StoreError>;
    /// Forgets `key`'s counters (after a successful login to that account).
    fn clear_failures(&self, key: &str) -> Result<(), StoreError>;
}

/// Second factors (docs/design/mfa.md): a person's authenticator app and recovery codes.
///
/// Each single-use rule is ONE atomic statement, so that however many requests race, a
/// TOTP time step is accepted once and a recovery code is spent once (PostgreSQL
/// re-checks an `UPDATE`'s condition after waiting on the row lock; SQLite serialises
/// writers). Deleting a person deletes their factors (foreign keys, `ON DELETE CASCADE`).
pub trait FactorStore: Send + Sync {
    /// Stores a new authenticator app for `factor.user_id`, replacing one that was never
    /// confirmed; one statement. `false`, changing nothing, if a confirmed one exists
    /// (it must be removed first, from a recent sign-in).
    fn insert_totp(&self, factor: &TotpFactor) -> Result<bool, StoreError>;
    /// The person's authenticator app, confirmed or not.
    fn get_totp(&self, user: &UserId) -> Result<Option<TotpFactor>, StoreError>;
    /// Every authenticator app, by person id (for `usher kek rotate`, which re-seals
    /// their secrets).
    fn list_totp_factors(&self) -> Result<Vec<TotpFactor>, StoreError>;
    /// Confirms an unconfirmed factor with the first code's `step`, recorded as used —
    /// only if its secret is still `sealed_secret`, the one the code was checked against
    /// (a setup started again meanwhile has another): one `UPDATE … WHERE confirmed =
    /// false AND sealed_secret = ? AND (last_used_step IS NULL OR last_used_step <
    /// step)`. Whether it confirmed.
    fn confirm_totp(
        &self,
        user: &UserId,
        step: i64,
        sealed_secret: &str,
    ) -> Result<bool, StoreError>;
    /// Accepts `step` for a confirmed factor if it is later than the last step accepted:
    /// one compare-and-set `UPDATE … SET last_used_step = step WHERE confirmed AND
    /// (last_used_step IS NULL OR last_used_step < step)`. Of any number of callers with
    /// the same step exactly one gets `true`; a step at or before the last is `false`.
    fn accept_totp_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError>;
    /// Compare-and-set of the sealed secret (a KEK rotation re-seals it): writes
    /// `resealed` only if the stored value is still `expected`. Whether it wrote.
    fn reseal_totp(
        &self,
        user: &UserId,
        expected: &str,
        resealed: &str,
    ) -> Result<bool, StoreError>;
    /// Removes the person's authenticator app; whether there was one.
    fn delete_totp(&self, user: &UserId) -> Result<bool, StoreError>;
    /// Replaces every recovery code of the person with `code_hashes` (keyed hashes), in
    /// one transaction: the old codes, spent or not, stop working.
    fn replace_recovery_codes(
        &self,
        user: &UserId,
        code_hashes: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Spends the recovery code whose hash is `code_hash`: one `UPDATE … SET used_at =
    /// now WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`. Exactly one caller
    /// gets `true`, however many race; an unknown or spent code is `false`.
    fn spend_recovery_code(
        &self,
        user: &UserId,
        code_hash: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// How many of the person's recovery codes are unspent.
    fn recovery_codes_left(&self, user: &UserId) -> Result<usize, StoreError>;
    /// Removes every factor of the person (authenticator app, recovery codes and
    /// passkeys) in one transaction, for a lost device (`usher user mfa-reset`); how many rows went.
    fn delete_factors(&self, user: &UserId) -> Result<usize, StoreError>;
}

/// What [`PasskeyStore::insert_passkey`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyInsert {
    Stored,
    /// The credential id is already stored; nothing was written.
    Duplicate,
    /// The person has the most passkeys allowed; nothing was written.
    Full,
}

/// Passkeys and the WebAuthn ceremonies in flight (issue 14, docs/design/mfa.md). Each
/// single-use rule is one statement: a ceremony is taken by one `DELETE … RETURNING`, a
/// credential is updated by one compare-and-set on the value it was read as.
pub trait PasskeyStore: Send + Sync {
    /// Stores a new passkey unless its credential id is already stored (for this person
    /// or another: `credential_id` is unique) or its person already has `most` passkeys.
    /// The count and the insert are one transaction serialised per person (an advisory lock
    /// per person on PostgreSQL, the write lock on SQLite): concurrent inserts never
    /// pass the cap together.
    fn insert_passkey(&self, passkey: &Passkey, most: usize) -> Result<PasskeyInsert, StoreError>;
    /// The person's passkeys, oldest first.
    fn list_passkeys(&self, user: &UserId) -> Result<Vec<Passkey>, StoreError>;
    /// The passkey whose WebAuthn credential id (base64url) is `credential_id`.
    fn find_passkey(&self, credential_id: &str) -> Result<Option<Passkey>, StoreError>;
    /// Renames the person's passkey `id`; whether it is theirs and exists.
    fn rename_passkey(
        &self,
        user: &UserId,
        id: &str,
        name: &PasskeyName,
    ) -> Result<bool, StoreError>;
    /// Removes the person's passkey `id`; whether it was theirs and existed.
    fn delete_passkey(&self, user: &UserId, id: &str) -> Result<bool, StoreError>;
    /// After an assertion: writes `credential` (new counter, backup state) and
    /// `last_used_at = used_at` only if the stored credential is still `expected` and the
    /// passkey is not suspect — one `UPDATE … WHERE id = ? AND credential = ? AND NOT
    /// suspect`. Of any number of callers with the same `expected` exactly one gets
    /// `true`.
    fn update_passkey_credential(
        &self,
        id: &str,
        expected: &str,
        credential: &str,
        used_at: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Marks the passkey `id` suspect (its signature counter went backwards); whether it
    /// exists.
    fn mark_passkey_suspect(&self, id: &str) -> Result<bool, StoreError>;
    /// Stores a ceremony that was just started.
    fn insert_ceremony(&self, ceremony: &WebauthnCeremony) -> Result<(), StoreError>;
    /// Takes the ceremony whose id hash is `id_hash`, expired or not: one `DELETE …
    /// RETURNING`, so of any number of callers exactly one gets it.
    fn take_ceremony(&self, id_hash: &str) -> Result<Option<WebauthnCeremony>, StoreError>;
    /// Deletes the ceremonies expired at `now` (`expires_at <= now`); how many.
    fn purge_ceremonies(&self, now: UnixTime) -> Result<usize, StoreError>;
}
