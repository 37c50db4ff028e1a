//! The console's resource servers (RFC 8707): the list with the registration form, one
//! resource server with the clients it reaches and the form that changes it (with the
//! view's tag), and deleting (confirmed first).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::AdminError;
use usher_core::admin::resources::{ReachView, ResourceView};
use usher_core::admin_console::{self, Admin};
use usher_domain::authorize::RawParams;

use super::{
    ConfirmPage, confirm, csrf, form_admin, link, message, page_admin, page_of, query,
    refusal_status, refused, required,
};
use crate::pages;
use crate::params;
use crate::routes;

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(routes::ADMIN_RESOURCES)
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(routes::ADMIN_RESOURCE).route(web::get().to(show)),
        web::resource(routes::ADMIN_RESOURCE_UPDATE).route(web::post().to(update)),
        web::resource(routes::ADMIN_RESOURCE_DELETE)
            .route(web::get().to(delete_confirm))
            .route(web::post().to(delete)),
    ]
}

struct ResourceLine {
    resource: ResourceView,
    href: String,
}

#[derive(Template)]
#[template(path = "admin_resources.html")]
struct ListPage<'a> {
    username: &'a str,
    csrf: &'a str,
    resources: Vec<ResourceLine>,
    next: Option<String>,
    error: Option<&'a str>,
    uri: &'a str,
    name: &'a str,
    scope: &'a str,
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
        &RawParams::new(),
    )
    .await
}

async fn list_page(
    state: &Core,
    admin: &Admin,
    query: &RawParams,
    status: StatusCode,
    error: Option<&str>,
    typed: &RawParams,
) -> HttpResponse {
    let page = match admin_console::resources(state, admin, page_of(query)).await {
        Ok(p) => p,
        Err(e) => return refused(admin, &e, routes::ADMIN, "Admin console"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let resources = page
        .items
        .into_iter()
        .map(|resource| ResourceLine {
            href: link(routes::ADMIN_RESOURCE, "uri", &resource.uri),
            resource,
        })
        .collect();
    let field = |name| params::single(typed, name).unwrap_or("");
    pages::render(
        status,
        &ListPage {
            username: admin.username(),
            csrf: &token,
            resources,
            next: page
                .next
                .map(|after| link(routes::ADMIN_RESOURCES, "after", &after)),
            error,
            uri: field("uri"),
            name: field("name"),
            scope: field("scope"),
        },
    )
}

async fn create(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let field = |name| params::single(&form, name).unwrap_or("");
    let created = admin_console::create_resource(
        &state,
        &admin,
        field("uri"),
        Some(field("name")),
        field("scope"),
    )
    .await;
    match created {
        Ok(resource) => {
            show_page(
                &state,
                &admin,
                &resource.uri,
                StatusCode::CREATED,
                Some("The resource server was registered."),
                None,
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
                &RawParams::new(),
                status,
                Some(&text),
                &form,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "admin_resource.html")]
struct ShowPage<'a> {
    username: &'a str,
    csrf: &'a str,
    resource: &'a ResourceView,
    reach: &'a ReachView,
    etag: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    delete_href: String,
}

async fn show(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let uri = params::single(&query, "uri").unwrap_or("");
    show_page(&state, &admin, uri, StatusCode::OK, None, None).await
}

async fn show_page(
    state: &Core,
    admin: &Admin,
    uri: &str,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let (tagged, reach) = match admin_console::resource(state, admin, uri).await {
        Ok(r) => r,
        Err(e) => return refused(admin, &e, routes::ADMIN_RESOURCES, "All resource servers"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    pages::render(
        status,
        &ShowPage {
            username: admin.username(),
            csrf: &token,
            delete_href: link(routes::ADMIN_RESOURCE_DELETE, "uri", &tagged.view.uri),
            resource: &tagged.view,
            reach: &reach,
            etag: &tagged.etag,
            notice,
            error,
        },
    )
}

async fn update(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (uri, etag) = match (required(&form, "uri"), required(&form, "etag")) {
        (Ok(u), Ok(e)) => (u, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let field = |name| params::single(&form, name).unwrap_or("");
    match admin_console::update_resource(&state, &admin, uri, field("name"), field("scope"), etag)
        .await
    {
        Ok(_) => {
            show_page(
                &state,
                &admin,
                uri,
                StatusCode::OK,
                Some("The resource server was saved."),
                None,
            )
            .await
        }
        Err(AdminError::Failure(f)) => crate::flow::failure_page(f),
        Err(AdminError::NotFound(text)) => message(
            StatusCode::NOT_FOUND,
            &admin,
            "Not found",
            &text,
            routes::ADMIN_RESOURCES,
            "All resource servers",
        ),
        Err(e) => {
            let (status, _) = refusal_status(&e);
            let text = e.to_string();
            show_page(&state, &admin, uri, status, None, Some(&text)).await
        }
    }
}

async fn delete_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let uri = params::single(&query, "uri").unwrap_or("");
    let (tagged, _) = match admin_console::resource(&state, &admin, uri).await {
        Ok(r) => r,
        Err(e) => return refused(&admin, &e, routes::ADMIN_RESOURCES, "All resource servers"),
    };
    let cancel = link(routes::ADMIN_RESOURCE, "uri", &tagged.view.uri);
    let text = format!(
        "The resource server {} is deleted: apps can no longer ask for tokens for it, and remembered consents lose it.",
        tagged.view.uri
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Delete this resource server?",
            message: &text,
            action: routes::ADMIN_RESOURCE_DELETE,
            fields: vec![("uri", &tagged.view.uri), ("etag", &tagged.etag)],
            button: "Delete the resource server",
            cancel: &cancel,
        },
    )
    .await
}

async fn delete(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (uri, etag) = match (required(&form, "uri"), required(&form, "etag")) {
        (Ok(u), Ok(e)) => (u, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    match admin_console::delete_resource(&state, &admin, uri, etag).await {
        Ok(()) => message(
            StatusCode::OK,
            &admin,
            "Resource server deleted",
            &format!("The resource server {uri} was deleted."),
            routes::ADMIN_RESOURCES,
            "All resource servers",
        ),
        Err(e) => refused(
            &admin,
            &e,
            &link(routes::ADMIN_RESOURCE, "uri", uri),
            "Back to the resource server",
        ),
    }
}
