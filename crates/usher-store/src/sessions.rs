//! Browser sessions: the `sessions` table behind [`SessionStore`].
//!
//! A session is found by the hash of the id its cookie carries; an expired session
//! (`now >= expires_at`) is never returned, and [`Database::purge_expired`] removes it
//! later. Sessions of one person in one browser share a lineage (`lineage_hash`), which
//! the code exchange asks about and logout ends as a whole. Deleting a user removes
//! their sessions (`ON DELETE CASCADE`). Neither the hash
//! nor anything derived from it appears in an error message.

use diesel::prelude::*;
use usher_domain::{AuthMethods, Session, SessionStore, StoreError, UnixTime, UserId};

use crate::database::{Database, corrupt, unavailable, unique_violation};
use crate::schema::sessions;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id_hash: String,
    user_id: String,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    /// `NULL` only for a session a node of the previous version wrote during a rolling
    /// upgrade: such a session is its own lineage.
    lineage_hash: Option<String>,
    amr: String,
}

impl SessionRow {
    fn from_domain(session: &Session) -> SessionRow {
        SessionRow {
            id_hash: session.id_hash.clone(),
            user_id: session.user_id.as_str().to_owned(),
            auth_time: session.auth_time.seconds(),
            created_at: session.created_at.seconds(),
            expires_at: session.expires_at.seconds(),
            lineage_hash: Some(session.lineage_hash.clone()),
            amr: session.amr.to_stored(),
        }
    }

    fn into_domain(self) -> Result<Session, StoreError> {
        let user_id = UserId::parse(&self.user_id).ok_or_else(|| {
            corrupt(format!(
                "a session has an invalid user id {:?}",
                self.user_id
            ))
        })?;
        let amr = AuthMethods::parse_stored(&self.amr)
            .ok_or_else(|| corrupt("a session has an invalid amr".to_owned()))?;
        Ok(Session {
            amr,
            lineage_hash: self.lineage_hash.unwrap_or_else(|| self.id_hash.clone()),
            id_hash: self.id_hash,
            user_id,
            auth_time: UnixTime(self.auth_time),
            created_at: UnixTime(self.created_at),
            expires_at: UnixTime(self.expires_at),
        })
    }
}

/// The sessions of a lineage; a session without one (written by a node of the previous
/// version) is its own lineage.
#[diesel::dsl::auto_type]
fn in_lineage<'a>(lineage_hash: &'a str) -> _ {
    sessions::lineage_hash
        .eq(lineage_hash)
        .or(sessions::lineage_hash
            .is_null()
            .and(sessions::id_hash.eq(lineage_hash)))
}

impl SessionStore for Database {
    fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        let row = SessionRow::from_domain(session);
        let mut conn = self.conn()?;
        diesel::insert_into(sessions::table)
            .values(&row)
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(|e| match unique_violation(&e) {
                Some(_) => StoreError::Conflict("a session with this id already exists".into()),
                None => unavailable(e),
            })
    }

    fn get_session(&self, id_hash: &str, now: UnixTime) -> Result<Option<Session>, StoreError> {
        let mut conn = self.conn()?;
        sessions::table
            .filter(sessions::id_hash.eq(id_hash))
            .filter(sessions::expires_at.gt(now.seconds()))
            .select(SessionRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(SessionRow::into_domain)
            .transpose()
    }

    fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(sessions::table.filter(sessions::id_hash.eq(id_hash)))
            .execute(&mut *conn)
            .map(|deleted| deleted == 1)
            .map_err(unavailable)
    }

    fn lineage_signed_in(&self, lineage_hash: &str, now: UnixTime) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::select(diesel::dsl::exists(
            sessions::table
                .filter(in_lineage(lineage_hash))
                .filter(sessions::expires_at.gt(now.seconds())),
        ))
        .get_result(&mut *conn)
        .map_err(unavailable)
    }

    fn delete_lineage_sessions(&self, lineage_hash: &str) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(sessions::table.filter(in_lineage(lineage_hash)))
            .execute(&mut *conn)
            .map_err(unavailable)
    }

    fn list_user_sessions(&self, user: &UserId, now: UnixTime) -> Result<Vec<Session>, StoreError> {
        let mut conn = self.conn()?;
        sessions::table
            .filter(sessions::user_id.eq(user.as_str()))
            .filter(sessions::expires_at.gt(now.seconds()))
            .order((sessions::created_at.desc(), sessions::id_hash))
            .select(SessionRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(SessionRow::into_domain)
            .collect()
    }

    fn delete_user_sessions(&self, user: &UserId) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(sessions::table.filter(sessions::user_id.eq(user.as_str())))
            .execute(&mut *conn)
            .map_err(unavailable)
    }
}
