//! Second factors: the `totp_factors` and `recovery_codes` tables behind
//! [`FactorStore`] (docs/design/mfa.md).
//!
//! Every single-use rule is one statement whose `WHERE` decides it, so whatever the
//! concurrency exactly one request wins (PostgreSQL re-checks an `UPDATE`'s condition
//! after waiting on the row lock; SQLite serialises writers, waiting up to its busy
//! timeout):
//!
//! - a TOTP step is accepted by `UPDATE totp_factors SET last_used_step = $1 WHERE
//!   user_id = $2 AND confirmed AND (last_used_step IS NULL OR last_used_step < $1)`;
//! - a recovery code is spent by `UPDATE recovery_codes SET used_at = now WHERE user_id =
//!   ? AND code_hash = ? AND used_at IS NULL`.
//!
//! The compare-and-set statements and the upsert that never replaces a confirmed factor
//! are written once with `$n` placeholders (SQLite gets `?n`, as in `throttle.rs`).
//! Replacing recovery codes and removing every factor are transactions. Sealed secrets
//! and code hashes never appear in error messages.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use usher_domain::{FactorStore, StoreError, TotpFactor, UnixTime, UserId};

use crate::connection::AnyConnection;
use crate::database::{Database, unavailable};
use crate::schema::{passkeys, recovery_codes, totp_factors};

/// Inserts a factor, or replaces the person's factor only if it is unconfirmed.
/// $1 user, $2 sealed secret, $3 confirmed, $4 last used step, $5 created at.
const INSERT_TOTP_SQL: &str = "INSERT INTO totp_factors \
       (user_id, sealed_secret, confirmed, last_used_step, created_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (user_id) DO UPDATE SET \
       sealed_secret = excluded.sealed_secret, confirmed = excluded.confirmed, \
       last_used_step = excluded.last_used_step, created_at = excluded.created_at \
     WHERE NOT totp_factors.confirmed";

/// $1 step, $2 user.
const ACCEPT_STEP_SQL: &str = "UPDATE totp_factors SET last_used_step = $1 \
     WHERE user_id = $2 AND confirmed \
       AND (last_used_step IS NULL OR last_used_step < $1)";

/// $1 step, $2 user, $3 true.
const CONFIRM_SQL: &str = "UPDATE totp_factors SET confirmed = $3, last_used_step = $1 \
     WHERE user_id = $2 AND NOT confirmed AND sealed_secret = $4 \
       AND (last_used_step IS NULL OR last_used_step < $1)";

/// PostgreSQL's `$n` placeholders as SQLite's `?n` (the statements have no other `$`).
fn for_backend(conn: &AnyConnection, sql: &str) -> String {
    match conn {
        AnyConnection::Postgresql(_) => sql.to_owned(),
        AnyConnection::Sqlite(_) => sql.replace('$', "?"),
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = totp_factors)]
struct TotpRow {
    user_id: String,
    sealed_secret: String,
    confirmed: bool,
    last_used_step: Option<i64>,
    created_at: i64,
}

impl TotpRow {
    fn into_domain(self) -> Result<TotpFactor, StoreError> {
        let user_id = UserId::parse(&self.user_id).ok_or_else(|| {
            StoreError::Corrupt("an authenticator-app factor has an invalid user id".into())
        })?;
        Ok(TotpFactor {
            user_id,
            sealed_secret: self.sealed_secret,
            created_at: UnixTime(self.created_at),
            last_used_step: self.last_used_step,
            confirmed: self.confirmed,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = recovery_codes)]
struct RecoveryRow<'a> {
    user_id: &'a str,
    code_hash: &'a str,
    created_at: i64,
    used_at: Option<i64>,
}

impl FactorStore for Database {
    fn insert_totp(&self, factor: &TotpFactor) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let query = diesel::sql_query(for_backend(&conn, INSERT_TOTP_SQL))
            .bind::<Text, _>(factor.user_id.as_str())
            .bind::<Text, _>(&factor.sealed_secret)
            .bind::<Bool, _>(factor.confirmed)
            .bind::<Nullable<BigInt>, _>(factor.last_used_step)
            .bind::<BigInt, _>(factor.created_at.seconds());
        match &mut *conn {
            AnyConnection::Sqlite(c) => query.execute(c),
            AnyConnection::Postgresql(c) => query.execute(c),
        }
        .map(|written| written == 1)
        .map_err(unavailable)
    }

