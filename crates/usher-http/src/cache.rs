//! Short-lived, in-memory copies of what the hot paths read on every request: clients
//! (every token request), people (userinfo, ID tokens) and the set of revoked access-token
//! ids (userinfo, introspection).
//!
//! Without them each of those reads is a store call, and every store call is a hop to the
//! blocking pool and back (two context switches, a pool checkout, a query): most of what
//! a userinfo request cost, and the gap between `client_credentials` and the signing
//! ceiling (docs/benchmarks.md).
//!
//! Freshness: an entry is used for at most `ttl` seconds after it was read from the store
//! (`cache_ttl`, default 2; 0 turns every cache off). Writes made through this node (a
//! token revoked at `/revoke`, a replayed code's token) are applied to its cache at once;
//! writes made elsewhere — the admin CLI, another node — are seen within `ttl`. Unknown
//! ids are never cached, so a flood of made-up client ids or subjects cannot fill memory
//! or hide a client created a moment later. Every map has a size bound; a full map is
//! emptied of stale entries, and if that is not enough, emptied.
//!
//! docs/design/caching.md has the reasoning and the trade-off.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Mutex;

use usher_domain::{Client, ClientId, UnixTime, User, UserId};

use crate::respond::{Failure, blocking};
use crate::state::AppState;

/// Most clients held at once.
const MAX_CLIENTS: usize = 10_000;
/// Most people held at once.
const MAX_USERS: usize = 100_000;
/// Most revoked, unexpired access-token ids held; beyond this every check asks the store.
pub const MAX_REVOKED: usize = 100_000;

/// The caches of one node.
pub struct Caches {
    ttl: i64,
    clients: Fresh<ClientId, Client>,
    users: Fresh<UserId, User>,
    revoked: Mutex<Revoked>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches").field("ttl", &self.ttl).finish()
    }
}

impl Caches {
    /// Caches whose entries live `ttl` seconds (0 = no caching).
    pub fn new(ttl: i64) -> Caches {
        Caches {
            ttl: ttl.max(0),
            clients: Fresh::new(MAX_CLIENTS),
            users: Fresh::new(MAX_USERS),
            revoked: Mutex::new(Revoked::default()),
        }
    }

    /// Whether anything is cached (`cache_ttl` > 0).
    pub fn on(&self) -> bool {
        self.ttl > 0
    }
}

/// A bounded map of values read from a store at a known time.
struct Fresh<K, V> {
    map: Mutex<HashMap<K, (V, i64)>>,
    max: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> Fresh<K, V> {
    fn new(max: usize) -> Self {
        Fresh {
            map: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn get(&self, key: &K, now: i64, ttl: i64) -> Option<V> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((value, read_at)) if fresh(*read_at, now, ttl) => Some(value.clone()),
            _ => None,
        }
    }

    fn remove(&self, key: &K) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }

    fn put(&self, key: K, value: V, now: i64, ttl: i64) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max && !map.contains_key(&key) {
            map.retain(|_, (_, read_at)| fresh(*read_at, now, ttl));
            if map.len() >= self.max {
                map.clear();
            }
        }
        map.insert(key, (value, now));
    }
}

/// Whether something read at `read_at` may still be used at `now`. A clock that went
/// backwards makes everything stale.
fn fresh(read_at: i64, now: i64, ttl: i64) -> bool {
    now >= read_at && now - read_at < ttl
}

/// The revoked, unexpired access-token ids.
#[derive(Default)]
struct Revoked {
    /// As read from the store at the time in `mode`.
    jtis: HashSet<String>,
    mode: Mode,
    /// Revocations this node wrote, with their tokens' expiry: kept until then, so a
    /// re-read that started before the write cannot drop them.
    local: HashMap<String, i64>,
}

#[derive(Default, Clone, Copy)]
enum Mode {
    /// Never read: the first check reads the set.
    #[default]
    Unread,
    /// `jtis` is the whole set as of this time.
    Held(i64),
    /// At this time there were more than [`MAX_REVOKED`]: until it is stale, every check
    /// asks the store about its one token.
    TooMany(i64),
}

impl Revoked {
    fn contains(&self, jti: &str) -> bool {
        self.jtis.contains(jti) || self.local.contains_key(jti)
    }
}

impl AppState {
    /// The client registered as `id`, if any; from memory when read less than
    /// `cache_ttl` seconds ago.
    pub async fn client(&self, id: &ClientId) -> Result<Option<Client>, Failure> {
        let caches = &self.caches;
        if caches.on()
            && let Some(client) = caches.clients.get(id, self.now().seconds(), caches.ttl)
        {
            return Ok(Some(client));
        }
        self.reload_client(id).await
    }

