//! The admin API: JSON over HTTP under `/admin/api/v1` (clients, groups, resource
//! servers), described by the OpenAPI 3.1 document at `/admin/api/openapi.json`
//! ([`openapi`]). This module reads the bearer token, the path, the query, `If-Match`
//! and the JSON body into values; [`usher_core::admin`] decides (the same operations, rules
//! and error texts as the CLI); here the outcome is rendered. Every answer is
//! `Cache-Control: no-store` (docs/design/admin-api.md).

pub mod audit;
pub mod clients;
pub mod families;
pub mod groups;
pub mod invitations;
pub mod keys;
pub mod openapi;
pub mod people;
pub mod registration_tokens;
pub mod resources;
pub mod sessions;

use actix_web::http::StatusCode;
use actix_web::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MATCH, WWW_AUTHENTICATE,
};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use usher_core::Core;
use usher_core::admin::auth::{self, AdminAuthError, AdminCaller, Need};
use usher_core::admin::page::PageRequest;
use usher_core::admin::{AdminError, AdminStores, By, etag, run};
use usher_domain::AuditActor;
use usher_domain::error::wire_description;

/// The prefix of every admin API route.
pub const PREFIX: &str = "/admin/api/v1";
/// The OpenAPI document.
pub const OPENAPI_PATH: &str = "/admin/api/openapi.json";
/// The largest JSON body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every admin route (and the OpenAPI document).
pub fn routes() -> Vec<actix_web::Resource> {
    let limit = || web::PayloadConfig::new(MAX_BODY_BYTES);
    let mut all = vec![web::resource(OPENAPI_PATH).route(web::get().to(openapi::document))];
    for r in clients::routes()
        .into_iter()
        .chain(groups::routes())
        // Before people's: its GET shares a path with people's DELETE.
        .chain(sessions::routes())
        .chain(people::routes())
        .chain(families::routes())
        .chain(keys::routes())
        .chain(audit::routes())
        .chain(resources::routes())
        .chain(invitations::routes())
        .chain(registration_tokens::routes())
    {
        all.push(r.app_data(limit()));
    }
    all
}

/// A refusal on its way out (boxed: a response is large, and `?` carries it).
pub type Refusal = Box<HttpResponse>;

/// The answer of a handler written with `?`.
pub fn respond(result: Result<HttpResponse, Refusal>) -> HttpResponse {
    result.unwrap_or_else(|refusal| *refusal)
}

/// [`refused`], boxed for `?`.
pub fn refusal(e: AdminError) -> Refusal {
    Box::new(refused(e))
}

/// [`error`], boxed for `?`.
pub fn refuse(status: StatusCode, code: &str, description: &str) -> Refusal {
    Box::new(error(status, code, description))
}

/// An error answer: `{"error", "error_description"}`, never cached.
pub fn error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CACHE_CONTROL, "no-store"))
        // JSON carries any text safely; the CLI's messages are kept as they are (quotes
        // included), so both doors say the same.
        .json(json!({ "error": code, "error_description": description }))
}

/// How an operation's refusal looks on the wire.
pub fn refused(e: AdminError) -> HttpResponse {
    let text = e.to_string();
    match e {
        AdminError::Invalid(_) => error(StatusCode::BAD_REQUEST, "invalid_request", &text),
        AdminError::NotFound(_) => error(StatusCode::NOT_FOUND, "not_found", &text),
        AdminError::Conflict(_) => error(StatusCode::CONFLICT, "conflict", &text),
        AdminError::Stale => error(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            &text,
        ),
        AdminError::Incomplete(_) => error(StatusCode::SERVICE_UNAVAILABLE, "incomplete", &text),
        AdminError::Failure(usher_core::Failure::Unavailable) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the server cannot reach its storage; try again shortly",
        ),
        AdminError::Failure(usher_core::Failure::Internal) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        ),
    }
}

/// A JSON answer with the view's entity tag.
pub fn tagged<T: serde::Serialize>(status: StatusCode, view: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((ETAG, etag(view)))
        .json(view)
}

/// A JSON answer without a tag (lists, secrets).
pub fn plain<T: serde::Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(body)
}

/// The bearer token of the `Authorization` header.
fn bearer(req: &HttpRequest) -> Result<Option<String>, ()> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(()),
    }
}

