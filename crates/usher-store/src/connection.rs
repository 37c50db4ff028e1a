//! Connections: the database URL forms Usher accepts, the one connection type that
//! covers SQLite and PostgreSQL, and the r2d2 manager and customizer that open it.
//!
//! diesel's derived `MultiConnection::establish` tries every backend in turn and throws
//! the errors away, so a mistyped PostgreSQL URL would surface as a puzzling SQLite
//! failure. [`Manager`] instead opens exactly the backend the URL names and keeps the
//! driver's own error.

use std::fmt;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

use crate::StoreError;

/// Every connection Usher opens: one code path, two backends.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// The accepted URL forms, for error messages.
pub(crate) const ACCEPTED_FORMS: &str =
    "sqlite://PATH, sqlite::memory:, postgres://… or postgresql://…";

/// Which database a URL names.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite file; its parent directory is created if missing.
    SqliteFile(PathBuf),
    /// A private in-memory SQLite database (the pool must hold exactly one connection).
    SqliteMemory,
    /// A PostgreSQL URL, passed to libpq unchanged (and shown only redacted).
    Postgres(SecretUrl),
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::SqliteFile(path) => write!(f, "SqliteFile({})", path.display()),
            Target::SqliteMemory => f.write_str("SqliteMemory"),
            Target::Postgres(url) => write!(f, "Postgres({url})"),
        }
    }
}

impl Target {
    /// Reads a database URL.
    pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return Ok(Target::SqliteMemory);
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "the database URL {url:?} names no file; use one of {ACCEPTED_FORMS}"
                )));
            }
            return Ok(Target::SqliteFile(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(SecretUrl::new(url)));
        }
        Err(StoreError::Unavailable(format!(
            "the database URL {:?} is not understood; use one of {ACCEPTED_FORMS}",
            redact_url(url)
        )))
    }

    pub(crate) fn backend(&self) -> &'static str {
        match self {
            Target::SqliteFile(_) | Target::SqliteMemory => "sqlite",
            Target::Postgres(_) => "postgres",
        }
    }

    /// Creates the parent directory of a SQLite file if it is missing.
    pub(crate) fn prepare(&self) -> Result<(), StoreError> {
        if let Target::SqliteFile(path) = self
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create the directory {} for the SQLite database: {e}",
                    dir.display()
                ))
            })?;
        }
        Ok(())
    }

    fn open(&self) -> Result<AnyConnection, ConnectionError> {
        match self {
            Target::SqliteFile(path) => {
                let path = sqlite_path(path)?;
                SqliteConnection::establish(path).map(AnyConnection::Sqlite)
            }
            Target::SqliteMemory => {
                SqliteConnection::establish(":memory:").map(AnyConnection::Sqlite)
            }
            Target::Postgres(url) => {
                PgConnection::establish(url.expose()).map(AnyConnection::Postgresql)
            }
        }
    }
}

fn sqlite_path(path: &Path) -> Result<&str, ConnectionError> {
    path.to_str().ok_or_else(|| {
        ConnectionError::BadConnection(format!(
            "the SQLite path {} is not valid UTF-8",
            path.display()
        ))
    })
}

/// Opens connections for the pool: exactly the backend the URL names.
#[derive(Debug)]
pub(crate) struct Manager {
    pub(crate) target: Target,
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        self.target.open().map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Sets the per-connection SQLite pragmas; PostgreSQL connections need nothing.
#[derive(Debug)]
pub(crate) struct Customizer;

/// `busy_timeout` comes first so that switching to WAL waits for other connections.
/// `synchronous = NORMAL` is SQLite's recommended setting in WAL mode: the database stays
/// consistent on power loss, but the last commits before it may be lost — for Usher, a
/// code or a rotation that then fails closed (the client signs in again). With the
/// default (FULL) every commit waits for the disk: code exchange ran at half the rate
/// (docs/benchmarks.md).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

impl r2d2::CustomizeConnection<AnyConnection, r2d2::Error> for Customizer {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        match conn {
            AnyConnection::Sqlite(c) => c
                .batch_execute(SQLITE_PRAGMAS)
                .map_err(r2d2::Error::QueryError),
            AnyConnection::Postgresql(_) => Ok(()),
        }
    }
}

