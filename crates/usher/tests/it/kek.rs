//! The key-encryption key (issue 12, item 17): admin commands never create one and never
//! write under the wrong one, and `usher kek rotate` changes it with every signing key
//! and client secret still working.

use serde_json::Value;
use usher_domain::{
    FactorStore as _, KeyStore as _, TotpFactor, UnixTime, UserStore as _, Username,
};
use usher_http::routes;
use usher_keys::{FactorSealer, Kek, KeyRing, TotpSecret};

use crate::helpers::{Backend, Sandbox, http};
use crate::ops::service;

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
    assert_eq!(sandbox.count("signing_keys"), 3, "one key per algorithm");
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

    assert_eq!(
        sandbox.count("clients WHERE id <> 'usher-account'"),
        0,
        "no client was written"
    );
    assert_eq!(sandbox.count("users"), 0, "no person was written");
    assert_eq!(sandbox.count("signing_keys"), 3, "no key was written");
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
    assert_eq!(
        sandbox.count("signing_keys"),
        6,
        "an active and a next key of each algorithm"
    );

    // Without the previous KEK named, the command explains what it needs.
    let run = sandbox.usher(&["kek", "rotate"], None);
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("USHER_KEK_PREVIOUS_FILE"));

    // Roll: every node gets the new KEK with the old one as previous, then rotate.
    let new_kek = Kek::generate().unwrap();
    sandbox.write_kek("keys/kek.new", &new_kek);
    sandbox.write_kek("keys/kek.old", &old_kek);
    let rolling = node(&sandbox, "keys/kek.new", Some("keys/kek.old"));
    let during = rolling.serve();
    let (status, body) = token(&during.base, &id, &secret);
    assert_eq!(status, 200, "a rolling node verifies the secret: {body}");
    let out = rolling.usher(&["kek", "rotate", "--json"], None).json();
    assert_eq!(out["signing_keys_resealed"], 6, "{out}");
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
    let after = node(&sandbox, "keys/kek.new", None);
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

/// Authenticator-app secrets are sealed under a sub-key of the KEK (docs/design/mfa.md):
/// `kek rotate` re-seals them, so they open under the new KEK alone. No command enrolls
/// a factor yet, so the test plants one.
#[test]
fn kek_rotate_reseals_authenticator_app_secrets() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    let old_kek = read_kek(&sandbox, "keys/kek");
    service(&sandbox);
    let run = sandbox.usher(
        &["user", "create", "--username", "alice", "--password-stdin"],
        Some("a long passphrase\n"),
    );
    assert!(run.ok(), "{}", run.stderr());
    let db = sandbox_db(&sandbox);
    let alice = db
        .find_user(&Username::parse("alice").unwrap())
        .unwrap()
        .unwrap();
    let secret = TotpSecret::generate().unwrap();
    let sealed = FactorSealer::from_kek(&old_kek)
        .seal_totp(&alice.id, &secret)
        .unwrap();
    db.insert_totp(&TotpFactor {
        user_id: alice.id.clone(),
        sealed_secret: sealed,
        created_at: UnixTime(1),
        last_used_step: Some(7),
        confirmed: true,
    })
    .unwrap();

    let new_kek = Kek::generate().unwrap();
    sandbox.write_kek("keys/kek.new", &new_kek);
    sandbox.write_kek("keys/kek.old", &old_kek);
    let rolling = node(&sandbox, "keys/kek.new", Some("keys/kek.old"));
    let out = rolling.usher(&["kek", "rotate", "--json"], None).json();
    assert_eq!(out["totp_secrets_resealed"], 1, "{out}");
    let again = rolling.usher(&["kek", "rotate", "--json"], None).json();
    assert_eq!(again["totp_secrets_resealed"], 0, "{again}");
    assert_eq!(again["totp_secrets_already_sealed"], 1, "{again}");

    let stored = db.get_totp(&alice.id).unwrap().unwrap();
    assert_eq!(
        FactorSealer::from_kek(&new_kek)
            .open_totp(&alice.id, &stored.sealed_secret)
            .unwrap(),
        secret
    );
    assert!(
        FactorSealer::from_kek(&old_kek)
            .open_totp(&alice.id, &stored.sealed_secret)
            .is_err()
    );
    assert!(stored.confirmed);
    assert_eq!(stored.last_used_step, Some(7));
}

