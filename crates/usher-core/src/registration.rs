//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592):
//! docs/design/registration.md.
//!
//! [`register`] decides a `POST /register`: the mode (`registration`: off, token, open),
//! the per-address rate limit (the shared throttle counters, `register:<address>`), the
//! initial access token in `token` mode, the metadata
//! ([`ClientMetadata::into_registration`]), and then stores the client with the keyed
//! hash of a new registration access token, spending one use of the initial access token
//! in the same transaction. [`read`], [`update`] and [`delete`] are RFC 7592's `GET`,
//! `PUT` and `DELETE` on the client's configuration URI, each authenticated by that
//! registration access token (compared in constant time; a wrong token and an unknown
//! client get the same answer). [`note_use`] records that a dynamically registered
//! client was used, so the purge can remove the ones nobody uses.
//!
//! Nothing secret is logged: registrations are audited by client id, name, address
//! and redirect hosts.

use usher_domain::scope::OIDC_SCOPES;
use usher_domain::{
    Client, ClientId, ClientMetadata, MetadataError, Registered as Stored, RegistrationMode,
    ScopeSet, ThrottlePolicy, UnixTime,
};
use usher_keys::SecretHasher;

use crate::Core;
use crate::client_address::ClientAddress;
use crate::failure::{Failure, blocking};

/// The path of the registration endpoint; a client's configuration URI is this path,
/// `/`, and its id (RFC 7592 §1).
pub const REGISTRATION_PATH: &str = "/register";

/// How often a dynamically registered client's use is written, at most (seconds).
pub const USE_RECORD_INTERVAL: i64 = 3600;

/// Why a registration or a management request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Registration is off: the endpoint does not exist.
    Off,
    /// The initial access token (registration) or the registration access token
    /// (management) is missing, wrong, expired or used up: 401 `invalid_token`.
    InvalidToken,
    /// Too many registrations from this address: wait this many seconds.
    Throttled { wait: i64 },
    /// `registration_max_clients` dynamically registered clients exist already.
    Full,
    /// The metadata were refused (`invalid_redirect_uri`, `invalid_client_metadata`).
    Metadata(MetadataError),
}

/// A client just registered (RFC 7591 §3.2.1), or updated (RFC 7592 §2.2).
#[derive(Debug)]
pub struct Registration {
    pub client: Client,
    /// Shown once: at registration, or when an update made a public client confidential.
    pub client_secret: Option<String>,
    /// The token of the RFC 7592 requests: the new one at registration, the presented
    /// one after a read or an update.
    pub registration_access_token: String,
    pub registration_client_uri: String,
}

/// A client's configuration URI (RFC 7592 §1).
pub fn client_uri(core: &Core, id: &ClientId) -> String {
    core.settings
        .issuer
        .endpoint(&format!("{REGISTRATION_PATH}/{id}"))
}

/// The scopes a dynamically registered client may hold: OpenID Connect's, and those of
/// the registered resource servers (RFC 8707; an MCP server is one). Nothing else — in
/// particular no scope of an operator-only API, which is never a registered resource's,
/// and not `groups`: which groups a person is in is for apps the operator registered
/// (docs/design/groups.md).
pub async fn allowed_scopes(core: &Core) -> Result<ScopeSet, Failure> {
    let resources = core.stores.resources.clone();
    let listed = blocking(move || resources.list_resources()).await?;
    let mut allowed = ScopeSet::parse(&OIDC_SCOPES.join(" "))
        .map_err(|_| Failure::Internal)?
        .without(&[usher_domain::scope::GROUPS]);
    for r in &listed {
        allowed = allowed.union(&r.scopes);
    }
    Ok(allowed)
}

/// The rate limit as a throttle rule: `per_hour` registrations in an hour's window; the
/// last of them locks the address until the hour is over, and after that one an hour.
fn policy(core: &Core) -> ThrottlePolicy {
    const HOUR: i64 = 3600;
    ThrottlePolicy {
        max_failures: core.settings.registration.per_hour.max(1),
        first_lock: HOUR,
        window: HOUR,
        max_lock: HOUR,
    }
}

/// The throttle key of registrations from `address` (one shared key when the address is
/// unknown).
fn throttle_key(address: &ClientAddress) -> String {
    format!("register:{}", address.throttle_key_or_shared())
}

