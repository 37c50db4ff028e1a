//! `usher upstream create | list | update | delete`: upstream identity providers, other
//! OpenID Connect (or plain OAuth 2.0) providers whose people may sign in to Usher
//! (docs/design/upstream.md, docs/administration.md "Upstream providers"). The client
//! secret is read from standard input only, and stored sealed under the KEK.

use serde_json::{Value, json};
use usher_core::admin::upstreams::{
    self, EndpointsInput, NewUpstream, UpstreamChanges, UpstreamSecret, UpstreamView,
};
use usher_core::admin::{By, upstreams::parse_id};
use usher_domain::Upstream;
use usher_keys::FactorSealer;

use super::{print_json, read_secret_stdin, refused};
use crate::cli::{UpstreamCommand, UpstreamSettingsArgs};
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

/// The URL to register at the provider as the redirect URI.
fn callback(settings: &Settings, upstream: &Upstream) -> String {
    settings
        .issuer
        .endpoint(&format!("/upstream/{}/callback", upstream.id))
}

fn endpoints(args: &UpstreamSettingsArgs) -> Option<EndpointsInput> {
    // clap requires all three together.
    match (
        &args.authorization_endpoint,
        &args.token_endpoint,
        &args.userinfo_endpoint,
    ) {
        (Some(a), Some(t), Some(u)) => Some(EndpointsInput {
            authorization_endpoint: a.clone(),
            token_endpoint: t.clone(),
            userinfo_endpoint: u.clone(),
        }),
        _ => None,
    }
}

fn secret(args: &UpstreamSettingsArgs) -> anyhow::Result<Option<UpstreamSecret>> {
    if !args.client_secret_stdin {
        return Ok(None);
    }
    Ok(Some(
        UpstreamSecret::new(read_secret_stdin()?).map_err(refused)?,
    ))
}

fn describe(settings: &Settings, upstream: &Upstream) -> Value {
    let mut v = serde_json::to_value(UpstreamView::of(upstream)).unwrap_or(Value::Null);
    v["callback_url"] = Value::String(callback(settings, upstream));
    v
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub fn run(settings: Settings, command: UpstreamCommand) -> anyhow::Result<()> {
    match command {
        UpstreamCommand::Create(args) => {
            let s = &args.settings;
            let (Some(issuer), Some(client_id)) = (&s.issuer, &s.client_id) else {
                return Err(super::usage(
                    "usher upstream create needs --issuer and --client-id",
                ));
            };
            let input = NewUpstream {
                id: args.id.clone(),
                name: args.name.clone(),
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret: secret(s)?,
                scope: s.scope.clone(),
                claim_mapping: s.claim_mapping.clone(),
                endpoints: endpoints(s),
                enabled: !args.disabled,
                trusted_for_mfa: args.trusted_for_mfa,
                create_people: !args.no_create_people,
            };
            let ctx = Context::open(settings)?;
            let sealer = FactorSealer::from_kek(&ctx.kek);
            let upstream =
                upstreams::create(&ctx.admin_stores(), &sealer, input, &By::cli(clock::now()))
                    .map_err(refused)?;
            if args.json.json {
                return print_json(&describe(&ctx.settings, &upstream));
            }
            println!("created upstream {}", upstream.id);
            println!(
                "callback URL (register it at the provider as the redirect URI): {}",
                callback(&ctx.settings, &upstream)
            );
            Ok(())
        }
        UpstreamCommand::List(flag) => {
            let ctx = Context::open(settings)?;
            let all = upstreams::list(&ctx.admin_stores()).map_err(refused)?;
            if flag.json {
                return print_json(&Value::Array(
                    all.iter().map(|u| describe(&ctx.settings, u)).collect(),
                ));
            }
            if all.is_empty() {
                println!("no upstream providers");
                return Ok(());
            }
            println!("ID  NAME  ISSUER  ENABLED  TRUSTED-FOR-MFA  CREATE-PEOPLE");
            for u in &all {
                println!(
                    "{}  {}  {}  {}  {}  {}",
                    u.id,
                    u.name,
                    u.issuer,
                    yes_no(u.enabled),
                    yes_no(u.trusted_for_mfa),
                    yes_no(u.create_people)
                );
            }
            Ok(())
        }
        UpstreamCommand::Update(args) => {
            let id = parse_id(&args.id).map_err(refused)?;
            let s = &args.settings;
            let changes = UpstreamChanges {
                name: args.name.clone(),
                issuer: s.issuer.clone(),
                client_id: s.client_id.clone(),
                client_secret: secret(s)?,
                scope: s.scope.clone(),
                claim_mapping: s.claim_mapping.clone(),
                endpoints: endpoints(s),
                enabled: match (args.enable, args.disable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                trusted_for_mfa: args.trusted_for_mfa,
                create_people: args.create_people,
            };
            let ctx = Context::open(settings)?;
            let sealer = FactorSealer::from_kek(&ctx.kek);
            let upstream = upstreams::update(
                &ctx.admin_stores(),
                &sealer,
                &id,
                changes,
                &By::cli(clock::now()),
            )
            .map_err(refused)?;
            if args.json.json {
                return print_json(&describe(&ctx.settings, &upstream));
            }
            println!("updated upstream {}", upstream.id);
            Ok(())
        }
        UpstreamCommand::Delete { id, json } => {
            let id = parse_id(&id).map_err(refused)?;
            let ctx = Context::open(settings)?;
            upstreams::delete(&ctx.admin_stores(), &id, &By::cli(clock::now())).map_err(refused)?;
            if json.json {
                print_json(&json!({ "id": id.as_str(), "deleted": true }))
            } else {
                println!("deleted upstream {id} and the identities linked through it");
                Ok(())
            }
        }
    }
}
