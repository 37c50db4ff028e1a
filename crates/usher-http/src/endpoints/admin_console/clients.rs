//! The console's clients: the list (search, paging), one client, the new-client form,
//! the secret shown once, who may use a client (allowed groups and origins, with the
//! view's tag so two operators never overwrite each other), rotating the secret and
//! deleting (each confirmed first).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::AdminError;
use usher_core::admin::clients::{AccessChange, ClientView};
use usher_core::admin_console::{self, Admin};
use usher_domain::authorize::RawParams;
use usher_domain::client::{RegistrationInput, parse_allowed_origins};
use usher_domain::group::parse_group_names;

use super::{
    ConfirmPage, all, confirm, csrf, form_admin, lines, link, message, page_admin, page_of, query,
    refusal_status, refused, required,
};
use crate::pages;
use crate::params;
use crate::routes;

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(routes::ADMIN_CLIENTS).route(web::get().to(list)),
        web::resource(routes::ADMIN_CLIENT_NEW)
            .route(web::get().to(new_form))
            .route(web::post().to(create)),
        web::resource(routes::ADMIN_CLIENT).route(web::get().to(show)),
        web::resource(routes::ADMIN_CLIENT_ACCESS).route(web::post().to(access)),
        web::resource(routes::ADMIN_CLIENT_ROTATE)
            .route(web::get().to(rotate_confirm))
            .route(web::post().to(rotate)),
        web::resource(routes::ADMIN_CLIENT_DELETE)
            .route(web::get().to(delete_confirm))
            .route(web::post().to(delete)),
    ]
}

/// One line of the list.
struct ClientLine {
    name: String,
    client_id: String,
    href: String,
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct ListPage<'a> {
    username: &'a str,
    query: &'a str,
    clients: Vec<ClientLine>,
    /// The next page's link, if there is one.
    next: Option<String>,
}

fn kind(v: &ClientView) -> &'static str {
    if v.public { "public" } else { "confidential" }
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
    let search = params::single(&query, "q").unwrap_or("").to_owned();
    let page = match admin_console::clients(&state, &admin, search.clone(), page_of(&query)).await {
        Ok(p) => p,
        Err(e) => return refused(&admin, &e, routes::ADMIN_CLIENTS, "All clients"),
    };
    let next = page.next.map(|after| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !search.is_empty() {
            q.append_pair("q", &search);
        }
        q.append_pair("after", &after);
        format!("{}?{}", routes::ADMIN_CLIENTS, q.finish())
    });
    let clients = page
        .items
        .iter()
        .map(|v| ClientLine {
            name: v.name.clone(),
            client_id: v.client_id.clone(),
            href: link(routes::ADMIN_CLIENT, "id", &v.client_id),
            kind: kind(v),
        })
        .collect();
    pages::render(
        StatusCode::OK,
        &ListPage {
            username: admin.username(),
            query: &search,
            clients,
            next,
        },
    )
}

/// The new-client form, with what was typed when a creation was refused.
#[derive(Template)]
#[template(path = "admin_client_new.html")]
struct NewPage<'a> {
    username: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    name: &'a str,
    public: bool,
    redirect_uris: &'a str,
    post_logout_redirect_uris: &'a str,
    grant_types: Vec<(&'static str, bool)>,
    scope: &'a str,
    audiences: &'a str,
    first_party: bool,
    require_mfa: bool,
    allowed_origins: &'a str,
    groups: Vec<(String, bool)>,
}

const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
];

async fn new_form(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let empty = RawParams::new();
    new_page(&state, &admin, StatusCode::OK, None, &empty).await
}

