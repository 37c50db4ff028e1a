//! `usher registration token create | list | revoke`: the initial access tokens that
//! `registration = "token"` asks a dynamic registration for (RFC 7591 §3;
//! docs/design/registration.md). Like Keycloak's: an expiry and a number of uses. The
//! token is printed once; only its keyed hash is stored.

use serde_json::{Value, json};
use usher_core::admin::By;
use usher_core::admin::registration_tokens::{self, Created, TokenInput};
use usher_domain::InitialAccessToken;

use super::{print_json, refused};
use crate::cli::{RegistrationCommand, RegistrationTokenCommand};
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

pub fn run(settings: Settings, command: RegistrationCommand) -> anyhow::Result<()> {
    let RegistrationCommand::Token(command) = command;
    match command {
        RegistrationTokenCommand::Create {
            expires_in,
            max_uses,
            json,
        } => {
            let input = TokenInput::parse(expires_in, max_uses).map_err(refused)?;
            let mode = settings.registration.mode;
            let ctx = Context::open(settings)?;
            let Created { record, token } = registration_tokens::create(
                &ctx.admin_stores(),
                &ctx.secrets,
                input,
                &By::cli(clock::now()),
            )
            .map_err(refused)?;
            if mode != usher_domain::RegistrationMode::Token {
                eprintln!(
                    "note: registration is {:?}, so this token is not asked for until registration = \"token\"",
                    mode.as_str()
                );
            }
            if json.json {
                let mut doc = describe(&record);
                if let Some(obj) = doc.as_object_mut() {
                    obj.insert("token".into(), Value::String(token));
                }
                print_json(&doc)
            } else {
                println!("id:         {}", record.id);
                println!("token:      {token}");
                println!("expires_at: {}", record.expires_at.seconds());
                println!("max_uses:   {}", record.max_uses);
                println!(
                    "(the token is shown only now; send it as Authorization: Bearer to POST /register)"
                );
                Ok(())
            }
        }
        RegistrationTokenCommand::List(flag) => {
            let ctx = Context::open(settings)?;
            let tokens = registration_tokens::all(&ctx.admin_stores()).map_err(refused)?;
            if flag.json {
                return print_json(&Value::Array(tokens.iter().map(describe).collect()));
            }
            if tokens.is_empty() {
                println!("no initial access tokens");
            }
            for t in &tokens {
                println!(
                    "{}  uses {}/{}  expires_at {}",
                    t.id,
                    t.uses,
                    t.max_uses,
                    t.expires_at.seconds()
                );
            }
            Ok(())
        }
        RegistrationTokenCommand::Revoke { id, json } => {
            let id = registration_tokens::parse_id(&id).map_err(refused)?;
            let ctx = Context::open(settings)?;
            registration_tokens::revoke(&ctx.admin_stores(), &id, &By::cli(clock::now()))
                .map_err(refused)?;
            if json.json {
                print_json(&json!({ "id": id, "revoked": true }))
            } else {
                println!("revoked initial access token {id}");
                Ok(())
            }
        }
    }
}

fn describe(t: &InitialAccessToken) -> Value {
    json!({
        "id": t.id,
        "created_at": t.created_at.seconds(),
        "expires_at": t.expires_at.seconds(),
        "max_uses": t.max_uses,
        "uses": t.uses,
    })
}
