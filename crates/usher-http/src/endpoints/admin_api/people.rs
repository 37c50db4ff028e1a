//! `/admin/api/v1/people`: list, create, show, update (`If-Match` required), disable,
//! enable, delete; set a password, reset the second factors, end every session.

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::Core;
use usher_core::admin::auth::Need;
use usher_core::admin::page::Page;
use usher_core::admin::people::{
    self, FactorsReset, NewPerson, PasswordSet, PersonChange, PersonDetail, PersonView,
    SessionsEnded,
};
use usher_core::admin::{AdminError, AdminStores, run};
use usher_domain::Password;

use super::{ErrorBody, PREFIX, PageQuery, body, caller, plain, refusal, respond, tagged};

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/people"))
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(format!("{PREFIX}/people/{{username}}"))
            .route(web::get().to(show))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
        web::resource(format!("{PREFIX}/people/{{username}}/disable"))
            .route(web::post().to(disable)),
        web::resource(format!("{PREFIX}/people/{{username}}/enable")).route(web::post().to(enable)),
        web::resource(format!("{PREFIX}/people/{{username}}/password"))
            .route(web::put().to(set_password)),
        web::resource(format!("{PREFIX}/people/{{username}}/second-factors"))
            .route(web::delete().to(reset_factors)),
        web::resource(format!("{PREFIX}/people/{{username}}/sessions"))
            .route(web::delete().to(revoke_sessions)),
    ]
}

/// A new person: `usher user create`'s options, and the password.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonCreateRequest {
    pub username: String,
    /// Never stored: hashed with argon2id.
    pub password: String,
    pub name: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub phone_number: Option<String>,
    #[serde(default)]
    pub phone_number_verified: bool,
}

/// A change to a person: only the members sent change; `null` removes a value. The
/// username and the password are not changed here.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonUpdateRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Whether the address is verified (a new address is not, unless this says so).
    pub email_verified: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub preferred_username: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
    /// Whether the number is verified (a new number is not, unless this says so).
    pub phone_number_verified: Option<bool>,
}

/// A member that was sent: `Some(None)` for `null`, `Some(Some(v))` for a value (an
/// absent member stays `None` through `#[serde(default)]`).
fn present<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <Option<String> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A new password.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub password: String,
    /// Keep the person's sessions and refresh tokens (by default a new password signs
    /// them out everywhere).
    #[serde(default)]
    pub keep_sessions: bool,
}

fn username(path: &str) -> Result<usher_domain::Username, super::Refusal> {
    people::parse_username(path).map_err(refusal)
}

fn password(raw: String) -> Result<Password, super::Refusal> {
    Password::parse(raw).map_err(|e| refusal(AdminError::Invalid(e.to_string())))
}

/// Lists the people, by username.
#[utoipa::path(get, path = "/admin/api/v1/people", tag = "people", operation_id = "people_list",
    params(PageQuery),
    responses((status = 200, description = "OK", body = Page<PersonView>), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    super::paged(&req, &state, people::list).await
}

/// Creates a person with a password.
#[utoipa::path(post, path = "/admin/api/v1/people", tag = "people", operation_id = "people_create",
    request_body = PersonCreateRequest,
    responses((status = 201, description = "Created", body = PersonView), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 409, description = "It exists already, or something depends on it", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn create(req: HttpRequest, bytes: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let request: PersonCreateRequest = body(&req, &bytes)?;
            let checked = NewPerson {
                username: request.username,
                name: request.name,
                email: request.email,
                email_verified: request.email_verified,
                preferred_username: request.preferred_username,
                phone_number: request.phone_number,
                phone_number_verified: request.phone_number_verified,
            }
            .check()
            .map_err(refusal)?;
            let password = password(request.password)?;
            let stores = AdminStores::of(&state);
            let name = checked.username().clone();
            run(move || people::require_free(&stores, &name))
                .await
                .map_err(refusal)?;
            // On the node's bounded password pool (argon2id takes memory).
            let hash = state
                .passwords
                .hash_new(password)
                .await
                .map_err(|f| refusal(AdminError::Failure(f)))?;
            let stores = AdminStores::of(&state);
            let user = run(move || people::create(&stores, checked, hash, &acting))
                .await
                .map_err(refusal)?;
            super::note(&by, "person created", user.username.as_str());
            Ok(tagged(StatusCode::CREATED, &PersonView::of(&user)))
        }
        .await,
    )
}

/// Shows a person, their second factors (never a secret) and their groups.
#[utoipa::path(get, path = "/admin/api/v1/people/{username}", tag = "people", operation_id = "people_show",
    params(("username" = String, Path)),
    responses((status = 200, description = "OK", body = PersonDetail), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn show(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            caller(&req, &state, Need::Read).await?;
            let username = username(&path)?;
            let stores = AdminStores::of(&state);
            let detail = run(move || people::show(&stores, &username))
                .await
                .map_err(refusal)?;
            Ok(tagged(StatusCode::OK, &detail))
        }
        .await,
    )
}

