//! `usher audit list | export`: reading the audit trail (docs/design/audit.md).
//!
//! `list` is for people (and `--json` for scripts): newest first, a page at a time,
//! filtered by person, client, kind and time. `export` is for a SIEM: every event in the
//! range, oldest first, one JSON object per line, read from the database in pages of
//! [`MAX_AUDIT_PAGE`] so an export of millions of events holds one page in memory.
//! Both only read; neither needs the KEK (nothing they show is sealed).

use std::io::Write;

use serde_json::{Value, json};
use usher_domain::{
    AuditFilter, AuditKind, AuditOrder, AuditStore, ClientId, MAX_AUDIT_PAGE, RecordedAuditEvent,
    UnixTime, UserId,
};

use super::{print_json, usage};
use crate::cli::{AuditCommand, AuditRange};
use crate::clock;
use crate::config::Settings;
use crate::context;

pub fn run(settings: Settings, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::List(args) => {
            let (since, until) = range(&args.range)?;
            let filter = AuditFilter {
                person: args
                    .person
                    .as_deref()
                    .map(|p| {
                        UserId::parse(p).ok_or_else(|| usage(format!("{p:?} is not a person id")))
                    })
                    .transpose()?,
                client: args
                    .client
                    .as_deref()
                    .map(|c| {
                        ClientId::parse(c).ok_or_else(|| usage(format!("{c:?} is not a client id")))
                    })
                    .transpose()?,
                kind: args
                    .kind
                    .as_deref()
                    .map(AuditKind::parse)
                    .transpose()
                    .map_err(|e| usage(format!("--kind: {e}")))?,
                since,
                until,
                before_id: args.before,
                order: AuditOrder::NewestFirst,
                limit: match args.limit {
                    Some(n) if n == 0 || n > MAX_AUDIT_PAGE => {
                        return Err(usage(format!(
                            "--limit {n} is not between 1 and {MAX_AUDIT_PAGE}"
                        )));
                    }
                    other => other,
                },
                ..AuditFilter::default()
            };
            let db = context::open_database(&settings)?;
            let events = db.list_events(&filter)?;
            // A full page may have more behind it.
            let next_before = (events.len() == filter.page_size())
                .then(|| events.last().map(|e| e.id))
                .flatten();
            if args.json.json {
                return print_json(&json!({
                    "events": events.iter().map(describe).collect::<Vec<_>>(),
                    "next_before": next_before,
                }));
            }
            if events.is_empty() {
                println!("no audit events");
            }
            for e in &events {
                print_human(e);
            }
            if let Some(id) = next_before {
                println!("(more: add --before {id})");
            }
            Ok(())
        }
        AuditCommand::Export(args) => {
            let (since, until) = range(&args.range)?;
            let db = context::open_database(&settings)?;
            let mut filter = AuditFilter {
                since,
                until,
                after_id: args.after,
                order: AuditOrder::OldestFirst,
                limit: Some(MAX_AUDIT_PAGE),
                ..AuditFilter::default()
            };
            let mut out = std::io::stdout().lock();
            loop {
                let page = db.list_events(&filter)?;
                for e in &page {
                    serde_json::to_writer(&mut out, &describe(e))?;
                    writeln!(out)?;
                }
                match page.last() {
                    Some(last) if page.len() == MAX_AUDIT_PAGE => filter.after_id = Some(last.id),
                    _ => break,
                }
            }
            out.flush()?;
            Ok(())
        }
    }
}

/// `--since` and `--until`, each RFC 3339 or unix seconds.
fn range(r: &AuditRange) -> anyhow::Result<(Option<UnixTime>, Option<UnixTime>)> {
    let since = r
        .since
        .as_deref()
        .map(|t| parse_time("--since", t))
        .transpose()?;
    let until = r
        .until
        .as_deref()
        .map(|t| parse_time("--until", t))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(usage("--since must be before --until"));
    }
    Ok((since, until))
}

/// A time on the command line: unix seconds, or RFC 3339 (`2026-12-03T14:00:00Z`).
pub fn parse_time(flag: &str, raw: &str) -> anyhow::Result<UnixTime> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<i64>() {
        return Ok(UnixTime(seconds));
    }
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(|t| UnixTime(t.unix_timestamp()))
        .map_err(|_| {
            usage(format!(
                "{flag} {raw:?} is neither RFC 3339 (2026-12-03T14:00:00Z) nor unix seconds"
            ))
        })
}

/// One event as JSON: the export's line and `list --json`'s element. `detail` is the
/// stored object (which holds no secret: docs/design/audit.md).
pub fn describe(e: &RecordedAuditEvent) -> Value {
    let ev = &e.event;
    json!({
        "id": e.id,
        "at": ev.at.seconds(),
        "time": clock::rfc3339(ev.at),
        "kind": ev.kind.as_str(),
        "actor": ev.actor.to_stored(),
        "person_id": ev.person.as_ref().map(|p| p.as_str()),
        "client_id": ev.client.as_ref().map(|c| c.as_str()),
        "target": ev.target,
        "address": ev.address,
        "detail": ev.detail.to_value(),
    })
}

fn print_human(e: &RecordedAuditEvent) {
    let ev = &e.event;
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    println!(
        "{}  {}  {}  by {}  person {}  client {}  target {}  from {}  {}",
        e.id,
        clock::rfc3339(ev.at),
        ev.kind,
        ev.actor,
        or_dash(ev.person.as_ref().map(|p| p.as_str())),
        or_dash(ev.client.as_ref().map(|c| c.as_str())),
        or_dash(ev.target.as_deref()),
        or_dash(ev.address.as_deref()),
        ev.detail.to_value()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_unix_seconds_or_rfc_3339() {
        assert_eq!(
            parse_time("--since", "1700000000").unwrap(),
            UnixTime(1_700_000_000)
        );
        assert_eq!(
            parse_time("--since", "2023-11-14T22:13:20Z").unwrap(),
            UnixTime(1_700_000_000)
        );
        assert_eq!(
            parse_time("--since", "2023-11-15T00:13:20+02:00").unwrap(),
            UnixTime(1_700_000_000)
        );
        assert!(parse_time("--since", "yesterday").is_err());
        assert!(parse_time("--since", "2023-11-14").is_err());
    }
}
