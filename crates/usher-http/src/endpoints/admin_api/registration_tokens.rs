//! `/admin/api/v1/registration-tokens`: the initial access tokens of dynamic
//! registration (`registration = "token"`): list, create (the token shown once), revoke.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::Core;
use usher_core::admin::auth::Need;
use usher_core::admin::page::Page;
use usher_core::admin::registration_tokens::{self, TokenInput, TokenView};
use usher_core::admin::{AdminStores, run};

use super::{ErrorBody, PREFIX, PageQuery, body, caller, plain, refusal, refused, respond};

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/registration-tokens"))
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(format!("{PREFIX}/registration-tokens/{{id}}"))
            .route(web::delete().to(revoke)),
    ]
}

/// A new initial access token.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreateRequest {
    /// How long it works, in seconds: 60 to 31536000 (default 86400, a day).
    pub expires_in: Option<u64>,
    /// How many clients it may register: 1 to 1000000 (default 1).
    pub max_uses: Option<u32>,
}

/// A new token: the only answer that holds it. `Debug` hides the token.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TokenCreated {
    #[serde(flatten)]
    pub view: TokenView,
    /// Shown only now: send it as `Authorization: Bearer` to `POST /register`.
    pub token: String,
}

impl std::fmt::Debug for TokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCreated")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

/// Lists the initial access tokens (never the tokens themselves), by id.
#[utoipa::path(get, path = "/admin/api/v1/registration-tokens", tag = "registration", operation_id = "registration_tokens_list",
    params(PageQuery),
    responses((status = 200, description = "OK", body = Page<TokenView>), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    super::paged(&req, &state, registration_tokens::list).await
}

/// Creates an initial access token; the answer holds it, once.
#[utoipa::path(post, path = "/admin/api/v1/registration-tokens", tag = "registration", operation_id = "registration_tokens_create",
    request_body = TokenCreateRequest,
    responses((status = 201, description = "Created; the token is shown only now", body = TokenCreated), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn create(req: HttpRequest, bytes: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            // An empty body takes the defaults.
            let request: TokenCreateRequest = if bytes.is_empty() {
                TokenCreateRequest::default()
            } else {
                body(&req, &bytes)?
            };
            let input = TokenInput::parse(
                request
                    .expires_in
                    .unwrap_or(registration_tokens::DEFAULT_EXPIRES_IN),
                request.max_uses.unwrap_or(1),
            )
            .map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let hasher = state.secrets.clone();
            Ok(
                match run(move || registration_tokens::create(&stores, &hasher, input, &acting))
                    .await
                {
                    Ok(created) => {
                        super::note(&by, "initial access token created", &created.record.id);
                        plain(
                            StatusCode::CREATED,
                            &TokenCreated {
                                view: TokenView::of(&created.record),
                                token: created.token,
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

/// Revokes an initial access token: it registers nothing more.
#[utoipa::path(delete, path = "/admin/api/v1/registration-tokens/{id}", tag = "registration", operation_id = "registration_tokens_revoke",
    params(("id" = String, Path, description = "The token's id (a UUID), as listed")),
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
            let acting = by.clone();
            let id = registration_tokens::parse_id(&path).map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let target = id.clone();
            Ok(
                match run(move || registration_tokens::revoke(&stores, &target, &acting)).await {
                    Ok(()) => {
                        super::note(&by, "initial access token revoked", &id);
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
