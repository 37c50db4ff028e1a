//! `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer).

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::routes;
use crate::state::AppState;

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = state.stores.database.clone();
    let db = match web::block(move || database.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match db {
        Ok(()) => HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .json(json!({ "status": "ready", "database": "ok" })),
        Err(cause) => {
            tracing::warn!(%cause, "readiness check failed: database");
            HttpResponse::ServiceUnavailable()
                .insert_header((CACHE_CONTROL, "no-store"))
                .json(json!({ "status": "unavailable", "database": "unavailable" }))
        }
    }
}

pub fn routes() -> impl actix_web::dev::HttpServiceFactory {
    (
        web::resource(routes::HEALTHZ).route(web::get().to(healthz)),
        web::resource(routes::READYZ).route(web::get().to(readyz)),
    )
}
