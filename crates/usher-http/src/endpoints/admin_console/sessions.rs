//! The console's page of a person's browser sessions (`/admin/people/{username}/sessions`,
//! linked from the person's page): one line per browser, and "End this session" after a
//! confirmation, as the account page's "sign out" of that browser
//! (`usher_core::admin::sessions`, through `admin_console`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::sessions::SessionView;
use usher_core::admin_console;

use super::{ConfirmPage, confirm, form_admin, message, page_admin, query, refused};
use crate::pages;
use crate::params;
use crate::routes;

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(routes::ADMIN_PERSON_SESSIONS).route(web::get().to(list)),
        web::resource(routes::ADMIN_PERSON_SESSION_END)
            .route(web::get().to(end_confirm))
            .route(web::post().to(end)),
    ]
}

/// `/admin/people/{username}/sessions` for `username`, the name percent-encoded as one
/// path segment (a username may hold `/`, `?` or `#`).
pub fn path(username: &str) -> String {
    format!("/admin/people/{}/sessions", segment(username))
}

fn end_path(username: &str) -> String {
    format!("{}/end", path(username))
}

fn segment(raw: &str) -> String {
    percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC).to_string()
}

struct SessionLine {
    session: SessionView,
    user_agent: String,
    end_href: String,
}

#[derive(Template)]
#[template(path = "admin_sessions.html")]
struct ListPage<'a> {
    username: &'a str,
    person: &'a str,
    person_href: String,
    sessions: Vec<SessionLine>,
}

async fn list(
    req: HttpRequest,
    path_username: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let person_href = super::link(routes::ADMIN_PERSON, "username", &path_username);
    let listed = match admin_console::sessions_of(&state, &admin, &path_username).await {
        Ok(l) => l,
        Err(e) => return refused(&admin, &e, routes::ADMIN_PEOPLE, "People"),
    };
    let end = end_path(&listed.username);
    let sessions = listed
        .sessions
        .into_iter()
        .map(|session| SessionLine {
            user_agent: session
                .user_agent
                .as_deref()
                .and_then(usher_domain::UserAgent::parse)
                .map(|ua| ua.short())
                .unwrap_or_else(|| "unknown".to_owned()),
            end_href: super::link(&end, "handle", &session.handle),
            session,
        })
        .collect();
    pages::render(
        StatusCode::OK,
        &ListPage {
            username: admin.username(),
            person: &listed.username,
            person_href,
            sessions,
        },
    )
}

async fn end_confirm(
    req: HttpRequest,
    path_username: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let handle = params::single(&query, "handle").unwrap_or("");
    let person: &str = &path_username;
    let cancel = path(person);
    let action = end_path(person);
    let text = format!(
        "This signs {person} out of that browser, as their own \"Sign out\" on their account page would: its refresh tokens that need the sign-in stop working, and the apps that signed them in there are told. Their other browsers stay signed in."
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "End this session?",
            message: &text,
            action: &action,
            fields: vec![("handle", handle)],
            button: "End the session",
            cancel: &cancel,
        },
    )
    .await
}

async fn end(
    req: HttpRequest,
    path_username: web::Path<String>,
    body: web::Bytes,
    state: web::Data<Core>,
) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let handle = params::single(&form, "handle").unwrap_or("");
    let person: &str = &path_username;
    let back = path(person);
    match admin_console::end_session(&state, &admin, person, handle).await {
        Ok(done) => message(
            StatusCode::OK,
            &admin,
            "Session ended",
            &format!(
                "{} is signed out of that browser ({} refresh tokens revoked).",
                done.username, done.families_revoked
            ),
            &back,
            "Their sessions",
        ),
        Err(e) => refused(&admin, &e, &back, "Their sessions"),
    }
}
