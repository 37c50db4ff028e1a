//! [`RedisFamilyStore`]: the family record as a Redis hash, every change to a family one
//! Lua script, and a private tokio runtime that owns the connection.
//!
//! Three indexes find families without scanning the keyspace: every family
//! (`rtz-all`), a person's (`rtz-user:<id>`) and a browser-session lineage's
//! (`rtz-lineage:<hash>`). Each is a sorted set scored by the family's absolute end, the
//! latest moment its key can exist; the create script writes the family and its indexes
//! in one step and prunes members whose end has passed, so an index holds at most the
//! families that can still be alive. The admin paths (list, revoke a person's or a
//! lineage's families) walk an index in pages and act on each page in one round trip,
//! under [`ADMIN_OPERATION_TIMEOUT`] rather than the token path's deadline. Redis Cluster
//! is not supported: see docs/design/refresh-families.md.
//!
//! The connection is a `ConnectionManager` (one multiplexed connection that reconnects
//! by itself after an I/O error), created lazily so that Usher starts while Redis is
//! down and recovers without a restart when it comes back. It lives on a runtime of its
//! own, so its driver task never depends on which actix worker touched it first, and so
//! the synchronous admin CLI can use the store too. Every operation has a deadline: a
//! Redis that accepts connections but never answers makes requests fail with
//! [`StoreError::Unavailable`] after [`OPERATION_TIMEOUT`] (the admin walks after
//! [`ADMIN_OPERATION_TIMEOUT`]), never hang.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use usher_domain::resource::{join_resources, split_resources};
use usher_domain::{
    AuthMethods, ClientId, Family, FamilyFilter, FamilyFuture, FamilyId, FamilyStore, NewFamily,
    Revocation, RevokeOutcome, RevokeReason, RotateOutcome, Rotation, ScopeSet, StoreError,
    UnixTime, UserId,
};

/// The longest any one family operation on the token path (create, rotate, get, revoke
/// one family, a logout's revocation) may take, connecting included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest the admin paths (list families, revoke every family of a person) may
/// take: they walk an index page by page, each page one round trip bounded by the
/// response timeout, so a person with thousands of families is not cut off by the token
/// path's deadline.
pub const ADMIN_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Index members read (ZSCAN/SSCAN `COUNT`) and families acted on per round trip.
const PAGE: usize = 500;
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Creates the family unless its key exists, and indexes it, in one step. KEYS[1] =
/// family, KEYS[2..] = the index sorted sets; ARGV = family id, now, the family's
/// absolute end (the index score), the unix time at which the family key expires, then
/// field/value pairs. Each index first loses the members whose absolute end is not after
/// `now` (their families are gone), then gains this one; an index key expires with the
/// latest family in it. Returns 1, or 0 if the family existed (nothing is written).
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local id, now, score = ARGV[1], ARGV[2], ARGV[3]
for i = 5, #ARGV - 1, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIREAT', KEYS[1], ARGV[4])
for i = 2, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  redis.call('ZADD', KEYS[i], score, id)
  redis.call('EXPIREAT', KEYS[i], score, 'NX')
  redis.call('EXPIREAT', KEYS[i], score, 'GT')
end
return 1
";

/// Rotation, grace and reuse detection in one step. KEYS[1] = family; ARGV = presented
/// hash, next hash, sealed child ('' = none), now, idle ttl, grace. Returns the outcome
/// followed by the family's fields (HGETALL).
const ROTATE: &str = r"
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return {'unknown'} end
local f = redis.call('HMGET', k, 'token', 'revoked_at', 'expires', 'idle_expires', 'parent', 'sealed', 'grace_until')
local now = tonumber(ARGV[4])
local function answer(outcome)
  local all = redis.call('HGETALL', k)
  table.insert(all, 1, outcome)
  return all
end
if f[2] then return answer('revoked') end
local expires = tonumber(f[3])
if now >= math.min(expires, tonumber(f[4])) then return answer('expired') end
if f[1] == ARGV[1] then
  local idle = now + tonumber(ARGV[5])
  redis.call('HSET', k, 'token', ARGV[2], 'parent', ARGV[1], 'rotated', now, 'idle_expires', idle)
  local grace = tonumber(ARGV[6])
  if grace > 0 and ARGV[3] ~= '' then
    redis.call('HSET', k, 'sealed', ARGV[3], 'grace_until', now + grace)
  else
    redis.call('HDEL', k, 'sealed', 'grace_until')
  end
  redis.call('EXPIREAT', k, math.min(expires, idle))
  return answer('rotated')
