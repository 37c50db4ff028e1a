//! Clients (relying parties and services) and the rules for registering them.

use std::fmt;
use std::str::FromStr;

use url::{Host, Url};

use crate::issuer::is_loopback_host;
use crate::origin::{Origin, OriginError};
use crate::scope::ScopeSet;

use crate::time::UnixTime;

/// The id of Usher's own built-in client, the account page (`usher-account`). The core
/// synthesises it; the store keeps a placeholder row only for foreign keys.
pub const BUILT_IN_ACCOUNT_CLIENT_ID: &str = "usher-account";

/// A client identifier: 1–128 characters of `[A-Za-z0-9._~-]`, or the URL of a Client
/// ID Metadata Document ([`crate::client_metadata::MetadataUrl`]; never generated, and
/// told apart by its `:`).
///
/// Usher generates the short ones; the parser exists for values that arrive from outside
/// (requests, the CLI, the database).
///
/// Serialised as its string (for the pending requests sealed in forms and stored in
/// interactions), and parsed again when read.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Option<ClientId> {
        if crate::client_metadata::MetadataUrl::looks_like_url(raw) {
            return crate::client_metadata::MetadataUrl::parse(raw)
                .ok()
                .map(|_| ClientId(raw.to_owned()));
        }
        let ok = (1..=128).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
        ok.then(|| ClientId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The metadata document's URL, when this id is one.
    pub fn metadata_url(&self) -> Option<crate::client_metadata::MetadataUrl> {
        if !crate::client_metadata::MetadataUrl::looks_like_url(&self.0) {
            return None;
        }
        crate::client_metadata::MetadataUrl::parse(&self.0).ok()
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ClientId {
    type Err = &'static str;

    fn from_str(raw: &str) -> Result<ClientId, Self::Err> {
        ClientId::parse(raw).ok_or("not a client id")
    }
}

impl TryFrom<String> for ClientId {
    type Error = &'static str;

    fn try_from(raw: String) -> Result<ClientId, Self::Error> {
        raw.parse()
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
    }
}

/// A client's display name, shown to people on the consent page: 1–200 characters,
/// no control characters, no invisible or direction-changing characters
/// ([`is_deceptive_format_char`]), no leading or trailing whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(raw: &str) -> Result<ClientName, RegistrationError> {
        let name = ClientName::parse_stored(raw)?;
        if name.0.chars().any(is_deceptive_format_char) {
            return Err(RegistrationError::BadName);
        }
        Ok(name)
    }

    /// A name read back from the store: checked as [`ClientName::parse`] did before
    /// it refused format characters, so a client stored earlier still loads.
    pub fn parse_stored(raw: &str) -> Result<ClientName, RegistrationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(RegistrationError::EmptyName);
        }
        if trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control) {
            return Err(RegistrationError::BadName);
        }
        Ok(ClientName(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `c` is a character a name could use to look like another on the consent page
/// without being it: the bidirectional controls that reorder what follows
/// (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069), the invisible ones (soft
/// hyphen, zero-width space, word joiner and the invisible operators, the byte-order
/// mark, the Mongolian vowel separator, the tag characters) and the line and paragraph
/// separators. Zero-width joiner and non-joiner (U+200C, U+200D) stay: some scripts
/// and emoji need them. One rule for every client name: the operator's, RFC 7591
/// registrations' and metadata documents'.
pub fn is_deceptive_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// How a client authenticates at the token endpoint (RFC 7591 §2 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client: no secret.
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }
}

impl FromStr for AuthMethod {
    type Err = RegistrationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuthMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| RegistrationError::UnknownAuthMethod(s.to_owned()))
    }
}

/// The grant types Usher implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628: `urn:ietf:params:oauth:grant-type:device_code`.
    DeviceCode,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

impl FromStr for GrantType {
    type Err = RegistrationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantType::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| RegistrationError::UnknownGrantType(s.to_owned()))
    }
}

