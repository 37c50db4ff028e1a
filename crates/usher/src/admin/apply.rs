//! `usher apply FILE.toml [--dry-run] [--prune] [--json]`: clients, resource servers and
//! groups declared in a file, so that teams keep them in version control
//! (docs/administration.md, "Clients as configuration").
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
//! never deletes those, nor Usher's built-in account client, nor the built-in group
//! `usher-admins`. A group is declared by its name and description; its members are
//! people, managed with `usher group add-member`, never in the file. A client's allowed
//! groups must exist once the file is applied, and a group a remaining client is
//! restricted to is not pruned. A confidential client's
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
    AuthMethod, Client, ClientId, ClientRegistration, ClientStore, GrantType, Group,
    GroupDescription, GroupName, GroupStore, Resource, ResourceName, ResourceStore, ResourceUri,
    UnixTime,
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
    #[serde(default, rename = "group")]
    groups: Vec<GroupDecl>,
}

/// A `[[group]]`: the options of `usher group create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDecl {
    name: String,
    description: Option<String>,
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
    #[serde(default)]
    allowed_groups: Vec<String>,
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
    let in_file = |e: String| usage(format!("{}: {e}", file.display()));
    let text =
        std::fs::read_to_string(&file).map_err(|e| in_file(format!("cannot read it: {e}")))?;
    let parsed: File =
        toml::from_str(&text).map_err(|e| in_file(format!("not an apply file: {e}")))?;
    let clients = parse_clients(parsed.clients).map_err(in_file)?;
    let resources = parse_resources(parsed.resources).map_err(in_file)?;
    let groups = parse_groups(parsed.groups).map_err(in_file)?;

    let ctx = Context::open(settings)?;
    let stored_clients = ctx.db.list_clients()?;
    let stored_resources = ctx.db.list_resources()?;
    let stored_groups: Vec<Group> = ctx.db.list_groups()?.into_iter().map(|s| s.group).collect();
    let declared = Declared {
        clients: &clients,
        resources: &resources,
        groups: &groups,
    };
    let stored = Stored {
        clients: &stored_clients,
        resources: &stored_resources,
        groups: &stored_groups,
    };
    let mut steps = plan(&ctx, &declared, &stored, prune).map_err(in_file)?;
    if !dry_run {
        write(&ctx, &mut steps, &declared, &stored)?;
    }
    report(&steps, dry_run, json_out)
}

/// What the file declares, parsed.
struct Declared<'a> {
    clients: &'a [(ClientId, ClientRegistration)],
    resources: &'a [Resource],
    groups: &'a [Group],
}

/// What is stored before applying.
struct Stored<'a> {
    clients: &'a [Client],
    resources: &'a [Resource],
    groups: &'a [Group],
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
            allowed_groups: d.allowed_groups,
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
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        });
    }
    Ok(out)
}

/// The declared groups, parsed and checked; names unique.
fn parse_groups(decls: Vec<GroupDecl>) -> Result<Vec<Group>, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(decls.len());
    for d in decls {
        let name = GroupName::parse(&d.name).map_err(|e| format!("group {:?}: {e}", d.name))?;
        if !seen.insert(name.clone()) {
            return Err(format!("group {name} is declared twice"));
        }
        let description = d
            .description
            .as_deref()
            .map(GroupDescription::parse)
            .transpose()
            .map_err(|e| format!("group {name}: {e}"))?;
        out.push(Group {
            name,
            description,
            created_at: UnixTime(0),
        });
    }
    Ok(out)
}

fn step(kind: &'static str, key: String, action: Action) -> Step {
    Step {
        kind,
        key,
        action,
        secret: None,
    }
}

