//! `/admin`: the admin console's pages (issue 17, docs/design/admin-console.md). Who may
//! use it, the single-use form tokens and every change are the core's
//! ([`usher_core::admin_console`], which calls the same operations as the CLI and the
//! admin API); this module reads the cookies, queries and forms, and renders pages (all
//! `Cache-Control: no-store`, under the sign-in pages' CSP: no script).
//!
//! One module per page group: [`clients`], [`groups`], [`resources`], [`people`], [`keys`], [`families`], [`audit`], [`sessions`] (a person's browser sessions), [`token`] (the operator's own admin API token), [`invitations`], [`registration_tokens`]. Every change is a
//! POST with the page's `csrf` token; every destructive one has a confirmation page
//! first (a GET that changes nothing).

mod audit;
mod clients;
mod families;
mod groups;
mod invitations;
mod keys;
mod people;
mod registration_tokens;
mod resources;
mod sessions;
mod token;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::account::forms::FormRefusal;
use usher_core::admin::AdminError;
use usher_core::admin::page::PageRequest;
use usher_core::admin_console::{self, Access, Admin, Post};
use usher_domain::authorize::RawParams;

use crate::cookies;
use crate::flow::{bad_request_page, failure_page};
use crate::pages;
use crate::params;
use crate::respond::{Failure, redirect};
use crate::routes;

/// Every console route.
pub fn routes() -> Vec<actix_web::Resource> {
    let mut all = vec![web::resource(routes::ADMIN).route(web::get().to(home))];
    all.extend(clients::routes());
    all.extend(groups::routes());
    all.extend(resources::routes());
    all.extend(people::routes());
    all.extend(keys::routes());
    all.extend(families::routes());
    all.extend(audit::routes());
    all.extend(sessions::routes());
    all.extend(token::routes());
    all.extend(invitations::routes());
    all.extend(registration_tokens::routes());
    all.into_iter()
        .map(|r| r.app_data(web::PayloadConfig::new(params::MAX_FORM_BYTES)))
        .collect()
}

/// 303 to `/authorize` (the built-in client, back to `/admin`), with the sign-in
/// cookie the account page's callback reads.
fn start_sign_in(state: &Core) -> HttpResponse {
    let start = match admin_console::sign_in(state) {
        Ok(s) => s,
        Err(f) => return failure_page(f),
    };
    let cookie = cookies::make_scoped(
        &state.settings,
        cookies::ACCOUNT_SIGN_IN,
        start.cookie_value,
        state.settings.interaction_ttl,
        cookies::ACCOUNT_PATH,
    );
    let mut response = redirect(&start.location);
    if response.add_cookie(&cookie).is_err() {
        return failure_page(Failure::Internal);
    }
    response
}

/// 403: signed in, not a member of `usher-admins`.
#[derive(Template)]
#[template(path = "admin_forbidden.html")]
struct ForbiddenPage<'a> {
    username: &'a str,
}

fn forbidden(username: &str) -> HttpResponse {
    pages::render(StatusCode::FORBIDDEN, &ForbiddenPage { username })
}

/// The operator of a console page, or the response to send instead.
async fn page_admin(req: &HttpRequest, state: &Core) -> Result<Admin, HttpResponse> {
    let cookie = cookies::read(req, &state.settings, cookies::SESSION);
    match admin_console::access(state, cookie.as_deref()).await {
        Ok(Access::Admin(admin)) => Ok(*admin),
        Ok(Access::NotSignedIn) => Err(start_sign_in(state)),
        Ok(Access::NotAnAdmin { username }) => Err(forbidden(&username)),
        Err(f) => Err(failure_page(f)),
    }
}

/// A fresh form token for a page rendered for `admin`.
async fn csrf(state: &Core, admin: &Admin) -> Result<String, HttpResponse> {
    admin_console::form_token(state, admin)
        .await
        .map_err(failure_page)
}

/// The operator of a posted console form (its token spent), and the form; or the
/// response to send instead.
async fn form_admin(
    req: &HttpRequest,
    body: &[u8],
    state: &Core,
) -> Result<(Admin, RawParams), HttpResponse> {
    let form = match params::form(req, body) {
        Ok(f) => f,
        Err(e) => return Err(bad_request_page("This form is not valid", &e.to_string())),
    };
    let cookie = cookies::read(req, &state.settings, cookies::SESSION);
    match admin_console::post(state, cookie.as_deref(), params::single(&form, "csrf")).await {
        Ok(Post::Admin(admin)) => {
            let mut admin = *admin;
            // Who changed what from where: the audit trail's address.
            let address = crate::client_address::of(req, &state.settings.trusted_proxies);
            admin.from_address(usher_core::audit::address_text(Some(&address)));
            Ok((admin, form))
        }
        Ok(Post::NotSignedIn) => Err(start_sign_in(state)),
        Ok(Post::NotAnAdmin { username }) => Err(forbidden(&username)),
        Ok(Post::Refused(refusal)) => Err(form_refused(refusal)),
        Err(f) => Err(failure_page(f)),
    }
}

