//! Mailed single-use links: the `mail_tokens` table behind [`MailTokenStore`], and the
//! two reads of `users` the mail flows need (people by address, marking an address
//! verified).
//!
//! A link is taken with ONE statement, `DELETE FROM mail_tokens WHERE token_hash = $1
//! RETURNING …`: the request whose delete removes the row is the one winner, on both
//! backends, however many race (as `form_tokens`, forms.rs). Token hashes never appear
//! in error messages.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use usher_domain::{
    Email, MailPurpose, MailToken, MailTokenStore, StoreError, UnixTime, User, UserId,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation};
use crate::schema::{mail_tokens, users};
use crate::users::UserRow;

/// $1 token hash (SQLite gets `?1`).
const TAKE_SQL: &str = "DELETE FROM mail_tokens WHERE token_hash = $1 \
     RETURNING token_hash, user_id, purpose, email, expires_at";

/// $1 the address as given (folded by the database on both sides).
const BY_EMAIL_SQL: &str = "SELECT id, username, password_hash, name, email, email_verified, \
     created_at, preferred_username, phone_number, phone_number_verified, address, disabled_at \
     FROM users WHERE lower(email) = lower($1) ORDER BY created_at, id";

#[derive(Queryable, QueryableByName)]
struct TokenRow {
    #[diesel(sql_type = Text)]
    token_hash: String,
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    purpose: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

impl TokenRow {
    fn into_domain(self) -> Result<MailToken, StoreError> {
        Ok(MailToken {
            user_id: UserId::parse(&self.user_id)
                .ok_or_else(|| corrupt("a mail token's user id is not valid"))?,
            purpose: MailPurpose::parse(&self.purpose)
                .ok_or_else(|| corrupt(format!("unknown mail token purpose {:?}", self.purpose)))?,
            email: Email::from_stored(&self.email)
                .map_err(|_| corrupt("a mail token's address is not valid"))?,
            expires_at: UnixTime(self.expires_at),
            token_hash: self.token_hash,
        })
    }
}

impl MailTokenStore for Database {
    fn insert_mail_token(&self, token: &MailToken) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::insert_into(mail_tokens::table)
            .values((
                mail_tokens::token_hash.eq(&token.token_hash),
                mail_tokens::user_id.eq(token.user_id.as_str()),
                mail_tokens::purpose.eq(token.purpose.as_str()),
                mail_tokens::email.eq(token.email.as_str()),
                mail_tokens::expires_at.eq(token.expires_at.seconds()),
            ))
            .execute(&mut *conn)
            .map(|_| ())
            .map_err(|e| match unique_violation(&e) {
                Some(_) => StoreError::Conflict("a mail token was drawn twice".into()),
                None => unavailable(e),
            })
    }

    fn find_mail_token(&self, token_hash: &str) -> Result<Option<MailToken>, StoreError> {
        let mut conn = self.conn()?;
        let row: Option<TokenRow> = mail_tokens::table
            .filter(mail_tokens::token_hash.eq(token_hash))
            .select((
                mail_tokens::token_hash,
                mail_tokens::user_id,
                mail_tokens::purpose,
                mail_tokens::email,
                mail_tokens::expires_at,
            ))
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?;
        row.map(TokenRow::into_domain).transpose()
    }

    fn take_mail_token(&self, token_hash: &str) -> Result<Option<MailToken>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<TokenRow> = match &mut *conn {
            AnyConnection::Sqlite(c) => diesel::sql_query(TAKE_SQL.replace('$', "?"))
                .bind::<Text, _>(token_hash)
                .load(c),
            AnyConnection::Postgresql(c) => diesel::sql_query(TAKE_SQL)
                .bind::<Text, _>(token_hash)
                .load(c),
        }
        .map_err(unavailable)?;
        rows.into_iter()
            .next()
            .map(TokenRow::into_domain)
            .transpose()
    }

    fn delete_mail_tokens(&self, user: &UserId, purpose: MailPurpose) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        diesel::delete(
            mail_tokens::table
                .filter(mail_tokens::user_id.eq(user.as_str()))
                .filter(mail_tokens::purpose.eq(purpose.as_str())),
        )
        .execute(&mut *conn)
        .map_err(unavailable)
    }

    fn find_users_by_email(&self, email: &Email) -> Result<Vec<User>, StoreError> {
        let mut conn = self.conn()?;
        // Both sides through the database's lower(), so they are folded alike: SQLite
        // folds ASCII only (an address with other capitals matches only as written),
        // PostgreSQL by its locale. Folding one side here would miss `É` there.
        let wanted = email.as_str().to_owned();
        let rows: Vec<UserRow> = match &mut *conn {
            AnyConnection::Sqlite(c) => diesel::sql_query(BY_EMAIL_SQL.replace('$', "?"))
                .bind::<Text, _>(&wanted)
                .load(c),
            AnyConnection::Postgresql(c) => diesel::sql_query(BY_EMAIL_SQL)
                .bind::<Text, _>(&wanted)
                .load(c),
        }
        .map_err(unavailable)?;
        rows.into_iter().map(UserRow::into_domain).collect()
    }

    fn mark_email_verified(&self, user: &UserId, email: &Email) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let n = diesel::update(
            users::table
                .filter(users::id.eq(user.as_str()))
                .filter(users::email.eq(email.as_str())),
        )
        .set(users::email_verified.eq(true))
        .execute(&mut *conn)
        .map_err(unavailable)?;
        Ok(n == 1)
    }

    fn change_email(
        &self,
        user: &UserId,
        from: Option<&Email>,
        to: &Email,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let of_user = users::table.filter(users::id.eq(user.as_str()));
        let set = (users::email.eq(to.as_str()), users::email_verified.eq(true));
        let n = match from {
            Some(old) => diesel::update(of_user.filter(users::email.eq(old.as_str())))
                .set(set)
                .execute(&mut *conn),
            None => diesel::update(of_user.filter(users::email.is_null()))
                .set(set)
                .execute(&mut *conn),
        }
        .map_err(unavailable)?;
        Ok(n == 1)
    }
}
