//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).
//!
//! The code is consumed atomically; a second redemption is refused and revokes the
//! access tokens the first one issued. PKCE is checked with `oxide-auth`'s S256
//! primitive after Usher's own syntax check of the verifier.

use std::borrow::Cow;

use actix_web::HttpResponse;
use oxide_auth::code_grant::extensions::Pkce;
use usher_domain::authorize::RawParams;
use usher_domain::{
    Client, CodeRedemption, CodeVerifier, GrantType, ProtocolError, RevokeReason, UnixTime,
};

use crate::grants::person_tokens::{self, Grant};
use crate::grants::refresh_token;
use crate::lineage;
use crate::params;
use crate::respond::{blocking, token_error, token_failure};
use crate::state::AppState;

fn grant_error(description: &str) -> HttpResponse {
    token_error(ProtocolError::InvalidGrant, description, false)
}

/// Whether `verifier` matches the S256 `challenge`.
pub fn pkce_matches(challenge: &str, verifier: &CodeVerifier) -> bool {
    let pkce = Pkce::required();
    match pkce.challenge(Some(Cow::Borrowed("S256")), Some(Cow::Borrowed(challenge))) {
        Ok(method) => pkce
            .verify(method, Some(Cow::Borrowed(verifier.expose())))
            .is_ok(),
        Err(()) => false,
    }
}

pub async fn exchange(state: &AppState, client: Client, form: &RawParams) -> HttpResponse {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return token_error(
            ProtocolError::UnauthorizedClient,
            "this client is not registered for the authorization_code grant",
            false,
        );
    }
    let Some(code) = params::single(form, "code") else {
        return token_error(ProtocolError::InvalidRequest, "code is missing", false);
    };
    let code_hash = usher_keys::sha256_b64url(code);
    let now = state.now();
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
        CodeRedemption::Unknown => return grant_error("the code is invalid"),
        CodeRedemption::Replayed { code, issued_jtis } => {
            tracing::warn!(event = "code_replayed", client_id = %code.client_id, "an authorization code was redeemed twice; revoking what it issued");
            return refuse_replay(state, &code_hash, issued_jtis, now).await;
        }
    };
    if code.expires_at <= now {
        return grant_error("the code has expired");
    }
    if code.client_id != client.id {
        return grant_error("the code was issued to another client");
    }
    let presented_redirect = params::single(form, "redirect_uri");
    let redirect_ok = match (code.redirect_uri_sent, presented_redirect) {
        (true, Some(r)) => r == code.redirect_uri,
        (true, None) => false,
        (false, Some(r)) => r == code.redirect_uri,
        (false, None) => true,
    };
    if !redirect_ok {
        return grant_error("redirect_uri must be the one sent in the authorization request");
    }
    let verifier = params::single(form, "code_verifier");
    match (&code.code_challenge, verifier) {
        (Some(_), None) => {
            crate::metrics::inc(crate::metrics::Counter::PkceRejections, "");
            return grant_error("code_verifier is missing (PKCE)");
        }
        (None, Some(_)) => {
            return grant_error(
                "code_verifier was sent but the authorization request had no code_challenge",
            );
        }
        (Some(challenge), Some(v)) => {
            let Some(v) = CodeVerifier::parse(v) else {
                crate::metrics::inc(crate::metrics::Counter::PkceRejections, "");
                return grant_error("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]");
            };
            if !pkce_matches(challenge, &v) {
                crate::metrics::inc(crate::metrics::Counter::PkceRejections, "");
                tracing::info!(event = "pkce_rejected", client_id = %client.id, "PKCE verification failed");
                return grant_error("code_verifier does not match the code_challenge");
            }
        }
        (None, None) => {}
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
        Err(response) => return response,
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

/// A replayed code: revokes the access tokens it issued (`jtis`, with their expiry) and
/// its refresh family (RFC 6749 §4.1.2), then answers `invalid_grant`.
async fn refuse_replay(
    state: &AppState,
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
    if let Some(family) = refresh_token::family_of_code(code_hash)
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
    }
}
