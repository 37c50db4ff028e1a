//! Operating one node: `/metrics` counts what happened, the access log has one line per
//! request with a request id and never a secret, bodies and headers are size-limited,
//! slow clients are cut off, and SIGTERM stops the server gracefully.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use usher_http::routes;

use crate::helpers::{self, Backend, Browser, Sandbox, Server};
use crate::refresh::{self, CALLBACK, PASSWORD, Rp, SCOPE};

/// The value of one series in a Prometheus text page (0 if absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

pub async fn scrape(url: &str) -> String {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    r.text().await.unwrap()
}

/// A confidential `client_credentials` client with one audience; (id, secret).
pub fn service(sandbox: &Sandbox) -> (String, String) {
    let c = sandbox.client(&[
        "--name",
        "Billing",
        "--grant-type",
        "client_credentials",
        "--audience",
        "https://api.example.com",
    ]);
    (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn client_credentials(base: &str, id: &str, secret: &str) -> (u16, Value) {
    refresh::post_form(
        base,
        routes::TOKEN,
        &Rp {
            id: id.to_owned(),
            secret: secret.to_owned(),
        },
        &[("grant_type", "client_credentials")],
    )
    .await
}

/// Everything secret a full sign-in used or produced.
struct Secrets(Vec<String>);

/// A failed login, a sign-in with a code exchange and a refresh, and a client-credentials
/// token: every counter of interest moves once.
async fn traffic(sandbox: &Sandbox, server: &Server, rp: &Rp) -> Secrets {
    let (svc_id, svc_secret) = service(sandbox);
    let browser = Browser::new();
    // A wrong password first.
    let pkce = helpers::pkce();
    let url = helpers::authorize_url(
        &server.base,
        &[
            ("response_type", "code"),
            ("client_id", rp.id.as_str()),
            ("redirect_uri", CALLBACK),
            ("scope", SCOPE),
            ("state", "s"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let page = helpers::sign_in(&browser, &server.base, &url, "alice", "not the password").await;
    assert_eq!(page.status, 401, "{}", page.body);

    let (code, verifier) = refresh::sign_in(&server.base, &browser, rp, SCOPE).await;
    let (status, first) = refresh::token_request(
        &server.base,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let (status, second) =
        refresh::refresh(&server.base, rp, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{second}");
    let (status, service_token) = client_credentials(&server.base, &svc_id, &svc_secret).await;
    assert_eq!(status, 200, "{service_token}");

    let mut secrets = vec![
        PASSWORD.to_owned(),
        "not the password".to_owned(),
        rp.secret.clone(),
        svc_secret,
        code,
        verifier,
    ];
    for body in [&first, &second, &service_token] {
        for field in ["access_token", "refresh_token", "id_token"] {
            if let Some(t) = body[field].as_str() {
                secrets.push(t.to_owned());
                // Its signature alone would be a leak too.
                if let Some(sig) = t.rsplit('.').next() {
                    secrets.push(sig.to_owned());
                }
            }
        }
    }
    Secrets(secrets)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_tokens_rotations_and_login_failures() {
    let sandbox =
        Sandbox::with_test_db(Backend::Sqlite).env("USHER_METRICS_ON_MAIN_LISTENER", "true");
    let (server, rp) = refresh::setup(&sandbox);
    let metrics_url = server.url(routes::METRICS);
    let before = scrape(&metrics_url).await;
    traffic(&sandbox, &server, &rp).await;
    let after = scrape(&metrics_url).await;
    let moved = |series: &str| metric(&after, series) - metric(&before, series);

    for (series, by) in [
        (
            "usher_tokens_issued_total{grant_type=\"authorization_code\"}",
            1.0,
        ),
        (
            "usher_tokens_issued_total{grant_type=\"refresh_token\"}",
            1.0,
        ),
        (
            "usher_tokens_issued_total{grant_type=\"client_credentials\"}",
            1.0,
        ),
        ("usher_refresh_rotations_total", 1.0),
        ("usher_login_failures_total", 1.0),
        ("usher_refresh_reuse_detected_total", 0.0),
        ("usher_store_errors_total{store=\"family_store\"}", 0.0),
        (
            "usher_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"}",
            3.0,
        ),
        (
            "usher_http_requests_total{route=\"/authorize/login\",method=\"POST\",status=\"401\"}",
            1.0,
        ),
        (
            "usher_http_request_duration_seconds_count{route=\"/token\",method=\"POST\",status=\"200\"}",
            3.0,
        ),
    ] {
        assert_eq!(moved(series), by, "{series}:\n{after}");
    }
    // Routes are the patterns, never raw paths with a query.
    assert!(!after.contains("code="), "{after}");
    assert!(after.contains("# TYPE usher_http_request_duration_seconds histogram"));

    // A reused refresh token is counted, and so is the family it revokes.
    let first = refresh::tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    let old = first["refresh_token"].as_str().unwrap();
    assert_eq!(refresh::refresh(&server.base, &rp, old).await.0, 200);
    assert_eq!(refresh::refresh(&server.base, &rp, old).await.0, 400);
    let last = scrape(&metrics_url).await;
    assert_eq!(
        metric(&last, "usher_refresh_reuse_detected_total")
            - metric(&after, "usher_refresh_reuse_detected_total"),
        1.0
    );
    assert_eq!(
        metric(&last, "usher_families_revoked_total{reason=\"reuse\"}")
            - metric(&after, "usher_families_revoked_total{reason=\"reuse\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_be_served_on_a_separate_address_only() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sandbox = Sandbox::new().env("USHER_METRICS_BIND", &format!("127.0.0.1:{port}"));
    let server = sandbox.serve();
    let main = reqwest::get(server.url(routes::METRICS)).await.unwrap();
    assert_eq!(main.status(), 404, "not on the public listener");
    let text = scrape(&format!("http://127.0.0.1:{port}{}", routes::METRICS)).await;
    assert!(text.contains("usher_tokens_issued_total"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_off_the_public_listener_unless_enabled_there_explicitly() {
    let server = Sandbox::new().serve();
    let main = reqwest::get(server.url(routes::METRICS)).await.unwrap();
    assert_eq!(main.status(), 404, "not on the public listener by default");
    assert!(
        server.listening["metrics"]
            .as_str()
            .is_some_and(|m| m.starts_with("off")),
        "{}",
        server.listening
    );
    let server = Sandbox::new()
        .env("USHER_METRICS_ON_MAIN_LISTENER", "true")
        .serve();
    let text = scrape(&server.url(routes::METRICS)).await;
    assert!(text.contains("usher_tokens_issued_total"), "{text}");
    let bad = Sandbox::new().env("USHER_METRICS_ON_MAIN_LISTENER", "yes please");
    assert_eq!(bad.usher(&["serve"], None).code(), Some(2));
}

/// Issue 12, item 4: a node or an admin command that cannot open its database says so
/// with the URL redacted, never with the password, even at debug level.
#[test]
fn a_failed_start_never_prints_the_database_password() {
    let kek = usher_keys::Kek::generate().unwrap().to_base64();
    for url in [
        "postgres://u:s3cretpw@127.0.0.1:1/x",
        "postgresql://u@127.0.0.1:1/x?password=s3cretpw&sslmode=disable",
        "postgres://u:s3cret%70w@127.0.0.1:1/x",
    ] {
        for args in [
            vec!["serve"],
            vec!["client", "list"],
            vec!["keys", "rotate", "--now"],
            vec!["migrate"],
        ] {
            let sandbox = Sandbox::new()
                .env("USHER_DATABASE_URL", url)
                .env("USHER_KEK", &kek)
                .env("USHER_BIND", "127.0.0.1:0")
                .env("USHER_LOG", "debug");
            let run = sandbox.usher(&args, None);
            assert!(!run.ok(), "{args:?} {url}");
            let all = format!("{}\n{}", run.stdout(), run.stderr());
            assert!(
                !all.contains("s3cretpw") && !all.contains("s3cret%70w"),
                "{args:?} printed the password of {url}:\n{all}"
            );
            assert!(
                all.contains("127.0.0.1:1") && all.contains("***"),
                "{args:?}: the message still names the database: {all}"
            );
        }
    }
    // Unescaped '@' or '?' in the password: libpq would read part of it as the host and
    // print it; the settings refuse such a URL without echoing it.
    for url in [
        "postgres://u:s3cret@pw@127.0.0.1:1/x",
        "postgres://u:1234?s3cretpw@127.0.0.1:1/x",
    ] {
        for args in [vec!["serve"], vec!["client", "list"]] {
            let sandbox = Sandbox::new()
                .env("USHER_DATABASE_URL", url)
                .env("USHER_KEK", &kek)
                .env("USHER_LOG", "debug");
            let run = sandbox.usher(&args, None);
            assert!(!run.ok(), "{args:?} {url}");
            let all = format!("{}\n{}", run.stdout(), run.stderr());
            assert!(all.contains("percent-encode"), "{all}");
            assert!(
                !all.contains("s3cret") && !all.contains("pw@") && !all.contains("1234"),
                "{args:?} printed part of the password of {url}:\n{all}"
            );
        }
    }
}

/// Issue 12, item 21: the container health check is liveness (`/healthz`); a database or
/// Redis outage must not restart every replica. `/readyz` is for the load balancer.
#[test]
fn the_container_health_checks_probe_liveness_not_readiness() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let check = dockerfile
        .split("HEALTHCHECK")
        .nth(1)
        .expect("a HEALTHCHECK");
    assert!(check.contains("GET /healthz"), "{check}");
    assert!(!check.contains("/readyz"), "{check}");
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let usher_check = compose
        .split("healthcheck: &usher_health")
        .nth(1)
        .and_then(|rest| rest.split("retries").next())
        .expect("the replicas' health check");
    assert!(usher_check.contains("GET /healthz"), "{usher_check}");
    assert!(!compose.contains("/readyz HTTP"), "{compose}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_logs_one_line_per_request_with_an_id_and_no_secret() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    let (server, rp) = refresh::setup(&sandbox);
    let secrets = traffic(&sandbox, &server, &rp).await;

    let r = reqwest::get(server.url(routes::HEALTHZ)).await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.len() >= 16, "{id}");

    // Give the log reader a moment to catch up with the last line.
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = server.log();
        if log.iter().any(|l| l.contains(&id)) || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let lines: Vec<Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|v| v["event"] == "request").collect();
    // 2 authorize GETs, 2 login POSTs, 3 token POSTs, 1 healthz at least.
    assert!(requests.len() >= 8, "{log:#?}");
    for line in &requests {
        assert!(line["request_id"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(line["route"].as_str().is_some_and(|r| r.starts_with('/')));
        assert!(line["status"].as_u64().is_some());
        assert!(line["latency_ms"].as_f64().is_some());
    }
    let healthz = requests
        .iter()
        .find(|l| l["request_id"] == id.as_str())
        .expect("the healthz line carries the returned request id");
    assert_eq!(healthz["route"], routes::HEALTHZ);
    let token_lines: Vec<_> = requests
        .iter()
        .filter(|l| l["route"] == routes::TOKEN && l["status"] == 200)
        .collect();
    assert_eq!(token_lines.len(), 3);
    assert!(
        token_lines.iter().any(|l| l["client_id"] == rp.id.as_str()),
        "the client is named: {token_lines:#?}"
    );
    let ids: std::collections::HashSet<_> =
        requests.iter().map(|l| l["request_id"].clone()).collect();
    assert_eq!(ids.len(), requests.len(), "request ids are unique");

    let all = log.join("\n");
    for secret in &secrets.0 {
        assert!(!all.contains(secret.as_str()), "the log contains a secret");
    }
    assert!(
        !all.to_ascii_lowercase().contains("basic "),
        "no Authorization header"
    );
}

/// Reads what the server sends on `stream` until it closes or `limit` passes.
fn read_all(stream: &mut TcpStream, limit: Duration) -> String {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_and_headers_are_refused() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    let big = format!("grant_type=client_credentials&x={}", "a".repeat(200 * 1024));
    let r = reqwest::Client::new()
        .post(server.url(routes::TOKEN))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    for path in [
        routes::LOGIN,
        routes::CONSENT,
        routes::REVOKE,
        routes::INTROSPECT,
    ] {
        let r = reqwest::Client::new()
            .post(server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
    }

    // A request head over actix-http's 128 KiB, or with more than 96 fields: refused
    // before any handler runs.
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    for extra in [format!("X-Big: {}\r\n", "b".repeat(200 * 1024)), many] {
        let mut stream = connect(&server);
        let request = format!("GET {} HTTP/1.1\r\nHost: x\r\n{extra}\r\n", routes::HEALTHZ);
        let _ = stream.write_all(request.as_bytes());
        let answer = read_all(&mut stream, Duration::from_secs(10));
        assert!(
            answer.is_empty()
                || answer.starts_with("HTTP/1.1 431")
                || answer.starts_with("HTTP/1.1 400"),
            "{answer}"
        );
    }
    // The server is fine afterwards.
    assert_eq!(
        reqwest::get(server.url(routes::HEALTHZ))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_sends_its_headers_slowly_is_cut_off() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    let mut stream = connect(&server);
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Then nothing more: a slowloris.
    let answer = read_all(&mut stream, Duration::from_secs(20));
    let took = started.elapsed();
    assert!(
        took < usher_http::CLIENT_REQUEST_TIMEOUT + Duration::from_secs(5),
        "cut off after {took:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[test]
fn sigterm_stops_accepting_finishes_the_request_in_flight_and_exits_0() {
    let sandbox = Sandbox::new();
    let mut server = sandbox.serve();
    // A request in flight: headers and half of the body sent.
    let body = "grant_type=client_credentials&client_id=nobody";
    let (head, tail) = body.split_at(20);
    let mut stream = connect(&server);
    stream
        .write_all(
            format!(
                "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
                routes::TOKEN,
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    // Give the server time to accept the connection and read the head (generous: the
    // machine may be busy; nothing below depends on how long this took).
    std::thread::sleep(Duration::from_millis(1000));
    server.signal("TERM");
    // New connections stop being served once the signal is handled (polled, not timed:
    // a busy machine may take a moment), while the request in flight is still waiting.
    let client = reqwest::blocking::Client::new();
    let signalled = std::time::Instant::now();
    while client
        .get(server.url(routes::HEALTHZ))
        .timeout(Duration::from_secs(2))
        .send()
        .is_ok()
    {
        assert!(
            signalled.elapsed() < Duration::from_secs(20),
            "new requests were still served 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The one in flight completes.
    stream.write_all(tail.as_bytes()).unwrap();
    let answer = read_all(&mut stream, Duration::from_secs(10));
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "the in-flight request got its answer: {answer}"
    );
    assert!(answer.contains("invalid_client"), "{answer}");
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("usher exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(server.log().iter().any(|l| l.contains("usher stopped")));
}

#[test]
fn the_deployment_files_use_only_real_setting_names() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let known: Vec<&str> = usher::config::SETTINGS.iter().map(|(_, v, _)| *v).collect();
    for file in [
        "docker-compose.yml",
        "Dockerfile",
        "deploy/usher.env.example",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("USHER_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            assert!(
                known.contains(&name.as_str()),
                "{file}: {name} is not a setting"
            );
            rest = &rest[i + name.len()..];
        }
    }
}

/// `usher_families_revoked_total` counts families revoked, not revocation requests:
/// sixteen concurrent `/revoke`s of one refresh token, then one more, count one.
#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_family_again_is_not_counted_again() {
    let sandbox =
        Sandbox::with_test_db(Backend::Sqlite).env("USHER_METRICS_ON_MAIN_LISTENER", "true");
    let (server, rp) = refresh::setup(&sandbox);
    let t = refresh::tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    let token = t["refresh_token"].as_str().unwrap().to_owned();
    let metrics_url = server.url(routes::METRICS);
    let series = "usher_families_revoked_total{reason=\"revoked_by_client\"}";
    let before = metric(&scrape(&metrics_url).await, series);
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (base, rp, token) = (server.base.clone(), rp.clone(), token.clone());
            tokio::spawn(async move {
                refresh::post_form(&base, routes::REVOKE, &rp, &[("token", &token)]).await
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap().0, 200);
    }
    let again = refresh::post_form(&server.base, routes::REVOKE, &rp, &[("token", &token)]).await;
    assert_eq!(again.0, 200);
    let after = metric(&scrape(&metrics_url).await, series);
    assert_eq!(after - before, 1.0, "one family was revoked");
}