    /// The client registered as `id`, read from the store (and remembered, or forgotten
    /// if it is gone). For a second look when the remembered copy refused a request: a
    /// secret rotated a moment ago works at once.
    pub async fn reload_client(&self, id: &ClientId) -> Result<Option<Client>, Failure> {
        let caches = &self.caches;
        let now = self.now().seconds();
        let clients = self.stores.clients.clone();
        let key = id.clone();
        let found = blocking(move || clients.get_client(&key)).await?;
        if caches.on() {
            match &found {
                Some(client) => caches
                    .clients
                    .put(id.clone(), client.clone(), now, caches.ttl),
                None => caches.clients.remove(id),
            }
        }
        Ok(found)
    }

    /// The person with this id, if any; from memory when read less than `cache_ttl`
    /// seconds ago.
    pub async fn user(&self, id: &UserId) -> Result<Option<User>, Failure> {
        let caches = &self.caches;
        let now = self.now().seconds();
        if caches.on()
            && let Some(user) = caches.users.get(id, now, caches.ttl)
        {
            return Ok(Some(user));
        }
        let users = self.stores.users.clone();
        let key = id.clone();
        let found = blocking(move || users.get_user(&key)).await?;
        if caches.on()
            && let Some(user) = &found
        {
            caches.users.put(id.clone(), user.clone(), now, caches.ttl);
        }
        Ok(found)
    }

    /// Whether the access token `jti` has been revoked. Answered from the node's copy of
    /// the revoked set, re-read from the store when older than `cache_ttl` seconds.
    pub async fn is_jti_revoked(&self, jti: &str) -> Result<bool, Failure> {
        let caches = &self.caches;
        let now = self.now();
        let ttl = caches.ttl;
        if caches.on() {
            let mode = {
                let revoked = caches.revoked.lock().unwrap_or_else(|p| p.into_inner());
                match revoked.mode {
                    Mode::Held(at) if fresh(at, now.seconds(), ttl) => {
                        return Ok(revoked.contains(jti));
                    }
                    mode => mode,
                }
            };
            let too_many = matches!(mode, Mode::TooMany(at) if fresh(at, now.seconds(), ttl));
            if !too_many {
                let store = self.stores.revocations.clone();
                let listed = blocking(move || store.revoked_jtis(now, MAX_REVOKED + 1)).await?;
                let mut revoked = caches.revoked.lock().unwrap_or_else(|p| p.into_inner());
                let now = now.seconds();
                revoked.local.retain(|_, expires_at| *expires_at > now);
                if listed.len() <= MAX_REVOKED {
                    revoked.jtis = listed.into_iter().collect();
                    revoked.mode = Mode::Held(now);
                    return Ok(revoked.contains(jti));
                }
                tracing::warn!(
                    limit = MAX_REVOKED,
                    "more revoked, unexpired access tokens than a node holds in memory; asking the store for each token"
                );
                revoked.jtis = HashSet::new();
                revoked.mode = Mode::TooMany(now);
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
        let mut revoked = self
            .caches
            .revoked
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if revoked.local.len() < MAX_REVOKED {
            revoked.local.insert(jti.to_owned(), expires_at.seconds());
        } else {
            // Too many to hold: ask the store about each token until the next re-read.
            revoked.local.clear();
            revoked.mode = Mode::TooMany(self.now().seconds());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_used_for_ttl_seconds_then_reread() {
        let fresh_map: Fresh<u32, &str> = Fresh::new(10);
        fresh_map.put(1, "one", 100, 2);
        assert_eq!(fresh_map.get(&1, 100, 2), Some("one"));
        assert_eq!(fresh_map.get(&1, 101, 2), Some("one"));
        assert_eq!(fresh_map.get(&1, 102, 2), None);
        // A clock that goes backwards makes the entry stale.
        assert_eq!(fresh_map.get(&1, 99, 2), None);
        assert_eq!(fresh_map.get(&2, 100, 2), None);
    }

    #[test]
    fn a_full_map_drops_stale_entries_then_everything() {
        let map: Fresh<u32, u32> = Fresh::new(2);
        map.put(1, 1, 100, 2);
        map.put(2, 2, 105, 2);
        // 1 is stale at 105: dropped to make room.
        map.put(3, 3, 105, 2);
        assert_eq!(map.get(&1, 105, 2), None);
        assert_eq!(map.get(&2, 105, 2), Some(2));
        assert_eq!(map.get(&3, 105, 2), Some(3));
        // Nothing stale: the map is emptied, the new entry kept.
        map.put(4, 4, 105, 2);
        assert_eq!(map.get(&2, 105, 2), None);
        assert_eq!(map.get(&4, 105, 2), Some(4));
        assert!(map.map.lock().unwrap().len() <= 2);
    }
}
