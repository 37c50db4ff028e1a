//! Rendering the sign-in flow: the one place that turns the core's sign-in outcomes
//! ([`usher_core::sign_in`]) into pages, redirects and cookies, and that maps each form
//! refusal and failure to its page and status. The decisions themselves (whether to log
//! in, to consent, to issue a code; the single-use forms) are in the core; this module
//! reads the cookies they need and sets the cookies they name.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use usher_core::sign_in::{
    ConsentForm, Cookies, ErrorPageKind, Form, FormFields, FormRefusal, LoginForm,
    RecoveryCodesForm, SecondFactorForm, SecondFactorProblem, SignInOutcome,
};
use usher_domain::authorize::RawParams;

use usher_core::client_address::ClientAddress;

use crate::Core;
use crate::cookies;
use crate::pages::{
    self, ConsentPage, ErrorPage, FormState, LoginPage, ScopeLine, SecondFactorPage, SetupView,
    SignInRecoveryCodesPage,
};
use crate::respond::{Failure, error_location, error_redirect, redirect, with_query};

/// An error page for when the server itself failed mid-flow.
pub fn failure_page(f: Failure) -> HttpResponse {
    let (status, message) = match f {
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable for a moment. Please try again shortly.",
        ),
        Failure::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Please try again.",
        ),
    };
    pages::error(
        status,
        ErrorPage {
            title: "Sign-in is unavailable",
            message,
        },
    )
}

/// A 400 error page: the request cannot be trusted or continued.
pub fn bad_request_page(title: &str, message: &str) -> HttpResponse {
    pages::error(StatusCode::BAD_REQUEST, ErrorPage { title, message })
}

/// The page for a person an administrator disabled (403): after their password or
/// passkey was accepted only.
pub fn account_disabled_page() -> HttpResponse {
    pages::error(
        StatusCode::FORBIDDEN,
        ErrorPage {
            title: "This account is disabled",
            message: "An administrator has disabled this account, so it cannot sign in. Contact your administrator to have it enabled again.",
        },
    )
}

/// The page for a refused login or consent form.
pub fn refusal_page(r: FormRefusal) -> HttpResponse {
    let (title, message) = match r {
        FormRefusal::AccountDisabled => return account_disabled_page(),
        FormRefusal::Expired => (
            "This page has expired",
            "The sign-in took too long or was already completed. Go back to the application and start again.",
        ),
        FormRefusal::OtherBrowser => (
            "This form does not belong to this browser",
            "Cookies must be enabled to sign in. Go back to the application and start again.",
        ),
        FormRefusal::AlreadySubmitted => (
            "This form was already submitted",
            "Each sign-in form can be sent once. Go back to the application and start again.",
        ),
        FormRefusal::Incomplete => (
            "This form is incomplete",
            "Go back to the application and start again.",
        ),
        FormRefusal::NoDecision => (
            "This form is incomplete",
            "Choose Allow or Deny. Go back to the application and start again if this persists.",
        ),
        FormRefusal::NoLongerSignedIn => (
            "You are no longer signed in",
            "Go back to the application and sign in again.",
        ),
    };
    bad_request_page(title, message)
}

/// The page for a refused link, a refused form, or a failure.
pub fn error_page(kind: &ErrorPageKind) -> HttpResponse {
    match kind {
        ErrorPageKind::Untrusted(e) => untrusted_page(&e.to_string()),
        ErrorPageKind::Refused(r) => refusal_page(*r),
        ErrorPageKind::Failure(f) => failure_page(*f),
        ErrorPageKind::Invalid(r) => untrusted_page(&r.description),
    }
}

/// The page for an `/authorize` request whose client or redirect URI cannot be trusted
/// (or whose parameters could not be read).
pub fn untrusted_page(message: &str) -> HttpResponse {
    bad_request_page("This sign-in link is not valid", message)
}

/// The cookies the sign-in reads, and the request's client address and user agent.
pub struct RequestCookies {
    session: Option<String>,
    binding: Option<String>,
    device: Option<String>,
    pub address: ClientAddress,
    user_agent: Option<String>,
}

impl RequestCookies {
    pub fn of(state: &Core, req: &HttpRequest) -> RequestCookies {
        RequestCookies {
            session: cookies::read(req, &state.settings, cookies::SESSION),
            binding: cookies::browser_binding(req, &state.settings),
            device: cookies::device(req, &state.settings),
            address: crate::client_address::of(req, &state.settings.trusted_proxies),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        }
    }

    pub fn as_values(&self) -> Cookies<'_> {
        Cookies {
            session: self.session.as_deref(),
            binding: self.binding.as_deref(),
            device: self.device.as_deref(),
            address: Some(self.address),
            user_agent: self.user_agent.as_deref(),
        }
    }
}

/// The interaction fields of a posted login or consent form.
pub fn form_fields(form: &RawParams) -> FormFields<'_> {
    FormFields {
        pending: crate::params::single(form, "pending"),
        interaction: crate::params::single(form, "interaction"),
        csrf: crate::params::single(form, "csrf"),
    }
}

