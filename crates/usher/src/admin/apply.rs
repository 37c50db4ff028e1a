//! `usher apply FILE.toml [--dry-run] [--prune] [--json]`: clients and resource servers
//! declared in a file, so that teams keep them in version control (docs/administration.md,
//! "Clients as configuration").
//!
//! The whole file is parsed and checked before anything is written: every declaration
//! goes through the same types and rules as `usher client create` and `usher resource
//! create` (`ClientRegistration::new`, `ResourceUri`, `parse_resource_scopes`,
//! `resource_registry::reserved`), and one bad entry changes nothing. Then each
//! declaration is compared with what is stored and becomes one [`Action`]: created,
//! updated (naming the fields that differ), or left as it is; with `--prune`, what the
//! file no longer declares is deleted. Applying the same file twice changes nothing the
//! second time. `--dry-run` prints the plan and writes nothing.
//!
//! Only what the operator manages is touched: a declared id that belongs to a client
//! that registered itself (RFC 7591) or to a metadata document is refused, and `--prune`
//! never deletes those, nor Usher's built-in account client. A confidential client's
//! secret is never in the file: a created one (or one that becomes confidential) gets a
//! secret, printed once like `client create`'s; an updated one keeps its secret.
//!
//! The changes are written one by one, not in one transaction: a database that fails
//! half-way leaves the changes before it, and running the file again completes it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Value, json};
use usher_core::resource_registry;
use usher_domain::client::RegistrationInput;
use usher_domain::resource::parse_resource_scopes;
use usher_domain::{
    AuthMethod, Client, ClientId, ClientRegistration, ClientStore, GrantType, Resource,
    ResourceName, ResourceStore, ResourceUri,
};
use usher_keys::SecretHasher;

use super::{print_json, usage};
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

/// The file: `[[client]]` and `[[resource]]` tables; any other key is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "client")]
    clients: Vec<ClientDecl>,
    #[serde(default, rename = "resource")]
    resources: Vec<ResourceDecl>,
}

/// A `[[client]]`: `id` and the options of `usher client create`, by the same names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientDecl {
    id: String,
    name: String,
    #[serde(default)]
    public: bool,
    auth_method: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    scope: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default)]
    pkce_optional: bool,
    #[serde(default)]
    first_party: bool,
    #[serde(default)]
    require_mfa: bool,
    backchannel_logout_uri: Option<String>,
    #[serde(default)]
    backchannel_logout_session_required: bool,
    #[serde(default)]
    allowed_origins: Vec<String>,
    id_token_signed_response_alg: Option<String>,
}

/// A `[[resource]]`: the options of `usher resource create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceDecl {
    uri: String,
    scope: String,
    name: Option<String>,
}

/// What applying does to one client or resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    /// The fields that differ.
    Update(Vec<&'static str>),
    Unchanged,
    Delete,
}

impl Action {
    fn as_str(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update(_) => "update",
            Action::Unchanged => "unchanged",
            Action::Delete => "delete",
        }
    }
}

/// One line of the plan.
struct Step {
    kind: &'static str,
    key: String,
    action: Action,
    /// A secret made by this step (shown once).
    secret: Option<String>,
}

pub fn run(
    settings: Settings,
    file: PathBuf,
    dry_run: bool,
    prune: bool,
    json_out: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&file)
        .map_err(|e| usage(format!("{}: cannot read it: {e}", file.display())))?;
    let parsed: File = toml::from_str(&text)
        .map_err(|e| usage(format!("{}: not an apply file: {e}", file.display())))?;
    let clients =
        parse_clients(parsed.clients).map_err(|e| usage(format!("{}: {e}", file.display())))?;
    let resources =
        parse_resources(parsed.resources).map_err(|e| usage(format!("{}: {e}", file.display())))?;

    let ctx = Context::open(settings)?;
    let stored_clients = ctx.db.list_clients()?;
    let stored_resources = ctx.db.list_resources()?;
    let plan = plan(
        &ctx,
        &clients,
        &resources,
        &stored_clients,
        &stored_resources,
        prune,
    )
    .map_err(|e| usage(format!("{}: {e}", file.display())))?;

    let mut steps = plan.steps;
    if !dry_run {
        write(&ctx, &mut steps, &plan.clients, &resources, &stored_clients)?;
    }
    report(&steps, dry_run, json_out)
}

