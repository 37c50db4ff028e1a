//! What `serve` and every admin command share: the settings, the database (migrated),
//! the key-encryption key (KEK) and the key that hashes client secrets.
//!
//! The KEK is never created by accident: only `usher serve` on an empty database (no
//! signing key, no sealed value, no client secret) creates the missing KEK file. Every
//! other command refuses when the KEK is missing, before it opens the database, and
//! checks that its KEK opens the active signing key and the sealed hashing key before
//! it writes anything (docs/security.md, issue 12 item 17).

use std::path::PathBuf;

use anyhow::Context as _;
use usher_domain::{
    ClientStore, KeyState, KeyStore, SigningAlg, SigningKeyRecord, StoreError, UnixTime,
};
use usher_keys::{Kek, KeyRing, SecretHasher};
use usher_store::Database;

use crate::config::{KekSource, Settings};

/// The name of the sealed client-secret hashing key in the `sealed_values` table.
pub const HASHING_KEY: &str = "client-secret-hash";
/// The `kek_markers` row naming the KEK a rolling KEK change goes to (its fingerprint).
pub const KEK_TARGET: &str = "kek-target";
/// The `kek_markers` row holding the fingerprint of the stored hashing key: while it is
/// there, a missing hashing key is never derived again.
pub const HASHING_KEY_ID: &str = "client-secret-hash-id";

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
    /// The stores of the administrative operations (`usher_core::admin`), on this
    /// database.
    pub fn admin_stores(&self) -> usher_core::admin::AdminStores {
        usher_core::admin::AdminStores::all_in(std::sync::Arc::new(self.db.clone()))
    }

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
        Context::check(settings, db, kek, None, "Nothing was written")
    }

    /// For `usher serve`: like [`Context::open`], but on an empty database a missing KEK
    /// file is created (mode 0600).
    pub fn open_for_serve(settings: Settings) -> anyhow::Result<Context> {
        let found = read_kek(&settings.kek, "kek")?;
        let db = open_database(&settings)?;
        let (kek, new_file) = match (found, &settings.kek) {
            (Some(kek), _) => (kek, None),
            // Generated in memory: the file is written only once this process has
            // stored the hashing key under it, so the loser of a race between two
            // first starts leaves no KEK file behind (review D).
            (None, KekSource::File(path)) if is_empty(&db)? => (
                Kek::generate().context("cannot generate a key-encryption key")?,
                Some(path.clone()),
            ),
            (None, source) => {
                return Err(missing_kek(
                    source,
                    "the database already holds signing keys or client secrets sealed under a KEK, so Usher refuses to start instead of creating a new one. Give it the KEK the other nodes (or its earlier runs) use: USHER_KEK_FILE=/path/to/kek or USHER_KEK (a relative path is read from the working directory)",
                ));
            }
        };
        let kek = with_previous(kek, &settings)?;
        let ctx = Context::check(settings, db, kek, new_file, "Usher refuses to start")?;
        tracing::info!(
            kek_fingerprint = %ctx.kek.fingerprint(),
            kek_previous_fingerprint = ctx.kek.previous().map(|p| p.fingerprint()).unwrap_or_default(),
            "key-encryption key"
        );
        Ok(ctx)
    }

    /// Checks the KEK against the database, then loads (or, the first time, stores) the
    /// sealed hashing key. Nothing is written before the checks pass. `new_file` is where
    /// a KEK generated for a first start goes once this process has won the database.
    fn check(
        settings: Settings,
        db: Database,
        kek: Kek,
        new_file: Option<PathBuf>,
        refusal: &str,
    ) -> anyhow::Result<Context> {
        let records = db.list_keys().context("cannot read the signing keys")?;
        check_signing_keys(&settings, &kek, &records, refusal)?;
        let stored = db.sealed_value(HASHING_KEY)?;
        let opened = match &stored {
            Some(sealed) => Some(unseal_hasher(&settings, &kek, sealed, refusal)?),
            None => None,
        };
        let hasher_id = db.kek_marker(HASHING_KEY_ID)?;
        if let (Some(hasher), Some(id)) = (&opened, &hasher_id)
            && hasher.fingerprint() != *id
        {
            anyhow::bail!(
                "the client-secret hashing key in the database (fingerprint {}) is not the one this database had (fingerprint {id}): a sealed_values row from another database? {refusal}. Restore the `client-secret-hash` row of sealed_values from a backup of this database.",
                hasher.fingerprint()
            );
        }
        // A lost hashing key that this KEK (or the previous one) would derive exactly as
        // it was — the KEK never changed since — is derived again, sealed and stored; the
        // marker's fingerprint proves it is the same key. Any other loss is refused.
        let recovered = match (&opened, &hasher_id) {
            (None, Some(id)) => [Some(kek.current_only()), kek.previous()]
                .into_iter()
                .flatten()
                .map(|k| SecretHasher::from_kek(&k))
                .find(|h| h.fingerprint() == *id),
            _ => None,
        };
        let opened = match (opened, recovered) {
            (None, Some(hasher)) => {
                let sealed = hasher
                    .seal(&kek)
                    .context("cannot seal the client-secret hashing key")?;
                db.insert_sealed_value(HASHING_KEY, &sealed, crate::clock::now())?;
                tracing::warn!(
                    event = "hashing_key_restored",
                    "the client-secret hashing key was missing from the database; the KEK derives exactly the key this database had (same fingerprint), so it was stored again"
                );
                Some(hasher)
            }
            (opened, _) => opened,
        };
        // Every refusal comes before anything is written (the KEK target included).
        if let (None, Some(id)) = (&opened, &hasher_id) {
            anyhow::bail!(
                "the client-secret hashing key is missing from the database (the `client-secret-hash` row of sealed_values), but this database had one (fingerprint {id}). {refusal}: a hashing key derived now from the KEK would not be the same after a KEK change, and every client secret and refresh token would stop verifying. Restore the row from a backup of the database (it opens with the KEK of the backup's time; run `usher kek rotate` afterwards if that was the previous KEK)."
            );
        }
        // Whether the KEK alone (without the previous one) opens everything stored.
        let current = kek.current_only();
        let all_current = records.iter().all(|k| {
            current
                .decrypt(&k.private_key_encrypted, k.kid.as_bytes())
                .is_ok()
        }) && stored
            .as_ref()
            .is_none_or(|s| SecretHasher::unseal(&current, s).is_ok());
        check_kek_target(&db, &kek, all_current, refusal)?;

        let (kek, secrets) = match opened {
            Some(hasher) => {
                if hasher_id.is_none() {
                    db.insert_kek_marker(
                        HASHING_KEY_ID,
                        &hasher.fingerprint(),
                        crate::clock::now(),
                    )?;
                }
                (kek, hasher)
            }
            None => {
                if let Some(id) = &hasher_id {
                    anyhow::bail!(
                        "the client-secret hashing key is missing from the database (the `client-secret-hash` row of sealed_values), but this database had one (fingerprint {id}). {refusal}: a hashing key derived now from the KEK would not be the same after a KEK change, and every client secret and refresh token would stop verifying. Restore the row from a backup of the database (it opens with the KEK of the backup's time; run `usher kek rotate` afterwards if that was the previous KEK)."
                    );
                }
                store_first_hasher(&settings, &db, kek, &records, new_file, refusal)?
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

/// The active key must open under this KEK (or its previous one): otherwise the process
/// is refused. A `next` key that does not open is reported at error level, not refused:
/// it has never signed and no node promotes a key it cannot open (rotation.rs), while a
/// refusal would block every admin command — `keys retire --compromised` included.
fn check_signing_keys(
    settings: &Settings,
    kek: &Kek,
    records: &[SigningKeyRecord],
    refusal: &str,
) -> anyhow::Result<()> {
    for key in records {
        if !matches!(key.state, KeyState::Active | KeyState::Next)
            || kek
                .decrypt(&key.private_key_encrypted, key.kid.as_bytes())
                .is_ok()
        {
            continue;
        }
        if key.state == KeyState::Active {
            anyhow::bail!(
                "the KEK from {} does not open the active signing key {}: it is not the KEK the database's keys are sealed with. {refusal}. Give it the KEK every node uses (USHER_KEK_FILE or USHER_KEK, as for `usher serve`){}.",
                settings.kek.describe("kek"),
                key.kid,
                previous_hint(settings),
            );
        }
        // Not a refusal: this key has never signed, and no node promotes a key it cannot
        // open (rotation.rs), so nothing breaks yet — while refusing here would block every
        // admin command, `keys retire --compromised` included, until someone runs SQL.
        let _ = refusal;
        let warning = format!(
            "the KEK from {} (fingerprint {}) does not open the next signing key {}{}: a node or command with another KEK created it; no node will promote it, so keys stop rotating until it is dealt with. If it was sealed under the previous KEK of a KEK change, run `usher kek rotate` again (with USHER_KEK_PREVIOUS_FILE) once every node has the new KEK; if no KEK you have opens it, it has never signed: delete it (`DELETE FROM signing_keys WHERE kid = '{}' AND state = 'next'`) and find the node with the other KEK (docs/operations.md).",
            settings.kek.describe("kek"),
            kek.fingerprint(),
            key.kid,
            if kek.previous().is_some() {
                " (nor does the previous KEK)"
            } else {
                ""
            },
            key.kid,
        );
        tracing::error!(event = "next_key_unopenable", kid = %key.kid, "{warning}");
    }
    Ok(())
}

/// During a rolling KEK change (a previous KEK is configured) every process must be
/// going to the same KEK: the first records its KEK's fingerprint as the target, and a
/// process with another one is refused before it seals anything under a KEK nobody
/// else has.
///
/// `all_current` says whether this KEK alone opens everything stored: then a change to
/// it is over, so a process with a lingering previous KEK records no target, and one
/// without a previous KEK removes a target that names its own KEK (left by a node
/// restarted with both after `usher kek rotate`), so the next change starts clean.
fn check_kek_target(
    db: &Database,
    kek: &Kek,
    all_current: bool,
    refusal: &str,
) -> anyhow::Result<()> {
    let mine = kek.fingerprint();
    let target = db.kek_marker(KEK_TARGET)?;
    if kek.previous().is_none() {
        if let Some(target) = &target
            && *target == mine
            && all_current
        {
            db.remove_kek_marker(KEK_TARGET, target)?;
        } else if let Some(target) = target
            && target != mine
        {
            tracing::warn!(
                kek_fingerprint = %mine,
                kek_target = %target,
                "a KEK change is in progress and this process has the KEK being replaced: give it the new one (and the previous one) before `usher kek rotate`"
            );
        }
        return Ok(());
    }
    let target = match target {
        Some(target) => target,
        None if all_current => return Ok(()),
        None => {
            db.insert_kek_marker(KEK_TARGET, &mine, crate::clock::now())?;
            db.kek_marker(KEK_TARGET)?
                .context("the target of the KEK change was not stored")?
        }
    };
    if target != mine {
        anyhow::bail!(
            "a KEK change to the KEK with fingerprint {target} is in progress (recorded by the first node started with a previous KEK), but this process's KEK has fingerprint {mine}. {refusal}: what it sealed would open nowhere else. Give it the same new KEK as the other nodes; if the recorded target is the wrong one, stop the process that has it and remove the record (`DELETE FROM kek_markers WHERE name = 'kek-target'`), see docs/operations.md."
        );
    }
    Ok(())
}

/// Stores the client-secret hashing key the first time (derived from the KEK, as before
/// it was stored, so that existing secrets verify) unless another process stores one
/// first, and, for a first start, writes the KEK file once this process has won.
fn store_first_hasher(
    settings: &Settings,
    db: &Database,
    kek: Kek,
    records: &[SigningKeyRecord],
    new_file: Option<PathBuf>,
    refusal: &str,
) -> anyhow::Result<(Kek, SecretHasher)> {
    // Before the hashing key was stored, it was derived from the KEK that sealed the
    // signing keys: keep that one, so existing secrets verify.
    let derived_from = match records.iter().find(|k| k.state == KeyState::Active) {
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
    let hasher = SecretHasher::from_kek(&derived_from);
    let sealed = hasher
        .seal(&kek)
        .context("cannot seal the client-secret hashing key")?;
    let now = crate::clock::now();
    if db.insert_sealed_value(HASHING_KEY, &sealed, now)? {
        if let Some(path) = &new_file {
            let written = kek.write_new_file(path).map_err(anyhow::Error::from);
            if !matches!(written, Ok(true)) {
                // Nobody has this KEK: take back what was sealed under it.
                let taken_back = matches!(db.remove_sealed_value(HASHING_KEY, &sealed), Ok(true));
                let why = match written {
                    Err(e) => format!("{e:#}"),
                    _ => "another file appeared there meanwhile".to_owned(),
                };
                let after = if taken_back {
                    "Nothing was kept; start again.".to_owned()
                } else {
                    format!(
                        "The database still holds a hashing key sealed under a KEK that was never saved: remove it (`DELETE FROM sealed_values WHERE name = '{HASHING_KEY}'`; the database has no keys or clients yet), then start again."
                    )
                };
                anyhow::bail!(
                    "USHER_KEK_FILE (kek_file): cannot create the key-encryption key at {}: {why}. {after}",
                    path.display()
                );
            }
            tracing::info!(path = %path.display(), "created a new key-encryption key (mode 0600)");
        }
        db.insert_kek_marker(HASHING_KEY_ID, &hasher.fingerprint(), now)?;
        return Ok((kek, hasher));
    }
    // Another process stored it first: use what is stored.
    let stored = db
        .sealed_value(HASHING_KEY)?
        .context("the client-secret hashing key was not stored")?;
    if let Ok(hasher) = SecretHasher::unseal(&kek, &stored) {
        db.insert_kek_marker(HASHING_KEY_ID, &hasher.fingerprint(), now)?;
        return Ok((kek, hasher));
    }
    let Some(path) = new_file else {
        // Not a first start: the stored key does not open under this KEK, so this
        // refuses with the usual message.
        let hasher = unseal_hasher(settings, &kek, &stored, refusal)?;
        return Ok((kek, hasher));
    };
    // A first start that lost the race: the winner, if it runs in the same directory,
    // writes its KEK file a moment after storing the hashing key. Use that one.
    let tries = if settings.kek_previous.is_none() {
        30
    } else {
        0
    };
    for _ in 0..tries {
        if let Ok(Some(theirs)) = Kek::read_file(&path)
            && let Ok(hasher) = SecretHasher::unseal(&theirs, &stored)
        {
            return Ok((theirs, hasher));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    anyhow::bail!(
        "another `usher serve` set this database up at the same moment with its own new key-encryption key; this one wrote no KEK file at {}. {refusal}. Start it with the other node's KEK (copy its KEK file here, or set USHER_KEK_FILE / USHER_KEK).",
        path.display()
    )
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

/// Makes sure one key of every algorithm (RS256, ES256, EdDSA) is active, creating the
/// first key of an algorithm that has none (on a fresh database, or the first start of a
/// version that added the algorithm: docs/design/key-rotation.md, "Algorithms"), and
/// builds the key ring. Refuses when an active key does not decrypt under this KEK.
pub fn load_key_ring(ctx: &Context, now: UnixTime) -> anyhow::Result<KeyRing> {
    let mut records = ctx.db.list_keys().context("cannot read the signing keys")?;
    let mut created = false;
    for alg in SigningAlg::ALL {
        if records
            .iter()
            .any(|k| k.alg == alg && matches!(k.state, KeyState::Active | KeyState::Next))
        {
            continue;
        }
        let mut key =
            usher_keys::generate_key(&ctx.kek, alg, ctx.settings.keys.bits, KeyState::Active, now)
                .context("cannot generate a signing key")?;
        key.activated_at = Some(now);
        key.retire_after = Some(now.plus(ctx.settings.keys.rotate_every));
        match ctx.db.insert_key(&key) {
            Ok(()) => {
                tracing::info!(kid = %key.kid, alg = %alg, bits = key.bits, "generated the first signing key of an algorithm")
            }
            // Another node won the race to create the first key: use theirs.
            Err(StoreError::Conflict(e)) => {
                tracing::info!(cause = %e, alg = %alg, "another node created the first signing key of an algorithm")
            }
            // Anything else (the database failed): refuse to start rather than serve
            // without a key of this algorithm.
            Err(e) => {
                return Err(anyhow::anyhow!(e))
                    .context(format!("cannot store the first {alg} signing key"));
            }
        }
        created = true;
    }
    if created {
        records = ctx.db.list_keys().context("cannot read the signing keys")?;
        if let Some(alg) = SigningAlg::ALL.into_iter().find(|alg| {
            !records
                .iter()
                .any(|k| k.alg == *alg && matches!(k.state, KeyState::Active | KeyState::Next))
        }) {
            anyhow::bail!(
                "no {alg} signing key could be created; Usher refuses to start without one"
            );
        }
    }
    KeyRing::from_records(&records, &ctx.kek).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nUsher refuses to start: it cannot sign with the active key. Give it the KEK the key was created with (USHER_KEK or keys/kek)."
        )
    })
}
