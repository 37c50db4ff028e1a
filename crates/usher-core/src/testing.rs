//! A whole node for the core's unit tests, without HTTP: a [`Core`] on a fresh SQLite
//! file (the real embedded store, every port), a signing key, and a clock the test moves.
//! Clients and people are made with one call each, and so are what the unit tests of
//! several modules arrange: forms, access and ID tokens, refresh families and browser
//! sessions.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use usher_domain::authorize::RawParams;
use usher_domain::{
    Client, ClientId, ClientRegistration, ClientStore, FamilyId, FamilyState, KeyState, NewFamily,
    RegistrationInput, ScopeSet, Session, SessionStore, UnixTime, User, UserId, UserStore,
    Username,
};
use usher_keys::{FactorSealer, FormSealer, Kek, KeyRing, SecretHasher, generate_key};
use usher_store::testing::TestDb;

use crate::cache::Caches;
use crate::passwords::PasswordPool;
use crate::tokens::{self, AccessTokenInput, IdTokenInput, MintedAccessToken};
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

/// One KEK and one active key per algorithm (RS256, ES256, EdDSA) for every test in the
/// process (RSA key generation is slow).
fn key_material() -> &'static (Kek, Vec<usher_domain::SigningKeyRecord>) {
    static KEYS: OnceLock<(Kek, Vec<usher_domain::SigningKeyRecord>)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let kek = Kek::generate().unwrap();
        let keys = usher_domain::SigningAlg::ALL
            .into_iter()
            .map(|alg| generate_key(&kek, alg, 2048, KeyState::Active, UnixTime(0)).unwrap())
            .collect();
        (kek, keys)
    })
}

/// Form parameters from pairs, in order.
pub fn form(pairs: &[(&str, &str)]) -> RawParams {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A confidential client with the redirect URI `https://app.example/cb` and the
/// authorization_code and refresh_token grants.
pub fn registration() -> RegistrationInput {
    RegistrationInput {
        redirect_uris: vec!["https://app.example/cb".to_owned()],
        grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
        ..RegistrationInput::default()
    }
}

/// What an access token the node signs says; issued now.
pub struct AccessTokenSpec<'a> {
    /// The `client_id` claim.
    pub client: &'a str,
    /// The `sub` claim.
    pub subject: &'a str,
    /// The `aud` claim; `None` is the node's userinfo audience.
    pub audience: Option<&'a [String]>,
    pub scope: &'a str,
    /// How many seconds before now the person signed in (`auth_time`).
    pub signed_in_ago: i64,
    /// Seconds from now to `exp`.
    pub lifetime: i64,
}

impl Default for AccessTokenSpec<'_> {
    /// `app`'s token for `u-alice`, for userinfo, `openid`, signed in now, ten minutes.
    fn default() -> Self {
        AccessTokenSpec {
            client: "app",
            subject: "u-alice",
            audience: None,
            scope: "openid",
            signed_in_ago: 0,
            lifetime: 600,
        }
    }
}

/// A refresh family to start; created now, it ends in an hour (idle: half an hour).
pub struct FamilySpec<'a> {
    /// The family's id is `fam-<name>-000000000000`.
    pub name: &'a str,
    pub client: &'a str,
    pub user: &'a str,
    pub scope: &'a str,
    /// How many seconds before now the person signed in (`auth_time`).
    pub signed_in_ago: i64,
    /// The lineage hash of the sign-in, if the family belongs to one.
    pub lineage: Option<&'a str>,
    /// The RFC 8707 resources of the grant.
    pub resources: &'a [&'a str],
}

impl Default for FamilySpec<'_> {
    /// `app`'s family for `u-alice`, `openid offline_access`, signed in now, no lineage.
    fn default() -> Self {
        FamilySpec {
            name: "app",
            client: "app",
            user: "u-alice",
            scope: "openid offline_access",
            signed_in_ago: 0,
            lineage: None,
            resources: &[],
        }
    }
}

