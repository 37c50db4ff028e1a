//! Signing in at an upstream provider (docs/design/upstream.md):
//!
//! - `POST /authorize/upstream`: the login page's "Sign in with …" button, with the login
//!   form's interaction fields and `upstream` (its id). The decision is the core's
//!   ([`usher_core::sign_in::upstream::start`]): a `303` to the upstream, or a page.
//! - `GET /upstream/{id}/callback`: where the upstream sends the browser back, with
//!   `code` and `state` (or `error`), and `iss` when it sends one. The core decides
//!   ([`usher_core::sign_in::upstream::callback`]); this renders as after a password.
//!
//! Nothing here logs the code or the state.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::sign_in::login::LoginOutcome;
use usher_core::sign_in::upstream::{self, CallbackParams, StartOutcome};

use crate::Core;
use crate::flow::{self, RequestCookies};
use crate::params;
use crate::respond;
use crate::routes;

async fn post_start(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return flow::bad_request_page("This form is not valid", &e.to_string()),
    };
    let cookies = RequestCookies::of(&state, &req);
    let which = params::single(&form, "upstream").unwrap_or("");
    match upstream::start(&state, flow::form_fields(&form), which, cookies.as_values()).await {
        StartOutcome::Redirect(location) => respond::redirect(&location),
        StartOutcome::Page(outcome) => flow::render(&state, outcome),
    }
}

async fn get_callback(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    let query = match params::query(&req) {
        Ok(q) => q,
        Err(e) => return flow::bad_request_page("This address is not valid", &e.to_string()),
    };
    let cookies = RequestCookies::of(&state, &req);
    let answer = CallbackParams {
        code: params::single(&query, "code"),
        state: params::single(&query, "state"),
        error: params::single(&query, "error"),
        iss: params::single(&query, "iss"),
    };
    match upstream::callback(&state, &path, answer, cookies.as_values()).await {
        LoginOutcome::SignedIn {
            session_cookie_value,
            device_cookie_value,
            next,
            ..
        } => flow::signed_in(&state, session_cookie_value, device_cookie_value, next),
        LoginOutcome::SecondFactor(page) => flow::second_factor_page(&page),
        LoginOutcome::LinkAsked(page) => flow::login_page(StatusCode::OK, &page, None),
        LoginOutcome::PasskeyNotAccepted(page) | LoginOutcome::WrongPassword(page) => {
            flow::login_page(StatusCode::UNAUTHORIZED, &page, None)
        }
        LoginOutcome::Throttled { form, .. } => {
            flow::login_page(StatusCode::TOO_MANY_REQUESTS, &form, None)
        }
        LoginOutcome::Refused(outcome) => flow::render(&state, outcome),
    }
}

pub fn start() -> actix_web::Resource {
    web::resource(routes::UPSTREAM_START)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post_start))
}

pub fn callback() -> actix_web::Resource {
    web::resource(routes::UPSTREAM_CALLBACK).route(web::get().to(get_callback))
}