/// Reports pool errors (failed reconnects) through `tracing`, scrubbed of the password.
#[derive(Debug)]
pub(crate) struct ErrorLogger {
    pub(crate) url: SecretUrl,
}

impl r2d2::HandleError<r2d2::Error> for ErrorLogger {
    fn handle_error(&self, error: r2d2::Error) {
        let error = self.url.scrub(&error.to_string());
        tracing::warn!(error = %error, "database connection error");
    }
}

/// A database or Redis URL that may carry a password. The only way to read the raw
/// value is [`SecretUrl::expose`], for handing it to a driver; `Display` and `Debug`
/// show it with the password replaced by `***`, so a URL in a log line, an error
/// message or a `{:?}` of the settings never leaks it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(raw: impl Into<String>) -> SecretUrl {
        SecretUrl(raw.into())
    }

    /// The URL as written, password included: only for the driver that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of this URL's password (as written and
    /// percent-decoded) in a driver's message, for drivers that echo what they parsed.
    pub fn scrub(&self, message: &str) -> String {
        scrub_password(message, &self.0)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", redact_url(&self.0))
    }
}

/// Where the user-info of the part after `scheme://` ends (the index of its last `@`),
/// if it has one. The authority runs to the first `/`; an `@` after a `?` or `#` in it
/// still counts, because libpq reads `user:12?x@host` as the password `12?x` where a URL
/// parser would see a port and a query — so whatever comes before the last `@` of the
/// authority is masked whichever way it is read.
fn userinfo_end(rest: &str) -> Option<usize> {
    // Two readings, and the wider wins: up to the first '/' (libpq's authority, where a
    // '?' may belong to the password) and up to the first '?' (a URL parser's, where an
    // unescaped '/' may belong to it: `user:p@ss/w0rd@host`).
    let authority = rest.find('/').map_or(rest, |slash| &rest[..slash]);
    let before_query = rest.find('?').map_or(rest, |q| &rest[..q]);
    authority.rfind('@').max(before_query.rfind('@'))
}

/// Whether a query parameter's name (as written or percent-decoded) names a password:
/// `password`, `sslpassword`, and any other spelling that contains the word.
fn is_password_param(key: &str) -> bool {
    key.to_ascii_lowercase().contains("password")
        || percent_decode(key)
            .to_ascii_lowercase()
            .contains("password")
}

/// The query of a URL's part after `scheme://`: after the first `?` that follows the
/// user-info.
fn query_of(rest: &str) -> Option<&str> {
    let from = userinfo_end(rest).map_or(0, |at| at + 1);
    rest[from..].find('?').map(|q| &rest[from + q + 1..])
}

