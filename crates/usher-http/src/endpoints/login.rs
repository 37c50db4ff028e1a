//! `POST /authorize/login`: the login form. The decision — throttle, one checked attempt
//! per form, the password check, the new session — is the core's
//! ([`usher_core::sign_in::login`]); this reads the form, the cookies and the client's
//! address, and renders the outcome with its status and the session cookie.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::sign_in::login::{self, LoginAttempt, LoginOutcome};

use crate::Core;
use crate::flow::{self, RequestCookies};
use crate::params;
use crate::routes;

const WRONG: &str = "The username or password is incorrect.";

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return flow::bad_request_page("This form is not valid", &e.to_string()),
    };
    let cookies = RequestCookies::of(&state, &req);
    let attempt = LoginAttempt {
        fields: flow::form_fields(&form),
        username: params::single(&form, "username").unwrap_or(""),
        password: params::single(&form, "password").unwrap_or("").to_owned(),
        address: &cookies.address,
    };
    match login::login(&state, attempt, cookies.as_values()).await {
        LoginOutcome::SignedIn {
            session_cookie_value,
            device_cookie_value,
            next,
            ..
        } => flow::signed_in(&state, session_cookie_value, device_cookie_value, next),
        LoginOutcome::SecondFactor(form) => flow::second_factor_page(&form),
        LoginOutcome::LinkAsked(page) => flow::login_page(StatusCode::OK, &page, None),
        LoginOutcome::PasskeyNotAccepted(page) => flow::login_page(
            StatusCode::UNAUTHORIZED,
            &page,
            Some(flow::PASSKEY_NOT_ACCEPTED),
        ),
        LoginOutcome::WrongPassword(page) => {
            flow::login_page(StatusCode::UNAUTHORIZED, &page, Some(WRONG))
        }
        LoginOutcome::Throttled { wait, form } => flow::login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &form,
            Some(&format!(
                "Too many failed attempts. Wait {} and try again.",
                flow::plural_seconds(wait)
            )),
        ),
        LoginOutcome::Refused(outcome) => flow::render(&state, outcome),
    }
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::LOGIN)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