fn plan(
    ctx: &Context,
    declared: &Declared<'_>,
    stored: &Stored<'_>,
    prune: bool,
) -> Result<Vec<Step>, String> {
    let by_id: HashMap<&ClientId, &Client> = stored.clients.iter().map(|c| (&c.id, c)).collect();
    let by_uri: HashMap<&ResourceUri, &Resource> =
        stored.resources.iter().map(|r| (&r.uri, r)).collect();
    let by_name: HashMap<&GroupName, &Group> = stored.groups.iter().map(|g| (&g.name, g)).collect();
    let declared_ids: HashSet<&ClientId> = declared.clients.iter().map(|(id, _)| id).collect();
    let declared_uris: HashSet<&ResourceUri> = declared.resources.iter().map(|r| &r.uri).collect();
    let declared_names: HashSet<&GroupName> = declared.groups.iter().map(|g| &g.name).collect();
    let managed = |c: &Client| !c.describes_itself() && !c.registration.built_in;
    let pruned_client = |c: &Client| prune && managed(c) && !declared_ids.contains(&c.id);
    let pruned_group =
        |g: &Group| prune && !g.name.is_built_in() && !declared_names.contains(&g.name);

    let mut steps = Vec::new();
    // Groups first: clients name them.
    for g in declared.groups {
        let action = match by_name.get(&g.name) {
            Some(s) if s.description == g.description => Action::Unchanged,
            Some(_) => Action::Update(vec!["description"]),
            None => Action::Create,
        };
        steps.push(step("group", g.name.to_string(), action));
    }
    let groups_after: HashSet<&GroupName> = stored
        .groups
        .iter()
        .filter(|g| !pruned_group(g))
        .map(|g| &g.name)
        .chain(declared_names.iter().copied())
        .collect();

    // The clients as they will be after applying: what the rules below check against.
    let mut after: Vec<Client> = stored
        .clients
        .iter()
        .filter(|c| !pruned_client(c) && !declared_ids.contains(&c.id))
        .cloned()
        .collect();
    for (id, registration) in declared.clients {
        let action = match by_id.get(id) {
            Some(s) if !managed(s) => {
                return Err(format!(
                    "client {id} registered itself (or is a metadata document): `usher apply` manages only the clients the operator creates"
                ));
            }
            Some(s) => match differences(&s.registration, registration) {
                changed if changed.is_empty() => Action::Unchanged,
                changed => Action::Update(changed),
            },
            None => Action::Create,
        };
        if let Some(g) = registration
            .allowed_groups
            .iter()
            .find(|g| !groups_after.contains(g))
        {
            return Err(format!(
                "client {id}: allowed group {g} does not exist: declare it as a [[group]] or create it with `usher group create`"
            ));
        }
        after.push(Client {
            id: id.clone(),
            secret_hash: None,
            registration: registration.clone(),
            created_at: UnixTime(0),
        });
        steps.push(step("client", id.to_string(), action));
    }
    let mut resources_after: Vec<&Resource> = stored
        .resources
        .iter()
        .filter(|r| !declared_uris.contains(&r.uri) && !prune)
        .collect();
    for r in declared.resources {
        if let Some(why) = resource_registry::reserved(&r.uri, &ctx.settings.issuer, &after) {
            return Err(format!(
                "resource {}: not a resource identifier: {why}",
                r.uri
            ));
        }
        let action = match by_uri.get(&r.uri) {
            Some(s) => {
                let mut changed = Vec::new();
                if s.scopes != r.scopes {
                    changed.push("scope");
                }
                if s.name != r.name {
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
        steps.push(step("resource", r.uri.to_string(), action));
    }
    // A client_credentials client with no audience needs a resource whose scope it has
    // (or a default audience), as `usher client create` requires.
    for (id, registration) in declared.clients {
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
    // A group still named by a client that stays cannot go.
    for g in stored.groups.iter().filter(|g| pruned_group(g)) {
        if let Some(c) = after
            .iter()
            .find(|c| c.registration.allowed_groups.contains(&g.name))
        {
            return Err(format!(
                "group {} is not declared but client {} is restricted to it: declare the group or change the client",
                g.name, c.id
            ));
        }
    }
    if prune {
        for c in stored.clients.iter().filter(|c| pruned_client(c)) {
            steps.push(step("client", c.id.to_string(), Action::Delete));
        }
        for r in stored
            .resources
            .iter()
            .filter(|r| !declared_uris.contains(&r.uri))
        {
            steps.push(step("resource", r.uri.to_string(), Action::Delete));
        }
        for g in stored.groups.iter().filter(|g| pruned_group(g)) {
            steps.push(step("group", g.name.to_string(), Action::Delete));
        }
    }
    Ok(steps)
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
    check(old.allowed_groups == new.allowed_groups, "allowed_groups");
    if out.is_empty() && old != new {
        out.push("other");
    }
    out
}

/// Writes the plan: groups and resources first (clients name them), then clients, then
/// the deletions (clients before the groups they were restricted to). A created
/// confidential client's secret is put on its step.
fn write(
    ctx: &Context,
    steps: &mut [Step],
    declared: &Declared<'_>,
    stored: &Stored<'_>,
) -> anyhow::Result<()> {
    let now = clock::now();
    let registration_of: HashMap<String, &ClientRegistration> = declared
        .clients
        .iter()
        .map(|(id, r)| (id.to_string(), r))
        .collect();
    let resource_of: HashMap<String, &Resource> = declared
        .resources
        .iter()
        .map(|r| (r.uri.to_string(), r))
        .collect();
    let group_of: HashMap<String, &Group> = declared
        .groups
        .iter()
        .map(|g| (g.name.to_string(), g))
        .collect();
    let stored_client: HashMap<String, &Client> = stored
        .clients
        .iter()
        .map(|c| (c.id.to_string(), c))
        .collect();
    let order = |s: &Step| match (s.kind, &s.action) {
        ("group", Action::Delete) => 4,
        (_, Action::Delete) => 3,
        ("client", _) => 2,
        _ => 1,
    };
    let mut indices: Vec<usize> = (0..steps.len()).collect();
    indices.sort_by_key(|&i| order(&steps[i]));
    for i in indices {
        let step = &mut steps[i];
        match (step.kind, &step.action) {
            (_, Action::Unchanged) => {}
            ("group", Action::Delete) => {
                let name = GroupName::parse(&step.key).map_err(|e| anyhow::anyhow!("{e}"))?;
                ctx.db.delete_group(&name)?;
                tracing::info!(group = %name, "group deleted by usher apply");
            }
            ("group", action) => {
                let mut group = (*group_of
                    .get(&step.key)
                    .context("a planned group is not declared")?)
                .clone();
                group.created_at = now;
                let written = if *action == Action::Create {
                    ctx.db.insert_group(&group)?
                } else {
                    ctx.db
                        .set_group_description(&group.name, group.description.as_ref())?
                };
                if !written {
                    anyhow::bail!("group {} changed meanwhile: run the file again", group.name);
                }
                tracing::info!(group = %group.name, action = action.as_str(), "group written by usher apply");
            }
            ("resource", Action::Delete) => {
                let uri = ResourceUri::parse(&step.key).map_err(|e| anyhow::anyhow!("{e}"))?;
                ctx.db.delete_resource(&uri)?;
                tracing::info!(resource = %uri, "resource server deleted by usher apply");
            }
            ("resource", action) => {
                let mut resource = (*resource_of
                    .get(&step.key)
                    .context("a planned resource is not declared")?)
                .clone();
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
                    let kept = ctx.db.get_resource(&resource.uri)?.with_context(|| {
                        format!("resource {} was deleted meanwhile", resource.uri)
                    })?;
                    resource.created_at = kept.created_at;
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
                // Read again just before writing: a secret rotated since the plan was
                // made (`usher client rotate-secret` after a leak) must not come back.
                let fresh = match action {
                    Action::Create => None,
                    _ => ctx.db.get_client(&id)?,
                };
                let before = fresh.as_ref().or(stored_client.get(&step.key).copied());
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