/// A registration request: the initial access token presented (`Authorization: Bearer`),
/// the client's address, and the metadata (or why the body was no metadata object).
pub async fn register(
    core: &Core,
    bearer: Option<&str>,
    address: &ClientAddress,
    metadata: Result<ClientMetadata, MetadataError>,
) -> Result<Result<Registration, Refusal>, Failure> {
    let mode = core.settings.registration.mode;
    if mode == RegistrationMode::Off {
        return Ok(Err(Refusal::Off));
    }
    // Counted first, before anything else is looked at: refused attempts count too, so
    // neither registrations nor guesses of initial access tokens are unbounded.
    let now = core.now();
    if let Some(refusal) = reserve(core, address).await? {
        return Ok(Err(refusal));
    }

    let initial_hash = match mode {
        RegistrationMode::Token => {
            let Some(token) = bearer else {
                return Ok(Err(Refusal::InvalidToken));
            };
            let hash = core.secrets.hash(token);
            let registrations = core.stores.registration.clone();
            let h = hash.clone();
            if !blocking(move || registrations.initial_access_token_usable(&h, now)).await? {
                tracing::info!(event = "registration_token_refused", address = %address.throttle_key_or_shared(), "a client registration presented an unknown, expired or used-up initial access token");
                return Ok(Err(Refusal::InvalidToken));
            }
            Some(hash)
        }
        _ => None,
    };

    let metadata = match metadata {
        Ok(m) => m,
        Err(e) => return Ok(Err(refused(address, e))),
    };
    let allowed = allowed_scopes(core).await?;
    let registration = match metadata.into_registration(&allowed) {
        Ok(r) => r,
        Err(e) => return Ok(Err(refused(address, e))),
    };

    let id = ClientId::parse(&uuid::Uuid::new_v4().to_string()).ok_or(Failure::Internal)?;
    let client_secret = if registration.auth_method == usher_domain::AuthMethod::None {
        None
    } else {
        Some(SecretHasher::generate_secret().map_err(|_| Failure::Internal)?)
    };
    let token = SecretHasher::generate_secret().map_err(|_| Failure::Internal)?;
    let client = Client {
        id,
        secret_hash: client_secret.as_deref().map(|s| core.secrets.hash(s)),
        registration,
        created_at: now,
    };
    let registrations = core.stores.registration.clone();
    let (stored, token_hash) = (client.clone(), core.secrets.hash(&token));
    let max_clients = core.settings.registration.max_clients;
    let outcome = blocking(move || {
        registrations.register_client(
            &stored,
            &token_hash,
            initial_hash.as_deref(),
            now,
            max_clients,
        )
    })
    .await?;
    if outcome == Stored::Full {
        tracing::warn!(event = "registration_full", address = %address.throttle_key_or_shared(), max = core.settings.registration.max_clients, "a client registration was refused: registration_max_clients dynamically registered clients exist");
        return Ok(Err(Refusal::Full));
    }
    if outcome == Stored::TokenRefused {
        tracing::info!(event = "registration_token_refused", address = %address.throttle_key_or_shared(), "a client registration lost its initial access token to another registration");
        return Ok(Err(Refusal::InvalidToken));
    }
    tracing::info!(
        event = "client_registered",
        client_id = %client.id,
        client_name = client.registration.name.as_str(),
        auth_method = client.registration.auth_method.as_str(),
        redirect_hosts = %redirect_hosts(&client),
        mode = mode.as_str(),
        address = %address.throttle_key_or_shared(),
        "a client registered itself (RFC 7591)"
    );
    let event = usher_domain::AuditEvent::new(
        now,
        usher_domain::AuditKind::ClientRegistered,
        usher_domain::AuditActor::Client(client.id.clone()),
    )
    .client(&client.id)
    .address(crate::audit::address_text(Some(address)))
    .detail(registration_detail(&client, Some(mode.as_str())));
    crate::audit::record(core, event).await;
    Ok(Ok(Registration {
        registration_client_uri: client_uri(core, &client.id),
        client,
        client_secret,
        registration_access_token: token,
    }))
}

/// Counts one registration or update from `address` on the shared throttle; `Some` when
/// the address is over its hourly budget.
async fn reserve(core: &Core, address: &ClientAddress) -> Result<Option<Refusal>, Failure> {
    let now = core.now();
    let store = core.stores.throttle.clone();
    let (key, rule) = (throttle_key(address), policy(core));
    let reservation = blocking(move || store.reserve_attempt(&key, now, &rule)).await?;
    if let usher_domain::Reservation::Refused { until } = reservation {
        let wait = (until.seconds() - now.seconds()).max(1);
        tracing::info!(event = "registration_throttled", address = %address.throttle_key_or_shared(), wait, "a client registration or update was refused: too many from this address");
        return Ok(Some(Refusal::Throttled { wait }));
    }
    Ok(None)
}

