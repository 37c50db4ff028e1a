//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).
//!
//! The code is read first and the request checked against it — the code's own client,
//! its redirect URI, its PKCE verifier — and only then consumed atomically. A request
//! that fails those checks is `invalid_grant` and leaves the code as it was, so whoever
//! intercepts a code without the verifier can neither burn it nor, with another
//! client's id, revoke what it issued. A second redemption by the code's own client is
//! refused and revokes the access tokens and the refresh family the first one issued.
//! PKCE (S256) is `BASE64URL(SHA-256(verifier))` compared in constant time with the
//! challenge, after `CodeVerifier`'s own syntax check. `resource` (RFC 8707) is refused: this grant does not support it yet.

use actix_web::HttpResponse;
use usher_domain::authorize::RawParams;
use usher_domain::{
    AuthorizationCode, Client, CodeRedemption, CodeVerifier, GrantType, ProtocolError,
    RevokeReason, UnixTime,
};

use crate::Core;
use crate::grants::person_tokens::{self, Grant};
use crate::lineage::{self, StartRefused};
use crate::params;
use crate::refresh_tokens;
use crate::respond::{blocking, token_error, token_failure};

fn grant_error(description: &str) -> HttpResponse {
    token_error(ProtocolError::InvalidGrant, description, false)
}

/// Whether `verifier` matches the S256 `challenge` (RFC 7636 §4.6):
/// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge`, SHA-256 through
/// OpenSSL and the comparison in constant time.
pub fn pkce_matches(challenge: &str, verifier: &CodeVerifier) -> bool {
    let computed = usher_keys::sha256_b64url(verifier.expose());
    // `memcmp::eq` needs equal lengths; the length of a challenge is not a secret.
    computed.len() == challenge.len()
        && openssl::memcmp::eq(computed.as_bytes(), challenge.as_bytes())
}

pub async fn exchange(state: &Core, client: Client, form: &RawParams) -> HttpResponse {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return token_error(
            ProtocolError::UnauthorizedClient,
            "this client is not registered for the authorization_code grant",
            false,
        );
    }
    if let Some(refused) = super::refuse_resource(form) {
        return refused;
    }
    let Some(code) = params::single(form, "code") else {
        return token_error(ProtocolError::InvalidRequest, "code is missing", false);
    };
    let code_hash = usher_keys::sha256_b64url(code);
    let now = state.now();
    // Who presents the code is checked before it is spent: a request that could never
    // have redeemed it (another client, another redirect URI, no or a wrong PKCE
    // verifier) is a plain `invalid_grant` that consumes nothing and revokes nothing.
    let codes = state.stores.codes.clone();
    let hash = code_hash.clone();
    let found = match blocking(move || codes.find_code(&hash)).await {
        Ok(Some(c)) => c,
        Ok(None) => return grant_error("the code is invalid"),
        Err(f) => return token_failure(f),
    };
    if let Some(refused) = refuse_presenter(&client, &found, form) {
        return refused;
    }
    // A client that may get a refresh token needs the family store: if it cannot be
    // reached, answer 503 before the code is spent, so the client can simply retry.
    // The embedded family store is the database the code is redeemed in, so there the
    // redemption itself is the check (and saves a store call per exchange).
    if client.allows_grant(GrantType::RefreshToken)
        && state.stores.families.kind() != "embedded"
        && let Err(e) = state.stores.families.ping().await
    {
        return token_failure(e.into());
    }
    let codes = state.stores.codes.clone();
    let hash = code_hash.clone();
    let redemption = match blocking(move || codes.redeem_code(&hash, now)).await {
        Ok(r) => r,
        Err(f) => return token_failure(f),
    };
    let code = match redemption {
        CodeRedemption::Redeemed(c) => c,
        // Purged between the two reads: it had expired long ago.
        CodeRedemption::Unknown => return grant_error("the code is invalid"),
        // Only the code's own client, with its redirect URI and verifier, gets here: a
        // replay by anyone else was refused above without touching the code.
        CodeRedemption::Replayed { code, issued_jtis } => {
            tracing::warn!(event = "code_replayed", client_id = %code.client_id, "an authorization code was redeemed twice; revoking what it issued");
            return refuse_replay(state, &code_hash, issued_jtis, now).await;
        }
    };
    if code.expires_at <= now {
        return grant_error("the code has expired");
    }

    let user = match state.user(&code.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return grant_error("the person no longer exists"),
        Err(f) => return token_failure(f),
    };

    // The family is recorded before anything is signed: a token is never issued that
    // the family store does not know. Nothing starts once the sign-in has ended.
    let refresh_token = match lineage::start_family(state, &client, &code, now).await {
        Ok(t) => t,
        Err(StartRefused::SignInEnded) => {
            return grant_error("the sign-in this code was issued in has ended");
        }
        Err(StartRefused::Failure(f)) => return token_failure(f),
    };

    let grant = Grant {
        client: &client,
        user: &user,
        scope: &code.scopes,
        auth_time: code.auth_time,
        nonce: code.nonce.as_deref(),
        now,
    };
    let minted = match person_tokens::access_token(state, &grant) {
        Ok(m) => m,
        Err(response) => return *response,
    };
    let expires_at = grant.expires_at(state);
    let codes = state.stores.codes.clone();
    let (jti, hash) = (minted.jti.clone(), code_hash.clone());
    match blocking(move || codes.record_code_token(&hash, &jti, expires_at)).await {
        Ok(true) => {}
        Ok(false) => {
            // A replay raced this redemption and lost the code's lock to us only after
            // we had redeemed it: what we were about to issue is revoked, not handed out.
            tracing::warn!(event = "code_replayed", client_id = %client.id, "an authorization code was replayed during its redemption; revoking what it issued");
            return refuse_replay(state, &code_hash, vec![(minted.jti, expires_at)], now).await;
        }
        Err(f) => return token_failure(f),
    }

    person_tokens::respond(state, &grant, &minted, refresh_token, "authorization_code")
}

