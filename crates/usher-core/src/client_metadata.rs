//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client
//! whose `client_id` is an `https` URL is described by the JSON document found there.
//! This module owns when such a document is fetched, how long its answer is kept, and
//! what a fetched document becomes: [`Core::metadata_client`](crate::Core) returns the
//! client or a typed [`MetadataError`]; `Core::client` answers "no such client" for every
//! error, so the token, revocation and introspection endpoints refuse it with
//! `invalid_client`, and `/authorize` shows the error on Usher's own page.
//!
//! - Off unless `client_metadata_documents = true` ([`MetadataSettings::enabled`]): then
//!   a URL client id is an unknown client, and no request leaves Usher.
//! - Fetched through a [`DocumentSource`]: in a server, the guarded [`Outbound`] client
//!   (https only, no redirects, no private or loopback addresses unless the issuer is on
//!   loopback), at most [`MAX_DOCUMENT_BYTES`], within [`MetadataSettings::timeout_ms`].
//!   Only a `200` is a document; a redirect is an error like any other status.
//! - Validated and normalised by `usher_domain::client_metadata::MetadataDocument`.
//! - Kept per URL on each node: a document for its `Cache-Control: max-age`, bounded to
//!   [`MetadataSettings::min_ttl`]..[`MetadataSettings::max_ttl`]; an error for
//!   [`MetadataSettings::negative_ttl`]. Concurrent lookups of one URL that is not kept
//!   wait for one fetch (single flight); the cache holds at most
//!   [`MetadataSettings::max_entries`] URLs.
//! - The client's row (`upsert_metadata_client`), which anchors its codes, consents and
//!   back-channel rows (foreign keys to `clients`), is written when a person approves
//!   it on the consent page ([`Core::anchor_metadata_client`]), never when a document
//!   is fetched: a URL nobody approved leaves no row.
//!
//! docs/design/registration.md, "Client ID Metadata Documents", has the reasons.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use usher_domain::client_metadata::{
    DocumentError, MAX_DOCUMENT_BYTES, MetadataDocument, MetadataUrl, default_scopes,
};
use usher_domain::{Client, ClientId, ScopeSet, UnixTime};

use crate::Core;
use crate::failure::{Failure, blocking};
use crate::outbound::{Fetched, Outbound, OutboundError};

/// The limits of metadata documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataSettings {
    /// `client_metadata_documents`: whether URL client ids are looked up at all.
    pub enabled: bool,
    /// The whole fetch (connect, TLS, headers, body), in milliseconds.
    pub timeout_ms: u64,
    /// The shortest time a document is kept, whatever its `Cache-Control` says
    /// (`no-store`, `no-cache` and no header included), in seconds.
    pub min_ttl: i64,
    /// The longest time a document is kept, whatever its `max-age`, in seconds.
    pub max_ttl: i64,
    /// How long a failed fetch or a refused document is remembered, in seconds.
    pub negative_ttl: i64,
    /// The most URLs kept at once (expired ones go first, then the soonest to expire).
    pub max_entries: usize,
}

impl Default for MetadataSettings {
    fn default() -> MetadataSettings {
        MetadataSettings {
            enabled: false,
            timeout_ms: 5_000,
            min_ttl: 300,
            max_ttl: 24 * 3600,
            negative_ttl: 60,
            max_entries: 10_000,
        }
    }
}

/// Why a metadata-document client id does not name a usable client. The `Display`
/// text is written to the log (info); `/authorize`'s error page shows only
/// [`MetadataError::category`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// `client_metadata_documents` is off: the id is an unknown client.
    Off,
    /// The id is not a metadata-document URL Usher may call (plain `http` to a
    /// non-loopback issuer's node, or a host the guard refuses).
    NotAllowed(String),
    /// The fetch failed (connection, TLS, timeout).
    Unreachable(String),
    /// The answer was not `200` (redirects are not followed).
    Status(u16),
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    TooLarge,
    /// The document is not one Usher accepts.
    Invalid(DocumentError),
    /// This node is already fetching [`MAX_CONCURRENT_FETCHES`] documents (never
    /// remembered: the next request tries again).
    Busy,
    /// Usher's own store failed while recording the client (never remembered).
    Failure(Failure),
}