end
if f[5] == ARGV[1] and f[6] and f[7] and now < tonumber(f[7]) then return answer('grace') end
redis.call('HSET', k, 'revoked_at', now, 'reason', 'reuse')
redis.call('HDEL', k, 'sealed')
return answer('reused')
";

/// Revokes families. KEYS = family keys; ARGV = now, reason, and '1' to spare families
/// granted `offline_access` (the rule of `usher_domain::survives_logout`, on the scope
/// list as stored: space-separated). Returns, per key, 0 (no such family), 1 (revoked
/// before), 2 (revoked now) or 3 (spared: offline).
const REVOKE: &str = r"
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 0 then
    out[i] = 0
  elseif redis.call('HEXISTS', k, 'revoked_at') == 1 then
    out[i] = 1
  elseif ARGV[3] == '1' and string.find(' ' .. (redis.call('HGET', k, 'scopes') or '') .. ' ', ' offline_access ', 1, true) then
    out[i] = 3
  else
    redis.call('HSET', k, 'revoked_at', ARGV[1], 'reason', ARGV[2])
    redis.call('HDEL', k, 'sealed')
    out[i] = 2
  end
end
return out
";

/// What the revoke script answered for one family.
const GONE: i64 = 0;
const ALREADY_REVOKED: i64 = 1;
const REVOKED_NOW: i64 = 2;

/// An index and the kind of key it is: the sorted sets this version writes, or the plain
/// sets of earlier versions (read and pruned, never written), so that families created
/// before an upgrade are still listed and revoked until they expire.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IndexKind {
    Sorted,
    Legacy,
}

/// Which families of an index a revocation spares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spare {
    Nothing,
    Offline,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    create: Script,
    rotate: Script,
    revoke: Script,
}

/// Refresh-token families in Redis. Cheap to share behind an `Arc`.
pub struct RedisFamilyStore {
    inner: Arc<Inner>,
    handle: tokio::runtime::Handle,
    /// Shut down in the background on drop (dropping a runtime inside another one's
    /// async context would panic).
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for RedisFamilyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisFamilyStore")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisFamilyStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn unavailable(e: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "refresh family {id} in redis has an invalid {what}"
    ))
}

