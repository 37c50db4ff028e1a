//! The audit trail (issue 17, docs/design/audit.md): what an operator reads back to learn
//! who changed what and which security events happened. An [`AuditEvent`] is one fact —
//! its [`AuditKind`], its [`AuditActor`], the person and client it is about, a target,
//! the client address, and an [`AuditDetail`] (a JSON object that can hold no secret) —
//! recorded through the [`AuditStore`] port and listed back through an [`AuditFilter`].
//!
//! This module only describes events; writing them is the business of the callers
//! (`usher-core` for security events, the admin operations for changes) and storing
//! them of `usher-store`.

use std::fmt;

use serde_json::{Map, Value};

use crate::client::ClientId;
use crate::ports::StoreError;
use crate::time::UnixTime;
use crate::user::UserId;

/// The most events one listing returns; a larger limit is cut to this.
pub const MAX_AUDIT_PAGE: usize = 500;

/// The events of a listing when no limit is given.
pub const DEFAULT_AUDIT_PAGE: usize = 100;

macro_rules! audit_kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// What happened. The wire name (`as_str`) is what is stored and what filters and
        /// exports use: dotted, the subject first (`person.created`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AuditKind {
            $( $(#[$doc])* $variant, )*
        }

        impl AuditKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [AuditKind] = &[$(AuditKind::$variant,)*];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( AuditKind::$variant => $name, )*
                }
            }

            /// The kind with this stored name.
            pub fn parse(raw: &str) -> Result<AuditKind, AuditError> {
                match raw {
                    $( $name => Ok(AuditKind::$variant), )*
                    _ => Err(AuditError::UnknownKind(raw.to_owned())),
                }
            }
        }
    };
}

