//! Minting tokens: RFC 9068 access tokens and OpenID Connect ID tokens, each signed with
//! the algorithm asked for (RS256, ES256 or EdDSA) and that algorithm's active key. ID
//! tokens are built with `openidconnect`'s claim types and signed through an adapter over
//! the OpenSSL key ring (never the `rsa` crate).

use chrono::{TimeZone, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, AddressClaim, AddressCountry, AddressLocality,
    AddressPostalCode, AddressRegion, Audience, AuthenticationContextClass,
    AuthenticationMethodReference, EndUserEmail, EndUserName, EndUserPhoneNumber, EndUserUsername,
    FormattedAddress, IdToken, IdTokenClaims, IssuerUrl, LocalizedClaim, Nonce, PrivateSigningKey,
    SigningError, StandardClaims, StreetAddress, SubjectIdentifier,
};
use serde_json::{Map, Value, json};
use usher_domain::scope::{ADDRESS, EMAIL, PHONE, PROFILE};
use usher_domain::{Address, AuthMethods, ScopeSet, SigningAlg, UnixTime, User};
use usher_keys::KeyRing;

use crate::keys::PublishedKeys;

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// What goes into an access token.
pub struct AccessTokenInput<'a> {
    /// The algorithm to sign with (`access_token_alg`).
    pub alg: SigningAlg,
    pub issuer: &'a str,
    pub subject: &'a str,
    pub audience: &'a [String],
    pub client_id: &'a str,
    pub scope: &'a ScopeSet,
    pub auth_time: Option<UnixTime>,
    /// How the person signed in (`amr`, and `acr` from it; RFC 9068 §2.2.1), in tokens
    /// issued for a person's sign-in.
    pub amr: Option<&'a AuthMethods>,
    /// The person's groups (the `groups` claim), when the grant has the `groups` scope.
    pub groups: Option<&'a [String]>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A signed access token and its id.
pub struct MintedAccessToken {
    pub token: String,
    pub jti: String,
}

/// Signs an RFC 9068 access token with a fresh `jti`.
pub fn access_token(
    ring: &KeyRing,
    claims: &AccessTokenInput<'_>,
) -> Result<MintedAccessToken, String> {
    let jti = usher_keys::random_token(16).map_err(|e| e.to_string())?;
    let aud: Value = match claims.audience {
        [one] => json!(one),
        many => json!(many),
    };
    let mut map = Map::new();
    map.insert("iss".into(), json!(claims.issuer));
    map.insert("sub".into(), json!(claims.subject));
    map.insert("aud".into(), aud);
    map.insert("client_id".into(), json!(claims.client_id));
    map.insert("iat".into(), json!(claims.issued_at.seconds()));
    map.insert("exp".into(), json!(claims.expires_at.seconds()));
    map.insert("jti".into(), json!(jti));
    map.insert("scope".into(), json!(claims.scope.to_string()));
    if let Some(t) = claims.auth_time {
        map.insert("auth_time".into(), json!(t.seconds()));
    }
    if let Some(amr) = claims.amr {
        map.insert("acr".into(), json!(amr.acr().as_str()));
        map.insert("amr".into(), json!(amr.wire()));
    }
    if let Some(groups) = claims.groups {
        map.insert("groups".into(), json!(groups));
    }
    let token = ring
        .sign_jwt_with(claims.alg, ACCESS_TOKEN_TYP, &map)
        .map_err(|e| e.to_string())?;
    Ok(MintedAccessToken { token, jti })
}

/// The `typ` header of logout tokens (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

/// The event a logout token carries (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The `sid` of a browser session (OpenID Connect Back-Channel Logout 1.0 §2.1): stable
/// for the session's whole lineage (a re-authentication keeps it), the same for every
/// client, and derived one way from the lineage's hash under a label, so it tells
/// nothing of the cookie or the lineage id (never stored or sent).
pub fn sid_of(lineage_hash: &str) -> String {
    usher_keys::sha256_b64url(&format!("usher sid v1\n{lineage_hash}"))
}

/// The ID token's claims beyond OpenID Connect Core's: `sid`, and `groups` (the
/// person's group names, sorted, with the `groups` scope; docs/design/groups.md).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct IdTokenExtra {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl AdditionalClaims for IdTokenExtra {}

type UsherIdToken = IdToken<
    IdTokenExtra,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The active key of one algorithm, as `openidconnect` wants a signing key.
struct ActiveKey<'a> {
    ring: &'a KeyRing,
    alg: SigningAlg,
    jwk: CoreJsonWebKey,
}

/// `openidconnect`'s name of an algorithm.
pub fn core_alg(alg: SigningAlg) -> CoreJwsSigningAlgorithm {
    match alg {
        SigningAlg::Rs256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlg::Es256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlg::EdDsa => CoreJwsSigningAlgorithm::EdDsa,
    }
}

impl PrivateSigningKey for ActiveKey<'_> {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        if *alg != core_alg(self.alg) {
            return Err(SigningError::UnsupportedAlg(format!("{alg:?}")));
        }
        self.ring
            .sign(self.alg, message)
            .map_err(|e| SigningError::Other(e.to_string()))
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.jwk.clone()
    }
}

