//! `GET`/`POST /logout` (RP-Initiated Logout 1.0) end to end: the session and its cookie
//! end, the online families issued in that browser's session lineage are revoked (those
//! granted `offline_access` are not), and the person's other devices are not; a code
//! redeemed after the sign-in ended starts nothing; redirects go only to registered URIs;
//! bad hints are refused; a request not tied to the person is confirmed on a page first.
//! And the admin side: `usher user revoke-sessions` and `usher families revoke`.

use usher_http::routes;

use crate::helpers::{Backend, Browser, Sandbox};
use crate::refresh::{
    AFTER_LOGOUT, PASSWORD, Rp, SCOPE, exchange, refresh, setup, sign_in, sign_in_as, tokens,
};

/// A plain OAuth 2.0 request (no `openid`, no `offline_access`): its refresh family is
/// online, and ends with the browser session.
const ONLINE: &str = "profile email";

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
    let offline = tokens(base, &laptop, &rp, SCOPE).await;
    let on_laptop = tokens(base, &laptop, &rp, ONLINE).await;
    let on_laptop_again = tokens(base, &laptop, &rp, ONLINE).await;
    let on_phone = tokens(base, &phone, &rp, ONLINE).await;
    assert_eq!(sandbox.count("sessions"), 2);

    let id_token = offline["id_token"].as_str().unwrap();
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

    // Both online laptop families are revoked; the offline one and the phone's are not.
    let (status, body) = refresh(base, &rp, &rt(&offline)).await;
    assert_eq!(status, 200, "offline access outlives logout: {body}");
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
            "{base}{}?response_type=code&client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
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
    let online = tokens(base, &browser, &rp, ONLINE).await;
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
    let (status, _) = refresh(base, &rp, &rt(&online)).await;
    assert_eq!(status, 400);
    let (status, body) = refresh(base, &rp, &rt(&t)).await;
    assert_eq!(status, 200, "offline access outlives logout: {body}");

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
    let sandbox = Sandbox::with_test_db(Backend::Sqlite).on_redis();
    let (server, rp) = setup(&sandbox);
    let t = tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    let family = rt(&t).split_once('.').unwrap().0.to_owned();
    assert_eq!(sandbox.count("refresh_families"), 0, "nothing in SQL");
    let listed = crate::refresh::families(&sandbox);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], family.as_str());
    let revoked = sandbox.usher(&["families", "revoke", &family], None);
    assert!(revoked.ok(), "{}", revoked.stderr());
    let (status, _) = refresh(&server.base, &rp, &rt(&t)).await;
    assert_eq!(status, 400);
}

/// Logs the browser out with a fresh hint; confirms if asked.
async fn log_out(base: &str, browser: &Browser, id_token: &str) {
    let page = browser
        .get(&logout_url(base, &[("id_token_hint", id_token)]))
        .await;
    let page = if page.status == 200 && page.has_form(routes::LOGOUT) {
        browser
            .submit(base, &page, routes::LOGOUT, &[("confirm", "yes")])
            .await
    } else {
        page
    };
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("You are signed out"), "{}", page.body);
}

fn assert_invalid_grant((status, body): (u16, serde_json::Value)) {
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert!(body.get("access_token").is_none(), "{body}");
}

/// The families of the sandbox's store that are still active.
fn active(sandbox: &Sandbox) -> Vec<serde_json::Value> {
    crate::refresh::families(sandbox)
        .into_iter()
        .filter(|f| f["state"] == "active")
        .collect()
}

/// Issue 12, item 12: a re-authentication (`prompt=login`) keeps the browser's lineage,
/// so logout revokes the online families of every session of it — and none of the
/// families granted `offline_access`, which the admin side still revokes.
async fn logout_reaches_every_online_family_of_the_browser_and_keeps_offline_ones(
    sandbox: Sandbox,
) {
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let browser = Browser::new();
    let offline = tokens(base, &browser, &rp, SCOPE).await;
    let before = tokens(base, &browser, &rp, ONLINE).await;
    let login_again = [("prompt", "login")];
    let (code, verifier) = sign_in_as(base, &browser, &rp, ONLINE, "alice", &login_again).await;
    let (status, after) = exchange(base, &rp, &code, &verifier).await;
    assert_eq!(status, 200, "{after}");
    let (code, verifier) = sign_in_as(base, &browser, &rp, SCOPE, "alice", &login_again).await;
    let (status, offline_again) = exchange(base, &rp, &code, &verifier).await;
    assert_eq!(status, 200, "{offline_again}");
    assert_eq!(
        sandbox.count("sessions"),
        1,
        "each login replaced the session"
    );

    log_out(base, &browser, offline_again["id_token"].as_str().unwrap()).await;
    for t in [&before, &after] {
        assert_invalid_grant(refresh(base, &rp, &rt(t)).await);
    }
    let mut kept = Vec::new();
    for t in [&offline, &offline_again] {
        let (status, body) = refresh(base, &rp, &rt(t)).await;
        assert_eq!(status, 200, "offline access outlives logout: {body}");
        kept.push(body);
    }
    let listed = crate::refresh::families(&sandbox);
    assert_eq!(
        listed
            .iter()
            .filter(|f| f["revoked_reason"] == "logout")
            .count(),
        2,
        "{listed:?}"
    );

    // The admin side reaches the offline families.
    let out = sandbox
        .usher(&["user", "revoke-sessions", "alice", "--json"], None)
        .json();
    assert_eq!(out["families_revoked"], 2, "{out}");
    for t in &kept {
        assert_invalid_grant(refresh(base, &rp, &rt(t)).await);
    }
    assert!(active(&sandbox).is_empty());
}

