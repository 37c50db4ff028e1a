//! Invitations and initial access tokens through the admin API (issue 17): the same
//! operations as `usher user invite | invitations | uninvite` and `usher registration
//! token create | list | revoke`, with their rules and texts; `admin:read` cannot change
//! them; a token made through the API registers a client at `POST /register` until it is
//! revoked; an invitation's link (returned once, when asked for) stops working when the
//! invitation is revoked; of eight concurrent revocations of one token exactly one is
//! done; every change is one audit event, without the token or the link.

use serde_json::{Value, json};

use crate::admin_api::{admin_token, call};
use crate::admin_sessions::open_console;
use crate::async_on_both_backends;
use crate::helpers::{Backend, Browser, Page, Sandbox};
use crate::refresh::PASSWORD;

async_on_both_backends!(
    registration_tokens_through_the_api,
    invitations_through_the_api,
    invitations_and_registration_tokens_in_the_console,
);

const V1: &str = "/admin/api/v1";

fn agent() -> Value {
    json!({
        "client_name": "Agent",
        "redirect_uris": ["http://127.0.0.1:9/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid",
    })
}

async fn register(base: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}{}", usher_http::routes::REGISTER))
        .bearer_auth(token)
        .json(&agent())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn registration_tokens_through_the_api(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend)
        .env("USHER_REGISTRATION", "token")
        .env("USHER_REGISTRATION_RATE_LIMIT", "1000");
    let server = sandbox.serve();
    let (_, writer) = admin_token(&sandbox, &server, "admin:write").await;
    let (_, reader) = admin_token(&sandbox, &server, "admin:read").await;
    let path = format!("{V1}/registration-tokens");

    // A reader may list, not create or revoke.
    let a = call(
        &server,
        "POST",
        &path,
        Some(&reader),
        None,
        Some(&json!({})),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    // The CLI's rules and texts.
    let a = call(
        &server,
        "POST",
        &path,
        Some(&writer),
        None,
        Some(&json!({"expires_in": 5})),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.body["error_description"],
        "--expires-in 5 is not between 60 and 31536000 seconds"
    );
    let a = call(
        &server,
        "POST",
        &path,
        Some(&writer),
        None,
        Some(&json!({"max_uses": 0})),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.body["error_description"],
        "--max-uses 0 is not between 1 and 1000000"
    );

    // Created: the token once, and it registers a client.
    let made = call(
        &server,
        "POST",
        &path,
        Some(&writer),
        None,
        Some(&json!({"expires_in": 600, "max_uses": 2})),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_owned();
    let token = made.body["token"].as_str().unwrap().to_owned();
    assert_eq!(made.body["max_uses"], 2);
    assert_eq!(register(&server.base, &token).await, 201);

    let listed = call(&server, "GET", &path, Some(&reader), None, None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let item = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(item["uses"], 1);
    assert!(!listed.body.to_string().contains(&token), "never listed");
    // The CLI sees it too.
    let cli = sandbox.usher(&["registration", "token", "list", "--json"], None);
    assert!(cli.ok(), "{}", cli.stderr());
    assert!(cli.stdout().contains(&id));

    // Revoked: refused at /register; of eight racing revocations exactly one is done.
    let other = call(&server, "POST", &path, Some(&writer), None, None).await;
    assert_eq!(
        other.status, 201,
        "an empty body takes the defaults: {}",
        other.body
    );
    let one = format!("{path}/{id}");
    let a = call(&server, "DELETE", &one, Some(&reader), None, None).await;
    assert_eq!(a.status, 403);
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (base, one, writer) = (server.base.clone(), one.clone(), writer.clone());
        racing.spawn(async move {
            reqwest::Client::new()
                .delete(format!("{base}{one}"))
                .bearer_auth(writer)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = racing.join_next().await {
        statuses.push(s.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 404, 404, 404, 404, 404, 404, 404]);
    assert_eq!(register(&server.base, &token).await, 401, "revoked");
    let a = call(&server, "DELETE", &one, Some(&writer), None, None).await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.body["error_description"],
        format!("no initial access token with id {id}")
    );
    let a = call(
        &server,
        "DELETE",
        &format!("{path}/nope"),
        Some(&writer),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body["error_description"],
        "\"nope\" is not an initial access token id"
    );

    // One event per change, without the token.
    assert_eq!(
        sandbox.count("audit_events WHERE kind = 'registration.token_issued'"),
        2
    );
    assert_eq!(
        sandbox.count(&format!(
            "audit_events WHERE kind = 'registration.token_revoked' AND target = '{id}'"
        )),
        1
    );
    assert_eq!(
        sandbox.count(&format!(
            "audit_events WHERE detail LIKE '%{}%'",
            &token[..20]
        )),
        0
    );
    server.stop();
}

async fn invitations_through_the_api(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend).env("USHER_SIGNUP", "invite");
    let server = sandbox.serve();
    let (_, writer) = admin_token(&sandbox, &server, "admin:write").await;
    let (_, reader) = admin_token(&sandbox, &server, "admin:read").await;
    let path = format!("{V1}/invitations");
    let invite = json!({"email": "guest@example.org", "name": "Guest", "expires_in": "2d", "return_link": true});

    let a = call(&server, "POST", &path, Some(&reader), None, Some(&invite)).await;
    assert_eq!(a.status, 403, "{}", a.body);
    // No mail server here: without return_link nobody would get the link.
    let a = call(
        &server,
        "POST",
        &path,
        Some(&writer),
        None,
        Some(&json!({"email": "guest@example.org"})),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("no smtp_url: the invitation cannot be mailed"),
        "{}",
        a.body
    );
    let a = call(
        &server,
        "POST",
        &path,
        Some(&writer),
        None,
        Some(&json!({"email": "guest@example.org", "expires_in": "91d", "return_link": true})),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.body["error_description"],
        "--expires-in: a duration such as 3600, 12h or 7d, at most 90d"
    );

    let made = call(&server, "POST", &path, Some(&writer), None, Some(&invite)).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["mailed"], false);
    let link = made.body["link"].as_str().unwrap().to_owned();
    let token = link.split("invite=").nth(1).unwrap().to_owned();

    let listed = call(&server, "GET", &path, Some(&reader), None, None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["email"], "guest@example.org");
    assert_eq!(items[0]["name"], "Guest");
    assert!(!listed.body.to_string().contains(&token), "never listed");
    let cli = sandbox.usher(&["user", "invitations", "--json"], None);
    assert!(
        cli.stdout().contains("guest@example.org"),
        "{}",
        cli.stdout()
    );

    let browser = Browser::new();
    let local = server.url(&link[link.find(usher_http::routes::SIGNUP).unwrap()..]);
    assert_eq!(browser.get(&local).await.status, 200, "live");

    let revoke = format!("{path}/revoke");
    let body = json!({"email": "GUEST@example.org"});
    let a = call(&server, "POST", &revoke, Some(&reader), None, Some(&body)).await;
    assert_eq!(a.status, 403);
    let a = call(&server, "POST", &revoke, Some(&writer), None, Some(&body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["revoked"], 1);
    assert_eq!(browser.get(&local).await.status, 400, "revoked");
    let a = call(&server, "POST", &revoke, Some(&writer), None, Some(&body)).await;
    assert_eq!(a.body["revoked"], 0, "nothing left");
    let a = call(
        &server,
        "POST",
        &revoke,
        Some(&writer),
        None,
        Some(&json!({"email": "not an address"})),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);

    assert_eq!(
        sandbox.count("audit_events WHERE kind = 'invitation.created'"),
        1
    );
    assert_eq!(
        sandbox.count("audit_events WHERE kind = 'invitation.revoked'"),
        1
    );
    assert_eq!(
        sandbox.count(&format!(
            "audit_events WHERE detail LIKE '%{}%'",
            &token[..20]
        )),
        0,
        "never the link"
    );
    // The CLI's commands are audited now too.
    let cli = sandbox.usher(
        &[
            "user",
            "invite",
            "--email",
            "cli@example.org",
            "--print-link",
        ],
        None,
    );
    assert!(cli.ok(), "{}", cli.stderr());
    let cli = sandbox.usher(&["user", "uninvite", "--email", "cli@example.org"], None);
    assert!(cli.ok(), "{}", cli.stderr());
    assert_eq!(
        sandbox.count("audit_events WHERE kind LIKE 'invitation.%' AND actor = 'cli'"),
        2
    );
    server.stop();
}

/// The text of the element with `id` on `page` (a `<code id=…>` the page shows once).
fn shown(page: &Page, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} on the page: {}", page.body));
    let start = page.body[at..].find('>').unwrap() + at + 1;
    let end = page.body[start..].find("</code>").unwrap() + start;
    page.body[start..end].to_owned()
}

/// The first link on `page` that starts with `prefix`.
fn href(page: &Page, prefix: &str) -> String {
    let start = page
        .body
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link: {}", page.body));
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].replace("&amp;", "&")
}

async fn invitations_and_registration_tokens_in_the_console(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend)
        .env("USHER_REGISTRATION", "token")
        .env("USHER_SIGNUP", "invite");
    let server = sandbox.serve();
    sandbox.user("root", PASSWORD, &[]);
    let run = sandbox.usher(&["group", "add-member", "usher-admins", "root"], None);
    assert!(run.ok(), "{}", run.stderr());
    let base = &server.base;
    let console = Browser::new();
    let home = open_console(&console, base, "root").await;
    assert!(home.body.contains("/admin/invitations"), "{}", home.body);
    assert!(
        home.body.contains("/admin/registration-tokens"),
        "{}",
        home.body
    );

    // A registration token, shown once; it registers a client; revoked (confirmed first).
    let page = console.get(&server.url("/admin/registration-tokens")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let refused = console
        .submit(
            base,
            &page,
            "/admin/registration-tokens",
            &[("expires_in", "5")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("--expires-in 5 is not between 60 and 31536000 seconds"),
        "{}",
        refused.body
    );
    let made = console
        .submit(
            base,
            &refused,
            "/admin/registration-tokens",
            &[("expires_in", "600"), ("max_uses", "2")],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let token = shown(&made, "registration-token");
    let id = shown(&made, "registration-token-id");
    assert_eq!(register(base, &token).await, 201);
    let listed = console.get(&server.url("/admin/registration-tokens")).await;
    assert!(listed.body.contains(&id), "{}", listed.body);
    assert!(!listed.body.contains(&token), "shown once");
    let confirm = console
        .get(&server.url(&href(&listed, "/admin/registration-tokens/revoke?id=")))
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(
        sandbox.count("initial_access_tokens"),
        1,
        "a GET changes nothing"
    );
    let done = console
        .submit(base, &confirm, "/admin/registration-tokens/revoke", &[])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(register(base, &token).await, 401, "revoked");
    let again = console
        .submit(base, &confirm, "/admin/registration-tokens/revoke", &[])
        .await;
    assert_eq!(
        again.status, 400,
        "a console form works once: {}",
        again.body
    );

    // An invitation with its link shown once; revoked (confirmed first), the link fails.
    let page = console.get(&server.url("/admin/invitations")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let refused = console
        .submit(
            base,
            &page,
            "/admin/invitations",
            &[("email", "guest@example.org")],
        )
        .await;
    assert_eq!(
        refused.status, 400,
        "no mail server, no link: {}",
        refused.body
    );
    assert!(refused.body.contains("no smtp_url"), "{}", refused.body);
    let made = console
        .submit(
            base,
            &refused,
            "/admin/invitations",
            &[("email", "guest@example.org"), ("show_link", "yes")],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let link = shown(&made, "invitation-link").replace("&amp;", "&");
    let local = server.url(&link[link.find(usher_http::routes::SIGNUP).unwrap()..]);
    let guest = Browser::new();
    assert_eq!(guest.get(&local).await.status, 200, "live");
    let listed = console.get(&server.url("/admin/invitations")).await;
    assert!(listed.body.contains("guest@example.org"), "{}", listed.body);
    let token = link.split("invite=").nth(1).unwrap();
    assert!(!listed.body.contains(token), "shown once");
    let revoke = href(&listed, "/admin/invitations/revoke?id=");
    assert!(!revoke.contains('@'), "no address in a URL: {revoke}");
    let confirm = console.get(&server.url(&revoke)).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm.body.contains("guest@example.org"),
        "{}",
        confirm.body
    );
    let done = console
        .submit(base, &confirm, "/admin/invitations/revoke", &[])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body
            .contains("1 invitation to guest@example.org revoked."),
        "{}",
        done.body
    );
    assert_eq!(guest.get(&local).await.status, 400, "revoked");

    // Each change is one event by root, never with the secret.
    for kind in [
        "registration.token_issued",
        "registration.token_revoked",
        "invitation.created",
        "invitation.revoked",
    ] {
        assert_eq!(
            sandbox.count(&format!(
                "audit_events WHERE kind = '{kind}' AND actor LIKE 'person:%'"
            )),
            1,
            "{kind}"
        );
    }
    server.stop();
}
