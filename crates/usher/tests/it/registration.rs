//! Dynamic client registration end to end (RFC 7591, RFC 7592;
//! docs/design/registration.md): off by default (404, nothing in the metadata); `token`
//! mode with missing, wrong, expired, used-up and revoked initial access tokens; `open`
//! mode with public and confidential clients that then sign in with code + PKCE (the
//! consent page every time) and refresh; every refusal of metadata; RFC 7592 read,
//! update and delete with the registration access token; the per-address rate limit and
//! a single-use initial access token under concurrency; unused clients removed by the
//! purge, and then `invalid_client`.

use std::time::Duration;

use serde_json::{Value, json};
use usher_domain::UnixTime;
use usher_http::routes;

use crate::async_on_both_backends;
use crate::helpers::{Backend, Browser, Page, Sandbox, Server, authorize_url, pkce};
use crate::refresh::PASSWORD;

async_on_both_backends!(
    registration_is_off_by_default_and_absent_from_the_metadata,
    open_registration_registers_clients_that_sign_in_with_consent_every_time_and_refresh,
    token_mode_needs_an_unexpired_unspent_initial_access_token,
    a_single_use_initial_access_token_registers_one_client_of_eight_racing,
    registrations_are_rate_limited_per_address_under_concurrency,
    refused_metadata_get_rfc_7591_errors_and_register_nothing,
    the_registration_access_token_reads_updates_and_deletes_the_client,
    clients_unused_for_too_long_are_removed_and_then_invalid_client,
    registered_redirect_uris_are_no_open_redirect_at_authorize_or_logout,
    updates_share_the_registration_rate_limit_under_concurrency,
    at_most_registration_max_clients_exist_under_concurrency,
);

const LOOPBACK: &str = "http://127.0.0.1:9/callback";
const WEB: &str = "https://agent.example/cb";

fn open(backend: Backend, per_hour: &str) -> (Sandbox, Server) {
    open_with(backend, per_hour, &[])
}

fn open_with(backend: Backend, per_hour: &str, env: &[(&str, &str)]) -> (Sandbox, Server) {
    let mut sandbox = Sandbox::with_test_db(backend)
        .env("USHER_REGISTRATION", "open")
        .env("USHER_REGISTRATION_RATE_LIMIT", per_hour);
    for (k, v) in env {
        sandbox.set_env(k, v);
    }
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    (sandbox, server)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A response: status, headers we look at, JSON body (or null).
struct Answer {
    status: u16,
    retry_after: Option<String>,
    www_authenticate: Option<String>,
    cache_control: Option<String>,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, www_authenticate, cache_control) = (
        header("retry-after"),
        header("www-authenticate"),
        header("cache-control"),
    );
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        retry_after,
        www_authenticate,
        cache_control,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn register(server: &Server, token: Option<&str>, metadata: &Value) -> Answer {
    let mut request = client().post(server.url(routes::REGISTER)).json(metadata);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    answer(request.send().await.unwrap()).await
}

async fn manage(
    method: reqwest::Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let mut request = client().request(method, uri);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(b);
    }
    answer(request.send().await.unwrap()).await
}

fn public_metadata() -> Value {
    json!({
        "client_name": "Agent",
        "redirect_uris": [LOOPBACK],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid profile offline_access",
        // Unknown and unsupported members are ignored (RFC 7591 §3.1).
        "logo_uri": "https://agent.example/logo.png",
        "software_id": "agent-1",
        "x-vendor": {"nested": [1, 2]},
    })
}

