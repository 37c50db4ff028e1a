//! Dynamic client registration: `POST /register` (RFC 7591, the `registration_endpoint`)
//! and `GET`/`PUT`/`DELETE /register/{client_id}` (RFC 7592, the client's
//! `registration_client_uri`). This reads the bearer token and the JSON object into
//! [`ClientMetadata`] (each known member with its JSON type; unknown members dropped, RFC
//! 7591 §3.1), calls [`usher_core::registration`], and renders its outcome. With
//! `registration = "off"` the routes are not registered: 404 like any unknown path.
//! Every answer is `Cache-Control: no-store` (they carry secrets).

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use usher_core::registration::{self, Refusal, Registration};
use usher_domain::error::wire_description;
use usher_domain::{ClientMetadata, MetadataError, RegistrationMode};

use crate::Core;
use crate::client_address;
use crate::respond::{Failure, json_no_store};
use crate::routes;

/// The largest registration body accepted (metadata are small; a few redirect URIs).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The bearer token of the `Authorization` header, if it is one.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// The parsed body: the metadata, and (for RFC 7592 updates) the `client_id` and
/// `client_secret` members.
struct Body {
    metadata: Result<ClientMetadata, MetadataError>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn meta_error(d: &str) -> MetadataError {
    MetadataError::ClientMetadata(d.to_owned())
}

/// Reads the JSON object of a registration or update.
fn parse(req: &HttpRequest, body: &[u8]) -> Body {
    let refused = |e: MetadataError| Body {
        metadata: Err(e),
        client_id: None,
        client_secret: None,
    };
    let json_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return refused(meta_error(
            "send the client metadata as a JSON object with Content-Type: application/json",
        ));
    }
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return refused(meta_error("the body must be a JSON object")),
        Err(_) => return refused(meta_error("the body is not valid JSON")),
    };
    match metadata(&object) {
        Ok(m) => Body {
            metadata: Ok(m),
            client_id: string(&object, "client_id").ok().flatten(),
            client_secret: string(&object, "client_secret").ok().flatten(),
        },
        Err(e) => refused(e),
    }
}

fn string(o: &Map<String, Value>, name: &str) -> Result<Option<String>, MetadataError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(meta_error(&format!("{name} must be a string"))),
    }
}

fn strings(o: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, MetadataError> {
    let wrong = || format!("{name} must be an array of strings");
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| meta_error(&wrong()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(meta_error(&wrong())),
    }
}

fn boolean(o: &Map<String, Value>, name: &str) -> Result<Option<bool>, MetadataError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(meta_error(&format!("{name} must be true or false"))),
    }
}

/// The members Usher reads; every other member is ignored (RFC 7591 §3.1).
fn metadata(o: &Map<String, Value>) -> Result<ClientMetadata, MetadataError> {
    Ok(ClientMetadata {
        redirect_uris: strings(o, "redirect_uris")
            .map_err(|e| MetadataError::RedirectUri(e.description().to_owned()))?,
        token_endpoint_auth_method: string(o, "token_endpoint_auth_method")?,
        grant_types: strings(o, "grant_types")?,
        response_types: strings(o, "response_types")?,
        client_name: string(o, "client_name")?,
        scope: string(o, "scope")?,
        post_logout_redirect_uris: strings(o, "post_logout_redirect_uris")?,
        id_token_signed_response_alg: string(o, "id_token_signed_response_alg")?,
        backchannel_logout_uri: string(o, "backchannel_logout_uri")?,
        backchannel_logout_session_required: boolean(o, "backchannel_logout_session_required")?,
    })
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3).
fn information(r: &Registration) -> Value {
    let c = &r.client;
    let reg = &c.registration;
    let mut doc = json!({
        "client_id": c.id.as_str(),
        "client_id_issued_at": c.created_at.seconds(),
        "registration_access_token": r.registration_access_token,
        "registration_client_uri": r.registration_client_uri,
        "client_name": reg.name.as_str(),
        "redirect_uris": reg.redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "grant_types": reg.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types": ["code"],
        "token_endpoint_auth_method": reg.auth_method.as_str(),
        "scope": reg.scopes.to_string(),
    });
    let Some(obj) = doc.as_object_mut() else {
        return doc;
    };
    if let Some(secret) = &r.client_secret {
        obj.insert("client_secret".into(), json!(secret));
        // RFC 7591 §3.2.1: 0, the secret does not expire.
        obj.insert("client_secret_expires_at".into(), json!(0));
    }
    if !reg.post_logout_redirect_uris.is_empty() {
        obj.insert(
            "post_logout_redirect_uris".into(),
            json!(
                reg.post_logout_redirect_uris
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
            ),
        );
    }
    if let Some(alg) = reg.id_token_signed_response_alg {
        obj.insert("id_token_signed_response_alg".into(), json!(alg.as_str()));
    }
    if let Some(b) = &reg.backchannel_logout {
        obj.insert("backchannel_logout_uri".into(), json!(b.uri.as_str()));
        obj.insert(
            "backchannel_logout_session_required".into(),
            json!(b.session_required),
        );
    }
    doc
}

