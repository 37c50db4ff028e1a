//! The browsers each person signed in from: the `known_browsers` table behind
//! [`KnownBrowserStore`] (docs/design/accounts.md, "Browsers").
//!
//! A row is `(user, SHA-256 of the browser's cookie, first seen, last seen)`. Seeing a
//! browser is one transaction serialised per person (the advisory lock of `passkeys.rs`
//! in its own lock space on PostgreSQL, the write lock on SQLite): find, then update or
//! insert, then evict beyond the cap. So of concurrent sign-ins from one new browser one
//! finds it new, and the cap holds however many new browsers sign in at once. Rows are
//! purged a year after they were last seen ([`Database::purge_expired`]) and go with the
//! person (`ON DELETE CASCADE`). Hashes never appear in error messages. `browser_history`
//! keeps one row per person from their first known browser on, so that "first" means a
//! first sign-in ever, not "none known now" (after a year's absence or a reset).

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use usher_domain::{BrowserSeen, KnownBrowserStore, StoreError, UnixTime, UserId};

use crate::database::{Database, execute_native, unavailable};
use crate::passkeys::lock_person;
use crate::schema::{browser_history, known_browsers};

/// The first key of the advisory lock that serialises one person's known browsers on
/// PostgreSQL ("Kb" in ASCII); apart from the passkeys' space.
const KNOWN_BROWSER_LOCK: i32 = 0x4b_62;

impl KnownBrowserStore for Database {
    fn see_browser(
        &self,
        user: &UserId,
        browser_hash: &str,
        now: UnixTime,
        most: usize,
    ) -> Result<BrowserSeen, StoreError> {
        let mut conn = self.conn()?;
        let owner = user.as_str();
        let most = i64::try_from(most.max(1)).unwrap_or(i64::MAX);
        conn.transaction::<_, DieselError, _>(|c| {
            lock_person(c, KNOWN_BROWSER_LOCK, owner)?;
            let mine = known_browsers::table.filter(known_browsers::user_id.eq(owner));
            let seen = diesel::update(mine.filter(known_browsers::browser_hash.eq(browser_hash)))
                .set(known_browsers::last_seen.eq(now.seconds()))
                .execute(c)?;
            if seen > 0 {
                return Ok(BrowserSeen::Known);
            }
            let held: i64 = mine.count().get_result(c)?;
            // The person's first known browser ever (not merely none known now: they
            // are purged after a year, and forgotten on a reset).
            let history = diesel::insert_into(browser_history::table)
                .values((
                    browser_history::user_id.eq(owner),
                    browser_history::since.eq(now.seconds()),
                ))
                .on_conflict(browser_history::user_id)
                .do_nothing();
            let first = execute_native(c, history)? == 1;
            diesel::insert_into(known_browsers::table)
                .values((
                    known_browsers::user_id.eq(owner),
                    known_browsers::browser_hash.eq(browser_hash),
                    known_browsers::first_seen.eq(now.seconds()),
                    known_browsers::last_seen.eq(now.seconds()),
                ))
                .execute(c)?;
            let over = held + 1 - most;
            if over > 0 {
                let oldest: Vec<String> = mine
                    .filter(known_browsers::browser_hash.ne(browser_hash))
                    .order((known_browsers::last_seen, known_browsers::browser_hash))
                    .limit(over)
                    .select(known_browsers::browser_hash)
                    .load(c)?;
                diesel::delete(mine.filter(known_browsers::browser_hash.eq_any(oldest)))
                    .execute(c)?;
            }
            Ok(BrowserSeen::New { first })
        })
        .map_err(unavailable)
    }

    fn forget_browsers(&self, user: &UserId) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(known_browsers::table.filter(known_browsers::user_id.eq(user.as_str())))
            .execute(&mut *conn)
            .map_err(unavailable)
    }

    fn known_browsers(&self, user: &UserId) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let n: i64 = known_browsers::table
            .filter(known_browsers::user_id.eq(user.as_str()))
            .count()
            .get_result(&mut *conn)
            .map_err(unavailable)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
