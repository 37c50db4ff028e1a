//! Browser sessions: the `sessions` table behind [`SessionStore`].
//!
//! A session is found by the hash of the id its cookie carries; an expired session
//! (`now >= expires_at`) is never returned, and [`Database::purge_expired`] removes it
//! later. Sessions of one person in one browser share a lineage (`lineage_hash`), which
//! the code exchange asks about and logout ends as a whole. Deleting a user removes
//! their sessions (`ON DELETE CASCADE`). A session keeps the client address and user
//! agent of its sign-in (the account page shows them). Neither the hash
//! nor anything derived from it appears in an error message.

use std::net::IpAddr;

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use usher_domain::{AuthMethods, Session, SessionStore, StoreError, UnixTime, UserAgent, UserId};

use crate::connection::AnyConnection;
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
    /// `NULL` when unknown (and for sessions older than migration 000019).
    client_address: Option<String>,
    /// A [`UserAgent`] label; `NULL` when the browser sent none.
    user_agent: Option<String>,
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
            client_address: session.address.map(|a| a.to_string()),
            user_agent: session.user_agent.as_ref().map(|u| u.as_str().to_owned()),
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
        let address = match self.client_address.as_deref().map(str::parse::<IpAddr>) {
            None => None,
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => return Err(corrupt("a session has an invalid address".to_owned())),
        };
        let user_agent = match self.user_agent.as_deref().map(UserAgent::parse) {
            None => None,
            // A label stored before invisible formatting was dropped from labels loads
            // without it.
            Some(Some(u))
                if self
                    .user_agent
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !usher_domain::is_invisible_format(*c))
                    .eq(u.as_str().chars()) =>
            {
                Some(u)
            }
            Some(_) => return Err(corrupt("a session has an invalid user agent".to_owned())),
        };
        Ok(Session {
            amr,
            lineage_hash: self.lineage_hash.unwrap_or_else(|| self.id_hash.clone()),
            id_hash: self.id_hash,
            user_id,
            auth_time: UnixTime(self.auth_time),
            created_at: UnixTime(self.created_at),
            expires_at: UnixTime(self.expires_at),
            address,
            user_agent,
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

    fn replace_session(
        &self,
        previous: Option<&str>,
        session: &Session,
        fresh_lineage: &str,
    ) -> Result<Session, StoreError> {
        let mut conn = self.conn()?;
        let mut session = session.clone();
        conn.transaction::<_, DieselError, _>(|c| {
            if let Some(old) = previous {
                let deleted =
                    diesel::delete(sessions::table.filter(sessions::id_hash.eq(old))).execute(c)?;
                if deleted == 0 {
                    // The session this browser named is gone: it expired, or a logout
                    // ended it meanwhile. Its lineage must not come back to life.
                    session.lineage_hash = fresh_lineage.to_owned();
                }
            }
            diesel::insert_into(sessions::table)
                .values(&SessionRow::from_domain(&session))
                .execute(c)?;
            Ok(())
        })
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::Conflict("a session with this id already exists".into()),
            None => unavailable(e),
        })?;
        Ok(session)
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
        delete_user_sessions_on(&mut conn, user)
    }
}

/// [`SessionStore::delete_user_sessions`] on `conn` (also in an [`crate::audit::Audited`]
/// transaction).
pub(crate) fn delete_user_sessions_on(
    conn: &mut AnyConnection,
    user: &UserId,
) -> Result<usize, StoreError> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user.as_str())))
        .execute(conn)
        .map_err(unavailable)
}
