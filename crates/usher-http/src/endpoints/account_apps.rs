//! `POST /account/apps/remove`: "Remove access" of a connected app on the account page
//! (issue 15, [`usher_core::account::apps::remove`]): the form's single-use token, a
//! recent sign-in, then the consent is forgotten and the app's refresh tokens of the
//! person stop working. The page comes back with a notice; an app the person is not
//! connected to (or a made-up id) changes nothing and says so.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::account::apps::{self, RemoveOutcome};
use usher_core::account::forms::FormPurpose;

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
    let client = params::single(&form, "client_id").unwrap_or("");
    let (status, notice, error) = match apps::remove(&state, &session, client).await {
        Ok(RemoveOutcome::Removed { .. }) => (
            StatusCode::OK,
            Some("The app's access was removed. It will ask for your consent again."),
            None,
        ),
        Ok(RemoveOutcome::NotConnected) => (
            StatusCode::NOT_FOUND,
            None,
            Some("That app is not connected to your account."),
        ),
        Err(f) => return failure_page(f),
    };
    show_account(&state, &session, status, notice, error).await
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::ACCOUNT_APPS_REMOVE)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(remove_post))
}
