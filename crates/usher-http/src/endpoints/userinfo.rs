//! `GET`/`POST /userinfo` (OIDC Core §5.3, RFC 6750): the person's claims for a valid
//! access token. Which token is valid and which claims it gets is decided in
//! [`usher_core::userinfo`]; this module finds the token (header or form, refusing it
//! in both) and writes the answer: 200 with the claims, or the RFC 6750 §3 challenge —
//! 401 `invalid_token`, 403 `insufficient_scope`, 400 `invalid_request`, a bare 401
//! without a token — and 503/500 when a store fails. A browser app calls it from one of
//! the allowed origins of the client the token was issued to (`crate::cors`); any
//! other origin is `400 invalid_request` without CORS headers.

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use usher_core::userinfo::{self, UserinfoError};
use usher_domain::authorize::RawParams;
use usher_domain::error::wire_description;

use crate::Core;
use crate::cors;
use crate::params;
use crate::respond::Failure;
use crate::routes;

/// A refusal with its RFC 6750 §3 challenge.
fn challenge(status: StatusCode, error: Option<(&str, &str)>) -> HttpResponse {
    let value = match error {
        None => "Bearer realm=\"usher\"".to_owned(),
        Some((code, description)) => {
            let description = wire_description(description);
            format!("Bearer realm=\"usher\", error=\"{code}\", error_description=\"{description}\"")
        }
    };
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header((WWW_AUTHENTICATE, value))
        .insert_header((CACHE_CONTROL, "no-store"));
    match error {
        Some((code, description)) => builder
            .json(json!({ "error": code, "error_description": wire_description(description) })),
        None => builder.finish(),
    }
}

fn invalid_token(description: &str) -> HttpResponse {
    challenge(
        StatusCode::UNAUTHORIZED,
        Some(("invalid_token", description)),
    )
}

fn invalid_request(description: &str) -> HttpResponse {
    challenge(
        StatusCode::BAD_REQUEST,
        Some(("invalid_request", description)),
    )
}

fn unavailable(f: Failure) -> HttpResponse {
    let status = match f {
        Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    HttpResponse::build(status)
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({ "error": "server_error" }))
}

/// The bearer token from the header, or (POST only) from a form body; both at once is
/// an error (RFC 6750 §2).
fn bearer(req: &HttpRequest, body: Option<&[u8]>) -> Result<Option<String>, Box<HttpResponse>> {
    let header = match req.headers().get(AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| Box::new(invalid_request("malformed Authorization header")))?;
            match v.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(token.trim().to_owned())
                }
                _ => return Err(Box::new(challenge(StatusCode::UNAUTHORIZED, None))),
            }
        }
    };
    let form_token = match body {
        Some(b) if !b.is_empty() => {
            let form =
                params::form(req, b).map_err(|e| Box::new(invalid_request(&e.to_string())))?;
            // Only the token is read here, so only its repeat is refused.
            let tokens: RawParams = form
                .iter()
                .filter(|(k, _)| k == "access_token")
                .cloned()
                .collect();
            if let Err(repeated) = params::reject_repeats(&tokens, &[]) {
                return Err(Box::new(invalid_request(&repeated.description())));
            }
            params::single(&form, "access_token").map(str::to_owned)
        }
        _ => None,
    };
    match (header, form_token) {
        (Some(_), Some(_)) => Err(Box::new(invalid_request(
            "send the access token in one place: the Authorization header or the form",
        ))),
        (Some(t), None) | (None, Some(t)) if !t.is_empty() => Ok(Some(t)),
        _ => Ok(None),
    }
}

async fn handle(
    req: HttpRequest,
    body: Option<web::Bytes>,
    state: web::Data<Core>,
) -> HttpResponse {
    let token = match bearer(&req, body.as_deref()) {
        Ok(Some(t)) => t,
        Ok(None) => return cors::answer(challenge(StatusCode::UNAUTHORIZED, None), None),
        Err(response) => return cors::answer(*response, None),
    };
    let presented = cors::presented(&req);
    match userinfo::userinfo_from(state.get_ref(), &token, &presented).await {
        Ok((claims, allowed)) => cors::answer(
            HttpResponse::Ok()
                .insert_header((CACHE_CONTROL, "no-store"))
                .json(claims),
            allowed.as_ref(),
        ),
        // Refusals of the token itself: no CORS headers, as the token's client (whose
        // origin the request would need) is not known to be the caller.
        Err(e) => cors::answer(refusal(e), None),
    }
}

fn refusal(e: UserinfoError) -> HttpResponse {
    match e {
        UserinfoError::Failure(f) => unavailable(f),
        e @ UserinfoError::InsufficientScope => challenge(
            StatusCode::FORBIDDEN,
            Some(("insufficient_scope", &e.to_string())),
        ),
        e @ (UserinfoError::InvalidToken(_)
        | UserinfoError::PersonGone
        | UserinfoError::PersonDisabled) => invalid_token(&e.to_string()),
        e @ UserinfoError::OriginRefused => invalid_request(&e.to_string()),
    }
}

async fn get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    handle(req, None, state).await
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    handle(req, Some(body), state).await
}

async fn preflight(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    cors::client_preflight(&req, &state, "GET, POST").await
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::USERINFO)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::get().to(get))
        .route(web::post().to(post))
        .route(web::method(actix_web::http::Method::OPTIONS).to(preflight))
}