/// The most document fetches one node runs at once. Each fetch resolves a name on the
/// runtime's blocking pool (`tokio::net::lookup_host`), which a name server that never
/// answers can hold until the resolver gives up; the cap keeps such lookups from
/// taking the pool other work (password hashing, the store) needs. A lookup that finds
/// the cap reached is answered [`MetadataError::Busy`] at once, never queued.
pub const MAX_CONCURRENT_FETCHES: usize = 8;

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::Off => f.write_str("client metadata documents are not enabled here"),
            MetadataError::NotAllowed(why) => write!(f, "the URL may not be fetched: {why}"),
            MetadataError::Unreachable(why) => write!(f, "it could not be fetched: {why}"),
            MetadataError::Status(s) if (300..400).contains(s) => write!(
                f,
                "it answered with a redirect ({s}), which Usher does not follow: serve the document at the client_id URL itself"
            ),
            MetadataError::Status(s) => write!(f, "it answered with status {s}, not 200"),
            MetadataError::TooLarge => write!(f, "it is larger than {MAX_DOCUMENT_BYTES} bytes"),
            MetadataError::Invalid(e) => write!(f, "{e}"),
            MetadataError::Busy => f.write_str("too many documents are being fetched; try again"),
            MetadataError::Failure(_) => f.write_str("the server cannot reach its storage"),
        }
    }
}

impl MetadataError {
    /// What `/authorize`'s error page says about this error: a category without any
    /// detail (the detail, from `Display`, goes to the log at info).
    pub fn category(&self) -> &'static str {
        match self {
            MetadataError::Off => "not enabled",
            MetadataError::NotAllowed(_)
            | MetadataError::Unreachable(_)
            | MetadataError::Status(_) => "fetch failed",
            MetadataError::TooLarge | MetadataError::Invalid(_) => "invalid document",
            MetadataError::Busy | MetadataError::Failure(_) => "temporarily unavailable",
        }
    }
}

/// The future a [`DocumentSource`] returns.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Fetched, OutboundError>> + Send + 'a>>;

/// Where documents come from: the guarded outbound client in a server, a fake in the
/// core's unit tests.
pub trait DocumentSource: Send + Sync {
    /// GETs `url`, reading at most `max_bytes` of the body.
    fn fetch<'a>(&'a self, url: &'a str, max_bytes: usize) -> FetchFuture<'a>;
}

impl DocumentSource for Outbound {
    fn fetch<'a>(&'a self, url: &'a str, max_bytes: usize) -> FetchFuture<'a> {
        Box::pin(self.get_json(url, max_bytes))
    }
}

/// A source that refuses every URL: for nodes that have no outgoing client.
pub struct NoSource;

impl DocumentSource for NoSource {
    fn fetch<'a>(&'a self, _url: &'a str, _max_bytes: usize) -> FetchFuture<'a> {
        Box::pin(async {
            Err(OutboundError::Refused(
                "this node makes no outgoing requests",
            ))
        })
    }
}

struct Entry {
    outcome: Result<Client, MetadataError>,
    until: i64,
}

struct Inner {
    source: Arc<dyn DocumentSource>,
    kept: Mutex<HashMap<String, Entry>>,
    /// One lock per URL being fetched: the first lookup fetches, the others wait and
    /// then find the answer kept.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// [`MAX_CONCURRENT_FETCHES`] permits, one per fetch under way.
    fetching: tokio::sync::Semaphore,
    fetches: AtomicU64,
}

/// Removes a URL's single-flight entry when the lookup that made it ends, also when
/// its future is dropped mid-fetch (the client went away, a timeout above it fired).
/// Only its own gate: a newer lookup's entry for the same URL stays.
struct InflightEntry<'a> {
    docs: &'a MetadataDocuments,
    url: &'a str,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for InflightEntry<'_> {
    fn drop(&mut self) {
        let mut inflight = lock(&self.docs.inner.inflight);
        if inflight
            .get(self.url)
            .is_some_and(|g| Arc::ptr_eq(g, &self.gate))
        {
            inflight.remove(self.url);
        }
    }
}

/// The documents this node fetched, and the source it fetches from. Cheap to clone.
#[derive(Clone)]
pub struct MetadataDocuments {
    inner: Arc<Inner>,
}

