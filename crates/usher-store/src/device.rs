//! Device authorizations (RFC 8628): the `device_grants` table behind
//! [`DeviceGrantStore`].
//!
//! Each state change is ONE conditional `UPDATE`, so it happens once however many
//! requests race, on both backends (PostgreSQL re-checks the condition after waiting on
//! the row lock; SQLite serialises writers): the decision (`status = 'pending'` and not
//! expired → approved or denied), the poll's interval gate (`last_poll_at + interval <=
//! now` → the poll is recorded; otherwise the interval grows by five seconds, one
//! `UPDATE … RETURNING`), and the claim (`approved` → `claimed`). Codes and their hashes
//! never appear in error messages. Expired rows are purged with the other sign-in
//! records ([`Database::purge_expired`]).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use usher_domain::resource::{join_resources, split_resources};
use usher_domain::{
    AuthMethods, ClientId, DeviceApproval, DeviceGrant, DeviceGrantStatus, DeviceGrantStore,
    POLL_TOLERANCE_SECONDS, PollGate, SLOW_DOWN_SECONDS, ScopeSet, StoreError, UnixTime, UserId,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation, violation_mentions};
use crate::schema::device_grants;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = device_grants)]
struct DeviceGrantRow {
    device_code_hash: String,
    user_code_hash: String,
    client_id: String,
    scopes: String,
    resources: String,
    status: String,
    user_id: Option<String>,
    lineage_hash: Option<String>,
    auth_time: Option<i64>,
    amr: Option<String>,
    poll_interval: i64,
    last_poll_at: Option<i64>,
    created_at: i64,
    expires_at: i64,
}

impl DeviceGrantRow {
    fn from_domain(g: &DeviceGrant) -> DeviceGrantRow {
        let approval = g.approval.as_ref();
        DeviceGrantRow {
            device_code_hash: g.device_code_hash.clone(),
            user_code_hash: g.user_code_hash.clone(),
            client_id: g.client_id.as_str().to_owned(),
            scopes: g.scopes.to_string(),
            resources: join_resources(&g.resources),
            status: g.status.as_str().to_owned(),
            user_id: approval.map(|a| a.user_id.as_str().to_owned()),
            lineage_hash: approval.map(|a| a.lineage_hash.clone()),
            auth_time: approval.map(|a| a.auth_time.seconds()),
            amr: approval.map(|a| a.amr.to_stored()),
            poll_interval: g.interval,
            last_poll_at: g.last_poll_at.map(UnixTime::seconds),
            created_at: g.created_at.seconds(),
            expires_at: g.expires_at.seconds(),
        }
    }

    fn into_domain(self) -> Result<DeviceGrant, StoreError> {
        let client_id = ClientId::parse(&self.client_id)
            .ok_or_else(|| corrupt("a device authorization has an invalid client id"))?;
        let bad = |what: &str| corrupt(format!("a device authorization of {client_id} has {what}"));
        let scopes = ScopeSet::parse(&self.scopes).map_err(|_| bad("invalid scopes"))?;
        let resources = split_resources(&self.resources).ok_or_else(|| bad("a bad resource"))?;
        let status = DeviceGrantStatus::parse(&self.status).ok_or_else(|| bad("a bad status"))?;
        let approval = match (self.user_id, self.lineage_hash, self.auth_time, self.amr) {
            (Some(user), Some(lineage_hash), Some(auth_time), Some(amr)) => Some(DeviceApproval {
                user_id: UserId::parse(&user).ok_or_else(|| bad("an invalid user id"))?,
                lineage_hash,
                auth_time: UnixTime(auth_time),
                amr: AuthMethods::parse_stored(&amr).ok_or_else(|| bad("an invalid amr"))?,
            }),
            (None, None, None, None) => None,
            _ => return Err(bad("a partial approval")),
        };
        if matches!(
            status,
            DeviceGrantStatus::Approved | DeviceGrantStatus::Claimed
        ) && approval.is_none()
        {
            return Err(bad("no approval"));
        }
        Ok(DeviceGrant {
            device_code_hash: self.device_code_hash,
            user_code_hash: self.user_code_hash,
            client_id,
            scopes,
            resources,
            status,
            approval,
            interval: self.poll_interval,
            last_poll_at: self.last_poll_at.map(UnixTime),
            created_at: UnixTime(self.created_at),
            expires_at: UnixTime(self.expires_at),
        })
    }
}

/// $1 device code hash, $2 now, $3 the clock-skew tolerance: records a poll that kept
/// the interval. The tolerance is at most the interval less a second, so an interval of
/// one second is still one poll a second.
const POLL_SQL: &str = "UPDATE device_grants SET last_poll_at = $2 \
     WHERE device_code_hash = $1 AND status = 'pending' \
       AND (last_poll_at IS NULL OR last_poll_at + poll_interval <= $2 + \
            CASE WHEN poll_interval > $3 THEN $3 ELSE poll_interval - 1 END)";

/// $1 device code hash, $2 now, $3 the slow-down step: a poll that came too soon.
const SLOW_DOWN_SQL: &str = "UPDATE device_grants \
     SET poll_interval = poll_interval + $3, last_poll_at = $2 \
     WHERE device_code_hash = $1 AND status = 'pending' RETURNING poll_interval";

