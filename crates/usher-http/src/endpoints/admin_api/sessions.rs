//! `/admin/api/v1/people/{username}/sessions`: a person's browser sessions, listed
//! (`GET`), and one ended by its handle (`DELETE …/sessions/{handle}`), as the account
//! page's "sign out" of that browser (`usher_core::admin::sessions`). Ending every
//! session at once is `DELETE …/sessions` (`people.rs`).

use actix_web::http::StatusCode;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, guard, web};
use usher_core::Core;
use usher_core::admin::auth::Need;
use usher_core::admin::people;
use usher_core::admin::sessions::{self, SessionsView};

use super::{ErrorBody, PREFIX, caller, plain, refusal, respond};

/// The list shares its path with `people.rs`'s `DELETE …/sessions`: this resource
/// answers only `GET` (a guard), so the router goes on to that one for the rest.
pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/people/{{username}}/sessions"))
            .guard(guard::Get())
            .route(web::get().to(list)),
        web::resource(format!("{PREFIX}/people/{{username}}/sessions/{{handle}}"))
            .route(web::delete().to(end)),
    ]
}

/// Lists a person's live browser sessions, one per browser, newest sign-in first
/// (never a session id, cookie or stored hash).
#[utoipa::path(get, path = "/admin/api/v1/people/{username}/sessions", tag = "people", operation_id = "people_sessions_list",
    params(("username" = String, Path)),
    responses((status = 200, description = "OK", body = SessionsView), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            caller(&req, &state, Need::Read).await?;
            let username = people::parse_username(&path).map_err(refusal)?;
            let listed = sessions::list_on(&state, &username)
                .await
                .map_err(refusal)?;
            Ok(plain(StatusCode::OK, &listed))
        }
        .await,
    )
}

/// Ends one browser session of a person, named by its `handle` (from the list): its
/// online refresh tokens are revoked, its apps told by Back-Channel Logout.
#[utoipa::path(delete, path = "/admin/api/v1/people/{username}/sessions/{handle}", tag = "people", operation_id = "people_session_end",
    params(("username" = String, Path), ("handle" = String, Path)),
    responses((status = 204, description = "Done; no content"), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found (also when another request ended it first)", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn end(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let (username, handle) = path.into_inner();
            let username = people::parse_username(&username).map_err(refusal)?;
            sessions::end(&state, &username, &handle, &by)
                .await
                .map_err(refusal)?;
            super::note(&by, "session ended", username.as_str());
            Ok(HttpResponse::NoContent()
                .insert_header((CACHE_CONTROL, "no-store"))
                .finish())
        }
        .await,
    )
}
