//! Authorization codes and revoked access tokens: the `authorization_codes`,
//! `code_tokens` and `revoked_tokens` tables behind [`CodeStore`] and
//! [`RevocationStore`].
//!
//! A code is single use. [`CodeStore::redeem_code`] lets one statement decide: inside a
//! transaction, `UPDATE authorization_codes SET consumed_at = now WHERE code_hash = ? AND
//! consumed_at IS NULL` changes exactly one row for exactly one caller, however many race
//! (PostgreSQL re-checks the condition after waiting on the row lock; SQLite serialises
//! writers, waiting up to its `busy_timeout`). Only then is the row read back. Codes
//! stay stored for a while after they expire (see [`Database::purge_expired`]), so that a
//! replay shortly after expiry is still recognised and the tokens recorded for the code
//! in `code_tokens` can be revoked.
//!
//! [`CodeStore::find_code`] reads a code without consuming it: the token endpoint checks
//! who presents it (client, redirect URI, PKCE verifier) first, and only a request that
//! passes those checks reaches the compare-and-swap.
//!
//! Code hashes and token ids never appear in error messages.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use usher_domain::{
    AuthMethods, AuthorizationCode, ClientId, CodeChallenge, CodeRedemption, CodeStore,
    RedirectUri, RevocationStore, ScopeSet, StoreError, UnixTime, UserId,
};

use usher_domain::resource::{join_resources, split_resources};

use crate::database::{Database, corrupt, execute_native, unavailable, unique_violation};
use crate::schema::{authorization_codes, code_tokens, revoked_tokens};

/// Every column but `consumed_at`, which only [`CodeStore::redeem_code`] writes.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
struct CodeRow {
    code_hash: String,
    client_id: String,
    redirect_uri: String,
    redirect_uri_sent: bool,
    user_id: String,
    /// The lineage hash ([`AuthorizationCode::lineage_hash`]); the column kept its name
    /// from before lineages (migration `2026-12-02-000006_session_lineage`).
    session_id_hash: String,
    scopes: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    amr: String,
    /// The granted resources, space-separated ([`usher_domain::resource::join_resources`]).
    resources: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = code_tokens)]
struct CodeTokenRow {
    code_hash: String,
    jti: String,
    expires_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = revoked_tokens)]
struct RevokedRow<'a> {
    jti: &'a str,
    expires_at: i64,
}

impl CodeRow {
    fn from_domain(code: &AuthorizationCode) -> CodeRow {
        CodeRow {
            code_hash: code.code_hash.clone(),
            client_id: code.client_id.as_str().to_owned(),
            redirect_uri: code.redirect_uri.as_str().to_owned(),
            redirect_uri_sent: code.redirect_uri_sent,
            user_id: code.user_id.as_str().to_owned(),
            session_id_hash: code.lineage_hash.clone(),
            scopes: code.scopes.to_string(),
            nonce: code.nonce.clone(),
            code_challenge: code.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
            auth_time: code.auth_time.seconds(),
            created_at: code.created_at.seconds(),
            expires_at: code.expires_at.seconds(),
            amr: code.amr.to_stored(),
            resources: join_resources(&code.resources),
        }
    }

