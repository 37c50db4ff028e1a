//! `POST /revoke` (RFC 7009): a client revokes one of its tokens. What is revoked is
//! decided in [`usher_core::revocation`] (a refresh token's whole family; an access
//! token's `jti`, refused by Usher's own endpoints until the token expires). This module
//! reads the request and authenticates the client (also for `/introspect`), and answers:
//! anything revoked or nothing — an unknown token, garbage, a token of another client —
//! gets the same `200` (RFC 7009 §2.2), so the endpoint tells a caller nothing about
//! tokens it does not hold; `503` when a store cannot be written.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::revocation;
use usher_domain::authorize::RawParams;
use usher_domain::{Client, ProtocolError};

use crate::Core;
use crate::client_auth;
use crate::params::{self, ParamError};
use crate::respond::{token_error, token_failure};
use crate::routes;

/// Reads a token-management request (revocation, introspection): the form, no
/// repeated parameter, an authenticated client, and the `token`.
pub(crate) async fn authenticated_token_request(
    state: &Core,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Client, String), HttpResponse> {
    let form: RawParams = match params::form(req, body) {
        Ok(f) => f,
        Err(e @ (ParamError::TooLarge | ParamError::NotAForm | ParamError::BadEncoding)) => {
            return Err(token_error(
                ProtocolError::InvalidRequest,
                &e.to_string(),
                false,
            ));
        }
    };
    if let Err(repeated) = params::reject_repeats(&form, &[]) {
        return Err(token_error(
            ProtocolError::InvalidRequest,
            &repeated.description(),
            false,
        ));
    }
    let client = match client_auth::authenticate(state, req, &form).await {
        Ok(c) => c,
        Err(e) => {
            return Err(match e.failure {
                Some(f) => token_failure(f),
                None => token_error(e.error, e.description, e.tried_basic),
            });
        }
    };
    match params::single(&form, "token") {
        Some(t) => Ok((client, t.to_owned())),
        None => Err(token_error(
            ProtocolError::InvalidRequest,
            "token is missing",
            false,
        )),
    }
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (client, token) = match authenticated_token_request(&state, &req, &body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    // What was revoked, if anything, is logged by the core; the client always hears the
    // same 200 (RFC 7009 §2.2).
    match revocation::revoke(&state, &client, &token).await {
        Ok(_) => HttpResponse::build(StatusCode::OK)
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"))
            .finish(),
        // RFC 7009 §2.2.1: 503 when the server cannot revoke right now; the client retries.
        Err(f) => token_failure(f),
    }
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::REVOKE)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
