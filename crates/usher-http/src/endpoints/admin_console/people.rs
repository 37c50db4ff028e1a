//! The console's people: the list (search, pages) with the new-person form, one person
//! with their second factors and groups, changing their profile (with the view's tag),
//! setting a password, and disabling or enabling, resetting the second factors, ending
//! the sessions or deleting the person (each confirmed first).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::AdminError;
use usher_core::admin::people::{PersonDetail, PersonView};
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
        web::resource(routes::ADMIN_PEOPLE)
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(routes::ADMIN_PERSON).route(web::get().to(show)),
        web::resource(routes::ADMIN_PERSON_PASSWORD).route(web::post().to(set_password)),
        web::resource(routes::ADMIN_PERSON_RESET_FACTORS)
            .route(web::get().to(reset_confirm))
            .route(web::post().to(reset_factors)),
        web::resource(routes::ADMIN_PERSON_END_SESSIONS)
            .route(web::get().to(end_confirm))
            .route(web::post().to(end_sessions)),
        web::resource(routes::ADMIN_PERSON_DELETE)
            .route(web::get().to(delete_confirm))
            .route(web::post().to(delete)),
        web::resource(routes::ADMIN_PERSON_UPDATE).route(web::post().to(update)),
        web::resource(routes::ADMIN_PERSON_DISABLE)
            .route(web::get().to(disable_confirm))
            .route(web::post().to(disable)),
        web::resource(routes::ADMIN_PERSON_ENABLE)
            .route(web::get().to(enable_confirm))
            .route(web::post().to(enable)),
    ]
}

struct PersonLine {
    person: PersonView,
    href: String,
}

/// What the new-person form had (never the password).
#[derive(Default)]
struct Typed<'a> {
    username: &'a str,
    name: &'a str,
    email: &'a str,
}

#[derive(Template)]
#[template(path = "admin_people.html")]
struct ListPage<'a> {
    username: &'a str,
    csrf: &'a str,
    q: &'a str,
    people: Vec<PersonLine>,
    next: Option<String>,
    error: Option<&'a str>,
    typed: Typed<'a>,
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
        Typed::default(),
    )
    .await
}

async fn list_page(
    state: &Core,
    admin: &Admin,
    query: &usher_domain::authorize::RawParams,
    status: StatusCode,
    error: Option<&str>,
    typed: Typed<'_>,
) -> HttpResponse {
    let q = params::single(query, "q").unwrap_or("");
    let page = match admin_console::people(state, admin, q.to_owned(), page_of(query)).await {
        Ok(p) => p,
        Err(e) => return refused(admin, &e, routes::ADMIN, "Admin console"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let people = page
        .items
        .into_iter()
        .map(|person| PersonLine {
            href: link(routes::ADMIN_PERSON, "username", &person.username),
            person,
        })
        .collect();
    let next = page.next.map(|after| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            query.append_pair("q", q);
        }
        query.append_pair("after", &after);
        format!("{}?{}", routes::ADMIN_PEOPLE, query.finish())
    });
    pages::render(
        status,
        &ListPage {
            username: admin.username(),
            csrf: &token,
            q,
            people,
            next,
            error,
            typed,
        },
    )
}