/// An upstream provider's client secret is re-sealed under the new KEK with the rest of
/// its row unchanged; a second run finds it already sealed.
#[test]
fn kek_rotate_reseals_upstream_client_secrets() {
    use usher_domain::{UpstreamId, UpstreamStore as _};
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    let old_kek = read_kek(&sandbox, "keys/kek");
    service(&sandbox);
    let run = sandbox.usher(
        &[
            "upstream",
            "create",
            "--name",
            "Corp",
            "--issuer",
            "https://idp.example",
            "--client-id",
            "usher",
            "--client-secret-stdin",
        ],
        Some("the upstream secret\n"),
    );
    assert!(run.ok(), "{}", run.stderr());
    let db = sandbox_db(&sandbox);
    let id = UpstreamId::parse("corp").unwrap();
    let before = db.get_upstream(&id).unwrap().unwrap();

    let new_kek = Kek::generate().unwrap();
    sandbox.write_kek("keys/kek.new", &new_kek);
    sandbox.write_kek("keys/kek.old", &old_kek);
    let rolling = node(&sandbox, "keys/kek.new", Some("keys/kek.old"));
    let out = rolling.usher(&["kek", "rotate", "--json"], None).json();
    assert_eq!(out["upstream_secrets_resealed"], 1, "{out}");
    let again = rolling.usher(&["kek", "rotate", "--json"], None).json();
    assert_eq!(again["upstream_secrets_resealed"], 0, "{again}");
    assert_eq!(again["upstream_secrets_already_sealed"], 1, "{again}");

    let after = db.get_upstream(&id).unwrap().unwrap();
    let sealed = after.client_secret_sealed.clone().unwrap();
    assert_eq!(
        FactorSealer::from_kek(&new_kek)
            .open_upstream_secret("corp", &sealed)
            .unwrap(),
        "the upstream secret"
    );
    assert!(
        FactorSealer::from_kek(&old_kek)
            .open_upstream_secret("corp", &sealed)
            .is_err()
    );
    assert_eq!(
        usher_domain::Upstream {
            client_secret_sealed: before.client_secret_sealed.clone(),
            ..after
        },
        before
    );
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
    let rolling = node(&sandbox, "keys/kek.new", Some("keys/kek.old"));
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

    let after = node(&sandbox, "keys/kek.new", None);
    let server = after.serve();
    for (id, secret) in &clients {
        assert_eq!(token(&server.base, id, secret).0, 200);
    }
}

/// A sandbox on `sandbox`'s database with the KEK files `kek` and, if given, `previous`
/// (paths relative to `sandbox`).
fn node(sandbox: &Sandbox, kek: &str, previous: Option<&str>) -> Sandbox {
    let mut s = Sandbox::new()
        .env(
            "USHER_DATABASE_URL",
            &sandbox.env_value("USHER_DATABASE_URL").unwrap(),
        )
        .env("USHER_KEK_FILE", sandbox.path().join(kek).to_str().unwrap());
    if let Some(previous) = previous {
        s.set_env(
            "USHER_KEK_PREVIOUS_FILE",
            sandbox.path().join(previous).to_str().unwrap(),
        );
    }
    s
}