/// The passwords a URL carries: the user-info password and any password-like query
/// parameter, each as written and percent-decoded (empty ones left out).
fn passwords_in(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    if let Some(at) = userinfo_end(rest)
        && let Some((_, password)) = rest[..at].split_once(':')
    {
        found.push(password.to_owned());
    }
    for param in query_of(rest).unwrap_or("").split('&') {
        if let Some((key, value)) = param.split_once('=')
            && is_password_param(key)
        {
            found.push(value.to_owned());
        }
    }
    let decoded: Vec<String> = found.iter().map(|p| percent_decode(p)).collect();
    found.extend(decoded);
    found.retain(|p| !p.is_empty());
    // Longest first, so a password that contains another is masked whole.
    found.sort_by_key(|p| std::cmp::Reverse(p.len()));
    found
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `message` with every password of `url` replaced by `***`.
pub(crate) fn scrub_password(message: &str, url: &str) -> String {
    let mut out = message.to_owned();
    for password in passwords_in(url) {
        out = out.replace(&password, "***");
    }
    out
}

/// The URL with any password replaced by `***`: in the user-info part
/// (`postgres://user:secret@host`, wherever libpq or a URL parser would end it) and in
/// every password-like query parameter (`password=`, `sslpassword=`, …).
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    let after_userinfo = match userinfo_end(rest) {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            at
        }
        None => 0,
    };
    let tail = &rest[after_userinfo..];
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..q]);
            out.push('?');
            let params: Vec<String> = tail[q + 1..]
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if is_password_param(key) => format!("{key}=***"),
                    _ => param.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_removed_from_urls() {
        let cases = [
            (
                "postgres://usher:s3cret@db.example:5432/usher",
                "postgres://usher:***@db.example:5432/usher",
            ),
            (
                "postgresql://usher:p@ss/w0rd@db/usher?sslmode=require",
                "postgresql://usher:***@db/usher?sslmode=require",
            ),
            (
                "postgres://db/usher?user=u&password=hunter2&sslmode=disable",
                "postgres://db/usher?user=u&password=***&sslmode=disable",
            ),
            ("postgres://usher@db/usher", "postgres://usher@db/usher"),
            (
                "postgres://127.0.0.1/postgres",
                "postgres://127.0.0.1/postgres",
            ),
            ("sqlite://data/usher.db", "sqlite://data/usher.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            // Read by libpq as the password `1234?x` (a URL parser sees a port).
            ("postgres://u:1234?x@h/db", "postgres://u:***@h/db"),
            (
                "postgres://u:P@ssw0rd@db/usher",
                "postgres://u:***@db/usher",
            ),
            (
                "postgres://db/x?sslpassword=k3y&pass%77ord=p4ss&sslmode=verify-full",
                "postgres://db/x?sslpassword=***&pass%77ord=***&sslmode=verify-full",
            ),
        ];
        for (given, want) in cases {
            assert_eq!(redact_url(given), want);
        }
    }

    #[test]
    fn a_secret_url_never_shows_its_password_and_scrubs_driver_messages() {
        let url = SecretUrl::new("postgres://u:s3cret%21pw@db/x?password=other");
        for shown in [format!("{url}"), format!("{url:?}")] {
            assert!(
                !shown.contains("s3cret") && !shown.contains("other"),
                "{shown}"
            );
        }
        assert_eq!(url.expose(), "postgres://u:s3cret%21pw@db/x?password=other");
        assert_eq!(
            url.scrub("bad token s3cret!pw, s3cret%21pw and other"),
            "bad token ***, *** and ***"
        );
        assert_eq!(
            SecretUrl::new("sqlite://data/usher.db").scrub("no such file"),
            "no such file"
        );
    }

    #[test]
    fn urls_name_a_backend() {
        assert_eq!(
            Target::parse("sqlite://data/usher.db").unwrap(),
            Target::SqliteFile(PathBuf::from("data/usher.db"))
        );
        assert_eq!(
            Target::parse("sqlite:///var/lib/usher/usher.db").unwrap(),
            Target::SqliteFile(PathBuf::from("/var/lib/usher/usher.db"))
        );
        assert_eq!(
            Target::parse("sqlite::memory:").unwrap(),
            Target::SqliteMemory
        );
        assert_eq!(
            Target::parse("postgresql://h/d").unwrap().backend(),
            "postgres"
        );
        assert_eq!(
            Target::parse("postgres://h/d").unwrap().backend(),
            "postgres"
        );
        for bad in [
            "mysql://h/d",
            "data/usher.db",
            "sqlite://",
            "",
            "http://x:pw@h/",
        ] {
            let err = Target::parse(bad).unwrap_err();
            let StoreError::Unavailable(msg) = err else {
                panic!("{bad}: {err:?}");
            };
            assert!(msg.contains(ACCEPTED_FORMS), "{msg}");
            assert!(!msg.contains("pw@"), "{msg}");
        }
    }
}
