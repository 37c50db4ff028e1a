//! The edges of codes, refresh, hints and logout that an outside review found open
//! (issue 12, items 5, 7, 8, 14 and 16), end to end against the real binary:
//!
//! - a code is checked (client, redirect URI, PKCE verifier) before it is spent, so a
//!   wrong verifier burns nothing and a used code presented by another client revokes
//!   nothing — also when many such requests race;
//! - `resource` on a grant made without one is refused with `invalid_target` by the code
//!   and refresh grants, and the refused request spends neither the code nor the refresh
//!   token;
//! - a refresh grants only what the client's registration still allows;
//! - an access token (or any token that is not an ID token of a registered client) is
//!   refused as `id_token_hint`, at `/authorize` and at `/logout`;
//! - logout without a question needs a live hint for the client; the confirmation form
//!   carries a single-use token bound to the session, and one token posted many times
//!   at once ends the session once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use usher_http::routes;

use crate::helpers::{Backend, Browser, Page, Sandbox, Server, authorize_url, pkce, sign_in};
use crate::refresh::{AFTER_LOGOUT, CALLBACK, PASSWORD, Rp, SCOPE, claims, refresh, tokens};

const PUBLIC_SCOPE: &str = "openid profile email offline_access";

/// A JSON (or empty) answer: status and body.
async fn reply(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A token request as a public client (`client_id` in the form).
fn public_token_request(
    server: &Server,
    client_id: &str,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut form: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    form.push(("client_id".into(), client_id.into()));
    http().post(server.url(routes::TOKEN)).form(&form)
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ]
}

#[track_caller]
fn assert_error(status: u16, body: &Value, error: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some(error)),
        "{body}"
    );
    assert!(body.get("access_token").is_none(), "{body}");
}

