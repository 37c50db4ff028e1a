//! The forgotten password and the verification of an address (issue 15): the pages a
//! person reaches from "Forgot your password?" on the sign-in page and from the links
//! Usher mails. The decisions are the core's ([`usher_core::mail`]); this reads the
//! query and forms and renders pages (`Cache-Control: no-store`, `Referrer-Policy:
//! no-referrer`, so a link's token leaves the page in no `Referer`).
//!
//! - `GET /password/forgot`: the form; `POST`: the same answer for every address;
//! - `GET /password/reset?token=…`: the new-password form (spends nothing); `POST`: the
//!   change;
//! - `GET /account/verify-email?token=…`: a confirm button (a scanner opening the link
//!   changes nothing); `POST` with the token marks the address verified.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::account::forms::FormRefusal;
use usher_core::mail::{self, Forgot, ResetForm, ResetOutcome, Verified};

use crate::Core;
use crate::client_address;
use crate::flow::{bad_request_page, failure_page, plural_seconds};
use crate::pages::{self, NoticePage, PasswordForgotPage, PasswordResetPage, VerifyEmailPage};
use crate::params;
use crate::routes;

/// The forgot page with a fresh form token.
async fn forgot_page(state: &Core, status: StatusCode, error: Option<&str>) -> HttpResponse {
    match mail::forgot_form(state).await {
        Ok(csrf) => pages::render(
            status,
            &PasswordForgotPage {
                csrf: &csrf,
                sent: false,
                error,
            },
        ),
        Err(f) => failure_page(f),
    }
}

async fn forgot_get(state: web::Data<Core>) -> HttpResponse {
    forgot_page(&state, StatusCode::OK, None).await
}

async fn forgot_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return bad_request_page("This form is not valid", &e.to_string()),
    };
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    let typed = params::single(&form, "email").unwrap_or("");
    match mail::forgot(&state, params::single(&form, "csrf"), typed, &address).await {
        Ok(Forgot::Accepted) => pages::render(
            StatusCode::OK,
            &PasswordForgotPage {
                csrf: "",
                sent: true,
                error: None,
            },
        ),
        Ok(Forgot::NotAnAddress) => {
            forgot_page(
                &state,
                StatusCode::BAD_REQUEST,
                Some("Type an e-mail address, such as name@example.org."),
            )
            .await
        }
        Ok(Forgot::Throttled { wait }) => {
            let message = format!(
                "Too many requests from your network. Try again in {}.",
                plural_seconds(wait)
            );
            forgot_page(&state, StatusCode::TOO_MANY_REQUESTS, Some(&message)).await
        }
        Ok(Forgot::Refused(refusal)) => {
            forgot_page(&state, StatusCode::BAD_REQUEST, Some(refused(refusal))).await
        }
        Err(f) => failure_page(f),
    }
}

fn refused(refusal: FormRefusal) -> &'static str {
    match refusal {
        FormRefusal::Expired => "The page was open too long. Please send the form again.",
        FormRefusal::Unknown | FormRefusal::OtherSession | FormRefusal::WrongPurpose => {
            "This form was sent already or did not come from this page. Please send it again."
        }
    }
}

fn link_invalid() -> HttpResponse {
    bad_request_page(
        "This link does not work",
        "It was used already, is older than 30 minutes, or was replaced by a newer one. Ask for a new link from the sign-in page (\u{201c}Forgot your password?\u{201d}).",
    )
}

fn reset_page(
    status: StatusCode,
    csrf: &str,
    token: &str,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    pages::render(
        status,
        &PasswordResetPage {
            csrf,
            token,
            username,
            error,
        },
    )
}

async fn reset_get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let query = match params::query(&req) {
        Ok(q) => q,
        Err(_) => return link_invalid(),
    };
    let token = params::single(&query, "token").unwrap_or("");
    match mail::reset_form(&state, token).await {
        Ok(ResetForm::Show {
            username,
            form_token,
        }) => reset_page(StatusCode::OK, &form_token, token, &username, None),
        Ok(ResetForm::Invalid) => link_invalid(),
        Err(f) => failure_page(f),
    }
}

