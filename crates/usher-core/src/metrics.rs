//! Prometheus metrics: the process-wide counters and the request-latency histogram, and
//! their rendering in the Prometheus text exposition format (version 0.0.4) for
//! `GET /metrics`.
//!
//! The registry is one value per process ([`global`]), as Prometheus scrapes processes:
//! counters are incremented where the events happen (the token endpoint, the login page,
//! the family store wrapper, the key-rotation task), never from request data an attacker
//! chooses — every label value is a route constant, a status code, a grant type or a
//! fixed word — so the number of series stays bounded. The format is written by hand
//! (about a hundred lines) rather than through a client crate: see docs/dependencies.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

/// The request-duration histogram's upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A counter Usher keeps, with its one label (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// Tokens responses issued by `/token`, by `grant_type`.
    TokensIssued,
    /// Refresh tokens rotated (the presented one was current).
    RefreshRotations,
    /// Earlier refresh tokens presented again (each revokes its family).
    RefreshReuse,
    /// Refresh-token families revoked, by reason (`reuse`, `revoke`, `logout`, …).
    FamiliesRevoked,
    /// Code exchanges refused because PKCE failed.
    PkceRejections,
    /// Wrong usernames or passwords at the login page.
    LoginFailures,
    /// Login attempts refused because the account or address is locked out.
    LoginThrottled,
    /// Signing-key transitions this process performed, by `transition`
    /// (`next`, `active`, `retired`, `removed`).
    KeyTransitions,
    /// Signing-key set reloads (this node picked up a change).
    KeyReloads,
    /// Failed store calls, by `store` (`database`, `family_store`).
    StoreErrors,
    /// Passkey events, by `event` (`added`, `removed`, `sign_in`, `sign_in_failed`,
    /// `registration_failed`, `counter_regression`).
    PasskeyEvents,
    /// Second-step attempts at sign-in, by `event` (`passed`, `failed`, `throttled`,
    /// `recovery_code_used`).
    SecondFactorEvents,
    /// Changes to people's second factors on the account page, by `change`
    /// (`totp_added`, `totp_removed`, `recovery_codes_regenerated`).
    FactorsChanged,
    /// Back-channel logout deliveries, by `outcome` (`delivered`, `retried`, `dropped`,
    /// `refused`).
    BackchannelLogouts,
    /// Security events that could not be written to the audit trail (`audit.rs`).
    AuditWriteFailures,
}

impl Counter {
    const ALL: [Counter; 15] = [
        Counter::TokensIssued,
        Counter::RefreshRotations,
        Counter::RefreshReuse,
        Counter::FamiliesRevoked,
        Counter::PkceRejections,
        Counter::LoginFailures,
        Counter::LoginThrottled,
        Counter::KeyTransitions,
        Counter::KeyReloads,
        Counter::StoreErrors,
        Counter::PasskeyEvents,
        Counter::FactorsChanged,
        Counter::SecondFactorEvents,
        Counter::BackchannelLogouts,
        Counter::AuditWriteFailures,
    ];

