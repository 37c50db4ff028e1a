//! Usher's SQL storage: the storage ports of `usher-domain` implemented with diesel, one
//! code path for SQLite and PostgreSQL.
//!
//! [`Database::connect`] takes a URL (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`)
//! and builds an r2d2 pool of [`diesel::MultiConnection`] connections;
//! [`Database::migrate`] applies the embedded migrations of `migrations/sqlite` or
//! `migrations/postgres`. Database rows never leave this crate: each one is parsed back
//! into the domain type it came from, and a row that does not parse is reported as
//! [`StoreError::Corrupt`]. Every call blocks; async callers use `spawn_blocking`.
//!
//! With the `testing` feature, [`testing`] provides throw-away SQLite and PostgreSQL
//! databases for tests of this crate and the crates above it.

mod clients;
mod connection;
mod database;
mod keys;
mod schema;
#[cfg(feature = "testing")]
pub mod testing;
mod users;

pub use database::Database;
pub use usher_domain::StoreError;