/// Deletes a person; the apps that got tokens through their sessions are told.
#[utoipa::path(delete, path = "/admin/api/v1/people/{username}", tag = "people", operation_id = "people_delete",
    params(("username" = String, Path)),
    responses((status = 204, description = "Done; no content"), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn delete(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let username = username(&path)?;
            people::delete_person(&state, &username, &by)
                .await
                .map_err(refusal)?;
            super::note(&by, "person deleted", username.as_str());
            Ok(HttpResponse::NoContent()
                .insert_header((CACHE_CONTROL, "no-store"))
                .finish())
        }
        .await,
    )
}

/// Sets a person's password; ends their sessions unless `keep_sessions`.
#[utoipa::path(put, path = "/admin/api/v1/people/{username}/password", tag = "people", operation_id = "people_set_password",
    params(("username" = String, Path)),
    request_body = PasswordRequest,
    responses((status = 200, description = "OK", body = PasswordSet), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn set_password(
    req: HttpRequest,
    path: web::Path<String>,
    bytes: web::Bytes,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let username = username(&path)?;
            let request: PasswordRequest = body(&req, &bytes)?;
            let password = password(request.password)?;
            let done =
                people::set_password(&state, &username, password, request.keep_sessions, &by)
                    .await
                    .map_err(refusal)?;
            super::note(&by, "password set", username.as_str());
            Ok(plain(StatusCode::OK, &done))
        }
        .await,
    )
}

/// Removes a person's second factors (authenticator app, recovery codes) and ends their
/// sessions.
#[utoipa::path(delete, path = "/admin/api/v1/people/{username}/second-factors", tag = "people", operation_id = "people_reset_second_factors",
    params(("username" = String, Path)),
    responses((status = 200, description = "OK", body = FactorsReset), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn reset_factors(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let username = username(&path)?;
            let done = people::reset_factors(&state, &username, &by)
                .await
                .map_err(refusal)?;
            super::note(&by, "second factors reset", username.as_str());
            Ok(plain(StatusCode::OK, &done))
        }
        .await,
    )
}

/// Ends every browser session and refresh-token family of a person.
#[utoipa::path(delete, path = "/admin/api/v1/people/{username}/sessions", tag = "people", operation_id = "people_revoke_sessions",
    params(("username" = String, Path)),
    responses((status = 200, description = "OK", body = SessionsEnded), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn revoke_sessions(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let username = username(&path)?;
            let done = people::revoke_sessions(&state, &username, &by)
                .await
                .map_err(refusal)?;
            super::note(&by, "sessions revoked", username.as_str());
            Ok(plain(StatusCode::OK, &done))
        }
        .await,
    )
}

/// Changes a person's name, e-mail address, preferred username or phone number;
/// `If-Match` is required (the `ETag` of `GET /people/{username}`).
#[utoipa::path(patch, path = "/admin/api/v1/people/{username}", tag = "people", operation_id = "people_update",
    params(("username" = String, Path), ("If-Match" = String, Header, description = "the ETag read")),
    request_body = PersonUpdateRequest,
    responses((status = 200, description = "OK", body = PersonDetail, headers(("ETag" = String))), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 412, description = "Changed since read: If-Match does not match", body = ErrorBody), (status = 428, description = "If-Match is required", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
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
            let username = username(&path)?;
            let if_match = super::required_if_match(&req)?;
            let request: PersonUpdateRequest = body(&req, &bytes)?;
            let change = PersonChange {
                name: request.name,
                email: request.email,
                email_verified: request.email_verified,
                preferred_username: request.preferred_username,
                phone_number: request.phone_number,
                phone_number_verified: request.phone_number_verified,
            }
            .check()
            .map_err(refusal)?;
            let detail = people::update_person(&state, &username, change, Some(if_match), &by)
                .await
                .map_err(refusal)?;
            super::note(&by, "person updated", username.as_str());
            Ok(tagged(StatusCode::OK, &detail))
        }
        .await,
    )
}

/// Disables a person: every sign-in and token grant refuses them from now on, and their
/// sessions and refresh tokens end. Disabling a disabled person ends their sessions again.
#[utoipa::path(post, path = "/admin/api/v1/people/{username}/disable", tag = "people", operation_id = "people_disable",
    params(("username" = String, Path)),
    responses((status = 200, description = "OK", body = PersonDetail, headers(("ETag" = String))), (status = 404, description = "Not found", body = ErrorBody), (status = 503, description = "Disabled, but the sessions were not all ended: retry", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn disable(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let username = username(&path)?;
            let detail = people::disable(&state, &username, &by)
                .await
                .map_err(refusal)?;
            super::note(&by, "person disabled", username.as_str());
            Ok(tagged(StatusCode::OK, &detail))
        }
        .await,
    )
}

/// Enables a disabled person again.
#[utoipa::path(post, path = "/admin/api/v1/people/{username}/enable", tag = "people", operation_id = "people_enable",
    params(("username" = String, Path)),
    responses((status = 200, description = "OK", body = PersonDetail, headers(("ETag" = String))), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn enable(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let username = username(&path)?;
            let detail = people::enable(&state, &username, &by)
                .await
                .map_err(refusal)?;
            super::note(&by, "person enabled", username.as_str());
            Ok(tagged(StatusCode::OK, &detail))
        }
        .await,
    )
}
