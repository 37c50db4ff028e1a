//! Everything that can go wrong in a sign-in, end to end against the real binary: bad
//! authorization requests (shown on Usher's own page when the client or its redirect URI
//! cannot be trusted, redirected back otherwise), failed and throttled logins, reused
//! forms, consent, `prompt`/`max_age`/`id_token_hint`, the token endpoint's client
//! authentication and code checks, userinfo's token checks, and a code-redemption race.
//!
//! Each test asserts what a person or a client relies on, and that the refused request
//! changed nothing: no code, no token, no session, no interaction, no consent.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::PrivateSigningKey as _;
use openidconnect::core::{CoreHmacKey, CoreJwsSigningAlgorithm};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::{Map, Value, json};
use usher_http::routes;

use crate::helpers::{
    Backend, Browser, Page, Pkce, Sandbox, Server, authorize_url, b64_standard, b64url,
    b64url_decode, jwt_parts, pkce, sign_in,
};

/// The redirect URI `signin::setup` registers.
const CALLBACK: &str = "http://127.0.0.1:9/callback";
/// Alice's password, as `signin::setup` creates her.
const PASSWORD: &str = "correct horse battery staple";
const STATE: &str = "xyz";

type Pairs = Vec<(String, String)>;

/// `pairs` with `name` set to `value` (replacing any value it had).
fn set(mut pairs: Pairs, name: &str, value: &str) -> Pairs {
    pairs.retain(|(k, _)| k != name);
    pairs.push((name.to_owned(), value.to_owned()));
    pairs
}

/// `pairs` without `name`.
fn without(mut pairs: Pairs, name: &str) -> Pairs {
    pairs.retain(|(k, _)| k != name);
    pairs
}

/// `pairs` with one more `name=value`, keeping any it had (a repeat).
fn also(mut pairs: Pairs, name: &str, value: &str) -> Pairs {
    pairs.push((name.to_owned(), value.to_owned()));
    pairs
}

/// The rows a sign-in can create. A refused request leaves them as they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rows {
    codes: i64,
    tokens: i64,
    sessions: i64,
    interactions: i64,
    consents: i64,
}

/// How a token request authenticates the client.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// `client_secret_basic`, with the RFC 6749 §2.3.1 form-encoding.
    Basic(&'a str, &'a str),
    /// `client_secret_post`.
    Post(&'a str, &'a str),
    /// A public client: `client_id` only.
    Public(&'a str),
    Nothing,
}

/// A JSON (or empty) HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HeaderMap,
    json: Value,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn str(&self, field: &str) -> &str {
        self.json[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {} {}", self.status, self.json))
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// `Basic` credentials, each part form-encoded first (RFC 6749 §2.3.1).
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        b64_standard(format!("{}:{}", enc(id), enc(secret)).as_bytes())
    )
}

/// A running Usher on its own database, with the `Shop` client and Alice from
/// `signin::setup`.
struct Usher {
    // Declared first so the server stops before its database is dropped.
    server: Server,
    sandbox: Sandbox,
    client_id: String,
    secret: Option<String>,
    /// Whether the client was registered for `client_secret_post`.
    post: bool,
}

impl Usher {
    fn on(backend: Backend, public: bool, extra: &[&str]) -> Usher {
        let sandbox = Sandbox::with_test_db(backend);
        let server = sandbox.serve();
        let (client_id, secret) = crate::signin::setup(&sandbox, public, extra);
        Usher {
            server,
            sandbox,
            client_id,
            secret,
            post: extra
                .windows(2)
                .any(|w| w == ["--auth-method", "client_secret_post"]),
        }
    }

    /// On SQLite, with a client registered with `extra` options.
    fn with(public: bool, extra: &[&str]) -> Usher {
        Usher::on(Backend::Sqlite, public, extra)
    }

    /// On SQLite, with a confidential `client_secret_basic` client.
    fn new() -> Usher {
        Usher::with(false, &[])
    }

    fn base(&self) -> &str {
        &self.server.base
    }

    fn issuer(&self) -> &str {
        &self.server.issuer
    }

    fn rows(&self) -> Rows {
        let s = &self.sandbox;
        Rows {
            codes: s.count("authorization_codes"),
            tokens: s.count("code_tokens"),
            sessions: s.count("sessions"),
            interactions: s.count("interactions"),
            consents: s.count("consents"),
        }
    }

