//! The key-encryption key (issue 12, item 17): admin commands never create one and never
//! write under the wrong one, and `usher kek rotate` changes it with every signing key
//! and client secret still working.

use serde_json::Value;
use usher_domain::KeyStore as _;
use usher_http::routes;
use usher_keys::{Kek, KeyRing};

use crate::helpers::{Backend, Sandbox, http};

/// A confidential `client_credentials` client; (id, secret).
fn service(sandbox: &Sandbox) -> (String, String) {
    let c = sandbox.client(&[
        "--name",
        "Billing",
        "--grant-type",
        "client_credentials",
        "--audience",
        "https://api.example.com",
    ]);
    (
        c["client_id"].as_str().unwrap().to_owned(),
        c["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// A `client_credentials` token request; (status, body).
fn token(base: &str, id: &str, secret: &str) -> (u16, Value) {
    let r = http()
        .post(format!("{base}{}", routes::TOKEN))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn kid_of(token: &str) -> String {
    crate::helpers::jwt_parts(token).0["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn read_kek(sandbox: &Sandbox, relative: &str) -> Kek {
    Kek::read_file(&sandbox.path().join(relative))
        .unwrap()
        .expect("a KEK file")
}

#[test]
fn admin_commands_with_a_missing_or_wrong_kek_fail_and_write_nothing() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    sandbox.serve().stop();
    assert_eq!(sandbox.count("signing_keys"), 1);
    let kek_before = std::fs::read(sandbox.path().join("keys/kek")).unwrap();

    // The same database, from a directory without the KEK (the path does not exist).
    let sandbox_missing = Sandbox::new()
        .env(
            "USHER_DATABASE_URL",
            &sandbox.env_value("USHER_DATABASE_URL").unwrap(),
        )
        .env("USHER_KEK_FILE", "elsewhere/kek");
    for (args, stdin) in [
        (
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--grant-type",
                "client_credentials",
                "--audience",
                "https://api.example.com",
            ],
            None,
        ),
        (vec!["keys", "rotate", "--now"], None),
        (vec!["keys", "rotate"], None),
        (
            vec!["user", "create", "--username", "bob", "--password-stdin"],
            Some("a long passphrase\n"),
        ),
    ] {
        let run = sandbox_missing.usher(&args, stdin);
        assert!(!run.ok(), "{args:?} must fail without its KEK");
        let err = run.stderr();
        assert!(
            err.contains("elsewhere/kek") && err.contains("USHER_KEK_FILE"),
            "{args:?}: the message names where it looked and the setting: {err}"
        );
        assert!(err.contains("Nothing was written"), "{err}");
    }
    assert!(
        !sandbox_missing.path().join("elsewhere").exists(),
        "no KEK file was created"
    );
    assert!(
        !sandbox_missing.path().join("data").exists(),
        "no database was created either"
    );

    // A KEK that exists but is not the database's.
    let wrong = Sandbox::new()
        .env(
            "USHER_DATABASE_URL",
            &sandbox.env_value("USHER_DATABASE_URL").unwrap(),
        )
        .env("USHER_KEK", &Kek::generate().unwrap().to_base64());
    for args in [
        vec![
            "client",
            "create",
            "--name",
            "x",
            "--grant-type",
            "client_credentials",
            "--audience",
            "https://api.example.com",
        ],
        vec!["keys", "rotate", "--now"],
    ] {
        let run = wrong.usher(&args, None);
        assert!(!run.ok(), "{args:?} must fail with another KEK");
        assert!(
            run.stderr()
                .contains("does not open the active signing key"),
            "{}",
            run.stderr()
        );
    }
    // And `serve` on a database that has keys does not make a new KEK either.
    let serve_missing = Sandbox::new()
        .env(
            "USHER_DATABASE_URL",
            &sandbox.env_value("USHER_DATABASE_URL").unwrap(),
        )
        .env("USHER_KEK_FILE", "elsewhere/kek");
    assert!(serve_missing.try_serve().is_err());
    assert!(!serve_missing.path().join("elsewhere").exists());

    assert_eq!(sandbox.count("clients"), 0, "no client was written");
    assert_eq!(sandbox.count("users"), 0, "no person was written");
    assert_eq!(sandbox.count("signing_keys"), 1, "no key was written");
    assert_eq!(
        std::fs::read(sandbox.path().join("keys/kek")).unwrap(),
        kek_before
    );
    // With the right KEK, the same command works.
    service(&sandbox);
}

#[test]
fn kek_rotate_reseals_every_key_and_keeps_client_secrets_and_the_signing_key() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    let old_kek = read_kek(&sandbox, "keys/kek");
    let before = sandbox.serve();
    let (id, secret) = service(&sandbox);
    let (status, body) = token(&before.base, &id, &secret);
    assert_eq!(status, 200, "{body}");
    let kid = kid_of(body["access_token"].as_str().unwrap());
    let run = sandbox.usher(&["keys", "rotate"], None);
    assert!(run.ok(), "{}", run.stderr());
    assert_eq!(sandbox.count("signing_keys"), 2, "an active and a next key");

    // Without the previous KEK named, the command explains what it needs.
    let run = sandbox.usher(&["kek", "rotate"], None);
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("USHER_KEK_PREVIOUS_FILE"));

    // Roll: every node gets the new KEK with the old one as previous, then rotate.
    let new_kek = Kek::generate().unwrap();
    sandbox.write_kek("keys/kek.new", &new_kek);
    sandbox.write_kek("keys/kek.old", &old_kek);
    let rolling = Sandbox::new()
        .env(
            "USHER_DATABASE_URL",
            &sandbox.env_value("USHER_DATABASE_URL").unwrap(),
        )
        .env(
            "USHER_KEK_FILE",
            sandbox.path().join("keys/kek.new").to_str().unwrap(),
        )
        .env(
            "USHER_KEK_PREVIOUS_FILE",
            sandbox.path().join("keys/kek.old").to_str().unwrap(),
        );
    let during = rolling.serve();
    let (status, body) = token(&during.base, &id, &secret);
    assert_eq!(status, 200, "a rolling node verifies the secret: {body}");
    let out = rolling.usher(&["kek", "rotate", "--json"], None).json();
    assert_eq!(out["signing_keys_resealed"], 2, "{out}");
    assert_eq!(out["hashing_key_resealed"], true, "{out}");
    // Online: the nodes still running keep answering.
    assert_eq!(token(&before.base, &id, &secret).0, 200);
    assert_eq!(token(&during.base, &id, &secret).0, 200);
    // Repeating it is harmless.
    let again = rolling.usher(&["kek", "rotate", "--json"], None).json();
    assert_eq!(again["signing_keys_resealed"], 0, "{again}");
    before.stop();
    during.stop();

    // A node with only the new KEK: same key, same client secrets.
    let after = Sandbox::new()
        .env(
            "USHER_DATABASE_URL",
            &sandbox.env_value("USHER_DATABASE_URL").unwrap(),
        )
        .env(
            "USHER_KEK_FILE",
            sandbox.path().join("keys/kek.new").to_str().unwrap(),
        );
    let server = after.serve();
    let (status, body) = token(&server.base, &id, &secret);
    assert_eq!(status, 200, "the old client secret still verifies: {body}");
    assert_eq!(
        kid_of(body["access_token"].as_str().unwrap()),
        kid,
        "the same key signs"
    );
    assert_eq!(token(&server.base, &id, "wrong").0, 401);
    // New secrets work too.
    let (id2, secret2) = service(&after);
    assert_eq!(token(&server.base, &id2, &secret2).0, 200);

    // The old KEK opens nothing any more: not the keys, not an admin command.
    let db = sandbox_db(&sandbox);
    let records = db.list_keys().unwrap();
    assert!(KeyRing::from_records(&records, &old_kek).is_err());
    assert!(KeyRing::from_records(&records, &new_kek).is_ok());
    for k in &records {
        assert!(
            old_kek
                .decrypt(&k.private_key_encrypted, k.kid.as_bytes())
                .is_err()
        );
    }
    let run = sandbox.usher(&["client", "list"], None);
    assert!(!run.ok(), "the old KEK is refused: {}", run.stdout());
    assert!(server.log().iter().all(|l| !l.contains(&secret)));
}

fn sandbox_db(sandbox: &Sandbox) -> usher_store::Database {
    usher_store::Database::connect(&sandbox.env_value("USHER_DATABASE_URL").unwrap()).unwrap()
}

/// Many admin commands at once on a new database each store the hashing key only if it
/// is not there yet: one value wins, and every secret any of them wrote verifies. Then
/// several `kek rotate` at once leave everything under the new KEK.
#[test]
fn concurrent_first_commands_and_concurrent_rotations_agree_on_one_hashing_key() {
    let sandbox = Sandbox::with_test_db(Backend::Postgres);
    assert!(sandbox.usher(&["migrate"], None).ok());
    let clients: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6).map(|_| s.spawn(|| service(&sandbox))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sandbox.count("sealed_values"), 1);

    let new_kek = Kek::generate().unwrap();
    sandbox.write_kek("keys/kek.new", &new_kek);
    let old_kek = read_kek(&sandbox, "keys/kek");
    sandbox.write_kek("keys/kek.old", &old_kek);
    let rolling = Sandbox::new()
        .env(
            "USHER_DATABASE_URL",
            &sandbox.env_value("USHER_DATABASE_URL").unwrap(),
        )
        .env(
            "USHER_KEK_FILE",
            sandbox.path().join("keys/kek.new").to_str().unwrap(),
        )
        .env(
            "USHER_KEK_PREVIOUS_FILE",
            sandbox.path().join("keys/kek.old").to_str().unwrap(),
        );
    let server = rolling.serve();
    for (id, secret) in &clients {
        assert_eq!(token(&server.base, id, secret).0, 200);
    }
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| rolling.usher(&["kek", "rotate", "--json"], None)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        assert!(
            run.ok() || run.stderr().contains("run the command again"),
            "{}",
            run.stderr()
        );
    }
    let last = rolling.usher(&["kek", "rotate", "--json"], None).json();
    assert_eq!(last["signing_keys_resealed"], 0, "{last}");
    assert_eq!(last["hashing_key_resealed"], false, "{last}");
    server.stop();

    let after = Sandbox::new()
        .env(
            "USHER_DATABASE_URL",
            &sandbox.env_value("USHER_DATABASE_URL").unwrap(),
        )
        .env(
            "USHER_KEK_FILE",
            sandbox.path().join("keys/kek.new").to_str().unwrap(),
        );
    let server = after.serve();
    for (id, secret) in &clients {
        assert_eq!(token(&server.base, id, secret).0, 200);
    }
}
