//! Usher's HTTP surface, on actix-web.
//!
//! This crate owns routing, request parsing at the edge, the mapping of protocol errors to
//! HTTP responses, and (later) the askama pages. Each endpoint lives in its own module
//! under [`endpoints`]; route paths are constants in [`routes`], shared by the router,
//! the discovery document and the tests. Handlers stay thin: they parse, call the domain
//! and the stores through [`AppState`], and render.
//!
//! It knows nothing of diesel, SQL or Redis: stores arrive as `Arc<dyn …>` trait objects
//! from `usher-domain`, and blocking store calls run on actix's blocking pool.

mod client_auth;
mod cookies;
pub mod endpoints;
mod flow;
mod grants;
pub mod keys;
pub mod pages;
pub mod params;
mod respond;
pub mod routes;
pub mod state;
mod throttle;
pub mod tokens;

use std::net::TcpListener;

use actix_web::{App, HttpServer, dev::Server, middleware, web};

pub use keys::PublishedKeys;
pub use state::{AppState, Clock, HttpSettings, RefreshSettings, Stores, SystemClock};

/// Registers every route on an actix `ServiceConfig`; used by [`serve`] and by tests.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .service(endpoints::discovery::routes())
            .service(endpoints::jwks::routes())
            .service(endpoints::health::routes())
            .service(endpoints::assets::routes())
            .service(endpoints::authorize::routes())
            .service(endpoints::login::routes())
            .service(endpoints::consent::routes())
            .service(endpoints::token::routes())
            .service(endpoints::userinfo::routes())
            .service(endpoints::revoke::routes())
            .service(endpoints::introspect::routes())
            .service(endpoints::logout::routes());
    }
}

/// Starts the HTTP server on an already bound listener (bind to port 0 in tests and read
/// the port from the listener). The returned future runs until the server stops.
pub fn serve(listener: TcpListener, state: AppState, workers: usize) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(
                middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer")),
            )
            .configure(configure(state.clone()))
    })
    .workers(workers.max(1))
    .listen(listener)?
    .run();
    Ok(server)
}
