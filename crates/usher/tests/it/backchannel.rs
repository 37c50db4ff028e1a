//! OpenID Connect Back-Channel Logout 1.0 end to end: a relying party's back-channel
//! endpoint (a small HTTP listener in the test) receives a logout token that verifies
//! against `/jwks.json` (josekit, as an RP would) with the right `typ`, `iss`, `aud`,
//! `sub`, `sid`, `events` and no `nonce` — after an RP-initiated logout, after `usher user
//! revoke-sessions`, and after a refresh-token reuse; an endpoint that fails is tried
//! again later (delays from `USHER_BACKCHANNEL__RETRY_DELAYS`, not minutes of sleep);
//! a redirecting endpoint is not followed. The outbound client's address rules (a
//! private address refused when the issuer is not on loopback) are unit tests of
//! `usher_core::outbound`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use usher_http::routes;

use crate::client_credentials::verify;
use crate::helpers::{Backend, Browser, Sandbox, Server};
use crate::refresh::{AFTER_LOGOUT, CALLBACK, PASSWORD, Rp, SCOPE, refresh, tokens};

/// One request the RP's endpoint received.
#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `logout_token` of the form body.
    fn logout_token(&self) -> String {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no logout_token in {:?}", self.body))
    }
}

/// A back-channel logout endpoint: answers each request with the next of `answers` (the
/// last one repeats) and keeps what it received.
struct Endpoint {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Endpoint {
    fn start(answers: Vec<String>) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let keep = received.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                keep.lock().unwrap().push(request);
                let answer = answers.get(n).or(answers.last()).unwrap();
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        Endpoint { port, received }
    }

