//! The family-store contract (cargo feature `testing`): one suite, written once as
//! functions over `&dyn FamilyStore`, that the Redis store and the embedded SQL store
//! (on SQLite and on PostgreSQL) must both pass; and a Redis store on a private key
//! prefix for tests, whose keys are deleted when the test ends ([`TestPrefix`]): the
//! store sets each family's expiry to its absolute end (days away), so keys a test left
//! behind would otherwise stay in the developer's Redis for that long.
//!
//! Redis being unreachable is a test failure with instructions, never a silent skip.
//! Times are taken near the real clock, because Redis expires a family's key by the
//! real clock (`EXPIREAT`); expiry cases then move `now` forward, as a caller's clock
//! would. Everything here panics on failure: it is meant for tests only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{SystemTime, UNIX_EPOCH};

use usher_domain::{
    AuthMethods, ClientId, FamilyFilter, FamilyId, FamilyState, FamilyStore, NewFamily,
    RevokeOutcome, RevokeReason, RotateOutcome, Rotation, ScopeSet, StoreError, UnixTime, UserId,
};

use crate::RedisFamilyStore;

/// The environment variable naming the Redis used by tests.
pub const REDIS_URL_VAR: &str = "USHER_TEST_REDIS_URL";
/// The Redis used when [`REDIS_URL_VAR`] is not set.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The Redis URL tests use.
pub fn redis_url() -> String {
    std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// What every test prefix starts with (`usher-test-<random hex>:`).
pub const TEST_PREFIX_START: &str = "usher-test-";

/// A random key prefix, so tests never see each other's keys (nothing is flushed).
/// Prefer [`TestPrefix`], which also deletes the keys written under it.
pub fn random_prefix() -> String {
    format!("{TEST_PREFIX_START}{}:", uuid::Uuid::new_v4().simple())
}

/// A random key prefix on the test Redis whose keys are deleted when it is dropped (at
/// the end of the test, and also when the test fails: a panic unwinds through the
/// drop). Keep it alive for as long as anything writes under it: declare it before the
/// servers that use it, so that they stop first.
#[derive(Debug)]
pub struct TestPrefix {
    url: String,
    prefix: String,
}

impl TestPrefix {
    /// A fresh prefix on the Redis at [`redis_url`]; panics, with instructions, if Redis
    /// does not answer.
    pub fn new() -> TestPrefix {
        let url = redis_url();
        require_redis(&url);
        TestPrefix {
            url,
            prefix: random_prefix(),
        }
    }

    /// The prefix, e.g. for `USHER_REDIS_PREFIX`.
    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// The Redis URL the prefix lives on, e.g. for `USHER_REDIS_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A store on this prefix.
    pub fn store(&self) -> RedisFamilyStore {
        RedisFamilyStore::connect(&self.url, &self.prefix).unwrap()
    }

    /// The keys that exist under this prefix now.
    pub fn keys(&self) -> Vec<String> {
        keys_under(&self.url, &self.prefix).unwrap()
    }
}

impl Default for TestPrefix {
    fn default() -> TestPrefix {
        TestPrefix::new()
    }
}

impl Drop for TestPrefix {
    fn drop(&mut self) {
        // Never panic here (a drop during a failed test's unwinding would abort): a key
        // that cannot be deleted still expires at its family's end.
        let deleted = redis::Client::open(self.url.as_str()).and_then(|client| {
            let mut conn = client.get_connection()?;
            let keys = keys_under(&self.url, &self.prefix)?;
            for chunk in keys.chunks(500) {
                redis::cmd("DEL").arg(chunk).query::<()>(&mut conn)?;
            }
            Ok(())
        });
        if let Err(e) = deleted {
            eprintln!(
                "could not delete the test keys under {} on {}: {e}",
                self.prefix, self.url
            );
        }
    }
}

/// Every key whose name starts with `prefix` (SCAN, so Redis is never blocked). The
/// prefix must hold no glob characters; [`random_prefix`]'s never do.
pub fn keys_under(url: &str, prefix: &str) -> redis::RedisResult<Vec<String>> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_connection()?;
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Panics, with instructions, unless Redis answers at `url`.
pub fn require_redis(url: &str) {
    let store = RedisFamilyStore::connect(url, "usher-test-probe:")
        .unwrap_or_else(|e| panic!("the Redis URL {url} is not usable: {e}"));
    // On a thread of its own: callers may already be inside a runtime.
    let answer = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(store.ping())
            })
            .join()
            .unwrap()
    });
    if let Err(e) = answer {
        panic!(
            "Redis is needed for the refresh-family tests: start it (redis-server --port 6379 \
             --save '' --appendonly no) or set {REDIS_URL_VAR} (tried {url}): {e}"
        );
    }
}

