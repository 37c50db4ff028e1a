//! Back-channel logout records behind [`BackchannelStore`]: `session_clients` (which
//! clients got tokens through which browser-session lineage) and `backchannel_logouts`
//! (the durable queue of logouts to deliver; docs/design/accounts.md).
//!
//! Taking a lineage's (or a person's) records is one `DELETE … RETURNING`, so of two
//! concurrent endings only one queues the logouts; it and the inserts into the queue are
//! one transaction. Claiming is one `UPDATE … RETURNING` that moves the rows' `due_at` to
//! the end of the lease and writes the claim: on PostgreSQL its sub-select takes the rows
//! `FOR UPDATE SKIP LOCKED` (concurrent claimers skip each other's rows instead of
//! waiting), on SQLite the statement runs under the database's one write lock. Settling
//! a row (delivered, retried, dropped) checks the claim, so a node whose lease ran out
//! cannot undo what the node that took the row over did.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use usher_domain::{
    BackchannelStore, ClaimedLogout, ClientId, NewLogout, SessionClient, StoreError, UnixTime,
    UserId,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable};
use crate::schema::{backchannel_logouts, clients, session_clients};

/// $1 lineage hash.
const TAKE_LINEAGE_SQL: &str =
    "DELETE FROM session_clients WHERE lineage_hash = $1 RETURNING client_id, user_id, sid";

/// $1 user id.
const TAKE_USER_SQL: &str =
    "DELETE FROM session_clients WHERE user_id = $1 RETURNING client_id, user_id, sid";

/// $1 lease end, $2 claim, $3 now, $4 limit. `{lock}` is PostgreSQL's row locking.
const CLAIM_SQL: &str = "UPDATE backchannel_logouts SET due_at = $1, claim = $2 \
     WHERE id IN (SELECT id FROM backchannel_logouts WHERE due_at <= $3 \
                  ORDER BY due_at, id LIMIT $4 {lock}) \
     RETURNING id, client_id, subject, sid, attempts";

#[derive(QueryableByName)]
struct TakenRow {
    #[diesel(sql_type = Text)]
    client_id: String,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    sid: String,
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    client_id: String,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Nullable<Text>)]
    sid: Option<String>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

#[derive(Insertable)]
#[diesel(table_name = backchannel_logouts)]
struct QueueRow {
    id: String,
    client_id: String,
    subject: String,
    sid: Option<String>,
    attempts: i32,
    due_at: i64,
    claim: Option<String>,
    created_at: i64,
}

impl QueueRow {
    fn new(client_id: String, subject: String, sid: Option<String>, now: UnixTime) -> QueueRow {
        QueueRow {
            id: uuid::Uuid::new_v4().simple().to_string(),
            client_id,
            subject,
            sid,
            attempts: 0,
            due_at: now.seconds(),
            claim: None,
            created_at: now.seconds(),
        }
    }
}

/// `$n` placeholders as SQLite's `?n`.
fn for_backend(conn: &AnyConnection, sql: &str) -> String {
    match conn {
        AnyConnection::Postgresql(_) => sql.to_owned(),
        AnyConnection::Sqlite(_) => sql.replace('$', "?"),
    }
}

/// Runs a `DELETE … RETURNING` of `session_clients` with one text parameter.
fn take(conn: &mut AnyConnection, sql: &str, value: &str) -> Result<Vec<TakenRow>, DieselError> {
    let sql = for_backend(conn, sql);
    match conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(sql).bind::<Text, _>(value).load(c),
        AnyConnection::Postgresql(c) => diesel::sql_query(sql).bind::<Text, _>(value).load(c),
    }
}

/// Queues a logout for each taken record whose client has a back-channel logout URI.
fn queue_taken(
    conn: &mut AnyConnection,
    taken: Vec<TakenRow>,
    now: UnixTime,
) -> Result<usize, DieselError> {
    if taken.is_empty() {
        return Ok(0);
    }
    let mut queued = 0;
    for t in taken {
        if !is_told(conn, &t.client_id)? {
            continue;
        }
        let row = QueueRow::new(t.client_id, t.user_id, Some(t.sid), now);
        diesel::insert_into(backchannel_logouts::table)
            .values(&row)
            .execute(conn)?;
        queued += 1;
    }
    Ok(queued)
}

