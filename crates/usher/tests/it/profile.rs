//! The account page's Profile over HTTP and real SMTP (issue 15): the Profile form sets
//! name, preferred username, phone number and address, which ID tokens and userinfo
//! then carry under the `profile`, `phone` and `address` scopes and not without them; the
//! e-mail form mails a link to the NEW address and changes nothing until its button is
//! pressed; then the address switches, verified (`email_verified` follows), the old
//! address is told, and the link works once.

use serde_json::Value;
use usher_http::routes;

use crate::account::open_account;
use crate::helpers::{Backend, Browser, Sandbox};
use crate::mail::{smtp_server, unquote};
use crate::refresh::{CALLBACK, PASSWORD, Rp, claims, tokens};

const ALL_SCOPES: &str = "openid profile email phone address";

/// A first-party client that may ask for every scope of OIDC Core §5.4.
fn register(sandbox: &Sandbox) -> Rp {
    let c = sandbox.client(&[
        "--name",
        "Shop",
        "--redirect-uri",
        CALLBACK,
        "--grant-type",
        "authorization_code",
        "--scope",
        ALL_SCOPES,
        "--first-party",
    ]);
    Rp {
        id: c["client_id"].as_str().unwrap().to_owned(),
        secret: c["client_secret"].as_str().unwrap().to_owned(),
    }
}

