//! `POST /authorize/recovery-codes`: "continue" after new recovery codes were shown once;
//! the sign-in goes on as after a password. The decision is the core's
//! ([`usher_core::sign_in::second_factor::acknowledge`]).

use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::sign_in::second_factor;

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
    let outcome =
        second_factor::acknowledge(&state, flow::form_fields(&form), cookies.as_values()).await;
    flow::render(&state, outcome)
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::RECOVERY_CODES)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