/// A Redis store on a fresh random prefix, and the prefix, which deletes the store's
/// keys when dropped; panics if Redis does not answer.
pub fn redis_store() -> (RedisFamilyStore, TestPrefix) {
    let prefix = TestPrefix::new();
    (prefix.store(), prefix)
}

/// Now, by the real clock (tests only: the store itself takes `now` as a parameter).
#[allow(clippy::disallowed_methods)]
pub fn now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
}

fn random(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// A new family created at `at`: absolute end +1000 s, idle end +500 s, granted
/// `offline_access` (use [`online`] for one that logout ends).
pub fn new_family(at: UnixTime) -> NewFamily {
    NewFamily {
        id: FamilyId::parse(&random("f")).unwrap(),
        user_id: UserId::parse(&random("u")).unwrap(),
        client_id: ClientId::parse(&uuid::Uuid::new_v4().to_string()).unwrap(),
        scopes: ScopeSet::parse("openid offline_access profile").unwrap(),
        resources: Vec::new(),
        auth_time: UnixTime(at.seconds() - 30),
        amr: AuthMethods::password_and_otp(),
        lineage_hash: Some(random("s")),
        token_hash: random("h"),
        created_at: at,
        expires_at: at.plus(1000),
        idle_expires_at: at.plus(500),
    }
}

/// The same family without `offline_access`: an online family, which ends with its
/// browser-session lineage.
pub fn online(mut f: NewFamily) -> NewFamily {
    f.scopes = ScopeSet::parse("profile email").unwrap();
    f
}

fn rotation(f: &NewFamily, presented: &str, next: &str, at: UnixTime) -> Rotation {
    Rotation {
        family: f.id.clone(),
        presented_hash: presented.to_owned(),
        next_hash: next.to_owned(),
        sealed_next: None,
        now: at,
        idle_ttl: 500,
        grace: 0,
    }
}

fn outcome_name(o: &RotateOutcome) -> &'static str {
    match o {
        RotateOutcome::Rotated(_) => "rotated",
        RotateOutcome::Grace { .. } => "grace",
        RotateOutcome::Reused(_) => "reused",
        RotateOutcome::Revoked(_) => "revoked",
        RotateOutcome::Expired(_) => "expired",
        RotateOutcome::Unknown => "unknown",
    }
}

async fn rotate(store: &dyn FamilyStore, r: &Rotation) -> RotateOutcome {
    store.rotate(r).await.unwrap()
}

/// Every field survives the round trip; a new family is active and never rotated.
pub async fn a_family_round_trips(store: &dyn FamilyStore) {
    let t = now();
    let f = new_family(t);
    store.create(&f).await.unwrap();
    let got = store.get(&f.id).await.unwrap().expect("the family");
    assert_eq!(got.id, f.id);
    assert_eq!(got.user_id, f.user_id);
    assert_eq!(got.client_id, f.client_id);
    assert_eq!(got.scopes, f.scopes);
    assert_eq!(got.auth_time, f.auth_time);
    assert_eq!(got.amr, f.amr);
    assert_eq!(got.lineage_hash, f.lineage_hash);
    assert_eq!(got.token_hash, f.token_hash);
    assert_eq!(got.created_at, t);
    assert_eq!(got.last_rotated_at, None);
    assert_eq!(got.expires_at, f.expires_at);
    assert_eq!(got.idle_expires_at, f.idle_expires_at);
    assert_eq!(got.revoked, None);
    assert_eq!(got.state(t), FamilyState::Active);

    let mut without_session = new_family(t);
    without_session.lineage_hash = None;
    store.create(&without_session).await.unwrap();
    let got = store.get(&without_session.id).await.unwrap().unwrap();
    assert_eq!(got.lineage_hash, None);
}

