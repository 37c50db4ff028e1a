//! RP-Initiated Logout 1.0's decisions: given the request's parameters and the browser's
//! session cookie, whether to end the session now, ask the person first, or refuse.
//!
//! The request may carry `id_token_hint` (an ID token Usher issued to a registered
//! client, checked by [`IdTokenHint::verify`]; expired is accepted), `client_id` (which
//! must then be the hint's audience, and a registered client), `post_logout_redirect_uri`
//! and `state`. Usher redirects afterwards only to a `post_logout_redirect_uri`
//! registered for the client the request is tied to — matched like redirect URIs: byte
//! for byte, except the port of a loopback IP literal (RFC 8252 §7.3) — otherwise the
//! person sees the "signed out" page.
//!
//! The session ends without a question only when the hint names the browser's person, has
//! not expired, and was issued to the client the request is for. Otherwise the person
//! confirms first: the confirmation page POSTs back with a single-use token bound to the
//! browser session (`nonce.expiry.tag`: a MAC over them and the session id's hash, under a
//! sub-key of the KEK). Nothing is stored when the page is shown; the POST records the
//! nonce as spent (one `INSERT`, exactly one winner however many race) before it ends
//! anything. A POST without a valid, unspent token for this session ends nothing and gets
//! the question again; a `GET` never confirms. Without a session there is nothing to
//! end and nothing to ask.
//!
//! Logging out ends the session's lineage ([`lineage::end`]: every session of the person
//! in this browser, and the *online* refresh-token families issued in it — not those
//! granted `offline_access`, OpenID Connect Core §11). Cookies, pages and the cookie-less
//! POST (sent again as a `GET`) are the HTTP adapter's.

use usher_domain::{Client, ClientId, UnixTime};

use crate::Core;
use crate::failure::{Failure, blocking};
use crate::id_token_hint::{HintError, IdTokenHint};
use crate::lineage;
use crate::redact::{REDACTED, redacted};

/// What the MAC of a confirmation token covers, after this label.
const CONFIRM_LABEL: &str = "usher logout confirmation v1";

/// How the request arrived: only a POST (the confirmation page's form) can confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A logout request, as values: its parameters (each given at most once; the adapter
/// refuses repeats) and the browser's session cookie. `Debug` shows neither the
/// `id_token_hint`, the token nor the cookie.
#[derive(Clone, Copy)]
pub struct LogoutRequest<'a> {
    pub method: Method,
    pub id_token_hint: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
    /// `confirm`: `yes` when the person confirmed on the page.
    pub confirm: Option<&'a str>,
    /// `csrf`: the confirmation page's single-use token.
    pub csrf: Option<&'a str>,
    /// The value of the browser's session cookie.
    pub session_cookie: Option<&'a str>,
}

impl std::fmt::Debug for LogoutRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogoutRequest")
            .field("method", &self.method)
            .field("id_token_hint", &redacted(&self.id_token_hint))
            .field("client_id", &self.client_id)
            .field("post_logout_redirect_uri", &self.post_logout_redirect_uri)
            .field("state", &self.state)
            .field("confirm", &self.confirm)
            .field("csrf", &redacted(&self.csrf))
            .field("session_cookie", &redacted(&self.session_cookie))
            .finish()
    }
}

/// What to do for a logout request. `Debug` does not show the confirmation's token.
#[derive(Clone, PartialEq, Eq)]
pub enum LogoutOutcome<'a> {
    /// Ask the person: show the confirmation page, whose form carries `csrf` and the
    /// request's parameters. Nothing has ended.
    Confirm {
        csrf: String,
        /// The client the request is for, to name on the page.
        client: Option<Box<Client>>,
        /// The requested `post_logout_redirect_uri`, when it is registered.
        post_logout_redirect_uri: Option<&'a str>,
        state: Option<&'a str>,
    },
    /// Logged out: the browser's session cookie is cleared, and the person goes to
    /// `redirect` or sees the "signed out" page.
    LoggedOut {
        /// How many refresh-token families ending the session's lineage revoked, or
        /// `None` when the browser had no session.
        ended: Option<usize>,
        redirect: Option<PostLogoutRedirect<'a>>,
    },
}

