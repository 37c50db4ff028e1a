//! Configuration: defaults, then an optional TOML file, then `USHER_*` environment
//! variables. One name per setting everywhere: the file key is the variable without the
//! prefix, in lower case; a nested group uses `__` in the variable
//! (`USHER_KEYS__BITS` ↔ `[keys] bits`). Unknown keys and variables are refused.
//!
//! Raw strings are parsed here, once, into [`Settings`]; a bad value stops Usher with one
//! message that names the setting and the fix. This module holds the parsed settings and
//! [`Settings::load`]; `names.rs` the name table (file key ↔ variable, and applying the
//! variables), `defaults.rs` the default of every setting, `parse.rs` the file's shape and
//! the checks of every value.

mod defaults;
mod names;
mod parse;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use usher_domain::Issuer;
use usher_store::SecretUrl;

pub use names::SETTINGS;

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
    /// A separate address for the admin API (`/admin/api/…`); when set, `bind` does not
    /// serve it.
    pub admin_bind: Option<SocketAddr>,
    /// Whether `GET /metrics` is also served on `bind` (off by default: it is public).
    pub metrics_on_main_listener: bool,
    /// Whether a `client_id` that is an https URL is looked up as a Client ID Metadata
    /// Document (`client_metadata_documents`; off by default).
    pub client_metadata_documents: bool,
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
    /// `audit_retention_days`: audit events older than this many days are purged; `None`
    /// (0 in the configuration) keeps them forever. docs/design/audit.md.
    pub audit_retention_days: Option<u32>,
    /// Lifetime of a browser session, in seconds.
    pub session_ttl: i64,
    /// `[device] code_ttl`: how long a device authorization waits for the person (s).
    pub device_code_ttl: i64,
    /// `[device] interval`: the first polling interval told to a device (s).
    pub device_interval: i64,
    /// Refresh-token families (`[families]`).
    pub families: FamilySettings,
    /// The audience of `client_credentials` tokens asked for without `resource`, for
    /// clients registered with no audience.
    pub default_audience: Option<String>,
    /// Whether every sign-in needs a second factor (`mfa`).
    pub mfa: usher_domain::MfaPolicy,
    /// Who may create an account on the sign-up page (`signup`: off, open, invite).
    pub signup: usher_domain::SignupMode,
    /// Dynamic client registration (`registration`, `registration_rate_limit`,
    /// `registration_unused_after`).
    pub registration: usher_core::RegistrationSettings,
    /// The algorithm of access tokens (`access_token_alg`: RS256, ES256 or EdDSA).
    pub access_token_alg: usher_domain::SigningAlg,
    /// The algorithm of ID tokens and logout tokens for clients that registered none
    /// (`id_token_alg`: RS256, ES256 or EdDSA).
    pub id_token_alg: usher_domain::SigningAlg,
    /// Where mail to people goes (`smtp_url`, `mail_from`).
    pub mail: MailSettings,
    /// Back-channel logout delivery (`[backchannel]`).
    pub backchannel: BackchannelSettings,
}

/// `smtp_url` and `mail_from`: set together, or neither (mail then goes to the log).
#[derive(Debug, Clone, Default)]
pub struct MailSettings {
    /// The mail server; its password never prints (`SecretUrl`).
    pub smtp: Option<usher_store::SecretUrl>,
    /// The `From:` of Usher's mail, as written (a valid mailbox).
    pub from: Option<String>,
}

/// `[backchannel]`: delivering logout tokens (docs/design/accounts.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelSettings {
    /// The delays before each retry, in seconds; once spent, a logout is dropped.
    pub retry_delays: Vec<u64>,
    /// The whole exchange's timeout, in seconds.
    pub timeout: u64,
    /// The connection's timeout, in seconds.
    pub connect_timeout: u64,
    /// How often each node looks for due logouts, in seconds.
    pub poll_interval: u64,
}

