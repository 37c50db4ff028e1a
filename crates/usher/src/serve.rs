//! `usher serve`: wire the stores, keys and HTTP layer together and listen; and
//! [`Node`], the same server started in-process with a given clock, for tests.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use usher_core::{Clock, Core, PublishedKeys, Stores, SystemClock};
use usher_domain::{Issuer, KeyStore};
use usher_keys::FormSealer;

use crate::config::{FamilyStoreSetting, Settings};
use crate::context::{self, Context};
use crate::rotation::{self, Rotator, TickReport};

/// Everything a node needs before it starts serving.
struct Prepared {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    admin_listener: Option<TcpListener>,
    local: SocketAddr,
    issuer: String,
    state: Core,
    rotator: Arc<Rotator>,
    poll_interval: Duration,
    workers: usize,
    db: usher_store::Database,
    backchannel_poll: Duration,
    audit_retention_days: Option<u32>,
}

fn prepare(mut ctx: Context, clock: Arc<dyn Clock>, dev_mail: bool) -> anyhow::Result<Prepared> {
    let ring = context::load_key_ring(&ctx, clock.now())?;
    let records = ctx.db.list_keys().context("cannot read the signing keys")?;
    let listener = TcpListener::bind(ctx.settings.bind)
        .with_context(|| format!("USHER_BIND (bind): cannot listen on {}", ctx.settings.bind))?;
    let local = listener.local_addr()?;
    let metrics_listener = match ctx.settings.metrics_bind {
        None => None,
        Some(addr) => Some(TcpListener::bind(addr).with_context(|| {
            format!("USHER_METRICS_BIND (metrics_bind): cannot listen on {addr}")
        })?),
    };
    let admin_listener =
        match ctx.settings.admin_bind {
            None => None,
            Some(addr) => Some(TcpListener::bind(addr).with_context(|| {
                format!("USHER_ADMIN_BIND (admin_bind): cannot listen on {addr}")
            })?),
        };
    let metrics_local = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    if ctx.settings.issuer_from_bind && ctx.settings.bind.port() == 0 {
        ctx.settings.issuer = Issuer::parse(&format!("http://{local}"))
            .map_err(|e| anyhow::anyhow!("USHER_ISSUER (issuer): {e}"))?;
    }
    let settings = &ctx.settings;
    let discovery = usher_http::endpoints::discovery::render(
        &settings.issuer,
        usher_http::endpoints::discovery::ClientIntake {
            registration: settings.registration.mode.is_on(),
            client_metadata_documents: settings.client_metadata_documents,
        },
    )
    .map_err(anyhow::Error::msg)?;
    let mut http = usher_core::Settings::new(settings.issuer.clone());
    // Derived so that a next key is published for two cache lifetimes before it signs.
    http.jwks_max_age = settings.keys.effective_jwks_max_age();
    http.access_token_ttl = settings.access_token_ttl;
    http.session_ttl = settings.session_ttl;
    http.device_code_ttl = settings.device_code_ttl;
    http.device_poll_interval = settings.device_interval;
    http.default_audience = settings.default_audience.clone();
    http.trusted_proxies = settings.trusted_proxies.clone();
    http.metrics_on_main = settings.metrics_on_main_listener;
    http.admin_on_main = admin_listener.is_none();
    http.mfa = settings.mfa;
    http.signup = settings.signup;
    http.client_metadata.enabled = settings.client_metadata_documents;
    http.registration = settings.registration;
    http.access_token_alg = settings.access_token_alg;
    http.id_token_alg = settings.id_token_alg;
    http.backchannel = settings.backchannel.core();
    http.refresh = usher_core::RefreshSettings {
        absolute_ttl: settings.families.absolute_ttl,
        idle_ttl: settings.families.idle_ttl,
        grace: settings.families.grace,
    };
    let mut stores = Stores::all_in(Arc::new(ctx.db.clone()));
    stores.families = usher_core::audit::audited_families(
        usher_core::counted::counted(crate::admin::families::open_store(settings, &ctx.db)?),
        Arc::new(ctx.db.clone()),
        usher_domain::AuditActor::System,
    );
    let state = Core {
        settings: Arc::new(http),
        keys: Arc::new(RwLock::new(Arc::new(PublishedKeys::new(ring)))),
        discovery: discovery.into(),
        stores,
        secrets: ctx.secrets.clone(),
        sealer: FormSealer::from_kek(&ctx.kek),
        factor_sealer: usher_keys::FactorSealer::from_kek(&ctx.kek),
        // Upstream providers are called through the same guarded client: no redirect
        // followed, no private address (loopback only for a loopback issuer), timeouts.
        upstream_providers: usher_core::upstream::Providers::new(
            usher_core::outbound::Outbound::new(
                settings.backchannel.core().outbound,
                &settings.issuer,
            )
            .map_err(anyhow::Error::msg)?,
        ),
        passwords: usher_core::passwords::PasswordPool::new(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ),
        caches: Arc::new(usher_core::cache::Caches::new(settings.cache_ttl)),
        mail: usher_core::mail::Mailing {
            compose: Arc::new(usher_http::mail::Templates),
            outbox: crate::mail::outbox(&settings.mail, &settings.issuer, dev_mail)?,
        },
        // Documents are fetched through the guarded client, like back-channel logouts.
        metadata_documents: usher_core::client_metadata::MetadataDocuments::new(Arc::new(
            usher_core::outbound::Outbound::new(
                settings.backchannel.core().outbound,
                &settings.issuer,
            )
            .map_err(anyhow::Error::msg)?,
        )),
        clock,
        key_admin: Some(Arc::new(crate::key_admin::KeyOps::new(&ctx))),
    };
    // Access tokens and ID tokens share one lifetime: the longest any key signs for.
    let schedule = settings.keys.schedule(settings.access_token_ttl);
    let rotator = Arc::new(Rotator::new(
        Arc::new(ctx.db.clone()),
        ctx.kek.clone(),
        settings.keys.bits,
        schedule,
        state.clone(),
        &records,
    ));
    let family_store = match &settings.family_store {
        FamilyStoreSetting::Embedded => "embedded (SQL database)".to_owned(),
        FamilyStoreSetting::Redis(url) => format!("redis {url}"),
    };
    tracing::info!(
        listen = %format!("http://{local}"),
        metrics = %metrics_where(local, metrics_local, settings.metrics_on_main_listener),
        issuer = %settings.issuer,
        database = %ctx.db.display_url(),
        kek_fingerprint = %ctx.kek.fingerprint(),
        family_store = %family_store,
        jwks_max_age = state.settings.jwks_max_age,
        rotate_every = settings.keys.rotate_every,
        prepublish = settings.keys.prepublish,
        "usher is listening"
    );
    if let Some(written) = &settings.issuer_as_written {
        tracing::warn!(
            event = "issuer_normalised",
            written = %written,
            issuer = %settings.issuer,
            "the issuer's scheme or host was written with capitals; tokens (iss) and discovery use the lower-case spelling: configure relying parties and resource servers with it, or write it that way"
        );
    }
    Ok(Prepared {
        listener,
        metrics_listener,
        admin_listener,
        local,
        issuer: settings.issuer.as_str().to_owned(),
        state,
        rotator,
        poll_interval: Duration::from_secs(settings.keys.poll_interval),
        workers: settings.workers,
        db: ctx.db.clone(),
        backchannel_poll: Duration::from_secs(settings.backchannel.poll_interval),
        audit_retention_days: settings.audit_retention_days,
    })
}

