//! `usher keys list`.

use serde_json::{Value, json};
use usher_domain::{KeyStore, SigningKeyRecord, UnixTime};

use super::print_json;
use crate::cli::KeysCommand;
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

pub fn run(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List(flag) => {
            let ctx = Context::open(settings)?;
            let keys = ctx.db.list_keys()?;
            if flag.json {
                return print_json(&Value::Array(keys.iter().map(describe).collect()));
            }
            if keys.is_empty() {
                println!("no signing keys yet: `usher serve` creates the first one");
            }
            println!(
                "{:<43}  {:<8}  {:<20}  {:<20}  {:<20}",
                "kid", "state", "created", "activated", "retires"
            );
            for k in &keys {
                println!(
                    "{:<43}  {:<8}  {:<20}  {:<20}  {:<20}",
                    k.kid,
                    k.state.as_str(),
                    clock::rfc3339(k.created_at),
                    opt(k.activated_at),
                    opt(k.retire_after.or(k.retired_at)),
                );
            }
            Ok(())
        }
    }
}

fn opt(t: Option<UnixTime>) -> String {
    t.map_or_else(|| "-".to_owned(), clock::rfc3339)
}

fn describe(k: &SigningKeyRecord) -> Value {
    let time = |t: Option<UnixTime>| t.map(clock::rfc3339);
    json!({
        "kid": k.kid,
        "state": k.state.as_str(),
        "alg": k.alg,
        "bits": k.bits,
        "created": clock::rfc3339(k.created_at),
        "activated": time(k.activated_at),
        "retires": time(k.retire_after),
        "retired": time(k.retired_at),
        "removes": time(k.remove_after),
    })
}
