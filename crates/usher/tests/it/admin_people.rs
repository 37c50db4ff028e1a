//! Updating and disabling people through the admin API and the CLI (issue 17,
//! docs/administration.md): `PATCH /people/{username}` needs `If-Match` (428 without,
//! 412 stale, `*` never matches) and of concurrent updates with one tag exactly one wins;
//! a disabled person's refresh token and password sign-in are refused (the page says so
//! only after the right password), `admin:read` cannot disable, and enabled again they
//! sign in; `usher user update|disable|enable` with the same rules and texts.

use serde_json::json;

use crate::admin_api::{V1, admin_token, call, call_at, ok};
use crate::async_on_both_backends;
use crate::helpers::{Backend, Browser, Sandbox, authorize_url, pkce, sign_in};
use crate::refresh::{CALLBACK, PASSWORD, Rp, SCOPE, refresh, register, tokens};

async_on_both_backends!(
    a_person_is_updated_with_if_match_and_one_of_concurrent_updates_wins,
    a_disabled_person_cannot_refresh_or_sign_in_until_enabled,
    the_cli_updates_disables_and_enables_a_person,
);

async fn a_person_is_updated_with_if_match_and_one_of_concurrent_updates_wins(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    sandbox.user("alice", PASSWORD, &[]);
    let server = sandbox.serve();
    let (_, w) = admin_token(&sandbox, &server, "admin:write").await;
    let t = Some(w.as_str());
    let path = format!("{V1}/people/alice");
    let read = call(&server, "GET", &path, t, None, None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["disabled"], false);
    let tag = read.etag.unwrap();
    let change = json!({"name": "Alice"});
    // If-Match is required, `*` is not a tag, and a stale one is refused.
    let a = call(&server, "PATCH", &path, t, None, Some(&change)).await;
    assert_eq!(a.status, 428, "{}", a.body);
    let a = call(&server, "PATCH", &path, t, Some("*"), Some(&change)).await;
    assert_eq!(a.status, 428, "{}", a.body);
    let a = call(&server, "PATCH", &path, t, Some("\"stale\""), Some(&change)).await;
    assert_eq!(a.status, 412, "{}", a.body);
    // The rules and texts of create.
    let a = call(
        &server,
        "PATCH",
        &path,
        t,
        Some(&tag),
        Some(&json!({"email": "nope"})),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error_description"].as_str()),
        (
            400,
            Some("the e-mail address is not of the form name@domain")
        )
    );
    let a = call(
        &server,
        "PATCH",
        &path,
        t,
        Some(&tag),
        Some(&json!({"email_verified": true})),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error_description"].as_str()),
        (400, Some("--email-verified needs --email"))
    );
    let a = call(
        &server,
        "PATCH",
        &path,
        t,
        Some(&tag),
        Some(&json!({"password": "x"})),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    // Eight administrators with the same tag: exactly one wins.
    let mut racers = Vec::new();
    for i in 0..8 {
        let (base, path, w, tag) = (server.base.clone(), path.clone(), w.clone(), tag.clone());
        racers.push(tokio::spawn(async move {
            let change = json!({"name": format!("Alice {i}")});
            call_at(&base, "PATCH", &path, Some(&w), Some(&tag), Some(&change)).await
        }));
    }
    let mut won = Vec::new();
    for r in racers {
        let a = r.await.unwrap();
        match a.status {
            200 => won.push((a.body["name"].clone(), a.etag.unwrap())),
            412 => {}
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert_eq!(won.len(), 1, "exactly one update with the tag wins");
    let now = call(&server, "GET", &path, t, None, None).await;
    assert_eq!(now.body["name"], won[0].0);
    assert_eq!(
        now.etag.as_deref(),
        Some(won[0].1.as_str()),
        "the answer's tag is the new one"
    );
    // null removes a value; a new address is not verified.
    let a = call(
        &server,
        "PATCH",
        &path,
        t,
        now.etag.as_deref(),
        Some(&json!({"name": null, "email": "alice@example.org"})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["name"], serde_json::Value::Null);
    assert_eq!(a.body["email"], "alice@example.org");
    assert_eq!(a.body["email_verified"], false);
    let a = call(
        &server,
        "GET",
        &format!("{V1}/audit?kind=person.updated"),
        t,
        None,
        None,
    )
    .await;
    assert_eq!(a.body["events"].as_array().unwrap().len(), 2, "{}", a.body);
    let a = call(
        &server,
        "PATCH",
        &format!("{V1}/people/nobody"),
        t,
        Some(&tag),
        Some(&change),
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
}

/// Signs alice in to `rp` with `password` in a new browser; the last page.
async fn password_sign_in(base: &str, rp: &Rp, password: &str) -> crate::helpers::Page {
    let browser = Browser::new();
    let p = pkce();
    let url = authorize_url(
        base,
        &[
            ("response_type", "code"),
            ("client_id", rp.id.as_str()),
            ("redirect_uri", CALLBACK),
            ("scope", SCOPE),
            ("state", "st"),
            ("code_challenge", p.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    sign_in(&browser, base, &url, "alice", password).await
}

async fn a_disabled_person_cannot_refresh_or_sign_in_until_enabled(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    sandbox.user("alice", PASSWORD, &[]);
    let server = sandbox.serve();
    let (_, w) = admin_token(&sandbox, &server, "admin:write").await;
    let (_, r) = admin_token(&sandbox, &server, "admin:read").await;
    let rp = register(&sandbox);
    let issued = tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    let rt = issued["refresh_token"].as_str().unwrap().to_owned();
    let path = format!("{V1}/people/alice");
    let before = call(&server, "GET", &path, Some(&w), None, None).await.etag;

    let a = call(
        &server,
        "POST",
        &format!("{path}/disable"),
        Some(&r),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 403, "a reader cannot disable: {}", a.body);
    let a = call(
        &server,
        "POST",
        &format!("{path}/disable"),
        Some(&w),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["disabled"], true);
    assert!(a.body["disabled_at"].is_string());
    assert_ne!(a.etag, before, "the state is in the tag");

    let (status, body) = refresh(&server.base, &rp, &rt).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // A wrong password learns nothing; the right one is told the account is disabled.
    let page = password_sign_in(&server.base, &rp, "not her password").await;
    assert_eq!(page.status, 401);
    assert!(!page.body.contains("disabled"), "{}", page.body);
    let page = password_sign_in(&server.base, &rp, PASSWORD).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        page.body.contains("This account is disabled"),
        "{}",
        page.body
    );

    let a = call(
        &server,
        "POST",
        &format!("{path}/enable"),
        Some(&w),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["disabled"], false);
    let page = password_sign_in(&server.base, &rp, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    for kind in ["person.disabled", "person.enabled"] {
        let a = call(
            &server,
            "GET",
            &format!("{V1}/audit?kind={kind}"),
            Some(&r),
            None,
            None,
        )
        .await;
        assert_eq!(
            a.body["events"].as_array().unwrap().len(),
            1,
            "{kind}: {}",
            a.body
        );
    }
}

async fn the_cli_updates_disables_and_enables_a_person(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    sandbox.user("alice", PASSWORD, &[]);
    // Refused input writes nothing, with create's texts.
    let run = sandbox.usher(&["user", "update", "alice", "--email", "nope"], None);
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr()
            .contains("the e-mail address is not of the form name@domain"),
        "{}",
        run.stderr()
    );
    let run = sandbox.usher(&["user", "update", "alice"], None);
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr().contains("nothing to change"),
        "{}",
        run.stderr()
    );
    let out: serde_json::Value = serde_json::from_str(&ok(
        &sandbox,
        &[
            "user",
            "update",
            "alice",
            "--name",
            "Alice",
            "--email",
            "alice@example.org",
            "--email-verified",
            "true",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(out["name"], "Alice");
    assert_eq!(out["email_verified"], true);
    let out: serde_json::Value = serde_json::from_str(&ok(
        &sandbox,
        &["user", "update", "alice", "--no-name", "--json"],
    ))
    .unwrap();
    assert_eq!(out["name"], serde_json::Value::Null);
    let out: serde_json::Value =
        serde_json::from_str(&ok(&sandbox, &["user", "disable", "alice", "--json"])).unwrap();
    assert_eq!(out["disabled"], true);
    assert!(ok(&sandbox, &["user", "list"]).contains("(disabled)"));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&sandbox, &["user", "show", "alice", "--json"])).unwrap();
    assert_eq!(shown["disabled"], true);
    let out: serde_json::Value =
        serde_json::from_str(&ok(&sandbox, &["user", "enable", "alice", "--json"])).unwrap();
    assert_eq!(out["disabled"], false);
    let trail = ok(&sandbox, &["audit", "list", "--json"]);
    for kind in ["person.updated", "person.disabled", "person.enabled"] {
        assert!(trail.contains(kind), "{kind} in {trail}");
    }
    let run = sandbox.usher(&["user", "disable", "nobody"], None);
    assert!(!run.ok());
    assert!(run.stderr().contains("no user nobody"), "{}", run.stderr());
}
