//! The account page over HTTP (issue 14): `GET /account` signs the person in through
//! `/authorize` as Usher's built-in client (PKCE, state in a cookie scoped to
//! `/account`), the callback redeems the code, and the Security section sets up an
//! authenticator app — the QR code drawn inline, the key shown as text, confirmed with a
//! code the test computes from that key with `usher-keys`' TOTP — and shows ten recovery
//! codes once. A stale sign-in is sent through `/authorize` with `max_age=300`; a
//! replayed form is refused. Issue 15: "Connected apps" (removing an app's access ends
//! its refresh tokens and the next sign-in asks for consent) and "Where you are signed
//! in" ("sign out everywhere" ends the other browser and every refresh token).

use usher_domain::{UnixTime, totp_step};
use usher_http::routes;
use usher_keys::TotpSecret;

use crate::helpers::{Backend, Browser, Page, Sandbox, sign_in};
use crate::refresh::{Rp, exchange, refresh};

const PASSWORD: &str = "correct horse battery staple";

fn now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    UnixTime(i64::try_from(secs).unwrap())
}

/// The text between `start` and the next `end` in `body`.
fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{body}"))
        + start.len();
    let to = body[from..].find(end).unwrap() + from;
    &body[from..to]
}

/// The recovery codes a page lists.
fn codes_on(page: &Page) -> Vec<String> {
    page.body
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap().to_owned())
        .collect()
}