    /// Name, help text, label name, and the label values shown (at 0) before any event.
    fn describe(
        self,
    ) -> (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static [&'static str],
    ) {
        match self {
            Counter::TokensIssued => (
                "usher_tokens_issued_total",
                "Successful token responses, by grant type.",
                Some("grant_type"),
                &[
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                    "urn:ietf:params:oauth:grant-type:device_code",
                ],
            ),
            Counter::RefreshRotations => (
                "usher_refresh_rotations_total",
                "Refresh tokens rotated.",
                None,
                &[],
            ),
            Counter::RefreshReuse => (
                "usher_refresh_reuse_detected_total",
                "Earlier refresh tokens presented again (each revokes its family).",
                None,
                &[],
            ),
            Counter::FamiliesRevoked => (
                "usher_families_revoked_total",
                "Refresh-token families revoked, by reason.",
                Some("reason"),
                &["reuse"],
            ),
            Counter::PkceRejections => (
                "usher_pkce_rejections_total",
                "Code exchanges refused because the PKCE verifier was missing or wrong.",
                None,
                &[],
            ),
            Counter::LoginFailures => (
                "usher_login_failures_total",
                "Failed logins (unknown user or wrong password).",
                None,
                &[],
            ),
            Counter::LoginThrottled => (
                "usher_login_throttled_total",
                "Login attempts refused during a lockout.",
                None,
                &[],
            ),
            Counter::KeyTransitions => (
                "usher_key_transitions_total",
                "Signing-key state transitions performed by this process, by new state.",
                Some("transition"),
                &["next", "active", "retired", "removed"],
            ),
            Counter::KeyReloads => (
                "usher_key_reloads_total",
                "Times this process swapped in a changed signing-key set.",
                None,
                &[],
            ),
            Counter::StoreErrors => (
                "usher_store_errors_total",
                "Failed store calls, by store.",
                Some("store"),
                &["database", "family_store"],
            ),
            Counter::PasskeyEvents => (
                "usher_passkey_events_total",
                "Passkeys added and removed, and passkey sign-ins accepted and refused, by event.",
                Some("event"),
                &[
                    "added",
                    "counter_regression",
                    "registration_failed",
                    "removed",
                    "sign_in",
                    "sign_in_failed",
                ],
            ),
            Counter::SecondFactorEvents => (
                "usher_second_factor_events_total",
                "Second-factor checks: passed, failed, refused unchecked (throttled), and recovery codes used.",
                Some("event"),
                &["failed", "passed", "recovery_code_used", "throttled"],
            ),
            Counter::FactorsChanged => (
                "usher_factors_changed_total",
                "Second factors added or removed, and recovery codes regenerated, on the account page.",
                Some("change"),
                &["totp_added", "totp_removed", "recovery_codes_regenerated"],
            ),
            Counter::BackchannelLogouts => (
                "usher_backchannel_logout_total",
                "Back-channel logout deliveries, by outcome.",
                Some("outcome"),
                &["delivered", "dropped", "refused", "retried"],
            ),
            Counter::AuditWriteFailures => (
                "usher_audit_write_failures_total",
                "Security events that could not be written to the audit trail.",
                None,
                &[],
            ),
        }
    }
}

/// The `method` label of the request metrics: a closed set, so a request with an
/// invented method (`FOO`, `BAR1`, …) cannot add a series. Usher serves only `GET`,
/// `HEAD`, `POST` and `OPTIONS`; every other method is `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MethodLabel {
    Get,
    Head,
    Post,
    Options,
    Other,
}

impl MethodLabel {
    /// The label of an HTTP method as it came on the wire (methods are case-sensitive:
    /// RFC 9110 §9.1, so `get` is another method).
    pub fn of(method: &str) -> MethodLabel {
        match method {
            "GET" => MethodLabel::Get,
            "HEAD" => MethodLabel::Head,
            "POST" => MethodLabel::Post,
            "OPTIONS" => MethodLabel::Options,
            _ => MethodLabel::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MethodLabel::Get => "GET",
            MethodLabel::Head => "HEAD",
            MethodLabel::Post => "POST",
            MethodLabel::Options => "OPTIONS",
            MethodLabel::Other => "other",
        }
    }
}

#[derive(Default)]
struct Histogram {
    /// Per bucket (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<(Counter, &'static str), u64>,
    /// Keyed by (route pattern, method, status).
    requests: BTreeMap<(String, MethodLabel, u16), Histogram>,
}

/// The registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// This process's registry.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

