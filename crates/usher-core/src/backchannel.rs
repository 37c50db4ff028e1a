//! OpenID Connect Back-Channel Logout 1.0: telling clients that a browser session ended
//! (docs/design/accounts.md, "Back-channel logout").
//!
//! The code exchange records which client got tokens through which session lineage
//! ([`record`], before the sign-in's liveness is checked, so that a racing logout either
//! takes the record or refuses the code). When a session ends — logout or another person
//! signing in to the browser ([`crate::lineage::end`]), every ending of a person's
//! sessions ([`crate::everywhere::end_person`], `usher user revoke-sessions`,
//! `set-password`, `mfa-reset`) — the records are taken and a logout is queued for every
//! client with a back-channel logout URI; a refresh family revoked for reuse queues one
//! for its client ([`queue_reuse`]). The queue is a database table: [`deliver_due`],
//! run by every serving node, claims due logouts under a lease, mints a logout token for
//! each (fresh `iat`, `exp` two minutes later, a new `jti`, never stored), POSTs it
//! through the guarded [`Outbound`] client, and settles each row: delivered (200 or
//! 204), retried after the next delay of `retry_delays`, or dropped with a `warn` once
//! the delays are spent (or at once when the URL is refused). The token is never logged.

use serde_json::{Map, Value, json};
use usher_domain::{
    AuthorizationCode, ClaimedLogout, Client, Family, NewLogout, SessionClient, UnixTime, UserId,
};

use crate::Core;
use crate::failure::{Failure, blocking};
use crate::metrics::{self, Counter};
use crate::outbound::{Outbound, OutboundError};
use crate::tokens::{BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_TYP};

/// How long a logout token is valid, in seconds (Back-Channel Logout 1.0 §2.4
/// recommends at most two minutes).
pub const LOGOUT_TOKEN_TTL: i64 = 120;

/// The delivery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelSettings {
    /// The delays before each retry, in seconds; once spent, a logout is dropped.
    pub retry_delays: Vec<i64>,
    /// How long a claimed logout is reserved for the node delivering it, in seconds
    /// (longer than an outgoing request can take).
    pub lease: i64,
    /// How many logouts one round claims.
    pub batch: usize,
    /// Timeouts of the outgoing requests.
    pub outbound: crate::outbound::OutboundSettings,
}

impl Default for BackchannelSettings {
    fn default() -> BackchannelSettings {
        BackchannelSettings {
            retry_delays: vec![5, 30, 120, 600, 2700],
            lease: 60,
            batch: 20,
            outbound: crate::outbound::OutboundSettings::default(),
        }
    }
}

/// Records that `client` got tokens through the session lineage of `code`.
pub async fn record(
    core: &Core,
    client: &Client,
    code: &AuthorizationCode,
    sid: &str,
    now: UnixTime,
) -> Result<(), Failure> {
    let row = SessionClient {
        lineage_hash: code.lineage_hash.clone(),
        client_id: client.id.clone(),
        user_id: code.user_id.clone(),
        sid: sid.to_owned(),
        created_at: now,
    };
    let store = core.stores.backchannel.clone();
    blocking(move || store.record_session_client(&row)).await
}

/// Queues a logout for every client that got tokens through the lineage (which has just
/// ended). Returns how many were queued.
pub async fn queue_lineage(core: &Core, lineage_hash: &str) -> Result<usize, Failure> {
    let store = core.stores.backchannel.clone();
    let lineage = lineage_hash.to_owned();
    let now = core.now();
    let queued = blocking(move || store.queue_lineage_logouts(&lineage, now)).await?;
    if queued > 0 {
        tracing::info!(queued, "back-channel logouts queued for an ended session");
    }
    Ok(queued)
}

/// Queues a logout for every client that got tokens through any session of `user` (whose
/// sessions have all just ended). Returns how many were queued.
pub async fn queue_person(core: &Core, user: &UserId) -> Result<usize, Failure> {
    let store = core.stores.backchannel.clone();
    let owner = user.clone();
    let now = core.now();
    let queued = blocking(move || store.queue_user_logouts(&owner, now)).await?;
    if queued > 0 {
        tracing::info!(queued, sub = %user, "back-channel logouts queued for a person's ended sessions");
    }
    Ok(queued)
}

