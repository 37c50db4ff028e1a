//! The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1),
//! parsed in two phases:
//!
//! 1. [`identify_client`]: `client_id` and `redirect_uri` only. Until both are trusted, an
//!    error is shown to the person and never redirected ([`UntrustedError`]).
//! 2. [`AuthorizationRequest::parse`]: everything else, against the client's registration.
//!    Its errors ([`Rejection`]) go back to the client's redirect URI.

use std::collections::BTreeMap;

use crate::client::{Client, ClientId, GrantType, RedirectUri};
use crate::error::{ProtocolError, repeated_parameter};
use crate::mfa::Acr;
use crate::pkce::CodeChallenge;
use crate::resource::{MAX_RESOURCES_PER_REQUEST, ResourceUri};
use crate::scope::{OFFLINE_ACCESS, OPENID, ScopeSet};

/// Request parameters as received, in order, possibly repeated.
pub type RawParams = Vec<(String, String)>;

/// The value of a parameter sent exactly once and not empty: `None` if `name` is
/// absent, empty or repeated.
pub fn single<'a>(params: &'a RawParams, name: &str) -> Option<&'a str> {
    let mut found = params.iter().filter(|(k, _)| k == name);
    match (found.next(), found.next()) {
        (Some((_, v)), None) if !v.is_empty() => Some(v.as_str()),
        _ => None,
    }
}

/// The longest value Usher accepts for any one parameter.
pub const MAX_PARAM_LEN: usize = 4096;

/// An error shown on Usher's own error page: the client or its redirect URI cannot be
/// trusted, so there is nowhere safe to send the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UntrustedError {
    #[error("The request has no client_id.")]
    MissingClientId,
    #[error(
        "The request names a client that is not registered here. An app that registered itself may have been removed after going unused: it needs to register again."
    )]
    UnknownClient,
    #[error("The request repeats the {0} parameter.")]
    Repeated(&'static str),
    #[error("The redirect_uri is not registered for this application.")]
    RedirectUriMismatch,
    #[error("The request has no redirect_uri, and this application has more than one registered.")]
    RedirectUriRequired,
    /// OIDC Core §3.1.2.1 makes `redirect_uri` REQUIRED in an OpenID request, even when
    /// only one is registered.
    #[error("The request asks for openid but has no redirect_uri, which OpenID Connect requires.")]
    OpenIdRedirectUriRequired,
    #[error("The request parameters are malformed.")]
    Malformed,
    /// The client id is a Client ID Metadata Document's URL, and the document cannot be
    /// used. Only a short category is shown ("fetch failed", "invalid document"): never
    /// a status, a TLS error, an address or a string from the document (an attacker
    /// writes those); the detail is in the log.
    #[error("The application's metadata document could not be used ({category}).")]
    ClientMetadata { category: &'static str },
}

/// A rejection that is returned to the client (RFC 6749 §4.1.2.1): a code and a
/// description that names the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub error: ProtocolError,
    pub description: String,
}

fn reject(error: ProtocolError, description: impl Into<String>) -> Rejection {
    Rejection {
        error,
        description: description.into(),
    }
}

/// Parameters gathered by name; repeats are an error (RFC 6749 §3.1).
#[derive(Debug)]
pub struct Params(BTreeMap<String, Vec<String>>);

impl Params {
    pub fn new(raw: &RawParams) -> Params {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in raw {
            map.entry(k.clone()).or_default().push(v.clone());
        }
        Params(map)
    }

