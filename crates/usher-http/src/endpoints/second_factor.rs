//! `POST /authorize/second-factor`: the second step of a sign-in (a code from the
//! authenticator app or a recovery code; or confirming an app being set up). The
//! decision is the core's ([`usher_core::sign_in::second_factor::submit`]); this reads
//! the form and the cookies, and renders the outcome with the session cookie.

use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::sign_in::second_factor::{self, SecondFactorAttempt, SecondFactorOutcome};

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
    let attempt = SecondFactorAttempt {
        fields: flow::form_fields(&form),
        code: params::single(&form, "code").unwrap_or(""),
        setup: params::single(&form, "setup"),
    };
    let outcome = second_factor::submit(&state, attempt, cookies.as_values()).await;
    render(&state, outcome)
}

/// Renders a second step's outcome: the session cookie and what follows, the page
/// again, or a refusal.
pub fn render(state: &Core, outcome: SecondFactorOutcome) -> HttpResponse {
    match outcome {
        SecondFactorOutcome::SignedIn {
            session_cookie_value,
            device_cookie_value,
            next,
            ..
        } => flow::signed_in(state, session_cookie_value, device_cookie_value, next),
        SecondFactorOutcome::Again(page) => flow::second_factor_page(&page),
        SecondFactorOutcome::Refused(outcome) => flow::render(state, outcome),
    }
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::SECOND_FACTOR)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
