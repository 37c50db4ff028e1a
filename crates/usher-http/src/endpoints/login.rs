//! `POST /authorize/login`: the login form. The CSRF token is consumed first (one use),
//! the attempt is throttled per account and per address, and the password is checked
//! with argon2id off the async executor — an unknown username costs the same time as a
//! wrong password and gets the same answer.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_domain::{
    Interaction, InteractionStep, Password, ProtocolError, Session, User, Username,
};

use crate::Core;
use crate::client_address;
use crate::cookies;
use crate::flow::{self, rejection};
use crate::pages::{self, FormState, LoginPage};
use crate::params;
use crate::respond::{Failure, blocking};
use crate::routes;
use crate::throttle;

const WRONG: &str = "The username or password is incorrect.";

async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return flow::bad_request_page("This form is not valid", &e.to_string()),
    };
    let p = match flow::pending(&state, &req, &form, InteractionStep::Login).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let typed = params::single(&form, "username")
        .unwrap_or("")
        .trim()
        .to_owned();
    // Reserved before the form is spent and the password checked: a locked key refuses
    // the attempt unchecked, however many arrive at once (throttle.rs), and writes
    // nothing — the form is shown again, still unspent, so a refused burst of first forms
    // stores no interaction.
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    let reserved = match throttle::reserve(&state, throttle::keys(&typed, &address)).await {
        Ok(throttle::Attempt::Allowed(reserved)) => reserved,
        Ok(throttle::Attempt::Throttled { wait }) => {
            crate::metrics::inc(crate::metrics::Counter::LoginThrottled, "");
            tracing::warn!(
                event = "login_throttled",
                "login attempt refused: too many failures"
            );
            let Some(unspent) = p.unspent_form(&form) else {
                return flow::failure_page(Failure::Internal);
            };
            return pages::login(
                StatusCode::TOO_MANY_REQUESTS,
                LoginPage {
                    client_name: p.client.registration.name.as_str(),
                    form: unspent,
                    username: &typed,
                    error: Some(&format!(
                        "Too many failed attempts. Wait {} and try again.",
                        plural_seconds(wait)
                    )),
                },
            );
        }
        Err(f) => return flow::failure_page(f),
    };
    // Spend the form: a form is good for one checked attempt.
    let (csrf, csrf_hash) = match flow::renew(&state, &p).await {
        Ok(v) => v,
        Err(page) => {
            // Never checked: the attempt counts nowhere.
            if let Err(f) = throttle::give_back(&state, reserved).await {
                return flow::failure_page(f);
            }
            return page;
        }
    };
    let again = |status: StatusCode, message: &str| {
        pages::login(
            status,
            LoginPage {
                client_name: p.client.registration.name.as_str(),
                form: FormState::Stored {
                    interaction: &p.interaction.id,
                    csrf: &csrf,
                },
                username: &typed,
                error: Some(message),
            },
        )
    };

    let password = params::single(&form, "password").unwrap_or("").to_owned();
    let user = match check_password(&state, &typed, password).await {
        Ok(u) => u,
        Err(f) => {
            // Never checked (the store failed, or the password-check pool was full): the
            // attempt counts nowhere, as if refused before it was reserved.
            if let Err(f) = throttle::give_back(&state, reserved).await {
                return flow::failure_page(f);
            }
            return flow::failure_page(f);
        }
    };
    let Some(user) = user else {
        crate::metrics::inc(crate::metrics::Counter::LoginFailures, "");
        tracing::info!(event = "login_failed", "login failed");
        return again(StatusCode::UNAUTHORIZED, WRONG);
    };
    if let Err(f) = throttle::succeeded(&state, reserved).await {
        return flow::failure_page(f);
    }

    // A fresh session for every login (no session fixation); the old one ends.
    let session = match new_session(&state, &req, &user).await {
        Ok(s) => s,
        Err(f) => return flow::failure_page(f),
    };
    let (session, session_id) = session;
    let cookie = cookies::make(
        &state.settings,
        cookies::SESSION,
        session_id,
        state.settings.session_ttl,
    );
    let mut response = continue_after_login(&state, p, csrf_hash, &session).await;
    if response.add_cookie(&cookie).is_err() {
        return flow::failure_page(Failure::Internal);
    }
    response
}