pub fn run(ctx: Context, dev_mail: bool) -> anyhow::Result<()> {
    let p = prepare(ctx, Arc::new(SystemClock), dev_mail)?;
    let Prepared {
        listener,
        metrics_listener,
        admin_listener,
        state,
        rotator,
        poll_interval,
        workers,
        db,
        backchannel_poll,
        audit_retention_days,
        ..
    } = p;
    let outbound = usher_core::outbound::Outbound::new(
        state.settings.backchannel.outbound,
        &state.settings.issuer,
    )
    .map_err(anyhow::Error::msg)?;
    actix_web::rt::System::new().block_on(async move {
        actix_web::rt::spawn(purge_expired_forever(
            db,
            state.settings.registration.unused_after,
            audit_retention_days,
        ));
        // Any node may deliver any queued logout: the queue is in the database
        // (docs/design/accounts.md).
        actix_web::rt::spawn(usher_core::backchannel::deliver_forever(
            state.clone(),
            outbound,
            backchannel_poll,
        ));
        actix_web::rt::spawn(rotation::run_forever(rotator, poll_interval));
        if let Some(l) = metrics_listener {
            let metrics = usher_http::serve_metrics(l)?;
            actix_web::rt::spawn(async move {
                if let Err(e) = metrics.await {
                    tracing::error!(cause = %e, "the metrics listener failed");
                }
            });
        }
        if let Some(l) = admin_listener {
            let admin = usher_http::serve_admin(l, state.clone(), 1)?;
            actix_web::rt::spawn(async move {
                if let Err(e) = admin.await {
                    tracing::error!(cause = %e, "the admin listener failed");
                }
            });
        }
        // Returns when SIGTERM or SIGINT has stopped the server gracefully.
        usher_http::serve(listener, state, workers)?.await
    })?;
    tracing::info!("usher stopped");
    Ok(())
}

