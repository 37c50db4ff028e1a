//! Spent single-use values: the `spent_nonces` table behind [`NonceStore`].
//!
//! Nothing is stored when such a value is handed out (a logout confirmation token is a
//! MAC the HTTP layer can check by itself); only spending it is recorded, by one
//! `INSERT … ON CONFLICT DO NOTHING` on the primary key. The insert that adds the row is
//! the one winner, on both backends, however many requests race. Rows are kept until the
//! value would have expired anyway ([`Database::purge_expired`]); nonce hashes never
//! appear in error messages.

use diesel::prelude::*;
use usher_domain::{NonceStore, StoreError, UnixTime};

use crate::database::{Database, execute_native, unavailable};
use crate::schema::spent_nonces;

impl NonceStore for Database {
    fn spend_nonce(&self, nonce_hash: &str, expires_at: UnixTime) -> Result<bool, StoreError> {
        let insert = diesel::insert_into(spent_nonces::table)
            .values((
                spent_nonces::nonce_hash.eq(nonce_hash),
                spent_nonces::expires_at.eq(expires_at.seconds()),
            ))
            .on_conflict(spent_nonces::nonce_hash)
            .do_nothing();
        let mut conn = self.conn()?;
        execute_native(&mut conn, insert)
            .map(|inserted| inserted == 1)
            .map_err(unavailable)
    }
}
