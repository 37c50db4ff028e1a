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
    Audience, AuthMethod, AuthMethods, AuthorizationCode, Client, ClientId, ClientName,
    ClientRegistration, ClientStore, CodeChallenge, CodeRedemption, CodeStore, ConsentStore, Email,
    FactorStore, GrantType, Interaction, InteractionStep, InteractionStore, KeyState, KeyStore,
    LoginFailures, NonceStore, PersonName, Ping, RedirectUri, Reservation, RevocationStore,
    ScopeSet, Session, SessionStore, SigningKeyRecord, StoreError, ThrottlePolicy, ThrottleStore,
    TotpFactor, UnixTime, User, UserId, UserStore, Username,
};
use usher_domain::{BackchannelStore, NewLogout, SessionClient};
use usher_domain::{BrowserSeen, KNOWN_BROWSER_TTL, KnownBrowserStore, UserAgent};
use usher_domain::{
    CeremonyKind, Passkey, PasskeyInsert, PasskeyName, PasskeyStore, WebauthnCeremony,
};
use usher_domain::{ConsentGrant, ResourceUri};
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
            $( #[test] fn $case() { super::run("sqlite", super::all_cases::$case); } )*
        }
        mod postgres {
            $( #[test] fn $case() { super::run("postgres", super::all_cases::$case); } )*
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
    set_client_allowed_origins_replaces_them,
    corrupt_client_row_is_reported,
    user_round_trip_keeps_every_field,
    duplicate_username_is_a_conflict_and_keeps_the_first_user,
    find_user_by_username,
    delete_user_by_username,
    a_person_is_updated_only_while_they_are_as_read,
    a_person_is_disabled_and_enabled_once_each,
    set_password_hash_replaces_the_hash,
    keys_are_listed_newest_first,
    update_key_if_writes_only_from_the_expected_state,
    update_key_if_has_exactly_one_winner_under_contention,
    a_second_active_key_is_refused,
    corrupt_key_row_is_reported,
    session_round_trip_and_expiry,
    sessions_are_deleted_one_by_one_or_per_user,
    lineages_are_asked_about_and_ended_as_a_whole,
    corrupt_session_row_is_reported,
    interaction_round_trip_and_expiry,
    a_csrf_hash_advances_an_interaction_once,
    an_expired_interaction_cannot_be_advanced_or_finished,
    concurrent_uses_of_one_csrf_hash_have_one_winner,
    consent_is_saved_replaced_and_kept_per_client,
    consent_upserts_race_without_conflict,
    consent_keeps_its_resources_in_order,
    consents_are_listed_per_person_and_deleted_once,
    corrupt_consent_row_is_reported,
    a_code_is_redeemed_once_then_replayed,
    an_expired_code_is_still_reported_to_the_caller,
    code_round_trip_keeps_every_field,
    concurrent_redeemers_of_one_code_have_one_winner,
    corrupt_code_row_is_reported,
    finding_a_code_spends_nothing,
    revoking_a_jti_is_idempotent,
    revoked_jtis_lists_the_unexpired_up_to_a_limit,
    a_nonce_is_spent_once_even_by_racing_spenders,
    login_attempts_follow_the_reference_rule,
    concurrent_reservations_lose_no_count_and_never_pass_the_limit,
    deleting_a_user_or_client_removes_their_sign_in_records,
    purge_removes_only_what_has_expired,
    a_totp_factor_round_trips_and_is_replaced_only_while_unconfirmed,
    a_totp_step_is_accepted_once_and_only_after_the_last,
    an_unconfirmed_totp_factor_accepts_no_step_until_confirmed,
    concurrent_acceptances_of_one_totp_step_have_one_winner,
    a_sealed_totp_secret_is_resealed_by_compare_and_set,
    a_recovery_code_is_spent_once_and_replacing_voids_the_old_ones,
    concurrent_spenders_of_one_recovery_code_have_one_winner,
    a_person_has_at_most_the_cap_of_passkeys_even_under_concurrent_inserts,
    factors_are_deleted_per_person_and_with_the_person,
    a_passkey_round_trips_and_its_credential_id_is_stored_once,
    passkeys_are_renamed_and_removed_only_by_their_person,
    a_passkey_credential_is_updated_by_compare_and_set_unless_suspect,
    concurrent_updates_of_one_passkey_credential_have_one_winner,
    a_ceremony_is_taken_once_expired_or_not,
    concurrent_takers_of_one_ceremony_have_one_winner,
    expired_ceremonies_are_purged,
    passkeys_and_ceremonies_go_with_the_person,
    a_corrupt_passkey_row_is_reported,
    backchannel_logouts_are_queued_once_and_only_for_clients_that_are_told,
    a_claimed_logout_is_leased_and_settled_only_by_its_claim,
    twenty_racing_claimers_take_each_queued_logout_exactly_once,
    a_new_session_keeps_the_lineage_only_if_the_previous_one_was_still_there,
    a_browser_is_new_once_even_when_twenty_sign_ins_race,
    of_twenty_first_sign_ins_from_different_browsers_one_is_the_first,
    a_person_keeps_at_most_the_cap_of_browsers_even_under_concurrent_sign_ins,
    lineage_records_without_a_live_session_and_browsers_unseen_for_a_year_are_purged,
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
            require_mfa: true,
            id_token_signed_response_alg: Some(usher_domain::SigningAlg::Es256),
            backchannel_logout: Some(usher_domain::BackchannelLogout {
                uri: usher_domain::BackchannelLogoutUri::parse("https://rp.example/bcl?x=1")
                    .unwrap(),
                session_required: true,
            }),
            // Deliberately not sorted: registration order must survive.
            allowed_origins: vec![
                usher_domain::Origin::parse("https://shop.example").unwrap(),
                usher_domain::Origin::parse("http://127.0.0.1:8080").unwrap(),
            ],
            built_in: false,
            metadata_document: false,
            dynamically_registered: false,
            allowed_groups: Vec::new(),
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
            require_mfa: false,
            backchannel_logout: None,
            allowed_origins: Vec::new(),
            id_token_signed_response_alg: None,
            built_in: false,
            metadata_document: false,
            dynamically_registered: false,
            allowed_groups: Vec::new(),
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
            require_mfa: false,
            backchannel_logout: None,
            allowed_origins: Vec::new(),
            id_token_signed_response_alg: None,
            built_in: false,
            metadata_document: false,
            dynamically_registered: false,
            allowed_groups: Vec::new(),
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
        profile: full_profile(),
        created_at: UnixTime(created_at),
        disabled_at: None,
    }
}

/// Every profile claim set (the address with every member), so that round trips show
/// that each column is written and read.
fn full_profile() -> usher_domain::ProfileClaims {
    usher_domain::ProfileClaims {
        preferred_username: Some(usher_domain::PreferredUsername::parse("Al Ice").unwrap()),
        phone_number: Some(usher_domain::PhoneNumber::parse("+64 4 555 0100").unwrap()),
        phone_number_verified: true,
        address: usher_domain::Address::new(&usher_domain::AddressFields {
            formatted: Some("1 Main St\nWellington 6011\nNew Zealand".into()),
            street_address: Some("1 Main St\nFlat 2".into()),
            locality: Some("Wellington".into()),
            region: Some("Wellington Region".into()),
            postal_code: Some("6011".into()),
            country: Some("New Zealand".into()),
        })
        .unwrap(),
    }
}

