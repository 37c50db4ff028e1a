//! The console's groups: the list with the new-group form, one group with its members,
//! adding a member, and removing a member or deleting a group (each confirmed first).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::AdminError;
use usher_core::admin::groups::{GroupSummaryView, GroupView};
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
        web::resource(routes::ADMIN_GROUPS)
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(routes::ADMIN_GROUP).route(web::get().to(show)),
        web::resource(routes::ADMIN_GROUP_ADD_MEMBER).route(web::post().to(add_member)),
        web::resource(routes::ADMIN_GROUP_REMOVE_MEMBER)
            .route(web::get().to(remove_confirm))
            .route(web::post().to(remove_member)),
        web::resource(routes::ADMIN_GROUP_DELETE)
            .route(web::get().to(delete_confirm))
            .route(web::post().to(delete)),
    ]
}

struct GroupLine {
    group: GroupSummaryView,
    href: String,
}

#[derive(Template)]
#[template(path = "admin_groups.html")]
struct ListPage<'a> {
    username: &'a str,
    csrf: &'a str,
    groups: Vec<GroupLine>,
    next: Option<String>,
    error: Option<&'a str>,
    name: &'a str,
    description: &'a str,
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
    list_page(&state, &admin, &query, StatusCode::OK, None, "", "").await
}

async fn list_page(
    state: &Core,
    admin: &Admin,
    query: &usher_domain::authorize::RawParams,
    status: StatusCode,
    error: Option<&str>,
    name: &str,
    description: &str,
) -> HttpResponse {
    let page = match admin_console::groups(state, admin, page_of(query)).await {
        Ok(p) => p,
        Err(e) => return refused(admin, &e, routes::ADMIN, "Admin console"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let groups = page
        .items
        .into_iter()
        .map(|group| GroupLine {
            href: link(routes::ADMIN_GROUP, "name", &group.name),
            group,
        })
        .collect();
    pages::render(
        status,
        &ListPage {
            username: admin.username(),
            csrf: &token,
            groups,
            next: page
                .next
                .map(|after| link(routes::ADMIN_GROUPS, "after", &after)),
            error,
            name,
            description,
        },
    )
}

async fn create(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let name = params::single(&form, "name").unwrap_or("").trim();
    let description = params::single(&form, "description").unwrap_or("");
    match admin_console::create_group(&state, &admin, name, Some(description)).await {
        Ok(group) => {
            show_page(
                &state,
                &admin,
                &group.name,
                StatusCode::CREATED,
                Some("The group was created."),
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
                &Vec::new(),
                status,
                Some(&text),
                name,
                description,
            )
            .await
        }
    }
}

struct MemberLine {
    username: String,
    remove_href: String,
}

#[derive(Template)]
#[template(path = "admin_group.html")]
struct ShowPage<'a> {
    username: &'a str,
    csrf: &'a str,
    group: &'a GroupView,
    members: Vec<MemberLine>,
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
    let name = params::single(&query, "name").unwrap_or("");
    show_page(&state, &admin, name, StatusCode::OK, None, None).await
}

async fn show_page(
    state: &Core,
    admin: &Admin,
    name: &str,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let group = match admin_console::group(state, admin, name).await {
        Ok(g) => g,
        Err(e) => return refused(admin, &e, routes::ADMIN_GROUPS, "All groups"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let members = group
        .members
        .iter()
        .map(|m| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("name", &group.name)
                .append_pair("username", m);
            MemberLine {
                username: m.clone(),
                remove_href: format!("{}?{}", routes::ADMIN_GROUP_REMOVE_MEMBER, q.finish()),
            }
        })
        .collect();
    pages::render(
        status,
        &ShowPage {
            username: admin.username(),
            csrf: &token,
            delete_href: link(routes::ADMIN_GROUP_DELETE, "name", &group.name),
            group: &group,
            members,
            notice,
            error,
        },
    )
}

async fn add_member(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let name = match required(&form, "name") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let username = params::single(&form, "username").unwrap_or("");
    match admin_console::set_member(&state, &admin, name, username, true).await {
        Ok(done) => {
            let text = if done.changed {
                format!("{} was added.", done.username)
            } else {
                format!("{} already was a member.", done.username)
            };
            show_page(&state, &admin, name, StatusCode::OK, Some(&text), None).await
        }
        Err(AdminError::Failure(f)) => crate::flow::failure_page(f),
        Err(e) => {
            let (status, _) = refusal_status(&e);
            let text = e.to_string();
            show_page(&state, &admin, name, status, None, Some(&text)).await
        }
    }
}

async fn remove_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let name = params::single(&query, "name").unwrap_or("");
    let username = params::single(&query, "username").unwrap_or("");
    let group = match admin_console::group(&state, &admin, name).await {
        Ok(g) => g,
        Err(e) => return refused(&admin, &e, routes::ADMIN_GROUPS, "All groups"),
    };
    let cancel = link(routes::ADMIN_GROUP, "name", &group.name);
    let mut text = format!(
        "{username} leaves {}: apps restricted to this group refuse them at their next sign-in or refresh.",
        group.name
    );
    if group.built_in {
        text.push_str(" They can no longer use the admin console or the admin API.");
    }
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Remove this member?",
            message: &text,
            action: routes::ADMIN_GROUP_REMOVE_MEMBER,
            fields: vec![("name", &group.name), ("username", username)],
            button: "Remove the member",
            cancel: &cancel,
        },
    )
    .await
}

async fn remove_member(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (name, username) = match (required(&form, "name"), required(&form, "username")) {
        (Ok(n), Ok(u)) => (n, u),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let back = link(routes::ADMIN_GROUP, "name", name);
    match admin_console::set_member(&state, &admin, name, username, false).await {
        Ok(done) => {
            let text = if done.changed {
                format!("{} was removed.", done.username)
            } else {
                format!("{} was not a member.", done.username)
            };
            // Removing oneself from usher-admins closes the console: the page says so
            // rather than answering 403.
            message(
                StatusCode::OK,
                &admin,
                "Member removed",
                &text,
                &back,
                "Back to the group",
            )
        }
        Err(e) => refused(&admin, &e, &back, "Back to the group"),
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
    let name = params::single(&query, "name").unwrap_or("");
    let group = match admin_console::group(&state, &admin, name).await {
        Ok(g) => g,
        Err(e) => return refused(&admin, &e, routes::ADMIN_GROUPS, "All groups"),
    };
    let cancel = link(routes::ADMIN_GROUP, "name", &group.name);
    let text = format!(
        "The group {} and its {} membership{} are deleted.",
        group.name,
        group.members.len(),
        if group.members.len() == 1 { "" } else { "s" }
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Delete this group?",
            message: &text,
            action: routes::ADMIN_GROUP_DELETE,
            fields: vec![("name", &group.name)],
            button: "Delete the group",
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
    let name = match required(&form, "name") {
        Ok(n) => n,
        Err(r) => return r,
    };
    match admin_console::delete_group(&state, &admin, name).await {
        Ok(()) => message(
            StatusCode::OK,
            &admin,
            "Group deleted",
            &format!("The group {name} was deleted."),
            routes::ADMIN_GROUPS,
            "All groups",
        ),
        Err(e) => refused(
            &admin,
            &e,
            &link(routes::ADMIN_GROUP, "name", name),
            "Back to the group",
        ),
    }
}