async fn userinfo(base: &str, access_token: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{base}{}", routes::USERINFO))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// The ID token's claims and the userinfo answer for a new sign-in with `scope`.
async fn what_apps_get(base: &str, browser: &Browser, rp: &Rp, scope: &str) -> (Value, Value) {
    let t = tokens(base, browser, rp, scope).await;
    let id_token = claims(t["id_token"].as_str().unwrap());
    let info = userinfo(base, t["access_token"].as_str().unwrap()).await;
    (id_token, info)
}

/// The verification link in a mail's data.
fn verify_link(data: &str, issuer: &str) -> String {
    let text = unquote(data);
    let start = format!("{issuer}{}?token=", routes::VERIFY_EMAIL);
    let from = text
        .find(&start)
        .unwrap_or_else(|| panic!("no verification link in the mail:\n{text}"));
    text[from..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/?=.-_&%".contains(*c))
        .collect()
}

async fn the_profile_and_a_confirmed_new_address_reach_tokens_and_userinfo(backend: Backend) {
    let (port, mails) = smtp_server();
    let sandbox = Sandbox::on(backend)
        .env("USHER_SMTP_URL", &format!("smtp://127.0.0.1:{port}"))
        .env("USHER_MAIL_FROM", "Usher <no-reply@usher.test>");
    sandbox.user(
        "alice",
        PASSWORD,
        &["--email", "alice@example.org", "--email-verified"],
    );
    let server = sandbox.serve();
    let rp = register(&sandbox);
    let base = server.url("");
    let issuer = server.issuer.clone();
    // Discovery advertises the scopes and their claims.
    let discovery: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for scope in ["phone", "address"] {
        let listed = discovery["scopes_supported"].as_array().unwrap();
        assert!(listed.iter().any(|s| s == scope), "{discovery}");
    }
    for claim in [
        "preferred_username",
        "phone_number",
        "phone_number_verified",
        "address",
    ] {
        let listed = discovery["claims_supported"].as_array().unwrap();
        assert!(listed.iter().any(|c| c == claim), "{discovery}");
    }

    // One browser for the account page, one for the app's sign-ins.
    let browser = Browser::new();
    let app = Browser::new();

    // Before: the preferred username is the login name, and there is nothing for the
    // phone and address scopes to give.
    let (id_token, _) = what_apps_get(&base, &app, &rp, ALL_SCOPES).await;
    assert_eq!(id_token["preferred_username"], "alice", "{id_token}");
    assert!(id_token.get("phone_number").is_none(), "{id_token}");
    assert!(id_token.get("address").is_none(), "{id_token}");

    // The Profile form: every input labelled, values saved.
    let account = open_account(&browser, &base).await;
    for id in [
        "profile-name",
        "profile-preferred-username",
        "profile-phone",
        "profile-street",
        "profile-locality",
        "profile-region",
        "profile-postal-code",
        "profile-country",
        "new-email",
    ] {
        assert!(
            account.body.contains(&format!(r#"<label for="{id}">"#)),
            "no label for {id}: {}",
            account.body
        );
    }
    let profile = [
        ("name", "Alice Liddell"),
        ("preferred_username", "Ali"),
        ("phone_number", "+64 4 555 0100"),
        ("street_address", "1 Main St\r\nFlat 2"),
        ("locality", "Wellington"),
        ("region", ""),
        ("postal_code", "6011"),
        ("country", "New Zealand"),
    ];
    // A refused field: 400, the reason, and what was typed still in the form.
    let mut bad = profile;
    bad[2] = ("phone_number", "04 555 0100");
    let refused = browser
        .submit(&base, &account, routes::ACCOUNT_PROFILE, &bad)
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("Phone number:"), "{}", refused.body);
    assert!(
        refused.body.contains(r#"value="04 555 0100""#),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"value="Ali""#), "{}", refused.body);
    // The refused form's token was spent: a replay is refused.
    let replay = browser
        .submit(&base, &account, routes::ACCOUNT_PROFILE, &profile)
        .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    let saved = browser
        .submit(&base, &refused, routes::ACCOUNT_PROFILE, &profile)
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(
        saved.body.contains("Your profile was saved."),
        "{}",
        saved.body
    );
    assert!(
        saved.body.contains(r#"value="+6445550100""#),
        "{}",
        saved.body
    );

    // What apps get: each claim under its scope only.
    let (id_token, info) = what_apps_get(&base, &app, &rp, ALL_SCOPES).await;
    for claims in [&id_token, &info] {
        assert_eq!(claims["name"], "Alice Liddell", "{claims}");
        assert_eq!(claims["preferred_username"], "Ali", "{claims}");
        assert_eq!(claims["phone_number"], "+6445550100", "{claims}");
        assert_eq!(claims["phone_number_verified"], false, "{claims}");
        assert_eq!(
            claims["address"],
            serde_json::json!({
                "street_address": "1 Main St\nFlat 2",
                "locality": "Wellington",
                "postal_code": "6011",
                "country": "New Zealand",
            }),
            "{claims}"
        );
        assert_eq!(claims["email"], "alice@example.org", "{claims}");
        assert_eq!(claims["email_verified"], true, "{claims}");
    }
    let (id_token, info) = what_apps_get(&base, &app, &rp, "openid profile").await;
    for claims in [&id_token, &info] {
        assert_eq!(claims["preferred_username"], "Ali", "{claims}");
        for absent in ["phone_number", "phone_number_verified", "address", "email"] {
            assert!(claims.get(absent).is_none(), "{absent} in {claims}");
        }
    }
    let (id_token, info) = what_apps_get(&base, &app, &rp, "openid phone").await;
    for claims in [&id_token, &info] {
        assert_eq!(claims["phone_number"], "+6445550100", "{claims}");
        for absent in ["address", "name", "preferred_username"] {
            assert!(claims.get(absent).is_none(), "{absent} in {claims}");
        }
    }

    // The e-mail form: a link to the new address; nothing changes yet.
    let account = open_account_again(&browser, &base).await;
    let asked = browser
        .submit(
            &base,
            &account,
            routes::ACCOUNT_EMAIL,
            &[("email", "alice@new.example")],
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(asked.body.contains("A link was mailed"), "{}", asked.body);
    let mail =
        crate::mail::next_mail_but_browser_alerts(&mails).expect("the confirmation mail arrives");
    assert_eq!(mail.to, ["<alice@new.example>"]);
    let link = verify_link(&mail.data, &issuer).replacen(&issuer, &base, 1);
    let (id_token, _) = what_apps_get(&base, &app, &rp, "openid email").await;
    assert_eq!(id_token["email"], "alice@example.org", "{id_token}");
    assert_eq!(id_token["email_verified"], true, "{id_token}");

    // The link's button (in another browser: the link needs no session).
    let elsewhere = Browser::new();
    let page = elsewhere.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let done = elsewhere
        .submit(&base, &page, routes::VERIFY_EMAIL, &[])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("Your new e-mail address is confirmed"),
        "{}",
        done.body
    );
    let again = elsewhere
        .submit(&base, &page, routes::VERIFY_EMAIL, &[])
        .await;
    assert_eq!(again.status, 400, "the link works once: {}", again.body);

    // The old address is told, without a link.
    let alert = crate::mail::next_mail_but_browser_alerts(&mails).expect("the alert arrives");
    assert_eq!(alert.to, ["<alice@example.org>"]);
    let text = unquote(&alert.data);
    assert!(
        text.contains("Subject: The e-mail address of your account was changed"),
        "{text}"
    );
    assert!(!text.contains("token="), "{text}");

    // Tokens now carry the new address, verified.
    let (id_token, info) = what_apps_get(&base, &app, &rp, "openid email").await;
    for claims in [&id_token, &info] {
        assert_eq!(claims["email"], "alice@new.example", "{claims}");
        assert_eq!(claims["email_verified"], true, "{claims}");
    }

    // Nothing of the link reached the log.
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert!(
        server.log().iter().all(|line| !line.contains(&token)),
        "the token was logged"
    );
    server.stop();
}

/// The account page again, in a browser that is signed in already (the last form
/// spent the page's token; a fresh page has a new one).
async fn open_account_again(browser: &Browser, base: &str) -> crate::helpers::Page {
    let page = browser.get(&format!("{base}{}", routes::ACCOUNT)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

crate::async_on_both_backends!(the_profile_and_a_confirmed_new_address_reach_tokens_and_userinfo,);
