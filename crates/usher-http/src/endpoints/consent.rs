//! `POST /authorize/consent`: the person approves or denies. The decision is the core's
//! ([`usher_core::sign_in::consent`]); this reads the form and the cookies and renders.

use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::sign_in::consent::{self, Decision};

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
    let decision = Decision::parse(params::single(&form, "decision"));
    let outcome = consent::consent(
        &state,
        flow::form_fields(&form),
        decision,
        cookies.as_values(),
    )
    .await;
    flow::render(&state, outcome)
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::CONSENT)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
