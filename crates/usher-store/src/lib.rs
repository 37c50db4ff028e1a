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
//! The sign-in records (sessions, interactions, consent, authorization codes, revoked
//! tokens, failed-login counters) are keyed by hashes of their secrets, which never
//! appear in logs or error messages; [`Database::purge_expired`] clears out the expired
//! ones. A person's second factors (`factors.rs`) are a sealed TOTP secret and keyed
//! hashes of recovery codes, each used once by one atomic statement; their passkeys
//! (`passkeys.rs`) are WebAuthn credentials, and a WebAuthn ceremony in flight is a row
//! that finishing it deletes (`DELETE … RETURNING`). Upstream identity providers and the
//! identities linked through them are in `upstreams.rs`.
//!
//! With the `testing` feature, [`testing`] provides throw-away SQLite and PostgreSQL
//! databases for tests of this crate and the crates above it.

mod audit;
mod backchannel;
mod clients;
mod codes;
mod connection;
mod consents;
mod database;
mod device;
mod factors;
mod families;
mod forms;
mod groups;
mod interactions;
mod invitations;
mod keys;
mod known_browsers;
mod mail;
mod nonces;
mod passkeys;
mod purge;
mod registration;
mod resources;
mod schema;
mod sealed;
mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
mod throttle;
mod upstreams;
mod users;

pub use audit::Audited;
pub use connection::SecretUrl;
pub use database::Database;
pub use purge::{CODE_REPLAY_GRACE_SECONDS, FAILURES_RETENTION_SECONDS};
pub use registration::EVICTABLE_AFTER;
pub use usher_domain::StoreError;
