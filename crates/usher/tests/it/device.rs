//! The device authorization grant (RFC 8628) over HTTP, on both SQL backends: discovery
//! names the endpoint; a public device client gets a device and a user code; polling is
//! `authorization_pending`, then `slow_down` (remembered in the database), while a person
//! types the code on `/device` (any case, dash optional), signs in through the usual
//! forms, sees the anti-phishing confirmation and approves; the device then gets its
//! tokens exactly once — also when many polls race. Denial, expiry (the row's expiry
//! moved into the past, no sleeping), another client's poll, unknown and used codes on
//! the page, and the per-address throttle on guessed codes under concurrency.

use serde_json::Value;
use usher_http::routes;

use crate::helpers::{Backend, Browser, Page, Sandbox, Server, jwt_parts, sign_in};

const PASSWORD: &str = "correct horse battery staple";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A sandbox serving, with alice and a public device client ("Living-room TV").
fn arranged(backend: Backend) -> (Sandbox, Server, String) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let tv = sandbox.client(&[
        "--name",
        "Living-room TV",
        "--public",
        "--grant-type",
        DEVICE_GRANT,
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile offline_access",
    ]);
    let id = tv["client_id"].as_str().expect("a client id").to_owned();
    (sandbox, server, id)
}

async fn post(server: &Server, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .form(form)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(cache.as_deref(), Some("no-store"), "{path}");
    (status, response.json().await.expect("JSON"))
}

