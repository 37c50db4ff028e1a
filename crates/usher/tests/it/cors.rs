//! CORS for browser apps (docs/design/cors.md) and RFC 8414 metadata, over HTTP: the
//! preflight of the client endpoints answered for a client's origin only, the request
//! itself refused from an origin that is not the authenticating client's (before the code
//! is redeemed), the public documents open to any origin, and the RFC 8414 document equal
//! to OIDC discovery, at its issuer-path location too. The browser half (a page on
//! another origin, oauth4webapi in Chromium) is e2e/cors.test.js.

use reqwest::Method;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use serde_json::Value;
use usher_http::routes;

use crate::helpers::{Backend, Browser, Sandbox, http};
use crate::refresh::{CALLBACK, Rp, SCOPE, setup, sign_in};

/// The origin of [`CALLBACK`]: the default allowed origin of `refresh::register`'s client.
const RP_ORIGIN: &str = "http://127.0.0.1:9";
/// Another client's registered origin.
const OTHER_ORIGIN: &str = "https://other.example";

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn preflight(base: &str, path: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, format!("{base}{path}"))
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap()
}

/// POSTs `form` to `path` as `rp` (HTTP Basic), with `Origin: origin` if given.
async fn post_from(
    base: &str,
    path: &str,
    rp: &Rp,
    origin: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(form);
    if let Some(o) = origin {
        request = request.header(ORIGIN, o);
    }
    request.send().await.unwrap()
}

async fn userinfo_from(base: &str, token: &str, origin: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{base}{}", routes::USERINFO))
        .bearer_auth(token);
    if let Some(o) = origin {
        request = request.header(ORIGIN, o);
    }
    request.send().await.unwrap()
}

fn other_client(sandbox: &Sandbox) -> Value {
    sandbox.client(&[
        "--name",
        "Other SPA",
        "--public",
        "--redirect-uri",
        "https://other.example/cb",
        "--allowed-origin",
        OTHER_ORIGIN,
    ])
}

async fn the_preflight_is_answered_for_a_clients_origin_and_names_no_client(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    let other = other_client(&sandbox);
    let base = &server.base;
    for path in [
        routes::TOKEN,
        routes::USERINFO,
        routes::REVOKE,
        routes::INTROSPECT,
    ] {
        for origin in [RP_ORIGIN, OTHER_ORIGIN, "https://OTHER.example:443"] {
            let response = preflight(base, path, origin).await;
            assert_eq!(response.status(), 204, "{path} from {origin}");
            let normalised = if origin == RP_ORIGIN {
                RP_ORIGIN
            } else {
                OTHER_ORIGIN
            };
            assert_eq!(
                header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
                Some(normalised)
            );
            let methods = header(&response, ACCESS_CONTROL_ALLOW_METHODS).unwrap();
            assert!(methods.contains("POST"), "{methods}");
            let headers = header(&response, ACCESS_CONTROL_ALLOW_HEADERS).unwrap();
            assert!(headers.contains("Authorization"), "{headers}");
            assert_eq!(header(&response, VARY).as_deref(), Some("Origin"));
            assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_CREDENTIALS), None);
            let body = response.text().await.unwrap();
            assert!(!body.contains(&rp.id), "the preflight names no client");
            assert!(!body.contains(other["client_id"].as_str().unwrap()));
        }
        for refused in [
            "https://evil.example",
            "http://127.0.0.1:10",
            "null",
            "http://127.0.0.1:9/",
        ] {
            let response = preflight(base, path, refused).await;
            assert_eq!(response.status(), 403, "{path} from {refused}");
            assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);
            assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_METHODS), None);
        }
    }
    // Never on /authorize, the sign-in pages or the account page.
    for path in [
        routes::AUTHORIZE,
        routes::LOGIN,
        routes::CONSENT,
        routes::ACCOUNT,
    ] {
        let response = preflight(base, path, RP_ORIGIN).await;
        assert_eq!(
            header(&response, ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{path}"
        );
        let response = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .header(ORIGIN, RP_ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&response, ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{path}"
        );
    }
}