/// Issue 12, item 9: a code redeemed after its sign-in ended — by logout, by `usher user
/// revoke-sessions`, or by another person signing in to the same browser — is
/// `invalid_grant` and starts no family.
async fn a_code_redeemed_after_its_sign_in_ended_starts_nothing(sandbox: Sandbox) {
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    sandbox.user("bob", PASSWORD, &[]);

    let browser = Browser::new();
    let t = tokens(base, &browser, &rp, SCOPE).await;
    let offline_code = sign_in(base, &browser, &rp, SCOPE).await;
    let online_code = sign_in(base, &browser, &rp, ONLINE).await;
    log_out(base, &browser, t["id_token"].as_str().unwrap()).await;
    let known = crate::refresh::families(&sandbox).len();
    for (code, verifier) in [&offline_code, &online_code] {
        assert_invalid_grant(exchange(base, &rp, code, verifier).await);
    }
    assert_eq!(
        crate::refresh::families(&sandbox).len(),
        known,
        "no family created"
    );

    let elsewhere = Browser::new();
    let (code, verifier) = sign_in(base, &elsewhere, &rp, SCOPE).await;
    assert!(
        sandbox
            .usher(&["user", "revoke-sessions", "alice"], None)
            .ok()
    );
    assert_invalid_grant(exchange(base, &rp, &code, &verifier).await);
    assert_eq!(crate::refresh::families(&sandbox).len(), known);

    // Bob signs in where Alice was: her browser session ends as by a logout.
    let shared = Browser::new();
    let alice_online = tokens(base, &shared, &rp, ONLINE).await;
    let alice_offline = tokens(base, &shared, &rp, SCOPE).await;
    let (code, verifier) = sign_in(base, &shared, &rp, SCOPE).await;
    let (bob_code, bob_verifier) =
        sign_in_as(base, &shared, &rp, SCOPE, "bob", &[("prompt", "login")]).await;
    assert_invalid_grant(exchange(base, &rp, &code, &verifier).await);
    assert_invalid_grant(refresh(base, &rp, &rt(&alice_online)).await);
    let (status, body) = refresh(base, &rp, &rt(&alice_offline)).await;
    assert_eq!(status, 200, "{body}");
    let (status, bob) = exchange(base, &rp, &bob_code, &bob_verifier).await;
    assert_eq!(status, 200, "{bob}");
    assert_eq!(sandbox.count("sessions"), 1, "Bob's");
}

/// Codes whose exchanges race the end of their sign-in: whichever order each takes,
/// once everything has answered no online family of the lineage is active (an exchange
/// that won is revoked by the logout or `revoke-sessions`; one that lost starts nothing
/// or revokes what it started).
async fn exchanges_racing_the_end_of_their_sign_in_leave_no_online_family(sandbox: Sandbox) {
    const CODES: usize = 12;
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    for end_by_admin in [false, true] {
        let browser = Browser::new();
        let t = tokens(base, &browser, &rp, SCOPE).await;
        let mut codes = Vec::new();
        for _ in 0..CODES {
            codes.push(sign_in(base, &browser, &rp, ONLINE).await);
        }
        let racing = race(base, &rp, codes);
        if end_by_admin {
            let sandbox = &sandbox;
            tokio::task::block_in_place(|| {
                assert!(
                    sandbox
                        .usher(&["user", "revoke-sessions", "alice"], None)
                        .ok()
                )
            });
        } else {
            log_out(base, &browser, t["id_token"].as_str().unwrap()).await;
        }
        for handle in racing {
            let (status, body) = handle.await.unwrap();
            if status == 200 {
                assert_invalid_grant(refresh(base, &rp, &rt(&body)).await);
            } else {
                assert_invalid_grant((status, body));
            }
        }
        let live_online: Vec<_> = active(&sandbox)
            .into_iter()
            .filter(|f| !f["scope"].as_str().unwrap().contains("offline_access"))
            .collect();
        assert!(live_online.is_empty(), "{live_online:?}");
    }
}

