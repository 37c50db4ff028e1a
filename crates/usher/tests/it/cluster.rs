//! Three `usher serve` processes on their own loopback ports over one PostgreSQL
//! database and one Redis (a private key prefix), sharing one KEK and one issuer (node
//! A's URL): a browser session started on one node continues on another, a refresh
//! rotated at one node and replayed at another is detected, a key rotation is served by
//! every node within the poll interval, and a node killed with SIGKILL while clients
//! refresh through all of them loses nothing.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;
use usher_http::routes;

use crate::helpers::{self, Backend, Browser, Sandbox, Server};
use crate::refresh::{self, CALLBACK, PASSWORD, Rp, SCOPE};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The cluster: one sandbox per node (its own directory), one database, one Redis
/// prefix, one KEK, and the issuer of node A.
pub struct Cluster {
    pub sandboxes: Vec<Sandbox>,
    pub nodes: Vec<Option<Server>>,
    pub issuer: String,
    /// The shared Redis prefix, whose keys are deleted when the cluster is dropped: last,
    /// so that the nodes (dropped in field order) have stopped by then.
    _redis: usher_families::testing::TestPrefix,
}

impl Cluster {
    pub fn start(n: usize) -> Cluster {
        let redis = usher_families::testing::TestPrefix::new();
        let kek = usher_keys::Kek::generate().unwrap().to_base64();
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let issuer = format!("http://127.0.0.1:{}", ports[0]);
        let first = Sandbox::with_test_db(Backend::Postgres);
        let db_url = first.env_value("USHER_DATABASE_URL").unwrap();
        let configure = |s: Sandbox, port: u16| {
            s.env("USHER_KEK", &kek)
                .env("USHER_REDIS_URL", redis.url())
                .env("USHER_REDIS_PREFIX", redis.as_str())
                .env("USHER_ISSUER", &issuer)
                .env("USHER_BIND", &format!("127.0.0.1:{port}"))
                .env("USHER_KEYS__POLL_INTERVAL", "1")
        };
        let mut sandboxes = vec![configure(first, ports[0])];
        for port in &ports[1..] {
            sandboxes.push(configure(
                Sandbox::new().env("USHER_DATABASE_URL", &db_url),
                *port,
            ));
        }
        // Node A migrates and creates the first key; the others then start on it.
        let mut nodes = vec![Some(sandboxes[0].serve())];
        for s in &sandboxes[1..] {
            nodes.push(Some(s.serve()));
        }
        for node in nodes.iter().flatten() {
            assert_eq!(node.issuer, issuer, "one issuer for all");
        }
        Cluster {
            sandboxes,
            nodes,
            issuer,
            _redis: redis,
        }
    }

    pub fn base(&self, i: usize) -> String {
        self.nodes[i].as_ref().expect("a live node").base.clone()
    }

    /// The admin CLI, against the shared database.
    pub fn admin(&self) -> &Sandbox {
        &self.sandboxes[0]
    }
}

fn third_party(sandbox: &Sandbox) -> Rp {
    let c = sandbox.client(&[
        "--name",
        "Shop",
        "--redirect-uri",
        CALLBACK,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        SCOPE,
    ]);
    Rp {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
    }
}

fn assert_invalid_grant(status: u16, body: &Value) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

