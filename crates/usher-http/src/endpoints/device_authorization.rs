//! `POST /device_authorization` (RFC 8628 §3.1–3.2): the form is read and the client
//! authenticated exactly as at `/token` (the same function), counted against the
//! address's budget ([`device_code::admit`], `429` past it), the core decides
//! ([`usher_core::grants::device_code::authorize`]), and the answer is the §3.2 JSON
//! (`Cache-Control: no-store`) or a §5.2 error rendered as the token endpoint renders it.

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use usher_core::grants::TokenError;
use usher_core::grants::device_code;

use crate::Core;
use crate::client_address;
use crate::endpoints::token::authenticated;
use crate::respond::{json_no_store, token_error, token_failure};
use crate::routes;

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (client, form) = match authenticated(&req, &body, &state).await {
        Ok((client, form, _)) => (client, form),
        Err(response) => return response,
    };
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    match device_code::admit(&state, &address).await {
        Ok(None) => {}
        Ok(Some(wait)) => return too_many(wait),
        Err(f) => return token_failure(f),
    }
    match device_code::authorize(&state, &client, &form).await {
        Ok(a) => json_no_store(
            StatusCode::OK,
            &json!({
                "device_code": a.device_code,
                "user_code": a.user_code.display(),
                "verification_uri": a.verification_uri,
                "verification_uri_complete": a.verification_uri_complete,
                "expires_in": a.expires_in,
                "interval": a.interval,
            }),
        ),
        Err(TokenError::Refused(r)) => token_error(r.error, &r.description, false),
        Err(TokenError::Failure(f)) => token_failure(f),
    }
}

/// `429` with `Retry-After`: the address started too many device authorizations
/// (RFC 6749 §5.2's JSON; RFC 8628 defines no error of its own for this).
fn too_many(wait: i64) -> HttpResponse {
    let mut response = json_no_store(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({
            "error": "invalid_request",
            "error_description": format!(
                "too many device authorizations from this address; try again in {wait} seconds"
            ),
        }),
    );
    if let Ok(v) = wait.to_string().parse() {
        response.headers_mut().insert(RETRY_AFTER, v);
    }
    response
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::DEVICE_AUTHORIZATION)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