fn bare_user(id: &str, username: &str, created_at: i64) -> User {
    User {
        name: None,
        email: None,
        email_verified: false,
        profile: usher_domain::ProfileClaims::default(),
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
        alg: usher_domain::SigningAlg::Rs256,
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

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

fn scopes(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap()
}

/// A remembered consent to `s`, for no particular resource.
fn grant(s: &str) -> ConsentGrant {
    scopes(s).into()
}

/// Users `u-1` (alice) and `u-2` (bob), clients `c-shop` and `c-phone`: what the
/// sign-in records refer to.
fn seed(db: &Database) {
    db.insert_user(&user("u-1", "alice", 1)).unwrap();
    db.insert_user(&bare_user("u-2", "bob", 2)).unwrap();
    db.insert_client(&confidential_client("c-shop", 1)).unwrap();
    db.insert_client(&public_client("c-phone", 2)).unwrap();
}

fn session(id_hash: &str, user: &str, expires_at: i64) -> Session {
    Session {
        id_hash: id_hash.into(),
        lineage_hash: format!("lineage-of-{id_hash}"),
        user_id: uid(user),
        auth_time: UnixTime(expires_at - 300),
        amr: AuthMethods::password_and_otp(),
        created_at: UnixTime(expires_at - 200),
        expires_at: UnixTime(expires_at),
        address: Some("2001:db8::7".parse().unwrap()),
        user_agent: UserAgent::parse("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"),
    }
}

fn interaction(id: &str, csrf_hash: &str, expires_at: i64) -> Interaction {
    Interaction {
        id: id.into(),
        csrf_hash: csrf_hash.into(),
        step: InteractionStep::Login,
        request: r#"{"client_id":"c-shop","scope":"openid","state":"xyz"}"#.into(),
        user_id: None,
        auth_time: None,
        browser_hash: "browser-hash".into(),
        created_at: UnixTime(expires_at - 600),
        expires_at: UnixTime(expires_at),
    }
}

/// A code of alice's for `c-shop`.
fn code(code_hash: &str, expires_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: code_hash.into(),
        client_id: cid("c-shop"),
        redirect_uri: uri("https://shop.example/a/callback"),
        redirect_uri_sent: true,
        user_id: uid("u-1"),
        lineage_hash: "lineage-1".into(),
        scopes: scopes("openid profile read:orders"),
        resources: vec![
            usher_domain::ResourceUri::parse("https://orders.example/api").unwrap(),
            usher_domain::ResourceUri::parse("urn:example:reports").unwrap(),
        ],
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: CodeChallenge::parse_s256("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        auth_time: UnixTime(expires_at - 120),
        amr: AuthMethods::password_and_otp(),
        created_at: UnixTime(expires_at - 60),
        expires_at: UnixTime(expires_at),
    }
}

fn totp(user: &str, confirmed: bool) -> TotpFactor {
    TotpFactor {
        user_id: uid(user),
        sealed_secret: format!("v1.sealed-{user}"),
        created_at: UnixTime(10),
        last_used_step: None,
        confirmed,
    }
}

/// A passkey of `user`'s, created at `created_at`, whose credential id is
/// `cred-<id>` and whose credential says counter 0.
fn passkey(id: &str, user: &str, created_at: i64) -> Passkey {
    Passkey {
        id: id.into(),
        user_id: uid(user),
        credential_id: format!("cred-{id}"),
        name: PasskeyName::parse(&format!("Key {id}")).unwrap(),
        credential: format!(r#"{{"cred":{{"cred_id":"cred-{id}","counter":0}}}}"#),
        created_at: UnixTime(created_at),
        last_used_at: None,
        suspect: false,
    }
}

fn ceremony(
    id_hash: &str,
    kind: CeremonyKind,
    user: Option<&str>,
    expires_at: i64,
) -> WebauthnCeremony {
    WebauthnCeremony {
        id_hash: id_hash.into(),
        kind,
        user_id: user.map(uid),
        state: format!("v1.sealed-state-of-{id_hash}"),
        browser_hash: "browser-hash".into(),
        expires_at: UnixTime(expires_at),
    }
}

/// Runs `f` on `threads` threads released together; the `true` answers.
fn race(threads: usize, f: impl Fn() -> bool + Send + Sync + 'static) -> usize {
    let barrier = Arc::new(Barrier::new(threads));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (barrier, f) = (barrier.clone(), f.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|won| *won)
        .count()
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

    pub fn set_client_allowed_origins_replaces_them(_: &TestDb, db: &Database) {
        let shop = confidential_client("shop", 1);
        db.insert_client(&shop).unwrap();
        let new = vec![
            usher_domain::Origin::parse("https://b.example").unwrap(),
            usher_domain::Origin::parse("https://a.example:8443").unwrap(),
        ];
        assert_eq!(db.set_client_allowed_origins(&shop.id, &new), Ok(true));
        let stored = db.get_client(&shop.id).unwrap().unwrap();
        assert_eq!(stored.registration.allowed_origins, new);
        // Empty: back to the default, derived from the redirect URIs when read.
        assert_eq!(db.set_client_allowed_origins(&shop.id, &[]), Ok(true));
        let stored = db.get_client(&shop.id).unwrap().unwrap();
        assert!(stored.registration.allowed_origins.is_empty());
        assert_eq!(
            stored
                .allowed_origins()
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>(),
            ["https://shop.example", "http://127.0.0.1"]
        );
        assert_eq!(
            db.set_client_allowed_origins(&cid("ghost"), &new),
            Ok(false)
        );
        assert_eq!(
            db.set_client_allowed_origins(
                &cid(usher_domain::client::BUILT_IN_ACCOUNT_CLIENT_ID),
                &new
            ),
            Ok(false)
        );
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

    pub fn a_person_is_updated_only_while_they_are_as_read(_: &TestDb, db: &Database) {
        // One with every field set, one with none (NULLs compared as NULL).
        for read in [user("u-1", "alice", 1), bare_user("u-2", "bob", 2)] {
            db.insert_user(&read).unwrap();
            let mut one = read.clone();
            one.name = Some(usher_domain::PersonName::parse("One").unwrap());
            one.email = Some(usher_domain::Email::parse("one@example.org").unwrap());
            one.email_verified = false;
            one.profile.phone_number = None;
            one.profile.phone_number_verified = false;
            let mut two = read.clone();
            two.name = Some(usher_domain::PersonName::parse("Two").unwrap());
            // Of two writers who read the same person, exactly one writes.
            assert_eq!(db.update_person_if(&read, &one), Ok(true));
            assert_eq!(db.update_person_if(&read, &two), Ok(false));
            assert_eq!(db.get_user(&read.id).unwrap(), Some(one.clone()));
            // From what is stored now, the next one does.
            assert_eq!(db.update_person_if(&one, &two), Ok(true));
            assert_eq!(db.get_user(&read.id).unwrap(), Some(two.clone()));
        }
        // Nobody to update.
        let ghost = bare_user("u-9", "ghost", 9);
        assert_eq!(db.update_person_if(&ghost, &ghost), Ok(false));
    }

    pub fn a_person_is_disabled_and_enabled_once_each(_: &TestDb, db: &Database) {
        let alice = user("u-1", "alice", 1);
        db.insert_user(&alice).unwrap();
        assert_eq!(db.set_disabled(&alice.id, Some(UnixTime(50))), Ok(true));
        assert_eq!(db.set_disabled(&alice.id, Some(UnixTime(60))), Ok(false));
        let stored = db.get_user(&alice.id).unwrap().unwrap();
        assert_eq!(stored.disabled_at, Some(UnixTime(50)));
        assert!(!stored.may_sign_in());
        // A new password or profile does not enable them.
        assert_eq!(
            db.set_password_hash(&uname("alice"), "$argon2id$x"),
            Ok(true)
        );
        let mut renamed = stored.clone();
        renamed.name = None;
        assert_eq!(db.update_person_if(&stored, &renamed), Ok(true));
        assert_eq!(
            db.get_user(&alice.id).unwrap().unwrap().disabled_at,
            Some(UnixTime(50))
        );
        assert_eq!(db.set_disabled(&alice.id, None), Ok(true));
        assert_eq!(db.set_disabled(&alice.id, None), Ok(false));
        assert!(db.get_user(&alice.id).unwrap().unwrap().may_sign_in());
        assert_eq!(db.set_disabled(&uid("u-9"), Some(UnixTime(1))), Ok(false));
        // In an audited transaction, with its event.
        let changed = db
            .audited(|tx| {
                let changed = tx.set_disabled(&alice.id, Some(UnixTime(70)))?;
                tx.record(&usher_domain::AuditEvent::new(
                    UnixTime(70),
                    usher_domain::AuditKind::PersonDisabled,
                    usher_domain::AuditActor::Cli,
                ))?;
                Ok(changed)
            })
            .unwrap();
        assert!(changed);
        assert_eq!(
            db.get_user(&alice.id).unwrap().unwrap().disabled_at,
            Some(UnixTime(70))
        );
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
            StoreError::Conflict(
                "another signing key of the same algorithm is already active".into()
            )
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

    // ---- Sign-in records ---------------------------------------------------------------

    pub fn session_round_trip_and_expiry(_: &TestDb, db: &Database) {
        seed(db);
        let s = session("sess-hash-1", "u-1", 1000);
        db.insert_session(&s).unwrap();
        assert_eq!(
            db.get_session("sess-hash-1", UnixTime(500)),
            Ok(Some(s.clone()))
        );
        assert_eq!(
            db.get_session("sess-hash-1", UnixTime(999)),
            Ok(Some(s.clone()))
        );
        // Expired at `expires_at` exactly.
        assert_eq!(db.get_session("sess-hash-1", UnixTime(1000)), Ok(None));
        assert_eq!(db.get_session("sess-hash-1", UnixTime(5000)), Ok(None));
        assert_eq!(db.get_session("no-such-hash", UnixTime(500)), Ok(None));
        // A duplicate id is a conflict, and the message does not carry the hash.
        let err = db.insert_session(&s).unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if !m.contains("sess-hash-1")),
            "{err:?}"
        );
    }

    pub fn sessions_are_deleted_one_by_one_or_per_user(_: &TestDb, db: &Database) {
        seed(db);
        for (hash, user) in [("a1", "u-1"), ("a2", "u-1"), ("a3", "u-1"), ("b1", "u-2")] {
            db.insert_session(&session(hash, user, 1000)).unwrap();
        }
        assert_eq!(db.delete_session("a1"), Ok(true));
        assert_eq!(db.delete_session("a1"), Ok(false));
        assert_eq!(db.get_session("a1", UnixTime(1)), Ok(None));
        assert_eq!(db.delete_user_sessions(&uid("u-1")), Ok(2));
        assert_eq!(db.delete_user_sessions(&uid("u-1")), Ok(0));
        assert_eq!(db.get_session("a2", UnixTime(1)), Ok(None));
        assert_eq!(db.get_session("a3", UnixTime(1)), Ok(None));
        assert_eq!(
            db.get_session("b1", UnixTime(1)),
            Ok(Some(session("b1", "u-2", 1000)))
        );
        assert_eq!(db.delete_user_sessions(&uid("nobody")), Ok(0));
    }

    /// Sessions of one lineage are found and ended together; a session written without a
    /// lineage (by a node of the previous version) is its own lineage.
    pub fn lineages_are_asked_about_and_ended_as_a_whole(t: &TestDb, db: &Database) {
        seed(db);
        let mut first = session("l1", "u-1", 1000);
        first.lineage_hash = "lineage-a".into();
        let mut second = session("l2", "u-1", 2000);
        second.lineage_hash = "lineage-a".into();
        for s in [&first, &second, &session("b1", "u-2", 1000)] {
            db.insert_session(s).unwrap();
        }
        assert_eq!(db.get_session("l2", UnixTime(1)), Ok(Some(second.clone())));
        assert_eq!(db.lineage_signed_in("lineage-a", UnixTime(1500)), Ok(true));
        assert_eq!(db.lineage_signed_in("lineage-a", UnixTime(2000)), Ok(false));
        assert_eq!(
            db.lineage_signed_in("no-such-lineage", UnixTime(1)),
            Ok(false)
        );
        assert_eq!(db.delete_lineage_sessions("lineage-a"), Ok(2));
        assert_eq!(db.lineage_signed_in("lineage-a", UnixTime(1)), Ok(false));
        assert!(db.get_session("b1", UnixTime(1)).unwrap().is_some());

        t.execute(
            "INSERT INTO sessions (id_hash, user_id, auth_time, created_at, expires_at) \
             VALUES ('old-node', 'u-1', 1, 1, 1000)",
        );
        let old = db.get_session("old-node", UnixTime(1)).unwrap().unwrap();
        assert_eq!(old.lineage_hash, "old-node");
        assert_eq!(db.lineage_signed_in("old-node", UnixTime(1)), Ok(true));
        assert_eq!(db.delete_lineage_sessions("old-node"), Ok(1));
        assert_eq!(db.lineage_signed_in("old-node", UnixTime(1)), Ok(false));
    }

    pub fn corrupt_session_row_is_reported(t: &TestDb, db: &Database) {
        seed(db);
        // A user id with a space cannot be parsed; plant a user and a session with it.
        t.execute(
            "INSERT INTO users (id, username, password_hash, email_verified, created_at) \
             VALUES ('bad id', 'mallory', 'h', FALSE, 1); \
             INSERT INTO sessions (id_hash, user_id, auth_time, created_at, expires_at) \
             VALUES ('sess-bad', 'bad id', 1, 1, 1000)",
        );
        let err = db.get_session("sess-bad", UnixTime(1)).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if !m.contains("sess-bad")),
            "{err:?}"
        );
    }

    pub fn interaction_round_trip_and_expiry(_: &TestDb, db: &Database) {
        seed(db);
        let fresh = interaction("i-1", "csrf-1", 1000);
        assert_eq!(db.insert_interaction(&fresh), Ok(true));
        assert_eq!(
            db.get_interaction("i-1", UnixTime(999)),
            Ok(Some(fresh.clone()))
        );
        assert_eq!(db.get_interaction("i-1", UnixTime(1000)), Ok(None));
        assert_eq!(db.get_interaction("i-2", UnixTime(1)), Ok(None));
        // Every field survives, the optional ones too.
        let logged_in = Interaction {
            id: "i-2".into(),
            step: InteractionStep::Consent,
            user_id: Some(uid("u-1")),
            auth_time: Some(UnixTime(150)),
            ..fresh.clone()
        };
        db.insert_interaction(&logged_in).unwrap();
        assert_eq!(db.get_interaction("i-2", UnixTime(1)), Ok(Some(logged_in)));
        // Insert-if-absent: an id that exists is refused and the row keeps its values.
        let again = Interaction {
            csrf_hash: "csrf-other".into(),
            ..fresh.clone()
        };
        assert_eq!(db.insert_interaction(&again), Ok(false));
        assert_eq!(db.get_interaction("i-1", UnixTime(999)), Ok(Some(fresh)));
    }

    pub fn a_csrf_hash_advances_an_interaction_once(_: &TestDb, db: &Database) {
        seed(db);
        let start = interaction("i-1", "csrf-1", 1000);
        db.insert_interaction(&start).unwrap();
        let consent = Interaction {
            csrf_hash: "csrf-2".into(),
            step: InteractionStep::Consent,
            user_id: Some(uid("u-1")),
            auth_time: Some(UnixTime(200)),
            // Only the mutable fields are written.
            request: "ignored".into(),
            created_at: UnixTime(1),
            expires_at: UnixTime(99_999),
            ..start.clone()
        };
        assert_eq!(
            db.advance_interaction("csrf-1", &consent, UnixTime(200)),
            Ok(true)
        );
        let stored = db.get_interaction("i-1", UnixTime(200)).unwrap().unwrap();
        assert_eq!(
            stored,
            Interaction {
                request: start.request.clone(),
                created_at: start.created_at,
                expires_at: start.expires_at,
                ..consent.clone()
            }
        );
        // The old token is spent: a replayed form gets false and changes nothing.
        let replay = Interaction {
            csrf_hash: "csrf-evil".into(),
            ..consent.clone()
        };
        assert_eq!(
            db.advance_interaction("csrf-1", &replay, UnixTime(201)),
            Ok(false)
        );
        assert_eq!(
            db.get_interaction("i-1", UnixTime(201)),
            Ok(Some(stored.clone()))
        );
        // The right hash on another interaction id does nothing either.
        let other = Interaction {
            id: "i-other".into(),
            ..consent.clone()
        };
        assert_eq!(
            db.advance_interaction("csrf-2", &other, UnixTime(201)),
            Ok(false)
        );
        // The last step: finishing needs the current hash, and works once.
        assert_eq!(
            db.finish_interaction("i-1", "csrf-1", UnixTime(202)),
            Ok(false)
        );
        assert_eq!(
            db.finish_interaction("i-1", "csrf-2", UnixTime(202)),
            Ok(true)
        );
        assert_eq!(
            db.finish_interaction("i-1", "csrf-2", UnixTime(202)),
            Ok(false)
        );
        assert_eq!(db.get_interaction("i-1", UnixTime(202)), Ok(None));
        // A finished interaction keeps its id until it expires: it cannot be inserted
        // again (a sealed first form is single-use), nor advanced with the spent marker.
        assert_eq!(db.insert_interaction(&start), Ok(false));
        assert_eq!(
            db.advance_interaction(Interaction::SPENT, &consent, UnixTime(203)),
            Ok(false)
        );
        assert_eq!(
            db.finish_interaction("i-1", Interaction::SPENT, UnixTime(203)),
            Ok(false)
        );
        // An interaction inserted already finished is never returned.
        let spent = Interaction {
            csrf_hash: Interaction::SPENT.into(),
            ..interaction("i-spent", "x", 1000)
        };
        assert_eq!(db.insert_interaction(&spent), Ok(true));
        assert_eq!(db.get_interaction("i-spent", UnixTime(10)), Ok(None));
        assert_eq!(db.insert_interaction(&spent), Ok(false));
        // Advancing can also go back to the login step and clear the user.
        db.insert_interaction(&Interaction {
            user_id: Some(uid("u-1")),
            auth_time: Some(UnixTime(5)),
            ..interaction("i-2", "csrf-a", 1000)
        })
        .unwrap();
        let back = interaction("i-2", "csrf-b", 1000);
        assert_eq!(
            db.advance_interaction("csrf-a", &back, UnixTime(10)),
            Ok(true)
        );
        assert_eq!(db.get_interaction("i-2", UnixTime(10)), Ok(Some(back)));
    }

    pub fn an_expired_interaction_cannot_be_advanced_or_finished(t: &TestDb, db: &Database) {
        seed(db);
        let start = interaction("i-1", "csrf-1", 1000);
        db.insert_interaction(&start).unwrap();
        let next = Interaction {
            csrf_hash: "csrf-2".into(),
            ..start.clone()
        };
        assert_eq!(
            db.advance_interaction("csrf-1", &next, UnixTime(1000)),
            Ok(false)
        );
        assert_eq!(
            db.finish_interaction("i-1", "csrf-1", UnixTime(1000)),
            Ok(false)
        );
        assert_eq!(
            db.finish_interaction("i-1", "csrf-1", UnixTime(2000)),
            Ok(false)
        );
        // Still there (for the purge), with its old hash.
        assert_eq!(t.count("interactions"), 1);
        assert_eq!(db.get_interaction("i-1", UnixTime(999)), Ok(Some(start)));
    }

    pub fn concurrent_uses_of_one_csrf_hash_have_one_winner(_: &TestDb, db: &Database) {
        seed(db);
        db.insert_interaction(&interaction("i-1", "csrf-1", 1000))
            .unwrap();
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let next = interaction("i-1", &format!("csrf-next-{i}"), 1000);
                    barrier.wait();
                    db.advance_interaction("csrf-1", &next, UnixTime(10))
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1);

        // Inserting one id from many threads at once: one insert wins.
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let row = interaction("i-race", &format!("csrf-{i}"), 1000);
                    barrier.wait();
                    db.insert_interaction(&row)
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1);
    }

    pub fn consent_is_saved_replaced_and_kept_per_client(_: &TestDb, db: &Database) {
        seed(db);
        let (alice, bob) = (uid("u-1"), uid("u-2"));
        let (shop, phone) = (cid("c-shop"), cid("c-phone"));
        assert_eq!(db.get_consent(&alice, &shop), Ok(None));
        db.save_consent(&alice, &shop, &grant("openid profile"), UnixTime(10))
            .unwrap();
        assert_eq!(
            db.get_consent(&alice, &shop),
            Ok(Some(grant("profile openid")))
        );
        // The second save replaces the set (callers pass the union).
        db.save_consent(&alice, &shop, &grant("openid email"), UnixTime(20))
            .unwrap();
        assert_eq!(
            db.get_consent(&alice, &shop),
            Ok(Some(grant("email openid")))
        );
        assert_eq!(db.get_consent(&alice, &phone), Ok(None));
        assert_eq!(db.get_consent(&bob, &shop), Ok(None));
        // An empty grant is remembered as such, not as "no consent".
        db.save_consent(&bob, &phone, &ConsentGrant::default(), UnixTime(30))
            .unwrap();
        assert_eq!(
            db.get_consent(&bob, &phone),
            Ok(Some(ConsentGrant::default()))
        );
        assert_eq!(db.get_consent(&alice, &phone), Ok(None));
    }

    pub fn consents_are_listed_per_person_and_deleted_once(_: &TestDb, db: &Database) {
        seed(db);
        let (alice, bob) = (uid("u-1"), uid("u-2"));
        let (shop, phone) = (cid("c-shop"), cid("c-phone"));
        assert_eq!(db.list_consents(&alice), Ok(vec![]));
        db.save_consent(&alice, &shop, &grant("openid profile"), UnixTime(10))
            .unwrap();
        db.save_consent(&alice, &phone, &grant("openid"), UnixTime(20))
            .unwrap();
        db.save_consent(&bob, &shop, &grant("openid email"), UnixTime(30))
            .unwrap();
        // Most recent first, the person's own only.
        let listed = db.list_consents(&alice).unwrap();
        let clients: Vec<&str> = listed.iter().map(|c| c.client_id.as_str()).collect();
        assert_eq!(clients, ["c-phone", "c-shop"]);
        assert_eq!(listed[1].scopes, scopes("openid profile"));
        assert_eq!(listed[1].updated_at, UnixTime(10));
        // Twenty racing deletions of one grant: one deletes it.
        let db2 = db.clone();
        let won = race(20, move || {
            db2.delete_consent(&uid("u-1"), &cid("c-shop")).unwrap()
        });
        assert_eq!(won, 1);
        assert_eq!(db.get_consent(&alice, &shop), Ok(None));
        assert_eq!(db.get_consent(&bob, &shop), Ok(Some(grant("openid email"))));
        assert_eq!(db.list_consents(&alice).unwrap().len(), 1);
    }

    pub fn consent_upserts_race_without_conflict(t: &TestDb, db: &Database) {
        seed(db);
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let granted = grant(&format!("openid s{i}"));
                    barrier.wait();
                    db.save_consent(&uid("u-1"), &cid("c-shop"), &granted, UnixTime(i as i64))
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        assert_eq!(t.count("consents"), 1);
        let stored = db
            .get_consent(&uid("u-1"), &cid("c-shop"))
            .unwrap()
            .unwrap()
            .scopes;
        assert!(
            stored.contains("openid") && stored.iter().count() == 2,
            "{stored}"
        );
    }

    pub fn consent_keeps_its_resources_in_order(t: &TestDb, db: &Database) {
        seed(db);
        let (alice, shop) = (uid("u-1"), cid("c-shop"));
        let resource = |r: &str| ResourceUri::parse(r).unwrap();
        let granted = ConsentGrant {
            scopes: scopes("openid invoices:read"),
            resources: vec![
                resource("https://invoices.example/"),
                resource("https://api.example/v1?x=1"),
            ],
        };
        db.save_consent(&alice, &shop, &granted, UnixTime(10))
            .unwrap();
        assert_eq!(db.get_consent(&alice, &shop), Ok(Some(granted.clone())));
        let listed = db.list_consents(&alice).unwrap();
        assert_eq!(listed[0].resources, granted.resources);
        // A later grant without resources replaces the stored grant (callers widen).
        db.save_consent(&alice, &shop, &grant("openid"), UnixTime(20))
            .unwrap();
        assert_eq!(db.get_consent(&alice, &shop), Ok(Some(grant("openid"))));
        // A row whose resources do not parse is reported, not read as "none".
        t.execute("UPDATE consents SET resources = 'not-absolute'");
        assert!(matches!(
            db.get_consent(&alice, &shop),
            Err(StoreError::Corrupt(_))
        ));
    }

    pub fn corrupt_consent_row_is_reported(t: &TestDb, db: &Database) {
        seed(db);
        db.save_consent(&uid("u-1"), &cid("c-shop"), &grant("openid"), UnixTime(1))
            .unwrap();
        t.execute("UPDATE consents SET scopes = 'openid bad\"scope'");
        assert!(matches!(
            db.get_consent(&uid("u-1"), &cid("c-shop")),
            Err(StoreError::Corrupt(_))
        ));
    }

    pub fn a_code_is_redeemed_once_then_replayed(t: &TestDb, db: &Database) {
        seed(db);
        let c = code("code-hash-1", 1000);
        db.insert_code(&c).unwrap();
        assert_eq!(
            db.redeem_code("code-hash-1", UnixTime(900)),
            Ok(CodeRedemption::Redeemed(c.clone()))
        );
        assert_eq!(
            t.count("authorization_codes WHERE consumed_at = 900"),
            1,
            "the redemption time is recorded"
        );
        assert!(
            db.record_code_token("code-hash-1", "jti-b", UnixTime(4600))
                .unwrap()
        );
        assert!(
            db.record_code_token("code-hash-1", "jti-a", UnixTime(4700))
                .unwrap()
        );
        // Recording the same token again is harmless.
        assert!(
            db.record_code_token("code-hash-1", "jti-a", UnixTime(4700))
                .unwrap()
        );
        let replayed = CodeRedemption::Replayed {
            code: c.clone(),
            issued_jtis: vec![
                ("jti-a".into(), UnixTime(4700)),
                ("jti-b".into(), UnixTime(4600)),
            ],
        };
        assert_eq!(
            db.redeem_code("code-hash-1", UnixTime(901)),
            Ok(replayed.clone())
        );
        // Still a replay later, after expiry, and the first redemption time is kept.
        assert_eq!(db.redeem_code("code-hash-1", UnixTime(1200)), Ok(replayed));
        assert_eq!(t.count("authorization_codes WHERE consumed_at = 900"), 1);
        // Once replayed, a token the first redemption records late is refused.
        assert!(
            !db.record_code_token("code-hash-1", "jti-late", UnixTime(4800))
                .unwrap()
        );
        assert_eq!(
            db.redeem_code("no-such-code", UnixTime(900)),
            Ok(CodeRedemption::Unknown)
        );
        // A replay of a code whose tokens were never recorded lists none.
        let d = code("code-hash-2", 1000);
        db.insert_code(&d).unwrap();
        db.redeem_code("code-hash-2", UnixTime(900)).unwrap();
        assert_eq!(
            db.redeem_code("code-hash-2", UnixTime(901)),
            Ok(CodeRedemption::Replayed {
                code: d,
                issued_jtis: vec![],
            })
        );
    }

    pub fn an_expired_code_is_still_reported_to_the_caller(_: &TestDb, db: &Database) {
        seed(db);
        let c = code("code-hash-1", 1000);
        db.insert_code(&c).unwrap();
        // The store does not judge expiry; the caller compares `expires_at`.
        assert_eq!(
            db.redeem_code("code-hash-1", UnixTime(5000)),
            Ok(CodeRedemption::Redeemed(c))
        );
    }

    pub fn code_round_trip_keeps_every_field(_: &TestDb, db: &Database) {
        seed(db);
        let full = code("code-full", 1000);
        let bare = AuthorizationCode {
            code_hash: "code-bare".into(),
            client_id: cid("c-phone"),
            redirect_uri_sent: false,
            nonce: None,
            code_challenge: None,
            scopes: ScopeSet::default(),
            resources: vec![],
            ..full.clone()
        };
        db.insert_code(&full).unwrap();
        db.insert_code(&bare).unwrap();
        assert_eq!(
            db.redeem_code("code-full", UnixTime(1)),
            Ok(CodeRedemption::Redeemed(full.clone()))
        );
        assert_eq!(
            db.redeem_code("code-bare", UnixTime(1)),
            Ok(CodeRedemption::Redeemed(bare))
        );
        let err = db.insert_code(&full).unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if !m.contains("code-full")),
            "{err:?}"
        );
    }

    pub fn concurrent_redeemers_of_one_code_have_one_winner(_: &TestDb, db: &Database) {
        seed(db);
        let c = code("code-race", 1000);
        db.insert_code(&c).unwrap();
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    db.redeem_code("code-race", UnixTime(100 + i as i64))
                })
            })
            .collect();
        let outcomes: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        let redeemed = outcomes
            .iter()
            .filter(|o| matches!(o, CodeRedemption::Redeemed(_)))
            .count();
        let replayed = outcomes
            .iter()
            .filter(|o| matches!(o, CodeRedemption::Replayed { .. }))
            .count();
        assert_eq!((redeemed, replayed), (1, threads - 1), "{outcomes:?}");
        for o in outcomes {
            match o {
                CodeRedemption::Redeemed(code) | CodeRedemption::Replayed { code, .. } => {
                    assert_eq!(code, c);
                }
                CodeRedemption::Unknown => unreachable!(),
            }
        }
    }

    pub fn finding_a_code_spends_nothing(t: &TestDb, db: &Database) {
        seed(db);
        let c = code("code-hash-1", 1000);
        db.insert_code(&c).unwrap();
        assert_eq!(db.find_code("code-hash-1"), Ok(Some(c.clone())));
        assert_eq!(db.find_code("code-hash-1"), Ok(Some(c.clone())));
        assert_eq!(t.count("authorization_codes WHERE consumed_at IS NULL"), 1);
        assert_eq!(
            db.redeem_code("code-hash-1", UnixTime(900)),
            Ok(CodeRedemption::Redeemed(c.clone()))
        );
        // A consumed code is still found (its replay must still be recognised).
        assert_eq!(db.find_code("code-hash-1"), Ok(Some(c)));
        assert_eq!(db.find_code("no-such-code"), Ok(None));
    }

    pub fn corrupt_code_row_is_reported(t: &TestDb, db: &Database) {
        seed(db);
        db.insert_code(&code("code-hash-1", 1000)).unwrap();
        t.execute("UPDATE authorization_codes SET scopes = 'open\"id'");
        let err = db.redeem_code("code-hash-1", UnixTime(1)).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if !m.contains("code-hash-1")),
            "{err:?}"
        );
    }

    pub fn revoking_a_jti_is_idempotent(_: &TestDb, db: &Database) {
        assert_eq!(db.is_jti_revoked("jti-1"), Ok(false));
        db.revoke_jti("jti-1", UnixTime(1000)).unwrap();
        assert_eq!(db.is_jti_revoked("jti-1"), Ok(true));
        db.revoke_jti("jti-1", UnixTime(1000)).unwrap();
        db.revoke_jti("jti-1", UnixTime(2000)).unwrap();
        assert_eq!(db.is_jti_revoked("jti-1"), Ok(true));
        assert_eq!(db.is_jti_revoked("jti-2"), Ok(false));
    }

    pub fn a_nonce_is_spent_once_even_by_racing_spenders(t: &TestDb, db: &Database) {
        assert_eq!(db.spend_nonce("nonce-a", UnixTime(1000)), Ok(true));
        assert_eq!(db.spend_nonce("nonce-a", UnixTime(1000)), Ok(false));
        assert_eq!(db.spend_nonce("nonce-a", UnixTime(9000)), Ok(false));
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    db.spend_nonce("nonce-race", UnixTime(1000))
                })
            })
            .collect();
        let won = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(won, 1);
        // Kept until five minutes after it would have expired (a node whose clock is
        // behind must still find it), then purged.
        db.purge_expired(UnixTime(1299)).unwrap();
        assert_eq!(t.count("spent_nonces"), 2);
        db.purge_expired(UnixTime(1300)).unwrap();
        assert_eq!(t.count("spent_nonces"), 0);
    }

    pub fn revoked_jtis_lists_the_unexpired_up_to_a_limit(_: &TestDb, db: &Database) {
        assert_eq!(db.revoked_jtis(UnixTime(0), 10), Ok(vec![]));
        db.revoke_jti("old", UnixTime(100)).unwrap();
        db.revoke_jti("a", UnixTime(1000)).unwrap();
        db.revoke_jti("b", UnixTime(2000)).unwrap();
        let mut live = db.revoked_jtis(UnixTime(100), 10).unwrap();
        live.sort();
        assert_eq!(live, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            db.revoked_jtis(UnixTime(1500), 10),
            Ok(vec!["b".to_owned()])
        );
        assert_eq!(db.revoked_jtis(UnixTime(99), 2).unwrap().len(), 2);
        assert_eq!(db.revoked_jtis(UnixTime(2000), 10), Ok(vec![]));
    }

    /// Applies the same steps to the store and to the reference rule in
    /// [`ThrottlePolicy`], and compares every answer.
    pub fn login_attempts_follow_the_reference_rule(t: &TestDb, db: &Database) {
        let policy = ThrottlePolicy {
            max_failures: 3,
            first_lock: 10,
            window: 100,
            max_lock: 35,
        };
        let key = "user:alice";
        let mut model: Option<LoginFailures> = None;
        let reserve = |model: &mut Option<LoginFailures>, now: i64| {
            let want = policy.reserve(*model, UnixTime(now));
            let got = db.reserve_attempt(key, UnixTime(now), &policy).unwrap();
            assert_eq!(got, want, "at {now}");
            if let Reservation::Granted(f) = got {
                *model = Some(f);
            }
            got
        };
        let granted = |r: Reservation| match r {
            Reservation::Granted(f) => f,
            Reservation::Refused { until } => panic!("refused until {until:?}"),
        };
        for _ in 0..3 {
            reserve(&mut model, 0);
        }
        assert_eq!(model.unwrap().locked_until, Some(UnixTime(10)));
        assert_eq!(
            reserve(&mut model, 5),
            Reservation::Refused {
                until: UnixTime(10)
            }
        );
        // A reservation given back (a success) lifts the lock it set.
        let fourth = granted(reserve(&mut model, 10));
        assert_eq!(fourth.locked_until, Some(UnixTime(30)));
        db.release_attempt(key, &fourth, &policy).unwrap();
        model = policy.release(model.unwrap(), &fourth);
        assert_eq!(
            model,
            Some(LoginFailures {
                count: 3,
                window_start: UnixTime(0),
                locked_until: None
            })
        );
        assert_eq!(
            t.count(
                "login_failures WHERE key = 'user:alice' AND count = 3 \
                 AND window_start = 0 AND locked_until IS NULL"
            ),
            1
        );
        // Locks double up to the cap, then a new window starts.
        for now in [11, 31, 71] {
            granted(reserve(&mut model, now));
        }
        assert_eq!(
            model,
            Some(LoginFailures {
                count: 6,
                window_start: UnixTime(0),
                locked_until: Some(UnixTime(71 + 35))
            })
        );
        let stale = model.unwrap();
        let next = granted(reserve(&mut model, 106));
        assert_eq!((next.count, next.window_start), (1, UnixTime(106)));
        // Giving back a reservation of an earlier window changes nothing.
        db.release_attempt(key, &stale, &policy).unwrap();
        assert_eq!(granted(reserve(&mut model, 107)).count, 2);
        // Keys are independent; clearing forgets one key.
        let other = db
            .reserve_attempt("ip:192.0.2.1", UnixTime(107), &policy)
            .unwrap();
        assert_eq!(granted(other).count, 1);
        db.clear_failures(key).unwrap();
        db.clear_failures(key).unwrap();
        model = None;
        assert_eq!(granted(reserve(&mut model, 108)).count, 1);
        assert_eq!(t.count("login_failures"), 2);
        // A negative count cannot come from Usher.
        t.execute("UPDATE login_failures SET count = -5");
        assert!(matches!(
            db.reserve_attempt("ip:192.0.2.1", UnixTime(109), &policy),
            Err(StoreError::Corrupt(_))
        ));
    }

    /// Many threads reserve for one key at once: every reservation is counted exactly
    /// once (the counts are 1..=N), and with a limit only the first `max_failures` are
    /// granted.
    pub fn concurrent_reservations_lose_no_count_and_never_pass_the_limit(
        t: &TestDb,
        db: &Database,
    ) {
        let threads = 24;
        let race = |key: &'static str, policy: ThrottlePolicy| {
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (db, barrier) = (db.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        db.reserve_attempt(key, UnixTime(1000), &policy).unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        };
        let counts = |outcomes: &[Reservation]| {
            let mut counts: Vec<u32> = outcomes
                .iter()
                .filter_map(|r| match r {
                    Reservation::Granted(f) => Some(f.count),
                    Reservation::Refused { .. } => None,
                })
                .collect();
            counts.sort_unstable();
            counts
        };

        let unlimited = ThrottlePolicy::new(1000, 30);
        let outcomes = race("user:many", unlimited);
        let expected: Vec<u32> = (1..=threads as u32).collect();
        assert_eq!(counts(&outcomes), expected);

        let five = ThrottlePolicy::new(5, 30);
        let outcomes = race("user:limited", five);
        assert_eq!(counts(&outcomes), vec![1, 2, 3, 4, 5]);
        assert!(
            outcomes
                .iter()
                .filter(|r| matches!(r, Reservation::Refused { .. }))
                .all(|r| *r
                    == Reservation::Refused {
                        until: UnixTime(1030)
                    }),
            "{outcomes:?}"
        );
        assert_eq!(
            t.count("login_failures WHERE key = 'user:limited' AND count = 5"),
            1
        );

        // Every reservation given back at once: back to zero, no lock.
        let granted: Vec<LoginFailures> = race("ip:192.0.2.9", unlimited)
            .into_iter()
            .map(|r| match r {
                Reservation::Granted(f) => f,
                Reservation::Refused { until } => panic!("refused until {until:?}"),
            })
            .collect();
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = granted
            .into_iter()
            .map(|g| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    db.release_attempt("ip:192.0.2.9", &g, &unlimited).unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            t.count(
                "login_failures WHERE key = 'ip:192.0.2.9' AND count = 0 AND locked_until IS NULL"
            ),
            1
        );
    }

    pub fn deleting_a_user_or_client_removes_their_sign_in_records(t: &TestDb, db: &Database) {
        seed(db);
        db.insert_session(&session("sess-a", "u-1", 1000)).unwrap();
        db.insert_session(&session("sess-b", "u-2", 1000)).unwrap();
        db.insert_interaction(&Interaction {
            user_id: Some(uid("u-1")),
            auth_time: Some(UnixTime(1)),
            ..interaction("i-a", "csrf-a", 1000)
        })
        .unwrap();
        db.insert_interaction(&interaction("i-anon", "csrf-x", 1000))
            .unwrap();
        db.save_consent(&uid("u-1"), &cid("c-shop"), &grant("openid"), UnixTime(1))
            .unwrap();
        db.save_consent(&uid("u-2"), &cid("c-shop"), &grant("openid"), UnixTime(1))
            .unwrap();
        db.save_consent(&uid("u-2"), &cid("c-phone"), &grant("openid"), UnixTime(1))
            .unwrap();
        db.insert_code(&code("code-a", 1000)).unwrap();
        db.redeem_code("code-a", UnixTime(1)).unwrap();
        db.record_code_token("code-a", "jti-a", UnixTime(100))
            .unwrap();
        db.insert_code(&AuthorizationCode {
            user_id: uid("u-2"),
            ..code("code-b", 1000)
        })
        .unwrap();
        db.insert_code(&AuthorizationCode {
            user_id: uid("u-2"),
            client_id: cid("c-phone"),
            ..code("code-c", 1000)
        })
        .unwrap();

        assert_eq!(db.delete_user(&uname("alice")), Ok(true));
        assert_eq!(db.get_session("sess-a", UnixTime(1)), Ok(None));
        assert_eq!(db.get_interaction("i-a", UnixTime(1)).unwrap(), None);
        assert_eq!(db.get_consent(&uid("u-1"), &cid("c-shop")), Ok(None));
        assert_eq!(
            db.redeem_code("code-a", UnixTime(2)),
            Ok(CodeRedemption::Unknown)
        );
        assert_eq!(t.count("code_tokens"), 0);
        // Bob's records and the anonymous interaction are untouched.
        assert!(db.get_session("sess-b", UnixTime(1)).unwrap().is_some());
        assert!(db.get_interaction("i-anon", UnixTime(1)).unwrap().is_some());
        assert!(
            db.get_consent(&uid("u-2"), &cid("c-shop"))
                .unwrap()
                .is_some()
        );
        assert_eq!(t.count("authorization_codes"), 2);

        // Deleting a client removes its consents and codes.
        assert_eq!(db.delete_client(&cid("c-shop")), Ok(true));
        assert_eq!(db.get_consent(&uid("u-2"), &cid("c-shop")), Ok(None));
        assert_eq!(
            db.redeem_code("code-b", UnixTime(2)),
            Ok(CodeRedemption::Unknown)
        );
        assert!(
            db.get_consent(&uid("u-2"), &cid("c-phone"))
                .unwrap()
                .is_some()
        );
        assert_eq!(t.count("authorization_codes WHERE code_hash = 'code-c'"), 1);
    }

    pub fn purge_removes_only_what_has_expired(t: &TestDb, db: &Database) {
        seed(db);
        let now = 100_000;
        // Sessions: gone at `expires_at`; interactions five minutes later (they record
        // that a single-use form was spent; a node with a slower clock must still find them).
        db.insert_session(&session("sess-old", "u-1", now)).unwrap();
        db.insert_session(&session("sess-live", "u-1", now + 1))
            .unwrap();
        db.insert_interaction(&interaction("i-old", "c1", now - 300))
            .unwrap();
        db.insert_interaction(&interaction("i-live", "c2", now - 299))
            .unwrap();
        // Codes: kept for ten minutes after expiry so that replays are recognised.
        db.insert_code(&code("code-ancient", now - 601)).unwrap();
        db.record_code_token("code-ancient", "jti-x", UnixTime(now + 3000))
            .unwrap();
        db.insert_code(&code("code-at-cutoff", now - 600)).unwrap();
        db.insert_code(&code("code-recent", now - 599)).unwrap();
        db.redeem_code("code-recent", UnixTime(now - 700)).unwrap();
        db.record_code_token("code-recent", "jti-y", UnixTime(now + 3000))
            .unwrap();
        db.insert_code(&code("code-live", now + 60)).unwrap();
        // Revocations: gone once the token has expired anyway.
        db.revoke_jti("jti-old", UnixTime(now)).unwrap();
        db.revoke_jti("jti-live", UnixTime(now + 1)).unwrap();
        // Throttle counters: gone a day after both the window start and the lock end.
        let day = 24 * 60 * 60;
        let counters = [
            ("stale", now - day, None),
            ("stale-lock", now - day - 5, Some(now - day)),
            ("recent-window", now - day + 1, None),
            ("long-lock", now - 2 * day, Some(now - day + 1)),
            ("locked-now", now - 2 * day, Some(now + 50)),
        ];
        for (key, window_start, locked_until) in counters {
            let locked_until = locked_until.map_or("NULL".to_owned(), |l| l.to_string());
            t.execute(&format!(
                "INSERT INTO login_failures (key, count, window_start, locked_until) \
                 VALUES ('{key}', 3, {window_start}, {locked_until})"
            ));
        }

        // 1 session + 1 interaction + 2 codes + 1 revocation + 2 counters.
        assert_eq!(db.purge_expired(UnixTime(now)), Ok(7));

        assert_eq!(t.count("sessions WHERE id_hash = 'sess-old'"), 0);
        assert!(
            db.get_session("sess-live", UnixTime(now))
                .unwrap()
                .is_some()
        );
        assert_eq!(t.count("interactions WHERE id = 'i-old'"), 0);
        assert_eq!(t.count("interactions WHERE id = 'i-live'"), 1);
        assert_eq!(
            db.redeem_code("code-ancient", UnixTime(now)),
            Ok(CodeRedemption::Unknown)
        );
        assert_eq!(
            db.redeem_code("code-at-cutoff", UnixTime(now)),
            Ok(CodeRedemption::Unknown)
        );
        assert_eq!(t.count("code_tokens WHERE jti = 'jti-x'"), 0);
        assert_eq!(
            db.redeem_code("code-recent", UnixTime(now)),
            Ok(CodeRedemption::Replayed {
                code: code("code-recent", now - 599),
                issued_jtis: vec![("jti-y".into(), UnixTime(now + 3000))],
            })
        );
        assert!(matches!(
            db.redeem_code("code-live", UnixTime(now)),
            Ok(CodeRedemption::Redeemed(_))
        ));
        assert_eq!(db.is_jti_revoked("jti-old"), Ok(false));
        assert_eq!(db.is_jti_revoked("jti-live"), Ok(true));
        for (key, _, _) in counters {
            let kept = t.count(&format!("login_failures WHERE key = '{key}'")) == 1;
            assert_eq!(kept, !key.starts_with("stale"), "{key}");
        }
        // Nothing more to do at the same time.
        assert_eq!(db.purge_expired(UnixTime(now)), Ok(0));
    }

    pub fn a_totp_factor_round_trips_and_is_replaced_only_while_unconfirmed(
        _: &TestDb,
        db: &Database,
    ) {
        seed(db);
        assert_eq!(db.get_totp(&uid("u-1")), Ok(None));
        let first = totp("u-1", false);
        assert_eq!(db.insert_totp(&first), Ok(true));
        assert_eq!(db.get_totp(&uid("u-1")), Ok(Some(first.clone())));
        // Set-up started again before it was confirmed: the new secret replaces it.
        let again = TotpFactor {
            sealed_secret: "v1.other".into(),
            created_at: UnixTime(20),
            ..first.clone()
        };
        assert_eq!(db.insert_totp(&again), Ok(true));
        assert_eq!(db.get_totp(&uid("u-1")), Ok(Some(again.clone())));
        // A code checked against the replaced secret confirms nothing.
        assert_eq!(
            db.confirm_totp(&uid("u-1"), 100, "v1.sealed-u-1"),
            Ok(false)
        );
        assert_eq!(db.confirm_totp(&uid("u-1"), 100, "v1.other"), Ok(true));
        let confirmed = db.get_totp(&uid("u-1")).unwrap().unwrap();
        assert!(confirmed.confirmed);
        assert_eq!(confirmed.last_used_step, Some(100));
        // A confirmed factor is never replaced by an insert.
        assert_eq!(db.insert_totp(&first), Ok(false));
        assert_eq!(db.get_totp(&uid("u-1")), Ok(Some(confirmed.clone())));
        assert_eq!(db.confirm_totp(&uid("u-1"), 200, "v1.other"), Ok(false));
        // Removing it is the way to start over.
        assert_eq!(db.delete_totp(&uid("u-1")), Ok(true));
        assert_eq!(db.delete_totp(&uid("u-1")), Ok(false));
        assert_eq!(db.insert_totp(&first), Ok(true));
        // Another person's factor is theirs.
        assert_eq!(db.get_totp(&uid("u-2")), Ok(None));
    }

    pub fn a_totp_step_is_accepted_once_and_only_after_the_last(_: &TestDb, db: &Database) {
        seed(db);
        db.insert_totp(&totp("u-1", false)).unwrap();
        assert_eq!(
            db.confirm_totp(&uid("u-1"), 1000, "v1.sealed-u-1"),
            Ok(true)
        );
        // The confirming code's step is used.
        assert_eq!(db.accept_totp_step(&uid("u-1"), 1000), Ok(false));
        assert_eq!(db.accept_totp_step(&uid("u-1"), 1001), Ok(true));
        assert_eq!(db.accept_totp_step(&uid("u-1"), 1001), Ok(false));
        // An earlier step (a code from the drift window before) is refused too.
        assert_eq!(db.accept_totp_step(&uid("u-1"), 1000), Ok(false));
        assert_eq!(db.accept_totp_step(&uid("u-1"), 1003), Ok(true));
        assert_eq!(db.accept_totp_step(&uid("u-1"), 1002), Ok(false));
        assert_eq!(
            db.get_totp(&uid("u-1")).unwrap().unwrap().last_used_step,
            Some(1003)
        );
        // No factor: nothing accepted.
        assert_eq!(db.accept_totp_step(&uid("u-2"), 1), Ok(false));
    }

    pub fn an_unconfirmed_totp_factor_accepts_no_step_until_confirmed(_: &TestDb, db: &Database) {
        seed(db);
        db.insert_totp(&totp("u-1", false)).unwrap();
        assert_eq!(db.accept_totp_step(&uid("u-1"), 5), Ok(false));
        assert_eq!(
            db.get_totp(&uid("u-1")).unwrap().unwrap().last_used_step,
            None
        );
        assert_eq!(db.confirm_totp(&uid("u-1"), 5, "v1.sealed-u-1"), Ok(true));
        assert_eq!(db.accept_totp_step(&uid("u-1"), 6), Ok(true));
    }

    pub fn concurrent_acceptances_of_one_totp_step_have_one_winner(_: &TestDb, db: &Database) {
        seed(db);
        db.insert_totp(&totp("u-1", false)).unwrap();
        db.confirm_totp(&uid("u-1"), 10, "v1.sealed-u-1").unwrap();
        let db2 = db.clone();
        let won = race(20, move || db2.accept_totp_step(&uid("u-1"), 11).unwrap());
        assert_eq!(won, 1);
        assert_eq!(
            db.get_totp(&uid("u-1")).unwrap().unwrap().last_used_step,
            Some(11)
        );
        // Confirming races the same way.
        db.insert_totp(&totp("u-2", false)).unwrap();
        let db2 = db.clone();
        let won = race(20, move || {
            db2.confirm_totp(&uid("u-2"), 50, "v1.sealed-u-2").unwrap()
        });
        assert_eq!(won, 1);
    }

    pub fn a_sealed_totp_secret_is_resealed_by_compare_and_set(_: &TestDb, db: &Database) {
        seed(db);
        db.insert_totp(&totp("u-1", true)).unwrap();
        assert_eq!(
            db.reseal_totp(&uid("u-1"), "v1.sealed-u-1", "v1.resealed"),
            Ok(true)
        );
        assert_eq!(
            db.reseal_totp(&uid("u-1"), "v1.sealed-u-1", "v1.again"),
            Ok(false)
        );
        let stored = db.get_totp(&uid("u-1")).unwrap().unwrap();
        assert_eq!(stored.sealed_secret, "v1.resealed");
        assert!(stored.confirmed);
        db.insert_totp(&totp("u-2", false)).unwrap();
        let all = db.list_totp_factors().unwrap();
        assert_eq!(all, vec![stored, totp("u-2", false)]);
    }

    pub fn a_recovery_code_is_spent_once_and_replacing_voids_the_old_ones(
        t: &TestDb,
        db: &Database,
    ) {
        seed(db);
        let old: Vec<String> = (0..10).map(|i| format!("hmac-sha256.old-{i}")).collect();
        db.replace_recovery_codes(&uid("u-1"), &old, UnixTime(5))
            .unwrap();
        db.replace_recovery_codes(&uid("u-2"), &old[..2], UnixTime(5))
            .unwrap();
        assert_eq!(db.recovery_codes_left(&uid("u-1")), Ok(10));
        assert_eq!(
            db.spend_recovery_code(&uid("u-1"), "hmac-sha256.old-3", UnixTime(7)),
            Ok(true)
        );
        assert_eq!(
            db.spend_recovery_code(&uid("u-1"), "hmac-sha256.old-3", UnixTime(8)),
            Ok(false)
        );
        assert_eq!(
            db.spend_recovery_code(&uid("u-1"), "hmac-sha256.nope", UnixTime(8)),
            Ok(false)
        );
        assert_eq!(db.recovery_codes_left(&uid("u-1")), Ok(9));
        assert_eq!(
            t.count("recovery_codes WHERE user_id = 'u-1' AND used_at = 7"),
            1
        );
        // Bob's copy of the same hash is his own.
        assert_eq!(
            db.spend_recovery_code(&uid("u-2"), "hmac-sha256.old-3", UnixTime(8)),
            Ok(false)
        );
        assert_eq!(
            db.spend_recovery_code(&uid("u-2"), "hmac-sha256.old-1", UnixTime(8)),
            Ok(true)
        );
        assert_eq!(db.recovery_codes_left(&uid("u-2")), Ok(1));
        // New codes void every old one, spent or not.
        let new: Vec<String> = (0..10).map(|i| format!("hmac-sha256.new-{i}")).collect();
        db.replace_recovery_codes(&uid("u-1"), &new, UnixTime(9))
            .unwrap();
        assert_eq!(db.recovery_codes_left(&uid("u-1")), Ok(10));
        assert_eq!(t.count("recovery_codes WHERE user_id = 'u-1'"), 10);
        assert_eq!(
            db.spend_recovery_code(&uid("u-1"), "hmac-sha256.old-4", UnixTime(10)),
            Ok(false)
        );
        assert_eq!(
            db.spend_recovery_code(&uid("u-1"), "hmac-sha256.new-4", UnixTime(10)),
            Ok(true)
        );
        // Bob's codes were not touched.
        assert_eq!(db.recovery_codes_left(&uid("u-2")), Ok(1));
        // Equal hashes in one set are refused, and nothing is replaced.
        let twice = vec!["h".to_owned(), "h".to_owned()];
        assert!(matches!(
            db.replace_recovery_codes(&uid("u-1"), &twice, UnixTime(11)),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(db.recovery_codes_left(&uid("u-1")), Ok(9));
    }

    pub fn concurrent_spenders_of_one_recovery_code_have_one_winner(t: &TestDb, db: &Database) {
        seed(db);
        let codes: Vec<String> = (0..10).map(|i| format!("hmac-sha256.c-{i}")).collect();
        db.replace_recovery_codes(&uid("u-1"), &codes, UnixTime(5))
            .unwrap();
        let db2 = db.clone();
        let won = race(20, move || {
            db2.spend_recovery_code(&uid("u-1"), "hmac-sha256.c-0", UnixTime(6))
                .unwrap()
        });
        assert_eq!(won, 1);
        assert_eq!(db.recovery_codes_left(&uid("u-1")), Ok(9));
        assert_eq!(t.count("recovery_codes WHERE used_at IS NOT NULL"), 1);
    }

    pub fn factors_are_deleted_per_person_and_with_the_person(t: &TestDb, db: &Database) {
        seed(db);
        let codes: Vec<String> = (0..10).map(|i| format!("hmac-sha256.c-{i}")).collect();
        for u in ["u-1", "u-2"] {
            db.insert_totp(&totp(u, true)).unwrap();
            db.replace_recovery_codes(&uid(u), &codes, UnixTime(5))
                .unwrap();
        }
        assert_eq!(db.delete_factors(&uid("u-1")), Ok(11));
        assert_eq!(db.get_totp(&uid("u-1")), Ok(None));
        assert_eq!(db.recovery_codes_left(&uid("u-1")), Ok(0));
        assert_eq!(db.delete_factors(&uid("u-1")), Ok(0));
        assert!(db.get_totp(&uid("u-2")).unwrap().is_some());
        assert_eq!(db.recovery_codes_left(&uid("u-2")), Ok(10));
        // Deleting the person deletes their factors (ON DELETE CASCADE).
        assert_eq!(db.delete_user(&uname("bob")), Ok(true));
        assert_eq!(t.count("totp_factors"), 0);
        assert_eq!(t.count("recovery_codes"), 0);
    }
    pub fn a_passkey_round_trips_and_its_credential_id_is_stored_once(_: &TestDb, db: &Database) {
        seed(db);
        assert_eq!(db.list_passkeys(&uid("u-1")), Ok(vec![]));
        let second = passkey("pk-b", "u-1", 20);
        let first = Passkey {
            last_used_at: Some(UnixTime(30)),
            ..passkey("pk-a", "u-1", 10)
        };
        assert_eq!(db.insert_passkey(&second, 25), Ok(PasskeyInsert::Stored));
        assert_eq!(db.insert_passkey(&first, 25), Ok(PasskeyInsert::Stored));
        // Oldest first, every field kept.
        assert_eq!(
            db.list_passkeys(&uid("u-1")),
            Ok(vec![first.clone(), second.clone()])
        );
        assert_eq!(db.find_passkey("cred-pk-a"), Ok(Some(first.clone())));
        assert_eq!(db.find_passkey("cred-unknown"), Ok(None));
        // The same credential id again, for the same person or another: refused, nothing
        // written.
        let again = Passkey {
            id: "pk-c".into(),
            ..first.clone()
        };
        assert_eq!(db.insert_passkey(&again, 25), Ok(PasskeyInsert::Duplicate));
        let bobs = Passkey {
            id: "pk-d".into(),
            user_id: uid("u-2"),
            ..first.clone()
        };
        assert_eq!(db.insert_passkey(&bobs, 25), Ok(PasskeyInsert::Duplicate));
        assert_eq!(db.list_passkeys(&uid("u-2")), Ok(vec![]));
        assert_eq!(db.find_passkey("cred-pk-a"), Ok(Some(first.clone())));
        // Usher's own id is unique too.
        let same_id = Passkey {
            credential_id: "cred-other".into(),
            ..first
        };
        assert!(matches!(
            db.insert_passkey(&same_id, 25),
            Err(StoreError::Conflict(_))
        ));
    }

    pub fn a_person_has_at_most_the_cap_of_passkeys_even_under_concurrent_inserts(
        t: &TestDb,
        db: &Database,
    ) {
        seed(db);
        for i in 0..3 {
            let p = passkey(&format!("pk-{i}"), "u-1", 10 + i);
            assert_eq!(db.insert_passkey(&p, 5), Ok(PasskeyInsert::Stored));
        }
        // Twenty racing inserts of distinct credentials, two places left.
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let db2 = db.clone();
        let won = race(20, move || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p = passkey(&format!("pk-r{n}"), "u-1", 100);
            match db2.insert_passkey(&p, 5).unwrap() {
                PasskeyInsert::Stored => true,
                PasskeyInsert::Full => false,
                PasskeyInsert::Duplicate => panic!("distinct credentials"),
            }
        });
        assert_eq!(won, 2);
        assert_eq!(t.count("passkeys WHERE user_id = 'u-1'"), 5);
        // Another person's cap is their own.
        assert_eq!(
            db.insert_passkey(&passkey("pk-b1", "u-2", 10), 5),
            Ok(PasskeyInsert::Stored)
        );
        // A full person's duplicate is still a duplicate nowhere written.
        assert_eq!(
            db.insert_passkey(&passkey("pk-x", "u-1", 10), 5),
            Ok(PasskeyInsert::Full)
        );
    }

    pub fn passkeys_are_renamed_and_removed_only_by_their_person(_: &TestDb, db: &Database) {
        seed(db);
        db.insert_passkey(&passkey("pk-a", "u-1", 10), 25).unwrap();
        let name = PasskeyName::parse("Phone").unwrap();
        assert_eq!(db.rename_passkey(&uid("u-2"), "pk-a", &name), Ok(false));
        assert_eq!(db.rename_passkey(&uid("u-1"), "pk-x", &name), Ok(false));
        assert_eq!(db.rename_passkey(&uid("u-1"), "pk-a", &name), Ok(true));
        assert_eq!(
            db.find_passkey("cred-pk-a").unwrap().unwrap().name.as_str(),
            "Phone"
        );
        assert_eq!(db.delete_passkey(&uid("u-2"), "pk-a"), Ok(false));
        assert!(db.find_passkey("cred-pk-a").unwrap().is_some());
        assert_eq!(db.delete_passkey(&uid("u-1"), "pk-a"), Ok(true));
        assert_eq!(db.delete_passkey(&uid("u-1"), "pk-a"), Ok(false));
        assert_eq!(db.find_passkey("cred-pk-a"), Ok(None));
    }

    pub fn a_passkey_credential_is_updated_by_compare_and_set_unless_suspect(
        _: &TestDb,
        db: &Database,
    ) {
        seed(db);
        let stored = passkey("pk-a", "u-1", 10);
        db.insert_passkey(&stored, 25).unwrap();
        let one = r#"{"cred":{"cred_id":"cred-pk-a","counter":1}}"#;
        let two = r#"{"cred":{"cred_id":"cred-pk-a","counter":2}}"#;
        assert_eq!(
            db.update_passkey_credential("pk-a", &stored.credential, one, UnixTime(40)),
            Ok(true)
        );
        // From a stale value: refused.
        assert_eq!(
            db.update_passkey_credential("pk-a", &stored.credential, two, UnixTime(41)),
            Ok(false)
        );
        let now = db.find_passkey("cred-pk-a").unwrap().unwrap();
        assert_eq!(now.credential, one);
        assert_eq!(now.last_used_at, Some(UnixTime(40)));
        // Unchanged credential (a synced passkey's zero counter): last use still recorded.
        assert_eq!(
            db.update_passkey_credential("pk-a", one, one, UnixTime(42)),
            Ok(true)
        );
        assert_eq!(
            db.find_passkey("cred-pk-a").unwrap().unwrap().last_used_at,
            Some(UnixTime(42))
        );
        // A suspect passkey is never updated again.
        assert_eq!(db.mark_passkey_suspect("pk-a"), Ok(true));
        assert_eq!(db.mark_passkey_suspect("pk-x"), Ok(false));
        assert_eq!(
            db.update_passkey_credential("pk-a", one, two, UnixTime(43)),
            Ok(false)
        );
        let suspect = db.find_passkey("cred-pk-a").unwrap().unwrap();
        assert!(suspect.suspect);
        assert_eq!(suspect.credential, one);
        assert_eq!(
            db.update_passkey_credential("pk-x", one, two, UnixTime(43)),
            Ok(false)
        );
    }

    pub fn concurrent_updates_of_one_passkey_credential_have_one_winner(_: &TestDb, db: &Database) {
        seed(db);
        let stored = passkey("pk-a", "u-1", 10);
        db.insert_passkey(&stored, 25).unwrap();
        let db2 = db.clone();
        let old = stored.credential.clone();
        let next = std::sync::atomic::AtomicU32::new(1);
        let won = race(20, move || {
            let counter = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let new = format!(r#"{{"cred":{{"cred_id":"cred-pk-a","counter":{counter}}}}}"#);
            db2.update_passkey_credential("pk-a", &old, &new, UnixTime(50))
                .unwrap()
        });
        assert_eq!(won, 1);
        let now = db.find_passkey("cred-pk-a").unwrap().unwrap();
        assert_ne!(now.credential, stored.credential);
        assert_eq!(now.last_used_at, Some(UnixTime(50)));
    }

    pub fn a_ceremony_is_taken_once_expired_or_not(_: &TestDb, db: &Database) {
        seed(db);
        let registering = ceremony("c-reg", CeremonyKind::Register, Some("u-1"), 1000);
        let signing_in = ceremony("c-auth", CeremonyKind::Authenticate, None, 10);
        db.insert_ceremony(&registering).unwrap();
        db.insert_ceremony(&signing_in).unwrap();
        assert!(matches!(
            db.insert_ceremony(&registering),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(db.take_ceremony("c-reg"), Ok(Some(registering)));
        assert_eq!(db.take_ceremony("c-reg"), Ok(None));
        // The store does not judge expiry: the caller does, with the row in hand.
        assert_eq!(db.take_ceremony("c-auth"), Ok(Some(signing_in)));
        assert_eq!(db.take_ceremony("c-auth"), Ok(None));
        assert_eq!(db.take_ceremony("c-unknown"), Ok(None));
    }

    pub fn concurrent_takers_of_one_ceremony_have_one_winner(t: &TestDb, db: &Database) {
        seed(db);
        db.insert_ceremony(&ceremony("c-1", CeremonyKind::Authenticate, None, 1000))
            .unwrap();
        db.insert_ceremony(&ceremony("c-2", CeremonyKind::Register, Some("u-2"), 1000))
            .unwrap();
        let db2 = db.clone();
        let won = race(20, move || db2.take_ceremony("c-1").unwrap().is_some());
        assert_eq!(won, 1);
        assert_eq!(t.count("webauthn_ceremonies"), 1);
        let db2 = db.clone();
        let won = race(20, move || db2.take_ceremony("c-2").unwrap().is_some());
        assert_eq!(won, 1);
        assert_eq!(t.count("webauthn_ceremonies"), 0);
    }

    pub fn expired_ceremonies_are_purged(t: &TestDb, db: &Database) {
        seed(db);
        db.insert_ceremony(&ceremony("c-old", CeremonyKind::Authenticate, None, 100))
            .unwrap();
        db.insert_ceremony(&ceremony(
            "c-edge",
            CeremonyKind::Register,
            Some("u-1"),
            200,
        ))
        .unwrap();
        db.insert_ceremony(&ceremony("c-live", CeremonyKind::Authenticate, None, 201))
            .unwrap();
        assert_eq!(db.purge_ceremonies(UnixTime(100)), Ok(1));
        assert_eq!(db.purge_ceremonies(UnixTime(100)), Ok(0));
        // The sign-in records' purge includes them.
        assert_eq!(db.purge_expired(UnixTime(200)), Ok(1));
        assert_eq!(t.count("webauthn_ceremonies WHERE id_hash = 'c-live'"), 1);
        assert_eq!(t.count("webauthn_ceremonies"), 1);
    }

    pub fn passkeys_and_ceremonies_go_with_the_person(t: &TestDb, db: &Database) {
        seed(db);
        db.insert_passkey(&passkey("pk-a", "u-2", 10), 25).unwrap();
        db.insert_passkey(&passkey("pk-b", "u-1", 10), 25).unwrap();
        db.insert_ceremony(&ceremony("c-1", CeremonyKind::Register, Some("u-2"), 1000))
            .unwrap();
        db.insert_ceremony(&ceremony("c-2", CeremonyKind::Authenticate, None, 1000))
            .unwrap();
        assert_eq!(db.delete_user(&uname("bob")), Ok(true));
        assert_eq!(t.count("passkeys"), 1);
        assert_eq!(t.count("webauthn_ceremonies"), 1);
        assert_eq!(db.find_passkey("cred-pk-a"), Ok(None));
    }

    pub fn a_corrupt_passkey_row_is_reported(t: &TestDb, db: &Database) {
        seed(db);
        db.insert_passkey(&passkey("pk-a", "u-1", 10), 25).unwrap();
        // Longer than a name may be.
        t.execute(&format!("UPDATE passkeys SET name = '{}'", "x".repeat(65)));
        assert!(matches!(
            db.find_passkey("cred-pk-a"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            db.list_passkeys(&uid("u-1")),
            Err(StoreError::Corrupt(_))
        ));
    }
}

mod form_token_cases {
    use usher_domain::{FormToken, FormTokenStore};

    use super::*;

    fn token(hash: &str, expires_at: i64) -> FormToken {
        FormToken {
            token_hash: hash.to_owned(),
            session_hash: "session-a".to_owned(),
            purpose: "account".to_owned(),
            expires_at: UnixTime(expires_at),
        }
    }

    pub fn a_form_token_is_taken_once_as_stored(t: &TestDb, db: &Database) {
        db.insert_form_token(&token("tok-1", 1000)).unwrap();
        db.insert_form_token(&token("tok-2", 1000)).unwrap();
        assert!(matches!(
            db.insert_form_token(&token("tok-1", 2000)),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(db.take_form_token("tok-1"), Ok(Some(token("tok-1", 1000))));
        assert_eq!(db.take_form_token("tok-1"), Ok(None));
        assert_eq!(db.take_form_token("never"), Ok(None));
        // An expired token is still returned (the caller refuses it) and spent.
        assert_eq!(t.count("form_tokens"), 1);
        assert_eq!(db.take_form_token("tok-2"), Ok(Some(token("tok-2", 1000))));
        assert_eq!(t.count("form_tokens"), 0);
    }

    pub fn concurrent_takers_of_one_form_token_have_one_winner(t: &TestDb, db: &Database) {
        db.insert_form_token(&token("tok-race", 1000)).unwrap();
        let db2 = db.clone();
        let won = race(20, move || {
            db2.take_form_token("tok-race").unwrap().is_some()
        });
        assert_eq!(won, 1);
        assert_eq!(t.count("form_tokens"), 0);
    }

    pub fn expired_form_tokens_are_purged(t: &TestDb, db: &Database) {
        db.insert_form_token(&token("old", 1000)).unwrap();
        db.insert_form_token(&token("live", 1001)).unwrap();
        db.purge_expired(UnixTime(1000)).unwrap();
        assert_eq!(t.count("form_tokens"), 1);
        assert_eq!(db.take_form_token("live"), Ok(Some(token("live", 1001))));
    }
}

mod form_tokens {
    mod sqlite {
        #[test]
        fn a_form_token_is_taken_once_as_stored() {
            super::super::run(
                "sqlite",
                super::super::form_token_cases::a_form_token_is_taken_once_as_stored,
            );
        }
        #[test]
        fn concurrent_takers_of_one_form_token_have_one_winner() {
            super::super::run(
                "sqlite",
                super::super::form_token_cases::concurrent_takers_of_one_form_token_have_one_winner,
            );
        }
        #[test]
        fn expired_form_tokens_are_purged() {
            super::super::run(
                "sqlite",
                super::super::form_token_cases::expired_form_tokens_are_purged,
            );
        }
    }
    mod postgres {
        #[test]
        fn a_form_token_is_taken_once_as_stored() {
            super::super::run(
                "postgres",
                super::super::form_token_cases::a_form_token_is_taken_once_as_stored,
            );
        }
        #[test]
        fn concurrent_takers_of_one_form_token_have_one_winner() {
            super::super::run(
                "postgres",
                super::super::form_token_cases::concurrent_takers_of_one_form_token_have_one_winner,
            );
        }
        #[test]
        fn expired_form_tokens_are_purged() {
            super::super::run(
                "postgres",
                super::super::form_token_cases::expired_form_tokens_are_purged,
            );
        }
    }
}

mod mail_token_cases {
    use usher_domain::{MailPurpose, MailToken, MailTokenStore};

    use super::*;

    fn token(hash: &str, user_id: &str, purpose: MailPurpose, expires_at: i64) -> MailToken {
        MailToken {
            token_hash: hash.to_owned(),
            user_id: UserId::parse(user_id).unwrap(),
            purpose,
            email: Email::parse("alice@example.org").unwrap(),
            expires_at: UnixTime(expires_at),
        }
    }

    pub fn a_mail_token_is_found_then_taken_once(t: &TestDb, db: &Database) {
        db.insert_user(&user("u1", "alice", 1)).unwrap();
        let reset = token("tok-1", "u1", MailPurpose::PasswordReset, 1000);
        db.insert_mail_token(&reset).unwrap();
        assert!(matches!(
            db.insert_mail_token(&reset),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(db.find_mail_token("tok-1"), Ok(Some(reset.clone())));
        assert_eq!(db.find_mail_token("tok-1"), Ok(Some(reset.clone())));
        assert_eq!(db.take_mail_token("tok-1"), Ok(Some(reset)));
        assert_eq!(db.take_mail_token("tok-1"), Ok(None));
        assert_eq!(db.find_mail_token("tok-1"), Ok(None));
        assert_eq!(db.take_mail_token("never"), Ok(None));
        assert_eq!(t.count("mail_tokens"), 0);
    }

    pub fn concurrent_takers_of_one_mail_token_have_one_winner(t: &TestDb, db: &Database) {
        db.insert_user(&user("u1", "alice", 1)).unwrap();
        db.insert_mail_token(&token("tok-race", "u1", MailPurpose::PasswordReset, 1000))
            .unwrap();
        let db2 = db.clone();
        let won = race(20, move || {
            db2.take_mail_token("tok-race").unwrap().is_some()
        });
        assert_eq!(won, 1);
        assert_eq!(t.count("mail_tokens"), 0);
    }

    pub fn mail_tokens_are_deleted_per_purpose_purged_and_go_with_the_person(
        t: &TestDb,
        db: &Database,
    ) {
        db.insert_user(&user("u1", "alice", 1)).unwrap();
        db.insert_user(&bare_user("u2", "bob", 2)).unwrap();
        db.insert_mail_token(&token("a", "u1", MailPurpose::PasswordReset, 1000))
            .unwrap();
        db.insert_mail_token(&token("b", "u1", MailPurpose::PasswordReset, 5000))
            .unwrap();
        db.insert_mail_token(&token("c", "u1", MailPurpose::VerifyEmail, 5000))
            .unwrap();
        db.insert_mail_token(&token("d", "u2", MailPurpose::PasswordReset, 5000))
            .unwrap();
        db.purge_expired(UnixTime(1000)).unwrap();
        assert_eq!(t.count("mail_tokens"), 3);
        assert_eq!(
            db.delete_mail_tokens(&UserId::parse("u1").unwrap(), MailPurpose::PasswordReset),
            Ok(1)
        );
        assert!(db.find_mail_token("c").unwrap().is_some());
        assert!(db.delete_user(&Username::parse("bob").unwrap()).unwrap());
        assert_eq!(db.find_mail_token("d"), Ok(None));
        assert_eq!(t.count("mail_tokens"), 1);
    }

    pub fn people_are_found_by_address_without_regard_to_case(_: &TestDb, db: &Database) {
        db.insert_user(&user("u1", "alice", 1)).unwrap();
        db.insert_user(&User {
            email: Some(Email::parse("Alice@Example.org").unwrap()),
            email_verified: false,
            ..user("u2", "alice2", 2)
        })
        .unwrap();
        db.insert_user(&bare_user("u3", "carol", 3)).unwrap();
        let found = db
            .find_users_by_email(&Email::parse("ALICE@example.ORG").unwrap())
            .unwrap();
        let ids: Vec<&str> = found.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["u1", "u2"]);
        assert_eq!(found[0], user("u1", "alice", 1));
        assert!(
            db.find_users_by_email(&Email::parse("nobody@example.org").unwrap())
                .unwrap()
                .is_empty()
        );
    }

    pub fn an_address_is_marked_verified_only_while_it_is_the_persons(_: &TestDb, db: &Database) {
        db.insert_user(&User {
            email_verified: false,
            ..user("u1", "alice", 1)
        })
        .unwrap();
        let u1 = UserId::parse("u1").unwrap();
        let other = Email::parse("old@example.org").unwrap();
        assert_eq!(db.mark_email_verified(&u1, &other), Ok(false));
        assert!(!db.get_user(&u1).unwrap().unwrap().email_verified);
        let own = Email::parse("alice@example.org").unwrap();
        assert_eq!(db.mark_email_verified(&u1, &own), Ok(true));
        assert!(db.get_user(&u1).unwrap().unwrap().email_verified);
    }

    pub fn an_address_changes_only_from_the_address_it_was_read_as(_: &TestDb, db: &Database) {
        db.insert_user(&User {
            email_verified: false,
            ..user("u1", "alice", 1)
        })
        .unwrap();
        db.insert_user(&bare_user("u2", "bob", 2)).unwrap();
        let (u1, u2) = (UserId::parse("u1").unwrap(), UserId::parse("u2").unwrap());
        let old = Email::parse("alice@example.org").unwrap();
        let new = Email::parse("alice@new.example").unwrap();
        // Read as something else (or as none): nothing changes.
        let stale = Email::parse("older@example.org").unwrap();
        assert_eq!(db.change_email(&u1, Some(&stale), &new), Ok(false));
        assert_eq!(db.change_email(&u1, None, &new), Ok(false));
        let stored = db.get_user(&u1).unwrap().unwrap();
        assert_eq!(stored.email, Some(old.clone()));
        assert!(!stored.email_verified);
        // Read right: the new address, verified; nothing else of the person changes.
        assert_eq!(db.change_email(&u1, Some(&old), &new), Ok(true));
        let changed = db.get_user(&u1).unwrap().unwrap();
        assert_eq!(
            changed,
            User {
                email: Some(new.clone()),
                email_verified: true,
                ..user("u1", "alice", 1)
            }
        );
        // A second change from the same old address finds it gone.
        assert_eq!(db.change_email(&u1, Some(&old), &stale), Ok(false));
        // A person without an address gets one.
        assert_eq!(db.change_email(&u2, None, &new), Ok(true));
        let bob = db.get_user(&u2).unwrap().unwrap();
        assert_eq!((bob.email, bob.email_verified), (Some(new), true));
    }

    pub fn concurrent_changes_from_one_read_address_have_one_winner(_: &TestDb, db: &Database) {
        db.insert_user(&user("u1", "alice", 1)).unwrap();
        let db2 = db.clone();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let won = race(20, move || {
            let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let to = Email::parse(&format!("alice{n}@new.example")).unwrap();
            let from = Email::parse("alice@example.org").unwrap();
            db2.change_email(&UserId::parse("u1").unwrap(), Some(&from), &to)
                .unwrap()
        });
        assert_eq!(won, 1);
    }

    pub fn a_profile_update_sets_the_name_and_claims_and_nothing_else(_: &TestDb, db: &Database) {
        db.insert_user(&user("u1", "alice", 1)).unwrap();
        db.insert_user(&user("u2", "bob", 2)).unwrap();
        let u1 = UserId::parse("u1").unwrap();
        let claims = usher_domain::ProfileClaims {
            preferred_username: None,
            phone_number: Some(usher_domain::PhoneNumber::parse("+15550109999").unwrap()),
            phone_number_verified: false,
            address: usher_domain::Address::new(&usher_domain::AddressFields {
                country: Some("Aotearoa".into()),
                ..usher_domain::AddressFields::default()
            })
            .unwrap(),
        };
        let name = PersonName::parse("Alice L.").unwrap();
        assert_eq!(db.update_profile(&u1, Some(&name), &claims), Ok(true));
        assert_eq!(
            db.get_user(&u1).unwrap().unwrap(),
            User {
                name: Some(name),
                profile: claims.clone(),
                ..user("u1", "alice", 1)
            }
        );
        // The other person is untouched; clearing works; an unknown person is `false`.
        assert_eq!(
            db.get_user(&UserId::parse("u2").unwrap()).unwrap().unwrap(),
            user("u2", "bob", 2)
        );
        let cleared = usher_domain::ProfileClaims::default();
        assert_eq!(db.update_profile(&u1, None, &cleared), Ok(true));
        let stored = db.get_user(&u1).unwrap().unwrap();
        assert_eq!((stored.name, stored.profile), (None, cleared.clone()));
        assert_eq!(
            db.update_profile(&UserId::parse("nobody").unwrap(), None, &cleared),
            Ok(false)
        );
    }

    pub fn a_corrupt_address_is_reported_not_served(t: &TestDb, db: &Database) {
        db.insert_user(&user("u1", "alice", 1)).unwrap();
        t.execute("UPDATE users SET address = '{\"planet\":\"Mars\"}' WHERE id = 'u1'");
        assert!(matches!(
            db.get_user(&UserId::parse("u1").unwrap()),
            Err(StoreError::Corrupt(_))
        ));
    }
}

macro_rules! mail_contract {
    ($($case:ident),* $(,)?) => {
        mod mail_tokens {
            mod sqlite {
                $( #[test] fn $case() {
                    super::super::run("sqlite", super::super::mail_token_cases::$case);
                } )*
            }
            mod postgres {
                $( #[test] fn $case() {
                    super::super::run("postgres", super::super::mail_token_cases::$case);
                } )*
            }
        }
    };
}

mail_contract!(
    a_mail_token_is_found_then_taken_once,
    concurrent_takers_of_one_mail_token_have_one_winner,
    mail_tokens_are_deleted_per_purpose_purged_and_go_with_the_person,
    people_are_found_by_address_without_regard_to_case,
    an_address_is_marked_verified_only_while_it_is_the_persons,
    an_address_changes_only_from_the_address_it_was_read_as,
    concurrent_changes_from_one_read_address_have_one_winner,
    a_profile_update_sets_the_name_and_claims_and_nothing_else,
    a_corrupt_address_is_reported_not_served,
);

mod invitation_cases {
    use usher_domain::{Invitation, InvitationStore, PersonName, Redemption};

    use super::*;

    fn invitation(hash: &str, expires_at: i64) -> Invitation {
        Invitation {
            token_hash: hash.to_owned(),
            email: Email::parse("newcomer@example.org").unwrap(),
            name: Some(PersonName::parse("New Comer").unwrap()),
            created_at: UnixTime(10),
            expires_at: UnixTime(expires_at),
        }
    }

    fn newcomer(id: &str, username: &str) -> User {
        User {
            name: None,
            email: None,
            email_verified: false,
            ..bare_user(id, username, 20)
        }
    }

    pub fn an_invitation_is_found_then_redeemed_once_into_a_verified_person(
        t: &TestDb,
        db: &Database,
    ) {
        let inv = invitation("inv-1", 1000);
        db.insert_invitation(&inv).unwrap();
        assert!(matches!(
            db.insert_invitation(&inv),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(db.find_invitation("inv-1"), Ok(Some(inv.clone())));
        assert_eq!(db.find_invitation("never"), Ok(None));
        let created = match db.redeem("inv-1", &newcomer("u1", "newcomer"), UnixTime(100)) {
            Ok(Redemption::Created(u)) => u,
            other => panic!("expected a person, got {other:?}"),
        };
        assert_eq!(created.email, Some(inv.email.clone()));
        assert!(created.email_verified);
        assert_eq!(created.name, inv.name);
        assert_eq!(db.get_user(&uid("u1")), Ok(Some(created)));
        assert_eq!(db.find_invitation("inv-1"), Ok(None));
        assert_eq!(
            db.redeem("inv-1", &newcomer("u2", "other"), UnixTime(100)),
            Ok(Redemption::Invalid)
        );
        assert_eq!(db.get_user(&uid("u2")), Ok(None));
        assert_eq!(t.count("invitations"), 0);
    }

    pub fn a_taken_username_keeps_the_invitation_and_an_expired_one_is_spent(
        t: &TestDb,
        db: &Database,
    ) {
        db.insert_user(&user("u0", "alice", 1)).unwrap();
        db.insert_invitation(&invitation("inv-1", 1000)).unwrap();
        assert_eq!(
            db.redeem("inv-1", &newcomer("u1", "alice"), UnixTime(100)),
            Ok(Redemption::UsernameTaken)
        );
        assert_eq!(db.get_user(&uid("u1")), Ok(None));
        assert!(db.find_invitation("inv-1").unwrap().is_some());
        // Expired: spent, and nobody created.
        assert_eq!(
            db.redeem("inv-1", &newcomer("u1", "bob"), UnixTime(1000)),
            Ok(Redemption::Invalid)
        );
        assert_eq!(db.get_user(&uid("u1")), Ok(None));
        assert_eq!(t.count("invitations"), 0);
        // Purged at expiry.
        db.insert_invitation(&invitation("inv-2", 500)).unwrap();
        db.insert_invitation(&invitation("inv-3", 5000)).unwrap();
        db.purge_expired(UnixTime(500)).unwrap();
        assert_eq!(db.find_invitation("inv-2"), Ok(None));
        assert!(db.find_invitation("inv-3").unwrap().is_some());
    }

    pub fn an_invitation_to_an_address_someone_verified_since_creates_nobody(
        t: &TestDb,
        db: &Database,
    ) {
        db.insert_invitation(&invitation("inv-1", 1000)).unwrap();
        db.insert_invitation(&invitation("inv-2", 1000)).unwrap();
        // Unverified elsewhere: no obstacle.
        db.insert_user(&User {
            email: Some(Email::parse("NEWCOMER@example.org").unwrap()),
            email_verified: false,
            ..user("u0", "squatter", 1)
        })
        .unwrap();
        assert!(matches!(
            db.redeem("inv-1", &newcomer("u1", "first"), UnixTime(100)),
            Ok(Redemption::Created(_))
        ));
        // Now newcomer@ is verified (the invitation made it so): the second is spent
        // and creates nobody.
        assert_eq!(
            db.redeem("inv-2", &newcomer("u2", "second"), UnixTime(100)),
            Ok(Redemption::Invalid)
        );
        assert_eq!(db.get_user(&uid("u2")), Ok(None));
        assert_eq!(t.count("invitations"), 0);
    }

    pub fn live_invitations_are_listed_and_revoked_by_address(t: &TestDb, db: &Database) {
        let other = |hash: &str, email: &str, created: i64| Invitation {
            email: Email::parse(email).unwrap(),
            created_at: UnixTime(created),
            ..invitation(hash, 1000)
        };
        db.insert_invitation(&other("inv-b", "second@example.org", 30))
            .unwrap();
        db.insert_invitation(&invitation("inv-a", 1000)).unwrap();
        db.insert_invitation(&other("inv-c", "NewComer@Example.org", 40))
            .unwrap();
        db.insert_invitation(&invitation("inv-old", 50)).unwrap();
        let listed: Vec<String> = db
            .list_invitations(UnixTime(100))
            .unwrap()
            .into_iter()
            .map(|i| i.token_hash)
            .collect();
        assert_eq!(
            listed,
            ["inv-a", "inv-b", "inv-c"],
            "live ones, oldest first"
        );
        // Both invitations to newcomer@ go, whatever the case of the address; the
        // expired one too (it is to that address); the other address keeps its own.
        assert_eq!(
            db.revoke_invitations(&Email::parse("NEWCOMER@example.ORG").unwrap()),
            Ok(3)
        );
        assert_eq!(db.find_invitation("inv-a"), Ok(None));
        assert_eq!(db.find_invitation("inv-c"), Ok(None));
        assert_eq!(
            db.redeem("inv-a", &newcomer("u1", "newcomer"), UnixTime(100)),
            Ok(Redemption::Invalid)
        );
        assert_eq!(t.count("invitations"), 1);
        assert_eq!(
            db.revoke_invitations(&Email::parse("nobody@example.org").unwrap()),
            Ok(0)
        );
        // An address with a capital outside ASCII is revoked as written (ASCII case
        // aside): both sides are folded by the database alike (PostgreSQL's lower()
        // folds `É` where Rust's ASCII folding would not, so one-sided folding missed).
        db.insert_invitation(&other("inv-e", "ÉLISE@example.org", 60))
            .unwrap();
        assert_eq!(
            db.revoke_invitations(&Email::parse("ÉLISE@EXAMPLE.ORG").unwrap()),
            Ok(1)
        );
        assert_eq!(db.find_invitation("inv-e"), Ok(None));
    }

    pub fn twenty_racing_redeemers_of_one_invitation_create_one_person(t: &TestDb, db: &Database) {
        db.insert_invitation(&invitation("inv-race", 1000)).unwrap();
        let db2 = db.clone();
        let n = std::sync::atomic::AtomicUsize::new(0);
        let won = race(20, move || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let person = newcomer(&format!("u{i}"), &format!("racer{i}"));
            matches!(
                db2.redeem("inv-race", &person, UnixTime(100)).unwrap(),
                Redemption::Created(_)
            )
        });
        assert_eq!(won, 1);
        assert_eq!(t.count("users"), 1);
        assert_eq!(t.count("invitations"), 0);
    }
}

macro_rules! invitation_contract {
    ($($case:ident),* $(,)?) => {
        mod invitations {
            mod sqlite {
                $( #[test] fn $case() {
                    super::super::run("sqlite", super::super::invitation_cases::$case);
                } )*
            }
            mod postgres {
                $( #[test] fn $case() {
                    super::super::run("postgres", super::super::invitation_cases::$case);
                } )*
            }
        }
    };
}

invitation_contract!(
    an_invitation_is_found_then_redeemed_once_into_a_verified_person,
    a_taken_username_keeps_the_invitation_and_an_expired_one_is_spent,
    live_invitations_are_listed_and_revoked_by_address,
    an_invitation_to_an_address_someone_verified_since_creates_nobody,
    twenty_racing_redeemers_of_one_invitation_create_one_person,
);

mod resource_cases {
    use usher_domain::{Resource, ResourceName, ResourceStore, ResourceUri, ScopeSet, UnixTime};
    use usher_store::Database;
    use usher_store::testing::TestDb;

    fn resource(uri: &str, name: Option<&str>, scopes: &str) -> Resource {
        Resource {
            uri: ResourceUri::parse(uri).unwrap(),
            name: name.map(|n| ResourceName::parse(n).unwrap()),
            scopes: ScopeSet::parse(scopes).unwrap(),
            created_at: UnixTime(100),
            updated_at: UnixTime(100),
        }
    }

    pub fn a_resource_round_trips_and_is_listed_by_identifier(_: &TestDb, db: &Database) {
        let invoices = resource(
            "https://invoices.example/api",
            Some("Invoices"),
            "invoices:read invoices:write",
        );
        let reports = resource("https://a-reports.example", None, "reports:read");
        assert_eq!(db.insert_resource(&invoices), Ok(true));
        assert_eq!(db.insert_resource(&reports), Ok(true));
        assert_eq!(db.get_resource(&invoices.uri), Ok(Some(invoices.clone())));
        assert_eq!(db.get_resource(&reports.uri), Ok(Some(reports.clone())));
        let unknown = ResourceUri::parse("https://nowhere.example").unwrap();
        assert_eq!(db.get_resource(&unknown), Ok(None));
        assert_eq!(db.list_resources(), Ok(vec![reports, invoices]));
    }

    pub fn deleting_a_resource_takes_it_out_of_remembered_consents(_: &TestDb, db: &Database) {
        use usher_domain::{ConsentGrant, ConsentStore};
        super::seed(db);
        let (alice, bob) = (super::uid("u-1"), super::uid("u-2"));
        let shop = super::cid("c-shop");
        // LIKE's wildcards in the identifier, and one identifier the prefix of another.
        let gone = resource("https://api.example/v_1/a%20b", None, "a");
        let longer = resource("https://api.example/v_1/a%20b/c", None, "a");
        let other = resource("urn:example:other", None, "b");
        for r in [&gone, &longer, &other] {
            assert_eq!(db.insert_resource(r), Ok(true));
        }
        let grant = |resources: Vec<ResourceUri>| ConsentGrant {
            scopes: ScopeSet::parse("a b").unwrap(),
            resources,
        };
        let both = grant(vec![
            other.uri.clone(),
            gone.uri.clone(),
            longer.uri.clone(),
        ]);
        db.save_consent(&alice, &shop, &both, UnixTime(1)).unwrap();
        db.save_consent(&bob, &shop, &grant(vec![gone.uri.clone()]), UnixTime(1))
            .unwrap();
        assert_eq!(db.delete_resource(&gone.uri), Ok(true));
        assert_eq!(
            db.get_consent(&alice, &shop).unwrap().unwrap().resources,
            vec![other.uri.clone(), longer.uri.clone()]
        );
        assert_eq!(
            db.get_consent(&bob, &shop).unwrap().unwrap().resources,
            Vec::<ResourceUri>::new()
        );
        // The scopes stay: they may belong to other resources or to OpenID Connect.
        assert_eq!(
            db.get_consent(&bob, &shop).unwrap().unwrap().scopes,
            ScopeSet::parse("a b").unwrap()
        );
    }

    pub fn a_second_registration_of_one_identifier_changes_nothing(_: &TestDb, db: &Database) {
        let first = resource("https://invoices.example/api", Some("Invoices"), "a");
        assert_eq!(db.insert_resource(&first), Ok(true));
        let again = resource("https://invoices.example/api", None, "b c");
        assert_eq!(db.insert_resource(&again), Ok(false));
        assert_eq!(db.get_resource(&first.uri), Ok(Some(first)));
    }

    pub fn a_resource_is_updated_and_deleted_once(_: &TestDb, db: &Database) {
        let r = resource("urn:example:invoices", Some("Invoices"), "invoices:read");
        assert_eq!(db.insert_resource(&r), Ok(true));
        let changed = Resource {
            name: None,
            scopes: ScopeSet::parse("invoices:read invoices:write").unwrap(),
            updated_at: UnixTime(200),
            ..r.clone()
        };
        assert_eq!(db.update_resource(&changed), Ok(true));
        assert_eq!(db.get_resource(&r.uri), Ok(Some(changed.clone())));
        let other = resource("urn:example:other", None, "x");
        assert_eq!(db.update_resource(&other), Ok(false));
        assert_eq!(db.get_resource(&other.uri), Ok(None));
        assert_eq!(db.delete_resource(&r.uri), Ok(true));
        assert_eq!(db.delete_resource(&r.uri), Ok(false));
        assert_eq!(db.get_resource(&r.uri), Ok(None));
        assert_eq!(db.list_resources(), Ok(vec![]));
    }

    /// The admin API's `If-Match`: an update only while the name and scopes read hold.
    pub fn twenty_racing_compare_and_set_updates_of_a_resource_have_one_winner(
        _: &TestDb,
        db: &Database,
    ) {
        let r = resource("urn:example:invoices", Some("Invoices"), "invoices:read");
        assert_eq!(db.insert_resource(&r), Ok(true));
        let stale = resource("urn:example:invoices", None, "invoices:read");
        let renamed = Resource {
            name: None,
            ..r.clone()
        };
        assert_eq!(db.update_resource_if(&renamed, &stale), Ok(false));
        assert_eq!(db.get_resource(&r.uri), Ok(Some(r.clone())));
        let db2 = db.clone();
        let before = r.clone();
        let n = std::sync::atomic::AtomicUsize::new(0);
        let won = super::race(20, move || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mine = Resource {
                scopes: ScopeSet::parse(&format!("s{i}")).unwrap(),
                ..before.clone()
            };
            db2.update_resource_if(&mine, &before).unwrap()
        });
        assert_eq!(won, 1);
        assert_ne!(db.get_resource(&r.uri).unwrap().unwrap().scopes, r.scopes);
        // A nameless resource compares its missing name too.
        assert_eq!(db.update_resource_if(&renamed, &renamed), Ok(false));
    }

    pub fn twenty_racing_registrations_of_one_identifier_have_one_winner(
        _: &TestDb,
        db: &Database,
    ) {
        let db2 = db.clone();
        let n = std::sync::atomic::AtomicUsize::new(0);
        let won = super::race(20, move || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let r = resource("https://race.example", None, &format!("s{i}"));
            db2.insert_resource(&r).unwrap()
        });
        assert_eq!(won, 1);
        assert_eq!(db.list_resources().unwrap().len(), 1);
    }

    pub fn a_corrupt_resource_row_is_reported(t: &TestDb, db: &Database) {
        t.execute(
            "INSERT INTO resources (uri, name, scopes, created_at, updated_at) \
             VALUES ('not a uri', NULL, 'a', 1, 1)",
        );
        assert!(matches!(
            db.list_resources(),
            Err(usher_domain::StoreError::Corrupt(_))
        ));
    }
}

macro_rules! resource_contract {
    ($($case:ident),* $(,)?) => {
        mod resources {
            mod sqlite {
                $( #[test] fn $case() {
                    super::super::run("sqlite", super::super::resource_cases::$case);
                } )*
            }
            mod postgres {
                $( #[test] fn $case() {
                    super::super::run("postgres", super::super::resource_cases::$case);
                } )*
            }
        }
    };
}

