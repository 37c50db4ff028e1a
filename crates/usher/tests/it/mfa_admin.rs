//! The admin side of second factors (issue 14): `usher user show` lists a person's
//! authenticator app and unused recovery codes without any secret, and `usher user
//! mfa-reset` removes them, ends the person's sessions and revokes their refresh
//! families; an unknown person is refused and nothing is written. Factors are planted
//! through the store's `FactorStore`, since no HTTP path enrolls one yet.

use usher_domain::{FactorStore as _, TotpFactor, UnixTime, UserId};

use crate::helpers::{Backend, Browser, Sandbox};
use crate::refresh::{SCOPE, refresh, setup, tokens};

const SEALED: &str = "sealed-secret-never-shown";
const CODE_HASH: &str = "code-hash-never-shown";

fn plant_factors(sandbox: &Sandbox, user_id: &str) {
    let db = sandbox.database();
    let user = UserId::parse(user_id).unwrap();
    let factor = TotpFactor {
        user_id: user.clone(),
        sealed_secret: SEALED.to_owned(),
        created_at: UnixTime(1_800_000_000),
        last_used_step: None,
        confirmed: true,
    };
    assert!(db.insert_totp(&factor).unwrap());
    let hashes: Vec<String> = (0..3).map(|i| format!("{CODE_HASH}-{i}")).collect();
    db.replace_recovery_codes(&user, &hashes, UnixTime(1_800_000_000))
        .unwrap();
    db.spend_recovery_code(&user, &hashes[0], UnixTime(1_800_000_100))
        .unwrap();
}

fn alice_id(sandbox: &Sandbox) -> String {
    let shown = sandbox
        .usher(&["user", "show", "alice", "--json"], None)
        .json();
    shown["id"].as_str().unwrap().to_owned()
}

async fn show_lists_factors_and_mfa_reset_removes_them(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (server, rp) = setup(&sandbox);
    let id = alice_id(&sandbox);

    let none = sandbox
        .usher(&["user", "show", "alice", "--json"], None)
        .json();
    assert_eq!(
        none["second_factors"]["authenticator_app"],
        serde_json::Value::Null
    );
    assert_eq!(none["second_factors"]["recovery_codes_left"], 0);

    // Alice signed in (before she had a second factor, so with her password alone): a
    // session and a refresh family.
    let t = tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    assert_eq!(sandbox.count("sessions"), 1);

    plant_factors(&sandbox, &id);
    let shown = sandbox.usher(&["user", "show", "alice", "--json"], None);
    assert!(shown.ok(), "{}", shown.stderr());
    let json = shown.json();
    let app = &json["second_factors"]["authenticator_app"];
    assert_eq!(app["confirmed"], true);
    assert!(
        app["created_at"]
            .as_str()
            .unwrap()
            .starts_with("2027-01-15"),
        "{app}"
    );
    assert_eq!(json["second_factors"]["recovery_codes_left"], 2);
    let human = sandbox.usher(&["user", "show", "alice"], None);
    assert!(
        human.stdout().contains("authenticator:  confirmed"),
        "{}",
        human.stdout()
    );
    assert!(
        human.stdout().contains("recovery codes: 2 unused"),
        "{}",
        human.stdout()
    );
    for out in [
        shown.stdout(),
        human.stdout(),
        shown.stderr(),
        human.stderr(),
    ] {
        assert!(!out.contains(SEALED) && !out.contains(CODE_HASH), "{out}");
    }

    let reset = sandbox.usher(&["user", "mfa-reset", "alice", "--json"], None);
    assert!(reset.ok(), "{}", reset.stderr());
    let out = reset.json();
    assert_eq!(out["username"], "alice");
    assert_eq!(out["factors_removed"], 4, "one app and three codes");
    assert_eq!(out["sessions_ended"], 1);
    assert_eq!(out["families_revoked"], 1);
    assert!(!reset.stderr().contains(SEALED) && !reset.stderr().contains(CODE_HASH));
    assert_eq!(sandbox.count("totp_factors"), 0);
    assert_eq!(sandbox.count("recovery_codes"), 0);
    assert_eq!(sandbox.count("sessions"), 0);
    let (status, _) = refresh(&server.base, &rp, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    let reasons: Vec<_> = crate::refresh::families(&sandbox)
        .iter()
        .map(|f| f["revoked_reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        vec![serde_json::Value::from("user_sessions_revoked")]
    );

    let again = sandbox.usher(&["user", "mfa-reset", "alice"], None);
    assert!(again.ok(), "{}", again.stderr());
    assert!(
        again.stdout().contains("removed 0 second factor(s)"),
        "{}",
        again.stdout()
    );
}

async fn unknown_or_bad_usernames_are_refused_and_nothing_is_written(backend: Backend) {
    let sandbox = Sandbox::with_test_db(backend);
    let (_server, _rp) = setup(&sandbox);
    let id = alice_id(&sandbox);
    plant_factors(&sandbox, &id);
    let before = (
        sandbox.count("totp_factors"),
        sandbox.count("recovery_codes"),
    );

    let missing = sandbox.usher(&["user", "mfa-reset", "bob", "--json"], None);
    assert!(!missing.ok());
    assert!(
        missing.stderr().contains("no user bob"),
        "{}",
        missing.stderr()
    );
    let bad = sandbox.usher(&["user", "mfa-reset", "not a username"], None);
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr());
    let shown = sandbox.usher(&["user", "show", "bob"], None);
    assert!(!shown.ok());
    assert_eq!(
        (
            sandbox.count("totp_factors"),
            sandbox.count("recovery_codes")
        ),
        before
    );
}

crate::async_on_both_backends!(
    show_lists_factors_and_mfa_reset_removes_them,
    unknown_or_bad_usernames_are_refused_and_nothing_is_written,
);
