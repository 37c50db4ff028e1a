//! A whole node for the core's unit tests, without HTTP: a [`Core`] on a fresh SQLite
//! file (the real embedded store, every port), a signing key, and a clock the test moves.
//! Clients and people are made with one call each.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use usher_domain::{
    Client, ClientId, ClientRegistration, ClientStore, KeyState, RegistrationInput, UnixTime, User,
    UserId, UserStore, Username,
};
use usher_keys::{FactorSealer, FormSealer, Kek, KeyRing, SecretHasher, generate_signing_key};
use usher_store::testing::TestDb;

use crate::cache::Caches;
use crate::passwords::PasswordPool;
use crate::{Clock, Core, PublishedKeys, Settings, Stores};

/// The time every test node starts at.
pub const START: UnixTime = UnixTime(1_800_000_000);

/// A clock that moves only when the test says so.
#[derive(Debug)]
pub struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

/// One KEK and one RSA key for every test in the process (key generation is slow).
fn key_material() -> &'static (Kek, usher_domain::SigningKeyRecord) {
    static KEYS: OnceLock<(Kek, usher_domain::SigningKeyRecord)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let kek = Kek::generate().unwrap();
        let key = generate_signing_key(&kek, 2048, KeyState::Active, UnixTime(0)).unwrap();
        (kek, key)
    })
}

/// A node of its own, on its own database.
pub struct TestNode {
    pub core: Core,
    pub clock: Arc<TestClock>,
    pub db: usher_store::Database,
    _file: TestDb,
}

/// The password every test person has.
pub const PASSWORD: &str = "correct horse battery staple";

impl Default for TestNode {
    /// A node with the default settings for `https://usher.example`.
    fn default() -> TestNode {
        TestNode::with_settings(|_| {})
    }
}

impl TestNode {
    /// A node with the default settings for `https://usher.example`.
    pub fn new() -> TestNode {
        TestNode::default()
    }

    /// A node whose settings `adjust` changes first.
    pub fn with_settings(adjust: impl FnOnce(&mut Settings)) -> TestNode {
        let file = TestDb::sqlite();
        let db = file.database();
        let (kek, key) = key_material();
        let mut settings =
            Settings::new(usher_domain::Issuer::parse("https://usher.example").unwrap());
        adjust(&mut settings);
        let clock = Arc::new(TestClock(AtomicI64::new(START.seconds())));
        let ring = KeyRing::from_records(std::slice::from_ref(key), kek).unwrap();
        let core = Core {
            settings: Arc::new(settings),
            keys: Arc::new(RwLock::new(Arc::new(PublishedKeys::new(ring)))),
            discovery: Arc::from(&b"{}"[..]),
            stores: Stores::all_in(Arc::new(db.clone())),
            secrets: SecretHasher::from_kek(kek),
            sealer: FormSealer::from_kek(kek),
            factor_sealer: FactorSealer::from_kek(kek),
            passwords: PasswordPool::new(1),
            caches: Arc::new(Caches::new(0)),
            clock: clock.clone(),
        };
        TestNode {
            core,
            clock,
            db,
            _file: file,
        }
    }

    /// The node's time now.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Moves the clock `seconds` forward.
    pub fn advance(&self, seconds: i64) {
        self.clock.0.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Registers a client from CLI-shaped input (`name` defaults to "Test app"); a
    /// confidential one gets the secret `"<id>-secret"`.
    pub fn client(&self, id: &str, mut input: RegistrationInput) -> Client {
        if input.name.is_empty() {
            input.name = "Test app".to_owned();
        }
        let registration = ClientRegistration::new(input).unwrap();
        let id = ClientId::parse(id).unwrap();
        let secret_hash = (registration.auth_method != usher_domain::AuthMethod::None)
            .then(|| self.core.secrets.hash(&format!("{id}-secret")));
        let client = Client {
            id,
            secret_hash,
            registration,
            created_at: self.now(),
        };
        self.db.insert_client(&client).unwrap();
        client
    }

    /// A person named `username` (id `u-<username>`), with the password [`PASSWORD`].
    pub fn person(&self, username: &str) -> User {
        let user = User {
            id: UserId::parse(&format!("u-{username}")).unwrap(),
            username: Username::parse(username).unwrap(),
            password_hash: usher_keys::hash_password(
                &usher_domain::Password::parse(PASSWORD.to_owned()).unwrap(),
            )
            .unwrap(),
            name: None,
            email: None,
            email_verified: false,
            created_at: self.now(),
        };
        self.db.insert_user(&user).unwrap();
        user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_test_node_reads_what_it_registered_and_moves_its_clock() {
        let node = TestNode::new();
        let client = node.client(
            "app",
            RegistrationInput {
                redirect_uris: vec!["https://app.example/cb".to_owned()],
                ..RegistrationInput::default()
            },
        );
        let person = node.person("alice");
        assert_eq!(node.core.client(&client.id).await.unwrap(), Some(client));
        assert_eq!(node.core.user(&person.id).await.unwrap(), Some(person));
        node.advance(5);
        assert_eq!(node.core.now(), START.plus(5));
    }
}
