//! "Where you are signed in" on the account page (issue 15,
//! [`usher_core::account::sessions`]):
//!
//! - `POST /account/sessions/sign-out` (`sid`): signs one browser out, as a logout of it;
//! - `POST /account/sessions/sign-out-everywhere`: ends every session and refresh family
//!   of the person.
//!
//! Both pass the account gate (single-use form token, recent sign-in). When the browser
//! showing the page is among those signed out, the answer is the signed-out page and the
//! session cookie is cleared; otherwise the account page with a notice.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::account::forms::FormPurpose;
use usher_core::account::sessions::{self, SignOutOutcome};

use super::account::{gate, show_account};
use crate::Core;
use crate::cookies;
use crate::flow::failure_page;
use crate::pages;
use crate::params;
use crate::routes;

/// The signed-out page, with the session cookie cleared.
fn signed_out(state: &Core) -> HttpResponse {
    let mut response = pages::logged_out();
    let _ = response.add_removal_cookie(&cookies::clear(&state.settings, cookies::SESSION));
    response
}

async fn sign_out_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (session, form) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    let sid = params::single(&form, "sid").unwrap_or("");
    match sessions::sign_out(&state, &session, sid).await {
        Ok(SignOutOutcome::SignedOut {
            was_current: true, ..
        }) => signed_out(&state),
        Ok(SignOutOutcome::SignedOut { .. }) => {
            show_account(
                &state,
                &session,
                StatusCode::OK,
                Some("That browser is signed out."),
                None,
            )
            .await
        }
        Ok(SignOutOutcome::NotFound) => {
            show_account(
                &state,
                &session,
                StatusCode::NOT_FOUND,
                None,
                Some("You are not signed in there any more."),
            )
            .await
        }
        Err(f) => failure_page(f),
    }
}

async fn everywhere_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Core>,
) -> HttpResponse {
    let (session, _) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    match sessions::sign_out_everywhere(&state, &session).await {
        Ok(_) => signed_out(&state),
        Err(f) => failure_page(f),
    }
}

pub fn routes() -> Vec<actix_web::Resource> {
    let form = || web::PayloadConfig::new(crate::params::MAX_FORM_BYTES);
    vec![
        web::resource(routes::ACCOUNT_SESSION_SIGN_OUT)
            .app_data(form())
            .route(web::post().to(sign_out_post)),
        web::resource(routes::ACCOUNT_SIGN_OUT_EVERYWHERE)
            .app_data(form())
            .route(web::post().to(everywhere_post)),
    ]
}
