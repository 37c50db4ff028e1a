//! Invitations to sign up: the `invitations` table behind [`InvitationStore`].
//!
//! Redeeming is ONE transaction: `DELETE FROM invitations WHERE token_hash = $1 RETURNING
//! …` takes the row (the request whose delete removes it is the one winner, on both
//! backends: PostgreSQL makes racing deletes wait for the row's lock, SQLite has one
//! writer), then the person is inserted. A taken username rolls the delete back, so the
//! invitation stays live for another try. Token hashes never appear in error messages.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Nullable, Text};
use usher_domain::{
    Email, Invitation, InvitationStore, PersonName, Redemption, StoreError, UnixTime, User,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation, violation_mentions};
use crate::schema::{invitations, users};
use crate::users::UserRow;

/// $1 token hash (SQLite gets `?1`).
const TAKE_SQL: &str = "DELETE FROM invitations WHERE token_hash = $1 \
     RETURNING token_hash, email, name, created_at, expires_at";

/// $1 the address as given: both sides go through the database's `lower()`, so they are
/// folded alike (SQLite folds ASCII only, PostgreSQL by its locale), as
/// `find_users_by_email` does. Folding one side in Rust would miss `É` on PostgreSQL.
const REVOKE_SQL: &str = "DELETE FROM invitations WHERE lower(email) = lower($1)";

/// $1 an address as given (folded by the database, as [`REVOKE_SQL`]): how many people
/// have it, verified.
const VERIFIED_OWNERS_SQL: &str =
    "SELECT COUNT(*) AS n FROM users WHERE lower(email) = lower($1) AND email_verified";

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Queryable, QueryableByName)]
struct InvitationRow {
    #[diesel(sql_type = Text)]
    token_hash: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

impl InvitationRow {
    fn into_domain(self) -> Result<Invitation, StoreError> {
        Ok(Invitation {
            email: Email::from_stored(&self.email)
                .map_err(|_| corrupt("an invitation's address is not valid"))?,
            name: self
                .name
                .as_deref()
                .map(PersonName::from_stored)
                .transpose()
                .map_err(|_| corrupt("an invitation's name is not valid"))?,
            created_at: UnixTime(self.created_at),
            expires_at: UnixTime(self.expires_at),
            token_hash: self.token_hash,
        })
    }
}

/// Why the redeeming transaction ended early (it rolls back on every `Err`).
enum Abort {
    UsernameTaken,
    Db(DieselError),
    Store(StoreError),
}

impl From<DieselError> for Abort {
    fn from(e: DieselError) -> Abort {
        Abort::Db(e)
    }
}

/// Inserts `invitation` on `conn` (the store's method, and the same change in an audited
/// transaction).
pub(crate) fn insert_invitation_on(
    conn: &mut AnyConnection,
    invitation: &Invitation,
) -> Result<(), StoreError> {
    diesel::insert_into(invitations::table)
        .values((
            invitations::token_hash.eq(&invitation.token_hash),
            invitations::email.eq(invitation.email.as_str()),
            invitations::name.eq(invitation.name.as_ref().map(|n| n.as_str())),
            invitations::created_at.eq(invitation.created_at.seconds()),
            invitations::expires_at.eq(invitation.expires_at.seconds()),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::Conflict("an invitation token was drawn twice".into()),
            None => unavailable(e),
        })
}

/// Deletes every invitation to `email` (in any case) on `conn`; how many there were.
pub(crate) fn revoke_invitations_on(
    conn: &mut AnyConnection,
    email: &Email,
) -> Result<usize, StoreError> {
    let wanted = email.as_str().to_owned();
    match conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(REVOKE_SQL.replace('$', "?"))
            .bind::<Text, _>(&wanted)
            .execute(c),
        AnyConnection::Postgresql(c) => diesel::sql_query(REVOKE_SQL)
            .bind::<Text, _>(&wanted)
            .execute(c),
    }
    .map_err(unavailable)
}

