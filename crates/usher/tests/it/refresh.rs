//! Refresh tokens end to end: families started by the code exchange, rotation, reuse
//! detection, grace, scope narrowing, the `openidconnect` relying party refreshing, the
//! race of 50 concurrent refreshes against two Usher processes sharing one Redis (and,
//! separately, one PostgreSQL with the embedded store), and failing closed when Redis
//! is unreachable or stops mid-test, then recovering without a restart.
//!
//! The helpers here (a relying party registered for refresh tokens, a sign-in through
//! the real forms, token requests) are shared with `revoke.rs` and `logout.rs`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RefreshToken,
    Scope, TokenResponse,
};
use serde_json::Value;
use usher_http::routes;

use crate::helpers::{Backend, Browser, Sandbox, Server};

pub const CALLBACK: &str = "http://127.0.0.1:9/callback";
pub const AFTER_LOGOUT: &str = "http://127.0.0.1:9/signed-out";
pub const PASSWORD: &str = "correct horse battery staple";
pub const SCOPE: &str = "openid profile email offline_access";

/// A relying party registered with Usher.
#[derive(Clone)]
pub struct Rp {
    pub id: String,
    pub secret: String,
}

/// Registers a confidential, first-party client with the refresh_token grant.
pub fn register(sandbox: &Sandbox) -> Rp {
    let c = sandbox.client(&[
        "--name",
        "Shop",
        "--redirect-uri",
        CALLBACK,
        "--post-logout-redirect-uri",
        AFTER_LOGOUT,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        SCOPE,
        "--first-party",
    ]);
    Rp {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// Alice, who signs in.
pub fn alice(sandbox: &Sandbox) {
    sandbox.user("alice", PASSWORD, &["--name", "Alice Liddell"]);
}

/// A client, Alice, and a running server on a fresh database of `backend`.
pub fn setup(sandbox: &Sandbox) -> (Server, Rp) {
    let server = sandbox.serve();
    let rp = register(sandbox);
    alice(sandbox);
    (server, rp)
}

/// Signs Alice in through the forms in `browser` (or reuses its session); returns the
/// code and the PKCE verifier.
pub async fn sign_in(base: &str, browser: &Browser, rp: &Rp, scope: &str) -> (String, String) {
    sign_in_as(base, browser, rp, scope, "alice", &[]).await
}

/// Signs `username` (whose password is [`PASSWORD`]) in through the forms in `browser`,
/// with `extra` authorization parameters (e.g. `prompt=login`), or reuses its session;
/// returns the code and the PKCE verifier.
pub async fn sign_in_as(
    base: &str,
    browser: &Browser,
    rp: &Rp,
    scope: &str,
    username: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut url = url::Url::parse(&format!("{base}{}", routes::AUTHORIZE)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair("nonce", "n0nce")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    let mut page = browser.get(url.as_str()).await;
    if page.status == 200 {
        page = browser
            .submit(
                base,
                &page,
                routes::LOGIN,
                &[("username", username), ("password", PASSWORD)],
            )
            .await;
    }
    assert_eq!(page.status, 303, "{}", page.body);
    let code = page.redirect_param("code").expect("a code");
    (code, verifier.secret().clone())
}

/// POSTs a form to the token endpoint with HTTP Basic; returns status and JSON body.
pub async fn token_request(base: &str, rp: &Rp, form: &[(&str, &str)]) -> (u16, Value) {
    post_form(base, routes::TOKEN, rp, form).await
}

/// POSTs `form` to `path`, authenticated as `rp` with HTTP Basic.
pub async fn post_form(base: &str, path: &str, rp: &Rp, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(form)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Signs in and exchanges the code; returns the token response.
pub async fn tokens(base: &str, browser: &Browser, rp: &Rp, scope: &str) -> Value {
    let (code, verifier) = sign_in(base, browser, rp, scope).await;
    let (status, body) = exchange(base, rp, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Exchanges a code from [`sign_in`]; returns status and JSON body.
pub async fn exchange(base: &str, rp: &Rp, code: &str, verifier: &str) -> (u16, Value) {
    token_request(
        base,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// One refresh request.
pub async fn refresh(base: &str, rp: &Rp, token: &str) -> (u16, Value) {
    token_request(
        base,
        rp,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

fn rt(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a refresh token in {body}"))
        .to_owned()
}

/// The claims of a JWT, unverified (the tests only read what Usher put there).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&b64url_decode(payload)).unwrap()
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c}"),
        }
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn assert_invalid_grant(status: u16, body: &Value) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
}

/// Runs `usher families list --json` in the sandbox.
pub fn families(sandbox: &Sandbox) -> Vec<Value> {
    sandbox
        .usher(&["families", "list", "--json"], None)
        .json()
        .as_array()
        .unwrap()
        .clone()
}

async fn rotation_and_reuse(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let browser = Browser::new();
    let first = tokens(base, &browser, &rp, SCOPE).await;
    let t1 = rt(&first);
    let (family, secret) = t1.split_once('.').unwrap();
    assert!(secret.len() >= 43, "≥ 256 random bits in the secret");
    assert_eq!(
        sandbox.count(&format!(
            "refresh_families WHERE id = '{family}' AND token_hash NOT LIKE '%{secret}%'"
        )),
        1,
        "the family is stored, with only a hash of the token"
    );
    let id1 = claims(first["id_token"].as_str().unwrap());

    // Rotation: a new access token, refresh token and ID token (same sub, auth_time).
    let (status, second) = refresh(base, &rp, &t1).await;
    assert_eq!(status, 200, "{second}");
    let t2 = rt(&second);
    assert_ne!(t1, t2);
    assert!(t2.starts_with(&format!("{family}.")), "same family");
    assert_ne!(second["access_token"], first["access_token"]);
    let id2 = claims(second["id_token"].as_str().unwrap());
    assert_eq!(id2["sub"], id1["sub"]);
    assert_eq!(id2["auth_time"], id1["auth_time"]);
    assert_eq!(second["scope"], "email offline_access openid profile");

    // Narrowing is allowed; widening is invalid_scope and spends nothing.
    let (status, body) = token_request(
        base,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &t2),
            ("scope", "openid profile email offline_access phone"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_scope");
    let (status, third) = token_request(
        base,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &t2),
            ("scope", "profile"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["scope"], "profile");
    assert!(third.get("id_token").is_none(), "no openid, no ID token");
    let t3 = rt(&third);
    // The refresh token keeps the whole original grant.
    let (status, fourth) = refresh(base, &rp, &t3).await;
    assert_eq!(status, 200, "{fourth}");
    assert_eq!(fourth["scope"], "email offline_access openid profile");
    let t4 = rt(&fourth);

    // Another client cannot use it (and does not spend it).
    let other = register(&sandbox);
    let (status, body) = refresh(base, &other, &t4).await;
    assert_invalid_grant(status, &body);
    // A made-up token around the real family id is refused, and is not reuse.
    let forged = format!("{family}.{}", "A".repeat(65));
    let (status, body) = refresh(base, &rp, &forged).await;
    assert_invalid_grant(status, &body);
    let (status, body) = refresh(base, &rp, "garbage").await;
    assert_invalid_grant(status, &body);

    // Reuse of an old token revokes the family, the newest token included.
    let (status, body) = refresh(base, &rp, &t2).await;
    assert_invalid_grant(status, &body);
    let (status, body) = refresh(base, &rp, &t4).await;
    assert_invalid_grant(status, &body);
    let listed = families(&sandbox);
    let mine = listed.iter().find(|f| f["id"] == family).unwrap();
    assert_eq!(mine["state"], "revoked");
    assert_eq!(mine["revoked_reason"], "reuse");
    assert_eq!(mine["client_id"], rp.id.as_str());
    assert_eq!(mine["subject"], id1["sub"]);
    assert!(mine["last_rotated_at"].is_string());
}

async fn offline_access_decides_whether_a_refresh_token_is_issued(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    let browser = Browser::new();
    let without = tokens(&server.base, &browser, &rp, "openid profile").await;
    assert!(
        without.get("refresh_token").is_none(),
        "an OpenID request without offline_access gets no refresh token: {without}"
    );
    let with = tokens(&server.base, &browser, &rp, "openid offline_access").await;
    assert!(with["refresh_token"].is_string(), "{with}");
    // A client without the refresh_token grant never gets one.
    let plain = sandbox.client(&[
        "--name",
        "Plain",
        "--redirect-uri",
        CALLBACK,
        "--first-party",
    ]);
    let plain = Rp {
        id: plain["client_id"].as_str().unwrap().to_owned(),
        secret: plain["client_secret"].as_str().unwrap().to_owned(),
    };
    let body = tokens(&server.base, &browser, &plain, "openid").await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    let (status, body) = refresh(&server.base, &plain, &rt(&with)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unauthorized_client");
}

async fn a_grace_window_returns_the_same_child(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend).env("USHER_FAMILIES__GRACE", "30");
    let (server, rp) = setup(&sandbox);
    let first = tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    let t1 = rt(&first);
    let (status, a) = refresh(&server.base, &rp, &t1).await;
    assert_eq!(status, 200, "{a}");
    let (status, b) = refresh(&server.base, &rp, &t1).await;
    assert_eq!(status, 200, "a retry within the grace window: {b}");
    assert_eq!(rt(&a), rt(&b), "the same child, not a new one");
    assert_ne!(a["access_token"], b["access_token"]);
    let (status, c) = refresh(&server.base, &rp, &rt(&b)).await;
    assert_eq!(status, 200, "{c}");
    // Two generations back is reuse, grace or not.
    let (status, body) = refresh(&server.base, &rp, &t1).await;
    assert_invalid_grant(status, &body);
    let (status, body) = refresh(&server.base, &rp, &rt(&c)).await;
    assert_invalid_grant(status, &body);
}

crate::async_on_both_backends!(
    rotation_and_reuse,
    offline_access_decides_whether_a_refresh_token_is_issued,
    a_grace_window_returns_the_same_child,
);

/// The relying-party library refreshes, and checks the new ID token.
#[tokio::test(flavor = "multi_thread")]
async fn the_openidconnect_relying_party_refreshes_its_tokens() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    let (server, rp) = setup(&sandbox);
    let http = usher::tryout::http_client().unwrap();
    let client =
        usher::tryout::relying_party(&http, &server.issuer, &rp.id, Some(&rp.secret), CALLBACK)
            .await
            .expect("discovery");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new();
    let login = browser.get(url.as_str()).await;
    let back = browser
        .submit(
            &server.base,
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    let code = back.redirect_param("code").expect("a code");
    let first = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let verifier = client.id_token_verifier();
    let first_claims = first
        .id_token()
        .unwrap()
        .claims(&verifier, &nonce)
        .unwrap()
        .clone();
    let mut refresh_token: RefreshToken = first.refresh_token().expect("a refresh token").clone();
    for _ in 0..3 {
        let next = client
            .exchange_refresh_token(&refresh_token)
            .unwrap()
            .request_async(&http)
            .await
            .expect("the refresh");
        let claims = next
            .id_token()
            .expect("a new ID token")
            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .expect("a valid refreshed ID token");
        assert_eq!(claims.subject(), first_claims.subject());
        assert_eq!(claims.auth_time(), first_claims.auth_time());
        let new_token = next
            .refresh_token()
            .expect("a rotated refresh token")
            .clone();
        assert_ne!(new_token.secret(), refresh_token.secret());
        refresh_token = new_token;
    }
    // The library's old token is dead: presenting it again revokes the family.
    let reused = client
        .exchange_refresh_token(&first.refresh_token().unwrap().clone())
        .unwrap()
        .request_async(&http)
        .await;
    assert!(reused.is_err());
    let after = client
        .exchange_refresh_token(&refresh_token)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(after.is_err(), "the newest token dies with its family");
}

/// 50 concurrent refreshes with one token, spread over two servers: exactly one wins,
/// and afterwards the family is revoked, the winner's new token included.
async fn race(sandbox: Sandbox) {
    let a = sandbox.serve();
    let b = sandbox.serve();
    let rp = register(&sandbox);
    alice(&sandbox);
    let first = tokens(&a.base, &Browser::new(), &rp, SCOPE).await;
    let token = rt(&first);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let (rp, token) = (rp.clone(), token.clone());
        tasks.push(tokio::spawn(
            async move { refresh(&base, &rp, &token).await },
        ));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => winners.push(body),
            _ => assert_invalid_grant(status, &body),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh succeeds");
    let (status, body) = refresh(&b.base, &rp, &rt(&winners[0])).await;
    assert_invalid_grant(status, &body);
    let (status, body) = refresh(&a.base, &rp, &rt(&winners[0])).await;
    assert_invalid_grant(status, &body);
    let listed = families(&sandbox);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "revoked");
    assert_eq!(listed[0]["revoked_reason"], "reuse");
}

/// A sandbox on the Redis at `url` (an unreachable one, or a private `redis-server` that
/// takes its keys with it; the shared test Redis is `Sandbox::on_redis`, which deletes
/// its keys).
fn redis_sandbox(backend: Backend, url: &str) -> Sandbox {
    Sandbox::with_test_db(backend)
        .env("USHER_REDIS_URL", url)
        .env(
            "USHER_REDIS_PREFIX",
            &usher_families::testing::random_prefix(),
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_refreshes_on_two_servers_sharing_redis_have_one_winner() {
    race(Sandbox::with_test_db(Backend::Sqlite).on_redis()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_refreshes_on_two_servers_sharing_postgres_have_one_winner() {
    race(Sandbox::with_test_db(Backend::Postgres)).await;
}

/// A port nothing listens on.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn ready(server: &Server) -> (u16, Value) {
    let r = reqwest::get(server.url(routes::READYZ)).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_unreachable_the_token_endpoint_fails_closed() {
    let sandbox = redis_sandbox(
        Backend::Sqlite,
        &format!("redis://127.0.0.1:{}", free_port()),
    );
    let (server, rp) = setup(&sandbox);
    let (status, body) = ready(&server).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["family_store"], "unavailable");
    assert_eq!(body["database"], "ok");

    let (code, verifier) = sign_in(&server.base, &Browser::new(), &rp, SCOPE).await;
    let started = Instant::now();
    let (status, body) = token_request(
        &server.base,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert!(started.elapsed() < Duration::from_secs(10), "no hanging");
    assert_eq!(
        sandbox.count("authorization_codes WHERE consumed_at IS NULL"),
        1,
        "the code was not spent: the client can retry"
    );
    assert_eq!(
        sandbox.count("code_tokens"),
        0,
        "no access token was issued"
    );

    // Garbage is refused on its face, without the store.
    let (status, body) = refresh(&server.base, &rp, "garbage").await;
    assert_invalid_grant(status, &body);
}

/// A private `redis-server` on a port of its own, killed when dropped.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server is needed for this test (install Redis): {e}")
            });
        let redis = PrivateRedis {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the private redis did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `f` until it returns true, for up to 20 seconds.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn when_redis_stops_mid_test_usher_answers_503_and_recovers_without_a_restart() {
    let mut redis = PrivateRedis::start(free_port());
    let sandbox = redis_sandbox(Backend::Sqlite, &redis.url());
    let (server, rp) = setup(&sandbox);
    let browser = Browser::new();
    let first = tokens(&server.base, &browser, &rp, SCOPE).await;
    let (status, second) = refresh(&server.base, &rp, &rt(&first)).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(ready(&server).await.0, 200);

    redis.stop();
    let (status, body) = refresh(&server.base, &rp, &rt(&second)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(ready(&server).await.0, 503);

    let _redis = PrivateRedis::start(redis.port);
    eventually("readyz is green again", || async {
        ready(&server).await.0 == 200
    })
    .await;
    // That Redis kept nothing: the lost family's token stops working (never the reverse).
    let (status, body) = refresh(&server.base, &rp, &rt(&second)).await;
    assert_invalid_grant(status, &body);
    // A new sign-in gets a new family, which refreshes: the same Usher process.
    let fresh = tokens(&server.base, &browser, &rp, SCOPE).await;
    let (status, body) = refresh(&server.base, &rp, &rt(&fresh)).await;
    assert_eq!(status, 200, "{body}");
}
