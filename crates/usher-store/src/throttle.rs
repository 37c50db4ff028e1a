//! Login-attempt counters: the `login_failures` table behind [`ThrottleStore`], shared by
//! every node of a cluster.
//!
//! A reservation is one `INSERT … ON CONFLICT DO UPDATE … WHERE <not locked> RETURNING`
//! statement: the window reset, the increment and the new lock are computed by the
//! database from the row it has locked, so concurrent attempts are serialised on the row
//! and none is lost or skips the limit. When the key is locked the `WHERE` leaves the row
//! alone and nothing is returned: the attempt is refused (a plain read then says until
//! when, for the page). Giving a reservation back is one `UPDATE`. Both statements are
//! written once, with `$n` placeholders; SQLite gets them as `?n` (it supports upsert and
//! `RETURNING` since 3.35, and the bundled library is newer). [`ThrottlePolicy`] holds
//! the same rule in Rust, and the contract tests check the two agree.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use usher_domain::{
    LoginFailures, Reservation, StoreError, ThrottlePolicy, ThrottleStore, UnixTime,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable};
use crate::schema::login_failures;

/// The new count of a granted reservation: 1 in a new window, else one more.
const NEW_COUNT: &str = "(CASE WHEN login_failures.window_start < $2 - $3 THEN 1 \
                          ELSE login_failures.count + 1 END)";

/// The lock set by the `n`-th attempt of a window ([`ThrottlePolicy::lock_seconds`]):
/// none below `max_failures` ($4), `first_lock` ($5) doubled per attempt beyond it, and
/// `max_lock` ($7) from `doublings` ($6) on, so the shift never overflows.
fn lock_after(n: &str) -> String {
    format!(
        "(CASE WHEN {n} < $4 THEN NULL WHEN {n} - $4 >= $6 THEN $2 + $7 \
         ELSE $2 + ($5 << ({n} - $4)) END)"
    )
}

/// $1 key, $2 now, $3 window, $4 max_failures, $5 first_lock, $6 doublings, $7 max_lock.
fn reserve_sql() -> String {
    format!(
        "INSERT INTO login_failures (key, count, window_start, locked_until) \
         VALUES ($1, 1, $2, {first}) \
         ON CONFLICT (key) DO UPDATE SET \
           count = {NEW_COUNT}, \
           window_start = (CASE WHEN login_failures.window_start < $2 - $3 THEN $2 \
                           ELSE login_failures.window_start END), \
           locked_until = {next} \
         WHERE login_failures.locked_until IS NULL OR login_failures.locked_until <= $2 \
         RETURNING count, window_start, locked_until",
        first = lock_after("1"),
        next = lock_after(NEW_COUNT),
    )
}

/// $1 key, $2 the granted window start, $3 max_failures, $4 the granted lock (or NULL).
/// Every right-hand side reads the row as it was before the update.
const RELEASE_SQL: &str = "UPDATE login_failures SET count = count - 1, \
       locked_until = (CASE WHEN count - 1 < $3 OR locked_until = $4 THEN NULL \
                       ELSE locked_until END) \
     WHERE key = $1 AND window_start = $2 AND count > 0";

/// PostgreSQL's `$n` placeholders as SQLite's `?n` (the statements have no other `$`).
fn for_backend(conn: &AnyConnection, sql: &str) -> String {
    match conn {
        AnyConnection::Postgresql(_) => sql.to_owned(),
        AnyConnection::Sqlite(_) => sql.replace('$', "?"),
    }
}

#[derive(QueryableByName)]
struct FailuresRow {
    #[diesel(sql_type = Integer)]
    count: i32,
    #[diesel(sql_type = BigInt)]
    window_start: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    locked_until: Option<i64>,
}

impl FailuresRow {
    fn into_domain(self) -> Result<LoginFailures, StoreError> {
        let count = u32::try_from(self.count).map_err(|_| {
            corrupt(format!(
                "a failed-login count of {} is negative",
                self.count
            ))
        })?;
        Ok(LoginFailures {
            count,
            window_start: UnixTime(self.window_start),
            locked_until: self.locked_until.map(UnixTime),
        })
    }
}

/// A count as the `INTEGER` column holds it (the policy's limits are small).
fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl ThrottleStore for Database {
    fn reserve_attempt(
        &self,
        key: &str,
        now: UnixTime,
        policy: &ThrottlePolicy,
    ) -> Result<Reservation, StoreError> {
        let mut conn = self.conn()?;
        let query = diesel::sql_query(for_backend(&conn, &reserve_sql()))
            .bind::<Text, _>(key)
            .bind::<BigInt, _>(now.seconds())
            .bind::<BigInt, _>(policy.window)
            .bind::<Integer, _>(int(policy.max_failures))
            .bind::<BigInt, _>(policy.first_lock)
            .bind::<Integer, _>(int(policy.doublings()))
            .bind::<BigInt, _>(policy.max_lock);
        let returned: Vec<FailuresRow> = match &mut *conn {
            AnyConnection::Sqlite(c) => query.load(c),
            AnyConnection::Postgresql(c) => query.load(c),
        }
        .map_err(unavailable)?;
        if let Some(row) = returned.into_iter().next() {
            return row.into_domain().map(Reservation::Granted);
        }
        // Refused: the row is locked. Read until when, for the page; if the lock has
        // ended or was cleared since, the refusal stands and the wait is one second.
        let locked_until = login_failures::table
            .filter(login_failures::key.eq(key))
            .select(login_failures::locked_until)
            .first::<Option<i64>>(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .flatten()
            .map(UnixTime)
            .filter(|until| *until > now);
        Ok(Reservation::Refused {
            until: locked_until.unwrap_or(now.plus(1)),
        })
    }

    fn release_attempt(
        &self,
        key: &str,
        granted: &LoginFailures,
        policy: &ThrottlePolicy,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let query = diesel::sql_query(for_backend(&conn, RELEASE_SQL))
            .bind::<Text, _>(key)
            .bind::<BigInt, _>(granted.window_start.seconds())
            .bind::<Integer, _>(int(policy.max_failures))
            .bind::<Nullable<BigInt>, _>(granted.locked_until.map(UnixTime::seconds));
        match &mut *conn {
            AnyConnection::Sqlite(c) => query.execute(c),
            AnyConnection::Postgresql(c) => query.execute(c),
        }
        .map(|_| ())
        .map_err(unavailable)
    }

    fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(login_failures::table.filter(login_failures::key.eq(key)))
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(unavailable)
    }
}