/// Queues a logout for the client of a family revoked for reuse (with the family's
/// session `sid` when it has one). A failure is logged, not returned: the refusal of the
/// reused token stands either way.
pub async fn queue_reuse(core: &Core, family: &Family) {
    let logout = NewLogout {
        client_id: family.client_id.clone(),
        subject: family.user_id.clone(),
        sid: family.lineage_hash.as_deref().map(crate::tokens::sid_of),
    };
    let store = core.stores.backchannel.clone();
    let now = core.now();
    match blocking(move || store.queue_logout(&logout, now)).await {
        Ok(true) => {
            tracing::info!(client_id = %family.client_id, "back-channel logout queued for a reused refresh family");
        }
        Ok(false) => {}
        Err(e) => {
            tracing::error!(client_id = %family.client_id, error = ?e, "cannot queue the back-channel logout of a reused refresh family");
        }
    }
}

/// Signs a logout token (Back-Channel Logout 1.0 §2.4) for one queued logout: `typ`
/// `logout+jwt`, `iss`, `aud` (the client), `iat`, `exp`, `jti`, `events`, `sub`, and
/// `sid` when the ending had a session. Never a `nonce`.
/// Signed with `alg`: the client's ID-token algorithm (Back-Channel Logout 1.0 §2.4).
pub fn logout_token(
    core: &Core,
    logout: &ClaimedLogout,
    alg: usher_domain::SigningAlg,
    now: UnixTime,
) -> Result<String, Failure> {
    let jti = usher_keys::random_token(16).map_err(|e| {
        tracing::error!(cause = %e, "no randomness");
        Failure::Internal
    })?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(core.settings.issuer.as_str()));
    claims.insert("aud".into(), json!(logout.client_id.as_str()));
    claims.insert("iat".into(), json!(now.seconds()));
    claims.insert("exp".into(), json!(now.plus(LOGOUT_TOKEN_TTL).seconds()));
    claims.insert("jti".into(), json!(jti));
    claims.insert("sub".into(), json!(logout.subject.as_str()));
    if let Some(sid) = &logout.sid {
        claims.insert("sid".into(), json!(sid));
    }
    let mut events = Map::new();
    events.insert(BACKCHANNEL_LOGOUT_EVENT.into(), Value::Object(Map::new()));
    claims.insert("events".into(), Value::Object(events));
    core.published_keys()
        .ring
        .sign_jwt_with(alg, LOGOUT_TOKEN_TYP, &claims)
        .map_err(|e| {
            tracing::error!(cause = %e, "cannot sign a logout token");
            Failure::Internal
        })
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The client answered 200 or 204.
    Delivered,
    /// It failed and will be tried again.
    Retried,
    /// It failed and the delays are spent, or the client is gone: dropped.
    Dropped,
    /// The URL may not be called (outbound rules): dropped.
    Refused,
}

impl Delivery {
    fn label(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Retried => "retried",
            Delivery::Dropped => "dropped",
            Delivery::Refused => "refused",
        }
    }
}

/// What a round delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub dropped: usize,
}

/// Claims up to `n` logouts that are due now, leased to this node.
async fn claim(core: &Core, n: usize) -> Result<Vec<ClaimedLogout>, Failure> {
    let now = core.now();
    let claim = usher_keys::random_token(16).map_err(|_| Failure::Internal)?;
    let store = core.stores.backchannel.clone();
    let lease_until = now.plus(core.settings.backchannel.lease);
    blocking(move || store.claim_logouts(now, lease_until, &claim, n)).await
}

/// Claims the logouts due now (up to the batch size) and delivers them concurrently.
pub async fn deliver_due(core: &Core, outbound: &Outbound) -> Result<Round, Failure> {
    let claimed = claim(core, core.settings.backchannel.batch).await?;
    let mut round = Round {
        claimed: claimed.len(),
        ..Round::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for logout in claimed {
        let (core, outbound) = (core.clone(), outbound.clone());
        tasks.spawn(async move { deliver(&core, &outbound, logout).await });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(Delivery::Delivered)) => round.delivered += 1,
            Ok(Ok(Delivery::Retried)) => round.retried += 1,
            Ok(Ok(Delivery::Dropped | Delivery::Refused)) => round.dropped += 1,
            // The row stays leased and is claimed again when the lease ends.
            Ok(Err(_)) | Err(_) => {}
        }
    }
    Ok(round)
}

