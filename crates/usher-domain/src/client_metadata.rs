//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): the rules
//! for a `client_id` that is a URL ([`MetadataUrl`]) and for the JSON document found
//! there ([`MetadataDocument::parse`]), which becomes a [`ClientRegistration`]. No I/O:
//! fetching, caching and storing belong to `usher-core::client_metadata`; the design is
//! in docs/design/registration.md ("Client ID Metadata Documents").

use url::{Host, Url};

use crate::client::{
    AuthMethod, ClientName, ClientRegistration, DEFAULT_SIGN_IN_SCOPES, GrantType, RedirectUri,
};
use crate::issuer::is_loopback_host;
use crate::scope::{OFFLINE_ACCESS, ScopeSet};

/// The longest metadata-document URL accepted as a `client_id`.
pub const MAX_URL_LEN: usize = 1000;

/// The largest document read, in bytes (the draft suggests 5 KB).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// A `client_id` that is a metadata document's URL (draft §3): `https`, with a path, no
/// fragment, no user information, no `.` or `..` path segments, at most
/// [`MAX_URL_LEN`] characters, and written in its normalised form (so that the string
/// Usher compares, fetches and shows is one and the same). Plain `http` is accepted
/// syntactically only for a loopback host ([`MetadataUrl::is_plain_http`]); the core
/// calls such a URL only when the issuer itself is on loopback (a test or development
/// node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataUrl {
    raw: String,
    host: String,
    plain_http: bool,
}

/// Why a URL is not a metadata document's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MetadataUrlError {
    #[error("it is not an absolute URL")]
    NotAUrl,
    #[error("it is longer than 1000 characters")]
    TooLong,
    #[error("it must use https")]
    NotHttps,
    #[error("it must have a path naming the document")]
    NoPath,
    #[error("it must not contain a fragment")]
    Fragment,
    #[error("it must not contain a user name or password")]
    UserInfo,
    #[error("it must not contain '.' or '..' path segments")]
    DotSegment,
    #[error("it must be written in its normalised form")]
    NotNormalised,
}

impl MetadataUrl {
    /// Whether `raw` looks like a URL at all (a `client_id` Usher generates never has a
    /// `:`), before the rules.
    pub fn looks_like_url(raw: &str) -> bool {
        raw.starts_with("https://") || raw.starts_with("http://")
    }

    pub fn parse(raw: &str) -> Result<MetadataUrl, MetadataUrlError> {
        if raw.len() > MAX_URL_LEN {
            return Err(MetadataUrlError::TooLong);
        }
        if raw.contains('#') {
            return Err(MetadataUrlError::Fragment);
        }
        let url = Url::parse(raw).map_err(|_| MetadataUrlError::NotAUrl)?;
        let host = url.host().ok_or(MetadataUrlError::NotAUrl)?;
        let plain_http = match url.scheme() {
            "https" => false,
            "http" if is_loopback_host(&host) => true,
            _ => return Err(MetadataUrlError::NotHttps),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(MetadataUrlError::UserInfo);
        }
        // The path as written (the parser removes dot segments, so look at the raw
        // string): everything after the authority, up to the query.
        let after_scheme = raw
            .get(url.scheme().len() + 3..)
            .filter(|_| {
                raw.starts_with(url.scheme()) && raw[url.scheme().len()..].starts_with("://")
            })
            .ok_or(MetadataUrlError::NotNormalised)?;
        let path_and_query = match after_scheme.find('/') {
            Some(i) => &after_scheme[i..],
            None => return Err(MetadataUrlError::NoPath),
        };
        let path = path_and_query.split('?').next().unwrap_or("");
        if path == "/" {
            return Err(MetadataUrlError::NoPath);
        }
        let dot = |s: &str| {
            let s = s.to_ascii_lowercase().replace("%2e", ".");
            s == "." || s == ".."
        };
        if path.split('/').any(dot) {
            return Err(MetadataUrlError::DotSegment);
        }
        if url.as_str() != raw {
            return Err(MetadataUrlError::NotNormalised);
        }
        let host = match host {
            Host::Domain(d) => d.to_owned(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => format!("[{ip}]"),
        };
        Ok(MetadataUrl {
            raw: raw.to_owned(),
            host,
            plain_http,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The host that publishes the document (what the consent page shows, so that a
    /// person can tell `app.example` from a look-alike).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `http` to a loopback host: allowed only for a loopback issuer.
    pub fn is_plain_http(&self) -> bool {
        self.plain_http
    }
}

/// Why a fetched document does not describe a client Usher accepts. Each message says
/// what the client's author must change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the document is not a JSON object")]
    NotJson,
    #[error("the document's client_id is not exactly the URL it was fetched from")]
    ClientIdMismatch,
    #[error("the document has no redirect_uris (a non-empty array of strings)")]
    NoRedirectUris,
    #[error("a redirect URI is refused: {0}")]
    BadRedirectUri(String),
    #[error(
        "token_endpoint_auth_method {0:?} is not supported: a metadata document cannot carry a secret; use none"
    )]
    SecretMethod(String),
    #[error(
        "token_endpoint_auth_method private_key_jwt is not supported by Usher; use none (a public client with PKCE)"
    )]
    PrivateKeyJwt,
    #[error("token_endpoint_auth_method {0:?} is unknown; use none")]
    UnknownAuthMethod(String),
    #[error("the document carries a client_secret, which a metadata document must not")]
    CarriesSecret,
    #[error("grant_types must include authorization_code")]
    NoAuthorizationCode,
    #[error("a metadata-document client cannot use client_credentials: it has no secret")]
    ClientCredentials,
    #[error("the scope list is refused: {0}")]
    BadScope(String),
    #[error("{0} must be {1}")]
    WrongType(&'static str, &'static str),
}

