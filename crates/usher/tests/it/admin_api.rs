//! The admin API end to end (issue 17, docs/design/admin-api.md): who may call it (no
//! token, a token for another audience, `admin:read` trying to change, a deleted
//! client), every operation with the CLI's rules and error texts, `ETag`/`If-Match`
//! (required, stale, and raced: of concurrent updates with one tag exactly one wins),
//! paged lists, the OpenAPI document (validated by openapi-spec-validator, and every
//! operation in it answering), and `admin_bind`.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::async_on_both_backends;
use crate::helpers::{Backend, Browser, Sandbox, Server};
use crate::refresh::{PASSWORD, Rp, SCOPE, post_form, refresh, register, tokens};

async_on_both_backends!(
    only_a_token_for_the_admin_audience_with_the_right_scope_opens_it,
    clients_groups_and_resources_through_the_api,
    of_concurrent_updates_with_one_etag_exactly_one_wins,
    people_through_the_api,
    signing_keys_through_the_api,
    every_change_through_the_api_is_in_the_audit_trail,
    the_openapi_document_is_valid_and_every_operation_in_it_answers,
);

pub(crate) const V1: &str = "/admin/api/v1";

/// Runs `usher` in the sandbox and insists on success.
pub(crate) fn ok(sandbox: &Sandbox, args: &[&str]) -> String {
    let run = sandbox.usher(args, None);
    assert!(run.ok(), "usher {args:?}: {}", run.stderr());
    run.stdout()
}

/// A `client_credentials` client for the admin audience with `scope`; its token.
pub(crate) async fn admin_token(sandbox: &Sandbox, server: &Server, scope: &str) -> (Rp, String) {
    let audience = format!("{}/admin", server.issuer);
    let c = sandbox.client(&[
        "--name",
        "Automation",
        "--grant-type",
        "client_credentials",
        "--audience",
        &audience,
        "--scope",
        scope,
    ]);
    let rp = Rp {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
    };
    let token = token(server, &rp).await;
    (rp, token)
}

async fn token(server: &Server, rp: &Rp) -> String {
    let (status, body) = post_form(
        &server.base,
        usher_http::routes::TOKEN,
        rp,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// One answer: status, headers we read, JSON body (or `Null`).
pub(crate) struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub challenge: Option<String>,
    pub body: Value,
}

pub(crate) async fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    if_match: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    call_at(&server.base, method, path, token, if_match, body).await
}

