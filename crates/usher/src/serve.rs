//! `usher serve`: wire the stores, keys and HTTP layer together and listen.

use std::net::TcpListener;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use usher_domain::Issuer;
use usher_http::{AppState, HttpSettings, PublishedKeys};

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
    let db = Arc::new(ctx.db.clone());
    let state = AppState {
        settings: Arc::new(HttpSettings {
            issuer: settings.issuer.clone(),
            jwks_max_age: settings.keys.jwks_max_age,
        }),
        keys: Arc::new(RwLock::new(Arc::new(PublishedKeys::new(ring)))),
        discovery: discovery.into(),
        clients: db.clone(),
        users: db.clone(),
        database: db,
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
    actix_web::rt::System::new()
        .block_on(async move { usher_http::serve(listener, state, workers)?.await })?;
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
