//! `GET` and `POST /authorize` (RFC 6749 §3.1, OIDC Core §3.1.2): validate the request,
//! then sign the person in, ask for consent, or issue a code at once.

use actix_web::{HttpRequest, HttpResponse, web};
use usher_domain::authorize::{
    AuthorizationRequest, Params, RawParams, identify_client, resolve_redirect_uri,
};
use usher_domain::{InteractionStep, ProtocolError};

use crate::Core;
use crate::flow::{self, rejection};
use crate::params::{self, ParamError};
use crate::routes;

async fn get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    match params::query(&req) {
        Ok(p) => authorize(&req, &state, p).await,
        Err(e) => bad_params(&e),
    }
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    match params::form(&req, &body) {
        Ok(p) => authorize(&req, &state, p).await,
        Err(e) => bad_params(&e),
    }
}

fn bad_params(e: &ParamError) -> HttpResponse {
    flow::bad_request_page("This sign-in link is not valid", &e.to_string())
}

async fn authorize(req: &HttpRequest, state: &Core, raw: RawParams) -> HttpResponse {
    let params = Params::new(&raw);
    let untrusted = |e: usher_domain::authorize::UntrustedError| {
        tracing::info!(cause = %e, "authorization request refused without redirect");
        flow::bad_request_page("This sign-in link is not valid", &e.to_string())
    };
    let (client_id, sent_redirect) = match identify_client(&params) {
        Ok(v) => v,
        Err(e) => return untrusted(e),
    };
    let client = match flow::load_client(state, client_id.as_str()).await {
        Ok(Some(c)) => c,
        Ok(None) => return untrusted(usher_domain::authorize::UntrustedError::UnknownClient),
        Err(f) => return flow::failure_page(f),
    };
    let redirect_uri = match resolve_redirect_uri(&client, sent_redirect.as_deref()) {
        Ok(r) => r,
        Err(e) => return untrusted(e),
    };
    // From here on the redirect URI is trusted: errors go back to the client.
    let client_state = params.one("state").ok().flatten().map(str::to_owned);
    let fail = |r| flow::redirect_error(state, redirect_uri.as_str(), client_state.as_deref(), &r);
    let request = match AuthorizationRequest::parse(
        &params,
        &client,
        redirect_uri.clone(),
        sent_redirect.is_some(),
    ) {
        Ok(r) => r,
        Err(r) => return fail(r),
    };
    let hinted = match &request.id_token_hint {
        Some(hint) => match flow::hint_subject(state, hint).await {
            Ok(sub) => Some(sub),
            Err(r) => return fail(r),
        },
        None => None,
    };
    let session = match flow::current_session(state, req).await {
        Ok(s) => s,
        Err(f) => return flow::failure_page(f),
    };
    if let (Some(sub), Some(s)) = (&hinted, &session)
        && sub != s.user_id.as_str()
    {
        return fail(rejection(
            ProtocolError::LoginRequired,
            "the id_token_hint names another person than the one signed in",
        ));
    }

    let now = state.now().seconds();
    let session = match session {
        Some(s) if !flow::login_needed(&request, Some(&s), now) => s,
        _ if request.prompt.none => {
            return fail(rejection(
                ProtocolError::LoginRequired,
                "the person is not signed in (or must sign in again) and prompt=none was sent",
            ));
        }
        _ => {
            return flow::start_interaction(
                state,
                req,
                &client,
                &request,
                InteractionStep::Login,
                None,
            )
            .await;
        }
    };
    match flow::consent_needed(state, &client, &session.user_id, &request).await {
        Ok(false) => flow::issue_code(state, &request, &session).await,
        // OIDC Core §3.1.2.6: interaction_required, not consent_required, because no
        // remembered consent will ever let this client through without a page.
        Ok(true)
            if request.prompt.none
                && !client.may_skip_interaction(request.redirect_uri.as_str()) =>
        {
            fail(rejection(
                ProtocolError::InteractionRequired,
                "this public client's redirect URI cannot prove its identity, so the person must approve every sign-in on a page; prompt=none cannot be honoured",
            ))
        }
        Ok(true) if request.prompt.none => fail(rejection(
            ProtocolError::ConsentRequired,
            "the person has not consented to these scopes and prompt=none was sent",
        )),
        Ok(true) => {
            flow::start_interaction(
                state,
                req,
                &client,
                &request,
                InteractionStep::Consent,
                Some((session.user_id.clone(), session.auth_time)),
            )
            .await
        }
        Err(f) => flow::failure_page(f),
    }
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::AUTHORIZE)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::get().to(get))
        .route(web::post().to(post))
}
