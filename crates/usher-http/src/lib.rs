//! Usher's HTTP surface, on actix-web.
//!
//! This crate owns routing, request parsing at the edge, the mapping of protocol errors to
//! HTTP responses, and (later) the askama pages. Each endpoint lives in its own module
//! under [`endpoints`]; route paths are constants in [`routes`], shared by the router,
//! the discovery document and the tests. Handlers stay thin: they parse, call the domain
//! and the stores through [`Core`], and render.
//!
//! It knows nothing of diesel, SQL or Redis: stores arrive as `Arc<dyn …>` trait objects
//! from `usher-domain`, and blocking store calls run on actix's blocking pool.

pub mod access;
pub mod client_address;
mod client_auth;
mod cookies;
pub mod cors;
pub mod endpoints;
mod flow;
pub mod mail;
pub mod pages;
pub mod params;
mod qr;
mod respond;
pub mod routes;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpServer, dev::Server, middleware, web};

pub use client_auth::{BasicError, basic_credentials};
// The protocol core's modules, under the names this crate has always used for them.
pub use usher_core::{
    Clock, Core, PublishedKeys, RefreshSettings, Settings, Stores, SystemClock, cache, counted,
    metrics, passwords, tokens,
};

/// Registers every route on an actix `ServiceConfig`; used by [`serve`] and by tests.
pub fn configure(state: web::Data<Core>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        if state.settings.metrics_on_main {
            cfg.service(endpoints::metrics::routes());
        }
        cfg.service(endpoints::signup::routes(state.settings.signup));
        cfg.service(endpoints::register::routes(
            state.settings.registration.mode,
        ));
        cfg.service(endpoints::discovery::routes(&state.settings.issuer));
        // The admin API, unless it has a listener of its own (`admin_bind`).
        if state.settings.admin_on_main {
            cfg.service(endpoints::admin_api::routes());
        }
        cfg.app_data(state)
            .service(endpoints::jwks::routes())
            .service(endpoints::health::routes())
            .service(endpoints::assets::routes())
            .service(endpoints::authorize::routes())
            .service(endpoints::account::routes())
            .service(endpoints::admin_console::routes())
            .service(endpoints::account_apps::routes())
            .service(endpoints::account_password::routes())
            .service(endpoints::account_profile::routes())
            .service(endpoints::account_sessions::routes())
            .service(endpoints::account_upstreams::routes())
            .service(endpoints::password::routes())
            .service(endpoints::login::routes())
            .service(endpoints::consent::routes())
            .service(endpoints::second_factor::routes())
            .service(endpoints::second_factor_passkey::routes())
            .service(endpoints::passkey_options::routes())
            .service(endpoints::passkey_login::routes())
            .service(endpoints::upstream::start())
            .service(endpoints::upstream::callback())
            .service(endpoints::recovery_codes::routes())
            .service(endpoints::token::routes())
            .service(endpoints::device_authorization::routes())
            .service(endpoints::device::routes())
            .service(endpoints::userinfo::routes())
            .service(endpoints::revoke::routes())
            .service(endpoints::introspect::routes())
            .service(endpoints::logout::routes());
    }
}

/// How long a client has to send a request's headers before it gets `408` and the
/// connection is closed (slowloris).
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection lingers for the client to close it after the response.
pub const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an idle keep-alive connection stays open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// On SIGTERM/SIGINT, how long in-flight requests have to finish before the workers stop.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// The most concurrent connections one worker accepts (actix's default is 25 000).
pub const MAX_CONNECTIONS_PER_WORKER: usize = 10_000;

/// Starts the HTTP server on an already bound listener (bind to port 0 in tests and read
/// the port from the listener). The returned future runs until the server stops; it
/// stops gracefully on SIGTERM or SIGINT (no new connections; in-flight requests get
/// [`SHUTDOWN_TIMEOUT_SECS`] to finish).
pub fn serve(listener: TcpListener, state: Core, workers: usize) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(
                middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer")),
            )
            .wrap(middleware::from_fn(access::log))
            .configure(configure(state.clone()))
    })
    .workers(workers.max(1))
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    .max_connections(MAX_CONNECTIONS_PER_WORKER)
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Serves only the admin API (`/admin/api/…`) on its own listener (`USHER_ADMIN_BIND`),
/// so that it can stay on an internal interface; the main listener then answers 404
/// there. Stops with the process.
pub fn serve_admin(listener: TcpListener, state: Core, workers: usize) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(
                middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer")),
            )
            .wrap(middleware::from_fn(access::log))
            .app_data(state.clone())
            .service(endpoints::admin_api::routes())
    })
    .workers(workers.max(1))
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// Serves only `GET /metrics` on its own listener (`USHER_METRICS_BIND`), so that the
/// metrics can stay on an internal interface. One worker; stops with the process.
pub fn serve_metrics(listener: TcpListener) -> std::io::Result<Server> {
    let server = HttpServer::new(|| App::new().service(endpoints::metrics::routes()))
        .workers(1)
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .disable_signals()
        .listen(listener)?
        .run();
    Ok(server)
}
