//! Configuration: defaults, then an optional TOML file, then `USHER_*` environment
//! variables. One name per setting everywhere: the file key is the variable without the
//! prefix, in lower case; a nested group uses `__` in the variable
//! (`USHER_KEYS__BITS` ↔ `[keys] bits`). Unknown keys and variables are refused.
//!
//! Raw strings are parsed here, once, into [`Settings`]; a bad value stops Usher with one
//! message that names the setting and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use usher_domain::Issuer;
use usher_store::SecretUrl;

/// Where refresh-token families live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FamilyStoreSetting {
    /// In the SQL database (the default; one node).
    Embedded,
    /// In Redis, at this URL (required for more than one node); shown without password.
    Redis(SecretUrl),
}

/// Where the key-encryption key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KekSource {
    /// `USHER_KEK` / `kek`: the base64 value itself.
    Value(String),
    /// A file (the embedded default, `keys/kek`); only `serve` on an empty database
    /// creates it (mode 0600) when it is missing.
    File(PathBuf),
}

impl KekSource {
    /// Where the KEK was looked for, for messages (never the value).
    pub fn describe(&self, setting: &str) -> String {
        match self {
            KekSource::Value(_) => format!("USHER_{} ({setting})", setting.to_uppercase()),
            KekSource::File(p) => format!(
                "{} (USHER_{}_FILE, {setting}_file)",
                p.display(),
                setting.to_uppercase()
            ),
        }
    }
}

impl fmt::Debug for KekSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KekSource::Value(_) => f.write_str("KekSource::Value(<redacted>)"),
            KekSource::File(p) => write!(f, "KekSource::File({})", p.display()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Parsed, checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub issuer: Issuer,
    /// The issuer was not set and follows the bound address: with port 0 (tests), it is
    /// recomputed from the port the listener actually got.
    pub issuer_from_bind: bool,
    /// The issuer as written, when it differs from the canonical spelling Usher uses
    /// (scheme and host in lower case): `serve` warns, since `iss` and discovery change.
    pub issuer_as_written: Option<String>,
    pub bind: SocketAddr,
    /// A separate address for `GET /metrics`.
    pub metrics_bind: Option<SocketAddr>,
    /// Whether `GET /metrics` is also served on `bind` (off by default: it is public).
    pub metrics_on_main_listener: bool,
    pub database_url: SecretUrl,
    pub family_store: FamilyStoreSetting,
    /// The prefix of every Redis key Usher writes (several deployments, or tests, can
    /// share one Redis).
    pub redis_prefix: String,
    pub kek: KekSource,
    /// The KEK being replaced, accepted for opening while a KEK change rolls through a
    /// cluster (docs/operations.md); never used to seal.
    pub kek_previous: Option<KekSource>,
    pub log: String,
    pub log_format: LogFormat,
    pub workers: usize,
    /// Proxies whose forwarding headers name the client address (login throttling).
    pub trusted_proxies: usher_core::client_address::TrustedProxies,
    pub keys: KeySettings,
    /// Lifetime of access and ID tokens, in seconds.
    pub access_token_ttl: i64,
    /// How long a node uses a client, person or the revoked-token set it read, in
    /// seconds (0 = always read the store). See docs/design/caching.md.
    pub cache_ttl: i64,
    /// Lifetime of a browser session, in seconds.
    pub session_ttl: i64,
    /// Refresh-token families (`[families]`).
    pub families: FamilySettings,
    /// The audience of `client_credentials` tokens asked for without `resource`, for
    /// clients registered with no audience.
    pub default_audience: Option<String>,
}

/// `[families]`: the lifetimes of refresh-token families, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilySettings {
    /// After a rotation, how long presenting the parent again returns the same child
    /// instead of revoking the family; 0 = off (the default).
    pub grace: i64,
    /// A family's maximum lifetime, however often it is used.
    pub absolute_ttl: i64,
    /// A family unused for this long ends.
    pub idle_ttl: i64,
}

#[derive(Debug, Clone)]
pub struct KeySettings {
    /// RSA modulus size of new signing keys.
    pub bits: u32,
    /// The configured upper bound of the JWKS `Cache-Control: max-age`, in seconds; the
    /// served value is [`KeySettings::effective_jwks_max_age`].
    pub jwks_max_age: u64,
    /// How long a key signs before it is replaced, in seconds.
    pub rotate_every: i64,
    /// How long a new key is published before it signs, in seconds.
    pub prepublish: i64,
    /// How often every node reads the key table, in seconds.
    pub poll_interval: u64,
}

/// Added to the poll interval for clock skew between nodes: how long after a transition
/// some node may still act on the key set from before it.
pub const CLOCK_SKEW_MARGIN: i64 = 60;

