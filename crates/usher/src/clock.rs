//! The one place the binary reads the wall clock.

use usher_domain::UnixTime;

pub fn now() -> UnixTime {
    use usher_core::Clock as _;
    usher_core::SystemClock.now()
}

/// RFC 3339 for people and JSON output.
pub fn rfc3339(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.seconds())
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.seconds().to_string())
}