/// Review A: while a rolling change is in progress, the database records the KEK it
/// goes to; a node or command with another "new" KEK is refused, and `kek rotate`
/// clears the record once everything is sealed under the target.
#[test]
fn a_rolling_kek_change_has_one_target_and_a_stray_new_kek_is_refused() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    sandbox.serve().stop();
    let old_kek = read_kek(&sandbox, "keys/kek");
    sandbox.write_kek("keys/kek.old", &old_kek);
    sandbox.write_kek("keys/kek.new", &Kek::generate().unwrap());
    sandbox.write_kek("keys/kek.stray", &Kek::generate().unwrap());

    let first = node(&sandbox, "keys/kek.new", Some("keys/kek.old")).serve();
    let target = first.listening["kek_fingerprint"]
        .as_str()
        .expect("serve logs its KEK's fingerprint")
        .to_owned();
    assert_eq!(target.len(), 22, "{target}");
    assert!(
        first
            .log()
            .iter()
            .all(|l| !l.contains(&old_kek.to_base64()))
    );

    let stray = node(&sandbox, "keys/kek.stray", Some("keys/kek.old"));
    let err = stray.try_serve().err().expect("a stray new KEK is refused");
    assert!(err.contains(&target), "names the target: {err}");
    let keys_before = sandbox.count("signing_keys");
    for args in [vec!["keys", "rotate", "--now"], vec!["kek", "rotate"]] {
        let run = stray.usher(&args, None);
        assert!(!run.ok(), "{args:?} with a stray KEK must fail");
        assert!(run.stderr().contains(&target), "{}", run.stderr());
    }
    assert_eq!(
        sandbox.count("signing_keys"),
        keys_before,
        "nothing written"
    );

    let rotated = node(&sandbox, "keys/kek.new", Some("keys/kek.old"))
        .usher(&["kek", "rotate", "--json"], None)
        .json();
    assert_eq!(rotated["kek_fingerprint"], target.as_str(), "{rotated}");
    first.stop();
    assert_eq!(
        sandbox.count("kek_markers WHERE name = 'kek-target'"),
        0,
        "the target is cleared once everything is re-sealed"
    );
    // A node restarted with both after the rotation records no stale target, so the
    // next change may go anywhere.
    node(&sandbox, "keys/kek.new", Some("keys/kek.old"))
        .serve()
        .stop();
    assert_eq!(sandbox.count("kek_markers WHERE name = 'kek-target'"), 0);
    // A target naming a KEK that already opens everything (left by an older version
    // or a restart) is cleared by a node with that KEK alone.
    sandbox.execute(&format!(
        "INSERT INTO kek_markers (name, value, updated_at) VALUES ('kek-target', '{target}', 0)"
    ));
    node(&sandbox, "keys/kek.new", None).serve().stop();
    assert_eq!(sandbox.count("kek_markers WHERE name = 'kek-target'"), 0);
    sandbox.write_kek("keys/kek.next", &Kek::generate().unwrap());
    let next = node(&sandbox, "keys/kek.next", Some("keys/kek.new")).serve();
    assert_ne!(next.listening["kek_fingerprint"], target.as_str());
    next.stop();
    assert_eq!(sandbox.count("kek_markers WHERE name = 'kek-target'"), 1);
}

/// Review B: a `next` key that this node's KEK cannot open stops `serve` (naming the
/// kid) and admin commands, instead of failing at its promotion.
#[test]
fn a_next_key_this_kek_cannot_open_is_reported_and_never_promoted() {
    use usher_domain::{KeyState, rotation};
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    sandbox.serve().stop();
    let db = sandbox_db(&sandbox);
    let other = Kek::generate().unwrap();
    let now = usher_domain::UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let stray = usher_keys::generate_signing_key(&other, 2048, KeyState::Next, now).unwrap();
    let kid = stray.kid.clone();
    assert!(
        db.insert_next_key(&rotation::as_next(stray, now.plus(86_400)))
            .unwrap()
    );

    // Reported loudly, not refused: the key never signed and is never promoted, and a
    // refusal would block every admin command (incident response included).
    let server = sandbox.serve();
    let log = server.startup_log.join("\n");
    assert!(
        log.contains("next_key_unopenable") && log.contains(&kid),
        "{log}"
    );
    assert!(log.contains("kek rotate"), "says what to do: {log}");
    server.stop();
    let listed = sandbox.usher(&["keys", "list"], None);
    assert!(
        listed.ok(),
        "admin commands still work: {}",
        listed.stderr()
    );
    assert!(
        listed.stderr().contains(&kid),
        "and say so: {}",
        listed.stderr()
    );
    let run = sandbox.usher(&["keys", "rotate", "--now"], None);
    assert!(!run.ok(), "the unopenable next key is not promoted");
    assert!(run.stderr().contains(&kid), "{}", run.stderr());
    let records = db.list_keys().unwrap();
    assert_eq!(
        records.iter().find(|k| k.kid == kid).unwrap().state,
        KeyState::Next
    );
}