impl KeySettings {
    /// How long after a transition every node has seen it (poll interval + skew margin).
    pub fn propagation(&self) -> i64 {
        i64::try_from(self.poll_interval).unwrap_or(i64::MAX / 4) + CLOCK_SKEW_MARGIN
    }

    /// The JWKS `max-age` actually served: the configured one, lowered if needed so that
    /// the pre-publication period covers two cache lifetimes plus the propagation time
    /// (`prepublish ≥ 2 × max-age + propagation`; docs/design/key-rotation.md).
    pub fn effective_jwks_max_age(&self) -> u64 {
        let room = (self.prepublish - self.propagation()).max(0) / 2;
        self.jwks_max_age.min(u64::try_from(room).unwrap_or(0))
    }

    /// The rotation schedule for tokens that live `token_lifetime` seconds.
    pub fn schedule(&self, token_lifetime: i64) -> usher_domain::rotation::RotationSchedule {
        usher_domain::rotation::RotationSchedule {
            rotate_every: self.rotate_every,
            prepublish: self.prepublish,
            token_lifetime,
            propagation: self.propagation(),
        }
    }
}

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    issuer: Option<String>,
    bind: Option<String>,
    metrics_bind: Option<String>,
    database_url: Option<String>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    kek: Option<String>,
    kek_file: Option<String>,
    kek_previous: Option<String>,
    kek_previous_file: Option<String>,
    metrics_on_main_listener: Option<bool>,
    log: Option<String>,
    log_format: Option<String>,
    workers: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    default_audience: Option<String>,
    cache_ttl: Option<u64>,
    #[serde(default)]
    keys: RawKeys,
    #[serde(default)]
    tokens: RawTokens,
    #[serde(default)]
    sessions: RawSessions,
    #[serde(default)]
    families: RawFamilies,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFamilies {
    grace: Option<u64>,
    absolute_ttl: Option<u64>,
    idle_ttl: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    access_ttl: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSessions {
    ttl: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    bits: Option<u64>,
    jwks_max_age: Option<u64>,
    rotate_every: Option<u64>,
    prepublish: Option<u64>,
    poll_interval: Option<u64>,
}

/// A configuration error: which setting, what is wrong, how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

fn err(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.to_owned(),
        message: message.into(),
    }
}

/// Every setting: (file key, environment variable, default shown in docs).
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("issuer", "USHER_ISSUER", "http://<bind>"),
    ("bind", "USHER_BIND", "127.0.0.1:8080"),
    (
        "metrics_bind",
        "USHER_METRICS_BIND",
        "(unset: no metrics listener)",
    ),
    (
        "metrics_on_main_listener",
        "USHER_METRICS_ON_MAIN_LISTENER",
        "false",
    ),
    (
        "database_url",
        "USHER_DATABASE_URL",
        "sqlite://data/usher.db",
    ),
    (
        "redis_url",
        "USHER_REDIS_URL",
        "(unset: embedded family store)",
    ),
    ("redis_prefix", "USHER_REDIS_PREFIX", "usher:"),
    ("kek", "USHER_KEK", "(unset: read keys/kek)"),
    ("kek_file", "USHER_KEK_FILE", "keys/kek"),
    ("kek_previous", "USHER_KEK_PREVIOUS", "(unset)"),
    ("kek_previous_file", "USHER_KEK_PREVIOUS_FILE", "(unset)"),
    ("log", "USHER_LOG", "info"),
    ("log_format", "USHER_LOG_FORMAT", "pretty"),
    ("workers", "USHER_WORKERS", "(number of CPUs)"),
    ("trusted_proxies", "USHER_TRUSTED_PROXIES", "(none)"),
    (
        "default_audience",
        "USHER_DEFAULT_AUDIENCE",
        "(unset: client_credentials needs resource)",
    ),
    ("cache_ttl", "USHER_CACHE_TTL", "2"),
    ("keys.bits", "USHER_KEYS__BITS", "2048"),
    ("keys.jwks_max_age", "USHER_KEYS__JWKS_MAX_AGE", "900"),
    ("keys.rotate_every", "USHER_KEYS__ROTATE_EVERY", "2592000"),
    ("keys.prepublish", "USHER_KEYS__PREPUBLISH", "172800"),
    ("keys.poll_interval", "USHER_KEYS__POLL_INTERVAL", "30"),
    ("tokens.access_ttl", "USHER_TOKENS__ACCESS_TTL", "600"),
    ("sessions.ttl", "USHER_SESSIONS__TTL", "28800"),
    ("families.grace", "USHER_FAMILIES__GRACE", "0"),
    (
        "families.absolute_ttl",
        "USHER_FAMILIES__ABSOLUTE_TTL",
        "2592000",
    ),
    ("families.idle_ttl", "USHER_FAMILIES__IDLE_TTL", "1209600"),
];

fn name_of(key: &str) -> String {
    let env = SETTINGS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, e, _)| *e)
        .unwrap_or("?");
    format!("{env} ({key})")
}