/// A redirect URI (RFC 6749 §3.1.2, RFC 8252, RFC 9700 §2.1): a registered one, or the
/// one an authorization request resolved to (see [`crate::authorize::resolve_redirect_uri`]).
///
/// Absolute, without a fragment, and either `https`, `http` on a loopback host, or a
/// private-use scheme in reverse-domain form (`com.example.app:/cb`, RFC 8252 §7.1).
/// The string is kept exactly as registered (or as sent): matching is by simple string
/// comparison.
///
/// Two lengths apply. A *registered* URI ([`RedirectUri::parse`]) is at most
/// [`RedirectUri::MAX_REGISTERED_LEN`] characters. A URI *sent* in a request may differ
/// from the registered one it matches (RFC 8252 §7.3: another port on a loopback IP
/// literal), and the comparison is made on the URL's normalised form, so the string sent
/// may be longer (dot segments, tabs the URL parser drops) — up to the longest parameter
/// accepted, [`crate::authorize::MAX_PARAM_LEN`]. The [`FromStr`] form (used for values
/// stored in interactions, forms and codes) applies the same rules with that limit, so
/// every redirect URI a request can resolve to reads back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    /// The longest redirect URI a client may register.
    pub const MAX_REGISTERED_LEN: usize = 2000;

    /// A redirect URI to register: the rules below, at most
    /// [`RedirectUri::MAX_REGISTERED_LEN`] characters.
    pub fn parse(raw: &str) -> Result<RedirectUri, RegistrationError> {
        RedirectUri::check(raw, RedirectUri::MAX_REGISTERED_LEN)
    }

    fn check(raw: &str, max_len: usize) -> Result<RedirectUri, RegistrationError> {
        let bad = |why: &'static str| RegistrationError::BadRedirectUri {
            uri: raw.to_owned(),
            why,
        };
        if raw.contains('#') {
            return Err(bad("it must not contain a fragment ('#')"));
        }
        if raw.len() > max_len {
            return Err(bad(if max_len == RedirectUri::MAX_REGISTERED_LEN {
                "it is longer than 2000 characters"
            } else {
                "it is too long"
            }));
        }
        let url = Url::parse(raw).map_err(|_| bad("it must be an absolute URI"))?;
        match url.scheme() {
            "https" => {
                if url.host().is_none() {
                    return Err(bad("an https URI needs a host"));
                }
            }
            "http" => match url.host() {
                Some(h) if is_loopback_host(&h) => {}
                _ => {
                    return Err(bad(
                        "plain http is allowed only for 127.0.0.1, [::1] or localhost; use https",
                    ));
                }
            },
            scheme if scheme.contains('.') => {}
            _ => {
                return Err(bad(
                    "use https, http on a loopback host, or a reverse-domain private-use scheme",
                ));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it must not contain a user name or password"));
        }
        Ok(RedirectUri(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a `redirect_uri` presented in a request matches this registered one:
    /// byte for byte, except that for `http` on a loopback IP literal the port may differ
    /// (RFC 8252 §7.3).
    pub fn matches(&self, presented: &str) -> bool {
        if self.0 == presented {
            return true;
        }
        let (Ok(registered), Ok(presented)) = (Url::parse(&self.0), Url::parse(presented)) else {
            return false;
        };
        let loopback_ip = |u: &Url| {
            u.scheme() == "http"
                && match u.host() {
                    Some(Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(Host::Ipv6(ip)) => ip.is_loopback(),
                    _ => false,
                }
        };
        if !(loopback_ip(&registered) && loopback_ip(&presented)) {
            return false;
        }
        let mut presented = presented;
        if presented.set_port(registered.port()).is_err() {
            return false;
        }
        // Compare in serialised form, with the port put back to the registered one.
        presented.as_str() == registered.as_str()
    }
}

impl FromStr for RedirectUri {
    type Err = RegistrationError;

    /// A redirect URI a request resolved to: the registration rules, up to
    /// [`crate::authorize::MAX_PARAM_LEN`] characters (see [`RedirectUri`]).
    fn from_str(raw: &str) -> Result<RedirectUri, Self::Err> {
        RedirectUri::check(raw, crate::authorize::MAX_PARAM_LEN)
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = &'static str;

    fn try_from(raw: String) -> Result<RedirectUri, Self::Error> {
        // The value is not repeated in the error: it may be logged.
        raw.parse().map_err(|_| "not a redirect URI")
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> String {
        uri.0
    }
}

/// A resource server's identifier (RFC 8707 `resource`): an absolute URI without a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(String);

impl Audience {
    pub fn parse(raw: &str) -> Result<Audience, RegistrationError> {
        if raw.contains('#') || Url::parse(raw).is_err() {
            return Err(RegistrationError::BadAudience(raw.to_owned()));
        }
        Ok(Audience(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a client registration was refused. Each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("the scope list is refused: {0}{offender}", offender = .0.offender().map(|o| format!(" ({o:?})")).unwrap_or_default())]
    BadScope(#[from] crate::scope::ScopeError),
    #[error("the client name must not be empty")]
    EmptyName,
    #[error(
        "the client name must be at most 200 characters without control, invisible or direction-changing characters"
    )]
    BadName,
    #[error("redirect URI {uri:?} is refused: {why}")]
    BadRedirectUri { uri: String, why: &'static str },
    #[error("back-channel logout URI {uri:?} is refused: {why}")]
    BadBackchannelLogoutUri { uri: String, why: &'static str },
    #[error("--backchannel-logout-session-required needs --backchannel-logout-uri")]
    SessionRequiredWithoutUri,
    #[error("allowed origin {origin:?} is refused: {why}")]
    BadAllowedOrigin { origin: String, why: OriginError },
    #[error("--allowed-group: {0}")]
    BadGroup(#[from] crate::group::GroupError),
    #[error("id_token_signed_response_alg {0:?} is not RS256, ES256 or EdDSA")]
    IdTokenAlg(String),
    #[error(
        "id_token_signed_response_alg needs the authorization_code or the device_code grant (only sign-ins get ID tokens)"
    )]
    IdTokenAlgWithoutCode,
    #[error("audience {0:?} is not an absolute URI without a fragment")]
    BadAudience(String),
    #[error(
        "unknown grant type {0:?}; use authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code"
    )]
    UnknownGrantType(String),
    #[error(
        "unknown authentication method {0:?}; use client_secret_basic, client_secret_post or none"
    )]
    UnknownAuthMethod(String),
    #[error("a public client cannot make PKCE optional: remove --pkce-optional")]
    PublicClientPkceOptional,
    #[error("a public client cannot use client_credentials: it has no secret to authenticate with")]
    PublicClientCredentials,
    #[error("--public and --auth-method {0} contradict each other")]
    PublicWithSecretMethod(&'static str),
    #[error("the authorization_code grant needs at least one --redirect-uri")]
    NoRedirectUri,
    #[error("the refresh_token grant needs the authorization_code or the device_code grant too")]
    RefreshWithoutCode,
    #[error("--pkce-optional only makes sense with the authorization_code grant")]
    PkceOptionalWithoutCode,
    #[error(
        "a public client cannot be first-party: anyone can present its client_id, so the person must always see the consent page (RFC 8252 section 8.6); remove --first-party"
    )]
    PublicFirstParty,
}

/// A validated request to register a client. The cross-field rules of DESIGN.md are
/// checked by [`ClientRegistration::new`]; a value of this type obeys them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    pub name: ClientName,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub audiences: Vec<Audience>,
    pub pkce_required: bool,
    pub first_party: bool,
    /// Every sign-in for this client needs a second factor (`acr` at least
    /// `urn:usher:acr:mfa`).
    pub require_mfa: bool,
    /// Where the client is told that a session ended (Back-Channel Logout 1.0), if
    /// anywhere.
    pub backchannel_logout: Option<crate::backchannel::BackchannelLogout>,
    /// The web origins registered with `--allowed-origin` from which a browser app of
    /// this client may call the token, userinfo, revocation and introspection endpoints
    /// (CORS, docs/design/cors.md). Empty: the origins of its `https` and loopback
    /// redirect URIs ([`Client::allowed_origins`]).
    pub allowed_origins: Vec<Origin>,
    /// The algorithm of this client's ID tokens (and logout tokens) (OpenID Connect
    /// Dynamic Client Registration 1.0 §2, `id_token_signed_response_alg`); `None`: the
    /// server's default, `id_token_alg`.
    pub id_token_signed_response_alg: Option<crate::keys::SigningAlg>,
    /// Usher's own client, `usher-account` (the account page signing people in to Usher
    /// itself, like Keycloak's account console): synthesised by the core, never stored or
    /// registered. Its one redirect URI is on the issuer's own origin, so its codes reach
    /// no program but Usher: although public, it needs no consent page.
    pub built_in: bool,
    /// A client described by a Client ID Metadata Document (its id is the document's
    /// URL; `usher-core::client_metadata`): public, PKCE required, consent never
    /// skipped. Its stored row only anchors codes and consents.
    pub metadata_document: bool,
    /// Registered through `POST /register` (RFC 7591) rather than by the operator: it
    /// never skips the consent page ([`Client::may_skip_interaction`]), and it is removed
    /// when unused for `registration_unused_after` (docs/design/registration.md).
    pub dynamically_registered: bool,
    /// `--allowed-group`: when not empty, only members of at least one of these groups
    /// may use the client ([`Client::admits`]; docs/design/groups.md). Sorted, without
    /// duplicates. A name whose group was deleted admits nobody.
    pub allowed_groups: Vec<crate::group::GroupName>,
}

/// The loose input of a registration, as a CLI or API collects it.
#[derive(Debug, Clone, Default)]
pub struct RegistrationInput {
    pub name: String,
    pub public: bool,
    pub auth_method: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// `None`: the default for the grant types.
    pub scope: Option<String>,
    pub audiences: Vec<String>,
    pub pkce_optional: bool,
    pub first_party: bool,
    pub require_mfa: bool,
    /// `--backchannel-logout-uri`.
    pub backchannel_logout_uri: Option<String>,
    /// `--backchannel-logout-session-required`.
    pub backchannel_logout_session_required: bool,
    /// `--allowed-origin` (empty: the default from the redirect URIs).
    pub allowed_origins: Vec<String>,
    /// `--id-token-signed-response-alg`.
    pub id_token_signed_response_alg: Option<String>,
    /// `--allowed-group` (empty: anyone may use the client).
    pub allowed_groups: Vec<String>,
}

/// The scopes a client may ask for when none are given at registration.
pub const DEFAULT_SIGN_IN_SCOPES: &str = "openid profile email";

impl ClientRegistration {
    /// Parses every field and checks the rules that tie them together.
    pub fn new(input: RegistrationInput) -> Result<ClientRegistration, RegistrationError> {
        let name = ClientName::parse(&input.name)?;
        let auth_method = match (input.public, input.auth_method.as_deref()) {
            (true, None) => AuthMethod::None,
            (true, Some(m)) => match m.parse::<AuthMethod>()? {
                AuthMethod::None => AuthMethod::None,
                other => return Err(RegistrationError::PublicWithSecretMethod(other.as_str())),
            },
            (false, None) => AuthMethod::ClientSecretBasic,
            (false, Some(m)) => m.parse()?,
        };
        let public = auth_method == AuthMethod::None;

        let mut grant_types = input
            .grant_types
            .iter()
            .map(|g| g.parse::<GrantType>())
            .collect::<Result<Vec<_>, _>>()?;
        if grant_types.is_empty() {
            grant_types.push(GrantType::AuthorizationCode);
        }
        grant_types.sort();
        grant_types.dedup();
        let has = |g| grant_types.contains(&g);

        let redirect_uris = parse_uris(&input.redirect_uris)?;
        let post_logout_redirect_uris = parse_uris(&input.post_logout_redirect_uris)?;
        let audiences = input
            .audiences
            .iter()
            .map(|a| Audience::parse(a))
            .collect::<Result<Vec<_>, _>>()?;

        if public && input.pkce_optional {
            return Err(RegistrationError::PublicClientPkceOptional);
        }
        if public && has(GrantType::ClientCredentials) {
            return Err(RegistrationError::PublicClientCredentials);
        }
        if public && input.first_party {
            return Err(RegistrationError::PublicFirstParty);
        }
        if has(GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(RegistrationError::NoRedirectUri);
        }
        // A person's grant: the code, or the device grant (RFC 8628).
        let person_grant = has(GrantType::AuthorizationCode) || has(GrantType::DeviceCode);
        if has(GrantType::RefreshToken) && !person_grant {
            return Err(RegistrationError::RefreshWithoutCode);
        }
        if input.pkce_optional && !has(GrantType::AuthorizationCode) {
            return Err(RegistrationError::PkceOptionalWithoutCode);
        }

        let backchannel_logout = match input.backchannel_logout_uri.as_deref() {
            Some(raw) => Some(crate::backchannel::BackchannelLogout {
                uri: crate::backchannel::BackchannelLogoutUri::parse(raw)?,
                session_required: input.backchannel_logout_session_required,
            }),
            None if input.backchannel_logout_session_required => {
                return Err(RegistrationError::SessionRequiredWithoutUri);
            }
            None => None,
        };

        let allowed_origins = parse_allowed_origins(&input.allowed_origins)?;
        let id_token_signed_response_alg = match input.id_token_signed_response_alg.as_deref() {
            None => None,
            Some(raw) => Some(
                crate::keys::SigningAlg::parse(raw.trim())
                    .ok_or_else(|| RegistrationError::IdTokenAlg(raw.to_owned()))?,
            ),
        };
        if id_token_signed_response_alg.is_some() && !person_grant {
            return Err(RegistrationError::IdTokenAlgWithoutCode);
        }

        let allowed_groups = crate::group::parse_group_names(&input.allowed_groups)?;
        let scopes = match input.scope.as_deref() {
            Some(raw) => ScopeSet::parse(raw)?,
            None if person_grant => ScopeSet::parse(DEFAULT_SIGN_IN_SCOPES)?,
            None => ScopeSet::default(),
        };

        Ok(ClientRegistration {
            name,
            auth_method,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            audiences,
            pkce_required: !input.pkce_optional,
            first_party: input.first_party,
            require_mfa: input.require_mfa,
            backchannel_logout,
            allowed_origins,
            id_token_signed_response_alg,
            built_in: false,
            metadata_document: false,
            dynamically_registered: false,
            allowed_groups,
        })
    }
}

/// Parses `--allowed-origin` values ([`Origin::parse_registered`]), without duplicates,
/// in the order given.
pub fn parse_allowed_origins(raw: &[String]) -> Result<Vec<Origin>, RegistrationError> {
    let mut origins: Vec<Origin> = Vec::with_capacity(raw.len());
    for r in raw {
        let origin =
            Origin::parse_registered(r).map_err(|why| RegistrationError::BadAllowedOrigin {
                origin: r.clone(),
                why,
            })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

fn parse_uris(raw: &[String]) -> Result<Vec<RedirectUri>, RegistrationError> {
    let mut uris: Vec<RedirectUri> = Vec::with_capacity(raw.len());
    let mut seen: std::collections::HashSet<RedirectUri> = std::collections::HashSet::new();
    for r in raw {
        let uri = RedirectUri::parse(r)?;
        if seen.insert(uri.clone()) {
            uris.push(uri);
        }
    }
    Ok(uris)
}

/// A registered client, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    /// The keyed hash of the client secret; `None` for a public client.
    pub secret_hash: Option<String>,
    pub registration: ClientRegistration,
    pub created_at: UnixTime,
}

impl Client {
    /// A public client has no secret and authenticates with `none`.
    pub fn is_public(&self) -> bool {
        self.registration.auth_method == AuthMethod::None
    }

    /// The origins a browser app of this client may call from (CORS): the registered
    /// `--allowed-origin`s, or else the origins of its `https` and loopback `http`
    /// redirect URIs (never a private-use scheme's), without duplicates.
    pub fn allowed_origins(&self) -> Vec<Origin> {
        let reg = &self.registration;
        if !reg.allowed_origins.is_empty() {
            return reg.allowed_origins.clone();
        }
        let mut origins: Vec<Origin> = Vec::new();
        let mut seen: std::collections::HashSet<Origin> = std::collections::HashSet::new();
        for uri in &reg.redirect_uris {
            if let Some(origin) = Origin::of_url(uri.as_str())
                && seen.insert(origin.clone())
            {
                origins.push(origin);
            }
        }
        origins
    }

    /// Whether `origin` is one of [`Client::allowed_origins`] (scheme, host and port
    /// all equal: a loopback origin's port does not vary, unlike a loopback redirect
    /// URI's).
    pub fn allows_origin(&self, origin: &Origin) -> bool {
        self.allowed_origins().contains(origin)
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.registration.grant_types.contains(&grant)
    }

    /// Whether a code may be delivered to `redirect_uri` (one of this client's registered
    /// URIs) without the person seeing a page first: only when the redirect URI proves
    /// who gets the code ([`Client::redirect_proves_identity`]) and the client is
    /// neither dynamically registered (anyone may have registered it, under any name:
    /// docs/design/registration.md) nor described by a metadata document (anyone can
    /// publish a document naming any redirect URI on its own host, and the person must
    /// see which host that is).
    pub fn may_skip_interaction(&self, redirect_uri: &str) -> bool {
        !self.describes_itself() && self.redirect_proves_identity(redirect_uri)
    }

    /// Whether delivering a code to `redirect_uri` reaches this client and no other
    /// program.
    ///
    /// Not for a public client whose redirect URI is `http` on a loopback host or a
    /// private-use scheme: any program on the device can listen on a loopback port or
    /// claim a scheme, and a public client has no secret to tell it from the real app
    /// (RFC 6749 §10.2, RFC 8252 §8.6). Remembered consent and `first_party` do not apply
    /// to it. A confidential client proves itself at the token endpoint, and an `https`
    /// redirect URI is delivered only to its host.
    /// Usher's built-in account client is the exception: its redirect URI is on the
    /// issuer's own origin, where only Usher listens.
    pub fn redirect_proves_identity(&self, redirect_uri: &str) -> bool {
        !self.is_public()
            || self.registration.built_in
            || Url::parse(redirect_uri).is_ok_and(|u| u.scheme() == "https")
    }

    /// Whether the client described itself, through RFC 7591 registration or a Client
    /// ID Metadata Document, rather than being created by the operator: nobody vetted
    /// its name or its redirect URIs, so it never skips a page, is never first-party,
    /// is never sent an error redirect nobody asked for, and learns nothing about other
    /// clients' tokens (docs/design/registration.md).
    pub fn describes_itself(&self) -> bool {
        self.registration.dynamically_registered || self.registration.metadata_document
    }

    /// Whether this client may introspect tokens issued to other clients (RFC 7662 §4:
    /// a resource server asking about the tokens presented to it). Only a confidential
    /// client the operator created: a public client has no secret to prove itself with,
    /// and a client that registered itself (RFC 7591) or is described by a metadata
    /// document was vetted by nobody, so it learns nothing about other clients' tokens.
    pub fn may_introspect_others(&self) -> bool {
        !self.is_public() && !self.describes_itself()
    }

    /// Whether a person in `groups` may use this client: anyone when it is restricted to
    /// no group, else a member of at least one of its `allowed_groups`
    /// (docs/design/groups.md).
    pub fn admits(&self, groups: &[crate::group::GroupName]) -> bool {
        let allowed = &self.registration.allowed_groups;
        allowed.is_empty() || allowed.iter().any(|g| groups.contains(g))
    }

    /// Whether the client is restricted to the members of some groups.
    pub fn is_restricted(&self) -> bool {
        !self.registration.allowed_groups.is_empty()
    }

    /// Whether the consent page is skipped for this client. Never for a public client,
    /// even one stored as first-party before registration refused that — except Usher's
    /// own built-in account client.
    pub fn is_first_party(&self) -> bool {
        self.registration.built_in
            || (self.registration.first_party && !self.is_public() && !self.describes_itself())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> RegistrationInput {
        RegistrationInput {
            name: "Shop".into(),
            redirect_uris: vec!["https://shop.example/cb".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_confidential_sign_in_client_gets_the_documented_defaults() {
        let r = ClientRegistration::new(input()).unwrap();
        assert_eq!(r.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(r.grant_types, vec![GrantType::AuthorizationCode]);
        assert_eq!(r.scopes.to_string(), "email openid profile");
        assert!(r.pkce_required);
    }

    #[test]
    fn the_id_token_algorithm_is_one_usher_signs_with_and_only_for_sign_in_clients() {
        assert_eq!(
            ClientRegistration::new(input())
                .unwrap()
                .id_token_signed_response_alg,
            None
        );
        for alg in crate::keys::SigningAlg::ALL {
            let r = ClientRegistration::new(RegistrationInput {
                id_token_signed_response_alg: Some(alg.as_str().into()),
                ..input()
            })
            .unwrap();
            assert_eq!(r.id_token_signed_response_alg, Some(alg));
        }
        for bad in ["HS256", "none", "es256", "RS512", ""] {
            assert_eq!(
                ClientRegistration::new(RegistrationInput {
                    id_token_signed_response_alg: Some(bad.into()),
                    ..input()
                })
                .unwrap_err(),
                RegistrationError::IdTokenAlg(bad.into())
            );
        }
        assert_eq!(
            ClientRegistration::new(RegistrationInput {
                grant_types: vec!["client_credentials".into()],
                redirect_uris: vec![],
                id_token_signed_response_alg: Some("ES256".into()),
                ..input()
            })
            .unwrap_err(),
            RegistrationError::IdTokenAlgWithoutCode
        );
    }

    #[test]
    fn a_name_cannot_hide_or_reorder_what_the_consent_page_shows() {
        // "Photo App" written backwards with a right-to-left override, a name padded
        // with zero-width spaces, a soft hyphen, a byte-order mark, a tag character.
        for name in [
            "\u{202E}ppA otohP",
            "Photo\u{200B}App",
            "Pho\u{00AD}to",
            "\u{FEFF}Photo",
            "Photo\u{2066}App\u{2069}",
            "Photo\u{E0041}",
            "Photo\u{2028}App",
        ] {
            assert_eq!(
                ClientName::parse(name),
                Err(RegistrationError::BadName),
                "{name:?}"
            );
            // A row stored before this rule still loads.
            assert!(ClientName::parse_stored(name).is_ok(), "{name:?}");
        }
        // Joiners stay: scripts and emoji need them.
        for name in [
            "می\u{200C}خواهم",
            "Family \u{1F468}\u{200D}\u{1F469}",
            "Café Ünïcode",
        ] {
            assert!(ClientName::parse(name).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn refuses_each_contradictory_registration() {
        let cases: Vec<(RegistrationInput, RegistrationError)> = vec![
            (
                RegistrationInput {
                    name: "  ".into(),
                    ..input()
                },
                RegistrationError::EmptyName,
            ),
            (
                RegistrationInput {
                    public: true,
                    pkce_optional: true,
                    ..input()
                },
                RegistrationError::PublicClientPkceOptional,
            ),
            (
                RegistrationInput {
                    public: true,
                    grant_types: vec!["client_credentials".into()],
                    ..input()
                },
                RegistrationError::PublicClientCredentials,
            ),
            (
                RegistrationInput {
                    grant_types: vec!["password".into()],
                    ..input()
                },
                RegistrationError::UnknownGrantType("password".into()),
            ),
            (
                RegistrationInput {
                    redirect_uris: vec![],
                    ..input()
                },
                RegistrationError::NoRedirectUri,
            ),
            (
                RegistrationInput {
                    public: true,
                    auth_method: Some("client_secret_post".into()),
                    ..input()
                },
                RegistrationError::PublicWithSecretMethod("client_secret_post"),
            ),
            (
                RegistrationInput {
                    public: true,
                    first_party: true,
                    require_mfa: false,
                    ..input()
                },
                RegistrationError::PublicFirstParty,
            ),
        ];
        for (i, want) in cases {
            assert_eq!(ClientRegistration::new(i), Err(want));
        }
        let bad_scope = RegistrationInput {
            scope: Some("openid \"x\"".into()),
            ..input()
        };
        assert!(matches!(
            ClientRegistration::new(bad_scope),
            Err(RegistrationError::BadScope(_))
        ));
    }

    #[test]
    fn a_client_restricted_to_groups_admits_only_their_members() {
        let g = |n: &str| crate::group::GroupName::parse(n).unwrap();
        let client = |groups: &[&str]| Client {
            id: ClientId::parse("c").unwrap(),
            secret_hash: None,
            registration: ClientRegistration::new(RegistrationInput {
                allowed_groups: groups.iter().map(|s| (*s).to_owned()).collect(),
                ..input()
            })
            .unwrap(),
            created_at: UnixTime(0),
        };
        let open = client(&[]);
        assert!(!open.is_restricted());
        assert!(open.admits(&[]));
        let restricted = client(&["sales", "ops", "sales"]);
        assert!(restricted.is_restricted());
        assert_eq!(
            restricted.registration.allowed_groups,
            vec![g("ops"), g("sales")]
        );
        assert!(!restricted.admits(&[]));
        assert!(!restricted.admits(&[g("finance")]));
        assert!(restricted.admits(&[g("finance"), g("ops")]));
        assert!(matches!(
            ClientRegistration::new(RegistrationInput {
                allowed_groups: vec!["two words".into()],
                ..input()
            }),
            Err(RegistrationError::BadGroup(_))
        ));
    }

    #[test]
    fn redirect_uris_must_be_absolute_fragment_free_and_https_unless_loopback() {
        for ok in [
            "https://app.example/cb?x=1",
            "http://127.0.0.1/cb",
            "http://[::1]:8000/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://app.example/cb#x",
            "/cb",
            "app.example/cb",
            "http://app.example/cb",
            "javascript:alert(1)",
            "https://user:pw@app.example/cb",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_public_client_on_a_loopback_or_private_use_redirect_must_always_see_a_page() {
        let client = |public: bool, first_party: bool| Client {
            id: ClientId::parse("c").unwrap(),
            secret_hash: None,
            registration: ClientRegistration {
                first_party,
                require_mfa: false,
                ..ClientRegistration::new(RegistrationInput {
                    public,
                    redirect_uris: vec![
                        "https://shop.example/cb".into(),
                        "http://127.0.0.1/cb".into(),
                        "com.example.app:/cb".into(),
                    ],
                    ..input()
                })
                .unwrap()
            },
            created_at: UnixTime(0),
        };
        let public = client(true, false);
        assert!(public.may_skip_interaction("https://shop.example/cb"));
        assert!(!public.may_skip_interaction("http://127.0.0.1:4567/cb"));
        assert!(!public.may_skip_interaction("com.example.app:/cb"));
        let confidential = client(false, true);
        assert!(confidential.may_skip_interaction("http://127.0.0.1:4567/cb"));
        assert!(confidential.is_first_party());
        // A public first-party row from before the rule is not treated as first-party.
        assert!(!client(true, true).is_first_party());
    }

    fn client_with(input: RegistrationInput) -> Client {
        Client {
            id: ClientId::parse("c").unwrap(),
            secret_hash: None,
            registration: ClientRegistration::new(input).unwrap(),
            created_at: UnixTime(0),
        }
    }

    fn origins(c: &Client) -> Vec<&str> {
        c.registration
            .allowed_origins
            .iter()
            .map(Origin::as_str)
            .collect()
    }

    #[test]
    fn allowed_origins_default_to_the_https_and_loopback_redirect_uris_origins() {
        let client = client_with(RegistrationInput {
            public: true,
            redirect_uris: vec![
                "https://spa.example/cb".into(),
                "https://spa.example:443/other".into(),
                "http://127.0.0.1:5173/cb".into(),
                "http://localhost:5173/cb".into(),
                "com.example.app:/cb".into(),
            ],
            ..input()
        });
        assert!(origins(&client).is_empty(), "nothing registered explicitly");
        let effective: Vec<String> = client
            .allowed_origins()
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect();
        assert_eq!(
            effective,
            [
                "https://spa.example",
                "http://127.0.0.1:5173",
                "http://localhost:5173"
            ]
        );
        assert!(client.allows_origin(&Origin::parse("https://SPA.example:443").unwrap()));
        assert!(!client.allows_origin(&Origin::parse("http://127.0.0.1:5174").unwrap()));
        assert!(!client.allows_origin(&Origin::parse("http://spa.example").unwrap()));
        assert!(!client.allows_origin(&Origin::parse("https://evil.example").unwrap()));
    }

    #[test]
    fn registered_allowed_origins_replace_the_default() {
        let client = client_with(RegistrationInput {
            allowed_origins: vec![
                "https://app.example".into(),
                "https://APP.example:443".into(),
                "http://localhost:3000".into(),
            ],
            ..input()
        });
        assert_eq!(
            origins(&client),
            ["https://app.example", "http://localhost:3000"]
        );
        assert_eq!(client.allowed_origins().len(), 2);
        // The redirect URI's origin is no longer allowed.
        assert!(!client.allows_origin(&Origin::parse("https://shop.example").unwrap()));
        for (bad, why) in [
            ("http://app.example", OriginError::NotHttps),
            ("https://app.example/", OriginError::Path),
            ("null", OriginError::Null),
            ("https://u@app.example", OriginError::UserInfo),
        ] {
            assert_eq!(
                ClientRegistration::new(RegistrationInput {
                    allowed_origins: vec![bad.into()],
                    ..input()
                }),
                Err(RegistrationError::BadAllowedOrigin {
                    origin: bad.into(),
                    why
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn redirect_uri_matching_is_exact_but_for_the_loopback_port() {
        let reg = RedirectUri::parse("https://app.example/cb").unwrap();
        assert!(reg.matches("https://app.example/cb"));
        assert!(!reg.matches("https://app.example/cb/"));
        assert!(!reg.matches("https://app.example/cb?x=1"));
        assert!(!reg.matches("https://APP.example/cb"));
        let native = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        assert!(native.matches("http://127.0.0.1:51234/cb"));
        assert!(!native.matches("http://127.0.0.1:51234/other"));
        let v6 = RedirectUri::parse("http://[::1]/cb").unwrap();
        assert!(v6.matches("http://[::1]:4000/cb"));
        let named = RedirectUri::parse("http://localhost/cb").unwrap();
        assert!(!named.matches("http://localhost:4000/cb"));
    }
}
