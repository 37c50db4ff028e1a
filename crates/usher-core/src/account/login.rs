//! How the account page signs people in: as the built-in public client `usher-account`
//! (`client.rs`), through Usher's own `/authorize` with PKCE S256, `state` and `nonce`,
//! exactly like any relying party. [`start`] draws the state, the verifier and the nonce
//! and names the cookie value that holds them (the HTTP layer sets it HttpOnly,
//! SameSite=Lax, Path=/account, short-lived); [`finish`] checks the returned `state`
//! against the cookie in constant time and redeems the code through the token
//! endpoint's own `authorization_code` grant, so the code is spent and the verifier
//! proven. The page itself then identifies the person by the session cookie, never by
//! anything in a URL.

use std::fmt;

use usher_domain::UserCode;
use usher_domain::authorize::RawParams;

use crate::Core;
use crate::account::client::{self, ACCOUNT_CLIENT_ID, ACCOUNT_PATH, AUTHORIZE_PATH};
use crate::failure::Failure;
use crate::grants::device_code::VERIFICATION_PATH;
use crate::grants::{self, TokenError, TokenRequest};

/// Where the person goes once signed in: a fixed set of local paths, never a URL from
/// the request (no open redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnTo {
    /// The account page.
    Account,
    /// The account page's Security section (after a change needed a recent sign-in).
    Security,
    /// The device verification page (RFC 8628), with the user code typed before the
    /// sign-in, if any (it is the person's own: it travels as `verification_uri_complete`
    /// does).
    Device(Option<UserCode>),
    /// The admin console (`/admin`, docs/design/admin-console.md): it signs in through
    /// this same built-in client and then checks membership of `usher-admins` itself.
    Admin,
}

impl ReturnTo {
    /// The local path (and fragment or query) to redirect to.
    pub fn path(&self) -> String {
        match self {
            ReturnTo::Account => ACCOUNT_PATH.to_owned(),
            ReturnTo::Security => "/account#security".to_owned(),
            ReturnTo::Device(None) => VERIFICATION_PATH.to_owned(),
            ReturnTo::Device(Some(code)) => {
                format!("{VERIFICATION_PATH}?user_code={}", code.display())
            }
            ReturnTo::Admin => crate::admin_console::CONSOLE_PATH.to_owned(),
        }
    }

    fn word(&self) -> String {
        match self {
            ReturnTo::Account => "account".to_owned(),
            ReturnTo::Security => "security".to_owned(),
            ReturnTo::Device(None) => "device".to_owned(),
            ReturnTo::Device(Some(code)) => format!("device-{}", code.as_str()),
            ReturnTo::Admin => "admin".to_owned(),
        }
    }

    fn from_word(word: &str) -> Option<ReturnTo> {
        match word {
            "account" => Some(ReturnTo::Account),
            "security" => Some(ReturnTo::Security),
            "device" => Some(ReturnTo::Device(None)),
            "admin" => Some(ReturnTo::Admin),
            _ => {
                let code = word.strip_prefix("device-")?;
                Some(ReturnTo::Device(Some(UserCode::parse(code)?)))
            }
        }
    }
}

/// A sign-in to start: where to send the browser, and what the sign-in cookie holds
/// (state, PKCE verifier, where to return). `Debug` hides the cookie value.
pub struct SignInStart {
    /// The `/authorize` URL, absolute.
    pub location: String,
    /// The value of the account sign-in cookie.
    pub cookie_value: String,
}

impl fmt::Debug for SignInStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInStart")
            .field("location", &self.location)
            .field("cookie_value", &"<redacted>")
            .finish()
    }
}

