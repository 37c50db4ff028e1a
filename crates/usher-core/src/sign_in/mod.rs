//! The sign-in flow's decisions: what `/authorize`, the login form and the consent form
//! do, as typed outcomes. Nothing here renders: an outcome carries the values a page or a
//! redirect needs (and the cookie values to set), and `usher-http` renders each kind in
//! one place.
//!
//! - [`decision`]: whether the person must log in or consent, and what `/authorize` does
//!   with a request ([`decision::authorize`]).
//! - [`interaction`]: the pending interaction carried from page to page — sealed in the
//!   first form, stored once that form is posted — and the single-use rules of its forms.
//! - [`login`] and [`consent`]: the two forms' decisions.
//! - [`second_factor`]: the second step after a right password (an authenticator-app
//!   code or a recovery code, or setting up an app when one is required), and the page
//!   that shows new recovery codes once.
//! - [`code`]: issuing the authorization code.
//!
//! Cookie values arrive as values ([`Cookies`]); the cookies to set leave as values in
//! the outcome. The design is in docs/design/sign-in.md.

use usher_domain::RedirectUri;
use usher_domain::ScopeSet;
use usher_domain::authorize::{Rejection, UntrustedError};

use crate::Failure;
use crate::mfa::enroll::{RecoveryCodes, TotpSetup};
use crate::redact::{REDACTED, redacted};

pub mod code;
pub mod consent;
pub mod decision;
pub mod interaction;
pub mod login;
pub mod passkey;
pub mod second_factor;
pub mod upstream;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod two_step_tests;
#[cfg(test)]
mod upstream_tests;

/// The browser's cookies that the sign-in reads, as values, and what a new session
/// records of the request (its client address and user agent). `Debug` shows no cookie.
#[derive(Clone, Copy, Default)]
pub struct Cookies<'a> {
    /// The session cookie's value (`usher-session`).
    pub session: Option<&'a str>,
    /// The browser-binding cookie's value (`usher-browser`).
    pub binding: Option<&'a str>,
    /// The known-browser cookie's value (`usher-device`, [`crate::browsers`]).
    pub device: Option<&'a str>,
    /// The request's client address.
    pub address: Option<crate::client_address::ClientAddress>,
    /// The request's `User-Agent`, raw.
    pub user_agent: Option<&'a str>,
}

/// The interaction fields a posted login or consent form carries. `Debug` shows neither
/// the sealed interaction nor the token.
#[derive(Clone, Copy, Default)]
pub struct FormFields<'a> {
    /// The first form's sealed interaction (`pending`).
    pub pending: Option<&'a str>,
    /// A later form's interaction id (`interaction`).
    pub interaction: Option<&'a str>,
    /// A later form's one-use token (`csrf`).
    pub csrf: Option<&'a str>,
}

/// The hidden fields of a form to show. `Debug` shows neither the sealed interaction nor
/// the token.
#[derive(Clone, PartialEq, Eq)]
pub enum Form {
    /// The first page: the whole pending request, sealed. Showing it wrote nothing.
    Sealed(String),
    /// A later page: the stored interaction's id and this form's one-use token.
    Stored { interaction: String, csrf: String },
}

impl std::fmt::Debug for Cookies<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cookies")
            .field("session", &redacted(&self.session))
            .field("binding", &redacted(&self.binding))
            .field("device", &redacted(&self.device))
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for FormFields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormFields")
            .field("pending", &redacted(&self.pending))
            .field("interaction", &self.interaction)
            .field("csrf", &redacted(&self.csrf))
            .finish()
    }
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Form::Sealed(_) => f.debug_tuple("Sealed").field(&REDACTED).finish(),
            Form::Stored { interaction, .. } => f
                .debug_struct("Stored")
                .field("interaction", interaction)
                .field("csrf", &REDACTED)
                .finish(),
        }
    }
}

/// What a sign-in step decided. Its `Debug` shows no secret: each variant's own does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    /// A code was issued: redirect to the client with it.
    IssueCode(CodeRedirect),
    /// Show the login page.
    ShowLogin(LoginForm),
    /// Show the consent page.
    ShowConsent(ConsentForm),
    /// Show the second-factor page (after a right password).
    ShowSecondFactor(SecondFactorForm),
    /// Show new recovery codes once, then continue.
    ShowRecoveryCodes(RecoveryCodesForm),
    /// The person is in none of the groups the client is restricted to: show the "You
    /// do not have access" page (docs/design/groups.md).
    NoAccess(NoAccess),
    /// A sign-in at an upstream provider failed: the page that says why, with a link
    /// back to the app (docs/design/upstream.md).
    UpstreamProblem(upstream::UpstreamProblem),
    /// Send an error back to the client's redirect URI (RFC 6749 §4.1.2.1).
    ErrorToClient {
        redirect_uri: RedirectUri,
        rejection: Rejection,
        state: Option<String>,
    },
    /// Show one of Usher's own error pages: there is nowhere safe to redirect, or the
    /// server failed.
    ErrorPage(ErrorPageKind),
}

