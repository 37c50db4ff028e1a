//! `POST /authorize/passkey/options`: starts a passkey sign-in for the login page's
//! script ([`usher_core::passkeys::start_authentication`]) and answers
//! `{"ceremony": "…", "options": {"publicKey": …}}` (the contract at the top of
//! `assets/passkey.js`). The ceremony is bound to the browser's binding cookie (set here
//! if the browser has none) and lives five minutes; it is single-use. `404` where the
//! issuer cannot have passkeys (an IP address).

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use usher_core::passkeys::{self, PasskeyError};

use crate::Core;
use crate::cookies;
use crate::flow;
use crate::respond::Failure;
use crate::routes;

async fn post(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let binding = cookies::browser_binding(&req, &state.settings);
    let started = match passkeys::start_authentication(&state, binding.as_deref()).await {
        Ok(s) => s,
        Err(PasskeyError::Unavailable) => return HttpResponse::new(StatusCode::NOT_FOUND),
        Err(PasskeyError::Failure(f)) => return flow::failure_page(f),
    };
    let Ok(options) = serde_json::from_str::<serde_json::Value>(&started.challenge) else {
        return flow::failure_page(Failure::Internal);
    };
    let mut response = HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(json!({ "ceremony": started.ceremony_id, "options": options }).to_string());
    if binding.as_deref() != Some(started.binding.as_str()) {
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

pub fn routes() -> actix_web::Resource {
    web::resource(routes::PASSKEY_OPTIONS)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
