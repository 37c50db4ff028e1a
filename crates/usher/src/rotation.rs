//! The key-rotation task every node runs, and the transitions the admin CLI performs.
//!
//! Each tick reads the key table, asks `usher_domain::rotation::plan` what is due at the
//! clock's `now`, and performs each transition through the store's compare-and-set
//! methods, so that of all the nodes planning the same transition exactly one performs
//! it. Then, if the published key set (or the active key) differs from what this node
//! serves, it rebuilds the key ring and swaps it into the HTTP state. A tick runs every
//! `[keys] poll_interval` seconds, so every node sees every change — its own at once,
//! others' within one interval. Time comes from a `Clock`, so tests drive months of
//! rotations by calling [`Rotator::tick`] with a fake one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use usher_core::metrics::{self, Counter};
use usher_core::{Clock, Core, PublishedKeys};
use usher_domain::rotation::{self, RotationSchedule, Transition};
use usher_domain::{
    AuditActor, AuditEvent, AuditKind, AuditStore, KeyState, KeyStore, SigningAlg,
    SigningKeyRecord, UnixTime,
};
use usher_keys::{Kek, KeyRing};

/// What a node serves: the published keys by `kid` and state, sorted.
type Fingerprint = Vec<(String, KeyState)>;

fn fingerprint(records: &[SigningKeyRecord]) -> Fingerprint {
    let mut f: Fingerprint = records
        .iter()
        .filter(|k| k.state.is_published())
        .map(|k| (k.kid.clone(), k.state))
        .collect();
    f.sort_by(|a, b| a.0.cmp(&b.0));
    f
}

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// The transitions this node performed (it won their compare-and-set).
    pub performed: Vec<String>,
    /// Whether this node swapped in a new key ring.
    pub reloaded: bool,
}

/// One node's rotation duty.
pub struct Rotator {
    store: Arc<dyn KeyStore>,
    kek: Kek,
    bits: u32,
    schedule: RotationSchedule,
    state: Core,
    clock: Arc<dyn Clock>,
    served: Mutex<Fingerprint>,
}

impl Rotator {
    /// `records` are the keys the state's current ring was built from.
    pub fn new(
        store: Arc<dyn KeyStore>,
        kek: Kek,
        bits: u32,
        schedule: RotationSchedule,
        state: Core,
        records: &[SigningKeyRecord],
    ) -> Rotator {
        let clock = state.clock.clone();
        Rotator {
            store,
            kek,
            bits,
            schedule,
            state,
            clock,
            served: Mutex::new(fingerprint(records)),
        }
    }

    pub fn schedule(&self) -> &RotationSchedule {
        &self.schedule
    }

    /// Performs the due transitions and reloads the key ring if the key set changed.
    /// Blocking (database and RSA key generation): call it off the async executor.
    pub fn tick(&self) -> anyhow::Result<TickReport> {
        let now = self.clock.now();
        let mut records = self
            .store
            .list_keys()
            .context("cannot read the signing keys")?;
        let mut report = TickReport::default();
        for transition in rotation::plan(&records, &self.schedule, now) {
            let trail = Trail {
                store: &*self.state.stores.audit,
                actor: AuditActor::System,
            };
            if let Some(done) =
                perform(&*self.store, &trail, &self.kek, self.bits, &transition, now)?
            {
                report.performed.push(done);
            }
        }
        if !report.performed.is_empty() {
            records = self
                .store
                .list_keys()
                .context("cannot read the signing keys")?;
        }
        let current = fingerprint(&records);
        let mut served = match self.served.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *served != current {
            // A ring that cannot be built (say, this node's KEK cannot open the new active
            // key) leaves the old one in place: the node keeps serving, loudly.
            let ring = KeyRing::from_records(&records, &self.kek).map_err(|e| {
                tracing::error!(cause = %e, "cannot load the new signing keys; still serving the previous set");
                anyhow::anyhow!("cannot load the new signing keys: {e}")
            })?;
            tracing::info!(active = %ring.active_kid(), published = current.len(), "signing keys reloaded");
            metrics::inc(Counter::KeyReloads, "");
            self.state.replace_keys(PublishedKeys::new(ring));
            *served = current;
            report.reloaded = true;
        }
        Ok(report)
    }
}

/// Where key transitions are written in the audit trail, and by whom they are done
/// (`system` for the rotation task, `cli` for `usher keys`).
pub struct Trail<'a> {
    pub store: &'a dyn AuditStore,
    pub actor: AuditActor,
}