impl Settings {
    /// Loads the settings from the optional file and the given environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut raw = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err("--config", format!("cannot read {}: {e}", path.display())))?;
                toml::from_str::<RawSettings>(&text).map_err(|e| {
                    err(
                        &format!("--config {}", path.display()),
                        format!("{}; see docs/configuration.md for the keys", e.message()),
                    )
                })?
            }
            None => RawSettings::default(),
        };
        overlay_env(&mut raw, env)?;
        Settings::from_raw(raw)
    }

    fn from_raw(raw: RawSettings) -> Result<Settings, ConfigError> {
        let bind_raw = raw.bind.unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind: SocketAddr = bind_raw.parse().map_err(|_| {
            err(
                &name_of("bind"),
                format!("{bind_raw:?} is not an address:port such as 127.0.0.1:8080"),
            )
        })?;

        let metrics_bind = match raw.metrics_bind.filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => Some(m.parse::<SocketAddr>().map_err(|_| {
                err(
                    &name_of("metrics_bind"),
                    format!("{m:?} is not an address:port such as 127.0.0.1:9090"),
                )
            })?),
        };

        let issuer_from_bind = raw.issuer.is_none();
        let issuer_written = raw.issuer.clone();
        let issuer = match raw.issuer {
            Some(s) => Issuer::parse(&s).map_err(|e| err(&name_of("issuer"), e.to_string()))?,
            None if bind.ip().is_loopback() => Issuer::parse(&format!("http://{bind}"))
                .map_err(|e| err(&name_of("issuer"), e.to_string()))?,
            None => {
                return Err(err(
                    &name_of("issuer"),
                    format!(
                        "must be set when binding to {bind}: the public https URL clients use, e.g. https://auth.example.com"
                    ),
                ));
            }
        };

        let issuer_as_written = issuer_written.filter(|w| w != issuer.as_str());
        let database_url = raw
            .database_url
            .unwrap_or_else(|| "sqlite://data/usher.db".to_owned());
        check_database_url(&database_url)?;
        let database_url = SecretUrl::new(database_url);

        let family_store = match raw.redis_url {
            None => FamilyStoreSetting::Embedded,
            Some(u) => {
                let parsed = url::Url::parse(&u).map_err(|e| {
                    err(
                        &name_of("redis_url"),
                        format!("is not a URL ({e}); write redis://HOST:PORT[/DB]"),
                    )
                })?;
                if !matches!(parsed.scheme(), "redis" | "rediss") || parsed.host().is_none() {
                    return Err(err(
                        &name_of("redis_url"),
                        "must be redis://HOST:PORT[/DB] or rediss://…",
                    ));
                }
                FamilyStoreSetting::Redis(SecretUrl::new(u))
            }
        };

        let kek = match (raw.kek, raw.kek_file) {
            (Some(_), Some(_)) => {
                return Err(err(
                    &name_of("kek"),
                    "set either USHER_KEK or USHER_KEK_FILE, not both",
                ));
            }
            (Some(v), None) => KekSource::Value(v),
            (None, Some(f)) if f.trim().is_empty() => {
                return Err(err(&name_of("kek_file"), "must not be empty"));
            }
            (None, Some(f)) => KekSource::File(PathBuf::from(f)),
            (None, None) => KekSource::File(PathBuf::from("keys/kek")),
        };
        let kek_previous = match (raw.kek_previous, raw.kek_previous_file) {
            (Some(_), Some(_)) => {
                return Err(err(
                    &name_of("kek_previous"),
                    "set either USHER_KEK_PREVIOUS or USHER_KEK_PREVIOUS_FILE, not both",
                ));
            }
            (Some(v), None) if v.trim().is_empty() => None,
            (Some(v), None) => Some(KekSource::Value(v)),
            (None, Some(f)) if f.trim().is_empty() => None,
            (None, Some(f)) => Some(KekSource::File(PathBuf::from(f))),
            (None, None) => None,
        };

        let log = raw.log.unwrap_or_else(|| "info".to_owned());
        let log_format = match raw.log_format.as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    &name_of("log_format"),
                    format!("{other:?} is not pretty or json"),
                ));
            }
        };

        let workers = match raw.workers {
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Some(n @ 1..=1024) => n as usize,
            Some(n) => {
                return Err(err(
                    &name_of("workers"),
                    format!("{n} is not between 1 and 1024"),
                ));
            }
        };

        let bits = match raw.keys.bits {
            None => 2048,
            Some(b @ (2048 | 3072 | 4096)) => b as u32,
            Some(b) => {
                return Err(err(
                    &name_of("keys.bits"),
                    format!("{b} is not 2048, 3072 or 4096"),
                ));
            }
        };
        let jwks_max_age = match raw.keys.jwks_max_age {
            None => 900,
            Some(s @ 0..=86_400) => s,
            Some(s) => {
                return Err(err(
                    &name_of("keys.jwks_max_age"),
                    format!("{s} seconds is more than a day; verifiers would miss new keys"),
                ));
            }
        };

        let poll_interval = match raw.keys.poll_interval {
            None => 30,
            Some(s @ 1..=3600) => s,
            Some(s) => {
                return Err(err(
                    &name_of("keys.poll_interval"),
                    format!("{s} seconds is not between 1 and 3600"),
                ));
            }
        };
        let propagation = poll_interval as i64 + CLOCK_SKEW_MARGIN;
        let prepublish = match raw.keys.prepublish {
            None => 2 * 86_400,
            Some(s) if (s as i64) >= propagation + 120 && s <= 365 * 86_400 => s as i64,
            Some(s) => {
                return Err(err(
                    &name_of("keys.prepublish"),
                    format!(
                        "{s} seconds is too short or too long: it must be at least the poll interval + {} s (so the JWKS max-age can be at least a minute) and at most a year",
                        CLOCK_SKEW_MARGIN + 120
                    ),
                ));
            }
        };
        let rotate_every = match raw.keys.rotate_every {
            None => 30 * 86_400,
            Some(s) if (s as i64) > prepublish && s <= 10 * 365 * 86_400 => s as i64,
            Some(s) => {
                return Err(err(
                    &name_of("keys.rotate_every"),
                    format!(
                        "{s} seconds must be longer than keys.prepublish ({prepublish} s) and at most ten years"
                    ),
                ));
            }
        };
        let default_audience = match raw.default_audience {
            None => None,
            Some(a) if a.is_empty() => None,
            Some(a) => match usher_domain::Audience::parse(&a) {
                Ok(_) => Some(a),
                Err(e) => return Err(err(&name_of("default_audience"), e.to_string())),
            },
        };

        let cache_ttl = match raw.cache_ttl {
            None => 2,
            Some(s @ 0..=60) => s as i64,
            Some(s) => {
                return Err(err(
                    &name_of("cache_ttl"),
                    format!("{s} seconds is not between 0 (no caching) and 60"),
                ));
            }
        };
        let access_token_ttl = match raw.tokens.access_ttl {
            None => 600,
            Some(s @ 60..=86_400) => s as i64,
            Some(s) => {
                return Err(err(
                    &name_of("tokens.access_ttl"),
                    format!("{s} seconds is not between 60 and 86400"),
                ));
            }
        };
        let session_ttl = match raw.sessions.ttl {
            None => 8 * 3600,
            Some(s @ 60..=31_536_000) => s as i64,
            Some(s) => {
                return Err(err(
                    &name_of("sessions.ttl"),
                    format!("{s} seconds is not between 60 and 31536000 (a year)"),
                ));
            }
        };

        let families = families_from_raw(&raw.families)?;
        let redis_prefix = raw.redis_prefix.unwrap_or_else(|| "usher:".to_owned());
        if redis_prefix.len() > 64
            || !redis_prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
        {
            return Err(err(
                &name_of("redis_prefix"),
                "must be at most 64 visible ASCII characters without braces (braces would break the per-family hash tag)",
            ));
        }

        Ok(Settings {
            cache_ttl,
            families,
            redis_prefix,
            access_token_ttl,
            session_ttl,
            issuer,
            issuer_from_bind,
            issuer_as_written,
            bind,
            metrics_bind,
            metrics_on_main_listener: raw.metrics_on_main_listener.unwrap_or(false),
            database_url,
            family_store,
            kek,
            kek_previous,
            log,
            log_format,
            workers,
            trusted_proxies: trusted_proxies_from_raw(raw.trusted_proxies)?,
            keys: KeySettings {
                bits,
                jwks_max_age,
                rotate_every,
                prepublish,
                poll_interval,
            },
            default_audience,
        })
    }
}

