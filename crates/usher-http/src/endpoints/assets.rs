//! `GET /assets/usher.css` and `GET /assets/passkey.js`: the pages' one stylesheet and
//! their one script (passkeys; its contract is at the top of `assets/passkey.js`),
//! compiled into the binary and served from memory.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use actix_web::{HttpResponse, Resource, web};

use crate::routes;

/// The stylesheet, from the workspace's top-level `templates/`.
pub const USHER_CSS: &str = include_str!("../../../../templates/usher.css");

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=86400"))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(USHER_CSS)
}

/// The passkey script, from the workspace's top-level `assets/`.
pub const PASSKEY_JS: &str = include_str!("../../../../assets/passkey.js");

async fn passkey_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(PASSKEY_JS)
}

pub fn routes() -> impl actix_web::dev::HttpServiceFactory {
    (
        Resource::new(routes::ASSETS_CSS).route(web::get().to(css)),
        Resource::new(routes::ASSETS_PASSKEY_JS).route(web::get().to(passkey_js)),
    )
}
