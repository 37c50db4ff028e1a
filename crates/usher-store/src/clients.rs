//! Registered clients: the `clients` table and the ordered `client_redirect_uris` that
//! belong to each client, behind [`ClientStore`].
//!
//! Lists (grant types, scopes, audiences, allowed origins, allowed groups) are stored space-separated: none of their
//! elements may contain a space. Redirect URIs get their own rows because a URI may
//! contain almost anything and their order is the registration order.

use std::collections::HashMap;

use diesel::prelude::*;
use usher_domain::{
    Audience, AuthMethod, BackchannelLogout, BackchannelLogoutUri, Client, ClientAccess, ClientId,
    ClientName, ClientRegistration, ClientStore, GrantType, GroupName, Origin, RedirectUri,
    ScopeSet, SigningAlg, StoreError, UnixTime,
};

use crate::connection::AnyConnection;
use crate::database::{Database, corrupt, unavailable, unique_violation};
use crate::schema::{client_redirect_uris, clients};

const LOGIN: &str = "login";
const POST_LOGOUT: &str = "post_logout";

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true)]
pub(crate) struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<String>,
    auth_method: String,
    grant_types: String,
    scopes: String,
    audiences: String,
    pkce_required: bool,
    first_party: bool,
    created_at: i64,
    require_mfa: bool,
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    allowed_origins: String,
    id_token_signed_response_alg: Option<String>,
    metadata_document: bool,
    dynamically_registered: bool,
    allowed_groups: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = client_redirect_uris)]
pub(crate) struct UriRow {
    client_id: String,
    kind: String,
    position: i32,
    uri: String,
}

impl ClientRow {
    pub(crate) fn from_domain(client: &Client) -> ClientRow {
        let reg = &client.registration;
        ClientRow {
            id: client.id.as_str().to_owned(),
            name: reg.name.as_str().to_owned(),
            secret_hash: client.secret_hash.clone(),
            auth_method: reg.auth_method.as_str().to_owned(),
            grant_types: join(reg.grant_types.iter().map(|g| g.as_str())),
            scopes: reg.scopes.to_string(),
            audiences: join(reg.audiences.iter().map(Audience::as_str)),
            pkce_required: reg.pkce_required,
            first_party: reg.first_party,
            created_at: client.created_at.seconds(),
            require_mfa: reg.require_mfa,
            backchannel_logout_uri: reg
                .backchannel_logout
                .as_ref()
                .map(|b| b.uri.as_str().to_owned()),
            backchannel_logout_session_required: reg
                .backchannel_logout
                .as_ref()
                .is_some_and(|b| b.session_required),
            allowed_origins: join(reg.allowed_origins.iter().map(Origin::as_str)),
            id_token_signed_response_alg: reg
                .id_token_signed_response_alg
                .map(|a| a.as_str().to_owned()),
            metadata_document: reg.metadata_document,
            dynamically_registered: reg.dynamically_registered,
            allowed_groups: join(reg.allowed_groups.iter().map(GroupName::as_str)),
        }
    }

