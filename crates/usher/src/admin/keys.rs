//! `usher keys list | rotate | retire`: the signing keys and the operator's transitions
//! (`key_admin.rs`, shared with the admin API).

use serde_json::{Value, json};
use usher_core::admin::By;
use usher_core::admin::keys::{self, KeyAdmin, KeyView};
use usher_domain::UnixTime;

use super::{print_json, refused};
use crate::cli::KeysCommand;
use crate::clock;
use crate::config::Settings;
use crate::context::Context;
use crate::key_admin::KeyOps;

pub fn run(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List(flag) => list(settings, flag.json),
        KeysCommand::Rotate { now, alg, json } => {
            let algs = keys::parse_algs(alg.as_deref()).map_err(refused)?;
            let ctx = Context::open(settings)?;
            let ops = KeyOps::new(&ctx);
            if now {
                rotate_now(&ops, &algs, json.json)
            } else {
                rotate(&ops, &algs, json.json)
            }
        }
        KeysCommand::Retire {
            kid,
            compromised: _,
            json,
        } => {
            keys::check_kid(&kid).map_err(refused)?;
            let ctx = Context::open(settings)?;
            retire_compromised(&KeyOps::new(&ctx), &kid, json.json)
        }
    }
}

fn list(settings: Settings, as_json: bool) -> anyhow::Result<()> {
    let ctx = Context::open(settings)?;
    let keys = KeyOps::new(&ctx).list().map_err(refused)?;
    if as_json {
        return print_json(&Value::Array(keys.iter().map(describe).collect()));
    }
    if keys.is_empty() {
        println!("no signing keys yet: `usher serve` creates the first ones");
    }
    println!(
        "{:<43}  {:<5}  {:<7}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
        "kid", "alg", "state", "created", "activates", "activated", "retires", "removes"
    );
    for k in &keys {
        println!(
            "{:<43}  {:<5}  {:<7}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}",
            k.kid,
            k.alg.as_str(),
            k.state.as_str(),
            clock::rfc3339(k.created_at),
            opt(k.activate_after),
            opt(k.activated_at),
            opt(k.retired_at.or(k.retire_after)),
            opt(k.removed_at.or(k.remove_after)),
        );
    }
    Ok(())
}

fn rotate(ops: &KeyOps, algs: &[usher_domain::SigningAlg], as_json: bool) -> anyhow::Result<()> {
    let now = clock::now();
    let mut out = Vec::new();
    for &alg in algs {
        let next = ops.publish_next(alg, &By::cli(now)).map_err(refused)?;
        if as_json {
            let mut v = serde_json::to_value(&next.key)?;
            v["created_now"] = json!(next.created_now);
            out.push(v);
        } else if next.created_now {
            println!(
                "published {} as the next {alg} key; it signs from {} (after the pre-publication period)",
                next.key.kid, next.signs_from
            );
        } else {
            println!(
                "a next {alg} key is already published: {}; it signs from {}",
                next.key.kid, next.signs_from
            );
        }
    }
    if as_json {
        return print_json(&json!({ "keys": out }));
    }
    Ok(())
}

fn rotate_now(
    ops: &KeyOps,
    algs: &[usher_domain::SigningAlg],
    as_json: bool,
) -> anyhow::Result<()> {
    let now = clock::now();
    let mut out = Vec::new();
    for &alg in algs {
        let done = ops.promote_now(alg, &By::cli(now)).map_err(refused)?;
        eprintln!("warning: {}", ops.cache_warning(&done));
        if as_json {
            out.push(json!({
                "alg": done.alg,
                "active": done.active,
                "previous": done.previous,
            }));
            continue;
        }
        println!("{} signs {alg} from now on", done.active.kid);
        if let Some(prev) = &done.previous {
            println!(
                "the previous {alg} key {} is retired and stays published until {}",
                prev.kid,
                prev.removes.as_deref().unwrap_or("-")
            );
        }
    }
    if as_json {
        return print_json(&json!({ "keys": out }));
    }
    Ok(())
}

fn retire_compromised(ops: &KeyOps, kid: &str, as_json: bool) -> anyhow::Result<()> {
    let done = ops.retire(kid, &By::cli(clock::now())).map_err(refused)?;
    eprintln!("warning: {}", ops.removal_warning(kid));
    if as_json {
        return print_json(&json!({
            "removed": done.removed,
            "active": done.active,
        }));
    }
    println!("{kid} is removed from the JWKS");
    if let Some(active) = &done.active {
        println!("{} signs from now on", active.kid);
    }
    Ok(())
}

fn opt(t: Option<UnixTime>) -> String {
    t.map_or_else(|| "-".to_owned(), clock::rfc3339)
}

fn describe(k: &usher_domain::SigningKeyRecord) -> Value {
    serde_json::to_value(KeyView::of(k)).unwrap_or(Value::Null)
}
