//! Dynamic client registration (RFC 7591, RFC 7592; docs/design/registration.md): who may
//! register ([`RegistrationMode`]), the metadata a client sends ([`ClientMetadata`], the
//! loose values the HTTP edge read from the JSON body) and the rules that turn it into a
//! [`ClientRegistration`] ([`ClientMetadata::into_registration`]), the operator's initial
//! access tokens ([`InitialAccessToken`]), and the port that stores them and the clients
//! registered this way ([`RegistrationStore`]).
//!
//! A dynamically registered client is narrower than one the operator creates: the
//! `authorization_code` and `refresh_token` grants only, response type `code`, PKCE
//! always, never first-party, and only the scopes [`ClientMetadata::into_registration`]
//! is given as allowed.

use url::Url;

use crate::client::{
    AuthMethod, Client, ClientId, ClientRegistration, GrantType, RegistrationError,
    RegistrationInput,
};
use crate::ports::StoreError;
use crate::scope::ScopeSet;
use crate::time::UnixTime;

/// Who may register a client at `POST /register` (`registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationMode {
    /// Nobody: the registration routes are not served and discovery names none (the
    /// default).
    #[default]
    Off,
    /// Whoever presents an initial access token made with `usher registration token
    /// create` (RFC 7591 §3, `Authorization: Bearer`).
    Token,
    /// Anyone (rate-limited per client address).
    Open,
}

impl RegistrationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationMode::Off => "off",
            RegistrationMode::Token => "token",
            RegistrationMode::Open => "open",
        }
    }

    pub fn parse(raw: &str) -> Option<RegistrationMode> {
        match raw {
            "off" => Some(RegistrationMode::Off),
            "token" => Some(RegistrationMode::Token),
            "open" => Some(RegistrationMode::Open),
            _ => None,
        }
    }

    pub fn is_on(self) -> bool {
        self != RegistrationMode::Off
    }
}

/// The client metadata of a registration or an RFC 7592 update, as the HTTP edge read
/// it from the JSON object: each known member with the JSON type RFC 7591 gives it
/// (a member of the wrong type was refused there), unknown members already dropped
/// (RFC 7591 §3.1: ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientMetadata {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub scope: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub id_token_signed_response_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
}

/// Why metadata was refused: the RFC 7591 §3.2.2 error code and a description that says
/// what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// `invalid_redirect_uri`.
    RedirectUri(String),
    /// `invalid_client_metadata`.
    ClientMetadata(String),
}

impl MetadataError {
    pub fn code(&self) -> &'static str {
        match self {
            MetadataError::RedirectUri(_) => "invalid_redirect_uri",
            MetadataError::ClientMetadata(_) => "invalid_client_metadata",
        }
    }

    pub fn description(&self) -> &str {
        match self {
            MetadataError::RedirectUri(d) | MetadataError::ClientMetadata(d) => d,
        }
    }
}

/// The grant types a dynamically registered client may use.
pub const DYNAMIC_GRANT_TYPES: [GrantType; 2] =
    [GrantType::AuthorizationCode, GrantType::RefreshToken];

/// At most this many `redirect_uris` in a registration (each at most
/// [`crate::RedirectUri::MAX_REGISTERED_LEN`] characters).
pub const MAX_DYNAMIC_REDIRECT_URIS: usize = 20;
/// At most this many `post_logout_redirect_uris` in a registration.
pub const MAX_DYNAMIC_POST_LOGOUT_URIS: usize = 5;

/// The name of a client that sent none and whose first redirect URI does not parse.
const UNNAMED: &str = "Unnamed application";

