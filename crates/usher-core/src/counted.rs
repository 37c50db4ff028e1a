//! A [`FamilyStore`] wrapper that counts what happens to refresh-token families:
//! rotations, reuse detections, revocations (by reason) and failed calls. Wrapping the
//! port, rather than sprinkling counters through the grants, counts every path that
//! revokes a family (reuse, `/revoke`, logout, session revocation) in one place.
//! Counters count events: a revocation is counted when the store reports that this
//! call moved a family from live to revoked, never again for one revoked before.

use std::sync::Arc;

use usher_domain::{
    AuditActor, Family, FamilyFilter, FamilyFuture, FamilyId, FamilyStore, NewFamily,
    RevokeOutcome, RevokeReason, RotateOutcome, Rotation, StoreError, UnixTime, UserId,
};

use crate::metrics::{Counter, global, inc};

/// The wrapped store.
pub struct CountedFamilies {
    inner: Arc<dyn FamilyStore>,
}

/// Wraps `inner` so its outcomes are counted in [`crate::metrics`].
pub fn counted(inner: Arc<dyn FamilyStore>) -> Arc<dyn FamilyStore> {
    Arc::new(CountedFamilies { inner })
}

fn errors<T>(r: Result<T, StoreError>) -> Result<T, StoreError> {
    // A conflict is an answer (e.g. a duplicate id), not an outage.
    if matches!(r, Err(StoreError::Unavailable(_) | StoreError::Corrupt(_))) {
        inc(Counter::StoreErrors, "family_store");
    }
    r
}

fn revoked(reason: RevokeReason, n: usize) {
    global().add(
        Counter::FamiliesRevoked,
        reason.as_str(),
        u64::try_from(n).unwrap_or(u64::MAX),
    );
}

impl FamilyStore for CountedFamilies {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn create<'a>(&'a self, family: &'a NewFamily) -> FamilyFuture<'a, ()> {
        Box::pin(async move { errors(self.inner.create(family).await) })
    }

    fn rotate<'a>(&'a self, rotation: &'a Rotation) -> FamilyFuture<'a, RotateOutcome> {
        Box::pin(async move {
            let r = errors(self.inner.rotate(rotation).await);
            match &r {
                Ok(RotateOutcome::Rotated(_)) => inc(Counter::RefreshRotations, ""),
                Ok(RotateOutcome::Reused(_)) => {
                    inc(Counter::RefreshReuse, "");
                    revoked(RevokeReason::Reuse, 1);
                }
                _ => {}
            }
            r
        })
    }

    fn get<'a>(&'a self, id: &'a FamilyId) -> FamilyFuture<'a, Option<Family>> {
        Box::pin(async move { errors(self.inner.get(id).await) })
    }

    fn revoke<'a>(
        &'a self,
        id: &'a FamilyId,
        reason: RevokeReason,
        now: UnixTime,
    ) -> FamilyFuture<'a, RevokeOutcome> {
        Box::pin(async move {
            let r = errors(self.inner.revoke(id, reason, now).await);
            if let Ok(RevokeOutcome::Revoked) = r {
                revoked(reason, 1);
            }
            r
        })
    }

    /// Counted as [`FamilyStore::revoke`]; the actor goes on to the store inside (an
    /// audited one, wherever the wrappers are stacked, names them).
    fn revoke_as<'a>(
        &'a self,
        id: &'a FamilyId,
        reason: RevokeReason,
        now: UnixTime,
        actor: &'a AuditActor,
    ) -> FamilyFuture<'a, RevokeOutcome> {
        Box::pin(async move {
            let r = errors(self.inner.revoke_as(id, reason, now, actor).await);
            if let Ok(RevokeOutcome::Revoked) = r {
                revoked(reason, 1);
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
            let r = errors(self.inner.revoke_online(lineage_hash, reason, now).await);
            if let Ok(n) = r {
                revoked(reason, n);
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
            let r = errors(self.inner.revoke_user(user, reason, now).await);
            if let Ok(n) = r {
                revoked(reason, n);
            }
            r
        })
    }

    fn list<'a>(&'a self, filter: &'a FamilyFilter) -> FamilyFuture<'a, Vec<Family>> {
        Box::pin(async move { errors(self.inner.list(filter).await) })
    }

    fn ping(&self) -> FamilyFuture<'_, ()> {
        Box::pin(async move { errors(self.inner.ping().await) })
    }
}
