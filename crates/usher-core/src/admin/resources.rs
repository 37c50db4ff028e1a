//! Resource servers (RFC 8707): register, list, change, delete — `usher resource …` and
//! `/admin/api/v1/resources` (docs/design/resources.md).

use usher_domain::resource::parse_resource_scopes;
use usher_domain::{Issuer, Resource, ResourceName, ResourceUri, ScopeSet};

use super::page::{Page, PageRequest, paginate};
use super::{AdminError, AdminStores, By, rfc3339};
use crate::resource_registry;
use usher_domain::AuditKind;

/// A resource server as shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ResourceView {
    pub uri: String,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ResourceView {
    pub fn of(r: &Resource) -> ResourceView {
        ResourceView {
            uri: r.uri.as_str().to_owned(),
            name: r.name.as_ref().map(|n| n.as_str().to_owned()),
            scopes: r.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// Which clients a resource's scopes already reach (see [`resource_registry::reach`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReachView {
    /// With `client_credentials`: tokens for it with no person asked.
    pub client_credentials: Vec<String>,
    /// Only on behalf of a person, who consents.
    pub on_behalf_of_people: Vec<String>,
}

pub fn parse_uri(raw: &str) -> Result<ResourceUri, AdminError> {
    ResourceUri::parse(raw).map_err(|e| AdminError::Invalid(format!("--uri {raw:?}: {e}")))
}

pub fn parse_scopes(raw: &str) -> Result<ScopeSet, AdminError> {
    parse_resource_scopes(raw).map_err(|e| AdminError::Invalid(e.to_string()))
}

pub fn parse_name(raw: Option<&str>) -> Result<Option<ResourceName>, AdminError> {
    raw.map(ResourceName::parse)
        .transpose()
        .map_err(|e| AdminError::Invalid(e.to_string()))
}

fn not_found(uri: &ResourceUri) -> AdminError {
    AdminError::NotFound(format!("no resource {uri} is registered"))
}

/// Which clients `resource` reaches now.
pub fn reach(stores: &AdminStores, resource: &Resource) -> Result<ReachView, AdminError> {
    let clients = stores.clients.list_clients()?;
    let reach = resource_registry::reach(resource, &clients);
    let ids = |v: &[&usher_domain::Client]| v.iter().map(|c| c.id.to_string()).collect();
    Ok(ReachView {
        client_credentials: ids(&reach.service),
        on_behalf_of_people: ids(&reach.on_behalf),
    })
}

pub fn create(
    stores: &AdminStores,
    issuer: &Issuer,
    uri: ResourceUri,
    name: Option<ResourceName>,
    scopes: ScopeSet,
    by: &By,
) -> Result<Resource, AdminError> {
    let now = by.at;
    let resource = Resource {
        uri,
        name,
        scopes,
        created_at: now,
        updated_at: now,
    };
    let clients = stores.clients.list_clients()?;
    if let Some(why) = resource_registry::reserved(&resource.uri, issuer, &clients) {
        return Err(AdminError::Invalid(format!(
            "--uri {}: not a resource identifier: {why}",
            resource.uri
        )));
    }
    let inserted = stores.audited(|tx| {
        let inserted = tx.insert_resource(&resource)?;
        if inserted {
            tx.record(
                &by.event(AuditKind::ResourceCreated)
                    .target(&resource.uri)
                    .detail(serde_json::json!({ "after": ResourceView::of(&resource) })),
            )?;
        }
        Ok(inserted)
    })?;
    if !inserted {
        return Err(AdminError::Conflict(format!(
            "a resource {} is already registered: change it with `usher resource update`",
            resource.uri
        )));
    }
    tracing::info!(resource = %resource.uri, "resource server registered");
    Ok(resource)
}

pub fn get(stores: &AdminStores, uri: &ResourceUri) -> Result<Resource, AdminError> {
    stores
        .resources
        .get_resource(uri)?
        .ok_or_else(|| not_found(uri))
}

pub fn list(stores: &AdminStores, page: &PageRequest) -> Result<Page<ResourceView>, AdminError> {
    let views = stores
        .resources
        .list_resources()?
        .iter()
        .map(ResourceView::of)
        .collect();
    Ok(paginate(views, |v: &ResourceView| v.uri.as_str(), page))
}

/// What a change of a resource sets; `None` leaves it.
#[derive(Debug, Clone, Default)]
pub struct ResourceChange {
    pub scopes: Option<ScopeSet>,
    /// `Some(None)`: no name.
    pub name: Option<Option<ResourceName>>,
}

/// Changes resource `uri`; with `if_match`, only while its view still has that tag. The
/// write is a compare-and-set of the name and scopes read.
pub fn update(
    stores: &AdminStores,
    uri: &ResourceUri,
    change: ResourceChange,
    if_match: Option<&str>,
    by: &By,
) -> Result<Resource, AdminError> {
    let now = by.at;
    if change.scopes.is_none() && change.name.is_none() {
        return Err(AdminError::Invalid(
            "nothing to change: give --scope \"...\", --name NAME or --no-name".to_owned(),
        ));
    }
    let before = get(stores, uri)?;
    super::check_if_match(if_match, &ResourceView::of(&before))?;
    let mut after = before.clone();
    if let Some(scopes) = change.scopes {
        after.scopes = scopes;
    }
    if let Some(name) = change.name {
        after.name = name;
    }
    after.updated_at = now;
    let wrote = stores.audited(|tx| {
        let wrote = tx.update_resource_if(&after, &before)?;
        if wrote {
            tx.record(&by.event(AuditKind::ResourceUpdated).target(uri).detail(
                serde_json::json!({
                    "before": ResourceView::of(&before),
                    "after": ResourceView::of(&after),
                }),
            ))?;
        }
        Ok(wrote)
    })?;
    if !wrote {
        return match stores.resources.get_resource(uri)? {
            None => Err(not_found(uri)),
            Some(_) => Err(AdminError::Stale),
        };
    }
    tracing::info!(resource = %uri, "resource server changed");
    Ok(after)
}

/// Deletes resource `uri` (and removes it from remembered consents); with `if_match`,
/// only while its view still has that tag.
pub fn delete(
    stores: &AdminStores,
    uri: &ResourceUri,
    if_match: Option<&str>,
    by: &By,
) -> Result<(), AdminError> {
    if if_match.is_some() {
        super::check_if_match(if_match, &ResourceView::of(&get(stores, uri)?))?;
    }
    let deleted = stores.audited(|tx| {
        let deleted = tx.delete_resource(uri)?;
        if deleted {
            tx.record(&by.event(AuditKind::ResourceDeleted).target(uri))?;
        }
        Ok(deleted)
    })?;
    if !deleted {
        return Err(not_found(uri));
    }
    tracing::info!(resource = %uri, "resource server deleted");
    Ok(())
}
