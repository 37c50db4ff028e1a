//! `GET /metrics`: the process's counters and latency histograms in the Prometheus text
//! format (see [`crate::metrics`]). Served on the main listener unless a separate
//! metrics address is configured, in which case it is served only there.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use crate::{metrics, routes};

async fn get() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(metrics::global().render())
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::METRICS).route(web::get().to(get))
}
