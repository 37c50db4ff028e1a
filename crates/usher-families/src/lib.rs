//! Usher's refresh-token families in Redis: [`RedisFamilyStore`], the implementation of
//! `usher_domain::FamilyStore` that a cluster of Usher nodes shares.
//!
//! Each family is one Redis hash, `<prefix>rt:{<family id>}`; the braces are a hash tag,
//! so every key a script touches lives in one cluster slot. Each operation on a family
//! is one Lua script run with EVALSHA (`Script::invoke_async`, which loads the script
//! when Redis does not know it yet), so rotation, reuse detection and revocation are
//! atomic without WATCH/MULTI. A family's key expires with the family (`EXPIREAT` at the
//! earlier of its absolute and idle ends), so Redis forgets it exactly when its tokens
//! could no longer work anyway. Secondary indexes (per person, per browser session, all)
//! are plain sets that only point at families; a member whose family is gone is skipped
//! and pruned.
//!
//! The embedded implementation lives in `usher-store` (it owns the SQL database); both
//! pass the contract suite in [`testing`] (feature `testing`).

mod redis_store;
#[cfg(feature = "testing")]
pub mod testing;

pub use redis_store::RedisFamilyStore;
