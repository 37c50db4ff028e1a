//! `usher audit list | export`: reading the audit trail (docs/design/audit.md).
//!
//! `list` is for people (and `--json` for scripts): newest first, a page at a time,
//! filtered by person, client, kind and time. `export` is for a SIEM: every event in the
//! range, oldest first, one JSON object per line, read from the database in pages of
//! [`MAX_AUDIT_PAGE`] so an export of millions of events holds one page in memory.
//! Both only read; neither needs the KEK (nothing they show is sealed).

use std::io::Write;

use usher_core::admin::AdminStores;
use usher_core::admin::audit::{self, AuditEventView, AuditQuery};
use usher_domain::{AuditOrder, AuditStore, MAX_AUDIT_PAGE};

use super::{print_json, refused};
use crate::cli::AuditCommand;
use crate::config::Settings;
use crate::context;

pub fn run(settings: Settings, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::List(args) => {
            let filter = AuditQuery {
                person: args.person,
                client: args.client,
                kind: args.kind,
                since: args.range.since,
                until: args.range.until,
                before: args.before,
                after: None,
                limit: args.limit,
            }
            .filter(AuditOrder::NewestFirst)
            .map_err(refused)?;
            let db = context::open_database(&settings)?;
            let stores = AdminStores::all_in(std::sync::Arc::new(db));
            let page = audit::list(&stores, &filter).map_err(refused)?;
            if args.json.json {
                return print_json(&serde_json::to_value(&page)?);
            }
            if page.events.is_empty() {
                println!("no audit events");
            }
            for e in &page.events {
                print_human(e);
            }
            if let Some(id) = page.next_before {
                println!("(more: add --before {id})");
            }
            Ok(())
        }
        AuditCommand::Export(args) => {
            let mut filter = AuditQuery {
                since: args.range.since,
                until: args.range.until,
                after: args.after,
                limit: Some(MAX_AUDIT_PAGE),
                ..AuditQuery::default()
            }
            .filter(AuditOrder::OldestFirst)
            .map_err(refused)?;
            let db = context::open_database(&settings)?;
            let mut out = std::io::stdout().lock();
            loop {
                let page = db.list_events(&filter)?;
                for e in &page {
                    serde_json::to_writer(&mut out, &AuditEventView::of(e))?;
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

fn print_human(e: &AuditEventView) {
    let or_dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
    println!(
        "{}  {}  {}  by {}  person {}  client {}  target {}  from {}  {}",
        e.id,
        e.time,
        e.kind,
        e.actor,
        or_dash(e.person_id.as_deref()),
        or_dash(e.client_id.as_deref()),
        or_dash(e.target.as_deref()),
        or_dash(e.address.as_deref()),
        e.detail
    );
}
