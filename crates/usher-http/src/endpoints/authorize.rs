//! `GET` and `POST /authorize` (RFC 6749 §3.1, OIDC Core §3.1.2): read the parameters and
//! the cookies, let the core decide ([`usher_core::sign_in::decision::authorize`]: sign
//! the person in, ask for consent, or issue a code at once), and render the outcome.

use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::sign_in::decision;
use usher_domain::authorize::RawParams;

use crate::Core;
use crate::flow::{self, RequestCookies};
use crate::params::{self, ParamError};
use crate::routes;

async fn get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    match params::query(&req) {
        Ok(p) => authorize(&req, &state, p).await,
        Err(e) => bad_params(&e),
    }
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    match params::form(&req, &body) {
        Ok(p) => authorize(&req, &state, p).await,
        Err(e) => bad_params(&e),
    }
}

fn bad_params(e: &ParamError) -> HttpResponse {
    flow::untrusted_page(&e.to_string())
}

async fn authorize(req: &HttpRequest, state: &Core, raw: RawParams) -> HttpResponse {
    let cookies = RequestCookies::of(state, req);
    let outcome = decision::authorize(state, &raw, cookies.as_values()).await;
    flow::render(state, outcome)
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::AUTHORIZE)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::get().to(get))
        .route(web::post().to(post))
}