impl SignInOutcome {
    /// An error for the client's redirect URI; logged here, where it is decided.
    pub fn error_to_client(
        redirect_uri: &RedirectUri,
        state: Option<&str>,
        rejection: Rejection,
    ) -> SignInOutcome {
        tracing::info!(error = rejection.error.code(), description = %rejection.description, "authorization request refused");
        SignInOutcome::ErrorToClient {
            redirect_uri: redirect_uri.clone(),
            rejection,
            state: state.map(str::to_owned),
        }
    }

    /// An error for `client`'s redirect URI, or Usher's own error page when the client
    /// describes itself (`Client::describes_itself`): anyone can name any redirect URI
    /// for such a client, so an error redirect nobody consented to would make
    /// `/authorize` an open redirector (RFC 9700 §4.11.2). That includes the answers to
    /// `prompt=none`: such a client never skips the consent page, so a silent request
    /// can only fail, and its redirect would tell the attacker's page whether the
    /// visitor is signed in. After the person acted on a page (denied consent), the
    /// answer goes back to the client as usual.
    pub fn error_for(
        client: &usher_domain::Client,
        redirect_uri: &RedirectUri,
        state: Option<&str>,
        rejection: Rejection,
    ) -> SignInOutcome {
        if client.describes_itself() {
            tracing::info!(client_id = %client.id, error = rejection.error.code(), description = %rejection.description, "authorization request of a self-described client refused without redirect");
            return SignInOutcome::ErrorPage(ErrorPageKind::Invalid(rejection));
        }
        SignInOutcome::error_to_client(redirect_uri, state, rejection)
    }

    pub fn failure(f: Failure) -> SignInOutcome {
        SignInOutcome::ErrorPage(ErrorPageKind::Failure(f))
    }

    pub fn refused(r: FormRefusal) -> SignInOutcome {
        SignInOutcome::ErrorPage(ErrorPageKind::Refused(r))
    }
}

/// The page that tells a person they may not use a client restricted to groups they
/// are in none of. Its one link takes them back to the app with `access_denied` (RFC
/// 6749 §4.1.2.1), so the app learns the sign-in ended; nothing is sent to the app
/// before the person follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoAccess {
    pub client_name: String,
    /// "Signed in as …"; empty if the person could not be read.
    pub username: String,
    /// Where the link goes: the client's redirect URI with `access_denied`. `None` for a
    /// client that describes itself (no redirect nobody vetted).
    pub back: Option<BackToClient>,
}

/// An error for a client's redirect URI, to be rendered as a link rather than a
/// redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackToClient {
    pub redirect_uri: RedirectUri,
    pub rejection: Rejection,
    pub state: Option<String>,
}

/// The redirect that delivers a code (with `iss`, RFC 9207, added by the renderer from
/// the issuer).
#[derive(Clone, PartialEq, Eq)]
pub struct CodeRedirect {
    pub redirect_uri: RedirectUri,
    /// The code itself: a secret, never logged (`Debug` does not show it).
    pub code: String,
    pub state: Option<String>,
}

impl std::fmt::Debug for CodeRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeRedirect")
            .field("redirect_uri", &self.redirect_uri)
            .field("code", &REDACTED)
            .field("state", &self.state)
            .finish()
    }
}

/// The login page to show. `Debug` shows neither the form's secrets nor the cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginForm {
    pub client_name: String,
    pub form: Form,
    /// Prefilled from `login_hint` or the previous attempt; may be empty.
    pub username: String,
    /// The browser-binding cookie to set (the first page only; the same value as before
    /// if the browser had one, so other tabs' forms stay valid).
    pub binding: Option<String>,
    /// Offer "Sign in with a passkey" (the issuer allows WebAuthn: its host is a name).
    pub passkeys: bool,
    /// Offer "Create an account" (`signup = "open"`: [`crate::signup::offered`]).
    pub signup: bool,
    /// The "Sign in with …" buttons: the enabled upstream providers.
    pub upstreams: Vec<upstream::UpstreamButton>,
    /// An upstream identity (this upstream's name) matched the verified address of a
    /// person, who must sign in here to link it.
    pub link: Option<String>,
}

