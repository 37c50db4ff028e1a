//! `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer: the
//! database and the refresh-family store).

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::Core;
use crate::routes;

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<Core>) -> HttpResponse {
    let database = state.stores.database.clone();
    let db = match web::block(move || database.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let families = state.stores.families.ping().await;
    if let Err(cause) = &db {
        tracing::warn!(%cause, "readiness check failed: database");
    }
    if let Err(cause) = &families {
        tracing::warn!(%cause, "readiness check failed: family store");
    }
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let ready = db.is_ok() && families.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": word(db.is_ok()),
        "family_store": word(families.is_ok()),
        "family_store_kind": state.stores.families.kind(),
    });
    let mut builder = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    builder
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(body)
}

pub fn routes() -> impl actix_web::dev::HttpServiceFactory {
    (
        web::resource(routes::HEALTHZ).route(web::get().to(healthz)),
        web::resource(routes::READYZ).route(web::get().to(readyz)),
    )
}
