//! Writing security events to the audit trail (docs/design/audit.md): sign-ins, throttle
//! refusals, second factors added and removed, refresh-token reuse, revoked families,
//! dynamic registrations. The events are [`usher_domain::AuditEvent`]s recorded through
//! the core's [`usher_domain::AuditStore`] (`Stores::audit`).
//!
//! A security event follows the decision it tells of and is never a condition of it: when
//! the row cannot be written (the database is down), the failure is logged at `warn`
//! with the event's kind and the decision stands — a person whose password was right
//! still signs in, a reused refresh token's family is still revoked. The trail is then
//! missing that event, which the log line says; refusing sign-ins because the audit
//! table is unwritable would turn a logging fault into an outage (and the sign-in itself
//! needs the same database, so it is rarely the only thing failing).

use std::sync::Arc;

use serde_json::json;
use usher_domain::{
    AuditActor, AuditEvent, AuditKind, AuditStore, Family, FamilyFilter, FamilyFuture, FamilyId,
    FamilyStore, NewFamily, RevokeOutcome, RevokeReason, RotateOutcome, Rotation, UnixTime, UserId,
};

use crate::Core;
use crate::client_address::ClientAddress;
use crate::failure::{Failure, blocking};
use crate::metrics::{self, Counter};

/// Records `event`; a failure is logged (`warn`, `event = "audit_write_failed"`) and
/// counted, never returned.
pub async fn record(core: &Core, event: AuditEvent) {
    record_in(core.stores.audit.clone(), event).await;
}

/// How long a decision waits for its audit event to be written.
pub const WRITE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// [`record`] with the store given (for the family wrapper and the binary's tasks).
pub async fn record_in(store: Arc<dyn AuditStore>, event: AuditEvent) {
    let kind = event.kind;
    // A locked or slow table delays a sign-in by at most this much: the decision does
    // not wait for its trail any longer (the write goes on, or fails, by itself).
    let written =
        tokio::time::timeout(WRITE_PATIENCE, blocking(move || store.record_event(&event)))
            .await
            .unwrap_or(Err(Failure::Unavailable));
    if let Err(f) = written {
        metrics::inc(Counter::AuditWriteFailures, "");
        tracing::warn!(
            event = "audit_write_failed",
            kind = kind.as_str(),
            failure = ?f,
            "a security event could not be written to the audit trail; the decision stands"
        );
    }
}

/// The text of a request's client address for the trail: the IP address, or nothing
/// when it is not known (no peer, or an untrusted proxy in front).
pub fn address_text(address: Option<&ClientAddress>) -> Option<String> {
    match address {
        Some(ClientAddress::Ip(ip)) => Some(ip.to_string()),
        _ => None,
    }
}

/// A [`FamilyStore`] wrapper that writes the trail's family events: `refresh.reuse_detected`
/// when a rotation finds an earlier token (the family is revoked by that same call), and
/// `family.revoked` when a call moved families from live to revoked (`detail.reason`:
/// the [`RevokeReason`]; one event per call, with `detail.families` the number). Like
/// [`crate::counted`], wrapping the port reaches every path that revokes a family
/// (reuse, `/revoke`, logout, the account page, `usher user revoke-sessions`, `usher
/// families revoke`) in one place. The family store is not the SQL database (Redis, in a
/// cluster), so these events can never share its transaction: each follows the change.
/// An administrator's revocation through the admin API or the console comes through
/// [`FamilyStore::revoke_as`], whose one event names that administrator instead of the
/// wrapper's actor.
pub struct AuditedFamilies {
    inner: Arc<dyn FamilyStore>,
    audit: Arc<dyn AuditStore>,
    actor: AuditActor,
}

/// Wraps `inner` so that reuse and revocations are written to `audit` as done by
/// `actor` (`system` for the server: the reason says who asked; `cli` for the CLI).
pub fn audited_families(
    inner: Arc<dyn FamilyStore>,
    audit: Arc<dyn AuditStore>,
    actor: AuditActor,
) -> Arc<dyn FamilyStore> {
    Arc::new(AuditedFamilies {
        inner,
        audit,
        actor,
    })
}

