//! `usher client create | list | show | update | delete | rotate-secret`.

use serde_json::{Value, json};
use usher_domain::client::RegistrationInput;
use usher_domain::{Client, ClientId, ClientRegistration, ClientStore};

use usher_core::admin::{By, clients};

use super::{print_json, refused, usage};
use crate::cli::{ClientCommand, ClientCreate, ClientUpdate};
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

pub fn run(settings: Settings, command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create(args) => create(settings, args),
        ClientCommand::Update(args) => update(settings, args),
        ClientCommand::List(flag) => {
            let ctx = Context::open(settings)?;
            let clients = ctx.db.list_clients()?;
            if flag.json {
                print_json(&Value::Array(clients.iter().map(describe).collect()))
            } else {
                if clients.is_empty() {
                    println!("no clients registered");
                }
                for c in &clients {
                    println!(
                        "{}  {}  {}  {}",
                        c.id,
                        c.registration.auth_method.as_str(),
                        grant_list(c),
                        c.registration.name.as_str()
                    );
                }
                Ok(())
            }
        }
        ClientCommand::Show { id, json } => {
            let id = parse_id(&id)?;
            let ctx = Context::open(settings)?;
            let client = clients::get(&ctx.admin_stores(), &id).map_err(refused)?;
            if json.json {
                print_json(&describe(&client))
            } else {
                print_human(&client, None);
                Ok(())
            }
        }
        ClientCommand::Delete { id, json } => {
            let id = parse_id(&id)?;
            let ctx = Context::open(settings)?;
            clients::delete(&ctx.admin_stores(), &id, None, &By::cli(clock::now()))
                .map_err(refused)?;
            if json.json {
                print_json(&json!({ "client_id": id.as_str(), "deleted": true }))
            } else {
                println!("deleted client {id}");
                Ok(())
            }
        }
        ClientCommand::RotateSecret { id, json } => {
            let id = parse_id(&id)?;
            let ctx = Context::open(settings)?;
            let secret = clients::rotate_secret(
                &ctx.admin_stores(),
                &ctx.secrets,
                &id,
                &By::cli(clock::now()),
            )
            .map_err(refused)?;
            if json.json {
                print_json(&json!({ "client_id": id.as_str(), "client_secret": secret }))
            } else {
                println!("client_id:     {id}");
                println!("client_secret: {secret}");
                println!("(the secret is shown only now; the old one no longer works)");
                Ok(())
            }
        }
    }
}

fn parse_id(raw: &str) -> anyhow::Result<ClientId> {
    clients::parse_id(raw).map_err(refused)
}

fn create(settings: Settings, args: ClientCreate) -> anyhow::Result<()> {
    // Parsed here first, so that bad options are refused before the database is opened.
    let input = RegistrationInput {
        name: args.name,
        public: args.public,
        auth_method: args.auth_method,
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        grant_types: args.grant_types,
        scope: args.scope,
        audiences: args.audiences,
        pkce_optional: args.pkce_optional,
        first_party: args.first_party,
        require_mfa: args.require_mfa,
        backchannel_logout_uri: args.backchannel_logout_uri,
        backchannel_logout_session_required: args.backchannel_logout_session_required,
        allowed_origins: args.allowed_origins,
        id_token_signed_response_alg: args.id_token_signed_response_alg,
        allowed_groups: args.allowed_groups,
    };
    ClientRegistration::new(input.clone()).map_err(usage)?;
    let ctx = Context::open(settings)?;
    let created = clients::create(
        &ctx.admin_stores(),
        &ctx.secrets,
        ctx.settings.default_audience.as_deref(),
        input,
        &By::cli(clock::now()),
    )
    .map_err(refused)?;
    let (client, secret) = (created.client, created.secret);
    if args.json.json {
        let mut doc = describe(&client);
        if let (Some(secret), Some(obj)) = (&secret, doc.as_object_mut()) {
            obj.insert("client_secret".to_owned(), Value::String(secret.clone()));
        }
        print_json(&doc)
    } else {
        print_human(&client, secret.as_deref());
        if secret.is_some() {
            println!(
                "(the secret is shown only now: store it; `usher client rotate-secret` makes a new one)"
            );
        }
        Ok(())
    }
}

/// `usher client update`: the allowed origins, the allowed groups, or both. Nodes see
/// the change within `cache_ttl` seconds (their cached clients and their set of every
/// client's origins are re-read then).
fn update(settings: Settings, args: ClientUpdate) -> anyhow::Result<()> {
    let id = parse_id(&args.id)?;
    let origins_change = !args.allowed_origins.is_empty() || args.default_allowed_origins;
    let groups_change = !args.allowed_groups.is_empty() || args.no_allowed_groups;
    let origins =
        usher_domain::client::parse_allowed_origins(&args.allowed_origins).map_err(usage)?;
    let groups = usher_domain::group::parse_group_names(&args.allowed_groups)
        .map_err(|e| usage(format!("--allowed-group: {e}")))?;
    let change = clients::AccessChange {
        origins: origins_change.then_some(origins),
        groups: groups_change.then_some(groups),
    };
    let ctx = Context::open(settings)?;
    let client = clients::update_access(
        &ctx.admin_stores(),
        &id,
        &change,
        None,
        &By::cli(clock::now()),
    )
    .map_err(refused)?;
    if args.json.json {
        print_json(&describe(&client))
    } else {
        print_human(&client, None);
        Ok(())
    }
}

/// The client as JSON, without any secret (the admin API's view).
pub fn describe(c: &Client) -> Value {
    serde_json::to_value(clients::ClientView::of(c)).unwrap_or(Value::Null)
}

fn grant_list(c: &Client) -> String {
    c.registration
        .grant_types
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn print_human(c: &Client, secret: Option<&str>) {
    let r = &c.registration;
    println!("client_id:     {}", c.id);
    if let Some(s) = secret {
        println!("client_secret: {s}");
    }
    println!("name:          {}", r.name.as_str());
    println!("auth method:   {}", r.auth_method.as_str());
    println!("grant types:   {}", grant_list(c));
    println!("scope:         {}", r.scopes);
    for u in &r.redirect_uris {
        println!("redirect uri:  {}", u.as_str());
    }
    for u in &r.post_logout_redirect_uris {
        println!("post-logout:   {}", u.as_str());
    }
    for a in &r.audiences {
        println!("audience:      {}", a.as_str());
    }
    println!(
        "pkce:          {}",
        if !clients::pkce_applies(c) {
            "does not apply (no authorization_code grant)"
        } else if r.pkce_required {
            "required"
        } else {
            "optional"
        }
    );
    println!("first party:   {}", r.first_party);
    if r.dynamically_registered {
        println!("registered:    by itself (POST /register); removed when unused");
    }
    println!("require mfa:   {}", r.require_mfa);
    if let Some(alg) = r.id_token_signed_response_alg {
        println!("id token alg:  {alg}");
    }
    if let Some(b) = &r.backchannel_logout {
        println!("back-channel:  {}", b.uri);
        println!("  sid needed:  {}", b.session_required);
    }
    for g in &r.allowed_groups {
        println!("allowed group: {g}");
    }
    let default = if r.allowed_origins.is_empty() {
        " (default: from the redirect URIs)"
    } else {
        ""
    };
    for o in c.allowed_origins() {
        println!("origin:        {o}{default}");
    }
}
