//! The account page's single-use form tokens: the `form_tokens` table behind
//! [`FormTokenStore`].
//!
//! A token is taken with ONE statement, `DELETE FROM form_tokens WHERE token_hash = $1
//! RETURNING …`: the request whose delete removes the row is the one winner, on both
//! backends (PostgreSQL's row lock makes a racing delete find nothing; SQLite serialises
//! writers), however many requests race. Expired rows are removed by
//! [`Database::purge_expired`]; token and session hashes never appear in error messages.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use usher_domain::{FormToken, FormTokenStore, StoreError, UnixTime};

use crate::connection::AnyConnection;
use crate::database::{Database, unavailable, unique_violation};
use crate::schema::form_tokens;

/// $1 token hash (SQLite gets `?1`).
const TAKE_SQL: &str = "DELETE FROM form_tokens WHERE token_hash = $1 \
     RETURNING token_hash, session_hash, purpose, expires_at";

#[derive(QueryableByName)]
struct TakenRow {
    #[diesel(sql_type = Text)]
    token_hash: String,
    #[diesel(sql_type = Text)]
    session_hash: String,
    #[diesel(sql_type = Text)]
    purpose: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

impl FormTokenStore for Database {
    fn insert_form_token(&self, token: &FormToken) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::insert_into(form_tokens::table)
            .values((
                form_tokens::token_hash.eq(&token.token_hash),
                form_tokens::session_hash.eq(&token.session_hash),
                form_tokens::purpose.eq(&token.purpose),
                form_tokens::expires_at.eq(token.expires_at.seconds()),
            ))
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(|e| match unique_violation(&e) {
                Some(_) => StoreError::Conflict("a form token was drawn twice".into()),
                None => unavailable(e),
            })
    }

    fn take_form_token(&self, token_hash: &str) -> Result<Option<FormToken>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<TakenRow> = match &mut *conn {
            AnyConnection::Sqlite(c) => diesel::sql_query(TAKE_SQL.replace('$', "?"))
                .bind::<Text, _>(token_hash)
                .load(c),
            AnyConnection::Postgresql(c) => diesel::sql_query(TAKE_SQL)
                .bind::<Text, _>(token_hash)
                .load(c),
        }
        .map_err(unavailable)?;
        Ok(rows.into_iter().next().map(|r| FormToken {
            token_hash: r.token_hash,
            session_hash: r.session_hash,
            purpose: r.purpose,
            expires_at: UnixTime(r.expires_at),
        }))
    }
}