audit_kinds! {
    // People (the CLI, the admin API, sign-up).
    /// A person was created (`usher user create`, sign-up, the admin API).
    PersonCreated = "person.created",
    /// A person's profile changed.
    PersonUpdated = "person.updated",
    /// A person was deleted.
    PersonDeleted = "person.deleted",
    /// A person was disabled (cannot sign in).
    PersonDisabled = "person.disabled",
    /// A person was enabled again.
    PersonEnabled = "person.enabled",
    /// A person's password was set by an operator, changed by the person, or reset
    /// through a mailed link (`detail.how`).
    PasswordChanged = "person.password_changed",
    /// Every second factor of a person was removed by an operator (`usher user mfa-reset`).
    MfaReset = "person.mfa_reset",
    /// A person's sessions and refresh-token families were revoked.
    SessionsRevoked = "person.sessions_revoked",
    /// One browser session of a person (its lineage) was ended by an administrator
    /// (`target`: the session's handle, the `sid`; families: `family.revoked`).
    SessionEnded = "person.session_ended",
    /// An administrator took an admin API access token for themselves in the console
    /// (`detail`: scope and expiry; never the token).
    AdminTokenIssued = "admin.token_issued",
    // Security events of sign-in.
    /// A sign-in succeeded (`detail.method`: password, passkey, second factor…).
    SignInSucceeded = "sign_in.succeeded",
    /// A sign-in failed (`detail.reason`).
    SignInFailed = "sign_in.failed",
    /// A sign-in was refused by the throttle before the password was checked.
    SignInThrottled = "sign_in.throttled",
    /// An upstream identity was linked to a person after they proved their account
    /// (`detail.upstream`; never the upstream's tokens).
    UpstreamLinked = "upstream.identity_linked",
    /// A person removed a linked upstream identity (`detail.upstream`).
    UpstreamUnlinked = "upstream.identity_unlinked",
    /// A second factor was added (`detail.factor`: totp, passkey, recovery_codes).
    MfaAdded = "mfa.added",
    /// A second factor was removed (`detail.factor`).
    MfaRemoved = "mfa.removed",
    // Refresh-token families.
    /// An earlier refresh token of a family was presented again: the family is revoked.
    RefreshReuseDetected = "refresh.reuse_detected",
    /// A refresh-token family was revoked (`detail.reason`).
    FamilyRevoked = "family.revoked",
    // Clients.
    /// An operator created a client.
    ClientCreated = "client.created",
    /// An operator changed a client (before/after in the detail).
    ClientUpdated = "client.updated",
    /// A client was deleted.
    ClientDeleted = "client.deleted",
    /// A client's secret was rotated (the secret itself is never recorded).
    ClientSecretRotated = "client.secret_rotated",
    /// A client registered itself (RFC 7591 dynamic registration).
    ClientRegistered = "client.registered",
    /// A self-registered client updated its registration (RFC 7592).
    ClientRegistrationUpdated = "client.registration_updated",
    /// A self-registered client deleted itself (RFC 7592).
    ClientRegistrationDeleted = "client.registration_deleted",
    /// An initial access token for dynamic registration was issued.
    RegistrationTokenIssued = "registration.token_issued",
    /// Initial access tokens were revoked.
    RegistrationTokenRevoked = "registration.token_revoked",
    // Invitations to sign up (docs/design/accounts.md).
    /// An operator invited an address to sign up (never the link).
    InvitationCreated = "invitation.created",
    /// An operator revoked the invitations to an address.
    InvitationRevoked = "invitation.revoked",
    // Groups.
    GroupCreated = "group.created",
    GroupUpdated = "group.updated",
    GroupDeleted = "group.deleted",
    GroupMemberAdded = "group.member_added",
    GroupMemberRemoved = "group.member_removed",
    // Resource servers.
    ResourceCreated = "resource.created",
    ResourceUpdated = "resource.updated",
    ResourceDeleted = "resource.deleted",
    // Upstream identity providers (`target`: the upstream's id; never the secret).
    UpstreamCreated = "upstream.created",
    UpstreamUpdated = "upstream.updated",
    UpstreamDeleted = "upstream.deleted",
    // Signing keys (`target`: the kid).
    /// A new key was generated (state `next`: published, not signing yet).
    KeyCreated = "key.created",
    /// A key became the active one (it signs from now on).
    KeyActivated = "key.activated",
    /// A key was retired (still published, never signs again).
    KeyRetired = "key.retired",
    /// A key was removed from the JWKS.
    KeyRemoved = "key.removed",
    /// An operator retired a key as compromised (`usher keys retire --compromised`).
    KeyCompromised = "key.compromised",
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditKind {
    type Err = AuditError;

    fn from_str(raw: &str) -> Result<AuditKind, AuditError> {
        AuditKind::parse(raw)
    }
}

/// Why an audit value was refused. Each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("{0:?} is not an audit event kind (e.g. person.created, sign_in.failed)")]
    UnknownKind(String),
    #[error("{0:?} is not an actor: use person:<id>, client:<id>, cli, system or anonymous")]
    BadActor(String),
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuditActor {
    /// A signed-in person (their own account page, a console admin), or the person a
    /// sign-in succeeded for.
    Person(UserId),
    /// A client acting for itself (client credentials on the admin API, a registration).
    Client(ClientId),
    /// An operator with a shell: the `usher` CLI.
    Cli,
    /// Usher itself (scheduled key rotation, reuse detection).
    System,
    /// Someone not (yet) authenticated: a failed or throttled sign-in.
    Anonymous,
}

impl AuditActor {
    /// The stored form: `person:<id>`, `client:<id>`, `cli`, `system`, `anonymous`.
    pub fn to_stored(&self) -> String {
        match self {
            AuditActor::Person(id) => format!("person:{}", id.as_str()),
            AuditActor::Client(id) => format!("client:{}", id.as_str()),
            AuditActor::Cli => "cli".to_owned(),
            AuditActor::System => "system".to_owned(),
            AuditActor::Anonymous => "anonymous".to_owned(),
        }
    }

    pub fn parse(raw: &str) -> Result<AuditActor, AuditError> {
        let bad = || AuditError::BadActor(raw.to_owned());
        match raw {
            "cli" => Ok(AuditActor::Cli),
            "system" => Ok(AuditActor::System),
            "anonymous" => Ok(AuditActor::Anonymous),
            _ => {
                if let Some(id) = raw.strip_prefix("person:") {
                    UserId::parse(id).map(AuditActor::Person).ok_or_else(bad)
                } else if let Some(id) = raw.strip_prefix("client:") {
                    ClientId::parse(id).map(AuditActor::Client).ok_or_else(bad)
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl fmt::Display for AuditActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_stored())
    }
}

/// Words that, inside a detail's key, mean the value may be a secret. A key that holds
/// one is dropped whatever its value ([`AuditDetail::new`]).
const SECRET_WORDS: &[&str] = &[
    "secret",
    "password",
    "token",
    "hash",
    "code",
    "credential",
    "key_material",
    "private",
    "cookie",
    "authorization",
];

/// An event's detail: a JSON object (before/after of a change, the reason of a
/// failure). It never holds a secret: [`AuditDetail::new`] drops every member, at any
/// depth, whose name contains a word of secrets (`secret`, `password`, `token`, `hash`,
/// `code`, …). This is a net, not the rule: callers put only what an operator may read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditDetail(Map<String, Value>);

impl AuditDetail {
    /// An empty detail.
    pub fn none() -> AuditDetail {
        AuditDetail(Map::new())
    }

    /// The detail of `value`: its members when it is an object (scrubbed), or
    /// `{"value": …}` otherwise.
    pub fn new(value: Value) -> AuditDetail {
        let map = match scrub(value) {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                let mut map = Map::new();
                map.insert("value".to_owned(), other);
                map
            }
        };
        AuditDetail(map)
    }

    /// A stored detail, read back (scrubbed again: a row written by hand cannot leak
    /// through a listing either). Not JSON, or not an object: `None`.
    pub fn from_stored(raw: &str) -> Option<AuditDetail> {
        match serde_json::from_str::<Value>(raw).ok()? {
            Value::Object(map) => Some(AuditDetail::new(Value::Object(map))),
            _ => None,
        }
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// The stored form: compact JSON.
    pub fn to_stored(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

/// Names that hold one of the words but never a secret (a client's registered
/// settings, as its views show them): kept, or a client's change would lose them.
const NOT_SECRETS: &[&str] = &[
    "token_endpoint_auth_method",
    "id_token_signed_response_alg",
    "access_token_alg",
];

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    !NOT_SECRETS.contains(&key.as_str()) && SECRET_WORDS.iter().any(|w| key.contains(w))
}

fn scrub(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k, scrub(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(scrub).collect()),
        other => other,
    }
}

/// The longest client address kept (an IPv6 address with a zone is well under this).
const MAX_ADDRESS_LEN: usize = 64;

/// The longest target kept.
const MAX_TARGET_LEN: usize = 256;

/// One fact of the trail, as it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub at: UnixTime,
    pub kind: AuditKind,
    pub actor: AuditActor,
    /// The person the event is about (the one signing in, the one created…).
    pub person: Option<UserId>,
    /// The client the event is about.
    pub client: Option<ClientId>,
    /// What else it is about: a group name, a key id, a family id, a resource URI.
    pub target: Option<String>,
    /// The client address of the request, when there was one.
    pub address: Option<String>,
    pub detail: AuditDetail,
}

impl AuditEvent {
    /// An event with no subject, target, address or detail yet.
    pub fn new(at: UnixTime, kind: AuditKind, actor: AuditActor) -> AuditEvent {
        AuditEvent {
            at,
            kind,
            actor,
            person: None,
            client: None,
            target: None,
            address: None,
            detail: AuditDetail::none(),
        }
    }

    pub fn person(mut self, person: &UserId) -> AuditEvent {
        self.person = Some(person.clone());
        self
    }

    pub fn client(mut self, client: &ClientId) -> AuditEvent {
        self.client = Some(client.clone());
        self
    }

    /// The target, cut to 256 characters and stripped of control characters.
    pub fn target(mut self, target: impl fmt::Display) -> AuditEvent {
        self.target = Some(plain(&target.to_string(), MAX_TARGET_LEN));
        self
    }

    /// The client address, cut to 64 characters and stripped of control characters.
    pub fn address(mut self, address: Option<impl fmt::Display>) -> AuditEvent {
        self.address = address.map(|a| plain(&a.to_string(), MAX_ADDRESS_LEN));
        self
    }

    /// The detail (scrubbed of anything named like a secret).
    pub fn detail(mut self, detail: Value) -> AuditEvent {
        self.detail = AuditDetail::new(detail);
        self
    }
}

fn plain(raw: &str, max: usize) -> String {
    raw.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// An event as stored: with its id. Ids increase with every event recorded and are never
/// reused, so they order the trail and page through it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedAuditEvent {
    pub id: i64,
    pub event: AuditEvent,
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditOrder {
    /// Newest first (the console, `usher audit list`): the next page asks for events
    /// `before` the last id seen.
    #[default]
    NewestFirst,
    /// Oldest first (`usher audit export`, a SIEM following the trail): the next page
    /// asks for events `after` the last id seen.
    OldestFirst,
}

/// Which events a listing returns. Every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditFilter {
    pub person: Option<UserId>,
    pub client: Option<ClientId>,
    pub kind: Option<AuditKind>,
    /// At or after this time.
    pub since: Option<UnixTime>,
    /// Strictly before this time.
    pub until: Option<UnixTime>,
    /// Only events with a greater id (paging oldest first).
    pub after_id: Option<i64>,
    /// Only events with a smaller id (paging newest first).
    pub before_id: Option<i64>,
    pub order: AuditOrder,
    /// At most this many ([`DEFAULT_AUDIT_PAGE`] when `None`; never more than
    /// [`MAX_AUDIT_PAGE`]).
    pub limit: Option<usize>,
}

impl AuditFilter {
    /// The number of events this listing returns at most: the limit asked for, at least
    /// 1, at most [`MAX_AUDIT_PAGE`].
    pub fn page_size(&self) -> usize {
        self.limit
            .unwrap_or(DEFAULT_AUDIT_PAGE)
            .clamp(1, MAX_AUDIT_PAGE)
    }

    /// Whether `event` (with id `id`) passes every condition but the limit: the rule the
    /// stores implement in SQL, written once for tests to compare with.
    pub fn admits(&self, id: i64, event: &AuditEvent) -> bool {
        self.person
            .as_ref()
            .is_none_or(|p| event.person.as_ref() == Some(p))
            && self
                .client
                .as_ref()
                .is_none_or(|c| event.client.as_ref() == Some(c))
            && self.kind.is_none_or(|k| event.kind == k)
            && self.since.is_none_or(|s| event.at >= s)
            && self.until.is_none_or(|u| event.at < u)
            && self.after_id.is_none_or(|a| id > a)
            && self.before_id.is_none_or(|b| id < b)
    }
}

/// The audit trail's storage. Events are only ever added and, past the retention, purged.
pub trait AuditStore: Send + Sync {
    /// Records one event; returns its id. Concurrent callers each get their own id.
    fn record_event(&self, event: &AuditEvent) -> Result<i64, StoreError>;
    /// The events that pass `filter`, in its order, at most [`AuditFilter::page_size`].
    fn list_events(&self, filter: &AuditFilter) -> Result<Vec<RecordedAuditEvent>, StoreError>;
    /// Deletes the events recorded before `cutoff` (`at < cutoff`); returns how many.
    fn purge_events_before(&self, cutoff: UnixTime) -> Result<usize, StoreError>;
}

/// The changes an administrative operation can write in one transaction with the audit
/// events that tell of them ([`AuditedStore::audited`]). Each method is the store
/// method of the same name (same arguments, same answers), run on the transaction; add
/// one here for every change whose event must not be lost or written without it
/// (docs/design/audit.md, "Transactions").
pub trait AuditedChanges {
    /// Records `event` in this transaction; returns its id.
    fn record(&mut self, event: &AuditEvent) -> Result<i64, StoreError>;

    /// [`crate::ClientStore::insert_client`].
    fn insert_client(&mut self, client: &crate::Client) -> Result<(), StoreError>;
    /// [`crate::ClientStore::set_client_access_if`].
    fn set_client_access_if(
        &mut self,
        id: &ClientId,
        expected: crate::ClientAccess<'_>,
        new: crate::ClientAccess<'_>,
    ) -> Result<bool, StoreError>;
    /// [`crate::ClientStore::set_client_secret_hash`].
    fn set_client_secret_hash(&mut self, id: &ClientId, hash: &str) -> Result<bool, StoreError>;
    /// [`crate::ClientStore::delete_client`].
    fn delete_client(&mut self, id: &ClientId) -> Result<bool, StoreError>;

    /// [`crate::GroupStore::insert_group`].
    fn insert_group(&mut self, group: &crate::Group) -> Result<bool, StoreError>;
    /// [`crate::GroupStore::delete_group`].
    fn delete_group(&mut self, name: &crate::GroupName) -> Result<bool, StoreError>;
    /// [`crate::GroupStore::add_member`].
    fn add_member(
        &mut self,
        group: &crate::GroupName,
        user: &crate::Username,
        now: UnixTime,
    ) -> Result<crate::Membership, StoreError>;
    /// [`crate::GroupStore::remove_member`].
    fn remove_member(
        &mut self,
        group: &crate::GroupName,
        user: &crate::Username,
    ) -> Result<crate::Membership, StoreError>;

    /// [`crate::ResourceStore::insert_resource`].
    fn insert_resource(&mut self, resource: &crate::Resource) -> Result<bool, StoreError>;
    /// [`crate::ResourceStore::update_resource_if`].
    fn update_resource_if(
        &mut self,
        resource: &crate::Resource,
        expected: &crate::Resource,
    ) -> Result<bool, StoreError>;
    /// [`crate::ResourceStore::delete_resource`].
    fn delete_resource(&mut self, uri: &crate::ResourceUri) -> Result<bool, StoreError>;

    /// [`crate::UserStore::insert_user`].
    fn insert_user(&mut self, user: &crate::User) -> Result<(), StoreError>;
    /// [`crate::UserStore::delete_user`].
    fn delete_user(&mut self, username: &crate::Username) -> Result<bool, StoreError>;
    /// [`crate::UserStore::set_password_hash`].
    fn set_password_hash(
        &mut self,
        username: &crate::Username,
        hash: &str,
    ) -> Result<bool, StoreError>;
    /// [`crate::UserStore::update_person_if`].
    fn update_person_if(
        &mut self,
        expected: &crate::User,
        new: &crate::User,
    ) -> Result<bool, StoreError>;
    /// [`crate::UserStore::set_disabled`].
    fn set_disabled(&mut self, user: &UserId, at: Option<UnixTime>) -> Result<bool, StoreError>;
    /// [`crate::FactorStore::delete_factors`].
    fn delete_factors(&mut self, user: &UserId) -> Result<usize, StoreError>;
    /// [`crate::SessionStore::delete_user_sessions`].
    fn delete_user_sessions(&mut self, user: &UserId) -> Result<usize, StoreError>;

    /// [`crate::RegistrationStore::insert_initial_access_token`].
    fn insert_initial_access_token(
        &mut self,
        token: &crate::InitialAccessToken,
    ) -> Result<(), StoreError>;
    /// [`crate::RegistrationStore::delete_initial_access_token`].
    fn delete_initial_access_token(&mut self, id: &str) -> Result<bool, StoreError>;
    /// [`crate::InvitationStore::insert_invitation`].
    fn insert_invitation(&mut self, invitation: &crate::Invitation) -> Result<(), StoreError>;
    /// [`crate::InvitationStore::revoke_invitations`].
    fn revoke_invitations(&mut self, email: &crate::Email) -> Result<usize, StoreError>;

    /// [`crate::UpstreamStore::insert_upstream`].
    fn insert_upstream(&mut self, upstream: &crate::Upstream) -> Result<bool, StoreError>;
    /// [`crate::UpstreamStore::update_upstream`].
    fn update_upstream(&mut self, upstream: &crate::Upstream) -> Result<bool, StoreError>;
    /// [`crate::UpstreamStore::delete_upstream`].
    fn delete_upstream(&mut self, id: &crate::UpstreamId) -> Result<bool, StoreError>;
}

/// Runs changes and their audit events in one transaction: a database.
pub trait AuditedStore: Send + Sync {
    /// Runs `change` once, in one transaction: what it wrote and recorded through
    /// [`AuditedChanges`] is committed together when it returns `Ok` (and the commit
    /// succeeds), and none of it otherwise. Use [`audited`], which returns a value.
    fn run_audited(
        &self,
        change: &mut dyn FnMut(&mut dyn AuditedChanges) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// Runs `change` in one transaction with the events it records ([`AuditedStore`]),
/// returning its value. The change decides which events to record, so an event can
/// depend on what the change found (`delete_client` answering `false` records nothing).
pub fn audited<T>(
    store: &dyn AuditedStore,
    change: impl FnOnce(&mut dyn AuditedChanges) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut change = Some(change);
    let mut out = None;
    store.run_audited(&mut |tx| {
        let change = change
            .take()
            .ok_or_else(|| StoreError::Unavailable("a transaction ran its change twice".into()))?;
        out = Some(change(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| StoreError::Unavailable("a transaction did not run its change".into()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_name_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Ok(*kind));
            assert!(names.insert(kind.as_str()), "{kind} twice");
        }
        assert!(AuditKind::parse("person.exploded").is_err());
        assert!(AuditKind::parse("").is_err());
    }

    #[test]
    fn actors_round_trip_and_nothing_else_parses() {
        for actor in [
            AuditActor::Person(UserId::parse("u-1").unwrap()),
            AuditActor::Client(ClientId::parse("app").unwrap()),
            AuditActor::Cli,
            AuditActor::System,
            AuditActor::Anonymous,
        ] {
            assert_eq!(AuditActor::parse(&actor.to_stored()), Ok(actor));
        }
        for bad in ["", "root", "person:", "client:", "CLI"] {
            assert!(AuditActor::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_detail_drops_members_named_like_secrets_at_any_depth() {
        let detail = AuditDetail::new(json!({
            "username": "alice",
            "password": "hunter2",
            "client_secret": "s",
            "before": {"name": "A", "secret_hash": "h", "list": [{"refresh_token": "t", "ok": 1}]},
            "RecoveryCodes": 10,
        }));
        assert_eq!(
            detail.to_value(),
            json!({"username": "alice", "before": {"name": "A", "list": [{"ok": 1}]}})
        );
        let stored = detail.to_stored();
        assert_eq!(AuditDetail::from_stored(&stored), Some(detail));
        assert_eq!(
            AuditDetail::from_stored(r#"{"token":"x","a":1}"#)
                .unwrap()
                .to_value(),
            json!({"a": 1})
        );
        assert_eq!(AuditDetail::from_stored("[1]"), None);
        assert_eq!(AuditDetail::new(json!(3)).to_value(), json!({"value": 3}));
    }

    #[test]
    fn targets_and_addresses_are_short_and_plain() {
        let e = AuditEvent::new(UnixTime(1), AuditKind::GroupCreated, AuditActor::Cli)
            .target(format!("a\nb{}", "x".repeat(300)))
            .address(Some("10.0.0.1\r"));
        assert_eq!(e.target.as_deref().map(str::len), Some(256));
        assert!(e.target.as_deref().unwrap().starts_with("abx"));
        assert_eq!(e.address.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn a_page_is_between_one_and_the_cap() {
        let mut f = AuditFilter::default();
        assert_eq!(f.page_size(), DEFAULT_AUDIT_PAGE);
        f.limit = Some(0);
        assert_eq!(f.page_size(), 1);
        f.limit = Some(10_000);
        assert_eq!(f.page_size(), MAX_AUDIT_PAGE);
    }

    #[test]
    fn the_filter_rule_checks_every_condition() {
        let alice = UserId::parse("u-1").unwrap();
        let e = AuditEvent::new(
            UnixTime(100),
            AuditKind::SignInFailed,
            AuditActor::Anonymous,
        )
        .person(&alice);
        let all = AuditFilter::default();
        assert!(all.admits(5, &e));
        let f = AuditFilter {
            person: Some(alice.clone()),
            kind: Some(AuditKind::SignInFailed),
            since: Some(UnixTime(100)),
            until: Some(UnixTime(101)),
            after_id: Some(4),
            before_id: Some(6),
            ..AuditFilter::default()
        };
        assert!(f.admits(5, &e));
        assert!(!f.admits(6, &e));
        assert!(!f.admits(4, &e));
        let later = AuditFilter {
            since: Some(UnixTime(101)),
            ..AuditFilter::default()
        };
        assert!(!later.admits(5, &e));
        let until = AuditFilter {
            until: Some(UnixTime(100)),
            ..AuditFilter::default()
        };
        assert!(!until.admits(5, &e));
        let other = AuditFilter {
            client: Some(ClientId::parse("app").unwrap()),
            ..AuditFilter::default()
        };
        assert!(!other.admits(5, &e));
    }
}
