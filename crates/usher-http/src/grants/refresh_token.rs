//! `grant_type=refresh_token` (RFC 6749 §6, OIDC Core §12): rotates a refresh token
//! through the family store. The tokens themselves are usher_core::refresh_tokens.
//!
//! Each refresh grants the family's scopes as far as the client's registration still
//! allows them (a scope removed from the client is left out; a lost `offline_access`
//! refuses the refresh), and refuses `resource` (RFC 8707), which only
//! `client_credentials` supports today. Every use rotates the token, atomically in the
//! family store (docs/design/refresh-families.md).

use actix_web::HttpResponse;
use usher_core::refresh_tokens::{mint, open, recognise, seal};
use usher_domain::authorize::RawParams;
use usher_domain::scope::OFFLINE_ACCESS;
use usher_domain::{
    Client, Family, GrantType, ProtocolError, RotateOutcome, Rotation, ScopeSet, UnixTime, User,
};

use crate::Core;
use crate::grants::person_tokens::{self, Grant, server_error};
use crate::params;
use crate::respond::{Failure, token_error, token_failure};

fn grant_error(description: &str) -> HttpResponse {
    token_error(ProtocolError::InvalidGrant, description, false)
}

pub async fn refresh(state: &Core, client: Client, form: &RawParams) -> HttpResponse {
    if !client.allows_grant(GrantType::RefreshToken) {
        return token_error(
            ProtocolError::UnauthorizedClient,
            "this client is not registered for the refresh_token grant",
            false,
        );
    }
    if let Some(refused) = super::refuse_resource(form) {
        return refused;
    }
    let Some(raw) = params::single(form, "refresh_token") else {
        return token_error(
            ProtocolError::InvalidRequest,
            "refresh_token is missing",
            false,
        );
    };
    let requested = match params::single(form, "scope").map(ScopeSet::parse) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => return token_error(ProtocolError::InvalidScope, &e.to_string(), false),
    };
    let Some(presented) = recognise(&state.secrets, raw) else {
        return grant_error("the refresh token is invalid");
    };
    let families = &state.stores.families;
    // Client and scope never change: check them before the token is spent, so that a
    // wrong request leaves the client its token.
    let family = match families.get(&presented.family).await {
        Ok(Some(f)) => f,
        Ok(None) => return grant_error("the refresh token is invalid or has expired"),
        Err(e) => return token_failure(Failure::from(e)),
    };
    if family.client_id != client.id {
        tracing::warn!(event = "refresh_token_wrong_client", family_id = %family.id, client_id = %client.id, "a refresh token was presented by a client it was not issued to");
        return grant_error("the refresh token was issued to another client");
    }
    let now = state.now();
    // An online family ends with the browser sign-in it came from (crate::lineage).
    match crate::lineage::family_signed_in(state, &family, now).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(family_id = %family.id, client_id = %client.id, "a refresh was refused: the sign-in of this online family has ended");
            return grant_error("the sign-in this refresh token was issued in has ended");
        }
        Err(f) => return token_failure(f),
    }
    // The client's registration as it is now bounds what a refresh grants: a scope
    // removed from the client stops being granted at the next refresh. A family that
    // exists only because of `offline_access` ends when the client may no longer have
    // it (Keycloak refuses such offline tokens too); the token is not spent, so putting
    // the scope back makes the family usable again.
    let allowed = &client.registration.scopes;
    if family.scopes.contains(OFFLINE_ACCESS) && !allowed.contains(OFFLINE_ACCESS) {
        tracing::info!(family_id = %family.id, client_id = %client.id, "a refresh was refused: the client may no longer have offline_access");
        return grant_error("offline_access is no longer allowed for this client");
    }
    let scope = match requested {
        Some(s) if !s.is_subset(&family.scopes) => {
            return token_error(
                ProtocolError::InvalidScope,
                "scope may narrow the original grant, never widen it",
                false,
            );
        }
        Some(s) if !s.is_empty() => s,
        _ => family.scopes.clone(),
    };
    let scope = if scope.is_subset(allowed) {
        scope
    } else {
        tracing::info!(family_id = %family.id, client_id = %client.id, "scopes no longer registered for the client are left out of this refresh");
        scope.intersection(allowed)
    };

    let lifetimes = state.settings.refresh;
    let (next_token, _, next_hash) = match mint(&state.secrets, &family.id) {
        Ok(v) => v,
        Err(f) => return token_failure(f),
    };
    let sealed_next = if lifetimes.grace > 0 {
        match seal(&presented.secret, &family.id, &next_token) {
            Ok(s) => Some(s),
            Err(f) => return token_failure(f),
        }
    } else {
        None
    };
    let rotation = Rotation {
        family: family.id.clone(),
        presented_hash: presented.hash.clone(),
        next_hash,
        sealed_next,
        now,
        idle_ttl: lifetimes.idle_ttl,
        grace: lifetimes.grace,
    };
    let outcome = match families.rotate(&rotation).await {
        Ok(o) => o,
        Err(e) => return token_failure(Failure::from(e)),
    };
    let (family, refresh_token) = match outcome {
        RotateOutcome::Rotated(f) => (f, next_token),
        RotateOutcome::Grace {
            family,
            sealed_child,
        } => match open(&presented.secret, &family.id, &sealed_child) {
            Some(child) => {
                tracing::info!(family_id = %family.id, client_id = %family.client_id, "a refresh token was presented again within the grace window; the same child is returned");
                (family, child)
            }
            None => {
                return server_error("cannot open a grace child", "the seal does not open");
            }
        },
        RotateOutcome::Reused(f) => {
            tracing::warn!(
                event = "refresh_token_reuse",
                family_id = %f.id,
                client_id = %f.client_id,
                subject = %f.user_id,
                "an earlier refresh token of a family was presented again: the family is revoked"
            );
            return grant_error("the refresh token was already used; the grant is revoked");
        }
        RotateOutcome::Revoked(_) => return grant_error("the refresh token has been revoked"),
        RotateOutcome::Expired(_) => return grant_error("the refresh token has expired"),
        RotateOutcome::Unknown => {
            return grant_error("the refresh token is invalid or has expired");
        }
    };

    let user = match state.user(&family.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return grant_error("the person no longer exists"),
        Err(f) => return token_failure(f),
    };
    respond(state, &client, &family, &user, &scope, refresh_token, now)
}

/// The token response: a new access token, the refresh token, and (for `openid`) a new
/// ID token with the family's `sub` and `auth_time`.
fn respond(
    state: &Core,
    client: &Client,
    family: &Family,
    user: &User,
    scope: &ScopeSet,
    refresh_token: String,
    now: UnixTime,
) -> HttpResponse {
    let grant = Grant {
        client,
        user,
        scope,
        auth_time: family.auth_time,
        nonce: None,
        now,
    };
    match person_tokens::access_token(state, &grant) {
        Ok(minted) => {
            tracing::info!(client_id = %client.id, family_id = %family.id, "refresh token rotated");
            person_tokens::respond(state, &grant, &minted, Some(refresh_token), "refresh_token")
        }
        Err(response) => *response,
    }
}