async fn start(server: &Server, client_id: &str, scope: &str) -> Value {
    let (status, body) = post(
        server,
        routes::DEVICE_AUTHORIZATION,
        &[("client_id", client_id), ("scope", scope)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn poll(server: &Server, client_id: &str, device_code: &str) -> (u16, Value) {
    post(
        server,
        routes::TOKEN,
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client_id),
        ],
    )
    .await
}

fn error_of(answer: &(u16, Value)) -> &str {
    assert_eq!(answer.0, 400, "{}", answer.1);
    answer.1["error"].as_str().expect("an error")
}

/// Types `typed` on the verification page in `browser`, signing in as alice if asked;
/// returns the page that follows (the confirmation, once signed in).
async fn type_code(browser: &Browser, server: &Server, typed: &str) -> Page {
    let form = browser.get(&server.url(routes::DEVICE)).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let mut page = browser
        .submit(&server.base, &form, routes::DEVICE, &[("user_code", typed)])
        .await;
    if page.status == 303 {
        // Signed out: the sign-in (as the account page does it), and back to /device.
        let to_authorize = page.location.clone().expect("a redirect");
        let back = sign_in(browser, &server.base, &to_authorize, "alice", PASSWORD).await;
        assert_eq!(back.status, 303, "{}", back.body);
        let landed = browser.get(back.location.as_deref().unwrap()).await;
        assert_eq!(landed.status, 303, "{}", landed.body);
        let location = landed.location.clone().unwrap();
        assert!(location.starts_with("/device?user_code="), "{location}");
        page = browser.get(&format!("{}{location}", server.base)).await;
    }
    page
}

async fn decide(browser: &Browser, server: &Server, confirmation: &Page, decision: &str) -> Page {
    browser
        .submit(
            &server.base,
            confirmation,
            routes::DEVICE_DECIDE,
            &[("decision", decision)],
        )
        .await
}

async fn a_device_gets_tokens_once_the_person_approves(backend: Backend) {
    let (sandbox, server, tv) = arranged(backend);

    let discovery: Value = reqwest::get(server.url(routes::DISCOVERY))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["device_authorization_endpoint"],
        server.url(routes::DEVICE_AUTHORIZATION)
    );
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from(DEVICE_GRANT))
    );

    let started = start(&server, &tv, "openid profile offline_access").await;
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert!(
        user_code.chars().enumerate().all(|(i, c)| if i == 4 {
            c == '-'
        } else {
            "BCDFGHJKLMNPQRSTVWXZ".contains(c)
        }),
        "{user_code}"
    );
    assert_eq!(started["verification_uri"], server.url(routes::DEVICE));
    assert_eq!(
        started["verification_uri_complete"],
        format!("{}?user_code={user_code}", server.url(routes::DEVICE))
    );
    assert_eq!(started["expires_in"], 600);
    assert_eq!(started["interval"], 5);
    // Only hashes are stored.
    assert_eq!(sandbox.count("device_grants"), 1);
    assert_eq!(
        sandbox.count(&format!(
            "device_grants WHERE device_code_hash = '{device_code}' OR user_code_hash LIKE '%{}%'",
            user_code.replace('-', "")
        )),
        0
    );

    // Pending, then too fast: slow_down, and the grown interval is in the database.
    assert_eq!(
        error_of(&poll(&server, &tv, &device_code).await),
        "authorization_pending"
    );
    assert_eq!(
        error_of(&poll(&server, &tv, &device_code).await),
        "slow_down"
    );
    assert_eq!(
        error_of(&poll(&server, &tv, &device_code).await),
        "slow_down"
    );
    assert_eq!(sandbox.count("device_grants WHERE poll_interval = 15"), 1);
    sandbox.execute("UPDATE device_grants SET last_poll_at = last_poll_at - 15");
    assert_eq!(
        error_of(&poll(&server, &tv, &device_code).await),
        "authorization_pending"
    );

    // The person: lower case, no dash; signs in; the confirmation names the app, the
    // scopes and the code, and warns.
    let browser = Browser::new();
    let typed = user_code.replace('-', "").to_lowercase();
    let confirmation = type_code(&browser, &server, &typed).await;
    assert_eq!(confirmation.status, 200, "{}", confirmation.body);
    for needed in [
        "Living-room TV",
        &user_code,
        "Only continue if you started this yourself",
        "Never enter a code that someone sent you",
        "See your name and username",
    ] {
        assert!(
            confirmation.body.contains(needed),
            "{needed}: {}",
            confirmation.body
        );
    }
    assert!(confirmation.has_form(routes::DEVICE_DECIDE));
    assert_eq!(
        confirmation.header("x-frame-options"),
        Some("DENY"),
        "the confirmation cannot be framed"
    );
    // Still pending until the person answers; another client cannot poll it.
    let other = sandbox.client(&["--name", "Other", "--public", "--grant-type", DEVICE_GRANT]);
    let other = other["client_id"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&server, other, &device_code).await),
        "invalid_grant"
    );

    let done = decide(&browser, &server, &confirmation, "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Device connected"), "{}", done.body);
    // The same confirmation again: its token is spent.
    let again = decide(&browser, &server, &confirmation, "deny").await;
    assert_eq!(again.status, 400, "{}", again.body);

    let (status, tokens) = poll(&server, &tv, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "offline_access openid profile");
    let (_, access) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["client_id"], tv.as_str());
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], serde_json::json!([tv]));
    assert_eq!(id["sub"], access["sub"]);
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    // Single use.
    assert_eq!(
        error_of(&poll(&server, &tv, &device_code).await),
        "invalid_grant"
    );
    // The refresh token works like any other.
    let (status, refreshed) = post(
        &server,
        routes::TOKEN,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &tv),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    // No code appears in the log.
    for line in server.log() {
        assert!(
            !line.contains(&device_code) && !line.contains(&user_code),
            "{line}"
        );
    }
}