async fn userinfo_status(server: &Server, token: &str) -> u16 {
    http()
        .get(server.url(routes::USERINFO))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Registers a public client (refresh tokens, `offline_access`) named `name`.
fn public_client(sandbox: &Sandbox, name: &str) -> String {
    sandbox.client(&[
        "--name",
        name,
        "--public",
        "--redirect-uri",
        CALLBACK,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        PUBLIC_SCOPE,
    ])["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Signs Alice in for `client_id` in `browser` (login and consent pages as they come);
/// returns the code and its PKCE verifier.
async fn code_for(server: &Server, browser: &Browser, client_id: &str) -> (String, String) {
    let p = pkce();
    let url = authorize_url(
        &server.base,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("scope", PUBLIC_SCOPE),
            ("state", "st"),
            ("code_challenge", p.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let back = sign_in(browser, &server.base, &url, "alice", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    (back.redirect_param("code").expect("a code"), p.verifier)
}

/// Sends every request at once (behind a barrier); returns the answers in order.
async fn all_at_once(requests: Vec<reqwest::RequestBuilder>) -> Vec<(u16, Value)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let handles: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                reply(request.send().await.expect("the request")).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for h in handles {
        replies.push(h.await.unwrap());
    }
    replies
}

// ---------------------------------------------------------------------------------------
// Item 5: a code is checked before it is spent.

async fn a_wrong_verifier_spends_nothing_even_when_many_race(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let client = public_client(&sandbox, "Phone");
    let (code, verifier) = code_for(&server, &Browser::new(), &client).await;

    // Ten requests with wrong verifiers at once: all refused, the code untouched.
    let wrong: Vec<String> = (0..10).map(|_| pkce().verifier).collect();
    let requests = wrong
        .iter()
        .map(|v| public_token_request(&server, &client, &code_form(&code, v)))
        .collect();
    for (status, body) in all_at_once(requests).await {
        assert_error(status, &body, "invalid_grant");
    }
    assert_eq!(
        sandbox.count("authorization_codes WHERE consumed_at IS NULL"),
        1
    );

    // Nine wrong verifiers racing the right one: the right one gets the tokens.
    let mut requests: Vec<_> = wrong[..9]
        .iter()
        .map(|v| public_token_request(&server, &client, &code_form(&code, v)))
        .collect();
    requests.insert(
        4,
        public_token_request(&server, &client, &code_form(&code, &verifier)),
    );
    let replies = all_at_once(requests).await;
    for (i, (status, body)) in replies.iter().enumerate() {
        if i == 4 {
            assert_eq!(*status, 200, "the right verifier was refused: {body}");
        } else {
            assert_error(*status, body, "invalid_grant");
        }
    }
    let access = replies[4].1["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&server, access).await, 200);
}

async fn a_used_code_presented_by_another_client_revokes_nothing(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let victim = public_client(&sandbox, "Phone");
    let attacker = public_client(&sandbox, "Impostor");
    let (code, verifier) = code_for(&server, &Browser::new(), &victim).await;
    let (status, first) = reply(
        public_token_request(&server, &victim, &code_form(&code, &verifier))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap();
    let refresh_token = first["refresh_token"].as_str().unwrap();

    // The used code, presented at once by another public client (even with the right
    // verifier), and by someone using the victim's id without the verifier.
    let impostor_verifier = pkce().verifier;
    let mut requests: Vec<_> = (0..6)
        .map(|_| public_token_request(&server, &attacker, &code_form(&code, &verifier)))
        .collect();
    requests
        .extend((0..3).map(|_| {
            public_token_request(&server, &victim, &code_form(&code, &impostor_verifier))
        }));
    requests.push(public_token_request(
        &server,
        &victim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    ));
    for (status, body) in all_at_once(requests).await {
        assert_error(status, &body, "invalid_grant");
    }

    // The victim's tokens and family are untouched.
    assert_eq!(userinfo_status(&server, access).await, 200);
    let (status, body) = reply(
        public_token_request(
            &server,
            &victim,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "the victim's family was revoked: {body}");
    assert!(
        !server.log().iter().any(|l| l.contains("code_replayed")),
        "nothing was treated as a replay"
    );
}

async fn a_replay_by_the_code_s_own_client_still_revokes_what_it_issued(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let client = public_client(&sandbox, "Phone");
    let (code, verifier) = code_for(&server, &Browser::new(), &client).await;
    let exchange = || public_token_request(&server, &client, &code_form(&code, &verifier));
    let (status, first) = reply(exchange().send().await.unwrap()).await;
    assert_eq!(status, 200, "{first}");

    let replays = all_at_once((0..5).map(|_| exchange()).collect()).await;
    for (status, body) in replays {
        assert_error(status, &body, "invalid_grant");
    }
    assert_eq!(
        userinfo_status(&server, first["access_token"].as_str().unwrap()).await,
        401
    );
    let (status, body) = reply(
        public_token_request(
            &server,
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_error(status, &body, "invalid_grant");
}

// ---------------------------------------------------------------------------------------
// Item 14: `resource` with the code and refresh grants of a grant made without one
// (narrowing and widening of resources: resources.rs).

async fn resource_is_refused_by_the_code_and_refresh_grants_and_spends_nothing(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = crate::refresh::setup(&sandbox);
    let base = &server.base;
    let (code, verifier) = crate::refresh::sign_in(base, &Browser::new(), &rp, SCOPE).await;
    let mut form = code_form(&code, &verifier);
    form.push(("resource", "https://api.example/"));
    let (status, body) = crate::refresh::token_request(base, &rp, &form).await;
    assert_error(status, &body, "invalid_target");
    assert_eq!(
        body["error_description"],
        "this grant was made without resource; resource may narrow the resources of a grant, never add one"
    );
    let (status, first) =
        crate::refresh::token_request(base, &rp, &code_form(&code, &verifier)).await;
    assert_eq!(status, 200, "the refused request spent the code: {first}");

    let token = first["refresh_token"].as_str().unwrap();
    let (status, body) = crate::refresh::token_request(
        base,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("resource", "https://api.example/"),
        ],
    )
    .await;
    assert_error(status, &body, "invalid_target");
    let (status, body) = refresh(base, &rp, token).await;
    assert_eq!(
        status, 200,
        "the refused request spent the refresh token: {body}"
    );
}

// ---------------------------------------------------------------------------------------
// Item 16: refresh follows the client's current scopes.

fn set_client_scopes(sandbox: &Sandbox, rp: &Rp, scopes: &str) {
    sandbox.execute(&format!(
        "UPDATE clients SET scopes = '{scopes}' WHERE id = '{}'",
        rp.id
    ));
}

async fn a_scope_removed_from_the_client_is_not_granted_at_the_next_refresh(backend: Backend) {
    // No cache: the change in the database is what the next request sees.
    let sandbox = Sandbox::with_test_db(backend).env("USHER_CACHE_TTL", "0");
    let (server, rp) = crate::refresh::setup(&sandbox);
    let base = &server.base;
    let first = tokens(base, &Browser::new(), &rp, SCOPE).await;
    let (status, second) = refresh(base, &rp, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["scope"], "email offline_access openid profile");

    // `email` is taken from the client: the next refresh leaves it out.
    set_client_scopes(&sandbox, &rp, "offline_access openid profile");
    let (status, third) = refresh(base, &rp, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["scope"], "offline_access openid profile");
    assert_eq!(
        claims(third["access_token"].as_str().unwrap())["scope"],
        "offline_access openid profile"
    );
    // Asking for it explicitly does not bring it back.
    let (status, narrowed) = crate::refresh::token_request(
        base,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", third["refresh_token"].as_str().unwrap()),
            ("scope", "openid email"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid");

    // Without `offline_access` the refresh is refused, and the token is not spent:
    // giving the scope back makes it work again.
    set_client_scopes(&sandbox, &rp, "openid profile");
    let token = narrowed["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(base, &rp, token).await;
    assert_error(status, &body, "invalid_grant");
    set_client_scopes(&sandbox, &rp, "offline_access openid profile");
    let (status, body) = refresh(base, &rp, token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "offline_access openid profile");
}

// ---------------------------------------------------------------------------------------
// Items 7 and 8: id_token_hint and logout.

fn logout_url(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{base}{}", routes::LOGOUT)).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

/// `claims`, signed with the server's active key under header `typ`.
fn signed(sandbox: &Sandbox, typ: &str, claims: Value) -> String {
    let claims: Map<String, Value> = claims.as_object().unwrap().clone();
    sandbox.key_ring().sign_jwt(typ, &claims).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[track_caller]
fn assert_asks(page: &Page) {
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Sign out of Usher?"), "{}", page.body);
    assert!(
        page.form(routes::LOGOUT)
            .hidden
            .iter()
            .any(|(k, v)| k == "csrf" && !v.is_empty()),
        "the confirmation form carries a CSRF token: {}",
        page.body
    );
}

async fn an_access_token_is_refused_as_id_token_hint(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = crate::refresh::setup(&sandbox);
    let base = &server.base;
    let browser = Browser::new();
    let t = tokens(base, &browser, &rp, SCOPE).await;
    let access = t["access_token"].as_str().unwrap();
    let id = claims(t["id_token"].as_str().unwrap());

    // At /authorize: an access token of the signed-in person is no id_token_hint.
    let p = pkce();
    let authorize = |hint: &str| {
        authorize_url(
            base,
            &[
                ("response_type", "code"),
                ("client_id", rp.id.as_str()),
                ("redirect_uri", CALLBACK),
                ("scope", "openid"),
                ("state", "st"),
                ("code_challenge", p.challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("id_token_hint", hint),
            ],
        )
    };
    let page = browser.get(&authorize(access)).await;
    assert_eq!(
        page.redirect_param("error").as_deref(),
        Some("invalid_request"),
        "{:?}",
        page.location
    );
    assert!(page.redirect_param("code").is_none());
    // Nor is a token shaped like an access token but addressed to the client, nor an ID
    // token for a client that does not exist; the real ID token is fine.
    let lookalike = signed(
        &sandbox,
        "at+jwt",
        json!({
            "iss": server.issuer, "sub": id["sub"], "aud": rp.id, "client_id": rp.id,
            "scope": "openid", "iat": now(), "exp": now() + 600, "jti": "j-1",
        }),
    );
    let unknown_client = signed(
        &sandbox,
        "JWT",
        json!({
            "iss": server.issuer, "sub": id["sub"], "aud": "no-such-client",
            "iat": now(), "exp": now() + 600,
        }),
    );
    for hint in [&lookalike, &unknown_client] {
        let page = browser.get(&authorize(hint)).await;
        assert_eq!(
            page.redirect_param("error").as_deref(),
            Some("invalid_request"),
            "{:?}",
            page.location
        );
    }
    let page = browser
        .get(&authorize(t["id_token"].as_str().unwrap()))
        .await;
    assert!(page.redirect_param("code").is_some(), "{:?}", page.location);

    // At /logout: refused with a 400 page; the session stays.
    for hint in [access, lookalike.as_str(), unknown_client.as_str()] {
        let page = browser
            .get(&logout_url(base, &[("id_token_hint", hint)]))
            .await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert_eq!(sandbox.count("sessions"), 1);
    }
}

async fn logout_asks_unless_the_hint_is_live_and_a_post_needs_the_session_s_token(
    backend: Backend,
) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = crate::refresh::setup(&sandbox);
    let base = &server.base;
    let browser = Browser::new();
    let t = tokens(base, &browser, &rp, SCOPE).await;
    let id = claims(t["id_token"].as_str().unwrap());

    // An expired hint of this very person, for this client: asked, nothing ends.
    let expired = signed(
        &sandbox,
        "JWT",
        json!({
            "iss": server.issuer, "sub": id["sub"], "aud": rp.id, "azp": rp.id,
            "iat": now() - 7200, "exp": now() - 3600, "auth_time": now() - 7200,
        }),
    );
    for pairs in [
        vec![("id_token_hint", expired.as_str())],
        vec![
            ("id_token_hint", expired.as_str()),
            ("client_id", rp.id.as_str()),
        ],
    ] {
        assert_asks(&browser.get(&logout_url(base, &pairs)).await);
        assert_eq!(sandbox.count("sessions"), 1);
    }

    // A forged confirmation (no token, a made-up token, another session's token) ends
    // nothing: the person is asked again.
    let other_browser = Browser::new();
    tokens(base, &other_browser, &rp, SCOPE).await;
    let others_page = other_browser.get(&logout_url(base, &[])).await;
    assert_asks(&others_page);
    let others_token = others_page
        .form(routes::LOGOUT)
        .hidden
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .unwrap()
        .1;
    let forged_token = format!("AAAA.{}.BBBB", now() + 600);
    for csrf in [
        None,
        Some(forged_token.as_str()),
        Some(others_token.as_str()),
    ] {
        let mut form = vec![("confirm".to_owned(), "yes".to_owned())];
        if let Some(c) = csrf {
            form.push(("csrf".to_owned(), c.to_owned()));
        }
        let page = browser.post_form(&server.url(routes::LOGOUT), &form).await;
        assert_asks(&page);
        assert_eq!(sandbox.count("sessions"), 2);
    }

    // The live hint for this client: signed out at once, redirected where registered.
    let page = browser
        .get(&logout_url(
            base,
            &[
                ("id_token_hint", t["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
            ],
        ))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(sandbox.count("sessions"), 1);
}

async fn one_confirmation_posted_many_times_at_once_ends_the_session_once(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = crate::refresh::setup(&sandbox);
    let base = &server.base;
    let browser = Browser::new();
    tokens(base, &browser, &rp, SCOPE).await;
    let page = browser.get(&logout_url(base, &[])).await;
    assert_asks(&page);
    let form = page.form(routes::LOGOUT).hidden;

    // The same form, posted ten times at once from the same browser.
    let requests = (0..10)
        .map(|_| browser.http.post(server.url(routes::LOGOUT)).form(&form))
        .collect();
    let replies = all_at_once(requests).await;
    assert!(
        replies.iter().all(|(status, _)| *status == 200),
        "{replies:?}"
    );
    assert_eq!(sandbox.count("sessions"), 0);
    assert_eq!(sandbox.count("spent_nonces"), 1);
    let ended = server
        .log_with("browser session ended by logout")
        .iter()
        .filter(|l| l.contains("browser session ended by logout"))
        .count();
    assert_eq!(ended, 1, "one confirmation ended one session once");

    // Signed in again in the same browser, the old form ends nothing.
    tokens(base, &browser, &rp, SCOPE).await;
    assert_eq!(sandbox.count("sessions"), 1);
    let again = browser.post_form(&server.url(routes::LOGOUT), &form).await;
    assert_asks(&again);
    assert_eq!(sandbox.count("sessions"), 1);
}

crate::async_on_both_backends!(
    a_wrong_verifier_spends_nothing_even_when_many_race,
    a_used_code_presented_by_another_client_revokes_nothing,
    a_replay_by_the_code_s_own_client_still_revokes_what_it_issued,
    resource_is_refused_by_the_code_and_refresh_grants_and_spends_nothing,
    a_scope_removed_from_the_client_is_not_granted_at_the_next_refresh,
    an_access_token_is_refused_as_id_token_hint,
    logout_asks_unless_the_hint_is_live_and_a_post_needs_the_session_s_token,
    one_confirmation_posted_many_times_at_once_ends_the_session_once,
);