impl RedisFamilyStore {
    /// A store on the Redis at `url` (`redis://HOST:PORT[/DB]`), with every key starting
    /// with `prefix` (e.g. `usher:`; tests use a random one). Nothing is connected yet:
    /// the first operation connects, and a Redis that is down makes operations fail
    /// (and `/readyz` report it) until it is back.
    pub fn connect(url: &str, prefix: &str) -> Result<RedisFamilyStore, StoreError> {
        let client = redis::Client::open(url).map_err(|e| {
            StoreError::Unavailable(format!("the Redis URL is not usable: {:?}", e.kind()))
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("usher-redis")
            .enable_all()
            .build()
            .map_err(|e| unavailable(format!("cannot start the Redis runtime: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = {
            let _inside = runtime.enter();
            ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?
        };
        Ok(RedisFamilyStore {
            inner: Arc::new(Inner {
                conn,
                prefix: prefix.to_owned(),
                create: Script::new(CREATE),
                rotate: Script::new(ROTATE),
                revoke: Script::new(REVOKE),
            }),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Runs `op` on the store's runtime, with the token path's deadline.
    fn run<'a, T, F, Fut>(&self, op: F) -> FamilyFuture<'a, T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.run_within(OPERATION_TIMEOUT, op)
    }

    /// Runs `op` on the store's runtime, with the deadline `limit`.
    fn run_within<'a, T, F, Fut>(&self, limit: Duration, op: F) -> FamilyFuture<'a, T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let work = op(self.inner.clone());
        // The deadline's timer must be made inside the store's runtime.
        let task = self
            .handle
            .spawn(async move { tokio::time::timeout(limit, work).await });
        Box::pin(async move {
            match task.await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(unavailable("no answer within the deadline")),
                Err(e) => Err(unavailable(format!("the Redis task failed: {e}"))),
            }
        })
    }
}

impl Inner {
    fn family_key(&self, id: &str) -> String {
        format!("{}rt:{{{id}}}", self.prefix)
    }

    fn user_index(&self, user: &UserId) -> String {
        format!("{}rtz-user:{}", self.prefix, user.as_str())
    }

    fn lineage_index(&self, hash: &str) -> String {
        format!("{}rtz-lineage:{hash}", self.prefix)
    }

    fn all_index(&self) -> String {
        format!("{}rtz-all", self.prefix)
    }

    /// The plain sets earlier versions wrote (person, browser session — whose hash is
    /// the lineage of the sessions that existed at the upgrade —, everyone).
    fn legacy_user_index(&self, user: &UserId) -> String {
        format!("{}rt-user:{}", self.prefix, user.as_str())
    }

    fn legacy_session_index(&self, hash: &str) -> String {
        format!("{}rt-session:{hash}", self.prefix)
    }

    fn legacy_all_index(&self) -> String {
        format!("{}rt-all", self.prefix)
    }

    async fn fetch(&self, id: &str) -> Result<Option<Family>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = conn
            .hgetall(self.family_key(id))
            .await
            .map_err(unavailable)?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_family(id, &fields).map(Some)
    }

    /// Runs the revoke script over `ids`; the answer per id, in order.
    async fn revoke_batch(
        &self,
        ids: &[String],
        reason: RevokeReason,
        now: UnixTime,
        spare: Spare,
    ) -> Result<Vec<i64>, StoreError> {
        let mut invocation = self.revoke.prepare_invoke();
        for id in ids {
            invocation.key(self.family_key(id));
        }
        invocation
            .arg(now.seconds())
            .arg(reason.as_str())
            .arg(if spare == Spare::Offline { "1" } else { "0" });
        let mut conn = self.conn.clone();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    /// Every member of an index, page by page (ZSCAN/SSCAN: each page one round trip;
    /// a member may come twice, callers tolerate it).
    async fn members(&self, index: &str, kind: IndexKind) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let mut cursor = "0".to_owned();
        let mut ids = Vec::new();
        loop {
            let command = match kind {
                IndexKind::Sorted => "ZSCAN",
                IndexKind::Legacy => "SSCAN",
            };
            let (next, page): (String, Vec<String>) = redis::cmd(command)
                .arg(index)
                .arg(&cursor)
                .arg("COUNT")
                .arg(PAGE)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            match kind {
                // ZSCAN answers member, score, member, score, …
                IndexKind::Sorted => ids.extend(page.into_iter().step_by(2)),
                IndexKind::Legacy => ids.extend(page),
            }
            if next == "0" {
                return Ok(ids);
            }
            cursor = next;
        }
    }

    /// Drops members whose family is gone from an index, in one round trip.
    async fn prune(&self, index: &str, kind: IndexKind, gone: &[String]) -> Result<(), StoreError> {
        if gone.is_empty() {
            return Ok(());
        }
        let command = match kind {
            IndexKind::Sorted => "ZREM",
            IndexKind::Legacy => "SREM",
        };
        let mut conn = self.conn.clone();
        redis::cmd(command)
            .arg(index)
            .arg(gone)
            .query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Revokes the families in some indexes, a page per round trip; prunes members whose
    /// family is gone. Returns how many this call revoked.
    async fn revoke_indexed(
        &self,
        indexes: &[(String, IndexKind)],
        reason: RevokeReason,
        now: UnixTime,
        spare: Spare,
    ) -> Result<usize, StoreError> {
        let mut revoked = 0;
        for (index, kind) in indexes {
            let ids = self.members(index, *kind).await?;
            for page in ids.chunks(PAGE) {
                let answers = self.revoke_batch(page, reason, now, spare).await?;
                revoked += answers.iter().filter(|a| **a == REVOKED_NOW).count();
                let gone: Vec<String> = page
                    .iter()
                    .zip(&answers)
                    .filter(|(_, a)| **a == GONE)
                    .map(|(id, _)| id.clone())
                    .collect();
                self.prune(index, *kind, &gone).await?;
            }
        }
        Ok(revoked)
    }

    /// The families in some indexes (each once), a page of HGETALLs per round trip;
    /// prunes members whose family is gone.
    async fn list_indexed(
        &self,
        indexes: &[(String, IndexKind)],
    ) -> Result<Vec<Family>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        let mut families = Vec::new();
        for (index, kind) in indexes {
            let mut ids = self.members(index, *kind).await?;
            ids.retain(|id| seen.insert(id.clone()));
            for page in ids.chunks(PAGE) {
                let mut pipe = redis::pipe();
                for id in page {
                    pipe.hgetall(self.family_key(id));
                }
                let mut conn = self.conn.clone();
                let records: Vec<HashMap<String, String>> =
                    pipe.query_async(&mut conn).await.map_err(unavailable)?;
                let mut gone = Vec::new();
                for (id, fields) in page.iter().zip(records) {
                    if fields.is_empty() {
                        gone.push(id.clone());
                    } else {
                        families.push(parse_family(id, &fields)?);
                    }
                }
                self.prune(index, *kind, &gone).await?;
            }
        }
        Ok(families)
    }
}

fn parse_family(id: &str, f: &HashMap<String, String>) -> Result<Family, StoreError> {
    let text = |name: &str| f.get(name).ok_or_else(|| corrupt(id, name));
    let time = |name: &str| -> Result<UnixTime, StoreError> {
        text(name)?
            .parse::<i64>()
            .map(UnixTime)
            .map_err(|_| corrupt(id, name))
    };
    let optional_time = |name: &str| -> Result<Option<UnixTime>, StoreError> {
        f.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map(UnixTime)
                    .map_err(|_| corrupt(id, name))
            })
            .transpose()
    };
    let revoked = match optional_time("revoked_at")? {
        None => None,
        Some(at) => Some(Revocation {
            at,
            reason: RevokeReason::parse(text("reason")?).ok_or_else(|| corrupt(id, "reason"))?,
        }),
    };
    Ok(Family {
        id: FamilyId::parse(id).ok_or_else(|| corrupt(id, "id"))?,
        user_id: UserId::parse(text("user")?).ok_or_else(|| corrupt(id, "user"))?,
        client_id: ClientId::parse(text("client")?).ok_or_else(|| corrupt(id, "client"))?,
        scopes: ScopeSet::parse(text("scopes")?).map_err(|_| corrupt(id, "scopes"))?,
        // Absent in a family granted without resources (and in every family a node of an
        // earlier release created).
        resources: match f.get("resources") {
            None => Vec::new(),
            Some(v) => split_resources(v).ok_or_else(|| corrupt(id, "resources"))?,
        },
        auth_time: time("auth_time")?,
        // Absent in a family a node of the previous release created: a password alone.
        amr: match f.get("amr") {
            None => AuthMethods::password(),
            Some(v) => AuthMethods::parse_stored(v).ok_or_else(|| corrupt(id, "amr"))?,
        },
        // The field kept its name from before lineages; it holds the lineage hash.
        lineage_hash: f.get("session").filter(|s| !s.is_empty()).cloned(),
        token_hash: text("token")?.clone(),
        created_at: time("created")?,
        last_rotated_at: optional_time("rotated")?,
        expires_at: time("expires")?,
        idle_expires_at: time("idle_expires")?,
        revoked,
    })
}

/// `[outcome, field, value, …]` as the rotate script answers.
fn parse_outcome(id: &str, reply: Vec<String>) -> Result<RotateOutcome, StoreError> {
    let mut items = reply.into_iter();
    let outcome = items.next().unwrap_or_default();
    if outcome == "unknown" {
        return Ok(RotateOutcome::Unknown);
    }
    let mut fields = HashMap::new();
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        fields.insert(k, v);
    }
    let family = parse_family(id, &fields)?;
    Ok(match outcome.as_str() {
        "rotated" => RotateOutcome::Rotated(family),
        "grace" => RotateOutcome::Grace {
            sealed_child: fields
                .get("sealed")
                .cloned()
                .ok_or_else(|| corrupt(id, "sealed child"))?,
            family,
        },
        "reused" => RotateOutcome::Reused(family),
        "revoked" => RotateOutcome::Revoked(family),
        "expired" => RotateOutcome::Expired(family),
        _ => return Err(corrupt(id, "script answer")),
    })
}

