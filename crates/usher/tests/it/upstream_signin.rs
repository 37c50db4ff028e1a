//! Two Usher servers on loopback, one the upstream provider of the other
//! (docs/design/upstream.md): the operator registers the upstream with one command, the
//! downstream's login page offers "Sign in with …", the person signs in at the upstream's
//! own pages, and the downstream's app gets an ID token for a person created at the first
//! sign-in (`amr` with `fed`), the same person the second time.
//!
//! The two servers run on two host names (`localhost` and `127.0.0.1`): cookies are not
//! kept apart by port, so two servers on one host would share (and overwrite) each
//! other's cookies, in a browser as in this one.

use usher_http::routes;

use crate::async_on_both_backends;
use crate::helpers::{
    Backend, Browser, Sandbox, authorize_url, b64_standard, jwt_parts, pkce, sign_in,
};

const PASSWORD: &str = "correct horse battery staple";

const APP_CALLBACK: &str = "https://app.example/cb";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn token(
    base: &str,
    id: &str,
    secret: &str,
    code: &str,
    verifier: &str,
) -> serde_json::Value {
    let basic = b64_standard(format!("{id}:{secret}").as_bytes());
    let response = reqwest::Client::new()
        .post(format!("{base}{}", routes::TOKEN))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", APP_CALLBACK),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("POST /token");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// One sign-in at the downstream through the upstream, in a fresh browser; returns the
/// downstream ID token's claims.
async fn sign_in_through_upstream(
    up: &crate::helpers::Server,
    down: &crate::helpers::Server,
    app: &(String, String),
) -> serde_json::Value {
    let browser = Browser::new();
    let p = pkce();
    let url = authorize_url(
        &down.base,
        &[
            ("response_type", "code"),
            ("client_id", app.0.as_str()),
            ("redirect_uri", APP_CALLBACK),
            ("scope", "openid profile"),
            ("state", "app-state"),
            ("nonce", "app-nonce"),
            ("code_challenge", p.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let login = browser.get(&url).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(
        login.body.contains("Sign in with Usher A"),
        "{}",
        login.body
    );
    let away = browser
        .submit(
            &down.base,
            &login,
            routes::UPSTREAM_START,
            &[("upstream", "usher-a")],
        )
        .await;
    assert_eq!(away.status, 303, "{}", away.body);
    let at_upstream = away.location.clone().unwrap();
    assert!(at_upstream.starts_with(&up.issuer), "{at_upstream}");
    // The person signs in at the upstream's own pages (and consents there).
    let back = sign_in(&browser, &up.issuer, &at_upstream, "ann", PASSWORD).await;
    let callback = back
        .location
        .clone()
        .unwrap_or_else(|| panic!("not back to the downstream: {} {}", back.status, back.body));
    assert!(
        callback.starts_with(&format!("{}/upstream/usher-a/callback?", down.issuer)),
        "{callback}"
    );
    let done = browser.get(&callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.as_deref().unwrap().starts_with(APP_CALLBACK));
    assert_eq!(done.redirect_param("state").as_deref(), Some("app-state"));
    let code = done.redirect_param("code").expect("a code for the app");
    let tokens = token(&down.base, &app.0, &app.1, &code, &p.verifier).await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    claims
}

async fn an_usher_signs_in_through_another_usher(backend: Backend) {
    let (port_a, port_b) = (free_port(), free_port());
    let a = Sandbox::with_test_db(backend)
        .env("USHER_BIND", &format!("127.0.0.1:{port_a}"))
        .env("USHER_ISSUER", &format!("http://localhost:{port_a}"));
    let b = Sandbox::with_test_db(backend)
        .env("USHER_BIND", &format!("127.0.0.1:{port_b}"))
        .env("USHER_ISSUER", &format!("http://127.0.0.1:{port_b}"));
    a.user("ann", PASSWORD, &["--name", "Ann Upstream"]);
    let up = a.serve();
    let down = b.serve();

    // At the upstream: Usher B is a client whose redirect URI is B's callback.
    let callback = format!("{}/upstream/usher-a/callback", down.issuer);
    let at_a = a.client(&[
        "--name",
        "Usher B",
        "--redirect-uri",
        &callback,
        "--scope",
        "openid profile",
    ]);
    let (a_id, a_secret) = (
        at_a["client_id"].as_str().unwrap().to_owned(),
        at_a["client_secret"].as_str().unwrap().to_owned(),
    );
    // At the downstream: one command registers the upstream, and prints the callback.
    let created = b.usher(
        &[
            "upstream",
            "create",
            "--id",
            "usher-a",
            "--name",
            "Usher A",
            "--issuer",
            &up.issuer,
            "--client-id",
            &a_id,
            "--client-secret-stdin",
            "--scope",
            "openid profile",
        ],
        Some(&format!("{a_secret}\n")),
    );
    assert!(created.ok(), "{}", created.stderr());
    assert!(created.stdout().contains(&callback), "{}", created.stdout());
    // The secret is sealed at rest.
    assert_eq!(
        b.count(&format!(
            "upstreams WHERE client_secret_sealed LIKE '%{a_secret}%'"
        )),
        0
    );
    let app = b.client(&[
        "--name",
        "App",
        "--redirect-uri",
        APP_CALLBACK,
        "--scope",
        "openid profile",
        "--first-party",
    ]);
    let app = (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    );

    let first = sign_in_through_upstream(&up, &down, &app).await;
    let amr: Vec<&str> = first["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(amr.contains(&"fed"), "{first}");
    assert_eq!(first["name"], "Ann Upstream");
    assert_eq!(first["preferred_username"], "ann");
    assert_eq!(b.count("users"), 1);
    assert_eq!(b.count("upstream_identities"), 1);

    // Again, in another browser: the same person, nobody new.
    let second = sign_in_through_upstream(&up, &down, &app).await;
    assert_eq!(second["sub"], first["sub"]);
    assert_eq!(b.count("users"), 1);

    // An upstream that cannot be reached: a page that says so, and a link that tells
    // the app `temporarily_unavailable`; nothing is created.
    let gone = format!("http://127.0.0.1:{}", free_port());
    let made = b.usher(
        &[
            "upstream",
            "create",
            "--id",
            "gone",
            "--name",
            "Gone",
            "--issuer",
            &gone,
            "--client-id",
            "x",
        ],
        None,
    );
    assert!(made.ok(), "{}", made.stderr());
    let browser = Browser::new();
    let p = pkce();
    let url = authorize_url(
        &down.base,
        &[
            ("response_type", "code"),
            ("client_id", app.0.as_str()),
            ("redirect_uri", APP_CALLBACK),
            ("scope", "openid"),
            ("state", "s2"),
            ("code_challenge", p.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let login = browser.get(&url).await;
    let page = browser
        .submit(
            &down.base,
            &login,
            routes::UPSTREAM_START,
            &[("upstream", "gone")],
        )
        .await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(
        page.body.contains("Signing in with Gone did not work"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("temporarily_unavailable"),
        "{}",
        page.body
    );
    assert_eq!(b.count("users"), 1);
}

async_on_both_backends!(an_usher_signs_in_through_another_usher);
