//! `/admin/api/v1/clients`: list, create, show, change who may use one, rotate its
//! secret, delete.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::Core;
use usher_core::admin::auth::Need;
use usher_core::admin::clients::{self, AccessChange, ClientView};
use usher_core::admin::page::Page;
use usher_core::admin::{AdminStores, run};
use usher_domain::client::{RegistrationInput, parse_allowed_origins};
use usher_domain::group::parse_group_names;

use super::{
    ErrorBody, PREFIX, PageQuery, body, caller, plain, refusal, refuse, refused, respond, tagged,
};

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/clients"))
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(format!("{PREFIX}/clients/{{client_id}}"))
            .route(web::get().to(show))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
        web::resource(format!("{PREFIX}/clients/{{client_id}}/rotate-secret"))
            .route(web::post().to(rotate_secret)),
    ]
}

/// A new client: the options of `usher client create`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCreateRequest {
    pub name: String,
    #[serde(default)]
    pub public: bool,
    /// `client_secret_basic` (default for a confidential client), `client_secret_post`
    /// or `none` (public).
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: `authorization_code` and `refresh_token`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    pub scope: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Default true; false only for a confidential client with the code grant.
    pub pkce_required: Option<bool>,
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub require_mfa: bool,
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
}

impl ClientCreateRequest {
    fn input(self) -> RegistrationInput {
        RegistrationInput {
            name: self.name,
            public: self.public,
            auth_method: self.token_endpoint_auth_method,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types: self.grant_types,
            scope: self.scope,
            audiences: self.audiences,
            pkce_optional: self.pkce_required == Some(false),
            first_party: self.first_party,
            require_mfa: self.require_mfa,
            backchannel_logout_uri: self.backchannel_logout_uri,
            backchannel_logout_session_required: self.backchannel_logout_session_required,
            allowed_origins: self.allowed_origins,
            id_token_signed_response_alg: self.id_token_signed_response_alg,
            allowed_groups: self.allowed_groups,
        }
    }
}

/// A new client as created: its view, and its secret (shown only now).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ClientCreated {
    #[serde(flatten)]
    pub client: ClientView,
    /// Absent for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A change of who may use a client: each member present is replaced.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdateRequest {
    /// Browser origins allowed to call the token endpoint; `[]`: back to the default
    /// (the redirect URIs' origins).
    pub allowed_origins: Option<Vec<String>>,
    /// Groups whose members alone may use the client; `[]`: anyone.
    pub allowed_groups: Option<Vec<String>>,
}

/// A new secret.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
}

/// Lists the clients, by id.
#[utoipa::path(get, path = "/admin/api/v1/clients", tag = "clients", operation_id = "clients_list",
    params(PageQuery),
    responses((status = 200, description = "OK", body = Page<ClientView>), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    super::paged(&req, &state, clients::list).await
}

/// Registers a client; a confidential client's secret is in the answer, only there.
#[utoipa::path(post, path = "/admin/api/v1/clients", tag = "clients", operation_id = "clients_create",
    request_body = ClientCreateRequest,
    responses((status = 201, description = "Created", body = ClientCreated), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn create(req: HttpRequest, bytes: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let request: ClientCreateRequest = body(&req, &bytes)?;
            let stores = AdminStores::of(&state);
            let hasher = state.secrets.clone();
            let default_audience = state.settings.default_audience.clone();
            let created = run(move || {
                clients::create(
                    &stores,
                    &hasher,
                    default_audience.as_deref(),
                    request.input(),
                    &acting,
                )
            })
            .await;
            Ok(match created {
                Ok(created) => {
                    super::note(&by, "client created", created.client.id.as_str());
                    let view = ClientView::of(&created.client);
                    let location = format!("{PREFIX}/clients/{}", view.client_id);
                    let tag = usher_core::admin::etag(&view);
                    HttpResponse::Created()
                        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
                        .insert_header((LOCATION, location))
                        .insert_header((actix_web::http::header::ETAG, tag))
                        .json(ClientCreated {
                            client: view,
                            client_secret: created.secret,
                        })
                }
                Err(e) => refused(e),
            })
        }
        .await,
    )
}