    fn into_domain(self) -> Result<AuthorizationCode, StoreError> {
        let client_id = ClientId::parse(&self.client_id).ok_or_else(|| {
            corrupt(format!(
                "an authorization code has an invalid client id {:?}",
                self.client_id
            ))
        })?;
        let user_id = UserId::parse(&self.user_id).ok_or_else(|| {
            corrupt(format!(
                "an authorization code of client {client_id} has an invalid user id {:?}",
                self.user_id
            ))
        })?;
        let scopes = ScopeSet::parse(&self.scopes).map_err(|e| {
            corrupt(format!(
                "an authorization code of client {client_id} has invalid scopes: {e}"
            ))
        })?;
        let redirect_uri = self.redirect_uri.parse::<RedirectUri>().map_err(|_| {
            corrupt(format!(
                "an authorization code of client {client_id} has an invalid redirect URI"
            ))
        })?;
        let code_challenge = match self
            .code_challenge
            .as_deref()
            .map(CodeChallenge::parse_s256)
        {
            None => None,
            Some(Some(c)) => Some(c),
            Some(None) => {
                return Err(corrupt(format!(
                    "an authorization code of client {client_id} has an invalid code challenge"
                )));
            }
        };
        let amr = AuthMethods::parse_stored(&self.amr).ok_or_else(|| {
            corrupt(format!(
                "an authorization code of client {client_id} has an invalid amr"
            ))
        })?;
        let resources = split_resources(&self.resources).ok_or_else(|| {
            corrupt(format!(
                "an authorization code of client {client_id} has an invalid resource"
            ))
        })?;
        Ok(AuthorizationCode {
            amr,
            resources,
            code_hash: self.code_hash,
            client_id,
            redirect_uri,
            redirect_uri_sent: self.redirect_uri_sent,
            user_id,
            lineage_hash: self.session_id_hash,
            scopes,
            nonce: self.nonce,
            code_challenge,
            auth_time: UnixTime(self.auth_time),
            created_at: UnixTime(self.created_at),
            expires_at: UnixTime(self.expires_at),
        })
    }
}

/// What the redemption transaction found, still as rows.
enum Found {
    Redeemed(CodeRow),
    Replayed(CodeRow, Vec<CodeTokenRow>),
    Unknown,
}

impl CodeStore for Database {
    fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let row = CodeRow::from_domain(code);
        let mut conn = self.conn()?;
        diesel::insert_into(authorization_codes::table)
            .values(&row)
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(|e| match unique_violation(&e) {
                Some(_) => StoreError::Conflict("this authorization code already exists".into()),
                None => unavailable(e),
            })
    }

    fn find_code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>, StoreError> {
        let mut conn = self.conn()?;
        authorization_codes::table
            .filter(authorization_codes::code_hash.eq(code_hash))
            .select(CodeRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(CodeRow::into_domain)
            .transpose()
    }

    fn redeem_code(&self, code_hash: &str, now: UnixTime) -> Result<CodeRedemption, StoreError> {
        let mut conn = self.conn()?;
        let found = conn
            .transaction::<_, DieselError, _>(|c| {
                // The arbiter: of any number of concurrent redeemers, one changes the row.
                let consumed = diesel::update(
                    authorization_codes::table
                        .filter(authorization_codes::code_hash.eq(code_hash))
                        .filter(authorization_codes::consumed_at.is_null()),
                )
                .set(authorization_codes::consumed_at.eq(Some(now.seconds())))
                .execute(c)?;
                let Some(row) = authorization_codes::table
                    .filter(authorization_codes::code_hash.eq(code_hash))
                    .select(CodeRow::as_select())
                    .first(c)
                    .optional()?
                else {
                    return Ok(Found::Unknown);
                };
                if consumed == 1 {
                    return Ok(Found::Redeemed(row));
                }
                // Mark the replay before reading what was issued. This write takes the
                // row's lock, so a first redeemer still recording its tokens either
                // committed them already (they are read below) or will see this mark
                // and refuse them itself (`record_code_token`).
                diesel::update(
                    authorization_codes::table.filter(authorization_codes::code_hash.eq(code_hash)),
                )
                .set(authorization_codes::replayed_at.eq(Some(now.seconds())))
                .execute(c)?;
                let tokens = code_tokens::table
                    .filter(code_tokens::code_hash.eq(code_hash))
                    .order(code_tokens::jti.asc())
                    .select(CodeTokenRow::as_select())
                    .load(c)?;
                Ok(Found::Replayed(row, tokens))
            })
            .map_err(unavailable)?;
        Ok(match found {
            Found::Redeemed(row) => CodeRedemption::Redeemed(row.into_domain()?),
            Found::Replayed(row, tokens) => CodeRedemption::Replayed {
                code: row.into_domain()?,
                issued_jtis: tokens
                    .into_iter()
                    .map(|t| (t.jti, UnixTime(t.expires_at)))
                    .collect(),
            },
            Found::Unknown => CodeRedemption::Unknown,
        })
    }

    fn record_code_token(
        &self,
        code_hash: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let row = CodeTokenRow {
            code_hash: code_hash.to_owned(),
            jti: jti.to_owned(),
            expires_at: expires_at.seconds(),
        };
        let mut conn = self.conn()?;
        conn.transaction::<_, DieselError, _>(|c| {
            // Take the code row's lock first (a no-op write): a concurrent replay's
            // transaction is then either wholly before this one (its mark is seen below)
            // or wholly after it (it sees the token recorded here and revokes it).
            diesel::update(
                authorization_codes::table.filter(authorization_codes::code_hash.eq(code_hash)),
            )
            .set(authorization_codes::replayed_at.eq(authorization_codes::replayed_at))
            .execute(c)?;
            // Recording the same token twice (a retried call) is not an error.
            let insert = diesel::insert_into(code_tokens::table)
                .values(&row)
                .on_conflict((code_tokens::code_hash, code_tokens::jti))
                .do_nothing();
            execute_native(c, insert)?;
            let replayed = authorization_codes::table
                .filter(authorization_codes::code_hash.eq(code_hash))
                .select(authorization_codes::replayed_at)
                .first::<Option<i64>>(c)
                .optional()?
                .flatten();
            Ok(replayed.is_none())
        })
        .map_err(unavailable)
    }
}

