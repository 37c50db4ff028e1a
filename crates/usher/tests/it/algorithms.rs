//! Signature algorithms end to end (issue 19): a server whose access tokens are ES256 and
//! whose ID tokens are EdDSA by default, with one client that registered ES256 for its
//! ID tokens. Relying-party libraries written by others check what Usher signs:
//! `openidconnect` discovers Usher, signs in through the forms and verifies each ID token
//! (signature with the published key, `at_hash`, nonce) with only the algorithm it
//! expects; josekit and the Node `jose` package verify the access tokens as an offline
//! resource server would, with the algorithm of the key the `kid` names. Usher's own verifiers (userinfo,
//! introspection) accept those tokens and refuse one whose header names another
//! algorithm than its key's.

use openidconnect::core::{CoreAuthenticationFlow, CoreJwsSigningAlgorithm};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    TokenResponse,
};
use serde_json::{Value, json};
use usher_http::routes;

use crate::async_on_both_backends;
use crate::client_credentials::{self, service};
use crate::helpers::{Backend, Browser, Sandbox, Server, b64url, jwt_parts, sign_in};

async_on_both_backends!(
    es256_access_tokens_and_eddsa_or_es256_id_tokens_verify_with_relying_party_libraries,
);

const CALLBACK: &str = "http://127.0.0.1:9/callback";
const PASSWORD: &str = "correct horse battery staple";

