//! The sign-up page (issue 15): `GET /signup` (open sign-up) or `GET /signup?invite=T`
//! (an invitation's form, spending nothing), and `POST /signup`. The decisions are the
//! core's ([`usher_core::signup`]); this reads the query and the form and renders pages
//! (`Cache-Control: no-store`, `Referrer-Policy: no-referrer`, so an invitation's token
//! leaves the page in no `Referer`). With `signup = "off"` the routes are not even
//! registered: `/signup` is a 404 like any unknown path.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::account::forms::FormRefusal;
use usher_core::signup::{self, FormView, SignupForm, SignupOutcome, SignupRequest};

use crate::Core;
use crate::client_address;
use crate::flow::{bad_request_page, failure_page, plural_seconds};
use crate::pages::{self, SignupDonePage, SignupPage};
use crate::params;
use crate::routes;

/// What the person typed, to fill the form in again.
#[derive(Default)]
struct Typed<'a> {
    username: &'a str,
    email: &'a str,
    name: &'a str,
}

fn form_page(
    status: StatusCode,
    view: &FormView,
    typed: &Typed<'_>,
    error: Option<(&str, &str)>,
) -> HttpResponse {
    let invited = view.invited.as_ref();
    pages::render(
        status,
        &SignupPage {
            csrf: &view.form_token,
            invite: invited.map(|i| i.token.as_str()),
            invited_email: invited.map(|i| i.email.as_str()),
            username: typed.username,
            email: typed.email,
            name: if typed.name.is_empty() {
                invited.and_then(|i| i.name.as_deref()).unwrap_or("")
            } else {
                typed.name
            },
            error: error.map(|(m, _)| m),
            error_field: error.map_or("", |(_, f)| f),
        },
    )
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().finish()
}

fn invitation_needed() -> HttpResponse {
    pages::error(
        StatusCode::FORBIDDEN,
        pages::ErrorPage {
            title: "Sign-up is by invitation",
            message: "Accounts here are created from an invitation mailed by an administrator. Open the link in your invitation.",
        },
    )
}

fn invitation_invalid() -> HttpResponse {
    bad_request_page(
        "This invitation does not work",
        "It was used already, or it expired. Ask the person who invited you for a new one.",
    )
}

async fn signup_get(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let query = match params::query(&req) {
        Ok(q) => q,
        Err(_) => return invitation_invalid(),
    };
    let invite = params::single(&query, "invite");
    match signup::form(&state, invite).await {
        Ok(SignupForm::Show(view)) => form_page(StatusCode::OK, &view, &Typed::default(), None),
        Ok(SignupForm::NotFound) => not_found(),
        Ok(SignupForm::InvitationNeeded) => invitation_needed(),
        Ok(SignupForm::InvitationInvalid) => invitation_invalid(),
        Err(f) => failure_page(f),
    }
}

async fn signup_post(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let form = match params::form(&req, &body) {
        Ok(f) => f,
        Err(e) => return bad_request_page("This form is not valid", &e.to_string()),
    };
    let address = client_address::of(&req, &state.settings.trusted_proxies);
    let field = |name: &'static str| -> &str { params::single(&form, name).unwrap_or("") };
    let typed = Typed {
        username: field("username"),
        email: field("email"),
        name: field("name"),
    };
    let invite = params::single(&form, "invite");
    let outcome = signup::sign_up(
        &state,
        SignupRequest {
            form_token: params::single(&form, "csrf"),
            invite,
            username: typed.username,
            email: typed.email,
            name: typed.name,
            password: field("password").to_owned(),
            confirm: field("confirm"),
            address: &address,
        },
    )
    .await;
    match outcome {
        Ok(SignupOutcome::CheckMail) => pages::render(
            StatusCode::OK,
            &SignupDonePage {
                title: "Check your mail",
                message: "Unless this address already has an account, your account is created: sign in with your new username and password. We sent a mail to the address: it has a link to confirm it (for 24 hours), or, if the address already has an account, says what to do.",
            },
        ),
        Ok(SignupOutcome::Created { .. }) => pages::render(
            StatusCode::OK,
            &SignupDonePage {
                title: "Your account is ready",
                message: "Your account was created and your e-mail address is confirmed. Sign in with your new username and password.",
            },
        ),
        Ok(SignupOutcome::Again { problem, form }) => {
            let message = problem.message();
            form_page(
                StatusCode::BAD_REQUEST,
                &form,
                &typed,
                Some((&message, problem.field())),
            )
        }
        Ok(SignupOutcome::Throttled { wait }) => {
            let message = format!(
                "Too many sign-ups from your network. Try again in {}.",
                plural_seconds(wait)
            );
            again(
                &state,
                invite,
                &typed,
                StatusCode::TOO_MANY_REQUESTS,
                &message,
            )
            .await
        }
        Ok(SignupOutcome::Refused(refusal)) => {
            let message = match refusal {
                FormRefusal::Expired => "The page was open too long. Please send the form again.",
                FormRefusal::Unknown | FormRefusal::OtherSession | FormRefusal::WrongPurpose => {
                    "This form was sent already or did not come from this page. Please send it again."
                }
            };
            again(&state, invite, &typed, StatusCode::BAD_REQUEST, message).await
        }
        Ok(SignupOutcome::NotFound) => not_found(),
        Ok(SignupOutcome::InvitationNeeded) => invitation_needed(),
        Ok(SignupOutcome::InvitationInvalid) => invitation_invalid(),
        Err(f) => failure_page(f),
    }
}

/// The form again, with a new token, the fields as typed and `message`.
async fn again(
    state: &Core,
    invite: Option<&str>,
    typed: &Typed<'_>,
    status: StatusCode,
    message: &str,
) -> HttpResponse {
    match signup::form(state, invite).await {
        Ok(SignupForm::Show(view)) => form_page(status, &view, typed, Some((message, ""))),
        Ok(SignupForm::NotFound) => not_found(),
        Ok(SignupForm::InvitationNeeded) => invitation_needed(),
        Ok(SignupForm::InvitationInvalid) => invitation_invalid(),
        Err(f) => failure_page(f),
    }
}

/// The routes, when sign-up is on (`open` or `invite`); none when it is off.
pub fn routes(mode: usher_domain::SignupMode) -> Vec<actix_web::Resource> {
    if mode == usher_domain::SignupMode::Off {
        return Vec::new();
    }
    let form = || web::PayloadConfig::new(crate::params::MAX_FORM_BYTES);
    vec![
        web::resource(routes::SIGNUP)
            .app_data(form())
            .route(web::get().to(signup_get))
            .route(web::post().to(signup_post)),
    ]
}
