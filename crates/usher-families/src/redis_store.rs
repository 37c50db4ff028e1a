//! [`RedisFamilyStore`]: the family record as a Redis hash, every family operation one
//! Lua script, and a private tokio runtime that owns the connection.
//!
//! The connection is a `ConnectionManager` (one multiplexed connection that reconnects
//! by itself after an I/O error), created lazily so that Usher starts while Redis is
//! down and recovers without a restart when it comes back. It lives on a runtime of its
//! own, so its driver task never depends on which actix worker touched it first, and so
//! the synchronous admin CLI can use the store too. Every operation has a deadline: a
//! Redis that accepts connections but never answers makes requests fail with
//! [`StoreError::Unavailable`] after [`OPERATION_TIMEOUT`], never hang.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use usher_domain::{
    ClientId, Family, FamilyFilter, FamilyFuture, FamilyId, FamilyStore, NewFamily, Revocation,
    RevokeReason, RotateOutcome, Rotation, ScopeSet, StoreError, UnixTime, UserId,
};

/// The longest any one family operation may take, connecting included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Creates the family unless its key exists. KEYS[1] = family; ARGV = field/value pairs
/// then, last, the unix time at which the key expires. Returns 1, or 0 if it existed.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = #ARGV
for i = 1, n - 1, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIREAT', KEYS[1], ARGV[n])
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

/// Revokes a family. KEYS[1] = family; ARGV = now, reason. Returns 0 (no such family),
/// 1 (was already revoked) or 2 (revoked now).
const REVOKE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'revoked_at') == 1 then return 1 end
redis.call('HSET', KEYS[1], 'revoked_at', ARGV[1], 'reason', ARGV[2])
redis.call('HDEL', KEYS[1], 'sealed')
return 2
";

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

    /// Runs `op` on the store's runtime, with the operation deadline.
    fn run<'a, T, F, Fut>(&self, op: F) -> FamilyFuture<'a, T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let work = op(self.inner.clone());
        // The deadline's timer must be made inside the store's runtime.
        let task = self
            .handle
            .spawn(async move { tokio::time::timeout(OPERATION_TIMEOUT, work).await });
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
        format!("{}rt-user:{}", self.prefix, user.as_str())
    }

    fn session_index(&self, hash: &str) -> String {
        format!("{}rt-session:{hash}", self.prefix)
    }

    fn all_index(&self) -> String {
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

    async fn revoke_one(
        &self,
        id: &str,
        reason: RevokeReason,
        now: UnixTime,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn.clone();
        self.revoke
            .key(self.family_key(id))
            .arg(now.seconds())
            .arg(reason.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    /// Revokes every family in an index set; prunes members whose family is gone.
    async fn revoke_indexed(
        &self,
        index: String,
        reason: RevokeReason,
        now: UnixTime,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn.smembers(&index).await.map_err(unavailable)?;
        let mut revoked = 0;
        for id in ids {
            match self.revoke_one(&id, reason, now).await? {
                0 => {
                    let _: i64 = conn.srem(&index, &id).await.map_err(unavailable)?;
                }
                2 => revoked += 1,
                _ => {}
            }
        }
        Ok(revoked)
    }

    /// Adds `id` to an index set whose own expiry follows the latest family in it.
    async fn index(&self, index: String, id: &str, until: i64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::pipe()
            .sadd(&index, id)
            .ignore()
            .cmd("EXPIREAT")
            .arg(&index)
            .arg(until)
            .arg("NX")
            .ignore()
            .cmd("EXPIREAT")
            .arg(&index)
            .arg(until)
            .arg("GT")
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
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
        auth_time: time("auth_time")?,
        session_id_hash: f.get("session").filter(|s| !s.is_empty()).cloned(),
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
            let fields: [(&str, String); 8] = [
                ("user", family.user_id.as_str().to_owned()),
                ("client", family.client_id.as_str().to_owned()),
                ("scopes", family.scopes.to_string()),
                ("auth_time", family.auth_time.seconds().to_string()),
                ("token", family.token_hash.clone()),
                ("created", family.created_at.seconds().to_string()),
                ("expires", family.expires_at.seconds().to_string()),
                ("idle_expires", family.idle_expires_at.seconds().to_string()),
            ];
            for (name, value) in &fields {
                invocation.arg(*name).arg(value);
            }
            if let Some(session) = &family.session_id_hash {
                invocation.arg("session").arg(session);
            }
            invocation.arg(until);
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
            inner.index(inner.all_index(), id, until).await?;
            inner
                .index(inner.user_index(&family.user_id), id, until)
                .await?;
            if let Some(session) = &family.session_id_hash {
                inner.index(inner.session_index(session), id, until).await?;
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
    ) -> FamilyFuture<'a, bool> {
        let id = id.clone();
        self.run(
            move |inner| async move { Ok(inner.revoke_one(id.as_str(), reason, now).await? > 0) },
        )
    }

    fn revoke_session<'a>(
        &'a self,
        session_id_hash: &'a str,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize> {
        let hash = session_id_hash.to_owned();
        self.run(move |inner| async move {
            let index = inner.session_index(&hash);
            inner.revoke_indexed(index, reason, now).await
        })
    }

    fn revoke_user<'a>(
        &'a self,
        user: &'a UserId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize> {
        let user = user.clone();
        self.run(move |inner| async move {
            let index = inner.user_index(&user);
            inner.revoke_indexed(index, reason, now).await
        })
    }

    fn list<'a>(&'a self, filter: &'a FamilyFilter) -> FamilyFuture<'a, Vec<Family>> {
        let filter = filter.clone();
        self.run(move |inner| async move {
            let index = match &filter.user {
                Some(user) => inner.user_index(user),
                None => inner.all_index(),
            };
            let mut conn = inner.conn.clone();
            let ids: Vec<String> = conn.smembers(&index).await.map_err(unavailable)?;
            let mut families = Vec::new();
            for id in ids {
                match inner.fetch(&id).await? {
                    None => {
                        let _: i64 = conn.srem(&index, &id).await.map_err(unavailable)?;
                    }
                    Some(f) if filter.client.as_ref().is_none_or(|c| *c == f.client_id) => {
                        families.push(f);
                    }
                    Some(_) => {}
                }
            }
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
