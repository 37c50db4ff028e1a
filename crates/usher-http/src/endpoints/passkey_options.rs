//! `POST /authorize/passkey/options`: starts a passkey sign-in for the login page's
//! script ([`usher_core::passkeys::start_authentication`]) and answers
//! `{"ceremony": "…", "options": {"publicKey": …}}` (the contract at the top of
//! `assets/passkey.js`). The ceremony is bound to the browser's binding cookie (set here
//! if the browser has none) and lives five minutes; it is single-use. `404` where the
//! issuer cannot have passkeys (an IP address); `403` unless the `Origin` is the
//! issuer's ([`flow::from_own_page`]); `429` with `Retry-After` when this
//! address (or everyone together) started too many ceremonies lately
//! ([`usher_core::passkeys::CEREMONIES_PER_STARTER`]).

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use usher_core::passkeys::{self, PasskeyError, StartedCeremony};

use crate::Core;
use crate::client_address;
use crate::cookies;
use crate::flow;
use crate::respond::Failure;
use crate::routes;

async fn post(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    if !flow::from_own_page(&req, &state) {
        return HttpResponse::new(StatusCode::FORBIDDEN);
    }
    let binding = cookies::browser_binding(&req, &state.settings);
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    match passkeys::start_authentication(&state, binding.as_deref(), &address).await {
        Ok(started) => started_response(&state, binding.as_deref(), started),
        Err(PasskeyError::Unavailable | PasskeyError::Full) => {
            HttpResponse::new(StatusCode::NOT_FOUND)
        }
        Err(PasskeyError::Busy { wait }) => busy(wait),
        Err(PasskeyError::Failure(f)) => flow::failure_page(f),
    }
}

/// The answer to a ceremony just started (a sign-in here, a registration on the account
/// page): `{"ceremony": …, "options": …}`, never cached, with the browser-binding cookie
/// when the browser had another or none.
pub fn started_response(
    state: &Core,
    binding: Option<&str>,
    started: StartedCeremony,
) -> HttpResponse {
    let Ok(options) = serde_json::from_str::<serde_json::Value>(&started.challenge) else {
        return flow::failure_page(Failure::Internal);
    };
    let mut response = HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(json!({ "ceremony": started.ceremony_id, "options": options }).to_string());
    if binding != Some(started.binding.as_str()) {
        let cookie = cookies::make(
            &state.settings,
            cookies::BROWSER,
            started.binding,
            state.settings.interaction_ttl,
        );
        if response.add_cookie(&cookie).is_err() {
            return flow::failure_page(Failure::Internal);
        }
    }
    response
}

/// `429` with `Retry-After`: too many ceremonies were started lately (the script tells
/// the person to use their password or wait).
pub fn busy(wait: i64) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header((RETRY_AFTER, wait.max(1).to_string()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::PASSKEY_OPTIONS)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
