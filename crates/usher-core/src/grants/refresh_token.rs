//! `grant_type=refresh_token` (RFC 6749 §6, OIDC Core §12): rotates a refresh token
//! through the family store. The tokens themselves are [`crate::refresh_tokens`].
//!
//! Each refresh grants the family's scopes as far as the client's registration still
//! allows them (a scope removed from the client is left out; a lost `offline_access`
//! refuses the refresh), and refuses `resource` (RFC 8707), which only
//! `client_credentials` supports today. Every use rotates the token, atomically in the
//! family store (docs/design/refresh-families.md).

use usher_domain::authorize::RawParams;
use usher_domain::scope::OFFLINE_ACCESS;
use usher_domain::{Client, GrantType, ProtocolError, RotateOutcome, Rotation, ScopeSet};

use crate::Core;
use crate::failure::Failure;
use crate::grants::person_tokens::{self, Grant, signing_failed};
use crate::grants::{TokenError, TokenResponse, single};
use crate::refresh_tokens::{mint, open, recognise, seal};

/// Rotates the presented refresh token; `client` is already authenticated.
pub async fn refresh(
    core: &Core,
    client: Client,
    form: &RawParams,
) -> Result<TokenResponse, TokenError> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(TokenError::refused(
            ProtocolError::UnauthorizedClient,
            "this client is not registered for the refresh_token grant",
        ));
    }
    super::refuse_resource(form)?;
    let Some(raw) = single(form, "refresh_token") else {
        return Err(TokenError::refused(
            ProtocolError::InvalidRequest,
            "refresh_token is missing",
        ));
    };
    let requested = match single(form, "scope").map(ScopeSet::parse) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            return Err(TokenError::refused(
                ProtocolError::InvalidScope,
                e.to_string(),
            ));
        }
    };
    let Some(presented) = recognise(&core.secrets, raw) else {
        return Err(TokenError::invalid_grant("the refresh token is invalid"));
    };
    let families = &core.stores.families;
    // Client and scope never change: check them before the token is spent, so that a
    // wrong request leaves the client its token.
    let Some(family) = families
        .get(&presented.family)
        .await
        .map_err(Failure::from)?
    else {
        return Err(TokenError::invalid_grant(
            "the refresh token is invalid or has expired",
        ));
    };
    if family.client_id != client.id {
        tracing::warn!(event = "refresh_token_wrong_client", family_id = %family.id, client_id = %client.id, "a refresh token was presented by a client it was not issued to");
        return Err(TokenError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let now = core.now();
    // An online family ends with the browser sign-in it came from (crate::lineage).
    if !crate::lineage::family_signed_in(core, &family, now).await? {
        tracing::info!(family_id = %family.id, client_id = %client.id, "a refresh was refused: the sign-in of this online family has ended");
        return Err(TokenError::invalid_grant(
            "the sign-in this refresh token was issued in has ended",
        ));
    }
    // The client's registration as it is now bounds what a refresh grants: a scope
    // removed from the client stops being granted at the next refresh. A family that
    // exists only because of `offline_access` ends when the client may no longer have
    // it (Keycloak refuses such offline tokens too); the token is not spent, so putting
    // the scope back makes the family usable again.
    let allowed = &client.registration.scopes;
    if family.scopes.contains(OFFLINE_ACCESS) && !allowed.contains(OFFLINE_ACCESS) {
        tracing::info!(family_id = %family.id, client_id = %client.id, "a refresh was refused: the client may no longer have offline_access");
        return Err(TokenError::invalid_grant(
            "offline_access is no longer allowed for this client",
        ));
    }
    let scope = match requested {
        Some(s) if !s.is_subset(&family.scopes) => {
            return Err(TokenError::refused(
                ProtocolError::InvalidScope,
                "scope may narrow the original grant, never widen it",
            ));
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

    let lifetimes = core.settings.refresh;
    let (next_token, _, next_hash) = mint(&core.secrets, &family.id)?;
    let sealed_next = if lifetimes.grace > 0 {
        Some(seal(&presented.secret, &family.id, &next_token)?)
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
    let outcome = families.rotate(&rotation).await.map_err(Failure::from)?;
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
                return Err(
                    signing_failed("cannot open a grace child", "the seal does not open").into(),
                );
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
            return Err(TokenError::invalid_grant(
                "the refresh token was already used; the grant is revoked",
            ));
        }
        RotateOutcome::Revoked(_) => {
            return Err(TokenError::invalid_grant(
                "the refresh token has been revoked",
            ));
        }
        RotateOutcome::Expired(_) => {
            return Err(TokenError::invalid_grant("the refresh token has expired"));
        }
        RotateOutcome::Unknown => {
            return Err(TokenError::invalid_grant(
                "the refresh token is invalid or has expired",
            ));
        }
    };

    let Some(user) = core.user(&family.user_id).await? else {
        return Err(TokenError::invalid_grant("the person no longer exists"));
    };
    // A new access token, the refresh token, and (for `openid`) a new ID token with the
    // family's `sub` and `auth_time`.
    let grant = Grant {
        client: &client,
        user: &user,
        scope: &scope,
        auth_time: family.auth_time,
        nonce: None,
        now,
    };
    let minted = person_tokens::access_token(core, &grant)?;
    tracing::info!(client_id = %client.id, family_id = %family.id, "refresh token rotated");
    Ok(person_tokens::respond(
        core,
        &grant,
        minted,
        Some(refresh_token),
        GrantType::RefreshToken,
    )?)
}
