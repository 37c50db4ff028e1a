//! Resource servers (RFC 8707) end to end: `usher resource …` registers them; `resource`
//! on `/authorize`, the code exchange, refresh and `client_credentials` makes access
//! tokens whose `aud` is the resource(s), which an independent JWT library (josekit)
//! verifies against `/jwks.json` as the resource server would; introspection answers
//! the same `aud`; unknown resources and widening are `invalid_target`; the consent page
//! names the resources. docs/design/resources.md.

use serde_json::{Value, json};
use usher_http::routes;

use crate::async_on_both_backends;
use crate::client_credentials::{service, token, verify};
use crate::helpers::{Backend, Browser, Sandbox, Server, http};
use crate::refresh::{CALLBACK, Rp, alice, exchange, post_form, sign_in_as, token_request};

const INVOICES: &str = "https://invoices.example/api";
const REPORTS: &str = "https://reports.example";
const OTHER: &str = "https://other.example";

async_on_both_backends!(
    code_and_refresh_tokens_are_for_the_requested_resources,
    unknown_or_closed_resources_are_invalid_target_at_authorize,
    widening_at_the_code_exchange_or_on_refresh_is_refused_and_spends_nothing,
    the_consent_page_names_the_resources_and_scopes,
    remembered_consent_covers_the_resources_it_was_given_for,
);

/// The blocking cases (the CLI, and the blocking HTTP client of `client_credentials`).
mod blocking {
    use super::{
        client_credentials_gets_a_token_for_a_registered_resource,
        the_cli_registers_lists_updates_and_deletes_resources,
    };
    use crate::on_both_backends;

    on_both_backends!(
        client_credentials_gets_a_token_for_a_registered_resource,
        the_cli_registers_lists_updates_and_deletes_resources,
    );
}

/// The three resources, registered with the CLI.
fn register_resources(sandbox: &Sandbox) {
    for args in [
        vec![
            "--uri",
            INVOICES,
            "--scope",
            "invoices:read invoices:write",
            "--name",
            "Invoices",
        ],
        vec!["--uri", REPORTS, "--scope", "reports:read"],
        vec!["--uri", OTHER, "--scope", "other:read"],
    ] {
        let mut all = vec!["resource", "create", "--json"];
        all.extend_from_slice(&args);
        let run = sandbox.usher(&all, None);
        assert!(run.ok(), "{}", run.stderr());
    }
}

/// A confidential client allowed invoices:read and reports:read (not invoices:write,
/// nothing of OTHER); first-party unless `consent`.
fn register_client(sandbox: &Sandbox, consent: bool) -> Rp {
    let mut args = vec![
        "--name",
        "Bookkeeper",
        "--redirect-uri",
        CALLBACK,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile offline_access invoices:read reports:read",
    ];
    if !consent {
        args.push("--first-party");
    }
    let c = sandbox.client(&args);
    Rp {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
    }
}

fn setup(backend: Backend, consent: bool) -> (Sandbox, Server, Rp) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    register_resources(&sandbox);
    let rp = register_client(&sandbox, consent);
    alice(&sandbox);
    (sandbox, server, rp)
}

fn jwks(server: &Server) -> Value {
    http()
        .get(server.url(routes::JWKS))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// `/jwks.json`, from an async test.
async fn jwks_async(server: &Server) -> Value {
    reqwest::get(server.url(routes::JWKS))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The claims of an access token, verified by josekit against the JWKS (async tests).
async fn verified_async(server: &Server, access_token: &str) -> Value {
    let (header, claims) = verify(access_token, &jwks_async(server).await, now()).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    claims
}

/// The status `/userinfo` answers for a bearer `token`.
async fn userinfo_status(server: &Server, token: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url(routes::USERINFO))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The claims of an access token, verified by josekit against the JWKS.
fn verified(server: &Server, access_token: &str) -> Value {
    let (header, claims) = verify(access_token, &jwks(server), now()).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    claims
}

fn resources(list: &[&str]) -> Vec<(&'static str, String)> {
    list.iter().map(|r| ("resource", (*r).to_owned())).collect()
}

async fn code_for(
    base: &str,
    browser: &Browser,
    rp: &Rp,
    scope: &str,
    wanted: &[&str],
) -> (String, String) {
    let extra = resources(wanted);
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sign_in_as(base, browser, rp, scope, "alice", &extra).await
}

async fn exchange_with(
    base: &str,
    rp: &Rp,
    code: &str,
    verifier: &str,
    wanted: &[&str],
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ];
    form.extend(wanted.iter().map(|r| ("resource", *r)));
    token_request(base, rp, &form).await
}

async fn refresh_with(base: &str, rp: &Rp, token: &str, wanted: &[&str]) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend(wanted.iter().map(|r| ("resource", *r)));
    token_request(base, rp, &form).await
}

