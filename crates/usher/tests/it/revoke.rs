//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662) end to end, with their
//! bad inputs: another client's token, garbage, no or wrong client authentication.

use serde_json::Value;
use usher_http::routes;

use crate::helpers::{Backend, Browser, Sandbox};
use crate::refresh::{Rp, SCOPE, post_form, refresh, register, setup, tokens};

async fn userinfo(base: &str, access_token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}{}", routes::USERINFO))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_owned()
}

async fn revocation(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let other = register(&sandbox);
    let browser = Browser::new();
    let t = tokens(base, &browser, &rp, SCOPE).await;
    let (refresh_token, access_token) = (s(&t, "refresh_token"), s(&t, "access_token"));

    // Another client's attempt: 200, and nothing revoked.
    for token in [&refresh_token, &access_token] {
        let (status, _) = post_form(base, routes::REVOKE, &other, &[("token", token)]).await;
        assert_eq!(status, 200);
    }
    assert_eq!(userinfo(base, &access_token).await, 200);
    // Unknown and garbage tokens: 200.
    for garbage in ["garbage", "a.b.c", "AAAAAAAAAAAAAAAAAAAAAA.xyz"] {
        let (status, _) = post_form(base, routes::REVOKE, &rp, &[("token", garbage)]).await;
        assert_eq!(status, 200);
    }
    // Bad requests: no token, wrong secret, no authentication.
    let (status, body) = post_form(base, routes::REVOKE, &rp, &[]).await;
    assert_eq!((status, s(&body, "error")), (400, "invalid_request".into()));
    let wrong = Rp {
        id: rp.id.clone(),
        secret: "wrong".into(),
    };
    let (status, body) =
        post_form(base, routes::REVOKE, &wrong, &[("token", &refresh_token)]).await;
    assert_eq!((status, s(&body, "error")), (401, "invalid_client".into()));
    let anonymous = reqwest::Client::new()
        .post(format!("{base}{}", routes::REVOKE))
        .form(&[("token", refresh_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    // The access token: refused by userinfo and introspection from now on.
    let (status, _) = post_form(
        base,
        routes::REVOKE,
        &rp,
        &[
            ("token", &access_token),
            ("token_type_hint", "access_token"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(userinfo(base, &access_token).await, 401);
    let (_, body) = post_form(base, routes::INTROSPECT, &rp, &[("token", &access_token)]).await;
    assert_eq!(body, serde_json::json!({ "active": false }));
    // The refresh token still works (an access token is not the grant)...
    let (status, next) = refresh(base, &rp, &refresh_token).await;
    assert_eq!(status, 200, "{next}");
    // ... until it is revoked: the whole family goes.
    let current = s(&next, "refresh_token");
    let (status, _) = post_form(base, routes::REVOKE, &rp, &[("token", &current)]).await;
    assert_eq!(status, 200);
    let (status, body) = refresh(base, &rp, &current).await;
    assert_eq!((status, s(&body, "error")), (400, "invalid_grant".into()));
    let listed = crate::refresh::families(&sandbox);
    assert_eq!(listed[0]["revoked_reason"], "revoked_by_client");
}

async fn introspection(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let t = tokens(base, &Browser::new(), &rp, SCOPE).await;
    let (refresh_token, access_token) = (s(&t, "refresh_token"), s(&t, "access_token"));
    let sub = crate::refresh::claims(&s(&t, "id_token"))["sub"].clone();

    let (status, a) = post_form(base, routes::INTROSPECT, &rp, &[("token", &access_token)]).await;
    assert_eq!(status, 200);
    assert_eq!(a["active"], true, "{a}");
    assert_eq!(a["token_type"], "Bearer");
    assert_eq!(a["client_id"], rp.id.as_str());
    assert_eq!(a["sub"], sub);
    assert_eq!(a["iss"], server.issuer.as_str());
    assert_eq!(a["scope"], "email offline_access openid profile");
    for k in ["exp", "iat", "aud", "jti"] {
        assert!(!a[k].is_null(), "{k} in {a}");
    }

    let (_, r) = post_form(base, routes::INTROSPECT, &rp, &[("token", &refresh_token)]).await;
    assert_eq!(r["active"], true, "{r}");
    assert_eq!(r["token_type"], "refresh_token");
    assert_eq!(r["client_id"], rp.id.as_str());
    assert_eq!(r["sub"], sub);
    assert_eq!(r["scope"], "email offline_access openid profile");
    for k in ["exp", "iat", "iss", "aud", "jti"] {
        assert!(!r[k].is_null(), "{k} in {r}");
    }

    // Another confidential client (a resource server) may check the access token, but
    // never sees this client's refresh token.
    let other = register(&sandbox);
    let (_, a2) = post_form(
        base,
        routes::INTROSPECT,
        &other,
        &[("token", &access_token)],
    )
    .await;
    assert_eq!(a2["active"], true, "{a2}");
    let (_, r2) = post_form(
        base,
        routes::INTROSPECT,
        &other,
        &[("token", &refresh_token)],
    )
    .await;
    assert_eq!(r2, serde_json::json!({ "active": false }));

    // A rotated-away refresh token, garbage, a tampered JWT: inactive.
    let (_, next) = refresh(base, &rp, &refresh_token).await;
    let (_, old) = post_form(base, routes::INTROSPECT, &rp, &[("token", &refresh_token)]).await;
    assert_eq!(old, serde_json::json!({ "active": false }));
    let (_, new) = post_form(
        base,
        routes::INTROSPECT,
        &rp,
        &[("token", &s(&next, "refresh_token"))],
    )
    .await;
    assert_eq!(new["active"], true);
    let tampered = format!("{access_token}x");
    for garbage in ["garbage", tampered.as_str()] {
        let (status, body) = post_form(base, routes::INTROSPECT, &rp, &[("token", garbage)]).await;
        assert_eq!(status, 200);
        assert_eq!(body, serde_json::json!({ "active": false }));
    }
    // Wrong client authentication: 401; no token: 400.
    let wrong = Rp {
        id: rp.id.clone(),
        secret: "wrong".into(),
    };
    let (status, body) = post_form(
        base,
        routes::INTROSPECT,
        &wrong,
        &[("token", &access_token)],
    )
    .await;
    assert_eq!((status, s(&body, "error")), (401, "invalid_client".into()));
    let (status, _) = post_form(base, routes::INTROSPECT, &rp, &[]).await;
    assert_eq!(status, 400);
}

async fn discovery_advertises_the_endpoints(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    let d: Value = reqwest::get(server.url(routes::DISCOVERY))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = &server.issuer;
    assert_eq!(
        d["revocation_endpoint"],
        format!("{issuer}{}", routes::REVOKE)
    );
    assert_eq!(
        d["introspection_endpoint"],
        format!("{issuer}{}", routes::INTROSPECT)
    );
    assert_eq!(
        d["end_session_endpoint"],
        format!("{issuer}{}", routes::LOGOUT)
    );
    for k in [
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert!(
            d[k].as_array()
                .unwrap()
                .iter()
                .any(|m| m == "client_secret_basic"),
            "{k}: {d}"
        );
    }
    assert!(
        d["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "offline_access")
    );
}

crate::async_on_both_backends!(
    revocation,
    introspection,
    discovery_advertises_the_endpoints
);
