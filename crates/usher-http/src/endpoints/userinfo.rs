//! `GET`/`POST /userinfo` (OIDC Core §5.3, RFC 6750): the person's claims for a valid
//! access token. The token is an RS256 JWT Usher signed (algorithm pinned, key chosen by
//! `kid`), of type `at+jwt`, for this issuer and the userinfo audience, unexpired and
//! not revoked.

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use usher_domain::authorize::RawParams;
use usher_domain::error::wire_description;
use usher_domain::scope::OPENID;
use usher_domain::{ScopeSet, UserId};

use crate::params;
use crate::respond::Failure;
use crate::routes;
use crate::state::AppState;
use crate::tokens::{self, ACCESS_TOKEN_TYP};

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

/// Checks a presented access token; returns its subject and scope.
pub async fn check_access_token(
    state: &AppState,
    token: &str,
) -> Result<Result<(UserId, ScopeSet), &'static str>, Failure> {
    let keys = state.published_keys();
    let Ok((typ, claims)) = keys.ring.verify_jwt(token) else {
        return Ok(Err(
            "the access token is malformed or its signature is not valid",
        ));
    };
    if typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Ok(Err("the token is not an access token"));
    }
    let settings = &state.settings;
    if str_claim(&claims, "iss") != Some(settings.issuer.as_str()) {
        return Ok(Err("the access token was issued by another server"));
    }
    let audience = settings.userinfo_audience();
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience.as_str())),
        _ => false,
    };
    if !aud_ok {
        return Ok(Err(
            "the access token is not meant for the userinfo endpoint",
        ));
    }
    let now = state.now().seconds();
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp > now => {}
        _ => return Ok(Err("the access token has expired")),
    }
    let (Some(jti), Some(sub)) = (str_claim(&claims, "jti"), str_claim(&claims, "sub")) else {
        return Ok(Err("the access token lacks jti or sub"));
    };
    if state.is_jti_revoked(jti).await? {
        return Ok(Err("the access token has been revoked"));
    }
    let scope = ScopeSet::parse(str_claim(&claims, "scope").unwrap_or("")).unwrap_or_default();
    match UserId::parse(sub) {
        Some(id) => Ok(Ok((id, scope))),
        None => Ok(Err("the access token's subject is malformed")),
    }
}

fn str_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

async fn userinfo(
    req: HttpRequest,
    body: Option<web::Bytes>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = match bearer(&req, body.as_deref()) {
        Ok(Some(t)) => t,
        Ok(None) => return challenge(StatusCode::UNAUTHORIZED, None),
        Err(response) => return *response,
    };
    let (user_id, scope) = match check_access_token(&state, &token).await {
        Ok(Ok(v)) => v,
        Ok(Err(why)) => return invalid_token(why),
        Err(f) => return unavailable(f),
    };
    if !scope.contains(OPENID) {
        return challenge(
            StatusCode::FORBIDDEN,
            Some((
                "insufficient_scope",
                "the userinfo endpoint needs the openid scope",
            )),
        );
    }
    let user = match state.user(&user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return invalid_token("the person no longer exists"),
        Err(f) => return unavailable(f),
    };
    let claims = tokens::standard_claims(&user, &scope);
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(claims)
}

async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    userinfo(req, None, state).await
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    userinfo(req, Some(body), state).await
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::USERINFO)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::get().to(get))
        .route(web::post().to(post))
}
