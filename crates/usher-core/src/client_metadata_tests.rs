//! The rules of `client_metadata.rs` on a real embedded store, with a fake document
//! source that counts its fetches (the integration tests in `it::client_metadata` use a
//! real HTTP server).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use usher_domain::{ClientId, ClientStore};

use super::*;
use crate::testing::TestNode;

const URL: &str = "https://app.example/client.json";

/// Answers each URL with what the test put there, after `delay`.
#[derive(Default)]
struct FakeSource {
    answers: Mutex<HashMap<String, Result<Fetched, OutboundError>>>,
    calls: AtomicU64,
    delay_ms: u64,
}

impl FakeSource {
    fn serve(&self, url: &str, status: u16, cache_control: Option<&str>, body: &str) {
        lock(&self.answers).insert(
            url.to_owned(),
            Ok(Fetched {
                status,
                content_type: Some("application/json".to_owned()),
                cache_control: cache_control.map(str::to_owned),
                body: Some(body.as_bytes().to_vec()),
            }),
        );
    }

    fn answer(&self, url: &str, answer: Result<Fetched, OutboundError>) {
        lock(&self.answers).insert(url.to_owned(), answer);
    }
}

impl DocumentSource for FakeSource {
    fn fetch<'a>(&'a self, url: &'a str, _max: usize) -> FetchFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(self.delay_ms)).await;
            }
            lock(&self.answers)
                .get(url)
                .cloned()
                .unwrap_or(Err(OutboundError::Failed("could not connect".to_owned())))
        })
    }
}

fn document(redirect: &str) -> String {
    serde_json::json!({
        "client_id": URL,
        "client_name": "Agent",
        "redirect_uris": [redirect],
        "grant_types": ["authorization_code", "refresh_token"],
    })
    .to_string()
}

fn node_with(source: Arc<FakeSource>, enabled: bool) -> TestNode {
    let mut node = TestNode::with_settings(|s| s.client_metadata.enabled = enabled);
    node.core.metadata_documents = MetadataDocuments::new(source);
    node
}

fn id(raw: &str) -> ClientId {
    ClientId::parse(raw).unwrap()
}