/// The resources of a grant (RFC 8707) survive creation and every rotation, in order;
/// a family without any reads back with none.
pub async fn a_familys_resources_round_trip(store: &dyn FamilyStore) {
    let t = now();
    let mut f = new_family(t);
    f.scopes = ScopeSet::parse("openid invoices:read offline_access").unwrap();
    f.resources = vec![
        usher_domain::ResourceUri::parse("https://invoices.example/api").unwrap(),
        usher_domain::ResourceUri::parse("urn:example:reports").unwrap(),
    ];
    store.create(&f).await.unwrap();
    let got = store.get(&f.id).await.unwrap().expect("the family");
    assert_eq!(got.resources, f.resources);
    let r = rotation(&f, &f.token_hash, "next-hash", t.plus(1));
    match rotate(store, &r).await {
        RotateOutcome::Rotated(rotated) => assert_eq!(rotated.resources, f.resources),
        other => panic!("expected a rotation, got {other:?}"),
    }
    let plain = new_family(t);
    store.create(&plain).await.unwrap();
    assert!(
        store
            .get(&plain.id)
            .await
            .unwrap()
            .unwrap()
            .resources
            .is_empty()
    );
}

/// Creating a family twice is a conflict and keeps the first.
pub async fn a_duplicate_family_is_a_conflict(store: &dyn FamilyStore) {
    let f = new_family(now());
    store.create(&f).await.unwrap();
    let mut again = f.clone();
    again.token_hash = random("other");
    match store.create(&again).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.get(&f.id).await.unwrap().unwrap().token_hash,
        f.token_hash
    );
}

/// The current token rotates; the next one becomes current and the idle end moves.
pub async fn rotation_makes_the_next_token_current(store: &dyn FamilyStore) {
    let t = now();
    let f = new_family(t);
    store.create(&f).await.unwrap();
    let next = random("h");
    let at = t.plus(60);
    let RotateOutcome::Rotated(after) =
        rotate(store, &rotation(&f, &f.token_hash, &next, at)).await
    else {
        panic!("the current token should rotate");
    };
    assert_eq!(after.token_hash, next);
    assert_eq!(after.last_rotated_at, Some(at));
    assert_eq!(after.idle_expires_at, at.plus(500));
    assert_eq!(after.expires_at, f.expires_at);
    assert_eq!(after.user_id, f.user_id);
    let stored = store.get(&f.id).await.unwrap().unwrap();
    assert_eq!(stored.token_hash, next);

    let third = random("h");
    let o = rotate(store, &rotation(&f, &next, &third, at.plus(10))).await;
    assert_eq!(outcome_name(&o), "rotated");
}

/// Presenting an earlier token revokes the family, and its newest token with it.
pub async fn reuse_of_an_earlier_token_revokes_the_whole_family(store: &dyn FamilyStore) {
    let t = now();
    let f = new_family(t);
    store.create(&f).await.unwrap();
    let (second, third) = (random("h"), random("h"));
    rotate(store, &rotation(&f, &f.token_hash, &second, t.plus(1))).await;
    rotate(store, &rotation(&f, &second, &third, t.plus(2))).await;

    let RotateOutcome::Reused(family) =
        rotate(store, &rotation(&f, &f.token_hash, &random("h"), t.plus(3))).await
    else {
        panic!("an earlier token must be detected as reuse");
    };
    let revocation = family.revoked.expect("revoked");
    assert_eq!(revocation.reason, RevokeReason::Reuse);
    assert_eq!(revocation.at, t.plus(3));
    assert_eq!(family.state(t.plus(3)), FamilyState::Revoked);

    // The newest token is dead too, and the reason stays "reuse".
    let RotateOutcome::Revoked(family) =
        rotate(store, &rotation(&f, &third, &random("h"), t.plus(4))).await
    else {
        panic!("the newest token of a revoked family must be refused");
    };
    assert_eq!(family.revoked.unwrap().reason, RevokeReason::Reuse);
    assert_eq!(family.token_hash, third, "nothing rotated after revocation");
}

/// With grace off, presenting the parent right after a rotation is reuse.
pub async fn without_grace_the_parent_is_reuse_at_once(store: &dyn FamilyStore) {
    let t = now();
    let f = new_family(t);
    store.create(&f).await.unwrap();
    let mut r = rotation(&f, &f.token_hash, &random("h"), t);
    r.sealed_next = Some("sealed-child".into());
    r.grace = 0;
    assert_eq!(outcome_name(&rotate(store, &r).await), "rotated");
    let again = rotation(&f, &f.token_hash, &random("h"), t);
    assert_eq!(outcome_name(&rotate(store, &again).await), "reused");
}

