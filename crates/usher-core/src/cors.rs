//! CORS for browser apps (docs/design/cors.md): which origins may call the token,
//! userinfo, revocation and introspection endpoints from a browser.
//!
//! Two decisions, made at two moments:
//!
//! - **The preflight** (`OPTIONS`, [`preflight`]) knows no client: it carries only the
//!   origin. It is allowed when the origin belongs to *some* registered client
//!   ([`Client::allowed_origins`]), looked up in one in-memory set of every client's
//!   origins (`cache.rs`, `OriginIndex`). Its answer is the same for every such origin
//!   and names no client.
//! - **The request itself** ([`check`]) is allowed only when its origin belongs to the
//!   client that is actually authenticating (at `/token`, `/revoke`, `/introspect`) or
//!   to which the access token was issued (at `/userinfo`). Checking only the union at
//!   the preflight would let any client's origin use any other client's tokens (Ory
//!   Hydra's bug). The check runs right after client authentication, before a grant
//!   reads its parameters, so a refused request neither issues a token nor redeems
//!   (burns) a code, nor revokes anything.
//!
//! A request without `Origin` is not a browser's cross-origin request and is not checked
//! (a program can send any `Origin` it likes; CORS protects people's browsers, not the
//! endpoints). An `Origin` that is not a valid origin (`null`, from a sandboxed frame or
//! a `file:` page) belongs to no client and is refused.

use std::collections::HashSet;
use std::sync::Arc;

use usher_domain::authorize::Rejection;
use usher_domain::{Client, Origin, PresentedOrigin, ProtocolError};

use crate::Core;
use crate::cache::OriginSet;
use crate::failure::{Failure, blocking};

/// The `error_description` of a request refused for its origin.
pub const ORIGIN_REFUSED: &str =
    "the request's Origin is not one of the allowed origins of this client";

/// A preflight's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preflight {
    /// The origin belongs to some client: answer with CORS headers for it.
    Allowed(Origin),
    /// No client has this origin (or the request had no valid `Origin`): answer without
    /// CORS headers, so the browser does not send the request.
    Refused,
}

/// The preflight's decision (see the module documentation).
pub async fn preflight(core: &Core, presented: &PresentedOrigin) -> Result<Preflight, Failure> {
    let PresentedOrigin::Valid(origin) = presented else {
        return Ok(Preflight::Refused);
    };
    let set = registered_origins(core).await?;
    Ok(if set.contains(origin) {
        Preflight::Allowed(origin.clone())
    } else {
        Preflight::Refused
    })
}

/// Why a request was refused for its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{ORIGIN_REFUSED}")]
pub struct OriginRefused;

impl OriginRefused {
    /// As an RFC 6749 §5.2 error: `invalid_request`.
    pub fn rejection(self) -> Rejection {
        Rejection {
            error: ProtocolError::InvalidRequest,
            description: ORIGIN_REFUSED.to_owned(),
        }
    }
}

/// The request's check against the client it speaks for: `Ok(None)` without `Origin`
/// (no CORS headers are due), `Ok(Some(origin))` when the origin is the client's (the
/// answer carries CORS headers for it), and [`OriginRefused`] otherwise.
pub fn check(
    client: &Client,
    presented: &PresentedOrigin,
) -> Result<Option<Origin>, OriginRefused> {
    match presented {
        PresentedOrigin::Absent => Ok(None),
        PresentedOrigin::Valid(origin) if client.allows_origin(origin) => Ok(Some(origin.clone())),
        PresentedOrigin::Valid(_) | PresentedOrigin::Invalid => Err(OriginRefused),
    }
}

/// Every registered client's allowed origins: this node's set while it is younger than
/// `cache_ttl`, else read again from the store (one reader at a time).
async fn registered_origins(core: &Core) -> Result<Arc<HashSet<Origin>>, Failure> {
    let caches = &core.caches;
    let now = core.now().seconds();
    let refresh = match caches.origins.lookup(now, caches.ttl).await {
        OriginSet::Held(set) => return Ok(set),
        OriginSet::Read(refresh) => refresh,
    };
    // A failed read ends the refresh with the guard, and the next preflight tries again.
    let clients = core.stores.clients.clone();
    let clients = blocking(move || clients.list_clients()).await?;
    let set: HashSet<Origin> = clients.iter().flat_map(Client::allowed_origins).collect();
    let set = Arc::new(set);
    caches.origins.finish(set.clone(), now, refresh);
    Ok(set)
}

#[cfg(test)]
mod tests {
    use usher_domain::{ClientStore, RegistrationInput};

    use super::*;
    use crate::testing::TestNode;

    fn origin(raw: &str) -> Origin {
        Origin::parse(raw).unwrap()
    }