fn refused(address: &ClientAddress, e: MetadataError) -> Refusal {
    tracing::info!(event = "registration_refused", address = %address.throttle_key_or_shared(), error = e.code(), cause = e.description(), "a client registration was refused");
    Refusal::Metadata(e)
}

/// The hosts (or private-use schemes) of a client's redirect URIs, for the audit log.
/// What the trail keeps of a registration: never its secret or token (their hashes
/// included), only what an operator reads to know the client.
fn registration_detail(client: &Client, mode: Option<&str>) -> serde_json::Value {
    let r = &client.registration;
    let mut detail = serde_json::json!({
        "name": r.name.as_str(),
        "auth_method": r.auth_method.as_str(),
        "redirect_uris": r.redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "grant_types": r.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scope": r.scopes.to_string(),
    });
    if let (Some(mode), Some(map)) = (mode, detail.as_object_mut()) {
        map.insert("mode".to_owned(), mode.into());
    }
    detail
}

fn redirect_hosts(client: &Client) -> String {
    client
        .registration
        .redirect_uris
        .iter()
        .filter_map(|u| url::Url::parse(u.as_str()).ok())
        .map(|u| {
            u.host_str()
                .map_or_else(|| u.scheme().to_owned(), str::to_owned)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The dynamically registered client `raw_id` if `bearer` is its registration access
/// token; `None` otherwise — whether or not such a client exists (the same hash work and
/// the same answer either way).
async fn authenticate(
    core: &Core,
    raw_id: &str,
    bearer: Option<&str>,
) -> Result<Option<Client>, Failure> {
    let Some(token) = bearer else {
        return Ok(None);
    };
    let stored = match ClientId::parse(raw_id) {
        Some(id) => {
            let registrations = core.stores.registration.clone();
            let key = id.clone();
            blocking(move || registrations.registration_token_hash(&key))
                .await?
                .map(|hash| (id, hash))
        }
        None => None,
    };
    let Some((id, hash)) = stored else {
        // The same work as a real comparison.
        let _ = core.secrets.verify(token, "");
        return Ok(None);
    };
    if !core.secrets.verify(token, &hash) {
        return Ok(None);
    }
    core.reload_client(&id).await
}

fn managed(core: &Core, client: Client, token: &str) -> Registration {
    Registration {
        registration_client_uri: client_uri(core, &client.id),
        client,
        client_secret: None,
        registration_access_token: token.to_owned(),
    }
}

/// RFC 7592 §2.1: the client's current configuration.
pub async fn read(
    core: &Core,
    raw_id: &str,
    bearer: Option<&str>,
) -> Result<Result<Registration, Refusal>, Failure> {
    if !core.settings.registration.mode.is_on() {
        return Ok(Err(Refusal::Off));
    }
    Ok(match (authenticate(core, raw_id, bearer).await?, bearer) {
        (Some(client), Some(token)) => Ok(managed(core, client, token)),
        _ => Err(Refusal::InvalidToken),
    })
}

/// RFC 7592 §2.2: replaces the client's metadata with `metadata` (the same rules as a
/// registration). `body_client_id` and `body_client_secret`, when sent, must be the
/// client's own. A public client made confidential gets a secret (returned once); a
/// confidential one made public loses its secret.
pub async fn update(
    core: &Core,
    raw_id: &str,
    bearer: Option<&str>,
    address: &ClientAddress,
    metadata: Result<ClientMetadata, MetadataError>,
    body_client_id: Option<&str>,
    body_client_secret: Option<&str>,
) -> Result<Result<Registration, Refusal>, Failure> {
    if !core.settings.registration.mode.is_on() {
        return Ok(Err(Refusal::Off));
    }
    // An update does the work of a registration: it shares the address's budget.
    if let Some(refusal) = reserve(core, address).await? {
        return Ok(Err(refusal));
    }
    let (Some(current), Some(token)) = (authenticate(core, raw_id, bearer).await?, bearer) else {
        return Ok(Err(Refusal::InvalidToken));
    };
    let bad = |d: &str| {
        Ok(Err(Refusal::Metadata(MetadataError::ClientMetadata(
            d.into(),
        ))))
    };
    if body_client_id.is_some_and(|id| id != current.id.as_str()) {
        return bad("client_id must be this client's id");
    }
    if let Some(secret) = body_client_secret
        && !current
            .secret_hash
            .as_deref()
            .is_some_and(|h| core.secrets.verify(secret, h))
    {
        return bad("client_secret must be this client's secret (or be left out)");
    }
    let metadata = match metadata {
        Ok(m) => m,
        Err(e) => return Ok(Err(Refusal::Metadata(e))),
    };
    let allowed = allowed_scopes(core).await?;
    let mut registration = match metadata.into_registration(&allowed) {
        Ok(r) => r,
        Err(e) => return Ok(Err(Refusal::Metadata(e))),
    };
    // What the operator set on the client (`usher client update --allowed-group`,
    // `--allowed-origin`) is no metadata of the client's: an update keeps it.
    registration.allowed_groups = current.registration.allowed_groups.clone();
    registration.allowed_origins = current.registration.allowed_origins.clone();
    let public = registration.auth_method == usher_domain::AuthMethod::None;
    let (secret_hash, new_secret) = match (&current.secret_hash, public) {
        (_, true) => (None, None),
        (Some(hash), false) => (Some(hash.clone()), None),
        (None, false) => {
            let secret = SecretHasher::generate_secret().map_err(|_| Failure::Internal)?;
            (Some(core.secrets.hash(&secret)), Some(secret))
        }
    };
    let client = Client {
        id: current.id.clone(),
        secret_hash,
        registration,
        created_at: current.created_at,
    };
    let registrations = core.stores.registration.clone();
    let stored = client.clone();
    if !blocking(move || registrations.replace_client(&stored)).await? {
        return Ok(Err(Refusal::InvalidToken));
    }
    core.caches.clients.remove(&client.id);
    tracing::info!(event = "client_registration_updated", client_id = %client.id, redirect_hosts = %redirect_hosts(&client), "a dynamically registered client changed its metadata (RFC 7592)");
    let event = usher_domain::AuditEvent::new(
        core.now(),
        usher_domain::AuditKind::ClientRegistrationUpdated,
        usher_domain::AuditActor::Client(client.id.clone()),
    )
    .client(&client.id)
    .address(crate::audit::address_text(Some(address)))
    .detail(serde_json::json!({
        "before": registration_detail(&current, None),
        "after": registration_detail(&client, None),
    }));
    crate::audit::record(core, event).await;
    let mut answer = managed(core, client, token);
    answer.client_secret = new_secret;
    Ok(Ok(answer))
}

/// RFC 7592 §2.3: removes the client as `usher client delete` does (its consents,
/// codes and back-channel records go with it; its refresh tokens stop working, since
/// their client is unknown).
pub async fn delete(
    core: &Core,
    raw_id: &str,
    bearer: Option<&str>,
) -> Result<Result<(), Refusal>, Failure> {
    if !core.settings.registration.mode.is_on() {
        return Ok(Err(Refusal::Off));
    }
    let Some(client) = authenticate(core, raw_id, bearer).await? else {
        return Ok(Err(Refusal::InvalidToken));
    };
    let clients = core.stores.clients.clone();
    let id = client.id.clone();
    blocking(move || clients.delete_client(&id)).await?;
    core.caches.clients.remove(&client.id);
    tracing::info!(event = "client_registration_deleted", client_id = %client.id, "a dynamically registered client deleted itself (RFC 7592)");
    let event = usher_domain::AuditEvent::new(
        core.now(),
        usher_domain::AuditKind::ClientRegistrationDeleted,
        usher_domain::AuditActor::Client(client.id.clone()),
    )
    .client(&client.id)
    .detail(registration_detail(&client, None));
    crate::audit::record(core, event).await;
    Ok(Ok(()))
}

/// Records that the dynamically registered client `id` was just used (at most one
/// write per [`USE_RECORD_INTERVAL`]); a failure is logged, never the request's.
pub async fn note_use(core: &Core, id: ClientId) {
    let registrations = core.stores.registration.clone();
    let now: UnixTime = core.now();
    if let Err(f) =
        blocking(move || registrations.touch_client(&id, now, USE_RECORD_INTERVAL)).await
    {
        tracing::warn!(cause = ?f, "recording a dynamically registered client's use failed");
    }
}

#[cfg(test)]
mod tests {
    use usher_domain::{RegistrationMode, RegistrationStore};

    use super::*;
    use crate::testing::TestNode;

    fn node(mode: RegistrationMode) -> TestNode {
        TestNode::with_settings(|s| s.registration.mode = mode)
    }

    fn address() -> ClientAddress {
        ClientAddress::Ip("192.0.2.7".parse().unwrap())
    }

    fn metadata(scope: Option<&str>) -> ClientMetadata {
        ClientMetadata {
            redirect_uris: Some(vec!["http://127.0.0.1/cb".into()]),
            token_endpoint_auth_method: Some("none".into()),
            scope: scope.map(str::to_owned),
            ..Default::default()
        }
    }

    async fn registered(node: &TestNode, scope: Option<&str>) -> Registration {
        register(&node.core, None, &address(), Ok(metadata(scope)))
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn a_registration_its_update_and_its_deletion_leave_events_without_secrets() {
        use usher_domain::{AuditActor, AuditKind};
        let node = node(RegistrationMode::Open);
        let r = registered(&node, Some("openid")).await;
        delete(
            &node.core,
            r.client.id.as_str(),
            Some(&r.registration_access_token),
        )
        .await
        .unwrap()
        .unwrap();
        let events: Vec<_> = node.audit_events().into_iter().map(|e| e.event).collect();
        let kinds: Vec<AuditKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                AuditKind::ClientRegistered,
                AuditKind::ClientRegistrationDeleted
            ]
        );
        let e = &events[0];
        assert_eq!(e.actor, AuditActor::Client(r.client.id.clone()));
        assert_eq!(e.client.as_ref(), Some(&r.client.id));
        assert_eq!(e.address.as_deref(), Some("192.0.2.7"));
        assert_eq!(
            e.detail.as_map()["redirect_uris"],
            serde_json::json!(["http://127.0.0.1/cb"])
        );
        assert_eq!(e.detail.as_map()["mode"], "open");
        assert!(!format!("{events:?}").contains(&r.registration_access_token));
    }

    #[tokio::test]
    async fn at_the_cap_the_oldest_never_used_client_makes_room_after_a_quarter_hour() {
        let node = TestNode::with_settings(|s| {
            s.registration.mode = RegistrationMode::Open;
            s.registration.max_clients = 2;
        });
        let first = registered(&node, None).await;
        node.advance(10);
        let second = registered(&node, None).await;
        // Full, and nobody is old enough to go.
        let refused = register(&node.core, None, &address(), Ok(metadata(None)))
            .await
            .unwrap();
        assert_eq!(refused.unwrap_err(), Refusal::Full);
        // A quarter of an hour on, the first was used and stays; the second, never
        // used, makes room.
        node.advance(usher_store::EVICTABLE_AFTER);
        note_use(&node.core, first.client.id.clone()).await;
        let third = registered(&node, None).await;
        let exists = |id: &ClientId| {
            usher_domain::ClientStore::get_client(&node.db, id)
                .unwrap()
                .is_some()
        };
        assert!(exists(&first.client.id) && exists(&third.client.id));
        assert!(!exists(&second.client.id));
        // Full again: the two left were used or are too young.
        let refused = register(&node.core, None, &address(), Ok(metadata(None)))
            .await
            .unwrap();
        assert_eq!(refused.unwrap_err(), Refusal::Full);
    }

    #[tokio::test]
    async fn an_update_keeps_the_operator_s_restriction_and_origins() {
        use usher_domain::{ClientStore, Group, GroupName, GroupStore};
        let node = node(RegistrationMode::Open);
        let r = registered(&node, None).await;
        let staff = GroupName::parse("staff").unwrap();
        node.db
            .insert_group(&Group {
                name: staff.clone(),
                description: None,
                created_at: node.now(),
            })
            .unwrap();
        assert!(
            node.db
                .set_client_allowed_groups(&r.client.id, std::slice::from_ref(&staff))
                .unwrap()
        );
        let origin =
            usher_domain::client::parse_allowed_origins(&["https://a.example".into()]).unwrap();
        assert!(
            node.db
                .set_client_allowed_origins(&r.client.id, &origin)
                .unwrap()
        );
        let updated = update(
            &node.core,
            r.client.id.as_str(),
            Some(&r.registration_access_token),
            &address(),
            Ok(metadata(None)),
            Some(r.client.id.as_str()),
            None,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            updated.client.registration.allowed_groups,
            vec![staff.clone()]
        );
        let stored = node.db.get_client(&r.client.id).unwrap().unwrap();
        assert_eq!(stored.registration.allowed_groups, vec![staff]);
        assert_eq!(stored.registration.allowed_origins, origin);
    }

    #[tokio::test]
    async fn off_refuses_everything() {
        let node = node(RegistrationMode::Off);
        let got = register(&node.core, None, &address(), Ok(metadata(None)))
            .await
            .unwrap();
        assert_eq!(got.unwrap_err(), Refusal::Off);
        assert_eq!(
            read(&node.core, "x", Some("t")).await.unwrap().unwrap_err(),
            Refusal::Off
        );
    }

    #[tokio::test]
    async fn registered_resources_scopes_may_be_registered_and_nothing_else() {
        let node = node(RegistrationMode::Open);
        node.resource("https://mcp.example/mcp", None, "mcp:tools mcp:read");
        let r = registered(&node, Some("openid mcp:tools")).await;
        assert_eq!(r.client.registration.scopes.to_string(), "mcp:tools openid");
        assert!(r.client.registration.dynamically_registered);
        assert!(r.client_secret.is_none());
        // Without scope: all of them, offline_access only with the refresh grant.
        let all = registered(&node, None).await;
        assert_eq!(
            all.client.registration.scopes.to_string(),
            "address email mcp:read mcp:tools openid phone profile"
        );
        let refused = register(
            &node.core,
            None,
            &address(),
            Ok(metadata(Some("openid billing:admin"))),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert!(
            matches!(&refused, Refusal::Metadata(MetadataError::ClientMetadata(d)) if d.contains("billing:admin")),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_use_is_written_at_most_once_an_hour() {
        let node = node(RegistrationMode::Open);
        let r = registered(&node, None).await;
        let id = r.client.id.clone();
        let unused = |cutoff: i64| {
            node.db
                .unused_clients(UnixTime(cutoff))
                .unwrap()
                .contains(&id)
        };
        let registered_at = node.now().seconds();
        assert!(unused(registered_at), "never used: its registration counts");
        node.advance(10);
        note_use(&node.core, id.clone()).await;
        let first_use = node.now().seconds();
        assert!(!unused(first_use - 1) && unused(first_use));
        node.advance(USE_RECORD_INTERVAL - 1);
        note_use(&node.core, id.clone()).await;
        assert!(unused(first_use), "not written again within the hour");
        node.advance(1);
        note_use(&node.core, id.clone()).await;
        assert!(!unused(node.now().seconds() - 1));
        // An operator's client is never touched nor listed.
        let operators = node.client(
            "operators",
            usher_domain::RegistrationInput {
                redirect_uris: vec!["https://app.example/cb".into()],
                ..Default::default()
            },
        );
        note_use(&node.core, operators.id.clone()).await;
        assert!(
            !node
                .db
                .unused_clients(node.now().plus(1_000_000))
                .unwrap()
                .contains(&operators.id)
        );
    }

    #[tokio::test]
    async fn only_the_clients_own_registration_access_token_manages_it() {
        let node = node(RegistrationMode::Open);
        let a = registered(&node, None).await;
        let b = registered(&node, None).await;
        let (a_id, a_token) = (a.client.id.as_str(), a.registration_access_token.as_str());
        let b_token = b.registration_access_token.as_str();
        assert_eq!(
            read(&node.core, a_id, Some(a_token))
                .await
                .unwrap()
                .unwrap()
                .client
                .id,
            a.client.id
        );
        for (id, token) in [
            (a_id, Some(b_token)),
            (a_id, None),
            (a_id, Some("")),
            ("not a client id", Some(a_token)),
            ("00000000-0000-4000-8000-000000000000", Some(a_token)),
        ] {
            assert_eq!(
                read(&node.core, id, token).await.unwrap().unwrap_err(),
                Refusal::InvalidToken,
                "{id}"
            );
            assert_eq!(
                delete(&node.core, id, token).await.unwrap().unwrap_err(),
                Refusal::InvalidToken
            );
        }
        delete(&node.core, a_id, Some(a_token))
            .await
            .unwrap()
            .unwrap();
        assert!(node.core.client(&a.client.id).await.unwrap().is_none());
        assert_eq!(
            read(&node.core, a_id, Some(a_token))
                .await
                .unwrap()
                .unwrap_err(),
            Refusal::InvalidToken
        );
    }
}
