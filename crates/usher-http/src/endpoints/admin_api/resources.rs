//! `/admin/api/v1/resources`: resource servers (RFC 8707). A resource is named in the
//! path by its identifier, percent-encoded as one segment
//! (`/admin/api/v1/resources/https%3A%2F%2Fapi.example`).

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::Core;
use usher_core::admin::auth::Need;
use usher_core::admin::page::Page;
use usher_core::admin::resources::{self, ResourceChange, ResourceView};
use usher_core::admin::{AdminStores, run};

use super::{ErrorBody, PREFIX, PageQuery, body, caller, refusal, refused, respond, tagged};

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/resources"))
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(format!("{PREFIX}/resources/{{uri}}"))
            .route(web::get().to(show))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    ]
}

/// A new resource server.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceCreateRequest {
    /// Its identifier: an absolute URI without a fragment (the `aud` of its tokens).
    pub uri: String,
    /// The scopes it defines, space-separated.
    pub scope: String,
    pub name: Option<String>,
}

/// A change: each member present is replaced; `"name": null` removes the name.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceUpdateRequest {
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
}

/// A member that is present (even `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    use serde::Deserialize as _;
    Option::<String>::deserialize(d).map(Some)
}

/// Lists the resource servers, by identifier.
#[utoipa::path(get, path = "/admin/api/v1/resources", tag = "resources", operation_id = "resources_list",
    params(PageQuery),
    responses((status = 200, description = "OK", body = Page<ResourceView>), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    super::paged(&req, &state, resources::list).await
}

/// Registers a resource server.
#[utoipa::path(post, path = "/admin/api/v1/resources", tag = "resources", operation_id = "resources_create",
    request_body = ResourceCreateRequest,
    responses((status = 201, description = "Created", body = ResourceView), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 409, description = "It exists already, or something depends on it", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn create(req: HttpRequest, bytes: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let request: ResourceCreateRequest = body(&req, &bytes)?;
            let parsed = resources::parse_uri(&request.uri).and_then(|uri| {
                let scopes = resources::parse_scopes(&request.scope)?;
                let name = resources::parse_name(request.name.as_deref())?;
                Ok((uri, scopes, name))
            });
            let (uri, scopes, name) = parsed.map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let issuer = state.settings.issuer.clone();
            Ok(
                match run(move || resources::create(&stores, &issuer, uri, name, scopes, &acting))
                    .await
                {
                    Ok(resource) => {
                        super::note(&by, "resource created", resource.uri.as_str());
                        tagged(StatusCode::CREATED, &ResourceView::of(&resource))
                    }
                    Err(e) => refused(e),
                },
            )
        }
        .await,
    )
}

/// Shows a resource server, with its `ETag`.
#[utoipa::path(get, path = "/admin/api/v1/resources/{uri}", tag = "resources", operation_id = "resources_show",
    params(("uri" = String, Path, description = "the identifier, percent-encoded")),
    responses((status = 200, description = "OK", body = ResourceView, headers(("ETag" = String))), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            caller(&req, &state, Need::Read).await?;
            let uri = resources::parse_uri(&path).map_err(refusal)?;
            let stores = AdminStores::of(&state);
            Ok(match run(move || resources::get(&stores, &uri)).await {
                Ok(resource) => tagged(StatusCode::OK, &ResourceView::of(&resource)),
                Err(e) => refused(e),
            })
        }
        .await,
    )
}

/// Changes a resource server's scopes and/or name; `If-Match` is required.
#[utoipa::path(patch, path = "/admin/api/v1/resources/{uri}", tag = "resources", operation_id = "resources_update",
    params(("uri" = String, Path), ("If-Match" = String, Header)),
    request_body = ResourceUpdateRequest,
    responses((status = 200, description = "OK", body = ResourceView, headers(("ETag" = String))), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 412, description = "Changed since read: If-Match does not match", body = ErrorBody), (status = 428, description = "If-Match is required", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let uri = resources::parse_uri(&path).map_err(refusal)?;
            let if_match = super::required_if_match(&req)?;
            let request: ResourceUpdateRequest = body(&req, &bytes)?;
            let change = (|| {
                Ok::<_, usher_core::admin::AdminError>(ResourceChange {
                    scopes: request
                        .scope
                        .as_deref()
                        .map(resources::parse_scopes)
                        .transpose()?,
                    name: match request.name {
                        None => None,
                        Some(name) => Some(resources::parse_name(name.as_deref())?),
                    },
                })
            })();
            let change = change.map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let target = uri.clone();
            Ok(
                match run(move || {
                    resources::update(&stores, &target, change, Some(&if_match), &acting)
                })
                .await
                {
                    Ok(resource) => {
                        super::note(&by, "resource changed", uri.as_str());
                        tagged(StatusCode::OK, &ResourceView::of(&resource))
                    }
                    Err(e) => refused(e),
                },
            )
        }
        .await,
    )
}

/// Deletes a resource server (`If-Match` honoured when sent).
#[utoipa::path(delete, path = "/admin/api/v1/resources/{uri}", tag = "resources", operation_id = "resources_delete",
    params(("uri" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, description = "Done; no content"), (status = 404, description = "Not found", body = ErrorBody), (status = 412, description = "Changed since read: If-Match does not match", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
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
            let uri = resources::parse_uri(&path).map_err(refusal)?;
            let if_match = super::optional_if_match(&req)?;
            let stores = AdminStores::of(&state);
            let target = uri.clone();
            Ok(
                match run(move || resources::delete(&stores, &target, if_match.as_deref(), &acting))
                    .await
                {
                    Ok(()) => {
                        super::note(&by, "resource deleted", uri.as_str());
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
