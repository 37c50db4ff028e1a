//! Signing in at an upstream provider, against a small fake OpenID provider on loopback
//! (a real HTTP server, real RS256 signatures, a real PKCE check at its token endpoint)
//! whose answers each test bends: the wrong audience, nonce or signature, an unknown
//! key, a provider that is down.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde_json::{Value, json};
use usher_domain::{ClaimMapping, Upstream, UpstreamId, UpstreamStore, UserStore};

use super::decision::authorize;
use super::login::{LoginOutcome, login};
use super::tests::{
    attempt, cookies, first_party, request, sealed, sealed_login, stored, third_party,
};
use super::upstream::{CallbackParams, StartOutcome, UpstreamProblemKind, callback, start};
use super::*;
use crate::outbound::{Outbound, OutboundSettings};
use crate::testing::{PASSWORD, TestNode};
use crate::upstream::Providers;

/// How the fake provider bends its next ID token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bend {
    Honest,
    OtherAudience,
    OtherNonce,
    ForeignSignature,
    Expired,
    /// Signed with a second key the JWKS lists only from now on.
    NewKey,
}

struct Fake {
    issuer: String,
    key: PKey<Private>,
    second: PKey<Private>,
    publish_second: bool,
    /// code → (challenge, nonce)
    codes: Vec<(String, String, String)>,
    now: i64,
    bend: Bend,
    sub: String,
    email: Option<(String, bool)>,
    name: String,
    jwks_fetches: usize,
    down: bool,
}

fn jwk(key: &PKey<Private>, kid: &str) -> Value {
    let rsa = key.rsa().unwrap();
    json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": B64.encode(rsa.n().to_vec()), "e": B64.encode(rsa.e().to_vec())})
}

fn sign(key: &PKey<Private>, kid: &str, claims: &Value) -> String {
    let header = B64.encode(json!({"alg": "RS256", "typ": "JWT", "kid": kid}).to_string());
    let payload = B64.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(signer.sign_to_vec().unwrap()))
}

fn s256(verifier: &str) -> String {
    B64.encode(openssl::sha::sha256(verifier.as_bytes()))
}

