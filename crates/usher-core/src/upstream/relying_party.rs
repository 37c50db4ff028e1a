//! The relying party's three steps with one upstream, through the `openidconnect`
//! crate: the authorization URL, the code exchange, the ID token's verification.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreErrorResponseType,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use serde_json::Value;
use usher_domain::{Amr, Upstream, UpstreamId};

use super::{Providers, UpstreamFailure};

/// The secrets of one sign-in at an upstream: `state` (sent, and the key of the sign-in
/// in flight), `nonce` (sent, and found again in the ID token), and the PKCE verifier
/// (kept; only its S256 challenge is sent). `Debug` shows none of them.
#[derive(Clone, PartialEq, Eq)]
pub struct Flight {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl std::fmt::Debug for Flight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flight(<redacted>)")
    }
}

/// Who the upstream says signed in, with the claims the upstream's mapping names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamPerson {
    pub upstream: UpstreamId,
    /// The mapped subject claim (`sub` by default): with the upstream, the identity.
    pub subject: String,
    pub username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// Only when the mapping names a verified claim and it is `true`.
    pub email_verified: bool,
    /// The upstream's `amr` values that Usher knows (RFC 8176), in order.
    pub amr: Vec<Amr>,
}

/// The algorithms an upstream's ID tokens may be signed with: what its discovery lists,
/// without the symmetric ones (the client secret is not a signing key here) and `none`.
fn pinned_algorithms(metadata: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|a| {
            matches!(
                a,
                A::RsaSsaPkcs1V15Sha256
                    | A::RsaSsaPkcs1V15Sha384
                    | A::RsaSsaPkcs1V15Sha512
                    | A::RsaSsaPssSha256
                    | A::RsaSsaPssSha384
                    | A::RsaSsaPssSha512
                    | A::EcdsaP256Sha256
                    | A::EcdsaP384Sha384
                    | A::EdDsa
            )
        })
        .cloned()
        .collect()
}

fn redirect_url(callback: &str) -> Result<RedirectUrl, UpstreamFailure> {
    RedirectUrl::new(callback.to_owned())
        .map_err(|_| UpstreamFailure::Invalid("the callback is not a URL"))
}

/// The URL to send the browser to: the upstream's authorization endpoint with
/// `response_type=code`, the client id, `callback` as `redirect_uri`, the upstream's
/// scopes (`openid` always), `state`, `nonce` and the S256 challenge of the verifier.
pub fn authorization_url(
    metadata: CoreProviderMetadata,
    upstream: &Upstream,
    callback: &str,
    flight: &Flight,
) -> Result<url::Url, UpstreamFailure> {
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(upstream.client_id.clone()),
        None,
    )
    .set_redirect_uri(redirect_url(callback)?);
    let (state, nonce) = (flight.state.clone(), flight.nonce.clone());
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        move || CsrfToken::new(state),
        move || Nonce::new(nonce),
    );
    for scope in upstream.scope.split_whitespace().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.to_owned()));
    }
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
        flight.verifier.clone(),
    ));
    let (url, _, _) = request.set_pkce_challenge(challenge).url();
    Ok(url)
}

/// Exchanges `code` at the upstream's token endpoint (with the verifier, and the client
/// secret as the upstream accepts it) and verifies the ID token that comes back: its
/// signature with a key of the upstream's JWKS under a pinned algorithm (the set fetched
/// again once when the token names a key it lacks), `iss`, `aud` (this client),
/// `exp`/`iat` against `now`, `nonce`, and `at_hash` when present.
pub async fn redeem(
    providers: &Providers,
    upstream: &Upstream,
    secret: Option<String>,
    callback: &str,
    code: &str,
    flight: &Flight,
    now: i64,
) -> Result<UpstreamPerson, UpstreamFailure> {
    let metadata = providers.metadata(upstream, now).await?;
    let auth_type = auth_type(&metadata);
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(upstream.client_id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(redirect_url(callback)?)
    .set_auth_type(auth_type);
    let outbound = providers.outbound()?;
    let http = super::Http(outbound);
    let token: CoreTokenResponse = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|_| UpstreamFailure::Invalid("the upstream names no token endpoint"))?
        .set_pkce_verifier(PkceCodeVerifier::new(flight.verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => {
                if *r.error() == CoreErrorResponseType::InvalidGrant {
                    UpstreamFailure::Invalid("the upstream's token endpoint refused the code")
                } else {
                    UpstreamFailure::Invalid("the upstream's token endpoint refused the request")
                }
            }
            RequestTokenError::Request(e) => {
                UpstreamFailure::Unavailable(format!("the token endpoint failed: {e}"))
            }
            _ => UpstreamFailure::Unavailable(
                "the token endpoint's answer could not be read".to_owned(),
            ),
        })?;
    match verify(&metadata, upstream, &token, &flight.nonce, now) {
        Err(Unverified::UnknownKey) => match providers.refresh_jwks(upstream, now).await? {
            Some(fresh) => verify(&fresh, upstream, &token, &flight.nonce, now)
                .map_err(Unverified::into_failure),
            None => Err(UpstreamFailure::Invalid(
                "the ID token names an unknown key",
            )),
        },
        other => other.map_err(Unverified::into_failure),
    }
}

