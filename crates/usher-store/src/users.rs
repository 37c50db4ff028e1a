//! People who sign in: the `users` table behind [`UserStore`].
//!
//! Usernames are stored in the lower case that [`Username`] gives them, under a unique
//! constraint; a clash is reported as [`StoreError::Conflict`]. The profile claims
//! (`preferred_username`, `phone_number`, `address`) are read back through their domain
//! types; `address` is the claim's JSON object as text.

use diesel::prelude::*;
use usher_domain::{
    Address, Email, PersonName, PhoneNumber, PreferredUsername, ProfileClaims, StoreError,
    UnixTime, User, UserId, UserStore, Username,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation, violation_mentions};
use crate::schema::users;

#[derive(Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    name: Option<String>,
    email: Option<String>,
    email_verified: bool,
    created_at: i64,
    preferred_username: Option<String>,
    phone_number: Option<String>,
    phone_number_verified: bool,
    address: Option<String>,
    disabled_at: Option<i64>,
}

/// The `address` column of an address.
fn address_json(address: Option<&Address>) -> Result<Option<String>, StoreError> {
    address
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Unavailable(format!("an address did not serialise: {e}")))
}

impl UserRow {
    pub(crate) fn from_domain(user: &User) -> Result<UserRow, StoreError> {
        Ok(UserRow {
            id: user.id.as_str().to_owned(),
            username: user.username.as_str().to_owned(),
            password_hash: user.password_hash.clone(),
            name: user.name.as_ref().map(|n| n.as_str().to_owned()),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            email_verified: user.email_verified,
            created_at: user.created_at.seconds(),
            preferred_username: user
                .profile
                .preferred_username
                .as_ref()
                .map(|p| p.as_str().to_owned()),
            phone_number: user
                .profile
                .phone_number
                .as_ref()
                .map(|p| p.as_str().to_owned()),
            phone_number_verified: user.profile.phone_number_verified,
            address: address_json(user.profile.address.as_ref())?,
            disabled_at: user.disabled_at.map(UnixTime::seconds),
        })
    }

    pub(crate) fn into_domain(self) -> Result<User, StoreError> {
        let id = UserId::parse(&self.id)
            .ok_or_else(|| corrupt(format!("user id {:?} is not valid", self.id)))?;
        let bad = |e: &dyn std::fmt::Display| corrupt(format!("user {id}: {e}"));
        Ok(User {
            username: Username::from_stored(&self.username).map_err(|e| bad(&e))?,
            password_hash: self.password_hash,
            name: self
                .name
                .as_deref()
                .map(PersonName::from_stored)
                .transpose()
                .map_err(|e| bad(&e))?,
            email: self
                .email
                .as_deref()
                .map(Email::from_stored)
                .transpose()
                .map_err(|e| bad(&e))?,
            email_verified: self.email_verified,
            profile: ProfileClaims {
                preferred_username: self
                    .preferred_username
                    .as_deref()
                    .map(PreferredUsername::from_stored)
                    .transpose()
                    .map_err(|e| bad(&e))?,
                phone_number: self
                    .phone_number
                    .as_deref()
                    .map(PhoneNumber::parse)
                    .transpose()
                    .map_err(|e| bad(&e))?,
                phone_number_verified: self.phone_number_verified,
                address: self
                    .address
                    .as_deref()
                    .map(serde_json::from_str::<Address>)
                    .transpose()
                    .map_err(|e| bad(&e))?,
            },
            created_at: UnixTime(self.created_at),
            id,
            disabled_at: self.disabled_at.map(UnixTime),
        })
    }
}

impl UserStore for Database {
    fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        insert_user_on(&mut conn, user)
    }

    fn get_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let mut conn = self.conn()?;
        users::table
            .filter(users::id.eq(id.as_str()))
            .select(UserRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(UserRow::into_domain)
            .transpose()
    }

    fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let mut conn = self.conn()?;
        users::table
            .filter(users::username.eq(username.as_str()))
            .select(UserRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(UserRow::into_domain)
            .transpose()
    }

    fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let mut conn = self.conn()?;
        users::table
            .order((users::created_at.asc(), users::id.asc()))
            .select(UserRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(UserRow::into_domain)
            .collect()
    }

    fn delete_user(&self, username: &Username) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        delete_user_on(&mut conn, username)
    }

    fn update_profile(
        &self,
        user: &UserId,
        name: Option<&PersonName>,
        claims: &ProfileClaims,
    ) -> Result<bool, StoreError> {
        let address = address_json(claims.address.as_ref())?;
        let mut conn = self.conn()?;
        diesel::update(users::table.filter(users::id.eq(user.as_str())))
            .set((
                users::name.eq(name.map(PersonName::as_str)),
                users::preferred_username.eq(claims
                    .preferred_username
                    .as_ref()
                    .map(PreferredUsername::as_str)),
                users::phone_number.eq(claims.phone_number.as_ref().map(PhoneNumber::as_str)),
                users::phone_number_verified.eq(claims.phone_number_verified),
                users::address.eq(address),
            ))
            .execute(&mut *conn)
            .map(|updated| updated == 1)
            .map_err(unavailable)
    }

    fn set_password_hash(&self, username: &Username, hash: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        set_password_hash_on(&mut conn, username, hash)
    }

    fn update_person_if(&self, expected: &User, new: &User) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        update_person_if_on(&mut conn, expected, new)
    }

    fn set_disabled(&self, user: &UserId, at: Option<UnixTime>) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        set_disabled_on(&mut conn, user, at)
    }
}

