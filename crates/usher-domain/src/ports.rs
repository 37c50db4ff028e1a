//! The storage ports: what the HTTP layer and the CLI need from storage, as traits.
//!
//! `usher-store` implements them over diesel (SQLite and PostgreSQL). The traits are
//! synchronous; callers on an async executor run them through `spawn_blocking`.

use crate::client::{Client, ClientId};
use crate::keys::{KeyState, SigningKeyRecord};
use crate::user::{User, UserId, Username};

/// A storage failure, stripped of driver types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. a duplicate username).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database could not be reached or answered with an error.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A stored row does not parse into a domain value.
    #[error("a stored row is corrupt: {0}")]
    Corrupt(String),
}

/// Registered clients.
pub trait ClientStore: Send + Sync {
    fn insert_client(&self, client: &Client) -> Result<(), StoreError>;
    fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Returns whether a client was deleted.
    fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError>;
    /// Replaces the secret hash; returns whether the client exists.
    fn set_client_secret_hash(&self, id: &ClientId, hash: &str) -> Result<bool, StoreError>;
}

/// People who sign in.
pub trait UserStore: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the username is taken.
    fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    fn get_user(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError>;
    fn list_users(&self) -> Result<Vec<User>, StoreError>;
    fn delete_user(&self, username: &Username) -> Result<bool, StoreError>;
    fn set_password_hash(&self, username: &Username, hash: &str) -> Result<bool, StoreError>;
}

/// Signing keys.
pub trait KeyStore: Send + Sync {
    fn insert_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    /// Every key, newest first.
    fn list_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Compare-and-set: writes `key` (state and timestamps) only if the stored row with
    /// the same `kid` is still in state `expected`. Returns whether it wrote. This is how
    /// exactly one node of a cluster performs each transition.
    fn update_key_if(&self, key: &SigningKeyRecord, expected: KeyState)
    -> Result<bool, StoreError>;
}

/// A cheap round trip, for `/readyz`.
pub trait Ping: Send + Sync {
    fn ping(&self) -> Result<(), StoreError>;
}
