//! The edges of `/authorize` and its pages that issue 12 fixed, end to end against the
//! real binary: public clients on loopback or private-use redirect URIs always see a page
//! (item 6), an OpenID request must send its `redirect_uri` (item 11), error descriptions
//! never echo request text (item 13), an unregistered `resource` is refused (item 14), two sign-ins in
//! one browser both complete (item 15), and showing a page writes nothing to the database
//! while the forms stay single-use and bound to their browser (item 18).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use usher::config::Settings;
use usher::serve::Node;
use usher_core::Clock;
use usher_domain::UnixTime;
use usher_http::routes;
use usher_store::testing::TestDb;

use crate::helpers::{
    Backend, Browser, Page, Pkce, Sandbox, Server, authorize_url, b64_standard, pkce, sign_in,
};

const CALLBACK: &str = "http://127.0.0.1:9/callback";
const PASSWORD: &str = "correct horse battery staple";

crate::async_on_both_backends!(
    a_burst_of_authorize_requests_writes_no_interaction_and_sign_in_still_works,
    one_first_login_form_posted_at_once_many_times_stores_one_interaction,
    one_first_consent_form_posted_at_once_many_times_issues_one_code,
    two_sign_ins_in_one_browser_both_complete,
);

/// A running Usher on its own database with the `Shop` client (`signin::setup`) and Alice.
struct Usher {
    // Declared first so the server stops before its database is dropped.
    server: Server,
    sandbox: Sandbox,
    client_id: String,
    secret: Option<String>,
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
        }
    }

    fn new() -> Usher {
        Usher::on(Backend::Sqlite, false, &[])
    }

    fn base(&self) -> &str {
        &self.server.base
    }

    /// A complete authorization request to `CALLBACK` with `state`.
    fn request(&self, p: &Pkce, state: &str) -> Vec<(String, String)> {
        request(&self.client_id, CALLBACK, p, state)
    }

    fn url(&self, pairs: &[(String, String)]) -> String {
        authorize_url(self.base(), pairs)
    }

    fn interactions(&self) -> i64 {
        self.sandbox.count("interactions")
    }

    /// Redeems `code` (issued for `CALLBACK`); the status and JSON body.
    async fn exchange(&self, code: &str, verifier: &str) -> (u16, serde_json::Value) {
        exchange(
            self.base(),
            &self.client_id,
            self.secret.as_deref(),
            CALLBACK,
            code,
            verifier,
        )
        .await
    }
}

fn request(client_id: &str, redirect_uri: &str, p: &Pkce, state: &str) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile email"),
        ("state", state),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn set(mut pairs: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    pairs.retain(|(k, _)| k != name);
    pairs.push((name.to_owned(), value.to_owned()));
    pairs
}

fn without(mut pairs: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
    pairs.retain(|(k, _)| k != name);
    pairs
}

