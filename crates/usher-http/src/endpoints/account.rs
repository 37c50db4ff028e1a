//! `/account`: the person's account page and its Security section (issue 14). The
//! decisions are the core's ([`usher_core::account`]): who is signed in (the session
//! cookie only), the page's sign-in as the built-in client `usher-account`, the
//! single-use form tokens, the recent-sign-in rule, and every change. This reads the
//! cookies and forms, and renders the outcomes: pages (with `Cache-Control: no-store`,
//! they show secrets and codes), 303 redirects, and the sign-in cookie.
//!
//! - `GET /account`: the page; without a live session, 303 to `/authorize`;
//! - `GET /account/callback`: the sign-in's return (state checked, code redeemed);
//! - `POST /account/authenticator-app/setup|confirm|remove`, `POST
//!   /account/recovery-codes`: the changes. Each first passes
//!   [`account::begin_change`]; a stale sign-in is sent through `/authorize` with
//!   `max_age=300` and back.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::account::forms::{FormPurpose, FormRefusal};
use usher_core::account::login::{self, Callback, CallbackOutcome, CallbackRefusal, ReturnTo};
use usher_core::account::passkeys::{self, AddOutcome, OptionsOutcome};
use usher_core::account::recovery_codes::{self, RegenerateOutcome};
use usher_core::account::totp_setup::{self, ConfirmOutcome, RemoveOutcome, SetupOutcome};
use usher_core::account::{self, Change, Overview, RECENT_SIGN_IN_SECONDS, TotpState};
use usher_core::passkeys::RegistrationOutcome;
use usher_domain::authorize::RawParams;
use usher_domain::{PasskeyName, RecoveryCode, Session, UnixTime};

use super::passkey_options;
use crate::Core;
use crate::cookies;
use crate::flow::{bad_request_page, failure_page};
use crate::pages::{
    self, AccountPage, AppLine, BrowserView, PasskeyLine, RecoveryCodesPage, ScopeLine,
    UpstreamLine,
};
use crate::params;
use crate::qr;
use crate::respond::{Failure, redirect};
use crate::routes;

/// How long the sign-in cookie lives: the sign-in must finish within the interaction's
/// lifetime anyway.
fn sign_in_cookie_age(state: &Core) -> i64 {
    state.settings.interaction_ttl
}

/// 303 to `/authorize` for the account page's sign-in, setting the sign-in cookie.
pub(crate) fn start_sign_in(
    state: &Core,
    return_to: ReturnTo,
    max_age: Option<i64>,
) -> HttpResponse {
    let start = match login::start(state, return_to, max_age) {
        Ok(s) => s,
        Err(f) => return failure_page(f),
    };
    let cookie = cookies::make_scoped(
        &state.settings,
        cookies::ACCOUNT_SIGN_IN,
        start.cookie_value,
        sign_in_cookie_age(state),
        cookies::ACCOUNT_PATH,
    );
    let mut response = redirect(&start.location);
    if response.add_cookie(&cookie).is_err() {
        return failure_page(Failure::Internal);
    }
    response
}

pub(crate) fn session_cookie(req: &HttpRequest, state: &Core) -> Option<String> {
    cookies::read(req, &state.settings, cookies::SESSION)
}