    fn get_totp(&self, user: &UserId) -> Result<Option<TotpFactor>, StoreError> {
        let mut conn = self.conn()?;
        totp_factors::table
            .filter(totp_factors::user_id.eq(user.as_str()))
            .select(TotpRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(TotpRow::into_domain)
            .transpose()
    }

    fn list_totp_factors(&self) -> Result<Vec<TotpFactor>, StoreError> {
        let mut conn = self.conn()?;
        totp_factors::table
            .order(totp_factors::user_id)
            .select(TotpRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(TotpRow::into_domain)
            .collect()
    }

    fn confirm_totp(
        &self,
        user: &UserId,
        step: i64,
        sealed_secret: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let query = diesel::sql_query(for_backend(&conn, CONFIRM_SQL))
            .bind::<BigInt, _>(step)
            .bind::<Text, _>(user.as_str())
            .bind::<Bool, _>(true)
            .bind::<Text, _>(sealed_secret);
        match &mut *conn {
            AnyConnection::Sqlite(c) => query.execute(c),
            AnyConnection::Postgresql(c) => query.execute(c),
        }
        .map(|updated| updated == 1)
        .map_err(unavailable)
    }

    fn accept_totp_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let query = diesel::sql_query(for_backend(&conn, ACCEPT_STEP_SQL))
            .bind::<BigInt, _>(step)
            .bind::<Text, _>(user.as_str());
        match &mut *conn {
            AnyConnection::Sqlite(c) => query.execute(c),
            AnyConnection::Postgresql(c) => query.execute(c),
        }
        .map(|updated| updated == 1)
        .map_err(unavailable)
    }

    fn reseal_totp(
        &self,
        user: &UserId,
        expected: &str,
        resealed: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            totp_factors::table
                .filter(totp_factors::user_id.eq(user.as_str()))
                .filter(totp_factors::sealed_secret.eq(expected)),
        )
        .set(totp_factors::sealed_secret.eq(resealed))
        .execute(&mut *conn)
        .map(|updated| updated == 1)
        .map_err(unavailable)
    }

    fn delete_totp(&self, user: &UserId) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(user.as_str())))
            .execute(&mut *conn)
            .map(|deleted| deleted == 1)
            .map_err(unavailable)
    }

    fn replace_recovery_codes(
        &self,
        user: &UserId,
        code_hashes: &[String],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<_, DieselError, _>(|c| {
            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.as_str())))
                .execute(c)?;
            for hash in code_hashes {
                diesel::insert_into(recovery_codes::table)
                    .values(RecoveryRow {
                        user_id: user.as_str(),
                        code_hash: hash,
                        created_at: now.seconds(),
                        used_at: None,
                    })
                    .execute(c)?;
            }
            Ok(())
        })
        .map_err(|e| match crate::database::unique_violation(&e) {
            Some(_) => StoreError::Conflict("two recovery codes of one person are equal".into()),
            None => unavailable(e),
        })
    }

    fn spend_recovery_code(
        &self,
        user: &UserId,
        code_hash: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user.as_str()))
                .filter(recovery_codes::code_hash.eq(code_hash))
                .filter(recovery_codes::used_at.is_null()),
        )
        .set(recovery_codes::used_at.eq(Some(now.seconds())))
        .execute(&mut *conn)
        .map(|updated| updated == 1)
        .map_err(unavailable)
    }

    fn recovery_codes_left(&self, user: &UserId) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let left: i64 = recovery_codes::table
            .filter(recovery_codes::user_id.eq(user.as_str()))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .get_result(&mut *conn)
            .map_err(unavailable)?;
        usize::try_from(left).map_err(|_| StoreError::Corrupt("a negative count".into()))
    }

    fn delete_factors(&self, user: &UserId) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        delete_factors_on(&mut conn, user)
    }
}

/// [`FactorStore::delete_factors`] on `conn` (also in an [`crate::audit::Audited`] transaction).
pub(crate) fn delete_factors_on(
    conn: &mut AnyConnection,
    user: &UserId,
) -> Result<usize, StoreError> {
    conn.transaction::<_, DieselError, _>(|c| {
        let totp =
            diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(user.as_str())))
                .execute(c)?;
        let codes =
            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.as_str())))
                .execute(c)?;
        let keys = diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user.as_str())))
            .execute(c)?;
        Ok(totp + codes + keys)
    })
    .map_err(unavailable)
}