/// The hidden fields of a form, for a page.
pub fn form_state(form: &Form) -> FormState<'_> {
    match form {
        Form::Sealed(s) => FormState::Sealed(s),
        Form::Stored { interaction, csrf } => FormState::Stored { interaction, csrf },
    }
}

/// Renders a sign-in outcome: the code redirect, the login or consent page (setting the
/// browser-binding cookie the first page names), the error redirect, or an error page.
pub fn render(state: &Core, outcome: SignInOutcome) -> HttpResponse {
    match outcome {
        SignInOutcome::IssueCode(c) => {
            let mut pairs = vec![("code", c.code.as_str())];
            if let Some(s) = &c.state {
                pairs.push(("state", s.as_str()));
            }
            pairs.push(("iss", state.settings.issuer.as_str()));
            redirect(&with_query(c.redirect_uri.as_str(), &pairs))
        }
        SignInOutcome::ShowLogin(form) => {
            let binding = form.binding.clone();
            let page = login_page(StatusCode::OK, &form, None);
            with_binding(state, page, binding)
        }
        SignInOutcome::ShowConsent(form) => {
            let binding = form.binding.clone();
            let page = consent_page(&form);
            with_binding(state, page, binding)
        }
        SignInOutcome::ShowSecondFactor(form) => second_factor_page(&form),
        SignInOutcome::ShowRecoveryCodes(form) => recovery_codes_page(&form),
        SignInOutcome::NoAccess(page) => {
            let back = page.back.as_ref().map(|b| {
                error_location(
                    b.redirect_uri.as_str(),
                    b.rejection.error,
                    &b.rejection.description,
                    b.state.as_deref(),
                    state.settings.issuer.as_str(),
                )
            });
            pages::no_access(pages::NoAccessPage {
                client_name: &page.client_name,
                username: &page.username,
                back: back.as_deref(),
            })
        }
        SignInOutcome::UpstreamProblem(page) => {
            use usher_core::sign_in::upstream::UpstreamProblemKind as K;
            let back = page.back.as_ref().map(|b| {
                error_location(
                    b.redirect_uri.as_str(),
                    b.rejection.error,
                    &b.rejection.description,
                    b.state.as_deref(),
                    state.settings.issuer.as_str(),
                )
            });
            let (status, why) = match page.kind {
                K::Unavailable => (
                    StatusCode::BAD_GATEWAY,
                    "It could not be reached, or it answered with an error. Try again in a few minutes.",
                ),
                K::Denied => (
                    StatusCode::FORBIDDEN,
                    "The sign-in was cancelled or refused there.",
                ),
                K::Invalid => (
                    StatusCode::FORBIDDEN,
                    "Its answer could not be verified, so it was not accepted.",
                ),
                K::NoAccount => (
                    StatusCode::FORBIDDEN,
                    "No account here is linked to that account, and new accounts are not created from it. Sign in another way, or ask your administrator.",
                ),
            };
            pages::upstream_problem(
                status,
                pages::UpstreamProblemPage {
                    upstream_name: &page.upstream_name,
                    client_name: &page.client_name,
                    why,
                    back: back.as_deref(),
                },
            )
        }
        SignInOutcome::ErrorToClient {
            redirect_uri,
            rejection,
            state: client_state,
        } => error_redirect(
            redirect_uri.as_str(),
            rejection.error,
            &rejection.description,
            client_state.as_deref(),
            state.settings.issuer.as_str(),
        ),
        SignInOutcome::ErrorPage(kind) => error_page(&kind),
    }
}

/// Sets the browser-binding cookie a first page names (the same value as before, if the
/// browser had one: other tabs' forms stay valid).
fn with_binding(state: &Core, mut page: HttpResponse, binding: Option<String>) -> HttpResponse {
    let Some(binding) = binding else {
        return page;
    };
    let cookie = cookies::make(
        &state.settings,
        cookies::BROWSER,
        binding,
        state.settings.interaction_ttl,
    );
    if page.add_cookie(&cookie).is_err() {
        return failure_page(Failure::Internal);
    }
    page
}

/// The login page, with an error message if any.
pub fn login_page(status: StatusCode, form: &LoginForm, error: Option<&str>) -> HttpResponse {
    pages::login(
        status,
        LoginPage {
            client_name: &form.client_name,
            form: form_state(&form.form),
            username: &form.username,
            error,
            passkeys: form.passkeys,
            signup: form.signup,
            upstreams: &form.upstreams,
            link: form.link.as_deref(),
        },
    )
}

/// The consent page.
pub fn consent_page(form: &ConsentForm) -> HttpResponse {
    let scopes = form
        .scopes
        .iter()
        .map(|s| ScopeLine::new(s.as_str()))
        .collect();
    pages::consent(ConsentPage {
        client_name: &form.client_name,
        username: &form.username,
        scopes,
        resources: form.resources.clone(),
        form: form_state(&form.form),
        unverified: form.unverified,
        published_by: form.published_by.as_deref(),
        self_registered_host: form.self_registered_host.as_deref(),
    })
}