impl Trail<'_> {
    /// Writes the event of `key`'s transition (`target`: its kid). It follows the
    /// compare-and-set that performed the transition (docs/design/audit.md): a failure
    /// is logged and the transition stands.
    pub fn record(&self, kind: AuditKind, key: &SigningKeyRecord, now: UnixTime) {
        let event = AuditEvent::new(now, kind, self.actor.clone())
            .target(&key.kid)
            .detail(serde_json::json!({"alg": key.alg.to_string(), "state": key.state.as_str()}));
        if let Err(e) = self.store.record_event(&event) {
            metrics::inc(Counter::AuditWriteFailures, "");
            tracing::warn!(event = "audit_write_failed", kind = kind.as_str(), kid = %key.kid, cause = %e, "a key transition could not be written to the audit trail; the transition stands");
        }
    }
}

/// Performs one planned transition; returns a description if this caller performed it,
/// `None` if another node (or an earlier call) got there first. The caller that performs
/// it writes its events to `trail`.
pub fn perform(
    store: &dyn KeyStore,
    trail: &Trail<'_>,
    kek: &Kek,
    bits: u32,
    transition: &Transition,
    now: UnixTime,
) -> anyhow::Result<Option<String>> {
    match transition {
        Transition::CreateNext {
            alg,
            activate_after,
        } => {
            let generated = usher_keys::generate_key(kek, *alg, bits, KeyState::Next, now)
                .context("cannot generate a signing key")?;
            let key = rotation::as_next(generated, *activate_after);
            if store.insert_next_key(&key)? {
                metrics::inc(Counter::KeyTransitions, "next");
                tracing::info!(kid = %key.kid, alg = %alg, activate_after = activate_after.seconds(), "published a next signing key");
                trail.record(AuditKind::KeyCreated, &key, now);
                return Ok(Some(format!("published {} as next", key.kid)));
            }
            Ok(None)
        }
        Transition::Promote { next, retiring } => {
            if kek
                .decrypt(&next.private_key_encrypted, next.kid.as_bytes())
                .is_err()
            {
                // Promoting it would leave every node that cannot open it unable to
                // load the active key. Some node with the right KEK promotes it, or
                // the operator acts (docs/operations.md, "The KEK").
                tracing::error!(
                    kid = %next.kid,
                    "the next signing key does not open under this node's KEK, so this node does not promote it: it was sealed under another KEK (run `usher kek rotate` once every node has the new KEK, or delete the key if no KEK opens it)"
                );
                return Ok(None);
            }
            if store.promote_key(next, retiring.as_ref())? {
                metrics::inc(Counter::KeyTransitions, "active");
                tracing::info!(event = "key_activated", kid = %next.kid, alg = %next.alg, "a new signing key is active");
                trail.record(AuditKind::KeyActivated, next, now);
                if let Some(r) = retiring {
                    metrics::inc(Counter::KeyTransitions, "retired");
                    tracing::warn!(event = "key_retired", kid = %r.kid, "a signing key is retired: it no longer signs");
                    trail.record(AuditKind::KeyRetired, r, now);
                }
                return Ok(Some(format!("activated {}", next.kid)));
            }
            Ok(None)
        }
        Transition::Remove { key } => {
            if store.update_key_if(key, KeyState::Retired)? {
                metrics::inc(Counter::KeyTransitions, "removed");
                tracing::info!(kid = %key.kid, "removed a retired signing key from the JWKS");
                trail.record(AuditKind::KeyRemoved, key, now);
                return Ok(Some(format!("removed {}", key.kid)));
            }
            Ok(None)
        }
    }
}

/// The outcome of an emergency promotion.
pub struct Emergency {
    /// The key that signs from now on.
    pub active: SigningKeyRecord,
    /// Whether it was published before (an existing `next` key) or is brand new.
    pub was_published: bool,
    /// The previous active key, as it became (retired, or removed when compromised).
    pub previous: Option<SigningKeyRecord>,
}

