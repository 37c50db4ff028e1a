//! Passkeys and WebAuthn ceremonies: the `passkeys` and `webauthn_ceremonies` tables
//! behind [`PasskeyStore`] (docs/design/mfa.md).
//!
//! Every single-use rule is one statement whose `WHERE` decides it, so whatever the
//! concurrency exactly one request wins:
//!
//! - a ceremony is taken by `DELETE FROM webauthn_ceremonies WHERE id_hash = $1
//!   RETURNING …` (PostgreSQL: the second deleter waits on the row lock and then finds
//!   nothing; SQLite serialises writers);
//! - after a sign-in a credential is replaced by `UPDATE passkeys SET credential = $new
//!   … WHERE id = $id AND credential = $old AND NOT suspect`, a compare-and-set on the
//!   whole stored value (signature counter and backup flags included);
//! - a credential id is stored once: `INSERT … ON CONFLICT (credential_id) DO NOTHING`.
//!
//! The statements are written once with `$n` placeholders (SQLite gets `?n`, as in
//! `throttle.rs`). Credentials and sealed states never appear in error messages.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use usher_domain::{
    CeremonyKind, Passkey, PasskeyInsert, PasskeyName, PasskeyStore, StoreError, UnixTime, UserId,
    WebauthnCeremony,
};

use crate::connection::AnyConnection;
use crate::database::{Database, unavailable, unique_violation};
use crate::schema::{passkeys, webauthn_ceremonies};

/// $1 id, $2 user, $3 credential id, $4 name, $5 credential, $6 created at, $7 last used
/// at, $8 suspect.
const INSERT_PASSKEY_SQL: &str = "INSERT INTO passkeys \
       (id, user_id, credential_id, name, credential, created_at, last_used_at, suspect) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (credential_id) DO NOTHING";

/// $1 id hash.
const TAKE_CEREMONY_SQL: &str = "DELETE FROM webauthn_ceremonies WHERE id_hash = $1 \
     RETURNING id_hash, kind, user_id, state, browser_hash, expires_at";

/// The first key of the transaction-scoped advisory lock that serialises one person's
/// passkey inserts on PostgreSQL (the second is a hash of the person's id; "Pk" in
/// ASCII). The two-key lock space is apart from the one-key locks of `keys.rs`.
const PASSKEY_LOCK: i32 = 0x50_6b;

/// Serialises the writes of one person in the lock space `space` (a constant per use)
/// inside a transaction: an advisory lock on PostgreSQL; on SQLite a write that
/// changes nothing takes the database's write lock (waiting up to the busy timeout),
/// held until the transaction ends.
pub(crate) fn lock_person(conn: &mut AnyConnection, space: i32, user: &str) -> QueryResult<()> {
    match conn {
        AnyConnection::Postgresql(c) => diesel::sql_query(format!(
            "SELECT pg_advisory_xact_lock({space}, hashtext($1))"
        ))
        .bind::<Text, _>(user)
        .execute(c),
        AnyConnection::Sqlite(c) => {
            diesel::sql_query("UPDATE passkeys SET suspect = suspect WHERE 1 = 0").execute(c)
        }
    }
    .map(|_| ())
}

/// PostgreSQL's `$n` placeholders as SQLite's `?n` (the statements have no other `$`).
fn for_backend(conn: &AnyConnection, sql: &str) -> String {
    match conn {
        AnyConnection::Postgresql(_) => sql.to_owned(),
        AnyConnection::Sqlite(_) => sql.replace('$', "?"),
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = passkeys)]
struct PasskeyRow {
    id: String,
    user_id: String,
    credential_id: String,
    name: String,
    credential: String,
    created_at: i64,
    last_used_at: Option<i64>,
    suspect: bool,
}

impl PasskeyRow {
    fn into_domain(self) -> Result<Passkey, StoreError> {
        let user_id = UserId::parse(&self.user_id)
            .ok_or_else(|| StoreError::Corrupt("a passkey has an invalid user id".into()))?;
        let name = PasskeyName::parse(&self.name)
            .map_err(|e| StoreError::Corrupt(format!("a passkey's name: {e}")))?;
        Ok(Passkey {
            id: self.id,
            user_id,
            credential_id: self.credential_id,
            name,
            credential: self.credential,
            created_at: UnixTime(self.created_at),
            last_used_at: self.last_used_at.map(UnixTime),
            suspect: self.suspect,
        })
    }
}

#[derive(QueryableByName)]
struct CeremonyRow {
    #[diesel(sql_type = Text)]
    id_hash: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    user_id: Option<String>,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Text)]
    browser_hash: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

impl CeremonyRow {
    fn into_domain(self) -> Result<WebauthnCeremony, StoreError> {
        let kind = CeremonyKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt("a WebAuthn ceremony has an unknown kind".into()))?;
        let user_id = match self.user_id {
            None => None,
            Some(raw) => Some(UserId::parse(&raw).ok_or_else(|| {
                StoreError::Corrupt("a WebAuthn ceremony has an invalid user id".into())
            })?),
        };
        Ok(WebauthnCeremony {
            id_hash: self.id_hash,
            kind,
            user_id,
            state: self.state,
            browser_hash: self.browser_hash,
            expires_at: UnixTime(self.expires_at),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = webauthn_ceremonies)]
struct NewCeremonyRow<'a> {
    id_hash: &'a str,
    kind: &'a str,
    user_id: Option<&'a str>,
    state: &'a str,
    browser_hash: &'a str,
    expires_at: i64,
}