impl FamilyStore for RedisFamilyStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn create<'a>(&'a self, family: &'a NewFamily) -> FamilyFuture<'a, ()> {
        let family = family.clone();
        self.run(move |inner| async move {
            let id = family.id.as_str();
            let until = family.expires_at.min(family.idle_expires_at).seconds();
            let mut invocation = inner.create.key(inner.family_key(id));
            invocation
                .key(inner.all_index())
                .key(inner.user_index(&family.user_id));
            if let Some(lineage) = &family.lineage_hash {
                invocation.key(inner.lineage_index(lineage));
            }
            invocation
                .arg(id)
                .arg(family.created_at.seconds())
                .arg(family.expires_at.seconds())
                .arg(until);
            let fields: [(&str, String); 9] = [
                ("user", family.user_id.as_str().to_owned()),
                ("client", family.client_id.as_str().to_owned()),
                ("scopes", family.scopes.to_string()),
                ("auth_time", family.auth_time.seconds().to_string()),
                ("amr", family.amr.to_stored()),
                ("token", family.token_hash.clone()),
                ("created", family.created_at.seconds().to_string()),
                ("expires", family.expires_at.seconds().to_string()),
                ("idle_expires", family.idle_expires_at.seconds().to_string()),
            ];
            for (name, value) in &fields {
                invocation.arg(*name).arg(value);
            }
            if let Some(lineage) = &family.lineage_hash {
                invocation.arg("session").arg(lineage);
            }
            // Only when there are any: a family without resources looks as it did before
            // resources existed, to nodes of either release.
            if !family.resources.is_empty() {
                invocation
                    .arg("resources")
                    .arg(join_resources(&family.resources));
            }
            let mut conn = inner.conn.clone();
            let created: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if created == 0 {
                return Err(StoreError::Conflict(
                    "this refresh family already exists".into(),
                ));
            }
            Ok(())
        })
    }

    fn rotate<'a>(&'a self, rotation: &'a Rotation) -> FamilyFuture<'a, RotateOutcome> {
        let r = rotation.clone();
        self.run(move |inner| async move {
            let id = r.family.as_str();
            let mut conn = inner.conn.clone();
            let reply: Vec<String> = inner
                .rotate
                .key(inner.family_key(id))
                .arg(&r.presented_hash)
                .arg(&r.next_hash)
                .arg(r.sealed_next.as_deref().unwrap_or(""))
                .arg(r.now.seconds())
                .arg(r.idle_ttl)
                .arg(r.grace)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            parse_outcome(id, reply)
        })
    }

    fn get<'a>(&'a self, id: &'a FamilyId) -> FamilyFuture<'a, Option<Family>> {
        let id = id.clone();
        self.run(move |inner| async move { inner.fetch(id.as_str()).await })
    }

    fn revoke<'a>(
        &'a self,
        id: &'a FamilyId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, RevokeOutcome> {
        let id = id.as_str().to_owned();
        self.run(move |inner| async move {
            let answers = inner
                .revoke_batch(std::slice::from_ref(&id), reason, now, Spare::Nothing)
                .await?;
            Ok(match answers.first().copied() {
                Some(REVOKED_NOW) => RevokeOutcome::Revoked,
                Some(ALREADY_REVOKED) => RevokeOutcome::AlreadyRevoked,
                Some(GONE) => RevokeOutcome::Unknown,
                _ => return Err(corrupt(&id, "revocation answer")),
            })
        })
    }

    fn revoke_online<'a>(
        &'a self,
        lineage_hash: &'a str,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize> {
        let hash = lineage_hash.to_owned();
        self.run(move |inner| async move {
            let indexes = [
                (inner.lineage_index(&hash), IndexKind::Sorted),
                (inner.legacy_session_index(&hash), IndexKind::Legacy),
            ];
            inner
                .revoke_indexed(&indexes, reason, now, Spare::Offline)
                .await
        })
    }

    fn revoke_user<'a>(
        &'a self,
        user: &'a UserId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize> {
        let user = user.clone();
        self.run_within(ADMIN_OPERATION_TIMEOUT, move |inner| async move {
            let indexes = [
                (inner.user_index(&user), IndexKind::Sorted),
                (inner.legacy_user_index(&user), IndexKind::Legacy),
            ];
            inner
                .revoke_indexed(&indexes, reason, now, Spare::Nothing)
                .await
        })
    }

    fn list<'a>(&'a self, filter: &'a FamilyFilter) -> FamilyFuture<'a, Vec<Family>> {
        let filter = filter.clone();
        self.run_within(ADMIN_OPERATION_TIMEOUT, move |inner| async move {
            let indexes = match &filter.user {
                Some(user) => [
                    (inner.user_index(user), IndexKind::Sorted),
                    (inner.legacy_user_index(user), IndexKind::Legacy),
                ],
                None => [
                    (inner.all_index(), IndexKind::Sorted),
                    (inner.legacy_all_index(), IndexKind::Legacy),
                ],
            };
            let mut families = inner.list_indexed(&indexes).await?;
            families.retain(|f| filter.client.as_ref().is_none_or(|c| *c == f.client_id));
            families.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(families)
        })
    }

    fn ping(&self) -> FamilyFuture<'_, ()> {
        self.run(move |inner| async move {
            let mut conn = inner.conn.clone();
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
    }
}