/// Adds one to `counter` (with `label`, or `""` for an unlabelled counter).
pub fn inc(counter: Counter, label: &'static str) {
    global().add(counter, label, 1);
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves whole numbers behind: keep counting.
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn add(&self, counter: Counter, label: &'static str, n: u64) {
        if n > 0 {
            *self.lock().counters.entry((counter, label)).or_default() += n;
        }
    }

    /// The current value of one counter series (for tests).
    pub fn value(&self, counter: Counter, label: &'static str) -> u64 {
        self.lock()
            .counters
            .get(&(counter, label))
            .copied()
            .unwrap_or(0)
    }

    /// Records one finished request.
    pub fn observe_request(
        &self,
        route: &str,
        method: MethodLabel,
        status: u16,
        elapsed: Duration,
    ) {
        let secs = elapsed.as_secs_f64();
        let mut inner = self.lock();
        let h = inner
            .requests
            .entry((route.to_owned(), method, status))
            .or_default();
        h.count += 1;
        h.sum += secs;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[i] += 1;
        }
    }

    /// The Prometheus text exposition format (`text/plain; version=0.0.4`).
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        for counter in Counter::ALL {
            let (name, help, label, shown) = counter.describe();
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            match label {
                None => {
                    let v = inner.counters.get(&(counter, "")).copied().unwrap_or(0);
                    let _ = writeln!(out, "{name} {v}");
                }
                Some(label) => {
                    let mut series: BTreeMap<&str, u64> = shown.iter().map(|v| (*v, 0)).collect();
                    for ((c, value), n) in &inner.counters {
                        if *c == counter {
                            *series.entry(value).or_default() += n;
                        }
                    }
                    for (value, n) in series {
                        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(value));
                    }
                }
            }
        }
        let name = "usher_http_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP requests, by route, method and status.\n# TYPE {name} counter"
        );
        for ((route, method, status), h) in &inner.requests {
            let _ = writeln!(
                out,
                "{name}{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                method.as_str(),
                h.count
            );
        }
        let name = "usher_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP request latency, by route, method and status.\n# TYPE {name} histogram"
        );
        for ((route, method, status), h) in &inner.requests {
            let labels = format!(
                "route=\"{}\",method=\"{}\",status=\"{status}\"",
                escape(route),
                method.as_str()
            );
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
        out
    }
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.add(Counter::TokensIssued, "client_credentials", 2);
        m.add(Counter::RefreshReuse, "", 1);
        m.observe_request("/token", MethodLabel::Post, 200, Duration::from_millis(3));
        m.observe_request("/token", MethodLabel::Post, 200, Duration::from_millis(300));
        let text = m.render();
        assert!(text.contains("usher_tokens_issued_total{grant_type=\"client_credentials\"} 2"));
        assert!(text.contains("usher_tokens_issued_total{grant_type=\"refresh_token\"} 0"));
        assert!(text.contains("usher_refresh_reuse_detected_total 1"));
        assert!(text.contains(
            "usher_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "usher_http_request_duration_seconds_bucket{route=\"/token\",method=\"POST\",status=\"200\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "usher_http_request_duration_seconds_bucket{route=\"/token\",method=\"POST\",status=\"200\",le=\"0.5\"} 2"
        ));
        assert!(text.contains(
            "usher_http_request_duration_seconds_count{route=\"/token\",method=\"POST\",status=\"200\"} 2"
        ));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }

    #[test]
    fn methods_map_to_a_closed_set() {
        let label = MethodLabel::of;
        assert_eq!(label("GET"), MethodLabel::Get);
        assert_eq!(label("HEAD"), MethodLabel::Head);
        assert_eq!(label("POST"), MethodLabel::Post);
        assert_eq!(label("OPTIONS"), MethodLabel::Options);
        for other in [
            "PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "FOO", "get", "BREW",
        ] {
            assert_eq!(label(other), MethodLabel::Other, "{other}");
        }
        let m = Metrics::default();
        for n in 0..50 {
            let method = format!("X{n}");
            m.observe_request("unmatched", MethodLabel::of(&method), 404, Duration::ZERO);
        }
        let text = m.render();
        assert!(text.contains(
            "usher_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 50"
        ));
        assert_eq!(text.matches("usher_http_requests_total{").count(), 1);
    }
}
