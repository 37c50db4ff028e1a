//! Dynamic client registration (docs/design/registration.md): the
//! `initial_access_tokens` table and the registration columns of `clients`
//! (`dynamically_registered`, `registration_token_hash`, `last_used_at`), behind
//! [`RegistrationStore`].
//!
//! A registration with an initial access token spends one use with one conditional
//! `UPDATE` (PostgreSQL re-checks its `WHERE` after waiting on the row lock; SQLite
//! serialises writers) in the transaction that stores the client: the client is stored
//! only if the use was spent, and the use is spent only if the client is stored.

use diesel::prelude::*;
use usher_domain::{
    Client, ClientId, InitialAccessToken, Registered, RegistrationStore, StoreError, UnixTime,
};

use crate::clients::{ClientRow, insert_rows, replace_rows, uri_rows};
use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation};

/// The PostgreSQL advisory lock that serialises registrations (the client cap).
const REGISTRATION_LOCK_KEY: i64 = 0x5573_6865_7252_6567;

/// Seconds after its registration from which a dynamically registered client that was
/// never used may be removed to make room when `registration_max_clients` is reached:
/// long enough for the person to finish the sign-in the client registered for.
pub const EVICTABLE_AFTER: i64 = 900;
use crate::schema::{client_redirect_uris, clients, initial_access_tokens};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = initial_access_tokens)]
struct TokenRow {
    id: String,
    token_hash: String,
    created_at: i64,
    expires_at: i64,
    max_uses: i32,
    uses: i32,
}

impl TokenRow {
    fn into_domain(self) -> Result<InitialAccessToken, StoreError> {
        let count = |n: i32| {
            u32::try_from(n).map_err(|_| corrupt(format!("initial access token {}", self.id)))
        };
        Ok(InitialAccessToken {
            max_uses: count(self.max_uses)?,
            uses: count(self.uses)?,
            id: self.id,
            token_hash: self.token_hash,
            created_at: UnixTime(self.created_at),
            expires_at: UnixTime(self.expires_at),
        })
    }
}

/// Why a registration transaction rolled back on purpose.
enum Abort {
    TokenRefused,
    Full,
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Abort {
        Abort::Db(e)
    }
}

/// Inserts the initial access token `token` on `conn` (the store's method, and the same
/// change in an audited transaction).
pub(crate) fn insert_initial_access_token_on(
    conn: &mut AnyConnection,
    token: &InitialAccessToken,
) -> Result<(), StoreError> {
    let row = TokenRow {
        id: token.id.clone(),
        token_hash: token.token_hash.clone(),
        created_at: token.created_at.seconds(),
        expires_at: token.expires_at.seconds(),
        max_uses: i32::try_from(token.max_uses).unwrap_or(i32::MAX),
        uses: i32::try_from(token.uses).unwrap_or(i32::MAX),
    };
    diesel::insert_into(initial_access_tokens::table)
        .values(&row)
        .execute(conn)
        .map(|_| ())
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::Conflict("initial access token".into()),
            None => unavailable(e),
        })
}

