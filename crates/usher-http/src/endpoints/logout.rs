//! `GET`/`POST /logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! What a request does is decided in [`usher_core::logout`]: which `id_token_hint`,
//! `client_id` and `post_logout_redirect_uri` are accepted, whether the person is asked
//! first (with a single-use confirmation token bound to the browser session), and ending
//! the session's lineage (its online refresh-token families with it; offline ones stay).
//! This module reads the parameters and the session cookie, and renders the outcome: the
//! confirmation page, or the redirect (with `state`) or the "signed out" page with the
//! session cookie cleared, or an error page (nothing ends, no cookie changes).
//!
//! A POST that carries no session cookie at all (any cross-site POST: the cookie is
//! `SameSite=Lax`) ends and clears nothing here: it is sent to the same request as a
//! `GET`, which the browser makes with its cookie.

use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::logout::{
    InvalidLogout, LogoutError, LogoutOutcome, LogoutRequest, Method, PostLogoutRedirect,
};
use usher_domain::authorize::RawParams;

use crate::Core;
use crate::cookies;
use crate::flow::{bad_request_page, failure_page};
use crate::pages::{self, LogoutConfirmPage};
use crate::params;
use crate::respond::{redirect, with_query};
use crate::routes;

fn invalid(message: &str) -> HttpResponse {
    bad_request_page("This sign-out request is not valid", message)
}

async fn logout(req: HttpRequest, params: RawParams, is_post: bool, state: &Core) -> HttpResponse {
    if params::reject_repeats(&params, &[]).is_err() {
        return invalid("A parameter is repeated.");
    }
    let one = |name: &str| params::single(&params, name);
    let cookie = cookies::read(&req, &state.settings, cookies::SESSION);
    let request = LogoutRequest {
        method: if is_post { Method::Post } else { Method::Get },
        id_token_hint: one("id_token_hint"),
        client_id: one("client_id"),
        post_logout_redirect_uri: one("post_logout_redirect_uri"),
        state: one("state"),
        confirm: one("confirm"),
        csrf: one("csrf"),
        session_cookie: cookie.as_deref(),
    };
    let outcome = match usher_core::logout::logout(state, &request).await {
        Ok(outcome) => outcome,
        Err(LogoutError::Failure(f)) => return failure_page(f),
        Err(LogoutError::Invalid(why)) => {
            return invalid(match why {
                InvalidLogout::HintNotOurs => {
                    "The id_token_hint is not an ID token issued by this server."
                }
                InvalidLogout::ClientMismatch => "client_id does not match the id_token_hint.",
                InvalidLogout::UnknownClient => {
                    "The application that sent you here is not registered."
                }
            });
        }
    };
    match outcome {
        LogoutOutcome::Confirm {
            csrf,
            client,
            post_logout_redirect_uri,
            state: client_state,
        } => pages::logout_confirm(LogoutConfirmPage {
            csrf: &csrf,
            client_name: client.as_ref().map(|c| c.registration.name.as_str()),
            client_id: client.as_ref().map(|c| c.id.as_str()),
            post_logout_redirect_uri,
            state: client_state,
        }),
        LogoutOutcome::LoggedOut { redirect: to, .. } => {
            let mut response = match to {
                Some(PostLogoutRedirect {
                    uri,
                    state: client_state,
                }) => {
                    let pairs: Vec<(&str, &str)> =
                        client_state.map(|s| ("state", s)).into_iter().collect();
                    redirect(&with_query(uri, &pairs))
                }
                None => pages::logged_out(),
            };
            let _ = response.add_removal_cookie(&cookies::clear(&state.settings, cookies::SESSION));
            response
        }
    }
}

async fn get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    match params::query(&req) {
        Ok(p) => logout(req, p, false, &state).await,
        Err(e) => invalid(&e.to_string()),
    }
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    match params::form(&req, &body) {
        Ok(p) if cookies::read(&req, &state.settings, cookies::SESSION).is_none() => {
            again_as_get(&state, &p)
        }
        Ok(p) => logout(req, p, true, &state).await,
        Err(e) => invalid(&e.to_string()),
    }
}

/// A POST that arrived without the session cookie: the cookie is `SameSite=Lax`, so a
/// cross-site POST (an RP's logout form, or a forged one) never carries it, and ending
/// "no session" there would answer "signed out" — and clear the cookie — while the
/// session and its families live on. Instead the browser is sent to the same request as
/// a `GET` (303), a top-level navigation that does carry the cookie, where the hint and
/// the confirmation decide as usual. The confirmation's own fields are not carried over.
fn again_as_get(state: &Core, params: &RawParams) -> HttpResponse {
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| CARRIED.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let location = with_query(&state.settings.issuer.endpoint(routes::LOGOUT), &pairs);
    if location.len() > MAX_CARRIED_URL {
        return invalid(
            "This sign-out request is too long to continue. Sign out from this site's own page.",
        );
    }
    redirect(&location)
}

/// The parameters of RP-Initiated Logout that a cookie-less POST carries over to its GET.
const CARRIED: [&str; 6] = [
    "id_token_hint",
    "logout_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

/// The longest `Location` [`again_as_get`] sends: proxies refuse response heads (and
/// browsers request lines) much beyond a few KiB; an ID token hint is well under it.
const MAX_CARRIED_URL: usize = 8 * 1024;

pub fn routes() -> actix_web::Resource {
    web::resource(routes::LOGOUT)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::get().to(get))
        .route(web::post().to(post))
}
