//! The audit trail through the binary (issue 17, docs/design/audit.md): the changes
//! `usher user …` makes are recorded (actor `cli`), `usher audit list` filters them and
//! `usher audit export` prints them as JSON lines — on SQLite and PostgreSQL.

use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::{Backend, Sandbox};
use crate::on_both_backends;

on_both_backends!(the_cli_records_its_changes_and_lists_and_exports_them);

const PASSWORD: &str = "correct horse battery staple";

fn list(sandbox: &Sandbox, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "list", "--json"];
    all.extend_from_slice(args);
    let doc = sandbox.usher(&all, None).json();
    doc["events"].as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

fn the_cli_records_its_changes_and_lists_and_exports_them(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    // The database and KEK exist once serve has started.
    sandbox.serve().stop();
    let alice = sandbox.user("alice", PASSWORD, &["--email", "alice@example.org"]);
    let id = alice["id"].as_str().unwrap().to_owned();
    let changed = sandbox.usher(
        &["user", "set-password", "alice", "--password-stdin"],
        Some("a brand new password here\n"),
    );
    assert!(changed.ok(), "{}", changed.stderr());

    // Newest first: the password change, the sessions it ended, the creation.
    let mine = list(&sandbox, &["--person", &id]);
    assert_eq!(
        kinds(&mine),
        [
            "person.sessions_revoked",
            "person.password_changed",
            "person.created"
        ]
    );
    for e in &mine {
        assert_eq!(e["actor"], "cli");
        assert_eq!(e["person_id"], id.as_str());
    }
    let created = &mine[2];
    assert_eq!(created["detail"]["after"]["username"], "alice");
    assert_eq!(created["detail"]["after"]["email"], "alice@example.org");
    let ids: Vec<i64> = mine.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // Filters: a kind, a limit with the next page, a time range.
    let only = list(&sandbox, &["--kind", "person.created"]);
    assert_eq!(kinds(&only), ["person.created"]);
    let page = sandbox
        .usher(
            &["audit", "list", "--json", "--person", &id, "--limit", "2"],
            None,
        )
        .json();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let before = page["next_before"]
        .as_i64()
        .expect("a full page says where next");
    let rest = list(
        &sandbox,
        &["--person", &id, "--before", &before.to_string()],
    );
    assert_eq!(kinds(&rest), ["person.created"]);
    assert!(list(&sandbox, &["--since", "2999-01-01T00:00:00Z"]).is_empty());
    assert!(list(&sandbox, &["--until", "1"]).is_empty());
    let bad = sandbox.usher(&["audit", "list", "--kind", "person.exploded"], None);
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr());
    let bad = sandbox.usher(&["audit", "list", "--since", "yesterday"], None);
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr());

    // The deletion is recorded; the person's events stay.
    let deleted = sandbox.usher(&["user", "delete", "alice"], None);
    assert!(deleted.ok(), "{}", deleted.stderr());
    let mine = list(&sandbox, &["--person", &id]);
    assert_eq!(kinds(&mine)[0], "person.deleted");
    assert_eq!(mine.len(), 4);

    // The export: every event, oldest first, one JSON object per line, the same events
    // as the listing.
    let export = sandbox.usher(&["audit", "export"], None);
    assert!(export.ok(), "{}", export.stderr());
    let text = export.stdout();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let exported: Vec<i64> = lines.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(exported.windows(2).all(|w| w[0] < w[1]), "oldest first");
    let listed: HashSet<i64> = list(&sandbox, &["--limit", "500"])
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(exported.iter().copied().collect::<HashSet<_>>(), listed);
    for line in &lines {
        for field in ["id", "at", "time", "kind", "actor", "detail"] {
            assert!(!line[field].is_null(), "{field} in {line}");
        }
    }
    // Resuming after the second-to-last event prints the last one only.
    let after = exported[exported.len() - 2].to_string();
    let tail = sandbox.usher(&["audit", "export", "--after", &after], None);
    assert_eq!(tail.stdout().lines().count(), 1);
    // Nothing secret went into the trail: no password, no password hash.
    assert!(!text.contains(PASSWORD));
    assert!(!text.contains("brand new password"));
    assert!(!text.contains("argon2"));
}
