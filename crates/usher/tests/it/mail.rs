//! Mail over real SMTP (issue 15): the test runs a small SMTP server of its own (it
//! speaks the protocol: greeting, EHLO, MAIL FROM, RCPT TO, DATA, QUIT) and points
//! `usher serve` at it with `USHER_SMTP_URL`. "Forgot your password?" mails a link; the
//! link opens a form that sets a new password; the old password then fails and the new
//! one works; the link fails a second time; an unknown address gets the same answer and
//! no mail.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use usher_http::routes;

use crate::helpers::{Backend, Browser, Sandbox, sign_in};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// One mail the SMTP server took: envelope and data.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) data: String,
}

/// The next mail (within 30 s) that is not a new-browser alert: a test that signs one
/// person in from several browsers gets those alerts too, in an order of their own.
pub(crate) fn next_mail_but_browser_alerts(
    mails: &Receiver<Received>,
) -> Result<Received, mpsc::RecvTimeoutError> {
    loop {
        let mail = mails.recv_timeout(std::time::Duration::from_secs(30))?;
        if !mail.data.contains("Subject: A new sign-in to your account") {
            return Ok(mail);
        }
    }
}

/// Starts the SMTP server on a free loopback port; returns its port and the mails.
pub(crate) fn smtp_server() -> (u16, Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = converse(stream, &tx);
            });
        }
    });
    (port, rx)
}

/// One SMTP session (RFC 5321), as a minimal server speaks it.
fn converse(stream: TcpStream, tx: &mpsc::Sender<Received>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    let mut say = |text: &str| out.write_all(format!("{text}\r\n").as_bytes());
    say("220 test-smtp ESMTP ready")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            say("250-test-smtp greets you")?;
            say("250 8BITMIME")?;
        } else if upper.starts_with("HELO") {
            say("250 test-smtp")?;
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().to_owned();
            to.clear();
            say("250 OK")?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_owned());
            say("250 OK")?;
        } else if upper == "DATA" {
            say("354 end data with <CR><LF>.<CR><LF>")?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // Dot-stuffing (RFC 5321 §4.5.2).
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let _ = tx.send(Received {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            say("250 OK queued")?;
        } else if upper == "QUIT" {
            say("221 bye")?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            say("250 OK")?;
        } else {
            say("502 command not implemented")?;
        }
    }
}

