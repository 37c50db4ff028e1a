//! What `serve` and every admin command share: the settings, the database (migrated),
//! the key-encryption key (KEK) and the key that hashes client secrets.
//!
//! The KEK is never created by accident: only `usher serve` on an empty database (no
//! signing key, no sealed value, no client secret) creates the missing KEK file. Every
//! other command refuses when the KEK is missing, before it opens the database, and
//! checks that its KEK opens the active signing key and the sealed hashing key before
//! it writes anything (docs/security.md, issue 12 item 17).

use anyhow::Context as _;
use usher_domain::{ClientStore, KeyState, KeyStore, SigningKeyRecord, UnixTime};
use usher_keys::{Kek, KeyRing, SecretHasher};
use usher_store::Database;

use crate::config::{KekSource, Settings};

/// The name of the sealed client-secret hashing key in the `sealed_values` table.
pub const HASHING_KEY: &str = "client-secret-hash";

pub struct Context {
    pub settings: Settings,
    pub db: Database,
    /// The KEK; while a KEK change rolls, it also opens values sealed under the previous
    /// one (`kek_previous`).
    pub kek: Kek,
    /// Hashes client secrets and refresh-token tags with the database's hashing key.
    pub secrets: SecretHasher,
}

impl Context {
    /// For admin commands: the KEK must exist (it is read before the database is
    /// opened, so a missing one writes nothing at all) and must open what the database
    /// holds.
    pub fn open(settings: Settings) -> anyhow::Result<Context> {
        let kek = match read_kek(&settings.kek, "kek")? {
            Some(kek) => kek,
            None => {
                return Err(missing_kek(
                    &settings.kek,
                    "this command does not create one: only `usher serve` on an empty database does. Nothing was written. Run the command with the KEK the server uses (USHER_KEK_FILE=/path/to/kek or USHER_KEK, the same configuration as `usher serve`; a relative path is read from the current directory), or, for a new installation, run `usher serve` once first",
                ));
            }
        };
        let kek = with_previous(kek, &settings)?;
        let db = open_database(&settings)?;
        Context::check(settings, db, kek, "Nothing was written")
    }

    /// For `usher serve`: like [`Context::open`], but on an empty database a missing KEK
    /// file is created (mode 0600).
    pub fn open_for_serve(settings: Settings) -> anyhow::Result<Context> {
        let found = read_kek(&settings.kek, "kek")?;
        let db = open_database(&settings)?;
        let kek = match (found, &settings.kek) {
            (Some(kek), _) => kek,
            (None, KekSource::File(path)) if is_empty(&db)? => {
                let (kek, created) = Kek::load_or_create_file(path).with_context(|| {
                    format!(
                        "USHER_KEK_FILE (kek_file): cannot create the key-encryption key at {}",
                        path.display()
                    )
                })?;
                if created {
                    tracing::info!(path = %path.display(), "created a new key-encryption key (mode 0600)");
                }
                kek
            }
            (None, source) => {
                return Err(missing_kek(
                    source,
                    "the database already holds signing keys or client secrets sealed under a KEK, so Usher refuses to start instead of creating a new one. Give it the KEK the other nodes (or its earlier runs) use: USHER_KEK_FILE=/path/to/kek or USHER_KEK (a relative path is read from the working directory)",
                ));
            }
        };
        let kek = with_previous(kek, &settings)?;
        Context::check(settings, db, kek, "Usher refuses to start")
    }

