//! Administration: the operations that change what Usher knows (clients, groups,
//! resource servers), with their rules and their error texts, shared by the CLI
//! (`usher client …`, on the database directly) and the admin API (`/admin/api/v1`, over
//! HTTP). Each operation parses nothing: it takes typed values and the stores, and
//! returns a typed view or an [`AdminError`]; the CLI prints it, the API renders JSON.
//!
//! The operations are synchronous (the stores are); the API runs them on the blocking
//! pool with [`run`]. Who may call them over HTTP is [`auth`]'s decision
//! (docs/design/admin-api.md).

pub mod audit;
pub mod auth;
pub mod clients;
pub mod families;
pub mod groups;
pub mod invitations;
pub mod keys;
pub mod page;
pub mod people;
pub mod registration_tokens;
pub mod resources;
pub mod sessions;
pub mod token;
pub mod upstreams;

use std::sync::Arc;

use usher_domain::{
    AuditActor, AuditEvent, AuditKind, AuditStore, AuditedChanges, AuditedStore, BackchannelStore,
    ClientStore, FactorStore, GroupStore, InvitationStore, MailTokenStore, PasskeyStore,
    RegistrationStore, ResourceStore, StoreError, UnixTime, UpstreamStore, UserStore,
};

use crate::failure::Failure;

/// Why an administrative operation did nothing. The texts are the same for the CLI and
/// the API (`error_description`), and never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The input breaks a rule (HTTP 400, CLI exit code 2).
    #[error("{0}")]
    Invalid(String),
    /// What the operation names does not exist (HTTP 404, CLI exit code 1).
    #[error("{0}")]
    NotFound(String),
    /// It already exists, or something depends on it (HTTP 409, CLI exit code 2).
    #[error("{0}")]
    Conflict(String),
    /// The representation changed since the caller read it: its `If-Match` no longer
    /// matches (HTTP 412). Nothing was written.
    #[error("it was changed by someone else since you read it: read it again, then retry")]
    Stale,
    /// The change was made but what must follow it was not (HTTP 503): the text says
    /// what to retry.
    #[error("{0}")]
    Incomplete(String),
    /// A store failed: neither done nor refused.
    #[error("a store could not be read or written")]
    Failure(Failure),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> AdminError {
        AdminError::Failure(Failure::from(e))
    }
}

/// The stores the operations read and write (a database implements them all).
#[derive(Clone)]
pub struct AdminStores {
    pub clients: Arc<dyn ClientStore>,
    pub groups: Arc<dyn GroupStore>,
    pub resources: Arc<dyn ResourceStore>,
    pub users: Arc<dyn UserStore>,
    pub factors: Arc<dyn FactorStore>,
    pub passkeys: Arc<dyn PasskeyStore>,
    pub backchannel: Arc<dyn BackchannelStore>,
    /// Initial access tokens for dynamic registration.
    pub registration: Arc<dyn RegistrationStore>,
    /// Invitations to sign up.
    pub invitations: Arc<dyn InvitationStore>,
    /// The people of an address (an invitation's check).
    pub mail: Arc<dyn MailTokenStore>,
    /// Where every change is written (docs/design/audit.md).
    pub audit: Arc<dyn AuditStore>,
    /// Where a change and its event are written in one transaction.
    pub audited: Arc<dyn AuditedStore>,
    /// Upstream identity providers (`upstreams`).
    pub upstreams: Arc<dyn UpstreamStore>,
}

impl AdminStores {
    /// The stores of one value that implements every port (the CLI's database).
    pub fn all_in<T>(db: Arc<T>) -> AdminStores
    where
        T: ClientStore
            + GroupStore
            + ResourceStore
            + UserStore
            + FactorStore
            + PasskeyStore
            + BackchannelStore
            + RegistrationStore
            + InvitationStore
            + MailTokenStore
            + AuditStore
            + AuditedStore
            + UpstreamStore
            + 'static,
    {
        AdminStores {
            clients: db.clone(),
            groups: db.clone(),
            resources: db.clone(),
            users: db.clone(),
            factors: db.clone(),
            passkeys: db.clone(),
            backchannel: db.clone(),
            registration: db.clone(),
            invitations: db.clone(),
            mail: db.clone(),
            audit: db.clone(),
            upstreams: db.clone(),
            audited: db,
        }
    }