/// A validated document: the registration it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataDocument {
    pub registration: ClientRegistration,
}

impl MetadataDocument {
    /// Validates the document fetched from `url` and normalises the known oddities of
    /// real clients instead of refusing them: unknown members are ignored; no
    /// `token_endpoint_auth_method` means `none`; no `grant_types` means
    /// `authorization_code`; grant types Usher does not know are ignored; a missing or
    /// unusable `client_name` becomes the URL's host. `default_scopes` are the scopes a
    /// document without `scope` may ask for (the core adds the registered resources'
    /// scopes). The client is public, PKCE is required, consent is never skipped.
    pub fn parse(
        url: &MetadataUrl,
        body: &[u8],
        default_scopes: &ScopeSet,
    ) -> Result<MetadataDocument, DocumentError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| DocumentError::NotJson)?;
        let doc = value.as_object().ok_or(DocumentError::NotJson)?;
        let string = |key: &'static str| -> Result<Option<&str>, DocumentError> {
            match doc.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(DocumentError::WrongType(key, "a string")),
            }
        };
        let strings = |key: &'static str| -> Result<Option<Vec<&str>>, DocumentError> {
            match doc.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or(DocumentError::WrongType(key, "an array of strings"))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err(DocumentError::WrongType(key, "an array of strings")),
            }
        };

        // Draft §4.1: simple string comparison, no normalisation.
        if string("client_id")? != Some(url.as_str()) {
            return Err(DocumentError::ClientIdMismatch);
        }
        if doc.contains_key("client_secret") || doc.contains_key("client_secret_expires_at") {
            return Err(DocumentError::CarriesSecret);
        }
        match string("token_endpoint_auth_method")? {
            None | Some("none") => {}
            Some("private_key_jwt") => return Err(DocumentError::PrivateKeyJwt),
            Some(m @ ("client_secret_basic" | "client_secret_post" | "client_secret_jwt")) => {
                return Err(DocumentError::SecretMethod(m.to_owned()));
            }
            Some(other) => return Err(DocumentError::UnknownAuthMethod(other.to_owned())),
        }

        let mut grant_types = vec![GrantType::AuthorizationCode];
        if let Some(listed) = strings("grant_types")? {
            if !listed.contains(&"authorization_code") {
                return Err(DocumentError::NoAuthorizationCode);
            }
            if listed.contains(&"client_credentials") {
                return Err(DocumentError::ClientCredentials);
            }
            if listed.contains(&"refresh_token") {
                grant_types.push(GrantType::RefreshToken);
            }
        }

        let raw_uris = strings("redirect_uris")?.unwrap_or_default();
        if raw_uris.is_empty() {
            return Err(DocumentError::NoRedirectUris);
        }
        let mut redirect_uris: Vec<RedirectUri> = Vec::with_capacity(raw_uris.len());
        for raw in raw_uris {
            let uri = RedirectUri::parse(raw)
                .map_err(|e| DocumentError::BadRedirectUri(e.to_string()))?;
            if !redirect_uris.contains(&uri) {
                redirect_uris.push(uri);
            }
        }

        let scopes = match string("scope")? {
            Some(raw) => {
                ScopeSet::parse(raw).map_err(|e| DocumentError::BadScope(e.to_string()))?
            }
            None if grant_types.contains(&GrantType::RefreshToken) => {
                default_scopes.union(&ScopeSet::parse(OFFLINE_ACCESS).unwrap_or_default())
            }
            None => default_scopes.clone(),
        };

        let name = string("client_name")
            .ok()
            .flatten()
            .and_then(|n| ClientName::parse(n).ok())
            .or_else(|| ClientName::parse(url.host()).ok())
            .ok_or(DocumentError::WrongType("client_name", "a name"))?;

        Ok(MetadataDocument {
            registration: ClientRegistration {
                name,
                auth_method: AuthMethod::None,
                redirect_uris,
                post_logout_redirect_uris: Vec::new(),
                grant_types,
                scopes,
                audiences: Vec::new(),
                pkce_required: true,
                first_party: false,
                require_mfa: false,
                backchannel_logout: None,
                allowed_origins: Vec::new(),
                id_token_signed_response_alg: None,
                built_in: false,
                metadata_document: true,
                dynamically_registered: false,
                allowed_groups: Vec::new(),
            },
        })
    }
}