/// Signs Alice in as `client_id` through the forms with `openidconnect`, whose ID-token
/// verifier accepts only `alg`; returns (ID token, access token), both as sent.
async fn sign_in_verified(
    server: &Server,
    client_id: &str,
    secret: &str,
    alg: CoreJwsSigningAlgorithm,
) -> (String, String) {
    let http = usher::tryout::http_client().unwrap();
    let client =
        usher::tryout::relying_party(&http, &server.issuer, client_id, Some(secret), CALLBACK)
            .await
            .expect("discovery");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let back = sign_in(
        &Browser::new(),
        &server.base,
        url.as_str(),
        "alice",
        PASSWORD,
    )
    .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(
        back.redirect_param("state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = back.redirect_param("code").expect("a code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an ID token");

    // A verifier that takes RS256 only refuses these tokens.
    let rs256_only = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
    assert!(
        id_token.claims(&rs256_only, &nonce).is_err(),
        "an RS256-only verifier refuses a {alg:?} ID token"
    );
    let id_verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![alg.clone()]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("a valid ID token");
    assert_eq!(id_token.signing_alg().unwrap(), &alg);
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert_eq!(
        claims.authorized_party().map(|a| a.as_str()),
        Some(client_id)
    );
    (id_token.to_string(), tokens.access_token().secret().clone())
}

/// An HTTP client for async tests (the blocking one cannot run inside the runtime).
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get_json(url: &str) -> Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
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

async fn introspect(server: &Server, client: (&str, &str), token: &str) -> Value {
    http()
        .post(server.url(routes::INTROSPECT))
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies each (token, algorithm) with the Node `jose` package (e2e/node_modules) and a
/// local JWK Set, jose taking only that algorithm; returns, per token, the algorithm of
/// the verified header or jose's error code.
fn jose_verifies(jwks: &Value, tokens: &[(&str, &str)]) -> Vec<String> {
    const SCRIPT: &str = r#"
import { readFileSync } from 'node:fs';
const { createLocalJWKSet, jwtVerify } = await import('jose');
const input = JSON.parse(readFileSync(0, 'utf8'));
const keys = createLocalJWKSet(input.jwks);
const out = [];
for (const [token, alg] of input.tokens) {
  try {
    const { protectedHeader } = await jwtVerify(token, keys, { algorithms: [alg] });
    out.push(protectedHeader.alg);
  } catch (e) {
    out.push(e.code || String(e));
  }
}
console.log(JSON.stringify(out));
"#;
    let e2e = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    assert!(
        e2e.join("node_modules/jose").exists(),
        "the e2e packages are missing: run `./test` or `npm ci --prefix e2e`"
    );
    let mut child = std::process::Command::new("node")
        .args(["--input-type=module", "-e", SCRIPT])
        .current_dir(&e2e)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("Node.js is needed: run `./test`, or install nodejs");
    let input = json!({ "jwks": jwks, "tokens": tokens });
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The token with its header's `alg` replaced (kid, claims and signature kept).
fn relabelled(token: &str, alg: &str) -> String {
    let (mut header, _) = jwt_parts(token);
    header["alg"] = json!(alg);
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", b64url(header.to_string().as_bytes()))
}

async fn es256_access_tokens_and_eddsa_or_es256_id_tokens_verify_with_relying_party_libraries(
    backend: Backend,
) {
    let sandbox = Sandbox::with_test_db(backend)
        .env("USHER_ACCESS_TOKEN_ALG", "ES256")
        .env("USHER_ID_TOKEN_ALG", "EdDSA")
        .env("USHER_DEFAULT_AUDIENCE", "https://api.example/");
    let server = sandbox.serve();
    let (default_id, default_secret) = crate::signin::setup(&sandbox, false, &["--first-party"]);
    let default_secret = default_secret.unwrap();
    let es = sandbox.client(&[
        "--name",
        "Shop on ES256",
        "--redirect-uri",
        CALLBACK,
        "--scope",
        "openid profile email",
        "--first-party",
        "--id-token-signed-response-alg",
        "ES256",
    ]);
    assert_eq!(es["id_token_signed_response_alg"], "ES256");
    let (es_id, es_secret) = (
        es["client_id"].as_str().unwrap().to_owned(),
        es["client_secret"].as_str().unwrap().to_owned(),
    );
    // An algorithm Usher does not sign with is refused before anything is written.
    let refused = sandbox.usher(
        &[
            "client",
            "create",
            "--name",
            "HS",
            "--redirect-uri",
            CALLBACK,
            "--id-token-signed-response-alg",
            "HS256",
        ],
        None,
    );
    assert_eq!(refused.code(), Some(2), "{}", refused.stderr());

    // Discovery lists every algorithm; the JWKS has one key of each, each naming its
    // algorithm.
    let discovery = get_json(&server.url(routes::DISCOVERY)).await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
    let set = get_json(&server.url(routes::JWKS)).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "{set}");
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].is_string());
        assert!(key.get("d").is_none());
        match key["alg"].as_str().unwrap() {
            "RS256" => assert!(key["kty"] == "RSA" && key["n"].is_string() && key["e"].is_string()),
            "ES256" => assert!(
                key["kty"] == "EC"
                    && key["crv"] == "P-256"
                    && key["x"].is_string()
                    && key["y"].is_string()
            ),
            "EdDSA" => {
                assert!(key["kty"] == "OKP" && key["crv"] == "Ed25519" && key["x"].is_string())
            }
            other => panic!("unexpected algorithm {other}"),
        }
    }

    // The server's default: EdDSA ID tokens, ES256 access tokens.
    let (id_token, access_token) = sign_in_verified(
        &server,
        &default_id,
        &default_secret,
        CoreJwsSigningAlgorithm::EdDsa,
    )
    .await;
    assert_eq!(jwt_parts(&id_token).0["alg"], "EdDSA");
    let (header, _) = jwt_parts(&access_token);
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("ES256"), Some("at+jwt"))
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    client_credentials::verify(&access_token, &set, now).expect("josekit verifies ES256");

    // The client that registered ES256 gets ES256 ID tokens.
    let (es_id_token, _) = sign_in_verified(
        &server,
        &es_id,
        &es_secret,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    )
    .await;
    assert_eq!(jwt_parts(&es_id_token).0["alg"], "ES256");

    // Usher's own verifiers accept the ES256 access token...
    assert_eq!(userinfo_status(&server, &access_token).await, 200);
    let active = introspect(&server, (&default_id, &default_secret), &access_token).await;
    assert_eq!(active["active"], true, "{active}");
    // ...and refuse it under any other algorithm than its key's.
    for alg in ["RS256", "EdDSA", "HS256", "none", "ES384"] {
        let forged = relabelled(&access_token, alg);
        assert_eq!(userinfo_status(&server, &forged).await, 401, "{alg}");
        let inactive = introspect(&server, (&default_id, &default_secret), &forged).await;
        assert_eq!(inactive, json!({"active": false}), "{alg}");
    }
    assert!(client_credentials::verify(&relabelled(&access_token, "RS256"), &set, now).is_err());

    // An ID token is accepted as id_token_hint whatever its algorithm; relabelled, not.
    for (hint, expected) in [
        (id_token.clone(), 200),
        (es_id_token.clone(), 200),
        (relabelled(&id_token, "ES256"), 400),
        (relabelled(&es_id_token, "RS256"), 400),
    ] {
        let status = http()
            .get(server.url(routes::LOGOUT))
            .query(&[("id_token_hint", hint.as_str())])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, expected, "{}", jwt_parts(&hint).0);
    }

    // The Node jose package agrees, taking each token only with the algorithm it
    // expects, and refuses the ES256 token to a verifier expecting RS256.
    assert_eq!(
        jose_verifies(
            &set,
            &[
                (&access_token, "ES256"),
                (&id_token, "EdDSA"),
                (&es_id_token, "ES256"),
                (&access_token, "RS256"),
                (&relabelled(&access_token, "RS256"), "RS256"),
            ]
        ),
        [
            "ES256",
            "EdDSA",
            "ES256",
            "ERR_JOSE_ALG_NOT_ALLOWED",
            "ERR_JWKS_NO_MATCHING_KEY"
        ]
    );

    // client_credentials tokens are ES256 as well, and verify offline.
    let svc = service(&sandbox, &[]);
    let response = http()
        .post(server.url(routes::TOKEN))
        .basic_auth(&svc.0, Some(&svc.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let (header, claims) = client_credentials::verify(token, &set, now).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["client_id"], svc.0.as_str());
}
