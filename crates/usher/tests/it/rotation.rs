//! Automatic key rotation, proved as the issue states it: Usher nodes over one database
//! (SQLite file, PostgreSQL), one fake clock moved by hand, and a simulated resource
//! server that refetches `/jwks.json` only when its cached copy is older than the
//! `max-age` it was given. Across at least five automatic rotations of every signing
//! algorithm's keys (RS256, ES256, EdDSA: three nodes, each signing access tokens with
//! one of them), with tokens minted continuously on every node, it never meets an
//! unknown `kid` and every token verifies until its `exp`. Then the emergency procedures: `keys rotate --now` and
//! `keys retire KID --compromised`, as docs/design/key-rotation.md describes them.
//!
//! The nodes run in this process (`usher::serve::Node`) so they can share the fake
//! clock; their rotation task is driven by calling `tick` instead of waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::Value;
use usher::config::Settings;
use usher::serve::Node;
use usher_core::Clock;
use usher_domain::UnixTime;
use usher_http::routes;
use usher_store::testing::TestDb;

use crate::client_credentials::{Rejected, service, token, verify};
use crate::helpers::{Backend, Sandbox, http};
use crate::on_both_backends;

on_both_backends!(
    across_five_automatic_rotations_on_two_nodes_no_verifier_meets_an_unknown_kid,
    an_emergency_rotation_signs_at_once_and_caches_may_miss_the_new_key,
    a_compromised_key_leaves_the_jwks_at_once_and_its_tokens_stop_verifying,
);

const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const DAY: i64 = 86_400;

/// A clock the test moves by hand, shared by every node.
struct FakeClock(AtomicI64);

impl FakeClock {
    fn starting_now() -> Arc<FakeClock> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Arc::new(FakeClock(AtomicI64::new(now)))
    }
    fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
    fn get(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Clock for FakeClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.get())
    }
}

/// The shared database, the CLI pointed at it, and the settings the nodes use.
struct Cluster {
    sandbox: Sandbox,
    env: Vec<(String, String)>,
    _db: TestDb,
}

impl Cluster {
    fn new(backend: Backend, extra: &[(&str, &str)]) -> Cluster {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => TestDb::postgres(),
        };
        let mut env: Vec<(String, String)> = [
            ("USHER_DATABASE_URL", db.url.as_str()),
            ("USHER_KEK", KEK),
            ("USHER_ISSUER", "https://usher.example"),
            ("USHER_BIND", "127.0.0.1:0"),
            ("USHER_WORKERS", "2"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        env.sort();
        let mut sandbox = Sandbox::new();
        for (k, v) in &env {
            if k != "USHER_BIND" {
                sandbox = sandbox.env(k, v);
            }
        }
        Cluster {
            sandbox,
            env,
            _db: db,
        }
    }

    fn node(&self, clock: &Arc<FakeClock>) -> Node {
        self.node_with(clock, &[])
    }

    /// A node with settings of its own beside the cluster's.
    fn node_with(&self, clock: &Arc<FakeClock>, extra: &[(&str, &str)]) -> Node {
        let mut env = self.env.clone();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let settings = Settings::load(None, env).unwrap();
        Node::start(settings, clock.clone()).unwrap()
    }
}

/// A resource server's JWKS cache: refetched only when older than the max-age it came
/// with, never because a `kid` is unknown.
struct Verifier {
    cached: Option<(Value, i64, i64)>,
    fetches: usize,
}

fn max_age(cache_control: &str) -> i64 {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .unwrap()
        .parse()
        .unwrap()
}

impl Verifier {
    fn new() -> Verifier {
        Verifier {
            cached: None,
            fetches: 0,
        }
    }

    fn jwks(&mut self, node: &Node, now: i64) -> &Value {
        let stale = match &self.cached {
            None => true,
            Some((_, fetched, max_age)) => now - fetched >= *max_age,
        };
        if stale {
            let response = http().get(node.url(routes::JWKS)).send().unwrap();
            let age = max_age(response.headers()["cache-control"].to_str().unwrap());
            self.cached = Some((response.json().unwrap(), now, age));
            self.fetches += 1;
        }
        &self.cached.as_ref().unwrap().0
    }