/// Delivers due logouts forever with up to the batch size in flight: whenever a
/// delivery ends, or every `poll`, the free places are filled with logouts that are due.
/// A slow or silent endpoint holds one place until the outgoing timeout, never the
/// others (a round that waited for its slowest delivery did).
pub async fn deliver_forever(core: Core, outbound: Outbound, poll: std::time::Duration) {
    let batch = core.settings.backchannel.batch.max(1);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut every = tokio::time::interval(poll);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let free = batch.saturating_sub(in_flight.len());
        if free > 0 {
            match claim(&core, free).await {
                Ok(claimed) => {
                    for logout in claimed {
                        let (core, outbound) = (core.clone(), outbound.clone());
                        in_flight.spawn(async move { deliver(&core, &outbound, logout).await });
                    }
                }
                Err(e) => {
                    tracing::warn!(cause = ?e, "claiming back-channel logouts failed; tried again");
                }
            }
        }
        tokio::select! {
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            _ = every.tick() => {}
        }
    }
}

/// Delivers one claimed logout and settles its row. An attempt that fails inside Usher
/// (the store, signing) counts as a failed attempt like an endpoint's failure, so a
/// logout that can never be made is dropped after the delays, not claimed forever.
pub async fn deliver(
    core: &Core,
    outbound: &Outbound,
    logout: ClaimedLogout,
) -> Result<Delivery, Failure> {
    let outcome = match attempt(core, outbound, &logout).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::warn!(client_id = %logout.client_id, cause = ?e, "a back-channel logout could not be attempted");
            failed(core, &logout, "Usher could not make the attempt").await?
        }
    };
    metrics::inc(Counter::BackchannelLogouts, outcome.label());
    Ok(outcome)
}

async fn attempt(
    core: &Core,
    outbound: &Outbound,
    logout: &ClaimedLogout,
) -> Result<Delivery, Failure> {
    let client = core.reload_client(&logout.client_id).await?;
    let alg = client.as_ref().map_or(core.settings.id_token_alg, |c| {
        core.settings.id_token_alg_for(c)
    });
    let target = client.and_then(|c| c.registration.backchannel_logout);
    Ok(match target {
        None => {
            tracing::info!(client_id = %logout.client_id, "a queued back-channel logout's client is gone or has no back-channel URI; dropped");
            finish(core, logout).await?;
            Delivery::Dropped
        }
        Some(target) => {
            let now = core.now();
            let token = logout_token(core, logout, alg, now)?;
            let sent = outbound
                .post_form(target.uri.as_str(), &[("logout_token", &token)])
                .await;
            match sent {
                Ok(200 | 204) => {
                    finish(core, logout).await?;
                    tracing::info!(client_id = %logout.client_id, attempts = logout.attempts + 1, "back-channel logout delivered");
                    Delivery::Delivered
                }
                Ok(status) => {
                    failed(core, logout, &format!("the endpoint answered {status}")).await?
                }
                Err(OutboundError::Failed(why)) => failed(core, logout, &why).await?,
                Err(OutboundError::Refused(why)) => {
                    tracing::warn!(event = "backchannel_logout_refused", client_id = %logout.client_id, why, "the client's back-channel logout URI may not be called; the logout is dropped");
                    finish(core, logout).await?;
                    Delivery::Refused
                }
            }
        }
    })
}

async fn finish(core: &Core, logout: &ClaimedLogout) -> Result<bool, Failure> {
    let store = core.stores.backchannel.clone();
    let (id, claim) = (logout.id.clone(), logout.claim.clone());
    blocking(move || store.finish_logout(&id, &claim)).await
}

