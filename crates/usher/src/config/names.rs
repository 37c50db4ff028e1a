//! The name table: every setting's file key, its environment variable and the default
//! shown in docs/configuration.md, and how `USHER_*` variables are applied over the
//! file's values.

use std::collections::BTreeMap;

use super::parse::RawSettings;
use super::{ConfigError, err};

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
        "admin_bind",
        "USHER_ADMIN_BIND",
        "(unset: the admin API is on bind)",
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
    ("audit_retention_days", "USHER_AUDIT_RETENTION_DAYS", "90"),
    ("mfa", "USHER_MFA", "optional"),
    ("signup", "USHER_SIGNUP", "off"),
    (
        "client_metadata_documents",
        "USHER_CLIENT_METADATA_DOCUMENTS",
        "false",
    ),
    ("registration", "USHER_REGISTRATION", "off"),
    (
        "registration_rate_limit",
        "USHER_REGISTRATION_RATE_LIMIT",
        "10",
    ),
    (
        "registration_unused_after",
        "USHER_REGISTRATION_UNUSED_AFTER",
        "2592000",
    ),
    (
        "registration_max_clients",
        "USHER_REGISTRATION_MAX_CLIENTS",
        "10000",
    ),
    ("access_token_alg", "USHER_ACCESS_TOKEN_ALG", "RS256"),
    ("id_token_alg", "USHER_ID_TOKEN_ALG", "RS256"),
    (
        "smtp_url",
        "USHER_SMTP_URL",
        "(unset: mail is written to the log)",
    ),
    (
        "mail_from",
        "USHER_MAIL_FROM",
        "(unset; required with smtp_url)",
    ),
    ("keys.bits", "USHER_KEYS__BITS", "2048"),
    ("keys.jwks_max_age", "USHER_KEYS__JWKS_MAX_AGE", "900"),
    ("keys.rotate_every", "USHER_KEYS__ROTATE_EVERY", "2592000"),
    ("keys.prepublish", "USHER_KEYS__PREPUBLISH", "172800"),
    ("keys.poll_interval", "USHER_KEYS__POLL_INTERVAL", "30"),
    ("tokens.access_ttl", "USHER_TOKENS__ACCESS_TTL", "600"),
    ("sessions.ttl", "USHER_SESSIONS__TTL", "28800"),
    ("device.code_ttl", "USHER_DEVICE__CODE_TTL", "600"),
    ("device.interval", "USHER_DEVICE__INTERVAL", "5"),
    ("families.grace", "USHER_FAMILIES__GRACE", "0"),
    (
        "families.absolute_ttl",
        "USHER_FAMILIES__ABSOLUTE_TTL",
        "2592000",
    ),
    ("families.idle_ttl", "USHER_FAMILIES__IDLE_TTL", "1209600"),
    (
        "backchannel.retry_delays",
        "USHER_BACKCHANNEL__RETRY_DELAYS",
        "[5, 30, 120, 600, 2700]",
    ),
    ("backchannel.timeout", "USHER_BACKCHANNEL__TIMEOUT", "10"),
    (
        "backchannel.connect_timeout",
        "USHER_BACKCHANNEL__CONNECT_TIMEOUT",
        "3",
    ),
    (
        "backchannel.poll_interval",
        "USHER_BACKCHANNEL__POLL_INTERVAL",
        "1",
    ),
];

pub(super) fn name_of(key: &str) -> String {
    let env = SETTINGS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, e, _)| *e)
        .unwrap_or("?");
    format!("{env} ({key})")
}

/// Applies `USHER_*` variables over the file's values. Unknown `USHER_` variables are
/// refused, so a typo cannot silently fall back to a default.
pub(super) fn overlay_env(
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
            "USHER_ADMIN_BIND" => raw.admin_bind = Some(value),
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
            "USHER_CLIENT_METADATA_DOCUMENTS" => {
                raw.client_metadata_documents = Some(match value.trim() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => {
                        return Err(err(
                            &name_of("client_metadata_documents"),
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
            "USHER_MFA" => raw.mfa = Some(value),
            "USHER_SIGNUP" => raw.signup = Some(value),
            "USHER_REGISTRATION" => raw.registration = Some(value),
            "USHER_REGISTRATION_RATE_LIMIT" => {
                raw.registration_rate_limit = Some(number("registration_rate_limit")?)
            }
            "USHER_REGISTRATION_UNUSED_AFTER" => {
                raw.registration_unused_after = Some(number("registration_unused_after")?)
            }
            "USHER_REGISTRATION_MAX_CLIENTS" => {
                raw.registration_max_clients = Some(number("registration_max_clients")?)
            }
            "USHER_ACCESS_TOKEN_ALG" => raw.access_token_alg = Some(value),
            "USHER_ID_TOKEN_ALG" => raw.id_token_alg = Some(value),
            "USHER_SMTP_URL" => raw.smtp_url = Some(value),
            "USHER_MAIL_FROM" => raw.mail_from = Some(value),
            "USHER_CACHE_TTL" => raw.cache_ttl = Some(number("cache_ttl")?),
            "USHER_AUDIT_RETENTION_DAYS" => {
                raw.audit_retention_days = Some(number("audit_retention_days")?)
            }
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
            "USHER_DEVICE__CODE_TTL" => raw.device.code_ttl = Some(number("device.code_ttl")?),
            "USHER_DEVICE__INTERVAL" => raw.device.interval = Some(number("device.interval")?),
            "USHER_FAMILIES__GRACE" => raw.families.grace = Some(number("families.grace")?),
            "USHER_FAMILIES__ABSOLUTE_TTL" => {
                raw.families.absolute_ttl = Some(number("families.absolute_ttl")?)
            }
            "USHER_FAMILIES__IDLE_TTL" => {
                raw.families.idle_ttl = Some(number("families.idle_ttl")?)
            }
            "USHER_BACKCHANNEL__RETRY_DELAYS" => {
                // Comma-separated seconds ("5,30,120"); empty: no retries.
                let delays = value
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(|d| {
                        d.parse::<u64>().map_err(|_| {
                            err(
                                &name_of("backchannel.retry_delays"),
                                format!("{d:?} is not a whole number of seconds"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                raw.backchannel.retry_delays = Some(delays)
            }
            "USHER_BACKCHANNEL__TIMEOUT" => {
                raw.backchannel.timeout = Some(number("backchannel.timeout")?)
            }
            "USHER_BACKCHANNEL__CONNECT_TIMEOUT" => {
                raw.backchannel.connect_timeout = Some(number("backchannel.connect_timeout")?)
            }
            "USHER_BACKCHANNEL__POLL_INTERVAL" => {
                raw.backchannel.poll_interval = Some(number("backchannel.poll_interval")?)
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
