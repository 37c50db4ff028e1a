//! Remembered consent: the `consents` table behind [`ConsentStore`], one row per person
//! and client holding the granted scopes (space-separated).
//!
//! [`ConsentStore::save_consent`] is a single `INSERT … ON CONFLICT DO UPDATE`, run on the
//! inner connection of either backend (diesel's `MultiConnection` cannot build it), so
//! two first grants racing each other cannot collide. Deleting the user or the client
//! removes the row (`ON DELETE CASCADE`).

use diesel::prelude::*;
use diesel::upsert::excluded;
use usher_domain::{ClientId, Consent, ConsentStore, ScopeSet, StoreError, UnixTime, UserId};

use crate::database::{Database, corrupt, execute_native, unavailable};
use crate::schema::consents;

#[derive(Insertable)]
#[diesel(table_name = consents)]
struct ConsentRow<'a> {
    user_id: &'a str,
    client_id: &'a str,
    scopes: String,
    updated_at: i64,
}

impl ConsentStore for Database {
    fn get_consent(
        &self,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Option<ScopeSet>, StoreError> {
        let mut conn = self.conn()?;
        let Some(scopes) = consents::table
            .filter(consents::user_id.eq(user.as_str()))
            .filter(consents::client_id.eq(client.as_str()))
            .select(consents::scopes)
            .first::<String>(&mut *conn)
            .optional()
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        ScopeSet::parse(&scopes)
            .map(Some)
            .map_err(|e| corrupt(format!("consent of user {user} for client {client}: {e}")))
    }

    fn save_consent(
        &self,
        user: &UserId,
        client: &ClientId,
        scopes: &ScopeSet,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let row = ConsentRow {
            user_id: user.as_str(),
            client_id: client.as_str(),
            scopes: scopes.to_string(),
            updated_at: now.seconds(),
        };
        let upsert = diesel::insert_into(consents::table)
            .values(&row)
            .on_conflict((consents::user_id, consents::client_id))
            .do_update()
            .set((
                consents::scopes.eq(excluded(consents::scopes)),
                consents::updated_at.eq(excluded(consents::updated_at)),
            ));
        let mut conn = self.conn()?;
        execute_native(&mut conn, upsert)
            .map(|_| ())
            .map_err(unavailable)
    }

    fn list_consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<(String, String, i64)> = consents::table
            .filter(consents::user_id.eq(user.as_str()))
            .order((consents::updated_at.desc(), consents::client_id))
            .select((consents::client_id, consents::scopes, consents::updated_at))
            .load(&mut *conn)
            .map_err(unavailable)?;
        rows.into_iter()
            .map(|(client, scopes, updated_at)| {
                let scopes = ScopeSet::parse(&scopes).map_err(|e| {
                    corrupt(format!("consent of user {user} for client {client}: {e}"))
                })?;
                let client_id = ClientId::parse(&client).ok_or_else(|| {
                    corrupt(format!("consent of user {user}: a malformed client id"))
                })?;
                Ok(Consent {
                    client_id,
                    scopes,
                    updated_at: UnixTime(updated_at),
                })
            })
            .collect()
    }

    fn delete_consent(&self, user: &UserId, client: &ClientId) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(
            consents::table
                .filter(consents::user_id.eq(user.as_str()))
                .filter(consents::client_id.eq(client.as_str())),
        )
        .execute(&mut *conn)
        .map(|deleted| deleted == 1)
        .map_err(unavailable)
    }
}
