//! The device verification page (RFC 8628 §3.3): where a person types the code a device
//! shows, signs in, and approves or denies. The decisions are the core's
//! ([`usher_core::grants::device_code`]): the throttled lookup, the form tokens, the
//! decision. This reads the query, the forms and the session cookie, and renders.
//!
//! - `GET /device` — the code form (`?user_code=` prefills it). Signed in and with
//!   `user_code`, the code is looked up (throttled, as a typed one is) and the
//!   confirmation shown: `verification_uri_complete` saves typing, never the
//!   confirmation.
//! - `POST /device` — a typed code: refused, throttled, or found; found and signed out,
//!   the person signs in (as the account page does, through `/authorize`) and comes back
//!   to `GET /device?user_code=…`.
//! - `POST /device/decide` — Approve or Deny on the confirmation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::account::forms::FormRefusal;
use usher_core::account::login::ReturnTo;
use usher_core::grants::device_code::{self, Decided, Lookup, PendingDevice};
use usher_domain::{Session, UserCode};

use crate::Core;
use crate::client_address;
use crate::endpoints::account::{session_cookie, start_sign_in, when};
use crate::flow::{bad_request_page, failure_page, plural_seconds};
use crate::pages::{self, DeviceConfirmPage, DevicePage, NoticePage, ScopeLine};
use crate::params;
use crate::routes;

const NOT_FOUND: &str = "That code is not valid. Check the code your device shows now (codes expire after a few minutes) and type it again.";

/// The code form with a fresh token.
fn entry_page(state: &Core, status: StatusCode, typed: &str, error: Option<&str>) -> HttpResponse {
    match device_code::entry_form(state) {
        Ok(csrf) => pages::render(
            status,
            &DevicePage {
                csrf: &csrf,
                user_code: typed,
                error,
            },
        ),
        Err(f) => failure_page(f),
    }
}

/// The entry page after a lookup that found nothing or was throttled; `None` if found.
fn not_found(state: &Core, lookup: &Lookup, typed: &str) -> Option<HttpResponse> {
    match lookup {
        Lookup::Found(_) => None,
        Lookup::NotFound => Some(entry_page(
            state,
            StatusCode::BAD_REQUEST,
            typed,
            Some(NOT_FOUND),
        )),
        Lookup::Throttled { wait } => {
            let message = format!(
                "Too many wrong codes were typed. Try again in {}.",
                plural_seconds(*wait)
            );
            Some(entry_page(
                state,
                StatusCode::TOO_MANY_REQUESTS,
                typed,
                Some(&message),
            ))
        }
    }
}

/// The confirmation of `pending` for `session`.
async fn confirm_page(state: &Core, session: &Session, pending: &PendingDevice) -> HttpResponse {
    let csrf = match device_code::confirm_form(state, session, &pending.user_code).await {
        Ok(t) => t,
        Err(f) => return failure_page(f),
    };
    let username = match state.user(&session.user_id).await {
        Ok(Some(u)) => u.username.as_str().to_owned(),
        Ok(None) => String::new(),
        Err(f) => return failure_page(f),
    };
    let code = pending.user_code.display();
    pages::render(
        StatusCode::OK,
        &DeviceConfirmPage {
            client_name: &pending.client_name,
            username: &username,
            user_code: &code,
            scopes: pending
                .scopes
                .iter()
                .map(|s| ScopeLine::new(s.as_str()))
                .collect(),
            resources: pending.resources.clone(),
            requested: &when(pending.created_at),
            csrf: &csrf,
        },
    )
}

async fn session_of(req: &HttpRequest, state: &Core) -> Result<Option<Session>, HttpResponse> {
    let cookie = session_cookie(req, state);
    state.session(cookie.as_deref()).await.map_err(failure_page)
}

async fn get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let query = match params::query(&req) {
        Ok(q) => q,
        Err(e) => return bad_request_page("This link is not valid", &e.to_string()),
    };
    // Only a well-formed code is shown back (normalised); anything else is not echoed.
    let code = params::single(&query, "user_code").and_then(UserCode::parse);
    let prefill = code.as_ref().map(UserCode::display).unwrap_or_default();
    let session = match session_of(&req, &state).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    let (Some(session), Some(code)) = (session, code) else {
        return entry_page(&state, StatusCode::OK, &prefill, None);
    };
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    match device_code::lookup(&state, code.as_str(), &address).await {
        Ok(Lookup::Found(pending)) => confirm_page(&state, &session, &pending).await,
        Ok(other) => not_found(&state, &other, &prefill)
            .unwrap_or_else(|| failure_page(usher_core::Failure::Internal)),
        Err(f) => failure_page(f),
    }
}

