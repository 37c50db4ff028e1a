//! The embedded family store: refresh-token families in the `refresh_families` table,
//! behind [`FamilyStore`] — the default, so that a single node keeps its families
//! across a restart without any other process.
//!
//! Rotation is one compare-and-swap: `UPDATE … SET token_hash = next WHERE id = ? AND
//! token_hash = presented AND revoked_at IS NULL AND <not expired>`. Of any number of
//! concurrent callers with the same token, exactly one changes the row (PostgreSQL
//! re-checks the condition after waiting for the row lock; SQLite serialises writers).
//! Every other caller then reads the row, inside the same transaction, and finds out why
//! it lost: revoked, expired, within the grace window of the token it presented, or a
//! reuse, which it answers by revoking the family. The calls block, so the async trait
//! methods run them on tokio's blocking pool.
//!
//! Token hashes never appear in error messages.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use usher_domain::ports::Ping;
use usher_domain::{
    AuthMethods, ClientId, Family, FamilyFilter, FamilyFuture, FamilyId, FamilyStore, NewFamily,
    Revocation, RevokeOutcome, RevokeReason, RotateOutcome, Rotation, ScopeSet, StoreError,
    UnixTime, UserId, survives_logout,
};

use usher_domain::resource::{join_resources, split_resources};

use crate::database::{Database, corrupt, unavailable, unique_violation};

diesel::table! {
    refresh_families (id) {
        id -> Text,
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        auth_time -> BigInt,
        session_id_hash -> Nullable<Text>,
        token_hash -> Text,
        parent_hash -> Nullable<Text>,
        sealed_child -> Nullable<Text>,
        grace_until -> Nullable<BigInt>,
        created_at -> BigInt,
        last_rotated_at -> Nullable<BigInt>,
        expires_at -> BigInt,
        idle_expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        amr -> Text,
        resources -> Text,
    }
}

use refresh_families as rf;

/// How many families one revoking `UPDATE … WHERE id IN (…)` names at most.
const REVOKE_BATCH: usize = 500;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_families)]
struct FamilyRow {
    id: String,
    user_id: String,
    client_id: String,
    scopes: String,
    auth_time: i64,
    /// The lineage hash ([`Family::lineage_hash`]); the column kept its name from before
    /// lineages (migration `2026-12-02-000006_session_lineage`).
    session_id_hash: Option<String>,
    token_hash: String,
    parent_hash: Option<String>,
    sealed_child: Option<String>,
    grace_until: Option<i64>,
    created_at: i64,
    last_rotated_at: Option<i64>,
    expires_at: i64,
    idle_expires_at: i64,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    amr: String,
    /// The granted resources, space-separated ([`join_resources`]).
    resources: String,
}

impl FamilyRow {
    fn from_new(f: &NewFamily) -> FamilyRow {
        FamilyRow {
            id: f.id.as_str().to_owned(),
            user_id: f.user_id.as_str().to_owned(),
            client_id: f.client_id.as_str().to_owned(),
            scopes: f.scopes.to_string(),
            auth_time: f.auth_time.seconds(),
            session_id_hash: f.lineage_hash.clone(),
            token_hash: f.token_hash.clone(),
            parent_hash: None,
            sealed_child: None,
            grace_until: None,
            created_at: f.created_at.seconds(),
            last_rotated_at: None,
            expires_at: f.expires_at.seconds(),
            idle_expires_at: f.idle_expires_at.seconds(),
            revoked_at: None,
            revoked_reason: None,
            amr: f.amr.to_stored(),
            resources: join_resources(&f.resources),
        }
    }

