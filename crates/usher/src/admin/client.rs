//! `usher client create | list | show | update | delete | rotate-secret`.

use anyhow::Context as _;
use serde_json::{Value, json};
use usher_domain::client::RegistrationInput;
use usher_domain::{Client, ClientId, ClientRegistration, ClientStore};
use usher_keys::SecretHasher;

use super::{print_json, usage};
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
            let client = ctx
                .db
                .get_client(&id)?
                .ok_or_else(|| anyhow::anyhow!("no client with id {id}"))?;
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
            if !ctx.db.delete_client(&id)? {
                anyhow::bail!("no client with id {id}");
            }
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
            let client = ctx
                .db
                .get_client(&id)?
                .ok_or_else(|| anyhow::anyhow!("no client with id {id}"))?;
            if client.is_public() {
                return Err(usage(format!(
                    "client {id} is public: it has no secret to rotate"
                )));
            }
            let secret = SecretHasher::generate_secret()?;
            let hash = ctx.secrets.hash(&secret);
            if !ctx.db.set_client_secret_hash(&id, &hash)? {
                anyhow::bail!("no client with id {id}");
            }
            tracing::warn!(client_id = %id, "client secret rotated; the old secret no longer works");
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
    if raw == usher_domain::client::BUILT_IN_ACCOUNT_CLIENT_ID {
        return Err(usage(format!(
            "{raw:?} is Usher's built-in account client: it is part of Usher, not registered, and cannot be shown, changed or deleted"
        )));
    }
    ClientId::parse(raw).ok_or_else(|| usage(format!("{raw:?} is not a client id")))
}

fn create(settings: Settings, args: ClientCreate) -> anyhow::Result<()> {
    let registration = ClientRegistration::new(RegistrationInput {
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
    })
    .map_err(usage)?;
    // With neither an audience nor a default one, and no scope of a registered resource
    // server (checked once the database is open), every client_credentials request
    // would be `invalid_target`: refuse the registration instead, naming the fixes.
    let needs_a_resource = registration
        .grant_types
        .contains(&usher_domain::GrantType::ClientCredentials)
        && registration.audiences.is_empty()
        && settings.default_audience.is_none();

    let ctx = Context::open(settings)?;
    require_groups(&ctx, &registration.allowed_groups)?;
    if needs_a_resource {
        let resources = usher_domain::ResourceStore::list_resources(&ctx.db)?;
        let scopes = &registration.scopes;
        if !resources
            .iter()
            .any(|r| !r.scopes.intersection(scopes).is_empty())
        {
            return Err(usage(
                "a client_credentials client needs an audience (the API its tokens are for), and no default_audience is configured, so it could never get a token (invalid_target). Register it with --audience https://api.example.com (repeat for more), give it a --scope of a resource server registered with `usher resource create`, or set USHER_DEFAULT_AUDIENCE (default_audience) for every client registered without one",
            ));
        }
    }
    // A UUID: unique, URL-safe, and never starting with '-' (which a random base64url
    // id could, and which a shell command line would then read as an option).
    let id = ClientId::parse(&uuid::Uuid::new_v4().to_string())
        .context("a generated client id did not parse")?;
    let public = registration.auth_method == usher_domain::AuthMethod::None;
    let secret = if public {
        None
    } else {
        Some(SecretHasher::generate_secret()?)
    };
    let hasher = &ctx.secrets;
    let client = Client {
        id,
        secret_hash: secret.as_deref().map(|s| hasher.hash(s)),
        registration,
        created_at: clock::now(),
    };
    ctx.db.insert_client(&client)?;
    if !client.registration.pkce_required {
        tracing::warn!(client_id = %client.id, "client registered with PKCE optional");
    }
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
    if !origins_change && !groups_change {
        return Err(usage(
            "nothing to change: give --allowed-origin ORIGIN (repeat for more), --default-allowed-origins, --allowed-group GROUP (repeat for more) or --no-allowed-groups",
        ));
    }
    let origins =
        usher_domain::client::parse_allowed_origins(&args.allowed_origins).map_err(usage)?;
    let groups = usher_domain::group::parse_group_names(&args.allowed_groups)
        .map_err(|e| usage(format!("--allowed-group: {e}")))?;
    let ctx = Context::open(settings)?;
    if groups_change {
        require_groups(&ctx, &groups)?;
    }
    let stored = ctx.db.get_client(&id)?;
    // A metadata-document client is built from its document at each use, not from its
    // row: a restriction written there would be shown and never enforced.
    if stored
        .as_ref()
        .is_some_and(|c| c.registration.metadata_document)
    {
        return Err(usage(format!(
            "{id} is a metadata-document client: it is described by its document, not registered here, and cannot be changed (turn client_metadata_documents off to stop all of them)"
        )));
    }
    let exists = stored.is_some();
    if !exists
        || (origins_change && !ctx.db.set_client_allowed_origins(&id, &origins)?)
        || (groups_change && !ctx.db.set_client_allowed_groups(&id, &groups)?)
    {
        anyhow::bail!("no client with id {id}");
    }
    if groups_change {
        tracing::info!(client_id = %id, restricted = !groups.is_empty(), "client's allowed groups changed");
    }
    let client = ctx
        .db
        .get_client(&id)?
        .ok_or_else(|| anyhow::anyhow!("no client with id {id}"))?;
    if args.json.json {
        print_json(&describe(&client))
    } else {
        print_human(&client, None);
        Ok(())
    }
}