/// A whole Usher node running in this process on its own thread, with the clock it was
/// given and no background tasks: its key rotation runs only when [`Node::tick`] is
/// called. Integration tests use it to run several nodes over one database and drive
/// months of rotations with a fake clock. Stopped when dropped.
pub struct Node {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub issuer: String,
    rotator: Arc<Rotator>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Opens the database (migrating it), loads the keys and starts serving on
    /// `settings.bind` (use `127.0.0.1:0`).
    pub fn start(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Node> {
        let p = prepare(Context::open_for_serve(settings)?, clock, false)?;
        let Prepared {
            listener,
            local,
            issuer,
            state,
            rotator,
            workers,
            ..
        } = p;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match usher_http::serve(listener, state, workers) {
                    Ok(server) => {
                        let _ = tx.send(Ok(server.handle()));
                        if let Err(e) = server.await {
                            tracing::error!(cause = %e, "the server failed");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
        let handle = rx
            .recv()
            .context("the server thread ended before it started")??;
        Ok(Node {
            base: format!("http://{local}"),
            issuer,
            rotator,
            handle,
            thread: Some(thread),
        })
    }

    /// One rotation tick now, as the background task would run it.
    pub fn tick(&self) -> anyhow::Result<TickReport> {
        self.rotator.tick()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Sends the stop command at once; joining the thread waits for the server.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where `/metrics` is served, for the listening line.
fn metrics_where(local: SocketAddr, separate: Option<SocketAddr>, on_main: bool) -> String {
    let mut at: Vec<String> = separate
        .iter()
        .map(|m| format!("http://{m}/metrics"))
        .collect();
    if on_main {
        at.push(format!("http://{local}/metrics"));
    }
    if at.is_empty() {
        "off (set USHER_METRICS_BIND)".to_owned()
    } else {
        at.join(" ")
    }
}

/// Every ten minutes, deletes expired sessions, interactions, codes, revocations and
/// throttle counters, and the dynamically registered clients unused for
/// `unused_after` seconds (`registration_unused_after`; 0: never), and the audit events
/// older than `audit_retention_days` (`None`: kept forever). Every node does it; the
/// deletes are idempotent.
async fn purge_expired_forever(
    db: usher_store::Database,
    unused_after: i64,
    audit_retention_days: Option<u32>,
) {
    let mut every = actix_web::rt::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        let db = db.clone();
        let purge = move || {
            let now = crate::clock::now();
            let deleted = db.purge_expired(now)?
                + db.purge_expired_families(now)?
                + db.purge_unused_clients(now, unused_after)?;
            // The trail last, and its failure alone: it never holds the sign-in records'
            // purge back (docs/design/audit.md).
            let audit = match audit_retention_days {
                Some(days) => usher_domain::AuditStore::purge_events_before(
                    &db,
                    now.plus(-i64::from(days) * 86_400),
                )
                .unwrap_or_else(|e| {
                    tracing::warn!(cause = %e, "purging the audit trail failed");
                    0
                }),
                None => 0,
            };
            Ok(deleted + audit)
        };
        match actix_web::rt::task::spawn_blocking(
            move || -> Result<usize, usher_store::StoreError> { purge() },
        )
        .await
        {
            Ok(Ok(n)) if n > 0 => tracing::debug!(deleted = n, "purged expired records"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(cause = %e, "purging expired records failed"),
            Err(e) => tracing::warn!(cause = %e, "the purge task failed"),
        }
    }
}
