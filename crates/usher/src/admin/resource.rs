//! `usher resource create | list | update | delete`: the resource servers (RFC 8707)
//! that clients may ask tokens for (docs/design/resources.md).

use serde_json::{Value, json};
use usher_core::admin::{AdminStores, By, resources};
use usher_domain::{Resource, ResourceName, ResourceStore, ResourceUri};

use super::{print_json, refused};
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
            let scopes = resources::parse_scopes(&scope).map_err(refused)?;
            let name = resources::parse_name(name.as_deref()).map_err(refused)?;
            let ctx = Context::open(settings)?;
            let stores = ctx.admin_stores();
            let resource = resources::create(
                &stores,
                &ctx.settings.issuer,
                uri,
                name,
                scopes,
                &By::cli(clock::now()),
            )
            .map_err(refused)?;
            report(&stores, &resource, json.json)
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
            let change = resources::ResourceChange {
                scopes: scope
                    .as_deref()
                    .map(resources::parse_scopes)
                    .transpose()
                    .map_err(refused)?,
                name: match (name, no_name) {
                    (Some(name), _) => Some(resources::parse_name(Some(&name)).map_err(refused)?),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
            };
            let ctx = Context::open(settings)?;
            let stores = ctx.admin_stores();
            let resource = resources::update(&stores, &uri, change, None, &By::cli(clock::now()))
                .map_err(refused)?;
            report(&stores, &resource, json.json)
        }
        ResourceCommand::Delete { uri, json } => {
            let uri = parse_uri(&uri)?;
            let ctx = Context::open(settings)?;
            resources::delete(&ctx.admin_stores(), &uri, None, &By::cli(clock::now()))
                .map_err(refused)?;
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
    resources::parse_uri(raw).map_err(refused)
}

fn describe(r: &Resource) -> Value {
    serde_json::to_value(resources::ResourceView::of(r)).unwrap_or(Value::Null)
}

/// Prints the resource as registered, and which clients its scopes already reach: a
/// scope name the resource shares with a client's registration lets that client ask for
/// the resource at once — with `client_credentials`, without any person being asked.
fn report(stores: &AdminStores, resource: &Resource, json: bool) -> anyhow::Result<()> {
    let reach = resources::reach(stores, resource).map_err(refused)?;
    if json {
        let mut described = describe(resource);
        described["clients_with_access"] = serde_json::to_value(&reach)?;
        return print_json(&described);
    }
    print_human(resource);
    warn_reach(&reach);
    Ok(())
}

fn warn_reach(reach: &resources::ReachView) {
    if !reach.client_credentials.is_empty() {
        eprintln!(
            "warning: these clients already hold one of its scopes and can get tokens for it with client_credentials, no person asked: {}",
            reach.client_credentials.join(", ")
        );
    }
    if !reach.on_behalf_of_people.is_empty() {
        eprintln!(
            "note: these clients already hold one of its scopes and can ask people for access to it: {}",
            reach.on_behalf_of_people.join(", ")
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
