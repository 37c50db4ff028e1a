//! `usher upstream …` end to end (issue 18, docs/administration.md "Upstream
//! providers"): create prints the callback URL to register at the provider, list shows
//! the provider, the secret (read from standard input only) is stored sealed, update
//! changes fields and re-seals a new secret, delete removes the provider and the
//! identities linked through it, and bad input is refused with exit code 2 and nothing
//! written.

use usher_domain::{UnixTime, UpstreamId, UpstreamIdentity, UpstreamStore as _};

use crate::helpers::{Backend, Sandbox};
use crate::on_both_backends;
use crate::refresh::PASSWORD;

on_both_backends!(the_cli_manages_upstream_providers);

const SECRET: &str = "upstream-client-secret-8c1f";

fn sandbox(backend: Backend) -> Sandbox {
    Sandbox::with_test_db(backend).env("USHER_ISSUER", "https://id.example.test")
}

/// Runs `usher` and insists on success; its standard output.
fn ok(sandbox: &Sandbox, args: &[&str], stdin: Option<&str>) -> String {
    let run = sandbox.usher(args, stdin);
    assert!(run.ok(), "usher {args:?}: {}", run.stderr());
    run.stdout()
}

/// Runs `usher`, insists it is refused as bad input (exit code 2); its error text.
fn refused(sandbox: &Sandbox, args: &[&str], stdin: Option<&str>) -> String {
    let run = sandbox.usher(args, stdin);
    assert_eq!(run.code(), Some(2), "usher {args:?}: {}", run.stderr());
    run.stderr()
}