/// Within the grace window the parent gets the same (sealed) child, and nothing
/// changes; after the window it is reuse.
pub async fn grace_returns_the_same_child(store: &dyn FamilyStore) {
    let t = now();
    let f = new_family(t);
    store.create(&f).await.unwrap();
    let child = random("h");
    let mut r = rotation(&f, &f.token_hash, &child, t.plus(10));
    r.sealed_next = Some("v1.the-sealed-child".into());
    r.grace = 30;
    assert_eq!(outcome_name(&rotate(store, &r).await), "rotated");

    for at in [t.plus(10), t.plus(39)] {
        let retry = rotation(&f, &f.token_hash, &random("h"), at);
        match rotate(store, &retry).await {
            RotateOutcome::Grace {
                family,
                sealed_child,
            } => {
                assert_eq!(sealed_child, "v1.the-sealed-child");
                assert_eq!(family.token_hash, child, "the child stays current");
                assert!(family.revoked.is_none());
            }
            other => panic!("expected the grace child, got {other:?}"),
        }
    }
    // The child still rotates normally...
    let grandchild = random("h");
    let o = rotate(store, &rotation(&f, &child, &grandchild, t.plus(40))).await;
    assert_eq!(outcome_name(&o), "rotated");
    // ... and the old parent is now two generations back: reuse.
    let late = rotation(&f, &f.token_hash, &random("h"), t.plus(41));
    assert_eq!(outcome_name(&rotate(store, &late).await), "reused");
}

/// After the grace window, the parent is reuse.
pub async fn the_grace_window_ends(store: &dyn FamilyStore) {
    let t = now();
    let f = new_family(t);
    store.create(&f).await.unwrap();
    let mut r = rotation(&f, &f.token_hash, &random("h"), t);
    r.sealed_next = Some("v1.sealed".into());
    r.grace = 5;
    rotate(store, &r).await;
    let late = rotation(&f, &f.token_hash, &random("h"), t.plus(5));
    assert_eq!(outcome_name(&rotate(store, &late).await), "reused");
}

/// Past the absolute end, even the current token is refused.
pub async fn a_family_expires_at_its_absolute_end(store: &dyn FamilyStore) {
    let t = now();
    let mut f = new_family(t);
    f.expires_at = t.plus(100);
    f.idle_expires_at = t.plus(100);
    store.create(&f).await.unwrap();
    let mut token = f.token_hash.clone();
    // Rotating keeps it alive within the absolute end...
    for step in [40, 80] {
        let next = random("h");
        let o = rotate(store, &rotation(&f, &token, &next, t.plus(step))).await;
        assert_eq!(outcome_name(&o), "rotated");
        token = next;
    }
    // ... but not past it.
    let o = rotate(store, &rotation(&f, &token, &random("h"), t.plus(100))).await;
    let RotateOutcome::Expired(family) = o else {
        panic!("expected expiry, got {o:?}");
    };
    assert_eq!(family.state(t.plus(100)), FamilyState::Expired);
    assert_eq!(family.token_hash, token, "nothing rotated");
}

/// Unused for longer than the idle timeout, the family ends.
pub async fn a_family_expires_when_idle(store: &dyn FamilyStore) {
    let t = now();
    let mut f = new_family(t);
    f.idle_expires_at = t.plus(50);
    store.create(&f).await.unwrap();
    let next = random("h");
    let mut r = rotation(&f, &f.token_hash, &next, t.plus(40));
    r.idle_ttl = 50;
    assert_eq!(outcome_name(&rotate(store, &r).await), "rotated");
    // The rotation at +40 moved the idle end to +90.
    let mut r = rotation(&f, &next, &random("h"), t.plus(90));
    r.idle_ttl = 50;
    assert_eq!(outcome_name(&rotate(store, &r).await), "expired");
}

/// Revocation is idempotent, keeps the first reason, stops the current token, and says
/// whether this call revoked the family (so a counter counts it once).
pub async fn revoking_a_family_stops_its_token(store: &dyn FamilyStore) {
    let t = now();
    let f = new_family(t);
    store.create(&f).await.unwrap();
    assert_eq!(
        store
            .revoke(&f.id, RevokeReason::Revoked, t.plus(5))
            .await
            .unwrap(),
        RevokeOutcome::Revoked
    );
    assert_eq!(
        store
            .revoke(&f.id, RevokeReason::Admin, t.plus(6))
            .await
            .unwrap(),
        RevokeOutcome::AlreadyRevoked
    );
    let got = store.get(&f.id).await.unwrap().unwrap();
    let revocation = got.revoked.unwrap();
    assert_eq!(revocation.reason, RevokeReason::Revoked);
    assert_eq!(revocation.at, t.plus(5));
    let o = rotate(store, &rotation(&f, &f.token_hash, &random("h"), t.plus(7))).await;
    assert_eq!(outcome_name(&o), "revoked");
}

