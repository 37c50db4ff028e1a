//! `usher keys list | rotate [--now] [--alg ALG] | retire KID --compromised`: the signing
//! keys as operators see them, and the rotations they start by hand (every algorithm's
//! keys, or one algorithm's). The transitions go through
//! the same compare-and-set store methods as every node's rotation task
//! (`crate::rotation`); nodes pick the change up within `[keys] poll_interval`.

use serde_json::{Value, json};
use usher_domain::rotation;
use usher_domain::{
    AuditActor, AuditKind, KeyState, KeyStore, SigningAlg, SigningKeyRecord, UnixTime,
};

use super::{print_json, usage};
use crate::cli::KeysCommand;
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

pub fn run(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List(flag) => list(settings, flag.json),
        KeysCommand::Rotate { now, alg, json } => {
            // Checked before anything is opened.
            let algs = match alg.as_deref() {
                None => SigningAlg::ALL.to_vec(),
                Some(raw) => vec![SigningAlg::parse(raw).ok_or_else(|| {
                    usage(format!(
                        "--alg {raw:?} is not RS256, ES256 or EdDSA (names are case-sensitive)"
                    ))
                })?],
            };
            if now {
                rotate_now(settings, &algs, json.json)
            } else {
                rotate(settings, &algs, json.json)
            }
        }
        KeysCommand::Retire {
            kid,
            compromised: _,
            json,
        } => {
            // Checked before anything is opened: a kid is an RFC 7638 thumbprint.
            let plausible = (1..=128).contains(&kid.len())
                && kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !plausible {
                return Err(usage(format!(
                    "{kid:?} is not a key id; `usher keys list` shows them"
                )));
            }
            retire_compromised(settings, &kid, json.json)
        }
    }
}