resource_contract!(
    a_resource_round_trips_and_is_listed_by_identifier,
    a_second_registration_of_one_identifier_changes_nothing,
    a_resource_is_updated_and_deleted_once,
    deleting_a_resource_takes_it_out_of_remembered_consents,
    twenty_racing_registrations_of_one_identifier_have_one_winner,
    twenty_racing_compare_and_set_updates_of_a_resource_have_one_winner,
    a_corrupt_resource_row_is_reported,
);

mod group_cases {
    use usher_domain::{
        ClientStore, Group, GroupDescription, GroupName, GroupStore, Membership, UnixTime,
        UserStore,
    };
    use usher_store::Database;
    use usher_store::testing::TestDb;

    fn g(name: &str) -> GroupName {
        GroupName::parse(name).unwrap()
    }

    fn group(name: &str, description: Option<&str>) -> Group {
        Group {
            name: g(name),
            description: description.map(|d| GroupDescription::parse(d).unwrap()),
            created_at: UnixTime(100),
        }
    }

    pub fn the_built_in_group_exists_and_cannot_be_deleted(_: &TestDb, db: &Database) {
        let admins = db.get_group(&GroupName::admins()).unwrap().unwrap();
        assert!(admins.name.is_built_in());
        assert_eq!(db.delete_group(&GroupName::admins()), Ok(false));
        assert!(db.get_group(&GroupName::admins()).unwrap().is_some());
        let listed = db.list_groups().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].group.name, GroupName::admins());
        assert_eq!(listed[0].members, 0);
    }

    pub fn a_group_round_trips_once_and_is_listed_by_name(_: &TestDb, db: &Database) {
        let sales = group("sales", Some("Sales team"));
        assert_eq!(db.insert_group(&sales), Ok(true));
        assert_eq!(db.insert_group(&group("sales", None)), Ok(false));
        assert_eq!(db.insert_group(&group("ops", None)), Ok(true));
        assert_eq!(db.get_group(&g("sales")), Ok(Some(sales)));
        assert_eq!(db.get_group(&g("nobody")), Ok(None));
        let names: Vec<String> = db
            .list_groups()
            .unwrap()
            .into_iter()
            .map(|s| s.group.name.to_string())
            .collect();
        assert_eq!(names, ["ops", "sales", "usher-admins"]);
    }

    pub fn members_are_added_and_removed_once(_: &TestDb, db: &Database) {
        super::seed(db);
        let (alice, bob) = (super::uname("alice"), super::uname("bob"));
        db.insert_group(&group("sales", None)).unwrap();
        db.insert_group(&group("ops", None)).unwrap();
        let now = UnixTime(200);
        assert_eq!(
            db.add_member(&g("sales"), &alice, now),
            Ok(Membership::Changed)
        );
        assert_eq!(
            db.add_member(&g("sales"), &alice, now),
            Ok(Membership::Unchanged)
        );
        assert_eq!(
            db.add_member(&g("sales"), &bob, now),
            Ok(Membership::Changed)
        );
        assert_eq!(
            db.add_member(&g("ops"), &alice, now),
            Ok(Membership::Changed)
        );
        assert_eq!(
            db.add_member(&g("ghosts"), &alice, now),
            Ok(Membership::NoGroup)
        );
        assert_eq!(
            db.add_member(&g("sales"), &super::uname("carol"), now),
            Ok(Membership::NoPerson)
        );
        assert_eq!(
            db.group_members(&g("sales")),
            Ok(vec![alice.clone(), bob.clone()])
        );
        assert_eq!(
            db.groups_of(&super::uid("u-1")),
            Ok(vec![g("ops"), g("sales")])
        );
        let counts: Vec<(String, usize)> = db
            .list_groups()
            .unwrap()
            .into_iter()
            .map(|s| (s.group.name.to_string(), s.members))
            .collect();
        assert_eq!(
            counts,
            [
                ("ops".into(), 1),
                ("sales".into(), 2),
                ("usher-admins".into(), 0)
            ]
        );
        assert_eq!(
            db.remove_member(&g("sales"), &alice),
            Ok(Membership::Changed)
        );
        assert_eq!(
            db.remove_member(&g("sales"), &alice),
            Ok(Membership::Unchanged)
        );
        assert_eq!(
            db.remove_member(&g("ghosts"), &alice),
            Ok(Membership::NoGroup)
        );
        assert_eq!(db.groups_of(&super::uid("u-1")), Ok(vec![g("ops")]));
        assert_eq!(db.group_members(&g("sales")), Ok(vec![bob]));
    }

    pub fn memberships_go_with_their_group_or_their_person(_: &TestDb, db: &Database) {
        super::seed(db);
        db.insert_group(&group("sales", None)).unwrap();
        let now = UnixTime(200);
        db.add_member(&g("sales"), &super::uname("alice"), now)
            .unwrap();
        db.add_member(&g("sales"), &super::uname("bob"), now)
            .unwrap();
        db.add_member(&GroupName::admins(), &super::uname("alice"), now)
            .unwrap();
        assert!(db.delete_user(&super::uname("bob")).unwrap());
        assert_eq!(
            db.group_members(&g("sales")),
            Ok(vec![super::uname("alice")])
        );
        assert_eq!(db.delete_group(&g("sales")), Ok(true));
        assert_eq!(db.delete_group(&g("sales")), Ok(false));
        assert_eq!(
            db.groups_of(&super::uid("u-1")),
            Ok(vec![GroupName::admins()])
        );
        // A group of the same name made again starts empty.
        db.insert_group(&group("sales", None)).unwrap();
        assert_eq!(db.group_members(&g("sales")), Ok(vec![]));
    }

    pub fn twenty_racing_adds_of_one_member_make_one_membership(_: &TestDb, db: &Database) {
        super::seed(db);
        db.insert_group(&group("sales", None)).unwrap();
        let db2 = db.clone();
        let changed = super::race(20, move || {
            match db2
                .add_member(&g("sales"), &super::uname("alice"), UnixTime(300))
                .unwrap()
            {
                Membership::Changed => true,
                Membership::Unchanged => false,
                other => panic!("unexpected {other:?}"),
            }
        });
        assert_eq!(changed, 1);
        assert_eq!(
            db.group_members(&g("sales")),
            Ok(vec![super::uname("alice")])
        );
        assert_eq!(db.list_groups().unwrap()[0].members, 1);
    }

    pub fn a_client_keeps_its_allowed_groups(_: &TestDb, db: &Database) {
        let shop = super::confidential_client("c-shop", 1);
        db.insert_client(&shop).unwrap();
        assert!(
            db.get_client(&shop.id)
                .unwrap()
                .unwrap()
                .registration
                .allowed_groups
                .is_empty()
        );
        let groups = vec![g("ops"), g("sales")];
        assert_eq!(db.set_client_allowed_groups(&shop.id, &groups), Ok(true));
        let stored = db.get_client(&shop.id).unwrap().unwrap();
        assert_eq!(stored.registration.allowed_groups, groups);
        assert!(stored.is_restricted());
        assert_eq!(db.set_client_allowed_groups(&shop.id, &[]), Ok(true));
        assert!(!db.get_client(&shop.id).unwrap().unwrap().is_restricted());
        assert_eq!(
            db.set_client_allowed_groups(&super::cid("ghost"), &groups),
            Ok(false)
        );
        // Registered restricted: kept from the insert on.
        let mut restricted = super::confidential_client("c-hr", 2);
        restricted.registration.allowed_groups = vec![g("hr")];
        db.insert_client(&restricted).unwrap();
        assert_eq!(db.get_client(&restricted.id).unwrap(), Some(restricted));
    }

    /// The admin API's `If-Match`: a compare-and-set of origins and groups. Twenty
    /// writers that read the same state race; exactly one writes.
    pub fn twenty_racing_compare_and_sets_of_a_clients_access_have_one_winner(
        _: &TestDb,
        db: &Database,
    ) {
        use usher_domain::ClientAccess;
        let shop = super::confidential_client("c-shop", 1);
        db.insert_client(&shop).unwrap();
        let none: Vec<GroupName> = Vec::new();
        let origins = shop.registration.allowed_origins.clone();
        // A stale expectation writes nothing.
        let stale = vec![g("ops")];
        assert_eq!(
            db.set_client_access_if(
                &shop.id,
                ClientAccess {
                    origins: &origins,
                    groups: &stale
                },
                ClientAccess {
                    origins: &origins,
                    groups: &none
                },
            ),
            Ok(false)
        );
        assert_eq!(
            db.set_client_access_if(
                &super::cid("ghost"),
                ClientAccess {
                    origins: &origins,
                    groups: &none
                },
                ClientAccess {
                    origins: &origins,
                    groups: &stale
                },
            ),
            Ok(false)
        );
        let db2 = db.clone();
        let id = shop.id.clone();
        let n = std::sync::atomic::AtomicUsize::new(0);
        let won = super::race(20, move || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mine = vec![g(&format!("g{i}"))];
            db2.set_client_access_if(
                &id,
                ClientAccess {
                    origins: &origins,
                    groups: &[],
                },
                ClientAccess {
                    origins: &origins,
                    groups: &mine,
                },
            )
            .unwrap()
        });
        assert_eq!(won, 1);
        assert_eq!(
            db.get_client(&shop.id)
                .unwrap()
                .unwrap()
                .registration
                .allowed_groups
                .len(),
            1
        );
    }

    pub fn a_corrupt_group_row_is_reported(t: &TestDb, db: &Database) {
        t.execute("INSERT INTO groups (name, description, created_at) VALUES ('a b', NULL, 1)");
        assert!(matches!(
            db.list_groups(),
            Err(usher_domain::StoreError::Corrupt(_))
        ));
    }
}

