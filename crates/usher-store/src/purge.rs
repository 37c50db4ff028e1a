//! Housekeeping: [`Database::purge_expired`] removes sign-in records nobody can use any
//! more. Reads already ignore expired rows; this only keeps the tables small, so it may
//! run on any node, at any interval, concurrently with itself.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::BigInt;
use usher_domain::{KNOWN_BROWSER_TTL, StoreError, UnixTime};

use crate::connection::AnyConnection;
use crate::database::{Database, unavailable};
use crate::schema::{
    authorization_codes, client_redirect_uris, clients, code_tokens, device_grants, form_tokens,
    initial_access_tokens, interactions, invitations, known_browsers, login_failures, mail_tokens,
    revoked_tokens, sessions, spent_nonces, webauthn_ceremonies,
};

/// Seconds after which a dynamically registered client never used at all is removed
/// (or `registration_unused_after`, if shorter): a day.
pub const NEVER_USED_AFTER: i64 = 86_400;

/// $1 the cutoff of `created_at`, $2 now. A lineage is live while one of its sessions
/// is (a session without a lineage, written before migration 000006, is its own).
const PURGE_SESSION_CLIENTS_SQL: &str = "DELETE FROM session_clients \
     WHERE created_at <= $1 AND NOT EXISTS (SELECT 1 FROM sessions \
       WHERE (sessions.lineage_hash = session_clients.lineage_hash \
              OR (sessions.lineage_hash IS NULL AND sessions.id_hash = session_clients.lineage_hash)) \
         AND sessions.expires_at > $2)";

/// Deletes the `session_clients` rows of lineages that have no live session any more
/// (they expired without a logout: nothing is left to end, and `end_person` would queue
/// logouts for them) and were recorded before `cutoff`.
fn purge_session_clients(conn: &mut AnyConnection, cutoff: i64, now: i64) -> QueryResult<usize> {
    match conn {
        AnyConnection::Postgresql(c) => diesel::sql_query(PURGE_SESSION_CLIENTS_SQL)
            .bind::<BigInt, _>(cutoff)
            .bind::<BigInt, _>(now)
            .execute(c),
        AnyConnection::Sqlite(c) => diesel::sql_query(PURGE_SESSION_CLIENTS_SQL.replace('$', "?"))
            .bind::<BigInt, _>(cutoff)
            .bind::<BigInt, _>(now)
            .execute(c),
    }
}

/// How long an expired authorization code is kept, so that a replay shortly after its
/// expiry is still recognised as one (and the tokens issued from it revoked).
pub const CODE_REPLAY_GRACE_SECONDS: i64 = 10 * 60;

/// How long failed-login counters are kept after both their window started and their
/// lock ended.
pub const FAILURES_RETENTION_SECONDS: i64 = 24 * 60 * 60;

/// How long an interaction, a spent nonce or an account form token is kept past its own
/// expiry. Each records
/// that a single-use form (a sealed first page, a logout confirmation) was used, and a
/// node checks that form's expiry by its own clock: keeping the record this much longer
/// means a node whose clock runs up to five minutes behind the purging node's still
/// finds it, instead of accepting the form a second time.
pub const SINGLE_USE_MARGIN_SECONDS: i64 = 5 * 60;

