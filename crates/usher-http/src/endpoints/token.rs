//! `POST /token` (RFC 6749 §3.2): parse the form, authenticate the client, let the core's
//! grant decide ([`usher_core::grants`]), and render its outcome. This is the one place a
//! [`TokenResponse`] or [`TokenError`] becomes HTTP: the RFC 6749 §5.1 JSON body or the
//! §5.2 error (status, `Cache-Control: no-store`, `Pragma: no-cache`, and the Basic
//! challenge for `invalid_client`, through [`crate::respond`]). The tokens-issued metric is
//! counted here, from the grant that issued them.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use usher_core::grants::{self, TokenError, TokenRequest, TokenResponse};
use usher_domain::authorize::RawParams;
use usher_domain::{Client, Origin, ProtocolError};

use crate::Core;
use crate::client_auth;
use crate::cors;
use crate::metrics::{self, Counter};
use crate::params::{self, ParamError};
use crate::respond::{json_no_store, token_error, token_failure};
use crate::routes;

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (response, allowed) = exchange(&req, &body, &state).await;
    cors::answer(response, allowed.as_ref())
}

/// The token request's answer, and the origin to answer with CORS headers: the
/// request's `Origin` once `usher_core::cors::check` found it to be the authenticated
/// client's — checked before the grant runs, so a refused origin gets no token and
/// redeems (burns) no code.
async fn exchange(
    req: &HttpRequest,
    body: &web::Bytes,
    state: &web::Data<Core>,
) -> (HttpResponse, Option<Origin>) {
    match authenticated(req, body, state).await {
        Ok((client, form, allowed)) => {
            let issued = match TokenRequest::parse(&form) {
                Ok(request) => grants::token(state, client, &request).await,
                Err(e) => Err(e),
            };
            let response = match issued {
                Ok(issued) => {
                    metrics::inc(Counter::TokensIssued, issued.grant_type.as_str());
                    render(&issued)
                }
                Err(TokenError::Refused(r)) => token_error(r.error, &r.description, false),
                Err(TokenError::Failure(f)) => token_failure(f),
            };
            (response, allowed)
        }
        Err(response) => (response, None),
    }
}

/// The form, an authenticated client, and its origin check (the device authorization
/// endpoint authenticates through here too).
pub(crate) async fn authenticated(
    req: &HttpRequest,
    body: &web::Bytes,
    state: &web::Data<Core>,
) -> Result<(Client, RawParams, Option<Origin>), HttpResponse> {
    let form = match params::form(req, body) {
        Ok(f) => f,
        Err(ParamError::TooLarge) => {
            return Err(token_error(
                ProtocolError::InvalidRequest,
                "the request body is too large",
                false,
            ));
        }
        Err(e) => {
            return Err(token_error(
                ProtocolError::InvalidRequest,
                &e.to_string(),
                false,
            ));
        }
    };
    // RFC 6749 §3.2: parameters must not be repeated; RFC 8707 §2 lets `resource` repeat.
    if let Err(repeated) = params::reject_repeats(&form, &["resource"]) {
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
    match usher_core::cors::check(&client, &cors::presented(req)) {
        Ok(allowed) => Ok((client, form, allowed)),
        Err(refused) => {
            let r = refused.rejection();
            Err(token_error(r.error, &r.description, false))
        }
    }
}

/// The RFC 6749 §5.1 body: the access token, the refresh token if any, and the ID token
/// for `openid`.
fn render(issued: &TokenResponse) -> HttpResponse {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope.to_string(),
    });
    if let Some(t) = &issued.refresh_token {
        body["refresh_token"] = json!(t);
    }
    if let Some(t) = &issued.id_token {
        body["id_token"] = json!(t);
    }
    json_no_store(StatusCode::OK, &body)
}

async fn preflight(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    cors::client_preflight(&req, &state, "POST").await
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::TOKEN)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
        .route(web::method(Method::OPTIONS).to(preflight))
}