impl BackchannelSettings {
    /// The core's delivery settings.
    pub fn core(&self) -> usher_core::backchannel::BackchannelSettings {
        let outbound = usher_core::outbound::OutboundSettings {
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
        };
        usher_core::backchannel::BackchannelSettings {
            retry_delays: self.retry_delays.iter().map(|d| *d as i64).collect(),
            // Longer than any attempt can take, so a live node's lease never runs out.
            lease: (self.timeout + self.connect_timeout) as i64 * 2 + 30,
            batch: 20,
            outbound,
        }
    }
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
                toml::from_str::<parse::RawSettings>(&text).map_err(|e| {
                    err(
                        &format!("--config {}", path.display()),
                        format!("{}; see docs/configuration.md for the keys", e.message()),
                    )
                })?
            }
            None => parse::RawSettings::default(),
        };
        names::overlay_env(&mut raw, env)?;
        parse::settings(raw)
    }
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
        assert_eq!(s.audit_retention_days, Some(90));
        let days =
            |v: &str| load(&[("USHER_AUDIT_RETENTION_DAYS", v)]).map(|s| s.audit_retention_days);
        assert_eq!(days("0").unwrap(), None, "0 keeps audit events forever");
        assert_eq!(days("7").unwrap(), Some(7));
        assert!(days("36501").is_err());
        assert!(days("-1").is_err());
    }

    #[test]
    fn token_algorithms_are_rs256_unless_set_to_another_supported_one() {
        use usher_domain::SigningAlg;
        let s = load(&[]).unwrap();
        assert_eq!(
            (s.access_token_alg, s.id_token_alg),
            (SigningAlg::Rs256, SigningAlg::Rs256)
        );
        let s = load(&[
            ("USHER_ACCESS_TOKEN_ALG", "ES256"),
            ("USHER_ID_TOKEN_ALG", "EdDSA"),
        ])
        .unwrap();
        assert_eq!(
            (s.access_token_alg, s.id_token_alg),
            (SigningAlg::Es256, SigningAlg::EdDsa)
        );
        refused(
            &[("USHER_ACCESS_TOKEN_ALG", "HS256")],
            "access_token_alg",
            "RS256, ES256 or EdDSA",
        );
        refused(&[("USHER_ID_TOKEN_ALG", "none")], "id_token_alg", "RS256");
        refused(&[("USHER_ID_TOKEN_ALG", "es256")], "id_token_alg", "RS256");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("usher.toml");
        std::fs::write(
            &file,
            "access_token_alg = \"EdDSA\"\nid_token_alg = \"ES256\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&file), Vec::<(String, String)>::new()).unwrap();
        assert_eq!(
            (s.access_token_alg, s.id_token_alg),
            (SigningAlg::EdDsa, SigningAlg::Es256)
        );
    }

    #[test]
    fn registration_is_off_unless_set_and_its_limits_are_checked() {
        use usher_domain::RegistrationMode;
        let d = load(&[]).unwrap().registration;
        assert_eq!(
            (d.mode, d.per_hour, d.unused_after, d.max_clients),
            (RegistrationMode::Off, 10, 30 * 86_400, 10_000)
        );
        let s = load(&[
            ("USHER_REGISTRATION", "open"),
            ("USHER_REGISTRATION_RATE_LIMIT", "3"),
            ("USHER_REGISTRATION_UNUSED_AFTER", "0"),
        ])
        .unwrap()
        .registration;
        assert_eq!(
            (s.mode, s.per_hour, s.unused_after),
            (RegistrationMode::Open, 3, 0)
        );
        assert_eq!(
            load(&[("USHER_REGISTRATION", "token")])
                .unwrap()
                .registration
                .mode,
            RegistrationMode::Token
        );
        refused(
            &[("USHER_REGISTRATION", "on")],
            "registration",
            "is not \"off\"",
        );
        refused(
            &[("USHER_REGISTRATION_RATE_LIMIT", "0")],
            "registration_rate_limit",
            "is not between",
        );
        refused(
            &[("USHER_REGISTRATION_UNUSED_AFTER", "60")],
            "registration_unused_after",
            "is not 0",
        );
        // At least a day (review finding 4).
        refused(
            &[("USHER_REGISTRATION_UNUSED_AFTER", "86399")],
            "registration_unused_after",
            "is not 0",
        );
        refused(
            &[("USHER_REGISTRATION_MAX_CLIENTS", "0")],
            "registration_max_clients",
            "is not between",
        );
    }

    #[test]
    fn signup_is_off_unless_set_to_open_or_invite() {
        use usher_domain::SignupMode;
        assert_eq!(load(&[]).unwrap().signup, SignupMode::Off);
        assert_eq!(
            load(&[("USHER_SIGNUP", "open")]).unwrap().signup,
            SignupMode::Open
        );
        assert_eq!(
            load(&[("USHER_SIGNUP", "invite")]).unwrap().signup,
            SignupMode::Invite
        );
        refused(&[("USHER_SIGNUP", "yes")], "signup", "is not \"off\"");
    }

    #[test]
    fn smtp_url_and_mail_from_go_together_and_never_print_the_password() {
        let s = load(&[]).unwrap();
        assert!(s.mail.smtp.is_none() && s.mail.from.is_none());
        let s = load(&[
            (
                "USHER_SMTP_URL",
                "smtps://usher:s3cret-pw@smtp.example.org:465",
            ),
            ("USHER_MAIL_FROM", "Usher <no-reply@example.org>"),
        ])
        .unwrap();
        assert_eq!(
            s.mail.smtp.as_ref().unwrap().expose(),
            "smtps://usher:s3cret-pw@smtp.example.org:465"
        );
        assert!(!format!("{s:?}").contains("s3cret-pw"));
        load(&[
            ("USHER_SMTP_URL", "smtp://relay.internal:587?tls=required"),
            ("USHER_MAIL_FROM", "no-reply@example.org"),
        ])
        .unwrap();
        refused(
            &[("USHER_SMTP_URL", "smtp://relay.internal:25")],
            "mail_from",
            "required with smtp_url",
        );
        refused(
            &[
                ("USHER_SMTP_URL", "http://relay.internal"),
                ("USHER_MAIL_FROM", "a@example.org"),
            ],
            "smtp_url",
            "smtp://",
        );
        refused(
            &[
                ("USHER_SMTP_URL", "smtp://relay.internal:25"),
                ("USHER_MAIL_FROM", "not an address"),
            ],
            "mail_from",
            "not an address",
        );
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