impl Database {
    /// Deletes what has expired at `now`: sessions (`expires_at <= now`), interactions and
    /// spent nonces [`SINGLE_USE_MARGIN_SECONDS`] after their expiry, account form tokens
    /// at their expiry (taking one deletes it, so keeping it longer would add nothing),
    /// authorization codes (with their recorded tokens) that expired more than
    /// [`CODE_REPLAY_GRACE_SECONDS`] ago, revoked tokens past their own expiry, and
    /// failed-login counters whose window started, and whose lock (if any) ended, more
    /// than [`FAILURES_RETENTION_SECONDS`] ago, and WebAuthn ceremonies past their expiry
    /// (no margin: finishing one deletes it, so a purged one can only be refused as
    /// expired), the records of which clients got tokens through a session lineage
    /// (`session_clients`) once the lineage has no live session and the record is
    /// [`SINGLE_USE_MARGIN_SECONDS`] old (a code exchange records before it checks the
    /// lineage; a new session replaces the old one in one transaction, so a live
    /// lineage is never seen without a session), and known browsers not seen for
    /// [`KNOWN_BROWSER_TTL`], and device authorizations [`SINGLE_USE_MARGIN_SECONDS`]
    /// after their expiry. Returns how many sessions, interactions, codes,
    /// revocations, nonces, form tokens, counters, ceremonies, lineage records and
    /// browsers were deleted (recorded tokens are not counted).
    pub fn purge_expired(&self, now: UnixTime) -> Result<usize, StoreError> {
        let now = now.seconds();
        let code_cutoff = now.saturating_sub(CODE_REPLAY_GRACE_SECONDS);
        let single_use_cutoff = now.saturating_sub(SINGLE_USE_MARGIN_SECONDS);
        let failures_cutoff = now.saturating_sub(FAILURES_RETENTION_SECONDS);
        let mut conn = self.conn()?;
        let deleted = conn
            .transaction::<_, DieselError, _>(|c| {
                let mut deleted =
                    diesel::delete(sessions::table.filter(sessions::expires_at.le(now)))
                        .execute(c)?;
                deleted += diesel::delete(
                    interactions::table.filter(interactions::expires_at.le(single_use_cutoff)),
                )
                .execute(c)?;
                // The foreign key cascades too; deleting explicitly keeps this correct on
                // a connection where SQLite's foreign keys were somehow left off.
                let old_codes = authorization_codes::table
                    .filter(authorization_codes::expires_at.le(code_cutoff))
                    .select(authorization_codes::code_hash);
                diesel::delete(code_tokens::table.filter(code_tokens::code_hash.eq_any(old_codes)))
                    .execute(c)?;
                deleted += diesel::delete(
                    authorization_codes::table
                        .filter(authorization_codes::expires_at.le(code_cutoff)),
                )
                .execute(c)?;
                deleted += diesel::delete(
                    revoked_tokens::table.filter(revoked_tokens::expires_at.le(now)),
                )
                .execute(c)?;
                deleted += diesel::delete(
                    spent_nonces::table.filter(spent_nonces::expires_at.le(single_use_cutoff)),
                )
                .execute(c)?;
                deleted +=
                    diesel::delete(form_tokens::table.filter(form_tokens::expires_at.le(now)))
                        .execute(c)?;
                deleted +=
                    diesel::delete(mail_tokens::table.filter(mail_tokens::expires_at.le(now)))
                        .execute(c)?;
                deleted +=
                    diesel::delete(invitations::table.filter(invitations::expires_at.le(now)))
                        .execute(c)?;
                // Kept a little past expiry, so a late poll is still told `expired_token`.
                deleted += diesel::delete(
                    device_grants::table.filter(device_grants::expires_at.le(single_use_cutoff)),
                )
                .execute(c)?;
                deleted += diesel::delete(
                    initial_access_tokens::table.filter(initial_access_tokens::expires_at.le(now)),
                )
                .execute(c)?;
                deleted += diesel::delete(
                    login_failures::table
                        .filter(login_failures::window_start.le(failures_cutoff))
                        .filter(
                            login_failures::locked_until
                                .is_null()
                                .or(login_failures::locked_until.le(failures_cutoff)),
                        ),
                )
                .execute(c)?;
                deleted += diesel::delete(
                    webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.le(now)),
                )
                .execute(c)?;
                deleted += purge_session_clients(c, single_use_cutoff, now)?;
                deleted +=
                    diesel::delete(known_browsers::table.filter(
                        known_browsers::last_seen.le(now.saturating_sub(KNOWN_BROWSER_TTL)),
                    ))
                    .execute(c)?;
                Ok(deleted)
            })
            .map_err(unavailable)?;
        tracing::debug!(deleted, "expired sign-in records purged");
        Ok(deleted)
    }

    /// Removes the dynamically registered clients not used (no code exchanged, no
    /// refresh) for `unused_after` seconds before `now`, and those never used at all
    /// once registered for [`NEVER_USED_AFTER`] (or `unused_after`, if shorter). Each goes
    /// by one conditional `DELETE` that checks the condition again at delete time, so a
    /// client used between the listing and the removal stays; its redirect URIs,
    /// consents, codes and back-channel records go with it in the same transaction
    /// (foreign keys, as [`usher_domain::ClientStore::delete_client`]). `unused_after` 0 removes
    /// nothing. Returns how many were removed.
    pub fn purge_unused_clients(
        &self,
        now: UnixTime,
        unused_after: i64,
    ) -> Result<usize, StoreError> {
        if unused_after <= 0 {
            return Ok(0);
        }
        let cutoff = now.seconds().saturating_sub(unused_after);
        let never = now
            .seconds()
            .saturating_sub(unused_after.min(NEVER_USED_AFTER));
        let mut conn = self.conn()?;
        let ids: Vec<String> = clients::table
            .filter(clients::dynamically_registered.eq(true))
            .filter(
                clients::last_used_at.le(cutoff).or(clients::last_used_at
                    .is_null()
                    .and(clients::created_at.le(never))),
            )
            .select(clients::id)
            .load(&mut *conn)
            .map_err(unavailable)?;
        let mut removed = 0;
        for id in ids {
            let gone = conn
                .transaction::<_, DieselError, _>(|c| {
                    let n = diesel::delete(
                        clients::table
                            .filter(clients::id.eq(&id))
                            .filter(clients::dynamically_registered.eq(true))
                            .filter(
                                clients::last_used_at.le(cutoff).or(clients::last_used_at
                                    .is_null()
                                    .and(clients::created_at.le(never))),
                            ),
                    )
                    .execute(c)?;
                    if n == 1 {
                        // The foreign key cascades; explicit as in delete_client.
                        diesel::delete(
                            client_redirect_uris::table
                                .filter(client_redirect_uris::client_id.eq(&id)),
                        )
                        .execute(c)?;
                    }
                    Ok(n == 1)
                })
                .map_err(unavailable)?;
            if gone {
                tracing::info!(event = "client_unused_removed", client_id = %id, "a dynamically registered client unused for too long was removed");
                removed += 1;
            }
        }
        Ok(removed)
    }
}