#[derive(QueryableByName)]
struct Interval {
    #[diesel(sql_type = BigInt)]
    poll_interval: i64,
}

/// `sql` as SQLite writes its placeholders.
fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

impl DeviceGrantStore for Database {
    fn insert_device_grant(&self, grant: &DeviceGrant) -> Result<bool, StoreError> {
        let row = DeviceGrantRow::from_domain(grant);
        let mut conn = self.conn()?;
        match diesel::insert_into(device_grants::table)
            .values(&row)
            .execute(&mut *conn)
        {
            Ok(_) => Ok(true),
            Err(e) => match unique_violation(&e) {
                Some(info) if violation_mentions(info, "user_code_hash") => Ok(false),
                Some(_) => Err(StoreError::Conflict("a device code was drawn twice".into())),
                None => Err(unavailable(e)),
            },
        }
    }

    fn find_device_grant(&self, device_code_hash: &str) -> Result<Option<DeviceGrant>, StoreError> {
        let mut conn = self.conn()?;
        let row: Option<DeviceGrantRow> = device_grants::table
            .filter(device_grants::device_code_hash.eq(device_code_hash))
            .select(DeviceGrantRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?;
        row.map(DeviceGrantRow::into_domain).transpose()
    }

    fn find_device_grant_by_user_code(
        &self,
        user_code_hash: &str,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        let mut conn = self.conn()?;
        let row: Option<DeviceGrantRow> = device_grants::table
            .filter(device_grants::user_code_hash.eq(user_code_hash))
            .select(DeviceGrantRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?;
        row.map(DeviceGrantRow::into_domain).transpose()
    }

    fn decide_device_grant(
        &self,
        user_code_hash: &str,
        approval: Option<&DeviceApproval>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let target = device_grants::table
            .filter(device_grants::user_code_hash.eq(user_code_hash))
            .filter(device_grants::status.eq(DeviceGrantStatus::Pending.as_str()))
            .filter(device_grants::expires_at.gt(now.seconds()));
        let changed = match approval {
            Some(a) => diesel::update(target)
                .set((
                    device_grants::status.eq(DeviceGrantStatus::Approved.as_str()),
                    device_grants::user_id.eq(Some(a.user_id.as_str())),
                    device_grants::lineage_hash.eq(Some(a.lineage_hash.as_str())),
                    device_grants::auth_time.eq(Some(a.auth_time.seconds())),
                    device_grants::amr.eq(Some(a.amr.to_stored())),
                ))
                .execute(&mut *conn),
            None => diesel::update(target)
                .set(device_grants::status.eq(DeviceGrantStatus::Denied.as_str()))
                .execute(&mut *conn),
        }
        .map_err(unavailable)?;
        Ok(changed == 1)
    }

    fn deny_unclaimed_device_grants(
        &self,
        user: &UserId,
        client: &ClientId,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(
            device_grants::table
                .filter(device_grants::user_id.eq(user.as_str()))
                .filter(device_grants::client_id.eq(client.as_str()))
                .filter(device_grants::status.eq(DeviceGrantStatus::Approved.as_str())),
        )
        .set(device_grants::status.eq(DeviceGrantStatus::Denied.as_str()))
        .execute(&mut *conn)
        .map_err(unavailable)
    }

    fn poll_device_grant(
        &self,
        device_code_hash: &str,
        now: UnixTime,
    ) -> Result<PollGate, StoreError> {
        let mut conn = self.conn()?;
        let now = now.seconds();
        let kept = match &mut *conn {
            AnyConnection::Sqlite(c) => diesel::sql_query(sqlite(POLL_SQL))
                .bind::<Text, _>(device_code_hash)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(POLL_TOLERANCE_SECONDS)
                .execute(c),
            AnyConnection::Postgresql(c) => diesel::sql_query(POLL_SQL)
                .bind::<Text, _>(device_code_hash)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(POLL_TOLERANCE_SECONDS)
                .execute(c),
        }
        .map_err(unavailable)?;
        if kept == 1 {
            return Ok(PollGate::Pending);
        }
        let rows: Vec<Interval> = match &mut *conn {
            AnyConnection::Sqlite(c) => diesel::sql_query(sqlite(SLOW_DOWN_SQL))
                .bind::<Text, _>(device_code_hash)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(SLOW_DOWN_SECONDS)
                .load(c),
            AnyConnection::Postgresql(c) => diesel::sql_query(SLOW_DOWN_SQL)
                .bind::<Text, _>(device_code_hash)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(SLOW_DOWN_SECONDS)
                .load(c),
        }
        .map_err(unavailable)?;
        Ok(match rows.into_iter().next() {
            Some(r) => PollGate::SlowDown {
                interval: r.poll_interval,
            },
            None => PollGate::NotPending,
        })
    }

    fn claim_device_grant(
        &self,
        device_code_hash: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let changed = diesel::update(
            device_grants::table
                .filter(device_grants::device_code_hash.eq(device_code_hash))
                .filter(device_grants::status.eq(DeviceGrantStatus::Approved.as_str()))
                .filter(device_grants::expires_at.gt(now.seconds())),
        )
        .set(device_grants::status.eq(DeviceGrantStatus::Claimed.as_str()))
        .execute(&mut *conn)
        .map_err(unavailable)?;
        Ok(changed == 1)
    }
}
