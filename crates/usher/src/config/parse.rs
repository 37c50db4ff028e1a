//! The file's shape (every key optional, unknown keys refused) and the parsing and checks
//! of every value into [`Settings`], with the defaults of `defaults.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use usher_domain::{Issuer, MfaPolicy, SigningAlg, SignupMode};
use usher_store::SecretUrl;

use super::defaults;
use super::names::name_of;
use super::{
    BackchannelSettings, CLOCK_SKEW_MARGIN, ConfigError, FamilySettings, FamilyStoreSetting,
    KekSource, KeySettings, LogFormat, Settings, err,
};

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    pub(super) issuer: Option<String>,
    pub(super) bind: Option<String>,
    pub(super) metrics_bind: Option<String>,
    pub(super) admin_bind: Option<String>,
    pub(super) database_url: Option<String>,
    pub(super) redis_url: Option<String>,
    pub(super) redis_prefix: Option<String>,
    pub(super) kek: Option<String>,
    pub(super) kek_file: Option<String>,
    pub(super) kek_previous: Option<String>,
    pub(super) kek_previous_file: Option<String>,
    pub(super) metrics_on_main_listener: Option<bool>,
    pub(super) client_metadata_documents: Option<bool>,
    pub(super) log: Option<String>,
    pub(super) log_format: Option<String>,
    pub(super) workers: Option<u64>,
    pub(super) trusted_proxies: Option<Vec<String>>,
    pub(super) default_audience: Option<String>,
    pub(super) cache_ttl: Option<u64>,
    pub(super) audit_retention_days: Option<u64>,
    pub(super) mfa: Option<String>,
    pub(super) signup: Option<String>,
    pub(super) registration: Option<String>,
    pub(super) registration_rate_limit: Option<u64>,
    pub(super) registration_unused_after: Option<u64>,
    pub(super) registration_max_clients: Option<u64>,
    pub(super) access_token_alg: Option<String>,
    pub(super) id_token_alg: Option<String>,
    pub(super) smtp_url: Option<String>,
    pub(super) mail_from: Option<String>,
    #[serde(default)]
    pub(super) keys: RawKeys,
    #[serde(default)]
    pub(super) tokens: RawTokens,
    #[serde(default)]
    pub(super) sessions: RawSessions,
    #[serde(default)]
    pub(super) families: RawFamilies,
    #[serde(default)]
    pub(super) device: RawDevice,
    #[serde(default)]
    pub(super) backchannel: RawBackchannel,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackchannel {
    pub(super) retry_delays: Option<Vec<u64>>,
    pub(super) timeout: Option<u64>,
    pub(super) connect_timeout: Option<u64>,
    pub(super) poll_interval: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFamilies {
    pub(super) grace: Option<u64>,
    pub(super) absolute_ttl: Option<u64>,
    pub(super) idle_ttl: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTokens {
    pub(super) access_ttl: Option<u64>,
}

/// `[device]`: the device authorization grant (RFC 8628).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDevice {
    pub(super) code_ttl: Option<u64>,
    pub(super) interval: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSessions {
    pub(super) ttl: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeys {
    pub(super) bits: Option<u64>,
    pub(super) jwks_max_age: Option<u64>,
    pub(super) rotate_every: Option<u64>,
    pub(super) prepublish: Option<u64>,
    pub(super) poll_interval: Option<u64>,
}

/// Parses and checks the merged raw values (file, then environment) into [`Settings`].
pub(super) fn settings(raw: RawSettings) -> Result<Settings, ConfigError> {
    let registration = registration_from_raw(&raw)?;
    let bind_raw = raw.bind.unwrap_or_else(|| defaults::BIND.to_owned());
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

    let admin_bind = match raw.admin_bind.filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => Some(m.parse::<SocketAddr>().map_err(|_| {
            err(
                &name_of("admin_bind"),
                format!("{m:?} is not an address:port such as 127.0.0.1:9091"),
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
        .unwrap_or_else(|| defaults::DATABASE_URL.to_owned());
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
        (None, None) => KekSource::File(PathBuf::from(defaults::KEK_FILE)),
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

    let log = raw.log.unwrap_or_else(|| defaults::LOG.to_owned());
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
        None => defaults::KEY_BITS,
        Some(b @ (2048 | 3072 | 4096)) => b as u32,
        Some(b) => {
            return Err(err(
                &name_of("keys.bits"),
                format!("{b} is not 2048, 3072 or 4096"),
            ));
        }
    };
    let jwks_max_age = match raw.keys.jwks_max_age {
        None => defaults::JWKS_MAX_AGE,
        Some(s @ 0..=86_400) => s,
        Some(s) => {
            return Err(err(
                &name_of("keys.jwks_max_age"),
                format!("{s} seconds is more than a day; verifiers would miss new keys"),
            ));
        }
    };

    let poll_interval = match raw.keys.poll_interval {
        None => defaults::POLL_INTERVAL,
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
        None => defaults::PREPUBLISH,
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
        None => defaults::ROTATE_EVERY,
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
        None => defaults::CACHE_TTL,
        Some(s @ 0..=60) => s as i64,
        Some(s) => {
            return Err(err(
                &name_of("cache_ttl"),
                format!("{s} seconds is not between 0 (no caching) and 60"),
            ));
        }
    };
    let access_token_ttl = match raw.tokens.access_ttl {
        None => defaults::ACCESS_TTL,
        Some(s @ 60..=86_400) => s as i64,
        Some(s) => {
            return Err(err(
                &name_of("tokens.access_ttl"),
                format!("{s} seconds is not between 60 and 86400"),
            ));
        }
    };
    let session_ttl = match raw.sessions.ttl {
        None => defaults::SESSION_TTL,
        Some(s @ 60..=31_536_000) => s as i64,
        Some(s) => {
            return Err(err(
                &name_of("sessions.ttl"),
                format!("{s} seconds is not between 60 and 31536000 (a year)"),
            ));
        }
    };
    let device_code_ttl = match raw.device.code_ttl {
        None => defaults::DEVICE_CODE_TTL,
        Some(s @ 10..=1800) => s as i64,
        Some(s) => {
            return Err(err(
                &name_of("device.code_ttl"),
                format!("{s} seconds is not between 10 and 1800"),
            ));
        }
    };
    let device_interval = match raw.device.interval {
        None => defaults::DEVICE_INTERVAL,
        Some(s @ 1..=60) => s as i64,
        Some(s) => {
            return Err(err(
                &name_of("device.interval"),
                format!("{s} seconds is not between 1 and 60"),
            ));
        }
    };

    let families = families_from_raw(&raw.families)?;
    let backchannel = backchannel_from_raw(&raw.backchannel)?;
    let mfa = match raw.mfa.as_deref().map(str::trim) {
        None => defaults::MFA,
        Some(v) => MfaPolicy::parse(v).ok_or_else(|| {
            err(
                &name_of("mfa"),
                format!("{v:?} is not \"optional\" or \"required\""),
            )
        })?,
    };
    let signup = match raw.signup.as_deref().map(str::trim) {
        None => defaults::SIGNUP,
        Some(v) => SignupMode::parse(v).ok_or_else(|| {
            err(
                &name_of("signup"),
                format!("{v:?} is not \"off\", \"open\" or \"invite\""),
            )
        })?,
    };
    let alg = |key: &str, value: Option<&str>, default: SigningAlg| match value.map(str::trim) {
        None => Ok(default),
        Some(v) => SigningAlg::parse(v).ok_or_else(|| {
            err(
                &name_of(key),
                format!("{v:?} is not RS256, ES256 or EdDSA (names are case-sensitive)"),
            )
        }),
    };
    let access_token_alg = alg(
        "access_token_alg",
        raw.access_token_alg.as_deref(),
        defaults::ACCESS_TOKEN_ALG,
    )?;
    let id_token_alg = alg(
        "id_token_alg",
        raw.id_token_alg.as_deref(),
        defaults::ID_TOKEN_ALG,
    )?;
    let redis_prefix = raw
        .redis_prefix
        .unwrap_or_else(|| defaults::REDIS_PREFIX.to_owned());
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

    let audit_retention_days = match raw.audit_retention_days {
        None => Some(defaults::AUDIT_RETENTION_DAYS),
        Some(0) => None,
        Some(d @ 1..=36_500) => Some(d as u32),
        Some(d) => {
            return Err(err(
                &name_of("audit_retention_days"),
                format!("{d} days is not between 1 and 36500 (or 0: keep audit events forever)"),
            ));
        }
    };

    let mail = mail_from_raw(raw.smtp_url, raw.mail_from)?;

    Ok(Settings {
        mail,
        cache_ttl,
        audit_retention_days,
        families,
        redis_prefix,
        access_token_ttl,
        session_ttl,
        device_code_ttl,
        device_interval,
        issuer,
        issuer_from_bind,
        issuer_as_written,
        bind,
        metrics_bind,
        admin_bind,
        metrics_on_main_listener: raw
            .metrics_on_main_listener
            .unwrap_or(defaults::METRICS_ON_MAIN_LISTENER),
        client_metadata_documents: raw
            .client_metadata_documents
            .unwrap_or(defaults::CLIENT_METADATA_DOCUMENTS),
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
        mfa,
        signup,
        registration,
        access_token_alg,
        id_token_alg,
        backchannel,
    })
}

fn registration_from_raw(
    raw: &RawSettings,
) -> Result<usher_core::RegistrationSettings, ConfigError> {
    let mode = match raw.registration.as_deref().map(str::trim) {
        None => defaults::REGISTRATION,
        Some(v) => usher_domain::RegistrationMode::parse(v).ok_or_else(|| {
            err(
                &name_of("registration"),
                format!("{v:?} is not \"off\", \"token\" or \"open\""),
            )
        })?,
    };
    let per_hour = raw
        .registration_rate_limit
        .unwrap_or(defaults::REGISTRATION_RATE_LIMIT);
    if !(1..=100_000).contains(&per_hour) {
        return Err(err(
            &name_of("registration_rate_limit"),
            format!("{per_hour} is not between 1 and 100000 registrations per hour"),
        ));
    }
    let unused_after = raw
        .registration_unused_after
        .unwrap_or(defaults::REGISTRATION_UNUSED_AFTER);
    if unused_after != 0 && !(86_400..=10 * 365 * 86_400).contains(&unused_after) {
        return Err(err(
            &name_of("registration_unused_after"),
            format!(
                "{unused_after} seconds is not 0 (never) or between 86400 (a day) and ten years"
            ),
        ));
    }
    let max_clients = raw
        .registration_max_clients
        .unwrap_or(defaults::REGISTRATION_MAX_CLIENTS);
    if !(1..=10_000_000).contains(&max_clients) {
        return Err(err(
            &name_of("registration_max_clients"),
            format!("{max_clients} is not between 1 and 10000000 clients"),
        ));
    }
    Ok(usher_core::RegistrationSettings {
        mode,
        per_hour: u32::try_from(per_hour).unwrap_or(u32::MAX),
        unused_after: i64::try_from(unused_after).unwrap_or(i64::MAX),
        max_clients: u32::try_from(max_clients).unwrap_or(u32::MAX),
    })
}

fn backchannel_from_raw(raw: &RawBackchannel) -> Result<BackchannelSettings, ConfigError> {
    let retry_delays = match &raw.retry_delays {
        None => defaults::BACKCHANNEL_RETRY_DELAYS.to_vec(),
        Some(d) if d.len() <= 20 && d.iter().all(|s| (1..=86_400).contains(s)) => d.clone(),
        Some(_) => {
            return Err(err(
                &name_of("backchannel.retry_delays"),
                "at most 20 delays, each between 1 and 86400 seconds",
            ));
        }
    };
    let seconds = |key: &str, value: Option<u64>, default: u64, max: u64| match value {
        None => Ok(default),
        Some(s) if (1..=max).contains(&s) => Ok(s),
        Some(s) => Err(err(
            &name_of(key),
            format!("{s} seconds is not between 1 and {max}"),
        )),
    };
    Ok(BackchannelSettings {
        retry_delays,
        timeout: seconds(
            "backchannel.timeout",
            raw.timeout,
            defaults::BACKCHANNEL_TIMEOUT,
            60,
        )?,
        connect_timeout: seconds(
            "backchannel.connect_timeout",
            raw.connect_timeout,
            defaults::BACKCHANNEL_CONNECT_TIMEOUT,
            30,
        )?,
        poll_interval: seconds(
            "backchannel.poll_interval",
            raw.poll_interval,
            defaults::BACKCHANNEL_POLL_INTERVAL,
            300,
        )?,
    })
}

/// `smtp_url` and `mail_from`: both or neither (without a mail server, mail goes to the
/// log, or with `serve --dev-mail` to standard error).
fn mail_from_raw(
    smtp_url: Option<String>,
    mail_from: Option<String>,
) -> Result<super::MailSettings, ConfigError> {
    let smtp = match smtp_url.filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => {
            let parsed = url::Url::parse(&u).map_err(|e| {
                err(
                    &name_of("smtp_url"),
                    format!("is not a URL ({e}); write smtp://HOST:PORT or smtps://USER:PASSWORD@HOST:465"),
                )
            })?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host().is_none() {
                return Err(err(
                    &name_of("smtp_url"),
                    "must be smtp://HOST[:PORT][?tls=required] (STARTTLS with tls=required) or smtps://HOST[:PORT] (TLS from the start), with USER:PASSWORD@ if the server wants them",
                ));
            }
            // lettre's own reading of it (tls=…): its message is not shown, it may
            // echo the URL, password included.
            if lettre::SmtpTransport::from_url(&u).is_err() {
                return Err(err(
                    &name_of("smtp_url"),
                    "is not usable: the only query parameter is tls=required or tls=opportunistic (smtp://), and a user name needs a password",
                ));
            }
            Some(SecretUrl::new(u))
        }
    };
    let from = match mail_from.filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => match f.parse::<lettre::message::Mailbox>() {
            Ok(_) => Some(f),
            Err(e) => {
                return Err(err(
                    &name_of("mail_from"),
                    format!(
                        "{f:?} is not an address ({e}); write Name <user@example.org> or user@example.org"
                    ),
                ));
            }
        },
    };
    if smtp.is_some() && from.is_none() {
        return Err(err(
            &name_of("mail_from"),
            "is required with smtp_url: the sender of Usher's mail, e.g. Usher <no-reply@example.org>",
        ));
    }
    Ok(super::MailSettings { smtp, from })
}

fn families_from_raw(raw: &RawFamilies) -> Result<FamilySettings, ConfigError> {
    let absolute_ttl = match raw.absolute_ttl {
        None => defaults::FAMILY_ABSOLUTE_TTL,
        Some(s @ 300..=31_536_000) => s,
        Some(s) => {
            return Err(err(
                &name_of("families.absolute_ttl"),
                format!("{s} seconds is not between 300 and 31536000 (a year)"),
            ));
        }
    };
    let idle_ttl = match raw.idle_ttl {
        None => defaults::FAMILY_IDLE_TTL.min(absolute_ttl),
        Some(s) if (60..=absolute_ttl).contains(&s) => s,
        Some(s) => {
            return Err(err(
                &name_of("families.idle_ttl"),
                format!("{s} seconds is not between 60 and families.absolute_ttl ({absolute_ttl})"),
            ));
        }
    };
    let grace = match raw.grace {
        None => defaults::FAMILY_GRACE,
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