fn families_from_raw(raw: &RawFamilies) -> Result<FamilySettings, ConfigError> {
    const DAY: u64 = 86_400;
    let absolute_ttl = match raw.absolute_ttl {
        None => 30 * DAY,
        Some(s @ 300..=31_536_000) => s,
        Some(s) => {
            return Err(err(
                &name_of("families.absolute_ttl"),
                format!("{s} seconds is not between 300 and 31536000 (a year)"),
            ));
        }
    };
    let idle_ttl = match raw.idle_ttl {
        None => (14 * DAY).min(absolute_ttl),
        Some(s) if (60..=absolute_ttl).contains(&s) => s,
        Some(s) => {
            return Err(err(
                &name_of("families.idle_ttl"),
                format!("{s} seconds is not between 60 and families.absolute_ttl ({absolute_ttl})"),
            ));
        }
    };
    let grace = match raw.grace {
        None => 0,
        Some(s @ 0..=60) => s,
        Some(s) => {
            return Err(err(
                &name_of("families.grace"),
                format!("{s} seconds is more than 60: a long grace window weakens reuse detection"),
            ));
        }
    };
    Ok(FamilySettings {
        grace: grace as i64,
        absolute_ttl: absolute_ttl as i64,
        idle_ttl: idle_ttl as i64,
    })
}