/// Starts one exchange per code, concurrently.
fn race(
    base: &str,
    rp: &Rp,
    codes: Vec<(String, String)>,
) -> Vec<tokio::task::JoinHandle<(u16, serde_json::Value)>> {
    codes
        .into_iter()
        .map(|(code, verifier)| {
            let (base, rp) = (base.to_owned(), rp.clone());
            tokio::spawn(async move { exchange(&base, &rp, &code, &verifier).await })
        })
        .collect()
}

/// Second read of issue 12: an *online* family lives only while its browser sign-in does.
/// Once the lineage has no live session (here: the sessions expired and were purged), its
/// online families stop refreshing — otherwise the next sign-in in that browser starts a
/// new lineage and no logout would ever reach them — while offline ones go on.
async fn an_online_family_ends_with_its_sign_in(sandbox: Sandbox) {
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let browser = Browser::new();
    let offline = tokens(base, &browser, &rp, SCOPE).await;
    let online = tokens(base, &browser, &rp, ONLINE).await;
    let (status, body) = refresh(base, &rp, &rt(&online)).await;
    assert_eq!(status, 200, "{body}");
    let online = body;

    sandbox.execute("DELETE FROM sessions");
    assert_invalid_grant(refresh(base, &rp, &rt(&online)).await);
    let (status, body) = refresh(base, &rp, &rt(&offline)).await;
    assert_eq!(status, 200, "offline access outlives the sign-in: {body}");
}

/// Second read of issue 12: a logout POSTed without the session cookie (every cross-site
/// POST, since the cookie is `SameSite=Lax`) ends nothing and clears nothing: it is sent
/// to the same request as a GET, which the browser makes with its cookie.
async fn a_logout_posted_without_the_session_cookie_is_asked_again_as_a_get(sandbox: Sandbox) {
    let (server, rp) = setup(&sandbox);
    let base = &server.base;
    let browser = Browser::new();
    let t = tokens(base, &browser, &rp, ONLINE).await;
    let fresh = tokens(base, &browser, &rp, SCOPE).await;
    let id_token = fresh["id_token"].as_str().unwrap();
    let form = [
        ("id_token_hint".to_owned(), id_token.to_owned()),
        (
            "post_logout_redirect_uri".to_owned(),
            AFTER_LOGOUT.to_owned(),
        ),
        ("state".to_owned(), "s 1".to_owned()),
        ("confirm".to_owned(), "yes".to_owned()),
    ];
    let cross_site = Browser::new()
        .post_form(&format!("{base}{}", routes::LOGOUT), &form)
        .await;
    assert_eq!(cross_site.status, 303, "{}", cross_site.body);
    assert!(
        cross_site.headers.get("set-cookie").is_none(),
        "no cookie is cleared: {:?}",
        cross_site.headers
    );
    let location = cross_site.location.expect("a redirect");
    assert!(
        location.starts_with(&format!("{base}{}?", routes::LOGOUT)),
        "{location}"
    );
    assert!(!location.contains("confirm"), "{location}");
    assert_eq!(sandbox.count("sessions"), 1);
    let (status, body) = refresh(base, &rp, &rt(&t)).await;
    assert_eq!(status, 200, "nothing ended: {body}");
    let t = body;

    // The browser follows it with its cookie: the live hint for this client ends the
    // session without a question and goes back to the client with its state.
    let done = browser.get(&location).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{AFTER_LOGOUT}?state=s+1").as_str())
    );
    assert_eq!(sandbox.count("sessions"), 0);
    assert_invalid_grant(refresh(base, &rp, &rt(&t)).await);
}

/// A sandbox on the family store named: the embedded one on SQLite or PostgreSQL, or
/// Redis (on a fresh key prefix) with SQLite.
fn sandbox_on(store: &str) -> Sandbox {
    match store {
        "sqlite" => Sandbox::with_test_db(Backend::Sqlite),
        "postgres" => Sandbox::with_test_db(Backend::Postgres),
        _ => Sandbox::with_test_db(Backend::Sqlite).on_redis(),
    }
}

macro_rules! on_every_family_store {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread")]
                async fn sqlite() {
                    super::$name(super::sandbox_on("sqlite")).await
                }
                #[tokio::test(flavor = "multi_thread")]
                async fn postgres() {
                    super::$name(super::sandbox_on("postgres")).await
                }
                #[tokio::test(flavor = "multi_thread")]
                async fn redis() {
                    super::$name(super::sandbox_on("redis")).await
                }
            }
        )*
    };
}

on_every_family_store!(
    an_online_family_ends_with_its_sign_in,
    a_logout_posted_without_the_session_cookie_is_asked_again_as_a_get,
    logout_reaches_every_online_family_of_the_browser_and_keeps_offline_ones,
    a_code_redeemed_after_its_sign_in_ended_starts_nothing,
    exchanges_racing_the_end_of_their_sign_in_leave_no_online_family,
);

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