async fn new_page(
    state: &Core,
    admin: &Admin,
    status: StatusCode,
    error: Option<&str>,
    typed: &RawParams,
) -> HttpResponse {
    let groups = match admin_console::group_names(state, admin).await {
        Ok(g) => g,
        Err(e) => return refused(admin, &e, routes::ADMIN_CLIENTS, "All clients"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let fresh = typed.is_empty();
    let chosen_grants = all(typed, "grant_type");
    let chosen_groups = all(typed, "allowed_group");
    let field = |name| params::single(typed, name).unwrap_or("");
    pages::render(
        status,
        &NewPage {
            username: admin.username(),
            csrf: &token,
            error,
            name: field("name"),
            public: field("kind") == "public",
            redirect_uris: field("redirect_uris"),
            post_logout_redirect_uris: field("post_logout_redirect_uris"),
            grant_types: GRANT_TYPES
                .iter()
                .map(|g| {
                    let on = if fresh {
                        matches!(*g, "authorization_code" | "refresh_token")
                    } else {
                        chosen_grants.iter().any(|c| c == g)
                    };
                    (*g, on)
                })
                .collect(),
            scope: field("scope"),
            audiences: field("audiences"),
            first_party: field("first_party") == "yes",
            require_mfa: field("require_mfa") == "yes",
            allowed_origins: field("allowed_origins"),
            groups: groups
                .into_iter()
                .map(|g| {
                    let on = chosen_groups.contains(&g);
                    (g, on)
                })
                .collect(),
        },
    )
}

/// The secret of a new or rotated client, shown this once.
#[derive(Template)]
#[template(path = "admin_secret.html")]
struct SecretPage<'a> {
    username: &'a str,
    title: &'a str,
    name: &'a str,
    client_id: &'a str,
    secret: Option<&'a str>,
    href: &'a str,
}

async fn create(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let field = |name| params::single(&form, name).map(str::to_owned);
    let public = field("kind").as_deref() == Some("public");
    let input = RegistrationInput {
        name: field("name").unwrap_or_default(),
        public,
        auth_method: None,
        redirect_uris: lines(&form, "redirect_uris"),
        post_logout_redirect_uris: lines(&form, "post_logout_redirect_uris"),
        grant_types: all(&form, "grant_type"),
        scope: field("scope").filter(|s| !s.trim().is_empty()),
        audiences: lines(&form, "audiences"),
        pkce_optional: false,
        first_party: field("first_party").as_deref() == Some("yes"),
        require_mfa: field("require_mfa").as_deref() == Some("yes"),
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        allowed_origins: lines(&form, "allowed_origins"),
        id_token_signed_response_alg: None,
        allowed_groups: all(&form, "allowed_group"),
    };
    match admin_console::create_client(&state, &admin, input).await {
        Ok(created) => {
            let id = created.client.id.to_string();
            pages::render(
                StatusCode::CREATED,
                &SecretPage {
                    username: admin.username(),
                    title: "Client created",
                    name: created.client.registration.name.as_str(),
                    client_id: &id,
                    secret: created.secret.as_deref(),
                    href: &link(routes::ADMIN_CLIENT, "id", &id),
                },
            )
        }
        Err(AdminError::Failure(f)) => crate::flow::failure_page(f),
        Err(e) => {
            let (status, _) = refusal_status(&e);
            new_page(&state, &admin, status, Some(&e.to_string()), &form).await
        }
    }
}

/// One client: every field, and the form of who may use it.
#[derive(Template)]
#[template(path = "admin_client.html")]
struct ShowPage<'a> {
    username: &'a str,
    csrf: &'a str,
    client: &'a ClientView,
    etag: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    groups: Vec<(String, bool)>,
    /// The registered origins, one a line (empty: the default).
    origins: String,
    rotate_href: String,
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
    let id = params::single(&query, "id").unwrap_or("");
    show_page(&state, &admin, id, StatusCode::OK, None, None).await
}