macro_rules! group_contract {
    ($($case:ident),* $(,)?) => {
        mod groups {
            mod sqlite {
                $( #[test] fn $case() {
                    super::super::run("sqlite", super::super::group_cases::$case);
                } )*
            }
            mod postgres {
                $( #[test] fn $case() {
                    super::super::run("postgres", super::super::group_cases::$case);
                } )*
            }
        }
    };
}

group_contract!(
    the_built_in_group_exists_and_cannot_be_deleted,
    a_group_round_trips_once_and_is_listed_by_name,
    members_are_added_and_removed_once,
    memberships_go_with_their_group_or_their_person,
    twenty_racing_adds_of_one_member_make_one_membership,
    a_client_keeps_its_allowed_groups,
    twenty_racing_compare_and_sets_of_a_clients_access_have_one_winner,
    a_corrupt_group_row_is_reported,
);

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

/// `client` got tokens through `lineage` for `user`.
fn session_client(lineage: &str, client: &str, user: &str) -> SessionClient {
    SessionClient {
        lineage_hash: lineage.into(),
        client_id: cid(client),
        user_id: uid(user),
        sid: format!("sid-of-{lineage}"),
        created_at: UnixTime(10),
    }
}

fn new_logout(client: &str, user: &str) -> NewLogout {
    NewLogout {
        client_id: cid(client),
        subject: uid(user),
        sid: Some("sid-x".into()),
    }
}

