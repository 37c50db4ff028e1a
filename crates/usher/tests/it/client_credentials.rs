//! `grant_type=client_credentials` against the real binary: a confidential service
//! client gets an RFC 9068 access token about itself, verified here with an independent
//! JWT library (josekit) against `/jwks.json`; and every refusal the issue lists.

use reqwest::blocking::Response;
use serde_json::Value;
use usher_http::routes;

use crate::helpers::{Backend, Sandbox, Server, http};
use crate::on_both_backends;

on_both_backends!(
    a_service_gets_a_token_about_itself_that_verifies_against_the_jwks,
    a_public_client_is_unauthorized_for_client_credentials,
    a_confidential_client_without_the_grant_is_unauthorized,
    scopes_outside_the_clients_and_openid_are_invalid_scope,
    resources_select_registered_audiences_and_may_repeat,
    without_resource_the_audience_is_the_clients_only_one_or_the_configured_default,
);

/// Why a verifier rejected a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The token's `kid` is not in the verifier's JWK Set.
    UnknownKid(String),
    /// Anything else: bad signature, malformed, expired.
    Invalid(String),
}

/// Verifies a JWT as an offline resource server would, with josekit: the key is the JWK
/// of `jwks` whose `kid` is the token's, with that key's algorithm; `exp` must be after
/// `now`. Returns the
/// header and the claims.
pub fn verify(token: &str, jwks: &Value, now: i64) -> Result<(Value, Value), Rejected> {
    let header =
        josekit::jwt::decode_header(token).map_err(|e| Rejected::Invalid(e.to_string()))?;
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| Rejected::Invalid("no kid".into()))?
        .to_owned();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == kid.as_str())
    else {
        return Err(Rejected::UnknownKid(kid));
    };
    let jwk = josekit::jwk::Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    // The algorithm is the key's (its `alg`), never the token's: RS256, ES256 or EdDSA.
    type Boxed = Box<dyn josekit::jws::JwsVerifier>;
    let verifier: Result<Boxed, _> = match jwk.algorithm() {
        Some("RS256") => josekit::jws::RS256
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Boxed),
        Some("ES256") => josekit::jws::ES256
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Boxed),
        Some("EdDSA") => josekit::jws::EdDSA
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Boxed),
        other => return Err(Rejected::Invalid(format!("key algorithm {other:?}"))),
    };
    let verifier = verifier.map_err(|e| Rejected::Invalid(e.to_string()))?;
    let (payload, header) = josekit::jwt::decode_with_verifier(token, &*verifier)
        .map_err(|e| Rejected::Invalid(e.to_string()))?;
    let claims = Value::Object(payload.claims_set().clone());
    match claims["exp"].as_i64() {
        Some(exp) if exp > now => {}
        _ => return Err(Rejected::Invalid(format!("expired at {now}"))),
    }
    Ok((Value::Object(header.claims_set().clone()), claims))
}

/// A confidential service client; returns (id, secret).
pub fn service(sandbox: &Sandbox, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "--name",
        "Billing service",
        "--grant-type",
        "client_credentials",
    ];
    args.extend_from_slice(extra);
    let c = sandbox.client(&args);
    (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// POST /token with HTTP Basic and `fields`.
pub fn token(base: &str, id: &str, secret: &str, fields: &[(&str, &str)]) -> Response {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(fields);
    http()
        .post(format!("{base}{}", routes::TOKEN))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .unwrap()
}

fn refused(response: Response, error: &str) -> String {
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"], error, "{body}");
    body["error_description"].as_str().unwrap_or("").to_owned()
}

fn jwks(server: &Server) -> Value {
    http()
        .get(server.url(routes::JWKS))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn a_service_gets_a_token_about_itself_that_verifies_against_the_jwks(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let (id, secret) = service(
        &sandbox,
        &[
            "--scope",
            "invoices:read invoices:write",
            "--audience",
            "https://api.example/billing",
        ],
    );
    let server = sandbox.serve();
    let response = token(&server.base, &id, &secret, &[("scope", "invoices:read")]);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "invoices:read");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");

    let (header, claims) = verify(
        body["access_token"].as_str().unwrap(),
        &jwks(&server),
        now(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], server.issuer.as_str());
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["aud"], "https://api.example/billing");
    assert_eq!(claims["scope"], "invoices:read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(claims.get("auth_time").is_none());

    // Without scope: every scope registered for the client.
    let body: Value = token(&server.base, &id, &secret, &[]).json().unwrap();
    assert_eq!(body["scope"], "invoices:read invoices:write");
    // client_secret_post works as well as Basic for a client registered for it.
    let (post_id, post_secret) = service(
        &sandbox,
        &[
            "--auth-method",
            "client_secret_post",
            "--audience",
            "https://api.example/billing",
        ],
    );
    let response = http()
        .post(server.url(routes::TOKEN))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", post_id.as_str()),
            ("client_secret", post_secret.as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    // A wrong secret is invalid_client, as for every grant.
    let response = token(&server.base, &id, "not-the-secret", &[]);
    assert_eq!(response.status(), 401);
}

fn a_public_client_is_unauthorized_for_client_credentials(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let public = sandbox.client(&[
        "--name",
        "App",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1/cb",
    ]);
    let server = sandbox.serve();
    let response = http()
        .post(server.url(routes::TOKEN))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", public["client_id"].as_str().unwrap()),
        ])
        .send()
        .unwrap();
    let description = refused(response, "unauthorized_client");
    assert!(description.contains("public client"), "{description}");
}