fn form_refused(refusal: FormRefusal) -> HttpResponse {
    let message = match refusal {
        FormRefusal::Expired => {
            "The page was open too long. Open it again and repeat the change. Nothing was changed."
        }
        FormRefusal::Unknown | FormRefusal::OtherSession | FormRefusal::WrongPurpose => {
            "Each form of the admin console can be sent once, from the page it came with. Open the page again and repeat the change. Nothing was changed."
        }
    };
    bad_request_page("This form cannot be used", message)
}

/// A console message page: an outcome or a refusal, with a link back.
#[derive(Template)]
#[template(path = "admin_message.html")]
struct MessagePage<'a> {
    username: &'a str,
    title: &'a str,
    message: &'a str,
    back: &'a str,
    back_label: &'a str,
}

fn message(
    status: StatusCode,
    admin: &Admin,
    title: &str,
    text: &str,
    back: &str,
    back_label: &str,
) -> HttpResponse {
    pages::render(
        status,
        &MessagePage {
            username: admin.username(),
            title,
            message: text,
            back,
            back_label,
        },
    )
}

/// The status and title of an operation's refusal; its text is the operation's own
/// (the CLI's and the API's).
fn refusal_status(e: &AdminError) -> (StatusCode, &'static str) {
    match e {
        AdminError::Invalid(_) => (StatusCode::BAD_REQUEST, "That was not accepted"),
        AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        AdminError::Conflict(_) => (StatusCode::CONFLICT, "That cannot be done now"),
        AdminError::Stale => (StatusCode::PRECONDITION_FAILED, "Changed by someone else"),
        AdminError::Incomplete(_) => (StatusCode::SERVICE_UNAVAILABLE, "Done, but not all of it"),
        AdminError::Failure(_) => (StatusCode::SERVICE_UNAVAILABLE, "Try again shortly"),
    }
}

/// The page of a refused operation, linking `back`.
fn refused(admin: &Admin, e: &AdminError, back: &str, back_label: &str) -> HttpResponse {
    if let AdminError::Failure(f) = e {
        return failure_page(*f);
    }
    let (status, title) = refusal_status(e);
    message(status, admin, title, &e.to_string(), back, back_label)
}

/// A query's parameters, or the 400 page.
// The refusal is the response itself, returned once and sent at once (as the async
// gates above do): boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn query(req: &HttpRequest) -> Result<RawParams, HttpResponse> {
    params::query(req).map_err(|e| bad_request_page("This address is not valid", &e.to_string()))
}

/// The page a list shows (`after`, the default limit).
fn page_of(query: &RawParams) -> PageRequest {
    PageRequest {
        after: params::single(query, "after").map(str::to_owned),
        limit: None,
    }
}

/// Every non-empty value of `name` (checkboxes, repeated fields).
fn all(form: &RawParams, name: &str) -> Vec<String> {
    form.iter()
        .filter(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// The lines of a text area, trimmed, without empty ones.
fn lines(form: &RawParams, name: &str) -> Vec<String> {
    params::single(form, name)
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `path?name=value`, the value encoded.
fn link(path: &str, name: &str, value: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair(name, value);
    format!("{path}?{}", query.finish())
}

/// A required field's value, or the 400 page.
// The refusal is the response itself, returned once and sent at once (as the async
// gates above do): boxing it would gain nothing.
#[allow(clippy::result_large_err)]
fn required<'a>(form: &'a RawParams, name: &str) -> Result<&'a str, HttpResponse> {
    params::single(form, name).ok_or_else(|| {
        bad_request_page(
            "This form is not valid",
            &format!("The field {name} is missing."),
        )
    })
}

/// The confirmation of a destructive change: a POST form with the page's token, the
/// fields that name what it changes, and one button.
#[derive(Template)]
#[template(path = "admin_confirm.html")]
struct ConfirmPage<'a> {
    username: &'a str,
    csrf: &'a str,
    title: &'a str,
    message: &'a str,
    action: &'a str,
    fields: Vec<(&'a str, &'a str)>,
    button: &'a str,
    cancel: &'a str,
}

async fn confirm(state: &Core, admin: &Admin, page: ConfirmPage<'_>) -> HttpResponse {
    let token = match csrf(state, admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    pages::render(
        StatusCode::OK,
        &ConfirmPage {
            csrf: &token,
            ..page
        },
    )
}

/// The console's home page.
#[derive(Template)]
#[template(path = "admin_home.html")]
struct HomePage<'a> {
    username: &'a str,
}

async fn home(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    match page_admin(&req, &state).await {
        Ok(admin) => pages::render(
            StatusCode::OK,
            &HomePage {
                username: admin.username(),
            },
        ),
        Err(response) => response,
    }
}
