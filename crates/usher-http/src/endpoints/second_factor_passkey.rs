//! `POST /authorize/second-factor/passkey`: the second step of a sign-in done with a
//! passkey (posted by the page's script with the form's interaction fields,
//! `ceremony` and `credential`). The decision is the core's
//! ([`usher_core::sign_in::second_factor::submit_passkey`]).

use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::sign_in::second_factor::{self, PasskeyStep};

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
    let attempt = PasskeyStep {
        fields: flow::form_fields(&form),
        ceremony: params::single(&form, "ceremony").unwrap_or(""),
        credential: params::single(&form, "credential").unwrap_or(""),
    };
    let outcome = second_factor::submit_passkey(&state, attempt, cookies.as_values()).await;
    super::second_factor::render(&state, outcome)
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::SECOND_FACTOR_PASSKEY)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
