//! The storage contract: one suite, written once, run against SQLite (a fresh file per
//! test) and PostgreSQL (a fresh database per test, dropped afterwards).
//!
//! Each case in `cases` is a plain function of a migrated [`Database`] (and its
//! [`TestDb`], for raw SQL); `contract!` turns every case into `sqlite::<case>` and
//! `postgres::<case>` tests. PostgreSQL must be running: see `usher_store::testing`.

// A test crate: its helpers and cases are not `#[test]` functions, so clippy's
// allow-unwrap-in-tests does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};

use usher_domain::{
    Audience, AuthMethod, Client, ClientId, ClientName, ClientRegistration, ClientStore, Email,
    GrantType, KeyState, KeyStore, PersonName, Ping, RedirectUri, ScopeSet, SigningKeyRecord,
    StoreError, UnixTime, User, UserId, UserStore, Username,
};
use usher_store::Database;
use usher_store::testing::TestDb;

fn run(backend: &str, case: fn(&TestDb, &Database)) {
    let t = TestDb::of(backend);
    let db = t.connect();
    assert_eq!(db.backend(), backend);
    let applied = db.migrate().unwrap();
    assert!(applied > 0, "a fresh database should need migrations");
    case(&t, &db);
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $case() { super::run("sqlite", super::cases::$case); } )*
        }
        mod postgres {
            $( #[test] fn $case() { super::run("postgres", super::cases::$case); } )*
        }
    };
}

contract!(
    migrate_twice_is_idempotent,
    ping_works,
    client_round_trip_keeps_every_field,
    clients_are_listed_by_creation_then_id,
    unknown_client_is_none,
    duplicate_client_id_is_a_conflict,
    delete_client_removes_it_and_its_redirect_uris,
    set_client_secret_hash_replaces_the_hash,
    corrupt_client_row_is_reported,
    user_round_trip_keeps_every_field,
    duplicate_username_is_a_conflict_and_keeps_the_first_user,
    find_user_by_username,
    delete_user_by_username,
    set_password_hash_replaces_the_hash,
    keys_are_listed_newest_first,
    update_key_if_writes_only_from_the_expected_state,
    update_key_if_has_exactly_one_winner_under_contention,
    a_second_active_key_is_refused,
    corrupt_key_row_is_reported,
);

fn uri(s: &str) -> RedirectUri {
    RedirectUri::parse(s).unwrap()
}

fn confidential_client(id: &str, created_at: i64) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        secret_hash: Some(format!("keyed-hash-of-{id}")),
        registration: ClientRegistration {
            name: ClientName::parse("The Shop").unwrap(),
            auth_method: AuthMethod::ClientSecretPost,
            // Deliberately not sorted: registration order must survive.
            redirect_uris: vec![
                uri("https://shop.example/z/callback?x=1&y=2"),
                uri("https://shop.example/a/callback"),
                uri("http://127.0.0.1/cb"),
                uri("com.example.shop:/oauth"),
            ],
            post_logout_redirect_uris: vec![
                uri("https://shop.example/bye"),
                uri("https://shop.example/again"),
            ],
            grant_types: vec![
                GrantType::RefreshToken,
                GrantType::AuthorizationCode,
                GrantType::ClientCredentials,
            ],
            scopes: ScopeSet::parse("openid profile email read:orders").unwrap(),
            audiences: vec![
                Audience::parse("https://api.shop.example/").unwrap(),
                Audience::parse("urn:shop:billing").unwrap(),
            ],
            pkce_required: false,
            first_party: true,
        },
        created_at: UnixTime(created_at),
    }
}

fn public_client(id: &str, created_at: i64) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        secret_hash: None,
        registration: ClientRegistration {
            name: ClientName::parse("Phone app").unwrap(),
            auth_method: AuthMethod::None,
            redirect_uris: vec![uri("com.example.phone:/cb")],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: ScopeSet::parse("openid").unwrap(),
            audiences: vec![],
            pkce_required: true,
            first_party: false,
        },
        created_at: UnixTime(created_at),
    }
}

fn service_client(id: &str, created_at: i64) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        secret_hash: Some("h".into()),
        registration: ClientRegistration {
            name: ClientName::parse("Batch job").unwrap(),
            auth_method: AuthMethod::ClientSecretBasic,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: ScopeSet::default(),
            audiences: vec![Audience::parse("https://api.example/").unwrap()],
            pkce_required: true,
            first_party: false,
        },
        created_at: UnixTime(created_at),
    }
}

fn cid(s: &str) -> ClientId {
    ClientId::parse(s).unwrap()
}