impl Fake {
    fn answer(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
        if self.down {
            return (503, "{}".to_owned());
        }
        match (method, path) {
            ("GET", "/.well-known/openid-configuration") => (
                200,
                json!({
                    "issuer": self.issuer,
                    "authorization_endpoint": format!("{}/authorize", self.issuer),
                    "token_endpoint": format!("{}/token", self.issuer),
                    "jwks_uri": format!("{}/jwks", self.issuer),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                })
                .to_string(),
            ),
            ("GET", "/jwks") => {
                self.jwks_fetches += 1;
                let mut keys = vec![jwk(&self.key, "k1")];
                if self.publish_second {
                    keys.push(jwk(&self.second, "k2"));
                }
                (200, json!({ "keys": keys }).to_string())
            }
            ("POST", "/token") => {
                let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
                let get = |k: &str| {
                    form.iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let code = get("code");
                let Some(pos) = self.codes.iter().position(|(c, _, _)| *c == code) else {
                    return (400, json!({"error": "invalid_grant"}).to_string());
                };
                let (_, challenge, nonce) = self.codes.remove(pos);
                if s256(&get("code_verifier")) != challenge {
                    return (400, json!({"error": "invalid_grant"}).to_string());
                }
                let access_token = "upstream-access-token";
                let at_hash = B64.encode(&openssl::sha::sha256(access_token.as_bytes())[..16]);
                let mut claims = json!({
                    "iss": self.issuer, "sub": self.sub, "aud": "usher-downstream",
                    "iat": self.now, "exp": self.now + 300, "nonce": nonce,
                    "at_hash": at_hash, "name": self.name, "preferred_username": "jo",
                    "amr": ["pwd", "mfa"],
                });
                if let Some((email, verified)) = &self.email {
                    claims["email"] = json!(email);
                    claims["email_verified"] = json!(verified);
                }
                let (key, kid) = match self.bend {
                    Bend::OtherAudience => {
                        claims["aud"] = json!("someone-else");
                        (&self.key, "k1")
                    }
                    Bend::OtherNonce => {
                        claims["nonce"] = json!("not-the-nonce");
                        (&self.key, "k1")
                    }
                    Bend::Expired => {
                        claims["exp"] = json!(self.now - 60);
                        (&self.key, "k1")
                    }
                    // Another key under the published key's id.
                    Bend::ForeignSignature => (&self.second, "k1"),
                    Bend::NewKey => {
                        self.publish_second = true;
                        (&self.second, "k2")
                    }
                    Bend::Honest => (&self.key, "k1"),
                };
                let id_token = sign(key, kid, &claims);
                (
                    200,
                    json!({"access_token": access_token, "token_type": "Bearer",
                        "expires_in": 300, "id_token": id_token})
                    .to_string(),
                )
            }
            // A plain OAuth 2.0 provider (GitHub's shape): the secret in the body, an
            // opaque token, the person from a user-info endpoint.
            ("POST", "/login/oauth/access_token") => {
                let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
                let get = |k: &str| {
                    form.iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let code = get("code");
                let Some(pos) = self.codes.iter().position(|(c, _, _)| *c == code) else {
                    return (200, json!({"error": "bad_verification_code"}).to_string());
                };
                let (_, challenge, _) = self.codes.remove(pos);
                if s256(&get("code_verifier")) != challenge
                    || get("client_secret") != "the-upstream-secret"
                {
                    return (200, json!({"error": "bad_verification_code"}).to_string());
                }
                (200, json!({"access_token": "gho_opaque", "token_type": "bearer"}).to_string())
            }
            ("GET", "/user") => (
                200,
                json!({"id": 12345, "login": "octo", "name": "Octo Cat", "email": "octo@example.com"})
                    .to_string(),
            ),
            _ => (404, "{}".to_owned()),
        }
    }
}

/// Serves the fake on 127.0.0.1 in a thread of its own; returns its shared state.
fn serve_fake(now: i64) -> Arc<Mutex<Fake>> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let key = || PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let fake = Arc::new(Mutex::new(Fake {
        issuer,
        key: key(),
        second: key(),
        publish_second: false,
        codes: Vec::new(),
        now,
        bend: Bend::Honest,
        sub: "upstream-sub-1".to_owned(),
        email: None,
        name: "Jo Upstream".to_owned(),
        jwks_fetches: 0,
        down: false,
    }));
    let shared = fake.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_owned();
            let path = parts.next().unwrap_or("").to_owned();
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let (status, answer) =
                shared
                    .lock()
                    .unwrap()
                    .answer(&method, &path, &String::from_utf8_lossy(&body));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    fake
}

struct Setup {
    node: TestNode,
    fake: Arc<Mutex<Fake>>,
}

fn setup(adjust: impl FnOnce(&mut Upstream)) -> Setup {
    let mut node = TestNode::new();
    let fake = serve_fake(node.now().seconds());
    node.core.upstream_providers =
        Providers::new(Outbound::with_loopback(OutboundSettings::default(), true).unwrap());
    let mut upstream = Upstream {
        id: UpstreamId::parse("up").unwrap(),
        name: "Upstream".to_owned(),
        issuer: fake.lock().unwrap().issuer.clone(),
        client_id: "usher-downstream".to_owned(),
        client_secret_sealed: Some(
            node.core
                .factor_sealer
                .seal_upstream_secret("up", "the-upstream-secret")
                .unwrap(),
        ),
        scope: "openid email profile".to_owned(),
        claim_mapping: ClaimMapping::default(),
        endpoints: None,
        enabled: true,
        trusted_for_mfa: false,
        create_people: true,
        created_at: node.now(),
    };
    adjust(&mut upstream);
    assert!(node.db.insert_upstream(&upstream).unwrap());
    Setup { node, fake }
}

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {name}"))
}