impl std::fmt::Debug for LogoutOutcome<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogoutOutcome::Confirm {
                client,
                post_logout_redirect_uri,
                state,
                ..
            } => f
                .debug_struct("Confirm")
                .field("csrf", &REDACTED)
                .field("client", client)
                .field("post_logout_redirect_uri", post_logout_redirect_uri)
                .field("state", state)
                .finish(),
            LogoutOutcome::LoggedOut { ended, redirect } => f
                .debug_struct("LoggedOut")
                .field("ended", ended)
                .field("redirect", redirect)
                .finish(),
        }
    }
}

/// Where a logged-out person is sent: a registered `post_logout_redirect_uri`, with the
/// request's `state` added to its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostLogoutRedirect<'a> {
    pub uri: &'a str,
    pub state: Option<&'a str>,
}

/// Why a logout request is refused (an error page; nothing ends, no cookie changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutError {
    /// The request cannot be trusted.
    Invalid(InvalidLogout),
    /// A store (or the randomness) failed.
    Failure(Failure),
}

/// The ways a logout request is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidLogout {
    /// `id_token_hint` is not an ID token this server issued to a registered client.
    HintNotOurs,
    /// `client_id` is not the hint's audience.
    ClientMismatch,
    /// The client named (by `client_id` or the hint) is not registered.
    UnknownClient,
}

impl From<Failure> for LogoutError {
    fn from(f: Failure) -> LogoutError {
        LogoutError::Failure(f)
    }
}

/// Decides a logout request (see the module documentation), and when it says so ends
/// the session's lineage and spends the confirmation.
pub async fn logout<'a>(
    core: &Core,
    request: &LogoutRequest<'a>,
) -> Result<LogoutOutcome<'a>, LogoutError> {
    let hint = match request.id_token_hint {
        None => None,
        Some(raw) => match IdTokenHint::verify(core, raw).await {
            Ok(h) => Some(h),
            Err(HintError::Invalid) => {
                return Err(LogoutError::Invalid(InvalidLogout::HintNotOurs));
            }
            Err(HintError::Failure(f)) => return Err(LogoutError::Failure(f)),
        },
    };
    let client_id = match (request.client_id, &hint) {
        (Some(c), Some(h)) if h.audience.as_str() != c => {
            return Err(LogoutError::Invalid(InvalidLogout::ClientMismatch));
        }
        (Some(c), _) => Some(c.to_owned()),
        (None, Some(h)) => Some(h.audience.as_str().to_owned()),
        (None, None) => None,
    };
    let client: Option<Client> = match &client_id {
        None => None,
        Some(id) => match registered(core, id).await? {
            Some(c) => Some(c),
            None => return Err(LogoutError::Invalid(InvalidLogout::UnknownClient)),
        },
    };
    let target = match (request.post_logout_redirect_uri, &client) {
        (Some(uri), Some(c))
            if c.registration
                .post_logout_redirect_uris
                .iter()
                .any(|r| r.matches(uri)) =>
        {
            Some(uri)
        }
        (Some(_), _) => {
            tracing::info!(client_id = ?client_id, "post_logout_redirect_uri is not registered for the client; no redirect");
            None
        }
        (None, _) => None,
    };

    let session = core.session(request.session_cookie).await?;
    // Without a question only for a live hint of this person, issued to this client.
    let vouched = matches!(
        (&session, &hint, &client),
        (Some(s), Some(h), Some(c)) if h.subject == s.user_id.as_str() && h.is_live_for(&c.id)
    );
    let ask = session.is_some() && !vouched;
    // Anyone can register a client, or publish a metadata document, naming any
    // post-logout URI: such a client is redirected to only for a live ID token of the
    // signed-in person issued to it — never without a session, never for an old token
    // of the attacker's own — so /logout is no open redirect.
    let target = match (&client, target) {
        (Some(c), Some(_)) if c.describes_itself() && !vouched => {
            tracing::info!(client_id = %c.id, "post_logout_redirect_uri of a self-described client without a live id_token_hint of the session's person; no redirect");
            None
        }
        (_, target) => target,
    };
    if let (true, Some(s)) = (ask, &session) {
        let confirmed = request.method == Method::Post
            && request.confirm == Some("yes")
            && spend_confirmation(core, &s.id_hash, request.csrf).await?;
        if !confirmed {
            return Ok(LogoutOutcome::Confirm {
                csrf: confirmation_token(core, &s.id_hash)?,
                client: client.map(Box::new),
                post_logout_redirect_uri: target,
                state: request.state,
            });
        }
    }

    let ended = match &session {
        None => None,
        Some(session) => {
            // Its online families are revoked first — if they cannot be, nothing ends
            // and the person is told to try again (fail closed) — then its sessions;
            // families granted offline_access stay.
            let revoked = lineage::end(core, session).await?;
            tracing::info!(client_id = ?client_id, families_revoked = revoked, "browser session ended by logout");
            Some(revoked)
        }
    };
    Ok(LogoutOutcome::LoggedOut {
        ended,
        redirect: target.map(|uri| PostLogoutRedirect {
            uri,
            state: request.state,
        }),
    })
}