    fn spa(redirect: &str, allowed: &[&str]) -> RegistrationInput {
        RegistrationInput {
            public: true,
            redirect_uris: vec![redirect.to_owned()],
            allowed_origins: allowed.iter().map(|o| (*o).to_owned()).collect(),
            ..RegistrationInput::default()
        }
    }

    #[test]
    fn the_request_must_come_from_the_authenticating_clients_own_origin() {
        let node = TestNode::new();
        let a = node.client("a", spa("https://a.example/cb", &[]));
        let b = node.client("b", spa("https://b.example/cb", &["https://b2.example"]));
        let valid = |raw: &str| PresentedOrigin::Valid(origin(raw));

        assert_eq!(check(&a, &PresentedOrigin::Absent), Ok(None));
        assert_eq!(
            check(&a, &valid("https://a.example")),
            Ok(Some(origin("https://a.example")))
        );
        // Another client's origin is refused, although a preflight from it is allowed.
        assert_eq!(check(&a, &valid("https://b2.example")), Err(OriginRefused));
        assert_eq!(check(&b, &valid("https://a.example")), Err(OriginRefused));
        // b registered its origins: its redirect URI's origin is no longer one.
        assert_eq!(check(&b, &valid("https://b.example")), Err(OriginRefused));
        assert_eq!(
            check(&b, &valid("https://b2.example")),
            Ok(Some(origin("https://b2.example")))
        );
        assert_eq!(check(&a, &PresentedOrigin::Invalid), Err(OriginRefused));
        assert_eq!(
            OriginRefused.rejection().error,
            ProtocolError::InvalidRequest
        );
    }

    #[tokio::test]
    async fn a_preflight_is_allowed_for_any_clients_origin_and_names_none() {
        let node = TestNode::new();
        node.client("a", spa("https://a.example/cb", &[]));
        node.client("b", spa("http://127.0.0.1:9000/cb", &["https://b.example"]));
        node.client("native", spa("com.example.app:/cb", &[]));
        let ask = |raw: &str| {
            let presented = PresentedOrigin::from_header_values([Some(raw)].into_iter());
            let core = node.core.clone();
            async move { preflight(&core, &presented).await.unwrap() }
        };
        assert_eq!(
            ask("https://a.example").await,
            Preflight::Allowed(origin("https://a.example"))
        );
        assert_eq!(
            ask("https://A.example:443").await,
            Preflight::Allowed(origin("https://a.example"))
        );
        assert_eq!(
            ask("https://b.example").await,
            Preflight::Allowed(origin("https://b.example"))
        );
        for refused in [
            "http://127.0.0.1:9000",
            "https://evil.example",
            "null",
            "https://a.example/",
        ] {
            assert_eq!(ask(refused).await, Preflight::Refused, "{refused}");
        }
        assert_eq!(
            preflight(&node.core, &PresentedOrigin::Absent).await,
            Ok(Preflight::Refused)
        );
    }

    #[tokio::test]
    async fn the_preflight_set_is_read_once_per_cache_ttl_and_sees_a_new_client_after_it() {
        let node = TestNode::new();
        let core = Core {
            caches: Arc::new(crate::cache::Caches::new(5)),
            ..node.core.clone()
        };
        node.client("a", spa("https://a.example/cb", &[]));
        let new = PresentedOrigin::Valid(origin("https://new.example"));
        assert_eq!(preflight(&core, &new).await, Ok(Preflight::Refused));
        node.client("n", spa("https://new.example/cb", &[]));
        // Within cache_ttl the node answers from its set.
        node.advance(4);
        assert_eq!(preflight(&core, &new).await, Ok(Preflight::Refused));
        node.advance(1);
        assert_eq!(
            preflight(&core, &new).await,
            Ok(Preflight::Allowed(origin("https://new.example")))
        );
        // A deleted client's origins go the same way.
        node.db
            .delete_client(&usher_domain::ClientId::parse("n").unwrap())
            .unwrap();
        node.advance(5);
        assert_eq!(preflight(&core, &new).await, Ok(Preflight::Refused));
    }

    #[tokio::test]
    async fn many_preflights_at_once_all_get_the_answer() {
        let node = TestNode::new();
        node.client("a", spa("https://a.example/cb", &[]));
        let core = Core {
            caches: Arc::new(crate::cache::Caches::new(2)),
            ..node.core.clone()
        };
        let mut tasks = Vec::new();
        for i in 0..32 {
            let core = core.clone();
            tasks.push(tokio::spawn(async move {
                let raw = if i % 2 == 0 {
                    "https://a.example"
                } else {
                    "https://x.example"
                };
                let answer = preflight(&core, &PresentedOrigin::Valid(origin(raw))).await;
                (i, answer)
            }));
        }
        for t in tasks {
            let (i, answer) = t.await.unwrap();
            let want = if i % 2 == 0 {
                Preflight::Allowed(origin("https://a.example"))
            } else {
                Preflight::Refused
            };
            assert_eq!(answer, Ok(want));
        }
    }
}