    /// Rebuilds the domain client from its row and its redirect-URI rows (in order).
    fn into_domain(self, uris: Vec<UriRow>) -> Result<Client, StoreError> {
        let id = ClientId::parse(&self.id)
            .ok_or_else(|| corrupt(format!("client id {:?} is not valid", self.id)))?;
        let bad = |e: &dyn std::fmt::Display| corrupt(format!("client {id}: {e}"));

        let mut redirect_uris = Vec::new();
        let mut post_logout_redirect_uris = Vec::new();
        for row in uris {
            let uri = RedirectUri::parse(&row.uri).map_err(|e| bad(&e))?;
            match row.kind.as_str() {
                LOGIN => redirect_uris.push(uri),
                POST_LOGOUT => post_logout_redirect_uris.push(uri),
                other => return Err(bad(&format!("unknown redirect URI kind {other:?}"))),
            }
        }
        let registration = ClientRegistration {
            name: ClientName::parse_stored(&self.name).map_err(|e| bad(&e))?,
            auth_method: self
                .auth_method
                .parse::<AuthMethod>()
                .map_err(|e| bad(&e))?,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types: words(&self.grant_types)
                .map(str::parse::<GrantType>)
                .collect::<Result<_, _>>()
                .map_err(|e| bad(&e))?,
            scopes: ScopeSet::parse(&self.scopes).map_err(|e| bad(&e))?,
            audiences: words(&self.audiences)
                .map(Audience::parse)
                .collect::<Result<_, _>>()
                .map_err(|e| bad(&e))?,
            pkce_required: self.pkce_required,
            first_party: self.first_party,
            require_mfa: self.require_mfa,
            backchannel_logout: match &self.backchannel_logout_uri {
                Some(uri) => Some(BackchannelLogout {
                    uri: BackchannelLogoutUri::parse(uri).map_err(|e| bad(&e))?,
                    session_required: self.backchannel_logout_session_required,
                }),
                None => None,
            },
            allowed_origins: words(&self.allowed_origins)
                .map(Origin::parse_registered)
                .collect::<Result<_, _>>()
                .map_err(|e| bad(&e))?,
            id_token_signed_response_alg: match &self.id_token_signed_response_alg {
                Some(alg) => Some(alg.parse::<SigningAlg>().map_err(|e| bad(&e))?),
                None => None,
            },
            // A stored client is never Usher's own (the core synthesises that one).
            built_in: false,
            metadata_document: self.metadata_document,
            dynamically_registered: self.dynamically_registered,
            allowed_groups: {
                let mut names = words(&self.allowed_groups)
                    .map(GroupName::parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(&e))?;
                names.sort();
                names.dedup();
                names
            },
        };
        Ok(Client {
            id,
            secret_hash: self.secret_hash,
            registration,
            created_at: UnixTime(self.created_at),
        })
    }
}

/// The redirect-URI rows of a client, numbered in registration order.
pub(crate) fn uri_rows(client: &Client) -> Result<Vec<UriRow>, StoreError> {
    let reg = &client.registration;
    let lists = [
        (LOGIN, &reg.redirect_uris),
        (POST_LOGOUT, &reg.post_logout_redirect_uris),
    ];
    let mut rows = Vec::new();
    for (kind, uris) in lists {
        for (i, uri) in uris.iter().enumerate() {
            let position = i32::try_from(i)
                .map_err(|_| corrupt(format!("client {} has too many redirect URIs", client.id)))?;
            rows.push(UriRow {
                client_id: client.id.as_str().to_owned(),
                kind: kind.to_owned(),
                position,
                uri: uri.as_str().to_owned(),
            });
        }
    }
    Ok(rows)
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(" ")
}

fn words(list: &str) -> impl Iterator<Item = &str> {
    list.split(' ').filter(|w| !w.is_empty())
}

/// The id of Usher's built-in account client. Its row (written by migration 000015)
/// exists only so that its authorization codes satisfy `authorization_codes.client_id`'s
/// foreign key; the core synthesises the client itself and never reads the row, so this
/// store neither returns, lists, deletes nor changes it, and inserting a client with
/// its id is a conflict.
const BUILT_IN_ACCOUNT_CLIENT_ID: &str = usher_domain::client::BUILT_IN_ACCOUNT_CLIENT_ID;

/// Inserts a client's row and its redirect-URI rows (inside the caller's transaction).
pub(crate) fn insert_rows(
    c: &mut crate::connection::AnyConnection,
    row: &ClientRow,
    uris: &[UriRow],
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(clients::table).values(row).execute(c)?;
    for uri in uris {
        diesel::insert_into(client_redirect_uris::table)
            .values(uri)
            .execute(c)?;
    }
    Ok(())
}

/// Replaces the row and the redirect-URI rows of `client` (inside the caller's
/// transaction) when a client with its id exists whose `dynamically_registered` is
/// `dynamic` and that is no metadata-document client; whether one was replaced.
pub(crate) fn replace_rows(
    c: &mut crate::connection::AnyConnection,
    client: &Client,
    dynamic: bool,
) -> Result<bool, diesel::result::Error> {
    let row = ClientRow::from_domain(client);
    let Ok(uris) = uri_rows(client) else {
        return Err(diesel::result::Error::RollbackTransaction);
    };
    let id = client.id.as_str();
    let updated = diesel::update(
        clients::table
            .filter(clients::id.eq(id))
            .filter(clients::dynamically_registered.eq(dynamic))
            .filter(clients::metadata_document.eq(false)),
    )
    .set(&row)
    .execute(c)?;
    if updated != 1 {
        return Ok(false);
    }
    diesel::delete(client_redirect_uris::table.filter(client_redirect_uris::client_id.eq(id)))
        .execute(c)?;
    for uri in &uris {
        diesel::insert_into(client_redirect_uris::table)
            .values(uri)
            .execute(c)?;
    }
    Ok(true)
}