async fn a_request_from_an_origin_that_is_not_the_clients_is_refused_before_the_code_is_used(
    backend: Backend,
) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    other_client(&sandbox);
    let base = &server.base;
    let browser = Browser::new();
    let (code, verifier) = sign_in(base, &browser, &rp, SCOPE).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    // Another client's origin (which passes a preflight), garbage, and `null`: refused,
    // without CORS headers, and the code is not spent.
    for wrong in [OTHER_ORIGIN, "https://evil.example", "null"] {
        let response = post_from(base, routes::TOKEN, &rp, Some(wrong), &exchange).await;
        assert_eq!(response.status(), 400, "{wrong}");
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);
        assert_eq!(header(&response, VARY).as_deref(), Some("Origin"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("Origin")
        );
        assert!(body.get("access_token").is_none());
    }
    // The client's own origin: the code still works, and the answer may be read.
    let response = post_from(base, routes::TOKEN, &rp, Some(RP_ORIGIN), &exchange).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(RP_ORIGIN)
    );
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_CREDENTIALS), None);
    assert_eq!(header(&response, VARY).as_deref(), Some("Origin"));
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    // Userinfo: the origin must be that of the client the token was issued to.
    let response = userinfo_from(base, access, Some(OTHER_ORIGIN)).await;
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);
    let response = userinfo_from(base, access, Some(RP_ORIGIN)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(RP_ORIGIN)
    );
    let response = userinfo_from(base, access, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);

    // Introspection and revocation: refused from another origin, nothing revoked.
    let response = post_from(
        base,
        routes::INTROSPECT,
        &rp,
        Some(OTHER_ORIGIN),
        &[("token", refresh)],
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = post_from(
        base,
        routes::REVOKE,
        &rp,
        Some(OTHER_ORIGIN),
        &[("token", refresh)],
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);
    let response = post_from(
        base,
        routes::INTROSPECT,
        &rp,
        Some(RP_ORIGIN),
        &[("token", refresh)],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(RP_ORIGIN)
    );
    let introspection: Value = response.json().await.unwrap();
    assert_eq!(
        introspection["active"], true,
        "the refused revocation revoked nothing"
    );
    let response = post_from(
        base,
        routes::REVOKE,
        &rp,
        Some(RP_ORIGIN),
        &[("token", refresh)],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(RP_ORIGIN)
    );

    // A refusal after the origin check (the code was spent) still carries CORS headers
    // for the client's origin, so the app can read the error. (Last: a replayed code
    // revokes what it issued.)
    let response = post_from(base, routes::TOKEN, &rp, Some(RP_ORIGIN), &exchange).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(RP_ORIGIN)
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

/// `usher client update --allowed-origin` replaces the default; the change reaches a
/// running node within `cache_ttl`.
async fn allowed_origins_can_be_changed_and_reset_to_the_default(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend).env("USHER_CACHE_TTL", "0");
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let shown = sandbox
        .usher(&["client", "show", &rp.id, "--json"], None)
        .json();
    assert_eq!(shown["allowed_origins"], serde_json::json!([RP_ORIGIN]));
    assert_eq!(shown["allowed_origins_default"], true);

    let run = sandbox.usher(
        &[
            "client",
            "update",
            &rp.id,
            "--allowed-origin",
            "https://APP.example:443",
            "--json",
        ],
        None,
    );
    assert!(run.ok(), "{}", run.stderr());
    let updated = run.json();
    assert_eq!(
        updated["allowed_origins"],
        serde_json::json!(["https://app.example"])
    );
    assert_eq!(updated["allowed_origins_default"], false);
    assert_eq!(
        preflight(base, routes::TOKEN, RP_ORIGIN).await.status(),
        403
    );
    assert_eq!(
        preflight(base, routes::TOKEN, "https://app.example")
            .await
            .status(),
        204
    );

    for bad in ["http://app.example", "https://app.example/path", "null"] {
        let run = sandbox.usher(&["client", "update", &rp.id, "--allowed-origin", bad], None);
        assert_eq!(run.code(), Some(2), "{bad}: {}", run.stderr());
    }
    let run = sandbox.usher(&["client", "update", &rp.id], None);
    assert_eq!(run.code(), Some(2));

    let run = sandbox.usher(
        &[
            "client",
            "update",
            &rp.id,
            "--default-allowed-origins",
            "--json",
        ],
        None,
    );
    assert!(run.ok(), "{}", run.stderr());
    assert_eq!(
        run.json()["allowed_origins"],
        serde_json::json!([RP_ORIGIN])
    );
    assert_eq!(
        preflight(base, routes::TOKEN, RP_ORIGIN).await.status(),
        204
    );

    let created = sandbox.client(&[
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "https://spa.example/cb",
        "--allowed-origin",
        "https://spa.example",
        "--allowed-origin",
        "http://localhost:5173",
    ]);
    assert_eq!(
        created["allowed_origins"],
        serde_json::json!(["https://spa.example", "http://localhost:5173"])
    );
    let run = sandbox.usher(
        &[
            "client",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "https://spa.example/cb",
            "--allowed-origin",
            "https://spa.example/",
        ],
        None,
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("no path"), "{}", run.stderr());
}