impl ClientMetadata {
    /// The registration these metadata ask for, or why not. `allowed_scopes` is every
    /// scope a dynamically registered client may hold (the server's choice); a `scope`
    /// member naming any other is refused, and a missing one means all of them.
    pub fn into_registration(
        self,
        allowed_scopes: &ScopeSet,
    ) -> Result<ClientRegistration, MetadataError> {
        let meta = |d: String| MetadataError::ClientMetadata(d);
        let redirect_uris = self.redirect_uris.unwrap_or_default();
        if redirect_uris.is_empty() {
            return Err(MetadataError::RedirectUri(
                "redirect_uris is required: give at least one https, loopback (http://127.0.0.1, http://[::1], http://localhost) or private-use scheme (com.example.app:/callback) URI".into(),
            ));
        }
        if redirect_uris.len() > MAX_DYNAMIC_REDIRECT_URIS {
            return Err(MetadataError::RedirectUri(format!(
                "at most {MAX_DYNAMIC_REDIRECT_URIS} redirect_uris may be registered"
            )));
        }
        for raw in &redirect_uris {
            check_dynamic_redirect_uri(raw).map_err(MetadataError::RedirectUri)?;
        }
        let post_logout_redirect_uris = self.post_logout_redirect_uris.unwrap_or_default();
        if post_logout_redirect_uris.len() > MAX_DYNAMIC_POST_LOGOUT_URIS {
            return Err(meta(format!(
                "at most {MAX_DYNAMIC_POST_LOGOUT_URIS} post_logout_redirect_uris may be registered"
            )));
        }
        // The same rules as redirect URIs (no javascript:, data:, … schemes).
        for raw in &post_logout_redirect_uris {
            check_dynamic_redirect_uri(raw)
                .map_err(|e| meta(format!("post_logout_redirect_uris: {e}")))?;
        }

        let auth_method = match self.token_endpoint_auth_method.as_deref() {
            // RFC 7591 §2: the default is client_secret_basic.
            None => AuthMethod::ClientSecretBasic,
            Some(raw) => raw.parse::<AuthMethod>().map_err(|_| {
                meta(format!(
                    "token_endpoint_auth_method {raw:?} is not supported; use none (a public client), client_secret_basic or client_secret_post"
                ))
            })?,
        };

        let grant_types = self
            .grant_types
            .unwrap_or_else(|| vec![GrantType::AuthorizationCode.as_str().to_owned()]);
        for g in &grant_types {
            let known = g.parse::<GrantType>().ok();
            if !known.is_some_and(|g| DYNAMIC_GRANT_TYPES.contains(&g)) {
                return Err(meta(format!(
                    "grant type {g:?} is not available to dynamically registered clients; use authorization_code and refresh_token"
                )));
            }
        }
        if let Some(types) = &self.response_types
            && let Some(bad) = types.iter().find(|t| t.as_str() != "code")
        {
            return Err(meta(format!(
                "response type {bad:?} is not supported; use code"
            )));
        }

        let refresh = grant_types
            .iter()
            .any(|g| g == GrantType::RefreshToken.as_str());
        let scope = match self.scope.as_deref() {
            // Every allowed scope; `offline_access` only with the refresh_token grant.
            None if refresh => allowed_scopes.clone(),
            None => allowed_scopes.without(&[crate::scope::OFFLINE_ACCESS]),
            Some(raw) => {
                let asked = ScopeSet::parse(raw)
                    .map_err(|e| meta(RegistrationError::from(e).to_string()))?;
                if let Some(bad) = asked.iter().find(|s| !allowed_scopes.contains(s.as_str())) {
                    return Err(meta(format!(
                        "scope {:?} is not available to dynamically registered clients; they may ask for: {}",
                        bad.as_str(),
                        allowed_scopes
                    )));
                }
                asked
            }
        };

        let name = match self.client_name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => default_name(&redirect_uris[0]),
        };

        // Only https for a self-registered back-channel URI: plain http to a loopback
        // address (allowed for `usher client create`) would point Usher at itself.
        if let Some(raw) = self.backchannel_logout_uri.as_deref()
            && !raw.starts_with("https://")
        {
            return Err(meta(format!(
                "backchannel_logout_uri {raw:?} is refused: it must be an https URI"
            )));
        }

        let input = RegistrationInput {
            name,
            public: auth_method == AuthMethod::None,
            auth_method: Some(auth_method.as_str().to_owned()),
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scope: Some(scope.to_string()),
            audiences: Vec::new(),
            pkce_optional: false,
            first_party: false,
            require_mfa: false,
            backchannel_logout_uri: self.backchannel_logout_uri,
            backchannel_logout_session_required: self
                .backchannel_logout_session_required
                .unwrap_or(false),
            allowed_origins: Vec::new(),
            id_token_signed_response_alg: self.id_token_signed_response_alg,
            // A self-registered client is never restricted by groups: only the operator
            // restricts one, with `usher client update --allowed-group`.
            allowed_groups: Vec::new(),
        };
        let mut registration = ClientRegistration::new(input).map_err(|e| match e {
            RegistrationError::BadRedirectUri { .. } => MetadataError::RedirectUri(e.to_string()),
            other => meta(dynamic_wording(&other)),
        })?;
        registration.dynamically_registered = true;
        Ok(registration)
    }
}