/// The declared clients, parsed and checked; ids unique.
fn parse_clients(decls: Vec<ClientDecl>) -> Result<Vec<(ClientId, ClientRegistration)>, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(decls.len());
    for d in decls {
        let id = ClientId::parse(&d.id)
            .filter(|id| id.metadata_url().is_none())
            .ok_or_else(|| format!("client id {:?} is not an id Usher registers", d.id))?;
        if id.as_str() == usher_domain::client::BUILT_IN_ACCOUNT_CLIENT_ID {
            return Err(format!(
                "client {id}: Usher's built-in account client is not registered"
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(format!("client {id} is declared twice"));
        }
        let registration = ClientRegistration::new(RegistrationInput {
            name: d.name,
            public: d.public,
            auth_method: d.auth_method,
            redirect_uris: d.redirect_uris,
            post_logout_redirect_uris: d.post_logout_redirect_uris,
            grant_types: d.grant_types,
            scope: d.scope,
            audiences: d.audiences,
            pkce_optional: d.pkce_optional,
            first_party: d.first_party,
            require_mfa: d.require_mfa,
            backchannel_logout_uri: d.backchannel_logout_uri,
            backchannel_logout_session_required: d.backchannel_logout_session_required,
            allowed_origins: d.allowed_origins,
            id_token_signed_response_alg: d.id_token_signed_response_alg,
        })
        .map_err(|e| format!("client {id}: {e}"))?;
        out.push((id, registration));
    }
    Ok(out)
}

/// The declared resource servers, parsed and checked; identifiers unique. Their times
/// are set when written.
fn parse_resources(decls: Vec<ResourceDecl>) -> Result<Vec<Resource>, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(decls.len());
    for d in decls {
        let uri = ResourceUri::parse(&d.uri).map_err(|e| format!("resource {:?}: {e}", d.uri))?;
        if !seen.insert(uri.clone()) {
            return Err(format!("resource {uri} is declared twice"));
        }
        let scopes = parse_resource_scopes(&d.scope).map_err(|e| format!("resource {uri}: {e}"))?;
        let name = d
            .name
            .as_deref()
            .map(ResourceName::parse)
            .transpose()
            .map_err(|e| format!("resource {uri}: {e}"))?;
        out.push(Resource {
            uri,
            name,
            scopes,
            created_at: usher_domain::UnixTime(0),
            updated_at: usher_domain::UnixTime(0),
        });
    }
    Ok(out)
}

/// The plan, and the clients as they will be stored (for the writes).
struct Plan {
    steps: Vec<Step>,
    clients: Vec<(ClientId, ClientRegistration)>,
}