/// Presses the button on a fresh login page; returns the `state` sent, after the fake
/// provider has issued `code` for it (the person "signed in" there).
async fn go_upstream(s: &Setup, client: &usher_domain::Client, code: &str) -> String {
    let (page, form) =
        sealed_login(authorize(&s.node.core, &request(client, &[]), cookies(None)).await);
    assert_eq!(page.upstreams.len(), 1);
    assert_eq!(page.upstreams[0].name, "Upstream");
    let url = match start(&s.node.core, sealed(&form), "up", cookies(None)).await {
        StartOutcome::Redirect(url) => url,
        StartOutcome::Page(p) => panic!("not sent upstream: {p:?}"),
    };
    let q = query_of(&url);
    let issuer = s.fake.lock().unwrap().issuer.clone();
    assert!(url.starts_with(&format!("{issuer}/authorize?")), "{url}");
    assert_eq!(param(&q, "response_type"), "code");
    assert_eq!(param(&q, "client_id"), "usher-downstream");
    assert_eq!(
        param(&q, "redirect_uri"),
        "https://usher.example/upstream/up/callback"
    );
    assert_eq!(param(&q, "code_challenge_method"), "S256");
    assert!(param(&q, "scope").split(' ').any(|s| s == "openid"));
    let state = param(&q, "state");
    s.fake.lock().unwrap().codes.push((
        code.to_owned(),
        param(&q, "code_challenge"),
        param(&q, "nonce"),
    ));
    state
}

async fn come_back(s: &Setup, state: &str, code: &str) -> LoginOutcome {
    callback(
        &s.node.core,
        "up",
        CallbackParams {
            code: Some(code),
            state: Some(state),
            error: None,
            iss: None,
        },
        cookies(None),
    )
    .await
}

/// Alice, with the address alice@example.com (`verified` or not) and the password.
fn alice_at(node: &TestNode, verified: bool) -> usher_domain::User {
    let mut alice = node.person("alice");
    let before = alice.clone();
    alice.email = Some(usher_domain::Email::parse("alice@example.com").unwrap());
    alice.email_verified = verified;
    assert!(usher_domain::UserStore::update_person_if(&node.db, &before, &alice).unwrap());
    alice
}

fn problem_kind(outcome: &LoginOutcome) -> UpstreamProblemKind {
    match outcome {
        LoginOutcome::Refused(SignInOutcome::UpstreamProblem(p)) => p.kind,
        other => panic!("not an upstream problem: {other:?}"),
    }
}

#[tokio::test]
async fn a_first_sign_in_creates_the_person_and_the_next_finds_them_again() {
    let s = setup(|_| {});
    s.fake.lock().unwrap().email = Some(("jo@example.com".to_owned(), true));
    let app = first_party(&s.node);
    let state = go_upstream(&s, &app, "code-1").await;
    let outcome = come_back(&s, &state, "code-1").await;
    let (session, _, next) = super::tests::signed_in_outcome(outcome);
    assert!(matches!(next, SignInOutcome::IssueCode(_)), "{next:?}");
    // The upstream's `pwd` is kept, its `mfa` is not (not trusted for it), and `fed`.
    assert_eq!(session.amr.wire(), vec!["pwd", "fed"]);
    let person = s.node.db.get_user(&session.user_id).unwrap().unwrap();
    assert_eq!(person.username.as_str(), "jo");
    assert_eq!(person.name.as_ref().unwrap().as_str(), "Jo Upstream");
    assert_eq!(person.email.as_ref().unwrap().as_str(), "jo@example.com");
    assert!(person.email_verified);
    assert!(person.password_hash.is_empty());

    // Again: the same person, nobody new.
    let state = go_upstream(&s, &app, "code-2").await;
    let (again, _, _) = super::tests::signed_in_outcome(come_back(&s, &state, "code-2").await);
    assert_eq!(again.user_id, session.user_id);
    assert_eq!(s.node.db.list_users().unwrap().len(), 1);
}