/// A date and time for the page, in UTC.
pub(crate) fn when(t: UnixTime) -> String {
    chrono::DateTime::from_timestamp(t.seconds(), 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Renders the account page of `overview`.
pub(crate) fn account_page(
    status: StatusCode,
    overview: &Overview,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let (app_state, app_since, app_last_used) = match overview.security.totp {
        TotpState::None => ("none", String::new(), None),
        TotpState::Unconfirmed => ("unconfirmed", String::new(), None),
        TotpState::Active { since, last_used } => ("active", when(since), last_used.map(when)),
    };
    let passkeys = overview
        .passkeys
        .iter()
        .map(|p| PasskeyLine {
            id: p.id.clone(),
            name: p.name.as_str().to_owned(),
            created: when(p.created_at),
            last_used: p.last_used_at.map(when),
            suspect: p.suspect,
        })
        .collect();
    let apps = overview
        .apps
        .iter()
        .map(|a| AppLine {
            client_id: a.client_id.as_str().to_owned(),
            name: a.name.clone(),
            scopes: a
                .scopes
                .iter()
                .map(|s| ScopeLine::new(s.as_str()))
                .collect(),
            granted: when(a.granted_at),
            offline: a.offline,
        })
        .collect();
    let browsers = overview
        .browsers
        .iter()
        .map(|b| BrowserView {
            sid: b.sid.clone(),
            since: when(b.since),
            last_sign_in: when(b.last_sign_in),
            how: match b.amr.acr() {
                usher_domain::Acr::PhishingResistant => "a passkey",
                usher_domain::Acr::Mfa => "a password and a second factor",
                usher_domain::Acr::Password => "a password",
            },
            current: b.current,
            address: b.address.map(|a| a.to_string()),
            browser: b.user_agent.as_ref().map(|u| u.short()),
            user_agent: b.user_agent.as_ref().map(|u| u.as_str().to_owned()),
            apps: b.apps.clone(),
        })
        .collect();
    let upstreams = overview
        .upstreams
        .iter()
        .map(|u| UpstreamLine {
            upstream: u.upstream.as_str().to_owned(),
            name: u.name.clone(),
            subject: u.subject.clone(),
            linked: when(u.linked_at),
        })
        .collect();
    let page = AccountPage {
        username: &overview.username,
        profile: &overview.profile,
        csrf: &overview.form_token,
        app_state,
        app_since,
        app_last_used,
        codes_left: overview.security.recovery_codes_left,
        recent: overview.recent,
        notice,
        error,
        passkeys,
        passkeys_available: overview.passkeys_available,
        apps,
        browsers,
        upstreams,
    };
    if overview.passkeys_available {
        pages::render_with_script(status, &page)
    } else {
        pages::render(status, &page)
    }
}

/// The account page for `session` (or a new sign-in if the person is gone).
pub(crate) async fn show_account(
    state: &Core,
    session: &Session,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    match account::overview(state, session).await {
        Ok(Some(overview)) => account_page(status, &overview, notice, error),
        Ok(None) => start_sign_in(state, ReturnTo::Account, None),
        Err(f) => failure_page(f),
    }
}

async fn account_get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let cookie = session_cookie(&req, &state);
    match state.session(cookie.as_deref()).await {
        Ok(Some(session)) => show_account(&state, &session, StatusCode::OK, None, None).await,
        Ok(None) => start_sign_in(&state, ReturnTo::Account, None),
        Err(f) => failure_page(f),
    }
}

async fn callback_get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let query = match params::query(&req) {
        Ok(q) => q,
        Err(e) => return bad_request_page("This sign-in link is not valid", &e.to_string()),
    };
    let cookie = cookies::read_scoped(&req, &state.settings, cookies::ACCOUNT_SIGN_IN);
    let callback = Callback {
        cookie: cookie.as_deref(),
        state: params::single(&query, "state"),
        code: params::single(&query, "code"),
        error: params::single(&query, "error"),
    };
    let mut response = match login::finish(&state, callback).await {
        Ok(CallbackOutcome::SignedIn(return_to)) => redirect(&return_to.path()),
        Ok(CallbackOutcome::Refused(refusal)) => callback_refused(refusal),
        Err(f) => return failure_page(f),
    };
    let clear = cookies::clear_scoped(
        &state.settings,
        cookies::ACCOUNT_SIGN_IN,
        cookies::ACCOUNT_PATH,
    );
    if response.add_cookie(&clear).is_err() {
        return failure_page(Failure::Internal);
    }
    response
}

