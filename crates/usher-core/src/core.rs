//! A node of the authorization server as the protocol core sees it: its settings, its
//! clock, its published keys, its stores, and the cached reads of clients, people and
//! revoked token ids. Every decision of the core takes a `&Core`; the HTTP crate holds one
//! and hands it in. This is the one place `Core`'s API lives (`cache.rs` keeps only the
//! mechanics of the caches).

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use usher_domain::ports::Ping;
use usher_domain::{
    BackchannelStore, Client, ClientId, ClientStore, CodeStore, ConsentStore, DeviceGrantStore,
    FactorStore, FamilyStore, FormTokenStore, InteractionStore, InvitationStore, Issuer,
    KnownBrowserStore, MailTokenStore, NonceStore, PasskeyStore, ResourceStore, RevocationStore,
    Session, SessionStore, StoreError, ThrottleStore, UnixTime, User, UserId, UserStore,
};
use usher_keys::{FactorSealer, FormSealer, SecretHasher};

use crate::cache::{Check, Fresh, MAX_REVOKED};
use crate::failure::{Failure, blocking};
use crate::keys::PublishedKeys;

/// The path of the userinfo endpoint: tokens for it carry this endpoint as audience (the
/// router serves it at the same constant).
pub const USERINFO_PATH: &str = "/userinfo";

/// The settings of a node, already parsed by the binary.
#[derive(Debug, Clone)]
pub struct Settings {
    pub issuer: Issuer,
    /// `Cache-Control: max-age` of `/jwks.json`, in seconds.
    pub jwks_max_age: u64,
    /// Lifetime of access tokens and ID tokens, in seconds.
    pub access_token_ttl: i64,
    /// The algorithm of access tokens (`access_token_alg`; RS256 unless configured).
    pub access_token_alg: usher_domain::SigningAlg,
    /// The algorithm of ID tokens and logout tokens for clients registered without
    /// `id_token_signed_response_alg` (`id_token_alg`; RS256 unless configured).
    pub id_token_alg: usher_domain::SigningAlg,
    /// Lifetime of a browser session, in seconds.
    pub session_ttl: i64,
    /// Lifetime of authorization codes, in seconds (RFC 6749 §4.1.2: at most 10 minutes).
    pub code_ttl: i64,
    /// How long a person has to complete the login and consent pages, in seconds.
    pub interaction_ttl: i64,
    /// Failed logins (per account, and per client address) before a lockout.
    pub login_max_failures: u32,
    /// The first lockout, in seconds; it doubles with every further failure (capped).
    pub login_lockout: i64,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers name the client address
    /// (client_address.rs).
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// The audience of `client_credentials` tokens asked for without `resource`, for
    /// clients registered with no audience (see docs/design/key-rotation.md).
    pub default_audience: Option<String>,
    /// Refresh-token families: absolute lifetime, idle timeout and grace window (0 =
    /// off), in seconds (docs/design/refresh-families.md).
    pub refresh: RefreshSettings,
    /// Whether `GET /metrics` is also served on the main listener (off unless the
    /// operator says so: the main listener is public).
    pub metrics_on_main: bool,
    /// Whether the admin API is served on the main listener (off when `admin_bind`
    /// gives it one of its own).
    pub admin_on_main: bool,
    /// Whether every sign-in needs a second factor (docs/design/mfa.md, "Policy").
    pub mfa: usher_domain::MfaPolicy,
    /// Back-channel logout delivery: retry delays, lease, batch, timeouts
    /// (`backchannel.rs`).
    pub backchannel: crate::backchannel::BackchannelSettings,
    /// Who may create an account (`signup.rs`; off unless the operator says so).
    pub signup: usher_domain::SignupMode,
    /// How long a device authorization (RFC 8628) waits for the person, in seconds
    /// (`expires_in`).
    pub device_code_ttl: i64,
    /// The polling interval a device is told first, in seconds (`interval`).
    pub device_poll_interval: i64,
    /// Client ID Metadata Documents (`client_metadata.rs`; off unless the operator
    /// says so).
    pub client_metadata: crate::client_metadata::MetadataSettings,
    /// Dynamic client registration (`registration.rs`; off unless the operator says so).
    pub registration: RegistrationSettings,
}

/// Dynamic client registration (docs/design/registration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationSettings {
    /// Who may register (`registration`).
    pub mode: usher_domain::RegistrationMode,
    /// Registrations accepted per client address per hour (`registration_rate_limit`).
    pub per_hour: u32,
    /// Seconds after which a dynamically registered client nobody used is removed
    /// (`registration_unused_after`; 0: never).
    pub unused_after: i64,
    /// At most this many dynamically registered clients at once
    /// (`registration_max_clients`).
    pub max_clients: u32,
}