/// How the client authenticates at the token endpoint: HTTP Basic unless the upstream
/// lists only `client_secret_post`.
fn auth_type(metadata: &CoreProviderMetadata) -> AuthType {
    match metadata.token_endpoint_auth_methods_supported() {
        Some(methods)
            if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    }
}

enum Unverified {
    UnknownKey,
    Refused(&'static str),
}

impl Unverified {
    fn into_failure(self) -> UpstreamFailure {
        match self {
            Unverified::UnknownKey => UpstreamFailure::Invalid("the ID token names an unknown key"),
            Unverified::Refused(why) => UpstreamFailure::Invalid(why),
        }
    }
}

fn verify(
    metadata: &CoreProviderMetadata,
    upstream: &Upstream,
    token: &CoreTokenResponse,
    nonce: &str,
    now: i64,
) -> Result<UpstreamPerson, Unverified> {
    let id_token = token
        .id_token()
        .ok_or(Unverified::Refused("the upstream sent no ID token"))?;
    let algorithms = pinned_algorithms(metadata);
    if algorithms.is_empty() {
        return Err(Unverified::Refused(
            "the upstream lists no asymmetric ID token algorithm",
        ));
    }
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(upstream.client_id.clone()),
        None,
    );
    let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(algorithms)
        .set_time_fn(move || at);
    let claims = id_token
        .claims(&verifier, &Nonce::new(nonce.to_owned()))
        .map_err(|e| match e {
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            ) => Unverified::UnknownKey,
            ClaimsVerificationError::InvalidAudience(_) => {
                Unverified::Refused("the ID token is for another audience")
            }
            ClaimsVerificationError::InvalidIssuer(_) => {
                Unverified::Refused("the ID token names another issuer")
            }
            ClaimsVerificationError::InvalidNonce(_) => {
                Unverified::Refused("the ID token's nonce is not this sign-in's")
            }
            ClaimsVerificationError::Expired(_) => Unverified::Refused("the ID token has expired"),
            ClaimsVerificationError::SignatureVerification(_) => {
                Unverified::Refused("the ID token's signature does not verify")
            }
            _ => Unverified::Refused("the ID token does not verify"),
        })?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|_| Unverified::Refused("the ID token's algorithm is unknown"))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|_| Unverified::Refused("the ID token's key is unknown"))?;
        let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
            .map_err(|_| Unverified::Refused("at_hash cannot be computed"))?;
        if actual != *expected {
            return Err(Unverified::Refused(
                "the ID token's at_hash does not match the access token",
            ));
        }
    }
    let amr = claims
        .auth_method_refs()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| Amr::parse(v.as_str()))
                .collect()
        })
        .unwrap_or_default();
    // The verified token's payload, read again for the mapped claims (any top-level
    // name the operator chose).
    let payload = verified_payload(&id_token.to_string())
        .ok_or(Unverified::Refused("the ID token's payload is not JSON"))?;
    map_claims(upstream, &payload, amr).map_err(Unverified::Refused)
}

fn verified_payload(compact: &str) -> Option<serde_json::Map<String, Value>> {
    let payload = compact.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The person the claims describe, through the upstream's mapping. The subject must be
/// a non-empty string (or number: GitHub's ids) of at most 255 bytes.
pub fn map_claims(
    upstream: &Upstream,
    claims: &serde_json::Map<String, Value>,
    amr: Vec<Amr>,
) -> Result<UpstreamPerson, &'static str> {
    let mapping = &upstream.claim_mapping;
    let subject = match claims.get(&mapping.subject) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("the upstream's answer has no subject"),
    };
    if subject.is_empty() || subject.len() > usher_domain::upstream::MAX_SUBJECT_BYTES {
        return Err("the upstream's subject is empty or too long");
    }
    let text = |name: &str| match claims.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    };
    let email_verified = mapping
        .email_verified
        .as_ref()
        .is_some_and(|name| matches!(claims.get(name), Some(Value::Bool(true))));
    Ok(UpstreamPerson {
        upstream: upstream.id.clone(),
        subject,
        username: text(&mapping.username),
        name: text(&mapping.name),
        email: text(&mapping.email),
        email_verified,
        amr,
    })
}

