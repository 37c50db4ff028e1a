//! Usher's own HTML pages: login, consent, errors and "signed out".
//!
//! The templates are askama files in the workspace's top-level `templates/` directory (see
//! `askama.toml` in this crate); the `.html` extension turns on HTML autoescaping, so every
//! value a template prints (client names, usernames, messages) is escaped. The pages carry
//! no JavaScript and no inline styles; their one stylesheet is served by
//! [`crate::endpoints::assets`].
//!
//! Every page goes out through [`render`], which sets the page security headers.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderName, PRAGMA, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use askama::Template;
use usher_domain::scope::{ADDRESS, EMAIL, GROUPS, OFFLINE_ACCESS, OPENID, PHONE, PROFILE};

/// The pages' Content-Security-Policy. No scripts at all (`default-src 'none'`), styles
/// and images only from Usher itself, never framed. There is deliberately no
/// `form-action`: Chromium applies it to the redirect that follows a form POST, which
/// would block the redirect back to the client.
pub const CONTENT_SECURITY_POLICY_VALUE: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of the pages that offer a passkey (login, second step): the same, plus
/// Usher's own script (`/assets/passkey.js`, never inline) and its requests for
/// ceremony options to Usher itself.
pub const SCRIPT_CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every page carries, besides `Content-Type`.
const SECURITY_HEADERS: [(HeaderName, &str); 6] = [
    (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
    (X_FRAME_OPTIONS, "DENY"),
    (REFERRER_POLICY, "no-referrer"),
    (CACHE_CONTROL, "no-store"),
    (PRAGMA, "no-cache"),
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// The hidden fields that carry a sign-in from one page to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormState<'a> {
    /// The first page: the whole pending request, sealed, in the field `pending`. Showing
    /// it wrote nothing to the database.
    Sealed(&'a str),
    /// A later page: the stored interaction's id (`interaction`) and this form's one-use
    /// token (`csrf`).
    Stored { interaction: &'a str, csrf: &'a str },
}

/// Login form: POST to [`crate::routes::LOGIN`] with the [`FormState`] fields,
/// `username` and `password`.
#[derive(Clone, Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub client_name: &'a str,
    pub form: FormState<'a>,
    /// Prefilled from `login_hint` or the previous attempt; may be `""`.
    pub username: &'a str,
    /// Shown in a `role="alert"` box and tied to the inputs with `aria-describedby`.
    pub error: Option<&'a str>,
    /// Offer "Sign in with a passkey" (a form the script shows where WebAuthn exists).
    pub passkeys: bool,
    /// Offer "Create an account" (`signup = "open"`).
    pub signup: bool,
    /// The "Sign in with …" buttons (docs/design/upstream.md).
    pub upstreams: &'a [usher_core::sign_in::upstream::UpstreamButton],
    /// The upstream whose identity waits to be linked once the person signs in here.
    pub link: Option<&'a str>,
}

/// Second-factor form: POST to [`crate::routes::SECOND_FACTOR`] with the [`FormState`]
/// fields and `code`. With `setup`, the person sets up an authenticator app first.
#[derive(Clone, Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub form: FormState<'a>,
    pub setup: Option<SetupView<'a>>,
    /// Shown in a `role="alert"` box and tied to the input with `aria-describedby`.
    pub error: Option<&'a str>,
    /// Offer "Use a passkey" (a form the script shows where WebAuthn exists).
    pub passkey: bool,
}

/// An authenticator app being set up: the secret as text, its `otpauth://` URI, and the
/// URI as a QR code (inline SVG markup made by Usher, or `None`).
#[derive(Clone, Copy)]
pub struct SetupView<'a> {
    /// Posted back as `setup`: which setup the code confirms.
    pub handle: &'a str,
    pub secret: &'a str,
    pub uri: &'a str,
    pub qr_svg: Option<&'a str>,
}

/// New recovery codes, shown once, and the form that continues the sign-in: POST to
/// [`crate::routes::RECOVERY_CODES`] with the [`FormState`] fields.
#[derive(Clone, Template)]
#[template(path = "recovery_codes.html")]
pub struct SignInRecoveryCodesPage<'a> {
    pub client_name: &'a str,
    pub codes: Vec<String>,
    pub form: FormState<'a>,
}

/// Consent form: POST to [`crate::routes::CONSENT`] with the [`FormState`] fields and
/// two submit buttons named `decision` with values `approve` and `deny`.
#[derive(Clone, Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: Vec<ScopeLine>,
    /// The resource servers (RFC 8707) the access will be for, by name or identifier;
    /// empty when none was asked for.
    pub resources: Vec<String>,
    pub form: FormState<'a>,
    /// The client's identity cannot be verified (a public client on a loopback or
    /// private-use redirect URI): the page asks the person to allow only a sign-in they
    /// started themselves.
    pub unverified: bool,
    /// The host that publishes a metadata-document client's document (shown so that a
    /// look-alike of a known host can be noticed); `None` for a registered client.
    pub published_by: Option<&'a str>,
    /// A dynamically registered client: where the code goes (its name is unchecked).
    pub self_registered_host: Option<&'a str>,
}

