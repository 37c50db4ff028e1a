//! `usher resource create | list | update | delete`: the resource servers (RFC 8707)
//! that clients may ask tokens for (docs/design/resources.md).

use serde_json::{Value, json};
use usher_domain::resource::parse_resource_scopes;
use usher_domain::{Resource, ResourceName, ResourceStore, ResourceUri};

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
            if !ctx.db.insert_resource(&resource)? {
                return Err(usage(format!(
                    "a resource {} is already registered: change it with `usher resource update`",
                    resource.uri
                )));
            }
            tracing::info!(resource = %resource.uri, "resource server registered");
            if json.json {
                print_json(&describe(&resource))
            } else {
                print_human(&resource);
                Ok(())
            }
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
            if json.json {
                print_json(&describe(&resource))
            } else {
                print_human(&resource);
                Ok(())
            }
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

fn print_human(r: &Resource) {
    println!("uri:     {}", r.uri);
    if let Some(name) = &r.name {
        println!("name:    {}", name.as_str());
    }
    println!("scopes:  {}", r.scopes);
}