/// [`UserStore::update_person_if`] on `conn` (also in an [`crate::audit::Audited`]
/// transaction). One `UPDATE … WHERE` every profile column still holds what `expected`
/// has (a NULL compared as `IS NULL`): the comparison and the write cannot be split.
pub(crate) fn update_person_if_on(
    conn: &mut AnyConnection,
    expected: &User,
    new: &User,
) -> Result<bool, StoreError> {
    let was = UserRow::from_domain(expected)?;
    let row = UserRow::from_domain(new)?;
    let mut query = diesel::update(users::table)
        .filter(users::id.eq(was.id))
        .filter(users::email_verified.eq(was.email_verified))
        .filter(users::phone_number_verified.eq(was.phone_number_verified))
        .into_boxed();
    query = match was.name {
        Some(v) => query.filter(users::name.eq(v)),
        None => query.filter(users::name.is_null()),
    };
    query = match was.email {
        Some(v) => query.filter(users::email.eq(v)),
        None => query.filter(users::email.is_null()),
    };
    query = match was.preferred_username {
        Some(v) => query.filter(users::preferred_username.eq(v)),
        None => query.filter(users::preferred_username.is_null()),
    };
    query = match was.phone_number {
        Some(v) => query.filter(users::phone_number.eq(v)),
        None => query.filter(users::phone_number.is_null()),
    };
    query = match was.address {
        Some(v) => query.filter(users::address.eq(v)),
        None => query.filter(users::address.is_null()),
    };
    query
        .set((
            users::name.eq(row.name),
            users::email.eq(row.email),
            users::email_verified.eq(row.email_verified),
            users::preferred_username.eq(row.preferred_username),
            users::phone_number.eq(row.phone_number),
            users::phone_number_verified.eq(row.phone_number_verified),
            users::address.eq(row.address),
        ))
        .execute(conn)
        .map(|updated| updated == 1)
        .map_err(unavailable)
}

/// [`UserStore::set_disabled`] on `conn`.
pub(crate) fn set_disabled_on(
    conn: &mut AnyConnection,
    user: &UserId,
    at: Option<UnixTime>,
) -> Result<bool, StoreError> {
    let of_user = users::table.filter(users::id.eq(user.as_str()));
    match at {
        Some(at) => diesel::update(of_user.filter(users::disabled_at.is_null()))
            .set(users::disabled_at.eq(Some(at.seconds())))
            .execute(conn),
        None => diesel::update(of_user.filter(users::disabled_at.is_not_null()))
            .set(users::disabled_at.eq(None::<i64>))
            .execute(conn),
    }
    .map(|updated| updated == 1)
    .map_err(unavailable)
}

/// [`UserStore::insert_user`] on `conn` (also in an [`crate::audit::Audited`] transaction).
pub(crate) fn insert_user_on(conn: &mut AnyConnection, user: &User) -> Result<(), StoreError> {
    let row = UserRow::from_domain(user)?;
    diesel::insert_into(users::table)
        .values(&row)
        .execute(conn)
        .map(|_| ())
        .map_err(|e| match unique_violation(&e) {
            Some(info) if violation_mentions(info, "username") => {
                StoreError::Conflict(format!("username {} is taken", user.username))
            }
            Some(_) => StoreError::Conflict(format!("user id {} already exists", user.id)),
            None => unavailable(e),
        })
}

/// [`UserStore::delete_user`] on `conn`.
pub(crate) fn delete_user_on(
    conn: &mut AnyConnection,
    username: &Username,
) -> Result<bool, StoreError> {
    diesel::delete(users::table.filter(users::username.eq(username.as_str())))
        .execute(conn)
        .map(|deleted| deleted == 1)
        .map_err(unavailable)
}

/// [`UserStore::set_password_hash`] on `conn`.
pub(crate) fn set_password_hash_on(
    conn: &mut AnyConnection,
    username: &Username,
    hash: &str,
) -> Result<bool, StoreError> {
    diesel::update(users::table.filter(users::username.eq(username.as_str())))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .map(|updated| updated == 1)
        .map_err(unavailable)
}