    fn to_domain(&self) -> Result<Family, StoreError> {
        let id = FamilyId::parse(&self.id)
            .ok_or_else(|| corrupt(format!("a refresh family has an invalid id {:?}", self.id)))?;
        let bad = |what: &str| corrupt(format!("refresh family {id} has an invalid {what}"));
        let revoked = match (self.revoked_at, self.revoked_reason.as_deref()) {
            (None, _) => None,
            (Some(at), Some(reason)) => Some(Revocation {
                at: UnixTime(at),
                reason: RevokeReason::parse(reason).ok_or_else(|| bad("revocation reason"))?,
            }),
            (Some(_), None) => return Err(bad("revocation reason")),
        };
        Ok(Family {
            user_id: UserId::parse(&self.user_id).ok_or_else(|| bad("user id"))?,
            client_id: ClientId::parse(&self.client_id).ok_or_else(|| bad("client id"))?,
            scopes: ScopeSet::parse(&self.scopes).map_err(|_| bad("scope list"))?,
            resources: split_resources(&self.resources).ok_or_else(|| bad("resource list"))?,
            auth_time: UnixTime(self.auth_time),
            amr: AuthMethods::parse_stored(&self.amr).ok_or_else(|| bad("amr"))?,
            lineage_hash: self.session_id_hash.clone(),
            token_hash: self.token_hash.clone(),
            created_at: UnixTime(self.created_at),
            last_rotated_at: self.last_rotated_at.map(UnixTime),
            expires_at: UnixTime(self.expires_at),
            idle_expires_at: UnixTime(self.idle_expires_at),
            revoked,
            id,
        })
    }
}

/// What the rotation transaction found, still as rows.
enum Found {
    Rotated(FamilyRow),
    Grace(FamilyRow, String),
    Reused(FamilyRow),
    Revoked(FamilyRow),
    Expired(FamilyRow),
    Unknown,
}

impl Database {
    fn create_family(&self, family: &NewFamily) -> Result<(), StoreError> {
        let row = FamilyRow::from_new(family);
        let mut conn = self.conn()?;
        diesel::insert_into(rf::table)
            .values(&row)
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(|e| match unique_violation(&e) {
                Some(_) => StoreError::Conflict("this refresh family already exists".into()),
                None => unavailable(e),
            })
    }

    fn rotate_family(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        let now = r.now.seconds();
        let grace_until = (r.grace > 0 && r.sealed_next.is_some()).then(|| now + r.grace);
        let sealed = grace_until.and(r.sealed_next.clone());
        let mut conn = self.conn()?;
        let found = conn
            .transaction::<_, DieselError, _>(|c| {
                // The arbiter: of any number of concurrent callers, one changes the row.
                let swapped = diesel::update(
                    rf::table
                        .filter(rf::id.eq(r.family.as_str()))
                        .filter(rf::token_hash.eq(&r.presented_hash))
                        .filter(rf::revoked_at.is_null())
                        .filter(rf::expires_at.gt(now))
                        .filter(rf::idle_expires_at.gt(now)),
                )
                .set((
                    rf::token_hash.eq(&r.next_hash),
                    rf::parent_hash.eq(Some(&r.presented_hash)),
                    rf::sealed_child.eq(&sealed),
                    rf::grace_until.eq(grace_until),
                    rf::last_rotated_at.eq(Some(now)),
                    rf::idle_expires_at.eq(now.saturating_add(r.idle_ttl)),
                ))
                .execute(c)?;
                let Some(row) = rf::table
                    .filter(rf::id.eq(r.family.as_str()))
                    .select(FamilyRow::as_select())
                    .first(c)
                    .optional()?
                else {
                    return Ok(Found::Unknown);
                };
                if swapped == 1 {
                    return Ok(Found::Rotated(row));
                }
                if row.revoked_at.is_some() {
                    return Ok(Found::Revoked(row));
                }
                if now >= row.expires_at.min(row.idle_expires_at) {
                    return Ok(Found::Expired(row));
                }
                if row.parent_hash.as_deref() == Some(r.presented_hash.as_str())
                    && row.grace_until.is_some_and(|g| now < g)
                    && let Some(child) = row.sealed_child.clone()
                {
                    return Ok(Found::Grace(row, child));
                }
                // An earlier token: revoke the family, the current token included.
                let revoked = diesel::update(
                    rf::table
                        .filter(rf::id.eq(r.family.as_str()))
                        .filter(rf::revoked_at.is_null()),
                )
                .set(revoke_now(RevokeReason::Reuse, r.now))
                .execute(c)?;
                let row = rf::table
                    .filter(rf::id.eq(r.family.as_str()))
                    .select(FamilyRow::as_select())
                    .first(c)?;
                // A concurrent caller may have revoked it between our read and our
                // update (PostgreSQL re-checks the condition after the row lock): then
                // the family was already revoked, and this call changed nothing.
                Ok(if revoked == 1 {
                    Found::Reused(row)
                } else {
                    Found::Revoked(row)
                })
            })
            .map_err(unavailable)?;
        Ok(match found {
            Found::Rotated(row) => RotateOutcome::Rotated(row.to_domain()?),
            Found::Grace(row, sealed_child) => RotateOutcome::Grace {
                family: row.to_domain()?,
                sealed_child,
            },
            Found::Reused(row) => RotateOutcome::Reused(row.to_domain()?),
            Found::Revoked(row) => RotateOutcome::Revoked(row.to_domain()?),
            Found::Expired(row) => RotateOutcome::Expired(row.to_domain()?),
            Found::Unknown => RotateOutcome::Unknown,
        })
    }