/// What goes into an ID token besides the person's claims.
pub struct IdTokenInput<'a> {
    /// The algorithm to sign with (the client's, else `id_token_alg`).
    pub alg: SigningAlg,
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub user: &'a User,
    pub scope: &'a ScopeSet,
    pub nonce: Option<&'a str>,
    pub auth_time: UnixTime,
    /// How the person signed in: `amr`, and the `acr` it reached.
    pub amr: &'a AuthMethods,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
    /// The browser session's `sid` ([`sid_of`]), when the tokens come from one.
    pub sid: Option<&'a str>,
    /// The person's groups (the `groups` claim), when the grant has the `groups` scope.
    pub groups: Option<&'a [String]>,
}

fn chrono_time(t: UnixTime) -> Result<chrono::DateTime<Utc>, String> {
    Utc.timestamp_opt(t.seconds(), 0)
        .single()
        .ok_or_else(|| format!("time {} is out of range", t.seconds()))
}

/// The `address` claim (OIDC Core §5.1.1) of a checked address: its present members.
fn address_claim(address: &Address) -> AddressClaim {
    let f = address.fields();
    AddressClaim {
        formatted: f.formatted.clone().map(FormattedAddress::new),
        street_address: f.street_address.clone().map(StreetAddress::new),
        locality: f.locality.clone().map(AddressLocality::new),
        region: f.region.clone().map(AddressRegion::new),
        postal_code: f.postal_code.clone().map(AddressPostalCode::new),
        country: f.country.clone().map(AddressCountry::new),
    }
}

/// The claims the scopes allow (OIDC Core §5.4), each only when the person has it:
/// `profile` → `name`, `preferred_username` (their login username when they chose
/// none, [`User::preferred_username_claim`]); `email` → `email`, `email_verified`;
/// `phone` → `phone_number`, `phone_number_verified`; `address` → `address`.
pub fn standard_claims(
    user: &User,
    scope: &ScopeSet,
) -> StandardClaims<openidconnect::core::CoreGenderClaim> {
    let mut claims = StandardClaims::new(SubjectIdentifier::new(user.id.as_str().to_owned()));
    if scope.contains(PROFILE)
        && let Some(name) = &user.name
    {
        let mut localized = LocalizedClaim::new();
        localized.insert(None, EndUserName::new(name.as_str().to_owned()));
        claims = claims.set_name(Some(localized));
    }
    if scope.contains(PROFILE) {
        claims = claims.set_preferred_username(Some(EndUserUsername::new(
            user.preferred_username_claim().to_owned(),
        )));
    }
    if scope.contains(EMAIL)
        && let Some(email) = &user.email
    {
        claims = claims
            .set_email(Some(EndUserEmail::new(email.as_str().to_owned())))
            .set_email_verified(Some(user.email_verified));
    }
    if scope.contains(PHONE)
        && let Some(phone) = &user.profile.phone_number
    {
        claims = claims
            .set_phone_number(Some(EndUserPhoneNumber::new(phone.as_str().to_owned())))
            .set_phone_number_verified(Some(user.profile.phone_number_verified));
    }
    if scope.contains(ADDRESS)
        && let Some(address) = &user.profile.address
    {
        claims = claims.set_address(Some(address_claim(address)));
    }
    claims
}

/// Signs an ID token (OIDC Core §2) with `at_hash` (OIDC Core §3.1.3.6: the left half of
/// the hash of the algorithm's own hash function; SHA-512 for EdDSA on Ed25519) and
/// `azp`.
pub fn id_token(keys: &PublishedKeys, input: &IdTokenInput<'_>) -> Result<String, String> {
    let ring = &keys.ring;
    let alg = input.alg;
    let jwk = keys
        .active_jwks
        .get(&alg)
        .cloned()
        .ok_or_else(|| format!("no {alg} key is active (or its JWK does not parse)"))?;
    let issuer = IssuerUrl::new(input.issuer.to_owned()).map_err(|e| e.to_string())?;
    let claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(input.client_id.to_owned())],
        chrono_time(input.expires_at)?,
        chrono_time(input.issued_at)?,
        standard_claims(input.user, input.scope),
        IdTokenExtra {
            sid: input.sid.map(str::to_owned),
            groups: input.groups.map(<[String]>::to_vec),
        },
    )
    .set_auth_time(Some(chrono_time(input.auth_time)?))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(
        input.amr.acr().as_str().to_owned(),
    )))
    .set_auth_method_refs(Some(
        input
            .amr
            .wire()
            .into_iter()
            .map(|m| AuthenticationMethodReference::new(m.to_owned()))
            .collect(),
    ))
    .set_nonce(input.nonce.map(|n| Nonce::new(n.to_owned())))
    .set_authorized_party(Some(openidconnect::ClientId::new(
        input.client_id.to_owned(),
    )));
    let key = ActiveKey { ring, alg, jwk };
    let token = UsherIdToken::new(
        claims,
        &key,
        core_alg(alg),
        Some(&AccessToken::new(input.access_token.to_owned())),
        None,
    )
    .map_err(|e| e.to_string())?;
    Ok(token.to_string())
}
