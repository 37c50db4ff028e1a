//! Groups of people and their members: the `groups` and `group_members` tables behind
//! [`GroupStore`] (migration 000029, docs/design/groups.md). A membership is one row
//! keyed by group and person, so adding a member twice — even on two nodes at the same
//! moment — leaves one row, and the second add is told it changed nothing. Memberships
//! go with their group or their person (the foreign keys cascade).

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use usher_domain::{
    Group, GroupDescription, GroupName, GroupStore, GroupSummary, Membership, StoreError, UnixTime,
    UserId, Username,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation};
use crate::schema::{group_members, groups, users};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = groups)]
struct GroupRow {
    name: String,
    description: Option<String>,
    created_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = group_members)]
struct MemberRow<'a> {
    group_name: &'a str,
    user_id: &'a str,
    created_at: i64,
}

impl GroupRow {
    fn into_domain(self) -> Result<Group, StoreError> {
        let name = GroupName::parse(&self.name)
            .map_err(|_| corrupt(format!("group name {:?} is not valid", self.name)))?;
        let description = match self.description.as_deref() {
            Some(d) => Some(
                GroupDescription::parse(d)
                    .map_err(|_| corrupt(format!("group {name} has an invalid description")))?,
            ),
            None => None,
        };
        Ok(Group {
            name,
            description,
            created_at: UnixTime(self.created_at),
        })
    }
}

/// Sorted by bytes: PostgreSQL's `ORDER BY` follows the database's collation, and the
/// `groups` claim's order must not depend on it.
fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn group_name(raw: String) -> Result<GroupName, StoreError> {
    GroupName::parse(&raw).map_err(|_| corrupt(format!("group name {raw:?} is not valid")))
}

impl Database {
    /// The id of the person with this username, and whether the group exists.
    fn member_parts(
        conn: &mut crate::connection::AnyConnection,
        group: &GroupName,
        user: &Username,
    ) -> Result<(Option<String>, bool), StoreError> {
        let user_id = users::table
            .filter(users::username.eq(user.as_str()))
            .select(users::id)
            .first::<String>(conn)
            .optional()
            .map_err(unavailable)?;
        let group_exists = groups::table
            .filter(groups::name.eq(group.as_str()))
            .select(groups::name)
            .first::<String>(conn)
            .optional()
            .map_err(unavailable)?
            .is_some();
        Ok((user_id, group_exists))
    }
}

impl GroupStore for Database {
    fn insert_group(&self, group: &Group) -> Result<bool, StoreError> {
        insert_group_on(&mut *self.conn()?, group)
    }