fn plan(
    ctx: &Context,
    clients: &[(ClientId, ClientRegistration)],
    resources: &[Resource],
    stored_clients: &[Client],
    stored_resources: &[Resource],
    prune: bool,
) -> Result<Plan, String> {
    let by_id: HashMap<&ClientId, &Client> = stored_clients.iter().map(|c| (&c.id, c)).collect();
    let by_uri: HashMap<&ResourceUri, &Resource> =
        stored_resources.iter().map(|r| (&r.uri, r)).collect();
    let declared_ids: HashSet<&ClientId> = clients.iter().map(|(id, _)| id).collect();
    let declared_uris: HashSet<&ResourceUri> = resources.iter().map(|r| &r.uri).collect();
    let managed = |c: &Client| !c.describes_itself() && !c.registration.built_in;

    // The clients as they will be after applying: what the rules below check against.
    let mut after: Vec<Client> = stored_clients
        .iter()
        .filter(|c| !(prune && managed(c) && !declared_ids.contains(&c.id)))
        .filter(|c| !declared_ids.contains(&c.id))
        .cloned()
        .collect();
    let mut steps = Vec::new();
    for (id, registration) in clients {
        let action = match by_id.get(id) {
            Some(stored) if !managed(stored) => {
                return Err(format!(
                    "client {id} registered itself (or is a metadata document): `usher apply` manages only the clients the operator creates"
                ));
            }
            Some(stored) => match differences(&stored.registration, registration) {
                changed if changed.is_empty() => Action::Unchanged,
                changed => Action::Update(changed),
            },
            None => Action::Create,
        };
        after.push(Client {
            id: id.clone(),
            secret_hash: None,
            registration: registration.clone(),
            created_at: usher_domain::UnixTime(0),
        });
        steps.push(Step {
            kind: "client",
            key: id.to_string(),
            action,
            secret: None,
        });
    }
    let mut resources_after: Vec<&Resource> = stored_resources
        .iter()
        .filter(|r| !declared_uris.contains(&r.uri) && !prune)
        .collect();
    for r in resources {
        if let Some(why) = resource_registry::reserved(&r.uri, &ctx.settings.issuer, &after) {
            return Err(format!(
                "resource {}: not a resource identifier: {why}",
                r.uri
            ));
        }
        let action = match by_uri.get(&r.uri) {
            Some(stored) => {
                let mut changed = Vec::new();
                if stored.scopes != r.scopes {
                    changed.push("scope");
                }
                if stored.name != r.name {
                    changed.push("name");
                }
                if changed.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update(changed)
                }
            }
            None => Action::Create,
        };
        resources_after.push(r);
        steps.push(Step {
            kind: "resource",
            key: r.uri.to_string(),
            action,
            secret: None,
        });
    }
    // A client_credentials client with no audience needs a resource whose scope it has
    // (or a default audience), as `usher client create` requires.
    for (id, registration) in clients {
        let reachable = !registration
            .grant_types
            .contains(&GrantType::ClientCredentials)
            || !registration.audiences.is_empty()
            || ctx.settings.default_audience.is_some()
            || resources_after
                .iter()
                .any(|r| !r.scopes.intersection(&registration.scopes).is_empty());
        if !reachable {
            return Err(format!(
                "client {id}: a client_credentials client needs audiences, a scope of a declared or registered resource, or default_audience"
            ));
        }
    }
    if prune {
        for c in stored_clients {
            if managed(c) && !declared_ids.contains(&c.id) {
                steps.push(Step {
                    kind: "client",
                    key: c.id.to_string(),
                    action: Action::Delete,
                    secret: None,
                });
            }
        }
        for r in stored_resources {
            if !declared_uris.contains(&r.uri) {
                steps.push(Step {
                    kind: "resource",
                    key: r.uri.to_string(),
                    action: Action::Delete,
                    secret: None,
                });
            }
        }
    }
    Ok(Plan {
        steps,
        clients: clients.to_vec(),
    })
}

/// The names of the fields in which two registrations differ (the names of the file).
fn differences(old: &ClientRegistration, new: &ClientRegistration) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |same: bool, name: &'static str| {
        if !same {
            out.push(name);
        }
    };
    check(old.name == new.name, "name");
    check(old.auth_method == new.auth_method, "auth_method");
    check(old.redirect_uris == new.redirect_uris, "redirect_uris");
    check(
        old.post_logout_redirect_uris == new.post_logout_redirect_uris,
        "post_logout_redirect_uris",
    );
    check(old.grant_types == new.grant_types, "grant_types");
    check(old.scopes == new.scopes, "scope");
    check(old.audiences == new.audiences, "audiences");
    check(old.pkce_required == new.pkce_required, "pkce_optional");
    check(old.first_party == new.first_party, "first_party");
    check(old.require_mfa == new.require_mfa, "require_mfa");
    check(
        old.backchannel_logout == new.backchannel_logout,
        "backchannel_logout_uri",
    );
    check(
        old.allowed_origins == new.allowed_origins,
        "allowed_origins",
    );
    check(
        old.id_token_signed_response_alg == new.id_token_signed_response_alg,
        "id_token_signed_response_alg",
    );
    if out.is_empty() && old != new {
        out.push("other");
    }
    out
}