fn discovery_and_the_jwks_answer_any_origin(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    for path in [routes::DISCOVERY, routes::OAUTH_METADATA, routes::JWKS] {
        let response = http()
            .get(server.url(path))
            .header(ORIGIN, "https://anyone.example")
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "*",
            "{path}"
        );
        assert!(
            response
                .headers()
                .get(ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .is_none()
        );
        let response = http()
            .request(Method::OPTIONS, server.url(path))
            .header(ORIGIN, "https://anyone.example")
            .header(ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .send()
            .unwrap();
        assert_eq!(response.status(), 204, "{path}");
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(
            response
                .headers()
                .get(ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .is_none()
        );
    }
    // A 304 of the JWKS too.
    let etag = http()
        .get(server.url(routes::JWKS))
        .send()
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let response = http()
        .get(server.url(routes::JWKS))
        .header("If-None-Match", etag)
        .header(ORIGIN, "https://anyone.example")
        .send()
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

fn rfc_8414_metadata_is_the_discovery_document_also_at_the_issuer_path_location(backend: Backend) {
    let iss = "https://login.example.com/tenant-a";
    let sandbox = Sandbox::on(backend).env("USHER_ISSUER", iss);
    let server = sandbox.serve();
    let get = |path: &str| -> (u16, Value) {
        let response = http().get(server.url(path)).send().unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    };
    let (status, discovery) = get(routes::DISCOVERY);
    assert_eq!(status, 200);
    let (status, metadata) = get(routes::OAUTH_METADATA);
    assert_eq!(status, 200);
    assert_eq!(metadata, discovery);
    // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
    let (status, at_path) = get("/.well-known/oauth-authorization-server/tenant-a");
    assert_eq!(status, 200);
    assert_eq!(at_path, discovery);
    assert_eq!(
        get("/.well-known/oauth-authorization-server/tenant-b").0,
        404
    );
    // RFC 8414 §2's required members and the ones issue 16 names.
    assert_eq!(metadata["issuer"], iss);
    assert_eq!(
        metadata["token_endpoint"],
        format!("{iss}{}", routes::TOKEN)
    );
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{iss}{}", routes::AUTHORIZE)
    );
    assert_eq!(
        metadata["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(metadata["client_id_metadata_document_supported"], false);
    assert!(metadata.get("registration_endpoint").is_none());
}

crate::async_on_both_backends!(
    the_preflight_is_answered_for_a_clients_origin_and_names_no_client,
    a_request_from_an_origin_that_is_not_the_clients_is_refused_before_the_code_is_used,
    allowed_origins_can_be_changed_and_reset_to_the_default,
);

mod public {
    use super::*;
    crate::on_both_backends!(
        discovery_and_the_jwks_answer_any_origin,
        rfc_8414_metadata_is_the_discovery_document_also_at_the_issuer_path_location,
    );
}
