//! The state every handler shares: settings, the clock, keys and stores.

use std::sync::{Arc, RwLock};

use usher_domain::ports::Ping;
use usher_domain::{
    ClientStore, CodeStore, ConsentStore, FamilyStore, InteractionStore, Issuer, NonceStore,
    RevocationStore, SessionStore, ThrottleStore, UnixTime, UserStore,
};
use usher_keys::{FormSealer, SecretHasher};

use crate::keys::PublishedKeys;
use crate::routes;

/// The settings the HTTP layer needs, already parsed by the binary.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub issuer: Issuer,
    /// `Cache-Control: max-age` of `/jwks.json`, in seconds.
    pub jwks_max_age: u64,
    /// Lifetime of access tokens and ID tokens, in seconds.
    pub access_token_ttl: i64,
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

impl HttpSettings {
    /// Defaults for everything but the issuer.
    pub fn new(issuer: Issuer) -> HttpSettings {
        HttpSettings {
            issuer,
            jwks_max_age: 900,
            access_token_ttl: 600,
            session_ttl: 8 * 3600,
            code_ttl: 60,
            interaction_ttl: 15 * 60,
            login_max_failures: 5,
            login_lockout: 30,
            trusted_proxies: crate::client_address::TrustedProxies::default(),
            default_audience: None,
            refresh: RefreshSettings::default(),
            metrics_on_main: false,
        }
    }

    /// The audience of access tokens meant for Usher's own userinfo endpoint.
    pub fn userinfo_audience(&self) -> String {
        self.issuer.endpoint(routes::USERINFO)
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

/// Every store the HTTP layer uses. One database usually implements them all.
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
            families: db.clone(),
            database: db,
        }
    }
}

/// Shared by every worker; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<HttpSettings>,
    /// The published keys; replaced as a whole when the key set changes (rotation).
    pub keys: Arc<RwLock<Arc<PublishedKeys>>>,
    /// The discovery document, rendered once at start.
    pub discovery: Arc<[u8]>,
    pub stores: Stores,
    pub secrets: SecretHasher,
    /// Seals the pending request that a sign-in's first page carries (`flow.rs`).
    pub sealer: FormSealer,
    /// Where argon2id checks run (bounded threads, bounded memory).
    pub passwords: crate::passwords::PasswordPool,
    /// Short-lived copies of clients, people and revoked token ids (`cache.rs`).
    pub caches: Arc<crate::cache::Caches>,
    pub clock: Arc<dyn Clock>,
}

impl AppState {
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
}
