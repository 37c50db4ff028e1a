//! `POST /authorize/passkey`: a passkey sign-in's answer, posted by the login page's
//! script with the login form's interaction fields, `ceremony` and `credential`. The
//! decision is the core's ([`usher_core::sign_in::passkey::login`]); this reads the form
//! and the cookies and renders the outcome with the session cookie.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::sign_in::login::LoginOutcome;
use usher_core::sign_in::passkey::{self, PasskeyAttempt};

use crate::Core;
use crate::flow::{self, RequestCookies};
use crate::params;
use crate::routes;

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return flow::bad_request_page("This form is not valid", &e.to_string()),
    };
    let cookies = RequestCookies::of(&state, &req);
    let attempt = PasskeyAttempt {
        fields: flow::form_fields(&form),
        ceremony: params::single(&form, "ceremony").unwrap_or(""),
        credential: params::single(&form, "credential").unwrap_or(""),
    };
    match passkey::login(&state, attempt, cookies.as_values()).await {
        LoginOutcome::SignedIn {
            session_cookie_value,
            device_cookie_value,
            next,
            ..
        } => flow::signed_in(&state, session_cookie_value, device_cookie_value, next),
        LoginOutcome::PasskeyNotAccepted(page) | LoginOutcome::WrongPassword(page) => {
            flow::login_page(
                StatusCode::UNAUTHORIZED,
                &page,
                Some(flow::PASSKEY_NOT_ACCEPTED),
            )
        }
        LoginOutcome::Throttled { form, .. } => {
            flow::login_page(StatusCode::TOO_MANY_REQUESTS, &form, None)
        }
        LoginOutcome::SecondFactor(page) => flow::second_factor_page(&page),
        LoginOutcome::LinkAsked(page) => flow::login_page(StatusCode::OK, &page, None),
        LoginOutcome::Refused(outcome) => flow::render(&state, outcome),
    }
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::PASSKEY_LOGIN)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
