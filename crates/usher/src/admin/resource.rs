//! `usher resource create | list | update | delete`: the resource servers (RFC 8707)
//! that clients may ask tokens for (docs/design/resources.md).

use serde_json::{Value, json};
use usher_core::resource_registry::{self, Reach};
use usher_domain::resource::parse_resource_scopes;
use usher_domain::{ClientStore, Resource, ResourceName, ResourceStore, ResourceUri};

use super::{print_json, usage};
use crate::cli::ResourceCommand;
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

pub fn run(settings: Settings, command: ResourceCommand) -> anyhow::Result<()> {
    match command {
        ResourceCommand::Create {
            uri,
            scope,
            name,
            json,
        } => {
            let uri = parse_uri(&uri)?;
            let scopes = parse_resource_scopes(&scope).map_err(usage)?;
            let name = name
                .as_deref()
                .map(ResourceName::parse)
                .transpose()
                .map_err(usage)?;
            let now = clock::now();
            let resource = Resource {
                uri,
                name,
                scopes,
                created_at: now,
                updated_at: now,
            };
            let ctx = Context::open(settings)?;
            let clients = ctx.db.list_clients()?;
            if let Some(why) =
                resource_registry::reserved(&resource.uri, &ctx.settings.issuer, &clients)
            {
                return Err(usage(format!(
                    "--uri {}: not a resource identifier: {why}",
                    resource.uri
                )));
            }
            if !ctx.db.insert_resource(&resource)? {
                return Err(usage(format!(
                    "a resource {} is already registered: change it with `usher resource update`",
                    resource.uri
                )));
            }
            tracing::info!(resource = %resource.uri, "resource server registered");
            report(&resource, &clients, json.json)
        }
        ResourceCommand::List(flag) => {
            let ctx = Context::open(settings)?;
            let resources = ctx.db.list_resources()?;
            if flag.json {
                return print_json(&Value::Array(resources.iter().map(describe).collect()));
            }
            if resources.is_empty() {
                println!("no resources registered");
            }
            for r in &resources {
                println!(
                    "{}  {}  {}",
                    r.uri,
                    r.scopes,
                    r.name.as_ref().map(ResourceName::as_str).unwrap_or("-")
                );
            }
            Ok(())
        }
        ResourceCommand::Update {
            uri,
            scope,
            name,
            no_name,
            json,
        } => {
            let uri = parse_uri(&uri)?;
            let scopes = scope
                .as_deref()
                .map(parse_resource_scopes)
                .transpose()
                .map_err(usage)?;
            let name = name
                .as_deref()
                .map(ResourceName::parse)
                .transpose()
                .map_err(usage)?;
            if scopes.is_none() && name.is_none() && !no_name {
                return Err(usage(
                    "nothing to change: give --scope \"...\", --name NAME or --no-name",
                ));
            }
            let ctx = Context::open(settings)?;
            let Some(mut resource) = ctx.db.get_resource(&uri)? else {
                anyhow::bail!("no resource {uri} is registered");
            };
            if let Some(scopes) = scopes {
                resource.scopes = scopes;
            }
            if name.is_some() || no_name {
                resource.name = name;
            }
            resource.updated_at = clock::now();
            if !ctx.db.update_resource(&resource)? {
                anyhow::bail!("no resource {uri} is registered");
            }
            tracing::info!(resource = %resource.uri, "resource server changed");
            report(&resource, &ctx.db.list_clients()?, json.json)
        }
        ResourceCommand::Delete { uri, json } => {
            let uri = parse_uri(&uri)?;
            let ctx = Context::open(settings)?;
            if !ctx.db.delete_resource(&uri)? {
                anyhow::bail!("no resource {uri} is registered");
            }
            tracing::info!(resource = %uri, "resource server deleted");
            if json.json {
                print_json(&json!({ "uri": uri.as_str(), "deleted": true }))
            } else {
                println!("deleted resource {uri}");
                Ok(())
            }
        }
    }
}

fn parse_uri(raw: &str) -> anyhow::Result<ResourceUri> {
    ResourceUri::parse(raw).map_err(|e| usage(format!("--uri {raw:?}: {e}")))
}

fn describe(r: &Resource) -> Value {
    json!({
        "uri": r.uri.as_str(),
        "name": r.name.as_ref().map(ResourceName::as_str),
        "scopes": r.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "created_at": clock::rfc3339(r.created_at),
        "updated_at": clock::rfc3339(r.updated_at),
    })
}

/// Prints the resource as registered, and which clients its scopes already reach: a
/// scope name the resource shares with a client's registration lets that client ask for
/// the resource at once — with `client_credentials`, without any person being asked.
fn report(resource: &Resource, clients: &[usher_domain::Client], json: bool) -> anyhow::Result<()> {
    let reach = resource_registry::reach(resource, clients);
    let ids = |v: &[&usher_domain::Client]| v.iter().map(|c| c.id.to_string()).collect::<Vec<_>>();
    if json {
        let mut described = describe(resource);
        described["clients_with_access"] = json!({
            "client_credentials": ids(&reach.service),
            "on_behalf_of_people": ids(&reach.on_behalf),
        });
        return print_json(&described);
    }
    print_human(resource);
    warn_reach(&reach, ids);
    Ok(())
}

fn warn_reach(reach: &Reach<'_>, ids: impl Fn(&[&usher_domain::Client]) -> Vec<String>) {
    if !reach.service.is_empty() {
        eprintln!(
            "warning: these clients already hold one of its scopes and can get tokens for it with client_credentials, no person asked: {}",
            ids(&reach.service).join(", ")
        );
    }
    if !reach.on_behalf.is_empty() {
        eprintln!(
            "note: these clients already hold one of its scopes and can ask people for access to it: {}",
            ids(&reach.on_behalf).join(", ")
        );
    }
}

fn print_human(r: &Resource) {
    println!("uri:     {}", r.uri);
    if let Some(name) = &r.name {
        println!("name:    {}", name.as_str());
    }
    println!("scopes:  {}", r.scopes);
}