/// `usher keys rotate --now` and the retirement of a compromised active key, for the keys
/// of `alg`: the `next` key (or, if there is none, a new one) becomes active at once; the
/// old active key is retired, or removed from the JWKS when `compromised`.
pub fn promote_now(
    store: &dyn KeyStore,
    kek: &Kek,
    alg: SigningAlg,
    bits: u32,
    schedule: &RotationSchedule,
    now: UnixTime,
    compromised: bool,
) -> anyhow::Result<Emergency> {
    let mut records = store.list_keys().context("cannot read the signing keys")?;
    let mut was_published = true;
    if rotation::next_key(&records, alg, schedule).is_none() {
        let generated = usher_keys::generate_key(kek, alg, bits, KeyState::Next, now)
            .context("cannot generate a signing key")?;
        // Inserted here or, in a race, by another node a moment ago: new either way.
        // Its scheduled activation is a full pre-publication away, so that no node's
        // rotation tick promotes it in the moment before the compare-and-set below does
        // (with `activate_after = now`, a node polling every second often won that race
        // and this command then failed, though the outcome was the same).
        store.insert_next_key(&rotation::as_next(generated, now.plus(schedule.prepublish)))?;
        was_published = false;
        records = store.list_keys().context("cannot read the signing keys")?;
    }
    let next = rotation::next_key(&records, alg, schedule).ok_or_else(|| {
        anyhow::anyhow!("another node changed the keys at the same time; run the command again")
    })?;
    if kek
        .decrypt(&next.private_key_encrypted, next.kid.as_bytes())
        .is_err()
    {
        anyhow::bail!(
            "the next signing key {} does not open under this KEK, so it cannot become active (no node could load it); nothing was changed. Run `usher kek rotate` once every node has the new KEK, or delete the key if no KEK opens it (docs/operations.md)",
            next.kid
        );
    }
    let old = rotation::active_key(&records, alg);
    let previous = old.map(|o| {
        if compromised {
            rotation::removed(o, now)
        } else {
            rotation::retired(o, schedule, now)
        }
    });
    let active = rotation::promoted(next, schedule, now);
    if !store.promote_key(&active, previous.as_ref())? {
        anyhow::bail!("another node changed the keys at the same time; run the command again");
    }
    Ok(Emergency {
        active,
        was_published,
        previous,
    })
}

/// Ticks every `every` until the process ends. Failures are logged and retried at the
/// next tick.
pub async fn run_forever(rotator: Arc<Rotator>, every: Duration) {
    let mut interval = actix_web::rt::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let rotator = rotator.clone();
        match actix_web::rt::task::spawn_blocking(move || rotator.tick()).await {
            Ok(Ok(report)) if !report.performed.is_empty() => {
                tracing::debug!(performed = ?report.performed, "key rotation tick")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(cause = %format!("{e:#}"), "key rotation tick failed"),
            Err(e) => tracing::warn!(cause = %e, "the key rotation task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use usher_domain::rotation::RotationSchedule;

    /// Review B: a scheduled promotion of a `next` key this node's KEK cannot open (a
    /// straggler sealed it under another KEK) does not happen: every node would fail to
    /// load it.
    #[test]
    fn a_next_key_this_kek_cannot_open_is_never_promoted() {
        let test_db = usher_store::testing::TestDb::sqlite();
        let db = test_db.database();
        let kek = Kek::generate().unwrap();
        let other = Kek::generate().unwrap();
        let now = UnixTime(1_800_000_000);
        let mut active =
            usher_keys::generate_signing_key(&kek, 2048, KeyState::Active, now).unwrap();
        active.activated_at = Some(now);
        db.insert_key(&active).unwrap();
        let stray = usher_keys::generate_signing_key(&other, 2048, KeyState::Next, now).unwrap();
        db.insert_next_key(&rotation::as_next(stray.clone(), now))
            .unwrap();
        let schedule = RotationSchedule {
            rotate_every: 86_400,
            prepublish: 3_600,
            token_lifetime: 600,
            propagation: 60,
        };
        let records = db.list_keys().unwrap();
        let later = now.plus(200_000);
        let plan = rotation::plan(&records, &schedule, later);
        let promote = plan
            .iter()
            .find(|t| matches!(t, Transition::Promote { .. }))
            .expect("a promotion is due");
        let trail = Trail {
            store: &db,
            actor: AuditActor::System,
        };
        assert_eq!(
            perform(&db, &trail, &kek, 2048, promote, later).unwrap(),
            None
        );
        let after = db.list_keys().unwrap();
        let state = |kid: &str| after.iter().find(|k| k.kid == kid).unwrap().state;
        assert_eq!(state(&stray.kid), KeyState::Next);
        assert_eq!(state(&active.kid), KeyState::Active);
        // The emergency path refuses it too.
        assert!(promote_now(&db, &kek, SigningAlg::Rs256, 2048, &schedule, later, false).is_err());
        assert_eq!(
            db.list_keys()
                .unwrap()
                .iter()
                .find(|k| k.kid == stray.kid)
                .unwrap()
                .state,
            KeyState::Next
        );
    }
}
