//! `POST /introspect` (RFC 7662): an authenticated client asks whether a token is
//! live. Whether it is, and what the caller may learn of it, is decided in
//! [`usher_core::introspection`] (an access token to its own client or any
//! confidential client; a refresh token only to its own client). This module reads the
//! request, authenticates the client, and writes the JSON: the fields of an active
//! token, or `{"active": false}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use usher_core::introspection::{self, ActiveToken, Introspection, TokenKind};

use crate::Core;
use crate::endpoints::revoke::authenticated_token_request;
use crate::respond::{json_no_store, token_failure};
use crate::routes;

/// The RFC 7662 §2.2 answer.
fn render(answer: Introspection) -> Value {
    let token: ActiveToken = match answer {
        Introspection::Inactive => return json!({ "active": false }),
        Introspection::Active(token) => *token,
    };
    let token_type = match token.kind {
        TokenKind::Access => "Bearer",
        TokenKind::Refresh => "refresh_token",
    };
    let aud = match token.aud.as_slice() {
        [one] => Value::String(one.clone()),
        many => Value::from(many.to_vec()),
    };
    // Keys in the order Usher has always written them: a refresh token's `auth_time`
    // after `iat`, an access token's last.
    let auth_time = token.auth_time.map(|t| json!(t.seconds()));
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    out.insert("token_type".into(), json!(token_type));
    out.insert("scope".into(), json!(token.scope.to_string()));
    out.insert("client_id".into(), json!(token.client_id.as_str()));
    out.insert("sub".into(), json!(token.sub));
    out.insert("exp".into(), json!(token.exp.seconds()));
    out.insert("iat".into(), json!(token.iat.seconds()));
    if token.kind == TokenKind::Refresh
        && let Some(t) = &auth_time
    {
        out.insert("auth_time".into(), t.clone());
    }
    out.insert("iss".into(), json!(token.iss));
    out.insert("aud".into(), aud);
    out.insert("jti".into(), json!(token.jti));
    if token.kind == TokenKind::Access
        && let Some(t) = auth_time
    {
        out.insert("auth_time".into(), t);
    }
    if let Some(amr) = &token.amr {
        out.insert("acr".into(), json!(amr.acr().as_str()));
        out.insert("amr".into(), json!(amr.wire()));
    }
    Value::Object(out)
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (client, token, allowed) = match authenticated_token_request(&state, &req, &body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let response = match introspection::introspect(&state, &client, &token).await {
        Ok(answer) => json_no_store(StatusCode::OK, &render(answer)),
        Err(f) => token_failure(f),
    };
    crate::cors::answer(response, allowed.as_ref())
}

async fn preflight(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    crate::cors::client_preflight(&req, &state, "POST").await
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::INTROSPECT)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
        .route(web::method(actix_web::http::Method::OPTIONS).to(preflight))
}