impl RevocationStore for Database {
    fn revoke_jti(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError> {
        let row = RevokedRow {
            jti,
            expires_at: expires_at.seconds(),
        };
        // Idempotent: a token revoked twice stays revoked, under its first expiry.
        let insert = diesel::insert_into(revoked_tokens::table)
            .values(&row)
            .on_conflict(revoked_tokens::jti)
            .do_nothing();
        let mut conn = self.conn()?;
        execute_native(&mut conn, insert)
            .map(|_| ())
            .map_err(unavailable)
    }

    fn is_jti_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        revoked_tokens::table
            .filter(revoked_tokens::jti.eq(jti))
            .select(revoked_tokens::jti)
            .first::<String>(&mut *conn)
            .optional()
            .map(|found| found.is_some())
            .map_err(unavailable)
    }

    fn revoked_jtis(&self, now: UnixTime, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        revoked_tokens::table
            .filter(revoked_tokens::expires_at.gt(now.seconds()))
            .select(revoked_tokens::jti)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load::<String>(&mut *conn)
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> CodeRow {
        CodeRow {
            code_hash: "h".into(),
            client_id: "c-shop".into(),
            redirect_uri: "http://127.0.0.1:7777/cb".into(),
            redirect_uri_sent: true,
            user_id: "u-1".into(),
            session_id_hash: "lineage".into(),
            scopes: "openid".into(),
            nonce: None,
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            auth_time: 1,
            created_at: 1,
            expires_at: 2,
            amr: "pwd".into(),
            resources: String::new(),
        }
    }

    #[test]
    fn a_code_row_reads_back_with_its_redirect_uri_and_challenge_typed() {
        let code = row().into_domain().unwrap();
        assert_eq!(code.redirect_uri.as_str(), "http://127.0.0.1:7777/cb");
        assert_eq!(
            code.code_challenge.as_ref().map(|c| c.as_str()),
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        );
        assert_eq!(CodeRow::from_domain(&code).redirect_uri, row().redirect_uri);
    }

    #[test]
    fn a_code_row_whose_redirect_uri_or_challenge_does_not_parse_is_corrupt() {
        let bad_uri = CodeRow {
            redirect_uri: "http://evil.example/cb".into(),
            ..row()
        };
        assert!(matches!(bad_uri.into_domain(), Err(StoreError::Corrupt(_))));
        let bad_challenge = CodeRow {
            code_challenge: Some("plain".into()),
            ..row()
        };
        assert!(matches!(
            bad_challenge.into_domain(),
            Err(StoreError::Corrupt(_))
        ));
    }
}
