//! `GET`/`POST /userinfo` (OIDC Core §5.3, RFC 6750): the person's claims for a valid
//! access token, checked by [`verify_access_token`] for [`Purpose::Userinfo`] (RS256,
//! `at+jwt`, this issuer, the userinfo audience, unexpired, not revoked, `openid`). This
//! module finds the token (header or form) and writes the RFC 6750 §3 challenges.

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use usher_domain::authorize::RawParams;
use usher_domain::error::wire_description;

use crate::Core;
use crate::access_token::{AccessTokenError, Purpose, verify_access_token};
use crate::params;
use crate::respond::Failure;
use crate::routes;
use crate::tokens;

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

async fn userinfo(
    req: HttpRequest,
    body: Option<web::Bytes>,
    state: web::Data<Core>,
) -> HttpResponse {
    let token = match bearer(&req, body.as_deref()) {
        Ok(Some(t)) => t,
        Ok(None) => return challenge(StatusCode::UNAUTHORIZED, None),
        Err(response) => return *response,
    };
    let claims = match verify_access_token(state.get_ref(), &token, Purpose::Userinfo).await {
        Ok(claims) => claims,
        Err(AccessTokenError::Failure(f)) => return unavailable(f),
        Err(e @ AccessTokenError::InsufficientScope) => {
            return challenge(
                StatusCode::FORBIDDEN,
                Some(("insufficient_scope", &e.to_string())),
            );
        }
        Err(e) => return invalid_token(&e.to_string()),
    };
    // Verified for this purpose: the subject is a person.
    let Some(user_id) = claims.person() else {
        return invalid_token(&AccessTokenError::NotAPerson.to_string());
    };
    let user = match state.user(&user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return invalid_token("the person no longer exists"),
        Err(f) => return unavailable(f),
    };
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(tokens::standard_claims(&user, &claims.scope))
}

async fn get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    userinfo(req, None, state).await
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    userinfo(req, Some(body), state).await
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::USERINFO)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::get().to(get))
        .route(web::post().to(post))
}