    /// A complete, valid authorization request with `pkce`'s challenge.
    fn request(&self, pkce: &Pkce) -> Pairs {
        [
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", CALLBACK),
            ("scope", "openid profile email"),
            ("state", STATE),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn url(&self, pairs: &Pairs) -> String {
        authorize_url(self.base(), pairs)
    }

    /// Signs Alice in with `pairs` in `browser`; returns the code.
    async fn code(&self, browser: &Browser, pairs: &Pairs) -> String {
        let back = sign_in(browser, self.base(), &self.url(pairs), "alice", PASSWORD).await;
        assert_eq!(back.status, 303, "{}", back.body);
        back.redirect_param("code")
            .unwrap_or_else(|| panic!("no code in {:?}", back.location))
    }

    /// The client's own credentials, as registered.
    fn auth(&self) -> Auth<'_> {
        match &self.secret {
            Some(s) if self.post => Auth::Post(&self.client_id, s),
            Some(s) => Auth::Basic(&self.client_id, s),
            None => Auth::Public(&self.client_id),
        }
    }

    fn token_request(&self, form: &[(&str, &str)], auth: Auth<'_>) -> reqwest::RequestBuilder {
        let mut form: Pairs = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut request = http().post(self.server.url(routes::TOKEN));
        match auth {
            Auth::Basic(id, secret) => request = request.header(AUTHORIZATION, basic(id, secret)),
            Auth::Post(id, secret) => {
                form.push(("client_id".into(), id.into()));
                form.push(("client_secret".into(), secret.into()));
            }
            Auth::Public(id) => form.push(("client_id".into(), id.into())),
            Auth::Nothing => {}
        }
        request.form(&form)
    }

    async fn token(&self, form: &[(&str, &str)], auth: Auth<'_>) -> Reply {
        let response = self
            .token_request(form, auth)
            .send()
            .await
            .expect("POST /token");
        Reply::from(response).await
    }

    /// Exchanges `code` (sent with `redirect_uri=CALLBACK`) with the client's credentials.
    async fn exchange(&self, code: &str, verifier: Option<&str>) -> Reply {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(&form, self.auth()).await
    }

    /// A complete sign-in in `browser` and its token response.
    async fn tokens(&self, browser: &Browser) -> Value {
        let p = pkce();
        let code = self.code(browser, &self.request(&p)).await;
        let reply = self.exchange(&code, Some(&p.verifier)).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
        reply.json
    }

    async fn userinfo(&self, token: &str) -> Reply {
        let response = http()
            .get(self.server.url(routes::USERINFO))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /userinfo");
        Reply::from(response).await
    }
}

/// Usher's own 400 error page: never a redirect, HTML, with the page security headers.
#[track_caller]
fn assert_error_page(page: &Page) {
    assert_eq!(
        page.status, 400,
        "expected the error page, got:\n{}",
        page.body
    );
    assert_eq!(
        page.location, None,
        "an untrusted request must never be redirected"
    );
    assert!(page.header("location").is_none());
    let content_type = page.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "CSP: {csp:?}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
}

/// A redirect back to the client's callback with `error`, a description, exactly the
/// `state` sent (if one could be read) and `iss`, and no code. Returns the description.
#[track_caller]
fn assert_redirected_error(page: &Page, issuer: &str, error: &str, state: Option<&str>) -> String {
    assert_eq!(
        page.status, 303,
        "expected a redirect to the client, got {}:\n{}",
        page.status, page.body
    );
    let location = page.location.as_deref().unwrap_or_default();
    assert!(location.starts_with(&format!("{CALLBACK}?")), "{location}");
    let params = page.redirect_params();
    let all = |name: &str| -> Vec<String> {
        params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(all("error"), [error], "{location}");
    let description = all("error_description");
    assert_eq!(description.len(), 1, "{location}");
    assert!(!description[0].is_empty(), "{location}");
    assert_eq!(
        all("state"),
        state.map(str::to_owned).into_iter().collect::<Vec<_>>(),
        "{location}"
    );
    assert_eq!(all("iss"), [issuer], "{location}");
    assert!(all("code").is_empty(), "{location}");
    assert_eq!(page.header("cache-control"), Some("no-store"));
    description[0].clone()
}

#[track_caller]
fn assert_login_page(page: &Page) {
    assert_eq!(page.status, 200, "expected the login page:\n{}", page.body);
    assert!(
        page.has_form(routes::LOGIN),
        "expected the login page:\n{}",
        page.body
    );
}

#[track_caller]
fn assert_consent_page(page: &Page) {
    assert_eq!(
        page.status, 200,
        "expected the consent page:\n{}",
        page.body
    );
    assert!(
        page.has_form(routes::CONSENT),
        "expected the consent page:\n{}",
        page.body
    );
}

/// An RFC 6749 §5.2 error, never cached, with no token in it.
#[track_caller]
fn assert_token_error(reply: &Reply, status: u16, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.json);
    assert_eq!(reply.json["error"], error, "{}", reply.json);
    assert!(
        reply.json["error_description"].is_string(),
        "{}",
        reply.json
    );
    assert!(reply.json.get("access_token").is_none(), "{}", reply.json);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

/// A 401 with `WWW-Authenticate: Bearer … error="invalid_token"`.
#[track_caller]
fn assert_invalid_token(reply: &Reply) {
    assert_eq!(reply.status, 401, "{}", reply.json);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer "), "{challenge:?}");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{challenge:?}"
    );
    assert!(reply.json.get("sub").is_none(), "{}", reply.json);
}

/// The text of the login page's alert box.
fn login_alert(page: &Page) -> String {
    let start = page
        .body
        .find("role=\"alert\"")
        .unwrap_or_else(|| panic!("no alert on the page:\n{}", page.body));
    let text = &page.body[start..];
    let open = text.find('>').expect("the alert's tag ends") + 1;
    let close = text.find("</div>").expect("the alert ends");
    text[open..close].trim().to_owned()
}

fn auth_time(token_response: &Value) -> i64 {
    let id_token = token_response["id_token"].as_str().expect("an ID token");
    jwt_parts(id_token).1["auth_time"]
        .as_i64()
        .expect("auth_time in the ID token")
}

crate::async_on_both_backends!(
    a_reused_login_form_is_refused_as_already_submitted,
    one_login_form_submitted_twice_at_once_signs_in_once,
    a_replayed_code_is_refused_and_revokes_the_first_access_token,
    ten_simultaneous_redemptions_of_one_code_give_at_most_one_token,
    a_replay_racing_the_first_redemption_still_revokes_its_token,
);

// ---------------------------------------------------------------------------------------
// /authorize: the client or its redirect URI cannot be trusted → Usher's own error page.

/// Asserts that `pairs` (after `change`) get the error page and change nothing.
async fn untrusted(change: impl FnOnce(&Usher, Pairs) -> Pairs) {
    let u = Usher::new();
    let before = u.rows();
    let p = pkce();
    let pairs = change(&u, u.request(&p));
    let page = Browser::new().get(&u.url(&pairs)).await;
    assert_error_page(&page);
    assert_eq!(u.rows(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_without_client_id_gets_an_error_page_not_a_redirect() {
    untrusted(|_, p| without(p, "client_id")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_client_id_gets_an_error_page_not_a_redirect() {
    untrusted(|_, p| set(p, "client_id", "6f1c1d3e-8c2b-4f0e-9a55-3b2f0c1d2e3f")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_uri_with_an_appended_path_segment_gets_an_error_page_not_a_redirect() {
    untrusted(|_, p| set(p, "redirect_uri", &format!("{CALLBACK}/evil"))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_uri_with_an_added_query_gets_an_error_page_not_a_redirect() {
    untrusted(|_, p| set(p, "redirect_uri", &format!("{CALLBACK}?next=evil"))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_uri_on_another_host_gets_an_error_page_not_a_redirect() {
    untrusted(|_, p| set(p, "redirect_uri", "http://evil.example:9/callback")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_client_id_gets_an_error_page_not_a_redirect() {
    untrusted(|u, p| also(p, "client_id", &u.client_id)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_omitted_redirect_uri_gets_an_error_page_when_two_are_registered() {
    let u = Usher::new();
    let two = u.sandbox.client(&[
        "--name",
        "Two",
        "--redirect-uri",
        CALLBACK,
        "--redirect-uri",
        "http://127.0.0.1:9/other",
    ]);
    let before = u.rows();
    let p = pkce();
    let pairs = set(
        without(u.request(&p), "redirect_uri"),
        "client_id",
        two["client_id"].as_str().unwrap(),
    );
    let page = Browser::new().get(&u.url(&pairs)).await;
    assert_error_page(&page);
    assert!(page.body.contains("redirect_uri"), "{}", page.body);
    assert_eq!(u.rows(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_utf8_in_the_query_gets_an_error_page_not_a_redirect() {
    let u = Usher::new();
    let before = u.rows();
    let p = pkce();
    // A valid request with one byte that is not UTF-8 once percent-decoded.
    let url = format!("{}&login_hint=%FF", u.url(&u.request(&p)));
    let page = Browser::new().get(&url).await;
    assert_error_page(&page);
    assert_eq!(u.rows(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_error_page_forbids_framing_caching_and_referrers() {
    let u = Usher::new();
    let page = Browser::new()
        .get(&format!(
            "{}?response_type=code",
            u.server.url(routes::AUTHORIZE)
        ))
        .await;
    assert_error_page(&page);
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_omitted_redirect_uri_defaults_to_the_only_registered_one() {
    // Only for a plain OAuth request: an OpenID one must send it (OIDC Core §3.1.2.1).
    let u = Usher::new();
    let p = pkce();
    let pairs = set(
        without(u.request(&p), "redirect_uri"),
        "scope",
        "profile email",
    );
    let browser = Browser::new();
    let back = sign_in(&browser, u.base(), &u.url(&pairs), "alice", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        back.location
            .as_deref()
            .unwrap()
            .starts_with(&format!("{CALLBACK}?"))
    );
    let code = back.redirect_param("code").expect("a code");
    // It was not sent, so the token request may leave it out too.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", p.verifier.as_str()),
    ];
    let reply = u.token(&form, u.auth()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loopback_redirect_uri_may_use_another_port() {
    let u = Usher::new();
    let p = pkce();
    let other_port = "http://127.0.0.1:54321/callback";
    let pairs = set(u.request(&p), "redirect_uri", other_port);
    let back = sign_in(&Browser::new(), u.base(), &u.url(&pairs), "alice", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let location = back.location.as_deref().unwrap();
    assert!(
        location.starts_with(&format!("{other_port}?")),
        "{location}"
    );
    assert!(back.redirect_param("code").is_some());
}

// ---------------------------------------------------------------------------------------
// /authorize: the redirect URI is trusted → errors go back to the client.

/// Asserts that `pairs` (after `change`) are redirected back with `error` and the state
/// `state`, and change nothing. Returns the error description.
async fn redirected(
    change: impl FnOnce(Pairs) -> Pairs,
    error: &str,
    state: Option<&str>,
) -> String {
    let u = Usher::new();
    let before = u.rows();
    let p = pkce();
    let page = Browser::new().get(&u.url(&change(u.request(&p)))).await;
    let description = assert_redirected_error(&page, u.issuer(), error, state);
    assert_eq!(u.rows(), before);
    description
}

#[tokio::test(flavor = "multi_thread")]
async fn response_type_token_is_redirected_back_as_unsupported_response_type() {
    redirected(
        |p| set(p, "response_type", "token"),
        "unsupported_response_type",
        Some(STATE),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_response_type_is_redirected_back_as_invalid_request() {
    redirected(
        |p| without(p, "response_type"),
        "invalid_request",
        Some(STATE),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_state_is_redirected_back_as_invalid_request_without_a_state() {
    // Which of two states to echo cannot be known: neither comes back.
    redirected(|p| also(p, "state", "other"), "invalid_request", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_scope_is_redirected_back_as_invalid_request() {
    let description = redirected(
        |p| also(p, "scope", "openid"),
        "invalid_request",
        Some(STATE),
    )
    .await;
    assert!(description.contains("scope"), "{description}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_scope_is_redirected_back_as_invalid_scope() {
    redirected(
        |p| set(p, "scope", "openid admin"),
        "invalid_scope",
        Some(STATE),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_code_challenge_is_refused_with_a_description_that_names_s256() {
    let description = redirected(
        |p| without(without(p, "code_challenge"), "code_challenge_method"),
        "invalid_request",
        Some(STATE),
    )
    .await;
    assert!(
        description.contains("code_challenge_method=S256"),
        "{description}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn code_challenge_method_plain_is_refused() {
    let description = redirected(
        |p| set(p, "code_challenge_method", "plain"),
        "invalid_request",
        Some(STATE),
    )
    .await;
    assert!(description.contains("S256"), "{description}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_challenge_without_a_method_is_refused() {
    let description = redirected(
        |p| without(p, "code_challenge_method"),
        "invalid_request",
        Some(STATE),
    )
    .await;
    assert!(description.contains("S256"), "{description}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_code_challenge_is_refused() {
    // 43 characters, but not base64url.
    let bad = format!("{}!", "A".repeat(42));
    redirected(
        |p| set(p, "code_challenge", &bad),
        "invalid_request",
        Some(STATE),
    )
    .await;
    redirected(
        |p| set(p, "code_challenge", "short"),
        "invalid_request",
        Some(STATE),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_nonce_is_refused() {
    let huge = "n".repeat(4097);
    let description = redirected(|p| set(p, "nonce", &huge), "invalid_request", Some(STATE)).await;
    assert!(description.contains("nonce"), "{description}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_object_is_refused_as_request_not_supported() {
    redirected(
        |p| set(p, "request", "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6ImV2aWwifQ."),
        "request_not_supported",
        Some(STATE),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_none_without_a_session_is_refused_as_login_required() {
    redirected(|p| set(p, "prompt", "none"), "login_required", Some(STATE)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_none_without_consent_is_refused_as_consent_required() {
    let u = Usher::new();
    let browser = Browser::new();
    let p = pkce();
    // Alice logs in but leaves the consent page unanswered.
    let login = browser.get(&u.url(&u.request(&p))).await;
    let consent = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_consent_page(&consent);
    let before = u.rows();
    assert_eq!(before.sessions, 1);

    let p = pkce();
    let page = browser
        .get(&u.url(&set(u.request(&p), "prompt", "none")))
        .await;
    assert_redirected_error(&page, u.issuer(), "consent_required", Some(STATE));
    assert_eq!(u.rows(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn display_and_locale_hints_and_unknown_parameters_do_not_break_the_flow() {
    let u = Usher::new();
    let p = pkce();
    let mut pairs = u.request(&p);
    for (k, v) in [
        ("display", "page"),
        ("ui_locales", "fr-CA fr en"),
        ("claims_locales", "fr"),
        ("acr_values", "urn:mace:incommon:iap:silver"),
        ("x_tracking", "12345"),
        ("foo", ""),
    ] {
        pairs = set(pairs, k, v);
    }
    let browser = Browser::new();
    let login = browser.get(&u.url(&pairs)).await;
    assert_login_page(&login);
    let back = sign_in(&browser, u.base(), &u.url(&pairs), "alice", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(back.redirect_param("code").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn login_hint_prefills_the_username() {
    let u = Usher::new();
    let p = pkce();
    let page = Browser::new()
        .get(&u.url(&set(u.request(&p), "login_hint", "alice")))
        .await;
    assert_login_page(&page);
    assert!(page.body.contains("value=\"alice\""), "{}", page.body);
}

const ODD_STATE: &str = "a b&c=d/é";

#[tokio::test(flavor = "multi_thread")]
async fn a_state_with_special_characters_comes_back_byte_exact_on_success() {
    let u = Usher::new();
    let p = pkce();
    let pairs = set(u.request(&p), "state", ODD_STATE);
    let back = sign_in(&Browser::new(), u.base(), &u.url(&pairs), "alice", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let state = back.redirect_param("state").expect("the state");
    assert_eq!(state.as_bytes(), ODD_STATE.as_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_with_special_characters_comes_back_byte_exact_on_error() {
    redirected(
        |p| set(set(p, "state", ODD_STATE), "response_type", "token"),
        "unsupported_response_type",
        Some(ODD_STATE),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_crafted_to_look_like_parameters_cannot_add_any() {
    let forged = "x&code=forged&iss=https://evil.example&error=none";
    // On error: one error, one iss (Usher's), the state intact, no code.
    redirected(
        |p| set(set(p, "state", forged), "response_type", "token"),
        "unsupported_response_type",
        Some(forged),
    )
    .await;
    // On success: one code (a real one), one iss, the state intact.
    let u = Usher::new();
    let p = pkce();
    let pairs = set(u.request(&p), "state", forged);
    let back = sign_in(&Browser::new(), u.base(), &u.url(&pairs), "alice", PASSWORD).await;
    let params = back.redirect_params();
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["code", "state", "iss"], "{:?}", back.location);
    assert_ne!(back.redirect_param("code").as_deref(), Some("forged"));
    assert_eq!(back.redirect_param("state").as_deref(), Some(forged));
    assert_eq!(back.redirect_param("iss").as_deref(), Some(u.issuer()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pkce_optional_confidential_client_may_leave_out_the_challenge() {
    let u = Usher::with(false, &["--pkce-optional"]);
    let p = pkce();
    let pairs = without(
        without(u.request(&p), "code_challenge"),
        "code_challenge_method",
    );
    let browser = Browser::new();
    let code = u.code(&browser, &pairs).await;
    let reply = u.exchange(&code, None).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pkce_optional_client_still_has_a_sent_challenge_checked() {
    let u = Usher::with(false, &["--pkce-optional"]);
    let before = u.rows();
    let p = pkce();
    let page = Browser::new()
        .get(&u.url(&set(u.request(&p), "code_challenge_method", "plain")))
        .await;
    assert_redirected_error(&page, u.issuer(), "invalid_request", Some(STATE));
    assert_eq!(u.rows(), before);

    // And a challenge that was sent must be answered at the token endpoint.
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let reply = u.exchange(&code, None).await;
    assert_token_error(&reply, 400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_client_cannot_leave_out_the_challenge() {
    let u = Usher::with(true, &[]);
    let p = pkce();
    let page = Browser::new()
        .get(&u.url(&without(
            without(u.request(&p), "code_challenge"),
            "code_challenge_method",
        )))
        .await;
    let description = assert_redirected_error(&page, u.issuer(), "invalid_request", Some(STATE));
    assert!(
        description.contains("code_challenge_method=S256"),
        "{description}"
    );
}

// ---------------------------------------------------------------------------------------
// POST /authorize

#[tokio::test(flavor = "multi_thread")]
async fn a_form_posted_to_authorize_works_like_a_get() {
    let u = Usher::new();
    let p = pkce();
    let browser = Browser::new();
    let login = browser
        .post_form(&u.server.url(routes::AUTHORIZE), &u.request(&p))
        .await;
    assert_login_page(&login);
    let consent = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_consent_page(&consent);
    let back = browser
        .submit(
            u.base(),
            &consent,
            routes::CONSENT,
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.redirect_param("state").as_deref(), Some(STATE));
    let code = back.redirect_param("code").expect("a code");
    let reply = u.exchange(&code, Some(&p.verifier)).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_to_authorize_that_is_not_a_form_gets_an_error_page() {
    let u = Usher::new();
    let before = u.rows();
    let p = pkce();
    let body: Map<String, Value> = u
        .request(&p)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let browser = Browser::new();
    let response = browser
        .http
        .post(u.server.url(routes::AUTHORIZE))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(status, 400);
    assert!(response.headers().get("location").is_none());
    assert_eq!(u.rows(), before);
}

// ---------------------------------------------------------------------------------------
// The login form.

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let u = Usher::new();
    let p = pkce();
    let url = u.url(&u.request(&p));

    let a = Browser::new();
    let login = a.get(&url).await;
    let wrong_password = a
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", "not her password")],
        )
        .await;

    let b = Browser::new();
    let login = b.get(&url).await;
    let unknown_user = b
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "nobody"), ("password", PASSWORD)],
        )
        .await;

    assert_eq!(wrong_password.status, 401, "{}", wrong_password.body);
    assert_eq!(unknown_user.status, wrong_password.status);
    assert_eq!(login_alert(&unknown_user), login_alert(&wrong_password));
    assert!(login_alert(&wrong_password).contains("incorrect"));
    // Both may try again on the same page.
    assert!(wrong_password.has_form(routes::LOGIN));
    assert!(unknown_user.has_form(routes::LOGIN));

    let rows = u.rows();
    assert_eq!((rows.sessions, rows.codes), (0, 0));
    assert!(
        unknown_user
            .header("set-cookie")
            .is_none_or(|c| !c.contains("usher-session"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn five_failures_lock_the_account_even_for_the_right_password() {
    let u = Usher::new();
    let p = pkce();
    let browser = Browser::new();
    let mut page = browser.get(&u.url(&u.request(&p))).await;
    for i in 0..5 {
        page = browser
            .submit(
                u.base(),
                &page,
                routes::LOGIN,
                &[("username", "alice"), ("password", &format!("guess {i}"))],
            )
            .await;
        assert_eq!(page.status, 401, "attempt {i}: {}", page.body);
    }
    let locked = browser
        .submit(
            u.base(),
            &page,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(
        login_alert(&locked).contains("Wait"),
        "{}",
        login_alert(&locked)
    );
    let rows = u.rows();
    assert_eq!((rows.sessions, rows.codes), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn five_failures_from_one_address_lock_out_every_account_from_it() {
    let u = Usher::new();
    let p = pkce();
    let browser = Browser::new();
    let mut page = browser.get(&u.url(&u.request(&p))).await;
    for i in 0..5 {
        page = browser
            .submit(
                u.base(),
                &page,
                routes::LOGIN,
                &[("username", &format!("guess{i}")), ("password", "password")],
            )
            .await;
        assert_eq!(page.status, 401, "attempt {i}: {}", page.body);
    }
    let locked = browser
        .submit(
            u.base(),
            &page,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(login_alert(&locked).contains("Wait"));
    assert_eq!(u.rows().sessions, 0);
}

async fn a_reused_login_form_is_refused_as_already_submitted(backend: Backend) {
    let u = Usher::on(backend, false, &[]);
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p))).await;
    let retry = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", "typo")],
        )
        .await;
    assert_eq!(retry.status, 401);
    let before = u.rows();

    // The first form again (its CSRF token was used), now with the right password.
    let again = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_error_page(&again);
    assert!(again.body.contains("already submitted"), "{}", again.body);
    assert_eq!(u.rows(), before);

    // The form that came back with the error still works.
    let consent = browser
        .submit(
            u.base(),
            &retry,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_consent_page(&consent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_form_resubmitted_after_it_succeeded_is_refused() {
    let u = Usher::new();
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p))).await;
    let fields = [("username", "alice"), ("password", PASSWORD)];
    let consent = browser
        .submit(u.base(), &login, routes::LOGIN, &fields)
        .await;
    assert_consent_page(&consent);
    let before = u.rows();
    let again = browser
        .submit(u.base(), &login, routes::LOGIN, &fields)
        .await;
    assert_error_page(&again);
    assert_eq!(u.rows(), before, "no second session");
}

async fn one_login_form_submitted_twice_at_once_signs_in_once(backend: Backend) {
    let u = Usher::on(backend, false, &[]);
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p))).await;
    let fields = [("username", "alice"), ("password", PASSWORD)];
    let (a, b) = tokio::join!(
        browser.submit(u.base(), &login, routes::LOGIN, &fields),
        browser.submit(u.base(), &login, routes::LOGIN, &fields),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400], "{}\n{}", a.body, b.body);
    let (winner, loser) = if a.status == 200 { (a, b) } else { (b, a) };
    assert_consent_page(&winner);
    assert!(loser.body.contains("already submitted"), "{}", loser.body);
    assert_eq!(u.rows().sessions, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_form_posted_without_the_interaction_cookie_is_refused() {
    let u = Usher::new();
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p))).await;
    let before = u.rows();
    let fields = [("username", "alice"), ("password", PASSWORD)];

    // Another browser (no cookie) posts the form.
    let stranger = Browser::new()
        .submit(u.base(), &login, routes::LOGIN, &fields)
        .await;
    assert_error_page(&stranger);
    assert_eq!(u.rows(), before);

    // The form's token was not spent: its own browser can still use it.
    let consent = browser
        .submit(u.base(), &login, routes::LOGIN, &fields)
        .await;
    assert_consent_page(&consent);
}

// ---------------------------------------------------------------------------------------
// The consent form.

#[tokio::test(flavor = "multi_thread")]
async fn denying_consent_redirects_back_with_access_denied_and_the_state() {
    let u = Usher::new();
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p))).await;
    let consent = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_consent_page(&consent);
    let back = browser
        .submit(u.base(), &consent, routes::CONSENT, &[("decision", "deny")])
        .await;
    assert_redirected_error(&back, u.issuer(), "access_denied", Some(STATE));
    let rows = u.rows();
    assert_eq!((rows.codes, rows.consents), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_consent_form_is_refused() {
    let u = Usher::new();
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p))).await;
    let consent = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    let back = browser
        .submit(
            u.base(),
            &consent,
            routes::CONSENT,
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(back.status, 303);
    let before = u.rows();
    assert_eq!(before.codes, 1);

    let again = browser
        .submit(
            u.base(),
            &consent,
            routes::CONSENT,
            &[("decision", "approve")],
        )
        .await;
    assert_error_page(&again);
    assert_eq!(u.rows(), before, "no second code");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_consent_form_submitted_twice_at_once_issues_one_code() {
    let u = Usher::new();
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p))).await;
    let consent = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_consent_page(&consent);
    let approve = [("decision", "approve")];
    let (a, b) = tokio::join!(
        browser.submit(u.base(), &consent, routes::CONSENT, &approve),
        browser.submit(u.base(), &consent, routes::CONSENT, &approve),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 400], "{}\n{}", a.body, b.body);
    assert_eq!(u.rows().codes, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_consent_asks_again_after_consent_was_remembered() {
    let u = Usher::new();
    let browser = Browser::new();
    u.tokens(&browser).await;
    let before = u.rows();
    assert_eq!(before.consents, 1);

    let p = pkce();
    let page = browser
        .get(&u.url(&set(u.request(&p), "prompt", "consent")))
        .await;
    assert_consent_page(&page);
    assert_eq!(u.rows().codes, before.codes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_party_client_never_shows_the_consent_page() {
    let u = Usher::with(false, &["--first-party"]);
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p))).await;
    let back = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(back.redirect_param("code").is_some());
    let p = pkce();
    let page = browser
        .get(&u.url(&set(u.request(&p), "prompt", "consent")))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.redirect_param("code").is_some());
    assert_eq!(u.rows().consents, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_login_asks_for_the_password_again_and_the_new_id_token_is_newer() {
    let u = Usher::new();
    let browser = Browser::new();
    let first = u.tokens(&browser).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let p = pkce();
    let before = u.rows();
    let login = browser
        .get(&u.url(&set(u.request(&p), "prompt", "login")))
        .await;
    assert_login_page(&login);
    assert_eq!(u.rows().codes, before.codes);
    let back = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    let code = back.redirect_param("code").expect("a code");
    let second = u.exchange(&code, Some(&p.verifier)).await;
    assert_eq!(second.status, 200, "{}", second.json);
    assert!(auth_time(&second.json) > auth_time(&first));
    assert_eq!(
        u.rows().sessions,
        1,
        "the new login replaced the old session"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn max_age_zero_forces_a_login() {
    let u = Usher::new();
    let browser = Browser::new();
    u.tokens(&browser).await;
    // At once, in (most likely) the very second Alice signed in.
    let p = pkce();
    let before = u.rows();
    let page = browser
        .get(&u.url(&set(u.request(&p), "max_age", "0")))
        .await;
    assert_login_page(&page);
    assert_eq!(u.rows().codes, before.codes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_younger_than_max_age_is_reused() {
    let u = Usher::new();
    let browser = Browser::new();
    u.tokens(&browser).await;
    let p = pkce();
    let page = browser
        .get(&u.url(&set(u.request(&p), "max_age", "3600")))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.redirect_param("code").is_some());
}

// ---------------------------------------------------------------------------------------
// id_token_hint

#[tokio::test(flavor = "multi_thread")]
async fn an_id_token_hint_for_another_person_is_refused_as_login_required() {
    let u = Usher::new();
    u.sandbox.user("bob", PASSWORD, &[]);
    let alice = u.tokens(&Browser::new()).await;
    let alice_id_token = alice["id_token"].as_str().unwrap();

    let bobs_browser = Browser::new();
    let p = pkce();
    let back = sign_in(
        &bobs_browser,
        u.base(),
        &u.url(&u.request(&p)),
        "bob",
        PASSWORD,
    )
    .await;
    assert_eq!(back.status, 303, "{}", back.body);
    let before = u.rows();

    let p = pkce();
    let page = bobs_browser
        .get(&u.url(&set(u.request(&p), "id_token_hint", alice_id_token)))
        .await;
    assert_redirected_error(&page, u.issuer(), "login_required", Some(STATE));
    assert_eq!(u.rows(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_token_hint_for_the_signed_in_person_is_accepted() {
    let u = Usher::new();
    let browser = Browser::new();
    let alice = u.tokens(&browser).await;
    let p = pkce();
    let pairs = set(
        set(
            u.request(&p),
            "id_token_hint",
            alice["id_token"].as_str().unwrap(),
        ),
        "prompt",
        "none",
    );
    let page = browser.get(&u.url(&pairs)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.redirect_param("code").is_some(), "{:?}", page.location);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_token_hint_for_someone_else_refuses_the_person_who_then_logs_in() {
    let u = Usher::new();
    u.sandbox.user("bob", PASSWORD, &[]);
    let alice = u.tokens(&Browser::new()).await;
    let before = u.rows();

    let browser = Browser::new();
    let p = pkce();
    let url = u.url(&set(
        u.request(&p),
        "id_token_hint",
        alice["id_token"].as_str().unwrap(),
    ));
    let login = browser.get(&url).await;
    assert_login_page(&login);
    let back = browser
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "bob"), ("password", PASSWORD)],
        )
        .await;
    assert_redirected_error(&back, u.issuer(), "login_required", Some(STATE));
    let rows = u.rows();
    assert_eq!((rows.codes, rows.tokens), (before.codes, before.tokens));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_garbage_id_token_hint_is_refused_as_invalid_request() {
    redirected(
        |p| set(p, "id_token_hint", "not.a-token.at-all"),
        "invalid_request",
        Some(STATE),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// POST /token

async fn a_replayed_code_is_refused_and_revokes_the_first_access_token(backend: Backend) {
    let u = Usher::on(backend, false, &[]);
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let first = u.exchange(&code, Some(&p.verifier)).await;
    assert_eq!(first.status, 200, "{}", first.json);
    let access_token = first.str("access_token").to_owned();
    assert_eq!(u.userinfo(&access_token).await.status, 200);

    let second = u.exchange(&code, Some(&p.verifier)).await;
    assert_token_error(&second, 400, "invalid_grant");
    assert_eq!(u.rows().tokens, 1, "the replay issued nothing");

    let refused = u.userinfo(&access_token).await;
    assert_invalid_token(&refused);
}

/// Gets a code with a PKCE challenge, then sends `form` (grant_type and code added) with
/// `auth`, expecting the token error `error` with `status`; no token is issued.
async fn token_refused(
    u: &Usher,
    extra: &[(&str, &str)],
    auth: Auth<'_>,
    status: u16,
    error: &str,
) {
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ];
    form.extend_from_slice(extra);
    let reply = u.token(&form, auth).await;
    assert_token_error(&reply, status, error);
    assert_eq!(u.rows().tokens, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_code_verifier_is_invalid_grant() {
    let u = Usher::new();
    let other = pkce();
    let extra = [
        ("redirect_uri", CALLBACK),
        ("code_verifier", other.verifier.as_str()),
    ];
    token_refused(&u, &extra, u.auth(), 400, "invalid_grant").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_code_verifier_is_invalid_grant() {
    let u = Usher::new();
    token_refused(
        &u,
        &[("redirect_uri", CALLBACK)],
        u.auth(),
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_verifier_of_bad_syntax_is_invalid_grant() {
    let u = Usher::new();
    let short = "a".repeat(42);
    let extra = [
        ("redirect_uri", CALLBACK),
        ("code_verifier", short.as_str()),
    ];
    token_refused(&u, &extra, u.auth(), 400, "invalid_grant").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_uri_different_from_the_authorization_request_is_invalid_grant() {
    let u = Usher::new();
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:9/callback/other"),
        ("code_verifier", p.verifier.as_str()),
    ];
    let reply = u.token(&form, u.auth()).await;
    assert_token_error(&reply, 400, "invalid_grant");
    assert_eq!(u.rows().tokens, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_redirect_uri_is_invalid_grant_when_the_authorization_request_sent_one() {
    let u = Usher::new();
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", p.verifier.as_str()),
    ];
    let reply = u.token(&form, u.auth()).await;
    assert_token_error(&reply, 400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_issued_to_another_client_is_invalid_grant() {
    let u = Usher::new();
    let other = u
        .sandbox
        .client(&["--name", "Other", "--redirect-uri", CALLBACK]);
    let (id, secret) = (
        other["client_id"].as_str().unwrap(),
        other["client_secret"].as_str().unwrap(),
    );
    let p = pkce();
    let extra = [
        ("redirect_uri", CALLBACK),
        ("code_verifier", p.verifier.as_str()),
    ];
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ];
    form.extend_from_slice(&extra);
    let reply = u.token(&form, Auth::Basic(id, secret)).await;
    assert_token_error(&reply, 400, "invalid_grant");
    assert_eq!(u.rows().tokens, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_code_is_invalid_grant() {
    let u = Usher::new();
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    u.sandbox
        .execute("UPDATE authorization_codes SET expires_at = created_at - 1");
    let reply = u.exchange(&code, Some(&p.verifier)).await;
    assert_token_error(&reply, 400, "invalid_grant");
    assert_eq!(u.rows().tokens, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_code_is_invalid_grant() {
    let u = Usher::new();
    let p = pkce();
    let reply = u
        .exchange(
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            Some(&p.verifier),
        )
        .await;
    assert_token_error(&reply, 400, "invalid_grant");
}

/// Gets a code, and checks that after the refused request it is still good.
async fn code_survives(
    u: &Usher,
    refused: impl AsyncFnOnce(&str, &str) -> Reply,
    status: u16,
    error: &str,
) -> Reply {
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let reply = refused(&code, &p.verifier).await;
    assert_token_error(&reply, status, error);
    assert_eq!(u.rows().tokens, 0);
    let good = u.exchange(&code, Some(&p.verifier)).await;
    assert_eq!(
        good.status, 200,
        "the refused request spent the code: {}",
        good.json
    );
    reply
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_over_basic_is_invalid_client_with_a_basic_challenge() {
    let u = Usher::new();
    let id = u.client_id.clone();
    let reply = code_survives(
        &u,
        async |code, verifier| {
            u.token(&code_form(code, verifier), Auth::Basic(&id, "wrong-secret"))
                .await
        },
        401,
        "invalid_client",
    )
    .await;
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Basic"), "{challenge:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_in_the_form_is_invalid_client_without_a_basic_challenge() {
    let u = Usher::with(false, &["--auth-method", "client_secret_post"]);
    let id = u.client_id.clone();
    let reply = code_survives(
        &u,
        async |code, verifier| {
            u.token(&code_form(code, verifier), Auth::Post(&id, "wrong-secret"))
                .await
        },
        401,
        "invalid_client",
    )
    .await;
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(!challenge.starts_with("Basic"), "{challenge:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_post_works_for_a_client_registered_for_it() {
    let u = Usher::with(false, &["--auth-method", "client_secret_post"]);
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let secret = u.secret.clone().unwrap();
    let reply = u
        .token(
            &code_form(&code, &p.verifier),
            Auth::Post(&u.client_id, &secret),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_basic_client_using_client_secret_post_is_invalid_client() {
    let u = Usher::new();
    let (id, secret) = (u.client_id.clone(), u.secret.clone().unwrap());
    code_survives(
        &u,
        async |code, verifier| {
            u.token(&code_form(code, verifier), Auth::Post(&id, &secret))
                .await
        },
        401,
        "invalid_client",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_client_sending_a_secret_is_invalid_client() {
    let u = Usher::with(true, &[]);
    let id = u.client_id.clone();
    code_survives(
        &u,
        async |code, verifier| {
            u.token(
                &code_form(code, verifier),
                Auth::Post(&id, "made-up-secret"),
            )
            .await
        },
        401,
        "invalid_client",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_request_without_client_authentication_is_invalid_client() {
    let u = Usher::new();
    code_survives(
        &u,
        async |code, verifier| u.token(&code_form(code, verifier), Auth::Nothing).await,
        401,
        "invalid_client",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_token_parameter_is_invalid_request() {
    let u = Usher::new();
    code_survives(
        &u,
        async |code, verifier| {
            let mut form = code_form(code, verifier).to_vec();
            form.push(("code", code));
            u.token(&form, u.auth()).await
        },
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grant_type_password_is_unsupported_grant_type() {
    let u = Usher::new();
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let reply = u.token(&form, u.auth()).await;
    assert_token_error(&reply, 400, "unsupported_grant_type");
    assert_eq!(u.rows().tokens, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_request_that_is_not_a_form_is_invalid_request() {
    let u = Usher::new();
    code_survives(
        &u,
        async |code, verifier| {
            let body: Map<String, Value> = code_form(code, verifier)
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect();
            let secret = u.secret.clone().unwrap();
            let response = http()
                .post(u.server.url(routes::TOKEN))
                .header(AUTHORIZATION, basic(&u.client_id, &secret))
                .json(&body)
                .send()
                .await
                .unwrap();
            Reply::from(response).await
        },
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_successful_exchange_is_a_bearer_token_for_600_seconds_never_cached() {
    let u = Usher::new();
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let reply = u.exchange(&code, Some(&p.verifier)).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("pragma"), Some("no-cache"));
    assert_eq!(reply.json["token_type"], "Bearer");
    assert_eq!(reply.json["expires_in"], 600);
    assert!(reply.json["access_token"].is_string());
    let (_, claims) = jwt_parts(reply.str("id_token"));
    assert_eq!(
        claims["nonce"], "n-0S6_WzA2Mj",
        "the nonce comes back in the ID token"
    );
    let aud = &claims["aud"];
    assert!(
        *aud == json!(u.client_id) || *aud == json!([u.client_id]),
        "the ID token is for the client: {aud}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_credentials_are_form_decoded() {
    let u = Usher::new();
    let secret = u.secret.clone().unwrap();
    // Percent-encode every byte: what a client that form-encodes everything sends.
    let all = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let header = format!(
        "Basic {}",
        b64_standard(format!("{}:{}", all(&u.client_id), all(&secret)).as_bytes())
    );
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let response = http()
        .post(u.server.url(routes::TOKEN))
        .header(AUTHORIZATION, header)
        .form(&code_form(&code, &p.verifier))
        .send()
        .await
        .unwrap();
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, 200, "{}", reply.json);

    // And plain Basic (which is what form-encoding gives for a UUID and a base64url
    // secret) works too.
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let response = http()
        .post(u.server.url(routes::TOKEN))
        .basic_auth(&u.client_id, Some(&secret))
        .form(&code_form(&code, &p.verifier))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

// ---------------------------------------------------------------------------------------
// /userinfo

#[tokio::test(flavor = "multi_thread")]
async fn userinfo_without_a_token_is_a_bare_bearer_challenge() {
    let u = Usher::new();
    let response = http()
        .get(u.server.url(routes::USERINFO))
        .send()
        .await
        .unwrap();
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"usher\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn userinfo_with_a_token_in_both_header_and_body_is_invalid_request() {
    let u = Usher::new();
    let tokens = u.tokens(&Browser::new()).await;
    let at = tokens["access_token"].as_str().unwrap();
    let response = http()
        .post(u.server.url(routes::USERINFO))
        .bearer_auth(at)
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, 400, "{}", reply.json);
    assert_eq!(reply.json["error"], "invalid_request");
    assert!(reply.json.get("sub").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn userinfo_accepts_a_bearer_header_on_get_and_post() {
    let u = Usher::new();
    let tokens = u.tokens(&Browser::new()).await;
    let at = tokens["access_token"].as_str().unwrap();
    let got = u.userinfo(at).await;
    assert_eq!(got.status, 200, "{}", got.json);
    assert_eq!(got.json["email"], "alice@example.com");
    assert_eq!(got.header("cache-control"), Some("no-store"));
    let response = http()
        .post(u.server.url(routes::USERINFO))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    let posted = Reply::from(response).await;
    assert_eq!(posted.status, 200, "{}", posted.json);
    assert_eq!(posted.json["sub"], got.json["sub"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn userinfo_accepts_the_token_in_a_posted_form() {
    let u = Usher::new();
    let tokens = u.tokens(&Browser::new()).await;
    let at = tokens["access_token"].as_str().unwrap();
    let response = http()
        .post(u.server.url(routes::USERINFO))
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["email"], "alice@example.com");
}

/// A valid access token from a real sign-in, split into its three segments.
async fn access_token_segments(u: &Usher) -> (String, [String; 3]) {
    let tokens = u.tokens(&Browser::new()).await;
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let parts: Vec<String> = at.split('.').map(str::to_owned).collect();
    let segments: [String; 3] = parts.try_into().expect("three segments");
    // The untouched token is good: what follows is refused for its one change.
    assert_eq!(u.userinfo(&at).await.status, 200);
    (at, segments)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_alg_none_token_is_refused() {
    let u = Usher::new();
    let (_, [_, payload, _]) = access_token_segments(&u).await;
    let header = b64url(br#"{"alg":"none","typ":"at+jwt"}"#);
    assert_invalid_token(&u.userinfo(&format!("{header}.{payload}.")).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_hs256_token_keyed_with_the_public_jwks_is_refused() {
    let u = Usher::new();
    let (at, [_, payload, _]) = access_token_segments(&u).await;
    let kid = jwt_parts(&at).0["kid"].clone();
    let jwks = http()
        .get(u.server.url(routes::JWKS))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header = b64url(
        json!({"alg": "HS256", "typ": "at+jwt", "kid": kid})
            .to_string()
            .as_bytes(),
    );
    let input = format!("{header}.{payload}");
    let mac = CoreHmacKey::new(jwks.as_bytes())
        .sign(&CoreJwsSigningAlgorithm::HmacSha256, input.as_bytes())
        .unwrap();
    assert_invalid_token(&u.userinfo(&format!("{input}.{}", b64url(&mac))).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_with_an_unknown_kid_is_refused() {
    let u = Usher::new();
    let (_, [_, payload, signature]) = access_token_segments(&u).await;
    let header = b64url(br#"{"alg":"RS256","typ":"at+jwt","kid":"no-such-key"}"#);
    assert_invalid_token(&u.userinfo(&format!("{header}.{payload}.{signature}")).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_with_a_flipped_signature_byte_is_refused() {
    let u = Usher::new();
    let (_, [header, payload, signature]) = access_token_segments(&u).await;
    let mut bytes = b64url_decode(&signature);
    bytes[10] ^= 0x01;
    let tampered = format!("{header}.{payload}.{}", b64url(&bytes));
    assert_invalid_token(&u.userinfo(&tampered).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_token_is_not_accepted_as_an_access_token() {
    let u = Usher::new();
    let tokens = u.tokens(&Browser::new()).await;
    assert_invalid_token(&u.userinfo(tokens["id_token"].as_str().unwrap()).await);
}

/// A real access token's claims, changed by `change` and signed with Usher's own key.
async fn resigned(u: &Usher, change: impl FnOnce(&mut Map<String, Value>)) -> String {
    let (at, _) = access_token_segments(u).await;
    let mut claims = jwt_parts(&at).1.as_object().unwrap().clone();
    let ring = u.sandbox.key_ring();
    // Re-signed unchanged, it is accepted: the key is Usher's.
    let same = ring.sign_jwt("at+jwt", &claims).unwrap();
    assert_eq!(u.userinfo(&same).await.status, 200);
    change(&mut claims);
    ring.sign_jwt("at+jwt", &claims).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_another_issuer_is_refused() {
    let u = Usher::new();
    let token = resigned(&u, |c| {
        c.insert("iss".into(), json!("https://evil.example"));
    })
    .await;
    assert_invalid_token(&u.userinfo(&token).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_another_audience_is_refused() {
    let u = Usher::new();
    let token = resigned(&u, |c| {
        c.insert("aud".into(), json!("https://api.example"));
    })
    .await;
    assert_invalid_token(&u.userinfo(&token).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_refused() {
    let u = Usher::new();
    let token = resigned(&u, |c| {
        let iat = c["iat"].as_i64().unwrap();
        c.insert("exp".into(), json!(iat - 1));
    })
    .await;
    assert_invalid_token(&u.userinfo(&token).await);
}

// ---------------------------------------------------------------------------------------
// A code-redemption race.

/// Sends ten redemptions of one code at once; returns the replies.
async fn race(u: &Usher, code: &str, verifier: &str) -> Vec<Reply> {
    let barrier = Arc::new(tokio::sync::Barrier::new(10));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let request = u.token_request(&code_form(code, verifier), u.auth());
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                Reply::from(request.send().await.expect("POST /token")).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for h in handles {
        replies.push(h.await.expect("a redemption"));
    }
    replies
}

async fn ten_simultaneous_redemptions_of_one_code_give_at_most_one_token(backend: Backend) {
    let u = Usher::on(backend, false, &[]);
    let p = pkce();
    let code = u.code(&Browser::new(), &u.request(&p)).await;
    let replies = race(&u, &code, &p.verifier).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    // One request redeems the code; the replays are refused. If they land before the
    // redeemer has recorded its token, it refuses to hand it out too (RFC 6749 §4.1.2:
    // a code used more than once is denied, and what it issued is revoked).
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 1,
        "{statuses:?}"
    );
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_token_error(r, 400, "invalid_grant");
    }
    assert!(u.rows().tokens <= 1);
}

async fn a_replay_racing_the_first_redemption_still_revokes_its_token(backend: Backend) {
    let u = Usher::on(backend, false, &[]);
    let browser = Browser::new();
    // Whether a replay lands before or after the winner records its token is timing:
    // several rounds make it likely that some replay lands before.
    for round in 0..4 {
        let p = pkce();
        let code = u.code(&browser, &u.request(&p)).await;
        let replies = race(&u, &code, &p.verifier).await;
        // Nine replays happened: whatever the code issued, if anything, is refused now.
        for winner in replies.iter().filter(|r| r.status == 200) {
            let after = u.userinfo(winner.str("access_token")).await;
            assert_eq!(
                after.status, 401,
                "round {round}: the winner's token still works"
            );
            assert_invalid_token(&after);
        }
    }
}
