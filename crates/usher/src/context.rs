//! What `serve` and every admin command share: the settings, the database (migrated) and
//! the key-encryption key.

use anyhow::Context as _;
use usher_domain::{KeyState, KeyStore, UnixTime};
use usher_keys::{Kek, KeyRing};
use usher_store::Database;

use crate::config::{KekSource, Settings};

pub struct Context {
    pub settings: Settings,
    pub db: Database,
    pub kek: Kek,
}

impl Context {
    /// Connects to the database, applies pending migrations and loads (or, for the
    /// embedded default file, creates) the KEK.
    pub fn open(settings: Settings) -> anyhow::Result<Context> {
        let db = Database::connect(&settings.database_url)
            .with_context(|| format!("cannot open the database {}", settings.database_url))?;
        let applied = db
            .migrate()
            .context("cannot apply the database migrations")?;
        if applied > 0 {
            tracing::info!(applied, "applied database migrations");
        }
        let kek = load_kek(&settings.kek)?;
        Ok(Context { settings, db, kek })
    }
}

fn load_kek(source: &KekSource) -> anyhow::Result<Kek> {
    match source {
        KekSource::Value(v) => Kek::from_base64(v).context("USHER_KEK (kek) is not usable"),
        KekSource::File(path) => {
            let (kek, created) = Kek::load_or_create_file(path).with_context(|| {
                format!(
                    "USHER_KEK_FILE (kek_file): cannot use the key-encryption key at {}",
                    path.display()
                )
            })?;
            if created {
                tracing::info!(path = %path.display(), "created a new key-encryption key (mode 0600)");
            }
            Ok(kek)
        }
    }
}

/// Makes sure one key is active (creating the first one on a fresh database) and builds
/// the key ring. Refuses when the active key does not decrypt under this KEK.
pub fn load_key_ring(ctx: &Context, now: UnixTime) -> anyhow::Result<KeyRing> {
    let mut records = ctx.db.list_keys().context("cannot read the signing keys")?;
    if !records.iter().any(|k| k.state == KeyState::Active) {
        let mut key = usher_keys::generate_signing_key(
            &ctx.kek,
            ctx.settings.keys.bits,
            KeyState::Active,
            now,
        )
        .context("cannot generate a signing key")?;
        key.activated_at = Some(now);
        key.retire_after = Some(now.plus(ctx.settings.keys.rotate_every));
        match ctx.db.insert_key(&key) {
            Ok(()) => {
                tracing::info!(kid = %key.kid, bits = key.bits, "generated the first signing key")
            }
            // Another node won the race to create the first key: use theirs.
            Err(e) => tracing::info!(cause = %e, "another node created the first signing key"),
        }
        records = ctx.db.list_keys().context("cannot read the signing keys")?;
    }
    KeyRing::from_records(&records, &ctx.kek).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nUsher refuses to start: it cannot sign with the active key. Give it the KEK the key was created with (USHER_KEK or keys/kek)."
        )
    })
}
