//! `usher serve`: first start, restart, discovery, JWKS, health, and refusing a wrong KEK.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use usher_http::routes;

use crate::helpers::{Backend, Sandbox, http};
use crate::on_both_backends;

on_both_backends!(
    discovery_names_the_issuer_and_every_endpoint_exactly,
    jwks_publishes_only_public_members_with_the_thumbprint_as_kid,
    a_restart_reuses_the_database_kek_and_signing_key,
    a_node_refuses_to_start_when_it_cannot_decrypt_the_active_key,
    health_and_readiness_answer,
);

#[test]
fn serve_with_no_configuration_creates_the_embedded_defaults() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    assert!(sandbox.path().join("data/usher.db").is_file());
    let kek = sandbox.path().join("keys/kek");
    let mode = std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "keys/kek must be readable by its owner only");
    let line = server.startup_log.join("\n");
    assert!(line.contains("generated the first signing key"), "{line}");
    let keys = sandbox.usher(&["keys", "list", "--json"], None).json();
    let keys = keys.as_array().unwrap();
    // One active key of every algorithm.
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    assert!(keys.iter().all(|k| k["state"] == "active"));
    let rsa = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
    assert_eq!(rsa["bits"], 2048);
}

#[test]
fn the_listening_line_names_address_database_and_family_store() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    assert!(server.base.starts_with("http://127.0.0.1:"));
    assert_eq!(
        server.issuer, server.base,
        "with no USHER_ISSUER the issuer follows the bind address"
    );
    assert_eq!(server.listening["database"], "sqlite://data/usher.db");
    assert_eq!(server.listening["family_store"], "embedded (SQL database)");
    drop(server);
    let pg =
        Sandbox::on(Backend::Postgres).env("USHER_REDIS_URL", "redis://:hunter2@127.0.0.1:6379");
    let server = pg.serve();
    assert!(
        server.listening["database"]
            .as_str()
            .unwrap()
            .starts_with("postgres://")
    );
    let store = server.listening["family_store"].as_str().unwrap();
    assert!(store.starts_with("redis redis://"), "{store}");
    assert!(
        !store.contains("hunter2"),
        "the Redis password must not be logged: {store}"
    );
}

fn discovery_names_the_issuer_and_every_endpoint_exactly(backend: Backend) {
    let sandbox = Sandbox::on(backend).env("USHER_ISSUER", "https://login.example.com/tenant-a");
    let server = sandbox.serve();
    let resp = http().get(server.url(routes::DISCOVERY)).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = resp.json().unwrap();
    let iss = "https://login.example.com/tenant-a";
    assert_eq!(doc["issuer"], iss);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{iss}{}", routes::AUTHORIZE)
    );
    assert_eq!(doc["token_endpoint"], format!("{iss}{}", routes::TOKEN));
    assert_eq!(
        doc["userinfo_endpoint"],
        format!("{iss}{}", routes::USERINFO)
    );
    assert_eq!(doc["jwks_uri"], format!("{iss}{}", routes::JWKS));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.iter().any(|s| s == "openid"));
    let claims = doc["claims_supported"].as_array().unwrap();
    for c in ["sub", "email", "email_verified", "name"] {
        assert!(claims.iter().any(|x| x == c), "claims_supported lacks {c}");
    }
    // No empty arrays (OIDC Discovery §3).
    for (k, v) in doc.as_object().unwrap() {
        assert!(
            v.as_array().is_none_or(|a| !a.is_empty()),
            "{k} is an empty array"
        );
    }
    // RFC 8414's well-known location serves the same document.
    let oauth: Value = http()
        .get(server.url(routes::OAUTH_METADATA))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(oauth, doc);

    // The same document can be parsed by a certified relying-party library's types.
    let parsed: openidconnect::core::CoreProviderMetadata = serde_json::from_value(doc).unwrap();
    assert_eq!(parsed.issuer().as_str(), iss);
}