/// The client registered as `id` (`None` for one that is not, or not a client id).
async fn registered(core: &Core, id: &str) -> Result<Option<Client>, Failure> {
    let Some(id) = ClientId::parse(id) else {
        return Ok(None);
    };
    core.client(&id).await
}

/// The MAC of a confirmation token for `session_hash`, `nonce` and `expires_at`.
fn confirmation_tag(core: &Core, session_hash: &str, nonce: &str, expires_at: i64) -> String {
    let mac = core.secrets.hash(&format!(
        "{CONFIRM_LABEL}\u{0}{session_hash}\u{0}{nonce}\u{0}{expires_at}"
    ));
    mac.strip_prefix("hmac-sha256.").unwrap_or(&mac).to_owned()
}

/// A fresh confirmation token for the session `session_hash`: `nonce.expiry.tag`, good
/// for as long as an interaction (`interaction_ttl`).
fn confirmation_token(core: &Core, session_hash: &str) -> Result<String, Failure> {
    let nonce = usher_keys::random_token(16).map_err(|e| {
        tracing::error!(cause = %e, "no randomness");
        Failure::Internal
    })?;
    let expires_at = core.now().plus(core.settings.interaction_ttl).seconds();
    let tag = confirmation_tag(core, session_hash, &nonce, expires_at);
    Ok(format!("{nonce}.{expires_at}.{tag}"))
}