mod backchannel_cases {
    use super::*;

    pub fn backchannel_logouts_are_queued_once_and_only_for_clients_that_are_told(
        _: &TestDb,
        db: &Database,
    ) {
        seed(db);
        // c-shop has a back-channel logout URI, c-phone has none.
        for (lineage, client, user) in [
            ("lineage-1", "c-shop", "u-1"),
            ("lineage-1", "c-phone", "u-1"),
            ("lineage-2", "c-shop", "u-1"),
            ("lineage-3", "c-shop", "u-2"),
        ] {
            db.record_session_client(&session_client(lineage, client, user))
                .unwrap();
            // Recording again changes nothing.
            db.record_session_client(&session_client(lineage, client, user))
                .unwrap();
        }
        assert_eq!(db.queue_lineage_logouts("lineage-1", UnixTime(100)), Ok(1));
        assert_eq!(db.queue_lineage_logouts("lineage-1", UnixTime(100)), Ok(0));
        assert_eq!(db.queue_user_logouts(&uid("u-1"), UnixTime(100)), Ok(1));
        assert_eq!(db.queue_user_logouts(&uid("u-1"), UnixTime(100)), Ok(0));
        assert_eq!(db.queued_logouts(), Ok(2));
        assert_eq!(
            db.queue_logout(&new_logout("c-phone", "u-1"), UnixTime(100)),
            Ok(false)
        );
        assert_eq!(
            db.queue_logout(&new_logout("c-shop", "u-1"), UnixTime(100)),
            Ok(true)
        );
        assert_eq!(db.queued_logouts(), Ok(3));
        let claimed = db
            .claim_logouts(UnixTime(100), UnixTime(160), "claim-a", 10)
            .unwrap();
        assert_eq!(claimed.len(), 3);
        let mut sids: Vec<_> = claimed.iter().map(|c| c.sid.clone()).collect();
        sids.sort();
        assert_eq!(
            sids,
            vec![
                Some("sid-of-lineage-1".to_owned()),
                Some("sid-of-lineage-2".to_owned()),
                Some("sid-x".to_owned())
            ]
        );
        assert!(claimed.iter().all(|c| c.client_id == cid("c-shop")
            && c.subject == uid("u-1")
            && c.attempts == 0
            && c.claim == "claim-a"));
        // Deleting the client drops what was queued for it, and bob's records.
        assert!(db.delete_client(&cid("c-shop")).unwrap());
        assert_eq!(db.queued_logouts(), Ok(0));
        assert_eq!(db.queue_lineage_logouts("lineage-3", UnixTime(100)), Ok(0));
    }

