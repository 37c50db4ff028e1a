//! `POST /authorize/consent`: the person approves or denies. Approval is remembered for
//! the person, the client and the scopes; denial goes back as `access_denied`.

use actix_web::{HttpRequest, HttpResponse, web};
use usher_domain::{InteractionStep, ProtocolError};

use crate::Core;
use crate::flow::{self, rejection};
use crate::params;
use crate::respond::blocking;
use crate::routes;

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return flow::bad_request_page("This form is not valid", &e.to_string()),
    };
    let p = match flow::pending(&state, &req, &form, InteractionStep::Consent).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let approve = match params::single(&form, "decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return flow::bad_request_page(
                "This form is incomplete",
                "Choose Allow or Deny. Go back to the application and start again if this persists.",
            );
        }
    };
    // The person who consents must still be the one signed in in this browser.
    let session = match flow::current_session(&state, &req).await {
        Ok(Some(s)) if Some(&s.user_id) == p.interaction.user_id.as_ref() => s,
        Ok(_) => {
            return flow::bad_request_page(
                "You are no longer signed in",
                "Go back to the application and sign in again.",
            );
        }
        Err(f) => return flow::failure_page(f),
    };
    if let Err(page) = flow::conclude(&state, &p).await {
        return page;
    }
    let request = &p.request;
    if !approve {
        tracing::info!(client_id = %p.client.id, "consent denied");
        return flow::redirect_error(
            &state,
            request.redirect_uri.as_str(),
            request.state.as_deref(),
            &rejection(ProtocolError::AccessDenied, "the person denied the request"),
        );
    }
    let consents = state.stores.consents.clone();
    let (user, client_id, now) = (session.user_id.clone(), p.client.id.clone(), state.now());
    let requested = request.scope.clone();
    let saved = blocking(move || {
        let mut granted = consents.get_consent(&user, &client_id)?.unwrap_or_default();
        granted = granted.union(&requested);
        consents.save_consent(&user, &client_id, &granted, now)
    })
    .await;
    if let Err(f) = saved {
        return flow::failure_page(f);
    }
    flow::issue_code(&state, request, &session).await
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::CONSENT)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
