//! `usher apply FILE.toml`: clients, resource servers and groups declared in a file, created,
//! updated and (with `--prune`) deleted, idempotently, on both backends; a dry run
//! writes nothing; a bad file writes nothing; an updated confidential client keeps its
//! secret (a `client_credentials` token with the secret printed at creation).
//! docs/administration.md, "Clients as configuration".

use serde_json::{Value, json};

use crate::client_credentials::token;
use crate::helpers::{Backend, Sandbox};
use crate::on_both_backends;

on_both_backends!(a_file_of_clients_and_resources_is_applied_idempotently_and_pruned,);

const V1: &str = r#"
[[group]]
name = "staff"
description = "Staff"

[[resource]]
uri = "https://invoices.example.com"
name = "Invoices API"
scope = "invoices:read invoices:write"

[[client]]
id = "billing"
name = "Billing"
grant_types = ["client_credentials"]
scope = "invoices:read"

[[client]]
id = "shop"
name = "The Shop"
redirect_uris = ["https://shop.example.com/callback"]
grant_types = ["authorization_code", "refresh_token"]
scope = "openid profile offline_access"
allowed_groups = ["staff"]
"#;

/// `shop` renamed and given a second redirect URI; the resource gains a scope; the group
/// a new description; `billing` is no longer declared.
const V2: &str = r#"
[[group]]
name = "staff"
description = "Everyone on staff"

[[resource]]
uri = "https://invoices.example.com"
name = "Invoices API"
scope = "invoices:read invoices:write invoices:admin"

[[client]]
id = "shop"
name = "The New Shop"
redirect_uris = ["https://shop.example.com/callback", "https://shop.example.com/cb2"]
grant_types = ["authorization_code", "refresh_token"]
scope = "openid profile offline_access"
allowed_groups = ["staff"]
"#;

fn apply(sandbox: &Sandbox, file: &str, extra: &[&str]) -> Value {
    let path = sandbox.path().join("clients.toml");
    std::fs::write(&path, file).unwrap();
    let mut args = vec!["apply", path.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    sandbox.usher(&args, None).json()
}

/// `(kind, id, action)` of each change.
fn actions(report: &Value) -> Vec<(String, String, String)> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
                c["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn change<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no change for {id}: {report}"))
}

