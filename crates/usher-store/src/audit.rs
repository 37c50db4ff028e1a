//! The audit trail: the `audit_events` table behind [`AuditStore`] (migration 000030,
//! docs/design/audit.md), and [`Database::audited`], the transaction in which a change
//! and the event that tells of it are written together — both or neither.
//!
//! Rows are only inserted and, past the retention, deleted. Ids come from the database
//! (SQLite `AUTOINCREMENT`, a PostgreSQL identity column), so concurrent writers on any
//! node each get their own, and listings page by id.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use usher_domain::{
    AuditActor, AuditDetail, AuditEvent, AuditFilter, AuditKind, AuditOrder, AuditStore,
    AuditedChanges, AuditedStore, Client, ClientAccess, ClientId, Email, Group, GroupName,
    InitialAccessToken, Invitation, Membership, RecordedAuditEvent, Resource, ResourceUri,
    StoreError, UnixTime, Upstream, UpstreamId, User, UserId, Username,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable};
use crate::schema::audit_events;

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewRow<'a> {
    at: i64,
    kind: &'a str,
    actor: String,
    person_id: Option<&'a str>,
    client_id: Option<&'a str>,
    target: Option<&'a str>,
    address: Option<&'a str>,
    detail: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_events)]
struct Row {
    id: i64,
    at: i64,
    kind: String,
    actor: String,
    person_id: Option<String>,
    client_id: Option<String>,
    target: Option<String>,
    address: Option<String>,
    detail: String,
}

impl Row {
    fn into_domain(self) -> Result<RecordedAuditEvent, StoreError> {
        let id = self.id;
        let bad = |what: &str| corrupt(format!("audit event {id}: {what}"));
        Ok(RecordedAuditEvent {
            id,
            event: AuditEvent {
                at: UnixTime(self.at),
                kind: AuditKind::parse(&self.kind).map_err(|e| bad(&e.to_string()))?,
                actor: AuditActor::parse(&self.actor).map_err(|e| bad(&e.to_string()))?,
                person: self
                    .person_id
                    .map(|p| UserId::parse(&p).ok_or_else(|| bad("the person id is not valid")))
                    .transpose()?,
                client: self
                    .client_id
                    .map(|c| ClientId::parse(&c).ok_or_else(|| bad("the client id is not valid")))
                    .transpose()?,
                target: self.target,
                address: self.address,
                detail: AuditDetail::from_stored(&self.detail)
                    .ok_or_else(|| bad("the detail is not a JSON object"))?,
            },
        })
    }
}

/// Inserts `event` on `conn`; returns its id.
pub(crate) fn record_on(conn: &mut AnyConnection, event: &AuditEvent) -> Result<i64, StoreError> {
    let row = NewRow {
        at: event.at.seconds(),
        kind: event.kind.as_str(),
        actor: event.actor.to_stored(),
        person_id: event.person.as_ref().map(UserId::as_str),
        client_id: event.client.as_ref().map(ClientId::as_str),
        target: event.target.as_deref(),
        address: event.address.as_deref(),
        detail: event.detail.to_stored(),
    };
    diesel::insert_into(audit_events::table)
        .values(&row)
        .returning(audit_events::id)
        .get_result::<i64>(conn)
        .map_err(unavailable)
}

