//! The protocol error codes of RFC 6749, RFC 6750, RFC 7009, RFC 8707 and OpenID Connect.
//!
//! One enum, one variant per wire code. The HTTP layer decides status codes and headers
//! in one place; this type only knows the code and a human description.

use std::fmt;

/// A protocol error, named after its wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    /// RFC 6749 §4.1.2.1, §5.2.
    InvalidRequest,
    /// Client authentication failed. RFC 6749 §5.2.
    InvalidClient,
    /// The grant (code, refresh token) or a PKCE verifier is invalid, expired, revoked or
    /// was issued to another client. RFC 6749 §5.2.
    InvalidGrant,
    /// The client may not use this grant or response type. RFC 6749 §4.1.2.1, §5.2.
    UnauthorizedClient,
    /// The grant type is not supported by Usher. RFC 6749 §5.2.
    UnsupportedGrantType,
    /// The response type is not supported by Usher. RFC 6749 §4.1.2.1.
    UnsupportedResponseType,
    /// A requested scope is unknown, malformed, or not allowed. RFC 6749 §4.1.2.1, §5.2.
    InvalidScope,
    /// The person or the server denied the request. RFC 6749 §4.1.2.1.
    AccessDenied,
    /// The server met an unexpected condition. RFC 6749 §4.1.2.1.
    ServerError,
    /// The server is temporarily unable to handle the request. RFC 6749 §4.1.2.1.
    TemporarilyUnavailable,
    /// `prompt=none` was asked but the person must log in. OIDC Core §3.1.2.6.
    LoginRequired,
    /// `prompt=none` was asked but the person must consent. OIDC Core §3.1.2.6.
    ConsentRequired,
    /// `prompt=none` was asked but the person must interact. OIDC Core §3.1.2.6.
    InteractionRequired,
    /// The access token is expired, revoked, malformed or invalid. RFC 6750 §3.1.
    InvalidToken,
    /// The requested resource (audience) is not allowed. RFC 8707 §2.
    InvalidTarget,
    /// The token type cannot be revoked. RFC 7009 §2.2.1.
    UnsupportedTokenType,
    /// The `request` parameter is not supported. OIDC Core §3.1.2.6.
    RequestNotSupported,
    /// The `request_uri` parameter is not supported. OIDC Core §3.1.2.6.
    RequestUriNotSupported,
    /// The `registration` parameter is not supported. OIDC Core §3.1.2.6.
    RegistrationNotSupported,
}

impl ProtocolError {
    /// The code as it appears on the wire.
    pub fn code(self) -> &'static str {
        match self {
            ProtocolError::InvalidRequest => "invalid_request",
            ProtocolError::InvalidClient => "invalid_client",
            ProtocolError::InvalidGrant => "invalid_grant",
            ProtocolError::UnauthorizedClient => "unauthorized_client",
            ProtocolError::UnsupportedGrantType => "unsupported_grant_type",
            ProtocolError::UnsupportedResponseType => "unsupported_response_type",
            ProtocolError::InvalidScope => "invalid_scope",
            ProtocolError::AccessDenied => "access_denied",
            ProtocolError::ServerError => "server_error",
            ProtocolError::TemporarilyUnavailable => "temporarily_unavailable",
            ProtocolError::LoginRequired => "login_required",
            ProtocolError::ConsentRequired => "consent_required",
            ProtocolError::InteractionRequired => "interaction_required",
            ProtocolError::InvalidToken => "invalid_token",
            ProtocolError::InvalidTarget => "invalid_target",
            ProtocolError::UnsupportedTokenType => "unsupported_token_type",
            ProtocolError::RequestNotSupported => "request_not_supported",
            ProtocolError::RequestUriNotSupported => "request_uri_not_supported",
            ProtocolError::RegistrationNotSupported => "registration_not_supported",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