#[tokio::test]
async fn off_a_url_client_id_is_an_unknown_client_and_nothing_is_fetched() {
    let source = Arc::new(FakeSource::default());
    source.serve(URL, 200, None, &document("https://app.example/cb"));
    let node = node_with(source.clone(), false);
    assert_eq!(
        node.core.metadata_client(&id(URL)).await,
        Err(MetadataError::Off)
    );
    assert_eq!(node.core.client(&id(URL)).await, Ok(None));
    assert_eq!(source.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_document_becomes_a_public_client_kept_for_its_max_age_and_stored_when_approved() {
    let source = Arc::new(FakeSource::default());
    source.serve(
        URL,
        200,
        Some("public, max-age=600"),
        &document("https://app.example/cb"),
    );
    let node = node_with(source.clone(), true);
    let client = node.core.client(&id(URL)).await.unwrap().unwrap();
    assert!(client.is_public() && client.registration.metadata_document);
    assert!(client.registration.pkce_required);
    assert!(!client.may_skip_interaction("https://app.example/cb"));
    assert_eq!(client.registration.name.as_str(), "Agent");
    assert!(client.allows_grant(usher_domain::GrantType::RefreshToken));
    // Fetching writes no row; the approval does (it anchors codes and consents).
    assert!(node.db.get_client(&id(URL)).unwrap().is_none());
    node.core.anchor_metadata_client(&client).await.unwrap();
    let row = node.db.get_client(&id(URL)).unwrap().unwrap();
    assert!(row.registration.metadata_document);
    assert_eq!(
        row.registration.redirect_uris,
        client.registration.redirect_uris
    );

    // Within max-age: from memory, also for the synchronous lookup.
    node.advance(599);
    assert!(node.core.client(&id(URL)).await.unwrap().is_some());
    assert!(node.core.remembered_client(&id(URL)).is_some());
    assert_eq!(source.calls.load(Ordering::SeqCst), 1);

    // Then fetched again: a changed document replaces the row's redirect URIs.
    source.serve(URL, 200, None, &document("https://app.example/cb2"));
    node.advance(1);
    assert!(node.core.remembered_client(&id(URL)).is_none());
    let client = node.core.client(&id(URL)).await.unwrap().unwrap();
    assert_eq!(
        client.registration.redirect_uris[0].as_str(),
        "https://app.example/cb2"
    );
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    node.core.anchor_metadata_client(&client).await.unwrap();
    let row = node.db.get_client(&id(URL)).unwrap().unwrap();
    assert_eq!(
        row.registration.redirect_uris,
        client.registration.redirect_uris
    );
}

#[tokio::test]
async fn errors_are_typed_remembered_briefly_and_never_a_client() {
    let source = Arc::new(FakeSource::default());
    let redirect = "https://app.example/redirect.json";
    source.serve(redirect, 302, None, "");
    let large = "https://app.example/large.json";
    source.answer(
        large,
        Ok(Fetched {
            status: 200,
            content_type: None,
            cache_control: None,
            body: None,
        }),
    );
    let mismatch = "https://app.example/other.json";
    source.serve(mismatch, 200, None, &document("https://app.example/cb"));
    let refused = "https://app.example/refused.json";
    source.answer(refused, Err(OutboundError::Refused("private address")));
    let node = node_with(source.clone(), true);

    assert_eq!(
        node.core.metadata_client(&id(redirect)).await,
        Err(MetadataError::Status(302))
    );
    assert_eq!(
        node.core.metadata_client(&id(large)).await,
        Err(MetadataError::TooLarge)
    );
    assert_eq!(
        node.core.metadata_client(&id(mismatch)).await,
        Err(MetadataError::Invalid(DocumentError::ClientIdMismatch))
    );
    assert!(matches!(
        node.core.metadata_client(&id(refused)).await,
        Err(MetadataError::NotAllowed(_))
    ));
    assert!(matches!(
        node.core
            .metadata_client(&id("https://app.example/missing.json"))
            .await,
        Err(MetadataError::Unreachable(_))
    ));
    assert_eq!(node.core.client(&id(mismatch)).await, Ok(None));
    assert!(node.db.get_client(&id(mismatch)).unwrap().is_none());
    assert_eq!(source.calls.load(Ordering::SeqCst), 5);

    // Fixed documents are seen after the negative time, not before.
    source.serve(
        mismatch,
        200,
        None,
        &document("https://app.example/cb").replace(URL, mismatch),
    );
    node.advance(59);
    assert!(node.core.metadata_client(&id(mismatch)).await.is_err());
    node.advance(1);
    assert!(node.core.metadata_client(&id(mismatch)).await.is_ok());
    assert_eq!(source.calls.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn plain_http_is_refused_unless_the_issuer_is_on_loopback() {
    let source = Arc::new(FakeSource::default());
    let local = "http://127.0.0.1:9/client.json";
    source.serve(
        local,
        200,
        None,
        &document("https://app.example/cb").replace(URL, local),
    );
    let node = node_with(source.clone(), true);
    assert!(matches!(
        node.core.metadata_client(&id(local)).await,
        Err(MetadataError::NotAllowed(_))
    ));
    assert_eq!(source.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_slow_document_times_out() {
    let source = Arc::new(FakeSource {
        delay_ms: 2_000,
        ..FakeSource::default()
    });
    source.serve(URL, 200, None, &document("https://app.example/cb"));
    let mut node = TestNode::with_settings(|s| {
        s.client_metadata.enabled = true;
        s.client_metadata.timeout_ms = 100;
    });
    node.core.metadata_documents = MetadataDocuments::new(source);
    assert!(matches!(
        node.core.metadata_client(&id(URL)).await,
        Err(MetadataError::Unreachable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_lookups_of_one_url_at_once_fetch_it_once() {
    let source = Arc::new(FakeSource {
        delay_ms: 200,
        ..FakeSource::default()
    });
    source.serve(URL, 200, None, &document("https://app.example/cb"));
    let node = node_with(source.clone(), true);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let core = node.core.clone();
        tasks.push(tokio::spawn(
            async move { core.metadata_client(&id(URL)).await },
        ));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    assert_eq!(node.core.metadata_documents.fetches(), 1);
}

#[test]
fn cache_control_is_obeyed_within_bounds() {
    let s = MetadataSettings::default();
    assert_eq!(document_ttl(None, &s), 300);
    assert_eq!(document_ttl(Some("no-store"), &s), 300);
    assert_eq!(
        document_ttl(Some("public, no-cache, max-age=9000"), &s),
        300
    );
    assert_eq!(document_ttl(Some("max-age=10"), &s), 300);
    assert_eq!(document_ttl(Some("public, max-age=3600"), &s), 3600);
    assert_eq!(document_ttl(Some("Max-Age=999999"), &s), 86400);
    assert_eq!(document_ttl(Some("max-age=nonsense"), &s), 300);
}

#[test]
fn the_cache_holds_at_most_its_bound() {
    let docs = MetadataDocuments::none();
    for i in 0..10i64 {
        docs.keep(
            &format!("u{i}"),
            Err(MetadataError::TooLarge),
            0,
            100 + i,
            4,
        );
    }
    let kept = lock(&docs.inner.kept);
    assert_eq!(kept.len(), 4);
    // The ones to expire last stayed.
    assert!(kept.contains_key("u9") && kept.contains_key("u6"));
}

/// Counts how many fetches run at the same moment.
struct SlowSource {
    now: AtomicU64,
    most: AtomicU64,
    delay_ms: u64,
}

impl DocumentSource for SlowSource {
    fn fetch<'a>(&'a self, url: &'a str, _max: usize) -> FetchFuture<'a> {
        Box::pin(async move {
            let running = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(running, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(self.delay_ms)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            let body = serde_json::json!({
                "client_id": url,
                "client_name": "Agent",
                "redirect_uris": ["https://app.example/cb"],
            })
            .to_string();
            Ok(Fetched {
                status: 200,
                content_type: Some("application/json".to_owned()),
                cache_control: None,
                body: Some(body.into_bytes()),
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_lookups_of_distinct_urls_at_once_fetch_at_most_the_cap_and_answer_busy_at_once() {
    let source = Arc::new(SlowSource {
        now: AtomicU64::new(0),
        most: AtomicU64::new(0),
        delay_ms: 500,
    });
    let mut node = TestNode::with_settings(|s| s.client_metadata.enabled = true);
    node.core.metadata_documents = MetadataDocuments::new(source.clone());
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..(MAX_CONCURRENT_FETCHES * 4) {
        let core = node.core.clone();
        tasks.push(tokio::spawn(async move {
            let t = std::time::Instant::now();
            let url = format!("https://app{i}.example/client.json");
            (core.metadata_client(&id(&url)).await, t.elapsed())
        }));
    }
    let (mut ok, mut busy) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (Ok(_), _) => ok += 1,
            (Err(MetadataError::Busy), waited) => {
                // Refused without waiting for a fetch to end.
                assert!(waited < Duration::from_millis(250), "{waited:?}");
                busy += 1;
            }
            (other, _) => panic!("{other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(
        source.most.load(Ordering::SeqCst),
        MAX_CONCURRENT_FETCHES as u64
    );
    assert_eq!(ok, MAX_CONCURRENT_FETCHES);
    assert_eq!(busy, MAX_CONCURRENT_FETCHES * 3);
    assert_eq!(node.core.metadata_documents.inflight(), 0);
    // Busy is not remembered: once the fetches ended, the next lookup fetches.
    assert!(
        node.core
            .metadata_client(&id("https://fresh.example/client.json"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_lookup_dropped_mid_fetch_leaves_no_single_flight_entry() {
    let source = Arc::new(FakeSource {
        delay_ms: 10_000,
        ..FakeSource::default()
    });
    source.serve(URL, 200, None, &document("https://app.example/cb"));
    let node = node_with(source.clone(), true);
    let core = node.core.clone();
    let lookup = tokio::spawn(async move { core.metadata_client(&id(URL)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(node.core.metadata_documents.inflight(), 1);
    lookup.abort();
    assert!(lookup.await.unwrap_err().is_cancelled());
    assert_eq!(node.core.metadata_documents.inflight(), 0);
    // And its permit came back: a new lookup fetches.
    assert_eq!(
        node.core
            .metadata_documents
            .inner
            .fetching
            .available_permits(),
        MAX_CONCURRENT_FETCHES
    );
}

#[tokio::test]
async fn a_document_s_scope_is_kept_to_what_a_self_registered_client_may_hold() {
    let source = Arc::new(FakeSource::default());
    let mut doc: serde_json::Value =
        serde_json::from_str(&document("https://app.example/cb")).unwrap();
    doc["scope"] = "openid offline_access groups payroll:admin mcp:tools".into();
    source.serve(URL, 200, None, &doc.to_string());
    let node = node_with(source, true);
    node.resource("https://mcp.example/mcp", None, "mcp:tools");
    let client = node.core.client(&id(URL)).await.unwrap().unwrap();
    // `groups` is for the operator's apps; `payroll:admin` is no registered resource's.
    assert_eq!(
        client.registration.scopes.to_string(),
        "mcp:tools offline_access openid"
    );
}