impl AuditStore for Database {
    fn record_event(&self, event: &AuditEvent) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        record_on(&mut conn, event)
    }

    fn list_events(&self, filter: &AuditFilter) -> Result<Vec<RecordedAuditEvent>, StoreError> {
        let mut query = audit_events::table.into_boxed();
        if let Some(person) = &filter.person {
            query = query.filter(audit_events::person_id.eq(person.as_str().to_owned()));
        }
        if let Some(client) = &filter.client {
            query = query.filter(audit_events::client_id.eq(client.as_str().to_owned()));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(audit_events::kind.eq(kind.as_str()));
        }
        if let Some(since) = filter.since {
            query = query.filter(audit_events::at.ge(since.seconds()));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_events::at.lt(until.seconds()));
        }
        if let Some(after) = filter.after_id {
            query = query.filter(audit_events::id.gt(after));
        }
        if let Some(before) = filter.before_id {
            query = query.filter(audit_events::id.lt(before));
        }
        query = match filter.order {
            AuditOrder::NewestFirst => query.order(audit_events::id.desc()),
            AuditOrder::OldestFirst => query.order(audit_events::id.asc()),
        };
        let limit = i64::try_from(filter.page_size()).unwrap_or(i64::MAX);
        let mut conn = self.conn()?;
        query
            .limit(limit)
            .select(Row::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(Row::into_domain)
            .collect()
    }

    fn purge_events_before(&self, cutoff: UnixTime) -> Result<usize, StoreError> {
        // In batches, each its own statement: a large purge never holds the database's
        // write lock (SQLite has one) for long, so sign-ins go on between batches.
        const BATCH: i64 = 5_000;
        let mut conn = self.conn()?;
        let mut deleted = 0;
        loop {
            let ids: Vec<i64> = audit_events::table
                .filter(audit_events::at.lt(cutoff.seconds()))
                .select(audit_events::id)
                .order(audit_events::id.asc())
                .limit(BATCH)
                .load(&mut *conn)
                .map_err(unavailable)?;
            if ids.is_empty() {
                return Ok(deleted);
            }
            deleted += diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&ids)))
                .execute(&mut *conn)
                .map_err(unavailable)?;
            if ids.len() < BATCH as usize {
                return Ok(deleted);
            }
        }
    }
}

/// A failure inside [`Database::audited`]: ours, or the driver's (from `COMMIT`).
enum TxFailure {
    Store(StoreError),
    Driver(DieselError),
}

impl From<DieselError> for TxFailure {
    fn from(e: DieselError) -> TxFailure {
        TxFailure::Driver(e)
    }
}

/// The changes that can be made in one transaction with the audit events that tell of
/// them ([`Database::audited`]): the database's [`AuditedChanges`], each method the
/// store method of the same name run on the transaction's connection.
pub struct Audited<'c> {
    conn: &'c mut AnyConnection,
}

impl std::fmt::Debug for Audited<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Audited")
    }
}