    /// The node's stores.
    pub fn of(core: &crate::Core) -> AdminStores {
        AdminStores {
            clients: core.stores.clients.clone(),
            groups: core.stores.groups.clone(),
            resources: core.stores.resources.clone(),
            users: core.stores.users.clone(),
            factors: core.stores.factors.clone(),
            passkeys: core.stores.passkeys.clone(),
            backchannel: core.stores.backchannel.clone(),
            registration: core.stores.registration.clone(),
            invitations: core.stores.invitations.clone(),
            mail: core.stores.mail.clone(),
            audit: core.stores.audit.clone(),
            audited: core.stores.audited.clone(),
            upstreams: core.stores.upstreams.clone(),
        }
    }
}

/// Who makes a change, from where, and when: what its audit event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct By {
    pub actor: AuditActor,
    /// The client address of the request (the API), when known.
    pub address: Option<String>,
    pub at: UnixTime,
}

impl By {
    /// The operator at a shell (`usher …`).
    pub fn cli(at: UnixTime) -> By {
        By {
            actor: AuditActor::Cli,
            address: None,
            at,
        }
    }

    /// An event of `kind` by this actor, at this time, from this address.
    pub fn event(&self, kind: AuditKind) -> AuditEvent {
        AuditEvent::new(self.at, kind, self.actor.clone()).address(self.address.as_deref())
    }
}

impl AdminStores {
    /// Runs `change` in one transaction with the events it records: a change and its
    /// audit event are written together or not at all (docs/design/audit.md).
    pub fn audited<T>(
        &self,
        change: impl FnOnce(&mut dyn AuditedChanges) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        usher_domain::audited(self.audited.as_ref(), change)
    }

    /// Writes the event of a change just made outside the database's transaction (a
    /// signing-key transition, a change in Redis). The change stands if the write fails
    /// (it is logged and counted); a change in the database uses [`AdminStores::audited`]
    /// instead (docs/design/audit.md).
    pub fn note(&self, event: AuditEvent) {
        let kind = event.kind;
        if let Err(e) = self.audit.record_event(&event) {
            crate::metrics::inc(crate::metrics::Counter::AuditWriteFailures, "");
            tracing::warn!(event = "audit_write_failed", kind = kind.as_str(), cause = %e, "an administrative change could not be written to the audit trail; the change stands");
        }
    }
}

/// Runs an operation on the blocking pool (the stores block).
pub async fn run<T, F>(f: F) -> Result<T, AdminError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AdminError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(cause = %e, "the blocking pool failed");
            Err(AdminError::Failure(Failure::Internal))
        }
    }
}

/// A time as RFC 3339 (UTC), as every view shows it.
pub fn rfc3339(t: UnixTime) -> String {
    chrono::DateTime::from_timestamp(t.seconds(), 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.seconds().to_string())
}

/// The entity tag of a view: a digest of its JSON, so any change to what the caller saw
/// changes it (RFC 9110 §8.8.3, a strong validator).
pub fn etag<T: serde::Serialize>(view: &T) -> String {
    use base64::Engine as _;
    let json = serde_json::to_vec(view).unwrap_or_default();
    let digest = openssl::sha::sha256(&json);
    format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18])
    )
}

/// Whether an `If-Match` header value admits the current `etag`: a list of strong tags
/// one of which is it. Weak tags never match (strong comparison, RFC 9110 §13.1.1), and
/// neither does `*`: it would match whatever is there now, bringing back the silent
/// overwrite the tag exists to prevent.
pub fn if_match_admits(header: &str, current: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| tag == current)
}

/// `Stale` unless `if_match` (when given) admits the entity tag of `view`, the current
/// representation.
pub fn check_if_match<T: serde::Serialize>(
    if_match: Option<&str>,
    view: &T,
) -> Result<(), AdminError> {
    match if_match {
        Some(tag) if !if_match_admits(tag, &etag(view)) => Err(AdminError::Stale),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_strongly() {
        let tag = etag(&serde_json::json!({"a": 1}));
        assert!(if_match_admits(&tag, &tag));
        assert!(!if_match_admits("*", &tag));
        assert!(!if_match_admits("\"x\", *", &tag));
        assert!(if_match_admits(&format!("\"x\", {tag}"), &tag));
        assert!(!if_match_admits(&format!("W/{tag}"), &tag));
        assert!(!if_match_admits("\"other\"", &tag));
        assert_ne!(tag, etag(&serde_json::json!({"a": 2})));
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(UnixTime(0)), "1970-01-01T00:00:00Z");
    }
}
