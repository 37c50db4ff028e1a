//! `GET`/`POST /logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! The request may carry `id_token_hint` (an ID token Usher issued to a registered
//! client, checked by [`IdTokenHint::verify`]; expired is accepted),
//! `client_id`, `post_logout_redirect_uri` and `state`. Logging out ends the browser's
//! session (the record and the cookie) and its lineage (every earlier session of the
//! person in this browser), and revokes the *online* refresh-token families issued in
//! that lineage — not those granted `offline_access` (OpenID Connect Core §11: offline
//! access outlives logout; an administrator or the client can still revoke them), and
//! not the person's other devices.
//!
//! The session ends without a question only when the hint names the browser's person, has
//! not expired, and was issued to the client the request is for. Otherwise the person
//! confirms on a page first: its form POSTs back here with a single-use token bound to
//! the browser session (`csrf`: a nonce, an expiry and a MAC over them and the session
//! id's hash, under a sub-key of the KEK). Nothing is stored when the page is shown; the
//! POST records the nonce as spent (one `INSERT`, exactly one winner however many race)
//! before it ends anything. A POST without a valid, unspent token for this session ends
//! nothing and gets the question again. A POST that carries no session cookie at all
//! (any cross-site POST: the cookie is `SameSite=Lax`) ends and clears nothing; it is
//! sent to the same request as a `GET`, which the browser makes with its cookie. Usher redirects afterwards only to a
//! `post_logout_redirect_uri` registered for the client the request is tied to — matched
//! like redirect URIs: byte for byte, except the port of a loopback IP literal (RFC 8252
//! §7.3) — otherwise it shows the "signed out" page.

use actix_web::{HttpRequest, HttpResponse, web};
use usher_domain::authorize::RawParams;
use usher_domain::{Client, UnixTime};

use crate::Core;
use crate::cookies;
use crate::flow::{bad_request_page, current_session, failure_page, load_client};
use crate::id_token_hint::{HintError, IdTokenHint};
use crate::pages::{self, LogoutConfirmPage};
use crate::params;
use crate::respond::{Failure, blocking, redirect, with_query};
use crate::routes;

/// What the confirmation token's MAC covers, after this label.
const CONFIRM_LABEL: &str = "usher logout confirmation v1";

/// The MAC of a confirmation token for `session_hash`, `nonce` and `expires_at`.
fn confirmation_tag(state: &Core, session_hash: &str, nonce: &str, expires_at: i64) -> String {
    let mac = state.secrets.hash(&format!(
        "{CONFIRM_LABEL}\u{0}{session_hash}\u{0}{nonce}\u{0}{expires_at}"
    ));
    mac.strip_prefix("hmac-sha256.").unwrap_or(&mac).to_owned()
}

/// A fresh confirmation token for the session `session_hash`: `nonce.expiry.tag`, good
/// for as long as an interaction (`interaction_ttl`).
fn confirmation_token(state: &Core, session_hash: &str) -> Result<String, Failure> {
    let nonce = usher_keys::random_token(16).map_err(|e| {
        tracing::error!(cause = %e, "no randomness");
        Failure::Internal
    })?;
    let expires_at = state.now().plus(state.settings.interaction_ttl).seconds();
    let tag = confirmation_tag(state, session_hash, &nonce, expires_at);
    Ok(format!("{nonce}.{expires_at}.{tag}"))
}

/// A confirmation token that checks out for `session_hash`: not expired, MAC valid
/// (compared in constant time). Returns the nonce's hash and expiry, for spending it.
fn check_confirmation(state: &Core, session_hash: &str, token: &str) -> Option<(String, UnixTime)> {
    let mut parts = token.split('.');
    let (Some(nonce), Some(expires_at), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let expires_at: i64 = expires_at.parse().ok()?;
    if nonce.is_empty() || UnixTime(expires_at) <= state.now() {
        return None;
    }
    let expected = confirmation_tag(state, session_hash, nonce, expires_at);
    let valid =
        expected.len() == tag.len() && openssl::memcmp::eq(expected.as_bytes(), tag.as_bytes());
    valid.then(|| (usher_keys::sha256_b64url(nonce), UnixTime(expires_at)))
}

/// Whether the POSTed form carries a confirmation token for this session that was not
/// used before — and spends it. Of any number of racing requests with one token, one
/// gets `true`.
async fn spend_confirmation(
    state: &Core,
    session_hash: &str,
    token: Option<&str>,
) -> Result<bool, Failure> {
    let Some((nonce_hash, expires_at)) =
        token.and_then(|t| check_confirmation(state, session_hash, t))
    else {
        return Ok(false);
    };
    let nonces = state.stores.nonces.clone();
    let spent = blocking(move || nonces.spend_nonce(&nonce_hash, expires_at)).await?;
    if !spent {
        tracing::info!(
            event = "logout_confirmation_reused",
            "a logout confirmation was posted again; nothing ended"
        );
    }
    Ok(spent)
}

fn invalid(message: &str) -> HttpResponse {
    bad_request_page("This sign-out request is not valid", message)
}

async fn logout(req: HttpRequest, params: RawParams, is_post: bool, state: &Core) -> HttpResponse {
    if params::reject_repeats(&params, &[]).is_err() {
        return invalid("A parameter is repeated.");
    }
    let one = |name: &str| params::single(&params, name);
    let hint = match one("id_token_hint") {
        None => None,
        Some(raw) => match IdTokenHint::verify(state, raw).await {
            Ok(h) => Some(h),
            Err(HintError::Invalid) => {
                return invalid("The id_token_hint is not an ID token issued by this server.");
            }
            Err(HintError::Failure(f)) => return failure_page(f),
        },
    };
    let client_id = match (one("client_id"), &hint) {
        (Some(c), Some(h)) if h.audience.as_str() != c => {
            return invalid("client_id does not match the id_token_hint.");
        }
        (Some(c), _) => Some(c.to_owned()),
        (None, Some(h)) => Some(h.audience.as_str().to_owned()),
        (None, None) => None,
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
    // Without a question only for a live hint of this person, issued to this client.
    let ask = match (&session, &hint, &client) {
        (None, _, _) => false,
        (Some(s), Some(h), Some(c)) => !(h.subject == s.user_id.as_str() && h.is_live_for(&c.id)),
        (Some(_), _, _) => true,
    };
    if let (true, Some(s)) = (ask, &session) {
        let confirmed = is_post
            && one("confirm") == Some("yes")
            && match spend_confirmation(state, &s.id_hash, one("csrf")).await {
                Ok(spent) => spent,
                Err(f) => return failure_page(f),
            };
        if !confirmed {
            let csrf = match confirmation_token(state, &s.id_hash) {
                Ok(t) => t,
                Err(f) => return failure_page(f),
            };
            return pages::logout_confirm(LogoutConfirmPage {
                csrf: &csrf,
                client_name: client.as_ref().map(|c| c.registration.name.as_str()),
                client_id: client.as_ref().map(|c| c.id.as_str()),
                post_logout_redirect_uri: target,
                state: client_state,
            });
        }
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