pub(crate) async fn call_at(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    if_match: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(m) = if_match {
        request = request.header("If-Match", m);
    }
    if let Some(b) = body {
        request = request.json(b);
    }
    let response = request.send().await.expect("the request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (status, etag, challenge) = (
        response.status().as_u16(),
        header("etag"),
        header("www-authenticate"),
    );
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        etag,
        challenge,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn only_a_token_for_the_admin_audience_with_the_right_scope_opens_it(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let clients = format!("{V1}/clients");
    // No token.
    let a = call(&server, "GET", &clients, None, None, None).await;
    assert_eq!(a.status, 401);
    assert!(a.challenge.unwrap().starts_with("Bearer"));
    // Not a token.
    let a = call(&server, "GET", &clients, Some("nonsense"), None, None).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    // A real token of this server for another audience, with the admin scopes.
    let other = sandbox.client(&[
        "--name",
        "Other API caller",
        "--grant-type",
        "client_credentials",
        "--audience",
        "https://api.example",
        "--scope",
        "admin:read admin:write",
    ]);
    let other = Rp {
        id: other["client_id"].as_str().unwrap().to_owned(),
        secret: other["client_secret"].as_str().unwrap().to_owned(),
    };
    let wrong_audience = token(&server, &other).await;
    let a = call(&server, "GET", &clients, Some(&wrong_audience), None, None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(
        a.body["error_description"],
        "the access token is not meant for the admin API"
    );
    // admin:read reads, and may not change.
    let (_, reader) = admin_token(&sandbox, &server, "admin:read").await;
    let a = call(&server, "GET", &clients, Some(&reader), None, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = call(
        &server,
        "POST",
        &format!("{V1}/groups"),
        Some(&reader),
        None,
        Some(&json!({"name": "staff"})),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    assert!(a.challenge.unwrap().contains("scope=\"admin:write\""));
    ok(&sandbox, &["group", "show", "usher-admins"]);
    let run = sandbox.usher(&["group", "show", "staff"], None);
    assert!(!run.ok(), "a refused write wrote nothing");
    // A writer whose client is deleted: its unexpired token stops at once.
    let (writer_rp, writer) = admin_token(&sandbox, &server, "admin:read admin:write").await;
    let a = call(&server, "GET", &clients, Some(&writer), None, None).await;
    assert_eq!(a.status, 200);
    ok(&sandbox, &["client", "delete", &writer_rp.id]);
    let a = call(&server, "GET", &clients, Some(&writer), None, None).await;
    assert_eq!(a.status, 403, "{}", a.body);
}

async fn clients_groups_and_resources_through_the_api(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let (_, t) = admin_token(&sandbox, &server, "admin:write").await;
    let t = Some(t.as_str());
    sandbox.user("alice", "correct horse battery staple", &[]);

    // Groups: create, duplicate, member, show, page.
    for name in ["staff", "eng", "ops"] {
        let a = call(
            &server,
            "POST",
            &format!("{V1}/groups"),
            t,
            None,
            Some(&json!({"name": name})),
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let a = call(
        &server,
        "POST",
        &format!("{V1}/groups"),
        t,
        None,
        Some(&json!({"name": "staff"})),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error_description"].as_str()),
        (409, Some("a group staff already exists"))
    );
    let a = call(
        &server,
        "PUT",
        &format!("{V1}/groups/staff/members/alice"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, &a.body["changed"]),
        (200, &json!(true)),
        "{}",
        a.body
    );
    let a = call(
        &server,
        "PUT",
        &format!("{V1}/groups/staff/members/alice"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.body["changed"], json!(false));
    let a = call(
        &server,
        "PUT",
        &format!("{V1}/groups/staff/members/nobody"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.body["error_description"].as_str()),
        (404, Some("no user nobody"))
    );
    let a = call(&server, "GET", &format!("{V1}/groups/staff"), t, None, None).await;
    assert_eq!(a.body["members"], json!(["alice"]));
    assert!(a.etag.is_some());
    // Paged: four groups (with usher-admins), two a page, in name order.
    let mut names = Vec::new();
    let mut path = format!("{V1}/groups?limit=2");
    loop {
        let a = call(&server, "GET", &path, t, None, None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body["items"].as_array().unwrap().len() <= 2);
        names.extend(
            a.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_owned()),
        );
        match a.body["next"].as_str() {
            Some(next) => path = format!("{V1}/groups?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(names, ["eng", "ops", "staff", "usher-admins"]);
    let a = call(
        &server,
        "GET",
        &format!("{V1}/groups?limit=0"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 400);
    let a = call(
        &server,
        "DELETE",
        &format!("{V1}/groups/usher-admins"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = call(
        &server,
        "DELETE",
        &format!("{V1}/groups/ops"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 204);

    // Clients: the same rules and texts as the CLI.
    let bad = json!({"name": "Bad", "redirect_uris": ["not a uri"]});
    let a = call(
        &server,
        "POST",
        &format!("{V1}/clients"),
        t,
        None,
        Some(&bad),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let cli = sandbox.usher(
        &[
            "client",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "not a uri",
        ],
        None,
    );
    assert!(!cli.ok());
    assert!(
        cli.stderr()
            .contains(a.body["error_description"].as_str().unwrap()),
        "the API said {} and the CLI {}",
        a.body,
        cli.stderr()
    );
    let unknown = json!({"name": "Typo", "redirect_uri": ["https://app.example/cb"]});
    let a = call(
        &server,
        "POST",
        &format!("{V1}/clients"),
        t,
        None,
        Some(&unknown),
    )
    .await;
    assert_eq!(a.status, 400, "an unknown member is refused, not ignored");
    let a = call(
        &server,
        "POST",
        &format!("{V1}/clients"),
        t,
        None,
        Some(&json!({
            "name": "Reports",
            "grant_types": ["client_credentials"],
            "audiences": ["https://reports.example"],
            "scope": "reports:read",
        })),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["client_id"].as_str().unwrap().to_owned();
    let first_secret = a.body["client_secret"].as_str().unwrap().to_owned();
    let path = format!("{V1}/clients/{id}");
    let shown = call(&server, "GET", &path, t, None, None).await;
    assert_eq!(shown.body["name"], "Reports");
    assert!(
        shown.body.get("client_secret").is_none(),
        "a secret is shown once"
    );
    // The CLI shows the same view.
    let cli: Value =
        serde_json::from_str(&ok(&sandbox, &["client", "show", &id, "--json"])).unwrap();
    assert_eq!(cli, shown.body);
    let tag = shown.etag.unwrap();
    let change = json!({"allowed_groups": ["staff"]});
    let a = call(&server, "PATCH", &path, t, None, Some(&change)).await;
    assert_eq!(a.status, 428, "If-Match is required");
    let a = call(&server, "PATCH", &path, t, Some("*"), Some(&change)).await;
    assert_eq!(a.status, 428, "If-Match: * would match anything: refused");
    let a = call(&server, "PATCH", &path, t, Some("\"stale\""), Some(&change)).await;
    assert_eq!(a.status, 412);
    let a = call(
        &server,
        "PATCH",
        &path,
        t,
        Some(&tag),
        Some(&json!({"allowed_groups": ["nosuch"]})),
    )
    .await;
    assert_eq!(a.status, 400);
    let a = call(&server, "PATCH", &path, t, Some(&tag), Some(&change)).await;
    assert_eq!(
        (a.status, &a.body["allowed_groups"]),
        (200, &json!(["staff"])),
        "{}",
        a.body
    );
    assert_ne!(a.etag.as_deref(), Some(tag.as_str()));
    // The old tag is stale now.
    let a = call(
        &server,
        "PATCH",
        &path,
        t,
        Some(&tag),
        Some(&json!({"allowed_groups": []})),
    )
    .await;
    assert_eq!(a.status, 412);
    // A group a client is restricted to cannot be deleted.
    let a = call(
        &server,
        "DELETE",
        &format!("{V1}/groups/staff"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    // Rotate: the old secret stops, the new one works.
    let a = call(
        &server,
        "POST",
        &format!("{path}/rotate-secret"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let new_secret = a.body["client_secret"].as_str().unwrap().to_owned();
    let (status, _) = post_form(
        &server.base,
        usher_http::routes::TOKEN,
        &Rp {
            id: id.clone(),
            secret: first_secret,
        },
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = post_form(
        &server.base,
        usher_http::routes::TOKEN,
        &Rp {
            id: id.clone(),
            secret: new_secret,
        },
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let a = call(
        &server,
        "GET",
        &format!("{V1}/clients/usher-account"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 400);
    let a = call(&server, "DELETE", &path, t, None, None).await;
    assert_eq!(a.status, 204);
    let a = call(&server, "GET", &path, t, None, None).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (404, Some("not_found"))
    );

    // Resources, named by their percent-encoded identifier.
    let a = call(
        &server,
        "POST",
        &format!("{V1}/resources"),
        t,
        None,
        Some(
            &json!({"uri": "https://api.example/v1", "scope": "invoices:read", "name": "Invoices"}),
        ),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let path = format!("{V1}/resources/https%3A%2F%2Fapi.example%2Fv1");
    let shown = call(&server, "GET", &path, t, None, None).await;
    assert_eq!(
        (shown.status, &shown.body["name"]),
        (200, &json!("Invoices")),
        "{}",
        shown.body
    );
    let a = call(
        &server,
        "PATCH",
        &path,
        t,
        shown.etag.as_deref(),
        Some(&json!({"name": null, "scope": "invoices:read invoices:write"})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["name"], Value::Null);
    assert_eq!(a.body["scopes"], json!(["invoices:read", "invoices:write"]));
    let a = call(
        &server,
        "POST",
        &format!("{V1}/resources"),
        t,
        None,
        Some(&json!({"uri": format!("{}/admin", server.issuer), "scope": "x:y"})),
    )
    .await;
    // The admin audience cannot be registered as a resource server (a client allowed
    // one of its scopes could then get tokens for the admin API).
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .ends_with("it is the audience of Usher's admin API"),
        "{}",
        a.body
    );
    let a = call(&server, "DELETE", &path, t, None, None).await;
    assert_eq!(a.status, 204);
}

async fn of_concurrent_updates_with_one_etag_exactly_one_wins(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let (_, t) = admin_token(&sandbox, &server, "admin:write").await;
    for g in ["g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"] {
        ok(&sandbox, &["group", "create", g]);
    }
    let c = sandbox.client(&[
        "--name",
        "Portal",
        "--redirect-uri",
        "https://portal.example/cb",
    ]);
    let path = format!("{V1}/clients/{}", c["client_id"].as_str().unwrap());
    let tag = call(&server, "GET", &path, Some(&t), None, None)
        .await
        .etag
        .unwrap();
    let mut racers = Vec::new();
    for i in 0..8 {
        let (base, path, t, tag) = (server.base.clone(), path.clone(), t.clone(), tag.clone());
        racers.push(tokio::spawn(async move {
            let change = json!({"allowed_groups": [format!("g{i}")]});
            call_at(&base, "PATCH", &path, Some(&t), Some(&tag), Some(&change)).await
        }));
    }
    let mut won = Vec::new();
    for r in racers {
        let a = r.await.unwrap();
        match a.status {
            200 => won.push(a.body["allowed_groups"].clone()),
            412 => {}
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert_eq!(won.len(), 1, "exactly one update with the tag wins");
    let now = call(&server, "GET", &path, Some(&t), None, None).await;
    assert_eq!(
        now.body["allowed_groups"], won[0],
        "and what is stored is the winner's"
    );
}

async fn the_openapi_document_is_valid_and_every_operation_in_it_answers(backend: Backend) {
    let mut sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let doc = call(&server, "GET", "/admin/api/openapi.json", None, None, None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    // Validated by an independent implementation of the OpenAPI 3.1 schema.
    let file = sandbox.path().join("openapi.json");
    std::fs::write(&file, doc.body.to_string()).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = repo.join(".venv/bin/python");
    assert!(
        python.exists(),
        "the OpenAPI validator runs in the repository's .venv: run ./test (it installs e2e/authlib/requirements.txt there)"
    );
    let out = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("openapi-spec-validator runs");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation it lists exists: without a token each answers 401 (not 404 or
    // 405), and with a reader's token every list answers 200.
    let (_, reader) = admin_token(&sandbox, &server, "admin:read").await;
    let mut operations = 0;
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{client_id}", "00000000-0000-4000-8000-000000000000")
                .replace("{name}", "staff")
                .replace("{username}", "alice")
                .replace("{uri}", "https%3A%2F%2Fapi.example")
                .replace("{id}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .replace("{kid}", "no-such-kid")
                .replace("{handle}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
            let a = call(&server, &method.to_uppercase(), &concrete, None, None, None).await;
            assert_eq!(a.status, 401, "{method} {path}: {}", a.body);
            operations += 1;
            if method == "get" && !path.contains('{') {
                let a = call(&server, "GET", &concrete, Some(&reader), None, None).await;
                assert_eq!(a.status, 200, "{method} {path}: {}", a.body);
            }
        }
    }
    assert!(operations >= 31, "{operations} operations");
    // With admin_bind, the API is on its own listener and not on the main one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    drop(server);
    sandbox.set_env("USHER_ADMIN_BIND", &format!("127.0.0.1:{port}"));
    let main = sandbox.serve();
    let a = call(&main, "GET", &format!("{V1}/clients"), None, None, None).await;
    assert_eq!(a.status, 404);
    let admin_base = format!("http://127.0.0.1:{port}");
    let a = call_at(
        &admin_base,
        "GET",
        &format!("{V1}/clients"),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 401);
}

async fn people_through_the_api(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let (_, t) = admin_token(&sandbox, &server, "admin:write").await;
    let t = Some(t.as_str());
    let people = format!("{V1}/people");
    // Created with a password nobody here signs in with; the same rules as the CLI.
    let alice = json!({"username": "alice", "password": "a first password of hers", "name": "Alice", "email": "alice@example.com", "email_verified": true});
    let a = call(&server, "POST", &people, t, None, Some(&alice)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(a.body.get("password_hash").is_none() && a.body.get("password").is_none());
    let a = call(&server, "POST", &people, t, None, Some(&alice)).await;
    assert_eq!(
        (a.status, a.body["error_description"].as_str()),
        (409, Some("username alice is taken"))
    );
    let a = call(
        &server,
        "POST",
        &people,
        t,
        None,
        Some(&json!({"username": "bob", "password": "x", "email_verified": true})),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let run = sandbox.usher(&["user", "show", "bob"], None);
    assert!(!run.ok(), "a refused create wrote nothing");
    let a = call(&server, "GET", &format!("{people}/alice"), t, None, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["second_factors"]["recovery_codes_left"], 0);
    assert_eq!(a.body["groups"], json!([]));
    let a = call(&server, "GET", &format!("{people}?limit=1"), t, None, None).await;
    assert_eq!(a.body["items"][0]["username"], "alice");
    // A new password: she signs in with it, and a second one (sessions ended by
    // default) stops her refresh token.
    let a = call(
        &server,
        "PUT",
        &format!("{people}/alice/password"),
        t,
        None,
        Some(&json!({"password": PASSWORD, "keep_sessions": true})),
    )
    .await;
    assert_eq!(
        (a.status, &a.body["sessions_ended"]),
        (200, &Value::Null),
        "{}",
        a.body
    );
    let rp = register(&sandbox);
    let browser = Browser::new();
    let issued = tokens(&server.base, &browser, &rp, SCOPE).await;
    let rt = issued["refresh_token"].as_str().unwrap().to_owned();
    // Her family is listed (never a token) and revoked by id.
    let a = call(
        &server,
        "GET",
        &format!("{V1}/families?username=alice"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let items = a.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", a.body);
    assert_eq!(items[0]["state"], "active");
    assert!(!a.body.to_string().contains(&rt));
    let family = items[0]["id"].as_str().unwrap().to_owned();
    let a = call(
        &server,
        "DELETE",
        &format!("{V1}/families/{family}"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    let (status, _) = refresh(&server.base, &rp, &rt).await;
    assert_eq!(status, 400, "a revoked family's token is refused");
    let a = call(
        &server,
        "GET",
        &format!("{V1}/families?username=nobody"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    // A second app sign-in in the same browser: ending her sessions ends its family.
    let issued = tokens(&server.base, &browser, &rp, SCOPE).await;
    let rt = issued["refresh_token"].as_str().unwrap().to_owned();
    let a = call(
        &server,
        "DELETE",
        &format!("{people}/alice/sessions"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body["sessions_ended"].as_u64().unwrap() >= 1,
        "{}",
        a.body
    );
    let (status, body) = refresh(&server.base, &rp, &rt).await;
    assert_eq!(status, 400, "the family ended with the sessions: {body}");
    let a = call(
        &server,
        "DELETE",
        &format!("{people}/alice/second-factors"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, &a.body["factors_removed"]),
        (200, &json!(0)),
        "{}",
        a.body
    );
    let a = call(
        &server,
        "DELETE",
        &format!("{people}/nobody/sessions"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.body["error_description"].as_str()),
        (404, Some("no user nobody"))
    );
    let a = call(&server, "DELETE", &format!("{people}/alice"), t, None, None).await;
    assert_eq!(a.status, 204);
    let a = call(&server, "GET", &format!("{people}/alice"), t, None, None).await;
    assert_eq!(a.status, 404);
}

async fn signing_keys_through_the_api(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let (_, reader) = admin_token(&sandbox, &server, "admin:read").await;
    let (_, t) = admin_token(&sandbox, &server, "admin:write").await;
    let t = Some(t.as_str());
    let keys = format!("{V1}/keys");
    let listed = call(&server, "GET", &keys, Some(&reader), None, None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let active: Vec<&Value> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "active")
        .collect();
    assert_eq!(
        active.len(),
        3,
        "one active key per algorithm: {}",
        listed.body
    );
    assert!(
        !listed.body.to_string().contains("private"),
        "never a private half"
    );
    // The CLI lists the same.
    let cli: Value = serde_json::from_str(&ok(&sandbox, &["keys", "list", "--json"])).unwrap();
    assert_eq!(cli, listed.body);
    let a = call(
        &server,
        "POST",
        &format!("{keys}/rotate"),
        Some(&reader),
        None,
        Some(&json!({})),
    )
    .await;
    assert_eq!(a.status, 403, "a reader rotates nothing");
    let a = call(
        &server,
        "POST",
        &format!("{keys}/rotate"),
        t,
        None,
        Some(&json!({"alg": "es256"})),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = call(
        &server,
        "POST",
        &format!("{keys}/rotate"),
        t,
        None,
        Some(&json!({"alg": "ES256"})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["published"][0]["created_now"], json!(true));
    assert_eq!(a.body["published"][0]["key"]["state"], "next");
    let next = a.body["published"][0]["key"]["kid"].clone();
    let a = call(
        &server,
        "POST",
        &format!("{keys}/rotate"),
        t,
        None,
        Some(&json!({"alg": "ES256"})),
    )
    .await;
    assert_eq!(
        (
            &a.body["published"][0]["created_now"],
            &a.body["published"][0]["key"]["kid"]
        ),
        (&json!(false), &next)
    );
    // At once: the EdDSA next key (new) signs now, the old one retires.
    let old_eddsa = active.iter().find(|k| k["alg"] == "EdDSA").unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = call(
        &server,
        "POST",
        &format!("{keys}/rotate"),
        t,
        None,
        Some(&json!({"alg": "EdDSA", "now": true})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let promoted = &a.body["promoted"][0];
    assert_eq!(
        (&promoted["previous"]["kid"], &promoted["previous"]["state"]),
        (&json!(old_eddsa), &json!("retired"))
    );
    // The retired key, compromised after all: removed from the JWKS.
    let a = call(
        &server,
        "POST",
        &format!("{keys}/{old_eddsa}/retire"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, &a.body["removed"]),
        (200, &json!(old_eddsa)),
        "{}",
        a.body
    );
    let a = call(
        &server,
        "POST",
        &format!("{keys}/{old_eddsa}/retire"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 409, "already removed: {}", a.body);
    let a = call(
        &server,
        "POST",
        &format!("{keys}/no-such-kid/retire"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    let a = call(
        &server,
        "POST",
        &format!("{keys}/bad%20kid/retire"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 400);
}

async fn every_change_through_the_api_is_in_the_audit_trail(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let (automation, t) = admin_token(&sandbox, &server, "admin:write").await;
    let (_, reader) = admin_token(&sandbox, &server, "admin:read").await;
    let t = Some(t.as_str());
    let a = call(
        &server,
        "POST",
        &format!("{V1}/groups"),
        t,
        None,
        Some(&json!({"name": "staff"})),
    )
    .await;
    assert_eq!(a.status, 201);
    let a = call(
        &server,
        "POST",
        &format!("{V1}/people"),
        t,
        None,
        Some(&json!({"username": "alice", "password": PASSWORD})),
    )
    .await;
    assert_eq!(a.status, 201);
    let alice = a.body["id"].as_str().unwrap().to_owned();
    let a = call(
        &server,
        "PUT",
        &format!("{V1}/groups/staff/members/alice"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    let a = call(&server, "POST", &format!("{V1}/clients"), t, None, Some(&json!({"name": "Portal", "redirect_uris": ["https://portal.example/cb"], "allowed_groups": ["staff"]}))).await;
    assert_eq!(a.status, 201);
    let portal = a.body["client_id"].as_str().unwrap().to_owned();
    let secret = a.body["client_secret"].as_str().unwrap().to_owned();
    let a = call(
        &server,
        "POST",
        &format!("{V1}/clients/{portal}/rotate-secret"),
        t,
        None,
        None,
    )
    .await;
    let rotated = a.body["client_secret"].as_str().unwrap().to_owned();
    // Newest first, each by the automation client, from the loopback address.
    let trail = call(
        &server,
        "GET",
        &format!("{V1}/audit?limit=10"),
        Some(&reader),
        None,
        None,
    )
    .await;
    assert_eq!(trail.status, 200, "{}", trail.body);
    let kinds: Vec<&str> = trail.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    let expected = [
        "client.secret_rotated",
        "client.created",
        "group.member_added",
        "person.created",
        "group.created",
    ];
    assert_eq!(&kinds[..5], &expected, "{}", trail.body);
    let actor = format!("client:{}", automation.id);
    for e in &trail.body["events"].as_array().unwrap()[..5] {
        assert_eq!(e["actor"], json!(actor), "{e}");
        assert_eq!(e["address"], "127.0.0.1", "{e}");
    }
    let text = trail.body.to_string();
    for never in [&secret, &rotated, PASSWORD, "$argon2"] {
        assert!(!text.contains(never), "the trail holds no secret");
    }
    assert_eq!(
        trail.body["events"][1]["detail"]["after"]["allowed_groups"],
        json!(["staff"])
    );
    assert_eq!(trail.body["events"][2]["person_id"], json!(alice));
    // Filters: by client, by kind, by person; a bad kind is refused.
    let a = call(
        &server,
        "GET",
        &format!("{V1}/audit?client={portal}"),
        Some(&reader),
        None,
        None,
    )
    .await;
    assert_eq!(a.body["events"].as_array().unwrap().len(), 2, "{}", a.body);
    let a = call(
        &server,
        "GET",
        &format!("{V1}/audit?kind=person.created&person={alice}"),
        Some(&reader),
        None,
        None,
    )
    .await;
    assert_eq!(a.body["events"].as_array().unwrap().len(), 1, "{}", a.body);
    let a = call(
        &server,
        "GET",
        &format!("{V1}/audit?kind=nonsense"),
        Some(&reader),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 400);
    // The export: JSON lines, oldest first, the same events as the CLI's.
    let response = reqwest::Client::new()
        .get(format!("{}{V1}/audit/export", server.base))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("usher-next-after").is_none());
    let lines: Vec<Value> = response
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<i64> = lines.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "oldest first");
    let cli = sandbox.usher(&["audit", "export"], None);
    assert!(cli.ok(), "{}", cli.stderr());
    let cli_lines: Vec<Value> = cli
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        cli_lines, lines,
        "the CLI and the API export the same events"
    );
}