    fn verify(&mut self, node: &Node, token: &str, now: i64) -> Result<Value, Rejected> {
        let jwks = self.jwks(node, now).clone();
        verify(token, &jwks, now).map(|(_, claims)| claims)
    }
}

fn kid_of(token: &str) -> String {
    header_member(token, "kid")
}

fn header_member(token: &str, name: &str) -> String {
    josekit::jwt::decode_header(token)
        .unwrap()
        .claim(name)
        .and_then(Value::as_str)
        .unwrap()
        .to_owned()
}

fn mint(node: &Node, client: &(String, String)) -> String {
    let response = token(&node.base, &client.0, &client.1, &[]);
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn across_five_automatic_rotations_on_two_nodes_no_verifier_meets_an_unknown_kid(backend: Backend) {
    // Rotate weekly with two days of pre-publication; nodes poll hourly; tokens live an
    // hour; the JWKS max-age asked for is a day, and Usher lowers it to fit.
    let cluster = Cluster::new(
        backend,
        &[
            ("USHER_KEYS__ROTATE_EVERY", &(7 * DAY).to_string()),
            ("USHER_KEYS__PREPUBLISH", &(2 * DAY).to_string()),
            ("USHER_KEYS__POLL_INTERVAL", "3600"),
            ("USHER_KEYS__JWKS_MAX_AGE", "86400"),
            ("USHER_TOKENS__ACCESS_TTL", "3600"),
        ],
    );
    let client = service(&cluster.sandbox, &["--audience", "https://api.example/"]);
    let clock = FakeClock::starting_now();
    // Every node rotates every algorithm's keys; each signs access tokens with one.
    let a = cluster.node(&clock);
    let b = cluster.node_with(&clock, &[("USHER_ACCESS_TOKEN_ALG", "ES256")]);
    let c = cluster.node_with(&clock, &[("USHER_ACCESS_TOKEN_ALG", "EdDSA")]);
    let nodes = [&a, &b, &c];
    const ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

    let served = http().get(a.url(routes::JWKS)).send().unwrap();
    let served_max_age = max_age(served.headers()["cache-control"].to_str().unwrap());
    assert_eq!(served_max_age, (2 * DAY - 3600 - 60) / 2);

    let mut verifiers = [Verifier::new(), Verifier::new(), Verifier::new()];
    let mut live: Vec<(String, i64)> = Vec::new();
    // The kids seen, per algorithm.
    let mut kids: [Vec<String>; 3] = Default::default();
    let fewest = |kids: &[Vec<String>; 3]| kids.iter().map(Vec::len).min().unwrap_or(0);
    let mut performed = [0usize, 0usize, 0usize];
    let mut verified = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let start = clock.get();
    let mut step: i64 = 0;
    // A deterministic jitter keeps steps from lining up with the schedule.
    let mut jitter: u64 = 7;
    while fewest(&kids) < 6 || clock.get() - start < 36 * DAY {
        assert!(
            clock.get() - start < 60 * DAY,
            "too few rotations: {kids:?}"
        );
        jitter = jitter
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        clock.advance(1500 + (jitter >> 33) as i64 % 299);
        step += 1;
        // Node a polls every step, nodes b and c every other step: all within the hour.
        let order: &[usize] = if step % 2 == 0 { &[1, 2, 0] } else { &[0] };
        for &i in order {
            performed[i] += nodes[i].tick().unwrap().performed.len();
        }
        let now = clock.get();
        for (i, node) in nodes.iter().enumerate() {
            let t = mint(node, &client);
            assert_eq!(header_member(&t, "alg"), ALGS[i]);
            let kid = kid_of(&t);
            if !kids[i].contains(&kid) {
                kids[i].push(kid);
            }
            live.push((t, now + 3600));
        }
        live.retain(|(_, exp)| *exp > now);
        // Three resource servers, each fetching from its own node.
        for (v, verifier) in verifiers.iter_mut().enumerate() {
            for (t, _) in &live {
                match verifier.verify(nodes[v], t, now) {
                    Ok(_) => verified += 1,
                    Err(e) => failures.push(format!("t+{}s: {e:?}", now - start)),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(fewest(&kids) >= 6, "at least five rotations each: {kids:?}");
    assert!(verified > 9 * step as usize);
    // Each transition was performed by exactly one node: one create, one promotion, one
    // removal per rotation of each algorithm (each one's last removal may be pending).
    let total: usize = performed.iter().sum();
    let rotations: usize = kids.iter().map(|k| k.len() - 1).sum();
    assert!(
        (3 * rotations..=3 * rotations + 3).contains(&total),
        "{performed:?} transitions for {rotations} rotations"
    );
    let listed = cluster
        .sandbox
        .usher(&["keys", "list", "--json"], None)
        .json();
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    for alg in ALGS {
        let active = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["alg"] == alg && k["state"] == "active")
            .count();
        assert_eq!(active, 1, "{alg}: {states:?}");
    }
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["activates"].is_string())
    );
    // Verifiers fetched only when their copy went stale.
    let days = (clock.get() - start) / served_max_age + 2;
    for v in &verifiers {
        assert!(v.fetches as i64 <= days, "{} fetches", v.fetches);
    }
}

fn an_emergency_rotation_signs_at_once_and_caches_may_miss_the_new_key(backend: Backend) {
    let cluster = Cluster::new(backend, &[]);
    let client = service(&cluster.sandbox, &["--audience", "https://api.example/"]);
    let clock = FakeClock::starting_now();
    let node = cluster.node(&clock);
    let mut verifier = Verifier::new();
    let before = mint(&node, &client);
    let old_kid = kid_of(&before);
    verifier.verify(&node, &before, clock.get()).unwrap();

    let run = cluster.sandbox.usher(&["keys", "rotate", "--now"], None);
    assert!(run.ok(), "{}", run.stderr());
    assert!(
        run.stderr().contains("warning") && run.stderr().contains("cached JWKS"),
        "the command warns that caches may miss the key: {}",
        run.stderr()
    );
    // The node switches at its next poll (or at once, had it run the command).
    node.tick().unwrap();
    let after = mint(&node, &client);
    let new_kid = kid_of(&after);
    assert_ne!(new_kid, old_kid);
    assert!(run.stdout().contains(&new_kid), "{}", run.stdout());
    // A verifier whose cache predates the new key does not know it...
    assert_eq!(
        verifier.verify(&node, &after, clock.get()),
        Err(Rejected::UnknownKid(new_kid.clone()))
    );
    // ...while tokens of the retired key still verify, and once its cache expires it
    // refetches and knows the new key.
    verifier.verify(&node, &before, clock.get()).unwrap();
    clock.advance(900);
    let later = mint(&node, &client);
    assert_eq!(kid_of(&later), new_kid);
    verifier.verify(&node, &later, clock.get()).unwrap();
    let jwks: Value = http()
        .get(node.url(routes::JWKS))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        jwks["keys"][0]["kid"],
        new_kid.as_str(),
        "the active key comes first"
    );
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == old_kid.as_str())
    );
}