impl ClientStore for Database {
    fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        insert_client_on(&mut *self.conn()?, client)
    }

    fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        if id.as_str() == BUILT_IN_ACCOUNT_CLIENT_ID {
            return Ok(None);
        }
        let mut conn = self.conn()?;
        let Some(row) = clients::table
            .filter(clients::id.eq(id.as_str()))
            .select(ClientRow::as_select())
            .first(&mut *conn)
            .optional()
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let uris = client_redirect_uris::table
            .filter(client_redirect_uris::client_id.eq(id.as_str()))
            .order((
                client_redirect_uris::kind.asc(),
                client_redirect_uris::position.asc(),
            ))
            .select(UriRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?;
        row.into_domain(uris).map(Some)
    }

    fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut conn = self.conn()?;
        let rows = clients::table
            .filter(clients::id.ne(BUILT_IN_ACCOUNT_CLIENT_ID))
            .order((clients::created_at.asc(), clients::id.asc()))
            .select(ClientRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?;
        let all_uris = client_redirect_uris::table
            .order((
                client_redirect_uris::client_id.asc(),
                client_redirect_uris::kind.asc(),
                client_redirect_uris::position.asc(),
            ))
            .select(UriRow::as_select())
            .load(&mut *conn)
            .map_err(unavailable)?;
        let mut by_client: HashMap<String, Vec<UriRow>> = HashMap::new();
        for uri in all_uris {
            by_client
                .entry(uri.client_id.clone())
                .or_default()
                .push(uri);
        }
        rows.into_iter()
            .map(|row| {
                let uris = by_client.remove(&row.id).unwrap_or_default();
                row.into_domain(uris)
            })
            .collect()
    }

    fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
        delete_client_on(&mut *self.conn()?, id)
    }

    fn set_client_allowed_origins(
        &self,
        id: &ClientId,
        origins: &[Origin],
    ) -> Result<bool, StoreError> {
        if id.as_str() == BUILT_IN_ACCOUNT_CLIENT_ID {
            return Ok(false);
        }
        let mut conn = self.conn()?;
        diesel::update(clients::table.filter(clients::id.eq(id.as_str())))
            .set(clients::allowed_origins.eq(join(origins.iter().map(Origin::as_str))))
            .execute(&mut *conn)
            .map(|updated| updated == 1)
            .map_err(unavailable)
    }

    fn replace_operator_client(&self, client: &Client) -> Result<bool, StoreError> {
        if client.id.as_str() == BUILT_IN_ACCOUNT_CLIENT_ID || client.describes_itself() {
            return Ok(false);
        }
        uri_rows(client)?;
        let mut conn = self.conn()?;
        conn.transaction(|c| replace_rows(c, client, false))
            .map_err(unavailable)
    }

    fn set_client_allowed_groups(
        &self,
        id: &ClientId,
        groups: &[GroupName],
    ) -> Result<bool, StoreError> {
        if id.as_str() == BUILT_IN_ACCOUNT_CLIENT_ID {
            return Ok(false);
        }
        let mut conn = self.conn()?;
        diesel::update(clients::table.filter(clients::id.eq(id.as_str())))
            .set(clients::allowed_groups.eq(join(groups.iter().map(GroupName::as_str))))
            .execute(&mut *conn)
            .map(|updated| updated == 1)
            .map_err(unavailable)
    }

    fn set_client_access_if(
        &self,
        id: &ClientId,
        expected: ClientAccess<'_>,
        new: ClientAccess<'_>,
    ) -> Result<bool, StoreError> {
        set_client_access_if_on(&mut *self.conn()?, id, expected, new)
    }

    fn upsert_metadata_client(&self, client: &Client) -> Result<(), StoreError> {
        if !client.registration.metadata_document {
            return Err(corrupt(format!(
                "client {} is not a metadata-document client",
                client.id
            )));
        }
        let row = ClientRow::from_domain(client);
        let uris = uri_rows(client)?;
        let id = client.id.as_str();
        let mut conn = self.conn()?;
        let written = conn.transaction::<_, diesel::result::Error, _>(|c| {
            let updated = diesel::update(
                clients::table
                    .filter(clients::id.eq(id))
                    .filter(clients::metadata_document.eq(true)),
            )
            .set((
                clients::name.eq(&row.name),
                clients::grant_types.eq(&row.grant_types),
                clients::scopes.eq(&row.scopes),
            ))
            .execute(c)?;
            if updated == 0 {
                diesel::insert_into(clients::table)
                    .values(&row)
                    .execute(c)?;
            }
            diesel::delete(
                client_redirect_uris::table.filter(client_redirect_uris::client_id.eq(id)),
            )
            .execute(c)?;
            for uri in &uris {
                diesel::insert_into(client_redirect_uris::table)
                    .values(uri)
                    .execute(c)?;
            }
            Ok(())
        });
        match written {
            Ok(()) => Ok(()),
            // Another node inserted the same document's row a moment ago: its row
            // anchors the references as well as ours would.
            Err(e) if unique_violation(&e).is_some() => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn set_client_secret_hash(&self, id: &ClientId, hash: &str) -> Result<bool, StoreError> {
        set_client_secret_hash_on(&mut *self.conn()?, id, hash)
    }
}

/// [`ClientStore::insert_client`] on `conn` (also in an [`crate::audit::Audited`]
/// transaction, where its own transaction is a savepoint).
pub(crate) fn insert_client_on(
    conn: &mut AnyConnection,
    client: &Client,
) -> Result<(), StoreError> {
    let row = ClientRow::from_domain(client);
    let uris = uri_rows(client)?;
    conn.transaction::<_, diesel::result::Error, _>(|c| insert_rows(c, &row, &uris))
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::Conflict(format!("client {} already exists", client.id)),
            None => unavailable(e),
        })
}