/// Decodes quoted-printable soft line breaks and `=XX` escapes (enough for a link).
pub(crate) fn unquote(data: &str) -> String {
    let joined = data.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The reset link in a mail's data.
fn reset_link(data: &str, issuer: &str) -> String {
    let text = unquote(data);
    let start = format!("{issuer}{}?token=", routes::PASSWORD_RESET);
    let from = text
        .find(&start)
        .unwrap_or_else(|| panic!("no reset link in the mail:\n{text}"));
    text[from..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ":/?=.-_&%".contains(*c))
        .collect()
}

/// Whether `password` signs alice in (through the account page's sign-in).
async fn signs_in(base: &str, password: &str) -> bool {
    let browser = Browser::new();
    let first = browser.get(&format!("{base}{}", routes::ACCOUNT)).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let to_authorize = first.location.clone().unwrap();
    let page = sign_in(&browser, base, &to_authorize, "alice", password).await;
    page.status == 303
}

async fn ask_for_a_link(base: &str, email: &str) -> String {
    let browser = Browser::new();
    let form = browser
        .get(&format!("{base}{}", routes::PASSWORD_FORGOT))
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    let answer = browser
        .submit(base, &form, routes::PASSWORD_FORGOT, &[("email", email)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn a_mailed_link_resets_the_password_once(backend: Backend) {
    let (port, mails) = smtp_server();
    let sandbox = Sandbox::on(backend)
        .env("USHER_SMTP_URL", &format!("smtp://127.0.0.1:{port}"))
        .env("USHER_MAIL_FROM", "Usher <no-reply@usher.test>");
    sandbox.user(
        "alice",
        PASSWORD,
        &["--email", "alice@example.org", "--email-verified"],
    );
    sandbox.user("bob", PASSWORD, &["--email", "bob@example.org"]);
    let server = sandbox.serve();
    let base = server.url("");
    let issuer = server.issuer.clone();

    // The sign-in page offers the way.
    let browser = Browser::new();
    let first = browser.get(&format!("{base}{}", routes::ACCOUNT)).await;
    let login = browser.get(first.location.as_deref().unwrap()).await;
    assert!(
        login
            .body
            .contains(&format!("href=\"{}\"", routes::PASSWORD_FORGOT)),
        "{}",
        login.body
    );

    // An unknown address and an unverified one get the same answer as a known one, and
    // no mail.
    let unknown = ask_for_a_link(&base, "nobody@example.org").await;
    let unverified = ask_for_a_link(&base, "bob@example.org").await;
    let known = ask_for_a_link(&base, "Alice@Example.org").await;
    assert_eq!(unknown, known);
    assert_eq!(unverified, known);
    let mail = mails
        .recv_timeout(Duration::from_secs(30))
        .expect("the reset mail arrives");
    assert_eq!(mail.from, "<no-reply@usher.test>");
    assert_eq!(mail.to, ["<alice@example.org>"]);
    assert!(
        mail.data.contains("Subject: Reset your password"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("multipart/alternative"), "{}", mail.data);
    std::thread::sleep(Duration::from_millis(500));
    assert!(mails.try_recv().is_err(), "only alice gets mail");

    // The link opens the form; the form sets the new password.
    let link = reset_link(&mail.data, &issuer);
    let link = link.replacen(&issuer, &base, 1);
    let browser = Browser::new();
    let form = browser.get(&link).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(form.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(form.header("cache-control"), Some("no-store"));
    let done = browser
        .submit(
            &base,
            &form,
            routes::PASSWORD_RESET,
            &[("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("Your password was changed"),
        "{}",
        done.body
    );

    assert!(!signs_in(&base, PASSWORD).await, "the old password fails");
    assert!(
        signs_in(&base, NEW_PASSWORD).await,
        "the new password works"
    );

    // The link works once.
    let again = Browser::new().get(&link).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("This link does not work"));
    let replay = browser
        .submit(
            &base,
            &form,
            routes::PASSWORD_RESET,
            &[
                ("password", "yet another one"),
                ("confirm", "yet another one"),
            ],
        )
        .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(signs_in(&base, NEW_PASSWORD).await);

    // Nothing of the link reached the log.
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert!(
        server.log().iter().all(|line| !line.contains(&token)),
        "the token was logged"
    );
    server.stop();
}

async fn without_a_mail_server_mail_is_logged_with_its_link_redacted(backend: Backend) {
    let sandbox = Sandbox::on(backend);
    sandbox.user(
        "alice",
        PASSWORD,
        &["--email", "alice@example.org", "--email-verified"],
    );
    let server = sandbox.serve();
    let base = server.url("");
    ask_for_a_link(&base, "alice@example.org").await;
    let logged: Vec<String> = server
        .log_with("mail_not_sent")
        .into_iter()
        .filter(|l| l.contains("mail_not_sent"))
        .collect();
    assert_eq!(logged.len(), 1, "{:?}", server.log());
    assert!(logged[0].contains("[link redacted]"), "{}", logged[0]);
    assert!(!logged[0].contains("token="), "{}", logged[0]);
    server.stop();
}

/// Opening a verification link (as a mail scanner does) only shows a confirm button that
/// posts the token; a made-up or malformed token is refused on both.
#[tokio::test(flavor = "multi_thread")]
async fn opening_a_verification_link_changes_nothing_until_its_button_is_pressed() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    let server = sandbox.serve();
    let browser = Browser::new();
    let token = "A".repeat(43);
    let page = browser
        .get(&server.url(&format!("{}?token={token}", routes::VERIFY_EMAIL)))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has_form(routes::VERIFY_EMAIL), "{}", page.body);
    assert!(page.body.contains(&token), "{}", page.body);
    let pressed = browser
        .submit(&server.base, &page, routes::VERIFY_EMAIL, &[])
        .await;
    assert_eq!(pressed.status, 400, "an unknown link: {}", pressed.body);
    let junk = browser
        .get(&server.url(&format!("{}?token=%3Cb%3E", routes::VERIFY_EMAIL)))
        .await;
    assert_eq!(junk.status, 400, "{}", junk.body);
}

crate::async_on_both_backends!(
    a_mailed_link_resets_the_password_once,
    without_a_mail_server_mail_is_logged_with_its_link_redacted,
);