#[tokio::test]
async fn a_state_is_good_once_however_many_callbacks_race() {
    let s = setup(|_| {});
    let app = first_party(&s.node);
    let state = go_upstream(&s, &app, "code-r").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (core, state) = (s.node.core.clone(), state.clone());
        tasks.push(tokio::spawn(async move {
            let outcome = callback(
                &core,
                "up",
                CallbackParams {
                    code: Some("code-r"),
                    state: Some(&state),
                    error: None,
                    iss: None,
                },
                cookies(None),
            )
            .await;
            matches!(outcome, LoginOutcome::SignedIn { .. })
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert_eq!(s.node.db.list_users().unwrap().len(), 1);
}

#[tokio::test]
async fn a_callback_from_another_browser_or_at_another_upstream_is_refused() {
    let s = setup(|_| {});
    let app = first_party(&s.node);
    let state = go_upstream(&s, &app, "code-b").await;
    let elsewhere = Cookies {
        binding: Some("another-browser"),
        ..Cookies::default()
    };
    let params = || CallbackParams {
        code: Some("code-b"),
        state: Some(&state),
        error: None,
        iss: None,
    };
    let outcome = callback(&s.node.core, "up", params(), elsewhere).await;
    assert!(matches!(outcome, LoginOutcome::Refused(_)), "{outcome:?}");
    // The state was taken by that attempt: it is spent for this browser too.
    let outcome = come_back(&s, &state, "code-b").await;
    assert!(matches!(outcome, LoginOutcome::Refused(_)), "{outcome:?}");

    let state = go_upstream(&s, &app, "code-m").await;
    let outcome = callback(
        &s.node.core,
        "other",
        params_for(&state, "code-m"),
        cookies(None),
    )
    .await;
    assert!(matches!(outcome, LoginOutcome::Refused(_)), "{outcome:?}");
    assert!(s.node.db.list_users().unwrap().is_empty());
}

fn params_for<'a>(state: &'a str, code: &'a str) -> CallbackParams<'a> {
    CallbackParams {
        code: Some(code),
        state: Some(state),
        error: None,
        iss: None,
    }
}

#[tokio::test]
async fn an_id_token_with_the_wrong_audience_nonce_signature_or_expiry_creates_nobody() {
    for bend in [
        Bend::OtherAudience,
        Bend::OtherNonce,
        Bend::ForeignSignature,
        Bend::Expired,
    ] {
        let s = setup(|_| {});
        s.fake.lock().unwrap().bend = bend;
        let app = third_party(&s.node);
        let state = go_upstream(&s, &app, "code-x").await;
        let outcome = come_back(&s, &state, "code-x").await;
        assert_eq!(
            problem_kind(&outcome),
            UpstreamProblemKind::Invalid,
            "{bend:?}"
        );
        // The app is told access_denied through the page's link.
        let LoginOutcome::Refused(SignInOutcome::UpstreamProblem(p)) = outcome else {
            unreachable!()
        };
        let back = p.back.expect("a link back to the app");
        assert_eq!(
            back.rejection.error,
            usher_domain::ProtocolError::AccessDenied
        );
        assert!(s.node.db.list_users().unwrap().is_empty(), "{bend:?}");
    }
}

#[tokio::test]
async fn a_key_the_jwks_lacks_fetches_the_set_once_more() {
    let s = setup(|_| {});
    s.fake.lock().unwrap().bend = Bend::NewKey;
    let app = first_party(&s.node);
    let state = go_upstream(&s, &app, "code-k").await;
    // The clock moves past the refetch gap: the new key is looked up.
    s.node.advance(crate::upstream::JWKS_REFRESH_GAP + 1);
    s.fake.lock().unwrap().now = s.node.now().seconds();
    let outcome = come_back(&s, &state, "code-k").await;
    assert!(
        matches!(outcome, LoginOutcome::SignedIn { .. }),
        "{outcome:?}"
    );
    assert_eq!(s.fake.lock().unwrap().jwks_fetches, 2);
}

#[tokio::test]
async fn an_upstream_that_is_down_or_refuses_ends_cleanly() {
    let s = setup(|_| {});
    s.fake.lock().unwrap().down = true;
    let app = third_party(&s.node);
    let (_, form) = sealed_login(authorize(&s.node.core, &request(&app, &[]), cookies(None)).await);
    let outcome = start(&s.node.core, sealed(&form), "up", cookies(None)).await;
    let StartOutcome::Page(SignInOutcome::UpstreamProblem(p)) = outcome else {
        panic!("not the problem page: {outcome:?}")
    };
    assert_eq!(p.kind, UpstreamProblemKind::Unavailable);
    assert_eq!(
        p.back.unwrap().rejection.error,
        usher_domain::ProtocolError::TemporarilyUnavailable
    );

    // Up again; the person cancels there.
    s.fake.lock().unwrap().down = false;
    let state = go_upstream(&s, &app, "code-d").await;
    let outcome = callback(
        &s.node.core,
        "up",
        CallbackParams {
            code: None,
            state: Some(&state),
            error: Some("access_denied"),
            iss: None,
        },
        cookies(None),
    )
    .await;
    assert_eq!(problem_kind(&outcome), UpstreamProblemKind::Denied);
    assert!(s.node.db.list_users().unwrap().is_empty());
}

#[tokio::test]
async fn a_verified_address_of_a_person_links_only_after_their_password() {
    let s = setup(|_| {});
    let alice = alice_at(&s.node, true);
    let address = "alice@example.com".to_owned();
    s.fake.lock().unwrap().email = Some((address, true));
    let app = first_party(&s.node);
    let state = go_upstream(&s, &app, "code-l").await;
    let page = match come_back(&s, &state, "code-l").await {
        LoginOutcome::LinkAsked(page) => page,
        other => panic!("no link asked: {other:?}"),
    };
    assert_eq!(page.link.as_deref(), Some("Upstream"));
    // Nothing is linked, nobody created, no session yet.
    assert!(s.node.db.list_identities(&alice.id).unwrap().is_empty());
    assert_eq!(s.node.db.list_users().unwrap().len(), 1);

    // Alice signs in with her password on that page: the identity is linked to her.
    let outcome = login(
        &s.node.core,
        attempt(stored(&page.form), PASSWORD),
        cookies(None),
    )
    .await;
    let (session, _, _) = super::tests::signed_in_outcome(outcome);
    assert_eq!(session.user_id, alice.id);
    let linked = s.node.db.list_identities(&alice.id).unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].subject, "upstream-sub-1");

    // From now on the upstream signs Alice in directly.
    let state = go_upstream(&s, &app, "code-l2").await;
    let (again, _, _) = super::tests::signed_in_outcome(come_back(&s, &state, "code-l2").await);
    assert_eq!(again.user_id, alice.id);
    assert_eq!(again.amr.wire(), vec!["pwd", "fed"]);
}

#[tokio::test]
async fn an_unverified_address_never_links_and_no_creation_means_no_account() {
    let s = setup(|u| u.create_people = false);
    let alice = alice_at(&s.node, true);
    s.fake.lock().unwrap().email = Some(("alice@example.com".to_owned(), false));
    let app = first_party(&s.node);
    let state = go_upstream(&s, &app, "code-u").await;
    let outcome = come_back(&s, &state, "code-u").await;
    assert_eq!(problem_kind(&outcome), UpstreamProblemKind::NoAccount);
    assert!(s.node.db.list_identities(&alice.id).unwrap().is_empty());
}

#[tokio::test]
async fn a_trusted_upstream_s_second_factor_counts_and_an_untrusted_one_does_not() {
    let s = setup(|u| u.trusted_for_mfa = true);
    let app = first_party(&s.node);
    let state = go_upstream(&s, &app, "code-t").await;
    let (session, _, _) = super::tests::signed_in_outcome(come_back(&s, &state, "code-t").await);
    assert_eq!(session.amr.wire(), vec!["pwd", "mfa", "fed"]);
    assert_eq!(session.amr.acr(), usher_domain::Acr::Mfa);
}

#[tokio::test]
async fn a_plain_oauth_provider_is_read_through_its_user_info_endpoint() {
    let s = setup(|u| {
        let issuer = u.issuer.clone();
        u.scope = "read:user".to_owned();
        u.claim_mapping = ClaimMapping::parse("sub=id,username=login").unwrap();
        u.endpoints = Some(usher_domain::ManualEndpoints {
            authorization_endpoint: format!("{issuer}/login/oauth/authorize"),
            token_endpoint: format!("{issuer}/login/oauth/access_token"),
            userinfo_endpoint: format!("{issuer}/user"),
        });
    });
    let app = first_party(&s.node);
    let (_, form) = sealed_login(authorize(&s.node.core, &request(&app, &[]), cookies(None)).await);
    let url = match start(&s.node.core, sealed(&form), "up", cookies(None)).await {
        StartOutcome::Redirect(url) => url,
        StartOutcome::Page(p) => panic!("not sent upstream: {p:?}"),
    };
    let issuer = s.fake.lock().unwrap().issuer.clone();
    assert!(
        url.starts_with(&format!("{issuer}/login/oauth/authorize?")),
        "{url}"
    );
    let q = query_of(&url);
    assert_eq!(param(&q, "scope"), "read:user");
    assert!(!q.iter().any(|(n, _)| n == "nonce"));
    let state = param(&q, "state");
    s.fake.lock().unwrap().codes.push((
        "gh-code".to_owned(),
        param(&q, "code_challenge"),
        String::new(),
    ));
    let (session, _, _) = super::tests::signed_in_outcome(come_back(&s, &state, "gh-code").await);
    assert_eq!(session.amr.wire(), vec!["fed"]);
    let person = s.node.db.get_user(&session.user_id).unwrap().unwrap();
    assert_eq!(person.username.as_str(), "octo");
    // The address is kept, never as verified: the provider said nothing about it.
    assert_eq!(person.email.as_ref().unwrap().as_str(), "octo@example.com");
    assert!(!person.email_verified);
    let linked = s.node.db.list_identities(&session.user_id).unwrap();
    assert_eq!(linked[0].subject, "12345");
}

#[tokio::test]
async fn an_untrusted_upstream_still_gets_usher_s_second_factor_and_the_session_says_both() {
    use super::two_step_tests::{code_now, post, signed, with_app};
    let s = setup(|_| {});
    let app = first_party(&s.node);
    let state = go_upstream(&s, &app, "code-f1").await;
    let (first, _, _) = super::tests::signed_in_outcome(come_back(&s, &state, "code-f1").await);
    let person = s.node.db.get_user(&first.user_id).unwrap().unwrap();
    let secret = with_app(&s.node, &person);

    let state = go_upstream(&s, &app, "code-f2").await;
    let page = match come_back(&s, &state, "code-f2").await {
        LoginOutcome::SecondFactor(page) => page,
        other => panic!("no second factor asked: {other:?}"),
    };
    let (session, _, _) = signed(post(&s.node, &page, &code_now(&s.node, &secret)).await);
    assert_eq!(session.user_id, person.id);
    // The first step was the upstream's (its pwd, then fed), never a password here.
    assert_eq!(session.amr.wire(), vec!["pwd", "fed", "otp", "mfa"]);
}

#[tokio::test]
async fn a_person_created_by_an_upstream_has_no_password_that_works() {
    let s = setup(|_| {});
    let app = first_party(&s.node);
    let state = go_upstream(&s, &app, "code-p").await;
    let (session, _, _) = super::tests::signed_in_outcome(come_back(&s, &state, "code-p").await);
    let person = s.node.db.get_user(&session.user_id).unwrap().unwrap();
    for typed in ["", "x", PASSWORD] {
        let (_, form) =
            sealed_login(authorize(&s.node.core, &request(&app, &[]), cookies(None)).await);
        let address = crate::client_address::ClientAddress::Ip(std::net::IpAddr::V4(
            std::net::Ipv4Addr::new(192, 0, 2, 9),
        ));
        let attempt = super::login::LoginAttempt {
            fields: sealed(&form),
            username: person.username.as_str(),
            password: typed.to_owned(),
            address: &address,
        };
        let outcome = login(&s.node.core, attempt, cookies(None)).await;
        assert!(
            matches!(outcome, LoginOutcome::WrongPassword(_)),
            "{typed:?}: {outcome:?}"
        );
    }
}