/// Deletes the initial access token `id` on `conn`; whether there was one.
pub(crate) fn delete_initial_access_token_on(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<bool, StoreError> {
    diesel::delete(initial_access_tokens::table.filter(initial_access_tokens::id.eq(id)))
        .execute(conn)
        .map(|n| n == 1)
        .map_err(unavailable)
}

impl RegistrationStore for Database {
    fn insert_initial_access_token(&self, token: &InitialAccessToken) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        insert_initial_access_token_on(&mut conn, token)
    }

    fn list_initial_access_tokens(&self) -> Result<Vec<InitialAccessToken>, StoreError> {
        let mut conn = self.conn()?;
        initial_access_tokens::table
            .order((
                initial_access_tokens::created_at.desc(),
                initial_access_tokens::id.asc(),
            ))
            .select(TokenRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(TokenRow::into_domain)
            .collect()
    }

    fn delete_initial_access_token(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        delete_initial_access_token_on(&mut conn, id)
    }

    fn initial_access_token_usable(&self, hash: &str, now: UnixTime) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        initial_access_tokens::table
            .filter(initial_access_tokens::token_hash.eq(hash))
            .filter(initial_access_tokens::expires_at.gt(now.seconds()))
            .filter(initial_access_tokens::uses.lt(initial_access_tokens::max_uses))
            .count()
            .get_result::<i64>(&mut *conn)
            .map(|n| n > 0)
            .map_err(unavailable)
    }

    fn register_client(
        &self,
        client: &Client,
        registration_token_hash: &str,
        initial_hash: Option<&str>,
        now: UnixTime,
        max_clients: u32,
    ) -> Result<Registered, StoreError> {
        let row = ClientRow::from_domain(client);
        let uris = uri_rows(client)?;
        let mut conn = self.conn()?;
        let done = conn.transaction::<_, Abort, _>(|c| {
            // The cap on dynamically registered clients: PostgreSQL serialises the
            // registrations with a transaction-scoped advisory lock; SQLite with the write
            // lock the first write takes. The count is made after this client's insert.
            if let AnyConnection::Postgresql(pg) = &mut **c {
                diesel::sql_query(format!(
                    "SELECT pg_advisory_xact_lock({REGISTRATION_LOCK_KEY})"
                ))
                .execute(pg)?;
            }
            if let Some(hash) = initial_hash {
                let spent = diesel::update(
                    initial_access_tokens::table
                        .filter(initial_access_tokens::token_hash.eq(hash))
                        .filter(initial_access_tokens::expires_at.gt(now.seconds()))
                        .filter(initial_access_tokens::uses.lt(initial_access_tokens::max_uses)),
                )
                .set(initial_access_tokens::uses.eq(initial_access_tokens::uses + 1))
                .execute(c)?;
                if spent != 1 {
                    return Err(Abort::TokenRefused);
                }
            }
            insert_rows(c, &row, &uris)?;
            diesel::update(clients::table.filter(clients::id.eq(client.id.as_str())))
                .set(clients::registration_token_hash.eq(Some(registration_token_hash)))
                .execute(c)?;
            let count: i64 = clients::table
                .filter(clients::dynamically_registered.eq(true))
                .count()
                .get_result(c)?;
            if count > i64::from(max_clients) {
                // Full: room is made by removing the oldest client that never exchanged
                // a code or refreshed and registered at least EVICTABLE_AFTER ago, so
                // that never-used registrations from many addresses cannot keep every
                // newcomer out until the purge's day has passed.
                let evictable: Option<String> = clients::table
                    .filter(clients::dynamically_registered.eq(true))
                    .filter(clients::last_used_at.is_null())
                    .filter(clients::created_at.le(now.seconds() - EVICTABLE_AFTER))
                    .filter(clients::id.ne(client.id.as_str()))
                    .order((clients::created_at.asc(), clients::id.asc()))
                    .select(clients::id)
                    .first(c)
                    .optional()?;
                let Some(evicted) = evictable else {
                    return Err(Abort::Full);
                };
                diesel::delete(
                    client_redirect_uris::table.filter(client_redirect_uris::client_id.eq(&evicted)),
                )
                .execute(c)?;
                diesel::delete(clients::table.filter(clients::id.eq(&evicted))).execute(c)?;
                tracing::info!(event = "client_evicted", client_id = %evicted, "registration_max_clients reached: the oldest never-used dynamically registered client was removed");
            }
            Ok(())
        });
        match done {
            Ok(()) => Ok(Registered::Stored),
            Err(Abort::TokenRefused) => Ok(Registered::TokenRefused),
            Err(Abort::Full) => Ok(Registered::Full),
            Err(Abort::Db(e)) => Err(match unique_violation(&e) {
                Some(_) => StoreError::Conflict(format!("client {} already exists", client.id)),
                None => unavailable(e),
            }),
        }
    }

    fn registration_token_hash(&self, id: &ClientId) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn()?;
        clients::table
            .filter(clients::id.eq(id.as_str()))
            .filter(clients::dynamically_registered.eq(true))
            .select(clients::registration_token_hash)
            .first::<Option<String>>(&mut *conn)
            .optional()
            .map(Option::flatten)
            .map_err(unavailable)
    }

    fn replace_client(&self, client: &Client) -> Result<bool, StoreError> {
        uri_rows(client)?;
        let mut conn = self.conn()?;
        conn.transaction(|c| replace_rows(c, client, true))
            .map_err(unavailable)
    }

    fn touch_client(&self, id: &ClientId, now: UnixTime, interval: i64) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let before = now.seconds().saturating_sub(interval);
        diesel::update(
            clients::table
                .filter(clients::id.eq(id.as_str()))
                .filter(clients::dynamically_registered.eq(true))
                .filter(
                    clients::last_used_at
                        .is_null()
                        .or(clients::last_used_at.le(before)),
                ),
        )
        .set(clients::last_used_at.eq(Some(now.seconds())))
        .execute(&mut *conn)
        .map(|_| ())
        .map_err(unavailable)
    }

    fn unused_clients(&self, cutoff: UnixTime) -> Result<Vec<ClientId>, StoreError> {
        let mut conn = self.conn()?;
        let cutoff = cutoff.seconds();
        let ids: Vec<String> = clients::table
            .filter(clients::dynamically_registered.eq(true))
            .filter(
                clients::last_used_at.le(cutoff).or(clients::last_used_at
                    .is_null()
                    .and(clients::created_at.le(cutoff))),
            )
            .select(clients::id)
            .load(&mut *conn)
            .map_err(unavailable)?;
        ids.iter()
            .map(|id| {
                ClientId::parse(id).ok_or_else(|| corrupt(format!("client id {id:?} is not valid")))
            })
            .collect()
    }
}
