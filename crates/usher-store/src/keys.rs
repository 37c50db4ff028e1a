//! Signing keys: the `signing_keys` table behind [`KeyStore`].
//!
//! A partial unique index (`signing_keys_one_active_per_alg`) lets at most one row per
//! algorithm be `active`, and [`KeyStore::update_key_if`] is a single compare-and-set `UPDATE`, so that of
//! several nodes racing through a rotation exactly one performs each transition. The two
//! transitions that touch more than one row — inserting the one `next` key, and swapping
//! the active key — run in a transaction that first takes a lock every node contends for
//! (a transaction-scoped advisory lock on PostgreSQL, the database write lock on SQLite),
//! then re-checks the states it expects.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use usher_domain::{KeyState, KeyStore, SigningAlg, SigningKeyRecord, StoreError, UnixTime};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation, violation_mentions};
use crate::schema::signing_keys;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    state: String,
    alg: String,
    bits: i32,
    public_jwk: String,
    private_key_encrypted: String,
    created_at: i64,
    activate_after: Option<i64>,
    activated_at: Option<i64>,
    retire_after: Option<i64>,
    retired_at: Option<i64>,
    remove_after: Option<i64>,
    removed_at: Option<i64>,
}

fn seconds(t: Option<UnixTime>) -> Option<i64> {
    t.map(UnixTime::seconds)
}

impl KeyRow {
    fn from_domain(key: &SigningKeyRecord) -> Result<KeyRow, StoreError> {
        let bits = i32::try_from(key.bits).map_err(|_| {
            corrupt(format!(
                "key {}: {} bits cannot be stored",
                key.kid, key.bits
            ))
        })?;
        Ok(KeyRow {
            kid: key.kid.clone(),
            state: key.state.as_str().to_owned(),
            alg: key.alg.as_str().to_owned(),
            bits,
            public_jwk: key.public_jwk.clone(),
            private_key_encrypted: key.private_key_encrypted.clone(),
            created_at: key.created_at.seconds(),
            activate_after: seconds(key.activate_after),
            activated_at: seconds(key.activated_at),
            retire_after: seconds(key.retire_after),
            retired_at: seconds(key.retired_at),
            remove_after: seconds(key.remove_after),
            removed_at: seconds(key.removed_at),
        })
    }

    fn into_domain(self) -> Result<SigningKeyRecord, StoreError> {
        let state = self
            .state
            .parse::<KeyState>()
            .map_err(|e| corrupt(format!("key {}: {e}", self.kid)))?;
        let alg = self
            .alg
            .parse::<SigningAlg>()
            .map_err(|e| corrupt(format!("key {}: {e}", self.kid)))?;
        let bits = u32::try_from(self.bits).map_err(|_| {
            corrupt(format!(
                "key {}: {} bits is not a size",
                self.kid, self.bits
            ))
        })?;
        Ok(SigningKeyRecord {
            kid: self.kid,
            state,
            alg,
            bits,
            public_jwk: self.public_jwk,
            private_key_encrypted: self.private_key_encrypted,
            created_at: UnixTime(self.created_at),
            activate_after: self.activate_after.map(UnixTime),
            activated_at: self.activated_at.map(UnixTime),
            retire_after: self.retire_after.map(UnixTime),
            retired_at: self.retired_at.map(UnixTime),
            remove_after: self.remove_after.map(UnixTime),
            removed_at: self.removed_at.map(UnixTime),
        })
    }
}

/// A clash with the one-active-key-per-algorithm index (PostgreSQL names the index,
/// SQLite the columns).
fn second_active(e: &DieselError) -> bool {
    unique_violation(e).is_some_and(|info| {
        violation_mentions(info, "signing_keys_one_active")
            || violation_mentions(info, "signing_keys.state")
    })
}

const SECOND_ACTIVE: &str = "another signing key of the same algorithm is already active";

/// The advisory lock that serialises key transitions on PostgreSQL (an arbitrary
/// constant: "UshKey" in ASCII).
const KEY_LOCK: i64 = 0x55_73_68_4b_65_79;

/// Takes the lock that serialises key transitions, inside a transaction. On SQLite a
/// write that changes nothing is enough: it takes the database's write lock (waiting up
/// to the busy timeout), which is held until the transaction ends.
fn lock_key_transitions(conn: &mut AnyConnection) -> QueryResult<()> {
    match conn {
        AnyConnection::Postgresql(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({KEY_LOCK})")).execute(c)
        }
        AnyConnection::Sqlite(c) => {
            diesel::sql_query("UPDATE signing_keys SET state = state WHERE 1 = 0").execute(c)
        }
    }
    .map(|_| ())
}

