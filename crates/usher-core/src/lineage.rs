//! Browser-session lineages: what ties a browser's sessions, the codes issued in them
//! and the refresh families those codes start, so that logout reaches all of them.
//!
//! A person who signs in to a browser holding no live session of theirs starts a new
//! lineage (a random id, of which only the hash is stored); signing in again there
//! (`prompt=login`, `max_age`) replaces the session but keeps the lineage. A different
//! person signing in to that browser ends the previous person's lineage first, exactly as
//! a logout would (their online families are revoked, their offline ones kept). Ending a
//! lineage (logout) revokes its *online* families — those without `offline_access`
//! (OpenID Connect Core §11) — and deletes its sessions; offline families stay, and only
//! the person's client, `usher families revoke` or `usher user revoke-sessions` end them.
//!
//! A code is good only while its lineage has a live session. The exchange checks before
//! it starts a family and again after: logout revokes, deletes the sessions, then revokes
//! once more, so a family is either seen by the second revocation or its exchange sees
//! the sessions gone and revokes it itself. No family outlives the logout it raced.

use usher_domain::{
    AuthorizationCode, Client, Family, RevokeReason, Session, UnixTime, UserId, survives_logout,
};

use crate::Core;
use crate::failure::{Failure, blocking};
use crate::refresh_tokens;

/// The lineage hash for a new session of `user` in a browser whose current session is
/// `current`: the current session's when it is the same person's; otherwise a new one,
/// after ending the lineage of whoever else was signed in there.
pub async fn for_login(
    state: &Core,
    current: Option<Session>,
    user: &UserId,
) -> Result<String, Failure> {
    match current {
        Some(previous) if previous.user_id == *user => Ok(previous.lineage_hash),
        Some(previous) => {
            let revoked = end(state, &previous).await?;
            tracing::info!(
                families_revoked = revoked,
                "another person signed in to this browser; the previous person's browser session ended"
            );
            fresh()
        }
        None => fresh(),
    }
}

fn fresh() -> Result<String, Failure> {
    // The id itself is needed nowhere: only its hash is ever compared or stored.
    crate::secret_pair().map(|(_, hash)| hash)
}

/// Ends the lineage of `session`: revokes its online families (first: if the family
/// store is down nothing ends, and the caller says to try again), deletes every session
/// of the lineage, then revokes again for families whose code exchange raced the
/// deletion. Returns how many families were revoked.
pub async fn end(state: &Core, session: &Session) -> Result<usize, Failure> {
    Ok(end_lineage(state, session).await?.families)
}

/// What ending a lineage did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineageEnded {
    /// Online families revoked by this call.
    pub families: usize,
    /// Sessions deleted by this call: of concurrent ends of one lineage, only one
    /// deletes any (the store's `DELETE` decides), which an administrator's "end this
    /// session" uses to answer exactly one of them.
    pub sessions: usize,
}

/// [`end`], saying how many sessions this call deleted too.
pub async fn end_lineage(state: &Core, session: &Session) -> Result<LineageEnded, Failure> {
    let families = &state.stores.families;
    let lineage = session.lineage_hash.clone();
    let now = state.now();
    let first = families
        .revoke_online(&lineage, RevokeReason::Logout, now)
        .await?;
    let sessions = state.stores.sessions.clone();
    let hash = lineage.clone();
    let deleted = blocking(move || sessions.delete_lineage_sessions(&hash)).await?;
    let late = families
        .revoke_online(&lineage, RevokeReason::Logout, now)
        .await?;
    // After the sessions are gone: a code exchange records its client before it checks
    // that the sign-in is live, so every client that got tokens here is taken now.
    crate::backchannel::queue_lineage(state, &lineage).await?;
    Ok(LineageEnded {
        families: first + late,
        sessions: deleted,
    })
}

/// Whether a refresh of `family` may go on: an *online* family (no `offline_access`)
/// lives only as long as its browser sign-in — while its lineage has a live session —
/// as Keycloak's online sessions do. Otherwise a family from a sign-in that expired
/// would stay out of reach of every later logout (the next sign-in in that browser
/// starts a new lineage) and keep rotating until its own absolute end. Offline families,
/// and families recorded without a lineage, are not tied to a sign-in.
pub async fn family_signed_in(
    state: &Core,
    family: &Family,
    now: UnixTime,
) -> Result<bool, Failure> {
    match &family.lineage_hash {
        Some(lineage) if !survives_logout(&family.scopes) => signed_in(state, lineage, now).await,
        _ => Ok(true),
    }
}

/// Whether the lineage of a code still has a live session.
async fn signed_in(state: &Core, lineage: &str, now: UnixTime) -> Result<bool, Failure> {
    let sessions = state.stores.sessions.clone();
    let lineage = lineage.to_owned();
    blocking(move || sessions.lineage_signed_in(&lineage, now)).await
}

/// Why a redeemed code starts no family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartRefused {
    /// Its lineage has no live session (logout, `usher user revoke-sessions`, expiry):
    /// the code is refused with `invalid_grant`.
    SignInEnded,
    /// A store failed.
    Failure(Failure),
}

impl From<Failure> for StartRefused {
    fn from(f: Failure) -> StartRefused {
        StartRefused::Failure(f)
    }
}

/// For a redeemed code: refuses it ([`StartRefused::SignInEnded`]) when its lineage has no live
/// session any more (logout, `usher user revoke-sessions`, expiry); otherwise starts its
/// refresh family when the client gets one, and returns the first refresh token. A
/// family started while the lineage was ending is revoked again here, and the code
/// refused.
pub async fn start_family(
    state: &Core,
    client: &Client,
    code: &AuthorizationCode,
    now: UnixTime,
) -> Result<Option<String>, StartRefused> {
    if !signed_in(state, &code.lineage_hash, now).await? {
        return Err(StartRefused::SignInEnded);
    }
    if !refresh_tokens::issues_refresh_token(client, &code.scopes) {
        return Ok(None);
    }
    let token = refresh_tokens::start_family(state, code, now).await?;
    if signed_in(state, &code.lineage_hash, now).await? {
        return Ok(Some(token));
    }
    if let Some(family) = refresh_tokens::family_of_code(&code.code_hash) {
        state
            .stores
            .families
            .revoke(&family, RevokeReason::Logout, now)
            .await
            .map_err(Failure::from)?;
        tracing::info!(family_id = %family, client_id = %client.id, "a code exchange raced the end of its sign-in; its family is revoked");
    }
    Err(StartRefused::SignInEnded)
}
