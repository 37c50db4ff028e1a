//! The console's invitations: the live ones with the invite form (the link shown once
//! when asked for), and revoking the invitations to an address (confirmed first; the
//! confirmation is reached by the invitation's handle, so no address is in a URL).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::AdminError;
use usher_core::admin::invitations::InvitationView;
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
        web::resource(routes::ADMIN_INVITATIONS)
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(routes::ADMIN_INVITATIONS_REVOKE)
            .route(web::get().to(revoke_confirm))
            .route(web::post().to(revoke)),
    ]
}

struct InvitationLine {
    view: InvitationView,
    revoke_href: String,
}

#[derive(Template)]
#[template(path = "admin_invitations.html")]
struct ListPage<'a> {
    username: &'a str,
    csrf: &'a str,
    invitations: Vec<InvitationLine>,
    next: Option<String>,
    signup_on: bool,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    /// A new invitation's link, shown this once.
    link: Option<&'a str>,
    email: &'a str,
    name: &'a str,
    expires_in: &'a str,
}

/// What the list page shows besides the list.
#[derive(Default)]
struct Shown<'a> {
    error: Option<&'a str>,
    notice: Option<&'a str>,
    link: Option<&'a str>,
    email: &'a str,
    name: &'a str,
    expires_in: &'a str,
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
    list_page(&state, &admin, &query, StatusCode::OK, Shown::default()).await
}

async fn list_page(
    state: &Core,
    admin: &Admin,
    query: &usher_domain::authorize::RawParams,
    status: StatusCode,
    shown: Shown<'_>,
) -> HttpResponse {
    let page = match admin_console::invitations(state, admin, page_of(query)).await {
        Ok(p) => p,
        Err(e) => return refused(admin, &e, routes::ADMIN, "Admin console"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let invitations = page
        .items
        .into_iter()
        .map(|view| InvitationLine {
            revoke_href: link(routes::ADMIN_INVITATIONS_REVOKE, "id", &view.id),
            view,
        })
        .collect();
    pages::render(
        status,
        &ListPage {
            username: admin.username(),
            csrf: &token,
            invitations,
            next: page
                .next
                .map(|after| link(routes::ADMIN_INVITATIONS, "after", &after)),
            signup_on: state.settings.signup.invitations(),
            error: shown.error,
            notice: shown.notice,
            link: shown.link,
            email: shown.email,
            name: shown.name,
            expires_in: shown.expires_in,
        },
    )
}

async fn create(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let email = params::single(&form, "email").unwrap_or("").trim();
    let name = params::single(&form, "name")
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let expires_in = params::single(&form, "expires_in")
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let want_link = params::single(&form, "show_link") == Some("yes");
    match admin_console::invite(&state, &admin, email, name, expires_in, want_link).await {
        Ok(made) => {
            let text = if made.mailed {
                format!(
                    "An invitation was mailed to {}; it works once, until {}.",
                    made.email.as_str(),
                    usher_core::admin::rfc3339(made.expires_at)
                )
            } else {
                format!(
                    "An invitation for {} was made, not mailed; it works once, until {}.",
                    made.email.as_str(),
                    usher_core::admin::rfc3339(made.expires_at)
                )
            };
            list_page(
                &state,
                &admin,
                &Vec::new(),
                StatusCode::CREATED,
                Shown {
                    notice: Some(&text),
                    link: made.link.as_deref(),
                    ..Shown::default()
                },
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
                Shown {
                    error: Some(&text),
                    email,
                    name: name.unwrap_or(""),
                    expires_in: expires_in.unwrap_or(""),
                    ..Shown::default()
                },
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
    let invitation = match admin_console::invitation(&state, &admin, id).await {
        Ok(i) => i,
        Err(e) => return refused(&admin, &e, routes::ADMIN_INVITATIONS, "All invitations"),
    };
    let text = format!(
        "Every invitation to {} is revoked: its link stops working at once.",
        invitation.email
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Revoke the invitations?",
            message: &text,
            action: routes::ADMIN_INVITATIONS_REVOKE,
            fields: vec![("email", &invitation.email)],
            button: "Revoke the invitations",
            cancel: routes::ADMIN_INVITATIONS,
        },
    )
    .await
}

async fn revoke(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let email = match required(&form, "email") {
        Ok(e) => e,
        Err(r) => return r,
    };
    match admin_console::uninvite(&state, &admin, email).await {
        Ok(done) => message(
            StatusCode::OK,
            &admin,
            "Invitations revoked",
            &format!(
                "{} invitation{} to {} revoked.",
                done.revoked,
                if done.revoked == 1 { "" } else { "s" },
                done.email
            ),
            routes::ADMIN_INVITATIONS,
            "All invitations",
        ),
        Err(e) => refused(&admin, &e, routes::ADMIN_INVITATIONS, "All invitations"),
    }
}