    pub fn a_claimed_logout_is_leased_and_settled_only_by_its_claim(_: &TestDb, db: &Database) {
        seed(db);
        assert_eq!(
            db.queue_logout(&new_logout("c-shop", "u-1"), UnixTime(100)),
            Ok(true)
        );
        // Not due before it was queued.
        assert!(
            db.claim_logouts(UnixTime(99), UnixTime(160), "a", 10)
                .unwrap()
                .is_empty()
        );
        let first = db
            .claim_logouts(UnixTime(100), UnixTime(160), "a", 10)
            .unwrap();
        assert_eq!(first.len(), 1);
        let id = first[0].id.clone();
        // Leased: nobody else claims it.
        assert!(
            db.claim_logouts(UnixTime(150), UnixTime(210), "b", 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(db.finish_logout(&id, "b"), Ok(false));
        assert_eq!(db.retry_logout(&id, "b", UnixTime(130)), Ok(false));
        // A failure puts it back, due later, with the attempt counted.
        assert_eq!(db.retry_logout(&id, "a", UnixTime(130)), Ok(true));
        assert!(
            db.claim_logouts(UnixTime(129), UnixTime(190), "c", 10)
                .unwrap()
                .is_empty()
        );
        let second = db
            .claim_logouts(UnixTime(130), UnixTime(190), "c", 10)
            .unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].attempts, 1);
        // The node holding claim c dies: when the lease ends another node takes it over,
        // and c can no longer settle it.
        let third = db
            .claim_logouts(UnixTime(190), UnixTime(250), "d", 10)
            .unwrap();
        assert_eq!(third.len(), 1);
        assert_eq!(third[0].attempts, 1);
        assert_eq!(db.finish_logout(&id, "c"), Ok(false));
        assert_eq!(db.finish_logout(&id, "d"), Ok(true));
        assert_eq!(db.queued_logouts(), Ok(0));
    }

    pub fn twenty_racing_claimers_take_each_queued_logout_exactly_once(_: &TestDb, db: &Database) {
        seed(db);
        for _ in 0..60 {
            assert_eq!(
                db.queue_logout(&new_logout("c-shop", "u-1"), UnixTime(100)),
                Ok(true)
            );
        }
        let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
        let barrier = Arc::new(Barrier::new(20));
        let handles: Vec<_> = (0..20)
            .map(|n| {
                let (db, taken, barrier) = (db.clone(), taken.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let claim = format!("claim-{n}");
                    loop {
                        let got = db
                            .claim_logouts(UnixTime(100), UnixTime(200), &claim, 2)
                            .unwrap();
                        if got.is_empty() {
                            break;
                        }
                        for logout in got {
                            assert_eq!(logout.claim, claim);
                            assert!(db.finish_logout(&logout.id, &claim).unwrap());
                            taken.lock().unwrap().push(logout.id);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut taken = taken.lock().unwrap().clone();
        assert_eq!(taken.len(), 60);
        taken.sort();
        taken.dedup();
        assert_eq!(taken.len(), 60, "a logout was claimed twice");
        assert_eq!(db.queued_logouts(), Ok(0));
    }
}

mod browser_cases {
    use super::*;

    pub fn a_new_session_keeps_the_lineage_only_if_the_previous_one_was_still_there(
        t: &TestDb,
        db: &Database,
    ) {
        seed(db);
        db.insert_session(&session("old", "u-1", 1000)).unwrap();
        // A re-authentication: the old session goes, the new one keeps its lineage and
        // its own address and user agent.
        let mut next = session("new", "u-1", 2000);
        next.lineage_hash = "lineage-of-old".into();
        next.address = Some("192.0.2.9".parse().unwrap());
        next.user_agent = None;
        let stored = db.replace_session(Some("old"), &next, "fresh").unwrap();
        assert_eq!(stored, next);
        assert_eq!(db.get_session("new", UnixTime(500)), Ok(Some(next.clone())));
        assert_eq!(db.get_session("old", UnixTime(500)), Ok(None));
        assert_eq!(t.count("sessions WHERE id_hash = 'old'"), 0);
        // The previous session is gone (a logout ended it meanwhile): a fresh lineage.
        let mut again = session("again", "u-1", 2000);
        again.lineage_hash = "lineage-of-old".into();
        let stored = db.replace_session(Some("gone"), &again, "fresh").unwrap();
        assert_eq!(stored.lineage_hash, "fresh");
        assert_eq!(
            db.get_session("again", UnixTime(500))
                .unwrap()
                .unwrap()
                .lineage_hash,
            "fresh"
        );
        // No previous session: inserted as it is.
        let first = session("first", "u-2", 2000);
        assert_eq!(db.replace_session(None, &first, "fresh"), Ok(first.clone()));
        // The id is taken: a conflict, and nothing was deleted.
        db.insert_session(&session("keep", "u-1", 2000)).unwrap();
        assert!(matches!(
            db.replace_session(Some("keep"), &first, "fresh"),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(t.count("sessions WHERE id_hash = 'keep'"), 1);
        // A corrupt address or user agent is reported.
        t.execute("UPDATE sessions SET client_address = 'not-an-ip' WHERE id_hash = 'keep'");
        assert!(matches!(
            db.get_session("keep", UnixTime(500)),
            Err(StoreError::Corrupt(_))
        ));
        t.execute("UPDATE sessions SET client_address = NULL, user_agent = ' padded ' WHERE id_hash = 'keep'");
        assert!(matches!(
            db.get_session("keep", UnixTime(500)),
            Err(StoreError::Corrupt(_))
        ));
    }

    pub fn a_browser_is_new_once_even_when_twenty_sign_ins_race(_: &TestDb, db: &Database) {
        seed(db);
        assert_eq!(
            db.see_browser(&uid("u-1"), "b-first", UnixTime(10), 50),
            Ok(BrowserSeen::New { first: true })
        );
        assert_eq!(
            db.see_browser(&uid("u-1"), "b-first", UnixTime(11), 50),
            Ok(BrowserSeen::Known)
        );
        // Another person's browsers are theirs.
        assert_eq!(
            db.see_browser(&uid("u-2"), "b-first", UnixTime(11), 50),
            Ok(BrowserSeen::New { first: true })
        );
        let barrier = Arc::new(Barrier::new(20));
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    db.see_browser(&uid("u-1"), "b-racing", UnixTime(20), 50)
                        .unwrap()
                })
            })
            .collect();
        let seen: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            seen.iter()
                .filter(|s| **s == BrowserSeen::New { first: false })
                .count(),
            1,
            "{seen:?}"
        );
        assert_eq!(
            seen.iter().filter(|s| **s == BrowserSeen::Known).count(),
            19
        );
        assert_eq!(db.known_browsers(&uid("u-1")), Ok(2));
        // Forgotten (a reset): every browser is new again, but none is the first.
        assert_eq!(db.forget_browsers(&uid("u-1")), Ok(2));
        assert_eq!(db.known_browsers(&uid("u-1")), Ok(0));
        assert_eq!(
            db.see_browser(&uid("u-1"), "b-first", UnixTime(30), 50),
            Ok(BrowserSeen::New { first: false })
        );
        assert_eq!(db.known_browsers(&uid("u-2")), Ok(1), "bob's are his");
        // They go with the person, history included.
        db.delete_user(&uname("bob")).unwrap();
        assert_eq!(db.known_browsers(&uid("u-2")), Ok(0));
    }

    pub fn of_twenty_first_sign_ins_from_different_browsers_one_is_the_first(
        t: &TestDb,
        db: &Database,
    ) {
        seed(db);
        let barrier = Arc::new(Barrier::new(20));
        let handles: Vec<_> = (0..20)
            .map(|n| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    db.see_browser(&uid("u-1"), &format!("b-{n}"), UnixTime(10), 50)
                        .unwrap()
                })
            })
            .collect();
        let seen: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            seen.iter()
                .filter(|s| **s == BrowserSeen::New { first: true })
                .count(),
            1,
            "{seen:?}"
        );
        assert_eq!(t.count("browser_history WHERE user_id = 'u-1'"), 1);
        // A year without signing in: every browser purged, the history kept.
        db.purge_expired(UnixTime(10 + KNOWN_BROWSER_TTL)).unwrap();
        assert_eq!(db.known_browsers(&uid("u-1")), Ok(0));
        assert_eq!(
            db.see_browser(&uid("u-1"), "b-back", UnixTime(20 + KNOWN_BROWSER_TTL), 50),
            Ok(BrowserSeen::New { first: false })
        );
    }

    pub fn a_person_keeps_at_most_the_cap_of_browsers_even_under_concurrent_sign_ins(
        t: &TestDb,
        db: &Database,
    ) {
        seed(db);
        // The person's oldest browser, then one seen recently.
        db.see_browser(&uid("u-1"), "b-old", UnixTime(1), 5)
            .unwrap();
        db.see_browser(&uid("u-1"), "b-recent", UnixTime(2), 5)
            .unwrap();
        db.see_browser(&uid("u-1"), "b-old", UnixTime(3), 5)
            .unwrap();
        let barrier = Arc::new(Barrier::new(20));
        let handles: Vec<_> = (0..20)
            .map(|n| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    db.see_browser(&uid("u-1"), &format!("b-{n}"), UnixTime(100 + n), 5)
                        .unwrap()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), BrowserSeen::New { first: false });
        }
        assert_eq!(db.known_browsers(&uid("u-1")), Ok(5));
        // Each new one evicted the least recently seen of the others: the person's two
        // first browsers went first.
        assert_eq!(
            t.count("known_browsers WHERE browser_hash IN ('b-old', 'b-recent')"),
            0
        );
        // A cap of one keeps the browser just seen.
        assert_eq!(
            db.see_browser(&uid("u-1"), "b-last", UnixTime(200), 1),
            Ok(BrowserSeen::New { first: false })
        );
        assert_eq!(db.known_browsers(&uid("u-1")), Ok(1));
        assert_eq!(
            db.see_browser(&uid("u-1"), "b-last", UnixTime(201), 1),
            Ok(BrowserSeen::Known)
        );
    }

    pub fn lineage_records_without_a_live_session_and_browsers_unseen_for_a_year_are_purged(
        t: &TestDb,
        db: &Database,
    ) {
        seed(db);
        let now = 100_000;
        let at = |lineage: &str, client: &str, created_at: i64| SessionClient {
            created_at: UnixTime(created_at),
            ..session_client(lineage, client, "u-1")
        };
        // A live lineage, an expired one, one ended long ago, one a code exchange is
        // recording right now, and one of a session written before lineages existed.
        db.insert_session(&session("live", "u-1", now + 1)).unwrap();
        db.insert_session(&session("expired", "u-1", now)).unwrap();
        t.execute(&format!(
            "INSERT INTO sessions (id_hash, user_id, auth_time, created_at, expires_at, amr)              VALUES ('legacy', 'u-1', 1, 1, {}, 'pwd')",
            now + 1
        ));
        for row in [
            at("lineage-of-live", "c-shop", 10),
            at("lineage-of-live", "c-phone", 10),
            at("lineage-of-expired", "c-shop", 10),
            at("lineage-gone", "c-shop", 10),
            at("lineage-gone", "c-phone", now - 300),
            at("lineage-just-now", "c-shop", now - 299),
            at("legacy", "c-shop", 10),
        ] {
            db.record_session_client(&row).unwrap();
        }
        let listed = db.list_session_clients(&uid("u-1")).unwrap();
        assert_eq!(listed.len(), 7);
        assert_eq!(listed[0].sid, "sid-of-lineage-of-live");
        assert!(db.list_session_clients(&uid("u-2")).unwrap().is_empty());
        // Browsers: one unseen for exactly a year, one seen a second later.
        db.see_browser(
            &uid("u-1"),
            "b-stale",
            UnixTime(now - KNOWN_BROWSER_TTL),
            50,
        )
        .unwrap();
        db.see_browser(
            &uid("u-1"),
            "b-fresh",
            UnixTime(now - KNOWN_BROWSER_TTL + 1),
            50,
        )
        .unwrap();

        // 1 session + 3 lineage records + 1 browser.
        assert_eq!(db.purge_expired(UnixTime(now)), Ok(5));
        let mut left: Vec<_> = db
            .list_session_clients(&uid("u-1"))
            .unwrap()
            .into_iter()
            .map(|r| format!("{}/{}", r.lineage_hash, r.client_id.as_str()))
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                "legacy/c-shop",
                "lineage-just-now/c-shop",
                "lineage-of-live/c-phone",
                "lineage-of-live/c-shop",
            ]
        );
        assert_eq!(db.known_browsers(&uid("u-1")), Ok(1));
        assert_eq!(t.count("known_browsers WHERE browser_hash = 'b-fresh'"), 1);
        // Purging again finds nothing more.
        assert_eq!(db.purge_expired(UnixTime(now)), Ok(0));
    }
}

