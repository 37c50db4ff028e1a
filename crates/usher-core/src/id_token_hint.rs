//! `id_token_hint` (OIDC Core §3.1.2.1, RP-Initiated Logout 1.0 §2): the one verifier
//! that `/authorize`, the login step and `/logout` share.
//!
//! A hint is accepted only if it is an ID token this server issued to one of its
//! clients: signed by a published key (RS256, pinned), `iss` this issuer, a header `typ`
//! that is absent or `JWT` (never RFC 9068's `at+jwt`), the shape Usher's ID tokens have
//! (`sub`, exactly one audience, `iat`, `exp`; no `client_id` or `scope`, which only
//! access tokens carry), an `azp` (if any) equal to that audience, and an audience that
//! is a registered client. Expiry is not a refusal — OIDC lets a client send an expired
//! hint — but it is reported, so a caller that acts on the hint alone (logout without
//! confirmation) can ask the person instead. Why a hint was refused is never said beyond
//! "not an ID token issued by this server", and the hint itself is never logged.

use serde_json::{Map, Value};
use usher_domain::{ClientId, UnixTime};

use crate::Core;
use crate::failure::Failure;

/// What a valid `id_token_hint` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    /// `sub`: the person it was issued for.
    pub subject: String,
    /// `aud`: the client it was issued to (Usher's ID tokens have exactly one), which
    /// was registered when the hint was checked.
    pub audience: ClientId,
    /// `azp`, when present (always equal to `audience`).
    pub authorized_party: Option<ClientId>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    /// Whether `exp` had passed when the hint was checked.
    pub expired: bool,
}

/// Why a hint was not accepted.
#[derive(Debug)]
pub enum HintError {
    /// Not an ID token this server issued to a registered client.
    Invalid,
    /// The client store could not be read.
    Failure(Failure),
}

impl IdTokenHint {
    /// Verifies `raw` (see the module documentation).
    pub async fn verify(state: &Core, raw: &str) -> Result<IdTokenHint, HintError> {
        let hint = Self::parse(state, raw).ok_or(HintError::Invalid)?;
        match state.client(&hint.audience).await {
            Ok(Some(_)) => Ok(hint),
            Ok(None) => Err(HintError::Invalid),
            Err(f) => Err(HintError::Failure(f)),
        }
    }

    /// Everything but the client lookup: signature, header and claims.
    fn parse(state: &Core, raw: &str) -> Option<IdTokenHint> {
        let (typ, claims) = state.published_keys().ring.verify_jwt(raw).ok()?;
        if !typ.as_deref().is_none_or(is_plain_jwt) {
            return None;
        }
        if claims.get("iss").and_then(Value::as_str) != Some(state.settings.issuer.as_str()) {
            return None;
        }
        Self::from_claims(&claims, state.now())
    }

    /// The claims of an ID token as Usher issues them, or `None`.
    fn from_claims(claims: &Map<String, Value>, now: UnixTime) -> Option<IdTokenHint> {
        // RFC 9068 access tokens carry these; Usher's ID tokens never do.
        if claims.contains_key("client_id") || claims.contains_key("scope") {
            return None;
        }
        let subject = claims.get("sub").and_then(Value::as_str)?;
        if subject.is_empty() {
            return None;
        }
        let audience = match claims.get("aud")? {
            Value::String(a) => a.as_str(),
            Value::Array(list) => match list.as_slice() {
                [Value::String(a)] => a.as_str(),
                _ => return None,
            },
            _ => return None,
        };
        let audience = ClientId::parse(audience)?;
        let authorized_party = match claims.get("azp") {
            None => None,
            Some(Value::String(azp)) if azp == audience.as_str() => Some(audience.clone()),
            Some(_) => return None,
        };
        let issued_at = UnixTime(claims.get("iat").and_then(Value::as_i64)?);
        let expires_at = UnixTime(claims.get("exp").and_then(Value::as_i64)?);
        Some(IdTokenHint {
            subject: subject.to_owned(),
            audience,
            authorized_party,
            issued_at,
            expires_at,
            expired: expires_at <= now,
        })
    }

    /// Whether this hint was issued to `client` and has not expired: enough to act on
    /// without asking the person (RP-initiated logout).
    pub fn is_live_for(&self, client: &ClientId) -> bool {
        !self.expired && self.audience == *client
    }
}

/// `typ` values that mean "a JWT" (RFC 7519 §5.1, compared without case, with or
/// without the `application/` prefix).
fn is_plain_jwt(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("JWT") || typ.eq_ignore_ascii_case("application/jwt")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn id_token() -> Value {
        json!({
            "iss": "https://id.example", "sub": "u-1", "aud": "c-shop", "azp": "c-shop",
            "iat": 100, "exp": 700, "auth_time": 90, "at_hash": "x",
        })
    }

    #[test]
    fn an_id_token_is_read_and_its_expiry_reported() {
        let hint = IdTokenHint::from_claims(&claims(id_token()), UnixTime(200)).unwrap();
        assert_eq!(hint.subject, "u-1");
        assert_eq!(hint.audience.as_str(), "c-shop");
        assert_eq!(hint.authorized_party, Some(hint.audience.clone()));
        assert!(!hint.expired);
        assert!(hint.is_live_for(&ClientId::parse("c-shop").unwrap()));
        assert!(!hint.is_live_for(&ClientId::parse("c-other").unwrap()));

        let old = IdTokenHint::from_claims(&claims(id_token()), UnixTime(700)).unwrap();
        assert!(old.expired);
        assert!(!old.is_live_for(&ClientId::parse("c-shop").unwrap()));

        let mut one_in_a_list = id_token();
        one_in_a_list["aud"] = json!(["c-shop"]);
        assert!(IdTokenHint::from_claims(&claims(one_in_a_list), UnixTime(200)).is_some());
    }

    #[test]
    fn anything_but_the_shape_of_usher_id_tokens_is_refused() {
        let changes: Vec<(&str, Option<Value>)> = vec![
            ("client_id", Some(json!("c-shop"))),
            ("scope", Some(json!("openid"))),
            ("sub", None),
            ("sub", Some(json!(""))),
            ("aud", None),
            ("aud", Some(json!(["c-shop", "c-other"]))),
            ("aud", Some(json!("https://id.example/userinfo"))),
            ("aud", Some(json!(7))),
            ("azp", Some(json!("c-other"))),
            ("iat", None),
            ("exp", None),
            ("exp", Some(json!("soon"))),
        ];
        for (name, value) in changes {
            let mut token = id_token();
            match value {
                Some(v) => token[name] = v,
                None => {
                    token.as_object_mut().unwrap().remove(name);
                }
            }
            assert!(
                IdTokenHint::from_claims(&claims(token.clone()), UnixTime(200)).is_none(),
                "{token}"
            );
        }
    }

    #[test]
    fn only_an_absent_or_jwt_typ_is_an_id_token() {
        for ok in ["JWT", "jwt", "application/jwt"] {
            assert!(is_plain_jwt(ok), "{ok}");
        }
        for refused in ["at+jwt", "application/at+jwt", "JOSE", "logout+jwt", ""] {
            assert!(!is_plain_jwt(refused), "{refused}");
        }
    }
}