/// CIDR ranges (or single addresses); empty entries are skipped, so an empty variable
/// means no trusted proxy.
fn trusted_proxies_from_raw(
    raw: Option<Vec<String>>,
) -> Result<usher_core::client_address::TrustedProxies, ConfigError> {
    use usher_core::client_address::{Cidr, TrustedProxies};
    let ranges = raw.unwrap_or_default();
    let ranges = ranges.iter().map(|r| r.trim()).filter(|r| !r.is_empty());
    ranges
        .map(|r| Cidr::parse(r).map_err(|e| err(&name_of("trusted_proxies"), e.to_string())))
        .collect::<Result<Vec<_>, _>>()
        .map(TrustedProxies::new)
}

fn check_database_url(url: &str) -> Result<(), ConfigError> {
    let name = name_of("database_url");
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(err(
                &name,
                "sqlite:// needs a file path, e.g. sqlite://data/usher.db",
            ));
        }
        return Ok(());
    }
    if url == "sqlite::memory:" {
        return Ok(());
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if !userinfo_is_escaped(url) {
            // Never echo the URL here: the error is printed, and the URL holds the password.
            return Err(err(
                &name,
                "the user name or password contains a raw '@', '?' or '#': percent-encode \
                 it (@ is %40, ? is %3F, # is %23), or the driver reads another host and \
                 prints part of the password in its error",
            ));
        }
        let parsed = url::Url::parse(url)
            .map_err(|e| err(&name, format!("is not a valid PostgreSQL URL ({e})")))?;
        if parsed.host().is_none() {
            return Err(err(
                &name,
                "a PostgreSQL URL needs a host: postgres://HOST[:PORT]/DB",
            ));
        }
        return Ok(());
    }
    Err(err(
        &name,
        "must be sqlite://PATH or postgres://USER@HOST[:PORT]/DB",
    ))
}

/// Whether a PostgreSQL URL's user-info has no raw `@`, `?` or `#`: the authority (up to
/// the first `/`) holds at most one `@`, and nothing before it is `?` or `#`. libpq ends
/// the user-info at the first `@` where a URL parser takes the last, so an unescaped `@`
/// in a password makes libpq connect to a "host" made of the rest of the password — and
/// print it in the error.
fn userinfo_is_escaped(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.find('/').map_or(rest, |slash| &rest[..slash]);
    match authority.find('@') {
        None => true,
        Some(at) => {
            authority.matches('@').count() == 1 && !authority[..at].contains(['?', '#'])
                // `user:p@ss/w0rd@host`: an '@' after the first '/' but before the query
                // is a second one in a URL parser's reading.
                && !rest[at + 1..]
                    .split('?')
                    .next()
                    .is_some_and(|path| path.contains('@'))
        }
    }
}