fn query_of(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Signs `browser` in to the account page from scratch; returns the account page.
pub(crate) async fn open_account(browser: &Browser, base: &str) -> Page {
    let first = browser.get(&format!("{base}{}", routes::ACCOUNT)).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let to_authorize = first.location.clone().unwrap();
    let back = sign_in(browser, base, &to_authorize, "alice", PASSWORD).await;
    assert_eq!(
        back.status, 303,
        "no consent page for Usher's own client: {}",
        back.body
    );
    let callback = back.location.clone().unwrap();
    let landed = browser.get(&callback).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    let account = browser
        .get(&format!("{base}{}", landed.location.as_deref().unwrap()))
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    account
}

/// Signs `browser` in to the account page with the password and then a code of the
/// app `secret` (of the next time step: the current one was used to confirm it).
async fn open_account_with_app(browser: &Browser, base: &str, secret: &TotpSecret) -> Page {
    let first = browser.get(&format!("{base}{}", routes::ACCOUNT)).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let to_authorize = first.location.clone().unwrap();
    let asked = sign_in(browser, base, &to_authorize, "alice", PASSWORD).await;
    assert_eq!(asked.status, 200, "the second step: {}", asked.body);
    assert!(asked.has_form(routes::SECOND_FACTOR), "{}", asked.body);
    let code = secret.code_at_step(totp_step(now()) + 1).unwrap();
    let back = browser
        .submit(base, &asked, routes::SECOND_FACTOR, &[("code", &code)])
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    let landed = browser.get(&back.location.clone().unwrap()).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    let account = browser
        .get(&format!("{base}{}", landed.location.as_deref().unwrap()))
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    account
}

async fn the_account_page_signs_in_sets_up_the_app_and_shows_codes_once(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let browser = Browser::new();

    // Signed out: straight to /authorize, as the built-in public client with PKCE.
    let first = browser.get(&server.url(routes::ACCOUNT)).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let location = first.location.clone().unwrap();
    assert!(
        location.starts_with(&server.url("/authorize?")),
        "{location}"
    );
    let query = query_of(&location);
    assert_eq!(param(&query, "client_id"), Some("usher-account"));
    assert_eq!(param(&query, "response_type"), Some("code"));
    assert_eq!(param(&query, "code_challenge_method"), Some("S256"));
    assert_eq!(
        param(&query, "redirect_uri"),
        Some(server.url(routes::ACCOUNT_CALLBACK).as_str())
    );
    assert!(param(&query, "state").is_some() && param(&query, "nonce").is_some());
    let cookie = first.header("set-cookie").unwrap();
    for part in [
        "usher-account-signin=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/account",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }

    // The login page, then straight back (first party: no consent), then the page.
    let back = sign_in(&browser, &server.base, &location, "alice", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let callback = back.location.clone().unwrap();
    assert!(callback.starts_with(&server.url(routes::ACCOUNT_CALLBACK)));
    let landed = browser.get(&callback).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    assert_eq!(landed.location.as_deref(), Some(routes::ACCOUNT));
    assert!(
        landed.header("set-cookie").unwrap().contains("Max-Age=0"),
        "the sign-in cookie is cleared"
    );
    assert_eq!(
        sandbox.count("authorization_codes WHERE consumed_at IS NOT NULL"),
        1,
        "the callback spent the code"
    );
    // The callback cannot be replayed.
    let again = browser.get(&callback).await;
    assert_eq!(again.status, 400, "{}", again.body);

    let account = browser.get(&server.url(routes::ACCOUNT)).await;
    assert_eq!(account.status, 200, "{}", account.body);
    assert!(account.body.contains("Signed in as <strong>alice</strong>"));
    assert!(account.body.contains("No authenticator app is set up."));
    assert_eq!(account.header("cache-control"), Some("no-store"));
    assert!(
        account
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );

    // Set up: the QR code inline, the key as text; nothing secret in a form.
    let setup = browser
        .submit(&server.base, &account, routes::ACCOUNT_TOTP_SETUP, &[])
        .await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    assert_eq!(setup.header("cache-control"), Some("no-store"));
    assert!(
        setup
            .body
            .contains("<svg xmlns=\"http://www.w3.org/2000/svg\"")
    );
    let key = between(&setup.body, "id=\"totp-secret\">", "<").to_owned();
    let uri = between(&setup.body, "id=\"totp-uri\">", "<").replace("&amp;", "&");
    assert!(
        uri.starts_with("otpauth://totp/127.0.0.1:alice?secret="),
        "{uri}"
    );
    assert!(uri.contains(&key));
    let form = setup.form(routes::ACCOUNT_TOTP_CONFIRM);
    // Only the token and the setup's handle are hidden: never the secret.
    assert!(
        form.hidden
            .iter()
            .all(|(k, v)| (k == "csrf" || k == "setup") && !v.contains(&key)),
        "only the token and the handle are hidden"
    );
    let secret = TotpSecret::from_base32(&key).expect("a base32 key");

    // A wrong code: the same page again, with the same key.
    let step = totp_step(now());
    let near: Vec<String> = (step - 1..=step + 1)
        .map(|s| secret.code_at_step(s).unwrap())
        .collect();
    let wrong = (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !near.contains(c))
        .unwrap();
    let retry = browser
        .submit(
            &server.base,
            &setup,
            routes::ACCOUNT_TOTP_CONFIRM,
            &[("code", &wrong)],
        )
        .await;
    assert_eq!(retry.status, 400, "{}", retry.body);
    assert!(retry.body.contains("role=\"alert\""));
    assert_eq!(between(&retry.body, "id=\"totp-secret\">", "<"), key);

    // The current code confirms it; ten recovery codes, shown once.
    let code = secret.code_at_step(totp_step(now())).unwrap();
    let done = browser
        .submit(
            &server.base,
            &retry,
            routes::ACCOUNT_TOTP_CONFIRM,
            &[("code", &code)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.header("cache-control"), Some("no-store"));
    let codes = codes_on(&done);
    assert_eq!(codes.len(), 10, "{}", done.body);
    assert!(codes.iter().all(|c| c.len() == 14), "{codes:?}");
    assert_eq!(sandbox.count("totp_factors WHERE confirmed"), 1);
    assert_eq!(sandbox.count("recovery_codes"), 10);
    let log = server.log_with("factor_added");
    assert_eq!(
        log.iter().filter(|l| l.contains("factor_added")).count(),
        1,
        "{log:?}"
    );
    for line in &log {
        assert!(!line.contains(&key), "the key is never logged: {line}");
        assert!(!codes.iter().any(|c| line.contains(c.as_str())), "{line}");
    }

    // Adding the app ended every session, this browser's too: the confirm form again
    // finds no session and is sent to sign in; nothing changes.
    let replay = browser
        .submit(
            &server.base,
            &retry,
            routes::ACCOUNT_TOTP_CONFIRM,
            &[("code", &code)],
        )
        .await;
    assert_eq!(replay.status, 303, "{}", replay.body);
    assert_eq!(sandbox.count("sessions"), 0);
    assert_eq!(sandbox.count("totp_factors WHERE confirmed"), 1);

    // Signing in again asks for the app's code.
    let account = open_account_with_app(&browser, &server.base, &secret).await;
    assert!(
        account.body.contains("10 of 10 recovery codes left."),
        "{}",
        account.body
    );
    for c in &codes {
        assert!(!account.body.contains(c.as_str()), "codes are shown once");
    }

    // New codes replace the old ones, shown once too.
    let fresh = browser
        .submit(&server.base, &account, routes::ACCOUNT_RECOVERY_CODES, &[])
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    let new_codes = codes_on(&fresh);
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !codes.contains(c)));
    // The account page's token of that page was spent by that one post.
    let replay = browser
        .submit(&server.base, &account, routes::ACCOUNT_RECOVERY_CODES, &[])
        .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
}

async fn a_stale_sign_in_is_sent_through_authorize_with_max_age_and_back(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let browser = Browser::new();
    let account = open_account(&browser, &server.base).await;
    // Signed in ten minutes ago.
    sandbox.execute("UPDATE sessions SET auth_time = auth_time - 600");
    let account = {
        let _ = account;
        browser.get(&server.url(routes::ACCOUNT)).await
    };
    assert!(
        account.body.contains("asked to sign in again"),
        "{}",
        account.body
    );
    let stale = browser
        .submit(&server.base, &account, routes::ACCOUNT_TOTP_SETUP, &[])
        .await;
    assert_eq!(stale.status, 303, "{}", stale.body);
    let location = stale.location.clone().unwrap();
    let query = query_of(&location);
    assert_eq!(param(&query, "max_age"), Some("300"));
    assert_eq!(param(&query, "client_id"), Some("usher-account"));
    assert_eq!(sandbox.count("totp_factors"), 0, "nothing was set up");
    // Signing in again (the login page, since the session is too old) comes back to
    // the Security section, where the change now goes through.
    let login = browser.get(&location).await;
    assert_eq!(login.status, 200, "the login page again: {}", login.body);
    let back = sign_in(&browser, &server.base, &location, "alice", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let landed = browser.get(back.location.as_deref().unwrap()).await;
    assert_eq!(landed.location.as_deref(), Some("/account#security"));
    let account = browser.get(&server.url(routes::ACCOUNT)).await;
    assert!(
        !account.body.contains("asked to sign in again"),
        "{}",
        account.body
    );
    let setup = browser
        .submit(&server.base, &account, routes::ACCOUNT_TOTP_SETUP, &[])
        .await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    assert_eq!(sandbox.count("totp_factors WHERE NOT confirmed"), 1);
}

async fn a_form_without_its_token_or_from_another_browser_is_refused(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let alice = Browser::new();
    let account = open_account(&alice, &server.base).await;
    let token = account.form(routes::ACCOUNT_TOTP_SETUP).hidden[0].1.clone();
    // No token.
    let bare = alice
        .post_form(&server.url(routes::ACCOUNT_TOTP_SETUP), &[])
        .await;
    assert_eq!(bare.status, 400, "{}", bare.body);
    // Another browser (signed in as alice too) with alice's first browser's token.
    let other = Browser::new();
    open_account(&other, &server.base).await;
    let stolen = other
        .post_form(
            &server.url(routes::ACCOUNT_TOTP_SETUP),
            &[("csrf".to_owned(), token.clone())],
        )
        .await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    // A browser with no session is sent to sign in, and nothing changes.
    let stranger = Browser::new();
    let signed_out = stranger
        .post_form(
            &server.url(routes::ACCOUNT_TOTP_SETUP),
            &[("csrf".to_owned(), token)],
        )
        .await;
    assert_eq!(signed_out.status, 303, "{}", signed_out.body);
    assert_eq!(sandbox.count("totp_factors"), 0);
}

/// Sets up and confirms the app from `account`; returns the recovery codes shown and
/// the app's secret (adding it ended the session: sign in again with it).
async fn set_up_app(browser: &Browser, base: &str, account: &Page) -> (Vec<String>, TotpSecret) {
    let setup = browser
        .submit(base, account, routes::ACCOUNT_TOTP_SETUP, &[])
        .await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    let key = between(&setup.body, "id=\"totp-secret\">", "<");
    let secret = TotpSecret::from_base32(key).unwrap();
    let code = secret.code_at_step(totp_step(now())).unwrap();
    let done = browser
        .submit(
            base,
            &setup,
            routes::ACCOUNT_TOTP_CONFIRM,
            &[("code", &code)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    (codes_on(&done), secret)
}

async fn removing_the_app_needs_its_confirmation_and_takes_the_codes_along(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let browser = Browser::new();
    let account = open_account(&browser, &server.base).await;
    let (codes, secret) = set_up_app(&browser, &server.base, &account).await;
    assert_eq!(codes.len(), 10);
    let account = open_account_with_app(&browser, &server.base, &secret).await;
    assert!(account.body.contains("Set up on "), "{}", account.body);
    // Without ticking the box: the page again, with the error, nothing removed.
    let unticked = browser
        .submit(&server.base, &account, routes::ACCOUNT_TOTP_REMOVE, &[])
        .await;
    assert_eq!(unticked.status, 400, "{}", unticked.body);
    assert!(
        unticked.body.contains("role=\"alert\""),
        "{}",
        unticked.body
    );
    assert_eq!(sandbox.count("totp_factors"), 1);
    let removed = browser
        .submit(
            &server.base,
            &unticked,
            routes::ACCOUNT_TOTP_REMOVE,
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(removed.body.contains("No authenticator app is set up."));
    assert_eq!(sandbox.count("totp_factors"), 0);
    assert_eq!(sandbox.count("recovery_codes"), 0);
    let log = server.log_with("factor_removed");
    assert_eq!(
        log.iter().filter(|l| l.contains("factor_removed")).count(),
        1
    );
}

#[test]
fn the_cli_refuses_the_built_in_client_id_and_never_lists_it() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    for verb in ["show", "delete", "rotate-secret"] {
        let run = sandbox.usher(&["client", verb, "usher-account"], None);
        assert!(!run.ok(), "{verb}");
        assert!(
            run.stderr().contains("built-in account client"),
            "{}",
            run.stderr()
        );
    }
    let listed = sandbox.usher(&["client", "list", "--json"], None);
    assert!(listed.ok(), "{}", listed.stderr());
    assert_eq!(listed.json(), serde_json::json!([]));
}

/// Registers a confidential client that asks for consent, with refresh tokens.
fn third_party(sandbox: &Sandbox) -> Rp {
    let c = sandbox.client(&[
        "--name",
        "Photo Printer",
        "--redirect-uri",
        crate::refresh::CALLBACK,
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile offline_access",
    ]);
    Rp {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// Signs alice in to `rp` in `browser` (consenting if asked); returns the token response.
async fn app_tokens(base: &str, browser: &Browser, rp: &Rp, scope: &str) -> serde_json::Value {
    let crate::helpers::Pkce {
        challenge,
        verifier,
    } = crate::helpers::pkce();
    let url = crate::helpers::authorize_url(
        base,
        &[
            ("response_type", "code"),
            ("client_id", rp.id.as_str()),
            ("redirect_uri", crate::refresh::CALLBACK),
            ("scope", scope),
            ("state", "st"),
            ("nonce", "n0nce"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let back = sign_in(browser, base, &url, "alice", PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let code = back.redirect_param("code").expect("a code");
    let (status, body) = exchange(base, rp, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn removing_an_apps_access_ends_its_refresh_token_and_asks_consent_again(backend: Backend) {
    removing_an_apps_access_in(Sandbox::with_test_db(backend)).await;
}

/// The same with the refresh families in Redis (the database keeps everything else).
#[tokio::test(flavor = "multi_thread")]
async fn removing_an_apps_access_ends_its_refresh_token_with_redis_families() {
    removing_an_apps_access_in(Sandbox::with_test_db(Backend::Postgres).on_redis()).await;
}

async fn removing_an_apps_access_in(sandbox: Sandbox) {
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let rp = third_party(&sandbox);
    let browser = Browser::new();
    let tokens = app_tokens(&server.base, &browser, &rp, "openid offline_access").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Signed in already: the account page shows at once.
    let account = browser.get(&server.url(routes::ACCOUNT)).await;
    assert_eq!(account.status, 200, "{}", account.body);
    assert!(account.body.contains("Connected apps"), "{}", account.body);
    assert!(account.body.contains("Photo Printer"), "{}", account.body);
    assert!(
        account.body.contains("it can act while you are signed out"),
        "{}",
        account.body
    );
    let removed = browser
        .submit(&server.base, &account, routes::ACCOUNT_APPS_REMOVE, &[])
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(
        removed.body.contains("access was removed"),
        "{}",
        removed.body
    );
    // Gone from Connected apps (the browser line still says it got tokens there once).
    let apps = between(&removed.body, r#"<section id="apps""#, "</section>");
    assert!(!apps.contains("Photo Printer"), "{apps}");

    // The app's refresh token no longer works.
    let (status, body) = refresh(&server.base, &rp, &refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Its next sign-in asks for consent again (the session itself is still there).
    let url = crate::helpers::authorize_url(
        &server.base,
        &[
            ("response_type", "code"),
            ("client_id", rp.id.as_str()),
            ("redirect_uri", crate::refresh::CALLBACK),
            ("scope", "openid"),
            ("state", "st"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ],
    );
    let again = browser.get(&url).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.has_form(routes::CONSENT), "{}", again.body);
}

async fn signing_out_everywhere_ends_the_other_browser_and_its_refresh_tokens(backend: Backend) {
    signing_out_everywhere_in(Sandbox::with_test_db(backend)).await;
}

/// The same with the refresh families in Redis (the database keeps everything else).
#[tokio::test(flavor = "multi_thread")]
async fn signing_out_everywhere_ends_refresh_tokens_with_redis_families() {
    signing_out_everywhere_in(Sandbox::with_test_db(Backend::Postgres).on_redis()).await;
}

async fn signing_out_everywhere_in(sandbox: Sandbox) {
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let rp = third_party(&sandbox);
    let laptop = Browser::new();
    let phone = Browser::new();
    let offline = app_tokens(&server.base, &phone, &rp, "openid offline_access").await;

    let account = open_account(&laptop, &server.base).await;
    assert!(
        account.body.contains("Where you are signed in"),
        "{}",
        account.body
    );
    assert!(account.body.contains("This browser"), "{}", account.body);
    assert!(account.body.contains("Another browser"), "{}", account.body);
    let out = laptop
        .submit(
            &server.base,
            &account,
            routes::ACCOUNT_SIGN_OUT_EVERYWHERE,
            &[],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.body.contains("You are signed out"), "{}", out.body);

    // Both browsers are signed out, and alice's refresh tokens fail, offline ones too.
    let (status, _) = refresh(
        &server.base,
        &rp,
        offline["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    for browser in [&laptop, &phone] {
        let page = browser.get(&server.url(routes::ACCOUNT)).await;
        assert_eq!(page.status, 303);
        let login = browser.get(page.location.as_deref().unwrap()).await;
        assert!(login.has_form(routes::LOGIN), "{}", login.body);
    }
}

async fn changing_the_password_needs_the_current_one_and_signs_other_browsers_out(
    backend: Backend,
) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    sandbox.user("alice", PASSWORD, &[]);
    let rp = third_party(&sandbox);
    let laptop = Browser::new();
    let phone = Browser::new();
    app_tokens(&server.base, &phone, &rp, "openid").await;
    let account = open_account(&laptop, &server.base).await;
    let new = "a much longer new passphrase";
    let wrong = laptop
        .submit(
            &server.base,
            &account,
            routes::ACCOUNT_PASSWORD,
            &[
                ("current_password", "not my password"),
                ("new_password", new),
                ("confirm_password", new),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(
        wrong.body.contains("current password is not right"),
        "{}",
        wrong.body
    );
    let changed = laptop
        .submit(
            &server.base,
            &wrong,
            routes::ACCOUNT_PASSWORD,
            &[
                ("current_password", PASSWORD),
                ("new_password", new),
                ("confirm_password", new),
            ],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert!(
        changed.body.contains("other browsers were signed out"),
        "{}",
        changed.body
    );
    // The laptop stays signed in; the phone is signed out.
    let still = laptop.get(&server.url(routes::ACCOUNT)).await;
    assert_eq!(still.status, 200, "{}", still.body);
    let gone = phone.get(&server.url(routes::ACCOUNT)).await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    // The old password no longer signs in; the new one does.
    let fresh = Browser::new();
    let to_authorize = fresh.get(&server.url(routes::ACCOUNT)).await;
    let url = to_authorize.location.clone().unwrap();
    let refused = sign_in(&fresh, &server.base, &url, "alice", PASSWORD).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let fresh = Browser::new();
    let to_authorize = fresh.get(&server.url(routes::ACCOUNT)).await;
    let url = to_authorize.location.clone().unwrap();
    let back = sign_in(&fresh, &server.base, &url, "alice", new).await;
    assert_eq!(back.status, 303, "{}", back.body);
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

/// Issue 15: each browser line says from which address and browser the person signed
/// in there and which apps got tokens through it; a sign-in from a browser alice never
/// used is mailed to her (over real SMTP), one from a browser she used is not, and her
/// very first sign-in is not either.
async fn the_account_page_shows_where_each_browser_signed_in_and_a_new_one_is_mailed(
    backend: Backend,
) {
    let (port, mails) = crate::mail::smtp_server();
    let sandbox = Sandbox::on(backend)
        .env("USHER_SMTP_URL", &format!("smtp://127.0.0.1:{port}"))
        .env("USHER_MAIL_FROM", "Usher <no-reply@usher.test>");
    sandbox.user(
        "alice",
        PASSWORD,
        &["--email", "alice@example.org", "--email-verified"],
    );
    let rp = third_party(&sandbox);
    let server = sandbox.serve();
    let base = server.url("");

    // Alice's first sign-in ever, to the app, in Firefox: a code flow, no mail.
    let laptop = Browser::with_user_agent(FIREFOX);
    app_tokens(&base, &laptop, &rp, "openid").await;
    let account = laptop.get(&server.url(routes::ACCOUNT)).await;
    assert_eq!(account.status, 200, "{}", account.body);
    let line = between(&account.body, "<strong>This browser</strong>", "</li>");
    assert!(line.contains(">Firefox on Linux</span>"), "{line}");
    assert!(
        line.contains(r#"<span class="address">127.0.0.1</span>"#),
        "{line}"
    );
    assert!(
        line.contains(r#"Apps signed in through it: <span class="app">Photo Printer</span>."#),
        "{line}"
    );
    // The whole user agent is there too, escaped.
    assert!(line.contains("Gecko/20100101 Firefox/133.0"), "{line}");

    // Firefox signs in again (prompt=login): a known browser, no mail.
    let pkce = crate::helpers::pkce();
    let url = crate::helpers::authorize_url(
        &base,
        &[
            ("response_type", "code"),
            ("client_id", rp.id.as_str()),
            ("redirect_uri", crate::refresh::CALLBACK),
            ("scope", "openid"),
            ("state", "st"),
            ("prompt", "login"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let again = sign_in(&laptop, &base, &url, "alice", PASSWORD).await;
    assert_eq!(again.status, 303, "{}", again.body);

    // The iPhone is new: alice is told, when, from where and with which browser. Mail
    // leaves in order, so the first mail is this one only if the two sign-ins above
    // sent none.
    let phone = Browser::with_user_agent(IPHONE);
    open_account(&phone, &base).await;
    let mail = mails
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the new-browser alert arrives");
    assert_eq!(mail.to, ["<alice@example.org>"]);
    let text = crate::mail::unquote(&mail.data);
    for part in [
        "A new sign-in to your account",
        "Safari on iPhone",
        "From: 127.0.0.1",
        "Sign out everywhere",
        &server.url(routes::ACCOUNT),
    ] {
        assert!(text.contains(part), "{part}:\n{text}");
    }
    assert!(!text.contains("Firefox"), "{text}");

    // The laptop's page lists the iPhone too, with no app of its own.
    let account = laptop.get(&server.url(routes::ACCOUNT)).await;
    let other = between(&account.body, "<strong>Another browser</strong>", "</li>");
    assert!(other.contains(">Safari on iPhone</span>"), "{other}");
    assert!(!other.contains("Apps signed in through it"), "{other}");
    assert!(mails.try_recv().is_err(), "one alert only");
}

crate::async_on_both_backends!(
    the_account_page_shows_where_each_browser_signed_in_and_a_new_one_is_mailed,
    changing_the_password_needs_the_current_one_and_signs_other_browsers_out,
    removing_an_apps_access_ends_its_refresh_token_and_asks_consent_again,
    signing_out_everywhere_ends_the_other_browser_and_its_refresh_tokens,
    the_account_page_signs_in_sets_up_the_app_and_shows_codes_once,
    a_stale_sign_in_is_sent_through_authorize_with_max_age_and_back,
    a_form_without_its_token_or_from_another_browser_is_refused,
    removing_the_app_needs_its_confirmation_and_takes_the_codes_along,
);
