//! Failures of the server's own dependencies (a store that cannot be reached, a bug, corrupt
//! data), as opposed to refusals of a request, and the one way store calls run: off the
//! async executor, on the runtime's blocking pool.

use usher_domain::StoreError;

use crate::metrics::{self, Counter};

/// A failure of the server's own dependencies, not of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database (or another store) could not be reached: 503, try again.
    Unavailable,
    /// A bug or corrupt data: 500.
    Internal,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "a store is unavailable");
                Failure::Unavailable
            }
            StoreError::Conflict(cause) | StoreError::Corrupt(cause) => {
                tracing::error!(%cause, "a store call failed");
                Failure::Internal
            }
        }
    }
}

/// Runs a blocking store call on the runtime's blocking pool (the store's calls are
/// blocking: docs/ARCHITECTURE.md). A store error is counted and becomes a [`Failure`].
pub async fn blocking<T, F>(f: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(|e| {
            metrics::inc(Counter::StoreErrors, "database");
            Failure::from(e)
        }),
        Err(e) => {
            tracing::error!(cause = %e, "the blocking pool failed");
            Err(Failure::Internal)
        }
    }
}