fn refused_message(refusal: FormRefusal) -> &'static str {
    match refusal {
        FormRefusal::Expired => "The page was open too long. Please type the code again.",
        FormRefusal::Unknown | FormRefusal::OtherSession | FormRefusal::WrongPurpose => {
            "This form was sent already or did not come from this page. Please type the code again."
        }
    }
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return bad_request_page("This form is not valid", &e.to_string()),
    };
    let typed = params::single(&form, "user_code").unwrap_or("");
    // What is shown back: the normalised code, or nothing (never the raw text).
    let shown = UserCode::parse(typed)
        .map(|c| c.display())
        .unwrap_or_default();
    match device_code::take_entry_form(&state, params::single(&form, "csrf")).await {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => {
            return entry_page(
                &state,
                StatusCode::BAD_REQUEST,
                &shown,
                Some(refused_message(refusal)),
            );
        }
        Err(f) => return failure_page(f),
    }
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    let pending = match device_code::lookup(&state, typed, &address).await {
        Ok(Lookup::Found(p)) => p,
        Ok(other) => {
            return not_found(&state, &other, &shown)
                .unwrap_or_else(|| failure_page(usher_core::Failure::Internal));
        }
        Err(f) => return failure_page(f),
    };
    match session_of(&req, &state).await {
        Ok(Some(session)) => confirm_page(&state, &session, &pending).await,
        Ok(None) => start_sign_in(
            &state,
            ReturnTo::Device(Some(pending.user_code.clone())),
            None,
        ),
        Err(response) => response,
    }
}

async fn decide_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return bad_request_page("This form is not valid", &e.to_string()),
    };
    let Some(code) = params::single(&form, "user_code").and_then(UserCode::parse) else {
        return bad_request_page("This form is not valid", "It carries no device code.");
    };
    let approve = match params::single(&form, "decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return bad_request_page("This form is not valid", "Choose Approve or Deny."),
    };
    let session = match session_of(&req, &state).await {
        Ok(Some(s)) => s,
        Ok(None) => return start_sign_in(&state, ReturnTo::Device(Some(code)), None),
        Err(response) => return response,
    };
    let csrf = params::single(&form, "csrf");
    match device_code::decide(&state, &session, &code, csrf, approve).await {
        Ok(Decided::Approved { client_name }) => {
            let message = format!(
                "{client_name} is now connected to your account. You can return to your device; it continues by itself."
            );
            pages::render(
                StatusCode::OK,
                &NoticePage {
                    title: "Device connected",
                    message: &message,
                },
            )
        }
        Ok(Decided::Denied) => pages::render(
            StatusCode::OK,
            &NoticePage {
                title: "Request denied",
                message: "Nothing was shared. The device is told that you said no.",
            },
        ),
        Ok(Decided::Refused(refusal)) => entry_page(
            &state,
            StatusCode::BAD_REQUEST,
            &code.display(),
            Some(refused_message(refusal)),
        ),
        Ok(Decided::Gone) => entry_page(&state, StatusCode::BAD_REQUEST, "", Some(NOT_FOUND)),
        Ok(Decided::NeedsSecondFactor) => bad_request_page(
            "This app needs a second factor",
            "Set up an authenticator app or a passkey on your account page, sign in with it, then type the code again.",
        ),
        Ok(Decided::AccountDisabled) => crate::flow::account_disabled_page(),
        Ok(Decided::NoAccess { client_name }) => pages::no_access(pages::NoAccessPage {
            client_name: &client_name,
            username: "",
            back: None,
        }),
        Err(f) => failure_page(f),
    }
}

pub fn routes() -> Vec<actix_web::Resource> {
    let form = || web::PayloadConfig::new(crate::params::MAX_FORM_BYTES);
    vec![
        web::resource(routes::DEVICE)
            .app_data(form())
            .route(web::get().to(get))
            .route(web::post().to(post)),
        web::resource(routes::DEVICE_DECIDE)
            .app_data(form())
            .route(web::post().to(decide_post)),
    ]
}