/// An unknown family is `Unknown` to rotate, `None` to get and unknown to revoke.
pub async fn an_unknown_family_is_reported_as_unknown(store: &dyn FamilyStore) {
    let f = new_family(now());
    let o = rotate(store, &rotation(&f, "x", "y", now())).await;
    assert_eq!(outcome_name(&o), "unknown");
    assert!(store.get(&f.id).await.unwrap().is_none());
    assert_eq!(
        store
            .revoke(&f.id, RevokeReason::Admin, now())
            .await
            .unwrap(),
        RevokeOutcome::Unknown
    );
    assert_eq!(
        store
            .revoke_online("no-such-lineage", RevokeReason::Logout, now())
            .await
            .unwrap(),
        0
    );
}

/// Logout revokes the online families of one browser-session lineage — not its
/// offline ones, not the person's other devices; revoking a person revokes all of
/// theirs, offline ones included, and nobody else's. Counts are of families this call
/// revoked: a second pass counts none.
pub async fn lineages_and_people_revoke_their_own_families(store: &dyn FamilyStore) {
    let t = now();
    let a1 = online(new_family(t));
    let mut a2 = online(new_family(t));
    a2.user_id = a1.user_id.clone();
    a2.lineage_hash = a1.lineage_hash.clone();
    let mut offline = new_family(t);
    offline.user_id = a1.user_id.clone();
    offline.lineage_hash = a1.lineage_hash.clone();
    let mut other_device = online(new_family(t));
    other_device.user_id = a1.user_id.clone();
    let someone_else = online(new_family(t));
    for f in [&a1, &a2, &offline, &other_device, &someone_else] {
        store.create(f).await.unwrap();
    }
    let lineage = a1.lineage_hash.clone().unwrap();
    let n = store
        .revoke_online(&lineage, RevokeReason::Logout, t.plus(1))
        .await
        .unwrap();
    assert_eq!(n, 2);
    let again = store
        .revoke_online(&lineage, RevokeReason::Logout, t.plus(1))
        .await
        .unwrap();
    assert_eq!(again, 0, "nothing left to revoke");
    let state = |f: &NewFamily| {
        let id = f.id.clone();
        async move { store.get(&id).await.unwrap().unwrap().state(t.plus(2)) }
    };
    assert_eq!(state(&a1).await, FamilyState::Revoked);
    assert_eq!(state(&a2).await, FamilyState::Revoked);
    assert_eq!(
        state(&offline).await,
        FamilyState::Active,
        "offline access outlives logout"
    );
    assert_eq!(state(&other_device).await, FamilyState::Active);
    assert_eq!(
        store
            .get(&a1.id)
            .await
            .unwrap()
            .unwrap()
            .revoked
            .unwrap()
            .reason,
        RevokeReason::Logout
    );
    let o = rotate(
        store,
        &rotation(&offline, &offline.token_hash, &random("h"), t.plus(2)),
    )
    .await;
    assert_eq!(outcome_name(&o), "rotated");

    let n = store
        .revoke_user(&a1.user_id, RevokeReason::UserSessions, t.plus(2))
        .await
        .unwrap();
    assert_eq!(n, 2, "only the families that were still live");
    assert_eq!(state(&offline).await, FamilyState::Revoked);
    assert_eq!(state(&other_device).await, FamilyState::Revoked);
    assert_eq!(state(&someone_else).await, FamilyState::Active);
    let again = store
        .revoke_user(&a1.user_id, RevokeReason::UserSessions, t.plus(3))
        .await
        .unwrap();
    assert_eq!(again, 0);
}

/// The admin paths work for a person with thousands of families: all are listed, all
/// revoked (within the admin deadline, not the token path's), each counted once.
pub async fn a_person_with_thousands_of_families_is_listed_and_revoked(store: &dyn FamilyStore) {
    const N: usize = 2_000;
    let t = now();
    let first = online(new_family(t));
    let mut all = vec![first.clone()];
    for _ in 1..N {
        let mut f = online(new_family(t));
        f.user_id = first.user_id.clone();
        f.lineage_hash = first.lineage_hash.clone();
        all.push(f);
    }
    for f in &all {
        store.create(f).await.unwrap();
    }
    let mine = FamilyFilter {
        user: Some(first.user_id.clone()),
        client: None,
    };
    assert_eq!(store.list(&mine).await.unwrap().len(), N);
    let n = store
        .revoke_user(&first.user_id, RevokeReason::UserSessions, t.plus(1))
        .await
        .unwrap();
    assert_eq!(n, N);
    let listed = store.list(&mine).await.unwrap();
    assert_eq!(listed.len(), N);
    assert!(
        listed
            .iter()
            .all(|f| f.state(t.plus(1)) == FamilyState::Revoked)
    );
    let lineage = first.lineage_hash.clone().unwrap();
    assert_eq!(
        store
            .revoke_online(&lineage, RevokeReason::Logout, t.plus(2))
            .await
            .unwrap(),
        0
    );
}