impl AuditedChanges for Audited<'_> {
    fn record(&mut self, event: &AuditEvent) -> Result<i64, StoreError> {
        record_on(self.conn, event)
    }

    fn insert_client(&mut self, client: &Client) -> Result<(), StoreError> {
        crate::clients::insert_client_on(self.conn, client)
    }

    fn set_client_access_if(
        &mut self,
        id: &ClientId,
        expected: ClientAccess<'_>,
        new: ClientAccess<'_>,
    ) -> Result<bool, StoreError> {
        crate::clients::set_client_access_if_on(self.conn, id, expected, new)
    }

    fn set_client_secret_hash(&mut self, id: &ClientId, hash: &str) -> Result<bool, StoreError> {
        crate::clients::set_client_secret_hash_on(self.conn, id, hash)
    }

    fn delete_client(&mut self, id: &ClientId) -> Result<bool, StoreError> {
        crate::clients::delete_client_on(self.conn, id)
    }

    fn insert_group(&mut self, group: &Group) -> Result<bool, StoreError> {
        crate::groups::insert_group_on(self.conn, group)
    }

    fn delete_group(&mut self, name: &GroupName) -> Result<bool, StoreError> {
        crate::groups::delete_group_on(self.conn, name)
    }

    fn add_member(
        &mut self,
        group: &GroupName,
        user: &Username,
        now: UnixTime,
    ) -> Result<Membership, StoreError> {
        crate::groups::add_member_on(self.conn, group, user, now)
    }

    fn remove_member(
        &mut self,
        group: &GroupName,
        user: &Username,
    ) -> Result<Membership, StoreError> {
        crate::groups::remove_member_on(self.conn, group, user)
    }

    fn insert_resource(&mut self, resource: &Resource) -> Result<bool, StoreError> {
        crate::resources::insert_resource_on(self.conn, resource)
    }

    fn update_resource_if(
        &mut self,
        resource: &Resource,
        expected: &Resource,
    ) -> Result<bool, StoreError> {
        crate::resources::update_resource_if_on(self.conn, resource, expected)
    }

    fn delete_resource(&mut self, uri: &ResourceUri) -> Result<bool, StoreError> {
        crate::resources::delete_resource_on(self.conn, uri)
    }

    fn insert_user(&mut self, user: &User) -> Result<(), StoreError> {
        crate::users::insert_user_on(self.conn, user)
    }

    fn delete_user(&mut self, username: &Username) -> Result<bool, StoreError> {
        crate::users::delete_user_on(self.conn, username)
    }

    fn set_password_hash(&mut self, username: &Username, hash: &str) -> Result<bool, StoreError> {
        crate::users::set_password_hash_on(self.conn, username, hash)
    }

    fn update_person_if(&mut self, expected: &User, new: &User) -> Result<bool, StoreError> {
        crate::users::update_person_if_on(self.conn, expected, new)
    }

    fn set_disabled(&mut self, user: &UserId, at: Option<UnixTime>) -> Result<bool, StoreError> {
        crate::users::set_disabled_on(self.conn, user, at)
    }

    fn delete_factors(&mut self, user: &UserId) -> Result<usize, StoreError> {
        crate::factors::delete_factors_on(self.conn, user)
    }

    fn delete_user_sessions(&mut self, user: &UserId) -> Result<usize, StoreError> {
        crate::sessions::delete_user_sessions_on(self.conn, user)
    }

    fn insert_initial_access_token(
        &mut self,
        token: &InitialAccessToken,
    ) -> Result<(), StoreError> {
        crate::registration::insert_initial_access_token_on(self.conn, token)
    }

    fn delete_initial_access_token(&mut self, id: &str) -> Result<bool, StoreError> {
        crate::registration::delete_initial_access_token_on(self.conn, id)
    }

    fn insert_invitation(&mut self, invitation: &Invitation) -> Result<(), StoreError> {
        crate::invitations::insert_invitation_on(self.conn, invitation)
    }

    fn revoke_invitations(&mut self, email: &Email) -> Result<usize, StoreError> {
        crate::invitations::revoke_invitations_on(self.conn, email)
    }

    fn insert_upstream(&mut self, upstream: &Upstream) -> Result<bool, StoreError> {
        crate::upstreams::insert_upstream_on(self.conn, upstream)
    }

    fn update_upstream(&mut self, upstream: &Upstream) -> Result<bool, StoreError> {
        crate::upstreams::update_upstream_on(self.conn, upstream)
    }

    fn delete_upstream(&mut self, id: &UpstreamId) -> Result<bool, StoreError> {
        crate::upstreams::delete_upstream_on(self.conn, id)
    }
}

impl AuditedStore for Database {
    fn run_audited(
        &self,
        change: &mut dyn FnMut(&mut dyn AuditedChanges) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.audited(|tx| change(tx))
    }
}

impl Database {
    /// Runs `change` in one transaction: the changes it makes through [`Audited`] and the
    /// events it records there are committed together, or (when it returns an error, or
    /// the commit fails) none of them. The change decides which events to record, so an
    /// event can depend on what the change found (`delete_user` returning `false`
    /// records nothing).
    ///
    /// ```ignore
    /// db.audited(|tx| {
    ///     let deleted = tx.delete_user(&username)?;
    ///     if deleted {
    ///         tx.record(&AuditEvent::new(now, AuditKind::PersonDeleted, AuditActor::Cli))?;
    ///     }
    ///     Ok(deleted)
    /// })
    /// ```
    pub fn audited<T>(
        &self,
        change: impl FnOnce(&mut dyn AuditedChanges) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        conn.transaction::<T, TxFailure, _>(|c| {
            let mut tx = Audited { conn: c };
            change(&mut tx as &mut dyn AuditedChanges).map_err(TxFailure::Store)
        })
        .map_err(|e| match e {
            TxFailure::Store(e) => e,
            TxFailure::Driver(e) => unavailable(e),
        })
    }
}