/// A confirmation token that checks out for `session_hash`: not expired, MAC valid
/// (compared in constant time). Returns the nonce's hash and expiry, for spending it.
fn check_confirmation(core: &Core, session_hash: &str, token: &str) -> Option<(String, UnixTime)> {
    let mut parts = token.split('.');
    let (Some(nonce), Some(expires_at), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let expires_at: i64 = expires_at.parse().ok()?;
    if nonce.is_empty() || UnixTime(expires_at) <= core.now() {
        return None;
    }
    let expected = confirmation_tag(core, session_hash, nonce, expires_at);
    let valid =
        expected.len() == tag.len() && openssl::memcmp::eq(expected.as_bytes(), tag.as_bytes());
    valid.then(|| (usher_keys::sha256_b64url(nonce), UnixTime(expires_at)))
}

/// Whether `token` is a confirmation token for this session that was not used before —
/// and spends it. Of any number of racing requests with one token, one gets `true`.
async fn spend_confirmation(
    core: &Core,
    session_hash: &str,
    token: Option<&str>,
) -> Result<bool, Failure> {
    let Some((nonce_hash, expires_at)) =
        token.and_then(|t| check_confirmation(core, session_hash, t))
    else {
        return Ok(false);
    };
    let nonces = core.stores.nonces.clone();
    let spent = blocking(move || nonces.spend_nonce(&nonce_hash, expires_at)).await?;
    if !spent {
        tracing::info!(
            event = "logout_confirmation_reused",
            "a logout confirmation was posted again; nothing ended"
        );
    }
    Ok(spent)
}

#[cfg(test)]
mod tests {
    use usher_domain::{FamilyId, FamilyState, RegistrationInput, User};

    use super::*;
    use crate::testing::{FamilySpec, TestNode, registration};

    const BYE: &str = "https://app.example/bye";

    /// A node with the clients `app` (logout URI [`BYE`]) and `other`, alice, and a
    /// browser session of hers whose cookie is `"cookie-alice"`.
    fn node() -> (TestNode, User) {
        let node = TestNode::new();
        for id in ["app", "other"] {
            node.client(
                id,
                RegistrationInput {
                    redirect_uris: vec![format!("https://{id}.example/cb")],
                    post_logout_redirect_uris: vec![format!("https://{id}.example/bye")],
                    ..registration()
                },
            );
        }
        let alice = node.person("alice");
        node.session(&alice, "cookie-alice", "lineage-alice", 0);
        (node, alice)
    }

    /// A refresh family of `app` for alice in `lineage`, with `scope`.
    async fn family(node: &TestNode, name: &str, lineage: &str, scope: &str) -> FamilyId {
        let spec = FamilySpec {
            name,
            scope,
            lineage: Some(lineage),
            ..FamilySpec::default()
        };
        node.family(spec).await.0
    }

    async fn signed_in(node: &TestNode, cookie: &str) -> bool {
        node.core.session(Some(cookie)).await.unwrap().is_some()
    }

    /// A GET from alice's browser with nothing but `change`'s parameters.
    fn request<'a>(change: impl FnOnce(&mut LogoutRequest<'a>)) -> LogoutRequest<'a> {
        let mut r = LogoutRequest {
            method: Method::Get,
            id_token_hint: None,
            client_id: None,
            post_logout_redirect_uri: None,
            state: None,
            confirm: None,
            csrf: None,
            session_cookie: Some("cookie-alice"),
        };
        change(&mut r);
        r
    }

    /// The confirmation page's POST from alice's browser.
    fn post<'a>(csrf: Option<&'a str>, confirm: Option<&'a str>) -> LogoutRequest<'a> {
        request(|r| {
            r.method = Method::Post;
            r.confirm = confirm;
            r.csrf = csrf;
        })
    }

    /// The confirmation token of a `Confirm` outcome.
    fn csrf_of(outcome: Result<LogoutOutcome<'_>, LogoutError>) -> String {
        match outcome {
            Ok(LogoutOutcome::Confirm { csrf, .. }) => csrf,
            other => panic!("not a confirmation: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_live_hint_of_the_person_for_its_client_logs_out_at_once_and_redirects() {
        let (node, alice) = node();
        let hint = node.id_token(&alice, "app");
        let outcome = logout(
            &node.core,
            &request(|r| {
                r.id_token_hint = Some(&hint);
                r.post_logout_redirect_uri = Some(BYE);
                r.state = Some("xyz");
            }),
        )
        .await;
        assert_eq!(
            outcome,
            Ok(LogoutOutcome::LoggedOut {
                ended: Some(0),
                redirect: Some(PostLogoutRedirect {
                    uri: BYE,
                    state: Some("xyz")
                }),
            })
        );
        assert!(!signed_in(&node, "cookie-alice").await);
    }

    #[tokio::test]
    async fn ending_the_lineage_revokes_its_online_families_and_keeps_offline_ones() {
        let (node, alice) = node();
        // An earlier session of the same lineage, and another browser of alice's.
        node.session(&alice, "cookie-earlier", "lineage-alice", 0);
        node.session(&alice, "cookie-laptop", "lineage-laptop", 0);
        let online = family(&node, "online", "lineage-alice", "openid").await;
        let offline = family(&node, "offline", "lineage-alice", "openid offline_access").await;
        let laptop = family(&node, "laptop", "lineage-laptop", "openid").await;
        let hint = node.id_token(&alice, "app");
        let outcome = logout(&node.core, &request(|r| r.id_token_hint = Some(&hint))).await;
        assert_eq!(
            outcome,
            Ok(LogoutOutcome::LoggedOut {
                ended: Some(1),
                redirect: None
            })
        );
        assert_eq!(node.family_state(&online).await, FamilyState::Revoked);
        assert_eq!(node.family_state(&offline).await, FamilyState::Active);
        assert_eq!(node.family_state(&laptop).await, FamilyState::Active);
        assert!(!signed_in(&node, "cookie-alice").await);
        assert!(!signed_in(&node, "cookie-earlier").await);
        assert!(signed_in(&node, "cookie-laptop").await);
    }

    #[tokio::test]
    async fn without_a_hint_the_person_is_asked_first() {
        let (node, _) = node();
        let outcome = logout(
            &node.core,
            &request(|r| {
                r.client_id = Some("app");
                r.post_logout_redirect_uri = Some(BYE);
                r.state = Some("xyz");
            }),
        )
        .await;
        let Ok(LogoutOutcome::Confirm {
            csrf,
            client,
            post_logout_redirect_uri,
            state,
        }) = outcome
        else {
            panic!("not asked: {outcome:?}");
        };
        assert!(!csrf.is_empty());
        assert_eq!(client.map(|c| c.id.to_string()), Some("app".to_owned()));
        assert_eq!(post_logout_redirect_uri, Some(BYE));
        assert_eq!(state, Some("xyz"));
        assert!(signed_in(&node, "cookie-alice").await);
    }

    #[tokio::test]
    async fn a_hint_that_is_expired_or_of_another_person_is_asked_about() {
        let (node, alice) = node();
        let bob = node.person("bob");
        let bobs = node.id_token(&bob, "app");
        let outcome = logout(&node.core, &request(|r| r.id_token_hint = Some(&bobs))).await;
        csrf_of(outcome);
        let expiring = node.id_token(&alice, "app");
        node.advance(600);
        let outcome = logout(&node.core, &request(|r| r.id_token_hint = Some(&expiring))).await;
        csrf_of(outcome);
        assert!(signed_in(&node, "cookie-alice").await);
    }

    #[tokio::test]
    async fn a_hint_for_another_client_than_client_id_is_refused() {
        let (node, alice) = node();
        let hint = node.id_token(&alice, "other");
        let outcome = logout(
            &node.core,
            &request(|r| {
                r.id_token_hint = Some(&hint);
                r.client_id = Some("app");
            }),
        )
        .await;
        assert_eq!(
            outcome,
            Err(LogoutError::Invalid(InvalidLogout::ClientMismatch))
        );
        assert!(signed_in(&node, "cookie-alice").await);
    }

    #[tokio::test]
    async fn hints_of_every_algorithm_are_read_and_one_whose_alg_is_not_its_keys_is_refused() {
        use usher_domain::SigningAlg;
        let b64 = |bytes: &[u8]| {
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
        };
        for alg in SigningAlg::ALL {
            let (node, alice) = node();
            let hint = node.id_token_with(alg, &alice, "app");
            // The same claims under a header naming the key's kid with another algorithm,
            // signed for real by that key with its own algorithm.
            let ring = node.core.published_keys().ring.clone();
            let payload = hint.split('.').nth(1).unwrap();
            let other = if alg == SigningAlg::Rs256 {
                "ES256"
            } else {
                "RS256"
            };
            let header =
                serde_json::json!({"alg": other, "typ": "JWT", "kid": ring.active_kid_for(alg)});
            let input = format!("{}.{payload}", b64(header.to_string().as_bytes()));
            let swapped = format!(
                "{input}.{}",
                b64(&ring.sign(alg, input.as_bytes()).unwrap())
            );
            assert_eq!(
                logout(&node.core, &request(|r| r.id_token_hint = Some(&swapped))).await,
                Err(LogoutError::Invalid(InvalidLogout::HintNotOurs)),
                "{alg} key under {other}"
            );
            assert!(signed_in(&node, "cookie-alice").await);
            let outcome = logout(&node.core, &request(|r| r.id_token_hint = Some(&hint))).await;
            assert_eq!(
                outcome,
                Ok(LogoutOutcome::LoggedOut {
                    ended: Some(0),
                    redirect: None
                }),
                "{alg}"
            );
        }
    }

    #[tokio::test]
    async fn a_hint_not_issued_by_this_server_or_an_unknown_client_is_refused() {
        let (node, alice) = node();
        for garbage in ["garbage", "a.b.c"] {
            assert_eq!(
                logout(&node.core, &request(|r| r.id_token_hint = Some(garbage))).await,
                Err(LogoutError::Invalid(InvalidLogout::HintNotOurs))
            );
        }
        // An ID token for an audience that is not a registered client.
        let unregistered = node.id_token(&alice, "gone");
        assert_eq!(
            logout(
                &node.core,
                &request(|r| r.id_token_hint = Some(&unregistered))
            )
            .await,
            Err(LogoutError::Invalid(InvalidLogout::HintNotOurs))
        );
        for unknown in ["gone", "not a client id"] {
            assert_eq!(
                logout(&node.core, &request(|r| r.client_id = Some(unknown))).await,
                Err(LogoutError::Invalid(InvalidLogout::UnknownClient)),
                "{unknown}"
            );
        }
        assert!(signed_in(&node, "cookie-alice").await);
    }

    #[tokio::test]
    async fn only_a_post_logout_redirect_uri_registered_for_the_client_is_followed() {
        let (node, alice) = node();
        let hint = node.id_token(&alice, "app");
        // Another client's URI, an unregistered one, and one without a client: no redirect.
        for (client, uri) in [
            (Some("app"), "https://other.example/bye"),
            (Some("app"), "https://evil.example/bye"),
            (None, BYE),
        ] {
            let outcome = logout(
                &node.core,
                &request(|r| {
                    r.client_id = client;
                    r.post_logout_redirect_uri = Some(uri);
                    r.session_cookie = None;
                }),
            )
            .await;
            assert_eq!(
                outcome,
                Ok(LogoutOutcome::LoggedOut {
                    ended: None,
                    redirect: None
                }),
                "{client:?} {uri}"
            );
        }
        let outcome = logout(
            &node.core,
            &request(|r| {
                r.id_token_hint = Some(&hint);
                r.post_logout_redirect_uri = Some("https://evil.example/bye");
            }),
        )
        .await;
        assert_eq!(
            outcome,
            Ok(LogoutOutcome::LoggedOut {
                ended: Some(0),
                redirect: None
            })
        );
    }

    #[tokio::test]
    async fn without_a_session_there_is_nothing_to_ask_or_end() {
        let (node, _) = node();
        for cookie in [None, Some("cookie-nobody")] {
            let outcome = logout(
                &node.core,
                &request(|r| {
                    r.client_id = Some("app");
                    r.post_logout_redirect_uri = Some(BYE);
                    r.session_cookie = cookie;
                }),
            )
            .await;
            assert_eq!(
                outcome,
                Ok(LogoutOutcome::LoggedOut {
                    ended: None,
                    redirect: Some(PostLogoutRedirect {
                        uri: BYE,
                        state: None
                    }),
                })
            );
        }
        assert!(signed_in(&node, "cookie-alice").await);
    }

    #[tokio::test]
    async fn a_confirmed_post_logs_out_and_a_get_never_confirms() {
        let (node, _) = node();
        let csrf = csrf_of(logout(&node.core, &request(|_| {})).await);
        let get = logout(
            &node.core,
            &request(|r| {
                r.confirm = Some("yes");
                r.csrf = Some(&csrf);
            }),
        )
        .await;
        csrf_of(get);
        let post = logout(
            &node.core,
            &request(|r| {
                r.method = Method::Post;
                r.confirm = Some("yes");
                r.csrf = Some(&csrf);
            }),
        )
        .await;
        assert_eq!(
            post,
            Ok(LogoutOutcome::LoggedOut {
                ended: Some(0),
                redirect: None
            })
        );
        assert!(!signed_in(&node, "cookie-alice").await);
    }

    #[tokio::test]
    async fn a_confirmation_that_is_missing_forged_expired_or_of_another_session_asks_again() {
        let (node, alice) = node();
        node.session(&alice, "cookie-laptop", "lineage-laptop", 0);
        let laptops = csrf_of(
            logout(
                &node.core,
                &request(|r| r.session_cookie = Some("cookie-laptop")),
            )
            .await,
        );
        let mine = csrf_of(logout(&node.core, &request(|_| {})).await);
        let (nonce, rest) = mine.split_once('.').unwrap();
        let forged = format!("{nonce}x.{rest}");
        for (csrf, confirm) in [
            (None, Some("yes")),
            (Some("garbage"), Some("yes")),
            (Some(forged.as_str()), Some("yes")),
            (Some(laptops.as_str()), Some("yes")),
            (Some(mine.as_str()), None),
            (Some(mine.as_str()), Some("no")),
        ] {
            csrf_of(logout(&node.core, &post(csrf, confirm)).await);
        }
        // Past the interaction lifetime, even the right token is refused.
        node.advance(node.core.settings.interaction_ttl);
        csrf_of(logout(&node.core, &post(Some(&mine), Some("yes"))).await);
        assert!(signed_in(&node, "cookie-alice").await);
        assert!(signed_in(&node, "cookie-laptop").await);
    }

    #[tokio::test]
    async fn a_confirmation_is_spent_once() {
        let (node, _) = node();
        let hash = usher_keys::sha256_b64url("cookie-alice");
        let csrf = confirmation_token(&node.core, &hash).unwrap();
        assert!(
            spend_confirmation(&node.core, &hash, Some(&csrf))
                .await
                .unwrap()
        );
        assert!(
            !spend_confirmation(&node.core, &hash, Some(&csrf))
                .await
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_two_concurrent_confirmations_exactly_one_ends_the_session() {
        let (node, _) = node();
        let online = family(&node, "online", "lineage-alice", "openid").await;
        let csrf = csrf_of(logout(&node.core, &request(|_| {})).await);
        // Two requests on two tasks, each with its own copy of the node.
        let racer = |core: Core, csrf: String| {
            tokio::spawn(async move {
                logout(&core, &post(Some(&csrf), Some("yes")))
                    .await
                    .map(|outcome| match outcome {
                        LogoutOutcome::LoggedOut { ended, .. } => ended,
                        LogoutOutcome::Confirm { .. } => None,
                    })
            })
        };
        let a = racer(node.core.clone(), csrf.clone());
        let b = racer(node.core.clone(), csrf);
        let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
        // The loser either found the nonce spent (asked again) or the session gone.
        let ended: Vec<usize> = [a, b].into_iter().flatten().collect();
        assert_eq!(ended, vec![1]);
        assert_eq!(node.family_state(&online).await, FamilyState::Revoked);
        assert!(!signed_in(&node, "cookie-alice").await);
    }

    #[tokio::test]
    async fn debug_output_never_shows_the_hint_the_token_or_the_cookie() {
        let (node, alice) = node();
        let hint = node.id_token(&alice, "app");
        let asked = request(|r| {
            r.id_token_hint = Some(&hint);
            r.csrf = Some("the-csrf-token");
        });
        let outcome = logout(&node.core, &request(|r| r.client_id = Some("app"))).await;
        let shown = format!("{asked:?} {outcome:?}");
        let csrf = csrf_of(outcome);
        for secret in [hint.as_str(), "the-csrf-token", "cookie-alice", &csrf] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
    }
}
