//! `POST /account/profile` and `POST /account/email`: the account page's Profile section
//! (issue 15, [`usher_core::account::profile`]). Both pass the account gate (single-use
//! form token, recent sign-in); the answer is the account page with a notice, or with
//! the reason a change was refused (and, for the profile, what was typed).
//!
//! The e-mail form's answer never depends on whether the new address belongs to anyone:
//! the core does not look.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::account::forms::FormPurpose;
use usher_core::account::profile::{self, EmailOutcome, ProfileForm, UpdateOutcome};
use usher_core::account::{self};
use usher_domain::Session;

use super::account::{account_page, gate, show_account};
use crate::Core;
use crate::flow::failure_page;
use crate::params;
use crate::routes;

/// The account page after a refused profile form: the message, and the Profile fields
/// as they were typed (so nothing has to be typed again).
async fn refused(
    state: &Core,
    session: &Session,
    form: &ProfileForm<'_>,
    message: &str,
) -> HttpResponse {
    match account::overview(state, session).await {
        Ok(Some(mut overview)) => {
            overview.profile = overview.profile.with_typed(form);
            account_page(StatusCode::BAD_REQUEST, &overview, None, Some(message))
        }
        Ok(None) => {
            show_account(state, session, StatusCode::BAD_REQUEST, None, Some(message)).await
        }
        Err(f) => failure_page(f),
    }
}

async fn profile_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (session, raw) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    let field = |name: &str| params::single(&raw, name).unwrap_or("");
    let form = ProfileForm {
        name: field("name"),
        preferred_username: field("preferred_username"),
        phone_number: field("phone_number"),
        street_address: field("street_address"),
        locality: field("locality"),
        region: field("region"),
        postal_code: field("postal_code"),
        country: field("country"),
    };
    match profile::update(&state, &session, &form).await {
        Ok(UpdateOutcome::Updated) => {
            show_account(
                &state,
                &session,
                StatusCode::OK,
                Some("Your profile was saved."),
                None,
            )
            .await
        }
        Ok(UpdateOutcome::Refused(message)) => refused(&state, &session, &form, &message).await,
        Err(f) => failure_page(f),
    }
}

async fn email_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (session, raw) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    let typed = params::single(&raw, "email").unwrap_or("");
    let (status, notice, error) = match profile::request_email_change(&state, &session, typed).await
    {
        Ok(EmailOutcome::LinkSent) => (
            StatusCode::OK,
            Some(
                "A link was mailed to the new address. Your address changes when you open it and confirm; until then your current address stays.",
            ),
            None,
        ),
        Ok(EmailOutcome::VerificationSent) => (
            StatusCode::OK,
            Some("A link to confirm your address was mailed to it."),
            None,
        ),
        Ok(EmailOutcome::Unchanged) => (
            StatusCode::OK,
            Some("That is your address already, and it is confirmed."),
            None,
        ),
        Ok(EmailOutcome::NotAnAddress) => (
            StatusCode::BAD_REQUEST,
            None,
            Some("Type an e-mail address of the form name@example.org."),
        ),
        Ok(EmailOutcome::Throttled) => (
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(
                "Several links were mailed in the last minutes. Wait a quarter of an hour and try again.",
            ),
        ),
        Ok(EmailOutcome::NotSent) => (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some("The mail could not be sent just now. Try again later."),
        ),
        Err(f) => return failure_page(f),
    };
    show_account(&state, &session, status, notice, error).await
}

pub fn routes() -> Vec<actix_web::Resource> {
    let form = || web::PayloadConfig::new(crate::params::MAX_FORM_BYTES);
    vec![
        web::resource(routes::ACCOUNT_PROFILE)
            .app_data(form())
            .route(web::post().to(profile_post)),
        web::resource(routes::ACCOUNT_EMAIL)
            .app_data(form())
            .route(web::post().to(email_post)),
    ]
}
