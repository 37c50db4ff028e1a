//! Usher as the relying party of an upstream OpenID Connect provider
//! (docs/design/upstream.md).
//!
//! - [`Providers`]: each upstream's discovery document and JWKS, fetched through the
//!   guarded [`Outbound`] client (no redirect followed, no private address, timeouts),
//!   kept for [`METADATA_TTL`] and its JWKS fetched again when an ID token names a key
//!   it does not hold (at most once per [`JWKS_REFRESH_GAP`] seconds per upstream).
//! - [`relying_party`]: the authorization request (code + PKCE S256 + `state` +
//!   `nonce`), the code exchange, and the ID token's verification (pinned algorithms,
//!   `iss`, `aud`, `exp`, `nonce`, `at_hash`) with the `openidconnect` crate; what comes
//!   out is a [`relying_party::UpstreamPerson`]: the pair (upstream, subject) and the
//!   mapped claims.
//!
//! Nothing from the upstream (codes, tokens, ID tokens) is logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use openidconnect::IssuerUrl;
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use usher_domain::{Upstream, UpstreamId};

use crate::outbound::Outbound;

pub mod relying_party;

/// How long a discovery document (and its JWKS) is kept, in seconds.
pub const METADATA_TTL: i64 = 3600;
/// The least time between two JWKS fetches of one upstream caused by unknown keys, in
/// seconds: an attacker's tokens with made-up `kid`s cannot make Usher fetch on every
/// request.
pub const JWKS_REFRESH_GAP: i64 = 30;
/// The largest answer read from an upstream (discovery, JWKS, token endpoint).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Why a sign-in at an upstream did not give a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The upstream could not be reached or answered with an error of its own
    /// (discovery, JWKS, token endpoint): `temporarily_unavailable` for the app.
    Unavailable(String),
    /// The person (or the upstream) refused: `access_denied` for the app.
    Denied,
    /// What the upstream sent was not acceptable (a token that does not verify, a
    /// missing claim): `access_denied` for the app; the reason is for the log.
    Invalid(&'static str),
}

impl std::fmt::Display for UpstreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamFailure::Unavailable(why) => write!(f, "the upstream is unavailable: {why}"),
            UpstreamFailure::Denied => f.write_str("the upstream denied the sign-in"),
            UpstreamFailure::Invalid(why) => write!(f, "the upstream's answer was refused: {why}"),
        }
    }
}

/// The guarded client as the `openidconnect` crate's HTTP client (a named type rather
/// than a closure: the futures it returns are `Send` for any lifetime, as spawned tasks
/// need).
pub(crate) struct Http<'a>(pub(crate) &'a Outbound);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http<'_> {
    type Error = crate::outbound::OutboundError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, Self::Error>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(self.0.exchange(request, MAX_ANSWER_BYTES))
    }
}

#[derive(Clone)]
struct Kept {
    metadata: CoreProviderMetadata,
    fetched_at: i64,
    jwks_fetched_at: i64,
}

/// The upstreams' discovery documents and key sets, per node. Cheap to clone.
#[derive(Clone)]
pub struct Providers {
    outbound: Option<Outbound>,
    kept: Arc<Mutex<HashMap<UpstreamId, Kept>>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("outbound", &self.outbound)
            .finish_non_exhaustive()
    }
}

impl Providers {
    pub fn new(outbound: Outbound) -> Providers {
        Providers {
            outbound: Some(outbound),
            kept: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// No outgoing client: every upstream is unavailable (a node built without one).
    pub fn none() -> Providers {
        Providers {
            outbound: None,
            kept: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UpstreamId, Kept>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn outbound(&self) -> Result<&Outbound, UpstreamFailure> {
        self.outbound
            .as_ref()
            .ok_or_else(|| UpstreamFailure::Unavailable("no outgoing HTTP client".to_owned()))
    }

    /// The upstream's provider metadata (with its JWKS): kept, or discovered now.
    pub async fn metadata(
        &self,
        upstream: &Upstream,
        now: i64,
    ) -> Result<CoreProviderMetadata, UpstreamFailure> {
        if let Some(kept) = self.lock().get(&upstream.id)
            && now - kept.fetched_at < METADATA_TTL
            && kept.metadata.issuer().as_str() == upstream.issuer
        {
            return Ok(kept.metadata.clone());
        }
        let outbound = self.outbound()?;
        let issuer = IssuerUrl::new(upstream.issuer.clone())
            .map_err(|_| UpstreamFailure::Invalid("the upstream's issuer is not a URL"))?;
        let http = Http(outbound);
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| UpstreamFailure::Unavailable(format!("discovery failed: {e}")))?;
        self.lock().insert(
            upstream.id.clone(),
            Kept {
                metadata: metadata.clone(),
                fetched_at: now,
                jwks_fetched_at: now,
            },
        );
        Ok(metadata)
    }

    /// The upstream's key set fetched again after an ID token named a key the kept set
    /// lacks; `None` when the last fetch was under [`JWKS_REFRESH_GAP`] seconds ago (the
    /// kept set stands).
    pub async fn refresh_jwks(
        &self,
        upstream: &Upstream,
        now: i64,
    ) -> Result<Option<CoreProviderMetadata>, UpstreamFailure> {
        let Some(kept) = self.lock().get(&upstream.id).cloned() else {
            return self.metadata(upstream, now).await.map(Some);
        };
        if now - kept.jwks_fetched_at < JWKS_REFRESH_GAP {
            return Ok(None);
        }
        // Claimed before the fetch: racing requests with unknown keys fetch once.
        if let Some(k) = self.lock().get_mut(&upstream.id) {
            k.jwks_fetched_at = now;
        }
        let outbound = self.outbound()?;
        let http = Http(outbound);
        let jwks = CoreJsonWebKeySet::fetch_async(kept.metadata.jwks_uri(), &http)
            .await
            .map_err(|e| UpstreamFailure::Unavailable(format!("the key set failed: {e}")))?;
        let metadata = kept.metadata.set_jwks(jwks);
        if let Some(k) = self.lock().get_mut(&upstream.id) {
            k.metadata = metadata.clone();
        }
        Ok(Some(metadata))
    }

    /// Forgets what is kept of `upstream` (its settings changed, or it was deleted).
    pub fn forget(&self, upstream: &UpstreamId) {
        self.lock().remove(upstream);
    }
}
