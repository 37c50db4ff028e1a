//! `POST /introspect` (RFC 7662): an authenticated client asks whether a token is
//! live. A live access token (checked by [`verify_access_token`]: signed by Usher,
//! `at+jwt`, this issuer, unexpired, not revoked) is described to its own client and to
//! any confidential client (a resource server); a live refresh token (its family active,
//! and it the family's current token) only to the client it was issued to. Everything
//! else is `{"active": false}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use usher_domain::{Client, FamilyState};

use crate::Core;
use crate::access_token::{AccessTokenError, Purpose, verify_access_token};
use crate::endpoints::revoke::authenticated_token_request;
use crate::refresh_tokens;
use crate::respond::{Failure, json_no_store, token_failure};
use crate::routes;

fn inactive() -> Value {
    json!({ "active": false })
}

async fn describe(state: &Core, client: &Client, token: &str) -> Result<Value, Failure> {
    let now = state.now();
    if let Some(presented) = refresh_tokens::recognise(&state.secrets, token) {
        let Some(family) = state.stores.families.get(&presented.family).await? else {
            return Ok(inactive());
        };
        let current = family.token_hash.len() == presented.hash.len()
            && openssl::memcmp::eq(family.token_hash.as_bytes(), presented.hash.as_bytes());
        if family.client_id != client.id || !current || family.state(now) != FamilyState::Active {
            return Ok(inactive());
        }
        let short: String = presented.hash.chars().take(16).collect();
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": family.scopes.to_string(),
            "client_id": family.client_id.as_str(),
            "sub": family.user_id.as_str(),
            "exp": family.ends_at().seconds(),
            "iat": family.last_rotated_at.unwrap_or(family.created_at).seconds(),
            "auth_time": family.auth_time.seconds(),
            "iss": state.settings.issuer.as_str(),
            "aud": family.client_id.as_str(),
            "jti": format!("{}.{short}", family.id),
        }));
    }
    let claims =
        match verify_access_token(state, token, Purpose::Introspection { caller: client }).await {
            Ok(claims) => claims,
            Err(AccessTokenError::Failure(f)) => return Err(f),
            Err(_) => return Ok(inactive()),
        };
    let mut out = json!({
        "active": true,
        "token_type": "Bearer",
        "scope": claims.scope.to_string(),
        "client_id": claims.client_id.as_str(),
        "sub": claims.sub,
        "exp": claims.exp.seconds(),
        "iat": claims.iat.seconds(),
        "iss": claims.iss,
        "aud": claims.aud_json(),
        "jti": claims.jti,
    });
    if let Some(auth_time) = claims.auth_time {
        out["auth_time"] = json!(auth_time.seconds());
    }
    Ok(out)
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (client, token) = match authenticated_token_request(&state, &req, &body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    match describe(&state, &client, &token).await {
        Ok(answer) => json_no_store(StatusCode::OK, &answer),
        Err(f) => token_failure(f),
    }
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::INTROSPECT)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
