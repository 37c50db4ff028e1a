//! `POST /token` (RFC 6749 §3.2): parse the form, authenticate the client, dispatch on
//! `grant_type` to one module per grant.

use actix_web::{HttpRequest, HttpResponse, web};
use usher_domain::ProtocolError;

use crate::Core;
use crate::client_auth;
use crate::grants;
use crate::metrics::{self, Counter};
use crate::params::{self, ParamError};
use crate::respond::{token_error, token_failure};
use crate::routes;

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(ParamError::TooLarge) => {
            return token_error(
                ProtocolError::InvalidRequest,
                "the request body is too large",
                false,
            );
        }
        Err(e) => return token_error(ProtocolError::InvalidRequest, &e.to_string(), false),
    };
    // RFC 6749 §3.2: parameters must not be repeated; RFC 8707 §2 lets `resource` repeat.
    if let Err(repeated) = params::reject_repeats(&form, &["resource"]) {
        return token_error(
            ProtocolError::InvalidRequest,
            &repeated.description(),
            false,
        );
    }
    let client = match client_auth::authenticate(&state, &req, &form).await {
        Ok(c) => c,
        Err(e) => {
            return match e.failure {
                Some(f) => token_failure(f),
                None => token_error(e.error, e.description, e.tried_basic),
            };
        }
    };
    let grant = params::single(&form, "grant_type");
    let response = match grant {
        None => token_error(
            ProtocolError::InvalidRequest,
            "grant_type is missing",
            false,
        ),
        Some("authorization_code") => {
            grants::authorization_code::exchange(&state, client, &form).await
        }
        Some("refresh_token") => grants::refresh_token::refresh(&state, client, &form).await,
        Some("client_credentials") => {
            grants::client_credentials::issue(&state, client, &form).await
        }
        Some(_) => token_error(
            ProtocolError::UnsupportedGrantType,
            "this grant_type is not supported; use authorization_code, refresh_token or client_credentials",
            false,
        ),
    };
    if response.status().is_success() {
        let label = match grant {
            Some("authorization_code") => "authorization_code",
            Some("refresh_token") => "refresh_token",
            _ => "client_credentials",
        };
        metrics::inc(Counter::TokensIssued, label);
    }
    response
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::TOKEN)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
