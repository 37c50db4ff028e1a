//! A small, fixed pool of threads for argon2id password checks.
//!
//! Each verification allocates 19 MiB (OWASP's argon2id memory cost). Run on actix's
//! general blocking pool (dozens of threads), glibc keeps a heap arena per thread and the
//! process grew past 500 MB under login load (docs/benchmarks.md). Here at most one
//! check per thread runs at once, on as many threads as there are cores, so memory stays
//! bounded (about threads × 19 MiB) while the CPU, which is what bounds logins anyway,
//! stays fully used. A full queue is answered as "unavailable", never by blocking the
//! async workers.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use crate::failure::Failure;

type Job = Box<dyn FnOnce() + Send>;

/// How many checks may wait for a thread before new ones are refused.
const QUEUE: usize = 256;

/// A handle to the pool; cheap to clone.
#[derive(Clone)]
pub struct PasswordPool {
    jobs: SyncSender<Job>,
}

impl PasswordPool {
    /// Starts `threads` worker threads (at least one).
    pub fn new(threads: usize) -> PasswordPool {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("usher-argon2-{n}"))
                .spawn(move || worker(&queue));
            if let Err(e) = spawned {
                tracing::error!(cause = %e, "cannot start a password-check thread");
            }
        }
        PasswordPool { jobs }
    }

    /// Runs `check` on the pool and waits for its result without blocking the caller's
    /// executor thread.
    /// Hashes a new password (argon2id) on the pool: for a password change or reset.
    pub async fn hash_new(&self, password: usher_domain::Password) -> Result<String, Failure> {
        self.run(move || usher_keys::hash_password(&password))
            .await?
            .map_err(|e| {
                tracing::error!(cause = %e, "hashing a new password failed");
                Failure::Internal
            })
    }

    pub async fn run<T, F>(&self, check: F) -> Result<T, Failure>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(check());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("password checks are queued beyond capacity; refusing");
                return Err(Failure::Unavailable);
            }
            Err(TrySendError::Disconnected(_)) => return Err(Failure::Internal),
        }
        result.await.map_err(|_| Failure::Internal)
    }
}

fn worker(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return, // the pool was dropped
        }
    }
}

/// The policy of a new password (a reset, a sign-up; as `usher user set-password`): the
/// two fields the same (compared in constant time), then [`usher_domain::Password`]'s
/// rules. `Err` is the sentence to show.
pub fn new_password(password: String, confirm: &str) -> Result<usher_domain::Password, String> {
    let same = password.len() == confirm.len()
        && openssl::memcmp::eq(password.as_bytes(), confirm.as_bytes());
    if !same {
        return Err("The two passwords are not the same.".to_owned());
    }
    usher_domain::Password::parse(password).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_checks_and_returns_their_results() {
        let pool = PasswordPool::new(2);
        let results = futures_join(&pool).await;
        assert_eq!(results, vec![0, 1, 4, 9]);
    }

    async fn futures_join(pool: &PasswordPool) -> Vec<u64> {
        let mut out = Vec::new();
        for i in 0..4u64 {
            out.push(pool.run(move || i * i).await.unwrap());
        }
        out
    }
}