/// Writes the plan: resources first (clients' scopes may be theirs), then clients, then
/// the deletions. A created confidential client's secret is put on its step.
fn write(
    ctx: &Context,
    steps: &mut [Step],
    clients: &[(ClientId, ClientRegistration)],
    resources: &[Resource],
    stored_clients: &[Client],
) -> anyhow::Result<()> {
    let now = clock::now();
    let registration_of: HashMap<String, &ClientRegistration> =
        clients.iter().map(|(id, r)| (id.to_string(), r)).collect();
    let resource_of: HashMap<String, &Resource> =
        resources.iter().map(|r| (r.uri.to_string(), r)).collect();
    let stored: HashMap<String, &Client> = stored_clients
        .iter()
        .map(|c| (c.id.to_string(), c))
        .collect();
    let order = |s: &Step| match (s.kind, &s.action) {
        (_, Action::Delete) => 2,
        ("resource", _) => 0,
        _ => 1,
    };
    let mut indices: Vec<usize> = (0..steps.len()).collect();
    indices.sort_by_key(|&i| order(&steps[i]));
    for i in indices {
        let step = &mut steps[i];
        match (step.kind, &step.action) {
            (_, Action::Unchanged) => {}
            ("resource", Action::Delete) => {
                let uri = ResourceUri::parse(&step.key).map_err(|e| anyhow::anyhow!("{e}"))?;
                ctx.db.delete_resource(&uri)?;
                tracing::info!(resource = %uri, "resource server deleted by usher apply");
            }
            ("resource", action) => {
                let declared = resource_of
                    .get(&step.key)
                    .context("a planned resource is not declared")?;
                let mut resource = (*declared).clone();
                resource.updated_at = now;
                if *action == Action::Create {
                    resource.created_at = now;
                    if !ctx.db.insert_resource(&resource)? {
                        anyhow::bail!(
                            "resource {} was registered meanwhile: run the file again",
                            resource.uri
                        );
                    }
                } else {
                    let stored = ctx.db.get_resource(&resource.uri)?.with_context(|| {
                        format!("resource {} was deleted meanwhile", resource.uri)
                    })?;
                    resource.created_at = stored.created_at;
                    ctx.db.update_resource(&resource)?;
                }
                tracing::info!(resource = %resource.uri, action = action.as_str(), "resource server written by usher apply");
            }
            ("client", Action::Delete) => {
                let id = ClientId::parse(&step.key).context("a planned client id")?;
                ctx.db.delete_client(&id)?;
                tracing::info!(client_id = %id, "client deleted by usher apply");
            }
            (_, action) => {
                let id = ClientId::parse(&step.key).context("a planned client id")?;
                let registration = (*registration_of
                    .get(&step.key)
                    .context("a planned client is not declared")?)
                .clone();
                let public = registration.auth_method == AuthMethod::None;
                let before = stored.get(&step.key).copied();
                // A secret is kept while the client stays confidential; a client that
                // becomes confidential (or is new) gets one, shown once.
                let (secret_hash, secret) = match before.and_then(|c| c.secret_hash.clone()) {
                    _ if public => (None, None),
                    Some(kept) => (Some(kept), None),
                    None => {
                        let secret = SecretHasher::generate_secret()?;
                        (Some(ctx.secrets.hash(&secret)), Some(secret))
                    }
                };
                let client = Client {
                    id: id.clone(),
                    secret_hash,
                    registration,
                    created_at: before.map_or(now, |c| c.created_at),
                };
                if *action == Action::Create {
                    ctx.db.insert_client(&client)?;
                } else if !ctx.db.replace_operator_client(&client)? {
                    anyhow::bail!("client {id} was deleted meanwhile: run the file again");
                }
                tracing::info!(client_id = %id, action = action.as_str(), "client written by usher apply");
                step.secret = secret;
            }
        }
    }
    Ok(())
}

fn report(steps: &[Step], dry_run: bool, json_out: bool) -> anyhow::Result<()> {
    if json_out {
        let changes: Vec<Value> = steps
            .iter()
            .map(|s| {
                let mut v = json!({
                    "kind": s.kind,
                    "id": s.key,
                    "action": s.action.as_str(),
                });
                if let (Action::Update(fields), Some(obj)) = (&s.action, v.as_object_mut()) {
                    obj.insert("fields".to_owned(), json!(fields));
                }
                if let (Some(secret), Some(obj)) = (&s.secret, v.as_object_mut()) {
                    obj.insert("client_secret".to_owned(), json!(secret));
                }
                v
            })
            .collect();
        return print_json(&json!({ "dry_run": dry_run, "changes": changes }));
    }
    let verb = if dry_run { "would " } else { "" };
    for s in steps {
        match &s.action {
            Action::Unchanged => println!("unchanged {} {}", s.kind, s.key),
            Action::Update(fields) => {
                println!("{verb}update {} {} ({})", s.kind, s.key, fields.join(", "))
            }
            action => println!("{verb}{} {} {}", action.as_str(), s.kind, s.key),
        }
        if let Some(secret) = &s.secret {
            println!("  client_secret: {secret}");
        }
    }
    if steps.iter().any(|s| s.secret.is_some()) {
        println!(
            "(each secret is shown only now: store it; `usher client rotate-secret` makes a new one)"
        );
    }
    if dry_run {
        println!("(dry run: nothing was written)");
    }
    Ok(())
}
