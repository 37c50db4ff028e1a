//! The console's initial access tokens for dynamic registration: the list with the
//! new-token form (the token shown once, on the page that answers it), and revoking one
//! (confirmed first).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::AdminError;
use usher_core::admin::registration_tokens::TokenView;
use usher_core::admin_console::{self, Admin};

use super::{
    ConfirmPage, confirm, csrf, form_admin, link, message, page_admin, page_of, query,
    refusal_status, refused, required,
};
use crate::pages;
use crate::params;
use crate::routes;

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(routes::ADMIN_REGISTRATION_TOKENS)
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(routes::ADMIN_REGISTRATION_TOKEN_REVOKE)
            .route(web::get().to(revoke_confirm))
            .route(web::post().to(revoke)),
    ]
}

struct TokenLine {
    view: TokenView,
    revoke_href: String,
}

#[derive(Template)]
#[template(path = "admin_registration_tokens.html")]
struct ListPage<'a> {
    username: &'a str,
    csrf: &'a str,
    tokens: Vec<TokenLine>,
    next: Option<String>,
    token_mode: bool,
    mode: &'a str,
    error: Option<&'a str>,
    /// A new token's id and the token, shown this once.
    created: Option<(&'a str, &'a str)>,
    expires_in: &'a str,
    max_uses: &'a str,
}

async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    list_page(
        &state,
        &admin,
        &query,
        StatusCode::OK,
        None,
        None,
        "86400",
        "1",
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn list_page(
    state: &Core,
    admin: &Admin,
    query: &usher_domain::authorize::RawParams,
    status: StatusCode,
    error: Option<&str>,
    created: Option<(&str, &str)>,
    expires_in: &str,
    max_uses: &str,
) -> HttpResponse {
    let page = match admin_console::registration_tokens(state, admin, page_of(query)).await {
        Ok(p) => p,
        Err(e) => return refused(admin, &e, routes::ADMIN, "Admin console"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let tokens = page
        .items
        .into_iter()
        .map(|view| TokenLine {
            revoke_href: link(routes::ADMIN_REGISTRATION_TOKEN_REVOKE, "id", &view.id),
            view,
        })
        .collect();
    let mode = state.settings.registration.mode;
    pages::render(
        status,
        &ListPage {
            username: admin.username(),
            csrf: &token,
            tokens,
            next: page
                .next
                .map(|after| link(routes::ADMIN_REGISTRATION_TOKENS, "after", &after)),
            token_mode: mode == usher_domain::RegistrationMode::Token,
            mode: mode.as_str(),
            error,
            created,
            expires_in,
            max_uses,
        },
    )
}

async fn create(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let expires_in = params::single(&form, "expires_in").unwrap_or("");
    let max_uses = params::single(&form, "max_uses").unwrap_or("");
    match admin_console::create_registration_token(&state, &admin, expires_in, max_uses).await {
        Ok(created) => {
            list_page(
                &state,
                &admin,
                &Vec::new(),
                StatusCode::CREATED,
                None,
                Some((&created.record.id, &created.token)),
                "86400",
                "1",
            )
            .await
        }
        Err(AdminError::Failure(f)) => crate::flow::failure_page(f),
        Err(e) => {
            let (status, _) = refusal_status(&e);
            let text = e.to_string();
            list_page(
                &state,
                &admin,
                &Vec::new(),
                status,
                Some(&text),
                None,
                expires_in,
                max_uses,
            )
            .await
        }
    }
}

async fn revoke_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let id = params::single(&query, "id").unwrap_or("");
    let text = format!(
        "The registration token {id} is revoked: apps can no longer register with it. Apps it registered stay."
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Revoke this registration token?",
            message: &text,
            action: routes::ADMIN_REGISTRATION_TOKEN_REVOKE,
            fields: vec![("id", id)],
            button: "Revoke the token",
            cancel: routes::ADMIN_REGISTRATION_TOKENS,
        },
    )
    .await
}

async fn revoke(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let id = match required(&form, "id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    match admin_console::revoke_registration_token(&state, &admin, id).await {
        Ok(()) => message(
            StatusCode::OK,
            &admin,
            "Registration token revoked",
            &format!("The registration token {id} was revoked."),
            routes::ADMIN_REGISTRATION_TOKENS,
            "All registration tokens",
        ),
        Err(e) => refused(
            &admin,
            &e,
            routes::ADMIN_REGISTRATION_TOKENS,
            "All registration tokens",
        ),
    }
}
