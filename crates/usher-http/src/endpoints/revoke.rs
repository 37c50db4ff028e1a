//! `POST /revoke` (RFC 7009): a client revokes one of its tokens. What is revoked is
//! decided in [`usher_core::revocation`] (a refresh token's whole family; an access
//! token's `jti`, refused by Usher's own endpoints until the token expires). This module
//! reads the request and authenticates the client (also for `/introspect`), and answers:
//! anything revoked or nothing — an unknown token, garbage, a token of another client —
//! gets the same `200` (RFC 7009 §2.2), so the endpoint tells a caller nothing about
//! tokens it does not hold; `503` when a store cannot be written.

use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::revocation;
use usher_domain::authorize::RawParams;
use usher_domain::{Client, Origin, ProtocolError};

use crate::Core;
use crate::client_auth;
use crate::cors;
use crate::params::{self, ParamError};
use crate::respond::{token_error, token_failure};
use crate::routes;

/// Reads a token-management request (revocation, introspection): the form, no
/// repeated parameter, an authenticated client, an `Origin` that is the client's own if
/// there is one (`usher_core::cors::check`, before anything is revoked or looked up),
/// and the `token`. The origin to answer with CORS headers comes back with them; a
/// refusal is already a whole answer (with `Vary: Origin`, and CORS headers once the
/// origin was found to be the client's).
pub(crate) async fn authenticated_token_request(
    state: &Core,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Client, String, Option<Origin>), HttpResponse> {
    read_token_request(state, req, body)
        .await
        .map_err(|(response, allowed)| cors::answer(response, allowed.as_ref()))
}

async fn read_token_request(
    state: &Core,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Client, String, Option<Origin>), (HttpResponse, Option<Origin>)> {
    let form: RawParams = match params::form(req, body) {
        Ok(f) => f,
        Err(e @ (ParamError::TooLarge | ParamError::NotAForm | ParamError::BadEncoding)) => {
            return Err((
                token_error(ProtocolError::InvalidRequest, &e.to_string(), false),
                None,
            ));
        }
    };
    if let Err(repeated) = params::reject_repeats(&form, &[]) {
        return Err((
            token_error(
                ProtocolError::InvalidRequest,
                &repeated.description(),
                false,
            ),
            None,
        ));
    }
    let client = match client_auth::authenticate(state, req, &form).await {
        Ok(c) => c,
        Err(e) => {
            return Err((
                match e.failure {
                    Some(f) => token_failure(f),
                    None => token_error(e.error, e.description, e.tried_basic),
                },
                None,
            ));
        }
    };
    let allowed = match usher_core::cors::check(&client, &cors::presented(req)) {
        Ok(allowed) => allowed,
        Err(refused) => {
            let r = refused.rejection();
            return Err((token_error(r.error, &r.description, false), None));
        }
    };
    match params::single(&form, "token") {
        Some(t) => Ok((client, t.to_owned(), allowed)),
        None => Err((
            token_error(ProtocolError::InvalidRequest, "token is missing", false),
            allowed,
        )),
    }
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (client, token, allowed) = match authenticated_token_request(&state, &req, &body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    // What was revoked, if anything, is logged by the core; the client always hears the
    // same 200 (RFC 7009 §2.2).
    let response = match revocation::revoke(&state, &client, &token).await {
        Ok(_) => HttpResponse::build(StatusCode::OK)
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"))
            .finish(),
        // RFC 7009 §2.2.1: 503 when the server cannot revoke right now; the client retries.
        Err(f) => token_failure(f),
    };
    cors::answer(response, allowed.as_ref())
}

async fn preflight(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    cors::client_preflight(&req, &state, "POST").await
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::REVOKE)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
        .route(web::method(Method::OPTIONS).to(preflight))
}