/// One line of the consent page's list: a requested scope and what it means in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeLine {
    pub scope: String,
    pub description: String,
}

impl ScopeLine {
    /// The line for a scope, described by [`describe_scope`].
    pub fn new(scope: &str) -> Self {
        Self {
            scope: scope.to_owned(),
            description: describe_scope(scope),
        }
    }
}

/// Plain-words description of a scope for the consent page.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        OPENID => "Know who you are on this site (your account id)".to_owned(),
        PROFILE => "See your name and username".to_owned(),
        EMAIL => "See your e-mail address and whether it is verified".to_owned(),
        PHONE => "See your phone number".to_owned(),
        ADDRESS => "See your postal address".to_owned(),
        OFFLINE_ACCESS => "Keep access when you are not using the app".to_owned(),
        GROUPS => "See which groups you are in".to_owned(),
        other => format!("Access “{other}”"),
    }
}

/// An error shown to the person at the browser (when the client cannot be told by redirect).
#[derive(Debug, Clone, Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// "You are signed out".
#[derive(Debug, Clone, Copy, Default, Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage;

/// "Sign out of Usher?": a logout request that cannot be tied to the browser's person
/// (no valid, unexpired `id_token_hint` for the client) is confirmed by the person first.
/// The form POSTs to [`crate::routes::LOGOUT`] with `confirm=yes`, a single-use `csrf`
/// token bound to the browser session, and the request's parameters.
#[derive(Debug, Clone, Default, Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage<'a> {
    pub csrf: &'a str,
    pub client_name: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}

/// The account page (`GET /account`): the Security section. Every form POSTs with the
/// page's single-use `csrf` token.
#[derive(Debug, Clone, Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub username: &'a str,
    /// The Profile section's values (stored, or as typed when a change was refused).
    pub profile: &'a usher_core::account::profile::ProfileView,
    pub csrf: &'a str,
    /// `none`, `unconfirmed` or `active`.
    pub app_state: &'a str,
    /// When the app was set up (active only).
    pub app_since: String,
    /// When a code of the app was last accepted.
    pub app_last_used: Option<String>,
    pub codes_left: usize,
    /// Whether a change would be allowed without signing in again.
    pub recent: bool,
    /// A change just made ("Your authenticator app was removed.").
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The person's passkeys.
    pub passkeys: Vec<PasskeyLine>,
    /// Whether "Add a passkey" is offered (the issuer's host is a name).
    pub passkeys_available: bool,
    /// The apps the person consented to ("Connected apps").
    pub apps: Vec<AppLine>,
    /// The browsers the person is signed in to ("Where you are signed in").
    pub browsers: Vec<BrowserView>,
    /// The person's linked upstream identities ("Linked sign-in providers"); the
    /// section is shown only when there is one.
    pub upstreams: Vec<UpstreamLine>,
}

/// One linked upstream identity on the account page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamLine {
    /// Posted back with `subject` to name the identity to remove.
    pub upstream: String,
    /// The upstream's display name (the operator's text: escaped).
    pub name: String,
    pub subject: String,
    pub linked: String,
}

/// One browser on the account page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserView {
    pub sid: String,
    pub since: String,
    pub last_sign_in: String,
    /// How: "password", "password and a second factor", "passkey".
    pub how: &'static str,
    pub current: bool,
    /// The client address of the last sign-in there, when known.
    pub address: Option<String>,
    /// A short name of the browser ("Firefox on Linux"), and its whole user agent.
    pub browser: Option<String>,
    pub user_agent: Option<String>,
    /// The apps that got tokens through that browser.
    pub apps: Vec<String>,
}

/// One connected app on the account page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLine {
    pub client_id: String,
    pub name: String,
    /// What was granted, described as on the consent page.
    pub scopes: Vec<ScopeLine>,
    pub granted: String,
    /// Holds offline access (acts while the person is signed out).
    pub offline: bool,
}

/// One passkey on the account page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyLine {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: Option<String>,
    /// Refused since its signature counter went backwards: remove it.
    pub suspect: bool,
}

/// The authenticator-app setup page: the QR code (inline SVG, [`crate::qr`]), the key
/// in base32, the `otpauth://` URI, and the confirm form (`csrf`, `code`).
#[derive(Clone, Template)]
#[template(path = "account_totp_setup.html")]
pub struct TotpSetupPage<'a> {
    /// Made by [`crate::qr::svg`] only (numbers and fixed text): printed unescaped.
    pub qr_svg: &'a str,
    /// Posted back as `setup`: which setup the code confirms.
    pub handle: &'a str,
    pub secret: &'a str,
    pub uri: &'a str,
    pub csrf: &'a str,
    pub error: Option<&'a str>,
}

/// Recovery codes, shown once (after the first factor, or "Generate new codes").
#[derive(Clone, Template)]
#[template(path = "account_codes.html")]
pub struct RecoveryCodesPage<'a> {
    pub title: &'a str,
    pub lead: &'a str,
    pub codes: Vec<String>,
}