/// The consent page to show. `Debug` shows neither the form's secrets nor the cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsentForm {
    pub client_name: String,
    /// "Signed in as …"; empty if the person could not be read.
    pub username: String,
    pub scopes: ScopeSet,
    /// The RFC 8707 resources the tokens will be for, as the page names them (a
    /// resource's name, or else its identifier); empty when none was asked for.
    pub resources: Vec<String>,
    /// The client's identity cannot be verified (a public client on a loopback or
    /// private-use redirect URI).
    pub unverified: bool,
    /// For a Client ID Metadata Document's client: the host that publishes the document
    /// (its `client_id` URL's host), which the page shows beside the name the document
    /// claims, so that a look-alike host can be noticed.
    pub published_by: Option<String>,
    /// For a client that described itself (RFC 7591 or a metadata document,
    /// `Client::describes_itself`): where the code will go (the
    /// redirect URI's host, or its private-use scheme), shown because the client's name
    /// is whatever its registration said.
    pub self_registered_host: Option<String>,
    pub form: Form,
    /// As [`LoginForm::binding`].
    pub binding: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("client_name", &self.client_name)
            .field("form", &self.form)
            .field("username", &self.username)
            .field("binding", &redacted(&self.binding))
            .field("passkeys", &self.passkeys)
            .finish()
    }
}

impl std::fmt::Debug for ConsentForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentForm")
            .field("client_name", &self.client_name)
            .field("username", &self.username)
            .field("scopes", &self.scopes)
            .field("resources", &self.resources)
            .field("unverified", &self.unverified)
            .field("self_registered_host", &self.self_registered_host)
            .field("form", &self.form)
            .field("binding", &redacted(&self.binding))
            .finish()
    }
}

/// The second-factor page: the person typed a right password; nothing is issued and no
/// session exists until this step passes. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecondFactorForm {
    pub client_name: String,
    pub username: String,
    pub form: Form,
    /// `Some`: the person has no second factor and needs one: set up this authenticator
    /// app (shown as QR code, text and URI) and confirm it with a code. `None`: type a
    /// code from the app, or a recovery code.
    pub setup: Option<TotpSetup>,
    /// Why the previous attempt was refused, if it was.
    pub problem: Option<SecondFactorProblem>,
    /// Offer "Use a passkey" (the person has one, and the issuer allows WebAuthn).
    pub passkey: bool,
}

/// Why a second-factor attempt was refused. The texts do not say which kind of code
/// was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorProblem {
    /// Not a current code, not an unspent recovery code, or not a code at all.
    Wrong,
    /// A code that was already used (wait for the next one).
    Replayed,
    /// Too many failures: nothing was checked; wait this many seconds.
    Throttled { wait: i64 },
    /// Too many wrong app codes today: app codes are refused for this many seconds; a
    /// recovery code or a passkey still works.
    DailyCap { wait: i64 },
    /// The passkey was not accepted (not the person's, expired, another browser,
    /// invalid).
    PasskeyNotAccepted,
}

/// The page that shows a person their new recovery codes, once, with a form that
/// continues the sign-in. `Debug` shows no code.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodesForm {
    pub client_name: String,
    pub codes: RecoveryCodes,
    pub form: Form,
}

impl std::fmt::Debug for SecondFactorForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondFactorForm")
            .field("client_name", &self.client_name)
            .field("username", &self.username)
            .field("form", &self.form)
            .field("setup", &self.setup)
            .field("problem", &self.problem)
            .field("passkey", &self.passkey)
            .finish()
    }
}

impl std::fmt::Debug for RecoveryCodesForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodesForm")
            .field("client_name", &self.client_name)
            .field("codes", &self.codes)
            .field("form", &self.form)
            .finish()
    }
}

/// Why one of Usher's own error pages is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPageKind {
    /// `/authorize` named no trustworthy client or redirect URI.
    Untrusted(UntrustedError),
    /// A posted form was refused.
    Refused(FormRefusal),
    /// The server itself failed.
    Failure(Failure),
    /// An invalid `/authorize` request of a dynamically registered client: shown, not
    /// redirected, since anyone can register any redirect URI (RFC 9700 §4.11.2).
    Invalid(Rejection),
}

/// Why a posted login or consent form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormRefusal {
    /// The form expired, was altered, is for another step, or its sign-in is over.
    Expired,
    /// The form was posted from another browser than the one that started it.
    OtherBrowser,
    /// The form was already used.
    AlreadySubmitted,
    /// The form lacks its interaction fields.
    Incomplete,
    /// The consent form has no (or an unknown) decision.
    NoDecision,
    /// The person who would consent is no longer the one signed in in this browser.
    NoLongerSignedIn,
    /// An administrator disabled the person (said only after their password or passkey
    /// was accepted, so it tells a stranger nothing): docs/design/accounts.md.
    AccountDisabled,
}