/// A failed attempt: retried after the next delay, or dropped once they are spent.
async fn failed(core: &Core, logout: &ClaimedLogout, why: &str) -> Result<Delivery, Failure> {
    let delays = &core.settings.backchannel.retry_delays;
    let attempt = logout.attempts as usize;
    match delays.get(attempt) {
        Some(delay) => {
            let due = core.now().plus(*delay);
            let store = core.stores.backchannel.clone();
            let (id, claim) = (logout.id.clone(), logout.claim.clone());
            blocking(move || store.retry_logout(&id, &claim, due)).await?;
            tracing::info!(client_id = %logout.client_id, attempt = attempt + 1, retry_in = delay, why, "back-channel logout failed; it is tried again");
            Ok(Delivery::Retried)
        }
        None => {
            finish(core, logout).await?;
            tracing::warn!(event = "backchannel_logout_dropped", client_id = %logout.client_id, attempts = attempt + 1, why, "back-channel logout failed every attempt; dropped");
            Ok(Delivery::Dropped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::global;
    use crate::outbound::OutboundSettings;
    use crate::outbound::tests::listener;
    use crate::testing::{TestNode, registration};
    use usher_domain::{BackchannelStore, RegistrationInput, SigningAlg};

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    const DOWN: &str = "HTTP/1.1 503 Unavailable\r\ncontent-length: 0\r\n\r\n";

    /// A node whose issuer is on loopback (so it may call the test's listener).
    fn loopback_node(delays: Vec<i64>) -> TestNode {
        TestNode::with_settings(|s| {
            s.issuer = usher_domain::Issuer::parse("http://127.0.0.1:8080").unwrap();
            s.backchannel.retry_delays = delays;
        })
    }

    fn outbound(node: &TestNode) -> Outbound {
        Outbound::new(OutboundSettings::default(), &node.core.settings.issuer).unwrap()
    }

    fn told(node: &TestNode, id: &str, port: u16) {
        node.client(
            id,
            RegistrationInput {
                backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/bcl")),
                ..registration()
            },
        );
    }

    fn record(node: &TestNode, lineage: &str, client: &str, user: &str) {
        node.db
            .record_session_client(&SessionClient {
                lineage_hash: lineage.into(),
                client_id: usher_domain::ClientId::parse(client).unwrap(),
                user_id: UserId::parse(user).unwrap(),
                sid: crate::tokens::sid_of(lineage),
                created_at: node.now(),
            })
            .unwrap();
    }

    fn token_of(request: &str) -> String {
        let body = request.split("\r\n\r\n").nth(1).unwrap();
        let (key, value) = body.split_once('=').unwrap();
        assert_eq!(key, "logout_token");
        value.to_owned()
    }

    #[tokio::test]
    async fn a_logout_token_carries_the_spec_claims_and_no_nonce() {
        let node = TestNode::new();
        let logout = ClaimedLogout {
            id: "row".into(),
            claim: "c".into(),
            client_id: usher_domain::ClientId::parse("app").unwrap(),
            subject: UserId::parse("u-alice").unwrap(),
            sid: Some("the-sid".into()),
            attempts: 0,
        };
        let now = node.now();
        let token = logout_token(&node.core, &logout, SigningAlg::Rs256, now).unwrap();
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                token.split('.').next().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(header["typ"], "logout+jwt");
        assert_eq!(header["alg"], "RS256");
        let (_, claims) = node.core.published_keys().ring.verify_jwt(&token).unwrap();
        assert_eq!(claims["iss"], "https://usher.example");
        assert_eq!(claims["aud"], "app");
        assert_eq!(claims["sub"], "u-alice");
        assert_eq!(claims["sid"], "the-sid");
        assert_eq!(claims["iat"], now.seconds());
        assert_eq!(claims["exp"], now.plus(120).seconds());
        assert_eq!(claims["events"], json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        assert!(!claims.contains_key("nonce"));
        let again = logout_token(&node.core, &logout, SigningAlg::Rs256, now).unwrap();
        let (_, other) = node.core.published_keys().ring.verify_jwt(&again).unwrap();
        assert_ne!(claims["jti"], other["jti"], "every token has its own jti");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_logout_token_is_signed_with_the_clients_id_token_algorithm() {
        let node = loopback_node(vec![5]);
        let (port, rx) = listener(OK);
        node.client(
            "ed",
            RegistrationInput {
                backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/bcl")),
                id_token_signed_response_alg: Some("EdDSA".into()),
                ..registration()
            },
        );
        let alice = node.person("alice");
        let session = node.session(&alice, "cookie", "lineage-a", 0);
        record(&node, "lineage-a", "ed", "u-alice");
        crate::lineage::end(&node.core, &session).await.unwrap();
        let round = deliver_due(&node.core, &outbound(&node)).await.unwrap();
        assert_eq!(round.delivered, 1);
        let token = token_of(&rx.recv().unwrap());
        let header = token.split('.').next().unwrap();
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], LOGOUT_TOKEN_TYP);
        let (_, claims) = node.core.published_keys().ring.verify_jwt(&token).unwrap();
        assert_eq!(claims["aud"], "ed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ending_a_lineage_tells_each_client_with_a_uri_once() {
        let node = loopback_node(vec![5]);
        let (port, rx) = listener(OK);
        told(&node, "told", port);
        node.client("silent", registration());
        let alice = node.person("alice");
        let session = node.session(&alice, "cookie", "lineage-a", 0);
        record(&node, "lineage-a", "told", "u-alice");
        record(&node, "lineage-a", "silent", "u-alice");
        record(&node, "lineage-b", "told", "u-alice");
        crate::lineage::end(&node.core, &session).await.unwrap();
        assert_eq!(node.db.queued_logouts(), Ok(1));
        let before = global().value(Counter::BackchannelLogouts, "delivered");
        let round = deliver_due(&node.core, &outbound(&node)).await.unwrap();
        assert_eq!((round.claimed, round.delivered), (1, 1));
        assert!(global().value(Counter::BackchannelLogouts, "delivered") > before);
        let request = rx.recv().unwrap();
        assert!(request.starts_with("POST /bcl "), "{request}");
        let (_, claims) = node
            .core
            .published_keys()
            .ring
            .verify_jwt(&token_of(&request))
            .unwrap();
        assert_eq!(claims["sid"], crate::tokens::sid_of("lineage-a").as_str());
        assert_eq!(claims["aud"], "told");
        assert_eq!(node.db.queued_logouts(), Ok(0));
        // The other lineage is told when the person's sessions all end.
        crate::everywhere::end_person(
            &node.core,
            &alice.id,
            crate::everywhere::Why::SignOutEverywhere,
        )
        .await
        .unwrap();
        let round = deliver_due(&node.core, &outbound(&node)).await.unwrap();
        assert_eq!(round.delivered, 1);
        let (_, claims) = node
            .core
            .published_keys()
            .ring
            .verify_jwt(&token_of(&rx.recv().unwrap()))
            .unwrap();
        assert_eq!(claims["sid"], crate::tokens::sid_of("lineage-b").as_str());
        assert_eq!(node.db.queued_logouts(), Ok(0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_endpoint_is_tried_after_each_delay_then_dropped() {
        let node = loopback_node(vec![10, 20]);
        let (port, rx) = listener(DOWN);
        told(&node, "told", port);
        node.person("alice");
        record(&node, "lineage-a", "told", "u-alice");
        node.db
            .queue_lineage_logouts("lineage-a", node.now())
            .unwrap();
        let out = outbound(&node);
        assert_eq!(deliver_due(&node.core, &out).await.unwrap().retried, 1);
        // Not due again before the first delay.
        node.advance(9);
        assert_eq!(deliver_due(&node.core, &out).await.unwrap().claimed, 0);
        node.advance(1);
        assert_eq!(deliver_due(&node.core, &out).await.unwrap().retried, 1);
        node.advance(19);
        assert_eq!(deliver_due(&node.core, &out).await.unwrap().claimed, 0);
        node.advance(1);
        assert_eq!(deliver_due(&node.core, &out).await.unwrap().dropped, 1);
        assert_eq!(node.db.queued_logouts(), Ok(0));
        let tried: Vec<String> = (0..3).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(tried.len(), 3);
    }

    /// A listener that reads one request, reports it, and answers only when released.
    fn held_listener() -> (
        u16,
        std::sync::mpsc::Receiver<String>,
        std::sync::mpsc::Sender<()>,
    ) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = released.recv();
            let _ = s.write_all(OK.as_bytes());
        });
        (port, rx, release)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_endpoint_holds_one_place_and_later_logouts_go_out_meanwhile() {
        let node = loopback_node(vec![5]);
        let (slow_port, slow_rx, release) = held_listener();
        let (fast_port, fast_rx) = listener(OK);
        told(&node, "slow", slow_port);
        told(&node, "fast", fast_port);
        node.person("alice");
        record(&node, "lineage-a", "slow", "u-alice");
        record(&node, "lineage-b", "fast", "u-alice");
        node.db
            .queue_lineage_logouts("lineage-a", node.now())
            .unwrap();
        let worker = tokio::spawn(deliver_forever(
            node.core.clone(),
            outbound(&node),
            std::time::Duration::from_millis(50),
        ));
        let wait = std::time::Duration::from_secs(5);
        slow_rx
            .recv_timeout(wait)
            .expect("the slow endpoint is called");
        // The slow endpoint holds its request (the outgoing timeout is 10 s); a logout
        // queued now goes out before it answers.
        node.db
            .queue_lineage_logouts("lineage-b", node.now())
            .unwrap();
        let request = fast_rx
            .recv_timeout(wait)
            .expect("a later logout is delivered while the slow endpoint holds its own");
        assert!(request.starts_with("POST /bcl "), "{request}");
        release.send(()).unwrap();
        worker.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_with_a_public_issuer_never_calls_a_loopback_uri() {
        let node = TestNode::new();
        let (port, rx) = listener(OK);
        told(&node, "told", port);
        node.person("alice");
        record(&node, "lineage-a", "told", "u-alice");
        node.db
            .queue_lineage_logouts("lineage-a", node.now())
            .unwrap();
        let round = deliver_due(&node.core, &outbound(&node)).await.unwrap();
        assert_eq!((round.claimed, round.dropped), (1, 1));
        assert_eq!(node.db.queued_logouts(), Ok(0));
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(rx.try_recv().is_err(), "the loopback endpoint was called");
    }
}
