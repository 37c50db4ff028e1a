//! The grants of the token endpoint (RFC 6749 §4, §6), one module each, and what they
//! share: the typed outcome ([`TokenResponse`] or [`TokenError`]), the `grant_type`
//! dispatch, and the refusal of `resource` where it is not supported.
//!
//! A grant takes the authenticated client and the form's parameters as values and
//! decides; it names no HTTP type. `usher-http`'s token endpoint renders the outcome
//! (status, JSON body, cache headers) and counts the tokens issued from
//! [`TokenResponse::grant_type`].

pub mod authorization_code;
pub mod client_credentials;
pub mod person_tokens;
pub mod refresh_token;

#[cfg(test)]
mod fixtures;

use usher_domain::authorize::{RawParams, Rejection};
use usher_domain::{Client, GrantType, ProtocolError, ScopeSet};

use crate::Core;
use crate::failure::Failure;

/// What a grant issued: the values of an RFC 6749 §5.1 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The grant that issued it (the tokens-issued metric is counted by it).
    pub grant_type: GrantType,
    /// The access token (`token_type` is always `Bearer`).
    pub access_token: String,
    /// The access token's lifetime, in seconds.
    pub expires_in: i64,
    pub scope: ScopeSet,
    pub refresh_token: Option<String>,
    /// For a person's grant with `openid`.
    pub id_token: Option<String>,
}

/// Why a grant issued nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// An RFC 6749 §5.2 error with a description that names the fix.
    Refused(Rejection),
    /// The server, not the request, failed (503 or 500).
    Failure(Failure),
}

impl From<Failure> for TokenError {
    fn from(f: Failure) -> TokenError {
        TokenError::Failure(f)
    }
}

impl TokenError {
    /// A refusal with `error` and `description`.
    pub fn refused(error: ProtocolError, description: impl Into<String>) -> TokenError {
        TokenError::Refused(Rejection {
            error,
            description: description.into(),
        })
    }

    /// An `invalid_grant` refusal.
    pub fn invalid_grant(description: impl Into<String>) -> TokenError {
        TokenError::refused(ProtocolError::InvalidGrant, description)
    }
}

/// The one value of a parameter sent exactly once and not empty (the endpoints refuse
/// repeats before any grant sees the form).
pub(crate) fn single<'a>(params: &'a RawParams, name: &str) -> Option<&'a str> {
    let mut found = params.iter().filter(|(k, _)| k == name);
    match (found.next(), found.next()) {
        (Some((_, v)), None) if !v.is_empty() => Some(v.as_str()),
        _ => None,
    }
}

/// The grant a token request asks for (`grant_type`, RFC 6749 §4).
pub fn grant_type(form: &RawParams) -> Result<GrantType, TokenError> {
    match single(form, "grant_type") {
        None => Err(TokenError::refused(
            ProtocolError::InvalidRequest,
            "grant_type is missing",
        )),
        Some(g) => g.parse().map_err(|_| {
            TokenError::refused(
                ProtocolError::UnsupportedGrantType,
                "this grant_type is not supported; use authorization_code, refresh_token or client_credentials",
            )
        }),
    }
}

/// A token request of an authenticated `client`: dispatches on `grant_type`.
pub async fn token(
    core: &Core,
    client: Client,
    form: &RawParams,
) -> Result<TokenResponse, TokenError> {
    match grant_type(form)? {
        GrantType::AuthorizationCode => authorization_code::exchange(core, client, form).await,
        GrantType::RefreshToken => refresh_token::refresh(core, client, form).await,
        GrantType::ClientCredentials => client_credentials::issue(core, client, form).await,
    }
}

/// RFC 8707 resource indicators are supported by `client_credentials` only. The code and
/// refresh grants refuse `resource` (RFC 8707 §2: `invalid_target`) rather than ignore
/// it: a client that asked for a token for one API must not get one for another
/// audience without noticing. Checked before anything is spent.
pub(crate) fn refuse_resource(form: &RawParams) -> Result<(), TokenError> {
    if form.iter().any(|(k, _)| k == "resource") {
        return Err(TokenError::refused(
            ProtocolError::InvalidTarget,
            "resource is supported only with grant_type=client_credentials",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> RawParams {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn grant_type_is_required_and_must_be_one_usher_supports() {
        assert_eq!(
            grant_type(&form(&[("grant_type", "refresh_token")])),
            Ok(GrantType::RefreshToken)
        );
        for missing in [form(&[]), form(&[("grant_type", "")])] {
            assert_eq!(
                grant_type(&missing),
                Err(TokenError::refused(
                    ProtocolError::InvalidRequest,
                    "grant_type is missing"
                ))
            );
        }
        for unsupported in [
            "password",
            "implicit",
            "urn:ietf:params:oauth:grant-type:device_code",
        ] {
            let Err(TokenError::Refused(r)) = grant_type(&form(&[("grant_type", unsupported)]))
            else {
                panic!("{unsupported} was accepted");
            };
            assert_eq!(r.error, ProtocolError::UnsupportedGrantType);
        }
    }

    #[test]
    fn resource_is_refused_as_invalid_target() {
        assert!(refuse_resource(&form(&[("code", "x")])).is_ok());
        assert_eq!(
            refuse_resource(&form(&[("resource", "https://api.example")])),
            Err(TokenError::refused(
                ProtocolError::InvalidTarget,
                "resource is supported only with grant_type=client_credentials"
            ))
        );
    }
}