fn a_confidential_client_without_the_grant_is_unauthorized(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let web = sandbox.client(&[
        "--name",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
    ]);
    let server = sandbox.serve();
    let response = token(
        &server.base,
        web["client_id"].as_str().unwrap(),
        web["client_secret"].as_str().unwrap(),
        &[],
    );
    let description = refused(response, "unauthorized_client");
    assert!(description.contains("client_credentials"), "{description}");
}

fn scopes_outside_the_clients_and_openid_are_invalid_scope(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let (id, secret) = service(
        &sandbox,
        &[
            "--scope",
            "openid reports:read",
            "--audience",
            "https://api.example/reports",
        ],
    );
    let server = sandbox.serve();
    let description = refused(
        token(
            &server.base,
            &id,
            &secret,
            &[("scope", "reports:read reports:delete")],
        ),
        "invalid_scope",
    );
    // It names the client's registered scopes, never the requested text (issue 12, item 13).
    assert!(
        description.contains("reports:read") && !description.contains("reports:delete"),
        "{description}"
    );
    // openid is refused even though the client is registered with it.
    let description = refused(
        token(
            &server.base,
            &id,
            &secret,
            &[("scope", "openid reports:read")],
        ),
        "invalid_scope",
    );
    assert!(description.contains("openid"), "{description}");
    refused(
        token(&server.base, &id, &secret, &[("scope", "offline_access")]),
        "invalid_scope",
    );
    // Without scope, the registered scopes minus openid.
    let body: Value = token(&server.base, &id, &secret, &[]).json().unwrap();
    assert_eq!(body["scope"], "reports:read");
}

fn resources_select_registered_audiences_and_may_repeat(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let (id, secret) = service(
        &sandbox,
        &[
            "--audience",
            "https://api.example/a",
            "--audience",
            "https://api.example/b",
            "--audience",
            "https://api.example/c",
        ],
    );
    let server = sandbox.serve();
    let description = refused(
        token(
            &server.base,
            &id,
            &secret,
            &[("resource", "https://evil.example/")],
        ),
        "invalid_target",
    );
    assert!(description.contains("--audience"), "{description}");
    refused(
        token(
            &server.base,
            &id,
            &secret,
            &[("resource", "https://api.example/a#frag")],
        ),
        "invalid_target",
    );
    // One good and one bad: refused as a whole.
    refused(
        token(
            &server.base,
            &id,
            &secret,
            &[
                ("resource", "https://api.example/a"),
                ("resource", "https://evil.example/"),
            ],
        ),
        "invalid_target",
    );

    let response = token(
        &server.base,
        &id,
        &secret,
        &[
            ("resource", "https://api.example/a"),
            ("resource", "https://api.example/c"),
        ],
    );
    assert_eq!(response.status(), 200);
    let body: Value = response.json().unwrap();
    let (_, claims) = verify(
        body["access_token"].as_str().unwrap(),
        &jwks(&server),
        now(),
    )
    .unwrap();
    assert_eq!(
        claims["aud"],
        serde_json::json!(["https://api.example/a", "https://api.example/c"])
    );

    // Only `resource` may repeat.
    let description = refused(
        token(&server.base, &id, &secret, &[("scope", ""), ("scope", "")]),
        "invalid_request",
    );
    assert!(description.contains("scope"), "{description}");
}

fn without_resource_the_audience_is_the_clients_only_one_or_the_configured_default(
    backend: Backend,
) {
    let mut sandbox = Sandbox::on(backend);
    let (single_id, single_secret) = service(&sandbox, &["--audience", "https://api.example/one"]);
    // Registered while a default audience was configured (without one, `client create`
    // refuses it), then served without it.
    sandbox.set_env("USHER_DEFAULT_AUDIENCE", "https://api.example/default");
    let (none_id, none_secret) = service(&sandbox, &[]);
    sandbox.set_env("USHER_DEFAULT_AUDIENCE", "");
    let (many_id, many_secret) = service(
        &sandbox,
        &[
            "--audience",
            "https://api.example/x",
            "--audience",
            "https://api.example/y",
        ],
    );

    let audience_of = |server: &Server, id: &str, secret: &str| -> Value {
        let body: Value = token(&server.base, id, secret, &[]).json().unwrap();
        verify(body["access_token"].as_str().unwrap(), &jwks(server), now())
            .unwrap()
            .1["aud"]
            .clone()
    };

    // No default configured.
    let server = sandbox.serve();
    assert_eq!(
        audience_of(&server, &single_id, &single_secret),
        "https://api.example/one"
    );
    let description = refused(
        token(&server.base, &none_id, &none_secret, &[]),
        "invalid_target",
    );
    assert!(
        description.contains("--audience") && description.contains("default_audience"),
        "the description names both fixes: {description}"
    );
    let description = refused(
        token(&server.base, &many_id, &many_secret, &[]),
        "invalid_target",
    );
    assert!(
        description.contains("https://api.example/x"),
        "{description}"
    );
    server.stop();

    // With a default: it goes to clients registered with no audience.
    let with_default = sandbox.env("USHER_DEFAULT_AUDIENCE", "https://api.example/default");
    let server = with_default.serve();
    assert_eq!(
        audience_of(&server, &none_id, &none_secret),
        "https://api.example/default"
    );
    assert_eq!(
        audience_of(&server, &single_id, &single_secret),
        "https://api.example/one"
    );
    refused(
        token(&server.base, &many_id, &many_secret, &[]),
        "invalid_target",
    );
}
