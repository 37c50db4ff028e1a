//! Upstream identity providers and the identities linked through them: the `upstreams`
//! and `upstream_identities` tables behind [`UpstreamStore`] (migration 000032,
//! docs/design/upstream.md).
//!
//! An upstream's claim mapping and manual endpoints are stored as JSON text; its client
//! secret only sealed (the store never sees it in clear). A linked identity is one row
//! keyed by (upstream, subject), so two first sign-ins of one upstream person racing on
//! two nodes link it once: the loser's insert fails on the key, and
//! [`UpstreamStore::create_person_with_identity`] rolls back the person it created with
//! it and names the person the winner linked.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use usher_domain::{
    ClaimMapping, JitInsert, ManualEndpoints, StoreError, UnixTime, Upstream, UpstreamId,
    UpstreamIdentity, UpstreamStore, User, UserId,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation, violation_mentions};
use crate::schema::{upstream_identities, upstreams, users};
use crate::users::UserRow;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = upstreams)]
struct UpstreamRow {
    id: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret_sealed: Option<String>,
    scope: String,
    claim_mapping: String,
    endpoints: Option<String>,
    enabled: bool,
    trusted_for_mfa: bool,
    create_people: bool,
    created_at: i64,
}

impl UpstreamRow {
    fn from_domain(upstream: &Upstream) -> Result<UpstreamRow, StoreError> {
        let json = |what: &str, e: serde_json::Error| {
            StoreError::Unavailable(format!("an upstream's {what} did not serialise: {e}"))
        };
        Ok(UpstreamRow {
            id: upstream.id.as_str().to_owned(),
            name: upstream.name.clone(),
            issuer: upstream.issuer.clone(),
            client_id: upstream.client_id.clone(),
            client_secret_sealed: upstream.client_secret_sealed.clone(),
            scope: upstream.scope.clone(),
            claim_mapping: serde_json::to_string(&upstream.claim_mapping)
                .map_err(|e| json("claim mapping", e))?,
            endpoints: upstream
                .endpoints
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| json("endpoints", e))?,
            enabled: upstream.enabled,
            trusted_for_mfa: upstream.trusted_for_mfa,
            create_people: upstream.create_people,
            created_at: upstream.created_at.seconds(),
        })
    }

    fn into_domain(self) -> Result<Upstream, StoreError> {
        let id = UpstreamId::parse(&self.id)
            .map_err(|_| corrupt(format!("upstream id {:?} is not valid", self.id)))?;
        let bad = |what: &str| corrupt(format!("upstream {id}: {what}"));
        let claim_mapping = serde_json::from_str::<ClaimMapping>(&self.claim_mapping)
            .map_err(|_| bad("the claim mapping is not valid"))?;
        let endpoints = self
            .endpoints
            .as_deref()
            .map(serde_json::from_str::<ManualEndpoints>)
            .transpose()
            .map_err(|_| bad("the endpoints are not valid"))?;
        Ok(Upstream {
            name: self.name,
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret_sealed: self.client_secret_sealed,
            scope: self.scope,
            claim_mapping,
            endpoints,
            enabled: self.enabled,
            trusted_for_mfa: self.trusted_for_mfa,
            create_people: self.create_people,
            created_at: UnixTime(self.created_at),
            id,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = upstream_identities)]
struct IdentityRow {
    upstream_id: String,
    subject: String,
    user_id: String,
    created_at: i64,
}

impl IdentityRow {
    fn from_domain(identity: &UpstreamIdentity) -> IdentityRow {
        IdentityRow {
            upstream_id: identity.upstream.as_str().to_owned(),
            subject: identity.subject.clone(),
            user_id: identity.user_id.as_str().to_owned(),
            created_at: identity.created_at.seconds(),
        }
    }

    fn into_domain(self) -> Result<UpstreamIdentity, StoreError> {
        let upstream = UpstreamId::parse(&self.upstream_id).map_err(|_| {
            corrupt(format!(
                "upstream identity: upstream id {:?} is not valid",
                self.upstream_id
            ))
        })?;
        let user_id = UserId::parse(&self.user_id).ok_or_else(|| {
            corrupt(format!(
                "upstream identity of {upstream}: user id {:?} is not valid",
                self.user_id
            ))
        })?;
        Ok(UpstreamIdentity {
            upstream,
            subject: self.subject,
            user_id,
            created_at: UnixTime(self.created_at),
        })
    }
}

/// [`UpstreamStore::insert_upstream`] on `conn` (also in an [`crate::audit::Audited`]
/// transaction: the insert runs in a savepoint, so an id taken leaves the transaction
/// usable on PostgreSQL).
pub(crate) fn insert_upstream_on(
    conn: &mut AnyConnection,
    upstream: &Upstream,
) -> Result<bool, StoreError> {
    let row = UpstreamRow::from_domain(upstream)?;
    match conn.transaction::<_, DieselError, _>(|c| {
        diesel::insert_into(upstreams::table)
            .values(&row)
            .execute(c)
    }) {
        Ok(_) => Ok(true),
        Err(e) if unique_violation(&e).is_some() => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

/// [`UpstreamStore::update_upstream`] on `conn`: every column but `id` and `created_at`.
pub(crate) fn update_upstream_on(
    conn: &mut AnyConnection,
    upstream: &Upstream,
) -> Result<bool, StoreError> {
    let row = UpstreamRow::from_domain(upstream)?;
    diesel::update(upstreams::table.filter(upstreams::id.eq(&row.id)))
        .set((
            upstreams::name.eq(&row.name),
            upstreams::issuer.eq(&row.issuer),
            upstreams::client_id.eq(&row.client_id),
            upstreams::client_secret_sealed.eq(&row.client_secret_sealed),
            upstreams::scope.eq(&row.scope),
            upstreams::claim_mapping.eq(&row.claim_mapping),
            upstreams::endpoints.eq(&row.endpoints),
            upstreams::enabled.eq(row.enabled),
            upstreams::trusted_for_mfa.eq(row.trusted_for_mfa),
            upstreams::create_people.eq(row.create_people),
        ))
        .execute(conn)
        .map(|updated| updated == 1)
        .map_err(unavailable)
}

/// [`UpstreamStore::delete_upstream`] on `conn`.
pub(crate) fn delete_upstream_on(
    conn: &mut AnyConnection,
    id: &UpstreamId,
) -> Result<bool, StoreError> {
    conn.transaction::<_, DieselError, _>(|c| {
        // The foreign key cascades too; deleting explicitly keeps this correct on a
        // connection where SQLite's foreign keys were somehow left off.
        diesel::delete(
            upstream_identities::table.filter(upstream_identities::upstream_id.eq(id.as_str())),
        )
        .execute(c)?;
        diesel::delete(upstreams::table.filter(upstreams::id.eq(id.as_str()))).execute(c)
    })
    .map(|deleted| deleted == 1)
    .map_err(unavailable)
}

fn find_identity_on(
    conn: &mut AnyConnection,
    upstream: &UpstreamId,
    subject: &str,
) -> Result<Option<UpstreamIdentity>, StoreError> {
    upstream_identities::table
        .filter(upstream_identities::upstream_id.eq(upstream.as_str()))
        .filter(upstream_identities::subject.eq(subject))
        .select(IdentityRow::as_select())
        .first(conn)
        .optional()
        .map_err(unavailable)?
        .map(IdentityRow::into_domain)
        .transpose()
}

/// Why the just-in-time transaction ended early (it rolls back on every `Err`).
enum Abort {
    UsernameTaken,
    AlreadyLinked,
    Db(DieselError),
    Store(StoreError),
}

impl From<DieselError> for Abort {
    fn from(e: DieselError) -> Abort {
        Abort::Db(e)
    }
}

impl UpstreamStore for Database {
    fn insert_upstream(&self, upstream: &Upstream) -> Result<bool, StoreError> {
        insert_upstream_on(&mut *self.conn()?, upstream)
    }

    fn get_upstream(&self, id: &UpstreamId) -> Result<Option<Upstream>, StoreError> {
        let mut conn = self.conn()?;
        upstreams::table
            .filter(upstreams::id.eq(id.as_str()))
            .select(UpstreamRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(UpstreamRow::into_domain)
            .transpose()
    }

    fn list_upstreams(&self) -> Result<Vec<Upstream>, StoreError> {
        let mut conn = self.conn()?;
        let mut listed = upstreams::table
            .select(UpstreamRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(UpstreamRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        // By bytes, not by the database's collation.
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listed)
    }

    fn update_upstream(&self, upstream: &Upstream) -> Result<bool, StoreError> {
        update_upstream_on(&mut *self.conn()?, upstream)
    }

    fn delete_upstream(&self, id: &UpstreamId) -> Result<bool, StoreError> {
        delete_upstream_on(&mut *self.conn()?, id)
    }

    fn find_identity(
        &self,
        upstream: &UpstreamId,
        subject: &str,
    ) -> Result<Option<UpstreamIdentity>, StoreError> {
        find_identity_on(&mut *self.conn()?, upstream, subject)
    }

    fn link_identity(&self, identity: &UpstreamIdentity) -> Result<bool, StoreError> {
        let row = IdentityRow::from_domain(identity);
        let mut conn = self.conn()?;
        match conn.transaction::<_, DieselError, _>(|c| {
            diesel::insert_into(upstream_identities::table)
                .values(&row)
                .execute(c)
        }) {
            Ok(_) => Ok(true),
            // Linked already, to this person or another (a racing link won).
            Err(e) if unique_violation(&e).is_some() => Ok(false),
            Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
                Err(StoreError::Conflict(format!(
                    "no upstream {} or no such person",
                    identity.upstream
                )))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    fn list_identities(&self, user: &UserId) -> Result<Vec<UpstreamIdentity>, StoreError> {
        let mut conn = self.conn()?;
        upstream_identities::table
            .filter(upstream_identities::user_id.eq(user.as_str()))
            .order((
                upstream_identities::created_at.asc(),
                upstream_identities::upstream_id.asc(),
                upstream_identities::subject.asc(),
            ))
            .select(IdentityRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(IdentityRow::into_domain)
            .collect()
    }

    fn unlink_identity(
        &self,
        user: &UserId,
        upstream: &UpstreamId,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(
            upstream_identities::table
                .filter(upstream_identities::user_id.eq(user.as_str()))
                .filter(upstream_identities::upstream_id.eq(upstream.as_str()))
                .filter(upstream_identities::subject.eq(subject)),
        )
        .execute(&mut *conn)
        .map(|deleted| deleted == 1)
        .map_err(unavailable)
    }

    fn create_person_with_identity(
        &self,
        user: &User,
        identity: &UpstreamIdentity,
    ) -> Result<JitInsert, StoreError> {
        let person = UserRow::from_domain(user)?;
        let link = IdentityRow::from_domain(identity);
        let mut conn = self.conn()?;
        // Writes first, reads after: a SQLite transaction that read before writing could
        // not wait for the write lock (its snapshot would be stale), while a first write
        // waits out the busy timeout. On PostgreSQL the loser's link insert waits for the
        // winner's commit and then fails on the key.
        let result = conn.transaction::<_, Abort, _>(|c| {
            if let Err(e) = diesel::insert_into(users::table).values(&person).execute(c) {
                return Err(match unique_violation(&e) {
                    Some(info) if violation_mentions(info, "username") => Abort::UsernameTaken,
                    Some(_) => Abort::Store(StoreError::Conflict(format!(
                        "user id {} already exists",
                        user.id
                    ))),
                    None => Abort::Db(e),
                });
            }
            match diesel::insert_into(upstream_identities::table)
                .values(&link)
                .execute(c)
            {
                Ok(_) => Ok(()),
                Err(e) if unique_violation(&e).is_some() => Err(Abort::AlreadyLinked),
                Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
                    Err(Abort::Store(StoreError::Conflict(format!(
                        "no upstream {}",
                        identity.upstream
                    ))))
                }
                Err(e) => Err(Abort::Db(e)),
            }
        });
        // Rolled back on every `Err`: what follows reads on a clean connection.
        let linked = |conn: &mut AnyConnection| {
            find_identity_on(conn, &identity.upstream, &identity.subject)
                .map(|found| found.map(|i| JitInsert::AlreadyLinked(i.user_id)))
        };
        match result {
            Ok(()) => Ok(JitInsert::Created),
            // Both taken: the link is what the caller can use (sign that person in).
            Err(Abort::UsernameTaken) => Ok(linked(&mut conn)?.unwrap_or(JitInsert::UsernameTaken)),
            Err(Abort::AlreadyLinked) => linked(&mut conn)?.ok_or_else(|| {
                StoreError::Conflict(format!(
                    "an identity of upstream {} was linked and unlinked meanwhile",
                    identity.upstream
                ))
            }),
            Err(Abort::Db(e)) => Err(unavailable(e)),
            Err(Abort::Store(e)) => Err(e),
        }
    }
}