    fn get_family(&self, id: &FamilyId) -> Result<Option<Family>, StoreError> {
        let mut conn = self.conn()?;
        rf::table
            .filter(rf::id.eq(id.as_str()))
            .select(FamilyRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(|row| row.to_domain())
            .transpose()
    }

    fn revoke_family(
        &self,
        id: &FamilyId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> Result<RevokeOutcome, StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<_, DieselError, _>(|c| {
            let revoked = diesel::update(
                rf::table
                    .filter(rf::id.eq(id.as_str()))
                    .filter(rf::revoked_at.is_null()),
            )
            .set(revoke_now(reason, now))
            .execute(c)?;
            if revoked == 1 {
                return Ok(RevokeOutcome::Revoked);
            }
            let exists = rf::table
                .filter(rf::id.eq(id.as_str()))
                .count()
                .get_result::<i64>(c)?
                > 0;
            Ok(if exists {
                RevokeOutcome::AlreadyRevoked
            } else {
                RevokeOutcome::Unknown
            })
        })
        .map_err(unavailable)
    }

    /// Revokes the live families of a person; returns how many rows changed.
    fn revoke_user_families(
        &self,
        user: &UserId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            rf::table
                .filter(rf::revoked_at.is_null())
                .filter(rf::user_id.eq(user.as_str())),
        )
        .set(revoke_now(reason, now))
        .execute(&mut *conn)
        .map_err(unavailable)
    }

    /// Revokes the live online families of a lineage (offline ones are kept, see
    /// [`survives_logout`]); returns how many rows changed. Which scopes a family has
    /// is decided by parsing them, not by a text pattern. Two statements and no
    /// transaction: the read only picks candidates, and the update re-checks `revoked_at
    /// IS NULL`, so a family revoked meanwhile is not counted twice (and SQLite never has
    /// to upgrade a read transaction to a write one, which fails at once under load).
    fn revoke_online_families(
        &self,
        lineage_hash: &str,
        reason: RevokeReason,
        now: UnixTime,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let live: Vec<(String, String)> = rf::table
            .filter(rf::revoked_at.is_null())
            .filter(rf::session_id_hash.eq(lineage_hash))
            .select((rf::id, rf::scopes))
            .load(&mut *conn)
            .map_err(unavailable)?;
        // A family whose scopes do not parse is treated as online: ending it can only
        // take access away.
        let online: Vec<String> = live
            .into_iter()
            .filter(|(_, scopes)| !ScopeSet::parse(scopes).is_ok_and(|s| survives_logout(&s)))
            .map(|(id, _)| id)
            .collect();
        // In batches: SQLite refuses statements with more bound values than its limit
        // (32 766 since 3.32, far less on older builds), and a person with thousands of
        // families in one browser must still be able to sign out.
        let mut revoked = 0;
        for batch in online.chunks(REVOKE_BATCH) {
            revoked += diesel::update(
                rf::table
                    .filter(rf::id.eq_any(batch))
                    .filter(rf::revoked_at.is_null()),
            )
            .set(revoke_now(reason, now))
            .execute(&mut *conn)
            .map_err(unavailable)?;
        }
        Ok(revoked)
    }

