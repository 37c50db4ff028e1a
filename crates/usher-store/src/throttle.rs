//! Failed-login counters: the `login_failures` table behind [`ThrottleStore`], shared by
//! every node of a cluster.
//!
//! [`ThrottleStore::put_failures`] is a single `INSERT … ON CONFLICT DO UPDATE` run on the
//! inner connection of either backend. A count above `i32::MAX` is stored as `i32::MAX`:
//! the decision it drives (lock or not) is the same.

use diesel::prelude::*;
use diesel::upsert::excluded;
use usher_domain::{LoginFailures, StoreError, ThrottleStore, UnixTime};

use crate::database::{Database, corrupt, execute_native, unavailable};
use crate::schema::login_failures;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = login_failures)]
struct FailuresRow {
    key: String,
    count: i32,
    window_start: i64,
    locked_until: Option<i64>,
}

impl FailuresRow {
    fn from_domain(key: &str, failures: &LoginFailures) -> FailuresRow {
        FailuresRow {
            key: key.to_owned(),
            count: i32::try_from(failures.count).unwrap_or(i32::MAX),
            window_start: failures.window_start.seconds(),
            locked_until: failures.locked_until.map(UnixTime::seconds),
        }
    }

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

impl ThrottleStore for Database {
    fn get_failures(&self, key: &str) -> Result<Option<LoginFailures>, StoreError> {
        let mut conn = self.conn()?;
        login_failures::table
            .filter(login_failures::key.eq(key))
            .select(FailuresRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(FailuresRow::into_domain)
            .transpose()
    }

    fn put_failures(&self, key: &str, failures: &LoginFailures) -> Result<(), StoreError> {
        let row = FailuresRow::from_domain(key, failures);
        let upsert = diesel::insert_into(login_failures::table)
            .values(&row)
            .on_conflict(login_failures::key)
            .do_update()
            .set((
                login_failures::count.eq(excluded(login_failures::count)),
                login_failures::window_start.eq(excluded(login_failures::window_start)),
                login_failures::locked_until.eq(excluded(login_failures::locked_until)),
            ));
        let mut conn = self.conn()?;
        execute_native(&mut conn, upsert)
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