fn callback_refused(refusal: CallbackRefusal) -> HttpResponse {
    let (title, message) = match refusal {
        CallbackRefusal::NotStarted | CallbackRefusal::StateMismatch => (
            "This sign-in does not belong to this browser",
            "Cookies must be enabled to use your account page. Open your account page again to sign in.",
        ),
        CallbackRefusal::SignInFailed => (
            "Sign-in did not complete",
            "Open your account page again to sign in.",
        ),
        CallbackRefusal::CodeRefused => (
            "This sign-in has expired",
            "It took too long or was already used. Open your account page again to sign in.",
        ),
    };
    bad_request_page(title, message)
}

fn form_refused(refusal: FormRefusal) -> HttpResponse {
    let message = match refusal {
        FormRefusal::Expired => {
            "The page was open too long. Open your account page again and repeat the change."
        }
        FormRefusal::Unknown | FormRefusal::OtherSession | FormRefusal::WrongPurpose => {
            "Each form of the account page can be sent once, from the page it came with. Open your account page again and repeat the change."
        }
    };
    bad_request_page("This form cannot be used", message)
}

/// The gate of every change: the form, then [`account::begin_change`]. `Err` is the
/// response to send instead (a sign-in, or a refusal page).
pub(crate) async fn gate(
    req: &HttpRequest,
    body: &[u8],
    state: &Core,
    purpose: FormPurpose,
) -> Result<(Session, RawParams), HttpResponse> {
    let form = match params::form(req, body) {
        Ok(f) => f,
        Err(e) => return Err(bad_request_page("This form is not valid", &e.to_string())),
    };
    let cookie = session_cookie(req, state);
    let change = account::begin_change(
        state,
        cookie.as_deref(),
        params::single(&form, "csrf"),
        purpose,
    )
    .await;
    match change {
        Ok(Change::Allowed(session)) => Ok((session, form)),
        Ok(Change::SignedOut) => Err(start_sign_in(state, ReturnTo::Account, None)),
        Ok(Change::Stale) => Err(start_sign_in(
            state,
            ReturnTo::Security,
            Some(RECENT_SIGN_IN_SECONDS),
        )),
        Ok(Change::Weak) => Err(start_sign_in(state, ReturnTo::Security, Some(0))),
        Ok(Change::Refused(refusal)) => Err(form_refused(refusal)),
        Err(f) => Err(failure_page(f)),
    }
}

/// The setup page of `page`, with `error` if any.
fn setup_page(
    status: StatusCode,
    page: &totp_setup::TotpSetupPage,
    error: Option<&str>,
) -> HttpResponse {
    let Some(svg) = qr::svg(&page.uri, "QR code of your authenticator app's key") else {
        return failure_page(Failure::Internal);
    };
    pages::render(
        status,
        &pages::TotpSetupPage {
            handle: &page.handle,
            qr_svg: &svg,
            secret: &page.secret,
            uri: &page.uri,
            csrf: &page.form_token,
            error,
        },
    )
}

fn codes_page(title: &str, lead: &str, codes: &[RecoveryCode]) -> HttpResponse {
    pages::render(
        StatusCode::OK,
        &RecoveryCodesPage {
            title,
            lead,
            codes: codes.iter().map(ToString::to_string).collect(),
        },
    )
}

fn back_to_security() -> HttpResponse {
    redirect(&ReturnTo::Security.path())
}

async fn setup_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (session, _) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    match totp_setup::begin(&state, &session).await {
        Ok(SetupOutcome::Show(page)) => setup_page(StatusCode::OK, &page, None),
        Ok(SetupOutcome::AlreadySetUp) => back_to_security(),
        Err(f) => failure_page(f),
    }
}

