//! The [`Database`] handle: a connection pool, the embedded migrations, the readiness
//! ping, and the mapping of diesel's errors onto [`StoreError`].

use std::fmt;
use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel::{QueryResult, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use usher_domain::ports::Ping;

use crate::StoreError;
use crate::connection::{
    AnyConnection, Customizer, ErrorLogger, Manager, Target, redact_url, scrub_password,
};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Connections per pool (file SQLite and PostgreSQL). In-memory SQLite gets exactly one:
/// each connection to `:memory:` would be a separate, empty database.
const POOL_SIZE: u32 = 10;

/// How long a caller waits for a free (or newly opened) connection.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serialises `migrate` across the nodes of a cluster sharing one PostgreSQL database
/// (an arbitrary constant: "Usher" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x55_73_68_65_72;

/// A pool of connections to Usher's database. Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct Database {
    pool: Pool<Manager>,
    backend: &'static str,
    display_url: String,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .field("url", &self.display_url)
            .finish_non_exhaustive()
    }
}

pub(crate) type Conn = PooledConnection<Manager>;

impl Database {
    /// Opens a pool for `url`: `sqlite://PATH` (relative or absolute; the parent
    /// directory is created if missing), `sqlite::memory:` (a pool of one), or
    /// `postgres://…` / `postgresql://…`. Any other form, and a database that cannot be
    /// reached, is [`StoreError::Unavailable`] with the reason. No message names the
    /// password: the URL is shown redacted and the driver's words are scrubbed of it.
    pub fn connect(url: &str) -> Result<Database, StoreError> {
        let target = Target::parse(url)?;
        target.prepare()?;
        let display_url = redact_url(url);
        let backend = target.backend();
        let memory = target == Target::SqliteMemory;
        let manager = Manager { target };

        // One connection first: a wrong URL fails at once, with the driver's reason,
        // instead of after the pool's timeout.
        let cannot_connect = |e: diesel::r2d2::Error| {
            StoreError::Unavailable(format!(
                "cannot connect to {display_url}: {}",
                scrub_password(&e.to_string(), url)
            ))
        };
        let mut probe = manager.connect().map_err(cannot_connect)?;
        Customizer.on_acquire(&mut probe).map_err(cannot_connect)?;
        drop(probe);

        let mut builder = Pool::builder()
            .max_size(if memory { 1 } else { POOL_SIZE })
            // No background pre-filling: r2d2 opens idle connections on its own threads,
            // and a PostgreSQL connection still opening (libpq + OpenSSL) when a short
            // admin command exits races OpenSSL's exit-time cleanup and crashes. With no
            // minimum, a connection is only opened for a `get()` that waits for it.
            .min_idle(Some(0))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .connection_customizer(Box::new(Customizer))
            .error_handler(Box::new(ErrorLogger {
                url: crate::SecretUrl::new(url),
            }));
        if memory {
            // Closing the only connection would lose the whole database.
            builder = builder.idle_timeout(None).max_lifetime(None);
        }
        let pool = builder.build(manager).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to {display_url}: {}",
                scrub_password(&e.to_string(), url)
            ))
        })?;
        tracing::debug!(backend, url = %display_url, "database pool ready");
        Ok(Database {
            pool,
            backend,
            display_url,
        })
    }

    /// Applies the embedded migrations that have not run yet; returns how many ran.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        let applied = match &mut *conn {
            AnyConnection::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|done| done.len()),
            AnyConnection::Postgresql(c) => {
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                    .execute(c)
                    .map_err(unavailable)?;
                let applied = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|done| done.len());
                diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                    .execute(c)
                    .map_err(unavailable)?;
                applied
            }
        }
        .map_err(|e| StoreError::Unavailable(format!("a migration failed: {e}")))?;
        tracing::debug!(backend = self.backend, applied, "migrations done");
        Ok(applied)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The URL with any password replaced by `***`, for logs.
    pub fn display_url(&self) -> String {
        self.display_url.clone()
    }

    /// A connection from the pool.
    pub(crate) fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(format!("no database connection: {e}")))
    }
}

impl Ping for Database {
    fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::sql_query("SELECT 1")
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(unavailable)
    }
}

/// Executes a statement that diesel builds only for a concrete backend, not for the
/// `MultiConnection` (an `INSERT … ON CONFLICT`): the same query, run on the inner
/// SQLite or PostgreSQL connection. Both accept the same upsert syntax.
pub(crate) fn execute_native<Q>(conn: &mut AnyConnection, query: Q) -> QueryResult<usize>
where
    Q: ExecuteDsl<SqliteConnection> + ExecuteDsl<PgConnection>,
{
    match conn {
        AnyConnection::Sqlite(c) => ExecuteDsl::<SqliteConnection>::execute(query, c),
        AnyConnection::Postgresql(c) => ExecuteDsl::<PgConnection>::execute(query, c),
    }
}

/// Any diesel error that is not a rule of ours being enforced.
pub(crate) fn unavailable(e: DieselError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The details of a uniqueness violation, or `None` for every other error.
pub(crate) fn unique_violation(e: &DieselError) -> Option<&dyn DatabaseErrorInformation> {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => Some(&**info),
        _ => None,
    }
}

/// Whether a uniqueness violation concerns `needle`: PostgreSQL names the constraint
/// (`users_username_key`), SQLite names the columns (`users.username`).
pub(crate) fn violation_mentions(info: &dyn DatabaseErrorInformation, needle: &str) -> bool {
    info.constraint_name().is_some_and(|c| c.contains(needle)) || info.message().contains(needle)
}

/// A stored integer that does not fit the domain type.
pub(crate) fn corrupt(what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}
