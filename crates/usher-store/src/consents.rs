//! Remembered consent: the `consents` table behind [`ConsentStore`], one row per person
//! and client holding the granted scopes and the resources (RFC 8707) they are for (both
//! space-separated).
//!
//! [`ConsentStore::save_consent`] is a single `INSERT … ON CONFLICT DO UPDATE`, run on the
//! inner connection of either backend (diesel's `MultiConnection` cannot build it), so
//! two first grants racing each other cannot collide. Deleting the user or the client
//! removes the row (`ON DELETE CASCADE`).

use diesel::prelude::*;
use diesel::upsert::excluded;
use usher_domain::resource::{join_resources, split_resources};
use usher_domain::{
    ClientId, Consent, ConsentGrant, ConsentStore, ResourceUri, ScopeSet, StoreError, UnixTime,
    UserId,
};

use crate::database::{Database, corrupt, execute_native, unavailable};
use crate::schema::consents;

#[derive(Insertable)]
#[diesel(table_name = consents)]
struct ConsentRow<'a> {
    user_id: &'a str,
    client_id: &'a str,
    scopes: String,
    updated_at: i64,
    resources: String,
}

/// A stored grant back into domain values; `what` names the row in the error.
fn parse_grant(scopes: &str, resources: &str, what: &str) -> Result<ConsentGrant, StoreError> {
    let scopes = ScopeSet::parse(scopes).map_err(|e| corrupt(format!("{what}: {e}")))?;
    let resources: Vec<ResourceUri> = split_resources(resources)
        .ok_or_else(|| corrupt(format!("{what}: a malformed resource identifier")))?;
    Ok(ConsentGrant { scopes, resources })
}

impl ConsentStore for Database {
    fn get_consent(
        &self,
        user: &UserId,
        client: &ClientId,
    ) -> Result<Option<ConsentGrant>, StoreError> {
        let mut conn = self.conn()?;
        let Some((scopes, resources)) = consents::table
            .filter(consents::user_id.eq(user.as_str()))
            .filter(consents::client_id.eq(client.as_str()))
            .select((consents::scopes, consents::resources))
            .first::<(String, String)>(&mut *conn)
            .optional()
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let what = format!("consent of user {user} for client {client}");
        parse_grant(&scopes, &resources, &what).map(Some)
    }

    fn save_consent(
        &self,
        user: &UserId,
        client: &ClientId,
        grant: &ConsentGrant,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let row = ConsentRow {
            user_id: user.as_str(),
            client_id: client.as_str(),
            scopes: grant.scopes.to_string(),
            updated_at: now.seconds(),
            resources: join_resources(&grant.resources),
        };
        let upsert = diesel::insert_into(consents::table)
            .values(&row)
            .on_conflict((consents::user_id, consents::client_id))
            .do_update()
            .set((
                consents::scopes.eq(excluded(consents::scopes)),
                consents::updated_at.eq(excluded(consents::updated_at)),
                consents::resources.eq(excluded(consents::resources)),
            ));
        let mut conn = self.conn()?;
        execute_native(&mut conn, upsert)
            .map(|_| ())
            .map_err(unavailable)
    }

    fn list_consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<(String, String, i64, String)> = consents::table
            .filter(consents::user_id.eq(user.as_str()))
            .order((consents::updated_at.desc(), consents::client_id))
            .select((
                consents::client_id,
                consents::scopes,
                consents::updated_at,
                consents::resources,
            ))
            .load(&mut *conn)
            .map_err(unavailable)?;
        rows.into_iter()
            .map(|(client, scopes, updated_at, resources)| {
                let what = format!("consent of user {user} for client {client}");
                let grant = parse_grant(&scopes, &resources, &what)?;
                let client_id = ClientId::parse(&client).ok_or_else(|| {
                    corrupt(format!("consent of user {user}: a malformed client id"))
                })?;
                Ok(Consent {
                    client_id,
                    scopes: grant.scopes,
                    resources: grant.resources,
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