async fn continue_after_login(
    state: &Core,
    p: flow::Pending,
    csrf_hash: String,
    session: &Session,
) -> HttpResponse {
    let request = &p.request;
    let client_state = request.state.as_deref();
    if let Some(hint) = &request.id_token_hint {
        let matches = flow::hint_subject(state, hint)
            .await
            .is_ok_and(|s| s == session.user_id.as_str());
        if !matches {
            let _ = flow::finish(state, &p.interaction.id, &csrf_hash).await;
            return flow::redirect_error(
                state,
                request.redirect_uri.as_str(),
                client_state,
                &rejection(
                    ProtocolError::LoginRequired,
                    "the person who signed in is not the one the id_token_hint names",
                ),
            );
        }
    }
    match flow::consent_needed(state, &p.client, &session.user_id, request).await {
        Ok(true) => {
            let (csrf, next_hash) = match flow::secret_pair() {
                Ok(v) => v,
                Err(f) => return flow::failure_page(f),
            };
            let next = Interaction {
                csrf_hash: next_hash,
                step: InteractionStep::Consent,
                user_id: Some(session.user_id.clone()),
                auth_time: Some(session.auth_time),
                ..p.interaction.clone()
            };
            match flow::advance(state, &csrf_hash, &next).await {
                Ok(true) => {}
                Ok(false) => return flow::reused_form_page(),
                Err(f) => return flow::failure_page(f),
            }
            let username = flow::username_of(state, &session.user_id).await;
            let form = FormState::Stored {
                interaction: &p.interaction.id,
                csrf: &csrf,
            };
            flow::consent_page(&p.client, request, &username, form)
        }
        Ok(false) => match flow::finish(state, &p.interaction.id, &csrf_hash).await {
            Ok(true) => flow::issue_code(state, request, session).await,
            Ok(false) => flow::reused_form_page(),
            Err(f) => flow::failure_page(f),
        },
        Err(f) => flow::failure_page(f),
    }
}

/// The user, if the username exists and the password matches. Both failure kinds cost
/// one argon2id verification and return `None`.
async fn check_password(
    state: &Core,
    username: &str,
    password: String,
) -> Result<Option<User>, Failure> {
    let users = state.stores.users.clone();
    let username = Username::parse(username).ok();
    let user = match username {
        Some(u) => blocking(move || users.find_user(&u)).await?,
        None => None,
    };
    let verified = state
        .passwords
        .run(move || {
            let Ok(password) = Password::parse(password) else {
                // Empty or oversized: still spend the time, so nothing is learnt from it.
                let filler = Password::parse("x".to_owned()).ok();
                if let Some(f) = filler {
                    usher_keys::verify_password_dummy(&f);
                }
                return None;
            };
            match user {
                Some(u) if usher_keys::verify_password(&password, &u.password_hash) => Some(u),
                Some(_) => None,
                None => {
                    usher_keys::verify_password_dummy(&password);
                    None
                }
            }
        })
        .await?;
    Ok(verified)
}

/// Creates a session for `user` and ends the browser's previous one. The new session
/// inherits the previous one's lineage when it is the same person's (a
/// re-authentication); a different person's lineage is ended first, as by a logout
/// (`crate::lineage::for_login`).
async fn new_session(
    state: &Core,
    req: &HttpRequest,
    user: &User,
) -> Result<(Session, String), Failure> {
    let current = flow::current_session(state, req).await?;
    let lineage_hash = crate::lineage::for_login(state, current, &user.id).await?;
    let (id, id_hash) = flow::secret_pair()?;
    let (_, other_lineage) = flow::secret_pair()?;
    let now = state.now();
    let mut session = Session {
        id_hash,
        lineage_hash,
        user_id: user.id.clone(),
        auth_time: now,
        created_at: now,
        expires_at: now.plus(state.settings.session_ttl),
    };
    let sessions = state.stores.sessions.clone();
    let previous = cookies::read(req, &state.settings, cookies::SESSION)
        .map(|old| usher_keys::sha256_b64url(&old));
    let session = blocking(move || {
        if let Some(old) = previous
            && !sessions.delete_session(&old)?
        {
            // The session this browser named is gone: it expired, or a logout or
            // `user revoke-sessions` ended it while this login was being checked. Its
            // lineage must not come back to life with this session (codes issued in it
            // before that logout would be redeemable again): start a new one.
            session.lineage_hash = other_lineage;
        }
        sessions.insert_session(&session)?;
        Ok(session)
    })
    .await?;
    tracing::info!(event = "login", "person signed in");
    Ok((session, id))
}

fn plural_seconds(s: i64) -> String {
    if s == 1 {
        "1 second".to_owned()
    } else {
        format!("{s} seconds")
    }
}

pub fn routes() -> actix_web::Resource {
    web::resource(routes::LOGIN)
        .app_data(web::PayloadConfig::new(crate::params::MAX_FORM_BYTES))
        .route(web::post().to(post))
}
