//! The default of every setting, in one place: `parse.rs` applies them, and a test checks
//! that the name table (`names::SETTINGS`, which docs/configuration.md shows) says the
//! same.

const DAY: u64 = 86_400;

pub(super) const BIND: &str = "127.0.0.1:8080";
pub(super) const DATABASE_URL: &str = "sqlite://data/usher.db";
pub(super) const REDIS_PREFIX: &str = "usher:";
pub(super) const KEK_FILE: &str = "keys/kek";
pub(super) const LOG: &str = "info";
pub(super) const METRICS_ON_MAIN_LISTENER: bool = false;
/// Client ID Metadata Documents are off unless the operator turns them on.
pub(super) const CLIENT_METADATA_DOCUMENTS: bool = false;
pub(super) const CACHE_TTL: i64 = 2;
/// Days audit events are kept (docs/design/audit.md).
pub(super) const AUDIT_RETENTION_DAYS: u32 = 90;
pub(super) const MFA: usher_domain::MfaPolicy = usher_domain::MfaPolicy::Optional;
pub(super) const SIGNUP: usher_domain::SignupMode = usher_domain::SignupMode::Off;
pub(super) const REGISTRATION: usher_domain::RegistrationMode = usher_domain::RegistrationMode::Off;
pub(super) const REGISTRATION_RATE_LIMIT: u64 = 10;
pub(super) const REGISTRATION_UNUSED_AFTER: u64 = 30 * DAY;
pub(super) const REGISTRATION_MAX_CLIENTS: u64 = 10_000;
pub(super) const KEY_BITS: u32 = 2048;
pub(super) const ACCESS_TOKEN_ALG: usher_domain::SigningAlg = usher_domain::SigningAlg::Rs256;
pub(super) const ID_TOKEN_ALG: usher_domain::SigningAlg = usher_domain::SigningAlg::Rs256;
pub(super) const JWKS_MAX_AGE: u64 = 900;
pub(super) const ROTATE_EVERY: i64 = 30 * DAY as i64;
pub(super) const PREPUBLISH: i64 = 2 * DAY as i64;
pub(super) const POLL_INTERVAL: u64 = 30;
pub(super) const ACCESS_TTL: i64 = 600;
pub(super) const SESSION_TTL: i64 = 8 * 3600;
pub(super) const DEVICE_CODE_TTL: i64 = 600;
pub(super) const DEVICE_INTERVAL: i64 = 5;
pub(super) const FAMILY_GRACE: u64 = 0;
pub(super) const FAMILY_ABSOLUTE_TTL: u64 = 30 * DAY;
pub(super) const FAMILY_IDLE_TTL: u64 = 14 * DAY;
pub(super) const BACKCHANNEL_RETRY_DELAYS: [u64; 5] = [5, 30, 120, 600, 2700];
pub(super) const BACKCHANNEL_TIMEOUT: u64 = 10;
pub(super) const BACKCHANNEL_CONNECT_TIMEOUT: u64 = 3;
pub(super) const BACKCHANNEL_POLL_INTERVAL: u64 = 1;

#[cfg(test)]
mod tests {
    use super::super::names::SETTINGS;
    use super::*;

    fn shown(key: &str) -> &'static str {
        SETTINGS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, d)| *d)
            .unwrap_or_else(|| panic!("{key} is not in the name table"))
    }

    #[test]
    fn the_name_table_shows_the_defaults_that_apply() {
        let applied = [
            ("bind", BIND.to_owned()),
            ("database_url", DATABASE_URL.to_owned()),
            ("redis_prefix", REDIS_PREFIX.to_owned()),
            ("kek_file", KEK_FILE.to_owned()),
            ("log", LOG.to_owned()),
            (
                "metrics_on_main_listener",
                METRICS_ON_MAIN_LISTENER.to_string(),
            ),
            ("cache_ttl", CACHE_TTL.to_string()),
            ("audit_retention_days", AUDIT_RETENTION_DAYS.to_string()),
            ("mfa", MFA.as_str().to_owned()),
            ("signup", SIGNUP.as_str().to_owned()),
            ("registration", REGISTRATION.as_str().to_owned()),
            (
                "registration_rate_limit",
                REGISTRATION_RATE_LIMIT.to_string(),
            ),
            (
                "registration_unused_after",
                REGISTRATION_UNUSED_AFTER.to_string(),
            ),
            (
                "registration_max_clients",
                REGISTRATION_MAX_CLIENTS.to_string(),
            ),
            ("access_token_alg", ACCESS_TOKEN_ALG.as_str().to_owned()),
            ("id_token_alg", ID_TOKEN_ALG.as_str().to_owned()),
            ("keys.bits", KEY_BITS.to_string()),
            ("keys.jwks_max_age", JWKS_MAX_AGE.to_string()),
            ("keys.rotate_every", ROTATE_EVERY.to_string()),
            ("keys.prepublish", PREPUBLISH.to_string()),
            ("keys.poll_interval", POLL_INTERVAL.to_string()),
            ("tokens.access_ttl", ACCESS_TTL.to_string()),
            ("sessions.ttl", SESSION_TTL.to_string()),
            ("device.code_ttl", DEVICE_CODE_TTL.to_string()),
            ("device.interval", DEVICE_INTERVAL.to_string()),
            ("families.grace", FAMILY_GRACE.to_string()),
            ("families.absolute_ttl", FAMILY_ABSOLUTE_TTL.to_string()),
            ("families.idle_ttl", FAMILY_IDLE_TTL.to_string()),
            (
                "backchannel.retry_delays",
                format!("{BACKCHANNEL_RETRY_DELAYS:?}"),
            ),
            ("backchannel.timeout", BACKCHANNEL_TIMEOUT.to_string()),
            (
                "backchannel.connect_timeout",
                BACKCHANNEL_CONNECT_TIMEOUT.to_string(),
            ),
            (
                "backchannel.poll_interval",
                BACKCHANNEL_POLL_INTERVAL.to_string(),
            ),
        ];
        for (key, value) in applied {
            assert_eq!(shown(key), value, "{key}");
        }
    }
}