impl AuditedFamilies {
    #[allow(clippy::too_many_arguments)]
    async fn revoked(
        &self,
        actor: &AuditActor,
        now: UnixTime,
        reason: RevokeReason,
        count: usize,
        family: Option<&Family>,
        person: Option<&UserId>,
        target: Option<&FamilyId>,
    ) {
        let mut event = AuditEvent::new(now, AuditKind::FamilyRevoked, actor.clone())
            .detail(json!({"reason": reason.as_str(), "families": count}));
        if let Some(f) = family {
            event = event.person(&f.user_id).client(&f.client_id);
        }
        if let Some(p) = person {
            event = event.person(p);
        }
        if let Some(id) = target {
            event = event.target(id.as_str());
        }
        record_in(self.audit.clone(), event).await;
    }
}

impl FamilyStore for AuditedFamilies {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn create<'a>(&'a self, family: &'a NewFamily) -> FamilyFuture<'a, ()> {
        self.inner.create(family)
    }

    fn rotate<'a>(&'a self, rotation: &'a Rotation) -> FamilyFuture<'a, RotateOutcome> {
        Box::pin(async move {
            let r = self.inner.rotate(rotation).await;
            if let Ok(RotateOutcome::Reused(family)) = &r {
                let event = AuditEvent::new(
                    rotation.now,
                    AuditKind::RefreshReuseDetected,
                    AuditActor::System,
                )
                .person(&family.user_id)
                .client(&family.client_id)
                .target(family.id.as_str())
                .detail(json!({"family_revoked": true, "reason": RevokeReason::Reuse.as_str()}));
                record_in(self.audit.clone(), event).await;
            }
            r
        })
    }

    fn get<'a>(&'a self, id: &'a FamilyId) -> FamilyFuture<'a, Option<Family>> {
        self.inner.get(id)
    }

    fn revoke<'a>(
        &'a self,
        id: &'a FamilyId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, RevokeOutcome> {
        self.revoke_as(id, reason, now, &self.actor)
    }

    /// The one `family.revoked` event names `actor` (an administrator through the API
    /// or the console) instead of this store's own.
    fn revoke_as<'a>(
        &'a self,
        id: &'a FamilyId,
        reason: RevokeReason,
        now: UnixTime,
        actor: &'a AuditActor,
    ) -> FamilyFuture<'a, RevokeOutcome> {
        Box::pin(async move {
            let r = self.inner.revoke(id, reason, now).await;
            if let Ok(RevokeOutcome::Revoked) = r {
                // Whose family it was, for the filters; the event is written either way.
                let family = self.inner.get(id).await.ok().flatten();
                self.revoked(actor, now, reason, 1, family.as_ref(), None, Some(id))
                    .await;
            }
            r
        })
    }

    fn revoke_online<'a>(
        &'a self,
        lineage_hash: &'a str,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize> {
        Box::pin(async move {
            let r = self.inner.revoke_online(lineage_hash, reason, now).await;
            if let Ok(n) = r
                && n > 0
            {
                self.revoked(&self.actor, now, reason, n, None, None, None)
                    .await;
            }
            r
        })
    }

    fn revoke_user<'a>(
        &'a self,
        user: &'a UserId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, usize> {
        Box::pin(async move {
            let r = self.inner.revoke_user(user, reason, now).await;
            if let Ok(n) = r
                && n > 0
            {
                self.revoked(&self.actor, now, reason, n, None, Some(user), None)
                    .await;
            }
            r
        })
    }

    fn list<'a>(&'a self, filter: &'a FamilyFilter) -> FamilyFuture<'a, Vec<Family>> {
        self.inner.list(filter)
    }

    fn ping(&self) -> FamilyFuture<'_, ()> {
        self.inner.ping()
    }
}