async fn denied_expired_unknown_and_used_codes(backend: Backend) {
    let (sandbox, server, tv) = arranged(backend);
    let browser = Browser::new();

    let denied = start(&server, &tv, "openid").await;
    let code = denied["user_code"].as_str().unwrap();
    let confirmation = type_code(&browser, &server, code).await;
    let done = decide(&browser, &server, &confirmation, "deny").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Request denied"), "{}", done.body);
    let device_code = denied["device_code"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&server, &tv, device_code).await),
        "access_denied"
    );
    // A decided code is not found any more (signed in: the page looks it up at once).
    let used = browser
        .get(&format!("{}?user_code={code}", server.url(routes::DEVICE)))
        .await;
    assert_eq!(used.status, 400, "{}", used.body);
    assert!(
        used.body.contains("That code is not valid"),
        "{}",
        used.body
    );
    // A code nobody was given.
    let unknown = type_code(&browser, &server, "BCDF-GHJK").await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(
        unknown.body.contains("That code is not valid"),
        "{}",
        unknown.body
    );
    // The entry form's token is single-use too.
    let form = browser.get(&server.url(routes::DEVICE)).await;
    let first = browser
        .submit(
            &server.base,
            &form,
            routes::DEVICE,
            &[("user_code", "BCDF-GHJK")],
        )
        .await;
    assert_eq!(first.status, 400);
    let replay = browser
        .submit(
            &server.base,
            &form,
            routes::DEVICE,
            &[("user_code", "BCDF-GHJK")],
        )
        .await;
    assert!(
        replay.body.contains("This form was sent already"),
        "{}",
        replay.body
    );

    // Expiry: the row's end moved into the past (no sleeping).
    let late = start(&server, &tv, "openid").await;
    sandbox.execute("UPDATE device_grants SET expires_at = 1000 WHERE status = 'pending'");
    let device_code = late["device_code"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&server, &tv, device_code).await),
        "expired_token"
    );
    let expired = browser
        .get(late["verification_uri_complete"].as_str().unwrap())
        .await;
    assert_eq!(expired.status, 400, "{}", expired.body);

    // Clients: a code-only client may not start one; an unknown device code is refused.
    let web = sandbox.client(&[
        "--name",
        "Web",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
    ]);
    let (status, body) = post(
        &server,
        routes::DEVICE_AUTHORIZATION,
        &[("client_id", web["client_id"].as_str().unwrap())],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body) = post(
        &server,
        routes::DEVICE_AUTHORIZATION,
        &[("client_id", "nobody")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(
        error_of(&poll(&server, &tv, "not-a-device-code").await),
        "invalid_grant"
    );
}

async fn parallel_polls_after_approval_get_tokens_exactly_once(backend: Backend) {
    let (_sandbox, server, tv) = arranged(backend);
    let started = start(&server, &tv, "openid").await;
    let browser = Browser::new();
    let confirmation = type_code(&browser, &server, started["user_code"].as_str().unwrap()).await;
    let done = decide(&browser, &server, &confirmation, "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    let device_code = started["device_code"].as_str().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (url, tv, code) = (
            server.url(routes::TOKEN),
            tv.clone(),
            device_code.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", &code),
                    ("client_id", &tv),
                ])
                .send()
                .await
                .expect("POST");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON"))
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let issued = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(issued, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(
            (*status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
}

async fn guessed_codes_are_throttled_per_address_even_all_at_once(backend: Backend) {
    let (_sandbox, server, tv) = arranged(backend);
    let started = start(&server, &tv, "openid").await;
    let browser = Browser::new();
    // Thirty forms, then thirty wrong codes at once from one address.
    let mut forms = Vec::new();
    for _ in 0..30 {
        forms.push(browser.get(&server.url(routes::DEVICE)).await);
    }
    let mut tasks = Vec::new();
    for (i, form) in forms.into_iter().enumerate() {
        let wrong = format!("BBBB-BB{}", ["BC", "CD", "DF", "FG", "GH", "HJ"][i % 6]);
        // A clone of the client shares its cookie jar: one browser, one address.
        let browser = Browser {
            http: browser.http.clone(),
        };
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            browser
                .submit(&base, &form, routes::DEVICE, &[("user_code", &wrong)])
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 400).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, throttled), (10, 20), "{statuses:?}");
    // Locked: even the right code waits.
    let right = type_code(&browser, &server, started["user_code"].as_str().unwrap()).await;
    assert_eq!(right.status, 429, "{}", right.body);
    assert!(
        right.body.contains("Too many wrong codes"),
        "{}",
        right.body
    );
}

crate::async_on_both_backends!(
    a_device_gets_tokens_once_the_person_approves,
    denied_expired_unknown_and_used_codes,
    parallel_polls_after_approval_get_tokens_exactly_once,
    guessed_codes_are_throttled_per_address_even_all_at_once,
);
