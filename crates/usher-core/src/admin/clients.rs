//! Clients: create, show, list, change who may use one, rotate its secret, delete —
//! `usher client …` and `/admin/api/v1/clients`.

use usher_domain::client::{BUILT_IN_ACCOUNT_CLIENT_ID, RegistrationInput};
use usher_domain::{
    AuthMethod, Client, ClientAccess, ClientId, ClientRegistration, GrantType, GroupName, Origin,
};
use usher_keys::SecretHasher;

use super::page::{Page, PageRequest, paginate};
use super::{AdminError, AdminStores, By, rfc3339};
use crate::failure::Failure;
use usher_domain::AuditKind;

/// A client as the CLI's `--json` and the API show it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: String,
    pub audiences: Vec<String>,
    /// `null` for a client without the authorization code grant (PKCE does not apply).
    pub pkce_required: Option<bool>,
    pub first_party: bool,
    /// Registered through `POST /register` (RFC 7591): always asks for consent, removed
    /// when unused.
    pub dynamically_registered: bool,
    pub require_mfa: bool,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// The origins in effect (registered, or the default from the redirect URIs).
    pub allowed_origins: Vec<String>,
    /// Whether `allowed_origins` is the default.
    pub allowed_origins_default: bool,
    /// Empty: anyone who can sign in may use the client.
    pub allowed_groups: Vec<String>,
    /// `null`: the server's `id_token_alg`.
    pub id_token_signed_response_alg: Option<String>,
    pub created_at: String,
}

impl ClientView {
    pub fn of(c: &Client) -> ClientView {
        let r = &c.registration;
        ClientView {
            client_id: c.id.to_string(),
            name: r.name.as_str().to_owned(),
            public: c.is_public(),
            token_endpoint_auth_method: r.auth_method.as_str().to_owned(),
            redirect_uris: r
                .redirect_uris
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            post_logout_redirect_uris: r
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            grant_types: r
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            scope: r.scopes.to_string(),
            audiences: r.audiences.iter().map(|a| a.as_str().to_owned()).collect(),
            pkce_required: pkce_applies(c).then_some(r.pkce_required),
            first_party: r.first_party,
            dynamically_registered: r.dynamically_registered,
            require_mfa: r.require_mfa,
            backchannel_logout_uri: r
                .backchannel_logout
                .as_ref()
                .map(|b| b.uri.as_str().to_owned()),
            backchannel_logout_session_required: r
                .backchannel_logout
                .as_ref()
                .is_some_and(|b| b.session_required),
            allowed_origins: c
                .allowed_origins()
                .iter()
                .map(|o| o.as_str().to_owned())
                .collect(),
            allowed_origins_default: r.allowed_origins.is_empty(),
            allowed_groups: r
                .allowed_groups
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            id_token_signed_response_alg: r
                .id_token_signed_response_alg
                .map(|a| a.as_str().to_owned()),
            created_at: rfc3339(c.created_at),
        }
    }
}

/// Whether PKCE means anything for this client: only the authorization code flow uses
/// it (and registration refuses an optional PKCE without that grant).
pub fn pkce_applies(c: &Client) -> bool {
    c.registration
        .grant_types
        .contains(&GrantType::AuthorizationCode)
}

/// A client id as an operator types it; Usher's built-in account client is refused.
pub fn parse_id(raw: &str) -> Result<ClientId, AdminError> {
    if raw == BUILT_IN_ACCOUNT_CLIENT_ID {
        return Err(AdminError::Invalid(format!(
            "{raw:?} is Usher's built-in account client: it is part of Usher, not registered, and cannot be shown, changed or deleted"
        )));
    }
    ClientId::parse(raw).ok_or_else(|| AdminError::Invalid(format!("{raw:?} is not a client id")))
}

fn not_found(id: &ClientId) -> AdminError {
    AdminError::NotFound(format!("no client with id {id}"))
}

/// The client `id`.
pub fn get(stores: &AdminStores, id: &ClientId) -> Result<Client, AdminError> {
    stores.clients.get_client(id)?.ok_or_else(|| not_found(id))
}