async fn reset_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return bad_request_page("This form is not valid", &e.to_string()),
    };
    let token = params::single(&form, "token").unwrap_or("");
    let password = params::single(&form, "password").unwrap_or("").to_owned();
    let confirm = params::single(&form, "confirm").unwrap_or("");
    let outcome = mail::reset(
        &state,
        token,
        params::single(&form, "csrf"),
        password,
        confirm,
    )
    .await;
    match outcome {
        Ok(ResetOutcome::Done { .. }) => pages::render(
            StatusCode::OK,
            &NoticePage {
                title: "Your password was changed",
                message: "Every browser and app that was signed in to your account has been signed out. Sign in again with your new password.",
            },
        ),
        Ok(ResetOutcome::BadPassword {
            message,
            username,
            form_token,
        }) => reset_page(
            StatusCode::BAD_REQUEST,
            &form_token,
            token,
            &username,
            Some(&message),
        ),
        Ok(ResetOutcome::Refused(refusal)) => bad_request_page(
            "This form cannot be used",
            match refusal {
                FormRefusal::Expired => {
                    "The page was open too long. Open the link from your mail again."
                }
                _ => {
                    "The form was sent already or did not come from this link. Open the link from your mail again."
                }
            },
        ),
        Ok(ResetOutcome::Invalid) => link_invalid(),
        Err(f) => failure_page(f),
    }
}

/// Opening the link only shows the confirm button: a mail scanner that opens every link
/// must not verify an address for whoever typed it into their account.
async fn verify_get(req: HttpRequest) -> HttpResponse {
    let query = match params::query(&req) {
        Ok(q) => q,
        Err(_) => return verify_invalid(),
    };
    let token = params::single(&query, "token").unwrap_or("");
    if token.is_empty()
        || token.len() > 128
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return verify_invalid();
    }
    pages::render(StatusCode::OK, &VerifyEmailPage { token })
}

/// The confirm button's POST: the link's token, taken once.
async fn verify_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(_) => return verify_invalid(),
    };
    let token = params::single(&form, "token").unwrap_or("");
    match mail::verify_email(&state, token).await {
        Ok(Verified::Verified) => pages::render(
            StatusCode::OK,
            &NoticePage {
                title: "Your e-mail address is confirmed",
                message: "Thank you. Apps you sign in to are told that this address is verified.",
            },
        ),
        Ok(Verified::Changed) => pages::render(
            StatusCode::OK,
            &NoticePage {
                title: "Your new e-mail address is confirmed",
                message: "It is your account's address from now on: mail about your account goes to it, and apps you sign in to are told it is verified.",
            },
        ),
        Ok(Verified::AddressChanged) => bad_request_page(
            "This address is no longer on the account",
            "The account's address was changed after this link was sent; nothing was confirmed.",
        ),
        Ok(Verified::TakenElsewhere) => bad_request_page(
            "This address is confirmed for another account",
            "Another account here already has this address, confirmed; nothing changed. If you did not ask for this, you need not do anything. If that other account is yours, sign in to it, or use \"Forgot your password?\" on the sign-in page.",
        ),
        Ok(Verified::Invalid) => verify_invalid(),
        Err(f) => failure_page(f),
    }
}

fn verify_invalid() -> HttpResponse {
    bad_request_page(
        "This link does not work",
        "It was used already or is older than 24 hours.",
    )
}

pub fn routes() -> Vec<actix_web::Resource> {
    let form = || web::PayloadConfig::new(crate::params::MAX_FORM_BYTES);
    vec![
        web::resource(routes::PASSWORD_FORGOT)
            .app_data(form())
            .route(web::get().to(forgot_get))
            .route(web::post().to(forgot_post)),
        web::resource(routes::PASSWORD_RESET)
            .app_data(form())
            .route(web::get().to(reset_get))
            .route(web::post().to(reset_post)),
        web::resource(routes::VERIFY_EMAIL)
            .app_data(form())
            .route(web::get().to(verify_get))
            .route(web::post().to(verify_post)),
    ]
}
