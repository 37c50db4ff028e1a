//! Groups end to end (issue 17, docs/design/groups.md): `usher group …` through the
//! binary; the `groups` claim in the ID token, the access token and userinfo only with
//! the `groups` scope; a client restricted with `--allowed-group` shows a non-member the
//! "You do not have access" page whose link returns `access_denied`; a member removed
//! after signing in is refused at the next refresh and the family is revoked.

use serde_json::Value;
use usher_http::routes;

use crate::async_on_both_backends;
use crate::helpers::{Backend, Browser, Sandbox, Server, authorize_url, jwt_parts, pkce};
use crate::refresh::{CALLBACK, PASSWORD, Rp, exchange, refresh};

async_on_both_backends!(
    the_groups_claim_is_in_the_id_token_access_token_and_userinfo_only_with_the_scope,
    a_non_member_sees_the_no_access_page_and_the_app_gets_access_denied,
    a_member_removed_after_signing_in_is_refused_at_the_next_refresh,
);

mod blocking {
    use super::the_cli_manages_groups_and_members_and_restricts_clients;
    use crate::on_both_backends;

    on_both_backends!(the_cli_manages_groups_and_members_and_restricts_clients);
}

/// Runs `usher` in the sandbox and insists on success.
fn ok(sandbox: &Sandbox, args: &[&str]) -> String {
    let run = sandbox.usher(args, None);
    assert!(run.ok(), "usher {args:?}: {}", run.stderr());
    run.stdout()
}

/// A server; alice in `staff` and `eng`, bob in no group; a first-party client allowed
/// the `groups` scope, restricted to `groups` when given.
fn setup(backend: Backend, restricted_to: &[&str]) -> (Sandbox, Server, Rp) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    for group in ["staff", "eng"] {
        ok(&sandbox, &["group", "create", group]);
    }
    sandbox.user("alice", PASSWORD, &[]);
    sandbox.user("bob", PASSWORD, &[]);
    ok(&sandbox, &["group", "add-member", "staff", "alice"]);
    ok(&sandbox, &["group", "add-member", "eng", "alice"]);
    let mut args = vec![
        "--name",
        "Staff Portal",
        "--redirect-uri",
        CALLBACK,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile offline_access groups",
        "--first-party",
    ];
    for g in restricted_to {
        args.extend(["--allowed-group", g]);
    }
    let c = sandbox.client(&args);
    let rp = Rp {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
    };
    (sandbox, server, rp)
}

/// The `/authorize` URL for `rp` with `scope` (and `extra`), and its PKCE verifier.
fn authorize(base: &str, rp: &Rp, scope: &str, extra: &[(&str, &str)]) -> (String, String) {
    let p = pkce();
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", rp.id.as_str()),
        ("redirect_uri", CALLBACK),
        ("scope", scope),
        ("state", "st"),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    (authorize_url(base, &pairs), p.verifier)
}

/// Signs `username` in with `scope` in a fresh browser; the last page, and the verifier.
async fn sign_in(
    base: &str,
    rp: &Rp,
    scope: &str,
    username: &str,
) -> (Browser, crate::helpers::Page, String) {
    let browser = Browser::new();
    let (url, verifier) = authorize(base, rp, scope, &[]);
    let page = crate::helpers::sign_in(&browser, base, &url, username, PASSWORD).await;
    (browser, page, verifier)
}