/// Applies `USHER_*` variables over the file's values. Unknown `USHER_` variables are
/// refused, so a typo cannot silently fall back to a default.
fn overlay_env(
    raw: &mut RawSettings,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let vars: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("USHER_"))
        .collect();
    for (key, value) in vars {
        let number = |setting: &str| -> Result<u64, ConfigError> {
            value.trim().parse::<u64>().map_err(|_| {
                err(
                    &name_of(setting),
                    format!("{value:?} is not a whole number"),
                )
            })
        };
        match key.as_str() {
            "USHER_ISSUER" => raw.issuer = Some(value),
            "USHER_BIND" => raw.bind = Some(value),
            "USHER_METRICS_BIND" => raw.metrics_bind = Some(value),
            "USHER_DATABASE_URL" => raw.database_url = Some(value),
            "USHER_REDIS_URL" => raw.redis_url = Some(value).filter(|v| !v.is_empty()),
            "USHER_REDIS_PREFIX" => raw.redis_prefix = Some(value),
            "USHER_KEK" => raw.kek = Some(value),
            "USHER_KEK_FILE" => raw.kek_file = Some(value),
            "USHER_KEK_PREVIOUS" => raw.kek_previous = Some(value),
            "USHER_KEK_PREVIOUS_FILE" => raw.kek_previous_file = Some(value),
            "USHER_METRICS_ON_MAIN_LISTENER" => {
                raw.metrics_on_main_listener = Some(match value.trim() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => {
                        return Err(err(
                            &name_of("metrics_on_main_listener"),
                            format!("{value:?} is not true or false"),
                        ));
                    }
                })
            }
            "USHER_LOG" => raw.log = Some(value),
            "USHER_LOG_FORMAT" => raw.log_format = Some(value),
            "USHER_WORKERS" => raw.workers = Some(number("workers")?),
            "USHER_TRUSTED_PROXIES" => {
                raw.trusted_proxies = Some(value.split(',').map(str::to_owned).collect())
            }
            "USHER_DEFAULT_AUDIENCE" => raw.default_audience = Some(value),
            "USHER_CACHE_TTL" => raw.cache_ttl = Some(number("cache_ttl")?),
            "USHER_KEYS__BITS" => raw.keys.bits = Some(number("keys.bits")?),
            "USHER_KEYS__JWKS_MAX_AGE" => {
                raw.keys.jwks_max_age = Some(number("keys.jwks_max_age")?)
            }
            "USHER_KEYS__ROTATE_EVERY" => {
                raw.keys.rotate_every = Some(number("keys.rotate_every")?)
            }
            "USHER_KEYS__PREPUBLISH" => raw.keys.prepublish = Some(number("keys.prepublish")?),
            "USHER_KEYS__POLL_INTERVAL" => {
                raw.keys.poll_interval = Some(number("keys.poll_interval")?)
            }
            "USHER_TOKENS__ACCESS_TTL" => {
                raw.tokens.access_ttl = Some(number("tokens.access_ttl")?)
            }
            "USHER_SESSIONS__TTL" => raw.sessions.ttl = Some(number("sessions.ttl")?),
            "USHER_FAMILIES__GRACE" => raw.families.grace = Some(number("families.grace")?),
            "USHER_FAMILIES__ABSOLUTE_TTL" => {
                raw.families.absolute_ttl = Some(number("families.absolute_ttl")?)
            }
            "USHER_FAMILIES__IDLE_TTL" => {
                raw.families.idle_ttl = Some(number("families.idle_ttl")?)
            }
            unknown => {
                return Err(err(
                    unknown,
                    "is not a known setting; see docs/configuration.md (unset it or fix the name)",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load(
            None,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    fn refused(env: &[(&str, &str)], setting: &str, words: &str) {
        let e = load(env).expect_err("should be refused");
        assert!(
            e.setting.contains(setting) && e.to_string().contains(words),
            "{env:?}: got {e}"
        );
    }

    #[test]
    fn defaults_are_the_embedded_single_node_setup() {
        let s = load(&[]).unwrap();
        assert_eq!(s.issuer.as_str(), "http://127.0.0.1:8080");
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url.expose(), "sqlite://data/usher.db");
        assert!(!s.metrics_on_main_listener);
        assert_eq!(s.kek_previous, None);
        assert_eq!(s.family_store, FamilyStoreSetting::Embedded);
        assert_eq!(s.kek, KekSource::File(PathBuf::from("keys/kek")));
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.keys.bits, 2048);
        assert_eq!(s.cache_ttl, 2);
        assert_eq!(load(&[("USHER_CACHE_TTL", "0")]).unwrap().cache_ttl, 0);
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("usher.toml");
        std::fs::write(
            &file,
            "issuer = \"https://file.example\"\nbind = \"127.0.0.1:9000\"\n[keys]\nbits = 3072\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&file),
            [("USHER_ISSUER".to_owned(), "https://env.example".to_owned())],
        )
        .unwrap();
        assert_eq!(s.issuer.as_str(), "https://env.example");
        assert_eq!(s.bind.port(), 9000);
        assert_eq!(s.keys.bits, 3072);
    }

    #[test]
    fn the_issuer_follows_a_loopback_bind_but_must_be_set_for_any_other() {
        let s = load(&[("USHER_BIND", "127.0.0.1:9999")]).unwrap();
        assert_eq!(s.issuer.as_str(), "http://127.0.0.1:9999");
        refused(
            &[("USHER_BIND", "0.0.0.0:8080")],
            "USHER_ISSUER",
            "must be set",
        );
    }

    #[test]
    fn every_bad_setting_is_refused_with_its_name() {
        refused(
            &[("USHER_ISSUER", "https://a.example/")],
            "USHER_ISSUER",
            "must not end",
        );
        refused(
            &[("USHER_ISSUER", "https://a.example?x=1")],
            "USHER_ISSUER",
            "query",
        );
        refused(
            &[("USHER_ISSUER", "https://a.example#x")],
            "USHER_ISSUER",
            "fragment",
        );
        refused(
            &[("USHER_ISSUER", "not a url")],
            "USHER_ISSUER",
            "absolute URL",
        );
        refused(&[("USHER_BIND", "localhost")], "USHER_BIND", "address:port");
        refused(&[("USHER_CACHE_TTL", "61")], "USHER_CACHE_TTL", "between 0");
        refused(&[("USHER_CACHE_TTL", "-1")], "USHER_CACHE_TTL", "");
        refused(
            &[("USHER_METRICS_BIND", "9090")],
            "USHER_METRICS_BIND",
            "address:port",
        );
        refused(
            &[("USHER_DATABASE_URL", "mysql://x")],
            "USHER_DATABASE_URL",
            "sqlite://PATH",
        );
        refused(
            &[("USHER_DATABASE_URL", "sqlite://")],
            "USHER_DATABASE_URL",
            "file path",
        );
        refused(
            &[("USHER_DATABASE_URL", "postgres://")],
            "USHER_DATABASE_URL",
            "host",
        );
        refused(
            &[("USHER_REDIS_URL", "http://x")],
            "USHER_REDIS_URL",
            "redis://",
        );
        refused(&[("USHER_REDIS_URL", "::")], "USHER_REDIS_URL", "not a URL");
        refused(
            &[("USHER_LOG_FORMAT", "xml")],
            "USHER_LOG_FORMAT",
            "pretty or json",
        );
        refused(
            &[("USHER_KEYS__BITS", "1024")],
            "USHER_KEYS__BITS",
            "2048, 3072 or 4096",
        );
        refused(
            &[("USHER_KEYS__BITS", "many")],
            "USHER_KEYS__BITS",
            "whole number",
        );
        refused(
            &[("USHER_ISSUR", "https://a.example")],
            "USHER_ISSUR",
            "not a known setting",
        );
        refused(
            &[("USHER_KEK", "x"), ("USHER_KEK_FILE", "y")],
            "USHER_KEK",
            "not both",
        );
    }

    #[test]
    fn the_rotation_schedule_has_defaults_and_derives_the_jwks_max_age() {
        let s = load(&[]).unwrap();
        assert_eq!(s.keys.rotate_every, 30 * 86_400);
        assert_eq!(s.keys.prepublish, 2 * 86_400);
        assert_eq!(s.keys.poll_interval, 30);
        assert_eq!(s.keys.effective_jwks_max_age(), 900);
        assert_eq!(s.default_audience, None);

        // A short pre-publication lowers the served max-age so it covers two of them.
        let s = load(&[
            ("USHER_KEYS__PREPUBLISH", "1290"),
            ("USHER_KEYS__POLL_INTERVAL", "30"),
        ])
        .unwrap();
        assert_eq!(s.keys.effective_jwks_max_age(), 600);
        assert!(s.keys.prepublish >= 2 * 600 + s.keys.propagation());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("usher.toml");
        std::fs::write(
            &file,
            "default_audience = \"https://api.example\"\n[keys]\nrotate_every = 864000\nprepublish = 86400\npoll_interval = 10\n",
        )
        .unwrap();
        let s = Settings::load(Some(&file), []).unwrap();
        assert_eq!(s.keys.rotate_every, 864_000);
        assert_eq!(s.keys.poll_interval, 10);
        assert_eq!(s.default_audience.as_deref(), Some("https://api.example"));

        refused(
            &[("USHER_KEYS__PREPUBLISH", "100")],
            "USHER_KEYS__PREPUBLISH",
            "at least the poll interval",
        );
        refused(
            &[("USHER_KEYS__ROTATE_EVERY", "3600")],
            "USHER_KEYS__ROTATE_EVERY",
            "longer than keys.prepublish",
        );
        refused(
            &[("USHER_KEYS__POLL_INTERVAL", "0")],
            "USHER_KEYS__POLL_INTERVAL",
            "between 1 and 3600",
        );
        refused(
            &[("USHER_DEFAULT_AUDIENCE", "not a uri")],
            "USHER_DEFAULT_AUDIENCE",
            "absolute URI",
        );
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("usher.toml");
        std::fs::write(&file, "isuer = \"https://a.example\"\n").unwrap();
        let e = Settings::load(Some(&file), []).unwrap_err();
        assert!(e.to_string().contains("isuer"), "{e}");
    }

    #[test]
    fn refresh_families_have_defaults_limits_and_variables() {
        let s = load(&[]).unwrap();
        assert_eq!(
            s.families,
            FamilySettings {
                grace: 0,
                absolute_ttl: 30 * 86_400,
                idle_ttl: 14 * 86_400,
            }
        );
        let s = load(&[
            ("USHER_FAMILIES__GRACE", "10"),
            ("USHER_FAMILIES__ABSOLUTE_TTL", "3600"),
            ("USHER_FAMILIES__IDLE_TTL", "600"),
        ])
        .unwrap();
        assert_eq!(
            (
                s.families.grace,
                s.families.absolute_ttl,
                s.families.idle_ttl
            ),
            (10, 3600, 600)
        );
        // An absolute lifetime shorter than the default idle timeout lowers the latter.
        let s = load(&[("USHER_FAMILIES__ABSOLUTE_TTL", "3600")]).unwrap();
        assert_eq!(s.families.idle_ttl, 3600);
        assert_eq!(s.redis_prefix, "usher:");
        refused(
            &[("USHER_REDIS_PREFIX", "a{b}")],
            "USHER_REDIS_PREFIX",
            "braces",
        );
        refused(
            &[("USHER_FAMILIES__GRACE", "61")],
            "USHER_FAMILIES__GRACE",
            "more than 60",
        );
        refused(
            &[
                ("USHER_FAMILIES__ABSOLUTE_TTL", "3600"),
                ("USHER_FAMILIES__IDLE_TTL", "7200"),
            ],
            "USHER_FAMILIES__IDLE_TTL",
            "absolute_ttl",
        );
        refused(
            &[("USHER_FAMILIES__ABSOLUTE_TTL", "10")],
            "USHER_FAMILIES__ABSOLUTE_TTL",
            "between",
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("usher.toml");
        std::fs::write(&file, "[families]\ngrace = 5\nidle_ttl = 900\n").unwrap();
        let s = Settings::load(Some(&file), []).unwrap();
        assert_eq!((s.families.grace, s.families.idle_ttl), (5, 900));
        std::fs::write(&file, "[families]\ngrase = 5\n").unwrap();
        assert!(Settings::load(Some(&file), []).is_err());
    }

    #[test]
    fn trusted_proxies_are_cidrs_from_a_list_or_a_comma_separated_variable() {
        assert!(load(&[]).unwrap().trusted_proxies.is_empty());
        assert!(
            load(&[("USHER_TRUSTED_PROXIES", "")])
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
        let s = load(&[(
            "USHER_TRUSTED_PROXIES",
            "10.0.0.0/8, 192.0.2.7,2001:db8::/32",
        )])
        .unwrap();
        let shown: Vec<String> = s
            .trusted_proxies
            .ranges()
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
        refused(
            &[("USHER_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")],
            "USHER_TRUSTED_PROXIES",
            "not an IP address or CIDR range",
        );
        refused(
            &[("USHER_TRUSTED_PROXIES", "10.0.0.1/8")],
            "USHER_TRUSTED_PROXIES",
            "the range is 10.0.0.0/8",
        );
        refused(
            &[("USHER_TRUSTED_PROXIES", "0.0.0.0/0")],
            "USHER_TRUSTED_PROXIES",
            "every address",
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("usher.toml");
        std::fs::write(&file, "trusted_proxies = [\"172.30.90.10\", \"::1/128\"]\n").unwrap();
        let s = Settings::load(Some(&file), []).unwrap();
        assert_eq!(s.trusted_proxies.ranges().len(), 2);
        std::fs::write(&file, "trusted_proxies = [\"172.30.90.10/33\"]\n").unwrap();
        let e = Settings::load(Some(&file), []).unwrap_err();
        assert!(
            e.to_string()
                .contains("USHER_TRUSTED_PROXIES (trusted_proxies)"),
            "{e}"
        );
    }

    #[test]
    fn the_kek_value_never_prints() {
        let s = load(&[("USHER_KEK", "c2VjcmV0c2VjcmV0")]).unwrap();
        assert!(!format!("{s:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn a_database_url_with_a_raw_at_or_question_mark_in_its_user_info_is_refused_unechoed() {
        for url in [
            "postgres://usher:P@ssw0rd@db/usher",
            "postgres://usher:p@ss/w0rd@db/usher",
            "postgres://usher:1234?x@db/usher",
            "postgresql://usher:a#b@db/usher",
        ] {
            let e = load(&[("USHER_DATABASE_URL", url)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("percent-encode"), "{e}");
            for part in ["ssw0rd", "w0rd", "1234", "a#b"] {
                assert!(!e.contains(part), "{e}");
            }
        }
        for url in [
            "postgres://usher:P%40ssw0rd@db/usher",
            "postgres://usher@db/usher",
            "postgres://db/usher?user=u",
        ] {
            assert!(load(&[("USHER_DATABASE_URL", url)]).is_ok(), "{url}");
        }
    }

    #[test]
    fn database_and_redis_passwords_never_print() {
        let s = load(&[
            (
                "USHER_DATABASE_URL",
                "postgres://u:s3cretpw@db.example/usher",
            ),
            ("USHER_REDIS_URL", "redis://:hunter2@redis.example:6379/0"),
            ("USHER_KEK_PREVIOUS", "b2xkb2xkb2xk"),
        ])
        .unwrap();
        for shown in [
            format!("{s:?}"),
            s.database_url.to_string(),
            format!("{:?}", s.family_store),
        ] {
            assert!(
                !shown.contains("s3cretpw")
                    && !shown.contains("hunter2")
                    && !shown.contains("b2xk"),
                "{shown}"
            );
        }
        assert_eq!(
            s.database_url.to_string(),
            "postgres://u:***@db.example/usher"
        );
        assert_eq!(
            s.database_url.expose(),
            "postgres://u:s3cretpw@db.example/usher"
        );
    }
}