/// Listing filters by person and by client, oldest first.
pub async fn families_are_listed_by_person_and_client(store: &dyn FamilyStore) {
    let t = now();
    let first = new_family(t);
    let mut second = new_family(t.plus(1));
    second.user_id = first.user_id.clone();
    let mut third = new_family(t.plus(2));
    third.user_id = first.user_id.clone();
    third.client_id = first.client_id.clone();
    for f in [&third, &first, &second] {
        store.create(f).await.unwrap();
    }
    let mine = store
        .list(&FamilyFilter {
            user: Some(first.user_id.clone()),
            client: None,
        })
        .await
        .unwrap();
    let ids: Vec<_> = mine.iter().map(|f| f.id.clone()).collect();
    assert_eq!(
        ids,
        vec![first.id.clone(), second.id.clone(), third.id.clone()]
    );
    let by_client = store
        .list(&FamilyFilter {
            user: Some(first.user_id.clone()),
            client: Some(first.client_id.clone()),
        })
        .await
        .unwrap();
    assert_eq!(by_client.len(), 2);
    let only_client = store
        .list(&FamilyFilter {
            user: None,
            client: Some(second.client_id.clone()),
        })
        .await
        .unwrap();
    assert_eq!(only_client.len(), 1);
    assert_eq!(only_client[0].id, second.id);
    let all = store.list(&FamilyFilter::default()).await.unwrap();
    assert!(all.len() >= 3);
}

/// Of many concurrent rotations of one token, exactly one wins; with grace off, the
/// others are reuse, and the family ends revoked.
pub async fn concurrent_rotations_have_one_winner(store: &dyn FamilyStore) {
    let t = now();
    let f = new_family(t);
    store.create(&f).await.unwrap();
    let outcomes: Vec<&'static str> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let r = rotation(&f, &f.token_hash, &random("h"), t.plus(1));
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    outcome_name(&runtime.block_on(store.rotate(&r)).unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners = outcomes.iter().filter(|o| **o == "rotated").count();
    assert_eq!(winners, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| ["rotated", "reused", "revoked"].contains(o)),
        "{outcomes:?}"
    );
    let family = store.get(&f.id).await.unwrap().unwrap();
    assert_eq!(family.revoked.unwrap().reason, RevokeReason::Reuse);
}

/// `ping` answers.
pub async fn ping_answers(store: &dyn FamilyStore) {
    store.ping().await.unwrap();
    assert!(["redis", "embedded"].contains(&store.kind()));
}

/// Runs every contract case as its own test against the store `$make` builds:
/// `family_contract!(redis, usher_families::testing::redis_store());` (`$make` gives the
/// store and something to keep alive until the case ends: a [`TestPrefix`], a test
/// database)
#[macro_export]
macro_rules! family_contract {
    ($module:ident, $make:expr) => {
        mod $module {
            $crate::family_contract!(@cases $make;
                a_family_round_trips,
                a_familys_resources_round_trip,
                a_duplicate_family_is_a_conflict,
                rotation_makes_the_next_token_current,
                reuse_of_an_earlier_token_revokes_the_whole_family,
                without_grace_the_parent_is_reuse_at_once,
                grace_returns_the_same_child,
                the_grace_window_ends,
                a_family_expires_at_its_absolute_end,
                a_family_expires_when_idle,
                revoking_a_family_stops_its_token,
                an_unknown_family_is_reported_as_unknown,
                lineages_and_people_revoke_their_own_families,
                a_person_with_thousands_of_families_is_listed_and_revoked,
                families_are_listed_by_person_and_client,
                concurrent_rotations_have_one_winner,
                ping_answers,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $case() {
                #[allow(unused_variables)]
                let (store, keep) = $make;
                $crate::testing::$case(&store).await;
                drop(keep);
            }
        )*
    };
}
