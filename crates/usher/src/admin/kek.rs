//! `usher kek rotate`: re-seal every signing key, the client-secret hashing key, every
//! authenticator-app secret and every upstream provider's client secret under the
//! configured KEK, opening them with the previous one.
//!
//! The command reads both keys from the configuration every node reads: the new KEK is
//! `kek_file` / `USHER_KEK_FILE` (or `USHER_KEK`), the old one `kek_previous_file` /
//! `USHER_KEK_PREVIOUS_FILE` (or `USHER_KEK_PREVIOUS`); never from the command line,
//! which every local user can read in the process list. The hashing key is re-sealed,
//! not changed, so client secrets and refresh tokens keep verifying. Each row is swapped
//! with a compare-and-set, so the command can run while nodes serve and can be repeated
//! (an upstream's secret is written back with the rest of its row: do not change an
//! upstream while the command runs).
//! The procedure for a cluster is in docs/operations.md.
//!
//! The KEK must be the target the database recorded for this change (opening the
//! context records it if no process did yet, and refuses another one); once every key
//! and the hashing key open under it alone, the record is removed. The final check
//! covers every key, so a `next` key a straggler sealed under the old KEK is re-sealed
//! or reported, never left to break its promotion.

use anyhow::Context as _;
use serde_json::json;
use usher_domain::{FactorStore, KeyStore, Upstream, UpstreamStore};
use usher_keys::{FactorSealer, SecretHasher};

use super::{print_json, usage};
use crate::cli::KekCommand;
use crate::clock;
use crate::config::Settings;
use crate::context::{Context, HASHING_KEY, KEK_TARGET};

pub fn run(settings: Settings, command: KekCommand) -> anyhow::Result<()> {
    match command {
        KekCommand::Rotate(flag) => rotate(settings, flag.json),
    }
}