    fn get_group(&self, name: &GroupName) -> Result<Option<Group>, StoreError> {
        let mut conn = self.conn()?;
        groups::table
            .filter(groups::name.eq(name.as_str()))
            .select(GroupRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(GroupRow::into_domain)
            .transpose()
    }

    fn list_groups(&self) -> Result<Vec<GroupSummary>, StoreError> {
        let mut conn = self.conn()?;
        let rows = groups::table
            .order(groups::name.asc())
            .select(GroupRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?;
        let members = group_members::table
            .select(group_members::group_name)
            .load::<String>(&mut *conn)
            .map_err(unavailable)?;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for name in members {
            *counts.entry(name).or_default() += 1;
        }
        rows.into_iter()
            .map(|row| {
                let members = counts.get(&row.name).copied().unwrap_or(0);
                Ok(GroupSummary {
                    group: row.into_domain()?,
                    members,
                })
            })
            .collect()
    }

    fn set_group_description(
        &self,
        name: &GroupName,
        description: Option<&GroupDescription>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        diesel::update(groups::table.filter(groups::name.eq(name.as_str())))
            .set(groups::description.eq(description.map(GroupDescription::as_str)))
            .execute(&mut *conn)
            .map(|updated| updated == 1)
            .map_err(unavailable)
    }

    fn delete_group(&self, name: &GroupName) -> Result<bool, StoreError> {
        delete_group_on(&mut *self.conn()?, name)
    }

    fn add_member(
        &self,
        group: &GroupName,
        user: &Username,
        now: UnixTime,
    ) -> Result<Membership, StoreError> {
        add_member_on(&mut *self.conn()?, group, user, now)
    }

    fn remove_member(&self, group: &GroupName, user: &Username) -> Result<Membership, StoreError> {
        remove_member_on(&mut *self.conn()?, group, user)
    }

    fn group_members(&self, group: &GroupName) -> Result<Vec<Username>, StoreError> {
        let mut conn = self.conn()?;
        group_members::table
            .inner_join(users::table)
            .filter(group_members::group_name.eq(group.as_str()))
            .select(users::username)
            .order(users::username.asc())
            .load::<String>(&mut *conn)
            .map_err(unavailable)
            .map(sorted)?
            .into_iter()
            .map(|u| {
                Username::from_stored(&u).map_err(|_| {
                    corrupt(format!("a member of group {group} has an invalid username"))
                })
            })
            .collect()
    }

    fn groups_of(&self, user: &UserId) -> Result<Vec<GroupName>, StoreError> {
        let mut conn = self.conn()?;
        group_members::table
            .filter(group_members::user_id.eq(user.as_str()))
            .select(group_members::group_name)
            .order(group_members::group_name.asc())
            .load::<String>(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(group_name)
            .collect::<Result<Vec<_>, _>>()
            .map(sorted)
    }
}

/// [`GroupStore::insert_group`] on `conn` (also in an [`crate::audit::Audited`]
/// transaction: the insert runs in a savepoint, so a name taken leaves the transaction
/// usable on PostgreSQL).
pub(crate) fn insert_group_on(conn: &mut AnyConnection, group: &Group) -> Result<bool, StoreError> {
    let row = GroupRow {
        name: group.name.as_str().to_owned(),
        description: group.description.as_ref().map(|d| d.as_str().to_owned()),
        created_at: group.created_at.seconds(),
    };
    match conn.transaction::<_, DieselError, _>(|c| {
        diesel::insert_into(groups::table).values(&row).execute(c)
    }) {
        Ok(_) => Ok(true),
        Err(e) if unique_violation(&e).is_some() => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

/// [`GroupStore::delete_group`] on `conn`.
pub(crate) fn delete_group_on(
    conn: &mut AnyConnection,
    name: &GroupName,
) -> Result<bool, StoreError> {
    if name.is_built_in() {
        return Ok(false);
    }
    conn.transaction::<_, DieselError, _>(|c| {
        // The foreign key cascades too; deleting explicitly keeps this correct on a
        // connection where SQLite's foreign keys were somehow left off.
        diesel::delete(group_members::table.filter(group_members::group_name.eq(name.as_str())))
            .execute(c)?;
        diesel::delete(groups::table.filter(groups::name.eq(name.as_str()))).execute(c)
    })
    .map(|deleted| deleted == 1)
    .map_err(unavailable)
}

/// [`GroupStore::add_member`] on `conn` (the insert in a savepoint, as for
/// [`insert_group_on`]).
pub(crate) fn add_member_on(
    conn: &mut AnyConnection,
    group: &GroupName,
    user: &Username,
    now: UnixTime,
) -> Result<Membership, StoreError> {
    let (user_id, group_exists) = Database::member_parts(conn, group, user)?;
    let Some(user_id) = user_id else {
        return Ok(Membership::NoPerson);
    };
    if !group_exists {
        return Ok(Membership::NoGroup);
    }
    let inserted = conn.transaction::<_, DieselError, _>(|c| {
        diesel::insert_into(group_members::table)
            .values(MemberRow {
                group_name: group.as_str(),
                user_id: &user_id,
                created_at: now.seconds(),
            })
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(Membership::Changed),
        // A concurrent add of the same member won.
        Err(e) if unique_violation(&e).is_some() => Ok(Membership::Unchanged),
        // The group or the person was deleted in between.
        Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            match Database::member_parts(conn, group, user)? {
                (None, _) => Ok(Membership::NoPerson),
                _ => Ok(Membership::NoGroup),
            }
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// [`GroupStore::remove_member`] on `conn`.
pub(crate) fn remove_member_on(
    conn: &mut AnyConnection,
    group: &GroupName,
    user: &Username,
) -> Result<Membership, StoreError> {
    let (user_id, group_exists) = Database::member_parts(conn, group, user)?;
    let Some(user_id) = user_id else {
        return Ok(Membership::NoPerson);
    };
    if !group_exists {
        return Ok(Membership::NoGroup);
    }
    let deleted = diesel::delete(
        group_members::table
            .filter(group_members::group_name.eq(group.as_str()))
            .filter(group_members::user_id.eq(&user_id)),
    )
    .execute(conn)
    .map_err(unavailable)?;
    Ok(if deleted == 1 {
        Membership::Changed
    } else {
        Membership::Unchanged
    })
}