async fn confirm_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (session, form) = match gate(&req, &body, &state, FormPurpose::TotpConfirm).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    let typed = params::single(&form, "code").unwrap_or("");
    let handle = params::single(&form, "setup").unwrap_or("");
    match totp_setup::confirm(&state, &session, typed, handle).await {
        Ok(ConfirmOutcome::Confirmed {
            recovery_codes: Some(codes),
        }) => codes_page(
            "Authenticator app added",
            "From now on, signing in asks for a code from your app after your password. If you lose the app, a recovery code lets you in instead. Every earlier sign-in has ended, this one too: sign in again with your app.",
            &codes,
        ),
        Ok(ConfirmOutcome::Confirmed {
            recovery_codes: None,
        })
        | Ok(ConfirmOutcome::NothingToConfirm) => back_to_security(),
        Ok(ConfirmOutcome::Malformed(page)) => setup_page(
            StatusCode::BAD_REQUEST,
            &page,
            Some("Type the six digits the app shows."),
        ),
        Ok(ConfirmOutcome::Wrong(page)) => setup_page(
            StatusCode::BAD_REQUEST,
            &page,
            Some("That code is not right. Check the app's clock and type the current code."),
        ),
        Ok(ConfirmOutcome::Throttled { wait, page }) => setup_page(
            StatusCode::TOO_MANY_REQUESTS,
            &page,
            Some(&format!(
                "Too many wrong codes. Wait {wait} second{} and try again.",
                if wait == 1 { "" } else { "s" }
            )),
        ),
        Err(f) => failure_page(f),
    }
}

async fn remove_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (session, form) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    if params::single(&form, "confirm") != Some("yes") {
        return show_account(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            None,
            Some("Tick “Yes, remove my authenticator app” to remove it."),
        )
        .await;
    }
    match totp_setup::remove(&state, &session).await {
        Ok(RemoveOutcome::Removed {
            recovery_codes_removed,
        }) => {
            let notice = if recovery_codes_removed {
                "Your authenticator app was removed, and your recovery codes with it."
            } else {
                "Your authenticator app was removed."
            };
            show_account(&state, &session, StatusCode::OK, Some(notice), None).await
        }
        Ok(RemoveOutcome::NothingToRemove) => back_to_security(),
        Err(f) => failure_page(f),
    }
}

async fn recovery_codes_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Core>,
) -> HttpResponse {
    let (session, _) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    match recovery_codes::regenerate(&state, &session).await {
        Ok(RegenerateOutcome::Generated(codes)) => codes_page(
            "New recovery codes",
            "Your old recovery codes no longer work.",
            &codes,
        ),
        Ok(RegenerateOutcome::NoSecondFactor) => back_to_security(),
        Err(f) => failure_page(f),
    }
}

/// `POST /account/passkeys/options`: the options of a new passkey, as JSON for the
/// page's script (`{"ceremony": …, "options": …}`); `403` when the session may not make
/// changes now (the page then reloads through sign-in) or the `Origin` is not the
/// issuer's ([`crate::flow::from_own_page`]), `404` without passkeys.
async fn passkey_options_post(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    if !crate::flow::from_own_page(&req, &state) {
        return HttpResponse::new(StatusCode::FORBIDDEN);
    }
    let cookie = session_cookie(&req, &state);
    let session = match state.session(cookie.as_deref()).await {
        Ok(Some(s)) => s,
        Ok(None) => return HttpResponse::new(StatusCode::FORBIDDEN),
        Err(f) => return failure_page(f),
    };
    let binding = cookies::browser_binding(&req, &state.settings);
    match passkeys::options(&state, &session, binding.as_deref()).await {
        Ok(OptionsOutcome::Started(started)) => {
            passkey_options::started_response(&state, binding.as_deref(), started)
        }
        Ok(OptionsOutcome::Busy { wait }) => passkey_options::busy(wait),
        Ok(OptionsOutcome::Full) => HttpResponse::new(StatusCode::CONFLICT),
        Ok(OptionsOutcome::NotNow(_)) => HttpResponse::new(StatusCode::FORBIDDEN),
        Ok(OptionsOutcome::Unavailable) => HttpResponse::new(StatusCode::NOT_FOUND),
        Err(f) => failure_page(f),
    }
}