fn confidential_metadata() -> Value {
    json!({
        "client_name": "Agent Web",
        "redirect_uris": [WEB],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile offline_access",
        "id_token_signed_response_alg": "ES256",
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Walks `/authorize` for `client_id` to the code: login (first time), then the consent
/// page, which must show (with the self-registration note and the redirect host), then
/// approve. Returns the code and the PKCE verifier.
async fn code_with_consent(
    server: &Server,
    browser: &Browser,
    client_id: &str,
    redirect: &str,
    host: &str,
) -> (String, String) {
    let base = server.url("");
    let p = pkce();
    let url = authorize_url(
        &base,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("scope", "openid profile offline_access"),
            ("state", "st"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let mut page: Page = browser.get(&url).await;
    if page.status == 200 && page.has_form(routes::LOGIN) {
        page = browser
            .submit(
                &base,
                &page,
                routes::LOGIN,
                &[("username", "alice"), ("password", PASSWORD)],
            )
            .await;
    }
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.has_form(routes::CONSENT),
        "consent page: {}",
        page.body
    );
    assert!(page.body.contains("registered itself"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<strong class=\"redirect-host\">{host}</strong>")),
        "{}",
        page.body
    );
    let page = browser
        .submit(&base, &page, routes::CONSENT, &[("decision", "approve")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    (page.redirect_param("code").expect("a code"), p.verifier)
}

/// A token request; HTTP Basic when `secret` is given, else `client_id` in the form.
async fn token(server: &Server, id: &str, secret: Option<&str>, form: &[(&str, &str)]) -> Answer {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut request = client().post(server.url(routes::TOKEN));
    match secret {
        Some(s) => request = request.basic_auth(id, Some(s)),
        None => form.push(("client_id", id)),
    }
    answer(request.form(&form).send().await.unwrap()).await
}

async fn code_and_refresh(
    server: &Server,
    browser: &Browser,
    id: &str,
    secret: Option<&str>,
    redirect: &str,
    host: &str,
) {
    let (code, verifier) = code_with_consent(server, browser, id, redirect, host).await;
    let issued = token(
        server,
        id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert!(issued.body["id_token"].is_string(), "{}", issued.body);
    let refreshed = token(
        server,
        id,
        secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", str_of(&issued.body, "refresh_token")),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert!(refreshed.body["access_token"].is_string());
}

async fn metadata_doc(server: &Server, path: &str) -> Value {
    client()
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn registration_is_off_by_default_and_absent_from_the_metadata(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    let a = register(&server, None, &public_metadata()).await;
    assert_eq!(a.status, 404);
    let a = manage(
        reqwest::Method::GET,
        &server.url("/register/some-client"),
        Some("t"),
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    for path in [routes::DISCOVERY, routes::OAUTH_METADATA] {
        let doc = metadata_doc(&server, path).await;
        assert!(doc.get("registration_endpoint").is_none(), "{doc}");
        assert_eq!(doc["issuer"], server.url(""));
    }
    assert_eq!(
        sandbox.count("clients WHERE dynamically_registered = TRUE"),
        0
    );
}

async fn open_registration_registers_clients_that_sign_in_with_consent_every_time_and_refresh(
    backend: Backend,
) {
    let (sandbox, server) = open(backend, "10");
    for path in [routes::DISCOVERY, routes::OAUTH_METADATA] {
        let doc = metadata_doc(&server, path).await;
        assert_eq!(
            doc["registration_endpoint"],
            server.url(routes::REGISTER),
            "{doc}"
        );
    }

    // A public client (an MCP client on the person's machine).
    let public = register(&server, None, &public_metadata()).await;
    assert_eq!(public.status, 201, "{}", public.body);
    assert_eq!(public.cache_control.as_deref(), Some("no-store"));
    let b = &public.body;
    assert_eq!(b["token_endpoint_auth_method"], "none");
    assert!(b.get("client_secret").is_none(), "{b}");
    assert!(b.get("client_secret_expires_at").is_none(), "{b}");
    assert_eq!(b["client_name"], "Agent");
    assert_eq!(b["redirect_uris"], json!([LOOPBACK]));
    assert_eq!(
        b["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(b["response_types"], json!(["code"]));
    assert_eq!(b["scope"], "offline_access openid profile");
    assert!(b["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
    assert!(str_of(b, "registration_access_token").len() >= 43);
    let id = str_of(b, "client_id");
    assert_eq!(
        str_of(b, "registration_client_uri"),
        server.url(&format!("/register/{id}"))
    );
    for ignored in ["logo_uri", "software_id", "x-vendor"] {
        assert!(b.get(ignored).is_none(), "{ignored} echoed: {b}");
    }
    // Registrations are audited, without their secrets.
    let log = server.log_with("client_registered");
    let secret_token = str_of(b, "registration_access_token");
    assert!(!log.iter().any(|l| l.contains(secret_token)), "{log:?}");

    let browser = Browser::new();
    code_and_refresh(&server, &browser, id, None, LOOPBACK, "127.0.0.1:9").await;
    // PKCE stays required: a request without code_challenge is refused — on Usher's
    // page, not the client's redirect URI (it registered itself: review finding 1).
    let url = authorize_url(
        &server.url(""),
        &[
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", LOOPBACK),
            ("scope", "openid"),
            ("state", "st"),
        ],
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("code_challenge"), "{}", page.body);

    // A confidential client with an https redirect URI: its consent is asked again on
    // the next sign-in (a client the operator registered would skip it).
    let confidential = register(&server, None, &confidential_metadata()).await;
    assert_eq!(confidential.status, 201, "{}", confidential.body);
    let c = &confidential.body;
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(c["client_secret_expires_at"], 0);
    assert_eq!(c["id_token_signed_response_alg"], "ES256");
    let (cid, secret) = (str_of(c, "client_id"), str_of(c, "client_secret"));
    let log = server.log_with(cid);
    assert!(!log.iter().any(|l| l.contains(secret)), "{log:?}");
    code_and_refresh(&server, &browser, cid, Some(secret), WEB, "agent.example").await;
    code_and_refresh(&server, &browser, cid, Some(secret), WEB, "agent.example").await;
    assert_eq!(
        sandbox.count("clients WHERE dynamically_registered = TRUE AND first_party = FALSE AND pkce_required = TRUE"),
        2
    );
    let shown = sandbox.usher(&["client", "show", cid, "--json"], None);
    assert!(shown.ok(), "{}", shown.stderr());
    assert_eq!(shown.json()["dynamically_registered"], true);
    assert_eq!(shown.json()["first_party"], false);
    // Each code exchange recorded the use (at most once an hour).
    assert_eq!(
        sandbox.count("clients WHERE dynamically_registered = TRUE AND last_used_at IS NOT NULL"),
        2
    );
}

async fn token_mode_needs_an_unexpired_unspent_initial_access_token(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend).env("USHER_REGISTRATION", "token");
    let server = sandbox.serve();
    let metadata = public_metadata();

    for token in [None, Some("not-a-token")] {
        let a = register(&server, token, &metadata).await;
        assert_eq!(a.status, 401, "{}", a.body);
        assert_eq!(a.body["error"], "invalid_token");
        assert!(
            a.www_authenticate
                .as_deref()
                .is_some_and(|w| w.starts_with("Bearer") && w.contains("invalid_token")),
            "{:?}",
            a.www_authenticate
        );
    }

    let made = |args: &[&str]| {
        let mut all = vec!["registration", "token", "create", "--json"];
        all.extend_from_slice(args);
        let run = sandbox.usher(&all, None);
        assert!(run.ok(), "{}", run.stderr());
        run.json()
    };
    let two = made(&["--max-uses", "2"]);
    let token = str_of(&two, "token").to_owned();
    assert_eq!(two["max_uses"], 2);
    for _ in 0..2 {
        let a = register(&server, Some(&token), &metadata).await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let a = register(&server, Some(&token), &metadata).await;
    assert_eq!(a.status, 401, "used up: {}", a.body);

    // Bad metadata with a good token spends nothing.
    let one = made(&[]);
    let one_token = str_of(&one, "token").to_owned();
    let bad = register(
        &server,
        Some(&one_token),
        &json!({"redirect_uris": ["http://agent.example/cb"]}),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"], "invalid_redirect_uri");
    assert_eq!(
        sandbox.count(&format!(
            "initial_access_tokens WHERE uses = 0 AND id = '{}'",
            str_of(&one, "id")
        )),
        1
    );
    // Expired.
    sandbox.execute(&format!(
        "UPDATE initial_access_tokens SET expires_at = 1 WHERE id = '{}'",
        str_of(&one, "id")
    ));
    let a = register(&server, Some(&one_token), &metadata).await;
    assert_eq!(a.status, 401, "expired: {}", a.body);

    // Revoked.
    let three = made(&["--max-uses", "3", "--expires-in", "600"]);
    let run = sandbox.usher(
        &[
            "registration",
            "token",
            "revoke",
            str_of(&three, "id"),
            "--json",
        ],
        None,
    );
    assert!(run.ok(), "{}", run.stderr());
    let a = register(&server, Some(str_of(&three, "token")), &metadata).await;
    assert_eq!(a.status, 401, "revoked: {}", a.body);

    // The list shows uses, never tokens.
    let run = sandbox.usher(&["registration", "token", "list", "--json"], None);
    assert!(run.ok(), "{}", run.stderr());
    let listed = run.json();
    let first = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == two["id"])
        .unwrap();
    assert_eq!(first["uses"], 2);
    assert!(!run.stdout().contains(&token));
    assert_eq!(
        sandbox.count("clients WHERE dynamically_registered = TRUE"),
        2
    );
}

async fn a_single_use_initial_access_token_registers_one_client_of_eight_racing(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend)
        .env("USHER_REGISTRATION", "token")
        .env("USHER_REGISTRATION_RATE_LIMIT", "1000");
    let server = sandbox.serve();
    let run = sandbox.usher(&["registration", "token", "create", "--json"], None);
    assert!(run.ok(), "{}", run.stderr());
    let token = str_of(&run.json(), "token").to_owned();
    let url = server.url(routes::REGISTER);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (url, token) = (url.clone(), token.clone());
        tasks.spawn(async move {
            client()
                .post(url)
                .bearer_auth(token)
                .json(&public_metadata())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.push(s.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 401, 401, 401, 401, 401, 401, 401]);
    assert_eq!(
        sandbox.count("clients WHERE dynamically_registered = TRUE"),
        1
    );
    assert_eq!(sandbox.count("initial_access_tokens WHERE uses = 1"), 1);
}

async fn registrations_are_rate_limited_per_address_under_concurrency(backend: Backend) {
    let (sandbox, server) = open(backend, "5");
    let url = server.url(routes::REGISTER);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let url = url.clone();
        tasks.spawn(async move {
            answer(
                client()
                    .post(url)
                    .json(&public_metadata())
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        });
    }
    let (mut created, mut limited) = (0, 0);
    while let Some(a) = tasks.join_next().await {
        let a = a.unwrap();
        match a.status {
            201 => created += 1,
            429 => {
                limited += 1;
                let wait: i64 = a.retry_after.as_deref().unwrap().parse().unwrap();
                assert!((1..=3600).contains(&wait), "{wait}");
                assert!(
                    str_of(&a.body, "error_description").contains("too many"),
                    "{}",
                    a.body
                );
            }
            other => panic!("{other}: {}", a.body),
        }
    }
    assert_eq!((created, limited), (5, 7));
    assert_eq!(
        sandbox.count("clients WHERE dynamically_registered = TRUE"),
        5
    );
    // Still refused afterwards, in sequence too.
    let a = register(&server, None, &public_metadata()).await;
    assert_eq!(a.status, 429);
}

async fn refused_metadata_get_rfc_7591_errors_and_register_nothing(backend: Backend) {
    let (sandbox, server) = open(backend, "1000");
    let with = |patch: Value| {
        let mut m = public_metadata();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                m.as_object_mut().unwrap().remove(k);
            } else {
                m[k] = v.clone();
            }
        }
        m
    };
    let cases = [
        (
            json!({"redirect_uris": ["http://agent.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://agent.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["data:text/html,hi"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["/callback"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://u:p@agent.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        // Review finding 2: counts capped; finding 9: post-logout URIs follow the
        // redirect URI rules, back-channel URIs are https only.
        (
            json!({"redirect_uris": (0..21).map(|i| format!("https://agent.example/{i}")).collect::<Vec<_>>()}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [format!("https://agent.example/{}", "a".repeat(2000))]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"post_logout_redirect_uris": (0..6).map(|i| format!("https://agent.example/{i}")).collect::<Vec<_>>()}),
            "invalid_client_metadata",
        ),
        (
            json!({"post_logout_redirect_uris": ["javascript:alert(1)"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"post_logout_redirect_uris": ["http://agent.example/bye"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"backchannel_logout_uri": "http://127.0.0.1:9/bc"}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "n".repeat(201)}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": null}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": "https://agent.example/cb"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["authorization_code", "password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["refresh_token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"token_endpoint_auth_method": "client_secret_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"response_types": ["code id_token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"scope": "openid usher:admin"}),
            "invalid_client_metadata",
        ),
        (json!({"scope": "openid \"x\""}), "invalid_client_metadata"),
        (
            json!({"id_token_signed_response_alg": "HS256"}),
            "invalid_client_metadata",
        ),
        (json!({"client_name": 42}), "invalid_client_metadata"),
        (json!({"client_name": "a\u{7}b"}), "invalid_client_metadata"),
        (
            json!({"grant_types": "authorization_code"}),
            "invalid_client_metadata",
        ),
    ];
    for (patch, code) in cases {
        let a = register(&server, None, &with(patch.clone())).await;
        assert_eq!(a.status, 400, "{patch}: {}", a.body);
        assert_eq!(a.body["error"], code, "{patch}: {}", a.body);
        assert!(
            !str_of(&a.body, "error_description").is_empty(),
            "{patch}: {}",
            a.body
        );
    }
    // Not a JSON object, or not sent as JSON.
    for (content_type, body) in [
        ("application/json", "[1, 2]"),
        ("application/json", "{not json"),
        (
            "text/plain",
            r#"{"redirect_uris": ["https://agent.example/cb"]}"#,
        ),
        (
            "application/x-www-form-urlencoded",
            "redirect_uris=https://a.example/cb",
        ),
    ] {
        let a = answer(
            client()
                .post(server.url(routes::REGISTER))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(a.status, 400, "{body}");
        assert_eq!(a.body["error"], "invalid_client_metadata", "{body}");
    }
    assert_eq!(
        sandbox.count("clients WHERE dynamically_registered = TRUE"),
        0
    );

    // What open registration does accept: loopback (any of the three), private-use
    // schemes in reverse-domain form, several URIs, client_secret_post; no client_name
    // gives the redirect host.
    let a = register(
        &server,
        None,
        &json!({
            "redirect_uris": ["http://[::1]/cb", "http://localhost:8123/cb", "com.example.agent:/cb"],
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["client_name"], "[::1]");
    assert_eq!(a.body["grant_types"], json!(["authorization_code"]));
    assert_eq!(a.body["scope"], "address email openid phone profile");
    assert!(a.body["client_secret"].is_string());
}

async fn the_registration_access_token_reads_updates_and_deletes_the_client(backend: Backend) {
    let (_sandbox, server) = open(backend, "1000");
    let first = register(&server, None, &confidential_metadata()).await;
    let other = register(&server, None, &public_metadata()).await;
    assert_eq!((first.status, other.status), (201, 201));
    let b = first.body;
    let (id, secret) = (str_of(&b, "client_id"), str_of(&b, "client_secret"));
    let (uri, rat) = (
        str_of(&b, "registration_client_uri"),
        str_of(&b, "registration_access_token"),
    );
    let other_rat = str_of(&other.body, "registration_access_token");
    let other_uri = str_of(&other.body, "registration_client_uri");
    use reqwest::Method;

    let read = manage(Method::GET, uri, Some(rat), None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["client_id"], id);
    assert_eq!(read.body["client_name"], "Agent Web");
    assert_eq!(read.body["registration_access_token"], rat);
    assert!(read.body.get("client_secret").is_none());
    assert_eq!(read.cache_control.as_deref(), Some("no-store"));

    // Wrong, missing, another client's token, an unknown client: the same 401.
    let unknown = server.url("/register/00000000-0000-4000-8000-000000000000");
    for (target, token) in [
        (uri, Some("wrong")),
        (uri, None),
        (uri, Some(other_rat)),
        (other_uri, Some(rat)),
        (unknown.as_str(), Some(rat)),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let a = manage(method.clone(), target, token, None).await;
            assert_eq!(a.status, 401, "{method} {target}: {}", a.body);
            assert_eq!(a.body["error"], "invalid_token");
        }
        let a = manage(Method::PUT, target, token, Some(&confidential_metadata())).await;
        assert_eq!(a.status, 401);
    }

    // PUT replaces the metadata, with the same rules.
    let mut changed = confidential_metadata();
    changed["client_id"] = json!(id);
    changed["client_name"] = json!("Agent Web 2");
    changed["redirect_uris"] = json!([WEB, "https://agent.example/cb2"]);
    let put = manage(Method::PUT, uri, Some(rat), Some(&changed)).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["client_name"], "Agent Web 2");
    assert!(
        put.body.get("client_secret").is_none(),
        "the secret is kept"
    );
    let mut bad = changed.clone();
    bad["grant_types"] = json!(["client_credentials"]);
    let a = manage(Method::PUT, uri, Some(rat), Some(&bad)).await;
    assert_eq!(a.body["error"], "invalid_client_metadata");
    let mut bad = changed.clone();
    bad["client_id"] = json!("someone-else");
    let a = manage(Method::PUT, uri, Some(rat), Some(&bad)).await;
    assert_eq!(a.status, 400);
    let read = manage(Method::GET, uri, Some(rat), None).await;
    assert_eq!(read.body["client_name"], "Agent Web 2");
    assert_eq!(read.body["redirect_uris"].as_array().unwrap().len(), 2);

    // The client authenticates at /token until it is deleted, then is invalid_client.
    let probe = [("grant_type", "refresh_token"), ("refresh_token", "x.y")];
    let a = token(&server, id, Some(secret), &probe).await;
    assert_eq!(a.body["error"], "invalid_grant", "{}", a.body);
    let gone = manage(Method::DELETE, uri, Some(rat), None).await;
    assert_eq!(gone.status, 204);
    let a = token(&server, id, Some(secret), &probe).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let a = manage(Method::GET, uri, Some(rat), None).await;
    assert_eq!(a.status, 401);

    // A public client made confidential gets a secret, once.
    let mut to_confidential = public_metadata();
    to_confidential["token_endpoint_auth_method"] = json!("client_secret_post");
    let a = manage(
        Method::PUT,
        other_uri,
        Some(other_rat),
        Some(&to_confidential),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["client_secret"].is_string(), "{}", a.body);
}

async fn clients_unused_for_too_long_are_removed_and_then_invalid_client(backend: Backend) {
    // No node-local copies of clients: a removed client is unknown at once.
    let (sandbox, server) = open_with(backend, "1000", &[("USHER_CACHE_TTL", "0")]);
    let used = register(&server, None, &confidential_metadata()).await.body;
    let idle = register(&server, None, &confidential_metadata()).await.body;
    let operators = sandbox.client(&["--name", "Operator's", "--redirect-uri", WEB]);
    let (used_id, used_secret) = (str_of(&used, "client_id"), str_of(&used, "client_secret"));
    let (idle_id, idle_secret) = (str_of(&idle, "client_id"), str_of(&idle, "client_secret"));
    let browser = Browser::new();
    code_and_refresh(
        &server,
        &browser,
        used_id,
        Some(used_secret),
        WEB,
        "agent.example",
    )
    .await;
    assert_eq!(
        sandbox.count(&format!(
            "clients WHERE id = '{used_id}' AND last_used_at IS NOT NULL"
        )),
        1
    );
    assert_eq!(
        sandbox.count(&format!(
            "clients WHERE id = '{idle_id}' AND last_used_at IS NULL"
        )),
        1
    );

    let db = sandbox.database();
    let now = UnixTime(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap(),
    );
    const DAY: i64 = 86_400;
    // Twelve hours on, nothing goes.
    assert_eq!(
        db.purge_unused_clients(now.plus(DAY / 2), 30 * DAY)
            .unwrap(),
        0
    );
    // Age the operator's client by 40 days; two days on, the dynamically registered
    // client never used goes (a day without any use is enough: review finding 3), the
    // used one and the operator's stay.
    sandbox.execute(&format!(
        "UPDATE clients SET created_at = created_at - {} WHERE id = '{}'",
        40 * DAY,
        str_of(&operators, "client_id")
    ));
    assert_eq!(
        db.purge_unused_clients(now.plus(2 * DAY), 30 * DAY)
            .unwrap(),
        1
    );
    assert_eq!(sandbox.count(&format!("clients WHERE id = '{idle_id}'")), 0);
    assert_eq!(sandbox.count(&format!("clients WHERE id = '{used_id}'")), 1);
    assert_eq!(
        sandbox.count(&format!(
            "clients WHERE id = '{}'",
            str_of(&operators, "client_id")
        )),
        1
    );
    // 0 means never.
    assert_eq!(db.purge_unused_clients(now.plus(400 * DAY), 0).unwrap(), 0);
    // A use 40 days ago is too long ago, whatever the registration date.
    sandbox.execute(&format!(
        "UPDATE clients SET last_used_at = last_used_at - {} WHERE id = '{used_id}'",
        40 * DAY
    ));
    assert_eq!(db.purge_unused_clients(now, 30 * DAY).unwrap(), 1);
    // Its consent and refresh tokens went with it.
    assert_eq!(
        sandbox.count(&format!("consents WHERE client_id = '{used_id}'")),
        0
    );

    // The removed clients are invalid_client at /token...
    for (id, secret) in [(idle_id, idle_secret), (used_id, used_secret)] {
        let a = token(
            &server,
            id,
            Some(secret),
            &[("grant_type", "refresh_token"), ("refresh_token", "x.y")],
        )
        .await;
        assert_eq!(a.status, 401, "{}", a.body);
        assert_eq!(a.body["error"], "invalid_client");
    }
    // ...and /authorize says so on its page (no redirect to an unverified URI).
    let p = pkce();
    let url = authorize_url(
        &server.url(""),
        &[
            ("response_type", "code"),
            ("client_id", idle_id),
            ("redirect_uri", WEB),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("register again"), "{}", page.body);
}

/// Review finding 1 (and its second review): anyone can register a redirect URI, so
/// `/authorize` redirects no error to it that the person did not act on (an invalid
/// request, `prompt=none`'s silent answer, a request too large to continue), and
/// `/logout` redirects to a post-logout URI only for a live ID token of the signed-in
/// person (not without a session, whatever the hint).
async fn registered_redirect_uris_are_no_open_redirect_at_authorize_or_logout(backend: Backend) {
    let (_sandbox, server) = open(backend, "10");
    let evil = "https://evil.example/landing";
    let mut metadata = confidential_metadata();
    metadata["post_logout_redirect_uris"] = json!([evil]);
    let reg = register(&server, None, &metadata).await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    let id = str_of(&reg.body, "client_id").to_owned();
    let secret = str_of(&reg.body, "client_secret").to_owned();
    let base = server.url("");
    let get = |url: String| async move { client().get(url).send().await.unwrap() };

    for bad in [
        vec![("response_type", "bogus")],
        vec![("response_type", "code"), ("scope", "openid nonsense")],
        vec![
            ("response_type", "code"),
            ("request_uri", "https://x.example/r"),
        ],
    ] {
        let mut q = vec![
            ("client_id", id.as_str()),
            ("redirect_uri", WEB),
            ("state", "s"),
        ];
        q.extend(bad);
        let r = get(authorize_url(&base, &q)).await;
        assert_eq!(r.status().as_u16(), 400, "{q:?}");
        assert!(r.headers().get("location").is_none(), "{q:?}");
    }
    let p = pkce();
    let silent = get(authorize_url(
        &base,
        &[
            ("client_id", id.as_str()),
            ("redirect_uri", WEB),
            ("response_type", "code"),
            ("scope", "openid"),
            ("prompt", "none"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    ))
    .await;
    assert_eq!(silent.status().as_u16(), 400);
    assert!(silent.headers().get("location").is_none());

    // A request whose sealed form would be too large: Usher's page, no redirect.
    let padding = "\u{1}".repeat(4096);
    let large = client()
        .post(server.url(routes::AUTHORIZE))
        .form(&[
            ("client_id", id.as_str()),
            ("redirect_uri", WEB),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", p.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", padding.as_str()),
            ("nonce", padding.as_str()),
            ("login_hint", padding.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(large.status().as_u16(), 400);
    assert!(large.headers().get("location").is_none());
    // Refused where the sealed form is made, not earlier by the parser: the path the
    // review found redirecting.
    let body = large.text().await.unwrap();
    assert!(body.contains("too large to continue"), "{body}");

    // /logout with client_id and the registered URI, no session, no hint: no redirect.
    let logout = |q: Vec<(&str, &str)>| {
        let url = reqwest::Url::parse_with_params(&server.url(routes::LOGOUT), &q).unwrap();
        get(url.to_string())
    };
    let r = logout(vec![
        ("client_id", id.as_str()),
        ("post_logout_redirect_uri", evil),
    ])
    .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("location").is_none());

    // With an ID token issued to the client: redirected, as for every client.
    let browser = Browser::new();
    let (code, verifier) = code_with_consent(&server, &browser, &id, WEB, "agent.example").await;
    let issued = token(
        &server,
        &id,
        Some(&secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WEB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let id_token = str_of(&issued.body, "id_token");
    // The client's ID token without the person's session: no redirect.
    let r = logout(vec![
        ("id_token_hint", id_token),
        ("post_logout_redirect_uri", evil),
    ])
    .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("location").is_none());
    // In the browser of the person it names: redirected, as for every client.
    let url = reqwest::Url::parse_with_params(
        &server.url(routes::LOGOUT),
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", evil),
        ],
    )
    .unwrap();
    let page = browser.get(url.as_str()).await;
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with(evil)),
        "{} {:?}",
        page.status,
        page.location
    );
}

/// Review finding 2: an RFC 7592 update is counted like a registration, on the same
/// per-address budget: with a limit of 3, one registration and eight updates sent at
/// once give exactly two updates.
async fn updates_share_the_registration_rate_limit_under_concurrency(backend: Backend) {
    let (_sandbox, server) = open(backend, "3");
    let reg = register(&server, None, &public_metadata()).await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    let uri = str_of(&reg.body, "registration_client_uri").to_owned();
    let rat = str_of(&reg.body, "registration_access_token").to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (uri, rat) = (uri.clone(), rat.clone());
        tasks.spawn(async move {
            let mut m = public_metadata();
            m["client_name"] = json!(format!("Agent {i}"));
            manage(reqwest::Method::PUT, &uri, Some(&rat), Some(&m)).await
        });
    }
    let (mut updated, mut limited) = (0, 0);
    while let Some(a) = tasks.join_next().await {
        let a = a.unwrap();
        match a.status {
            200 => updated += 1,
            429 => limited += 1,
            other => panic!("{other}: {}", a.body),
        }
    }
    assert_eq!((updated, limited), (2, 6));
    let a = register(&server, None, &public_metadata()).await;
    assert_eq!(a.status, 429, "{}", a.body);
}

/// Review finding 3: `registration_max_clients` caps the dynamically registered clients
/// however many addresses register: a cap of 3 and ten registrations sent at once give
/// exactly three clients, the others 429.
async fn at_most_registration_max_clients_exist_under_concurrency(backend: Backend) {
    let (sandbox, server) = open_with(backend, "1000", &[("USHER_REGISTRATION_MAX_CLIENTS", "3")]);
    let url = server.url(routes::REGISTER);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let url = url.clone();
        tasks.spawn(async move {
            answer(
                client()
                    .post(url)
                    .json(&public_metadata())
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        });
    }
    let (mut created, mut full) = (0, 0);
    while let Some(a) = tasks.join_next().await {
        let a = a.unwrap();
        match a.status {
            201 => created += 1,
            429 => {
                full += 1;
                assert!(
                    str_of(&a.body, "error_description")
                        .contains("as many self-registered clients"),
                    "{}",
                    a.body
                );
            }
            other => panic!("{other}: {}", a.body),
        }
    }
    assert_eq!((created, full), (3, 7));
    assert_eq!(
        sandbox.count("clients WHERE dynamically_registered = TRUE"),
        3
    );
}
