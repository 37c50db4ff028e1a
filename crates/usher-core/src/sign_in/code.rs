//! Issuing the authorization code at the end of a sign-in: the code row keeps the
//! request's typed values (client, redirect URI, scopes, PKCE challenge) and the
//! session's person, lineage and `auth_time`; the browser is redirected with the code.

use usher_domain::authorize::AuthorizationRequest;
use usher_domain::{AuthorizationCode, Session};

use super::{CodeRedirect, SignInOutcome};
use crate::{Core, Failure, blocking, secret_pair};

/// Issues an authorization code for the session; the outcome redirects to the client
/// with it (or shows the failure page).
pub async fn issue_code(
    core: &Core,
    request: &AuthorizationRequest,
    session: &Session,
) -> SignInOutcome {
    match store_code(core, request, session).await {
        Ok(code) => {
            tracing::info!(client_id = %request.client_id, "authorization code issued");
            // The browser binding stays: another sign-in may be running in another tab.
            SignInOutcome::IssueCode(CodeRedirect {
                redirect_uri: request.redirect_uri.clone(),
                code,
                state: request.state.clone(),
            })
        }
        Err(f) => SignInOutcome::failure(f),
    }
}

async fn store_code(
    core: &Core,
    request: &AuthorizationRequest,
    session: &Session,
) -> Result<String, Failure> {
    let (code, code_hash) = secret_pair()?;
    let now = core.now();
    let row = AuthorizationCode {
        code_hash,
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_sent: request.redirect_uri_sent,
        user_id: session.user_id.clone(),
        lineage_hash: session.lineage_hash.clone(),
        scopes: request.scope.clone(),
        resources: request.resources.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        created_at: now,
        expires_at: now.plus(core.settings.code_ttl),
    };
    let codes = core.stores.codes.clone();
    blocking(move || codes.insert_code(&row)).await?;
    Ok(code)
}