    /// Answers `status` to everything.
    fn answering(status: u16) -> Endpoint {
        Endpoint::start(vec![answer(status)])
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/backchannel-logout", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (at most `limit`); returns them.
    fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n || start.elapsed() > limit {
                assert!(
                    got.len() >= n,
                    "{} of {n} requests arrived in {limit:?}",
                    got.len()
                );
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn answer(status: u16) -> String {
    format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Registers a confidential first-party client told at `endpoint`.
fn register(sandbox: &Sandbox, endpoint: &str, extra: &[&str]) -> Rp {
    let mut args = vec![
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
        "--backchannel-logout-uri",
        endpoint,
    ];
    args.extend_from_slice(extra);
    let c = sandbox.client(&args);
    Rp {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
    }
}

fn start(sandbox: &Sandbox) -> Server {
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &["--name", "Alice Liddell"]);
    server
}

async fn jwks(server: &Server) -> Value {
    reqwest::get(server.url(routes::JWKS))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Checks one received logout request against the spec (Back-Channel Logout 1.0 §2.4,
/// §2.5): a form POST whose `logout_token` verifies against the JWKS, for `rp`, about
/// `sub` and `sid`. Returns the claims.
async fn check_logout(server: &Server, request: &Received, rp: &Rp, sub: &str, sid: &str) -> Value {
    assert!(
        request
            .request_line
            .starts_with("POST /backchannel-logout "),
        "{}",
        request.request_line
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let token = request.logout_token();
    let (header, claims) = verify(&token, &jwks(server).await, now()).unwrap();
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], server.issuer.as_str());
    assert_eq!(claims["aud"], rp.id.as_str());
    assert_eq!(claims["sub"], sub);
    assert_eq!(claims["sid"], sid);
    assert_eq!(
        claims["events"],
        serde_json::json!({ "http://schemas.openid.net/event/backchannel-logout": {} })
    );
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 120);
    assert!((iat - now()).abs() < 60);
    claims
}

fn sub_and_sid(id_token: &str) -> (String, String) {
    let claims = crate::refresh::claims(id_token);
    (
        claims["sub"].as_str().unwrap().to_owned(),
        claims["sid"]
            .as_str()
            .unwrap_or_else(|| panic!("no sid in {claims}"))
            .to_owned(),
    )
}

async fn logout_sends_the_client_a_logout_token_that_verifies(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = start(&sandbox);
    let endpoint = Endpoint::answering(200);
    let rp = register(
        &sandbox,
        &endpoint.uri(),
        &["--backchannel-logout-session-required"],
    );
    let shown = sandbox
        .usher(&["client", "show", &rp.id, "--json"], None)
        .json();
    assert_eq!(shown["backchannel_logout_uri"], endpoint.uri().as_str());
    assert_eq!(shown["backchannel_logout_session_required"], true);
    let discovery: Value = reqwest::get(server.url(routes::DISCOVERY))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);

    let browser = Browser::new();
    let first = tokens(&server.base, &browser, &rp, SCOPE).await;
    let (sub, sid) = sub_and_sid(first["id_token"].as_str().unwrap());
    // The sid is the browser session's: the same for a second sign-in there, and
    // nothing like the session cookie.
    let second = tokens(&server.base, &browser, &rp, SCOPE).await;
    assert_eq!(sub_and_sid(second["id_token"].as_str().unwrap()).1, sid);
    // Refreshed ID tokens carry it too.
    let (status, refreshed) =
        refresh(&server.base, &rp, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(sub_and_sid(refreshed["id_token"].as_str().unwrap()).1, sid);
    assert!(endpoint.received().is_empty());

    let mut url = url::Url::parse(&server.url(routes::LOGOUT)).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", first["id_token"].as_str().unwrap());
    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status, 200, "{}", page.body);

    let got = endpoint.wait_for(1, Duration::from_secs(15));
    check_logout(&server, &got[0], &rp, &sub, &sid).await;
    // Told once, and the token is never logged.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(endpoint.received().len(), 1);
    let token = got[0].logout_token();
    assert!(server.log().iter().all(|l| !l.contains(&token)));
    assert_eq!(sandbox.count("backchannel_logouts"), 0);
}

async fn revoke_sessions_and_refresh_reuse_each_tell_the_client(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = start(&sandbox);
    let endpoint = Endpoint::answering(204);
    let rp = register(&sandbox, &endpoint.uri(), &[]);
    let browser = Browser::new();
    let t = tokens(&server.base, &browser, &rp, SCOPE).await;
    let (sub, sid) = sub_and_sid(t["id_token"].as_str().unwrap());

    let out = sandbox
        .usher(&["user", "revoke-sessions", "alice", "--json"], None)
        .json();
    assert_eq!(out["sessions_ended"], 1);
    let got = endpoint.wait_for(1, Duration::from_secs(15));
    check_logout(&server, &got[0], &rp, &sub, &sid).await;

    // A new sign-in (a new browser session, a new sid); its refresh token is used, then
    // the first one again: the family is revoked and the client told.
    let browser = Browser::new();
    let t = tokens(&server.base, &browser, &rp, SCOPE).await;
    let (_, new_sid) = sub_and_sid(t["id_token"].as_str().unwrap());
    assert_ne!(new_sid, sid);
    let first = t["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(&server.base, &rp, first).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = refresh(&server.base, &rp, first).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let got = endpoint.wait_for(2, Duration::from_secs(15));
    check_logout(&server, &got[1], &rp, &sub, &new_sid).await;
}

async fn a_failing_endpoint_is_tried_again_and_a_redirect_is_not_followed(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend).env("USHER_BACKCHANNEL__RETRY_DELAYS", "1,2");
    let server = start(&sandbox);
    // Down once, then up.
    let flaky = Endpoint::start(vec![answer(503), answer(200)]);
    // Redirects to another listener, which must never be called.
    let elsewhere = Endpoint::answering(200);
    let redirecting = Endpoint::start(vec![format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        elsewhere.uri()
    )]);
    let flaky_rp = register(&sandbox, &flaky.uri(), &[]);
    let redirecting_rp = register(&sandbox, &redirecting.uri(), &[]);
    let browser = Browser::new();
    let t = tokens(&server.base, &browser, &flaky_rp, SCOPE).await;
    tokens(&server.base, &browser, &redirecting_rp, SCOPE).await;
    let (sub, sid) = sub_and_sid(t["id_token"].as_str().unwrap());

    let mut url = url::Url::parse(&server.url(routes::LOGOUT)).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", t["id_token"].as_str().unwrap());
    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status, 200, "{}", page.body);

    let got = flaky.wait_for(2, Duration::from_secs(20));
    let first = check_logout(&server, &got[0], &flaky_rp, &sub, &sid).await;
    let second = check_logout(&server, &got[1], &flaky_rp, &sub, &sid).await;
    assert_ne!(first["jti"], second["jti"], "each attempt is a new token");
    // The redirecting one: the first attempt and two retries, then dropped.
    redirecting.wait_for(3, Duration::from_secs(20));
    let start = Instant::now();
    while sandbox.count("backchannel_logouts") > 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sandbox.count("backchannel_logouts"), 0);
    assert_eq!(redirecting.received().len(), 3);
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
    assert_eq!(flaky.received().len(), 2);
    assert!(
        server
            .log_with("backchannel_logout_dropped")
            .iter()
            .any(|l| l.contains("backchannel_logout_dropped")),
        "{:?}",
        server.log()
    );
}

crate::async_on_both_backends!(
    logout_sends_the_client_a_logout_token_that_verifies,
    revoke_sessions_and_refresh_reuse_each_tell_the_client,
    a_failing_endpoint_is_tried_again_and_a_redirect_is_not_followed,
);
