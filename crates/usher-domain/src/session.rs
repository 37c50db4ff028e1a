//! The records of a sign-in: browser sessions, pending interactions (login and consent
//! pages), remembered consent, authorization codes, and revoked access tokens.
//!
//! Every secret that identifies one of these (session cookie, interaction CSRF token,
//! authorization code) is stored only as a hash: the `*_hash` fields hold
//! `base64url(SHA-256(secret))`, computed by the caller.

use std::net::IpAddr;

use crate::browser::UserAgent;
use crate::client::{ClientId, RedirectUri};
use crate::mfa::AuthMethods;
use crate::pkce::CodeChallenge;
use crate::scope::ScopeSet;
use crate::time::UnixTime;
use crate::user::UserId;

/// A browser session: created at login, ended at logout or expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Hash of the random id the cookie carries.
    pub id_hash: String,
    /// Hash of the session's *lineage*: a random id drawn when a person signs in to a
    /// browser that holds no live session of theirs, and inherited by every later
    /// session of the same person in that browser (a re-authentication replaces the
    /// session, never the lineage). Codes and refresh families are bound to it, so a
    /// logout reaches everything issued in that browser since the person first signed
    /// in there. The id itself is never sent anywhere; only its hash is stored.
    pub lineage_hash: String,
    pub user_id: UserId,
    /// When the person last signed in completely, every step (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// How they signed in (`amr`; the `acr` follows from it).
    pub amr: AuthMethods,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The client address the sign-in came from (behind `trusted_proxies`), when known.
    pub address: Option<IpAddr>,
    /// The user agent the browser announced at the sign-in, as a label.
    pub user_agent: Option<UserAgent>,
}

/// A single-use token of one of the account page's forms (its CSRF token), as stored:
/// only the token's hash, the hash of the session it was shown to, what the form does,
/// and when it stops being accepted. Taking it deletes it (`FormTokenStore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormToken {
    /// `base64url(SHA-256(token))`: the token itself travels only in the page.
    pub token_hash: String,
    /// The `id_hash` of the session the page was rendered for.
    pub session_hash: String,
    /// What the form may do (a fixed word the core chooses, e.g. `account`).
    pub purpose: String,
    pub expires_at: UnixTime,
}

/// Where a pending interaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionStep {
    Login,
    /// The password was right; the second factor is asked (or, when one is required and
    /// the person has none, set up). No session exists yet.
    SecondFactor,
    /// A second factor was just set up: the new recovery codes are shown once, then the
    /// sign-in continues.
    RecoveryCodes,
    Consent,
}

impl InteractionStep {
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionStep::Login => "login",
            InteractionStep::SecondFactor => "second_factor",
            InteractionStep::RecoveryCodes => "recovery_codes",
            InteractionStep::Consent => "consent",
        }
    }

    pub fn parse(raw: &str) -> Option<InteractionStep> {
        match raw {
            "login" => Some(InteractionStep::Login),
            "second_factor" => Some(InteractionStep::SecondFactor),
            "recovery_codes" => Some(InteractionStep::RecoveryCodes),
            "consent" => Some(InteractionStep::Consent),
            _ => None,
        }
    }
}

/// An authorization request waiting for the person: the login or the consent page.
///
/// The first page's form carries the whole pending request sealed by the sign-in core
/// (`usher_core::sign_in`); the row is written when that form is posted (so an
/// unauthenticated `GET /authorize` writes nothing). From then on the validated request
/// is kept here (as JSON the core owns) and each page's form carries only the
/// interaction id and a single-use CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// Random, 256 bits, chosen when the first page is rendered: inserting it a second
    /// time fails, which makes the first form single-use.
    pub id: String,
    /// Hash of the one CSRF token that the current form carries; replaced on every use.
    /// [`Interaction::SPENT`] once the interaction is over.
    pub csrf_hash: String,
    /// Hash of the browser-binding cookie of the browser that started the request: a form
    /// is accepted only from a browser whose cookie hashes to it.
    pub browser_hash: String,
    pub step: InteractionStep,
    /// The validated authorization request, serialised by the core (`AuthorizationRequest` as JSON).
    pub request: String,
    /// Set once the person has logged in during this interaction.
    pub user_id: Option<UserId>,
    pub auth_time: Option<UnixTime>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The methods of the first step when it was not a password (an upstream sign-in),
    /// kept while Usher's second factor is asked; `None`: a password (or nothing yet).
    pub first_amr: Option<crate::AuthMethods>,
}

impl Interaction {
    /// The `csrf_hash` of a finished interaction. No token hashes to it, so no form
    /// matches; the row stays until it expires so that its id cannot be used again.
    pub const SPENT: &'static str = "";
}

/// An authorization code as stored: bound to everything the token request must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: ClientId,
    /// The redirect URI the code was delivered to.
    pub redirect_uri: RedirectUri,
    /// Whether the authorization request carried `redirect_uri` (then the token request
    /// must carry the same; RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    pub user_id: UserId,
    /// Lineage hash of the browser session the code was issued in
    /// ([`Session::lineage_hash`]).
    pub lineage_hash: String,
    /// The scopes granted (for resources: [`crate::resource`]'s decision).
    pub scopes: ScopeSet,
    /// The RFC 8707 resources granted at `/authorize` (empty: none asked for; the access
    /// token is then for the userinfo endpoint, as before resources).
    pub resources: Vec<crate::resource::ResourceUri>,
    pub nonce: Option<String>,
    /// The S256 challenge, when one was sent.
    pub code_challenge: Option<CodeChallenge>,
    pub auth_time: UnixTime,
    /// How the person signed in (the session's).
    pub amr: AuthMethods,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First redemption: the code is now consumed, and it is the caller's.
    Redeemed(AuthorizationCode),
    /// The code was redeemed before. `issued_jtis` are the access tokens issued then,
    /// with their expiry, so the caller can revoke them.
    Replayed {
        code: AuthorizationCode,
        issued_jtis: Vec<(String, UnixTime)>,
    },
    /// No such code.
    Unknown,
}

/// Counters of login attempts for one key (an account or a client address); the rule
/// that changes them is in [`crate::throttle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    /// Attempts reserved within the current window: failures, and attempts still being
    /// checked.
    pub count: u32,
    /// When the first attempt of the window happened.
    pub window_start: UnixTime,
    /// No login attempt for this key is checked before this time.
    pub locked_until: Option<UnixTime>,
}
