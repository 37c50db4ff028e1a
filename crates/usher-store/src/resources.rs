//! Registered resource servers (RFC 8707): the `resources` table behind
//! [`ResourceStore`]. A resource's scopes are stored space-separated (a scope token holds
//! no space). A second registration of one identifier is refused by the primary key, on
//! both backends, whoever races it.

use diesel::prelude::*;
use usher_domain::{
    Resource, ResourceName, ResourceStore, ResourceUri, ScopeSet, StoreError, UnixTime,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation};
use crate::schema::{consents, resources};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = resources)]
struct ResourceRow {
    uri: String,
    name: Option<String>,
    scopes: String,
    created_at: i64,
    updated_at: i64,
}

impl ResourceRow {
    fn from_domain(r: &Resource) -> ResourceRow {
        ResourceRow {
            uri: r.uri.as_str().to_owned(),
            name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            scopes: r.scopes.to_string(),
            created_at: r.created_at.seconds(),
            updated_at: r.updated_at.seconds(),
        }
    }

    fn into_domain(self) -> Result<Resource, StoreError> {
        let uri = ResourceUri::parse(&self.uri)
            .map_err(|_| corrupt("a resource has an invalid identifier"))?;
        let bad = |what: &str| corrupt(format!("resource {uri} has an invalid {what}"));
        Ok(Resource {
            name: match self.name.as_deref() {
                Some(n) => Some(ResourceName::parse(n).map_err(|_| bad("name"))?),
                None => None,
            },
            scopes: ScopeSet::parse(&self.scopes).map_err(|_| bad("scope list"))?,
            created_at: UnixTime(self.created_at),
            updated_at: UnixTime(self.updated_at),
            uri,
        })
    }
}

impl ResourceStore for Database {
    fn insert_resource(&self, resource: &Resource) -> Result<bool, StoreError> {
        insert_resource_on(&mut *self.conn()?, resource)
    }

    fn get_resource(&self, uri: &ResourceUri) -> Result<Option<Resource>, StoreError> {
        let mut conn = self.conn()?;
        resources::table
            .filter(resources::uri.eq(uri.as_str()))
            .select(ResourceRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
            .map(ResourceRow::into_domain)
            .transpose()
    }

    fn list_resources(&self) -> Result<Vec<Resource>, StoreError> {
        let mut conn = self.conn()?;
        resources::table
            .order(resources::uri.asc())
            .select(ResourceRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?
            .into_iter()
            .map(ResourceRow::into_domain)
            .collect()
    }

    fn update_resource(&self, resource: &Resource) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let changed =
            diesel::update(resources::table.filter(resources::uri.eq(resource.uri.as_str())))
                .set((
                    resources::name.eq(resource.name.as_ref().map(|n| n.as_str())),
                    resources::scopes.eq(resource.scopes.to_string()),
                    resources::updated_at.eq(resource.updated_at.seconds()),
                ))
                .execute(&mut *conn)
                .map_err(unavailable)?;
        Ok(changed == 1)
    }

    fn update_resource_if(
        &self,
        resource: &Resource,
        expected: &Resource,
    ) -> Result<bool, StoreError> {
        update_resource_if_on(&mut *self.conn()?, resource, expected)
    }

    fn delete_resource(&self, uri: &ResourceUri) -> Result<bool, StoreError> {
        delete_resource_on(&mut *self.conn()?, uri)
    }
}

/// [`ResourceStore::insert_resource`] on `conn` (also in an [`crate::audit::Audited`]
/// transaction: the insert runs in a savepoint, so an identifier taken leaves the
/// transaction usable on PostgreSQL).
pub(crate) fn insert_resource_on(
    conn: &mut AnyConnection,
    resource: &Resource,
) -> Result<bool, StoreError> {
    let row = ResourceRow::from_domain(resource);
    match conn.transaction::<_, diesel::result::Error, _>(|c| {
        diesel::insert_into(resources::table)
            .values(&row)
            .execute(c)
    }) {
        Ok(_) => Ok(true),
        Err(e) if unique_violation(&e).is_some() => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

/// [`ResourceStore::update_resource_if`] on `conn`.
pub(crate) fn update_resource_if_on(
    conn: &mut AnyConnection,
    resource: &Resource,
    expected: &Resource,
) -> Result<bool, StoreError> {
    let target = resources::table
        .filter(resources::uri.eq(resource.uri.as_str()))
        .filter(resources::scopes.eq(expected.scopes.to_string()));
    let change = (
        resources::name.eq(resource.name.as_ref().map(|n| n.as_str())),
        resources::scopes.eq(resource.scopes.to_string()),
        resources::updated_at.eq(resource.updated_at.seconds()),
    );
    // One statement each: the comparison and the write cannot be split.
    let changed = match &expected.name {
        Some(name) => diesel::update(target.filter(resources::name.eq(name.as_str())))
            .set(change)
            .execute(conn),
        None => diesel::update(target.filter(resources::name.is_null()))
            .set(change)
            .execute(conn),
    }
    .map_err(unavailable)?;
    Ok(changed == 1)
}

/// [`ResourceStore::delete_resource`] on `conn`.
pub(crate) fn delete_resource_on(
    conn: &mut AnyConnection,
    uri: &ResourceUri,
) -> Result<bool, StoreError> {
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        let deleted =
            diesel::delete(resources::table.filter(resources::uri.eq(uri.as_str()))).execute(c)?;
        if deleted == 1 {
            forget_in_consents(c, uri)?;
        }
        Ok(deleted == 1)
    })
    .map_err(unavailable)
}

/// Takes `uri` out of every remembered consent, in the transaction that deletes the
/// resource: an identifier registered again later is a new resource, whose consent page
/// a consent for the old one must not skip. Each row is rewritten only if it still
/// holds what was read (a consent saved in between keeps its own value).
fn forget_in_consents(conn: &mut AnyConnection, uri: &ResourceUri) -> QueryResult<()> {
    let escaped = uri
        .as_str()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let holding: Vec<(String, String, String)> = consents::table
        .filter(
            consents::resources
                .like(format!("%{escaped}%"))
                .escape('\\'),
        )
        .select((consents::user_id, consents::client_id, consents::resources))
        .load(conn)?;
    for (user_id, client_id, stored) in holding {
        let kept: Vec<&str> = stored
            .split(' ')
            .filter(|s| !s.is_empty() && *s != uri.as_str())
            .collect();
        if kept.len() == stored.split(' ').filter(|s| !s.is_empty()).count() {
            continue;
        }
        diesel::update(
            consents::table
                .filter(consents::user_id.eq(&user_id))
                .filter(consents::client_id.eq(&client_id))
                .filter(consents::resources.eq(&stored)),
        )
        .set(consents::resources.eq(kept.join(" ")))
        .execute(conn)?;
    }
    Ok(())
}