fn ids(sandbox: &Sandbox, what: &str, key: &str) -> Vec<String> {
    let mut out: Vec<String> = sandbox
        .usher(&[what, "list", "--json"], None)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[key].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

fn a_file_of_clients_and_resources_is_applied_idempotently_and_pruned(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let triple = |k: &str, i: &str, a: &str| (k.to_owned(), i.to_owned(), a.to_owned());

    // A dry run plans everything and writes nothing.
    let planned = apply(&sandbox, V1, &["--dry-run"]);
    assert_eq!(planned["dry_run"], true);
    assert_eq!(
        actions(&planned),
        vec![
            triple("group", "staff", "create"),
            triple("client", "billing", "create"),
            triple("client", "shop", "create"),
            triple("resource", "https://invoices.example.com", "create"),
        ]
    );
    assert!(ids(&sandbox, "client", "client_id").is_empty());
    assert!(ids(&sandbox, "resource", "uri").is_empty());

    // Applied: created, each confidential client's secret shown once.
    let applied = apply(&sandbox, V1, &[]);
    assert_eq!(applied["dry_run"], false);
    assert!(actions(&applied).iter().all(|(_, _, a)| a == "create"));
    let billing_secret = change(&applied, "billing")["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(change(&applied, "shop")["client_secret"].is_string());
    assert_eq!(ids(&sandbox, "client", "client_id"), ["billing", "shop"]);
    let shop = sandbox
        .usher(&["client", "show", "shop", "--json"], None)
        .json();
    assert_eq!(shop["name"], "The Shop");
    assert_eq!(shop["scope"], "offline_access openid profile");
    assert_eq!(shop["allowed_groups"], json!(["staff"]), "{shop}");

    // Again: nothing changes, no secret is made.
    let again = apply(&sandbox, V1, &[]);
    assert!(
        actions(&again).iter().all(|(_, _, a)| a == "unchanged"),
        "{again}"
    );
    assert!(again.to_string().find("client_secret").is_none());

    // Changed: updates name the fields; what the file no longer declares stays
    // without --prune.
    let changed = apply(&sandbox, V2, &[]);
    assert_eq!(change(&changed, "shop")["action"], "update");
    assert_eq!(
        change(&changed, "shop")["fields"],
        json!(["name", "redirect_uris"])
    );
    assert!(change(&changed, "shop").get("client_secret").is_none());
    assert_eq!(
        change(&changed, "https://invoices.example.com")["fields"],
        json!(["scope"])
    );
    assert_eq!(change(&changed, "staff")["fields"], json!(["description"]));
    assert_eq!(ids(&sandbox, "client", "client_id"), ["billing", "shop"]);
    let shop = sandbox
        .usher(&["client", "show", "shop", "--json"], None)
        .json();
    assert_eq!(shop["name"], "The New Shop");
    assert_eq!(
        shop["redirect_uris"],
        json!([
            "https://shop.example.com/callback",
            "https://shop.example.com/cb2"
        ])
    );

    // Billing, updated by V1 again (its scope unchanged, a new name), keeps its secret:
    // it still gets a token with the secret shown at its creation.
    let renamed = V1.replace("name = \"Billing\"", "name = \"Billing service\"");
    let back = apply(&sandbox, &renamed, &[]);
    assert_eq!(change(&back, "billing")["fields"], json!(["name"]));
    {
        let server = sandbox.serve();
        let response = token(
            &server.base,
            "billing",
            &billing_secret,
            &[("resource", "https://invoices.example.com")],
        );
        assert_eq!(response.status(), 200, "{:?}", response.text());
    }

    // --prune: the dry run names the deletions, then they happen; the built-in group
    // stays.
    let temps = sandbox.usher(&["group", "create", "temps"], None);
    assert!(temps.ok(), "{}", temps.stderr());
    let pruning = apply(&sandbox, V2, &["--prune", "--dry-run"]);
    assert_eq!(change(&pruning, "billing")["action"], "delete");
    assert_eq!(change(&pruning, "temps")["action"], "delete");
    assert!(pruning.to_string().find("usher-admins").is_none());
    assert_eq!(ids(&sandbox, "client", "client_id"), ["billing", "shop"]);
    let pruned = apply(&sandbox, V2, &["--prune"]);
    assert_eq!(change(&pruned, "billing")["action"], "delete");
    assert_eq!(ids(&sandbox, "client", "client_id"), ["shop"]);
    assert_eq!(ids(&sandbox, "group", "name"), ["staff", "usher-admins"]);

    // A bad file writes nothing, however much of it is fine.
    let path = sandbox.path().join("bad.toml");
    for bad in [
        format!(
            "{V2}\n[[client]]\nid = \"newcomer\"\nname = \"New\"\nredirect_uris = [\"https://n.example/cb\"]\n\n[[client]]\nid = \"broken\"\nname = \"Broken\"\nredirect_uris = [\"not a uri\"]\n"
        ),
        format!("{V2}\n[[client]]\nid = \"newcomer\"\nname = \"New\"\ncolour = \"blue\"\n"),
        format!("{V2}\n[[client]]\nid = \"shop\"\nname = \"Twice\"\n"),
        format!("{V2}\n[[resource]]\nuri = \"https://x.example\"\nscope = \"openid\"\n"),
        V2.replace(
            "allowed_groups = [\"staff\"]",
            "allowed_groups = [\"nobody\"]",
        ),
        format!("{V2}\n[[group]]\nname = \"two words\"\n"),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let run = sandbox.usher(&["apply", path.to_str().unwrap()], None);
        assert_eq!(run.code(), Some(2), "{bad}\n{}", run.stderr());
        assert!(run.stderr().contains("bad.toml"), "{}", run.stderr());
    }
    assert_eq!(ids(&sandbox, "client", "client_id"), ["shop"]);
}