/// The rules of a registered redirect URI ([`crate::RedirectUri::parse`]), and for a
/// private-use scheme the reverse-domain form RFC 8252 §7.1 asks for: at least two
/// labels, each of letters, digits and `-` (so `javascript:`, `data:` and `x.:` fail).
fn check_dynamic_redirect_uri(raw: &str) -> Result<(), String> {
    crate::RedirectUri::parse(raw).map_err(|e| e.to_string())?;
    let Ok(url) = Url::parse(raw) else {
        return Err(format!("redirect URI {raw:?} is not an absolute URI"));
    };
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        let labels: Vec<&str> = scheme.split('.').collect();
        let ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            return Err(format!(
                "redirect URI {raw:?} is refused: a private-use scheme must be a reverse domain name such as com.example.app"
            ));
        }
    }
    Ok(())
}

/// The name of a client that sent no `client_name`: the host of its first redirect URI
/// (or its private-use scheme), which the consent page shows anyway.
fn default_name(first_redirect: &str) -> String {
    match Url::parse(first_redirect) {
        Ok(u) => match u.host_str() {
            Some(h) if !h.is_empty() => h.to_owned(),
            _ => u.scheme().to_owned(),
        },
        Err(_) => UNNAMED.to_owned(),
    }
}

/// A registration error in the words of RFC 7591's members rather than the CLI's flags.
fn dynamic_wording(e: &RegistrationError) -> String {
    match e {
        RegistrationError::RefreshWithoutCode => {
            "the refresh_token grant needs the authorization_code grant too".into()
        }
        RegistrationError::SessionRequiredWithoutUri => {
            "backchannel_logout_session_required needs backchannel_logout_uri".into()
        }
        other => other.to_string(),
    }
}

/// An initial access token (RFC 7591 §3): made by the operator, stored only as a keyed
/// hash, good for `max_uses` registrations until `expires_at` (like Keycloak's initial
/// access tokens: an expiry and a count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialAccessToken {
    /// A public handle, for `usher registration token list | revoke`.
    pub id: String,
    pub token_hash: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub max_uses: u32,
    pub uses: u32,
}

/// How long an initial access token works unless the operator says otherwise (1 day).
pub const INITIAL_ACCESS_TOKEN_TTL: i64 = 24 * 3600;

/// What [`RegistrationStore::register_client`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    Stored,
    /// The initial access token was unknown, expired or used up (nothing written).
    TokenRefused,
    /// `max_clients` dynamically registered clients already exist (nothing written).
    Full,
}

/// Initial access tokens and the clients registered dynamically.
///
/// Spending a use of an initial access token and storing the client are one
/// transaction, and the spend is one `UPDATE … WHERE uses < max_uses AND expires_at >
/// now`, so however many registrations race on one token, at most `max_uses` clients
/// are stored.
pub trait RegistrationStore: Send + Sync {
    fn insert_initial_access_token(&self, token: &InitialAccessToken) -> Result<(), StoreError>;
    /// Every initial access token, newest first.
    fn list_initial_access_tokens(&self) -> Result<Vec<InitialAccessToken>, StoreError>;
    /// `false` when there was none with this id.
    fn delete_initial_access_token(&self, id: &str) -> Result<bool, StoreError>;
    /// Whether the token with this hash could register a client at `now` (a read, to
    /// answer `invalid_token` before the metadata are checked).
    fn initial_access_token_usable(&self, hash: &str, now: UnixTime) -> Result<bool, StoreError>;
    /// Stores a dynamically registered client with the hash of its registration access
    /// token, spending one use of the initial access token `initial_hash` first when
    /// given, and only while fewer than `max_clients` dynamically registered clients
    /// exist (counted after the insert, in the same serialised transaction, so
    /// concurrent registrations never overshoot); one transaction.
    fn register_client(
        &self,
        client: &Client,
        registration_token_hash: &str,
        initial_hash: Option<&str>,
        now: UnixTime,
        max_clients: u32,
    ) -> Result<Registered, StoreError>;
    /// The registration access token hash of a dynamically registered client; `None`
    /// for any other id.
    fn registration_token_hash(&self, id: &ClientId) -> Result<Option<String>, StoreError>;
    /// Replaces a dynamically registered client's metadata and secret hash (RFC 7592
    /// §2.2); `false` when there is no such client.
    fn replace_client(&self, client: &Client) -> Result<bool, StoreError>;
    /// Records that a dynamically registered client was used at `now`, unless it was
    /// recorded less than `interval` seconds before (so at most one write per interval).
    fn touch_client(&self, id: &ClientId, now: UnixTime, interval: i64) -> Result<(), StoreError>;
    /// The dynamically registered clients last used (or, never used, registered) at or
    /// before `cutoff`.
    fn unused_clients(&self, cutoff: UnixTime) -> Result<Vec<ClientId>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> ScopeSet {
        ScopeSet::parse("openid profile email offline_access mcp:tools").unwrap()
    }