async fn create(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let typed = Typed {
        username: params::single(&form, "username").unwrap_or(""),
        name: params::single(&form, "name").unwrap_or(""),
        email: params::single(&form, "email").unwrap_or(""),
    };
    let password = params::single(&form, "password").unwrap_or("");
    match admin_console::create_person(
        &state,
        &admin,
        typed.username,
        password,
        Some(typed.name),
        Some(typed.email),
    )
    .await
    {
        Ok(person) => {
            show_page(
                &state,
                &admin,
                &person.username,
                StatusCode::CREATED,
                Some("The person was created."),
                None,
            )
            .await
        }
        Err(AdminError::Failure(f)) => crate::flow::failure_page(f),
        Err(e) => {
            let (status, _) = refusal_status(&e);
            let text = e.to_string();
            list_page(&state, &admin, &Vec::new(), status, Some(&text), typed).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin_person.html")]
struct ShowPage<'a> {
    username: &'a str,
    csrf: &'a str,
    person: &'a PersonDetail,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    groups: Vec<(String, String)>,
    reset_href: String,
    end_href: String,
    delete_href: String,
    /// The entity tag the edit form carries back.
    etag: &'a str,
    /// The confirmation of disabling (or, when disabled, of enabling) the person.
    disable_href: String,
    enable_href: String,
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
    let name = params::single(&query, "username").unwrap_or("");
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
    let tagged = match admin_console::person_tagged(state, admin, name).await {
        Ok(p) => p,
        Err(e) => return refused(admin, &e, routes::ADMIN_PEOPLE, "All people"),
    };
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let person = &tagged.view;
    let who = person.person.username.as_str();
    pages::render(
        status,
        &ShowPage {
            username: admin.username(),
            csrf: &token,
            groups: person
                .groups
                .iter()
                .map(|g| (g.clone(), link(routes::ADMIN_GROUP, "name", g)))
                .collect(),
            reset_href: link(routes::ADMIN_PERSON_RESET_FACTORS, "username", who),
            end_href: link(routes::ADMIN_PERSON_END_SESSIONS, "username", who),
            delete_href: link(routes::ADMIN_PERSON_DELETE, "username", who),
            disable_href: link(routes::ADMIN_PERSON_DISABLE, "username", who),
            enable_href: link(routes::ADMIN_PERSON_ENABLE, "username", who),
            etag: &tagged.etag,
            person,
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
    let (name, etag) = match (required(&form, "username"), required(&form, "etag")) {
        (Ok(n), Ok(e)) => (n, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let field = |key| params::single(&form, key).unwrap_or("");
    let fields = admin_console::PersonForm {
        name: field("name"),
        email: field("email"),
        email_verified: field("email_verified") == "yes",
        preferred_username: field("preferred_username"),
        phone_number: field("phone_number"),
        phone_number_verified: field("phone_number_verified") == "yes",
    };
    match admin_console::update_person(&state, &admin, name, fields, etag).await {
        Ok(_) => {
            show_page(
                &state,
                &admin,
                name,
                StatusCode::OK,
                Some("The person's profile was saved."),
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
            routes::ADMIN_PEOPLE,
            "All people",
        ),
        Err(e) => {
            // Invalid or stale: the page shows what is stored now, and says why nothing
            // was saved.
            let (status, _) = refusal_status(&e);
            let text = e.to_string();
            show_page(&state, &admin, name, status, None, Some(&text)).await
        }
    }
}

async fn disable_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    confirm_for(
        req,
        &state,
        "Disable this person?",
        |who| format!("{who} can no longer sign in, and every session and refresh token of theirs ends. Nothing is deleted: enable them again to let them sign in."),
        routes::ADMIN_PERSON_DISABLE,
        "Disable the person",
    )
    .await
}

async fn enable_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    confirm_for(
        req,
        &state,
        "Enable this person again?",
        |who| format!("{who} may sign in again with their password, passkeys and second factors."),
        routes::ADMIN_PERSON_ENABLE,
        "Enable the person",
    )
    .await
}

async fn disable(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let name = match required(&form, "username") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let back = link(routes::ADMIN_PERSON, "username", name);
    match admin_console::disable_person(&state, &admin, name).await {
        Ok(done) => message(
            StatusCode::OK,
            &admin,
            "Person disabled",
            &format!(
                "{} can no longer sign in; their sessions and refresh tokens ended.",
                done.person.username
            ),
            &back,
            "Back to the person",
        ),
        Err(e) => refused(&admin, &e, &back, "Back to the person"),
    }
}

async fn enable(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let name = match required(&form, "username") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let back = link(routes::ADMIN_PERSON, "username", name);
    match admin_console::enable_person(&state, &admin, name).await {
        Ok(done) => message(
            StatusCode::OK,
            &admin,
            "Person enabled",
            &format!("{} may sign in again.", done.person.username),
            &back,
            "Back to the person",
        ),
        Err(e) => refused(&admin, &e, &back, "Back to the person"),
    }
}

async fn set_password(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let name = match required(&form, "username") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let password = params::single(&form, "password").unwrap_or("");
    let keep = params::single(&form, "keep_sessions") == Some("yes");
    match admin_console::set_password(&state, &admin, name, password, keep).await {
        Ok(done) => {
            let text = match done.sessions_ended {
                Some(n) => format!("The password was set; {n} session(s) ended."),
                None => "The password was set; the sessions were kept.".to_owned(),
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

/// The confirmation of a change to the person named in the query.
async fn confirm_for(
    req: HttpRequest,
    state: &Core,
    title: &str,
    text: fn(&str) -> String,
    action: &str,
    button: &str,
) -> HttpResponse {
    let admin = match page_admin(&req, state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let name = params::single(&query, "username").unwrap_or("");
    let person = match admin_console::person(state, &admin, name).await {
        Ok(p) => p,
        Err(e) => return refused(&admin, &e, routes::ADMIN_PEOPLE, "All people"),
    };
    let who = person.person.username.as_str();
    let cancel = link(routes::ADMIN_PERSON, "username", who);
    let message = text(who);
    confirm(
        state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title,
            message: &message,
            action,
            fields: vec![("username", who)],
            button,
            cancel: &cancel,
        },
    )
    .await
}

async fn reset_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    confirm_for(
        req,
        &state,
        "Reset the second factors?",
        |who| format!("{who}'s authenticator app and recovery codes are removed and every session of theirs ends; they sign in with their password alone and may set up a second factor again."),
        routes::ADMIN_PERSON_RESET_FACTORS,
        "Reset the second factors",
    )
    .await
}

async fn end_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    confirm_for(
        req,
        &state,
        "End every session?",
        |who| format!("Every browser session and refresh token of {who} ends: they sign in again everywhere."),
        routes::ADMIN_PERSON_END_SESSIONS,
        "End every session",
    )
    .await
}

async fn delete_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    confirm_for(
        req,
        &state,
        "Delete this person?",
        |who| format!("{who} is deleted with their sessions, second factors and group memberships. This cannot be undone."),
        routes::ADMIN_PERSON_DELETE,
        "Delete the person",
    )
    .await
}

async fn reset_factors(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let name = match required(&form, "username") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let back = link(routes::ADMIN_PERSON, "username", name);
    match admin_console::reset_factors(&state, &admin, name).await {
        Ok(done) => message(
            StatusCode::OK,
            &admin,
            "Second factors reset",
            &format!(
                "{} second factor(s) of {} removed; {} session(s) ended.",
                done.factors_removed, done.username, done.sessions_ended
            ),
            &back,
            "Back to the person",
        ),
        Err(e) => refused(&admin, &e, &back, "Back to the person"),
    }
}

async fn end_sessions(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let name = match required(&form, "username") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let back = link(routes::ADMIN_PERSON, "username", name);
    match admin_console::end_sessions(&state, &admin, name).await {
        Ok(done) => message(
            StatusCode::OK,
            &admin,
            "Sessions ended",
            &format!(
                "{} session(s) of {} ended.",
                done.sessions_ended, done.username
            ),
            &back,
            "Back to the person",
        ),
        Err(e) => refused(&admin, &e, &back, "Back to the person"),
    }
}

async fn delete(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let name = match required(&form, "username") {
        Ok(n) => n,
        Err(r) => return r,
    };
    match admin_console::delete_person(&state, &admin, name).await {
        Ok(()) => message(
            StatusCode::OK,
            &admin,
            "Person deleted",
            &format!("{name} was deleted."),
            routes::ADMIN_PEOPLE,
            "All people",
        ),
        Err(e) => refused(
            &admin,
            &e,
            &link(routes::ADMIN_PERSON, "username", name),
            "Back to the person",
        ),
    }
}
