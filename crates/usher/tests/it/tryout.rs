//! `usher try sign-in` and `usher try client-credentials`, as the README shows them: a
//! person watches a flow work from the terminal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use usher_http::routes;

use crate::helpers::{Browser, Sandbox};

const PASSWORD: &str = "correct horse battery staple";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread")]
async fn try_sign_in_prints_the_id_token_access_token_and_refresh_family() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    let client = sandbox.client(&[
        "--name",
        "Try",
        "--redirect-uri",
        "http://127.0.0.1/callback",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile email offline_access",
    ]);
    sandbox.user("alice", PASSWORD, &["--email", "alice@example.com"]);
    let port = free_port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args([
            "try",
            "sign-in",
            "--client-id",
            client["client_id"].as_str().unwrap(),
            "--client-secret",
            client["client_secret"].as_str().unwrap(),
            "--port",
            &port,
            "--scope",
            "openid email offline_access",
            "--json",
        ])
        .env_clear()
        .env("USHER_ISSUER", &server.issuer)
        .current_dir(sandbox.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command prints the URL to open on stderr.
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.trim().strip_prefix("http") {
                let _ = tx.send(format!("http{url}"));
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the URL to open");
    assert!(
        url.starts_with(&format!("{}/authorize?", server.issuer)),
        "{url}"
    );

    let browser = Browser::new();
    let login = browser.get(&url).await;
    let consent = browser
        .submit(
            &server.base,
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    let back = browser
        .submit(
            &server.base,
            &consent,
            routes::CONSENT,
            &[("decision", "approve")],
        )
        .await;
    let callback = back
        .location
        .clone()
        .expect("a redirect to the try command");
    assert!(
        callback.starts_with(&format!("http://127.0.0.1:{port}/callback")),
        "{callback}"
    );
    let done = browser.get(&callback).await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Signed in"), "{}", done.body);

    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["id_token_claims"]["iss"], server.issuer.as_str());
    assert_eq!(report["id_token_claims"]["email"], "alice@example.com");
    assert_eq!(
        report["access_token_claims"]["client_id"],
        client["client_id"]
    );
    assert!(
        report["refresh_token_family"]
            .as_str()
            .is_some_and(|f| !f.is_empty()),
        "{report}"
    );
}

#[test]
fn try_client_credentials_prints_the_decoded_token() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve();
    let client = sandbox.client(&[
        "--name",
        "Billing",
        "--grant-type",
        "client_credentials",
        "--scope",
        "invoices:read",
        "--audience",
        "https://api.example.com",
    ]);
    let try_it = Sandbox::new().env("USHER_ISSUER", &server.issuer);
    let report = try_it
        .usher(
            &[
                "try",
                "client-credentials",
                "--client-id",
                client["client_id"].as_str().unwrap(),
                "--client-secret",
                client["client_secret"].as_str().unwrap(),
                "--resource",
                "https://api.example.com",
                "--json",
            ],
            None,
        )
        .json();
    assert_eq!(report["access_token_claims"]["sub"], client["client_id"]);
    assert_eq!(
        report["access_token_claims"]["aud"],
        "https://api.example.com"
    );
    assert_eq!(report["token_type"], "Bearer");

    // Issue 12, item 21: the secret can come from standard input, out of the process
    // list.
    let from_stdin = try_it
        .usher(
            &[
                "try",
                "client-credentials",
                "--client-id",
                client["client_id"].as_str().unwrap(),
                "--client-secret-stdin",
                "--resource",
                "https://api.example.com",
                "--json",
            ],
            Some(&format!("{}\n", client["client_secret"].as_str().unwrap())),
        )
        .json();
    assert_eq!(
        from_stdin["access_token_claims"]["sub"],
        client["client_id"]
    );

    let refused = try_it.usher(
        &[
            "try",
            "client-credentials",
            "--client-id",
            client["client_id"].as_str().unwrap(),
            "--client-secret",
            "wrong",
        ],
        None,
    );
    assert!(!refused.ok());
    assert!(
        refused.stderr().contains("invalid_client"),
        "{}",
        refused.stderr()
    );
}
