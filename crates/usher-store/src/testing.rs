//! Throw-away databases for tests (cargo feature `testing`).
//!
//! [`TestDb::sqlite`] is a fresh file in a temporary directory; [`TestDb::postgres`] is a
//! fresh database on the PostgreSQL server named by `USHER_TEST_POSTGRES_URL` (default
//! `postgres://127.0.0.1/postgres`), created as `usher_t_<random hex>` and dropped when the
//! [`TestDb`] is dropped, even if the test panicked. PostgreSQL being unreachable is a
//! test failure with instructions, never a silent skip. Everything here panics on
//! failure: it is meant for tests only.
//!
//! ```no_run
//! use usher_store::testing::TestDb;
//!
//! let t = TestDb::postgres();
//! let db = t.database(); // connected and migrated
//! # drop(db);
//! ```

use std::fmt;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::Database;
use crate::connection::redact_url;

/// The environment variable naming the PostgreSQL server (any database on it) used to
/// create and drop the test databases.
pub const POSTGRES_URL_VAR: &str = "USHER_TEST_POSTGRES_URL";

/// The server used when [`POSTGRES_URL_VAR`] is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://127.0.0.1/postgres";

/// A database that exists for as long as this value does.
pub struct TestDb {
    /// The URL to give [`Database::connect`].
    pub url: String,
    kind: Kind,
}

enum Kind {
    Sqlite {
        // Removed (with the database file) on drop.
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl fmt::Debug for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDb")
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl TestDb {
    /// A fresh SQLite file in a new temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let url = format!("sqlite://{}", dir.path().join("usher.db").display());
        TestDb {
            url,
            kind: Kind::Sqlite { _dir: dir },
        }
    }

    /// A fresh, empty PostgreSQL database, dropped (`WITH (FORCE)`) on drop.
    ///
    /// Panics, with instructions, if the server cannot be reached.
    pub fn postgres() -> TestDb {
        let admin_url =
            std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed for the storage contract tests: start it (see README) \
                 or set {POSTGRES_URL_VAR} (tried {}): {e}",
                redact_url(&admin_url)
            )
        });
        let name = format!("usher_t_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        TestDb {
            url: with_database(&admin_url, &name),
            kind: Kind::Postgres { admin_url, name },
        }
    }

    /// The fresh database of `backend` (`"sqlite"` or `"postgres"`).
    pub fn of(backend: &str) -> TestDb {
        match backend {
            "sqlite" => TestDb::sqlite(),
            "postgres" => TestDb::postgres(),
            other => panic!("unknown test backend {other:?}; use sqlite or postgres"),
        }
    }

    /// A [`Database`] on this test database, with every migration applied.
    pub fn database(&self) -> Database {
        let db = self.connect();
        db.migrate()
            .unwrap_or_else(|e| panic!("cannot migrate the test database: {e}"));
        db
    }

    /// A [`Database`] on this test database, not migrated.
    pub fn connect(&self) -> Database {
        Database::connect(&self.url)
            .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"))
    }

    /// Runs raw SQL (statements separated by `;`) on a separate connection, e.g. to
    /// plant a corrupt row or move a timestamp into the past.
    pub fn execute(&self, sql: &str) {
        let result = match &self.kind {
            Kind::Sqlite { .. } => self.sqlite_connection().batch_execute(sql),
            Kind::Postgres { .. } => self.postgres_connection().batch_execute(sql),
        };
        result.unwrap_or_else(|e| panic!("test SQL failed: {e}\n{sql}"));
    }

    /// `SELECT COUNT(*) FROM <from_where>`, e.g.
    /// `count("client_redirect_uris WHERE client_id = 'c1'")`.
    pub fn count(&self, from_where: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let query = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {from_where}"));
        let result = match &self.kind {
            Kind::Sqlite { .. } => query.get_result::<Count>(&mut self.sqlite_connection()),
            Kind::Postgres { .. } => query.get_result::<Count>(&mut self.postgres_connection()),
        };
        result
            .unwrap_or_else(|e| panic!("test count failed: {e}\nFROM {from_where}"))
            .n
    }

    fn sqlite_connection(&self) -> SqliteConnection {
        let path = self.url.trim_start_matches("sqlite://");
        let mut conn = SqliteConnection::establish(path)
            .unwrap_or_else(|e| panic!("cannot open the test database: {e}"));
        conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
            .unwrap_or_else(|e| panic!("cannot set up the test connection: {e}"));
        conn
    }

    fn postgres_connection(&self) -> PgConnection {
        PgConnection::establish(&self.url)
            .unwrap_or_else(|e| panic!("cannot open the test database: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Kind::Postgres { admin_url, name } = &self.kind else {
            return;
        };
        // Never panic here: this may run while a failed test unwinds.
        let dropped = PgConnection::establish(admin_url)
            .map_err(|e| e.to_string())
            .and_then(|mut admin| {
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = dropped {
            eprintln!("warning: could not drop the test database {name}: {e}");
        }
    }
}

/// `admin_url` with its database (the URL path) replaced by `name`; the query is kept.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_start = base[authority_start..]
        .rfind('@')
        .map_or(authority_start, |at| authority_start + at + 1);
    let path_start = base[host_start..]
        .find('/')
        .map_or(base.len(), |slash| host_start + slash);
    let mut url = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_database_replaces_the_admin_database() {
        let cases = [
            ("postgres://127.0.0.1/postgres", "postgres://127.0.0.1/x"),
            ("postgres://127.0.0.1:5432", "postgres://127.0.0.1:5432/x"),
            (
                "postgresql://u:p/w@db:5433/admin?sslmode=disable",
                "postgresql://u:p/w@db:5433/x?sslmode=disable",
            ),
            (
                "postgres:///postgres?host=/run/pg",
                "postgres:///x?host=/run/pg",
            ),
        ];
        for (admin, want) in cases {
            assert_eq!(with_database(admin, "x"), want);
        }
    }
}