impl Default for RegistrationSettings {
    fn default() -> RegistrationSettings {
        RegistrationSettings {
            mode: usher_domain::RegistrationMode::Off,
            per_hour: 10,
            unused_after: 30 * 24 * 3600,
            max_clients: 10_000,
        }
    }
}

/// The lifetimes of refresh-token families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshSettings {
    pub absolute_ttl: i64,
    pub idle_ttl: i64,
    pub grace: i64,
}

impl Default for RefreshSettings {
    fn default() -> RefreshSettings {
        RefreshSettings {
            absolute_ttl: 30 * 24 * 3600,
            idle_ttl: 14 * 24 * 3600,
            grace: 0,
        }
    }
}

impl Settings {
    /// Defaults for everything but the issuer.
    pub fn new(issuer: Issuer) -> Settings {
        Settings {
            issuer,
            jwks_max_age: 900,
            access_token_ttl: 600,
            access_token_alg: usher_domain::SigningAlg::Rs256,
            id_token_alg: usher_domain::SigningAlg::Rs256,
            session_ttl: 8 * 3600,
            code_ttl: 60,
            interaction_ttl: 15 * 60,
            login_max_failures: 5,
            login_lockout: 30,
            mfa: usher_domain::MfaPolicy::Optional,
            trusted_proxies: crate::client_address::TrustedProxies::default(),
            default_audience: None,
            refresh: RefreshSettings::default(),
            metrics_on_main: false,
            admin_on_main: true,
            backchannel: crate::backchannel::BackchannelSettings::default(),
            signup: usher_domain::SignupMode::Off,
            device_code_ttl: 600,
            device_poll_interval: 5,
            client_metadata: crate::client_metadata::MetadataSettings::default(),
            registration: RegistrationSettings::default(),
        }
    }

    /// The algorithm of `client`'s ID tokens and logout tokens: its registered
    /// `id_token_signed_response_alg`, else the server's `id_token_alg`.
    pub fn id_token_alg_for(&self, client: &usher_domain::Client) -> usher_domain::SigningAlg {
        client
            .registration
            .id_token_signed_response_alg
            .unwrap_or(self.id_token_alg)
    }

    /// The audience of access tokens meant for Usher's own userinfo endpoint.
    pub fn userinfo_audience(&self) -> String {
        self.issuer.endpoint(USERINFO_PATH)
    }
}

