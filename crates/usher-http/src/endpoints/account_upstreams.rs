//! "Linked sign-in providers" on the account page (issue 18,
//! [`usher_core::account::upstreams`]):
//!
//! - `POST /account/upstreams/remove` (`upstream`, `subject`): removes one linked
//!   identity of the person, unless it is their last way to sign in.
//!
//! It passes the account gate (single-use form token, recent sign-in); the answer is the
//! account page with a notice, or with the refusal said plainly.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::account::forms::FormPurpose;
use usher_core::account::upstreams::{self, RemoveOutcome};

use super::account::{gate, show_account};
use crate::Core;
use crate::flow::failure_page;
use crate::params;
use crate::routes;

async fn remove_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (session, form) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    let upstream = params::single(&form, "upstream").unwrap_or("");
    let subject = params::single(&form, "subject").unwrap_or("");
    let (status, notice, error) = match upstreams::remove(&state, &session, upstream, subject).await
    {
        Ok(RemoveOutcome::Removed) => (
            StatusCode::OK,
            Some("The sign-in provider was removed. It no longer signs you in here."),
            None,
        ),
        Ok(RemoveOutcome::NotLinked) => (
            StatusCode::NOT_FOUND,
            None,
            Some("That sign-in provider is not linked to your account any more."),
        ),
        Ok(RemoveOutcome::LastWayToSignIn) => (
            StatusCode::CONFLICT,
            None,
            Some(
                "This provider is your only way to sign in, so it was not removed. Add a passkey or link another provider first.",
            ),
        ),
        Err(f) => return failure_page(f),
    };
    show_account(&state, &session, status, notice, error).await
}

pub fn routes() -> Vec<actix_web::Resource> {
    let form = || web::PayloadConfig::new(crate::params::MAX_FORM_BYTES);
    vec![
        web::resource(routes::ACCOUNT_UPSTREAM_REMOVE)
            .app_data(form())
            .route(web::post().to(remove_post)),
    ]
}
