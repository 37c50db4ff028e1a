//! The console's refresh-token families: those of a person (by username), and revoking
//! one (confirmed first).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::families::FamilyView;
use usher_core::admin_console;

use super::{ConfirmPage, confirm, form_admin, link, message, page_admin, page_of, query, refused};
use crate::pages;
use crate::params;
use crate::routes;

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(routes::ADMIN_FAMILIES).route(web::get().to(list)),
        web::resource(routes::ADMIN_FAMILY_REVOKE)
            .route(web::get().to(revoke_confirm))
            .route(web::post().to(revoke)),
    ]
}

struct FamilyLine {
    family: FamilyView,
    revoke_href: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_families.html")]
struct ListPage<'a> {
    username: &'a str,
    person: &'a str,
    /// `None` until a username is asked for.
    families: Option<Vec<FamilyLine>>,
    next: Option<String>,
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
    let person = params::single(&query, "username").unwrap_or("").trim();
    let (families, next) = if person.is_empty() {
        (None, None)
    } else {
        match admin_console::families_of(&state, &admin, person, page_of(&query)).await {
            Ok(page) => {
                let next = page.next.map(|after| {
                    let mut q = url::form_urlencoded::Serializer::new(String::new());
                    q.append_pair("username", person)
                        .append_pair("after", &after);
                    format!("{}?{}", routes::ADMIN_FAMILIES, q.finish())
                });
                let lines = page
                    .items
                    .into_iter()
                    .map(|family| FamilyLine {
                        revoke_href: (family.state != "revoked").then(|| {
                            let mut q = url::form_urlencoded::Serializer::new(String::new());
                            q.append_pair("id", &family.id)
                                .append_pair("username", person);
                            format!("{}?{}", routes::ADMIN_FAMILY_REVOKE, q.finish())
                        }),
                        family,
                    })
                    .collect();
                (Some(lines), next)
            }
            Err(e) => return refused(&admin, &e, routes::ADMIN_FAMILIES, "Refresh tokens"),
        }
    };
    pages::render(
        StatusCode::OK,
        &ListPage {
            username: admin.username(),
            person,
            families,
            next,
        },
    )
}

fn back(username: &str) -> String {
    if username.is_empty() {
        routes::ADMIN_FAMILIES.to_owned()
    } else {
        link(routes::ADMIN_FAMILIES, "username", username)
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
    let username = params::single(&query, "username").unwrap_or("");
    let cancel = back(username);
    let text = format!(
        "The refresh-token family {id} is revoked: its refresh token stops working at once, and the app must sign the person in again."
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Revoke this refresh token?",
            message: &text,
            action: routes::ADMIN_FAMILY_REVOKE,
            fields: vec![("id", id), ("username", username)],
            button: "Revoke the refresh token",
            cancel: &cancel,
        },
    )
    .await
}

async fn revoke(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let id = params::single(&form, "id").unwrap_or("");
    let back = back(params::single(&form, "username").unwrap_or(""));
    match admin_console::revoke_family(&state, &admin, id).await {
        Ok(()) => message(
            StatusCode::OK,
            &admin,
            "Refresh token revoked",
            &format!("The refresh-token family {id} was revoked."),
            &back,
            "Refresh tokens",
        ),
        Err(e) => refused(&admin, &e, &back, "Refresh tokens"),
    }
}
