//! `usher registration token create | list | revoke`: the initial access tokens that
//! `registration = "token"` asks a dynamic registration for (RFC 7591 §3;
//! docs/design/registration.md). Like Keycloak's: an expiry and a number of uses. The
//! token is printed once; only its keyed hash is stored.

use serde_json::{Value, json};
use usher_domain::{AuditActor, AuditEvent, AuditKind, InitialAccessToken, RegistrationStore};
use usher_keys::SecretHasher;

use super::{print_json, usage};
use crate::cli::{RegistrationCommand, RegistrationTokenCommand};
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

/// The longest an initial access token may work: a year.
const MAX_EXPIRES_IN: u64 = 365 * 24 * 3600;

pub fn run(settings: Settings, command: RegistrationCommand) -> anyhow::Result<()> {
    let RegistrationCommand::Token(command) = command;
    match command {
        RegistrationTokenCommand::Create {
            expires_in,
            max_uses,
            json,
        } => {
            if !(60..=MAX_EXPIRES_IN).contains(&expires_in) {
                return Err(usage(format!(
                    "--expires-in {expires_in} is not between 60 and {MAX_EXPIRES_IN} seconds"
                )));
            }
            if !(1..=1_000_000).contains(&max_uses) {
                return Err(usage(format!(
                    "--max-uses {max_uses} is not between 1 and 1000000"
                )));
            }
            let mode = settings.registration.mode;
            let ctx = Context::open(settings)?;
            let token = SecretHasher::generate_secret()?;
            let now = clock::now();
            let record = InitialAccessToken {
                id: uuid::Uuid::new_v4().to_string(),
                token_hash: ctx.secrets.hash(&token),
                created_at: now,
                expires_at: now.plus(i64::try_from(expires_in).unwrap_or(i64::MAX)),
                max_uses,
                uses: 0,
            };
            ctx.db.insert_initial_access_token(&record)?;
            tracing::info!(event = "initial_access_token_created", id = %record.id, max_uses, expires_at = record.expires_at.seconds(), "initial access token created");
            super::record(
                &ctx.db,
                AuditEvent::new(now, AuditKind::RegistrationTokenIssued, AuditActor::Cli)
                    .target(&record.id)
                    .detail(
                        json!({"max_uses": max_uses, "expires_at": record.expires_at.seconds()}),
                    ),
            );
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
                println!("max_uses:   {max_uses}");
                println!(
                    "(the token is shown only now; send it as Authorization: Bearer to POST /register)"
                );
                Ok(())
            }
        }
        RegistrationTokenCommand::List(flag) => {
            let ctx = Context::open(settings)?;
            let tokens = ctx.db.list_initial_access_tokens()?;
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
            if uuid::Uuid::parse_str(&id).is_err() {
                return Err(usage(format!("{id:?} is not an initial access token id")));
            }
            let ctx = Context::open(settings)?;
            if !ctx.db.delete_initial_access_token(&id)? {
                anyhow::bail!("no initial access token with id {id}");
            }
            tracing::info!(event = "initial_access_token_revoked", id = %id, "initial access token revoked");
            super::record(
                &ctx.db,
                AuditEvent::new(
                    clock::now(),
                    AuditKind::RegistrationTokenRevoked,
                    AuditActor::Cli,
                )
                .target(&id),
            );
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
