//! `/admin/api/v1/audit`: the audit trail, newest first and filtered (person, client,
//! kind, time), and `/admin/api/v1/audit/export`: JSON lines, oldest first, for a SIEM.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::Core;
use usher_core::admin::audit::{self, AuditEventView, AuditPage, AuditQuery};
use usher_core::admin::auth::Need;
use usher_core::admin::{AdminError, AdminStores, run};
use usher_domain::{AuditOrder, MAX_AUDIT_PAGE};

use super::{ErrorBody, PREFIX, caller, plain, refusal, respond};

/// The most events one export answer holds; `Usher-Next-After` names where the next
/// one starts when there are more.
pub const EXPORT_MAX: usize = 10 * MAX_AUDIT_PAGE;

/// The header naming the `after` of the next export answer.
pub const NEXT_AFTER: &str = "Usher-Next-After";

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/audit")).route(web::get().to(list)),
        web::resource(format!("{PREFIX}/audit/export")).route(web::get().to(export)),
    ]
}

/// Lists audit events, newest first (`next_before` pages on).
#[utoipa::path(get, path = "/admin/api/v1/audit", tag = "audit", operation_id = "audit_list",
    params(AuditQuery),
    responses((status = 200, description = "OK", body = AuditPage), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            caller(&req, &state, Need::Read).await?;
            let query = super::query::<AuditQuery>(&req)?;
            let filter = query.filter(AuditOrder::NewestFirst).map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let page = run(move || audit::list(&stores, &filter))
                .await
                .map_err(refusal)?;
            Ok(plain(StatusCode::OK, &page))
        }
        .await,
    )
}

/// Exports audit events as JSON lines, oldest first: at most 5,000 per answer; when
/// there are more, `Usher-Next-After` is the `after` of the next request.
#[utoipa::path(get, path = "/admin/api/v1/audit/export", tag = "audit", operation_id = "audit_export",
    params(AuditQuery),
    responses((status = 200, description = "One JSON object per line (application/x-ndjson)", content_type = "application/x-ndjson", body = AuditEventView, headers(("Usher-Next-After" = i64, description = "present when more events follow"))), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn export(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            caller(&req, &state, Need::Read).await?;
            let mut query = super::query::<AuditQuery>(&req)?;
            query.before = None;
            query.limit = Some(MAX_AUDIT_PAGE);
            let mut filter = query.filter(AuditOrder::OldestFirst).map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let (lines, next) = run(move || {
                let mut lines = Vec::new();
                let mut count = 0;
                loop {
                    let page = stores
                        .audit
                        .list_events(&filter)
                        .map_err(AdminError::from)?;
                    for e in &page {
                        serde_json::to_writer(&mut lines, &AuditEventView::of(e))
                            .map_err(|_| AdminError::Failure(usher_core::Failure::Internal))?;
                        lines.push(b'\n');
                    }
                    count += page.len();
                    match page.last() {
                        Some(last) if page.len() == MAX_AUDIT_PAGE => {
                            filter.after_id = Some(last.id);
                            if count >= EXPORT_MAX {
                                return Ok((lines, Some(last.id)));
                            }
                        }
                        _ => return Ok((lines, None)),
                    }
                }
            })
            .await
            .map_err(refusal)?;
            let mut response = HttpResponse::Ok();
            response
                .insert_header((CACHE_CONTROL, "no-store"))
                .content_type("application/x-ndjson");
            if let Some(after) = next {
                response.insert_header((NEXT_AFTER, after.to_string()));
            }
            Ok(response.body(lines))
        }
        .await,
    )
}
