//! Values sealed under the KEK that belong to the whole deployment (the `sealed_values`
//! table), and re-sealing signing keys: what `usher kek rotate` and every node's KEK
//! check use. This module stores and swaps opaque sealed strings; sealing and opening
//! them is `usher-keys`' business. Every write is a compare-and-set or an insert that
//! keeps the first value, so several nodes and an operator can run at once.
//!
//! Beside them, `kek_markers` holds non-secret facts about the KEK: the fingerprint of
//! the KEK a rolling change goes to (`kek-target`) and of the stored hashing key
//! (`client-secret-hash-id`), in a table of their own so that losing one table does not
//! lose both the hashing key and the memory of it.

use diesel::prelude::*;
use usher_domain::{StoreError, UnixTime};

use crate::database::{Database, execute_native, unavailable};
use crate::schema::{kek_markers, sealed_values, signing_keys};

impl Database {
    /// The sealed value stored under `name`, if any.
    pub fn sealed_value(&self, name: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn()?;
        sealed_values::table
            .filter(sealed_values::name.eq(name))
            .select(sealed_values::sealed)
            .first::<String>(&mut *conn)
            .optional()
            .map_err(unavailable)
    }

    /// Stores `sealed` under `name` unless a value is already there (the first writer
    /// wins); whether this call stored it.
    pub fn insert_sealed_value(
        &self,
        name: &str,
        sealed: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let insert = diesel::insert_into(sealed_values::table)
            .values((
                sealed_values::name.eq(name),
                sealed_values::sealed.eq(sealed),
                sealed_values::updated_at.eq(now.seconds()),
            ))
            .on_conflict(sealed_values::name)
            .do_nothing();
        let mut conn = self.conn()?;
        execute_native(&mut conn, insert)
            .map(|n| n == 1)
            .map_err(unavailable)
    }

    /// Replaces the value under `name` if it is still `expected`; whether it did.
    pub fn replace_sealed_value(
        &self,
        name: &str,
        expected: &str,
        sealed: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            sealed_values::table
                .filter(sealed_values::name.eq(name))
                .filter(sealed_values::sealed.eq(expected)),
        )
        .set((
            sealed_values::sealed.eq(sealed),
            sealed_values::updated_at.eq(now.seconds()),
        ))
        .execute(&mut *conn)
        .map(|n| n == 1)
        .map_err(unavailable)
    }

    /// Replaces the sealed private part of signing key `kid` if it is still `expected`
    /// (the same key, sealed under another KEK); whether it did.
    pub fn reseal_key(&self, kid: &str, expected: &str, sealed: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            signing_keys::table
                .filter(signing_keys::kid.eq(kid))
                .filter(signing_keys::private_key_encrypted.eq(expected)),
        )
        .set(signing_keys::private_key_encrypted.eq(sealed))
        .execute(&mut *conn)
        .map(|n| n == 1)
        .map_err(unavailable)
    }

    /// The marker stored under `name`, if any.
    pub fn kek_marker(&self, name: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn()?;
        kek_markers::table
            .filter(kek_markers::name.eq(name))
            .select(kek_markers::value)
            .first::<String>(&mut *conn)
            .optional()
            .map_err(unavailable)
    }

    /// Stores `value` under `name` unless a marker is already there (the first writer
    /// wins); whether this call stored it.
    pub fn insert_kek_marker(
        &self,
        name: &str,
        value: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let insert = diesel::insert_into(kek_markers::table)
            .values((
                kek_markers::name.eq(name),
                kek_markers::value.eq(value),
                kek_markers::updated_at.eq(now.seconds()),
            ))
            .on_conflict(kek_markers::name)
            .do_nothing();
        let mut conn = self.conn()?;
        execute_native(&mut conn, insert)
            .map(|n| n == 1)
            .map_err(unavailable)
    }

    /// Removes the marker `name` if it still holds `expected`; whether it did.
    pub fn remove_kek_marker(&self, name: &str, expected: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(
            kek_markers::table
                .filter(kek_markers::name.eq(name))
                .filter(kek_markers::value.eq(expected)),
        )
        .execute(&mut *conn)
        .map(|n| n == 1)
        .map_err(unavailable)
    }

    /// Removes the sealed value `name` if it still holds `expected`; whether it did (for
    /// a first start that could not finish).
    pub fn remove_sealed_value(&self, name: &str, expected: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(
            sealed_values::table
                .filter(sealed_values::name.eq(name))
                .filter(sealed_values::sealed.eq(expected)),
        )
        .execute(&mut *conn)
        .map(|n| n == 1)
        .map_err(unavailable)
    }
}