fn list(settings: Settings, as_json: bool) -> anyhow::Result<()> {
    let ctx = Context::open(settings)?;
    let keys = ctx.db.list_keys()?;
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

/// Publishes a next key of each of `algs` (unless one is already published); each
/// activates on schedule.
fn rotate(settings: Settings, algs: &[SigningAlg], as_json: bool) -> anyhow::Result<()> {
    let ctx = Context::open(settings)?;
    let schedule = ctx.settings.keys.schedule(ctx.settings.access_token_ttl);
    let now = clock::now();
    let mut out = Vec::new();
    for &alg in algs {
        let records = ctx.db.list_keys()?;
        let (key, created) = match rotation::next_key(&records, alg, &schedule) {
            Some(existing) => (existing.clone(), false),
            None => {
                let planned = rotation::Transition::CreateNext {
                    alg,
                    activate_after: now.plus(schedule.prepublish),
                };
                crate::rotation::perform(
                    &ctx.db,
                    &cli_trail(&ctx),
                    &ctx.kek,
                    ctx.settings.keys.bits,
                    &planned,
                    now,
                )?;
                let records = ctx.db.list_keys()?;
                let key = rotation::next_key(&records, alg, &schedule)
                    .cloned()
                    .ok_or_else(|| {
                        anyhow::anyhow!("the next {alg} key was not stored; run the command again")
                    })?;
                (key, true)
            }
        };
        let activates = rotation::activates_at(&key, &schedule);
        if as_json {
            let mut v = describe(&key);
            v["created_now"] = json!(created);
            out.push(v);
        } else if created {
            println!(
                "published {} as the next {alg} key; it signs from {} (after the {} s pre-publication period)",
                key.kid,
                clock::rfc3339(activates),
                schedule.prepublish
            );
        } else {
            println!(
                "a next {alg} key is already published: {}; it signs from {}",
                key.kid,
                clock::rfc3339(activates)
            );
        }
    }
    if as_json {
        return print_json(&json!({ "keys": out }));
    }
    Ok(())
}

/// Emergency: a key of each of `algs` signs at once.
fn rotate_now(settings: Settings, algs: &[SigningAlg], as_json: bool) -> anyhow::Result<()> {
    let ctx = Context::open(settings)?;
    let keys = &ctx.settings.keys;
    let schedule = keys.schedule(ctx.settings.access_token_ttl);
    let now = clock::now();
    let mut out = Vec::new();
    for &alg in algs {
        let done =
            crate::rotation::promote_now(&ctx.db, &ctx.kek, alg, keys.bits, &schedule, now, false)?;
        record_emergency(&ctx, &done, now);
        warn_caches(
            &done.active,
            done.was_published,
            keys.effective_jwks_max_age(),
            keys.poll_interval,
        );
        if as_json {
            out.push(json!({
                "alg": alg.as_str(),
                "active": describe(&done.active),
                "previous": done.previous.as_ref().map(describe),
            }));
            continue;
        }
        println!("{} signs {alg} from now on", done.active.kid);
        if let Some(prev) = &done.previous {
            println!(
                "the previous {alg} key {} is retired and stays published until {}",
                prev.kid,
                opt(prev.remove_after)
            );
        }
    }
    if as_json {
        return print_json(&json!({ "keys": out }));
    }
    Ok(())
}

fn warn_caches(active: &SigningKeyRecord, was_published: bool, max_age: u64, poll: u64) {
    let since = if was_published {
        format!("was published at {}", clock::rfc3339(active.created_at))
    } else {
        "was published only now".to_owned()
    };
    eprintln!(
        "warning: {} ({}) signs at once but {since}: verifiers whose cached JWKS is older will not find its kid and reject its tokens until they refetch (at most {max_age} s, the JWKS max-age). Every node switches within {poll} s.",
        active.kid, active.alg
    );
}

/// Takes a compromised key out of the JWKS at once.
fn retire_compromised(settings: Settings, kid: &str, as_json: bool) -> anyhow::Result<()> {
    let ctx = Context::open(settings)?;
    let keys = &ctx.settings.keys;
    let schedule = keys.schedule(ctx.settings.access_token_ttl);
    let now = clock::now();
    let records = ctx.db.list_keys()?;
    let Some(key) = records.iter().find(|k| k.kid == kid) else {
        anyhow::bail!("there is no signing key {kid}; `usher keys list` shows them");
    };
    let mut replacement = None;
    match key.state {
        KeyState::Removed => anyhow::bail!("{kid} is already removed from the JWKS"),
        KeyState::Active => {
            let done = crate::rotation::promote_now(
                &ctx.db, &ctx.kek, key.alg, keys.bits, &schedule, now, true,
            )?;
            record_emergency(&ctx, &done, now);
            warn_caches(
                &done.active,
                done.was_published,
                keys.effective_jwks_max_age(),
                keys.poll_interval,
            );
            replacement = Some(done.active);
        }
        state => {
            let removed = rotation::removed(key, now);
            if !ctx.db.update_key_if(&removed, state)? {
                anyhow::bail!("another node changed {kid} at the same time; run the command again");
            }
            cli_trail(&ctx).record(AuditKind::KeyCompromised, &removed, now);
        }
    }
    tracing::warn!(kid, "a compromised signing key was removed from the JWKS");
    eprintln!(
        "warning: {kid} is removed. Every node stops publishing it and accepting its tokens within {} s; verifiers that cached the JWKS before may accept its tokens for up to {} s more (the JWKS max-age).",
        keys.poll_interval,
        keys.effective_jwks_max_age()
    );
    if as_json {
        return print_json(&json!({
            "removed": kid,
            "active": replacement.as_ref().map(describe),
        }));
    }
    println!("{kid} is removed from the JWKS");
    if let Some(active) = &replacement {
        println!("{} signs from now on", active.kid);
    }
    Ok(())
}

/// Key transitions done here are written to the audit trail as done by the CLI.
fn cli_trail(ctx: &Context) -> crate::rotation::Trail<'_> {
    crate::rotation::Trail {
        store: &ctx.db,
        actor: AuditActor::Cli,
    }
}

/// The events of an emergency promotion: the key created (if it was not published),
/// the key activated, and the previous one retired, or removed as compromised.
fn record_emergency(ctx: &Context, done: &crate::rotation::Emergency, now: UnixTime) {
    let trail = cli_trail(ctx);
    if !done.was_published {
        trail.record(AuditKind::KeyCreated, &done.active, now);
    }
    trail.record(AuditKind::KeyActivated, &done.active, now);
    if let Some(previous) = &done.previous {
        let kind = if previous.state == KeyState::Removed {
            AuditKind::KeyCompromised
        } else {
            AuditKind::KeyRetired
        };
        trail.record(kind, previous, now);
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
        "alg": k.alg.as_str(),
        "bits": k.bits,
        "created": clock::rfc3339(k.created_at),
        "activates": time(k.activate_after),
        "activated": time(k.activated_at),
        "retires": time(k.retire_after),
        "retired": time(k.retired_at),
        "removes": time(k.remove_after),
        "removed": time(k.removed_at),
    })
}
