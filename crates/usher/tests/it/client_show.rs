//! `usher client show` says what PKCE means for each client: required or optional for a
//! client of the authorization code flow, and not applicable to a `client_credentials`
//! service, which never runs that flow (issue 20: it used to say `pkce: required`).

use crate::helpers::{Backend, Sandbox};

#[test]
fn client_show_says_pkce_does_not_apply_to_a_client_credentials_service() {
    let sandbox = Sandbox::on(Backend::Sqlite);
    let service = sandbox.client(&[
        "--name",
        "Billing",
        "--grant-type",
        "client_credentials",
        "--scope",
        "invoices:read",
        "--audience",
        "https://api.example.com",
    ]);
    assert_eq!(service["pkce_required"], serde_json::Value::Null);
    let id = service["client_id"].as_str().unwrap();

    let text = sandbox.usher(&["client", "show", id], None);
    assert!(text.ok(), "{}", text.stderr());
    let pkce = pkce_line(&text.stdout());
    assert_eq!(
        pkce,
        "does not apply (no authorization_code grant)",
        "{}",
        text.stdout()
    );
    let json = sandbox
        .usher(&["client", "show", id, "--json"], None)
        .json();
    assert_eq!(json["pkce_required"], serde_json::Value::Null, "{json}");
    assert_eq!(
        json["grant_types"],
        serde_json::json!(["client_credentials"])
    );
}

#[test]
fn client_show_says_whether_pkce_is_required_for_the_code_flow() {
    let sandbox = Sandbox::on(Backend::Sqlite);
    for (extra, required, said) in [
        (&[][..], true, "required"),
        (&["--pkce-optional"][..], false, "optional"),
    ] {
        let mut args = vec![
            "--name",
            "Web",
            "--redirect-uri",
            "https://app.example.com/callback",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "client_credentials",
            "--audience",
            "https://api.example.com",
        ];
        args.extend_from_slice(extra);
        let client = sandbox.client(&args);
        let id = client["client_id"].as_str().unwrap();
        let text = sandbox.usher(&["client", "show", id], None);
        assert_eq!(pkce_line(&text.stdout()), said, "{}", text.stdout());
        let json = sandbox
            .usher(&["client", "show", id, "--json"], None)
            .json();
        assert_eq!(json["pkce_required"], required, "{json}");
    }
}

/// The value of the `pkce:` line of `client show`.
fn pkce_line(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("pkce:"))
        .unwrap_or_else(|| panic!("no pkce line:\n{stdout}"))
        .trim()
        .to_owned()
}
