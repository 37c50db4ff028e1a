//! `/admin/token`: the operator takes an admin API access token for themselves (read, or
//! read and write), shown once on the page after the POST
//! (`usher_core::admin::token`, through `admin_console`). Never logged: the form's
//! answer is the only place the token is written.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::token::{PERSON_TOKEN_TTL, PersonToken};
use usher_core::admin_console;

use super::{csrf, form_admin, page_admin, refused};
use crate::pages;
use crate::params;
use crate::routes;

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(routes::ADMIN_TOKEN)
            .route(web::get().to(form))
            .route(web::post().to(issue)),
    ]
}

#[derive(Template)]
#[template(path = "admin_token.html")]
struct TokenPage<'a> {
    username: &'a str,
    csrf: &'a str,
    minutes: i64,
    audience: String,
    /// The token just issued: on the answer to the POST only.
    issued: Option<&'a PersonToken>,
}

fn audience(state: &Core) -> String {
    usher_core::admin::auth::admin_audience(&state.settings.issuer)
}

async fn form(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let token = match csrf(&state, &admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    pages::render(
        StatusCode::OK,
        &TokenPage {
            username: admin.username(),
            csrf: &token,
            minutes: PERSON_TOKEN_TTL / 60,
            audience: audience(&state),
            issued: None,
        },
    )
}

async fn issue(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let access = params::single(&form, "access").unwrap_or("");
    let issued = match admin_console::admin_token(&state, &admin, access).await {
        Ok(t) => t,
        Err(e) => return refused(&admin, &e, routes::ADMIN_TOKEN, "Admin API token"),
    };
    // A fresh form for another token (the one above is spent).
    let token = match csrf(&state, &admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    pages::render(
        StatusCode::OK,
        &TokenPage {
            username: admin.username(),
            csrf: &token,
            minutes: PERSON_TOKEN_TTL / 60,
            audience: audience(&state),
            issued: Some(&issued),
        },
    )
}
