//! `GET /jwks.json`: the public keys (RFC 7517 §5), served from memory with a
//! `Cache-Control: max-age` and a strong `ETag`; `If-None-Match` gives `304`. Any
//! origin may read it (`Access-Control-Allow-Origin: *`, docs/design/cors.md).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use actix_web::{HttpRequest, HttpResponse, Resource, web};

use crate::Core;
use crate::cors;
use crate::routes;

async fn get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let keys = state.published_keys();
    let cache = format!("public, max-age={}", state.settings.jwks_max_age);
    let not_modified = req
        .headers()
        .get_all(IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == keys.etag);
    if not_modified {
        return cors::public(
            HttpResponse::NotModified()
                .insert_header((ETAG, keys.etag.as_str()))
                .insert_header((CACHE_CONTROL, cache))
                .finish(),
        );
    }
    cors::public(
        HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "application/json"))
            .insert_header((ETAG, keys.etag.as_str()))
            .insert_header((CACHE_CONTROL, cache))
            .body(keys.jwks_body.clone()),
    )
}

pub fn routes() -> Resource {
    Resource::new(routes::JWKS)
        .route(web::get().to(get))
        .route(web::method(actix_web::http::Method::OPTIONS).to(cors::public_preflight))
}