    fn public(uris: &[&str]) -> ClientMetadata {
        ClientMetadata {
            redirect_uris: Some(uris.iter().map(|s| (*s).to_owned()).collect()),
            token_endpoint_auth_method: Some("none".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_public_client_gets_code_pkce_no_first_party_and_every_allowed_scope() {
        let r = public(&["http://127.0.0.1/callback"])
            .into_registration(&allowed())
            .unwrap();
        assert_eq!(r.auth_method, AuthMethod::None);
        assert_eq!(r.grant_types, vec![GrantType::AuthorizationCode]);
        assert!(r.pkce_required && !r.first_party && r.dynamically_registered);
        assert_eq!(r.scopes, allowed().without(&["offline_access"]));
        assert_eq!(r.name.as_str(), "127.0.0.1");
    }

    #[test]
    fn the_default_method_is_client_secret_basic() {
        let mut m = public(&["https://app.example/cb"]);
        m.token_endpoint_auth_method = None;
        m.client_name = Some("App".into());
        m.grant_types = Some(vec!["authorization_code".into(), "refresh_token".into()]);
        let r = m.into_registration(&allowed()).unwrap();
        assert_eq!(r.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(r.name.as_str(), "App");
    }

    #[test]
    fn redirect_uris_that_are_not_https_loopback_or_reverse_domain_are_invalid_redirect_uri() {
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "javascript:alert(1)",
            "data:text/html,hi",
            "x.:/cb",
            "/relative",
        ] {
            let e = public(&[bad]).into_registration(&allowed()).unwrap_err();
            assert_eq!(e.code(), "invalid_redirect_uri", "{bad}");
        }
        for ok in [
            "https://app.example/cb",
            "http://[::1]:3000/cb",
            "http://localhost/cb",
            "com.example.app:/oauth",
        ] {
            assert!(public(&[ok]).into_registration(&allowed()).is_ok(), "{ok}");
        }
        assert_eq!(
            public(&[])
                .into_registration(&allowed())
                .unwrap_err()
                .code(),
            "invalid_redirect_uri"
        );
    }

    #[test]
    fn other_grants_methods_response_types_and_scopes_are_invalid_client_metadata() {
        let cases: Vec<ClientMetadata> = vec![
            ClientMetadata {
                grant_types: Some(vec!["client_credentials".into()]),
                ..public(&["https://a.example/cb"])
            },
            ClientMetadata {
                grant_types: Some(vec!["refresh_token".into()]),
                ..public(&["https://a.example/cb"])
            },
            ClientMetadata {
                token_endpoint_auth_method: Some("private_key_jwt".into()),
                ..public(&["https://a.example/cb"])
            },
            ClientMetadata {
                response_types: Some(vec!["token".into()]),
                ..public(&["https://a.example/cb"])
            },
            ClientMetadata {
                scope: Some("openid admin".into()),
                ..public(&["https://a.example/cb"])
            },
            ClientMetadata {
                id_token_signed_response_alg: Some("HS256".into()),
                ..public(&["https://a.example/cb"])
            },
        ];
        for m in cases {
            let e = m.clone().into_registration(&allowed()).unwrap_err();
            assert_eq!(e.code(), "invalid_client_metadata", "{m:?}");
        }
    }

    #[test]
    fn modes_parse_by_name() {
        for m in [
            RegistrationMode::Off,
            RegistrationMode::Token,
            RegistrationMode::Open,
        ] {
            assert_eq!(RegistrationMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(RegistrationMode::parse("on"), None);
    }
}
