//! `GET /assets/usher.css`: the pages' one stylesheet, compiled into the binary from
//! `templates/usher.css` and served from memory.

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

pub fn routes() -> Resource {
    Resource::new(routes::ASSETS_CSS).route(web::get().to(css))
}