/// "Forgot your password?": the form (POST [`crate::routes::PASSWORD_FORGOT`] with
/// `csrf` and `email`), or, once `sent`, the same answer for every address.
#[derive(Debug, Clone, Template)]
#[template(path = "password_forgot.html")]
pub struct PasswordForgotPage<'a> {
    pub csrf: &'a str,
    pub sent: bool,
    pub error: Option<&'a str>,
}

/// The form a reset link opens: POST [`crate::routes::PASSWORD_RESET`] with `csrf`,
/// `token`, `password` and `confirm`.
#[derive(Debug, Clone, Template)]
#[template(path = "password_reset.html")]
pub struct PasswordResetPage<'a> {
    pub csrf: &'a str,
    pub token: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

/// The sign-up form: POST [`crate::routes::SIGNUP`] with `csrf`, `invite` (when an
/// invitation opened it), `username`, `email` (not when invited), `name`, `password`,
/// `confirm`. `error_field` names the field `error` is about (`""` for none).
#[derive(Debug, Clone, Template)]
#[template(path = "signup.html")]
pub struct SignupPage<'a> {
    pub csrf: &'a str,
    pub invite: Option<&'a str>,
    /// The invitation's address, shown fixed.
    pub invited_email: Option<&'a str>,
    pub username: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub error: Option<&'a str>,
    pub error_field: &'a str,
}

/// After a sign-up: what happened, and where to sign in.
#[derive(Debug, Clone, Template)]
#[template(path = "signup_done.html")]
pub struct SignupDonePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// The device verification page (RFC 8628): type the code a device shows. POST
/// [`crate::routes::DEVICE`] with `csrf` and `user_code`.
#[derive(Debug, Clone, Template)]
#[template(path = "device.html")]
pub struct DevicePage<'a> {
    pub csrf: &'a str,
    /// Prefilled from `verification_uri_complete`, or what was typed.
    pub user_code: &'a str,
    pub error: Option<&'a str>,
}

/// The device confirmation (the anti-phishing page): which app, which scopes, the code,
/// Approve or Deny. POST [`crate::routes::DEVICE_DECIDE`].
#[derive(Debug, Clone, Template)]
#[template(path = "device_confirm.html")]
pub struct DeviceConfirmPage<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    /// `XXXX-XXXX`.
    pub user_code: &'a str,
    pub scopes: Vec<ScopeLine>,
    pub resources: Vec<String>,
    /// When the device asked, in UTC.
    pub requested: &'a str,
    pub csrf: &'a str,
}

/// A plain message: something was done.
#[derive(Debug, Clone, Template)]
#[template(path = "notice.html")]
pub struct NoticePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// The confirm button of a mailed address-verification link: opening the link changes
/// nothing (mail scanners open links), pressing the button posts the link's token.
#[derive(Template)]
#[template(path = "verify_email.html")]
pub struct VerifyEmailPage<'a> {
    pub token: &'a str,
}

/// The logout confirmation page, `200`.
pub fn logout_confirm(page: LogoutConfirmPage<'_>) -> HttpResponse {
    render(StatusCode::OK, &page)
}

/// Renders a page with the given status and the page security headers. A template that
/// fails to render gives a logged `500` with a minimal plain-text body.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => with_security_headers(status, "text/html; charset=utf-8").body(body),
        Err(error) => {
            tracing::error!(%error, "a page template failed to render");
            with_security_headers(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
            )
            .body("Internal server error\n")
        }
    }
}

fn with_security_headers(
    status: StatusCode,
    content_type: &'static str,
) -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder.insert_header((CONTENT_TYPE, content_type));
    for header in SECURITY_HEADERS {
        builder.insert_header(header);
    }
    builder
}

/// The login page (allowed its script when it offers a passkey).
pub fn login(status: StatusCode, page: LoginPage<'_>) -> HttpResponse {
    if page.passkeys {
        render_with_script(status, &page)
    } else {
        render(status, &page)
    }
}

/// Renders a page like [`render`], with the policy that allows Usher's own script
/// ([`SCRIPT_CONTENT_SECURITY_POLICY_VALUE`]).
pub fn render_with_script(status: StatusCode, page: &impl Template) -> HttpResponse {
    let mut response = render(status, page);
    response.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        actix_web::http::header::HeaderValue::from_static(SCRIPT_CONTENT_SECURITY_POLICY_VALUE),
    );
    response
}

/// The consent page, `200`.
pub fn consent(page: ConsentPage<'_>) -> HttpResponse {
    render(StatusCode::OK, &page)
}

/// "You do not have access to <app>": a person in none of the groups a client is
/// restricted to (docs/design/groups.md), `403`. `back` is the link to the client's
/// redirect URI with `access_denied`, when there is one.
#[derive(Clone, Template)]
#[template(path = "no_access.html")]
pub struct NoAccessPage<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub back: Option<&'a str>,
}

