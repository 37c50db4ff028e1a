//! `POST /account/password`: changing the password on the account page (issue 15,
//! [`usher_core::account::password`]): the current password, the new one twice, and
//! "also sign out my apps". Behind the account gate (single-use form token, recent
//! sign-in); the answer is the account page with a notice or the reason it was refused.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::account::forms::FormPurpose;
use usher_core::account::password::{self, ChangeOutcome, PasswordChange};

use super::account::{gate, show_account};
use crate::Core;
use crate::client_address;
use crate::flow::{failure_page, plural_seconds};
use crate::params;
use crate::routes;

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (session, form) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    let change = PasswordChange {
        current: params::single(&form, "current_password").unwrap_or(""),
        new: params::single(&form, "new_password").unwrap_or(""),
        confirm: params::single(&form, "confirm_password").unwrap_or(""),
        sign_out_apps: params::single(&form, "sign_out_apps") == Some("yes"),
    };
    let (status, notice, error) = match password::change(&state, &session, change, &address).await {
        Ok(ChangeOutcome::Changed {
            browsers_signed_out,
        }) => (
            StatusCode::OK,
            Some(if browsers_signed_out == 0 {
                "Your password was changed. If you think someone else may be using this browser's sign-in, use “Sign out everywhere” below.".to_owned()
            } else {
                "Your password was changed, and your other browsers were signed out. If you think someone else may be using this browser's sign-in, use “Sign out everywhere” below.".to_owned()
            }),
            None,
        ),
        Ok(ChangeOutcome::WrongCurrent) => (
            StatusCode::UNAUTHORIZED,
            None,
            Some("Your current password is not right.".to_owned()),
        ),
        Ok(ChangeOutcome::Refused(message)) => (StatusCode::BAD_REQUEST, None, Some(message)),
        Ok(ChangeOutcome::Throttled { wait }) => (
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(format!(
                "Too many failed attempts. Wait {} and try again.",
                plural_seconds(wait)
            )),
        ),
        Err(f) => return failure_page(f),
    };
    show_account(
        &state,
        &session,
        status,
        notice.as_deref(),
        error.as_deref(),
    )
    .await
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::ACCOUNT_PASSWORD)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