/// Signs `username` in and exchanges the code: the token response.
async fn tokens(base: &str, rp: &Rp, scope: &str, username: &str) -> Value {
    let (_, page, verifier) = sign_in(base, rp, scope, username).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let code = page.redirect_param("code").expect("a code");
    let (status, body) = exchange(base, rp, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn userinfo(server: &Server, access_token: &str) -> Value {
    reqwest::Client::new()
        .get(server.url(routes::USERINFO))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn the_groups_claim_is_in_the_id_token_access_token_and_userinfo_only_with_the_scope(
    backend: Backend,
) {
    let (_sandbox, server, rp) = setup(backend, &[]);
    let base = server.url("");
    let discovery: Value = reqwest::get(server.url(routes::DISCOVERY))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for field in ["scopes_supported", "claims_supported"] {
        assert!(
            discovery[field]
                .as_array()
                .unwrap()
                .contains(&Value::from("groups")),
            "{field}: {discovery}"
        );
    }

    let expected = serde_json::json!(["eng", "staff"]);
    let body = tokens(&base, &rp, "openid groups", "alice").await;
    let (_, id) = jwt_parts(body["id_token"].as_str().unwrap());
    let (_, access) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(id["groups"], expected, "{id}");
    assert_eq!(access["groups"], expected, "{access}");
    let info = userinfo(&server, body["access_token"].as_str().unwrap()).await;
    assert_eq!(info["groups"], expected, "{info}");

    // A person in no group gets an empty list, not a missing claim.
    let body = tokens(&base, &rp, "openid groups", "bob").await;
    let (_, id) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(id["groups"], serde_json::json!([]));

    // Without the scope: no claim anywhere.
    let body = tokens(&base, &rp, "openid profile", "alice").await;
    let (_, id) = jwt_parts(body["id_token"].as_str().unwrap());
    let (_, access) = jwt_parts(body["access_token"].as_str().unwrap());
    assert!(id.get("groups").is_none(), "{id}");
    assert!(access.get("groups").is_none(), "{access}");
    let info = userinfo(&server, body["access_token"].as_str().unwrap()).await;
    assert!(info.get("groups").is_none(), "{info}");
}

async fn a_non_member_sees_the_no_access_page_and_the_app_gets_access_denied(backend: Backend) {
    let (_sandbox, server, rp) = setup(backend, &["staff"]);
    let base = server.url("");

    // bob signs in (right password) and is shown the page, not a code, nor consent.
    let (browser, page, _) = sign_in(&base, &rp, "openid", "bob").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        page.body
            .contains("You do not have access to <span class=\"client\">Staff Portal</span>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Signed in as <strong>bob</strong>"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // Its link goes back to the app with access_denied, the state and the issuer.
    let needle = "id=\"back-to-app\" href=\"";
    let start = page.body.find(needle).unwrap() + needle.len();
    let end = start + page.body[start..].find('"').unwrap();
    let href = page.body[start..end]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&#x3d;", "=")
        .replace("&#61;", "=")
        .replace("&#38;", "&")
        .replace("&#x26;", "&");
    let link = url::Url::parse(&href).unwrap_or_else(|e| panic!("{e}: {href}"));
    assert!(href.starts_with(CALLBACK), "{href}");
    let params: Vec<(String, String)> = link.query_pairs().into_owned().collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(param("error"), Some("access_denied"));
    assert_eq!(param("state"), Some("st"));
    assert!(param("iss").is_some());
    assert!(param("code").is_none());

    // Already signed in: the same page at once; with prompt=none, access_denied to the
    // app directly (no page may be shown).
    let (url, _) = authorize(&base, &rp, "openid", &[]);
    let again = browser.get(&url).await;
    assert_eq!(again.status, 403, "{}", again.body);
    let (url, _) = authorize(&base, &rp, "openid", &[("prompt", "none")]);
    let silent = browser.get(&url).await;
    assert_eq!(silent.status, 303, "{}", silent.body);
    assert_eq!(
        silent.redirect_param("error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(silent.redirect_param("state").as_deref(), Some("st"));

    // alice, a member, gets her code.
    let (_, page, _) = sign_in(&base, &rp, "openid", "alice").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.redirect_param("code").is_some());
}

async fn a_member_removed_after_signing_in_is_refused_at_the_next_refresh(backend: Backend) {
    let (sandbox, server, rp) = setup(backend, &["staff"]);
    let base = server.url("");
    let body = tokens(&base, &rp, "openid offline_access groups", "alice").await;
    let first = body["refresh_token"].as_str().unwrap().to_owned();

    // A membership change shows at the next refresh.
    ok(&sandbox, &["group", "remove-member", "eng", "alice"]);
    let (status, body) = refresh(&base, &rp, &first).await;
    assert_eq!(status, 200, "{body}");
    let (_, access) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(access["groups"], serde_json::json!(["staff"]));
    let second = body["refresh_token"].as_str().unwrap().to_owned();

    // Removed from the allowed group: refused, and the family is revoked for good.
    ok(&sandbox, &["group", "remove-member", "staff", "alice"]);
    let (status, body) = refresh(&base, &rp, &second).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    ok(&sandbox, &["group", "add-member", "staff", "alice"]);
    let (status, body) = refresh(&base, &rp, &second).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "the refresh token has been revoked"
    );
}

fn the_cli_manages_groups_and_members_and_restricts_clients(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    // The database and KEK exist once serve has started.
    sandbox.serve().stop();
    let list = sandbox.usher(&["group", "list", "--json"], None).json();
    assert_eq!(list[0]["name"], "usher-admins");
    assert_eq!(list[0]["built_in"], true);

    let created = sandbox
        .usher(
            &[
                "group",
                "create",
                "sales",
                "--description",
                "Sales team",
                "--json",
            ],
            None,
        )
        .json();
    assert_eq!(created["name"], "sales");
    assert_eq!(created["description"], "Sales team");
    let again = sandbox.usher(&["group", "create", "sales"], None);
    assert_eq!(again.code(), Some(2), "{}", again.stderr());
    let bad = sandbox.usher(&["group", "create", "two words"], None);
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr());

    sandbox.user("alice", PASSWORD, &[]);
    let added = sandbox
        .usher(&["group", "add-member", "sales", "alice", "--json"], None)
        .json();
    assert_eq!(added["changed"], true);
    let twice = sandbox
        .usher(&["group", "add-member", "sales", "alice", "--json"], None)
        .json();
    assert_eq!(twice["changed"], false);
    let nobody = sandbox.usher(&["group", "add-member", "sales", "carol"], None);
    assert!(!nobody.ok());
    assert!(
        nobody.stderr().contains("no user carol"),
        "{}",
        nobody.stderr()
    );
    ok(&sandbox, &["group", "add-member", "usher-admins", "alice"]);

    let shown = sandbox
        .usher(&["group", "show", "sales", "--json"], None)
        .json();
    assert_eq!(shown["members"], serde_json::json!(["alice"]));
    let list = sandbox.usher(&["group", "list", "--json"], None).json();
    let names: Vec<(&str, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["members"].as_u64().unwrap()))
        .collect();
    assert_eq!(names, [("sales", 1), ("usher-admins", 1)]);

    // Clients: --allowed-group names an existing group; a restricted group cannot be
    // deleted; --no-allowed-groups lifts the restriction.
    let typo = sandbox.usher(
        &[
            "client",
            "create",
            "--name",
            "CRM",
            "--redirect-uri",
            CALLBACK,
            "--allowed-group",
            "sale",
        ],
        None,
    );
    assert_eq!(typo.code(), Some(2), "{}", typo.stderr());
    let crm = sandbox.client(&[
        "--name",
        "CRM",
        "--redirect-uri",
        CALLBACK,
        "--allowed-group",
        "sales",
    ]);
    assert_eq!(crm["allowed_groups"], serde_json::json!(["sales"]));
    let id = crm["client_id"].as_str().unwrap();
    let refused = sandbox.usher(&["group", "delete", "sales"], None);
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr());
    assert!(refused.stderr().contains(id), "{}", refused.stderr());
    let updated = sandbox
        .usher(
            &[
                "client",
                "update",
                id,
                "--allowed-group",
                "usher-admins",
                "--json",
            ],
            None,
        )
        .json();
    assert_eq!(
        updated["allowed_groups"],
        serde_json::json!(["usher-admins"])
    );
    let lifted = sandbox
        .usher(
            &["client", "update", id, "--no-allowed-groups", "--json"],
            None,
        )
        .json();
    assert_eq!(lifted["allowed_groups"], serde_json::json!([]));

    ok(&sandbox, &["group", "remove-member", "sales", "alice"]);
    let removed = sandbox
        .usher(
            &["group", "remove-member", "sales", "alice", "--json"],
            None,
        )
        .json();
    assert_eq!(removed["changed"], false);
    ok(&sandbox, &["group", "delete", "sales"]);
    let gone = sandbox.usher(&["group", "show", "sales"], None);
    assert!(!gone.ok());
    let builtin = sandbox.usher(&["group", "delete", "usher-admins"], None);
    assert_eq!(builtin.code(), Some(2), "{}", builtin.stderr());
}