impl PasskeyStore for Database {
    fn insert_passkey(&self, passkey: &Passkey, most: usize) -> Result<PasskeyInsert, StoreError> {
        let mut conn = self.conn()?;
        let sql = for_backend(&conn, INSERT_PASSKEY_SQL);
        let most = i64::try_from(most).unwrap_or(i64::MAX);
        let owner = passkey.user_id.as_str();
        conn.transaction::<_, DieselError, _>(|c| {
            lock_person(c, PASSKEY_LOCK, owner)?;
            let held: i64 = passkeys::table
                .filter(passkeys::user_id.eq(owner))
                .count()
                .get_result(c)?;
            if held >= most {
                return Ok(PasskeyInsert::Full);
            }
            let query = diesel::sql_query(&sql)
                .bind::<Text, _>(&passkey.id)
                .bind::<Text, _>(owner)
                .bind::<Text, _>(&passkey.credential_id)
                .bind::<Text, _>(passkey.name.as_str())
                .bind::<Text, _>(&passkey.credential)
                .bind::<BigInt, _>(passkey.created_at.seconds())
                .bind::<Nullable<BigInt>, _>(passkey.last_used_at.map(UnixTime::seconds))
                .bind::<Bool, _>(passkey.suspect);
            let written = match &mut **c {
                AnyConnection::Sqlite(c) => query.execute(c),
                AnyConnection::Postgresql(c) => query.execute(c),
            }?;
            Ok(if written == 1 {
                PasskeyInsert::Stored
            } else {
                PasskeyInsert::Duplicate
            })
        })
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::Conflict("a passkey with this id already exists".into()),
            None => unavailable(e),
        })
    }

    fn list_passkeys(&self, user: &UserId) -> Result<Vec<Passkey>, StoreError> {
        let mut conn = self.conn()?;
        passkeys::table
            .filter(passkeys::user_id.eq(user.as_str()))
            .order((passkeys::created_at, passkeys::id))
            .select(PasskeyRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(PasskeyRow::into_domain)
            .collect()
    }

    fn find_passkey(&self, credential_id: &str) -> Result<Option<Passkey>, StoreError> {
        let mut conn = self.conn()?;
        passkeys::table
            .filter(passkeys::credential_id.eq(credential_id))
            .select(PasskeyRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(PasskeyRow::into_domain)
            .transpose()
    }

    fn rename_passkey(
        &self,
        user: &UserId,
        id: &str,
        name: &PasskeyName,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            passkeys::table
                .filter(passkeys::id.eq(id))
                .filter(passkeys::user_id.eq(user.as_str())),
        )
        .set(passkeys::name.eq(name.as_str()))
        .execute(&mut *conn)
        .map(|updated| updated == 1)
        .map_err(unavailable)
    }

    fn delete_passkey(&self, user: &UserId, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(
            passkeys::table
                .filter(passkeys::id.eq(id))
                .filter(passkeys::user_id.eq(user.as_str())),
        )
        .execute(&mut *conn)
        .map(|deleted| deleted == 1)
        .map_err(unavailable)
    }

    fn update_passkey_credential(
        &self,
        id: &str,
        expected: &str,
        credential: &str,
        used_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            passkeys::table
                .filter(passkeys::id.eq(id))
                .filter(passkeys::credential.eq(expected))
                .filter(passkeys::suspect.eq(false)),
        )
        .set((
            passkeys::credential.eq(credential),
            passkeys::last_used_at.eq(Some(used_at.seconds())),
        ))
        .execute(&mut *conn)
        .map(|updated| updated == 1)
        .map_err(unavailable)
    }

    fn mark_passkey_suspect(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(passkeys::table.filter(passkeys::id.eq(id)))
            .set(passkeys::suspect.eq(true))
            .execute(&mut *conn)
            .map(|updated| updated == 1)
            .map_err(unavailable)
    }

    fn insert_ceremony(&self, ceremony: &WebauthnCeremony) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::insert_into(webauthn_ceremonies::table)
            .values(NewCeremonyRow {
                id_hash: &ceremony.id_hash,
                kind: ceremony.kind.as_str(),
                user_id: ceremony.user_id.as_ref().map(UserId::as_str),
                state: &ceremony.state,
                browser_hash: &ceremony.browser_hash,
                expires_at: ceremony.expires_at.seconds(),
            })
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(|e| match unique_violation(&e) {
                Some(_) => StoreError::Conflict("a WebAuthn ceremony id was drawn twice".into()),
                None => unavailable(e),
            })
    }

    fn take_ceremony(&self, id_hash: &str) -> Result<Option<WebauthnCeremony>, StoreError> {
        let mut conn = self.conn()?;
        let query =
            diesel::sql_query(for_backend(&conn, TAKE_CEREMONY_SQL)).bind::<Text, _>(id_hash);
        let taken: Vec<CeremonyRow> = match &mut *conn {
            AnyConnection::Sqlite(c) => query.load(c),
            AnyConnection::Postgresql(c) => query.load(c),
        }
        .map_err(unavailable)?;
        taken
            .into_iter()
            .next()
            .map(CeremonyRow::into_domain)
            .transpose()
    }

    fn purge_ceremonies(&self, now: UnixTime) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(
            webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.le(now.seconds())),
        )
        .execute(&mut *conn)
        .map_err(unavailable)
    }
}
