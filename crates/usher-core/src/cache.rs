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
use std::sync::{Arc, Mutex};

use usher_domain::{Client, ClientId, Origin, User, UserId};

/// Most clients held at once.
const MAX_CLIENTS: usize = 10_000;
/// Most people held at once.
const MAX_USERS: usize = 100_000;
/// Most revoked, unexpired access-token ids held; beyond this every check asks the store.
pub const MAX_REVOKED: usize = 100_000;

/// The caches of one node.
pub struct Caches {
    pub(crate) ttl: i64,
    pub(crate) clients: Fresh<ClientId, Client>,
    pub(crate) users: Fresh<UserId, User>,
    revoked: Mutex<Revoked>,
    /// Every client's allowed origins, as one set: what a CORS preflight asks
    /// (`cors.rs`).
    pub(crate) origins: OriginIndex,
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
            origins: OriginIndex::default(),
        }
    }

    pub(crate) fn revoked(&self) -> std::sync::MutexGuard<'_, Revoked> {
        self.revoked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether anything is cached (`cache_ttl` > 0).
    pub fn on(&self) -> bool {
        self.ttl > 0
    }
}

/// The union of every registered client's allowed origins, read from the store as a
/// whole and used for `ttl` seconds (so a preflight is a hash lookup, and a flood of
/// preflights costs at most one store read per `ttl`). One reader refreshes it at a time
/// (`refresh`, an async lock: dropped with its future, so a cancelled request never
/// leaves the index stuck); the others keep using the previous set meanwhile, and before
/// any set was read they wait for the first read instead of each reading the store. With
/// `ttl` 0 every preflight reads the store.
#[derive(Default)]
pub(crate) struct OriginIndex {
    set: Mutex<Option<(Arc<HashSet<Origin>>, i64)>>,
    refresh: tokio::sync::Mutex<()>,
}

/// What the index can answer without the store.
pub(crate) enum OriginSet<'a> {
    /// Fresh enough, or stale while another task reads the store: use it.
    Held(Arc<HashSet<Origin>>),
    /// Read the store, then [`OriginIndex::finish`]; the guard is the refresh.
    Read(tokio::sync::MutexGuard<'a, ()>),
}

impl OriginIndex {
    fn held(&self) -> Option<(Arc<HashSet<Origin>>, i64)> {
        self.set.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) async fn lookup(&self, now: i64, ttl: i64) -> OriginSet<'_> {
        let held = self.held();
        if let Some((set, read_at)) = &held
            && fresh(*read_at, now, ttl)
        {
            return OriginSet::Held(set.clone());
        }
        if let Ok(guard) = self.refresh.try_lock() {
            return OriginSet::Read(guard);
        }
        if let Some((set, _)) = held {
            return OriginSet::Held(set);
        }
        // Nothing read yet and someone is reading: wait for that read, and use it
        // unless it failed.
        let guard = self.refresh.lock().await;
        match self.held() {
            Some((set, _)) => OriginSet::Held(set),
            None => OriginSet::Read(guard),
        }
    }

    /// Records a set read from the store at `read_at` and ends the refresh.
    pub(crate) fn finish(
        &self,
        set: Arc<HashSet<Origin>>,
        read_at: i64,
        refresh: tokio::sync::MutexGuard<'_, ()>,
    ) {
        let mut held = self.set.lock().unwrap_or_else(|p| p.into_inner());
        if held.as_ref().is_none_or(|(_, at)| *at <= read_at) {
            *held = Some((set, read_at));
        }
        drop(refresh);
    }
}

/// A bounded map of values read from a store at a known time.
pub(crate) struct Fresh<K, V> {
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

    pub(crate) fn get(&self, key: &K, now: i64, ttl: i64) -> Option<V> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((value, read_at)) if fresh(*read_at, now, ttl) => Some(value.clone()),
            _ => None,
        }
    }

    pub(crate) fn remove(&self, key: &K) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }

    pub(crate) fn put(&self, key: K, value: V, now: i64, ttl: i64) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max && !map.contains_key(&key) {
            map.retain(|_, (_, read_at)| fresh(*read_at, now, ttl));
            if map.len() >= self.max {
                map.clear();
            }
        }
        match map.get(&key) {
            // A slower read that began earlier must not replace a newer copy.
            Some((_, read_at)) if *read_at > now => {}
            _ => {
                map.insert(key, (value, now));
            }
        }
    }
}

/// Whether something read at `read_at` may still be used at `now`. A clock that went
/// backwards makes everything stale.
fn fresh(read_at: i64, now: i64, ttl: i64) -> bool {
    now >= read_at && now - read_at < ttl
}

/// After finding more than [`MAX_REVOKED`] revoked tokens, how long (seconds) a node
/// asks the store about each token before trying to hold the set again.
const TOO_MANY_BACKOFF: i64 = 60;