/// Every case, whichever module it is written in.
mod all_cases {
    pub use super::backchannel_cases::*;
    pub use super::browser_cases::*;
    pub use super::cases::*;
}

mod device_cases {
    use usher_domain::{
        DeviceApproval, DeviceGrant, DeviceGrantStatus, DeviceGrantStore, PollGate,
    };

    use super::*;

    fn grant(device: &str, user_code: &str) -> DeviceGrant {
        DeviceGrant {
            device_code_hash: device.to_owned(),
            user_code_hash: user_code.to_owned(),
            client_id: cid("phone"),
            scopes: scopes("openid"),
            resources: vec![],
            status: DeviceGrantStatus::Pending,
            approval: None,
            interval: 5,
            last_poll_at: None,
            created_at: UnixTime(100),
            expires_at: UnixTime(700),
        }
    }

    fn approval() -> DeviceApproval {
        DeviceApproval {
            user_id: uid("u1"),
            lineage_hash: "lineage".to_owned(),
            auth_time: UnixTime(90),
            amr: AuthMethods::password(),
        }
    }

    fn arranged(db: &Database) {
        db.insert_client(&public_client("phone", 1)).unwrap();
        db.insert_user(&user("u1", "alice", 1)).unwrap();
    }

    pub fn a_device_grant_is_stored_decided_once_and_claimed_once(t: &TestDb, db: &Database) {
        arranged(db);
        assert_eq!(db.insert_device_grant(&grant("d1", "u1")), Ok(true));
        // Another grant drawing the same user code is told so, and nothing is written.
        assert_eq!(db.insert_device_grant(&grant("d2", "u1")), Ok(false));
        assert_eq!(t.count("device_grants"), 1);
        assert_eq!(db.find_device_grant("d1").unwrap(), Some(grant("d1", "u1")));
        assert_eq!(
            db.find_device_grant_by_user_code("u1").unwrap(),
            Some(grant("d1", "u1"))
        );
        // Not claimable while pending; decided once; not after expiry.
        assert_eq!(db.claim_device_grant("d1", UnixTime(200)), Ok(false));
        assert_eq!(
            db.decide_device_grant("u1", Some(&approval()), UnixTime(700)),
            Ok(false)
        );
        assert_eq!(
            db.decide_device_grant("u1", Some(&approval()), UnixTime(200)),
            Ok(true)
        );
        assert_eq!(db.decide_device_grant("u1", None, UnixTime(200)), Ok(false));
        let approved = db.find_device_grant("d1").unwrap().unwrap();
        assert_eq!(approved.status, DeviceGrantStatus::Approved);
        assert_eq!(approved.approval, Some(approval()));
        assert_eq!(
            db.poll_device_grant("d1", UnixTime(200)),
            Ok(PollGate::NotPending)
        );
        assert_eq!(
            db.claim_device_grant("d1", UnixTime(700)),
            Ok(false),
            "expired"
        );
        assert_eq!(db.claim_device_grant("d1", UnixTime(200)), Ok(true));
        assert_eq!(db.claim_device_grant("d1", UnixTime(200)), Ok(false));
        // A denial.
        db.insert_device_grant(&grant("d3", "u3")).unwrap();
        assert_eq!(db.decide_device_grant("u3", None, UnixTime(200)), Ok(true));
        assert_eq!(
            db.find_device_grant("d3").unwrap().unwrap().status,
            DeviceGrantStatus::Denied
        );
        // Purged five minutes after expiry, with the other sign-in records.
        db.purge_expired(UnixTime(700 + 299)).unwrap();
        assert_eq!(t.count("device_grants"), 2);
        db.purge_expired(UnixTime(700 + 300)).unwrap();
        assert_eq!(t.count("device_grants"), 0);
    }

    pub fn polls_keep_the_interval_or_slow_down_and_it_is_remembered(t: &TestDb, db: &Database) {
        arranged(db);
        db.insert_device_grant(&grant("d1", "u1")).unwrap();
        assert_eq!(
            db.poll_device_grant("d1", UnixTime(100)),
            Ok(PollGate::Pending)
        );
        // One second early is tolerated (clock skew), two are not.
        assert_eq!(
            db.poll_device_grant("d1", UnixTime(103)),
            Ok(PollGate::SlowDown { interval: 10 })
        );
        // Measured from the last poll (103), with the grown interval.
        assert_eq!(
            db.poll_device_grant("d1", UnixTime(110)),
            Ok(PollGate::SlowDown { interval: 15 })
        );
        assert_eq!(
            db.poll_device_grant("d1", UnixTime(125)),
            Ok(PollGate::Pending)
        );
        assert_eq!(t.count("device_grants WHERE poll_interval = 15"), 1);
        // 14 s after a 15 s interval: within the one second of tolerance.
        assert_eq!(
            db.poll_device_grant("d1", UnixTime(139)),
            Ok(PollGate::Pending)
        );
        assert_eq!(t.count("device_grants WHERE poll_interval = 15"), 1);
        assert_eq!(
            db.poll_device_grant("nope", UnixTime(200)),
            Ok(PollGate::NotPending)
        );
        // An interval of one second gets no tolerance: twice in one second slows down.
        db.insert_device_grant(&DeviceGrant {
            interval: 1,
            ..grant("d2", "u2")
        })
        .unwrap();
        assert_eq!(
            db.poll_device_grant("d2", UnixTime(300)),
            Ok(PollGate::Pending)
        );
        assert_eq!(
            db.poll_device_grant("d2", UnixTime(300)),
            Ok(PollGate::SlowDown { interval: 6 })
        );
    }

    pub fn twenty_racing_claims_and_polls_have_one_winner(_t: &TestDb, db: &Database) {
        arranged(db);
        db.insert_device_grant(&grant("d1", "u1")).unwrap();
        let db2 = db.clone();
        let passed = race(20, move || {
            db2.poll_device_grant("d1", UnixTime(100)).unwrap() == PollGate::Pending
        });
        assert_eq!(
            passed, 1,
            "one poll keeps the interval, the others slow down"
        );
        db.decide_device_grant("u1", Some(&approval()), UnixTime(200))
            .unwrap();
        let db3 = db.clone();
        let won = race(20, move || {
            db3.claim_device_grant("d1", UnixTime(200)).unwrap()
        });
        assert_eq!(won, 1);
    }
}

macro_rules! device_contract {
    ($($case:ident),* $(,)?) => {
        mod device_grants {
            mod sqlite {
                $( #[test] fn $case() {
                    super::super::run("sqlite", super::super::device_cases::$case);
                } )*
            }
            mod postgres {
                $( #[test] fn $case() {
                    super::super::run("postgres", super::super::device_cases::$case);
                } )*
            }
        }
    };
}

device_contract!(
    a_device_grant_is_stored_decided_once_and_claimed_once,
    polls_keep_the_interval_or_slow_down_and_it_is_remembered,
    twenty_racing_claims_and_polls_have_one_winner,
);

// ---- The audit trail (docs/design/audit.md) -------------------------------------------

mod audit_cases {
    use std::collections::HashSet;
    use std::sync::{Arc, Barrier};

    use serde_json::json;
    use usher_domain::{
        AuditActor, AuditEvent, AuditFilter, AuditKind, AuditOrder, AuditStore, FactorStore,
        MAX_AUDIT_PAGE, RecordedAuditEvent, SessionStore, StoreError, UnixTime, UserStore,
    };
    use usher_store::Database;
    use usher_store::testing::TestDb;

    use super::{bare_user, cid, session, uid, uname};

    fn event(at: i64, kind: AuditKind) -> AuditEvent {
        AuditEvent::new(UnixTime(at), kind, AuditActor::System)
    }

    /// 60 events over 6 persons (one in six has none), 4 clients (one in four has
    /// none), 3 kinds and 30 seconds.
    fn varied(db: &Database) -> Vec<RecordedAuditEvent> {
        let kinds = [
            AuditKind::SignInFailed,
            AuditKind::SignInSucceeded,
            AuditKind::ClientCreated,
        ];
        (0..60_i64)
            .map(|i| {
                let mut e = event(1_000 + i / 2, kinds[(i % 3) as usize]);
                if i % 6 != 5 {
                    e = e.person(&uid(&format!("p-{}", i % 6)));
                }
                if i % 4 != 3 {
                    e = e.client(&cid(&format!("c-{}", i % 4)));
                }
                let id = db.record_event(&e).unwrap();
                RecordedAuditEvent { id, event: e }
            })
            .collect()
    }

    /// Every event of `filter`, page by page in its order.
    fn all_pages(db: &Database, filter: &AuditFilter, page: usize) -> Vec<RecordedAuditEvent> {
        let mut out = Vec::new();
        let mut f = AuditFilter {
            limit: Some(page),
            ..filter.clone()
        };
        loop {
            let got = db.list_events(&f).unwrap();
            assert!(got.len() <= page);
            let Some(last) = got.last() else { break };
            match f.order {
                AuditOrder::NewestFirst => f.before_id = Some(last.id),
                AuditOrder::OldestFirst => f.after_id = Some(last.id),
            }
            out.extend(got);
        }
        out
    }

    fn ids(events: &[RecordedAuditEvent]) -> Vec<i64> {
        events.iter().map(|e| e.id).collect()
    }

    pub fn an_event_round_trips_with_every_field(_: &TestDb, db: &Database) {
        let e = AuditEvent::new(
            UnixTime(1_700_000_000),
            AuditKind::GroupMemberAdded,
            AuditActor::Person(uid("u-admin")),
        )
        .person(&uid("u-1"))
        .client(&cid("c-shop"))
        .target("sales")
        .address(Some("2001:db8::1"))
        .detail(json!({"group": "sales", "before": {"members": 1}, "after": {"members": 2}}));
        let id = db.record_event(&e).unwrap();
        let bare = event(5, AuditKind::KeyRetired);
        let bare_id = db.record_event(&bare).unwrap();
        assert!(bare_id > id);
        let listed = db.list_events(&AuditFilter::default()).unwrap();
        assert_eq!(
            listed,
            vec![
                RecordedAuditEvent {
                    id: bare_id,
                    event: bare
                },
                RecordedAuditEvent { id, event: e },
            ]
        );
    }

    pub fn filters_and_pages_return_exactly_the_matching_events_in_order(
        _: &TestDb,
        db: &Database,
    ) {
        let all = varied(db);
        let filters = [
            AuditFilter::default(),
            AuditFilter {
                person: Some(uid("p-2")),
                ..AuditFilter::default()
            },
            AuditFilter {
                client: Some(cid("c-1")),
                kind: Some(AuditKind::SignInSucceeded),
                ..AuditFilter::default()
            },
            AuditFilter {
                kind: Some(AuditKind::ClientCreated),
                since: Some(UnixTime(1_005)),
                until: Some(UnixTime(1_020)),
                ..AuditFilter::default()
            },
            AuditFilter {
                person: Some(uid("p-nobody")),
                ..AuditFilter::default()
            },
            AuditFilter {
                since: Some(UnixTime(1_029)),
                ..AuditFilter::default()
            },
        ];
        for filter in filters {
            for order in [AuditOrder::NewestFirst, AuditOrder::OldestFirst] {
                let filter = AuditFilter {
                    order,
                    ..filter.clone()
                };
                let mut expected: Vec<RecordedAuditEvent> = all
                    .iter()
                    .filter(|e| filter.admits(e.id, &e.event))
                    .cloned()
                    .collect();
                if order == AuditOrder::NewestFirst {
                    expected.reverse();
                }
                // One page, then pages of 7 and of 1: the same events in the same order.
                let one = db
                    .list_events(&AuditFilter {
                        limit: Some(MAX_AUDIT_PAGE),
                        ..filter.clone()
                    })
                    .unwrap();
                assert_eq!(one, expected, "{filter:?}");
                assert_eq!(
                    ids(&all_pages(db, &filter, 7)),
                    ids(&expected),
                    "{filter:?}"
                );
                assert_eq!(
                    ids(&all_pages(db, &filter, 1)),
                    ids(&expected),
                    "{filter:?}"
                );
            }
        }
        // The default page is the newest 100 at most; a limit cuts it.
        let newest = db
            .list_events(&AuditFilter {
                limit: Some(3),
                ..AuditFilter::default()
            })
            .unwrap();
        let last3: Vec<i64> = ids(&all).into_iter().rev().take(3).collect();
        assert_eq!(ids(&newest), last3);
    }

    pub fn a_listing_never_returns_more_than_the_cap(_: &TestDb, db: &Database) {
        for i in 0..(MAX_AUDIT_PAGE + 10) {
            db.record_event(&event(i as i64, AuditKind::SignInFailed))
                .unwrap();
        }
        let got = db
            .list_events(&AuditFilter {
                limit: Some(100_000),
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(got.len(), MAX_AUDIT_PAGE);
    }

    pub fn twenty_threads_recording_at_once_keep_every_event_with_unique_ids(
        _: &TestDb,
        db: &Database,
    ) {
        const THREADS: usize = 20;
        const EACH: usize = 15;
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    (0..EACH)
                        .map(|n| {
                            let e = event(7, AuditKind::SignInSucceeded).target(format!("{t}/{n}"));
                            db.record_event(&e).unwrap()
                        })
                        .collect::<Vec<i64>>()
                })
            })
            .collect();
        let returned: Vec<i64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let unique: HashSet<i64> = returned.iter().copied().collect();
        assert_eq!(
            unique.len(),
            THREADS * EACH,
            "every recording got its own id"
        );
        let stored = all_pages(
            db,
            &AuditFilter {
                order: AuditOrder::OldestFirst,
                ..AuditFilter::default()
            },
            MAX_AUDIT_PAGE,
        );
        assert_eq!(stored.len(), THREADS * EACH);
        let stored_ids: HashSet<i64> = stored.iter().map(|e| e.id).collect();
        assert_eq!(stored_ids, unique, "the ids returned are the ids stored");
        let targets: HashSet<String> = stored
            .iter()
            .map(|e| e.event.target.clone().unwrap())
            .collect();
        assert_eq!(targets.len(), THREADS * EACH, "no event lost or doubled");
    }

    pub fn purge_removes_only_events_before_the_cutoff_and_ids_are_not_reused(
        _: &TestDb,
        db: &Database,
    ) {
        let all = varied(db);
        assert_eq!(db.purge_events_before(UnixTime(1_010)), Ok(20));
        assert_eq!(db.purge_events_before(UnixTime(1_010)), Ok(0));
        let left = all_pages(
            db,
            &AuditFilter {
                order: AuditOrder::OldestFirst,
                ..AuditFilter::default()
            },
            MAX_AUDIT_PAGE,
        );
        assert_eq!(ids(&left), ids(&all[20..]));
        // Purging the newest events does not let their ids come back.
        let newest = all.last().unwrap().id;
        assert_eq!(db.purge_events_before(UnixTime(i64::MAX)), Ok(40));
        let next = db.record_event(&event(1, AuditKind::KeyCreated)).unwrap();
        assert!(next > newest, "{next} > {newest}");
    }

    pub fn a_change_and_its_event_commit_together_or_not_at_all(t: &TestDb, db: &Database) {
        let created = |at| {
            AuditEvent::new(UnixTime(at), AuditKind::PersonCreated, AuditActor::Cli)
                .person(&uid("u-1"))
        };
        // The change fails after both writes: neither stays.
        let failed = db.audited(|tx| {
            tx.insert_user(&bare_user("u-1", "alice", 1))?;
            tx.record(&created(1))?;
            Err::<(), _>(StoreError::Unavailable("the caller gave up".into()))
        });
        assert!(failed.is_err());
        assert_eq!(db.find_user(&uname("alice")), Ok(None));
        assert_eq!(t.count("audit_events"), 0);
        // It succeeds: both are there.
        db.audited(|tx| {
            tx.insert_user(&bare_user("u-1", "alice", 1))?;
            tx.record(&created(2)).map(|_| ())
        })
        .unwrap();
        assert!(db.find_user(&uname("alice")).unwrap().is_some());
        assert_eq!(t.count("audit_events WHERE kind = 'person.created'"), 1);
        // A duplicate is refused by the store: the event recorded before it goes too.
        let duplicate = db.audited(|tx| {
            tx.record(&created(3))?;
            tx.insert_user(&bare_user("u-9", "alice", 3))
        });
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
        assert_eq!(t.count("audit_events"), 1);
        // The other changes of the helper.
        db.insert_session(&session("s-1", "u-1", 10_000)).unwrap();
        let done = db
            .audited(|tx| {
                let changed = tx.set_password_hash(&uname("alice"), "$argon2id$new")?;
                let sessions = tx.delete_user_sessions(&uid("u-1"))?;
                let factors = tx.delete_factors(&uid("u-1"))?;
                let deleted = tx.delete_user(&uname("alice"))?;
                let missing = tx.delete_user(&uname("nobody"))?;
                tx.record(&event(4, AuditKind::PersonDeleted))?;
                Ok((changed, sessions, factors, deleted, missing))
            })
            .unwrap();
        assert_eq!(done, (true, 1, 0, true, false));
        assert_eq!(db.find_user(&uname("alice")), Ok(None));
        assert_eq!(db.recovery_codes_left(&uid("u-1")), Ok(0));
        assert_eq!(t.count("audit_events"), 2);
    }

    /// The administrative changes of [`usher_domain::AuditedChanges`]: each commits with
    /// its event or not at all, and a refusal inside the transaction (a name taken, a
    /// stale compare-and-set) leaves it usable — on PostgreSQL a failed statement would
    /// otherwise abort every later one.
    pub fn admin_changes_commit_with_their_events_or_not_at_all(t: &TestDb, db: &Database) {
        use usher_domain::{
            ClientAccess, ClientStore, Group, GroupName, GroupStore, Membership, Resource,
            ResourceStore, ResourceUri, ScopeSet,
        };
        let group = |name: &str| Group {
            name: GroupName::parse(name).unwrap(),
            description: None,
            created_at: UnixTime(1),
        };
        let res = Resource {
            uri: ResourceUri::parse("https://api.example.com").unwrap(),
            name: None,
            scopes: ScopeSet::parse("read").unwrap(),
            created_at: UnixTime(1),
            updated_at: UnixTime(1),
        };
        db.insert_user(&bare_user("u-1", "alice", 1)).unwrap();
        // Every change, then a failure: none stays, nor any event.
        let failed = db.audited(|tx| {
            tx.insert_client(&super::confidential_client("c-1", 1))?;
            tx.set_client_secret_hash(&cid("c-1"), "$new")?;
            tx.insert_group(&group("ops"))?;
            tx.add_member(
                &GroupName::parse("ops").unwrap(),
                &uname("alice"),
                UnixTime(2),
            )?;
            tx.insert_resource(&res)?;
            tx.record(&event(1, AuditKind::ClientCreated))?;
            Err::<(), _>(StoreError::Unavailable("the caller gave up".into()))
        });
        assert!(failed.is_err());
        assert_eq!(db.get_client(&cid("c-1")), Ok(None));
        assert_eq!(db.get_group(&GroupName::parse("ops").unwrap()), Ok(None));
        assert_eq!(db.get_resource(&res.uri), Ok(None));
        assert_eq!(t.count("audit_events"), 0);
        // They succeed: all are there with their events.
        let done = db
            .audited(|tx| {
                tx.insert_client(&super::confidential_client("c-1", 1))?;
                let rotated = tx.set_client_secret_hash(&cid("c-1"), "$new")?;
                let created = tx.insert_group(&group("ops"))?;
                let added = tx.add_member(
                    &GroupName::parse("ops").unwrap(),
                    &uname("alice"),
                    UnixTime(2),
                )?;
                let registered = tx.insert_resource(&res)?;
                tx.record(&event(2, AuditKind::ClientCreated))?;
                Ok((rotated, created, added, registered))
            })
            .unwrap();
        assert_eq!(done, (true, true, Membership::Changed, true));
        assert_eq!(t.count("audit_events"), 1);
        // Refusals inside one transaction, then an event: the event commits.
        let ops = GroupName::parse("ops").unwrap();
        let origins = db
            .get_client(&cid("c-1"))
            .unwrap()
            .unwrap()
            .registration
            .allowed_origins;
        let groups = vec![ops.clone()];
        let refused = db
            .audited(|tx| {
                let group_again = tx.insert_group(&group("ops"))?;
                let resource_again = tx.insert_resource(&res)?;
                let member_again = tx.add_member(&ops, &uname("alice"), UnixTime(3))?;
                let stale = tx.set_client_access_if(
                    &cid("c-1"),
                    ClientAccess {
                        origins: &origins,
                        groups: &groups,
                    },
                    ClientAccess {
                        origins: &origins,
                        groups: &[],
                    },
                )?;
                let mut renamed = res.clone();
                renamed.scopes = ScopeSet::parse("read write").unwrap();
                let mut wrong = res.clone();
                wrong.scopes = ScopeSet::parse("admin").unwrap();
                let stale_resource = tx.update_resource_if(&renamed, &wrong)?;
                tx.record(&event(3, AuditKind::GroupCreated))?;
                Ok((
                    group_again,
                    resource_again,
                    member_again,
                    stale,
                    stale_resource,
                ))
            })
            .unwrap();
        assert_eq!(refused, (false, false, Membership::Unchanged, false, false));
        assert_eq!(t.count("audit_events"), 2);
        // The duplicate client is a conflict: the whole transaction goes, event too.
        let duplicate = db.audited(|tx| {
            tx.record(&event(4, AuditKind::ClientCreated))?;
            tx.insert_client(&super::confidential_client("c-1", 1))
        });
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
        assert_eq!(t.count("audit_events"), 2);
        // The compare-and-sets and the deletions that match.
        let changed = db
            .audited(|tx| {
                let access = tx.set_client_access_if(
                    &cid("c-1"),
                    ClientAccess {
                        origins: &origins,
                        groups: &[],
                    },
                    ClientAccess {
                        origins: &origins,
                        groups: &groups,
                    },
                )?;
                let mut renamed = res.clone();
                renamed.scopes = ScopeSet::parse("read write").unwrap();
                let resource = tx.update_resource_if(&renamed, &res)?;
                let removed = tx.remove_member(&ops, &uname("alice"))?;
                let client_gone = tx.delete_client(&cid("c-1"))?;
                let group_gone = tx.delete_group(&ops)?;
                let resource_gone = tx.delete_resource(&res.uri)?;
                tx.record(&event(5, AuditKind::ClientDeleted))?;
                Ok((
                    access,
                    resource,
                    removed,
                    client_gone,
                    group_gone,
                    resource_gone,
                ))
            })
            .unwrap();
        assert_eq!(changed, (true, true, Membership::Changed, true, true, true));
        assert_eq!(db.get_client(&cid("c-1")), Ok(None));
        assert_eq!(
            db.list_groups()
                .unwrap()
                .iter()
                .filter(|g| g.group.name == ops)
                .count(),
            0
        );
        assert_eq!(t.count("audit_events"), 3);
    }

    /// Initial access tokens and invitations, as the admin operations write them: with
    /// their events, or (on a failure after them, or a conflict) not at all.
    pub fn registration_tokens_and_invitations_commit_with_their_events_or_not_at_all(
        t: &TestDb,
        db: &Database,
    ) {
        use usher_domain::{
            Email, InitialAccessToken, Invitation, InvitationStore, PersonName, RegistrationStore,
        };
        let token = InitialAccessToken {
            id: "00000000-0000-4000-8000-000000000001".to_owned(),
            token_hash: "$iat".to_owned(),
            created_at: UnixTime(1),
            expires_at: UnixTime(i64::from(u32::MAX)),
            max_uses: 1,
            uses: 0,
        };
        let email = Email::parse("Guest@example.org").unwrap();
        let invitation = Invitation {
            token_hash: "inv-hash".to_owned(),
            email: email.clone(),
            name: Some(PersonName::parse("Guest").unwrap()),
            created_at: UnixTime(1),
            expires_at: UnixTime(i64::from(u32::MAX)),
        };
        let failed = db.audited(|tx| {
            tx.insert_initial_access_token(&token)?;
            tx.insert_invitation(&invitation)?;
            tx.record(&event(1, AuditKind::InvitationCreated))?;
            Err::<(), _>(StoreError::Unavailable("the caller gave up".into()))
        });
        assert!(failed.is_err());
        assert_eq!(db.list_initial_access_tokens().unwrap().len(), 0);
        assert_eq!(db.list_invitations(UnixTime(2)).unwrap().len(), 0);
        assert_eq!(t.count("audit_events"), 0);
        db.audited(|tx| {
            tx.insert_initial_access_token(&token)?;
            tx.record(&event(2, AuditKind::RegistrationTokenIssued))?;
            tx.insert_invitation(&invitation)?;
            tx.record(&event(2, AuditKind::InvitationCreated))
        })
        .unwrap();
        assert_eq!(
            db.list_initial_access_tokens().unwrap(),
            vec![token.clone()]
        );
        assert_eq!(db.list_invitations(UnixTime(2)).unwrap().len(), 1);
        assert_eq!(t.count("audit_events"), 2);
        // The same token again is a conflict: the event before it goes too.
        let duplicate = db.audited(|tx| {
            tx.record(&event(3, AuditKind::RegistrationTokenIssued))?;
            tx.insert_initial_access_token(&token)
        });
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
        assert_eq!(t.count("audit_events"), 2);
        // Revocations: what they found, with their events; found again, nothing.
        let done = db
            .audited(|tx| {
                let gone = tx.delete_initial_access_token(&token.id)?;
                let revoked = tx.revoke_invitations(&Email::parse("guest@EXAMPLE.org").unwrap())?;
                tx.record(&event(4, AuditKind::InvitationRevoked))?;
                Ok((gone, revoked))
            })
            .unwrap();
        assert_eq!(done, (true, 1));
        let again = db
            .audited(|tx| {
                Ok((
                    tx.delete_initial_access_token(&token.id)?,
                    tx.revoke_invitations(&email)?,
                ))
            })
            .unwrap();
        assert_eq!(again, (false, 0));
        assert_eq!(db.list_initial_access_tokens().unwrap().len(), 0);
        assert_eq!(db.list_invitations(UnixTime(2)).unwrap().len(), 0);
        assert_eq!(t.count("audit_events"), 3);
    }

    pub fn a_corrupt_audit_row_is_reported(t: &TestDb, db: &Database) {
        t.execute(
            "INSERT INTO audit_events (at, kind, actor, detail) \
             VALUES (1, 'person.exploded', 'cli', '{}')",
        );
        assert!(matches!(
            db.list_events(&AuditFilter::default()),
            Err(StoreError::Corrupt(_))
        ));
    }

    pub fn a_stored_detail_is_read_back_without_secret_members(t: &TestDb, db: &Database) {
        t.execute(
            "INSERT INTO audit_events (at, kind, actor, detail) \
             VALUES (1, 'person.created', 'cli', '{\"username\":\"a\",\"password\":\"x\"}')",
        );
        let got = db.list_events(&AuditFilter::default()).unwrap();
        assert_eq!(got[0].event.detail.to_value(), json!({"username": "a"}));
    }
}