// ---- Plain OAuth 2.0 providers (no discovery, no ID token: GitHub) -------------------

/// The authorization URL of a provider given by its endpoints: code, PKCE S256 and
/// `state`; no `nonce` (there is no ID token to carry it back).
pub fn manual_authorization_url(
    upstream: &Upstream,
    endpoints: &usher_domain::ManualEndpoints,
    callback: &str,
    flight: &Flight,
) -> Result<url::Url, UpstreamFailure> {
    let mut url = url::Url::parse(&endpoints.authorization_endpoint)
        .map_err(|_| UpstreamFailure::Invalid("the authorization endpoint is not a URL"))?;
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
        flight.verifier.clone(),
    ));
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &upstream.client_id)
        .append_pair("redirect_uri", callback)
        .append_pair("scope", &upstream.scope)
        .append_pair("state", &flight.state)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

/// Exchanges `code` at a plain OAuth 2.0 provider's token endpoint (the client secret in
/// the body, as such providers expect) and reads the person from its user-info endpoint
/// with the access token; the claims are mapped as an ID token's would be. No `amr`: the
/// provider says nothing about how the person signed in.
pub async fn redeem_manual(
    providers: &Providers,
    upstream: &Upstream,
    endpoints: &usher_domain::ManualEndpoints,
    secret: Option<String>,
    callback: &str,
    code: &str,
    flight: &Flight,
) -> Result<UpstreamPerson, UpstreamFailure> {
    use openidconnect::http::{Method, Request, header};
    let outbound = providers.outbound()?;
    // Built in a block: the serializer is not Send and must not live across an await.
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", callback)
            .append_pair("code_verifier", &flight.verifier)
            .append_pair("client_id", &upstream.client_id);
        if let Some(secret) = &secret {
            form.append_pair("client_secret", secret);
        }
        form.finish()
    };
    let request = Request::builder()
        .method(Method::POST)
        .uri(&endpoints.token_endpoint)
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .map_err(|_| UpstreamFailure::Invalid("the token endpoint is not a URL"))?;
    let answer = outbound
        .exchange(request, super::MAX_ANSWER_BYTES)
        .await
        .map_err(|e| UpstreamFailure::Unavailable(format!("the token endpoint failed: {e}")))?;
    if answer.status().is_server_error() {
        return Err(UpstreamFailure::Unavailable(
            "the token endpoint answered with a server error".to_owned(),
        ));
    }
    let tokens: Value = serde_json::from_slice(answer.body())
        .map_err(|_| UpstreamFailure::Invalid("the token endpoint's answer is not JSON"))?;
    let Some(access_token) = tokens.get("access_token").and_then(Value::as_str) else {
        return Err(UpstreamFailure::Invalid(
            "the upstream's token endpoint refused the code",
        ));
    };
    let request = Request::builder()
        .method(Method::GET)
        .uri(&endpoints.userinfo_endpoint)
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
        .body(Vec::new())
        .map_err(|_| UpstreamFailure::Invalid("the user-info endpoint is not a URL"))?;
    let answer = outbound
        .exchange(request, super::MAX_ANSWER_BYTES)
        .await
        .map_err(|e| UpstreamFailure::Unavailable(format!("the user-info endpoint failed: {e}")))?;
    if answer.status().is_server_error() {
        return Err(UpstreamFailure::Unavailable(
            "the user-info endpoint answered with a server error".to_owned(),
        ));
    }
    if !answer.status().is_success() {
        return Err(UpstreamFailure::Invalid(
            "the user-info endpoint refused the access token",
        ));
    }
    match serde_json::from_slice(answer.body()) {
        Ok(Value::Object(claims)) => {
            map_claims(upstream, &claims, Vec::new()).map_err(UpstreamFailure::Invalid)
        }
        _ => Err(UpstreamFailure::Invalid(
            "the user-info answer is not a JSON object",
        )),
    }
}