/// The state and timestamps of `key`, written where the row still has state `expected`
/// and is a key of the same algorithm (a transition of one algorithm's cycle never
/// writes another's key, whatever its `kid`).
fn write_if(
    conn: &mut AnyConnection,
    key: &SigningKeyRecord,
    expected: KeyState,
) -> QueryResult<bool> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::kid.eq(&key.kid))
            .filter(signing_keys::alg.eq(key.alg.as_str()))
            .filter(signing_keys::state.eq(expected.as_str())),
    )
    .set((
        signing_keys::state.eq(key.state.as_str()),
        signing_keys::activate_after.eq(seconds(key.activate_after)),
        signing_keys::activated_at.eq(seconds(key.activated_at)),
        signing_keys::retire_after.eq(seconds(key.retire_after)),
        signing_keys::retired_at.eq(seconds(key.retired_at)),
        signing_keys::remove_after.eq(seconds(key.remove_after)),
        signing_keys::removed_at.eq(seconds(key.removed_at)),
    ))
    .execute(conn)
    .map(|updated| updated == 1)
}

fn count_in_state(conn: &mut AnyConnection, alg: SigningAlg, state: KeyState) -> QueryResult<i64> {
    signing_keys::table
        .filter(signing_keys::alg.eq(alg.as_str()))
        .filter(signing_keys::state.eq(state.as_str()))
        .count()
        .get_result(conn)
}

/// Maps a transaction's outcome: a deliberate rollback is "did not write".
fn written(result: Result<(), DieselError>) -> Result<bool, StoreError> {
    match result {
        Ok(()) => Ok(true),
        Err(DieselError::RollbackTransaction) => Ok(false),
        Err(e) if second_active(&e) => Err(StoreError::Conflict(SECOND_ACTIVE.to_owned())),
        Err(e) => Err(unavailable(e)),
    }
}

impl KeyStore for Database {
    fn insert_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let row = KeyRow::from_domain(key)?;
        let mut conn = self.conn()?;
        diesel::insert_into(signing_keys::table)
            .values(&row)
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(|e| {
                if second_active(&e) {
                    StoreError::Conflict(SECOND_ACTIVE.to_owned())
                } else if unique_violation(&e).is_some() {
                    StoreError::Conflict(format!("signing key {} already exists", key.kid))
                } else {
                    unavailable(e)
                }
            })
    }

    fn list_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let mut conn = self.conn()?;
        signing_keys::table
            .order((signing_keys::created_at.desc(), signing_keys::kid.asc()))
            .select(KeyRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(KeyRow::into_domain)
            .collect()
    }

    fn update_key_if(
        &self,
        key: &SigningKeyRecord,
        expected: KeyState,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        write_if(&mut conn, key, expected).map_err(|e| {
            if second_active(&e) {
                StoreError::Conflict(SECOND_ACTIVE.to_owned())
            } else {
                unavailable(e)
            }
        })
    }

    fn insert_next_key(&self, key: &SigningKeyRecord) -> Result<bool, StoreError> {
        if key.state != KeyState::Next {
            return Err(corrupt(format!(
                "key {}: insert_next_key needs a next key, not {}",
                key.kid, key.state
            )));
        }
        let row = KeyRow::from_domain(key)?;
        let mut conn = self.conn()?;
        written(conn.transaction::<_, DieselError, _>(|c| {
            lock_key_transitions(c)?;
            if count_in_state(c, key.alg, KeyState::Next)? > 0 {
                return Err(DieselError::RollbackTransaction);
            }
            diesel::insert_into(signing_keys::table)
                .values(&row)
                .execute(c)?;
            Ok(())
        }))
    }

    fn promote_key(
        &self,
        new: &SigningKeyRecord,
        old: Option<&SigningKeyRecord>,
    ) -> Result<bool, StoreError> {
        if old.is_some_and(|o| o.alg != new.alg) {
            return Err(corrupt(format!(
                "key {}: promote_key cannot replace a key of another algorithm",
                new.kid
            )));
        }
        let mut conn = self.conn()?;
        written(conn.transaction::<_, DieselError, _>(|c| {
            lock_key_transitions(c)?;
            match old {
                Some(old) => {
                    if !write_if(c, old, KeyState::Active)? {
                        return Err(DieselError::RollbackTransaction);
                    }
                }
                None => {
                    if count_in_state(c, new.alg, KeyState::Active)? > 0 {
                        return Err(DieselError::RollbackTransaction);
                    }
                }
            }
            if !write_if(c, new, KeyState::Next)? {
                return Err(DieselError::RollbackTransaction);
            }
            Ok(())
        }))
    }
}
