//! `GET`/`POST /logout` (RP-Initiated Logout 1.0) end to end: the session and its cookie
//! end, the families issued through that browser session are revoked and the person's
//! other devices are not; redirects go only to registered URIs; bad hints are refused;
//! a request not tied to the person is confirmed on a page first. And the admin side:
//! `usher user revoke-sessions` and `usher families revoke`.

use usher_http::routes;

use crate::helpers::{Backend, Browser, Sandbox};
use crate::refresh::{AFTER_LOGOUT, SCOPE, refresh, setup, tokens};

fn logout_url(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{base}{}", routes::LOGOUT)).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

fn rt(v: &serde_json::Value) -> String {
    v["refresh_token"].as_str().unwrap().to_owned()
}

async fn logout_ends_this_browser_only(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let laptop = Browser::new();
    let phone = Browser::new();
    let on_laptop = tokens(base, &laptop, &rp, SCOPE).await;
    let on_laptop_again = tokens(base, &laptop, &rp, SCOPE).await;
    let on_phone = tokens(base, &phone, &rp, SCOPE).await;
    assert_eq!(sandbox.count("sessions"), 2);

    let id_token = on_laptop["id_token"].as_str().unwrap();
    let page = laptop
        .get(&logout_url(
            base,
            &[
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
                ("state", "bye"),
            ],
        ))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.clone().unwrap();
    assert!(location.starts_with(AFTER_LOGOUT), "{location}");
    assert_eq!(page.redirect_param("state").as_deref(), Some("bye"));
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("usher-session=") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    assert_eq!(
        sandbox.count("sessions"),
        1,
        "only the laptop's session ended"
    );

    // Both laptop families are revoked; the phone's is not.
    for t in [&on_laptop, &on_laptop_again] {
        let (status, body) = refresh(base, &rp, &rt(t)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let (status, body) = refresh(base, &rp, &rt(&on_phone)).await;
    assert_eq!(status, 200, "{body}");
    let listed = crate::refresh::families(&sandbox);
    assert_eq!(
        listed
            .iter()
            .filter(|f| f["revoked_reason"] == "logout")
            .count(),
        2
    );
    // The laptop must log in again.
    let again = laptop
        .get(&format!(
            "{base}{}?response_type=code&client_id={}&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            routes::AUTHORIZE,
            rp.id
        ))
        .await;
    assert_eq!(again.status, 200, "the login page: {}", again.body);
}

async fn logout_refuses_bad_input_and_confirms_unknown_requests(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let browser = Browser::new();
    let t = tokens(base, &browser, &rp, SCOPE).await;
    let id_token = t["id_token"].as_str().unwrap();

    // A garbage hint, or a client_id the hint was not issued to: a 400 page, nothing ends.
    let page = browser
        .get(&logout_url(base, &[("id_token_hint", "garbage")]))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let other = crate::refresh::register(&sandbox);
    let page = browser
        .get(&logout_url(
            base,
            &[("id_token_hint", id_token), ("client_id", &other.id)],
        ))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(sandbox.count("sessions"), 1);

    // No hint: the person is asked first; nothing ends yet.
    let page = browser
        .get(&logout_url(
            base,
            &[
                ("client_id", &rp.id),
                ("post_logout_redirect_uri", "https://evil.example/steal"),
                ("state", "s"),
            ],
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Sign out of Usher?"), "{}", page.body);
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(
        !page.body.contains("evil.example"),
        "an unregistered URI is dropped"
    );
    assert_eq!(sandbox.count("sessions"), 1);

    // Confirming: signed out, but an unregistered post_logout_redirect_uri is never a
    // redirect.
    let done = browser
        .submit(
            base,
            &page,
            routes::LOGOUT,
            &[("post_logout_redirect_uri", "https://evil.example/steal")],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.location.is_none());
    assert!(done.body.contains("You are signed out"), "{}", done.body);
    assert_eq!(sandbox.count("sessions"), 0);
    let (status, _) = refresh(base, &rp, &rt(&t)).await;
    assert_eq!(status, 400);

    // A logout without any session: the signed-out page (or the registered redirect).
    let page = Browser::new()
        .get(&logout_url(
            base,
            &[
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
            ],
        ))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = Browser::new().get(&logout_url(base, &[])).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("You are signed out"));
}

async fn admins_revoke_sessions_and_families(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let a = tokens(base, &Browser::new(), &rp, SCOPE).await;
    let b = tokens(base, &Browser::new(), &rp, SCOPE).await;
    let family_a = rt(&a).split_once('.').unwrap().0.to_owned();

    let listed = sandbox
        .usher(
            &[
                "families", "list", "--user", "alice", "--client", &rp.id, "--json",
            ],
            None,
        )
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let human = sandbox.usher(&["families", "list"], None);
    assert!(
        human.ok() && human.stdout().contains(&family_a),
        "{}",
        human.stdout()
    );
    for bad in [
        vec!["families", "revoke", "not a family"],
        vec!["families", "list", "--user", "not a username"],
    ] {
        assert_eq!(sandbox.usher(&bad, None).code(), Some(2));
    }
    let missing = sandbox.usher(&["families", "revoke", "AAAAAAAAAAAAAAAAAAAAAA"], None);
    assert!(!missing.ok());

    let revoked = sandbox
        .usher(&["families", "revoke", &family_a, "--json"], None)
        .json();
    assert_eq!(revoked["revoked"], true);
    let (status, _) = refresh(base, &rp, &rt(&a)).await;
    assert_eq!(status, 400);
    let (status, b2) = refresh(base, &rp, &rt(&b)).await;
    assert_eq!(status, 200, "{b2}");

    let out = sandbox
        .usher(&["user", "revoke-sessions", "alice", "--json"], None)
        .json();
    assert_eq!(out["sessions_ended"], 2);
    assert_eq!(out["families_revoked"], 1);
    assert_eq!(sandbox.count("sessions"), 0);
    let (status, _) = refresh(base, &rp, &rt(&b2)).await;
    assert_eq!(status, 400);
    let listed = crate::refresh::families(&sandbox);
    let reasons: Vec<_> = listed.iter().map(|f| f["revoked_reason"].clone()).collect();
    assert!(
        reasons.contains(&"admin".into()) && reasons.contains(&"user_sessions_revoked".into()),
        "{reasons:?}"
    );
}

crate::async_on_both_backends!(
    logout_ends_this_browser_only,
    logout_refuses_bad_input_and_confirms_unknown_requests,
    admins_revoke_sessions_and_families,
);

/// The admin commands reach the Redis store too.
#[tokio::test(flavor = "multi_thread")]
async fn families_in_redis_are_listed_and_revoked_by_the_cli() {
    let url = usher_families::testing::redis_url();
    usher_families::testing::require_redis(&url);
    let sandbox = Sandbox::with_test_db(Backend::Sqlite)
        .env("USHER_REDIS_URL", &url)
        .env(
            "USHER_REDIS_PREFIX",
            &usher_families::testing::random_prefix(),
        );
    let (server, rp) = setup(&sandbox);
    let t = tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    let family = rt(&t).split_once('.').unwrap().0.to_owned();
    assert_eq!(sandbox.count("refresh_families"), 0, "nothing in SQL");
    let listed = crate::refresh::families(&sandbox);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], family.as_str());
    assert!(sandbox.usher(&["families", "revoke", &family], None).ok());
    let (status, _) = refresh(&server.base, &rp, &rt(&t)).await;
    assert_eq!(status, 400);
}

/// Issue 12, item 20: a new password ends the person's sessions and refresh-token
/// families, as `user revoke-sessions` does, unless `--keep-sessions`.
#[tokio::test(flavor = "multi_thread")]
async fn set_password_signs_the_person_out_everywhere_unless_told_to_keep_sessions() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let laptop = Browser::new();
    let kept = tokens(base, &laptop, &rp, SCOPE).await;
    let phone = Browser::new();
    let on_phone = tokens(base, &phone, &rp, SCOPE).await;
    assert_eq!(sandbox.count("sessions"), 2);

    let out = sandbox
        .usher(
            &[
                "user",
                "set-password",
                "alice",
                "--password-stdin",
                "--keep-sessions",
                "--json",
            ],
            Some("another long passphrase\n"),
        )
        .json();
    assert_eq!(out["password_changed"], true);
    assert_eq!(out["sessions_ended"], serde_json::Value::Null);
    assert_eq!(sandbox.count("sessions"), 2, "--keep-sessions keeps them");
    let (status, kept) = refresh(base, &rp, &rt(&kept)).await;
    assert_eq!(status, 200, "{kept}");
    let out = sandbox
        .usher(
            &[
                "user",
                "set-password",
                "alice",
                "--password-stdin",
                "--json",
            ],
            Some("a third long passphrase\n"),
        )
        .json();
    assert_eq!(out["password_changed"], true);
    assert_eq!(out["sessions_ended"], 2);
    assert_eq!(out["families_revoked"], 2);
    assert_eq!(sandbox.count("sessions"), 0);
    for token in [rt(&kept), rt(&on_phone)] {
        let (status, body) = refresh(base, &rp, &token).await;
        assert_eq!(status, 400, "{body}");
    }
    // The browser must sign in again, and only the new password works.
    let page = laptop
        .get(&crate::helpers::authorize_url(
            base,
            &[
                ("response_type", "code"),
                ("client_id", rp.id.as_str()),
                ("redirect_uri", crate::refresh::CALLBACK),
                ("scope", "openid"),
                ("state", "st"),
                ("code_challenge", &crate::helpers::pkce().challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await;
    assert!(
        page.has_form(routes::LOGIN),
        "the old session no longer signs in: {}",
        page.status
    );
    let listed = crate::refresh::families(&sandbox);
    assert!(
        listed
            .iter()
            .all(|f| f["revoked_reason"] == "user_sessions_revoked"),
        "{listed:?}"
    );
}
