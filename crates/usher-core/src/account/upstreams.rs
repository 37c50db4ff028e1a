//! "Linked sign-in providers" on the account page (issue 18, docs/design/upstream.md):
//! the upstream identities linked to the person — at their first upstream sign-in, or
//! after they proved their account ([`crate::sign_in::upstream`]) — and removing one.
//!
//! Removing is an account change behind [`super::begin_change`] (single-use form token,
//! recent sign-in, the second factor if the person has one). It is refused when the
//! identity is the person's last way to sign in: people created at their first upstream
//! sign-in have no password, so without a passkey or another linked identity (of an
//! enabled upstream: a disabled one signs nobody in) they would be locked out. Two
//! removals of the same identity racing: the store's delete decides, exactly one
//! reports [`RemoveOutcome::Removed`] and records `upstream.identity_unlinked`.
//!
//! The subject (the upstream's `sub`) names the identity in the form, as the person's
//! own data shown to them; it is kept out of logs and the audit trail, which name the
//! upstream only.

use serde_json::json;
use usher_domain::{AuditActor, AuditEvent, AuditKind, Session, UpstreamId, UserId};

use crate::Core;
use crate::failure::{Failure, blocking};

/// One linked identity on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub upstream: UpstreamId,
    /// The upstream's display name (set by the operator; escaped when shown).
    pub name: String,
    /// The upstream's subject: posted back to name the identity to remove.
    pub subject: String,
    pub linked_at: usher_domain::UnixTime,
}

/// The person's linked identities, oldest first. Every identity has its upstream:
/// deleting an upstream deletes its identities.
pub async fn list(core: &Core, user: &UserId) -> Result<Vec<LinkedIdentity>, Failure> {
    let store = core.stores.upstreams.clone();
    let owner = user.clone();
    let identities = blocking(move || store.list_identities(&owner)).await?;
    let mut lines = Vec::with_capacity(identities.len());
    for identity in identities {
        let store = core.stores.upstreams.clone();
        let id = identity.upstream.clone();
        // Deleted meanwhile: its identities went with it.
        let Some(upstream) = blocking(move || store.get_upstream(&id)).await? else {
            continue;
        };
        lines.push(LinkedIdentity {
            upstream: identity.upstream,
            name: upstream.name,
            subject: identity.subject,
            linked_at: identity.created_at,
        });
    }
    Ok(lines)
}

/// What removing a linked identity decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    Removed,
    /// The person holds no such identity (already removed, another person's, junk).
    NotLinked,
    /// It is the person's last way to sign in (no password, no passkey, no other
    /// identity of an enabled upstream): nothing changed.
    LastWayToSignIn,
}

/// Removes the session's person's identity (`upstream`, `subject`: the form's raw
/// values); the session passed the account gate ([`super::begin_change`]).
pub async fn remove(
    core: &Core,
    session: &Session,
    upstream: &str,
    subject: &str,
) -> Result<RemoveOutcome, Failure> {
    let user = &session.user_id;
    let Ok(upstream) = UpstreamId::parse(upstream) else {
        return Ok(RemoveOutcome::NotLinked);
    };
    let store = core.stores.upstreams.clone();
    let owner = user.clone();
    let identities = blocking(move || store.list_identities(&owner)).await?;
    if !identities
        .iter()
        .any(|i| i.upstream == upstream && i.subject == subject)
    {
        return Ok(RemoveOutcome::NotLinked);
    }
    if !has_another_way(core, user, &identities, &upstream, subject).await? {
        tracing::info!(event = "upstream_unlink_refused", sub = %user, upstream = %upstream, "removing the last way to sign in was refused");
        return Ok(RemoveOutcome::LastWayToSignIn);
    }
    let store = core.stores.upstreams.clone();
    let (owner, id, sub) = (user.clone(), upstream.clone(), subject.to_owned());
    if !blocking(move || store.unlink_identity(&owner, &id, &sub)).await? {
        // A racing removal of the same identity won.
        return Ok(RemoveOutcome::NotLinked);
    }
    let event = AuditEvent::new(
        core.now(),
        AuditKind::UpstreamUnlinked,
        AuditActor::Person(user.clone()),
    )
    .person(user)
    .detail(json!({"upstream": upstream.as_str()}));
    crate::audit::record(core, event).await;
    tracing::warn!(event = "upstream_unlinked", sub = %user, upstream = %upstream, "the person removed a linked sign-in provider");
    Ok(RemoveOutcome::Removed)
}

/// Whether the person can still sign in without the identity (`upstream`, `subject`):
/// a password, a passkey, or another identity of an enabled upstream.
async fn has_another_way(
    core: &Core,
    user: &UserId,
    identities: &[usher_domain::UpstreamIdentity],
    upstream: &UpstreamId,
    subject: &str,
) -> Result<bool, Failure> {
    let Some(person) = core.user(user).await? else {
        return Ok(false);
    };
    if !person.password_hash.is_empty() {
        return Ok(true);
    }
    let passkeys = core.stores.passkeys.clone();
    let owner = user.clone();
    if !blocking(move || passkeys.list_passkeys(&owner))
        .await?
        .is_empty()
    {
        return Ok(true);
    }
    for other in identities
        .iter()
        .filter(|i| !(i.upstream == *upstream && i.subject == subject))
    {
        let store = core.stores.upstreams.clone();
        let id = other.upstream.clone();
        if blocking(move || store.get_upstream(&id))
            .await?
            .is_some_and(|u| u.enabled)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
#[path = "upstreams_tests.rs"]
mod tests;