/// Shows a client, with its `ETag`.
#[utoipa::path(get, path = "/admin/api/v1/clients/{client_id}", tag = "clients", operation_id = "clients_show",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "OK", body = ClientView, headers(("ETag" = String))), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            caller(&req, &state, Need::Read).await?;
            let id = clients::parse_id(&path).map_err(refusal)?;
            let stores = AdminStores::of(&state);
            Ok(match run(move || clients::get(&stores, &id)).await {
                Ok(client) => tagged(StatusCode::OK, &ClientView::of(&client)),
                Err(e) => refused(e),
            })
        }
        .await,
    )
}

/// Changes the allowed origins and/or groups; `If-Match` is required.
#[utoipa::path(patch, path = "/admin/api/v1/clients/{client_id}", tag = "clients", operation_id = "clients_update",
    params(("client_id" = String, Path), ("If-Match" = String, Header, description = "the ETag read")),
    request_body = ClientUpdateRequest,
    responses((status = 200, description = "OK", body = ClientView, headers(("ETag" = String))), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 412, description = "Changed since read: If-Match does not match", body = ErrorBody), (status = 428, description = "If-Match is required", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
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
            let id = clients::parse_id(&path).map_err(refusal)?;
            let if_match = super::required_if_match(&req)?;
            let request: ClientUpdateRequest = body(&req, &bytes)?;
            let origins = request
                .allowed_origins
                .as_deref()
                .map(parse_allowed_origins)
                .transpose()
                .map_err(|e| refuse(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()))?;
            let groups = request
                .allowed_groups
                .as_deref()
                .map(parse_group_names)
                .transpose()
                .map_err(|e| {
                    refuse(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        &format!("--allowed-group: {e}"),
                    )
                })?;
            let change = AccessChange { origins, groups };
            let stores = AdminStores::of(&state);
            let target = id.clone();
            Ok(
                match run(move || {
                    clients::update_access(&stores, &target, &change, Some(&if_match), &acting)
                })
                .await
                {
                    Ok(client) => {
                        super::note(&by, "client access changed", id.as_str());
                        state.forget_client(&id);
                        tagged(StatusCode::OK, &ClientView::of(&client))
                    }
                    Err(e) => refused(e),
                },
            )
        }
        .await,
    )
}

/// Deletes a client (`If-Match` honoured when sent).
#[utoipa::path(delete, path = "/admin/api/v1/clients/{client_id}", tag = "clients", operation_id = "clients_delete",
    params(("client_id" = String, Path), ("If-Match" = Option<String>, Header)),
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
            let id = clients::parse_id(&path).map_err(refusal)?;
            let if_match = super::optional_if_match(&req)?;
            let stores = AdminStores::of(&state);
            let target = id.clone();
            Ok(
                match run(move || clients::delete(&stores, &target, if_match.as_deref(), &acting))
                    .await
                {
                    Ok(()) => {
                        super::note(&by, "client deleted", id.as_str());
                        state.forget_client(&id);
                        HttpResponse::NoContent()
                            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
                            .finish()
                    }
                    Err(e) => refused(e),
                },
            )
        }
        .await,
    )
}

/// A new secret for a confidential client; the old one stops working at once.
#[utoipa::path(post, path = "/admin/api/v1/clients/{client_id}/rotate-secret", tag = "clients", operation_id = "clients_rotate_secret",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "OK", body = RotatedSecret), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn rotate_secret(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let id = clients::parse_id(&path).map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let hasher = state.secrets.clone();
            let target = id.clone();
            Ok(
                match run(move || clients::rotate_secret(&stores, &hasher, &target, &acting)).await
                {
                    Ok(secret) => {
                        super::note(&by, "client secret rotated", id.as_str());
                        state.forget_client(&id);
                        plain(
                            StatusCode::OK,
                            &RotatedSecret {
                                client_id: id.to_string(),
                                client_secret: secret,
                            },
                        )
                    }
                    Err(e) => refused(e),
                },
            )
        }
        .await,
    )
}