/// Every `--allowed-group` must name an existing group: a typo would otherwise lock
/// everyone out of the client.
fn require_groups(ctx: &Context, groups: &[usher_domain::GroupName]) -> anyhow::Result<()> {
    use usher_domain::GroupStore as _;
    for g in groups {
        if ctx.db.get_group(g)?.is_none() {
            return Err(usage(format!(
                "--allowed-group {g}: there is no such group; create it first with `usher group create {g}`"
            )));
        }
    }
    Ok(())
}

fn grant_list(c: &Client) -> String {
    c.registration
        .grant_types
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether PKCE means anything for this client: only the authorization code flow uses
/// it (and registration refuses --pkce-optional without that grant).
fn pkce_applies(c: &Client) -> bool {
    c.registration
        .grant_types
        .contains(&usher_domain::GrantType::AuthorizationCode)
}

/// The client as JSON, without any secret.
pub fn describe(c: &Client) -> Value {
    let r = &c.registration;
    json!({
        "client_id": c.id.as_str(),
        "name": r.name.as_str(),
        "public": c.is_public(),
        "token_endpoint_auth_method": r.auth_method.as_str(),
        "redirect_uris": r.redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "post_logout_redirect_uris": r.post_logout_redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "grant_types": r.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scope": r.scopes.to_string(),
        "audiences": r.audiences.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        // PKCE belongs to the authorization code flow: for a client without that grant
        // (a client_credentials service) it does not apply, which `null` says.
        "pkce_required": pkce_applies(c).then_some(r.pkce_required),
        "first_party": r.first_party,
        // Registered through POST /register (RFC 7591): always shown the consent page,
        // removed when unused for registration_unused_after.
        "dynamically_registered": r.dynamically_registered,
        "require_mfa": r.require_mfa,
        "backchannel_logout_uri": r.backchannel_logout.as_ref().map(|b| b.uri.as_str()),
        "backchannel_logout_session_required": r.backchannel_logout.as_ref().is_some_and(|b| b.session_required),
        // The origins in effect (registered, or the default from the redirect URIs), and
        // whether they are the default.
        "allowed_origins": c.allowed_origins().iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        "allowed_origins_default": r.allowed_origins.is_empty(),
        // Empty: anyone who can sign in may use the client.
        "allowed_groups": r.allowed_groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        // `null`: the server's id_token_alg.
        "id_token_signed_response_alg": r.id_token_signed_response_alg.map(|a| a.as_str()),
        "created_at": clock::rfc3339(c.created_at),
    })
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
        if !pkce_applies(c) {
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