/// The second-factor page: 200 when first shown, 401 after a refused code, 429 when
/// throttled. The texts do not say which kind of code was wrong.
pub fn second_factor_page(form: &SecondFactorForm) -> HttpResponse {
    let (status, error) = match form.problem {
        None => (StatusCode::OK, None),
        Some(SecondFactorProblem::Wrong) => (
            StatusCode::UNAUTHORIZED,
            Some("That code is not right. Check it and try again.".to_owned()),
        ),
        Some(SecondFactorProblem::Replayed) => (
            StatusCode::UNAUTHORIZED,
            Some("That code was already used. Wait for the next code from your app.".to_owned()),
        ),
        Some(SecondFactorProblem::PasskeyNotAccepted) => (
            StatusCode::UNAUTHORIZED,
            Some("That passkey was not accepted. Try again, or type a code.".to_owned()),
        ),
        Some(SecondFactorProblem::Throttled { wait }) => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(format!(
                "Too many failed attempts. Wait {} and try again.",
                plural_seconds(wait)
            )),
        ),
        Some(SecondFactorProblem::DailyCap { wait }) => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(format!(
                "Too many wrong codes from your app today: codes from the app are not \
                 accepted for the next {}. Use a recovery code or a passkey instead.",
                plural_hours(wait)
            )),
        ),
    };
    let qr = form
        .setup
        .as_ref()
        .and_then(|s| crate::qr::svg(&s.uri, "QR code of the authenticator app setup link"));
    let setup = form.setup.as_ref().map(|s| SetupView {
        handle: &s.handle,
        secret: &s.secret,
        uri: &s.uri,
        qr_svg: qr.as_deref(),
    });
    let page = SecondFactorPage {
        client_name: &form.client_name,
        username: &form.username,
        form: form_state(&form.form),
        setup,
        error: error.as_deref(),
        passkey: form.passkey,
    };
    if form.passkey {
        pages::render_with_script(status, &page)
    } else {
        pages::render(status, &page)
    }
}

/// The page that shows new recovery codes once.
pub fn recovery_codes_page(form: &RecoveryCodesForm) -> HttpResponse {
    pages::render(
        StatusCode::OK,
        &SignInRecoveryCodesPage {
            client_name: &form.client_name,
            codes: form.codes.0.iter().map(ToString::to_string).collect(),
            form: form_state(&form.form),
        },
    )
}

/// The login page's message after a refused passkey: the same whatever the reason.
pub const PASSKEY_NOT_ACCEPTED: &str =
    "That passkey was not accepted. Try again, or sign in with your password.";

/// "1 second", "30 seconds".
pub fn plural_seconds(s: i64) -> String {
    if s == 1 {
        "1 second".to_owned()
    } else {
        format!("{s} seconds")
    }
}

/// Whether a script's POST comes from Usher's own pages: its `Origin` header is the
/// issuer's origin (scheme, host and port). Browsers send `Origin` with every `fetch`
/// POST; a request without it, or from another origin (another subdomain of the same
/// site sends Lax cookies too), is refused. Used by the endpoints that start passkey
/// ceremonies: each start is counted against the person or the address, and another
/// site must not spend that budget for them.
pub fn from_own_page(req: &actix_web::HttpRequest, state: &Core) -> bool {
    let Some(origin) = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Ok(issuer) = url::Url::parse(state.settings.issuer.as_str()) else {
        return false;
    };
    issuer.origin().ascii_serialization() == origin
}

/// A wait of many seconds in whole hours, rounded up ("1 hour", "24 hours").
pub fn plural_hours(s: i64) -> String {
    let hours = (s.max(1) + 3599) / 3600;
    if hours == 1 {
        "1 hour".to_owned()
    } else {
        format!("{hours} hours")
    }
}

/// A sign-in that passed (password, passkey or second step): the new session's cookie
/// and the known-browser cookie (a year from now), set on whatever `next` renders.
pub fn signed_in(
    state: &Core,
    session_cookie_value: String,
    device_cookie_value: Option<String>,
    next: SignInOutcome,
) -> HttpResponse {
    let cookie = cookies::make(
        &state.settings,
        cookies::SESSION,
        session_cookie_value,
        state.settings.session_ttl,
    );
    let mut response = render(state, next);
    if response.add_cookie(&cookie).is_err() {
        return failure_page(Failure::Internal);
    }
    if let Some(value) = device_cookie_value {
        let device = cookies::make(
            &state.settings,
            cookies::DEVICE,
            value,
            usher_domain::KNOWN_BROWSER_TTL,
        );
        if response.add_cookie(&device).is_err() {
            return failure_page(Failure::Internal);
        }
    }
    response
}