/// Why the request may not redeem `code`, as the response; `None` when it may: the
/// code's own client (already authenticated), the redirect URI of the authorization
/// request (RFC 6749 §4.1.3), and the PKCE verifier of its challenge (RFC 7636 §4.6).
/// Reads nothing and writes nothing.
fn refuse_presenter(
    client: &Client,
    code: &AuthorizationCode,
    form: &RawParams,
) -> Option<HttpResponse> {
    if code.client_id != client.id {
        return Some(grant_error("the code was issued to another client"));
    }
    let presented_redirect = params::single(form, "redirect_uri");
    let redirect_ok = match (code.redirect_uri_sent, presented_redirect) {
        (true, Some(r)) => r == code.redirect_uri.as_str(),
        (true, None) => false,
        (false, Some(r)) => r == code.redirect_uri.as_str(),
        (false, None) => true,
    };
    if !redirect_ok {
        return Some(grant_error(
            "redirect_uri must be the one sent in the authorization request",
        ));
    }
    let verifier = params::single(form, "code_verifier");
    match (&code.code_challenge, verifier) {
        (Some(_), None) => {
            crate::metrics::inc(crate::metrics::Counter::PkceRejections, "");
            Some(grant_error("code_verifier is missing (PKCE)"))
        }
        (None, Some(_)) => Some(grant_error(
            "code_verifier was sent but the authorization request had no code_challenge",
        )),
        (Some(challenge), Some(v)) => {
            let Some(v) = CodeVerifier::parse(v) else {
                crate::metrics::inc(crate::metrics::Counter::PkceRejections, "");
                return Some(grant_error(
                    "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]",
                ));
            };
            if pkce_matches(challenge.as_str(), &v) {
                return None;
            }
            crate::metrics::inc(crate::metrics::Counter::PkceRejections, "");
            tracing::info!(event = "pkce_rejected", client_id = %client.id, "PKCE verification failed");
            Some(grant_error(
                "code_verifier does not match the code_challenge",
            ))
        }
        (None, None) => None,
    }
}

/// A replayed code: revokes the access tokens it issued (`jtis`, with their expiry) and
/// its refresh family (RFC 6749 §4.1.2), then answers `invalid_grant`.
async fn refuse_replay(
    state: &Core,
    code_hash: &str,
    jtis: Vec<(String, UnixTime)>,
    now: UnixTime,
) -> HttpResponse {
    // One at a time, each noted by this node as soon as the store has it (replays are
    // rare; a failure part-way leaves what was revoked revoked here too).
    for (jti, exp) in &jtis {
        if let Err(f) = state.revoke_jti(jti, *exp).await {
            return token_failure(f);
        }
    }
    if let Some(family) = refresh_tokens::family_of_code(code_hash)
        && let Err(e) = state
            .stores
            .families
            .revoke(&family, RevokeReason::Reuse, now)
            .await
    {
        return token_failure(e.into());
    }
    grant_error("the code was already used")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert!(pkce_matches(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            &v
        ));
        let other = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx").unwrap();
        assert!(!pkce_matches(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            &other
        ));
        // A challenge of another length (padded, truncated, empty) never matches.
        for wrong in [
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=",
            "E9Melhoa",
            "",
        ] {
            assert!(!pkce_matches(wrong, &v), "{wrong}");
        }
    }
}