fn rt(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

async fn code_and_refresh_tokens_are_for_the_requested_resources(backend: Backend) {
    let (_sandbox, server, rp) = setup(backend, false);
    let base = server.url("");
    let browser = Browser::new();

    // One resource: its scopes and the OpenID Connect ones; not profile's claims for
    // another API, not a scope of a resource that was not named.
    let (code, verifier) = code_for(
        &base,
        &browser,
        &rp,
        "openid offline_access invoices:read reports:read",
        &[INVOICES],
    )
    .await;
    let (status, body) = exchange(&base, &rp, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "invoices:read offline_access openid");
    let claims = verified_async(&server, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], INVOICES);
    assert_eq!(claims["scope"], "invoices:read offline_access openid");
    assert_eq!(claims["client_id"], rp.id.as_str());
    // Introspection answers the same audience.
    let (_, introspected) = post_form(
        &base,
        routes::INTROSPECT,
        &rp,
        &[("token", body["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["aud"], INVOICES);
    // The token is for the invoices API, not for userinfo.
    assert_eq!(
        userinfo_status(&server, body["access_token"].as_str().unwrap()).await,
        401
    );
    // A refresh keeps the resource.
    let (status, refreshed) = refresh_with(&base, &rp, &rt(&body), &[]).await;
    assert_eq!(status, 200, "{refreshed}");
    let claims = verified_async(&server, refreshed["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], INVOICES);

    // Two resources: both, then narrowed at the exchange and on refresh.
    let (code, verifier) = code_for(
        &base,
        &browser,
        &rp,
        "openid offline_access invoices:read reports:read",
        &[INVOICES, REPORTS],
    )
    .await;
    let (status, body) = exchange_with(&base, &rp, &code, &verifier, &[REPORTS]).await;
    assert_eq!(status, 200, "{body}");
    let claims = verified_async(&server, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], REPORTS);
    assert_eq!(claims["scope"], "offline_access openid reports:read");
    let (status, both) = refresh_with(&base, &rp, &rt(&body), &[]).await;
    assert_eq!(status, 200, "{both}");
    let claims = verified_async(&server, both["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], json!([INVOICES, REPORTS]));
    assert_eq!(
        claims["scope"],
        "invoices:read offline_access openid reports:read"
    );
    let (status, one) = refresh_with(&base, &rp, &rt(&both), &[INVOICES]).await;
    assert_eq!(status, 200, "{one}");
    let claims = verified_async(&server, one["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], INVOICES);
    assert_eq!(claims["scope"], "invoices:read offline_access openid");
    let (status, two) = refresh_with(&base, &rp, &rt(&one), &[REPORTS, INVOICES]).await;
    assert_eq!(status, 200, "{two}");
    let claims = verified_async(&server, two["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], json!([REPORTS, INVOICES]));

    // Without resource, nothing changes: the userinfo audience, which userinfo takes.
    let (code, verifier) =
        code_for(&base, &browser, &rp, "openid profile invoices:read", &[]).await;
    let (status, body) = exchange(&base, &rp, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "invoices:read openid profile");
    let claims = verified_async(&server, body["access_token"].as_str().unwrap()).await;
    assert!(
        claims["aud"].as_str().unwrap().ends_with(routes::USERINFO),
        "{claims}"
    );
    assert_eq!(
        userinfo_status(&server, body["access_token"].as_str().unwrap()).await,
        200
    );
}

/// The error `/authorize` sends back to the client for `extra`.
async fn authorize_error(
    base: &str,
    browser: &Browser,
    rp: &Rp,
    scope: &str,
    extra: &[(&str, &str)],
) -> (String, Option<String>) {
    let mut url = url::Url::parse(&format!("{base}{}", routes::AUTHORIZE)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", scope)
        .append_pair("state", "st-1")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status, 303, "{extra:?}: {}", page.body);
    assert!(page.redirect_param("code").is_none());
    assert_eq!(page.redirect_param("state").as_deref(), Some("st-1"));
    (
        page.redirect_param("error").expect("an error"),
        page.redirect_param("error_description"),
    )
}

async fn unknown_or_closed_resources_are_invalid_target_at_authorize(backend: Backend) {
    let (_sandbox, server, rp) = setup(backend, false);
    let base = server.url("");
    let browser = Browser::new();
    for (scope, extra) in [
        // Not registered.
        (
            "openid invoices:read",
            vec![("resource", "https://unknown.example")],
        ),
        (
            "openid invoices:read",
            vec![
                ("resource", INVOICES),
                ("resource", "https://unknown.example"),
            ],
        ),
        // Not an absolute URI, or with a fragment.
        ("openid", vec![("resource", "invoices")]),
        (
            "openid",
            vec![("resource", "https://invoices.example/api#x")],
        ),
        // A scope of the named resource the client may not ask for.
        ("openid invoices:write", vec![("resource", INVOICES)]),
        // A resource none of whose scopes the client may ask for.
        ("openid", vec![("resource", OTHER)]),
    ] {
        let (error, _) = authorize_error(&base, &browser, &rp, scope, &extra).await;
        assert_eq!(error, "invalid_target", "{scope} {extra:?}");
    }
    // A scope no named resource defines and the client may not ask for: as ever.
    let (error, _) = authorize_error(
        &base,
        &browser,
        &rp,
        "openid admin",
        &[("resource", INVOICES)],
    )
    .await;
    assert_eq!(error, "invalid_scope");
}

async fn widening_at_the_code_exchange_or_on_refresh_is_refused_and_spends_nothing(
    backend: Backend,
) {
    let (_sandbox, server, rp) = setup(backend, false);
    let base = server.url("");
    let browser = Browser::new();
    let (code, verifier) = code_for(
        &base,
        &browser,
        &rp,
        "openid offline_access invoices:read",
        &[INVOICES],
    )
    .await;
    for widening in [
        vec![REPORTS],
        vec![INVOICES, REPORTS],
        vec!["https://unknown.example"],
    ] {
        let (status, body) = exchange_with(&base, &rp, &code, &verifier, &widening).await;
        assert_eq!(status, 400, "{widening:?}: {body}");
        assert_eq!(body["error"], "invalid_target", "{body}");
    }
    let (status, body) = exchange_with(&base, &rp, &code, &verifier, &[INVOICES]).await;
    assert_eq!(status, 200, "{body}");
    let token = rt(&body);
    for widening in [vec![REPORTS], vec![INVOICES, OTHER]] {
        let (status, refused) = refresh_with(&base, &rp, &token, &widening).await;
        assert_eq!(status, 400, "{widening:?}: {refused}");
        assert_eq!(refused["error"], "invalid_target", "{refused}");
    }
    // The refresh token was not spent by the refusals.
    let (status, body) = refresh_with(&base, &rp, &token, &[]).await;
    assert_eq!(status, 200, "{body}");
    // A grant without resources cannot gain one.
    let (code, verifier) = code_for(&base, &browser, &rp, "openid offline_access", &[]).await;
    let (status, body) = exchange_with(&base, &rp, &code, &verifier, &[INVOICES]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_target");
    let (status, body) = exchange(&base, &rp, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = refresh_with(&base, &rp, &rt(&body), &[INVOICES]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_target");
}

/// An authorization request of `rp` for `scope` at `wanted` (PKCE, a fixed challenge).
fn authorize_url(base: &str, rp: &Rp, scope: &str, wanted: &[&str]) -> String {
    let mut url = url::Url::parse(&format!("{base}{}", routes::AUTHORIZE)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    for r in wanted {
        url.query_pairs_mut().append_pair("resource", r);
    }
    url.into()
}

async fn the_consent_page_names_the_resources_and_scopes(backend: Backend) {
    let (_sandbox, server, rp) = setup(backend, true);
    let base = server.url("");
    let browser = Browser::new();
    let url = authorize_url(
        &base,
        &rp,
        "openid invoices:read reports:read",
        &[INVOICES, REPORTS],
    );
    let login = browser.get(&url).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = browser
        .submit(
            &base,
            &login,
            routes::LOGIN,
            &[
                ("username", "alice"),
                ("password", crate::refresh::PASSWORD),
            ],
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.has_form(routes::CONSENT), "{}", consent.body);
    // By name when it has one, else by identifier; and the scopes granted.
    assert!(
        consent.body.contains("<li>Invoices</li>"),
        "{}",
        consent.body
    );
    assert!(
        consent.body.contains(&format!("<li>{REPORTS}</li>")),
        "{}",
        consent.body
    );
    assert!(consent.body.contains("invoices:read"), "{}", consent.body);
    assert!(consent.body.contains("reports:read"), "{}", consent.body);
    let done = browser
        .submit(&base, &consent, routes::CONSENT, &[("decision", "approve")])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.redirect_param("code").is_some());
}

/// Remembered consent is per resource: consent to `invoices:read` at Invoices skips the
/// page for Invoices again, but not for another API that also defines `invoices:read`;
/// once that one is granted too, a request for both skips it.
async fn remembered_consent_covers_the_resources_it_was_given_for(backend: Backend) {
    let (sandbox, server, rp) = setup(backend, true);
    let mirror = "https://mirror.example/api";
    let run = sandbox.usher(
        &[
            "resource",
            "create",
            "--uri",
            mirror,
            "--scope",
            "invoices:read",
        ],
        None,
    );
    assert!(run.ok(), "{}", run.stderr());
    let base = server.url("");
    let browser = Browser::new();
    let login = browser
        .get(&authorize_url(
            &base,
            &rp,
            "openid invoices:read",
            &[INVOICES],
        ))
        .await;
    let consent = browser
        .submit(
            &base,
            &login,
            routes::LOGIN,
            &[
                ("username", "alice"),
                ("password", crate::refresh::PASSWORD),
            ],
        )
        .await;
    assert!(consent.has_form(routes::CONSENT), "{}", consent.body);
    let done = browser
        .submit(&base, &consent, routes::CONSENT, &[("decision", "approve")])
        .await;
    assert!(done.redirect_param("code").is_some(), "{}", done.body);

    // The same request again: remembered, straight back with a code.
    let again = browser
        .get(&authorize_url(
            &base,
            &rp,
            "openid invoices:read",
            &[INVOICES],
        ))
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(again.redirect_param("code").is_some());

    // The same scope at another API: asked again, naming that API.
    let other = browser
        .get(&authorize_url(
            &base,
            &rp,
            "openid invoices:read",
            &[mirror],
        ))
        .await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert!(other.has_form(routes::CONSENT), "{}", other.body);
    assert!(other.body.contains(mirror), "{}", other.body);
    // prompt=none cannot get past it either.
    let silent = browser
        .get(&format!(
            "{}&prompt=none",
            authorize_url(&base, &rp, "openid invoices:read", &[mirror])
        ))
        .await;
    assert_eq!(
        silent.redirect_param("error").as_deref(),
        Some("consent_required")
    );
    let other = browser
        .get(&authorize_url(
            &base,
            &rp,
            "openid invoices:read",
            &[mirror],
        ))
        .await;
    let done = browser
        .submit(&base, &other, routes::CONSENT, &[("decision", "approve")])
        .await;
    assert!(done.redirect_param("code").is_some(), "{}", done.body);

    // Both granted now: one request for both skips the page.
    let both = browser
        .get(&authorize_url(
            &base,
            &rp,
            "openid invoices:read",
            &[INVOICES, mirror],
        ))
        .await;
    assert_eq!(both.status, 303, "{}", both.body);
    assert!(both.redirect_param("code").is_some());
}

fn client_credentials_gets_a_token_for_a_registered_resource(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    register_resources(&sandbox);
    // No audience of its own and no default: registered because a resource defines its
    // scopes; a client with no such scope is still refused.
    let (id, secret) = service(&sandbox, &["--scope", "invoices:read reports:read"]);
    let run = sandbox.usher(
        &[
            "client",
            "create",
            "--name",
            "Nowhere",
            "--grant-type",
            "client_credentials",
            "--scope",
            "nowhere:read",
        ],
        None,
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    let base = server.url("");
    let response = token(&base, &id, &secret, &[("resource", INVOICES)]);
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    // The scopes the resource defines, of those the client may have.
    assert_eq!(body["scope"], "invoices:read");
    let claims = verified(&server, body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], INVOICES);
    assert_eq!(claims["sub"], id.as_str());
    let response = token(
        &base,
        &id,
        &secret,
        &[("resource", INVOICES), ("resource", REPORTS)],
    );
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    let claims = verified(&server, body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!([INVOICES, REPORTS]));
    assert_eq!(claims["scope"], "invoices:read reports:read");
    // Not one the client may ask scopes of, or not registered at all.
    for closed in [OTHER, "https://unknown.example"] {
        let response = token(&base, &id, &secret, &[("resource", closed)]);
        assert_eq!(response.status(), 400, "{closed}");
        let body: Value = response.json().unwrap();
        assert_eq!(body["error"], "invalid_target", "{body}");
    }
}

fn the_cli_registers_lists_updates_and_deletes_resources(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let created = sandbox
        .usher(
            &[
                "resource",
                "create",
                "--uri",
                INVOICES,
                "--scope",
                "invoices:write invoices:read",
                "--name",
                "Invoices",
                "--json",
            ],
            None,
        )
        .json();
    assert_eq!(created["uri"], INVOICES);
    assert_eq!(created["name"], "Invoices");
    assert_eq!(
        created["scopes"],
        json!(["invoices:read", "invoices:write"])
    );
    let run = sandbox.usher(
        &[
            "resource",
            "create",
            "--uri",
            REPORTS,
            "--scope",
            "reports:read",
        ],
        None,
    );
    assert!(run.ok(), "{}", run.stderr());
    assert!(run.stdout().contains(REPORTS), "{}", run.stdout());

    // Refused before anything is opened: exit 2, nothing written.
    for (uri, scope) in [
        ("invoices.example/api", "a"),
        ("/api", "a"),
        ("https://invoices.example/api#part", "a"),
        ("https://ok.example", ""),
        ("https://ok.example", "openid a"),
    ] {
        let run = sandbox.usher(
            &["resource", "create", "--uri", uri, "--scope", scope],
            None,
        );
        assert_eq!(run.code(), Some(2), "{uri} {scope}: {}", run.stderr());
    }
    // A second registration of one identifier.
    let run = sandbox.usher(
        &["resource", "create", "--uri", REPORTS, "--scope", "x"],
        None,
    );
    assert!(!run.ok());
    assert!(
        run.stderr().contains("already registered"),
        "{}",
        run.stderr()
    );

    // An identifier that is already a client's audience would make one token good for
    // both: refused, naming the client.
    let (batch, _) = service(
        &sandbox,
        &[
            "--audience",
            "https://jobs.example",
            "--scope",
            "reports:read",
        ],
    );
    let run = sandbox.usher(
        &[
            "resource",
            "create",
            "--uri",
            "https://jobs.example",
            "--scope",
            "x",
        ],
        None,
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains(&batch), "{}", run.stderr());

    let listed = sandbox.usher(&["resource", "list", "--json"], None).json();
    let uris: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, [INVOICES, REPORTS]);
    let text = sandbox.usher(&["resource", "list"], None);
    assert!(text.stdout().contains("Invoices"), "{}", text.stdout());

    let updated = sandbox
        .usher(
            &[
                "resource",
                "update",
                REPORTS,
                "--scope",
                "reports:read reports:export",
                "--name",
                "Reports",
                "--json",
            ],
            None,
        )
        .json();
    assert_eq!(updated["scopes"], json!(["reports:export", "reports:read"]));
    assert_eq!(updated["name"], "Reports");
    // The service client already holds reports:read: it can get tokens for Reports at
    // once, and the operator is told so.
    assert_eq!(
        updated["clients_with_access"],
        json!({ "client_credentials": [batch], "on_behalf_of_people": [] })
    );
    let run = sandbox.usher(&["resource", "update", REPORTS, "--name", "Reports"], None);
    assert!(run.ok(), "{}", run.stderr());
    assert!(
        run.stderr().contains("client_credentials") && run.stderr().contains(&batch),
        "{}",
        run.stderr()
    );
    let updated = sandbox
        .usher(
            &["resource", "update", REPORTS, "--no-name", "--json"],
            None,
        )
        .json();
    assert_eq!(updated["name"], Value::Null);
    let run = sandbox.usher(&["resource", "update", REPORTS], None);
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    let run = sandbox.usher(&["resource", "update", OTHER, "--scope", "x"], None);
    assert!(!run.ok());

    let deleted = sandbox
        .usher(&["resource", "delete", REPORTS, "--json"], None)
        .json();
    assert_eq!(deleted, json!({ "uri": REPORTS, "deleted": true }));
    let run = sandbox.usher(&["resource", "delete", REPORTS], None);
    assert!(!run.ok());
    let listed = sandbox.usher(&["resource", "list", "--json"], None).json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
}