/// One page of the clients, by id.
pub fn list(stores: &AdminStores, page: &PageRequest) -> Result<Page<ClientView>, AdminError> {
    let views = stores
        .clients
        .list_clients()?
        .iter()
        .map(ClientView::of)
        .collect();
    Ok(paginate(views, |v: &ClientView| v.client_id.as_str(), page))
}

/// A new client and, for a confidential one, its secret (shown once, stored hashed).
pub struct Created {
    pub client: Client,
    pub secret: Option<String>,
}

/// Registers a client from `input` (`usher client create`'s options).
pub fn create(
    stores: &AdminStores,
    hasher: &SecretHasher,
    default_audience: Option<&str>,
    input: RegistrationInput,
    by: &By,
) -> Result<Created, AdminError> {
    let now = by.at;
    let registration =
        ClientRegistration::new(input).map_err(|e| AdminError::Invalid(e.to_string()))?;
    require_groups(stores, &registration.allowed_groups)?;
    // With neither an audience nor a default one, and no scope of a registered resource
    // server, every client_credentials request would be `invalid_target`: refuse the
    // registration instead, naming the fixes.
    if registration
        .grant_types
        .contains(&GrantType::ClientCredentials)
        && registration.audiences.is_empty()
        && default_audience.is_none()
    {
        let resources = stores.resources.list_resources()?;
        if !resources
            .iter()
            .any(|r| !r.scopes.intersection(&registration.scopes).is_empty())
        {
            return Err(AdminError::Invalid(
                "a client_credentials client needs an audience (the API its tokens are for), and no default_audience is configured, so it could never get a token (invalid_target). Register it with --audience https://api.example.com (repeat for more), give it a --scope of a resource server registered with `usher resource create`, or set USHER_DEFAULT_AUDIENCE (default_audience) for every client registered without one".to_owned(),
            ));
        }
    }
    // A UUID: unique, URL-safe, and never starting with '-' (which a random base64url
    // id could, and which a shell command line would then read as an option).
    let id = ClientId::parse(&uuid::Uuid::new_v4().to_string())
        .ok_or(AdminError::Failure(Failure::Internal))?;
    let secret = if registration.auth_method == AuthMethod::None {
        None
    } else {
        Some(SecretHasher::generate_secret().map_err(|_| AdminError::Failure(Failure::Internal))?)
    };
    let client = Client {
        id,
        secret_hash: secret.as_deref().map(|s| hasher.hash(s)),
        registration,
        created_at: now,
    };
    stores.audited(|tx| {
        tx.insert_client(&client)?;
        tx.record(
            &by.event(AuditKind::ClientCreated)
                .client(&client.id)
                .detail(serde_json::json!({ "after": ClientView::of(&client) })),
        )
    })?;
    if !client.registration.pkce_required {
        tracing::warn!(client_id = %client.id, "client registered with PKCE optional");
    }
    Ok(Created { client, secret })
}

/// What a change of who may use a client sets; `None` leaves it as it is.
#[derive(Debug, Clone, Default)]
pub struct AccessChange {
    /// Registered allowed origins; empty: back to the default from the redirect URIs.
    pub origins: Option<Vec<Origin>>,
    /// Allowed groups; empty: anyone.
    pub groups: Option<Vec<GroupName>>,
}

