//! Client ID Metadata Documents end to end (docs/design/registration.md): a small HTTP
//! server in the test publishes client documents on 127.0.0.1 (allowed because the
//! issuer is on loopback too), and counts the fetches. With
//! `USHER_CLIENT_METADATA_DOCUMENTS=true`, a relying-party library (`openidconnect`)
//! whose client id is a document URL signs in with PKCE through Usher's pages, the
//! consent page names the document's host, the code exchange and a refresh work, and
//! the document is fetched once while its `max-age` lasts; many parallel `/authorize`
//! requests for a document not yet fetched fetch it once. Refused: a document whose
//! `client_id` differs, a redirect URI it does not list, a document too large, too slow,
//! redirected, not JSON, or asking for a secret method — each on Usher's error page,
//! never by redirect, and `invalid_client` at `/token`. Off (the default), a URL client
//! id is an unknown client and nothing is fetched.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, Scope,
    TokenResponse,
};
use serde_json::{Value, json};
use usher_http::routes;

use crate::async_on_both_backends;
use crate::helpers::{Backend, Browser, Page, Sandbox, Server, authorize_url, pkce};

const CALLBACK: &str = "http://127.0.0.1:9/callback";
const PASSWORD: &str = "correct horse battery staple";

/// What the document server answers on one path.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Duration,
}

