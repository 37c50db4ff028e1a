//! `/admin/api/v1/groups`: list, create, show, delete, and members.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::Core;
use usher_core::admin::auth::Need;
use usher_core::admin::groups::{self, GroupSummaryView, GroupView, MembershipView};
use usher_core::admin::page::Page;
use usher_core::admin::{AdminStores, run};

use super::{ErrorBody, PREFIX, PageQuery, body, caller, plain, refusal, refused, respond, tagged};

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/groups"))
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(format!("{PREFIX}/groups/{{name}}"))
            .route(web::get().to(show))
            .route(web::delete().to(delete)),
        web::resource(format!("{PREFIX}/groups/{{name}}/members/{{username}}"))
            .route(web::put().to(add_member))
            .route(web::delete().to(remove_member)),
    ]
}

/// A new group.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupCreateRequest {
    /// Letters, digits and `-_.:`, at most 64 characters; what tokens carry.
    pub name: String,
    pub description: Option<String>,
}

/// Lists the groups, by name, with their member counts.
#[utoipa::path(get, path = "/admin/api/v1/groups", tag = "groups", operation_id = "groups_list",
    params(PageQuery),
    responses((status = 200, description = "OK", body = Page<GroupSummaryView>), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    super::paged(&req, &state, groups::list).await
}

/// Creates a group.
#[utoipa::path(post, path = "/admin/api/v1/groups", tag = "groups", operation_id = "groups_create",
    request_body = GroupCreateRequest,
    responses((status = 201, description = "Created", body = GroupView), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 409, description = "It exists already, or something depends on it", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn create(req: HttpRequest, bytes: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let request: GroupCreateRequest = body(&req, &bytes)?;
            let parsed = groups::parse_name(&request.name).and_then(|name| {
                groups::parse_description(request.description.as_deref()).map(|d| (name, d))
            });
            let (name, description) = parsed.map_err(refusal)?;
            let stores = AdminStores::of(&state);
            Ok(
                match run(move || groups::create(&stores, name, description, &acting)).await {
                    Ok(group) => {
                        super::note(&by, "group created", group.name.as_str());
                        let view = GroupView::of(&group, &[]);
                        let mut response = tagged(StatusCode::CREATED, &view);
                        if let Ok(v) = format!("{PREFIX}/groups/{}", view.name).parse() {
                            response.headers_mut().insert(LOCATION, v);
                        }
                        response
                    }
                    Err(e) => refused(e),
                },
            )
        }
        .await,
    )
}

/// Shows a group and its members.
#[utoipa::path(get, path = "/admin/api/v1/groups/{name}", tag = "groups", operation_id = "groups_show",
    params(("name" = String, Path)),
    responses((status = 200, description = "OK", body = GroupView, headers(("ETag" = String))), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            caller(&req, &state, Need::Read).await?;
            let name = groups::parse_name(&path).map_err(refusal)?;
            let stores = AdminStores::of(&state);
            Ok(match run(move || groups::show(&stores, &name)).await {
                Ok((group, members)) => tagged(StatusCode::OK, &GroupView::of(&group, &members)),
                Err(e) => refused(e),
            })
        }
        .await,
    )
}

/// Deletes a group: never `usher-admins`, nor a group a client is restricted to.
#[utoipa::path(delete, path = "/admin/api/v1/groups/{name}", tag = "groups", operation_id = "groups_delete",
    params(("name" = String, Path)),
    responses((status = 204, description = "Done; no content"), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "It exists already, or something depends on it", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn delete(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let name = groups::parse_name(&path).map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let target = name.clone();
            Ok(
                match run(move || groups::delete(&stores, &target, &acting)).await {
                    Ok(()) => {
                        super::note(&by, "group deleted", name.as_str());
                        HttpResponse::NoContent()
                            .insert_header((CACHE_CONTROL, "no-store"))
                            .finish()
                    }
                    Err(e) => refused(e),
                },
            )
        }
        .await,
    )
}

async fn membership(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<Core>,
    add: bool,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let (group, username) = path.into_inner();
            let parsed = groups::parse_name(&group)
                .and_then(|g| groups::parse_username(&username).map(|u| (g, u)));
            let (group, username) = parsed.map_err(refusal)?;
            let stores = AdminStores::of(&state);
            Ok(
                match run(move || groups::set_member(&stores, &group, &username, add, &acting))
                    .await
                {
                    Ok(view) => {
                        if view.changed {
                            let what = if add {
                                "member added"
                            } else {
                                "member removed"
                            };
                            super::note(&by, what, &format!("{}:{}", view.group, view.username));
                        }
                        plain(StatusCode::OK, &view)
                    }
                    Err(e) => refused(e),
                },
            )
        }
        .await,
    )
}

/// Adds a person (by username) to a group; idempotent.
#[utoipa::path(put, path = "/admin/api/v1/groups/{name}/members/{username}", tag = "groups", operation_id = "groups_add_member",
    params(("name" = String, Path), ("username" = String, Path)),
    responses((status = 200, description = "OK", body = MembershipView), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn add_member(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<Core>,
) -> HttpResponse {
    membership(req, path, state, true).await
}

/// Removes a person from a group; idempotent.
#[utoipa::path(delete, path = "/admin/api/v1/groups/{name}/members/{username}", tag = "groups", operation_id = "groups_remove_member",
    params(("name" = String, Path), ("username" = String, Path)),
    responses((status = 200, description = "OK", body = MembershipView), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn remove_member(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<Core>,
) -> HttpResponse {
    membership(req, path, state, false).await
}