impl fmt::Debug for MetadataDocuments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataDocuments")
            .field("fetches", &self.fetches())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MetadataDocuments {
    pub fn new(source: Arc<dyn DocumentSource>) -> MetadataDocuments {
        MetadataDocuments {
            inner: Arc::new(Inner {
                source,
                kept: Mutex::new(HashMap::new()),
                inflight: Mutex::new(HashMap::new()),
                fetching: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// A node that fetches nothing ([`NoSource`]).
    pub fn none() -> MetadataDocuments {
        MetadataDocuments::new(Arc::new(NoSource))
    }

    /// How many fetches this node started (for tests and the single-flight proof).
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// How many URLs have a single-flight entry now (tests: none once lookups end).
    pub fn inflight(&self) -> usize {
        lock(&self.inner.inflight).len()
    }

    /// The kept answer for `url`, if it is still fresh at `now`.
    fn kept(&self, url: &str, now: i64) -> Option<Result<Client, MetadataError>> {
        let kept = lock(&self.inner.kept);
        kept.get(url)
            .filter(|e| e.until > now)
            .map(|e| e.outcome.clone())
    }

    fn keep(
        &self,
        url: &str,
        outcome: Result<Client, MetadataError>,
        now: i64,
        until: i64,
        max: usize,
    ) {
        let mut kept = lock(&self.inner.kept);
        if kept.len() >= max && !kept.contains_key(url) {
            // Expired answers first, then the soonest to expire, until there is room.
            kept.retain(|_, e| e.until > now);
            while kept.len() >= max.max(1) {
                let Some(soonest) = kept
                    .iter()
                    .min_by_key(|(_, e)| e.until)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                kept.remove(&soonest);
            }
        }
        kept.insert(url.to_owned(), Entry { outcome, until });
    }

    /// Forgets every kept answer (tests; an operator's restart does the same).
    pub fn forget_all(&self) {
        lock(&self.inner.kept).clear();
    }
}

/// How long a `200` document is kept, from its `Cache-Control`, in seconds.
pub fn document_ttl(cache_control: Option<&str>, settings: &MetadataSettings) -> i64 {
    let mut ttl = None;
    for directive in cache_control.unwrap_or("").split(',') {
        let d = directive.trim().to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return settings.min_ttl;
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            ttl = v.trim_matches('"').parse::<i64>().ok();
        }
    }
    ttl.unwrap_or(settings.min_ttl)
        .clamp(settings.min_ttl, settings.max_ttl.max(settings.min_ttl))
}

impl Core {
    /// The client described by the metadata document at `id` (a URL client id): from
    /// this node's memory while fresh, else fetched once however many requests ask at
    /// the same moment.
    pub async fn metadata_client(&self, id: &ClientId) -> Result<Client, MetadataError> {
        let settings = self.settings.client_metadata;
        if !settings.enabled {
            return Err(MetadataError::Off);
        }
        let url = id.metadata_url().ok_or_else(|| {
            MetadataError::NotAllowed("it is not an https URL with a path".to_owned())
        })?;
        if url.is_plain_http() && !self.settings.issuer.is_loopback() {
            return Err(MetadataError::NotAllowed("it must use https".to_owned()));
        }
        let docs = &self.metadata_documents;
        if let Some(found) = docs.kept(url.as_str(), self.now().seconds()) {
            return found;
        }
        let gate = {
            let mut inflight = lock(&docs.inner.inflight);
            inflight
                .entry(url.as_str().to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        let entry = InflightEntry {
            docs,
            url: url.as_str(),
            gate,
        };
        let _turn = entry.gate.lock().await;
        // Someone else may have fetched it while this lookup waited.
        if let Some(found) = docs.kept(url.as_str(), self.now().seconds()) {
            return found;
        }
        let Ok(_permit) = docs.inner.fetching.try_acquire() else {
            tracing::info!(client_id = %id, "client metadata document not fetched: too many fetches under way");
            return Err(MetadataError::Busy);
        };
        let outcome = self.fetch_document(id, &url).await;
        let now = self.now().seconds();
        match &outcome {
            Ok((_, ttl)) => {
                tracing::info!(client_id = %id, ttl, "client metadata document fetched");
            }
            Err(MetadataError::Failure(_) | MetadataError::Busy) => {}
            Err(e) => {
                tracing::info!(client_id = %id, cause = %e, "client metadata document refused")
            }
        }
        match outcome {
            Ok((client, ttl)) => {
                docs.keep(
                    url.as_str(),
                    Ok(client.clone()),
                    now,
                    now + ttl,
                    settings.max_entries,
                );
                Ok(client)
            }
            // Our own store's failure is not the document's: nothing is remembered.
            Err(MetadataError::Failure(f)) => Err(MetadataError::Failure(f)),
            Err(MetadataError::Busy) => Err(MetadataError::Busy),
            Err(e) => {
                docs.keep(
                    url.as_str(),
                    Err(e.clone()),
                    now,
                    now + settings.negative_ttl,
                    settings.max_entries,
                );
                Err(e)
            }
        }
    }

    /// This node's fresh copy of a metadata-document client, if it has one (never a
    /// fetch).
    pub(crate) fn remembered_metadata_client(&self, id: &ClientId) -> Option<Client> {
        if !self.settings.client_metadata.enabled {
            return None;
        }
        self.metadata_documents
            .kept(id.as_str(), self.now().seconds())
            .and_then(Result::ok)
    }

    /// One fetch, validation and store write; the client and how long to keep it.
    async fn fetch_document(
        &self,
        id: &ClientId,
        url: &MetadataUrl,
    ) -> Result<(Client, i64), MetadataError> {
        let settings = self.settings.client_metadata;
        let docs = &self.metadata_documents;
        docs.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let fetch = docs.inner.source.fetch(url.as_str(), MAX_DOCUMENT_BYTES);
        let fetched =
            match tokio::time::timeout(Duration::from_millis(settings.timeout_ms), fetch).await {
                Err(_) => {
                    return Err(MetadataError::Unreachable(format!(
                        "timed out after {} ms",
                        settings.timeout_ms
                    )));
                }
                Ok(Err(OutboundError::Refused(why))) => {
                    return Err(MetadataError::NotAllowed(why.to_owned()));
                }
                Ok(Err(OutboundError::Failed(why))) => return Err(MetadataError::Unreachable(why)),
                Ok(Ok(f)) => f,
            };
        if fetched.status != 200 {
            return Err(MetadataError::Status(fetched.status));
        }
        let body = fetched.body.ok_or(MetadataError::TooLarge)?;
        let scopes = self
            .metadata_default_scopes()
            .await
            .map_err(MetadataError::Failure)?;
        let mut document =
            MetadataDocument::parse(url, &body, &scopes).map_err(MetadataError::Invalid)?;
        // A document's own `scope` is kept to what a self-registered client may hold
        // (OpenID Connect's and the registered resources', never `groups`): one rule
        // for both kinds of self-described client.
        let allowed = crate::registration::allowed_scopes(self)
            .await
            .map_err(MetadataError::Failure)?;
        document.registration.scopes = document.registration.scopes.intersection(&allowed);
        let client = Client {
            id: id.clone(),
            secret_hash: None,
            registration: document.registration,
            created_at: UnixTime(self.now().seconds()),
        };
        Ok((
            client,
            document_ttl(fetched.cache_control.as_deref(), &settings),
        ))
    }

    /// Writes the row of a metadata-document client a person is about to approve (its
    /// name, scopes and redirect URIs as the document says now): the row anchors the
    /// consent, the code and the back-channel records (foreign keys to `clients`). Only
    /// here, never at fetch time, so that URLs nobody approved leave no row behind
    /// (anyone can make Usher fetch any number of documents).
    pub(crate) async fn anchor_metadata_client(&self, client: &Client) -> Result<(), Failure> {
        if !client.registration.metadata_document {
            return Ok(());
        }
        let store = self.stores.clients.clone();
        let row = client.clone();
        blocking(move || store.upsert_metadata_client(&row)).await
    }

    /// What a document without `scope` may ask for: `openid profile email` and every
    /// scope a registered resource server defines (an MCP client asks for the scopes of
    /// the server it connects to; the person sees them on the consent page).
    async fn metadata_default_scopes(&self) -> Result<ScopeSet, Failure> {
        let resources = self.stores.resources.clone();
        let all = blocking(move || resources.list_resources()).await?;
        Ok(all
            .iter()
            .fold(default_scopes(), |acc, r| acc.union(&r.scopes)))
    }
}

#[cfg(test)]
#[path = "client_metadata_tests.rs"]
mod tests;