    /// Checks the KEK against the database, then loads (or, the first time, stores) the
    /// sealed hashing key. Nothing is written before the checks pass.
    fn check(settings: Settings, db: Database, kek: Kek, refusal: &str) -> anyhow::Result<Context> {
        let records = db.list_keys().context("cannot read the signing keys")?;
        let active: Vec<&SigningKeyRecord> = records
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .collect();
        for key in &active {
            if kek
                .decrypt(&key.private_key_encrypted, key.kid.as_bytes())
                .is_err()
            {
                anyhow::bail!(
                    "the KEK from {} does not open the active signing key {}: it is not the KEK the database's keys are sealed with. {refusal}. Give it the KEK every node uses (USHER_KEK_FILE or USHER_KEK, as for `usher serve`){}.",
                    settings.kek.describe("kek"),
                    key.kid,
                    previous_hint(&settings),
                );
            }
        }
        let secrets = match db.sealed_value(HASHING_KEY)? {
            Some(sealed) => unseal_hasher(&settings, &kek, &sealed, refusal)?,
            None => {
                // Before the hashing key was stored, it was derived from the KEK that
                // sealed the signing keys: keep that one, so existing secrets verify.
                let derived_from = match active.first() {
                    Some(key)
                        if kek
                            .current_only()
                            .decrypt(&key.private_key_encrypted, key.kid.as_bytes())
                            .is_err() =>
                    {
                        kek.previous().unwrap_or_else(|| kek.current_only())
                    }
                    _ => kek.current_only(),
                };
                let sealed = SecretHasher::from_kek(&derived_from)
                    .seal(&kek)
                    .context("cannot seal the client-secret hashing key")?;
                db.insert_sealed_value(HASHING_KEY, &sealed, crate::clock::now())?;
                // Another node may have stored it first: use what is stored.
                let stored = db
                    .sealed_value(HASHING_KEY)?
                    .context("the client-secret hashing key was not stored")?;
                unseal_hasher(&settings, &kek, &stored, refusal)?
            }
        };
        Ok(Context {
            settings,
            db,
            kek,
            secrets,
        })
    }
}

fn unseal_hasher(
    settings: &Settings,
    kek: &Kek,
    sealed: &str,
    refusal: &str,
) -> anyhow::Result<SecretHasher> {
    SecretHasher::unseal(kek, sealed).map_err(|_| {
        anyhow::anyhow!(
            "the KEK from {} does not open the database's client-secret hashing key: it is not the KEK this database was set up with. {refusal}. Give it the KEK every node uses (USHER_KEK_FILE or USHER_KEK, as for `usher serve`){}.",
            settings.kek.describe("kek"),
            previous_hint(settings),
        )
    })
}

fn previous_hint(settings: &Settings) -> &'static str {
    if settings.kek_previous.is_some() {
        ""
    } else {
        "; during a KEK change, also the previous KEK as USHER_KEK_PREVIOUS_FILE"
    }
}

/// Connects to the database and applies pending migrations. The URL appears in
/// messages only redacted.
pub fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let db = Database::connect(settings.database_url.expose())
        .with_context(|| format!("cannot open the database {}", settings.database_url))?;
    let applied = db
        .migrate()
        .context("cannot apply the database migrations")?;
    if applied > 0 {
        tracing::info!(applied, "applied database migrations");
    }
    Ok(db)
}

/// Whether nothing in the database depends on a KEK yet: no signing key, no sealed
/// value, no client secret.
fn is_empty(db: &Database) -> anyhow::Result<bool> {
    Ok(db.list_keys()?.is_empty()
        && db.sealed_value(HASHING_KEY)?.is_none()
        && !db.list_clients()?.iter().any(|c| c.secret_hash.is_some()))
}

/// The KEK from its source; `None` for a file that does not exist.
fn read_kek(source: &KekSource, setting: &str) -> anyhow::Result<Option<Kek>> {
    let name = setting.to_uppercase();
    match source {
        KekSource::Value(v) => Kek::from_base64(v)
            .map(Some)
            .with_context(|| format!("USHER_{name} ({setting}) is not usable")),
        KekSource::File(path) => Kek::read_file(path).with_context(|| {
            format!(
                "USHER_{name}_FILE ({setting}_file): cannot use the key-encryption key at {}",
                path.display()
            )
        }),
    }
}

/// Adds the previous KEK (`kek_previous`), which must exist: it is never created.
fn with_previous(kek: Kek, settings: &Settings) -> anyhow::Result<Kek> {
    let Some(source) = &settings.kek_previous else {
        return Ok(kek);
    };
    match read_kek(source, "kek_previous")? {
        Some(previous) => Ok(kek.with_previous(&previous)),
        None => anyhow::bail!(
            "there is no previous key-encryption key at {}: set USHER_KEK_PREVIOUS_FILE to the KEK being replaced, or unset it",
            source.describe("kek_previous")
        ),
    }
}

/// The refusal when the KEK is missing: where Usher looked, then `advice`.
fn missing_kek(source: &KekSource, advice: &str) -> anyhow::Error {
    let looked = match source {
        KekSource::File(path) if path.is_relative() => match std::env::current_dir() {
            Ok(dir) => format!("{} (from {})", source.describe("kek"), dir.display()),
            Err(_) => source.describe("kek"),
        },
        _ => source.describe("kek"),
    };
    anyhow::anyhow!("there is no key-encryption key (KEK) at {looked}; {advice}.")
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