fn jwks_publishes_only_public_members_with_the_thumbprint_as_kid(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let resp = http().get(server.url(routes::JWKS)).send().unwrap();
    assert_eq!(resp.status(), 200);
    let cache = resp.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(
        cache.contains("public") && cache.contains("max-age=900"),
        "{cache}"
    );
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong quoted ETag: {etag}"
    );
    let jwks: Value = resp.json().unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    // One key per algorithm: RS256 first, then ES256 and EdDSA (docs/design/key-rotation.md).
    assert_eq!(keys.len(), 3);
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["RS256", "ES256", "EdDSA"]);
    for key in keys {
        let key = key.as_object().unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(!key.contains_key(private), "JWKS leaks {private}");
        }
        assert_eq!(key["use"], "sig");
    }
    // RFC 7638 / RFC 8037 §2 thumbprints, computed here from the published members.
    let thumbprint = |canonical: String| usher_keys::sha256_b64url(&canonical);
    let (ec, okp) = (&keys[1], &keys[2]);
    assert_eq!(
        (ec["kty"].as_str(), ec["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert_eq!(
        ec["kid"],
        thumbprint(format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            ec["x"].as_str().unwrap(),
            ec["y"].as_str().unwrap()
        ))
        .as_str()
    );
    assert_eq!(
        (okp["kty"].as_str(), okp["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(
        okp["kid"],
        thumbprint(format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            okp["x"].as_str().unwrap()
        ))
        .as_str()
    );
    let key = keys[0].as_object().unwrap();
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    let kid = usher_keys::rsa_thumbprint(key["n"].as_str().unwrap(), key["e"].as_str().unwrap());
    assert_eq!(key["kid"], kid.as_str());
    let listed = sandbox.usher(&["keys", "list", "--json"], None).json();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str() && k["alg"] == "RS256")
    );

    // A cache that sends the ETag back gets 304 and no body.
    let again = http()
        .get(server.url(routes::JWKS))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().unwrap().is_empty());
    let stale = http()
        .get(server.url(routes::JWKS))
        .header("If-None-Match", "\"other\"")
        .send()
        .unwrap();
    assert_eq!(stale.status(), 200);

    // The set parses with a relying-party library's JWKS type.
    let _: openidconnect::core::CoreJsonWebKeySet = serde_json::from_value(jwks).unwrap();
}

fn a_restart_reuses_the_database_kek_and_signing_key(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let first = sandbox.serve();
    let jwks1: Value = http()
        .get(first.url(routes::JWKS))
        .send()
        .unwrap()
        .json()
        .unwrap();
    first.stop();
    let kek1 = std::fs::read(sandbox.path().join("keys/kek")).unwrap();
    let second = sandbox.serve();
    let jwks2: Value = http()
        .get(second.url(routes::JWKS))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(jwks1, jwks2, "the same key is served after a restart");
    assert_eq!(
        std::fs::read(sandbox.path().join("keys/kek")).unwrap(),
        kek1
    );
    assert!(
        !second
            .startup_log
            .join("\n")
            .contains("generated the first signing key")
    );
}

fn a_node_refuses_to_start_when_it_cannot_decrypt_the_active_key(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    sandbox.serve().stop();
    // Another KEK: 32 valid bytes, but not the ones the key was sealed with.
    let wrong = sandbox.env("USHER_KEK", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let err = match wrong.try_serve() {
        Ok(_) => panic!("a node with the wrong KEK must not start"),
        Err(e) => e,
    };
    assert!(
        err.contains("KEK"),
        "the refusal should say the KEK is wrong: {err}"
    );
    assert!(err.contains("refuses to start"), "{err}");
}

fn health_and_readiness_answer(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    let server = sandbox.serve();
    let health = http().get(server.url(routes::HEALTHZ)).send().unwrap();
    assert_eq!(health.status(), 200);
    let ready = http().get(server.url(routes::READYZ)).send().unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().unwrap();
    assert_eq!(body["database"], "ok");
}