/// The revoked, unexpired access-token ids, as this node knows them.
#[derive(Default)]
pub(crate) struct Revoked {
    /// The set as read from the store at the time in `mode`.
    jtis: HashSet<String>,
    mode: Mode,
    /// Revocations this node wrote, with their tokens' expiry: an authoritative "revoked"
    /// until then, whatever a re-read of the set (which may have begun before the write)
    /// returns.
    local: HashMap<String, i64>,
    /// Bumped when a revocation this node wrote could not be kept in `local` (it was
    /// full): a re-read that began before the bump must not claim to hold the set.
    overflows: u64,
    /// When the re-read in flight began: one at a time; meanwhile, and if it never
    /// finishes (its request was dropped), other checks ask the store until it is stale.
    reloading: Option<i64>,
}

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Never read.
    #[default]
    Unread,
    /// `jtis` is the whole set as of this time.
    Held(i64),
    /// At this time there were more than [`MAX_REVOKED`]: until [`TOO_MANY_BACKOFF`]
    /// has passed, every check asks the store about its one token.
    TooMany(i64),
}

/// What a check of one token needs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Answered from memory.
    Known(bool),
    /// This caller re-reads the set (then [`Revoked::install`]); `overflows` as it began.
    Reload { overflows: u64 },
    /// Ask the store about this one token.
    AskStore,
}

impl Revoked {
    pub(crate) fn check(&mut self, jti: &str, now: i64, ttl: i64) -> Check {
        if self.local.contains_key(jti) {
            return Check::Known(true);
        }
        match self.mode {
            Mode::Held(at) if fresh(at, now, ttl) => return Check::Known(self.jtis.contains(jti)),
            Mode::TooMany(at) if fresh(at, now, TOO_MANY_BACKOFF.max(ttl)) => {
                return Check::AskStore;
            }
            _ => {}
        }
        match self.reloading {
            Some(began) if fresh(began, now, ttl) => Check::AskStore,
            _ => {
                self.reloading = Some(now);
                Check::Reload {
                    overflows: self.overflows,
                }
            }
        }
    }

    /// Installs a re-read that began at `read_at` (`None`: more than [`MAX_REVOKED`]).
    pub(crate) fn install(
        &mut self,
        listed: Option<HashSet<String>>,
        read_at: i64,
        overflows: u64,
    ) {
        self.reloading = None;
        self.local.retain(|_, expires_at| *expires_at > read_at);
        match listed {
            Some(set) if self.overflows == overflows => {
                self.jtis = set;
                self.mode = Mode::Held(read_at);
            }
            _ => {
                if !matches!(self.mode, Mode::TooMany(_)) {
                    tracing::warn!(
                        limit = MAX_REVOKED,
                        "more revoked, unexpired access tokens than a node holds in memory; asking the store about each token"
                    );
                }
                self.jtis = HashSet::new();
                self.mode = Mode::TooMany(read_at);
            }
        }
    }

    /// A re-read failed: the next check tries again.
    pub(crate) fn abandon(&mut self) {
        self.reloading = None;
    }