/// [`ClientStore::delete_client`] on `conn`.
pub(crate) fn delete_client_on(
    conn: &mut AnyConnection,
    id: &ClientId,
) -> Result<bool, StoreError> {
    if id.as_str() == BUILT_IN_ACCOUNT_CLIENT_ID {
        return Ok(false);
    }
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        // The foreign key cascades too; deleting explicitly keeps this correct on a
        // connection where SQLite's foreign keys were somehow left off.
        diesel::delete(
            client_redirect_uris::table.filter(client_redirect_uris::client_id.eq(id.as_str())),
        )
        .execute(c)?;
        diesel::delete(clients::table.filter(clients::id.eq(id.as_str()))).execute(c)
    })
    .map(|deleted| deleted == 1)
    .map_err(unavailable)
}

/// [`ClientStore::set_client_access_if`] on `conn`.
pub(crate) fn set_client_access_if_on(
    conn: &mut AnyConnection,
    id: &ClientId,
    expected: ClientAccess<'_>,
    new: ClientAccess<'_>,
) -> Result<bool, StoreError> {
    if id.as_str() == BUILT_IN_ACCOUNT_CLIENT_ID {
        return Ok(false);
    }
    // One statement: the comparison and the write cannot be split by another writer.
    diesel::update(
        clients::table
            .filter(clients::id.eq(id.as_str()))
            .filter(clients::allowed_origins.eq(join(expected.origins.iter().map(Origin::as_str))))
            .filter(
                clients::allowed_groups.eq(join(expected.groups.iter().map(GroupName::as_str))),
            ),
    )
    .set((
        clients::allowed_origins.eq(join(new.origins.iter().map(Origin::as_str))),
        clients::allowed_groups.eq(join(new.groups.iter().map(GroupName::as_str))),
    ))
    .execute(conn)
    .map(|updated| updated == 1)
    .map_err(unavailable)
}

/// [`ClientStore::set_client_secret_hash`] on `conn`.
pub(crate) fn set_client_secret_hash_on(
    conn: &mut AnyConnection,
    id: &ClientId,
    hash: &str,
) -> Result<bool, StoreError> {
    if id.as_str() == BUILT_IN_ACCOUNT_CLIENT_ID {
        return Ok(false);
    }
    diesel::update(clients::table.filter(clients::id.eq(id.as_str())))
        .set(clients::secret_hash.eq(Some(hash)))
        .execute(conn)
        .map(|updated| updated == 1)
        .map_err(unavailable)
}