async fn jwks_kids(base: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(format!("{base}{}", routes::JWKS))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_share_sessions_codes_refresh_families_and_keys() {
    let cluster = Cluster::start(3);
    let (a, b, c) = (cluster.base(0), cluster.base(1), cluster.base(2));
    let rp = third_party(cluster.admin());
    refresh::alice(cluster.admin());

    // Login on A, consent on B, code redeemed at C: one browser, cookies per host (a
    // cookie ignores the port, so the one jar serves all three, as for a load balancer).
    let browser = Browser::new();
    let pkce = helpers::pkce();
    let url = helpers::authorize_url(
        &a,
        &[
            ("response_type", "code"),
            ("client_id", rp.id.as_str()),
            ("redirect_uri", CALLBACK),
            ("scope", SCOPE),
            ("state", "st"),
            ("nonce", "n"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let login = browser.get(&url).await;
    assert!(login.has_form(routes::LOGIN), "{}", login.body);
    let consent = browser
        .submit(
            &a,
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert!(consent.has_form(routes::CONSENT), "{}", consent.body);
    let back = browser
        .submit(&b, &consent, routes::CONSENT, &[("decision", "approve")])
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(
        back.redirect_param("iss").as_deref(),
        Some(cluster.issuer.as_str())
    );
    let code = back.redirect_param("code").expect("a code");
    let (status, tokens) = refresh::token_request(
        &c,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        refresh::claims(tokens["id_token"].as_str().unwrap())["iss"],
        cluster.issuer
    );
    // The session continues on C: a second authorization there needs no login.
    let again = browser
        .get(&helpers::authorize_url(
            &c,
            &[
                ("response_type", "code"),
                ("client_id", rp.id.as_str()),
                ("redirect_uri", CALLBACK),
                ("scope", SCOPE),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    assert_eq!(
        again.status, 303,
        "consent remembered, session shared: {}",
        again.body
    );

    // A refresh rotated at A and replayed at B is detected; the family dies everywhere.
    let t1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = refresh::refresh(&a, &rp, &t1).await;
    assert_eq!(status, 200, "{second}");
    let t2 = second["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh::refresh(&b, &rp, &t1).await;
    assert_invalid_grant(status, &body);
    let (status, body) = refresh::refresh(&c, &rp, &t2).await;
    assert_invalid_grant(status, &body);

    // `usher keys rotate --now` on the shared database: every node serves the new key
    // within the poll interval (1 s here; the bound is poll_interval + 60 s of skew).
    let rotated = cluster
        .admin()
        .usher(&["keys", "rotate", "--now", "--json"], None)
        .json();
    let kid = rotated["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["alg"] == "RS256")
        .unwrap()["active"]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    for base in [&a, &b, &c] {
        loop {
            if jwks_kids(base).await.contains(&kid) {
                let (status, body) = refresh::post_form(
                    base,
                    routes::TOKEN,
                    &rp,
                    &[("grant_type", "client_credentials")],
                )
                .await;
                // This client may not use client_credentials: any answer, but not 5xx.
                assert!(status < 500, "{body}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{base} did not publish {kid} within the bound"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Tokens from every node are now signed with the new key.
    for base in [&a, &b, &c] {
        let browser = Browser::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body = refresh::tokens(base, &browser, &rp, SCOPE).await;
            let (header, _) = helpers::jwt_parts(body["access_token"].as_str().unwrap());
            if header["kid"] == kid.as_str() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{base} still signs with the old key"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// What one client knows about its family.
struct Holder {
    token: String,
    /// A request was cut off mid-flight: the store may have rotated without telling.
    ambiguous: bool,
    refreshed_after_kill: usize,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_while_clients_refresh_loses_no_token_and_no_family() {
    let mut cluster = Cluster::start(3);
    let rp = refresh::register(cluster.admin());
    refresh::alice(cluster.admin());
    let bases: Vec<String> = (0..3).map(|i| cluster.base(i)).collect();

    // Eight clients, each with its own family.
    let mut holders = Vec::new();
    for i in 0..8 {
        let body = refresh::tokens(&bases[i % 3], &Browser::new(), &rp, SCOPE).await;
        holders.push(Holder {
            token: body["refresh_token"].as_str().unwrap().to_owned(),
            ambiguous: false,
            refreshed_after_kill: 0,
        });
    }
    let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, mut holder) in holders.into_iter().enumerate() {
        let (bases, rp, killed) = (bases.clone(), rp.clone(), killed.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..24 {
                let base = &bases[(i + round) % 3];
                let after_kill = killed.load(std::sync::atomic::Ordering::SeqCst);
                let response = reqwest::Client::new()
                    .post(format!("{base}{}", routes::TOKEN))
                    .basic_auth(&rp.id, Some(&rp.secret))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &holder.token),
                    ])
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match response {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        if status == 200 {
                            holder.token = body["refresh_token"].as_str().unwrap().to_owned();
                            if after_kill {
                                holder.refreshed_after_kill += 1;
                            }
                        } else {
                            assert!(
                                holder.ambiguous,
                                "client {i}: a token it received was refused ({status}): {body}"
                            );
                            assert_eq!(status, 400, "{body}");
                            return holder;
                        }
                    }
                    // Refused at connect: nothing happened; the token is unchanged.
                    Err(e) if e.is_connect() => {}
                    // Cut off mid-request by the kill: the rotation may have happened.
                    Err(_) => holder.ambiguous = true,
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            holder
        }));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    cluster.nodes[1].take().unwrap().stop(); // SIGKILL
    killed.store(true, std::sync::atomic::Ordering::SeqCst);

    let mut survivors = Vec::new();
    for task in tasks {
        survivors.push(task.await.unwrap());
    }
    let clear: Vec<&Holder> = survivors.iter().filter(|h| !h.ambiguous).collect();
    assert!(!clear.is_empty());
    assert!(
        clear.iter().any(|h| h.refreshed_after_kill > 0),
        "clients kept refreshing through the survivors"
    );
    // Every token a client holds still works at both survivors' turn (one use each:
    // the second use is with the child).
    for h in &clear {
        let (status, body) = refresh::refresh(&bases[0], &rp, &h.token).await;
        assert_eq!(status, 200, "{body}");
        let child = body["refresh_token"].as_str().unwrap();
        let (status, body) = refresh::refresh(&bases[2], &rp, child).await;
        assert_eq!(status, 200, "{body}");
    }
    // No family is half-rotated: each is active with one current token, or revoked.
    for f in refresh::families(cluster.admin()) {
        assert!(
            f["state"] == "active" || f["revoked_reason"] == "reuse",
            "{f}"
        );
    }
}

/// POST `path` with HTTP Basic, blocking; returns the status and the JSON body (or null).
fn basic_post(
    base: &str,
    path: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = helpers::http()
        .post(format!("{base}{path}"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// Polls `done` until it holds, for at most `limit`; returns how long that took.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() <= limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Each node keeps short-lived copies of clients and of the revoked-token set
/// (`cache_ttl`, 2 s by default; docs/design/caching.md). A revocation through one node
/// is seen there at once and on the others within that bound; a secret rotated with
/// the CLI works at once everywhere, and the old one stops working within the bound.
#[test]
fn nodes_see_revocations_and_secret_rotations_within_the_cache_bound() {
    let cluster = Cluster::start(2);
    let (a, b) = (cluster.base(0), cluster.base(1));
    let (id, secret) = crate::client_credentials::service(
        cluster.admin(),
        &[
            "--scope",
            "billing:read",
            "--audience",
            "https://billing.example",
        ],
    );
    let token = |base: &str, secret: &str| {
        basic_post(
            base,
            routes::TOKEN,
            &id,
            secret,
            &[("grant_type", "client_credentials")],
        )
    };
    let (status, t) = token(&a, &secret);
    assert_eq!(status, 200, "{t}");
    let access = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token(&b, &secret).0, 200);
    let active = |base: &str| {
        let (status, body) = basic_post(
            base,
            routes::INTROSPECT,
            &id,
            &secret,
            &[("token", &access)],
        );
        assert_eq!(status, 200, "{body}");
        body["active"] == true
    };
    // Both nodes have now read the client and the (empty) revoked set.
    assert!(active(&a) && active(&b));

    let (status, body) = basic_post(&a, routes::REVOKE, &id, &secret, &[("token", &access)]);
    assert_eq!(status, 200, "{body}");
    assert!(
        !active(&a),
        "the node that revoked it must refuse it at once"
    );
    // B re-reads its copy of the revoked set when it is cache_ttl (2 s, in whole
    // seconds) old: the token is refused there in under 3 s, plus request time.
    let seen = within(Duration::from_secs(6), || !active(&b));
    let seen = seen.expect("node B still accepts a token revoked on A after 6 s");
    assert!(
        seen < Duration::from_secs(4),
        "B took {seen:?} to see the revocation"
    );

    let rotated = cluster
        .admin()
        .usher(&["client", "rotate-secret", &id, "--json"], None)
        .json();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    // A's copy has the old secret: it refuses the new one, reads the store, accepts.
    assert_eq!(
        token(&a, &new_secret).0,
        200,
        "the new secret works at once"
    );
    // B is left alone with its copy: the old secret stops working there within the bound.
    let refused = within(Duration::from_secs(6), || token(&b, &secret).0 == 401);
    let refused = refused.expect("node B still accepts the old secret after 6 s");
    assert!(
        refused < Duration::from_secs(4),
        "B took {refused:?} to drop the old secret"
    );
    assert_eq!(token(&b, &new_secret).0, 200);
    assert_eq!(token(&a, &secret).0, 401);
}