/// Changes the allowed origins and/or groups of client `id`. With `if_match`, only while
/// the client's view still has that entity tag (and the write is a compare-and-set of
/// what it changes, so two administrators never overwrite each other silently). Nodes
/// see the change within `cache_ttl`.
pub fn update_access(
    stores: &AdminStores,
    id: &ClientId,
    change: &AccessChange,
    if_match: Option<&str>,
    by: &By,
) -> Result<Client, AdminError> {
    if change.origins.is_none() && change.groups.is_none() {
        return Err(AdminError::Invalid(
            "nothing to change: give --allowed-origin ORIGIN (repeat for more), --default-allowed-origins, --allowed-group GROUP (repeat for more) or --no-allowed-groups".to_owned(),
        ));
    }
    if let Some(groups) = &change.groups {
        require_groups(stores, groups)?;
    }
    let client = get(stores, id)?;
    // A metadata-document client is built from its document at each use, not from its
    // row: a restriction written there would be shown and never enforced.
    if client.registration.metadata_document {
        return Err(AdminError::Invalid(format!(
            "{id} is a metadata-document client: it is described by its document, not registered here, and cannot be changed (turn client_metadata_documents off to stop all of them)"
        )));
    }
    super::check_if_match(if_match, &ClientView::of(&client))?;
    let r = &client.registration;
    let expected = ClientAccess {
        origins: &r.allowed_origins,
        groups: &r.allowed_groups,
    };
    let new = ClientAccess {
        origins: change.origins.as_deref().unwrap_or(&r.allowed_origins),
        groups: change.groups.as_deref().unwrap_or(&r.allowed_groups),
    };
    // What the row becomes when the compare-and-set writes: the event tells of it in
    // the same transaction.
    let mut after = client.clone();
    after.registration.allowed_origins = new.origins.to_vec();
    after.registration.allowed_groups = new.groups.to_vec();
    let (before_view, after_view) = (ClientView::of(&client), ClientView::of(&after));
    let event = by.event(AuditKind::ClientUpdated).client(id).detail(serde_json::json!({
        "before": { "allowed_origins": before_view.allowed_origins, "allowed_groups": before_view.allowed_groups },
        "after": { "allowed_origins": after_view.allowed_origins, "allowed_groups": after_view.allowed_groups },
    }));
    let wrote = stores.audited(|tx| {
        let wrote = tx.set_client_access_if(id, expected, new)?;
        if wrote {
            tx.record(&event)?;
        }
        Ok(wrote)
    })?;
    if !wrote {
        // Gone, or changed between the read and the write.
        return match stores.clients.get_client(id)? {
            None => Err(not_found(id)),
            Some(_) => Err(AdminError::Stale),
        };
    }
    if let Some(groups) = &change.groups {
        tracing::info!(client_id = %id, restricted = !groups.is_empty(), "client's allowed groups changed");
    }
    get(stores, id)
}

/// A new secret for confidential client `id` (the old one stops working at once).
pub fn rotate_secret(
    stores: &AdminStores,
    hasher: &SecretHasher,
    id: &ClientId,
    by: &By,
) -> Result<String, AdminError> {
    let client = get(stores, id)?;
    if client.is_public() {
        return Err(AdminError::Invalid(format!(
            "client {id} is public: it has no secret to rotate"
        )));
    }
    let secret =
        SecretHasher::generate_secret().map_err(|_| AdminError::Failure(Failure::Internal))?;
    let hash = hasher.hash(&secret);
    let rotated = stores.audited(|tx| {
        let rotated = tx.set_client_secret_hash(id, &hash)?;
        if rotated {
            tx.record(&by.event(AuditKind::ClientSecretRotated).client(id))?;
        }
        Ok(rotated)
    })?;
    if !rotated {
        return Err(not_found(id));
    }
    tracing::warn!(client_id = %id, "client secret rotated; the old secret no longer works");
    Ok(secret)
}

/// Deletes client `id`; with `if_match`, only while its view still has that tag.
pub fn delete(
    stores: &AdminStores,
    id: &ClientId,
    if_match: Option<&str>,
    by: &By,
) -> Result<(), AdminError> {
    let before = get(stores, id)?;
    super::check_if_match(if_match, &ClientView::of(&before))?;
    let deleted = stores.audited(|tx| {
        let deleted = tx.delete_client(id)?;
        if deleted {
            tx.record(
                &by.event(AuditKind::ClientDeleted)
                    .client(id)
                    .detail(serde_json::json!({ "before": ClientView::of(&before) })),
            )?;
        }
        Ok(deleted)
    })?;
    if !deleted {
        return Err(not_found(id));
    }
    tracing::info!(client_id = %id, "client deleted");
    Ok(())
}

/// Every `--allowed-group` must name an existing group: a typo would otherwise lock
/// everyone out of the client.
pub fn require_groups(stores: &AdminStores, groups: &[GroupName]) -> Result<(), AdminError> {
    for g in groups {
        if stores.groups.get_group(g)?.is_none() {
            return Err(AdminError::Invalid(format!(
                "--allowed-group {g}: there is no such group; create it first with `usher group create {g}`"
            )));
        }
    }
    Ok(())
}