    fn list_families(&self, filter: &FamilyFilter) -> Result<Vec<Family>, StoreError> {
        let mut conn = self.conn()?;
        let mut query = rf::table.select(FamilyRow::as_select()).into_boxed();
        if let Some(user) = &filter.user {
            query = query.filter(rf::user_id.eq(user.as_str().to_owned()));
        }
        if let Some(client) = &filter.client {
            query = query.filter(rf::client_id.eq(client.as_str().to_owned()));
        }
        query
            .order((rf::created_at.asc(), rf::id.asc()))
            .load(&mut *conn)
            .map_err(unavailable)?
            .iter()
            .map(FamilyRow::to_domain)
            .collect()
    }

    /// Deletes the families whose absolute or idle end has passed (a revoked family
    /// stays known, as revoked, until then). Returns how many.
    pub fn purge_expired_families(&self, now: UnixTime) -> Result<usize, StoreError> {
        let now = now.seconds();
        let mut conn = self.conn()?;
        diesel::delete(rf::table.filter(rf::expires_at.le(now).or(rf::idle_expires_at.le(now))))
            .execute(&mut *conn)
            .map_err(unavailable)
    }
}

#[allow(clippy::type_complexity)]
fn revoke_now(
    reason: RevokeReason,
    now: UnixTime,
) -> (
    diesel::dsl::Eq<rf::revoked_at, Option<i64>>,
    diesel::dsl::Eq<rf::revoked_reason, Option<&'static str>>,
    diesel::dsl::Eq<rf::sealed_child, Option<String>>,
) {
    (
        rf::revoked_at.eq(Some(now.seconds())),
        rf::revoked_reason.eq(Some(reason.as_str())),
        rf::sealed_child.eq(None::<String>),
    )
}

/// Runs a blocking store call on tokio's blocking pool.
fn blocking<T, F>(f: F) -> FamilyFuture<'static, T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    Box::pin(async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Unavailable(format!("the blocking pool failed: {e}")))?
    })
}

impl FamilyStore for Database {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn create<'a>(&'a self, family: &'a NewFamily) -> FamilyFuture<'a, ()> {
        let (db, family) = (self.clone(), family.clone());
        blocking(move || db.create_family(&family))
    }

    fn rotate<'a>(&'a self, rotation: &'a Rotation) -> FamilyFuture<'a, RotateOutcome> {
        let (db, rotation) = (self.clone(), rotation.clone());
        blocking(move || db.rotate_family(&rotation))
    }

    fn get<'a>(&'a self, id: &'a FamilyId) -> FamilyFuture<'a, Option<Family>> {
        let (db, id) = (self.clone(), id.clone());
        blocking(move || db.get_family(&id))
    }

    fn revoke<'a>(
        &'a self,
        id: &'a FamilyId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, RevokeOutcome> {
        let (db, id) = (self.clone(), id.clone());
        blocking(move || db.revoke_family(&id, reason, now))
    }

    fn revoke_online<'a>(
        &'a self,
        lineage_hash: &'a str,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize> {
        let (db, hash) = (self.clone(), lineage_hash.to_owned());
        blocking(move || db.revoke_online_families(&hash, reason, now))
    }

    fn revoke_user<'a>(
        &'a self,
        user: &'a UserId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize> {
        let (db, user) = (self.clone(), user.clone());
        blocking(move || db.revoke_user_families(&user, reason, now))
    }

    fn list<'a>(&'a self, filter: &'a FamilyFilter) -> FamilyFuture<'a, Vec<Family>> {
        let (db, filter) = (self.clone(), filter.clone());
        blocking(move || db.list_families(&filter))
    }

    fn ping(&self) -> FamilyFuture<'_, ()> {
        let db = self.clone();
        blocking(move || Ping::ping(&db))
    }
}