impl InvitationStore for Database {
    fn insert_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        insert_invitation_on(&mut conn, invitation)
    }

    fn find_invitation(&self, token_hash: &str) -> Result<Option<Invitation>, StoreError> {
        let mut conn = self.conn()?;
        let row: Option<InvitationRow> = invitations::table
            .filter(invitations::token_hash.eq(token_hash))
            .select((
                invitations::token_hash,
                invitations::email,
                invitations::name,
                invitations::created_at,
                invitations::expires_at,
            ))
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?;
        row.map(InvitationRow::into_domain).transpose()
    }

    fn list_invitations(&self, now: UnixTime) -> Result<Vec<Invitation>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<InvitationRow> = invitations::table
            .filter(invitations::expires_at.gt(now.seconds()))
            .order((invitations::created_at.asc(), invitations::email.asc()))
            .select((
                invitations::token_hash,
                invitations::email,
                invitations::name,
                invitations::created_at,
                invitations::expires_at,
            ))
            .load(&mut *conn)
            .map_err(unavailable)?;
        rows.into_iter().map(InvitationRow::into_domain).collect()
    }

    fn revoke_invitations(&self, email: &Email) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        revoke_invitations_on(&mut conn, email)
    }

    fn redeem(
        &self,
        token_hash: &str,
        person: &User,
        now: UnixTime,
    ) -> Result<Redemption, StoreError> {
        let mut conn = self.conn()?;
        let result = conn.transaction::<_, Abort, _>(|c| {
            let taken: Vec<InvitationRow> = match &mut **c {
                AnyConnection::Sqlite(c) => diesel::sql_query(TAKE_SQL.replace('$', "?"))
                    .bind::<Text, _>(token_hash)
                    .load(c)?,
                AnyConnection::Postgresql(c) => diesel::sql_query(TAKE_SQL)
                    .bind::<Text, _>(token_hash)
                    .load(c)?,
            };
            let Some(row) = taken.into_iter().next() else {
                return Ok(None);
            };
            if row.expires_at <= now.seconds() {
                // Spent all the same: an expired link is never good again.
                return Ok(Some((row, None)));
            }
            let Ok(address) = Email::from_stored(&row.email) else {
                return Err(Abort::Store(corrupt(
                    "an invitation's address is not valid",
                )));
            };
            // An account got the address, verified, since the invitation was made (the
            // CLI refuses to invite such an address): spent, and nobody created, so
            // that no two people hold one verified address.
            let lower = address.as_str().to_owned();
            let owners: Vec<Counted> = match &mut **c {
                AnyConnection::Sqlite(c) => {
                    diesel::sql_query(VERIFIED_OWNERS_SQL.replace('$', "?"))
                        .bind::<Text, _>(&lower)
                        .load(c)?
                }
                AnyConnection::Postgresql(c) => diesel::sql_query(VERIFIED_OWNERS_SQL)
                    .bind::<Text, _>(&lower)
                    .load(c)?,
            };
            if owners.first().is_some_and(|o| o.n > 0) {
                return Ok(Some((row, None)));
            }
            let email = Some(address);
            let name = match (&person.name, &row.name) {
                (Some(n), _) => Some(n.clone()),
                (None, Some(n)) => PersonName::from_stored(n).ok(),
                (None, None) => None,
            };
            let created = User {
                email,
                email_verified: true,
                name,
                ..person.clone()
            };
            match diesel::insert_into(users::table)
                .values(&UserRow::from_domain(&created).map_err(Abort::Store)?)
                .execute(c)
            {
                Ok(_) => Ok(Some((row, Some(created)))),
                Err(e) => match unique_violation(&e) {
                    Some(info) if violation_mentions(info, "username") => Err(Abort::UsernameTaken),
                    _ => Err(Abort::Db(e)),
                },
            }
        });
        match result {
            Ok(None) | Ok(Some((_, None))) => Ok(Redemption::Invalid),
            Ok(Some((row, Some(created)))) => {
                row.into_domain()?;
                Ok(Redemption::Created(created))
            }
            Err(Abort::UsernameTaken) => Ok(Redemption::UsernameTaken),
            Err(Abort::Db(e)) => Err(unavailable(e)),
            Err(Abort::Store(e)) => Err(e),
        }
    }
}