/// Whether the client has a back-channel logout URI.
fn is_told(conn: &mut AnyConnection, client_id: &str) -> Result<bool, DieselError> {
    let n: i64 = clients::table
        .filter(clients::id.eq(client_id))
        .filter(clients::backchannel_logout_uri.is_not_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

impl ClaimedRow {
    fn into_domain(self, claim: &str) -> Result<ClaimedLogout, StoreError> {
        Ok(ClaimedLogout {
            client_id: ClientId::parse(&self.client_id)
                .ok_or_else(|| corrupt("a queued logout has an invalid client id"))?,
            subject: UserId::parse(&self.subject)
                .ok_or_else(|| corrupt("a queued logout has an invalid subject"))?,
            id: self.id,
            claim: claim.to_owned(),
            sid: self.sid,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
        })
    }
}

impl BackchannelStore for Database {
    fn record_session_client(&self, row: &SessionClient) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let query = diesel::insert_into(session_clients::table)
            .values((
                session_clients::lineage_hash.eq(&row.lineage_hash),
                session_clients::client_id.eq(row.client_id.as_str()),
                session_clients::user_id.eq(row.user_id.as_str()),
                session_clients::sid.eq(&row.sid),
                session_clients::created_at.eq(row.created_at.seconds()),
            ))
            .on_conflict((session_clients::lineage_hash, session_clients::client_id))
            .do_nothing();
        crate::database::execute_native(&mut conn, query)
            .map(|_| ())
            .map_err(unavailable)
    }

    fn list_session_clients(&self, user: &UserId) -> Result<Vec<SessionClient>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<(String, String, String, String, i64)> = session_clients::table
            .filter(session_clients::user_id.eq(user.as_str()))
            .order((session_clients::created_at, session_clients::client_id))
            .select((
                session_clients::lineage_hash,
                session_clients::client_id,
                session_clients::user_id,
                session_clients::sid,
                session_clients::created_at,
            ))
            .load(&mut *conn)
            .map_err(unavailable)?;
        rows.into_iter()
            .map(|(lineage_hash, client_id, user_id, sid, created_at)| {
                Ok(SessionClient {
                    lineage_hash,
                    client_id: ClientId::parse(&client_id).ok_or_else(|| {
                        corrupt("a session_clients row has an invalid client id".to_owned())
                    })?,
                    user_id: UserId::parse(&user_id).ok_or_else(|| {
                        corrupt("a session_clients row has an invalid user id".to_owned())
                    })?,
                    sid,
                    created_at: UnixTime(created_at),
                })
            })
            .collect()
    }

    fn queue_lineage_logouts(
        &self,
        lineage_hash: &str,
        now: UnixTime,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<_, DieselError, _>(|c| {
            let taken = take(c, TAKE_LINEAGE_SQL, lineage_hash)?;
            queue_taken(c, taken, now)
        })
        .map_err(unavailable)
    }

    fn queue_user_logouts(&self, user: &UserId, now: UnixTime) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<_, DieselError, _>(|c| {
            let taken = take(c, TAKE_USER_SQL, user.as_str())?;
            queue_taken(c, taken, now)
        })
        .map_err(unavailable)
    }

    fn queue_logout(&self, logout: &NewLogout, now: UnixTime) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<_, DieselError, _>(|c| {
            if !is_told(c, logout.client_id.as_str())? {
                return Ok(false);
            }
            let row = QueueRow::new(
                logout.client_id.as_str().to_owned(),
                logout.subject.as_str().to_owned(),
                logout.sid.clone(),
                now,
            );
            diesel::insert_into(backchannel_logouts::table)
                .values(&row)
                .execute(c)?;
            Ok(true)
        })
        .map_err(unavailable)
    }

    fn claim_logouts(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        claim: &str,
        limit: usize,
    ) -> Result<Vec<ClaimedLogout>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.conn()?;
        let rows: Vec<ClaimedRow> = match &mut *conn {
            AnyConnection::Sqlite(c) => {
                diesel::sql_query(CLAIM_SQL.replace("{lock}", "").replace('$', "?"))
                    .bind::<BigInt, _>(lease_until.seconds())
                    .bind::<Text, _>(claim)
                    .bind::<BigInt, _>(now.seconds())
                    .bind::<BigInt, _>(limit)
                    .load(c)
            }
            AnyConnection::Postgresql(c) => {
                diesel::sql_query(CLAIM_SQL.replace("{lock}", "FOR UPDATE SKIP LOCKED"))
                    .bind::<BigInt, _>(lease_until.seconds())
                    .bind::<Text, _>(claim)
                    .bind::<BigInt, _>(now.seconds())
                    .bind::<BigInt, _>(limit)
                    .load(c)
            }
        }
        .map_err(unavailable)?;
        rows.into_iter().map(|r| r.into_domain(claim)).collect()
    }

    fn finish_logout(&self, id: &str, claim: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(
            backchannel_logouts::table
                .filter(backchannel_logouts::id.eq(id))
                .filter(backchannel_logouts::claim.eq(claim)),
        )
        .execute(&mut *conn)
        .map(|n| n == 1)
        .map_err(unavailable)
    }

    fn retry_logout(&self, id: &str, claim: &str, due_at: UnixTime) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            backchannel_logouts::table
                .filter(backchannel_logouts::id.eq(id))
                .filter(backchannel_logouts::claim.eq(claim)),
        )
        .set((
            backchannel_logouts::attempts.eq(backchannel_logouts::attempts + 1),
            backchannel_logouts::due_at.eq(due_at.seconds()),
            backchannel_logouts::claim.eq(None::<String>),
        ))
        .execute(&mut *conn)
        .map(|n| n == 1)
        .map_err(unavailable)
    }

    fn queued_logouts(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let n: i64 = backchannel_logouts::table
            .count()
            .get_result(&mut *conn)
            .map_err(unavailable)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