fn a_compromised_key_leaves_the_jwks_at_once_and_its_tokens_stop_verifying(backend: Backend) {
    let cluster = Cluster::new(backend, &[]);
    let client = service(&cluster.sandbox, &["--audience", "https://api.example/"]);
    let clock = FakeClock::starting_now();
    let node = cluster.node(&clock);
    let stolen = mint(&node, &client);
    let bad_kid = kid_of(&stolen);
    let userinfo = |t: &str| -> String {
        let response = http()
            .get(node.url(routes::USERINFO))
            .bearer_auth(t)
            .send()
            .unwrap();
        assert_eq!(response.status(), 401);
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    // Before: the signature is fine (userinfo refuses it only for its audience).
    assert!(userinfo(&stolen).contains("not meant for the userinfo"));

    // A scheduled next key exists; retiring the active key promotes it at once.
    let run = cluster.sandbox.usher(&["keys", "rotate"], None);
    assert!(run.ok(), "{}", run.stderr());
    let run = cluster
        .sandbox
        .usher(&["keys", "retire", &bad_kid, "--compromised"], None);
    assert!(run.ok(), "{}", run.stderr());
    assert!(run.stderr().contains("warning"), "{}", run.stderr());
    assert!(node.tick().unwrap().reloaded);

    let jwks: Value = http()
        .get(node.url(routes::JWKS))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        !jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == bad_kid.as_str()),
        "the compromised key is gone from the JWKS"
    );
    // Its tokens fail at a fresh verifier and at Usher's own userinfo endpoint...
    assert_eq!(
        verify(&stolen, &jwks, clock.get()),
        Err(Rejected::UnknownKid(bad_kid.clone()))
    );
    assert!(userinfo(&stolen).contains("signature is not valid"));
    // ...while new tokens are signed by the promoted key and verify.
    let fresh = mint(&node, &client);
    assert_ne!(kid_of(&fresh), bad_kid);
    verify(&fresh, &jwks, clock.get()).unwrap();
    let listed = cluster
        .sandbox
        .usher(&["keys", "list", "--json"], None)
        .json();
    let gone = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == bad_kid.as_str())
        .unwrap();
    assert_eq!(gone["state"], "removed");
    // A second retirement of the same key is refused; a malformed kid writes nothing.
    assert!(
        !cluster
            .sandbox
            .usher(&["keys", "retire", &bad_kid, "--compromised"], None)
            .ok()
    );
    assert_eq!(
        cluster
            .sandbox
            .usher(&["keys", "retire", "not a kid", "--compromised"], None)
            .code(),
        Some(2)
    );
    assert_eq!(
        cluster
            .sandbox
            .usher(&["keys", "retire", &bad_kid], None)
            .code(),
        Some(2)
    );
}