fn error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    json_no_store(
        status,
        &json!({ "error": code, "error_description": wire_description(description) }),
    )
}

fn refusal(r: Refusal) -> HttpResponse {
    match r {
        Refusal::Off => HttpResponse::NotFound().finish(),
        Refusal::InvalidToken => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is missing, unknown, expired or used up",
            );
            if let Ok(v) = "Bearer realm=\"usher\", error=\"invalid_token\"".parse() {
                response.headers_mut().insert(WWW_AUTHENTICATE, v);
            }
            response
        }
        Refusal::Throttled { wait } => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request",
                &format!(
                    "too many client registrations from this address; try again in {wait} seconds"
                ),
            );
            if let Ok(v) = wait.to_string().parse() {
                response.headers_mut().insert(RETRY_AFTER, v);
            }
            response
        }
        Refusal::Full => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request",
                "this server holds as many self-registered clients as it accepts; try again later (unused ones are removed)",
            );
            response.headers_mut().insert(
                RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("3600"),
            );
            response
        }
        Refusal::Metadata(e) => error(StatusCode::BAD_REQUEST, e.code(), e.description()),
    }
}

fn failure(f: Failure) -> HttpResponse {
    match f {
        Failure::Unavailable => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the server cannot reach its storage; try again shortly",
        ),
        Failure::Internal => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        ),
    }
}

async fn register(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    let parsed = parse(&req, &body);
    let token = bearer(&req);
    match registration::register(&state, token.as_deref(), &address, parsed.metadata).await {
        Ok(Ok(r)) => json_no_store(StatusCode::CREATED, &information(&r)),
        Ok(Err(r)) => refusal(r),
        Err(f) => failure(f),
    }
}

async fn read(req: HttpRequest, id: web::Path<String>, state: web::Data<Core>) -> HttpResponse {
    match registration::read(&state, &id, bearer(&req).as_deref()).await {
        Ok(Ok(r)) => json_no_store(StatusCode::OK, &information(&r)),
        Ok(Err(r)) => refusal(r),
        Err(f) => failure(f),
    }
}

async fn update(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<Core>,
) -> HttpResponse {
    let parsed = parse(&req, &body);
    let token = bearer(&req);
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    let outcome = registration::update(
        &state,
        &id,
        token.as_deref(),
        &address,
        parsed.metadata,
        parsed.client_id.as_deref(),
        parsed.client_secret.as_deref(),
    )
    .await;
    match outcome {
        Ok(Ok(r)) => json_no_store(StatusCode::OK, &information(&r)),
        Ok(Err(r)) => refusal(r),
        Err(f) => failure(f),
    }
}

async fn delete(req: HttpRequest, id: web::Path<String>, state: web::Data<Core>) -> HttpResponse {
    match registration::delete(&state, &id, bearer(&req).as_deref()).await {
        Ok(Ok(())) => HttpResponse::NoContent()
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        Ok(Err(r)) => refusal(r),
        Err(f) => failure(f),
    }
}

/// The routes, when registration is on (`token` or `open`); none when it is off.
pub fn routes(mode: RegistrationMode) -> Vec<actix_web::Resource> {
    if !mode.is_on() {
        return Vec::new();
    }
    let limit = || web::PayloadConfig::new(MAX_BODY_BYTES);
    vec![
        web::resource(routes::REGISTER)
            .app_data(limit())
            .route(web::post().to(register)),
        web::resource(format!("{}/{{client_id}}", routes::REGISTER))
            .app_data(limit())
            .route(web::get().to(read))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    ]
}