fn the_cli_manages_upstream_providers(backend: Backend) {
    let sandbox = sandbox(backend);
    let out = ok(
        &sandbox,
        &[
            "upstream",
            "create",
            "--name",
            "Google Workspace",
            "--issuer",
            "https://accounts.google.com",
            "--client-id",
            "usher.apps.example",
            "--client-secret-stdin",
        ],
        Some(&format!("{SECRET}\n")),
    );
    assert!(out.contains("created upstream google-workspace"), "{out}");
    assert!(
        out.contains("https://id.example.test/upstream/google-workspace/callback"),
        "{out}"
    );
    assert!(!out.contains(SECRET));

    // Stored sealed: not the secret, and opened with the KEK and the id only.
    let db = sandbox.database();
    let google = UpstreamId::parse("google-workspace").unwrap();
    let stored = db.get_upstream(&google).unwrap().unwrap();
    let sealed = stored.client_secret_sealed.clone().unwrap();
    assert!(!sealed.contains(SECRET));
    assert_eq!(stored.scope, "openid email profile");
    assert!(stored.enabled && stored.create_people && !stored.trusted_for_mfa);
    assert_eq!(
        sandbox.count("audit_events WHERE kind = 'upstream.created'"),
        1
    );
    assert_eq!(
        sandbox.count(&format!("audit_events WHERE detail LIKE '%{SECRET}%'")),
        0
    );

    // A plain OAuth 2.0 provider: its endpoints, its own scope and mapping, no secret.
    ok(
        &sandbox,
        &[
            "upstream",
            "create",
            "--id",
            "gh",
            "--name",
            "GitHub",
            "--issuer",
            "https://github.com",
            "--client-id",
            "Iv1.abc",
            "--scope",
            "read:user user:email",
            "--claim-mapping",
            "sub=id,username=login",
            "--authorization-endpoint",
            "https://github.com/login/oauth/authorize",
            "--token-endpoint",
            "https://github.com/login/oauth/access_token",
            "--userinfo-endpoint",
            "https://api.github.com/user",
            "--trusted-for-mfa",
            "--no-create-people",
            "--disabled",
        ],
        None,
    );
    let list = ok(&sandbox, &["upstream", "list"], None);
    assert!(
        list.contains(
            "google-workspace  Google Workspace  https://accounts.google.com  yes  no  yes"
        ),
        "{list}"
    );
    assert!(
        list.contains("gh  GitHub  https://github.com  no  yes  no"),
        "{list}"
    );
    let json = sandbox.usher(&["upstream", "list", "--json"], None).json();
    assert_eq!(json[0]["id"], "gh");
    assert_eq!(
        json[0]["claim_mapping"],
        "sub=id,username=login,name=name,email=email,email_verified=email_verified"
    );
    assert_eq!(json[0]["has_client_secret"], false);
    assert_eq!(json[1]["has_client_secret"], true);
    assert_eq!(
        json[1]["callback_url"],
        "https://id.example.test/upstream/google-workspace/callback"
    );
    assert!(!json.to_string().contains(SECRET));
    assert!(!json.to_string().contains(&sealed));

    // Update: fields change, a new secret is sealed anew.
    ok(
        &sandbox,
        &[
            "upstream",
            "update",
            "google-workspace",
            "--name",
            "Google",
            "--disable",
            "--trusted-for-mfa",
            "true",
            "--scope",
            "openid email",
            "--client-secret-stdin",
        ],
        Some("a-new-secret\n"),
    );
    let updated = db.get_upstream(&google).unwrap().unwrap();
    assert_eq!(updated.name, "Google");
    assert!(!updated.enabled && updated.trusted_for_mfa);
    assert_eq!(updated.scope, "openid email");
    let resealed = updated.client_secret_sealed.unwrap();
    assert_ne!(resealed, sealed);
    assert!(!resealed.contains("a-new-secret"));
    assert_eq!(updated.created_at, stored.created_at);
    assert_eq!(
        sandbox.count("audit_events WHERE kind = 'upstream.updated'"),
        1
    );

    // Bad input: refused, nothing written.
    let before = sandbox.count("upstreams");
    let events = sandbox.count("audit_events");
    let base = ["upstream", "create", "--name", "Bad", "--client-id", "c"];
    let with = |extra: &[&'static str]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let e = refused(
        &sandbox,
        &with(&["--issuer", "https://x.example", "--id", "Not An Id"]),
        None,
    );
    assert!(e.contains("upstream id"), "{e}");
    let e = refused(&sandbox, &with(&["--issuer", "http://idp.example"]), None);
    assert!(e.contains("https"), "{e}");
    let e = refused(
        &sandbox,
        &with(&[
            "--issuer",
            "https://idp.example",
            "--scope",
            "email profile",
        ]),
        None,
    );
    assert!(e.contains("openid"), "{e}");
    let e = refused(
        &sandbox,
        &with(&[
            "--issuer",
            "https://idp.example",
            "--claim-mapping",
            "colour=red",
        ]),
        None,
    );
    assert!(e.contains("claim mapping"), "{e}");
    let e = refused(
        &sandbox,
        &with(&["--issuer", "https://idp.example", "--id", "gh"]),
        None,
    );
    assert!(e.contains("already exists"), "{e}");
    // An OpenID Connect upstream keeps openid; a plain OAuth 2.0 one needs none.
    let e = refused(
        &sandbox,
        &["upstream", "update", "google-workspace", "--scope", "email"],
        None,
    );
    assert!(e.contains("openid"), "{e}");
    refused(
        &sandbox,
        &["upstream", "update", "gh", "--issuer", "http://idp.example"],
        None,
    );
    assert_eq!(sandbox.count("upstreams"), before);
    assert_eq!(sandbox.count("audit_events"), events);
    let missing = sandbox.usher(&["upstream", "delete", "nobody"], None);
    assert_eq!(missing.code(), Some(1), "{}", missing.stderr());

    // Delete: the provider and its identities go, the person stays.
    let alice = sandbox.user("alice", PASSWORD, &[]);
    let alice_id = usher_domain::UserId::parse(alice["id"].as_str().unwrap()).unwrap();
    assert!(
        db.link_identity(&UpstreamIdentity {
            upstream: google.clone(),
            subject: "1234567890".into(),
            user_id: alice_id,
            created_at: UnixTime(1),
        })
        .unwrap()
    );
    let out = ok(&sandbox, &["upstream", "delete", "google-workspace"], None);
    assert!(out.contains("deleted upstream google-workspace"), "{out}");
    assert_eq!(db.get_upstream(&google).unwrap(), None);
    assert_eq!(sandbox.count("upstream_identities"), 0);
    assert_eq!(sandbox.count("users WHERE username = 'alice'"), 1);
    assert_eq!(
        sandbox.count("audit_events WHERE kind = 'upstream.deleted'"),
        1
    );
}
