//! Sign-up and invitations end to end (issue 15), with the small SMTP server of
//! `it::mail`: `usher user invite` mails a link, the link opens the form with the
//! address fixed, the form creates the person (address verified), and an app's ID token
//! says `email_verified: true`; the link works once. Open sign-up creates a person whose
//! address is unverified until the mailed link is used, and a taken address gets the
//! same answer, a mail to its owner and no account. Off: no route, no link, no invite.

use usher_http::routes;

use crate::helpers::{Backend, Browser, Sandbox};
use crate::mail::{smtp_server, unquote};
use crate::refresh::{PASSWORD, SCOPE, claims, exchange, register, sign_in_as};

/// The part of a mailed link from `path` on (the CLI's issuer need not be the running
/// server's address).
fn mailed_path(data: &str, path: &str) -> String {
    let text = unquote(data);
    let from = text
        .find(path)
        .unwrap_or_else(|| panic!("no {path} link in the mail:\n{text}"));
    text[from..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/?=.-_&%".contains(*c))
        .collect()
}

fn smtp_sandbox(
    backend: Backend,
    mode: &str,
) -> (Sandbox, std::sync::mpsc::Receiver<crate::mail::Received>) {
    let (port, mails) = smtp_server();
    let sandbox = Sandbox::with_test_db(backend)
        .env("USHER_SMTP_URL", &format!("smtp://127.0.0.1:{port}"))
        .env("USHER_MAIL_FROM", "Usher <no-reply@usher.test>")
        .env("USHER_SIGNUP", mode);
    (sandbox, mails)
}

/// The `email_verified` and `email` claims of `username`'s ID token, after a sign-in
/// through the forms in a new browser.
async fn id_token_email(base: &str, rp: &crate::refresh::Rp, username: &str) -> (bool, String) {
    let browser = Browser::new();
    let (code, verifier) = sign_in_as(base, &browser, rp, SCOPE, username, &[]).await;
    let (status, body) = exchange(base, rp, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let id = claims(body["id_token"].as_str().unwrap());
    (
        id["email_verified"].as_bool().unwrap(),
        id["email"].as_str().unwrap().to_owned(),
    )
}

async fn an_invitation_creates_one_verified_person(backend: Backend) {
    let (sandbox, mails) = smtp_sandbox(backend, "invite");
    let made = sandbox.usher(
        &[
            "user",
            "invite",
            "--email",
            "newcomer@example.org",
            "--name",
            "New Comer",
            "--expires-in",
            "2d",
        ],
        None,
    );
    assert!(made.ok(), "{}", made.stderr());
    assert!(
        made.stdout()
            .contains("invitation mailed to newcomer@example.org"),
        "{}",
        made.stdout()
    );
    assert!(
        !made.stdout().contains("invite="),
        "no --print-link: no link"
    );
    let mail = crate::mail::next_mail_but_browser_alerts(&mails).expect("the invitation arrives");
    assert_eq!(mail.to, ["<newcomer@example.org>"]);
    assert!(
        mail.data
            .contains("Subject: You are invited to create an account"),
        "{}",
        mail.data
    );
    assert_eq!(sandbox.count("invitations"), 1);

    let server = sandbox.serve();
    let base = server.url("");
    let rp = register(&sandbox);
    let link = format!(
        "{base}{}",
        mailed_path(&mail.data, &format!("{}?invite=", routes::SIGNUP))
    );
    let browser = Browser::new();
    let form = browser.get(&link).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(form.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(form.header("cache-control"), Some("no-store"));
    assert!(form.body.contains("newcomer@example.org"), "{}", form.body);
    assert!(form.body.contains("New Comer"), "the name is prefilled");
    let done = browser
        .submit(
            &base,
            &form,
            routes::SIGNUP,
            &[
                ("username", "newcomer"),
                ("name", "New Comer"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Your account is ready"), "{}", done.body);
    assert_eq!(sandbox.count("users WHERE username = 'newcomer'"), 1);

    // The link works once.
    let again = Browser::new().get(&link).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("This invitation does not work"));

    // The new person signs in; the app is told the address is verified.
    let (verified, email) = id_token_email(&base, &rp, "newcomer").await;
    assert!(verified);
    assert_eq!(email, "newcomer@example.org");

    // Nothing of the link reached the log.
    let token = link.split("invite=").nth(1).unwrap().to_owned();
    assert!(
        server.log().iter().all(|line| !line.contains(&token)),
        "the token was logged"
    );
    server.stop();
}

async fn open_sign_up_verifies_by_mail_and_keeps_a_taken_address_secret(backend: Backend) {
    let (sandbox, mails) = smtp_sandbox(backend, "open");
    sandbox.user(
        "alice",
        PASSWORD,
        &["--email", "alice@example.org", "--email-verified"],
    );
    let server = sandbox.serve();
    let base = server.url("");
    let rp = register(&sandbox);

    // The sign-in page offers it.
    let browser = Browser::new();
    let first = browser.get(&format!("{base}{}", routes::ACCOUNT)).await;
    let login = browser.get(first.location.as_deref().unwrap()).await;
    assert!(
        login.body.contains(&format!(
            "href=\"{}\" id=\"create-account\"",
            routes::SIGNUP
        )),
        "{}",
        login.body
    );

    let sign_up = |username: &'static str, email: &'static str| {
        let base = base.clone();
        async move {
            let browser = Browser::new();
            let form = browser.get(&format!("{base}{}", routes::SIGNUP)).await;
            assert_eq!(form.status, 200, "{}", form.body);
            browser
                .submit(
                    &base,
                    &form,
                    routes::SIGNUP,
                    &[
                        ("username", username),
                        ("email", email),
                        ("password", PASSWORD),
                        ("confirm", PASSWORD),
                    ],
                )
                .await
        }
    };
    let created = sign_up("zed", "zed@example.org").await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("Check your mail"), "{}", created.body);
    let mail =
        crate::mail::next_mail_but_browser_alerts(&mails).expect("the verification mail arrives");
    assert_eq!(mail.to, ["<zed@example.org>"]);

    // Signed up, not verified yet.
    let (verified, _) = id_token_email(&base, &rp, "zed").await;
    assert!(!verified, "email_verified is false until the link is used");
    let link = format!(
        "{base}{}",
        mailed_path(&mail.data, &format!("{}?token=", routes::VERIFY_EMAIL))
    );
    let page = Browser::new().get(&link).await;
    let pressed = Browser::new()
        .submit(&base, &page, routes::VERIFY_EMAIL, &[])
        .await;
    assert_eq!(pressed.status, 200, "{}", pressed.body);
    let (verified, _) = id_token_email(&base, &rp, "zed").await;
    assert!(verified, "email_verified is true once the link is used");

    // A taken address: the same page, an account all the same (its address unverified,
    // so that its username cannot tell the cases apart), a mail to the address instead
    // of a link.
    let taken = sign_up("mallory", "Alice@example.org").await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(
        taken.body.replace("mallory", ""),
        created.body.replace("zed", "")
    );
    assert_eq!(
        sandbox.count("users WHERE username = 'mallory' AND NOT email_verified"),
        1
    );
    let told = crate::mail::next_mail_but_browser_alerts(&mails).expect("the owner is told");
    assert_eq!(told.to, ["<Alice@example.org>"]);
    assert!(
        told.data
            .contains("Subject: Someone tried to create an account with your address"),
        "{}",
        told.data
    );
    assert!(unquote(&told.data).contains(routes::PASSWORD_FORGOT));

    // A taken username is said (for the one whose address was taken too).
    let again = sign_up("mallory", "other@example.org").await;
    assert_eq!(again.status, 400, "{}", again.body);
    let clash = sign_up("alice", "other@example.org").await;
    assert_eq!(clash.status, 400, "{}", clash.body);
    assert!(
        clash.body.contains("This username is taken"),
        "{}",
        clash.body
    );
    server.stop();
}

/// Off (the default): no route, no link on the sign-in page, no invitation.
#[tokio::test(flavor = "multi_thread")]
async fn with_sign_up_off_nothing_answers_and_nothing_is_offered() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    let refused = sandbox.usher(
        &["user", "invite", "--email", "x@example.org", "--print-link"],
        None,
    );
    assert!(!refused.ok());
    assert!(
        refused.stderr().contains("sign-up is off"),
        "{}",
        refused.stderr()
    );
    let server = sandbox.serve();
    assert_eq!(sandbox.count("invitations"), 0);
    let base = server.url("");
    let browser = Browser::new();
    for url in [
        format!("{base}{}", routes::SIGNUP),
        format!("{base}{}?invite={}", routes::SIGNUP, "A".repeat(43)),
    ] {
        assert_eq!(browser.get(&url).await.status, 404, "{url}");
    }
    let post = browser
        .post_form(
            &format!("{base}{}", routes::SIGNUP),
            &[("username".into(), "zed".into())],
        )
        .await;
    assert_eq!(post.status, 404);
    let first = browser.get(&format!("{base}{}", routes::ACCOUNT)).await;
    let login = browser.get(first.location.as_deref().unwrap()).await;
    assert_eq!(login.status, 200);
    assert!(!login.body.contains("Create an account"), "{}", login.body);
    server.stop();
}

/// Without a mail server the link is only printed, with `--print-link`; without it the
/// command refuses and writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_mail_server_an_invitation_needs_print_link() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite).env("USHER_SIGNUP", "invite");
    let refused = sandbox.usher(&["user", "invite", "--email", "x@example.org"], None);
    assert!(!refused.ok());
    assert!(
        refused.stderr().contains("--print-link"),
        "{}",
        refused.stderr()
    );
    let made = sandbox.usher(
        &[
            "user",
            "invite",
            "--email",
            "x@example.org",
            "--print-link",
            "--json",
        ],
        None,
    );
    assert!(made.ok(), "{}", made.stderr());
    let out = made.json();
    assert_eq!(out["mailed"], false);
    assert!(
        out["link"].as_str().unwrap().contains("/signup?invite="),
        "{out}"
    );
    // One: the refused command wrote nothing.
    assert_eq!(sandbox.count("invitations"), 1);
    let bad = sandbox.usher(
        &[
            "user",
            "invite",
            "--email",
            "y@example.org",
            "--print-link",
            "--expires-in",
            "91d",
        ],
        None,
    );
    assert!(!bad.ok());
}

/// `usher user invitations` lists the live invitations without their links; `usher user
/// uninvite` revokes every invitation to an address, and its link stops working.
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_lists_and_revokes_invitations() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite).env("USHER_SIGNUP", "invite");
    let invite = |email: &str| {
        let made = sandbox.usher(
            &["user", "invite", "--email", email, "--print-link", "--json"],
            None,
        );
        assert!(made.ok(), "{}", made.stderr());
        made.json()["link"].as_str().unwrap().to_owned()
    };
    let first = invite("first@example.org");
    let second = invite("Second@example.org");
    let listed = sandbox.usher(&["user", "invitations", "--json"], None);
    assert!(listed.ok(), "{}", listed.stderr());
    let listed = listed.json();
    let mut emails: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    // Oldest first; both were made within one second here.
    emails.sort_by_key(|e| e.to_ascii_lowercase());
    assert_eq!(emails, ["first@example.org", "Second@example.org"]);
    let text = listed.to_string();
    for link in [&first, &second] {
        let token = link.split("invite=").nth(1).unwrap();
        assert!(!text.contains(token), "no link is listed: {text}");
    }
    let revoked = sandbox.usher(
        &[
            "user",
            "uninvite",
            "--email",
            "SECOND@example.org",
            "--json",
        ],
        None,
    );
    assert!(revoked.ok(), "{}", revoked.stderr());
    assert_eq!(revoked.json()["revoked"], 1);
    let human = sandbox.usher(&["user", "invitations"], None);
    assert!(
        human.stdout().contains("first@example.org"),
        "{}",
        human.stdout()
    );
    assert!(!human.stdout().contains("Second@"), "{}", human.stdout());
    let server = sandbox.serve();
    let browser = Browser::new();
    // The link's path on this server (the CLI's issuer is the configured one).
    let local = |link: &str| server.url(&link[link.find(routes::SIGNUP).unwrap()..]);
    assert_eq!(browser.get(&local(&second)).await.status, 400, "revoked");
    assert_eq!(browser.get(&local(&first)).await.status, 200, "still live");
    server.stop();
}

crate::async_on_both_backends!(
    an_invitation_creates_one_verified_person,
    open_sign_up_verifies_by_mail_and_keeps_a_taken_address_secret,
);
