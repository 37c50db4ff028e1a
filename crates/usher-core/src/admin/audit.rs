//! Reading the audit trail: `usher audit list | export` and `/admin/api/v1/audit`. One
//! view of an event and one reading of the filters serve both (docs/design/audit.md).

use usher_domain::{
    AuditFilter, AuditKind, AuditOrder, ClientId, MAX_AUDIT_PAGE, RecordedAuditEvent, UnixTime,
    UserId,
};

use super::{AdminError, rfc3339};

/// One event as shown: the export's JSON line and the list's element. `detail` is the
/// stored object, which never holds a secret.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// The same instant, RFC 3339.
    pub time: String,
    pub kind: String,
    /// `person:<id>`, `client:<id>`, `cli`, `system` or `anonymous`.
    pub actor: String,
    pub person_id: Option<String>,
    pub client_id: Option<String>,
    pub target: Option<String>,
    pub address: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl AuditEventView {
    pub fn of(e: &RecordedAuditEvent) -> AuditEventView {
        let ev = &e.event;
        AuditEventView {
            id: e.id,
            at: ev.at.seconds(),
            time: rfc3339(ev.at),
            kind: ev.kind.as_str().to_owned(),
            actor: ev.actor.to_stored(),
            person_id: ev.person.as_ref().map(|p| p.as_str().to_owned()),
            client_id: ev.client.as_ref().map(|c| c.as_str().to_owned()),
            target: ev.target.clone(),
            address: ev.address.clone(),
            detail: ev.detail.to_value(),
        }
    }
}

/// The filters as typed, before parsing (a command line's flags, a query string).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// A person's id.
    pub person: Option<String>,
    /// A client's id.
    pub client: Option<String>,
    /// An event kind, e.g. `client.created`, `sign_in.failed`.
    pub kind: Option<String>,
    /// At or after: RFC 3339 or unix seconds.
    pub since: Option<String>,
    /// Before: RFC 3339 or unix seconds.
    pub until: Option<String>,
    /// Newest first: events with a smaller id (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// Oldest first (export): events with a greater id.
    pub after: Option<i64>,
    /// Events per page, 1 to 500 (default 100).
    pub limit: Option<usize>,
}

/// A time as an operator writes it: unix seconds, or RFC 3339 (`2026-12-03T14:00:00Z`).
pub fn parse_time(flag: &str, raw: &str) -> Result<UnixTime, AdminError> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<i64>() {
        return Ok(UnixTime(seconds));
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| UnixTime(t.timestamp()))
        .map_err(|_| {
            AdminError::Invalid(format!(
                "{flag} {raw:?} is neither RFC 3339 (2026-12-03T14:00:00Z) nor unix seconds"
            ))
        })
}

impl AuditQuery {
    /// The filter these values ask for, in `order`.
    pub fn filter(&self, order: AuditOrder) -> Result<AuditFilter, AdminError> {
        let invalid = AdminError::Invalid;
        let since = self
            .since
            .as_deref()
            .map(|t| parse_time("--since", t))
            .transpose()?;
        let until = self
            .until
            .as_deref()
            .map(|t| parse_time("--until", t))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            return Err(invalid("--since must be before --until".to_owned()));
        }
        Ok(AuditFilter {
            person: self
                .person
                .as_deref()
                .map(|p| {
                    UserId::parse(p).ok_or_else(|| invalid(format!("{p:?} is not a person id")))
                })
                .transpose()?,
            client: self
                .client
                .as_deref()
                .map(|c| {
                    ClientId::parse(c).ok_or_else(|| invalid(format!("{c:?} is not a client id")))
                })
                .transpose()?,
            kind: self
                .kind
                .as_deref()
                .map(AuditKind::parse)
                .transpose()
                .map_err(|e| invalid(format!("--kind: {e}")))?,
            since,
            until,
            before_id: self.before,
            after_id: self.after,
            order,
            limit: match self.limit {
                Some(n) if n == 0 || n > MAX_AUDIT_PAGE => {
                    return Err(invalid(format!(
                        "--limit {n} is not between 1 and {MAX_AUDIT_PAGE}"
                    )));
                }
                other => other,
            },
        })
    }
}

/// A page of the trail, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    /// The `before` of the next page; absent when this page was not full.
    pub next_before: Option<i64>,
}

/// The page `filter` (newest first) finds in `stores`.
pub fn list(stores: &super::AdminStores, filter: &AuditFilter) -> Result<AuditPage, AdminError> {
    let events = stores.audit.list_events(filter)?;
    // A full page may have more behind it.
    let next_before = (events.len() == filter.page_size())
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(AuditPage {
        events: events.iter().map(AuditEventView::of).collect(),
        next_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_unix_seconds_or_rfc_3339() {
        assert_eq!(
            parse_time("--since", "1700000000").unwrap(),
            UnixTime(1_700_000_000)
        );
        assert_eq!(
            parse_time("--since", "2023-11-14T22:13:20Z").unwrap(),
            UnixTime(1_700_000_000)
        );
        assert_eq!(
            parse_time("--since", "2023-11-15T00:13:20+02:00").unwrap(),
            UnixTime(1_700_000_000)
        );
        assert!(parse_time("--since", "yesterday").is_err());
        assert!(parse_time("--since", "2023-11-14").is_err());
    }
}