/// `POST /account/passkeys/add`: the new passkey's answer, with the page's form token.
async fn passkey_add_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Core>,
) -> HttpResponse {
    let (session, form) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    let Ok(name) = PasskeyName::parse(params::single(&form, "name").unwrap_or("")) else {
        return show_account(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            None,
            Some("Give the passkey a name of at most 64 characters."),
        )
        .await;
    };
    let binding = cookies::browser_binding(&req, &state.settings);
    let outcome = passkeys::add(
        &state,
        &session,
        params::single(&form, "ceremony").unwrap_or(""),
        binding.as_deref(),
        params::single(&form, "credential").unwrap_or(""),
        &name,
    )
    .await;
    match outcome {
        Ok(AddOutcome::Added {
            recovery_codes: Some(codes),
        }) => codes_page(
            "Passkey added",
            "From now on you can sign in with your passkey, and a password sign-in asks for it. If you lose it, a recovery code lets you in instead. Every earlier sign-in has ended, this one too.",
            &codes,
        ),
        Ok(AddOutcome::Added {
            recovery_codes: None,
        }) => back_to_security(),
        Ok(AddOutcome::NotAdded(RegistrationOutcome::Duplicate)) => {
            show_account(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                None,
                Some("That passkey is already registered."),
            )
            .await
        }
        Ok(AddOutcome::NotAdded(RegistrationOutcome::Full)) => {
            show_account(
                &state,
                &session,
                StatusCode::CONFLICT,
                None,
                Some(&format!(
                    "You already have {} passkeys, the most an account may have. Remove one to add another.",
                    usher_core::passkeys::MAX_PASSKEYS
                )),
            )
            .await
        }
        Ok(AddOutcome::NotAdded(_)) | Ok(AddOutcome::Unavailable) => {
            show_account(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                None,
                Some("The passkey was not added. Try again."),
            )
            .await
        }
        Err(f) => failure_page(f),
    }
}

/// `POST /account/passkeys/remove`: removes the session's person's passkey `id` (a
/// passkey of anyone else's is not found).
async fn passkey_remove_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Core>,
) -> HttpResponse {
    let (session, form) = match gate(&req, &body, &state, FormPurpose::Account).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    let id = params::single(&form, "id").unwrap_or("");
    match passkeys::remove(&state, &session, id).await {
        Ok(true) => {
            show_account(
                &state,
                &session,
                StatusCode::OK,
                Some("The passkey was removed."),
                None,
            )
            .await
        }
        Ok(false) => back_to_security(),
        Err(f) => failure_page(f),
    }
}

pub fn routes() -> Vec<actix_web::Resource> {
    let form = || web::PayloadConfig::new(crate::params::MAX_FORM_BYTES);
    vec![
        web::resource(routes::ACCOUNT).route(web::get().to(account_get)),
        web::resource(routes::ACCOUNT_CALLBACK).route(web::get().to(callback_get)),
        web::resource(routes::ACCOUNT_TOTP_SETUP)
            .app_data(form())
            .route(web::post().to(setup_post)),
        web::resource(routes::ACCOUNT_TOTP_CONFIRM)
            .app_data(form())
            .route(web::post().to(confirm_post)),
        web::resource(routes::ACCOUNT_TOTP_REMOVE)
            .app_data(form())
            .route(web::post().to(remove_post)),
        web::resource(routes::ACCOUNT_RECOVERY_CODES)
            .app_data(form())
            .route(web::post().to(recovery_codes_post)),
        web::resource(routes::ACCOUNT_PASSKEY_OPTIONS)
            .app_data(form())
            .route(web::post().to(passkey_options_post)),
        web::resource(routes::ACCOUNT_PASSKEY_ADD)
            .app_data(form())
            .route(web::post().to(passkey_add_post)),
        web::resource(routes::ACCOUNT_PASSKEY_REMOVE)
            .app_data(form())
            .route(web::post().to(passkey_remove_post)),
    ]
}
