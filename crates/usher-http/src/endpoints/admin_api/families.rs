//! `/admin/api/v1/families`: refresh-token families, listed by person or client, and
//! revoked.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::Core;
use usher_core::admin::AdminStores;
use usher_core::admin::auth::Need;
use usher_core::admin::families::{self, FamilyView};
use usher_core::admin::page::{Page, PageRequest};
use usher_core::admin::people;

use super::{ErrorBody, PREFIX, caller, plain, refusal, respond};

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/families")).route(web::get().to(list)),
        web::resource(format!("{PREFIX}/families/{{id}}")).route(web::delete().to(revoke)),
    ]
}

/// Which families, and which page.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FamilyQuery {
    /// Only this person's (by username).
    pub username: Option<String>,
    /// Only this client's.
    pub client_id: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<String>,
}

/// Lists refresh-token families (never a token), by id.
#[utoipa::path(get, path = "/admin/api/v1/families", tag = "families", operation_id = "families_list",
    params(FamilyQuery),
    responses((status = 200, description = "OK", body = Page<FamilyView>), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            caller(&req, &state, Need::Read).await?;
            let q = super::query::<FamilyQuery>(&req)?;
            let page = PageRequest::parse(q.after, q.limit.as_deref())
                .map_err(|e| super::refuse(StatusCode::BAD_REQUEST, "invalid_request", &e))?;
            let username = q
                .username
                .as_deref()
                .map(people::parse_username)
                .transpose()
                .map_err(refusal)?;
            let client = q
                .client_id
                .as_deref()
                .map(families::parse_client)
                .transpose()
                .map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let page = families::list(
                &stores,
                state.stores.families.as_ref(),
                username,
                client,
                &page,
                state.now(),
            )
            .await
            .map_err(refusal)?;
            Ok(plain(StatusCode::OK, &page))
        }
        .await,
    )
}

/// Revokes a refresh-token family: its refresh token stops working at once.
#[utoipa::path(delete, path = "/admin/api/v1/families/{id}", tag = "families", operation_id = "families_revoke",
    params(("id" = String, Path)),
    responses((status = 204, description = "Done; no content"), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn revoke(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let id = families::parse_id(&path).map_err(refusal)?;
            families::revoke(state.stores.families.as_ref(), &id, &by)
                .await
                .map_err(refusal)?;
            super::note(&by, "refresh-token family revoked", id.as_str());
            Ok(HttpResponse::NoContent()
                .insert_header((CACHE_CONTROL, "no-store"))
                .finish())
        }
        .await,
    )
}