macro_rules! audit_contract {
    ($($case:ident),* $(,)?) => {
        mod audit {
            mod sqlite {
                $( #[test] fn $case() {
                    super::super::run("sqlite", super::super::audit_cases::$case);
                } )*
            }
            mod postgres {
                $( #[test] fn $case() {
                    super::super::run("postgres", super::super::audit_cases::$case);
                } )*
            }
        }
    };
}

audit_contract!(
    an_event_round_trips_with_every_field,
    filters_and_pages_return_exactly_the_matching_events_in_order,
    a_listing_never_returns_more_than_the_cap,
    twenty_threads_recording_at_once_keep_every_event_with_unique_ids,
    purge_removes_only_events_before_the_cutoff_and_ids_are_not_reused,
    a_change_and_its_event_commit_together_or_not_at_all,
    admin_changes_commit_with_their_events_or_not_at_all,
    registration_tokens_and_invitations_commit_with_their_events_or_not_at_all,
    a_corrupt_audit_row_is_reported,
    a_stored_detail_is_read_back_without_secret_members,
);

// ---- Upstream identity providers (issue 18) -------------------------------------------

mod upstream_cases {
    use usher_domain::{
        AuditActor, AuditEvent, AuditKind, AuditStore, CeremonyKind, ClaimMapping, JitInsert,
        ManualEndpoints, PasskeyStore, StoreError, UnixTime, Upstream, UpstreamId,
        UpstreamIdentity, UpstreamStore, UserId, UserStore,
    };
    use usher_store::Database;
    use usher_store::testing::TestDb;

    use super::{bare_user, ceremony, race, uid};

    fn up(id: &str) -> UpstreamId {
        UpstreamId::parse(id).unwrap()
    }

    fn upstream(id: &str) -> Upstream {
        Upstream {
            id: up(id),
            name: "Google Workspace".into(),
            issuer: "https://accounts.google.com".into(),
            client_id: "client-123".into(),
            client_secret_sealed: Some("v1.sealed-secret".into()),
            scope: "openid email profile".into(),
            claim_mapping: ClaimMapping::default(),
            endpoints: None,
            enabled: true,
            trusted_for_mfa: false,
            create_people: true,
            created_at: UnixTime(100),
        }
    }

    fn github() -> Upstream {
        Upstream {
            name: "GitHub".into(),
            issuer: "https://github.com".into(),
            client_secret_sealed: None,
            scope: "read:user user:email".into(),
            claim_mapping: ClaimMapping::parse("sub=id,username=login,email_verified=").unwrap(),
            endpoints: Some(ManualEndpoints {
                authorization_endpoint: "https://github.com/login/oauth/authorize".into(),
                token_endpoint: "https://github.com/login/oauth/access_token".into(),
                userinfo_endpoint: "https://api.github.com/user".into(),
            }),
            enabled: false,
            trusted_for_mfa: true,
            create_people: false,
            ..upstream("github")
        }
    }

    fn identity(upstream: &str, subject: &str, user: &str, at: i64) -> UpstreamIdentity {
        UpstreamIdentity {
            upstream: up(upstream),
            subject: subject.into(),
            user_id: uid(user),
            created_at: UnixTime(at),
        }
    }

    pub fn an_upstream_round_trips_with_its_mapping_and_endpoints(_: &TestDb, db: &Database) {
        let google = upstream("google");
        assert_eq!(db.insert_upstream(&google), Ok(true));
        assert_eq!(db.insert_upstream(&upstream("google")), Ok(false));
        assert_eq!(db.insert_upstream(&github()), Ok(true));
        assert_eq!(db.get_upstream(&up("google")), Ok(Some(google.clone())));
        assert_eq!(db.get_upstream(&up("github")), Ok(Some(github())));
        assert_eq!(db.get_upstream(&up("nobody")), Ok(None));
        let ids: Vec<String> = db
            .list_upstreams()
            .unwrap()
            .into_iter()
            .map(|u| u.id.to_string())
            .collect();
        assert_eq!(ids, ["github", "google"]);

        // Every field but the id and the creation time is replaced.
        let changed = Upstream {
            id: up("google"),
            created_at: UnixTime(999),
            ..github()
        };
        assert_eq!(db.update_upstream(&changed), Ok(true));
        assert_eq!(
            db.get_upstream(&up("google")),
            Ok(Some(Upstream {
                created_at: UnixTime(100),
                ..changed
            }))
        );
        assert_eq!(db.update_upstream(&upstream("nobody")), Ok(false));
        assert_eq!(db.delete_upstream(&up("google")), Ok(true));
        assert_eq!(db.delete_upstream(&up("google")), Ok(false));
        assert_eq!(db.get_upstream(&up("google")), Ok(None));
    }

    pub fn identities_are_linked_once_listed_and_unlinked(t: &TestDb, db: &Database) {
        db.insert_upstream(&upstream("google")).unwrap();
        db.insert_upstream(&github()).unwrap();
        db.insert_user(&bare_user("u-1", "alice", 1)).unwrap();
        db.insert_user(&bare_user("u-2", "bob", 2)).unwrap();
        let alice_g = identity("google", "g-alice", "u-1", 20);
        let alice_h = identity("github", "42", "u-1", 10);
        assert_eq!(db.link_identity(&alice_g), Ok(true));
        assert_eq!(db.link_identity(&alice_h), Ok(true));
        // The pair is linked already: to anyone else neither.
        assert_eq!(db.link_identity(&alice_g), Ok(false));
        assert_eq!(
            db.link_identity(&identity("google", "g-alice", "u-2", 30)),
            Ok(false)
        );
        // The same subject at another upstream is another identity.
        assert_eq!(
            db.link_identity(&identity("github", "g-alice", "u-2", 30)),
            Ok(true)
        );
        assert_eq!(
            db.find_identity(&up("google"), "g-alice"),
            Ok(Some(alice_g.clone()))
        );
        assert_eq!(db.find_identity(&up("google"), "G-ALICE"), Ok(None));
        assert_eq!(
            db.list_identities(&uid("u-1")),
            Ok(vec![alice_h.clone(), alice_g.clone()])
        );
        // Only its holder unlinks it.
        assert_eq!(
            db.unlink_identity(&uid("u-2"), &up("google"), "g-alice"),
            Ok(false)
        );
        assert_eq!(
            db.unlink_identity(&uid("u-1"), &up("google"), "g-alice"),
            Ok(true)
        );
        assert_eq!(
            db.unlink_identity(&uid("u-1"), &up("google"), "g-alice"),
            Ok(false)
        );
        assert_eq!(db.list_identities(&uid("u-1")), Ok(vec![alice_h]));
        // No such upstream: refused, nothing written.
        assert!(matches!(
            db.link_identity(&identity("nobody", "x", "u-1", 1)),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(t.count("upstream_identities"), 2);
    }

    pub fn identities_go_with_their_upstream_or_their_person(t: &TestDb, db: &Database) {
        db.insert_upstream(&upstream("google")).unwrap();
        db.insert_upstream(&github()).unwrap();
        db.insert_user(&bare_user("u-1", "alice", 1)).unwrap();
        db.insert_user(&bare_user("u-2", "bob", 2)).unwrap();
        db.link_identity(&identity("google", "a", "u-1", 1))
            .unwrap();
        db.link_identity(&identity("google", "b", "u-2", 1))
            .unwrap();
        db.link_identity(&identity("github", "c", "u-2", 1))
            .unwrap();
        assert_eq!(db.delete_upstream(&up("google")), Ok(true));
        assert_eq!(t.count("upstream_identities"), 1);
        assert_eq!(db.find_identity(&up("google"), "a"), Ok(None));
        assert_eq!(db.delete_user(&super::uname("bob")), Ok(true));
        assert_eq!(t.count("upstream_identities"), 0);
        assert_eq!(db.list_identities(&uid("u-1")), Ok(vec![]));
    }

    pub fn a_first_sign_in_creates_the_person_and_the_link_or_nothing(t: &TestDb, db: &Database) {
        db.insert_upstream(&upstream("google")).unwrap();
        db.insert_user(&bare_user("u-1", "alice", 1)).unwrap();
        // The username is taken: nothing written.
        assert_eq!(
            db.create_person_with_identity(
                &bare_user("u-2", "alice", 2),
                &identity("google", "s-1", "u-2", 2)
            ),
            Ok(JitInsert::UsernameTaken)
        );
        assert_eq!(t.count("users"), 1);
        assert_eq!(t.count("upstream_identities"), 0);
        let created = bare_user("u-2", "bob", 2);
        assert_eq!(
            db.create_person_with_identity(&created, &identity("google", "s-1", "u-2", 2)),
            Ok(JitInsert::Created)
        );
        assert_eq!(db.get_user(&uid("u-2")), Ok(Some(created)));
        assert_eq!(
            db.find_identity(&up("google"), "s-1")
                .unwrap()
                .unwrap()
                .user_id,
            uid("u-2")
        );
        // Linked already (whatever the username): nothing written, the holder named.
        for name in ["carol", "alice"] {
            assert_eq!(
                db.create_person_with_identity(
                    &bare_user("u-3", name, 3),
                    &identity("google", "s-1", "u-3", 3)
                ),
                Ok(JitInsert::AlreadyLinked(uid("u-2")))
            );
        }
        assert_eq!(t.count("users"), 2);
        assert_eq!(t.count("upstream_identities"), 1);
        // No such upstream: refused, the person not created either.
        assert!(matches!(
            db.create_person_with_identity(
                &bare_user("u-4", "dave", 4),
                &identity("nobody", "s-1", "u-4", 4)
            ),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(t.count("users"), 2);
        // The connection is still usable after each refusal.
        assert!(db.find_user(&super::uname("bob")).unwrap().is_some());
    }

    pub fn eight_racing_first_sign_ins_of_one_identity_create_one_person(
        t: &TestDb,
        db: &Database,
    ) {
        db.insert_upstream(&upstream("google")).unwrap();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let answers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (db2, answers2) = (db.clone(), answers.clone());
        let created = race(8, move || {
            let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let id = format!("u-{n}");
            let answer = db2
                .create_person_with_identity(
                    &bare_user(&id, &format!("person{n}"), 1),
                    &identity("google", "same-sub", &id, 1),
                )
                .unwrap();
            let won = answer == JitInsert::Created;
            answers2.lock().unwrap().push((id, answer));
            won
        });
        assert_eq!(created, 1);
        assert_eq!(t.count("users"), 1);
        assert_eq!(t.count("upstream_identities"), 1);
        let holder: UserId = db
            .find_identity(&up("google"), "same-sub")
            .unwrap()
            .unwrap()
            .user_id;
        assert!(db.get_user(&holder).unwrap().is_some());
        for (id, answer) in answers.lock().unwrap().iter() {
            if *id == holder.as_str() {
                assert_eq!(*answer, JitInsert::Created);
            } else {
                assert_eq!(*answer, JitInsert::AlreadyLinked(holder.clone()));
            }
        }
    }

    pub fn eight_racing_links_of_one_identity_have_one_winner(t: &TestDb, db: &Database) {
        db.insert_upstream(&upstream("google")).unwrap();
        for n in 0..8 {
            db.insert_user(&bare_user(&format!("u-{n}"), &format!("person{n}"), 1))
                .unwrap();
        }
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let db2 = db.clone();
        let won = race(8, move || {
            let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            db2.link_identity(&identity("google", "same-sub", &format!("u-{n}"), 1))
                .unwrap()
        });
        assert_eq!(won, 1);
        assert_eq!(t.count("upstream_identities"), 1);
    }

    pub fn the_ceremony_table_holds_upstream_sign_ins_and_pending_links(t: &TestDb, db: &Database) {
        db.insert_user(&bare_user("u-1", "alice", 1)).unwrap();
        let signing_in = ceremony("c-up", CeremonyKind::Upstream, None, 1000);
        let linking = ceremony("c-link", CeremonyKind::UpstreamLink, Some("u-1"), 1000);
        db.insert_ceremony(&signing_in).unwrap();
        db.insert_ceremony(&linking).unwrap();
        assert_eq!(db.take_ceremony("c-up"), Ok(Some(signing_in)));
        assert_eq!(db.take_ceremony("c-up"), Ok(None));
        // The rebuilt table keeps its foreign key: a pending link goes with the person.
        assert_eq!(db.delete_user(&super::uname("alice")), Ok(true));
        assert_eq!(t.count("webauthn_ceremonies"), 0);
        assert_eq!(db.take_ceremony("c-link"), Ok(None));
    }

    pub fn upstream_changes_commit_with_their_events_or_not_at_all(t: &TestDb, db: &Database) {
        let event = |kind| AuditEvent::new(UnixTime(5), kind, AuditActor::Cli).target("google");
        db.audited(|tx| {
            assert!(tx.insert_upstream(&upstream("google"))?);
            assert!(!tx.insert_upstream(&upstream("google"))?);
            tx.record(&event(AuditKind::UpstreamCreated))?;
            Ok(())
        })
        .unwrap();
        assert_eq!(t.count("upstreams"), 1);
        let failed: Result<(), StoreError> = db.audited(|tx| {
            assert!(tx.update_upstream(&github_as_google())?);
            tx.record(&event(AuditKind::UpstreamUpdated))?;
            Err(StoreError::Conflict("changed my mind".into()))
        });
        assert!(failed.is_err());
        assert_eq!(db.get_upstream(&up("google")), Ok(Some(upstream("google"))));
        db.audited(|tx| {
            assert!(tx.delete_upstream(&up("google"))?);
            tx.record(&event(AuditKind::UpstreamDeleted))?;
            Ok(())
        })
        .unwrap();
        assert_eq!(t.count("upstreams"), 0);
        let kinds: Vec<AuditKind> = db
            .list_events(&Default::default())
            .unwrap()
            .into_iter()
            .map(|e| e.event.kind)
            .collect();
        assert_eq!(
            kinds,
            [AuditKind::UpstreamDeleted, AuditKind::UpstreamCreated]
        );
    }

    fn github_as_google() -> Upstream {
        Upstream {
            id: up("google"),
            ..github()
        }
    }

    pub fn a_corrupt_upstream_row_is_reported(t: &TestDb, db: &Database) {
        t.execute(
            "INSERT INTO upstreams (id, name, issuer, client_id, client_secret_sealed, scope, \
             claim_mapping, endpoints, enabled, trusted_for_mfa, create_people, created_at) \
             VALUES ('ok', 'Ok', 'https://x', 'c', NULL, 'openid', 'not json', NULL, \
             TRUE, FALSE, TRUE, 1)",
        );
        assert!(matches!(db.list_upstreams(), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            db.get_upstream(&up("ok")),
            Err(StoreError::Corrupt(_))
        ));
    }
}

macro_rules! upstream_contract {
    ($($case:ident),* $(,)?) => {
        mod upstreams {
            mod sqlite {
                $( #[test] fn $case() {
                    super::super::run("sqlite", super::super::upstream_cases::$case);
                } )*
            }
            mod postgres {
                $( #[test] fn $case() {
                    super::super::run("postgres", super::super::upstream_cases::$case);
                } )*
            }
        }
    };
}

upstream_contract!(
    an_upstream_round_trips_with_its_mapping_and_endpoints,
    identities_are_linked_once_listed_and_unlinked,
    identities_go_with_their_upstream_or_their_person,
    a_first_sign_in_creates_the_person_and_the_link_or_nothing,
    eight_racing_first_sign_ins_of_one_identity_create_one_person,
    eight_racing_links_of_one_identity_have_one_winner,
    the_ceremony_table_holds_upstream_sign_ins_and_pending_links,
    upstream_changes_commit_with_their_events_or_not_at_all,
    a_corrupt_upstream_row_is_reported,
);
