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
    /// The person has not yet approved or denied the device authorization: poll again
    /// after the interval. RFC 8628 §3.5.
    AuthorizationPending,
    /// Polling too fast: the interval grows by 5 seconds. RFC 8628 §3.5.
    SlowDown,
    /// The device code expired: start a new device authorization. RFC 8628 §3.5.
    ExpiredToken,
}

impl ProtocolError {
    /// The silent answers to `prompt=none` (OIDC Core §3.1.2.6), which a client needs on
    /// its redirect URI to know it must show the person a page.
    pub fn answers_prompt_none(self) -> bool {
        matches!(
            self,
            ProtocolError::LoginRequired
                | ProtocolError::ConsentRequired
                | ProtocolError::InteractionRequired
        )
    }

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
            ProtocolError::AuthorizationPending => "authorization_pending",
            ProtocolError::SlowDown => "slow_down",
            ProtocolError::ExpiredToken => "expired_token",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The parameter names Usher reads on any endpoint: the only request text an error
/// description may quote. A description built from anything else would carry request text
/// back to the client (and could break the character set RFC 6749 allows).
pub const KNOWN_PARAMETERS: [&str; 35] = [
    "access_token",
    "acr_values",
    "claims_locales",
    "client_assertion",
    "client_assertion_type",
    "client_id",
    "client_secret",
    "code",
    "code_challenge",
    "code_challenge_method",
    "code_verifier",
    "device_code",
    "display",
    "grant_type",
    "id_token_hint",
    "login_hint",
    "logout_hint",
    "max_age",
    "nonce",
    "post_logout_redirect_uri",
    "prompt",
    "redirect_uri",
    "refresh_token",
    "registration",
    "request",
    "request_uri",
    "resource",
    "response_mode",
    "response_type",
    "scope",
    "state",
    "token",
    "token_type_hint",
    "ui_locales",
    "user_code",
];

/// `name` as one of [`KNOWN_PARAMETERS`], if it is one.
pub fn known_parameter(name: &str) -> Option<&'static str> {
    KNOWN_PARAMETERS.into_iter().find(|k| *k == name)
}

/// The description of a repeated parameter (RFC 6749 §3.1, §3.2): it names the parameter
/// only when Usher knows the name.
pub fn repeated_parameter(name: &str) -> String {
    match known_parameter(name) {
        Some(known) => format!("the {known} parameter is repeated; send it once"),
        None => "a parameter is repeated; send each parameter once".to_owned(),
    }
}

/// Whether `c` may appear in an `error_description`: RFC 6749 §4.1.2.1 and §5.2 allow
/// only `%x20-21 / %x23-5B / %x5D-7E` (printable ASCII without `"` and `\`).
pub fn is_description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// The last filter before an `error_description` goes on the wire: every character
/// outside the allowed set becomes `?`. Descriptions are fixed sentences, so this changes
/// nothing in practice; it is what makes a mistake harmless.
pub fn wire_description(description: &str) -> String {
    description
        .chars()
        .map(|c| if is_description_char(c) { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_parameter_names_are_quoted() {
        assert_eq!(
            repeated_parameter("scope"),
            "the scope parameter is repeated; send it once"
        );
        assert_eq!(
            repeated_parameter("x\"<script>"),
            "a parameter is repeated; send each parameter once"
        );
    }

    #[test]
    fn the_wire_filter_keeps_the_allowed_set_and_replaces_the_rest() {
        assert_eq!(wire_description("a-z A-Z 0-9 !#[]^~"), "a-z A-Z 0-9 !#[]^~");
        assert_eq!(wire_description("\"x\"\\§\n\u{7f}é"), "?x??????");
    }
}
