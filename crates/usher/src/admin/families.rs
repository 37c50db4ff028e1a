//! `usher families list | revoke`, and the choice of family store (Redis when
//! `USHER_REDIS_URL` is set, else the embedded one in the database) that `serve` and
//! the admin commands share.

use std::sync::Arc;

use serde_json::{Value, json};
use usher_domain::{
    ClientId, Family, FamilyFilter, FamilyId, FamilyStore, RevokeReason, UserStore, Username,
};
use usher_families::RedisFamilyStore;
use usher_store::Database;

use super::{print_json, usage};
use crate::cli::FamiliesCommand;
use crate::clock;
use crate::config::{FamilyStoreSetting, Settings};
use crate::context::Context;

/// The family store the settings name. Redis is connected lazily: a Redis that is down
/// does not stop Usher from starting (it answers 503 and `/readyz` says why).
pub fn open_store(settings: &Settings, db: &Database) -> anyhow::Result<Arc<dyn FamilyStore>> {
    Ok(match &settings.family_store {
        FamilyStoreSetting::Embedded => Arc::new(db.clone()),
        FamilyStoreSetting::Redis(url) => Arc::new(RedisFamilyStore::connect(
            url.expose(),
            &settings.redis_prefix,
        )?),
    })
}

/// [`open_store`] for a command that changes families: its revocations are written to
/// the audit trail as done by the CLI (`usher_core::audit::audited_families`).
pub fn open_audited_store(ctx: &Context) -> anyhow::Result<Arc<dyn FamilyStore>> {
    Ok(usher_core::audit::audited_families(
        open_store(&ctx.settings, &ctx.db)?,
        Arc::new(ctx.db.clone()),
        usher_domain::AuditActor::Cli,
    ))
}

/// Runs a family-store call from synchronous admin code.
pub fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, usher_domain::StoreError>>,
) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future)?)
}

pub fn run(settings: Settings, command: FamiliesCommand) -> anyhow::Result<()> {
    match command {
        FamiliesCommand::List { user, client, json } => {
            let username = user
                .as_deref()
                .map(Username::parse)
                .transpose()
                .map_err(usage)?;
            let client = client
                .as_deref()
                .map(|c| {
                    ClientId::parse(c).ok_or_else(|| usage(format!("{c:?} is not a client id")))
                })
                .transpose()?;
            let ctx = Context::open(settings)?;
            let user = match &username {
                None => None,
                Some(name) => Some(
                    ctx.db
                        .find_user(name)?
                        .ok_or_else(|| anyhow::anyhow!("no user {name}"))?
                        .id,
                ),
            };
            let store = open_store(&ctx.settings, &ctx.db)?;
            let families = block_on(store.list(&FamilyFilter { user, client }))?;
            let now = clock::now();
            if json.json {
                print_json(&Value::Array(
                    families.iter().map(|f| describe(f, now)).collect(),
                ))
            } else {
                if families.is_empty() {
                    println!("no refresh-token families");
                }
                for f in &families {
                    let revoked = f
                        .revoked
                        .map(|r| format!("  ({})", r.reason.as_str()))
                        .unwrap_or_default();
                    println!(
                        "{}  client {}  subject {}  created {}  rotated {}  {}{}",
                        f.id,
                        f.client_id,
                        f.user_id,
                        clock::rfc3339(f.created_at),
                        f.last_rotated_at.map_or("never".to_owned(), clock::rfc3339),
                        f.state(now).as_str(),
                        revoked
                    );
                }
                Ok(())
            }
        }
        FamiliesCommand::Revoke { id, json } => {
            let id = FamilyId::parse(&id)
                .ok_or_else(|| usage(format!("{id:?} is not a refresh-token family id")))?;
            let ctx = Context::open(settings)?;
            let store = open_audited_store(&ctx)?;
            if !block_on(store.revoke(&id, RevokeReason::Admin, clock::now()))?.exists() {
                anyhow::bail!("no refresh-token family {id}");
            }
            tracing::info!(family_id = %id, "refresh-token family revoked by an administrator");
            if json.json {
                print_json(&json!({ "id": id.as_str(), "revoked": true }))
            } else {
                println!("revoked refresh-token family {id}");
                Ok(())
            }
        }
    }
}

/// A family as JSON (no token hash: it is of no use to anyone reading this).
fn describe(f: &Family, now: usher_domain::UnixTime) -> Value {
    json!({
        "id": f.id.as_str(),
        "client_id": f.client_id.as_str(),
        "subject": f.user_id.as_str(),
        "scope": f.scopes.to_string(),
        "created_at": clock::rfc3339(f.created_at),
        "last_rotated_at": f.last_rotated_at.map(clock::rfc3339),
        "expires_at": clock::rfc3339(f.ends_at()),
        "state": f.state(now).as_str(),
        "revoked_at": f.revoked.map(|r| clock::rfc3339(r.at)),
        "revoked_reason": f.revoked.map(|r| r.reason.as_str()),
    })
}