/// Review C: once a hashing key was stored, a missing one is never derived again (after
/// a KEK change a derived key would silently break every client secret).
#[test]
fn a_lost_hashing_key_is_refused_not_derived_again() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    sandbox.serve().stop();
    service(&sandbox);
    let old_kek = read_kek(&sandbox, "keys/kek");
    sandbox.write_kek("keys/kek.old", &old_kek);
    sandbox.write_kek("keys/kek.new", &Kek::generate().unwrap());
    let rolling = node(&sandbox, "keys/kek.new", Some("keys/kek.old"));
    assert!(rolling.usher(&["kek", "rotate"], None).ok());
    sandbox.execute("DELETE FROM sealed_values WHERE name = 'client-secret-hash'");

    let after = node(&sandbox, "keys/kek.new", None);
    let err = after.try_serve().err().expect("serve refuses");
    assert!(err.contains("hashing key"), "{err}");
    assert!(err.contains("backup"), "says how to recover: {err}");
    let run = after.usher(&["client", "list"], None);
    assert!(!run.ok(), "{}", run.stdout());
    assert_eq!(sandbox.count("sealed_values"), 0, "nothing was derived");
}

/// A lost hashing key that the unchanged KEK derives exactly as it was (the marker's
/// fingerprint says so) is stored again, and client secrets keep verifying.
#[test]
fn a_lost_hashing_key_the_kek_derives_unchanged_is_stored_again() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite);
    sandbox.serve().stop();
    let (id, secret) = service(&sandbox);
    sandbox.execute("DELETE FROM sealed_values WHERE name = 'client-secret-hash'");
    let server = sandbox.serve();
    let (status, body) = token(&server.base, &id, &secret);
    assert_eq!(status, 200, "the same hashing key: {body}");
    assert_eq!(sandbox.count("sealed_values"), 1, "stored again");
}

/// Review D: two first `serve` at once on a new database (on different hosts, each with
/// its own `keys/kek`): the one that loses leaves no KEK file behind, so it starts with
/// the winner's KEK next time instead of refusing forever.
#[test]
fn the_serve_that_loses_the_first_start_race_leaves_no_kek_file() {
    let base = Sandbox::with_test_db(Backend::Postgres);
    assert!(base.usher(&["migrate"], None).ok());
    let url = base.env_value("USHER_DATABASE_URL").unwrap();
    let hosts: Vec<Sandbox> = (0..8)
        .map(|_| Sandbox::new().env("USHER_DATABASE_URL", &url))
        .collect();
    let started: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                s.spawn(move || match h.try_serve() {
                    Ok(server) => {
                        server.stop();
                        true
                    }
                    Err(_) => false,
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let with_file: Vec<usize> = (0..hosts.len())
        .filter(|&i| hosts[i].path().join("keys/kek").exists())
        .collect();
    assert_eq!(
        with_file.len(),
        1,
        "one KEK file: {with_file:?} {started:?}"
    );
    for (i, ok) in started.iter().enumerate() {
        assert_eq!(*ok, with_file.contains(&i), "{started:?} {with_file:?}");
    }
}