/// A node of its own, on its own database.
pub struct TestNode {
    pub core: Core,
    pub clock: Arc<TestClock>,
    pub db: usher_store::Database,
    /// The database file, kept while any node on it lives.
    file: Arc<TestDb>,
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
        let file = Arc::new(TestDb::sqlite());
        let db = file.database();
        let mut settings =
            Settings::new(usher_domain::Issuer::parse("https://usher.example").unwrap());
        adjust(&mut settings);
        TestNode::on(file, db, settings, START)
    }

    /// Another node of the same cluster: its own connection pool on this node's database
    /// file, the same settings and keys (the KEK is the cluster's), its own clock set to
    /// this node's time.
    pub fn sharing_database(&self) -> TestNode {
        let db = self.file.connect();
        TestNode::on(
            self.file.clone(),
            db,
            (*self.core.settings).clone(),
            self.now(),
        )
    }

    fn on(
        file: Arc<TestDb>,
        db: usher_store::Database,
        settings: Settings,
        now: UnixTime,
    ) -> TestNode {
        let (kek, keys) = key_material();
        let clock = Arc::new(TestClock(AtomicI64::new(now.seconds())));
        let ring = KeyRing::from_records(keys, kek).unwrap();
        let core = Core {
            settings: Arc::new(settings),
            keys: Arc::new(RwLock::new(Arc::new(PublishedKeys::new(ring)))),
            discovery: Arc::from(&b"{}"[..]),
            stores: audited(Stores::all_in(Arc::new(db.clone()))),
            secrets: SecretHasher::from_kek(kek),
            sealer: FormSealer::from_kek(kek),
            factor_sealer: FactorSealer::from_kek(kek),
            upstream_providers: crate::upstream::Providers::none(),
            passwords: PasswordPool::new(1),
            caches: Arc::new(Caches::new(0)),
            mail: crate::mail::Mailing::recording(),
            metadata_documents: crate::client_metadata::MetadataDocuments::none(),
            clock: clock.clone(),
            key_admin: None,
        };
        TestNode {
            core,
            clock,
            db,
            file,
        }
    }

    /// Registers the resource server `uri` defining `scopes` (space-separated), named
    /// `name` if given.
    pub fn resource(&self, uri: &str, name: Option<&str>, scopes: &str) -> usher_domain::Resource {
        let resource = usher_domain::Resource {
            uri: usher_domain::ResourceUri::parse(uri).unwrap(),
            name: name.map(|n| usher_domain::ResourceName::parse(n).unwrap()),
            scopes: usher_domain::resource::parse_resource_scopes(scopes).unwrap(),
            created_at: self.now(),
            updated_at: self.now(),
        };
        assert!(usher_domain::ResourceStore::insert_resource(&self.db, &resource).unwrap());
        resource
    }

    /// The audit events recorded so far, oldest first (at most 500).
    pub fn audit_events(&self) -> Vec<usher_domain::RecordedAuditEvent> {
        usher_domain::AuditStore::list_events(
            &self.db,
            &usher_domain::AuditFilter {
                order: usher_domain::AuditOrder::OldestFirst,
                limit: Some(usher_domain::MAX_AUDIT_PAGE),
                ..usher_domain::AuditFilter::default()
            },
        )
        .unwrap()
    }

    /// Makes every audit write fail from now on (the table is gone), as a database that
    /// refuses that one insert would.
    pub fn break_audit_trail(&self) {
        self.file.execute("DROP TABLE audit_events");
    }

    /// The kinds of [`Self::audit_events`], oldest first.
    pub fn audit_kinds(&self) -> Vec<usher_domain::AuditKind> {
        self.audit_events()
            .into_iter()
            .map(|e| e.event.kind)
            .collect()
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
            profile: usher_domain::ProfileClaims::default(),
            created_at: self.now(),
            disabled_at: None,
        };
        self.db.insert_user(&user).unwrap();
        user
    }

    /// An access token the node signs as `spec` says.
    pub fn access_token(&self, spec: AccessTokenSpec<'_>) -> MintedAccessToken {
        let keys = self.core.published_keys();
        let userinfo = [self.core.settings.userinfo_audience()];
        let now = self.now();
        tokens::access_token(
            &keys.ring,
            &AccessTokenInput {
                alg: self.core.settings.access_token_alg,
                issuer: self.core.settings.issuer.as_str(),
                subject: spec.subject,
                audience: spec.audience.unwrap_or(&userinfo),
                client_id: spec.client,
                scope: &ScopeSet::parse(spec.scope).unwrap(),
                auth_time: Some(now.plus(-spec.signed_in_ago)),
                amr: Some(&usher_domain::AuthMethods::password()),
                groups: None,
                issued_at: now,
                expires_at: now.plus(spec.lifetime),
            },
        )
        .unwrap()
    }

    /// An ID token for `user`, issued to `client` now, good for ten minutes, `openid`,
    /// bound to the access token `"an-access-token"`.
    pub fn id_token(&self, user: &User, client: &str) -> String {
        self.id_token_with(self.core.settings.id_token_alg, user, client)
    }

    /// [`TestNode::id_token`], signed with `alg`.
    pub fn id_token_with(
        &self,
        alg: usher_domain::SigningAlg,
        user: &User,
        client: &str,
    ) -> String {
        tokens::id_token(
            &self.core.published_keys(),
            &IdTokenInput {
                alg,
                issuer: self.core.settings.issuer.as_str(),
                client_id: client,
                user,
                scope: &ScopeSet::parse("openid").unwrap(),
                nonce: None,
                auth_time: self.now(),
                amr: &usher_domain::AuthMethods::password(),
                issued_at: self.now(),
                expires_at: self.now().plus(600),
                access_token: "an-access-token",
                sid: None,
                groups: None,
            },
        )
        .unwrap()
    }

    /// Starts the refresh family `spec` describes; returns its id and first token.
    pub async fn family(&self, spec: FamilySpec<'_>) -> (FamilyId, String) {
        let id = FamilyId::parse(&format!("fam-{}-000000000000", spec.name)).unwrap();
        let (token, _, hash) = crate::refresh_tokens::mint(&self.core.secrets, &id).unwrap();
        let now = self.now();
        self.core
            .stores
            .families
            .create(&NewFamily {
                id: id.clone(),
                user_id: UserId::parse(spec.user).unwrap(),
                client_id: ClientId::parse(spec.client).unwrap(),
                scopes: ScopeSet::parse(spec.scope).unwrap(),
                resources: spec
                    .resources
                    .iter()
                    .map(|r| usher_domain::ResourceUri::parse(r).unwrap())
                    .collect(),
                auth_time: now.plus(-spec.signed_in_ago),
                amr: usher_domain::AuthMethods::password(),
                lineage_hash: spec.lineage.map(str::to_owned),
                token_hash: hash,
                created_at: now,
                expires_at: now.plus(3600),
                idle_expires_at: now.plus(1800),
            })
            .await
            .unwrap();
        (id, token)
    }

    /// The state of the family `id` now (panics if it is unknown).
    pub async fn family_state(&self, id: &FamilyId) -> FamilyState {
        let family = self.core.stores.families.get(id).await.unwrap().unwrap();
        family.state(self.now())
    }

    /// A browser session of `user`, whose cookie is `cookie`, in the lineage whose hash is
    /// `lineage`; the password was entered `signed_in_ago` seconds ago (when the session
    /// began), and the session ends an hour from now.
    pub fn session(&self, user: &User, cookie: &str, lineage: &str, signed_in_ago: i64) -> Session {
        let began = self.now().plus(-signed_in_ago);
        let session = Session {
            id_hash: usher_keys::sha256_b64url(cookie),
            lineage_hash: lineage.to_owned(),
            user_id: user.id.clone(),
            auth_time: began,
            amr: usher_domain::AuthMethods::password(),
            created_at: began,
            expires_at: self.now().plus(3600),
            address: None,
            user_agent: None,
        };
        self.db.insert_session(&session).unwrap();
        session
    }
}

/// The stores with the families wrapped as the server wraps them
/// ([`crate::audit::audited_families`]), so tests see the family events.
fn audited(mut stores: Stores) -> Stores {
    stores.families = crate::audit::audited_families(
        stores.families.clone(),
        stores.audit.clone(),
        usher_domain::AuditActor::System,
    );
    stores
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
