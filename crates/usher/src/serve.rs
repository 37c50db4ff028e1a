//! `usher serve`: wire the stores, keys and HTTP layer together and listen.

use std::net::TcpListener;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use usher_domain::Issuer;
use usher_http::{AppState, HttpSettings, PublishedKeys, Stores, SystemClock};
use usher_keys::SecretHasher;

use crate::config::FamilyStoreSetting;
use crate::context::{self, Context};

pub fn run(mut ctx: Context) -> anyhow::Result<()> {
    let ring = context::load_key_ring(&ctx)?;
    let listener = TcpListener::bind(ctx.settings.bind)
        .with_context(|| format!("USHER_BIND (bind): cannot listen on {}", ctx.settings.bind))?;
    let local = listener.local_addr()?;
    if ctx.settings.issuer_from_bind && ctx.settings.bind.port() == 0 {
        ctx.settings.issuer = Issuer::parse(&format!("http://{local}"))
            .map_err(|e| anyhow::anyhow!("USHER_ISSUER (issuer): {e}"))?;
    }
    let settings = &ctx.settings;
    let discovery =
        usher_http::endpoints::discovery::render(&settings.issuer).map_err(anyhow::Error::msg)?;
    let mut http = HttpSettings::new(settings.issuer.clone());
    http.jwks_max_age = settings.keys.jwks_max_age;
    http.access_token_ttl = settings.access_token_ttl;
    http.session_ttl = settings.session_ttl;
    let state = AppState {
        settings: Arc::new(http),
        keys: Arc::new(RwLock::new(Arc::new(PublishedKeys::new(ring)))),
        discovery: discovery.into(),
        stores: Stores::all_in(Arc::new(ctx.db.clone())),
        secrets: SecretHasher::from_kek(&ctx.kek),
        clock: Arc::new(SystemClock),
    };
    let family_store = match &settings.family_store {
        FamilyStoreSetting::Embedded => "embedded (SQL database)".to_owned(),
        FamilyStoreSetting::Redis(url) => format!("redis {}", redact_url(url)),
    };
    tracing::info!(
        listen = %format!("http://{local}"),
        issuer = %settings.issuer,
        database = %ctx.db.display_url(),
        family_store = %family_store,
        "usher is listening"
    );
    let workers = settings.workers;
    let db = ctx.db.clone();
    actix_web::rt::System::new().block_on(async move {
        actix_web::rt::spawn(purge_expired_forever(db));
        usher_http::serve(listener, state, workers)?.await
    })?;
    tracing::info!("usher stopped");
    Ok(())
}

/// A URL with any password replaced, for logs.
fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparseable URL)".to_owned(),
    }
}

/// Every ten minutes, deletes expired sessions, interactions, codes, revocations and
/// throttle counters. Every node does it; the deletes are idempotent.
async fn purge_expired_forever(db: usher_store::Database) {
    let mut every = actix_web::rt::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        let db = db.clone();
        match actix_web::rt::task::spawn_blocking(move || db.purge_expired(crate::clock::now()))
            .await
        {
            Ok(Ok(n)) if n > 0 => tracing::debug!(deleted = n, "purged expired records"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(cause = %e, "purging expired records failed"),
            Err(e) => tracing::warn!(cause = %e, "the purge task failed"),
        }
    }
}
