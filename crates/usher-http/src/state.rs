//! The state every handler shares: configuration, keys and stores.

use std::sync::{Arc, RwLock};

use usher_domain::ports::Ping;
use usher_domain::{ClientStore, Issuer, UserStore};

use crate::keys::PublishedKeys;

/// The settings the HTTP layer needs, already parsed by the binary.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub issuer: Issuer,
    /// `Cache-Control: max-age` of `/jwks.json`, in seconds.
    pub jwks_max_age: u64,
}

/// Shared by every worker; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<HttpSettings>,
    /// The published keys; replaced as a whole when the key set changes (rotation).
    pub keys: Arc<RwLock<Arc<PublishedKeys>>>,
    /// The discovery document, rendered once at start.
    pub discovery: Arc<[u8]>,
    pub clients: Arc<dyn ClientStore>,
    pub users: Arc<dyn UserStore>,
    pub database: Arc<dyn Ping>,
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
}
