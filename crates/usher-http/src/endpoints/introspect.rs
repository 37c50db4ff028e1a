//! `POST /introspect` (RFC 7662): an authenticated client asks whether a token is
//! live. A live access token (signed by Usher, `at+jwt`, this issuer, unexpired, not
//! revoked) is described to its own client and to any confidential client (a resource
//! server); a live refresh token (its family active, and it the family's current token)
//! only to the client it was issued to. Everything else is `{"active": false}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use usher_domain::{Client, FamilyState};

use crate::endpoints::revoke::authenticated_token_request;
use crate::grants::refresh_token;
use crate::respond::{Failure, json_no_store, token_failure};
use crate::routes;
use crate::state::AppState;
use crate::tokens::ACCESS_TOKEN_TYP;

/// The claims of an access token Usher signed for this issuer (signature, `typ` and
/// `iss` checked; expiry and revocation not).
pub(crate) fn access_token_claims(state: &AppState, token: &str) -> Option<Map<String, Value>> {
    let keys = state.published_keys();
    let (typ, claims) = keys.ring.verify_jwt(token).ok()?;
    if typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return None;
    }
    if claims.get("iss").and_then(Value::as_str) != Some(state.settings.issuer.as_str()) {
        return None;
    }
    Some(claims)
}

fn inactive() -> Value {
    json!({ "active": false })
}

async fn describe(state: &AppState, client: &Client, token: &str) -> Result<Value, Failure> {
    let now = state.now();
    if let Some(presented) = refresh_token::recognise(&state.secrets, token) {
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
    let Some(claims) = access_token_claims(state, token) else {
        return Ok(inactive());
    };
    let owner = claims.get("client_id").and_then(Value::as_str);
    if owner != Some(client.id.as_str()) && client.is_public() {
        return Ok(inactive());
    }
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp > now.seconds() => {}
        _ => return Ok(inactive()),
    }
    let Some(jti) = claims.get("jti").and_then(Value::as_str).map(str::to_owned) else {
        return Ok(inactive());
    };
    if state.is_jti_revoked(&jti).await? {
        return Ok(inactive());
    }
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    out.insert("token_type".into(), json!("Bearer"));
    for name in [
        "scope",
        "client_id",
        "sub",
        "exp",
        "iat",
        "iss",
        "aud",
        "jti",
        "auth_time",
    ] {
        if let Some(v) = claims.get(name) {
            out.insert(name.into(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
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