/// Starts a sign-in for the account page. `max_age` (seconds) asks `/authorize` for a
/// sign-in at most that old: the recent-sign-in rule passes 300.
pub fn start(
    core: &Core,
    return_to: ReturnTo,
    max_age: Option<i64>,
) -> Result<SignInStart, Failure> {
    let random = |n| {
        usher_keys::random_token(n).map_err(|e| {
            tracing::error!(cause = %e, "no randomness");
            Failure::Internal
        })
    };
    let state = random(32)?;
    let verifier = random(32)?;
    let nonce = random(16)?;
    let challenge = usher_keys::sha256_b64url(&verifier);
    let redirect_uri = client::redirect_uri(&core.settings);
    let max_age = max_age.map(|m| m.to_string());
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", ACCOUNT_CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(m) = &max_age {
        query.append_pair("max_age", m);
    }
    let location = format!(
        "{}?{}",
        core.settings.issuer.endpoint(AUTHORIZE_PATH),
        query.finish()
    );
    Ok(SignInStart {
        location,
        cookie_value: format!("{state}.{verifier}.{}", return_to.word()),
    })
}

/// What `/account/callback` received: the sign-in cookie and the query's parameters.
#[derive(Clone, Copy, Default)]
pub struct Callback<'a> {
    pub cookie: Option<&'a str>,
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    /// `error` from `/authorize` (e.g. `access_denied`), if it sent one.
    pub error: Option<&'a str>,
}

impl fmt::Debug for Callback<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// What the callback decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The code was redeemed: go to this page (the sign-in cookie is cleared).
    SignedIn(ReturnTo),
    /// Refused: show the error page (and clear the sign-in cookie).
    Refused(CallbackRefusal),
}

/// Why a callback was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackRefusal {
    /// No sign-in was started in this browser (no or a malformed cookie).
    NotStarted,
    /// The `state` is not the one this browser's sign-in started with.
    StateMismatch,
    /// `/authorize` answered with an error, or sent no code.
    SignInFailed,
    /// The code was refused at the exchange (spent, expired, or the verifier is wrong).
    CodeRefused,
}

/// Checks the callback and redeems its code.
pub async fn finish(core: &Core, callback: Callback<'_>) -> Result<CallbackOutcome, Failure> {
    let refused = |r| Ok(CallbackOutcome::Refused(r));
    let Some((state, verifier, return_to)) = callback.cookie.and_then(parse_cookie) else {
        return refused(CallbackRefusal::NotStarted);
    };
    let Some(sent) = callback.state else {
        return refused(CallbackRefusal::StateMismatch);
    };
    if !(sent.len() == state.len() && openssl::memcmp::eq(sent.as_bytes(), state.as_bytes())) {
        return refused(CallbackRefusal::StateMismatch);
    }
    let (None, Some(code)) = (callback.error, callback.code) else {
        return refused(CallbackRefusal::SignInFailed);
    };
    let Some(account_client) = client::built_in(&core.settings) else {
        return Err(Failure::Internal);
    };
    let form: RawParams = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.to_owned()),
        (
            "redirect_uri".to_owned(),
            client::redirect_uri(&core.settings),
        ),
        ("code_verifier".to_owned(), verifier.to_owned()),
    ];
    let request = match TokenRequest::parse(&form) {
        Ok(r) => r,
        Err(TokenError::Failure(f)) => return Err(f),
        Err(TokenError::Refused(_)) => return refused(CallbackRefusal::CodeRefused),
    };
    match grants::token(core, account_client, &request).await {
        // The tokens are not needed: the session cookie is the account page's proof.
        Ok(_) => Ok(CallbackOutcome::SignedIn(return_to)),
        Err(TokenError::Failure(f)) => Err(f),
        Err(TokenError::Refused(r)) => {
            tracing::info!(reason = %r.description, "the account page's code was refused");
            refused(CallbackRefusal::CodeRefused)
        }
    }
}

/// `state.verifier.return_to`, each part of the shape [`start`] makes.
fn parse_cookie(value: &str) -> Option<(&str, &str, ReturnTo)> {
    let mut parts = value.split('.');
    let (state, verifier, word) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !token_shaped(state) || !token_shaped(verifier) {
        return None;
    }
    Some((state, verifier, ReturnTo::from_word(word)?))
}

fn token_shaped(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
