//! A person's sessions for administrators, and a person's own admin API token, end to
//! end (issue 17): `GET/DELETE /admin/api/v1/people/{username}/sessions[/{handle}]`
//! (listed without a session id; one ended as the account page's "sign out" of that
//! browser would; of 8 racing ends exactly one 204), the console's sessions page with
//! its confirmation, and `/admin/token` (read only cannot write; a person taken out of
//! usher-admins is refused with the token they hold).

use serde_json::{Value, json};

use crate::admin_api::{admin_token, call};
use crate::async_on_both_backends;
use crate::helpers::{Backend, Browser, Page, Sandbox, Server, sign_in};
use crate::refresh::{PASSWORD, alice, exchange, refresh, register, sign_in_as};

async_on_both_backends!(
    a_persons_sessions_are_listed_and_one_is_ended_through_the_api,
    an_admin_ends_a_session_in_the_console_and_takes_an_api_token,
);

const V1: &str = "/admin/api/v1";

#[allow(clippy::too_many_lines)]
async fn a_persons_sessions_are_listed_and_one_is_ended_through_the_api(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let rp = register(&sandbox);
    alice(&sandbox);
    let base = &server.base;
    // Alice signs in in two browsers; each gets an online refresh token (no
    // offline_access: it ends with its browser sign-in).
    let (laptop, phone) = (
        Browser::new(),
        Browser::with_user_agent("Mozilla/5.0 (Android 15) Chrome/131.0 Mobile"),
    );
    let mut refresh_tokens = Vec::new();
    for browser in [&laptop, &phone] {
        let (code, verifier) = sign_in_as(base, browser, &rp, "profile", "alice", &[]).await;
        let (status, body) = exchange(base, &rp, &code, &verifier).await;
        assert_eq!(status, 200, "{body}");
        refresh_tokens.push(
            body["refresh_token"]
                .as_str()
                .expect("a refresh token")
                .to_owned(),
        );
    }
    let (_, writer) = admin_token(&sandbox, &server, "admin:write").await;
    let (_, reader) = admin_token(&sandbox, &server, "admin:read").await;
    let list = format!("{V1}/people/alice/sessions");
    let a = call(&server, "GET", &list, Some(&reader), None, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let sessions = a.body["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{}", a.body);
    // Both signed in within a second or so: find the phone by its browser.
    let phone_line = sessions
        .iter()
        .find(|s| s["user_agent"] == "Mozilla/5.0 (Android 15) Chrome/131.0 Mobile")
        .unwrap_or_else(|| panic!("the phone's browser is listed: {}", a.body));
    for s in &sessions {
        for field in ["handle", "created_at", "auth_time", "expires_at"] {
            assert!(s[field].is_string(), "{field}: {s}");
        }
        assert_eq!(s["amr"], json!(["pwd"]));
        assert_eq!(s["clients"], json!([rp.id]));
        assert!(s.get("id").is_none() && s.get("id_hash").is_none());
    }
    let phone_handle = phone_line["handle"].as_str().unwrap().to_owned();
    // The handle is the ID tokens' sid: what the apps know the session by.
    let a = call(
        &server,
        "GET",
        &format!("{V1}/people/nobody/sessions"),
        Some(&reader),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    // Reading is not ending.
    let one = format!("{list}/{phone_handle}");
    let a = call(&server, "DELETE", &one, Some(&reader), None, None).await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = call(
        &server,
        "DELETE",
        &format!("{list}/{}", "A".repeat(43)),
        Some(&writer),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    // Eight racing ends of one session: exactly one 204, the others 404.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (url, token) = (format!("{base}{one}"), writer.clone());
            tokio::spawn(async move {
                reqwest::Client::new()
                    .delete(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in racers {
        statuses.push(r.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 404, 404, 404, 404, 404, 404, 404]);
    // The phone is signed out, its refresh token ended; the laptop goes on.
    let a = call(&server, "GET", &list, Some(&reader), None, None).await;
    let left = a.body["sessions"].as_array().unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0]["handle"], phone_handle.as_str());
    let (status, body) = refresh(base, &rp, &refresh_tokens[1]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = refresh(base, &rp, &refresh_tokens[0]).await;
    assert_eq!(status, 200, "{body}");
    // The trail: one person.session_ended, by the automation client.
    let a = call(
        &server,
        "GET",
        &format!("{V1}/audit?kind=person.session_ended"),
        Some(&reader),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let events = a.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", a.body);
    assert!(
        events[0]["actor"].as_str().unwrap().starts_with("client:"),
        "{}",
        events[0]
    );
    assert_eq!(events[0]["target"], phone_handle.as_str());
    // An administrator's revocation of the laptop's family: one family.revoked, naming
    // the automation client (not system).
    let a = call(
        &server,
        "GET",
        &format!("{V1}/families?username=alice"),
        Some(&reader),
        None,
        None,
    )
    .await;
    let live: Vec<&Value> = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["state"] == "active")
        .collect();
    assert_eq!(live.len(), 1, "{}", a.body);
    let family = live[0]["id"].as_str().unwrap().to_owned();
    let a = call(
        &server,
        "DELETE",
        &format!("{V1}/families/{family}"),
        Some(&writer),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = call(
        &server,
        "GET",
        &format!("{V1}/audit?kind=family.revoked"),
        Some(&reader),
        None,
        None,
    )
    .await;
    let about: Vec<&Value> = a.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == family.as_str())
        .collect();
    assert_eq!(about.len(), 1, "{}", a.body);
    assert!(
        about[0]["actor"].as_str().unwrap().starts_with("client:"),
        "{}",
        about[0]
    );
    assert_eq!(about[0]["detail"]["reason"], "admin");
    // The CLI lists the same.
    let run = sandbox.usher(&["user", "sessions", "alice", "--json"], None);
    assert!(run.ok(), "{}", run.stderr());
    assert_eq!(run.json()["sessions"].as_array().unwrap().len(), 1);
}

/// Signs `browser` in to the console as `username`; returns the console's home page.
pub(crate) async fn open_console(browser: &Browser, base: &str, username: &str) -> Page {
    let first = browser.get(&format!("{base}/admin")).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let back = sign_in(
        browser,
        base,
        first.location.as_deref().unwrap(),
        username,
        PASSWORD,
    )
    .await;
    assert_eq!(back.status, 303, "{}", back.body);
    let landed = browser.get(back.location.as_deref().unwrap()).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    let home = browser
        .get(&format!("{base}{}", landed.location.as_deref().unwrap()))
        .await;
    assert_eq!(home.status, 200, "{}", home.body);
    home
}

/// The token on the page that answered the token form.
fn token_on(page: &Page) -> String {
    let start = page
        .body
        .find("id=\"admin-token\" class=\"secret\">")
        .unwrap_or_else(|| panic!("no token on the page: {}", page.body))
        + "id=\"admin-token\" class=\"secret\">".len();
    let end = page.body[start..].find("</code>").unwrap() + start;
    page.body[start..end].to_owned()
}

async fn take_token(browser: &Browser, server: &Server, access: &str) -> String {
    let form = browser.get(&server.url("/admin/token")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let answer = browser
        .submit(&server.base, &form, "/admin/token", &[("access", access)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    token_on(&answer)
}

async fn an_admin_ends_a_session_in_the_console_and_takes_an_api_token(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let rp = register(&sandbox);
    alice(&sandbox);
    sandbox.user("root", PASSWORD, &[]);
    let run = sandbox.usher(&["group", "add-member", "usher-admins", "root"], None);
    assert!(run.ok(), "{}", run.stderr());
    let base = &server.base;
    let console = Browser::new();
    open_console(&console, base, "root").await;
    // Alice's browser, and its page in the console.
    let hers = Browser::new();
    let (code, verifier) = sign_in_as(base, &hers, &rp, "openid", "alice", &[]).await;
    assert_eq!(exchange(base, &rp, &code, &verifier).await.0, 200);
    let person = console
        .get(&server.url("/admin/people/show?username=alice"))
        .await;
    assert!(
        person.body.contains("/admin/people/alice/sessions"),
        "{}",
        person.body
    );
    let page = console
        .get(&server.url("/admin/people/alice/sessions"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"session-list\""), "{}", page.body);
    let href_start = page
        .body
        .find("/admin/people/alice/sessions/end?handle=")
        .unwrap();
    let href_end = page.body[href_start..].find('"').unwrap() + href_start;
    let href = page.body[href_start..href_end].replace("&amp;", "&");
    let confirm = console.get(&server.url(&href)).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let done = console
        .submit(base, &confirm, "/admin/people/alice/sessions/end", &[])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Session ended"), "{}", done.body);
    let page = console
        .get(&server.url("/admin/people/alice/sessions"))
        .await;
    assert!(page.body.contains("id=\"sessions-none\""), "{}", page.body);
    // Sent again, the spent form is refused.
    let again = console
        .submit(base, &confirm, "/admin/people/alice/sessions/end", &[])
        .await;
    assert_eq!(again.status, 400, "{}", again.body);

    // A read-only token: reads the clients, cannot change anything.
    let read = take_token(&console, &server, "read").await;
    let a = call(
        &server,
        "GET",
        &format!("{V1}/clients"),
        Some(&read),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let group = json!({"name": "staff"});
    let a = call(
        &server,
        "POST",
        &format!("{V1}/groups"),
        Some(&read),
        None,
        Some(&group),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    // Read and write: changes, as root.
    let write = take_token(&console, &server, "write").await;
    let a = call(
        &server,
        "POST",
        &format!("{V1}/groups"),
        Some(&write),
        None,
        Some(&group),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = call(
        &server,
        "GET",
        &format!("{V1}/audit?kind=group.created"),
        Some(&write),
        None,
        None,
    )
    .await;
    let events: &Vec<Value> = a.body["events"].as_array().unwrap();
    assert!(
        events[0]["actor"].as_str().unwrap().starts_with("person:"),
        "{}",
        a.body
    );
    let a = call(
        &server,
        "GET",
        &format!("{V1}/audit?kind=admin.token_issued"),
        Some(&write),
        None,
        None,
    )
    .await;
    let issued = a.body["events"].as_array().unwrap();
    assert_eq!(issued.len(), 2, "{}", a.body);
    assert!(
        !a.body.to_string().contains(&write),
        "the trail never holds the token"
    );
    assert!(
        server
            .log()
            .iter()
            .all(|line| !line.contains(&write) && !line.contains(&read)),
        "the log never holds the token"
    );
    // Taken out of usher-admins: the token in hand stops at once.
    let run = sandbox.usher(&["group", "remove-member", "usher-admins", "root"], None);
    assert!(run.ok(), "{}", run.stderr());
    let a = call(
        &server,
        "GET",
        &format!("{V1}/clients"),
        Some(&write),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
}