async fn show_page(
    state: &Core,
    admin: &Admin,
    id: &str,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let tagged = match admin_console::client(state, admin, id).await {
        Ok(t) => t,
        Err(e) => return refused(admin, &e, routes::ADMIN_CLIENTS, "All clients"),
    };
    let names = match admin_console::group_names(state, admin).await {
        Ok(g) => g,
        Err(e) => return refused(admin, &e, routes::ADMIN_CLIENTS, "All clients"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let client = &tagged.view;
    let groups = names
        .into_iter()
        .map(|g| {
            let on = client.allowed_groups.contains(&g);
            (g, on)
        })
        .collect();
    let origins = if client.allowed_origins_default {
        String::new()
    } else {
        client.allowed_origins.join("\n")
    };
    pages::render(
        status,
        &ShowPage {
            username: admin.username(),
            csrf: &token,
            client,
            etag: &tagged.etag,
            error,
            notice,
            groups,
            origins,
            rotate_href: link(routes::ADMIN_CLIENT_ROTATE, "id", &client.client_id),
            delete_href: link(routes::ADMIN_CLIENT_DELETE, "id", &client.client_id),
        },
    )
}

async fn access(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (id, etag) = match (required(&form, "id"), required(&form, "etag")) {
        (Ok(id), Ok(etag)) => (id, etag),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let origins = match parse_allowed_origins(&lines(&form, "allowed_origins")) {
        Ok(o) => o,
        Err(e) => {
            let text = e.to_string();
            return show_page(
                &state,
                &admin,
                id,
                StatusCode::BAD_REQUEST,
                None,
                Some(&text),
            )
            .await;
        }
    };
    let groups = match parse_group_names(&all(&form, "allowed_group")) {
        Ok(g) => g,
        Err(e) => {
            let text = format!("--allowed-group: {e}");
            return show_page(
                &state,
                &admin,
                id,
                StatusCode::BAD_REQUEST,
                None,
                Some(&text),
            )
            .await;
        }
    };
    let change = AccessChange {
        origins: Some(origins),
        groups: Some(groups),
    };
    match admin_console::update_client_access(&state, &admin, id, change, etag).await {
        Ok(_) => {
            show_page(
                &state,
                &admin,
                id,
                StatusCode::OK,
                Some("Who may use this client was saved."),
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
            routes::ADMIN_CLIENTS,
            "All clients",
        ),
        Err(e) => {
            // Stale: the page shows what is stored now, and says why nothing was saved.
            let (status, _) = refusal_status(&e);
            let text = e.to_string();
            show_page(&state, &admin, id, status, None, Some(&text)).await
        }
    }
}

async fn rotate_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let id = params::single(&query, "id").unwrap_or("");
    let tagged = match admin_console::client(&state, &admin, id).await {
        Ok(t) => t,
        Err(e) => return refused(&admin, &e, routes::ADMIN_CLIENTS, "All clients"),
    };
    let cancel = link(routes::ADMIN_CLIENT, "id", &tagged.view.client_id);
    let text = format!(
        "{} gets a new secret, shown once on the next page. The current secret stops working at once: the app cannot sign anyone in until it is given the new one.",
        tagged.view.name
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Rotate the client secret?",
            message: &text,
            action: routes::ADMIN_CLIENT_ROTATE,
            fields: vec![("id", &tagged.view.client_id)],
            button: "Rotate the secret",
            cancel: &cancel,
        },
    )
    .await
}

async fn rotate(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let id = match required(&form, "id") {
        Ok(id) => id,
        Err(r) => return r,
    };
    let back = link(routes::ADMIN_CLIENT, "id", id);
    match admin_console::rotate_secret(&state, &admin, id).await {
        Ok(secret) => {
            let name = match admin_console::client(&state, &admin, id).await {
                Ok(t) => t.view.name,
                Err(_) => String::new(),
            };
            pages::render(
                StatusCode::OK,
                &SecretPage {
                    username: admin.username(),
                    title: "New client secret",
                    name: &name,
                    client_id: id,
                    secret: Some(&secret),
                    href: &back,
                },
            )
        }
        Err(e) => refused(&admin, &e, &back, "Back to the client"),
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
    let id = params::single(&query, "id").unwrap_or("");
    let tagged = match admin_console::client(&state, &admin, id).await {
        Ok(t) => t,
        Err(e) => return refused(&admin, &e, routes::ADMIN_CLIENTS, "All clients"),
    };
    let cancel = link(routes::ADMIN_CLIENT, "id", &tagged.view.client_id);
    let text = format!(
        "{} ({}) is deleted: nobody can sign in to it any more, and its tokens stop working.",
        tagged.view.name, tagged.view.client_id
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Delete this client?",
            message: &text,
            action: routes::ADMIN_CLIENT_DELETE,
            fields: vec![("id", &tagged.view.client_id), ("etag", &tagged.etag)],
            button: "Delete the client",
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
    let (id, etag) = match (required(&form, "id"), required(&form, "etag")) {
        (Ok(id), Ok(etag)) => (id, etag),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    match admin_console::delete_client(&state, &admin, id, etag).await {
        Ok(()) => message(
            StatusCode::OK,
            &admin,
            "Client deleted",
            &format!("The client {id} was deleted."),
            routes::ADMIN_CLIENTS,
            "All clients",
        ),
        Err(e) => refused(
            &admin,
            &e,
            &link(routes::ADMIN_CLIENT, "id", id),
            "Back to the client",
        ),
    }
}