    /// A revocation this node has written to the store.
    pub(crate) fn note(&mut self, jti: &str, expires_at: i64, now: i64) {
        if self.local.len() >= MAX_REVOKED {
            if matches!(self.mode, Mode::TooMany(at) if fresh(at, now, TOO_MANY_BACKOFF)) {
                // Already full and asking the store: no pruning pass per revocation.
                self.overflows += 1;
                return;
            }
            self.local.retain(|_, e| *e > now);
        }
        if self.local.len() < MAX_REVOKED {
            self.local.insert(jti.to_owned(), expires_at);
        } else {
            // Cannot keep it: stop answering from memory; the store has it.
            self.overflows += 1;
            self.mode = Mode::TooMany(now);
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

    fn set(jtis: &[&str]) -> Option<HashSet<String>> {
        Some(jtis.iter().map(|j| (*j).to_owned()).collect())
    }

    #[test]
    fn the_revoked_set_is_read_once_then_answered_from_memory_until_stale() {
        let mut r = Revoked::default();
        assert_eq!(r.check("a", 100, 2), Check::Reload { overflows: 0 });
        // While that read is in flight, others ask the store rather than read it too.
        assert_eq!(r.check("b", 100, 2), Check::AskStore);
        r.install(set(&["a"]), 100, 0);
        assert_eq!(r.check("a", 101, 2), Check::Known(true));
        assert_eq!(r.check("b", 101, 2), Check::Known(false));
        // Stale at 102, and when the clock goes back.
        assert_eq!(r.check("b", 102, 2), Check::Reload { overflows: 0 });
        r.abandon();
        assert_eq!(r.check("b", 99, 2), Check::Reload { overflows: 0 });
    }

    #[test]
    fn a_reload_that_never_finishes_only_delays_the_next_one_by_the_ttl() {
        let mut r = Revoked::default();
        assert_eq!(r.check("a", 100, 2), Check::Reload { overflows: 0 });
        assert_eq!(r.check("a", 101, 2), Check::AskStore);
        assert_eq!(r.check("a", 102, 2), Check::Reload { overflows: 0 });
    }

    #[test]
    fn a_local_revocation_survives_a_reread_that_began_before_it() {
        let mut r = Revoked::default();
        let Check::Reload { overflows } = r.check("x", 100, 2) else {
            panic!("expected a reload")
        };
        // The store is read (without "x"), then "x" is revoked here, then the read lands.
        r.note("x", 700, 100);
        r.install(set(&[]), 100, overflows);
        assert_eq!(r.check("x", 101, 2), Check::Known(true));
        // Kept until the token expires, then dropped at a re-read.
        assert_eq!(r.check("y", 700, 2), Check::Reload { overflows: 0 });
        r.install(set(&[]), 700, 0);
        assert_eq!(r.check("x", 700, 2), Check::Known(false));
    }

    #[test]
    fn too_many_revocations_mean_asking_the_store_for_a_while() {
        let mut r = Revoked::default();
        assert!(matches!(r.check("a", 100, 2), Check::Reload { .. }));
        r.install(None, 100, 0);
        assert_eq!(r.check("a", 101, 2), Check::AskStore);
        assert_eq!(r.check("a", 100 + TOO_MANY_BACKOFF - 1, 2), Check::AskStore);
        assert!(matches!(
            r.check("a", 100 + TOO_MANY_BACKOFF, 2),
            Check::Reload { .. }
        ));
    }

    #[test]
    fn a_local_revocation_that_cannot_be_kept_stops_memory_answers() {
        let mut r = Revoked::default();
        for i in 0..MAX_REVOKED {
            r.note(&format!("j{i}"), 1_000, 100);
        }
        let Check::Reload { overflows } = r.check("new", 100, 2) else {
            panic!("expected a reload")
        };
        // "new" is revoked here while the set is being read, and does not fit.
        r.note("new", 1_000, 100);
        r.install(set(&[]), 100, overflows);
        assert_eq!(r.check("new", 101, 2), Check::AskStore);
        // Once the kept ones expire, there is room again.
        r.note("later", 2_000, 1_000);
        assert_eq!(r.check("later", 1_001, 2), Check::Known(true));
    }

    #[test]
    fn a_newer_copy_is_not_replaced_by_an_older_read() {
        let map: Fresh<u32, &str> = Fresh::new(10);
        map.put(1, "new", 105, 2);
        map.put(1, "old", 104, 2);
        assert_eq!(map.get(&1, 105, 2), Some("new"));
    }
}

#[cfg(test)]
mod origin_index_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn set(origins: &[&str]) -> Arc<HashSet<Origin>> {
        Arc::new(origins.iter().map(|o| Origin::parse(o).unwrap()).collect())
    }

    #[tokio::test]
    async fn a_dropped_refresh_is_released_so_the_next_lookup_reads() {
        let index = OriginIndex::default();
        // A request that took the refresh and was cancelled before it finished.
        let OriginSet::Read(guard) = index.lookup(100, 2).await else {
            panic!("nothing held: the first lookup reads");
        };
        drop(guard);
        let OriginSet::Read(guard) = index.lookup(100, 2).await else {
            panic!("the cancelled refresh still holds the index");
        };
        index.finish(set(&["https://a.example"]), 100, guard);
        assert!(matches!(index.lookup(101, 2).await, OriginSet::Held(_)));
        // Stale: one caller reads, the others keep the stale set meanwhile.
        let OriginSet::Read(refresh) = index.lookup(200, 2).await else {
            panic!("a stale set is read again");
        };
        let OriginSet::Held(stale) = index.lookup(200, 2).await else {
            panic!("a second caller must not read while one reads");
        };
        assert!(stale.contains(&Origin::parse("https://a.example").unwrap()));
        index.finish(set(&["https://b.example"]), 200, refresh);
        let OriginSet::Held(fresh) = index.lookup(200, 2).await else {
            panic!("fresh after the read");
        };
        assert!(fresh.contains(&Origin::parse("https://b.example").unwrap()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn before_the_first_read_concurrent_lookups_wait_for_one_read() {
        let index = Arc::new(OriginIndex::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (index, reads, barrier) = (index.clone(), reads.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    match index.lookup(100, 2).await {
                        OriginSet::Held(set) => set,
                        OriginSet::Read(guard) => {
                            reads.fetch_add(1, Ordering::SeqCst);
                            // The store read takes a while; everyone else waits for it.
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            let read = set(&["https://a.example"]);
                            index.finish(read.clone(), 100, guard);
                            read
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().len(), 1);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }
}