/// The no-access page, `403`.
pub fn no_access(page: NoAccessPage<'_>) -> HttpResponse {
    render(StatusCode::FORBIDDEN, &page)
}

/// "Signing in with <upstream> did not work": a sign-in at an upstream provider failed
/// (docs/design/upstream.md). `back` is the link to the client's redirect URI with
/// `access_denied` or `temporarily_unavailable`, when there is one.
#[derive(Clone, Template)]
#[template(path = "upstream_problem.html")]
pub struct UpstreamProblemPage<'a> {
    pub upstream_name: &'a str,
    pub client_name: &'a str,
    pub why: &'a str,
    pub back: Option<&'a str>,
}

/// The upstream-problem page: `502` when the upstream could not be reached or failed,
/// `403` otherwise.
pub fn upstream_problem(status: StatusCode, page: UpstreamProblemPage<'_>) -> HttpResponse {
    render(status, &page)
}

/// An error page.
pub fn error(status: StatusCode, page: ErrorPage<'_>) -> HttpResponse {
    render(status, &page)
}

/// The signed-out page, `200`.
pub fn logged_out() -> HttpResponse {
    render(StatusCode::OK, &LoggedOutPage)
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use actix_web::body::to_bytes;
    use actix_web::{App, test as actix_test};

    use super::*;
    use crate::routes;

    async fn body_of(resp: HttpResponse) -> String {
        let bytes = to_bytes(resp.into_body()).await.expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8 body")
    }

    fn header<'r>(resp: &'r HttpResponse, name: &HeaderName) -> &'r str {
        resp.headers()
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}"))
            .to_str()
            .expect("ascii header")
    }

    /// Status, every page security header, and the body.
    async fn check_page(resp: HttpResponse, status: StatusCode) -> String {
        assert_eq!(resp.status(), status);
        assert_eq!(header(&resp, &CONTENT_TYPE), "text/html; charset=utf-8");
        let csp = header(&resp, &CONTENT_SECURITY_POLICY);
        assert_eq!(
            csp,
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert!(!csp.contains("form-action"), "{csp}");
        for directive in csp.split(';').map(str::trim) {
            if directive.starts_with("script-src") {
                assert_eq!(directive, "script-src 'none'");
            }
        }
        assert_eq!(header(&resp, &X_FRAME_OPTIONS), "DENY");
        assert_eq!(header(&resp, &REFERRER_POLICY), "no-referrer");
        assert_eq!(header(&resp, &CACHE_CONTROL), "no-store");
        assert_eq!(header(&resp, &PRAGMA), "no-cache");
        assert_eq!(header(&resp, &X_CONTENT_TYPE_OPTIONS), "nosniff");
        let body = body_of(resp).await;
        assert!(body.starts_with("<!doctype html>"), "{body}");
        assert!(body.contains(r#"<html lang="en">"#), "{body}");
        assert!(body.contains(r#"<meta charset="utf-8">"#), "{body}");
        assert!(body.contains(r#"name="viewport""#), "{body}");
        assert!(
            body.contains(&format!(
                r#"<link rel="stylesheet" href="{}">"#,
                routes::ASSETS_CSS
            )),
            "{body}"
        );
        assert!(body.contains("<main"), "{body}");
        assert_eq!(body.matches("<h1").count(), 1, "one h1: {body}");
        assert!(!body.to_ascii_lowercase().contains("<script"), "{body}");
        assert!(!body.contains("style="), "no inline styles: {body}");
        body
    }

    fn login_page<'a>(client_name: &'a str, error: Option<&'a str>) -> LoginPage<'a> {
        LoginPage {
            client_name,
            form: FormState::Stored {
                interaction: "int-123",
                csrf: "csrf-456",
            },
            username: "alice",
            error,
            passkeys: false,
            signup: false,
            upstreams: &[],
            link: None,
        }
    }

    fn consent_page(client_name: &str) -> ConsentPage<'_> {
        ConsentPage {
            client_name,
            username: "alice",
            scopes: [
                "openid",
                "profile",
                "email",
                "offline_access",
                "photos:read",
            ]
            .into_iter()
            .map(ScopeLine::new)
            .collect(),
            resources: vec![],
            form: FormState::Stored {
                interaction: "int-123",
                csrf: "csrf-456",
            },
            unverified: false,
            published_by: None,
            self_registered_host: None,
        }
    }

    #[actix_web::test]
    async fn login_page_has_the_form() {
        let body = check_page(
            login(StatusCode::OK, login_page("Photo App", None)),
            StatusCode::OK,
        )
        .await;
        assert!(body.contains("Photo App"), "{body}");
        assert!(
            body.contains(&format!(
                r#"<form method="post" action="{}">"#,
                routes::LOGIN
            )),
            "{body}"
        );
        assert!(body.contains(r#"<input type="hidden" name="interaction" value="int-123">"#));
        assert!(body.contains(r#"<input type="hidden" name="csrf" value="csrf-456">"#));
        assert!(body.contains(r#"<label for="username">Username</label>"#));
        assert!(body.contains(r#"<input id="username" name="username" type="text" value="alice""#));
        assert!(body.contains(r#"autocomplete="username""#));
        assert!(body.contains(r#"<label for="password">Password</label>"#));
        assert!(body.contains(r#"<input id="password" name="password" type="password""#));
        assert!(body.contains(r#"autocomplete="current-password""#));
        assert_eq!(body.matches(" required").count(), 2, "{body}");
        assert!(body.contains(r#"<button type="submit" class="primary">Sign in</button>"#));
        // No error: no alert and no dangling reference to one.
        assert!(!body.contains(r#"role="alert""#), "{body}");
        assert!(!body.contains("login-error"), "{body}");
        // The password is never echoed back.
        assert!(!body.contains(r#"name="password" type="password" value"#));
    }

    #[actix_web::test]
    async fn login_error_is_an_alert_tied_to_the_inputs() {
        let body = check_page(
            login(
                StatusCode::UNAUTHORIZED,
                login_page("Photo App", Some("Wrong username or password.")),
            ),
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert!(
            body.contains(
                r#"<div class="alert" role="alert" id="login-error">Wrong username or password.</div>"#
            ),
            "{body}"
        );
        assert_eq!(
            body.matches(r#"aria-describedby="login-error""#).count(),
            2,
            "{body}"
        );
        assert_eq!(body.matches(r#"aria-invalid="true""#).count(), 2, "{body}");
    }

    #[actix_web::test]
    async fn empty_username_prefill_renders() {
        let page = LoginPage {
            username: "",
            ..login_page("Photo App", None)
        };
        let body = check_page(login(StatusCode::OK, page), StatusCode::OK).await;
        assert!(body.contains(r#"name="username" type="text" value="""#));
    }

    #[actix_web::test]
    async fn everything_printed_is_escaped() {
        let evil = r#"<script>alert("x")</script>"#;
        let buttons = vec![usher_core::sign_in::upstream::UpstreamButton {
            id: "up".to_owned(),
            name: evil.to_owned(),
        }];
        let page = LoginPage {
            client_name: evil,
            form: FormState::Stored {
                interaction: r#""><script>"#,
                csrf: "'",
            },
            username: evil,
            error: Some(evil),
            passkeys: false,
            signup: false,
            upstreams: &buttons,
            link: Some(evil),
        };
        let body = check_page(login(StatusCode::OK, page), StatusCode::OK).await;
        assert!(!body.contains("<script"), "{body}");
        assert!(!body.contains(r#"value=""><"#), "{body}");
        let page = LoginPage {
            form: FormState::Sealed(r#""><script>"#),
            ..login_page("App", None)
        };
        let body = check_page(login(StatusCode::OK, page), StatusCode::OK).await;
        assert!(!body.contains("<script"), "{body}");

        let mut page = consent_page(evil);
        page.username = evil;
        page.scopes = vec![ScopeLine::new("<script>")];
        let body = check_page(consent(page), StatusCode::OK).await;
        assert!(!body.contains("<script"), "{body}");

        let page = ErrorPage {
            title: evil,
            message: evil,
        };
        let body = check_page(
            error(StatusCode::BAD_REQUEST, page),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(!body.contains("<script"), "{body}");
    }

    #[actix_web::test]
    async fn the_login_page_offers_an_account_only_when_sign_up_is_open() {
        let body = check_page(
            login(StatusCode::OK, login_page("Photo App", None)),
            StatusCode::OK,
        )
        .await;
        assert!(!body.contains("Create an account"), "{body}");
        let page = LoginPage {
            signup: true,
            ..login_page("Photo App", None)
        };
        let body = check_page(login(StatusCode::OK, page), StatusCode::OK).await;
        assert!(
            body.contains(r#"<a href="/signup" id="create-account">Create an account</a>"#),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn a_first_page_carries_the_sealed_request_and_nothing_else() {
        let page = LoginPage {
            form: FormState::Sealed("v1.sealed"),
            ..login_page("Photo App", None)
        };
        let body = check_page(login(StatusCode::OK, page), StatusCode::OK).await;
        assert!(body.contains(r#"<input type="hidden" name="pending" value="v1.sealed">"#));
        assert!(!body.contains(r#"name="interaction""#), "{body}");
        assert!(!body.contains(r#"name="csrf""#), "{body}");
        let page = ConsentPage {
            form: FormState::Sealed("v1.sealed"),
            unverified: true,
            published_by: Some("app.example"),
            self_registered_host: None,
            ..consent_page("Photo App")
        };
        let body = check_page(consent(page), StatusCode::OK).await;
        assert!(body.contains(r#"<input type="hidden" name="pending" value="v1.sealed">"#));
        assert!(body.contains("cannot verify"), "{body}");
        assert!(
            body.contains(r#"describes itself at <strong class="host">app.example</strong>"#),
            "{body}"
        );
        let body = check_page(consent(consent_page("Photo App")), StatusCode::OK).await;
        assert!(!body.contains("cannot verify"), "{body}");
        assert!(!body.contains("published-by"), "{body}");
        assert!(!body.contains("registered itself"), "{body}");
        let page = ConsentPage {
            self_registered_host: Some("agent.example"),
            ..consent_page("Photo App")
        };
        let body = check_page(consent(page), StatusCode::OK).await;
        assert!(body.contains("registered itself"), "{body}");
        assert!(
            body.contains(r#"<strong class="redirect-host">agent.example</strong>"#),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn consent_page_names_the_resources_the_access_is_for() {
        let body = check_page(consent(consent_page("Photo App")), StatusCode::OK).await;
        assert!(!body.contains("id=\"resources\""), "{body}");
        let page = ConsentPage {
            resources: vec![
                "Invoices <API>".to_owned(),
                "https://reports.example".to_owned(),
            ],
            ..consent_page("Photo App")
        };
        let body = check_page(consent(page), StatusCode::OK).await;
        assert!(body.contains("id=\"resources\""), "{body}");
        assert!(
            body.contains("<li>Invoices &#60;API&#62;</li>")
                || body.contains("<li>Invoices &lt;API&gt;</li>"),
            "{body}"
        );
        assert!(body.contains("<li>https://reports.example</li>"), "{body}");
    }

    #[actix_web::test]
    async fn consent_page_names_client_user_scopes_and_both_decisions() {
        let body = check_page(consent(consent_page("Photo App")), StatusCode::OK).await;
        assert!(body.contains("Photo App"), "{body}");
        assert!(
            body.contains("Signed in as <strong>alice</strong>"),
            "{body}"
        );
        assert!(
            body.contains(&format!(
                r#"<form method="post" action="{}">"#,
                routes::CONSENT
            )),
            "{body}"
        );
        assert!(body.contains(r#"<input type="hidden" name="interaction" value="int-123">"#));
        assert!(body.contains(r#"<input type="hidden" name="csrf" value="csrf-456">"#));
        assert!(
            body.contains(
                r#"<button type="submit" name="decision" value="approve" class="primary">"#
            )
        );
        assert!(
            body.contains(
                r#"<button type="submit" name="decision" value="deny" class="secondary">"#
            )
        );
        assert!(body.contains(r#"<ul class="scopes""#), "{body}");
        for description in [
            "<li>Know who you are on this site (your account id)</li>",
            "<li>See your name and username</li>",
            "<li>See your e-mail address and whether it is verified</li>",
            "<li>Keep access when you are not using the app</li>",
            "<li>Access “photos:read”</li>",
        ] {
            assert!(body.contains(description), "{description} in {body}");
        }
        let h1 = body.find("<h1").expect("h1");
        let h2 = body.find("<h2").expect("h2");
        assert!(h1 < h2, "headings in order");
    }

    #[actix_web::test]
    async fn error_and_signed_out_pages_render() {
        let page = ErrorPage {
            title: "Unknown client",
            message: "The application that sent you here is not registered.",
        };
        let body = check_page(
            error(StatusCode::BAD_REQUEST, page),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(body.contains("<h1>Unknown client</h1>"), "{body}");
        assert!(
            body.contains("<title>Unknown client – Usher</title>"),
            "{body}"
        );
        assert!(body.contains("is not registered."), "{body}");

        let body = check_page(logged_out(), StatusCode::OK).await;
        assert!(body.contains("<h1>You are signed out</h1>"), "{body}");
    }

    #[test]
    fn scopes_are_described_in_plain_words() {
        assert_eq!(
            describe_scope("openid"),
            "Know who you are on this site (your account id)"
        );
        assert_eq!(describe_scope("profile"), "See your name and username");
        assert_eq!(describe_scope("phone"), "See your phone number");
        assert_eq!(describe_scope("address"), "See your postal address");
        assert_eq!(
            describe_scope("email"),
            "See your e-mail address and whether it is verified"
        );
        assert_eq!(
            describe_scope("offline_access"),
            "Keep access when you are not using the app"
        );
        assert_eq!(describe_scope("photos:read"), "Access “photos:read”");
        let line = ScopeLine::new("profile");
        assert_eq!(line.scope, "profile");
        assert_eq!(line.description, "See your name and username");
    }

    fn account_page(app_state: &'static str) -> AccountPage<'static> {
        AccountPage {
            username: "alice",
            profile: Box::leak(Box::new(
                usher_core::account::profile::ProfileView::default(),
            )),
            csrf: "tok-1",
            app_state,
            app_since: "2026-12-02 17:00 UTC".to_owned(),
            app_last_used: Some("2026-12-02 17:05 UTC".to_owned()),
            codes_left: 7,
            recent: false,
            notice: None,
            error: None,
            passkeys: Vec::new(),
            passkeys_available: false,
            apps: vec![AppLine {
                client_id: "c-shop".to_owned(),
                name: "Shop".to_owned(),
                scopes: vec![ScopeLine::new("openid"), ScopeLine::new("offline_access")],
                granted: "2026-12-02 17:00 UTC".to_owned(),
                offline: true,
            }],
            browsers: vec![BrowserView {
                sid: "sid-1".to_owned(),
                since: "2026-12-02 17:00 UTC".to_owned(),
                last_sign_in: "2026-12-02 17:00 UTC".to_owned(),
                how: "password",
                current: true,
                address: Some("192.0.2.1".to_owned()),
                browser: Some("Firefox on Linux".to_owned()),
                user_agent: Some("<script>Firefox/1 on Linux".to_owned()),
                apps: vec!["<b>Shop</b>".to_owned()],
            }],
            upstreams: Vec::new(),
        }
    }

    #[actix_web::test]
    async fn the_account_page_offers_each_change_as_a_form_with_its_token() {
        let body = check_page(
            render(StatusCode::OK, &account_page("none")),
            StatusCode::OK,
        )
        .await;
        assert!(body.contains("<h1>Your account</h1>"), "{body}");
        assert!(body.contains(r#"<section id="security""#), "{body}");
        assert!(body.contains(&format!(
            r#"<form method="post" action="{}">"#,
            routes::ACCOUNT_TOTP_SETUP
        )));
        assert!(body.contains(r#"<input type="hidden" name="csrf" value="tok-1">"#));
        assert!(body.contains("Set up an authenticator app"), "{body}");
        assert!(body.contains("asked to sign in again"), "{body}");
        assert!(!body.contains(routes::ACCOUNT_TOTP_REMOVE), "{body}");
        // Where: the address, the browser's short name, its whole user agent and the
        // apps, all escaped.
        assert!(
            body.contains(r#"<span class="address">192.0.2.1</span>"#),
            "{body}"
        );
        assert!(body.contains(">Firefox on Linux</span>"), "{body}");
        assert!(
            body.contains("title=\"&#60;script&#62;Firefox/1 on Linux\"")
                || body.contains("title=\"&lt;script&gt;Firefox/1 on Linux\""),
            "{body}"
        );
        assert!(!body.contains("<script>Firefox"), "{body}");
        assert!(!body.contains("<b>Shop</b>"), "{body}");
        assert!(body.contains("Apps signed in through it:"), "{body}");

        let body = check_page(
            render(StatusCode::OK, &account_page("active")),
            StatusCode::OK,
        )
        .await;
        assert!(body.contains("Set up on 2026-12-02 17:00 UTC."), "{body}");
        assert!(body.contains("Last used 2026-12-02 17:05 UTC."), "{body}");
        assert!(body.contains(&format!(
            r#"<form method="post" action="{}">"#,
            routes::ACCOUNT_TOTP_REMOVE
        )));
        assert!(body.contains(r#"<label for="confirm-remove">"#), "{body}");
        assert!(body.contains(r#"<input id="confirm-remove" name="confirm" type="checkbox""#));
        assert!(body.contains("7 of 10 recovery codes left."), "{body}");
        assert!(body.contains(&format!(
            r#"<form method="post" action="{}">"#,
            routes::ACCOUNT_RECOVERY_CODES
        )));
    }

    #[actix_web::test]
    async fn linked_providers_are_listed_escaped_with_a_remove_form_each_and_only_when_some() {
        let body = check_page(
            render(StatusCode::OK, &account_page("none")),
            StatusCode::OK,
        )
        .await;
        assert!(!body.contains("Linked sign-in providers"), "{body}");
        assert!(!body.contains(routes::ACCOUNT_UPSTREAM_REMOVE), "{body}");

        let mut page = account_page("none");
        page.upstreams = vec![UpstreamLine {
            upstream: "corp".to_owned(),
            name: r#"Corp "><script>x</script>"#.to_owned(),
            subject: r#"s"><b>1"#.to_owned(),
            linked: "2026-12-02 17:00 UTC".to_owned(),
        }];
        page.error = Some("This provider is your only way to sign in, so it was not removed.");
        let body = check_page(render(StatusCode::CONFLICT, &page), StatusCode::CONFLICT).await;
        assert!(
            body.contains(r#"<section id="upstreams" aria-labelledby="upstreams-heading">"#),
            "{body}"
        );
        assert!(
            body.contains(r#"<h2 id="upstreams-heading">Linked sign-in providers</h2>"#),
            "{body}"
        );
        assert!(body.contains(&format!(
            r#"<form method="post" action="{}">"#,
            routes::ACCOUNT_UPSTREAM_REMOVE
        )));
        assert!(body.contains(r#"<input type="hidden" name="upstream" value="corp">"#));
        assert!(!body.contains("<script>x"), "{body}");
        assert!(!body.contains("<b>1"), "{body}");
        assert!(body.contains("Remove Corp &"), "{body}");
        assert!(body.contains("your only way to sign in"), "{body}");
    }

    #[actix_web::test]
    async fn the_profile_section_labels_every_field_and_escapes_what_was_typed() {
        let profile = usher_core::account::profile::ProfileView {
            name: r#"Eve "><script>x</script>"#.to_owned(),
            login_username: "alice".to_owned(),
            email: Some("alice@example.org".to_owned()),
            email_verified: false,
            ..Default::default()
        };
        let mut page = account_page("none");
        page.profile = &profile;
        let body = check_page(render(StatusCode::OK, &page), StatusCode::OK).await;
        assert!(!body.contains("<script>x"), "{body}");
        assert!(
            body.contains("&#34;&#62;&#60;script&#62;")
                || body.contains("&quot;&gt;&lt;script&gt;"),
            "{body}"
        );
        for id in [
            "profile-name",
            "profile-preferred-username",
            "profile-phone",
            "profile-street",
            "profile-locality",
            "profile-region",
            "profile-postal-code",
            "profile-country",
            "new-email",
        ] {
            assert!(
                body.contains(&format!(r#"<label for="{id}">"#)),
                "{id}: {body}"
            );
            assert!(body.contains(&format!(r#"id="{id}""#)), "{id}: {body}");
        }
        for action in [routes::ACCOUNT_PROFILE, routes::ACCOUNT_EMAIL] {
            assert!(body.contains(&format!(r#"<form method="post" action="{action}">"#)));
        }
        // An unconfirmed address: said so, with a button that mails a link for it.
        assert!(body.contains("not confirmed yet"), "{body}");
        assert!(body.contains(r#"<input type="hidden" name="email" value="alice@example.org">"#));
        assert!(
            body.contains("they see the name you sign in with, alice."),
            "{body}"
        );
    }

    #[actix_web::test]
    async fn the_setup_page_draws_the_qr_code_inline_and_labels_the_code_field() {
        let uri = "otpauth://totp/usher.example:alice?secret=JBSWY3DPEHPK3PXP";
        let svg = crate::qr::svg(uri, "QR code").unwrap();
        let page = TotpSetupPage {
            handle: "the-setup-handle",
            qr_svg: &svg,
            secret: "JBSWY3DPEHPK3PXP",
            uri,
            csrf: "tok-2",
            error: Some("That code is not right."),
        };
        let body = check_page(
            render(StatusCode::BAD_REQUEST, &page),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(body.contains(&svg), "the SVG is printed as is");
        assert!(body.contains(r#"<code class="secret" id="totp-secret">JBSWY3DPEHPK3PXP</code>"#));
        assert!(body.contains(r#"<label for="code">Code from the app</label>"#));
        assert!(body.contains(r#"autocomplete="one-time-code""#));
        assert!(body.contains(r#"aria-describedby="setup-error""#));
        assert!(body.contains(r#"<input type="hidden" name="csrf" value="tok-2">"#));
        assert!(
            !body.contains(r#"name="secret""#),
            "the secret is never a form field"
        );

        let page = RecoveryCodesPage {
            title: "New recovery codes",
            lead: "Your old recovery codes no longer work.",
            codes: vec!["abcd-efgh-jkmn".to_owned(); 10],
        };
        let body = check_page(render(StatusCode::OK, &page), StatusCode::OK).await;
        assert_eq!(
            body.matches("<li><code>abcd-efgh-jkmn</code></li>").count(),
            10
        );
    }

    /// A value whose `Display` fails, to make a template render fail.
    struct Broken;

    impl fmt::Display for Broken {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            Err(fmt::Error)
        }
    }

    #[derive(Template)]
    #[template(source = "<p>{{ value }}</p>", ext = "html")]
    struct BrokenPage {
        value: Broken,
    }

    #[actix_web::test]
    async fn a_render_error_is_a_plain_500_with_the_headers() {
        let resp = render(StatusCode::OK, &BrokenPage { value: Broken });
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(header(&resp, &CONTENT_TYPE), "text/plain; charset=utf-8");
        assert_eq!(
            header(&resp, &CONTENT_SECURITY_POLICY),
            CONTENT_SECURITY_POLICY_VALUE
        );
        assert_eq!(header(&resp, &X_FRAME_OPTIONS), "DENY");
        assert_eq!(header(&resp, &CACHE_CONTROL), "no-store");
        assert_eq!(body_of(resp).await, "Internal server error\n");
    }

    #[actix_web::test]
    async fn the_stylesheet_is_served() {
        let app =
            actix_test::init_service(App::new().service(crate::endpoints::assets::routes())).await;
        let resp = actix_test::call_service(
            &app,
            actix_test::TestRequest::get()
                .uri(routes::ASSETS_CSS)
                .to_request(),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let headers = resp.headers();
        assert_eq!(
            headers.get(CONTENT_TYPE).expect("content-type"),
            "text/css; charset=utf-8"
        );
        assert_eq!(
            headers.get(CACHE_CONTROL).expect("cache-control"),
            "public, max-age=86400"
        );
        let body = actix_test::read_body(resp).await;
        let css = std::str::from_utf8(&body).expect("utf-8 css");
        assert!(css.contains(":focus-visible"), "{css}");
        assert!(!css.contains("@import"), "no external resources");
        assert!(!css.contains("url("), "no external resources");
    }
}