/// The scopes a document without `scope` may ask for, before the registered resources'
/// scopes are added: OpenID Connect's `openid profile email`.
pub fn default_scopes() -> ScopeSet {
    ScopeSet::parse(DEFAULT_SIGN_IN_SCOPES).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://app.example/oauth/client.json";

    fn url() -> MetadataUrl {
        MetadataUrl::parse(URL).unwrap()
    }

    fn parse(doc: serde_json::Value) -> Result<MetadataDocument, DocumentError> {
        MetadataDocument::parse(&url(), doc.to_string().as_bytes(), &default_scopes())
    }

    #[test]
    fn a_metadata_url_is_https_with_a_path_and_nothing_ambiguous() {
        for ok in [
            URL,
            "https://app.example/c",
            "https://app.example:8443/c?v=1",
            "https://app.example/a/b/",
            "http://127.0.0.1:9000/client.json",
            "http://localhost:9000/client.json",
        ] {
            assert!(MetadataUrl::parse(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("https://app.example", MetadataUrlError::NoPath),
            ("https://app.example/", MetadataUrlError::NoPath),
            ("https://app.example?x=1", MetadataUrlError::NoPath),
            ("https://app.example/c#frag", MetadataUrlError::Fragment),
            ("https://app.example/c#", MetadataUrlError::Fragment),
            ("https://u:p@app.example/c", MetadataUrlError::UserInfo),
            ("https://u@app.example/c", MetadataUrlError::UserInfo),
            ("https://app.example/a/../c", MetadataUrlError::DotSegment),
            ("https://app.example/a/./c", MetadataUrlError::DotSegment),
            (
                "https://app.example/a/%2E%2E/c",
                MetadataUrlError::DotSegment,
            ),
            ("https://app.example/..", MetadataUrlError::DotSegment),
            ("http://app.example/c", MetadataUrlError::NotHttps),
            ("http://10.0.0.1/c", MetadataUrlError::NotHttps),
            ("ftp://app.example/c", MetadataUrlError::NotHttps),
            ("https://APP.example/c", MetadataUrlError::NotNormalised),
            ("https://app.example:443/c", MetadataUrlError::NotNormalised),
            ("https://app.example/a b", MetadataUrlError::NotNormalised),
            ("not a url", MetadataUrlError::NotAUrl),
        ];
        for (raw, why) in cases {
            assert_eq!(MetadataUrl::parse(raw), Err(why), "{raw}");
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(MetadataUrl::parse(&long), Err(MetadataUrlError::TooLong));
        assert_eq!(url().host(), "app.example");
        assert!(!url().is_plain_http());
        let local = MetadataUrl::parse("http://[::1]:9/c").unwrap();
        assert_eq!(local.host(), "[::1]");
        assert!(local.is_plain_http());
    }

    #[test]
    fn a_url_client_id_parses_as_a_client_id_and_a_generated_one_never_looks_like_a_url() {
        let id = crate::ClientId::parse(URL).unwrap();
        assert_eq!(id.metadata_url().unwrap().as_str(), URL);
        assert!(crate::ClientId::parse("https://app.example/a/../b").is_none());
        assert!(crate::ClientId::parse("https://app.example").is_none());
        let plain = crate::ClientId::parse("shop-1").unwrap();
        assert!(plain.metadata_url().is_none());
    }

    #[test]
    fn a_minimal_document_is_normalised_to_a_public_code_client() {
        let doc = parse(serde_json::json!({
            "client_id": URL,
            "redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"],
            "logo_uri": "https://app.example/logo.png",
            "something_new": {"nested": true},
        }))
        .unwrap();
        let reg = doc.registration;
        assert_eq!(reg.auth_method, AuthMethod::None);
        assert_eq!(reg.grant_types, vec![GrantType::AuthorizationCode]);
        assert_eq!(reg.name.as_str(), "app.example");
        assert_eq!(reg.redirect_uris.len(), 2);
        assert!(reg.pkce_required && !reg.first_party && reg.metadata_document);
        assert_eq!(reg.scopes.to_string(), "email openid profile");
    }

    #[test]
    fn refresh_tokens_and_the_listed_scope_and_name_are_taken_from_the_document() {
        let doc = parse(serde_json::json!({
            "client_id": URL,
            "client_name": "  Agent  ",
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code", "refresh_token", "urn:example:unknown"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "openid mcp:tools",
        }))
        .unwrap();
        let reg = doc.registration;
        assert_eq!(
            reg.grant_types,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(reg.name.as_str(), "Agent");
        assert_eq!(reg.scopes.to_string(), "mcp:tools openid");
        let defaulted = parse(serde_json::json!({
            "client_id": URL,
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "client_name": "x".repeat(300),
        }))
        .unwrap()
        .registration;
        assert!(defaulted.scopes.contains("offline_access"));
        assert_eq!(defaulted.name.as_str(), "app.example");
    }

    #[test]
    fn refuses_what_cannot_be_normalised() {
        let base = || {
            serde_json::json!({
                "client_id": URL,
                "redirect_uris": ["https://app.example/cb"],
            })
        };
        let with = |key: &str, value: serde_json::Value| {
            let mut d = base();
            d[key] = value;
            parse(d)
        };
        assert_eq!(
            with("client_id", URL.to_uppercase().into()),
            Err(DocumentError::ClientIdMismatch)
        );
        assert_eq!(
            with("client_id", format!("{URL}/").into()),
            Err(DocumentError::ClientIdMismatch)
        );
        assert_eq!(
            with("redirect_uris", serde_json::json!([])),
            Err(DocumentError::NoRedirectUris)
        );
        assert!(matches!(
            with(
                "redirect_uris",
                serde_json::json!(["http://evil.example/cb"])
            ),
            Err(DocumentError::BadRedirectUri(_))
        ));
        assert!(matches!(
            with("redirect_uris", serde_json::json!("https://app.example/cb")),
            Err(DocumentError::WrongType("redirect_uris", _))
        ));
        assert_eq!(
            with("token_endpoint_auth_method", "client_secret_basic".into()),
            Err(DocumentError::SecretMethod("client_secret_basic".into()))
        );
        assert_eq!(
            with("token_endpoint_auth_method", "private_key_jwt".into()),
            Err(DocumentError::PrivateKeyJwt)
        );
        assert_eq!(
            with("client_secret", "s3cret".into()),
            Err(DocumentError::CarriesSecret)
        );
        assert_eq!(
            with("grant_types", serde_json::json!(["refresh_token"])),
            Err(DocumentError::NoAuthorizationCode)
        );
        assert_eq!(
            with(
                "grant_types",
                serde_json::json!(["authorization_code", "client_credentials"])
            ),
            Err(DocumentError::ClientCredentials)
        );
        assert!(matches!(
            with("scope", "bad\"scope".into()),
            Err(DocumentError::BadScope(_))
        ));
        let mut d = base();
        d.as_object_mut().unwrap().remove("client_id");
        assert_eq!(parse(d), Err(DocumentError::ClientIdMismatch));
        assert_eq!(
            MetadataDocument::parse(&url(), b"<html>", &default_scopes()),
            Err(DocumentError::NotJson)
        );
        assert_eq!(
            MetadataDocument::parse(&url(), b"[1]", &default_scopes()),
            Err(DocumentError::NotJson)
        );
    }
}
