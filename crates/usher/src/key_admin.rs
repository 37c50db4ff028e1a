//! The signing-key transitions an administrator asks for ([`KeyAdmin`]), over the
//! database, the KEK and the rotation schedule: one implementation for `usher keys …`
//! and for the admin API (`Core::key_admin`). The scheduled rotation itself is
//! `rotation.rs`; these are the operator's own moves (docs/design/key-rotation.md).

use usher_core::admin::keys::{KeyAdmin, KeyView, NextKey, Promoted, Retired};
use usher_core::admin::{AdminError, By};
use usher_domain::rotation::{self, RotationSchedule, Transition};
use usher_domain::{AuditKind, KeyState, KeyStore, SigningAlg, SigningKeyRecord};
use usher_keys::Kek;
use usher_store::Database;

use crate::config::KeySettings;
use crate::context::Context;

/// The key operations of one installation.
pub struct KeyOps {
    db: Database,
    kek: Kek,
    keys: KeySettings,
    schedule: RotationSchedule,
}

impl KeyOps {
    pub fn new(ctx: &Context) -> KeyOps {
        KeyOps {
            db: ctx.db.clone(),
            kek: ctx.kek.clone(),
            keys: ctx.settings.keys.clone(),
            schedule: ctx.settings.keys.schedule(ctx.settings.access_token_ttl),
        }
    }

    /// The warning an emergency promotion deserves: verifiers with a cached JWKS.
    pub fn cache_warning(&self, done: &Promoted) -> String {
        let since = if done.was_published {
            format!("was published at {}", done.active.created)
        } else {
            "was published only now".to_owned()
        };
        format!(
            "{} ({}) signs at once but {since}: verifiers whose cached JWKS is older will not find its kid and reject its tokens until they refetch (at most {} s, the JWKS max-age). Every node switches within {} s.",
            done.active.kid,
            done.active.alg,
            self.keys.effective_jwks_max_age(),
            self.keys.poll_interval
        )
    }

    /// What removing a key means for verifiers.
    pub fn removal_warning(&self, kid: &str) -> String {
        format!(
            "{kid} is removed. Every node stops publishing it and accepting its tokens within {} s; verifiers that cached the JWKS before may accept its tokens for up to {} s more (the JWKS max-age).",
            self.keys.poll_interval,
            self.keys.effective_jwks_max_age()
        )
    }

    fn trail(&self, by: &By) -> crate::rotation::Trail<'_> {
        crate::rotation::Trail {
            store: &self.db,
            actor: by.actor.clone(),
        }
    }

    fn promote(&self, alg: SigningAlg, by: &By, compromised: bool) -> Result<Promoted, AdminError> {
        let now = by.at;
        let done = crate::rotation::promote_now(
            &self.db,
            &self.kek,
            alg,
            self.keys.bits,
            &self.schedule,
            now,
            compromised,
        )
        .map_err(failed)?;
        let trail = self.trail(by);
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
        let promoted = Promoted {
            alg: alg.as_str().to_owned(),
            active: KeyView::of(&done.active),
            previous: done.previous.as_ref().map(KeyView::of),
            was_published: done.was_published,
        };
        tracing::warn!(kid = %promoted.active.kid, alg = %alg, "a signing key was made active at once by an administrator");
        Ok(promoted)
    }
}

/// A failed transition: its message is for the operator (it never holds a secret).
fn failed(e: anyhow::Error) -> AdminError {
    AdminError::Conflict(format!("{e:#}"))
}

impl KeyAdmin for KeyOps {
    fn list(&self) -> Result<Vec<SigningKeyRecord>, AdminError> {
        Ok(self.db.list_keys()?)
    }

    fn publish_next(&self, alg: SigningAlg, by: &By) -> Result<NextKey, AdminError> {
        let now = by.at;
        let records = self.db.list_keys()?;
        let (key, created_now) = match rotation::next_key(&records, alg, &self.schedule) {
            Some(existing) => (existing.clone(), false),
            None => {
                let planned = Transition::CreateNext {
                    alg,
                    activate_after: now.plus(self.schedule.prepublish),
                };
                crate::rotation::perform(
                    &self.db,
                    &self.trail(by),
                    &self.kek,
                    self.keys.bits,
                    &planned,
                    now,
                )
                .map_err(failed)?;
                let records = self.db.list_keys()?;
                let key = rotation::next_key(&records, alg, &self.schedule)
                    .cloned()
                    .ok_or_else(|| {
                        AdminError::Conflict(format!(
                            "the next {alg} key was not stored; run the command again"
                        ))
                    })?;
                (key, true)
            }
        };
        Ok(NextKey {
            signs_from: usher_core::admin::rfc3339(rotation::activates_at(&key, &self.schedule)),
            key: KeyView::of(&key),
            created_now,
        })
    }

    fn promote_now(&self, alg: SigningAlg, by: &By) -> Result<Promoted, AdminError> {
        self.promote(alg, by, false)
    }

    fn retire(&self, kid: &str, by: &By) -> Result<Retired, AdminError> {
        let now = by.at;
        usher_core::admin::keys::check_kid(kid)?;
        let records = self.db.list_keys()?;
        let Some(key) = records.iter().find(|k| k.kid == kid) else {
            return Err(AdminError::NotFound(format!(
                "there is no signing key {kid}; `usher keys list` shows them"
            )));
        };
        let mut replacement = None;
        match key.state {
            KeyState::Removed => {
                return Err(AdminError::Conflict(format!(
                    "{kid} is already removed from the JWKS"
                )));
            }
            KeyState::Active => replacement = Some(self.promote(key.alg, by, true)?.active),
            state => {
                let removed = rotation::removed(key, now);
                if !self.db.update_key_if(&removed, state)? {
                    return Err(AdminError::Conflict(format!(
                        "another node changed {kid} at the same time; run the command again"
                    )));
                }
                self.trail(by)
                    .record(AuditKind::KeyCompromised, &removed, now);
            }
        }
        tracing::warn!(kid, "a compromised signing key was removed from the JWKS");
        Ok(Retired {
            removed: kid.to_owned(),
            active: replacement,
        })
    }
}