fn user(id: &str, username: &str, created_at: i64) -> User {
    User {
        id: UserId::parse(id).unwrap(),
        username: Username::parse(username).unwrap(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${username}"),
        name: Some(PersonName::parse("Alice Liddell").unwrap()),
        email: Some(Email::parse("alice@example.org").unwrap()),
        email_verified: true,
        created_at: UnixTime(created_at),
    }
}

fn bare_user(id: &str, username: &str, created_at: i64) -> User {
    User {
        name: None,
        email: None,
        email_verified: false,
        ..user(id, username, created_at)
    }
}

fn uname(s: &str) -> Username {
    Username::parse(s).unwrap()
}

fn key(kid: &str, state: KeyState, created_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        state,
        alg: "RS256".into(),
        bits: 2048,
        public_jwk: format!(r#"{{"kty":"RSA","kid":"{kid}","n":"AQAB","e":"AQAB"}}"#),
        private_key_encrypted: format!("encrypted-{kid}"),
        created_at: UnixTime(created_at),
        activate_after: Some(UnixTime(created_at + 3600)),
        activated_at: None,
        retire_after: None,
        retired_at: None,
        remove_after: None,
        removed_at: None,
    }
}

fn kids(keys: &[SigningKeyRecord]) -> Vec<&str> {
    keys.iter().map(|k| k.kid.as_str()).collect()
}

mod cases {
    use super::*;

    pub fn migrate_twice_is_idempotent(t: &TestDb, db: &Database) {
        assert_eq!(db.migrate(), Ok(0));
        // Another handle (another node) finds nothing to do either.
        assert_eq!(Database::connect(&t.url).unwrap().migrate(), Ok(0));
    }

    pub fn ping_works(_: &TestDb, db: &Database) {
        db.ping().unwrap();
        db.clone().ping().unwrap();
    }

    pub fn client_round_trip_keeps_every_field(_: &TestDb, db: &Database) {
        let shop = confidential_client("shop", 1_700_000_000);
        let phone = public_client("phone-app", 1_700_000_001);
        let batch = service_client("batch.job_1~x", 1_700_000_002);
        for c in [&shop, &phone, &batch] {
            db.insert_client(c).unwrap();
        }
        assert_eq!(db.get_client(&shop.id).unwrap(), Some(shop.clone()));
        let stored_phone = db.get_client(&phone.id).unwrap().unwrap();
        assert_eq!(stored_phone, phone);
        assert!(stored_phone.secret_hash.is_none() && stored_phone.is_public());
        assert_eq!(db.get_client(&batch.id).unwrap(), Some(batch.clone()));
        assert_eq!(db.list_clients().unwrap(), vec![shop, phone, batch]);
    }

    pub fn clients_are_listed_by_creation_then_id(_: &TestDb, db: &Database) {
        db.insert_client(&public_client("c-late", 300)).unwrap();
        db.insert_client(&public_client("c-b", 100)).unwrap();
        db.insert_client(&confidential_client("c-a", 100)).unwrap();
        db.insert_client(&public_client("c-mid", 200)).unwrap();
        let ids: Vec<String> = db
            .list_clients()
            .unwrap()
            .into_iter()
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(ids, ["c-a", "c-b", "c-mid", "c-late"]);
        // The redirect URIs went to the right clients.
        let listed = db.list_clients().unwrap();
        assert_eq!(listed[0], confidential_client("c-a", 100));
        assert_eq!(listed[1], public_client("c-b", 100));
    }

    pub fn unknown_client_is_none(_: &TestDb, db: &Database) {
        assert_eq!(db.get_client(&cid("nobody")).unwrap(), None);
        db.insert_client(&public_client("somebody", 1)).unwrap();
        assert_eq!(db.get_client(&cid("nobody")).unwrap(), None);
        assert!(db.list_clients().unwrap().len() == 1);
    }

    pub fn duplicate_client_id_is_a_conflict(t: &TestDb, db: &Database) {
        let first = confidential_client("dup", 1);
        db.insert_client(&first).unwrap();
        let second = public_client("dup", 2);
        let err = db.insert_client(&second).unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if m.contains("dup")),
            "{err:?}"
        );
        // The failed insert left nothing behind: the transaction rolled back.
        assert_eq!(db.get_client(&first.id).unwrap(), Some(first));
        assert_eq!(t.count("client_redirect_uris WHERE client_id = 'dup'"), 6);
    }

    pub fn delete_client_removes_it_and_its_redirect_uris(t: &TestDb, db: &Database) {
        let shop = confidential_client("shop", 1);
        let other = public_client("other", 2);
        db.insert_client(&shop).unwrap();
        db.insert_client(&other).unwrap();
        assert_eq!(t.count("client_redirect_uris WHERE client_id = 'shop'"), 6);

        assert_eq!(db.delete_client(&shop.id), Ok(true));
        assert_eq!(db.delete_client(&shop.id), Ok(false));
        assert_eq!(db.get_client(&shop.id).unwrap(), None);
        assert_eq!(t.count("client_redirect_uris WHERE client_id = 'shop'"), 0);
        // The other client is untouched.
        assert_eq!(db.list_clients().unwrap(), vec![other]);
        // The id can be registered again, without the old URIs.
        let again = public_client("shop", 3);
        db.insert_client(&again).unwrap();
        assert_eq!(db.get_client(&again.id).unwrap(), Some(again));
    }

    pub fn set_client_secret_hash_replaces_the_hash(_: &TestDb, db: &Database) {
        let shop = confidential_client("shop", 1);
        db.insert_client(&shop).unwrap();
        assert_eq!(db.set_client_secret_hash(&shop.id, "new-hash"), Ok(true));
        let stored = db.get_client(&shop.id).unwrap().unwrap();
        assert_eq!(stored.secret_hash.as_deref(), Some("new-hash"));
        assert_eq!(stored.registration, shop.registration);
        assert_eq!(db.set_client_secret_hash(&cid("ghost"), "x"), Ok(false));
    }

    pub fn corrupt_client_row_is_reported(t: &TestDb, db: &Database) {
        db.insert_client(&public_client("fine", 1)).unwrap();
        t.execute("UPDATE clients SET auth_method = 'telepathy' WHERE id = 'fine'");
        let err = db.get_client(&cid("fine")).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("telepathy")),
            "{err:?}"
        );
        assert!(matches!(db.list_clients(), Err(StoreError::Corrupt(_))));

        db.insert_client(&public_client("uris", 2)).unwrap();
        t.execute("UPDATE client_redirect_uris SET uri = 'not a uri' WHERE client_id = 'uris'");
        assert!(matches!(
            db.get_client(&cid("uris")),
            Err(StoreError::Corrupt(_))
        ));
    }

    pub fn user_round_trip_keeps_every_field(_: &TestDb, db: &Database) {
        let alice = user("u-1", "Alice", 10);
        let bob = bare_user("u-2", "bob", 5);
        db.insert_user(&alice).unwrap();
        db.insert_user(&bob).unwrap();
        assert_eq!(db.get_user(&alice.id).unwrap(), Some(alice.clone()));
        assert_eq!(db.get_user(&bob.id).unwrap(), Some(bob.clone()));
        assert_eq!(db.get_user(&UserId::parse("u-3").unwrap()).unwrap(), None);
        // Ordered by created_at, then id.
        let carol = bare_user("u-0", "carol", 10);
        db.insert_user(&carol).unwrap();
        assert_eq!(db.list_users().unwrap(), vec![bob, carol, alice]);
    }

    pub fn duplicate_username_is_a_conflict_and_keeps_the_first_user(_: &TestDb, db: &Database) {
        let alice = user("u-1", "alice", 1);
        db.insert_user(&alice).unwrap();
        let impostor = bare_user("u-2", "ALICE", 2);
        assert_eq!(
            db.insert_user(&impostor),
            Err(StoreError::Conflict("username alice is taken".into()))
        );
        assert_eq!(db.find_user(&uname("alice")).unwrap(), Some(alice.clone()));
        assert_eq!(db.get_user(&impostor.id).unwrap(), None);
        assert_eq!(db.list_users().unwrap(), vec![alice]);
        // A clash of ids is a conflict too, but not about the username.
        let same_id = bare_user("u-1", "someone-else", 3);
        let err = db.insert_user(&same_id).unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if !m.contains("username")),
            "{err:?}"
        );
    }

    pub fn find_user_by_username(_: &TestDb, db: &Database) {
        let alice = user("u-1", "alice", 1);
        db.insert_user(&alice).unwrap();
        db.insert_user(&bare_user("u-2", "bob", 2)).unwrap();
        assert_eq!(db.find_user(&uname("Alice")).unwrap(), Some(alice));
        assert_eq!(db.find_user(&uname("carol")).unwrap(), None);
    }

    pub fn delete_user_by_username(_: &TestDb, db: &Database) {
        db.insert_user(&user("u-1", "alice", 1)).unwrap();
        let bob = bare_user("u-2", "bob", 2);
        db.insert_user(&bob).unwrap();
        assert_eq!(db.delete_user(&uname("alice")), Ok(true));
        assert_eq!(db.delete_user(&uname("alice")), Ok(false));
        assert_eq!(db.find_user(&uname("alice")).unwrap(), None);
        assert_eq!(db.list_users().unwrap(), vec![bob]);
        // The name is free again.
        db.insert_user(&user("u-3", "alice", 3)).unwrap();
    }

    pub fn set_password_hash_replaces_the_hash(_: &TestDb, db: &Database) {
        let alice = user("u-1", "alice", 1);
        db.insert_user(&alice).unwrap();
        assert_eq!(
            db.set_password_hash(&uname("alice"), "$argon2id$new"),
            Ok(true)
        );
        let stored = db.find_user(&uname("alice")).unwrap().unwrap();
        assert_eq!(stored.password_hash, "$argon2id$new");
        assert_eq!(
            stored,
            User {
                password_hash: "$argon2id$new".into(),
                ..alice
            }
        );
        assert_eq!(db.set_password_hash(&uname("nobody"), "x"), Ok(false));
    }

    pub fn keys_are_listed_newest_first(_: &TestDb, db: &Database) {
        assert_eq!(db.list_keys().unwrap(), vec![]);
        let mut retired = key("k-old", KeyState::Retired, 100);
        retired.activated_at = Some(UnixTime(150));
        retired.retired_at = Some(UnixTime(250));
        retired.remove_after = Some(UnixTime(400));
        let active = key("k-active", KeyState::Active, 200);
        let next_b = key("k-next-b", KeyState::Next, 300);
        let next_a = key("k-next-a", KeyState::Next, 300);
        for k in [&next_b, &retired, &active, &next_a] {
            db.insert_key(k).unwrap();
        }
        let listed = db.list_keys().unwrap();
        assert_eq!(kids(&listed), ["k-next-a", "k-next-b", "k-active", "k-old"]);
        assert_eq!(listed[3], retired);
        assert_eq!(listed[2], active);
        // A duplicate kid is a conflict.
        assert!(matches!(
            db.insert_key(&key("k-old", KeyState::Removed, 1)),
            Err(StoreError::Conflict(_))
        ));
    }

    pub fn update_key_if_writes_only_from_the_expected_state(_: &TestDb, db: &Database) {
        let next = key("k-1", KeyState::Next, 100);
        db.insert_key(&next).unwrap();

        let active = SigningKeyRecord {
            state: KeyState::Active,
            activated_at: Some(UnixTime(3700)),
            retire_after: Some(UnixTime(90_000)),
            // Only state and timestamps are written.
            public_jwk: "ignored".into(),
            ..next.clone()
        };
        assert_eq!(db.update_key_if(&active, KeyState::Next), Ok(true));
        // A second node that also saw `next` loses.
        assert_eq!(db.update_key_if(&active, KeyState::Next), Ok(false));
        let stored = db.list_keys().unwrap().remove(0);
        assert_eq!(
            stored,
            SigningKeyRecord {
                public_jwk: next.public_jwk.clone(),
                ..active.clone()
            }
        );

        let retired = SigningKeyRecord {
            state: KeyState::Retired,
            retired_at: Some(UnixTime(90_001)),
            remove_after: Some(UnixTime(100_000)),
            ..stored.clone()
        };
        assert_eq!(db.update_key_if(&retired, KeyState::Retired), Ok(false));
        assert_eq!(db.update_key_if(&retired, KeyState::Active), Ok(true));
        assert_eq!(db.list_keys().unwrap(), vec![retired.clone()]);
        // Timestamps can be cleared as well as set.
        let cleared = SigningKeyRecord {
            remove_after: None,
            ..retired
        };
        assert_eq!(db.update_key_if(&cleared, KeyState::Retired), Ok(true));
        assert_eq!(db.list_keys().unwrap(), vec![cleared]);
        // An unknown kid is never written.
        let ghost = key("k-ghost", KeyState::Active, 1);
        assert_eq!(db.update_key_if(&ghost, KeyState::Next), Ok(false));
        assert_eq!(db.list_keys().unwrap().len(), 1);
    }

    pub fn update_key_if_has_exactly_one_winner_under_contention(_: &TestDb, db: &Database) {
        let next = key("k-race", KeyState::Next, 100);
        db.insert_key(&next).unwrap();
        let active = SigningKeyRecord {
            state: KeyState::Active,
            activated_at: Some(UnixTime(5000)),
            ..next
        };
        let nodes = 6;
        let barrier = Arc::new(Barrier::new(nodes));
        let handles: Vec<_> = (0..nodes)
            .map(|_| {
                let (db, barrier, active) = (db.clone(), barrier.clone(), active.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    db.update_key_if(&active, KeyState::Next)
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1);
        assert_eq!(db.list_keys().unwrap(), vec![active]);
    }

    pub fn a_second_active_key_is_refused(_: &TestDb, db: &Database) {
        let first = key("k-first", KeyState::Active, 100);
        db.insert_key(&first).unwrap();
        let err = db
            .insert_key(&key("k-second", KeyState::Active, 200))
            .unwrap_err();
        assert_eq!(
            err,
            StoreError::Conflict("another signing key is already active".into())
        );
        assert_eq!(db.list_keys().unwrap(), vec![first.clone()]);

        // Promoting a `next` key while another is active is refused the same way.
        let next = key("k-next", KeyState::Next, 300);
        db.insert_key(&next).unwrap();
        let promoted = SigningKeyRecord {
            state: KeyState::Active,
            ..next.clone()
        };
        assert!(matches!(
            db.update_key_if(&promoted, KeyState::Next),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(db.list_keys().unwrap(), vec![next.clone(), first.clone()]);

        // Retiring the active key first makes room.
        let retired = SigningKeyRecord {
            state: KeyState::Retired,
            ..first
        };
        assert_eq!(db.update_key_if(&retired, KeyState::Active), Ok(true));
        assert_eq!(db.update_key_if(&promoted, KeyState::Next), Ok(true));
        assert_eq!(db.list_keys().unwrap(), vec![promoted, retired]);
    }

    pub fn corrupt_key_row_is_reported(t: &TestDb, db: &Database) {
        db.insert_key(&key("k-1", KeyState::Next, 1)).unwrap();
        t.execute("UPDATE signing_keys SET bits = -1 WHERE kid = 'k-1'");
        assert!(matches!(db.list_keys(), Err(StoreError::Corrupt(_))));
    }
}

// ---- Connecting: not per backend ------------------------------------------------------

#[test]
fn database_handles_are_clone_send_and_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Database>();
}

#[test]
fn a_url_of_an_unknown_form_names_the_accepted_forms() {
    for bad in [
        "mysql://root@localhost/usher",
        "usher.db",
        "sqlite:usher.db",
        "",
    ] {
        let err = Database::connect(bad).unwrap_err();
        let StoreError::Unavailable(msg) = &err else {
            panic!("{bad}: {err:?}");
        };
        for form in ["sqlite://PATH", "sqlite::memory:", "postgres://"] {
            assert!(msg.contains(form), "{msg}");
        }
    }
}

#[test]
fn an_unreachable_postgres_is_unavailable_without_its_password() {
    let err = Database::connect("postgres://usher:hunter2@127.0.0.1:1/usher").unwrap_err();
    let StoreError::Unavailable(msg) = &err else {
        panic!("{err:?}");
    };
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(msg.contains("usher:***@127.0.0.1:1"), "{msg}");
}

#[test]
fn in_memory_sqlite_keeps_its_data_in_a_pool_of_one() {
    let db = Database::connect("sqlite::memory:").unwrap();
    assert_eq!(db.backend(), "sqlite");
    assert_eq!(db.display_url(), "sqlite::memory:");
    assert!(db.migrate().unwrap() > 0);
    db.insert_user(&user("u-1", "alice", 1)).unwrap();
    let other_handle = db.clone();
    assert_eq!(
        other_handle
            .find_user(&uname("alice"))
            .unwrap()
            .map(|u| u.id),
        UserId::parse("u-1")
    );
    assert_eq!(db.migrate(), Ok(0));
}

#[test]
fn a_sqlite_file_gets_its_directory_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/usher.db");
    let url = format!("sqlite://{}", path.display());
    let db = Database::connect(&url).unwrap();
    assert_eq!(db.display_url(), url);
    db.migrate().unwrap();
    db.insert_client(&public_client("c", 1)).unwrap();
    assert!(path.exists());
    drop(db);
    // A second process (here: a second pool) sees the same data.
    let again = Database::connect(&url).unwrap();
    assert_eq!(again.migrate(), Ok(0));
    assert_eq!(again.list_clients().unwrap(), vec![public_client("c", 1)]);
}

#[test]
fn a_postgres_handle_reports_its_backend_and_url() {
    let t = TestDb::postgres();
    let db = t.connect();
    assert_eq!(db.backend(), "postgres");
    assert_eq!(db.display_url(), t.url);
}