/// RFC 6750 §3: the challenge of a refusal.
fn challenge(
    status: StatusCode,
    code: Option<&str>,
    description: &str,
    scope: Option<&str>,
) -> Refusal {
    let mut value = String::from("Bearer realm=\"usher-admin\"");
    if let Some(code) = code {
        value.push_str(&format!(
            ", error=\"{code}\", error_description=\"{}\"",
            wire_description(description).replace('"', "'")
        ));
    }
    if let Some(scope) = scope {
        value.push_str(&format!(", scope=\"{scope}\""));
    }
    let mut response = match code {
        Some(code) => error(status, code, description),
        None => error(status, "invalid_token", description),
    };
    if let Ok(v) = value.parse() {
        response.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    Box::new(response)
}

/// Who calls, as the audit trail names them, if they may do what `need` says: the
/// actor, the request's client address and the time; otherwise the refusal to send.
pub async fn caller(req: &HttpRequest, core: &Core, need: Need) -> Result<By, Refusal> {
    let who = authorized(req, core, need).await?;
    let actor = match who {
        AdminCaller::Person { id, .. } => AuditActor::Person(id),
        AdminCaller::Client(id) => AuditActor::Client(id),
    };
    let address = crate::client_address::of(req, &core.settings.trusted_proxies);
    Ok(By {
        actor,
        address: usher_core::audit::address_text(Some(&address)),
        at: core.now(),
    })
}

/// The decision of [`auth::authorize`] for the request's bearer token.
async fn authorized(req: &HttpRequest, core: &Core, need: Need) -> Result<AdminCaller, Refusal> {
    let token = bearer(req).map_err(|()| {
        challenge(
            StatusCode::UNAUTHORIZED,
            Some("invalid_request"),
            "send the access token as Authorization: Bearer TOKEN",
            None,
        )
    })?;
    match auth::authorize(core, token.as_deref(), need).await {
        Ok(caller) => Ok(caller),
        Err(AdminAuthError::NoToken) => Err(challenge(
            StatusCode::UNAUTHORIZED,
            None,
            &AdminAuthError::NoToken.to_string(),
            None,
        )),
        Err(e @ AdminAuthError::InvalidToken(_)) => Err(challenge(
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            &e.to_string(),
            None,
        )),
        Err(e @ AdminAuthError::InsufficientScope(scope)) => Err(challenge(
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            &e.to_string(),
            Some(scope),
        )),
        Err(e @ AdminAuthError::NotAnAdmin) => Err(challenge(
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            &e.to_string(),
            None,
        )),
        Err(AdminAuthError::Failure(f)) => Err(refusal(AdminError::Failure(f))),
    }
}

/// The JSON body as `T`: `Content-Type: application/json`, known members only.
pub fn body<T: serde::de::DeserializeOwned>(req: &HttpRequest, bytes: &[u8]) -> Result<T, Refusal> {
    let json_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "send a JSON object with Content-Type: application/json",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("the JSON body does not fit: {e}"),
        )
    })
}

/// `If-Match`, required for changes: without it an update could silently overwrite a
/// change made since the caller read the representation (RFC 6585 §3: 428).
pub fn required_if_match(req: &HttpRequest) -> Result<String, Refusal> {
    // `*` matches anything: it would bring back the silent overwrite this prevents.
    optional_if_match(req)?
        .filter(|tag| tag.trim() != "*")
        .ok_or_else(|| {
            refuse(
                StatusCode::PRECONDITION_REQUIRED,
                "precondition_required",
                "send If-Match with the ETag of the representation you read (GET it first)",
            )
        })
}

/// `If-Match`, when sent.
pub fn optional_if_match(req: &HttpRequest) -> Result<Option<String>, Refusal> {
    match req.headers().get(IF_MATCH) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "malformed If-Match header",
            )
        }),
    }
}

/// The `after` and `limit` of a list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<String>,
}

impl PageQuery {
    pub fn parse(self) -> Result<PageRequest, Refusal> {
        PageRequest::parse(self.after, self.limit.as_deref())
            .map_err(|e| refuse(StatusCode::BAD_REQUEST, "invalid_request", &e))
    }
}

/// The query string as `T`, or a 400.
pub fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, Refusal> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()))
}

/// A paged list: a reader's token, `after` and `limit` from the query, `list` run on the
/// blocking pool with the node's stores, its page as JSON.
pub async fn paged<T, F>(req: &HttpRequest, core: &Core, list: F) -> HttpResponse
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce(&AdminStores, &PageRequest) -> Result<T, AdminError> + Send + 'static,
{
    respond(
        async {
            caller(req, core, Need::Read).await?;
            let page = query::<PageQuery>(req)?.parse()?;
            let stores = AdminStores::of(core);
            let listed = run(move || list(&stores, &page)).await.map_err(refusal)?;
            Ok(plain(StatusCode::OK, &listed))
        }
        .await,
    )
}

/// The JSON error body, for the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub error_description: String,
}

/// Logs who changed what (never a secret); the audit trail has the event.
pub fn note(by: &By, what: &str, target: &str) {
    let actor = by.actor.to_stored();
    tracing::info!(actor, target, "admin API: {what}");
}
