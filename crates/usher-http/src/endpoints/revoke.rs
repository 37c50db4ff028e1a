//! `POST /revoke` (RFC 7009): a client revokes one of its tokens. A refresh token
//! revokes its whole family; an access token's `jti` is refused by Usher's own endpoints
//! (userinfo, introspection) until the token expires. Anything else — an unknown token,
//! garbage, or a token of another client — gets the same `200` and revokes nothing
//! (RFC 7009 §2.2), so the endpoint tells a caller nothing about tokens it does not hold.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use usher_domain::authorize::RawParams;
use usher_domain::{Client, ProtocolError, RevokeReason};

use crate::Core;
use crate::access_token::{AccessTokenError, Purpose, verify_access_token};
use crate::client_auth;
use crate::params::{self, ParamError};
use crate::refresh_tokens;
use crate::respond::{Failure, token_error, token_failure};
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

/// Revokes what `token` names, if it is the client's; Ok(()) when there is nothing to do.
async fn revoke(state: &Core, client: &Client, token: &str) -> Result<(), Failure> {
    let now = state.now();
    if let Some(presented) = refresh_tokens::recognise(&state.secrets, token) {
        let families = &state.stores.families;
        let Some(family) = families.get(&presented.family).await? else {
            return Ok(());
        };
        if family.client_id != client.id {
            tracing::info!(client_id = %client.id, family_id = %family.id, "a client tried to revoke another client's refresh token; nothing revoked");
            return Ok(());
        }
        families
            .revoke(&family.id, RevokeReason::Revoked, now)
            .await?;
        tracing::info!(client_id = %client.id, family_id = %family.id, "refresh-token family revoked by its client");
        return Ok(());
    }
    let claims = match verify_access_token(state, token, Purpose::Revocation { caller: client })
        .await
    {
        Ok(claims) => claims,
        Err(AccessTokenError::OtherClient) => {
            tracing::info!(client_id = %client.id, "a client tried to revoke another client's access token; nothing revoked");
            return Ok(());
        }
        Err(AccessTokenError::Failure(f)) => return Err(f),
        // Not a live access token of this server: nothing to revoke (RFC 7009 §2.2).
        Err(_) => return Ok(()),
    };
    state.revoke_jti(&claims.jti, claims.exp).await?;
    tracing::info!(client_id = %client.id, "access token revoked by its client");
    Ok(())
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (client, token) = match authenticated_token_request(&state, &req, &body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    match revoke(&state, &client, &token).await {
        Ok(()) => HttpResponse::build(StatusCode::OK)
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
