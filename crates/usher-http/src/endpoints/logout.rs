//! `GET`/`POST /logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! The request may carry `id_token_hint` (an ID token Usher signed; expired is fine),
//! `client_id`, `post_logout_redirect_uri` and `state`. Logging out ends the browser's
//! session (the record and the cookie) and its lineage (every earlier session of the
//! person in this browser), and revokes the *online* refresh-token families issued in
//! that lineage — not those granted `offline_access` (OpenID Connect Core §11: offline
//! access outlives logout; an administrator or the client can still revoke them), and
//! not the person's other devices. When the request is
//! not tied to the browser's person by a valid hint, the person confirms on a page first
//! (a form that POSTs back here; the session cookie is `SameSite=Lax`, so a cross-site
//! forged POST arrives without it and ends nothing). Usher redirects afterwards only to
//! a `post_logout_redirect_uri` registered for the client the request is tied to — matched
//! like redirect URIs: byte for byte, except the port of a loopback IP literal (RFC 8252
//! §7.3) — otherwise it shows the "signed out" page.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use usher_domain::Client;
use usher_domain::authorize::RawParams;

use crate::cookies;
use crate::flow::{bad_request_page, current_session, failure_page, load_client};
use crate::pages::{self, LogoutConfirmPage};
use crate::params;
use crate::respond::{redirect, with_query};
use crate::routes;
use crate::state::AppState;

/// What a valid `id_token_hint` says.
struct Hint {
    subject: String,
    audiences: Vec<String>,
}

fn read_hint(state: &AppState, raw: &str) -> Option<Hint> {
    let (_, claims) = state.published_keys().ring.verify_jwt(raw).ok()?;
    if claims.get("iss").and_then(Value::as_str) != Some(state.settings.issuer.as_str()) {
        return None;
    }
    let subject = claims.get("sub").and_then(Value::as_str)?.to_owned();
    let audiences = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return None,
    };
    Some(Hint { subject, audiences })
}

fn invalid(message: &str) -> HttpResponse {
    bad_request_page("This sign-out request is not valid", message)
}

async fn logout(
    req: HttpRequest,
    params: RawParams,
    is_post: bool,
    state: &AppState,
) -> HttpResponse {
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return invalid("A parameter is repeated.");
    }
    let one = |name: &str| params::single(&params, name);
    let hint = match one("id_token_hint") {
        None => None,
        Some(raw) => match read_hint(state, raw) {
            Some(h) => Some(h),
            None => return invalid("The id_token_hint is not an ID token issued by this server."),
        },
    };
    let client_id = match (one("client_id"), &hint) {
        (Some(c), Some(h)) if !h.audiences.iter().any(|a| a == c) => {
            return invalid("client_id does not match the id_token_hint.");
        }
        (Some(c), _) => Some(c.to_owned()),
        (None, Some(h)) if h.audiences.len() == 1 => h.audiences.first().cloned(),
        (None, _) => None,
    };
    let client: Option<Client> = match &client_id {
        None => None,
        Some(id) => match load_client(state, id).await {
            Ok(Some(c)) => Some(c),
            Ok(None) => return invalid("The application that sent you here is not registered."),
            Err(f) => return failure_page(f),
        },
    };
    let requested_uri = one("post_logout_redirect_uri");
    let target = match (requested_uri, &client) {
        (Some(uri), Some(c))
            if c.registration
                .post_logout_redirect_uris
                .iter()
                .any(|r| r.matches(uri)) =>
        {
            Some(uri)
        }
        (Some(_), _) => {
            tracing::info!(client_id = ?client_id, "post_logout_redirect_uri is not registered for the client; no redirect");
            None
        }
        (None, _) => None,
    };
    let client_state = one("state");

    let session = match current_session(state, &req).await {
        Ok(s) => s,
        Err(f) => return failure_page(f),
    };
    let confirmed = is_post && one("confirm") == Some("yes");
    let ask = match (&session, &hint) {
        (None, _) => false,
        (Some(_), _) if confirmed => false,
        (Some(s), Some(h)) => s.user_id.as_str() != h.subject,
        (Some(_), None) => true,
    };
    if ask {
        return pages::logout_confirm(LogoutConfirmPage {
            client_name: client.as_ref().map(|c| c.registration.name.as_str()),
            client_id: client.as_ref().map(|c| c.id.as_str()),
            post_logout_redirect_uri: target,
            state: client_state,
        });
    }

    if let Some(session) = &session {
        // Ends the session's lineage (crate::lineage::end): its online families are
        // revoked first — if they cannot be, nothing ends and the person is told to try
        // again (fail closed) — then its sessions; families granted offline_access stay.
        let revoked = match crate::lineage::end(state, session).await {
            Ok(n) => n,
            Err(f) => return failure_page(f),
        };
        tracing::info!(client_id = ?client_id, families_revoked = revoked, "browser session ended by logout");
    }
    let mut response = match target {
        Some(uri) => {
            let pairs: Vec<(&str, &str)> = client_state.map(|s| ("state", s)).into_iter().collect();
            redirect(&with_query(uri, &pairs))
        }
        None => pages::logged_out(),
    };
    let _ = response.add_removal_cookie(&cookies::clear(&state.settings, cookies::SESSION));
    response
}

async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match params::query(&req) {
        Ok(p) => logout(req, p, false, &state).await,
        Err(e) => invalid(&e.to_string()),
    }
}

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    match params::form(&req, &body) {
        Ok(p) => logout(req, p, true, &state).await,
        Err(e) => invalid(&e.to_string()),
    }
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::LOGOUT)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::get().to(get))
        .route(web::post().to(post))
}