impl Answer {
    fn json(body: &Value) -> Answer {
        Answer {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "public, max-age=600".into()),
            ],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

/// The clients' web server: answers each path as told, one thread per connection, and
/// counts the requests per path.
struct Documents {
    port: u16,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Documents {
    fn start() -> Documents {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (a, h) = (answers.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (a, h) = (a.clone(), h.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                            break;
                        }
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                    *h.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let answer = a.lock().unwrap().get(&path).cloned().unwrap_or(Answer {
                        status: 404,
                        headers: vec![],
                        body: String::new(),
                        delay: Duration::ZERO,
                    });
                    std::thread::sleep(answer.delay);
                    let mut out = format!(
                        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                        answer.status,
                        answer.body.len()
                    );
                    for (k, v) in &answer.headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    out.push_str(&answer.body);
                    let _ = stream.write_all(out.as_bytes());
                });
            }
        });
        Documents {
            port,
            answers,
            hits,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn serve(&self, path: &str, answer: Answer) {
        self.answers.lock().unwrap().insert(path.to_owned(), answer);
    }

    /// Publishes a valid document at `path` (its `client_id` is its URL), with `extra`
    /// members merged in.
    fn publish(&self, path: &str, extra: Value) -> String {
        let url = self.url(path);
        let mut doc = json!({
            "client_id": url,
            "client_name": "Agent Smith",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "logo_uri": "https://agent.example/logo.png",
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        self.serve(path, Answer::json(&doc));
        url
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn start(backend: Backend, on: bool) -> (Sandbox, Server) {
    let mut sandbox = Sandbox::with_test_db(backend);
    if on {
        sandbox.set_env("USHER_CLIENT_METADATA_DOCUMENTS", "true");
    }
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &["--name", "Alice Liddell"]);
    (sandbox, server)
}

/// `/authorize` for `client_id` with PKCE, to `redirect_uri`.
fn authorize(server: &Server, client_id: &str, redirect_uri: &str) -> String {
    let p = pkce();
    authorize_url(
        &server.base,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid"),
            ("state", "st"),
            ("code_challenge", p.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
}

/// The page is Usher's error page with the generic message and `category`, the
/// `detail` (which is only logged) is not on it, and nothing was sent to a redirect URI.
fn error_page(page: &Page, (category, detail): (&str, &str)) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none());
    let shown = format!("metadata document could not be used ({category})");
    assert!(page.body.contains(&shown), "{shown:?} not in {}", page.body);
    assert!(!page.body.contains(detail), "{detail:?} in {}", page.body);
    assert!(!page.body.contains("127.0.0.1"), "{}", page.body);
}

async fn token(server: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url(routes::TOKEN))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async_on_both_backends!(a_relying_party_whose_client_id_is_its_document_signs_in_and_refreshes);

async fn a_relying_party_whose_client_id_is_its_document_signs_in_and_refreshes(backend: Backend) {
    let docs = Documents::start();
    let client_id = docs.publish("/oauth/agent.json", json!({}));
    let (sandbox, server) = start(backend, true);

    for path in [routes::OAUTH_METADATA, "/.well-known/openid-configuration"] {
        let meta: Value = reqwest::get(server.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            meta["client_id_metadata_document_supported"], true,
            "{path}"
        );
    }

    let http = usher::tryout::http_client().unwrap();
    let rp = usher::tryout::relying_party(&http, &server.issuer, &client_id, None, CALLBACK)
        .await
        .expect("discovery");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new();
    let login = browser.get(url.as_str()).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = browser
        .submit(
            &server.base,
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert!(consent.has_form(routes::CONSENT), "{}", consent.body);
    assert!(consent.body.contains("Agent Smith"), "{}", consent.body);
    assert!(
        consent
            .body
            .contains(r#"describes itself at <strong class="host">127.0.0.1</strong>"#),
        "the consent page names the document's host: {}",
        consent.body
    );
    assert!(
        consent
            .body
            .contains(r#"<strong class="redirect-host">127.0.0.1:9</strong>"#),
        "and where the code goes: {}",
        consent.body
    );
    let back = browser
        .submit(
            &server.base,
            &consent,
            routes::CONSENT,
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(back.location.as_deref().unwrap().starts_with(CALLBACK));
    assert_eq!(
        back.redirect_param("state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = back.redirect_param("code").expect("a code");
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    // The library checks the signature, `aud` (the document URL), `iss` and the nonce.
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("a valid ID token");
    assert_eq!(claims.audiences()[0].as_str(), client_id);
    let refresh_token = tokens
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone();
    let (status, refreshed) = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(refreshed["access_token"].is_string());
    assert_ne!(
        refreshed["refresh_token"].as_str(),
        Some(refresh_token.as_str())
    );

    // The row anchoring the code and the consent.
    assert_eq!(
        sandbox.count(&format!(
            "clients WHERE id = '{client_id}' AND metadata_document"
        )),
        1
    );
    // A second sign-in asks for consent again (never skipped), and the document was
    // fetched once for all of it (max-age=600).
    let again = browser.get(&authorize(&server, &client_id, CALLBACK)).await;
    assert!(again.has_form(routes::CONSENT), "{}", again.body);
    assert_eq!(docs.hits("/oauth/agent.json"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_documents_get_an_error_page_and_invalid_client() {
    let docs = Documents::start();
    let (_sandbox, server) = start(Backend::Sqlite, true);
    let browser = Browser::new();

    let other = docs.url("/other.json");
    let mismatch = docs.publish("/mismatch.json", json!({ "client_id": other }));
    error_page(
        &browser.get(&authorize(&server, &mismatch, CALLBACK)).await,
        ("invalid document", "not exactly the URL"),
    );

    let listed = docs.publish(
        "/listed.json",
        json!({ "redirect_uris": ["http://127.0.0.1:9/elsewhere"] }),
    );
    // A valid document that does not list the redirect URI: the ordinary mismatch.
    let page = browser.get(&authorize(&server, &listed, CALLBACK)).await;
    assert_eq!((page.status, page.location.is_none()), (400, true));
    assert!(
        page.body.contains("not registered for this application"),
        "{}",
        page.body
    );

    let large = docs.publish("/large.json", json!({ "padding": "x".repeat(6 * 1024) }));
    error_page(
        &browser.get(&authorize(&server, &large, CALLBACK)).await,
        ("invalid document", "larger than 5120 bytes"),
    );

    let target = docs.publish("/target.json", json!({}));
    let moved = docs.url("/moved.json");
    docs.serve(
        "/moved.json",
        Answer {
            status: 302,
            headers: vec![("location".into(), target)],
            body: String::new(),
            delay: Duration::ZERO,
        },
    );
    error_page(
        &browser.get(&authorize(&server, &moved, CALLBACK)).await,
        ("fetch failed", "redirect (302)"),
    );
    assert_eq!(docs.hits("/target.json"), 0, "the redirect was followed");

    let html = docs.url("/html.json");
    docs.serve(
        "/html.json",
        Answer {
            body: "<html>hello</html>".into(),
            ..Answer::json(&json!({}))
        },
    );
    error_page(
        &browser.get(&authorize(&server, &html, CALLBACK)).await,
        ("invalid document", "not a JSON object"),
    );

    let secret = docs.publish(
        "/secret.json",
        json!({ "token_endpoint_auth_method": "client_secret_basic" }),
    );
    error_page(
        &browser.get(&authorize(&server, &secret, CALLBACK)).await,
        ("invalid document", "cannot carry a secret"),
    );

    let slow = docs.publish("/slow.json", json!({}));
    docs.answers
        .lock()
        .unwrap()
        .get_mut("/slow.json")
        .unwrap()
        .delay = Duration::from_secs(8);
    let began = Instant::now();
    error_page(
        &browser.get(&authorize(&server, &slow, CALLBACK)).await,
        ("fetch failed", "timed out"),
    );
    assert!(
        began.elapsed() < Duration::from_secs(7),
        "{:?}",
        began.elapsed()
    );

    // At the token endpoint, a document that cannot be used is an unknown client.
    for id in [&mismatch, &secret, &large] {
        let (status, body) = token(
            &server,
            &[
                ("grant_type", "authorization_code"),
                ("code", "not-a-code"),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &"v".repeat(43)),
                ("client_id", id),
            ],
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client");
    }
    // The refusals were remembered, not fetched again for each request.
    assert_eq!(docs.hits("/mismatch.json"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn off_by_default_a_url_client_id_is_an_unknown_client_and_nothing_is_fetched() {
    let docs = Documents::start();
    let client_id = docs.publish("/agent.json", json!({}));
    let (_sandbox, server) = start(Backend::Sqlite, false);
    let meta: Value = reqwest::get(server.url(routes::OAUTH_METADATA))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["client_id_metadata_document_supported"], false);
    let page = Browser::new()
        .get(&authorize(&server, &client_id, CALLBACK))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none());
    assert!(page.body.contains("not registered here"), "{}", page.body);
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x.y"),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(docs.hits("/agent.json"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn many_authorize_requests_at_once_fetch_a_new_document_once() {
    let docs = Documents::start();
    let client_id = docs.publish("/busy.json", json!({}));
    docs.answers
        .lock()
        .unwrap()
        .get_mut("/busy.json")
        .unwrap()
        .delay = Duration::from_millis(500);
    let (_sandbox, server) = start(Backend::Sqlite, true);
    let url = authorize(&server, &client_id, CALLBACK);
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move { Browser::new().get(&url).await }));
    }
    for t in tasks {
        let page = t.await.unwrap();
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.has_form(routes::LOGIN));
    }
    assert_eq!(docs.hits("/busy.json"), 1);
}