async fn exchange(
    base: &str,
    client_id: &str,
    secret: Option<&str>,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    let mut request = reqwest::Client::new().post(format!("{base}{}", routes::TOKEN));
    match secret {
        Some(s) => {
            let basic = b64_standard(format!("{client_id}:{s}").as_bytes());
            request = request.header("authorization", format!("Basic {basic}"));
        }
        None => form.push(("client_id", client_id)),
    }
    let response = request.form(&form).send().await.expect("POST /token");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// A second handle on the same browser (same cookie jar), for concurrent requests.
fn same_browser(browser: &Browser) -> Browser {
    Browser {
        http: browser.http.clone(),
    }
}

#[track_caller]
fn assert_login_page(page: &Page) {
    assert_eq!(page.status, 200, "expected the login page:\n{}", page.body);
    assert!(page.has_form(routes::LOGIN), "{}", page.body);
}

#[track_caller]
fn assert_consent_page(page: &Page) {
    assert_eq!(
        page.status, 200,
        "expected the consent page:\n{}",
        page.body
    );
    assert!(page.has_form(routes::CONSENT), "{}", page.body);
}

/// Usher's own 400 error page (never a redirect) whose text contains `words`.
#[track_caller]
fn assert_error_page(page: &Page, words: &str) {
    assert_eq!(page.status, 400, "expected the error page:\n{}", page.body);
    assert_eq!(page.location, None);
    assert!(page.body.contains(words), "{words:?} in:\n{}", page.body);
}

/// The redirect back to `redirect_uri` with `error` (and no code); the description.
#[track_caller]
fn assert_redirected_error(page: &Page, redirect_uri: &str, error: &str) -> String {
    assert_eq!(page.status, 303, "expected a redirect:\n{}", page.body);
    let location = page.location.as_deref().unwrap_or_default();
    assert!(location.starts_with(redirect_uri), "{location}");
    assert_eq!(
        page.redirect_param("error").as_deref(),
        Some(error),
        "{location}"
    );
    assert!(page.redirect_param("code").is_none(), "{location}");
    page.redirect_param("error_description")
        .expect("an error_description")
}

fn login_fields() -> [(&'static str, &'static str); 2] {
    [("username", "alice"), ("password", PASSWORD)]
}

// ---------------------------------------------------------------------------------------
// Item 6: a public client on a loopback or private-use redirect URI always sees a page.

#[tokio::test(flavor = "multi_thread")]
async fn a_public_loopback_client_sees_the_consent_page_at_every_sign_in() {
    let u = Usher::on(
        Backend::Sqlite,
        true,
        &["--redirect-uri", "https://shop.example/cb"],
    );
    let browser = Browser::new();
    let p = pkce();
    let first = sign_in(
        &browser,
        u.base(),
        &u.url(&u.request(&p, "one")),
        "alice",
        PASSWORD,
    )
    .await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert_eq!(u.sandbox.count("consents"), 1, "consent was remembered");
    let codes = u.sandbox.count("authorization_codes");

    // Signed in, consent remembered: still the consent page, with its warning.
    let p = pkce();
    let again = browser.get(&u.url(&u.request(&p, "two"))).await;
    assert_consent_page(&again);
    assert!(again.body.contains("cannot verify"), "{}", again.body);
    assert_eq!(u.sandbox.count("authorization_codes"), codes);
    let back = browser
        .submit(
            u.base(),
            &again,
            routes::CONSENT,
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    let code = back.redirect_param("code").expect("a code after the page");
    assert_eq!(back.redirect_param("state").as_deref(), Some("two"));
    let (status, body) = u.exchange(&code, &p.verifier).await;
    assert_eq!(status, 200, "{body}");

    // prompt=none can never be answered without the page.
    let p = pkce();
    let silent = browser
        .get(&u.url(&set(u.request(&p, "three"), "prompt", "none")))
        .await;
    let description = assert_redirected_error(&silent, CALLBACK, "interaction_required");
    assert!(description.contains("prompt=none"), "{description}");
    assert_eq!(u.sandbox.count("authorization_codes"), codes + 1);

    // The same public client on its https redirect URI keeps remembered consent.
    let p = pkce();
    let https = set(
        u.request(&p, "four"),
        "redirect_uri",
        "https://shop.example/cb",
    );
    let direct = browser.get(&u.url(&https)).await;
    assert_eq!(direct.status, 303, "{}", direct.body);
    assert!(direct.redirect_param("code").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_client_on_a_private_use_scheme_sees_the_consent_page_at_every_sign_in() {
    const APP: &str = "com.example.shop:/callback";
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    let server = sandbox.serve();
    let client = sandbox.client(&["--name", "Phone", "--public", "--redirect-uri", APP]);
    let client_id = client["client_id"].as_str().unwrap();
    sandbox.user("alice", PASSWORD, &[]);
    let browser = Browser::new();
    for state in ["one", "two"] {
        let p = pkce();
        let url = authorize_url(&server.base, &request(client_id, APP, &p, state));
        let mut page = browser.get(&url).await;
        if page.has_form(routes::LOGIN) {
            page = browser
                .submit(&server.base, &page, routes::LOGIN, &login_fields())
                .await;
        }
        assert_consent_page(&page);
        let back = browser
            .submit(
                &server.base,
                &page,
                routes::CONSENT,
                &[("decision", "approve")],
            )
            .await;
        assert_eq!(back.status, 303, "{}", back.body);
        assert!(back.location.as_deref().unwrap().starts_with(APP));
    }
    assert_eq!(sandbox.count("consents"), 1);
    assert_eq!(sandbox.count("authorization_codes"), 2);
}

#[test]
fn a_public_client_cannot_be_registered_first_party_and_nothing_is_written() {
    let fresh = Sandbox::new();
    let args = [
        "client",
        "create",
        "--name",
        "CLI app",
        "--public",
        "--first-party",
        "--redirect-uri",
        "http://127.0.0.1/cb",
    ];
    let run = fresh.usher(&args, None);
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("first-party"), "{}", run.stderr());
    assert!(run.stdout().is_empty());
    assert!(
        fresh.created_files().is_empty(),
        "{:?}",
        fresh.created_files()
    );

    let used = Sandbox::new();
    used.write_kek("keys/kek", &usher_keys::Kek::generate().unwrap());
    used.client(&["--name", "Kept", "--redirect-uri", "https://k.example/cb"]);
    let before = used.snapshot();
    assert_eq!(used.usher(&args, None).code(), Some(2));
    assert_eq!(used.snapshot(), before);
}

// ---------------------------------------------------------------------------------------
// Item 11: an OpenID request must send redirect_uri.

#[tokio::test(flavor = "multi_thread")]
async fn an_openid_request_without_redirect_uri_gets_the_error_page_not_a_code() {
    let u = Usher::new();
    let p = pkce();
    let pairs = without(u.request(&p, "s"), "redirect_uri");
    let page = Browser::new().get(&u.url(&pairs)).await;
    assert_error_page(&page, "redirect_uri");
    // Even for someone signed in, through a POST too.
    let browser = Browser::new();
    let signed_in = sign_in(
        &browser,
        u.base(),
        &u.url(&u.request(&p, "s")),
        "alice",
        PASSWORD,
    )
    .await;
    assert_eq!(signed_in.status, 303);
    let codes = u.sandbox.count("authorization_codes");
    let page = browser
        .post_form(&format!("{}{}", u.base(), routes::AUTHORIZE), &pairs)
        .await;
    assert_error_page(&page, "redirect_uri");
    assert_eq!(u.sandbox.count("authorization_codes"), codes);
}

// ---------------------------------------------------------------------------------------
// Item 13: error descriptions are fixed sentences in RFC 6749's character set.

fn in_rfc6749_set(description: &str) -> bool {
    description
        .chars()
        .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E'))
}

#[tokio::test(flavor = "multi_thread")]
async fn error_descriptions_never_echo_request_text() {
    let u = Usher::new();
    let p = pkce();
    let marker = "Zq\"\\<é>";
    let cases: Vec<Vec<(String, String)>> = vec![
        // A repeated parameter Usher does not know.
        {
            let mut pairs = u.request(&p, "s");
            pairs.push((marker.into(), "1".into()));
            pairs.push((marker.into(), "2".into()));
            pairs
        },
        set(u.request(&p, "s"), "prompt", marker),
        set(u.request(&p, "s"), "scope", &format!("openid {marker}")),
        set(u.request(&p, "s"), "scope", "openid Zqunknown"),
        set(u.request(&p, "s"), "max_age", marker),
    ];
    let browser = Browser::new();
    for pairs in cases {
        let page = browser.get(&u.url(&pairs)).await;
        assert_eq!(page.status, 303, "{pairs:?}: {}", page.body);
        let description = page.redirect_param("error_description").unwrap();
        assert!(!description.contains("Zq"), "{pairs:?}: {description}");
        assert!(in_rfc6749_set(&description), "{description:?}");
    }

    // The token endpoint: an unknown grant type and a repeated unknown parameter.
    let http = reqwest::Client::new();
    for form in [
        vec![("grant_type", marker)],
        vec![
            ("grant_type", "client_credentials"),
            (marker, "1"),
            (marker, "2"),
        ],
    ] {
        let response = http
            .post(format!("{}{}", u.base(), routes::TOKEN))
            .basic_auth(&u.client_id, u.secret.as_deref())
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        let description = body["error_description"].as_str().unwrap();
        assert!(!description.contains("Zq"), "{form:?}: {description}");
        assert!(in_rfc6749_set(description), "{description:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Item 14: resource indicators that are not registered are refused at the authorization
// endpoint (registered ones: resources.rs).

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_indicator_on_authorize_is_refused_as_invalid_target() {
    let u = Usher::new();
    let p = pkce();
    for resources in [
        vec!["https://api.example/"],
        vec!["https://a.example/", "https://b.example/"],
    ] {
        let mut pairs = u.request(&p, "s");
        for r in resources {
            pairs.push(("resource".into(), r.into()));
        }
        let page = Browser::new().get(&u.url(&pairs)).await;
        let description = assert_redirected_error(&page, CALLBACK, "invalid_target");
        assert!(description.contains("resource"), "{description}");
        assert_eq!(page.redirect_param("state").as_deref(), Some("s"));
    }
    assert_eq!(u.interactions(), 0);
}

// ---------------------------------------------------------------------------------------
// Item 15: two sign-ins in one browser.

async fn two_sign_ins_in_one_browser_both_complete(backend: Backend) {
    let u = Usher::on(backend, false, &[]);
    let browser = Browser::new();
    let (pa, pb) = (pkce(), pkce());
    // Tab A, then tab B, start before either finishes.
    let login_a = browser.get(&u.url(&u.request(&pa, "tab-a"))).await;
    let login_b = browser.get(&u.url(&u.request(&pb, "tab-b"))).await;
    assert_login_page(&login_a);
    assert_login_page(&login_b);

    // A logs in; B logs in; A approves; B approves.
    let consent_a = browser
        .submit(u.base(), &login_a, routes::LOGIN, &login_fields())
        .await;
    assert_consent_page(&consent_a);
    let consent_b = browser
        .submit(u.base(), &login_b, routes::LOGIN, &login_fields())
        .await;
    assert_consent_page(&consent_b);
    let approve = [("decision", "approve")];
    let back_a = browser
        .submit(u.base(), &consent_a, routes::CONSENT, &approve)
        .await;
    let back_b = browser
        .submit(u.base(), &consent_b, routes::CONSENT, &approve)
        .await;
    for (back, state, p) in [(&back_a, "tab-a", &pa), (&back_b, "tab-b", &pb)] {
        assert_eq!(back.status, 303, "{state}: {}", back.body);
        assert_eq!(back.redirect_param("state").as_deref(), Some(state));
        let code = back.redirect_param("code").expect("a code");
        let (status, body) = u.exchange(&code, &p.verifier).await;
        assert_eq!(status, 200, "{state}: {body}");
    }

    // A third tab that starts and finishes while a fourth waits on its login page.
    let (pc, pd) = (pkce(), pkce());
    let login_d = browser
        .get(&u.url(&set(u.request(&pd, "tab-d"), "prompt", "login")))
        .await;
    assert_login_page(&login_d);
    let back_c = sign_in(
        &browser,
        u.base(),
        &u.url(&u.request(&pc, "tab-c")),
        "alice",
        PASSWORD,
    )
    .await;
    assert_eq!(back_c.redirect_param("state").as_deref(), Some("tab-c"));
    let back_d = browser
        .submit(u.base(), &login_d, routes::LOGIN, &login_fields())
        .await;
    assert_eq!(back_d.status, 303, "{}", back_d.body);
    assert_eq!(back_d.redirect_param("state").as_deref(), Some("tab-d"));
}

// ---------------------------------------------------------------------------------------
// Item 18: showing a page writes nothing; the first form is sealed, single-use, bound to
// its browser and expires.

async fn a_burst_of_authorize_requests_writes_no_interaction_and_sign_in_still_works(
    backend: Backend,
) {
    let u = Usher::on(backend, false, &[]);
    let p = pkce();
    let url = u.url(&u.request(&p, "burst"));
    let before = u.interactions();
    // 200 requests at once from one address, half in one browser and half each in a
    // browser of its own.
    let shared = Browser::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let browser = if i % 2 == 0 {
            same_browser(&shared)
        } else {
            Browser::new()
        };
        let url = url.clone();
        tasks.spawn(async move { browser.get(&url).await.status });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(u.interactions(), before, "no row for a page shown");
    assert_eq!(u.sandbox.count("sessions"), 0);

    // The sign-in still works end to end, in a browser that took part in the burst.
    let back = sign_in(&shared, u.base(), &url, "alice", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let code = back.redirect_param("code").expect("a code");
    let (status, body) = u.exchange(&code, &p.verifier).await;
    assert_eq!(status, 200, "{body}");
}

async fn one_first_login_form_posted_at_once_many_times_stores_one_interaction(backend: Backend) {
    let u = Usher::on(backend, false, &[]);
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p, "s"))).await;
    assert_login_page(&login);
    let form = login.form(routes::LOGIN);
    assert!(
        form.hidden.iter().any(|(k, _)| k == "pending"),
        "a sealed form"
    );
    let mut data = form.hidden.clone();
    data.extend(login_fields().map(|(k, v)| (k.to_owned(), v.to_owned())));
    let url = format!("{}{}", u.base(), form.action);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (browser, url, data) = (same_browser(&browser), url.clone(), data.clone());
        tasks.spawn(async move { browser.post_form(&url, &data).await });
    }
    let mut pages = Vec::new();
    while let Some(page) = tasks.join_next().await {
        pages.push(page.unwrap());
    }
    let winners: Vec<&Page> = pages.iter().filter(|p| p.status == 200).collect();
    assert_eq!(winners.len(), 1, "one form, one use");
    assert_consent_page(winners[0]);
    // A loser either lost the store's race ("already submitted") or was refused by the
    // login throttle before anything was spent (the burst's attempts are reserved before
    // the form is: more than five at once from one address wait); neither wrote anything.
    for loser in pages.iter().filter(|p| p.status != 200) {
        if loser.status == 429 {
            assert!(loser.has_form(routes::LOGIN), "{}", loser.body);
        } else {
            assert_error_page(loser, "already submitted");
        }
    }
    assert_eq!(u.interactions(), 1);
    assert_eq!(u.sandbox.count("sessions"), 1);
    // Later, once more: still refused.
    let again = browser.post_form(&url, &data).await;
    assert_error_page(&again, "already submitted");
    assert_eq!(u.interactions(), 1);
}

async fn one_first_consent_form_posted_at_once_many_times_issues_one_code(backend: Backend) {
    let u = Usher::on(backend, false, &[]);
    let browser = Browser::new();
    // Signed in, with consent left to give.
    let p = pkce();
    let login = browser.get(&u.url(&u.request(&p, "s"))).await;
    browser
        .submit(u.base(), &login, routes::LOGIN, &login_fields())
        .await;
    let before = u.interactions();
    // The next request shows the consent page at once: a sealed first form.
    let p = pkce();
    let consent = browser.get(&u.url(&u.request(&p, "s2"))).await;
    assert_consent_page(&consent);
    assert_eq!(u.interactions(), before, "showing the page wrote nothing");
    let form = consent.form(routes::CONSENT);
    assert!(
        form.hidden.iter().any(|(k, _)| k == "pending"),
        "a sealed form"
    );
    let mut data = form.hidden.clone();
    data.push(("decision".into(), "approve".into()));
    let url = format!("{}{}", u.base(), form.action);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (browser, url, data) = (same_browser(&browser), url.clone(), data.clone());
        tasks.spawn(async move { browser.post_form(&url, &data).await });
    }
    let mut redirects = 0;
    while let Some(page) = tasks.join_next().await {
        let page = page.unwrap();
        if page.status == 303 {
            redirects += 1;
        } else {
            assert_error_page(&page, "already submitted");
        }
    }
    assert_eq!(redirects, 1);
    assert_eq!(u.sandbox.count("authorization_codes"), 1);
    assert_eq!(
        u.interactions(),
        before + 1,
        "the used id is kept until it expires"
    );
}

/// The login page's form fields, with `pending` changed by `change`.
fn with_pending(page: &Page, change: impl Fn(&str) -> String) -> Vec<(String, String)> {
    let mut data: Vec<(String, String)> = page
        .form(routes::LOGIN)
        .hidden
        .into_iter()
        .map(|(k, v)| {
            if k == "pending" {
                (k, change(&v))
            } else {
                (k, v)
            }
        })
        .collect();
    data.extend(login_fields().map(|(k, v)| (k.to_owned(), v.to_owned())));
    data
}

#[tokio::test(flavor = "multi_thread")]
async fn an_altered_first_form_gets_the_expired_page_and_writes_nothing() {
    let u = Usher::new();
    let p = pkce();
    let browser = Browser::new();
    let login = browser.get(&u.url(&u.request(&p, "s"))).await;
    let url = format!("{}{}", u.base(), routes::LOGIN);
    let changes: [fn(&str) -> String; 4] = [
        // One character of the ciphertext changed.
        |v| {
            let mut bytes = v.as_bytes().to_vec();
            let i = bytes.len() - 10;
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        },
        |v| v[..v.len() - 1].to_owned(),
        |_| "v1.AAAA".to_owned(),
        |_| "garbage".to_owned(),
    ];
    for change in changes {
        let page = browser.post_form(&url, &with_pending(&login, change)).await;
        assert_error_page(&page, "expired");
    }
    assert_eq!(u.interactions(), 0);
    assert_eq!(u.sandbox.count("sessions"), 0);
    // The unaltered form still works.
    let consent = browser
        .submit(u.base(), &login, routes::LOGIN, &login_fields())
        .await;
    assert_consent_page(&consent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_form_posted_from_another_browser_is_refused() {
    let u = Usher::new();
    let p = pkce();
    let owner = Browser::new();
    let login = owner.get(&u.url(&u.request(&p, "s"))).await;
    // A browser with a binding of its own, and one with no cookie at all.
    let other = Browser::new();
    assert_login_page(&other.get(&u.url(&u.request(&p, "t"))).await);
    for stranger in [&other, &Browser::new()] {
        let page = stranger
            .submit(u.base(), &login, routes::LOGIN, &login_fields())
            .await;
        assert_error_page(&page, "does not belong to this browser");
    }
    assert_eq!(u.interactions(), 0);
    assert_eq!(u.sandbox.count("sessions"), 0);
    // A later (stored) form is bound the same way.
    let retry = owner
        .submit(
            u.base(),
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", "typo")],
        )
        .await;
    assert_eq!(retry.status, 401, "{}", retry.body);
    let page = other
        .submit(u.base(), &retry, routes::LOGIN, &login_fields())
        .await;
    assert_error_page(&page, "does not belong to this browser");
    let consent = owner
        .submit(u.base(), &retry, routes::LOGIN, &login_fields())
        .await;
    assert_consent_page(&consent);
}

/// A clock the test moves by hand.
struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_first_form_gets_the_expired_page() {
    let db = TestDb::sqlite();
    let env: Vec<(String, String)> = [
        ("USHER_DATABASE_URL", db.url.as_str()),
        ("USHER_KEK", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ("USHER_BIND", "127.0.0.1:0"),
        ("USHER_WORKERS", "1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let clock = Arc::new(FakeClock(AtomicI64::new(now)));
    let node = {
        let (settings, clock) = (Settings::load(None, env.clone()).unwrap(), clock.clone());
        tokio::task::spawn_blocking(move || Node::start(settings, clock).unwrap())
            .await
            .unwrap()
    };
    let mut sandbox = Sandbox::new();
    for (k, v) in env.iter().filter(|(k, _)| k != "USHER_BIND") {
        sandbox = sandbox.env(k, v);
    }
    let (client_id, _) = crate::signin::setup(&sandbox, false, &[]);
    let browser = Browser::new();
    let p = pkce();
    let url = authorize_url(&node.base, &request(&client_id, CALLBACK, &p, "s"));
    let login = browser.get(&url).await;
    assert_login_page(&login);

    // 15 minutes later (the interaction lifetime), the page has expired.
    clock.0.fetch_add(15 * 60, Ordering::SeqCst);
    let page = browser
        .submit(&node.base, &login, routes::LOGIN, &login_fields())
        .await;
    assert_error_page(&page, "expired");
    assert_eq!(db.count("interactions"), 0);
    assert_eq!(db.count("sessions"), 0);

    // A page shown now works.
    let login = browser.get(&url).await;
    let consent = browser
        .submit(&node.base, &login, routes::LOGIN, &login_fields())
        .await;
    assert_consent_page(&consent);
    tokio::task::spawn_blocking(move || drop(node))
        .await
        .unwrap();
}