fn rotate(settings: Settings, as_json: bool) -> anyhow::Result<()> {
    if settings.kek_previous.is_none() {
        return Err(usage(
            "`usher kek rotate` re-seals under the KEK (USHER_KEK_FILE or USHER_KEK) what the previous KEK sealed, so it needs both: set USHER_KEK_PREVIOUS_FILE (kek_previous_file) to the KEK in use now and USHER_KEK_FILE to the new one (`openssl rand -base64 32 > new-kek`, mode 0600). docs/operations.md has the procedure for a cluster",
        ));
    }
    let ctx = Context::open(settings)?;
    let new = ctx.kek.current_only();
    let fingerprint = new.fingerprint();
    if ctx.kek.previous().map(|p| p.to_base64()) == Some(new.to_base64()) {
        return Err(usage(
            "USHER_KEK_PREVIOUS and USHER_KEK hold the same key: give USHER_KEK_FILE the new KEK",
        ));
    }

    let (mut resealed, mut already) = (0usize, 0usize);
    for key in ctx.db.list_keys()? {
        let aad = key.kid.as_bytes();
        if new.decrypt(&key.private_key_encrypted, aad).is_ok() {
            already += 1;
            continue;
        }
        let plain = ctx.kek.decrypt(&key.private_key_encrypted, aad).map_err(|_| {
            anyhow::anyhow!(
                "the signing key {} opens under neither the KEK nor the previous KEK; the keys re-sealed so far stay re-sealed (run `usher keys list`)",
                key.kid
            )
        })?;
        let sealed = new.encrypt(&plain, aad)?;
        if !ctx
            .db
            .reseal_key(&key.kid, &key.private_key_encrypted, &sealed)?
        {
            anyhow::bail!(
                "the signing key {} changed while it was being re-sealed; run the command again (it is safe to repeat)",
                key.kid
            );
        }
        resealed += 1;
    }

    let stored = ctx
        .db
        .sealed_value(HASHING_KEY)?
        .context("the client-secret hashing key is missing")?;
    let hashing_resealed = if SecretHasher::unseal(&new, &stored).is_ok() {
        false
    } else {
        let sealed = ctx.secrets.seal(&new)?;
        if !ctx
            .db
            .replace_sealed_value(HASHING_KEY, &stored, &sealed, clock::now())?
        {
            anyhow::bail!(
                "the client-secret hashing key changed while it was being re-sealed; run the command again (it is safe to repeat)"
            );
        }
        true
    };

    // Authenticator-app secrets, sealed under a sub-key of the KEK (docs/design/mfa.md).
    let factor_sealer = FactorSealer::from_kek(&ctx.kek);
    let new_sealer = FactorSealer::from_kek(&new);
    let (mut totp_resealed, mut totp_already) = (0usize, 0usize);
    for factor in ctx.db.list_totp_factors()? {
        if new_sealer
            .open_totp(&factor.user_id, &factor.sealed_secret)
            .is_ok()
        {
            totp_already += 1;
            continue;
        }
        let secret = factor_sealer
            .open_totp(&factor.user_id, &factor.sealed_secret)
            .map_err(|_| {
                anyhow::anyhow!(
                    "the authenticator-app secret of person {} opens under neither the KEK nor the previous KEK; what was re-sealed so far stays re-sealed",
                    factor.user_id
                )
            })?;
        let sealed = new_sealer.seal_totp(&factor.user_id, &secret)?;
        if !ctx
            .db
            .reseal_totp(&factor.user_id, &factor.sealed_secret, &sealed)?
        {
            anyhow::bail!(
                "the authenticator app of person {} changed while it was being re-sealed; run the command again (it is safe to repeat)",
                factor.user_id
            );
        }
        totp_resealed += 1;
    }

    // Upstream providers' client secrets, sealed under the same sub-key with the
    // upstream's id as associated data (docs/administration.md "Upstream providers").
    let (mut upstream_resealed, mut upstream_already) = (0usize, 0usize);
    for upstream in ctx.db.list_upstreams()? {
        let Some(sealed) = &upstream.client_secret_sealed else {
            continue;
        };
        let id = upstream.id.as_str();
        if new_sealer.open_upstream_secret(id, sealed).is_ok() {
            upstream_already += 1;
            continue;
        }
        let secret = factor_sealer.open_upstream_secret(id, sealed).map_err(|_| {
            anyhow::anyhow!(
                "the client secret of upstream {id} opens under neither the KEK nor the previous KEK; what was re-sealed so far stays re-sealed"
            )
        })?;
        let resealed = Upstream {
            client_secret_sealed: Some(new_sealer.seal_upstream_secret(id, &secret)?),
            ..upstream.clone()
        };
        if !ctx.db.update_upstream(&resealed)? {
            anyhow::bail!(
                "upstream {id} was deleted while it was being re-sealed; run the command again (it is safe to repeat)"
            );
        }
        upstream_resealed += 1;
    }

    // What a node with only the new KEK will see: everything must open.
    for key in ctx.db.list_keys()? {
        new.decrypt(&key.private_key_encrypted, key.kid.as_bytes())
            .map_err(|_| {
                anyhow::anyhow!(
                    "the signing key {} does not open under the new KEK (a node sealed it under another KEK meanwhile?); run the command again once every node has the new KEK",
                    key.kid
                )
            })?;
    }
    let stored = ctx
        .db
        .sealed_value(HASHING_KEY)?
        .context("the client-secret hashing key is missing")?;
    SecretHasher::unseal(&new, &stored).map_err(|_| {
        anyhow::anyhow!(
            "the client-secret hashing key does not open under the new KEK; run the command again"
        )
    })?;

    for factor in ctx.db.list_totp_factors()? {
        new_sealer
            .open_totp(&factor.user_id, &factor.sealed_secret)
            .map_err(|_| {
                anyhow::anyhow!(
                    "the authenticator-app secret of person {} does not open under the new KEK; run the command again",
                    factor.user_id
                )
            })?;
    }

    for upstream in ctx.db.list_upstreams()? {
        if let Some(sealed) = &upstream.client_secret_sealed {
            new_sealer
                .open_upstream_secret(upstream.id.as_str(), sealed)
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the client secret of upstream {} does not open under the new KEK; run the command again",
                        upstream.id
                    )
                })?;
        }
    }

    // Everything opens under the target alone: the change is over.
    ctx.db.remove_kek_marker(KEK_TARGET, &fingerprint)?;

    let kek = ctx.settings.kek.describe("kek");
    let previous = ctx
        .settings
        .kek_previous
        .as_ref()
        .map(|p| p.describe("kek_previous"))
        .unwrap_or_default();
    tracing::warn!(
        resealed,
        hashing_resealed,
        totp_resealed,
        upstream_resealed,
        kek_fingerprint = %fingerprint,
        "every signing key, the client-secret hashing key and every authenticator-app and upstream client secret are sealed under the new KEK"
    );
    if as_json {
        return print_json(&json!({
            "signing_keys_resealed": resealed,
            "signing_keys_already_sealed": already,
            "hashing_key_resealed": hashing_resealed,
            "totp_secrets_resealed": totp_resealed,
            "totp_secrets_already_sealed": totp_already,
            "upstream_secrets_resealed": upstream_resealed,
            "upstream_secrets_already_sealed": upstream_already,
            "kek_fingerprint": fingerprint,
        }));
    }
    println!(
        "re-sealed {resealed} signing key(s) ({already} already were) and {} under the KEK from {kek} (fingerprint {fingerprint})",
        if hashing_resealed {
            "the client-secret hashing key"
        } else {
            "no hashing key (it already was)"
        }
    );
    println!(
        "the previous KEK ({previous}) opens nothing in the database any more: restart every node without USHER_KEK_PREVIOUS_FILE, then destroy it. Backups taken before now still need it."
    );
    Ok(())
}