    /// The single value of a parameter; an empty value counts as absent (RFC 6749 §3.1).
    pub fn one(&self, name: &'static str) -> Result<Option<&str>, &'static str> {
        match self.0.get(name).map(Vec::as_slice) {
            None => Ok(None),
            Some([v]) if v.is_empty() => Ok(None),
            Some([v]) => Ok(Some(v.as_str())),
            Some(_) => Err(name),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether any `scope` value sent has the `openid` token (read before the request is
    /// validated, so a repeated `scope` counts too).
    fn asks_for_openid(&self) -> bool {
        self.0
            .get("scope")
            .is_some_and(|values| values.iter().any(|v| v.split(' ').any(|s| s == OPENID)))
    }
}

/// Phase 1: which client, and where may errors go. Returns the client id and the
/// `redirect_uri` as sent (if it was).
pub fn identify_client(params: &Params) -> Result<(ClientId, Option<String>), UntrustedError> {
    let client_id = params
        .one("client_id")
        .map_err(UntrustedError::Repeated)?
        .ok_or(UntrustedError::MissingClientId)?;
    let client_id = ClientId::parse(client_id).ok_or(UntrustedError::UnknownClient)?;
    let redirect = params
        .one("redirect_uri")
        .map_err(UntrustedError::Repeated)?
        .map(str::to_owned);
    if redirect.as_ref().is_some_and(|r| r.len() > MAX_PARAM_LEN) {
        return Err(UntrustedError::Malformed);
    }
    if redirect.is_none() && params.asks_for_openid() {
        return Err(UntrustedError::OpenIdRedirectUriRequired);
    }
    Ok((client_id, redirect))
}

/// Phase 1, with the client loaded: the redirect URI to use. It must match a registered
/// one exactly (RFC 8252: on a loopback IP literal, the port may differ); it may be
/// omitted only when exactly one is registered.
///
/// The URI is kept as sent. One that matches a registered URI only up to the port is
/// parsed with [`RedirectUri`]'s `FromStr` (the registration rules, but as long as a
/// parameter may be), which accepts every URI that matches: it is a loopback `http` URI
/// without fragment or user info, like the registered one it matches.
pub fn resolve_redirect_uri(
    client: &Client,
    sent: Option<&str>,
) -> Result<RedirectUri, UntrustedError> {
    let registered = &client.registration.redirect_uris;
    match sent {
        Some(uri) => match registered.iter().find(|r| r.matches(uri)) {
            Some(r) if r.as_str() == uri => Ok(r.clone()),
            Some(_) => uri
                .parse::<RedirectUri>()
                .map_err(|_| UntrustedError::RedirectUriMismatch),
            None => Err(UntrustedError::RedirectUriMismatch),
        },
        None => match registered.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(UntrustedError::RedirectUriRequired),
        },
    }
}

/// The `prompt` values (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request.
///
/// Serialised as JSON in sealed forms and stored interactions: every typed field
/// (de)serialises through its string form, so the JSON is the same as when these fields
/// were strings, and a value that does not parse back refuses the whole request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub redirect_uri_sent: bool,
    /// Serialised space-delimited.
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    /// The weakest of Usher's own values among `acr_values` (OIDC Core §3.1.2.1), which
    /// Usher treats as the minimum the sign-in must reach; unknown values are ignored
    /// (they are a voluntary request). Absent in requests stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "acr_serde")]
    pub acr: Option<Acr>,
    /// The RFC 8707 resources asked for, in order, without repeats. Once the core has
    /// decided them (`usher-core`'s `resources::decide`), the registered resources this
    /// request is for, and `scope` the scopes granted for them. Absent in requests
    /// stored before resources existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceUri>,
}

/// The `resource` values of an authorization request (RFC 8707 §2): each an absolute URI
/// without a fragment; repeats of one value count once; at most
/// [`MAX_RESOURCES_PER_REQUEST`] distinct ones.
pub fn parse_resources(values: Option<&[String]>) -> Result<Vec<ResourceUri>, Rejection> {
    let mut out: Vec<ResourceUri> = Vec::new();
    for raw in values.unwrap_or_default() {
        let uri = ResourceUri::parse(raw).map_err(|_| {
            reject(
                ProtocolError::InvalidTarget,
                "resource must be an absolute URI without a fragment (RFC 8707 section 2)",
            )
        })?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    if out.len() > MAX_RESOURCES_PER_REQUEST {
        return Err(reject(
            ProtocolError::InvalidTarget,
            format!("at most {MAX_RESOURCES_PER_REQUEST} resources may be asked for at once"),
        ));
    }
    Ok(out)
}

/// `Option<Acr>` as its wire string.
mod acr_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::mfa::Acr;

    pub fn serialize<S: Serializer>(acr: &Option<Acr>, s: S) -> Result<S::Ok, S::Error> {
        match acr {
            Some(a) => s.serialize_str(a.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Acr>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(raw) => Acr::parse(&raw)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("not an acr value Usher knows")),
        }
    }
}

impl AuthorizationRequest {
    /// Phase 2: every other parameter, against the client's registration.
    pub fn parse(
        params: &Params,
        client: &Client,
        redirect_uri: RedirectUri,
        redirect_uri_sent: bool,
    ) -> Result<AuthorizationRequest, Rejection> {
        let one = |name: &'static str| -> Result<Option<&str>, Rejection> {
            let value = params
                .one(name)
                .map_err(|n| reject(ProtocolError::InvalidRequest, repeated_parameter(n)))?;
            if value.is_some_and(|v| v.len() > MAX_PARAM_LEN) {
                return Err(reject(
                    ProtocolError::InvalidRequest,
                    format!("the {name} parameter is longer than {MAX_PARAM_LEN} bytes"),
                ));
            }
            Ok(value)
        };
        // RFC 8707 resource indicators (§2): `resource` may repeat; each must be an
        // absolute URI without a fragment. Whether each is registered, and for this
        // client, is decided with the registry in `usher-core` (`resources`).
        let resources = parse_resources(params.0.get("resource").map(Vec::as_slice))?;
        // Any repeated parameter is refused, even one Usher otherwise ignores.
        for name in params.names() {
            if name != "resource" && params.0.get(name).is_some_and(|v| v.len() > 1) {
                return Err(reject(
                    ProtocolError::InvalidRequest,
                    repeated_parameter(name),
                ));
            }
        }

        match one("response_type")? {
            None => {
                return Err(reject(
                    ProtocolError::InvalidRequest,
                    "response_type is missing; send response_type=code",
                ));
            }
            Some("code") => {}
            Some(_) => {
                return Err(reject(
                    ProtocolError::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        if let Some(mode) = one("response_mode")?
            && mode != "query"
        {
            return Err(reject(
                ProtocolError::InvalidRequest,
                "only response_mode=query is supported",
            ));
        }
        if one("request")?.is_some() {
            return Err(reject(
                ProtocolError::RequestNotSupported,
                "request objects are not supported; send the parameters directly",
            ));
        }
        if one("request_uri")?.is_some() {
            return Err(reject(
                ProtocolError::RequestUriNotSupported,
                "request_uri is not supported; send the parameters directly",
            ));
        }
        if one("registration")?.is_some() {
            return Err(reject(
                ProtocolError::RegistrationNotSupported,
                "the registration parameter is not supported",
            ));
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(reject(
                ProtocolError::UnauthorizedClient,
                "this client is not registered for the authorization_code grant",
            ));
        }

        let scopes = ScopeSet::parse(one("scope")?.unwrap_or("")).map_err(|_| {
            reject(
                ProtocolError::InvalidScope,
                "scope is malformed: space-separated tokens of printable ASCII without quotes or backslashes, each at most 128 characters",
            )
        })?;
        for s in scopes.iter() {
            // With `resource`, a scope the client may not ask for is refused by the
            // resource decision (`invalid_target` when a named resource defines it,
            // `invalid_scope` otherwise), which knows the resources' scopes.
            if resources.is_empty() && !client.registration.scopes.contains(s.as_str()) {
                return Err(reject(
                    ProtocolError::InvalidScope,
                    "a requested scope is not registered for this client",
                ));
            }
            if s.as_str() == OFFLINE_ACCESS && !client.allows_grant(GrantType::RefreshToken) {
                return Err(reject(
                    ProtocolError::InvalidScope,
                    "offline_access needs a client registered for the refresh_token grant",
                ));
            }
        }

        let code_challenge = match (one("code_challenge")?, one("code_challenge_method")?) {
            (None, None) if client.registration.pkce_required => {
                return Err(reject(
                    ProtocolError::InvalidRequest,
                    "this client requires PKCE: send code_challenge with code_challenge_method=S256",
                ));
            }
            (None, None) => None,
            (None, Some(_)) => {
                return Err(reject(
                    ProtocolError::InvalidRequest,
                    "code_challenge_method was sent without code_challenge",
                ));
            }
            (Some(_), None) => {
                return Err(reject(
                    ProtocolError::InvalidRequest,
                    "send code_challenge_method=S256 with code_challenge (plain is not supported)",
                ));
            }
            (Some(_), Some(m)) if m != "S256" => {
                return Err(reject(
                    ProtocolError::InvalidRequest,
                    "code_challenge_method must be S256 (plain is not supported)",
                ));
            }
            (Some(c), Some(_)) => Some(CodeChallenge::parse_s256(c).ok_or_else(|| {
                reject(
                    ProtocolError::InvalidRequest,
                    "code_challenge must be the 43-character base64url SHA-256 of the code_verifier",
                )
            })?),
        };

        let mut prompt = Prompt::default();
        if let Some(raw) = one("prompt")? {
            for value in raw.split(' ').filter(|v| !v.is_empty()) {
                match value {
                    "none" => prompt.none = true,
                    "login" => prompt.login = true,
                    "consent" => prompt.consent = true,
                    // Usher has one account per browser session: nothing to select.
                    "select_account" => {}
                    _ => {
                        return Err(reject(
                            ProtocolError::InvalidRequest,
                            "unknown prompt value; use none, login, consent or select_account",
                        ));
                    }
                }
            }
            if prompt.none && (prompt.login || prompt.consent) {
                return Err(reject(
                    ProtocolError::InvalidRequest,
                    "prompt=none cannot be combined with other prompt values",
                ));
            }
        }

        let max_age = match one("max_age")? {
            None => None,
            Some(raw) => Some(raw.parse::<u64>().map_err(|_| {
                reject(
                    ProtocolError::InvalidRequest,
                    "max_age must be a non-negative whole number of seconds",
                )
            })?),
        };

        let acr = one("acr_values")?.and_then(|raw| raw.split(' ').filter_map(Acr::parse).min());

        Ok(AuthorizationRequest {
            acr,
            client_id: client.id.clone(),
            redirect_uri,
            redirect_uri_sent,
            scope: scopes,
            state: one("state")?.map(str::to_owned),
            nonce: one("nonce")?.map(str::to_owned),
            code_challenge,
            prompt,
            max_age,
            login_hint: one("login_hint")?.map(str::to_owned),
            id_token_hint: one("id_token_hint")?.map(str::to_owned),
            resources,
        })
    }

    /// Whether this is an OpenID Connect request (an ID token comes back).
    pub fn is_openid(&self) -> bool {
        self.scope.contains(OPENID)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientRegistration, RegistrationInput};
    use crate::time::UnixTime;

    fn client(public: bool, pkce_optional: bool) -> Client {
        let registration = ClientRegistration::new(RegistrationInput {
            name: "App".into(),
            public,
            redirect_uris: vec![
                "https://app.example/cb".into(),
                "http://127.0.0.1/cb".into(),
            ],
            pkce_optional,
            ..Default::default()
        })
        .unwrap();
        Client {
            id: ClientId::parse("app").unwrap(),
            secret_hash: None,
            registration,
            created_at: UnixTime(0),
        }
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    }

    fn parse(pairs: &[(&str, &str)], c: &Client) -> Result<AuthorizationRequest, Rejection> {
        let uri = RedirectUri::parse("https://app.example/cb").unwrap();
        AuthorizationRequest::parse(&params(pairs), c, uri, true)
    }

    fn ok_params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("response_type", "code"),
            ("client_id", "app"),
            ("scope", "openid email"),
            ("state", "xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
    }

    #[test]
    fn a_complete_request_parses() {
        let r = parse(&ok_params(), &client(false, false)).unwrap();
        assert_eq!(r.scope.to_string(), "email openid");
        assert_eq!(r.state.as_deref(), Some("xyz"));
        assert_eq!(
            r.code_challenge.as_ref().map(|c| c.as_str()),
            Some(CHALLENGE)
        );
        assert!(r.is_openid());
    }

    #[test]
    fn the_redirect_uri_is_matched_exactly_or_defaulted_only_when_unique() {
        let c = client(false, false);
        assert!(resolve_redirect_uri(&c, Some("https://app.example/cb")).is_ok());
        assert_eq!(
            resolve_redirect_uri(&c, Some("https://app.example/cb/x")),
            Err(UntrustedError::RedirectUriMismatch)
        );
        assert_eq!(
            resolve_redirect_uri(&c, Some("http://127.0.0.1:7777/cb"))
                .unwrap()
                .as_str(),
            "http://127.0.0.1:7777/cb"
        );
        assert_eq!(
            resolve_redirect_uri(&c, None),
            Err(UntrustedError::RedirectUriRequired)
        );
        assert_eq!(
            identify_client(&params(&[("client_id", "a"), ("client_id", "b")])),
            Err(UntrustedError::Repeated("client_id"))
        );
    }

    fn error_of(pairs: &[(&str, &str)], c: &Client) -> ProtocolError {
        parse(pairs, c).unwrap_err().error
    }

    fn with(
        extra: &[(&'static str, &'static str)],
        without: &[&str],
    ) -> Vec<(&'static str, &'static str)> {
        let mut p: Vec<_> = ok_params()
            .into_iter()
            .filter(|(k, _)| !without.contains(k))
            .collect();
        p.extend_from_slice(extra);
        p
    }

    #[test]
    fn every_bad_parameter_is_rejected_with_its_rfc_code() {
        let c = client(false, false);
        use ProtocolError::*;
        let cases: Vec<(Vec<(&str, &str)>, ProtocolError)> = vec![
            (
                with(&[("response_type", "token")], &["response_type"]),
                UnsupportedResponseType,
            ),
            (with(&[], &["response_type"]), InvalidRequest),
            (with(&[("state", "again")], &[]), InvalidRequest),
            (with(&[("scope", "openid admin")], &["scope"]), InvalidScope),
            (with(&[("scope", "openid \"x\"")], &["scope"]), InvalidScope),
            (
                with(&[], &["code_challenge", "code_challenge_method"]),
                InvalidRequest,
            ),
            (
                with(
                    &[("code_challenge_method", "plain")],
                    &["code_challenge_method"],
                ),
                InvalidRequest,
            ),
            (with(&[], &["code_challenge_method"]), InvalidRequest),
            (
                with(&[("code_challenge", "short")], &["code_challenge"]),
                InvalidRequest,
            ),
            (with(&[("prompt", "none login")], &[]), InvalidRequest),
            (with(&[("prompt", "bogus")], &[]), InvalidRequest),
            (with(&[("max_age", "-1")], &[]), InvalidRequest),
            (with(&[("request", "eyJ")], &[]), RequestNotSupported),
            (
                with(&[("request_uri", "https://x")], &[]),
                RequestUriNotSupported,
            ),
            (with(&[("response_mode", "fragment")], &[]), InvalidRequest),
        ];
        for (p, want) in cases {
            assert_eq!(error_of(&p, &c), want, "{p:?}");
        }
        let long = "x".repeat(MAX_PARAM_LEN + 1);
        let p = vec![
            ("response_type", "code"),
            ("nonce", long.as_str()),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        assert_eq!(error_of(&p, &c), InvalidRequest);
    }

    #[test]
    fn pkce_may_be_skipped_only_by_a_confidential_client_registered_so() {
        let lax = client(false, true);
        assert!(
            parse(
                &with(&[], &["code_challenge", "code_challenge_method"]),
                &lax
            )
            .is_ok()
        );
        // A challenge that is sent is still checked.
        assert_eq!(
            error_of(
                &with(
                    &[("code_challenge_method", "plain")],
                    &["code_challenge_method"]
                ),
                &lax
            ),
            ProtocolError::InvalidRequest
        );
        let public = client(true, false);
        let e = parse(
            &with(&[], &["code_challenge", "code_challenge_method"]),
            &public,
        )
        .unwrap_err();
        assert!(
            e.description.contains("code_challenge_method=S256"),
            "{}",
            e.description
        );
    }

    #[test]
    fn an_openid_request_must_send_its_redirect_uri() {
        // OIDC Core §3.1.2.1: REQUIRED, even with one registered URI.
        for scope in ["openid", "email openid", "profile  openid"] {
            assert_eq!(
                identify_client(&params(&[("client_id", "app"), ("scope", scope)])),
                Err(UntrustedError::OpenIdRedirectUriRequired),
                "{scope}"
            );
        }
        assert_eq!(
            identify_client(&params(&[
                ("client_id", "app"),
                ("scope", "email"),
                ("scope", "openid")
            ])),
            Err(UntrustedError::OpenIdRedirectUriRequired)
        );
        // OAuth-only requests keep RFC 6749 §3.1.2.3: the single registered URI.
        for scope in ["email", "openidx", ""] {
            assert!(
                identify_client(&params(&[("client_id", "app"), ("scope", scope)])).is_ok(),
                "{scope}"
            );
        }
        assert!(
            identify_client(&params(&[
                ("client_id", "app"),
                ("scope", "openid"),
                ("redirect_uri", "https://app.example/cb")
            ]))
            .is_ok()
        );
    }

    #[test]
    fn resource_may_repeat_and_each_must_be_an_absolute_uri() {
        let c = client(false, false);
        let r = parse(
            &with(
                &[
                    ("resource", "https://b.example/"),
                    ("resource", "https://a.example/"),
                    ("resource", "https://b.example/"),
                ],
                &[],
            ),
            &c,
        )
        .unwrap();
        let uris: Vec<&str> = r.resources.iter().map(ResourceUri::as_str).collect();
        assert_eq!(uris, ["https://b.example/", "https://a.example/"]);
        // Without resource: none, as before.
        assert!(parse(&with(&[], &[]), &c).unwrap().resources.is_empty());
        for bad in [
            vec![("resource", "")],
            vec![("resource", "api.example")],
            vec![("resource", "https://a.example/#x")],
            vec![
                ("resource", "https://a.example/"),
                ("resource", "/relative"),
            ],
        ] {
            let e = parse(&with(&bad, &[]), &c).unwrap_err();
            assert_eq!(e.error, ProtocolError::InvalidTarget, "{bad:?}");
            assert!(!e.description.contains("example"), "{}", e.description);
        }
        let many: Vec<String> = (0..=MAX_RESOURCES_PER_REQUEST)
            .map(|i| format!("https://r{i}.example/"))
            .collect();
        let mut p: Vec<(&str, &str)> = with(&[], &[]);
        p.extend(many.iter().map(|m| ("resource", m.as_str())));
        assert_eq!(
            parse(&p, &c).unwrap_err().error,
            ProtocolError::InvalidTarget
        );
        // A scope the client may not ask for is left to the resource decision.
        let r = parse(
            &with(
                &[
                    ("resource", "https://a.example/"),
                    ("scope", "openid invoices:read"),
                ],
                &["scope"],
            ),
            &c,
        )
        .unwrap();
        assert!(r.scope.contains("invoices:read"));
    }

    #[test]
    fn descriptions_never_quote_request_text() {
        let c = client(false, false);
        let marker = "Zq\"<x>";
        let cases: Vec<Vec<(&str, &str)>> = vec![
            with(&[(marker, "1"), (marker, "2")], &[]),
            with(&[("scope", "openid Zq\"<x>")], &["scope"]),
            with(&[("scope", "openid Zqx")], &["scope"]),
            with(&[("prompt", marker)], &[]),
            with(&[("max_age", marker)], &[]),
            with(&[("code_challenge", marker)], &["code_challenge"]),
        ];
        for p in cases {
            let e = parse(&p, &c).unwrap_err();
            assert!(!e.description.contains("Zq"), "{p:?}: {}", e.description);
            assert!(
                e.description.chars().all(crate::error::is_description_char),
                "{}",
                e.description
            );
        }
    }

    #[test]
    fn unknown_and_display_parameters_are_ignored() {
        let c = client(false, false);
        let p = with(
            &[
                ("display", "page"),
                ("ui_locales", "fr"),
                ("claims_locales", "fr"),
                ("acr_values", "x"),
                ("foo", "bar"),
            ],
            &[],
        );
        assert!(parse(&p, &c).is_ok());
    }

    /// A pending request as the forms and interaction rows of earlier versions hold it,
    /// every field a string.
    const STORED_JSON: &str = r#"{"client_id":"app","redirect_uri":"http://127.0.0.1:7777/cb","redirect_uri_sent":true,"scope":"email openid","state":"xyz","nonce":null,"code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","prompt":{"none":false,"login":true,"consent":false},"max_age":60,"login_hint":null,"id_token_hint":null}"#;

    #[test]
    fn a_request_stored_with_string_fields_reads_back_typed_and_writes_the_same_json() {
        let r: AuthorizationRequest = serde_json::from_str(STORED_JSON).unwrap();
        assert_eq!(r.client_id.as_str(), "app");
        assert_eq!(r.redirect_uri.as_str(), "http://127.0.0.1:7777/cb");
        assert_eq!(r.scope, ScopeSet::parse("openid email").unwrap());
        assert_eq!(
            r.code_challenge.as_ref().map(|c| c.as_str()),
            Some(CHALLENGE)
        );
        assert!(r.prompt.login);
        assert_eq!(serde_json::to_string(&r).unwrap(), STORED_JSON);
    }

    #[test]
    fn a_stored_request_whose_values_do_not_parse_is_refused() {
        for (from, to) in [
            (r#""client_id":"app""#, r#""client_id":"a b""#),
            (
                r#""redirect_uri":"http://127.0.0.1:7777/cb""#,
                r#""redirect_uri":"http://evil.example/cb""#,
            ),
            (r#""scope":"email openid""#, r#""scope":"email \"x""#),
            (CHALLENGE, "short"),
        ] {
            let json = STORED_JSON.replace(from, to);
            assert_ne!(json, STORED_JSON, "{from}");
            assert!(
                serde_json::from_str::<AuthorizationRequest>(&json).is_err(),
                "{json}"
            );
        }
    }

    #[test]
    fn every_redirect_uri_a_request_resolves_to_reads_back() {
        let c = client(false, false);
        // Another port, and a sent URI longer than any registered one may be that the
        // URL parser normalises to the registered one (dot segments).
        let long = format!("http://127.0.0.1:7777{}/cb", "/a/..".repeat(500));
        assert!(long.len() > RedirectUri::MAX_REGISTERED_LEN);
        for sent in [
            "http://127.0.0.1:7777/cb",
            long.as_str(),
            "https://app.example/cb",
        ] {
            let uri = resolve_redirect_uri(&c, Some(sent)).unwrap();
            assert_eq!(uri.as_str(), sent);
            let json = serde_json::to_string(&uri).unwrap();
            assert_eq!(serde_json::from_str::<RedirectUri>(&json).unwrap(), uri);
        }
    }
}