/// The wall clock, as a parameter: tests can move time.
pub trait Clock: Send + Sync {
    fn now(&self) -> UnixTime;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place Usher reads the wall clock (clippy.toml forbids it elsewhere).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> UnixTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        UnixTime(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

/// Every store the core uses. One database usually implements them all.
#[derive(Clone)]
pub struct Stores {
    pub clients: Arc<dyn ClientStore>,
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub interactions: Arc<dyn InteractionStore>,
    pub consents: Arc<dyn ConsentStore>,
    pub codes: Arc<dyn CodeStore>,
    pub revocations: Arc<dyn RevocationStore>,
    /// Spent single-use values (logout confirmations).
    pub nonces: Arc<dyn NonceStore>,
    pub throttle: Arc<dyn ThrottleStore>,
    /// Second factors (authenticator apps, recovery codes): `mfa.rs`.
    pub factors: Arc<dyn FactorStore>,
    /// Passkeys and WebAuthn ceremonies in flight: `passkeys.rs`.
    pub passkeys: Arc<dyn PasskeyStore>,
    /// The account page's single-use form tokens (`account/forms.rs`).
    pub forms: Arc<dyn FormTokenStore>,
    /// Mailed single-use links, and the people of an address (`mail.rs`).
    pub mail: Arc<dyn MailTokenStore>,
    /// Back-channel logout: who got tokens through which session, and the queue of
    /// logouts to deliver (`backchannel.rs`).
    pub backchannel: Arc<dyn BackchannelStore>,
    /// The browsers each person signed in from (`browsers.rs`).
    pub known_browsers: Arc<dyn KnownBrowserStore>,
    /// Invitations to sign up (`signup.rs`).
    pub invitations: Arc<dyn InvitationStore>,
    /// Registered resource servers, RFC 8707 (`resources.rs`).
    pub resources: Arc<dyn ResourceStore>,
    /// Device authorizations, RFC 8628 (`grants/device_code.rs`).
    pub devices: Arc<dyn DeviceGrantStore>,
    /// Initial access tokens and dynamically registered clients (`registration.rs`).
    pub registration: Arc<dyn usher_domain::RegistrationStore>,
    /// Groups of people and their members (`groups.rs`).
    pub groups: Arc<dyn usher_domain::GroupStore>,
    /// Upstream identity providers and the identities linked through them
    /// (`upstream`, docs/design/upstream.md).
    pub upstreams: Arc<dyn usher_domain::UpstreamStore>,
    /// The audit trail (`audit.rs`, docs/design/audit.md).
    pub audit: Arc<dyn usher_domain::AuditStore>,
    /// Changes written in one transaction with their audit events (`admin`).
    pub audited: Arc<dyn usher_domain::AuditedStore>,
    pub database: Arc<dyn Ping>,
    /// Refresh-token families: the embedded store (the database) or Redis.
    pub families: Arc<dyn FamilyStore>,
}

impl Stores {
    /// All stores backed by one value that implements every port.
    pub fn all_in<T>(db: Arc<T>) -> Stores
    where
        T: ClientStore
            + UserStore
            + SessionStore
            + InteractionStore
            + ConsentStore
            + CodeStore
            + RevocationStore
            + NonceStore
            + ThrottleStore
            + FactorStore
            + PasskeyStore
            + FormTokenStore
            + MailTokenStore
            + BackchannelStore
            + KnownBrowserStore
            + InvitationStore
            + ResourceStore
            + DeviceGrantStore
            + usher_domain::RegistrationStore
            + usher_domain::GroupStore
            + usher_domain::AuditStore
            + usher_domain::AuditedStore
            + usher_domain::UpstreamStore
            + Ping
            + FamilyStore
            + 'static,
    {
        Stores {
            clients: db.clone(),
            users: db.clone(),
            sessions: db.clone(),
            interactions: db.clone(),
            consents: db.clone(),
            codes: db.clone(),
            revocations: db.clone(),
            nonces: db.clone(),
            throttle: db.clone(),
            factors: db.clone(),
            passkeys: db.clone(),
            forms: db.clone(),
            mail: db.clone(),
            backchannel: db.clone(),
            known_browsers: db.clone(),
            invitations: db.clone(),
            resources: db.clone(),
            devices: db.clone(),
            registration: db.clone(),
            groups: db.clone(),
            audit: db.clone(),
            audited: db.clone(),
            upstreams: db.clone(),
            families: db.clone(),
            database: db,
        }
    }
}

/// Shared by every worker; cheap to clone.
#[derive(Clone)]
pub struct Core {
    pub settings: Arc<Settings>,
    /// The published keys; replaced as a whole when the key set changes (rotation).
    pub keys: Arc<RwLock<Arc<PublishedKeys>>>,
    /// The discovery document, rendered once at start.
    pub discovery: Arc<[u8]>,
    pub stores: Stores,
    pub secrets: SecretHasher,
    /// Seals the pending request that a sign-in's first page carries (the sign-in flow).
    pub sealer: FormSealer,
    /// Seals and opens second-factor secrets at rest (`mfa.rs`) and WebAuthn ceremony
    /// states (`passkeys.rs`).
    pub factor_sealer: FactorSealer,
    /// The upstream providers' discovery documents and keys, and the guarded client
    /// that fetches them (docs/design/upstream.md).
    pub upstream_providers: crate::upstream::Providers,
    /// Where argon2id checks run (bounded threads, bounded memory).
    pub passwords: crate::passwords::PasswordPool,
    /// Short-lived copies of clients, people and revoked token ids (`cache.rs`).
    pub caches: Arc<crate::cache::Caches>,
    /// Where mail to people goes: its templates and its outbox (`mail.rs`).
    pub mail: crate::mail::Mailing,
    /// The Client ID Metadata Documents this node fetched, and where it fetches them
    /// (`client_metadata.rs`).
    pub metadata_documents: crate::client_metadata::MetadataDocuments,
    pub clock: Arc<dyn Clock>,
    /// Signing-key transitions for the admin API (the binary holds the KEK and the
    /// schedule); `None` where this node cannot make them (then the API answers 503).
    pub key_admin: Option<Arc<dyn crate::admin::keys::KeyAdmin>>,
}

impl Core {
    /// The current key set (a cheap `Arc` clone under a short read lock).
    pub fn published_keys(&self) -> Arc<PublishedKeys> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            // A writer panicked mid-swap; the Arc inside is still a whole value.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a new key set (after a rotation).
    pub fn replace_keys(&self, keys: PublishedKeys) {
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut guard) => *guard = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Forgets this node's copy of a person (their password or address just changed).
    pub fn forget_user(&self, id: &UserId) {
        self.caches.users.remove(id);
    }

    /// Forgets this node's copy of a client (an administrator just changed or deleted
    /// it; other nodes see the change within `cache_ttl`).
    pub fn forget_client(&self, id: &ClientId) {
        self.caches.clients.remove(id);
    }
}

impl Core {
    /// The client registered as `id`, if any; from memory when read less than
    /// `cache_ttl` seconds ago. `usher-account` is Usher's own built-in client
    /// (`account::client`): synthesised from the settings, never read from the store.
    /// A URL id is a Client ID Metadata Document (`client_metadata.rs`): the client its
    /// document describes, or none when the feature is off or the document cannot be
    /// used (the reason is logged; `/authorize` asks [`Core::metadata_client`] itself to
    /// show it).
    pub async fn client(&self, id: &ClientId) -> Result<Option<Client>, Failure> {
        if id.metadata_url().is_some() {
            return self.metadata_lookup(id).await;
        }
        match self.remembered_client(id) {
            Some(client) => Ok(Some(client)),
            None => self.reload_client(id).await,
        }
    }

    /// This node's copy of the client, if it has one less than `cache_ttl` seconds old
    /// (never a store call).
    pub fn remembered_client(&self, id: &ClientId) -> Option<Client> {
        if crate::account::client::is_built_in(id) {
            return crate::account::client::built_in(&self.settings);
        }
        if id.metadata_url().is_some() {
            return self.remembered_metadata_client(id);
        }
        let caches = &self.caches;
        if !caches.on() {
            return None;
        }
        caches.clients.get(id, self.now().seconds(), caches.ttl)
    }

    /// The client registered as `id`, read from the store (and remembered, or forgotten
    /// if it is gone). For a second look when the remembered copy refused a request: a
    /// secret rotated a moment ago works at once.
    pub async fn reload_client(&self, id: &ClientId) -> Result<Option<Client>, Failure> {
        if crate::account::client::is_built_in(id) {
            return Ok(crate::account::client::built_in(&self.settings));
        }
        if id.metadata_url().is_some() {
            return self.metadata_lookup(id).await;
        }
        let clients = self.stores.clients.clone();
        let key = id.clone();
        self.read_and_remember(&self.caches.clients, id, move || clients.get_client(&key))
            .await
    }

    /// A metadata-document client as `Core::client` answers it: refusals are "no such
    /// client" (logged by `metadata_client`), only the store's failure is an error.
    async fn metadata_lookup(&self, id: &ClientId) -> Result<Option<Client>, Failure> {
        match self.metadata_client(id).await {
            Ok(client) => Ok(Some(client)),
            Err(crate::client_metadata::MetadataError::Failure(f)) => Err(f),
            Err(_) => Ok(None),
        }
    }

    /// The person with this id, if any; from memory when read less than `cache_ttl`
    /// seconds ago.
    pub async fn user(&self, id: &UserId) -> Result<Option<User>, Failure> {
        let caches = &self.caches;
        if caches.on()
            && let Some(user) = caches.users.get(id, self.now().seconds(), caches.ttl)
        {
            return Ok(Some(user));
        }
        let users = self.stores.users.clone();
        let key = id.clone();
        self.read_and_remember(&caches.users, id, move || users.get_user(&key))
            .await
    }

    /// The person with this id while they may sign in: [`standing`] of [`Core::user`].
    /// Every step that lets a person in or hands out their tokens asks this, not
    /// [`Core::user`] (docs/design/accounts.md, "Disabled people").
    pub async fn active_user(&self, id: &UserId) -> Result<Result<User, Inactive>, Failure> {
        Ok(standing(self.user(id).await?))
    }

    /// Runs the store read `read` off the executor and records its answer in `map`
    /// (stamped with the time the read began; an id that is gone is forgotten).
    async fn read_and_remember<K, V, F>(
        &self,
        map: &Fresh<K, V>,
        key: &K,
        read: F,
    ) -> Result<Option<V>, Failure>
    where
        K: Eq + Hash + Clone,
        V: Clone + Send + 'static,
        F: FnOnce() -> Result<Option<V>, StoreError> + Send + 'static,
    {
        let caches = &self.caches;
        let began = self.now().seconds();
        let found = blocking(read).await?;
        if caches.on() {
            match &found {
                Some(value) => map.put(key.clone(), value.clone(), began, caches.ttl),
                None => map.remove(key),
            }
        }
        Ok(found)
    }

    /// Whether the access token `jti` has been revoked. Answered from the node's copy of
    /// the revoked set, re-read from the store when older than `cache_ttl` seconds.
    pub async fn is_jti_revoked(&self, jti: &str) -> Result<bool, Failure> {
        let caches = &self.caches;
        let now = self.now();
        if caches.on() {
            let check = caches.revoked().check(jti, now.seconds(), caches.ttl);
            match check {
                Check::Known(answer) => return Ok(answer),
                Check::AskStore => {}
                Check::Reload { overflows } => {
                    let store = self.stores.revocations.clone();
                    let listed = blocking(move || store.revoked_jtis(now, MAX_REVOKED + 1)).await;
                    let listed = match listed {
                        Ok(listed) => listed,
                        Err(f) => {
                            caches.revoked().abandon();
                            return Err(f);
                        }
                    };
                    // Built outside the lock.
                    let set: Option<HashSet<String>> =
                        (listed.len() <= MAX_REVOKED).then(|| listed.into_iter().collect());
                    let mut revoked = caches.revoked();
                    revoked.install(set, now.seconds(), overflows);
                    if let Check::Known(answer) = revoked.check(jti, now.seconds(), caches.ttl) {
                        return Ok(answer);
                    }
                }
            }
        }
        let store = self.stores.revocations.clone();
        let jti = jti.to_owned();
        blocking(move || store.is_jti_revoked(&jti)).await
    }

    /// Revokes the access token `jti` (until `expires_at`) in the store, then in this
    /// node's copy of the revoked set.
    pub async fn revoke_jti(&self, jti: &str, expires_at: UnixTime) -> Result<(), Failure> {
        let store = self.stores.revocations.clone();
        let owned = jti.to_owned();
        blocking(move || store.revoke_jti(&owned, expires_at)).await?;
        self.note_revoked(jti, expires_at);
        Ok(())
    }

    /// Records in this node's copy of the revoked set a revocation already written to
    /// the store.
    pub fn note_revoked(&self, jti: &str, expires_at: UnixTime) {
        if self.caches.on() {
            let now = self.now().seconds();
            self.caches.revoked().note(jti, expires_at.seconds(), now);
        }
    }

    /// The live session a browser's session cookie names, if any (`cookie` is the
    /// cookie's value; only its hash is stored). A session whose person is disabled (or
    /// gone) is none: disabling ends a person's sessions, but one that outlived it — the
    /// ending failed, or a sign-in finished just after it — opens nothing (the account
    /// page, `/authorize`, consent, the device page, the console: docs/design/accounts.md).
    pub async fn session(&self, cookie: Option<&str>) -> Result<Option<Session>, Failure> {
        let Some(id) = cookie else {
            return Ok(None);
        };
        let hash = usher_keys::sha256_b64url(id);
        let sessions = self.stores.sessions.clone();
        let now = self.now();
        let Some(session) = blocking(move || sessions.get_session(&hash, now)).await? else {
            return Ok(None);
        };
        match self.active_user(&session.user_id).await? {
            Ok(_) => Ok(Some(session)),
            Err(_) => Ok(None),
        }
    }
}

/// A new random secret (256 bits, base64url) and its stored hash (SHA-256, base64url):
/// session ids, codes, CSRF tokens, interaction ids, lineages.
pub fn secret_pair() -> Result<(String, String), Failure> {
    let secret = usher_keys::random_token(32).map_err(|e| {
        tracing::error!(cause = %e, "no randomness");
        Failure::Internal
    })?;
    let hash = usher_keys::sha256_b64url(&secret);
    Ok((secret, hash))
}

/// Why there is no person who may sign in ([`standing`]); the texts are what the token
/// endpoint's `error_description` and the logs say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Inactive {
    /// No such person (deleted since).
    #[error("the person no longer exists")]
    Gone,
    /// An administrator disabled the person.
    #[error("the person's account is disabled")]
    Disabled,
}

/// The one check of whether a person found may sign in and use what they signed in with
/// ([`User::may_sign_in`]): the password step, the passkey and second-factor steps, the
/// code, refresh and device grants, userinfo, introspection and the admin gates all go
/// through it (directly or through [`Core::active_user`]).
pub fn standing(found: Option<User>) -> Result<User, Inactive> {
    match found {
        Some(user) if user.may_sign_in() => Ok(user),
        Some(_) => Err(Inactive::Disabled),
        None => Err(Inactive::Gone),
    }
}
