//! Groups of people: create, show, list, delete, add and remove members — `usher group …`
//! and `/admin/api/v1/groups` (docs/design/groups.md).

use usher_domain::{Group, GroupDescription, GroupName, Membership, Username};

use super::page::{Page, PageRequest, paginate};
use super::{AdminError, AdminStores, By, rfc3339};
use usher_domain::AuditKind;

/// A group as listed: its members counted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct GroupSummaryView {
    pub name: String,
    pub description: Option<String>,
    /// `usher-admins`: cannot be deleted.
    pub built_in: bool,
    pub members: usize,
    pub created_at: String,
}

/// A group with its members' usernames.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct GroupView {
    pub name: String,
    pub description: Option<String>,
    pub built_in: bool,
    pub members: Vec<String>,
    pub created_at: String,
}

impl GroupView {
    pub fn of(group: &Group, members: &[Username]) -> GroupView {
        GroupView {
            name: group.name.as_str().to_owned(),
            description: group.description.as_ref().map(|d| d.as_str().to_owned()),
            built_in: group.name.is_built_in(),
            members: members.iter().map(|m| m.as_str().to_owned()).collect(),
            created_at: rfc3339(group.created_at),
        }
    }
}

/// What adding or removing a member did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    pub group: String,
    pub username: String,
    /// Whether the person is a member now.
    pub member: bool,
    /// Whether this call changed it (false: it already was so).
    pub changed: bool,
}

pub fn parse_name(raw: &str) -> Result<GroupName, AdminError> {
    GroupName::parse(raw).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// A username as an operator types it (one stored under older rules is still found).
pub fn parse_username(raw: &str) -> Result<Username, AdminError> {
    Username::parse(raw)
        .or_else(|_| Username::from_stored(raw))
        .map_err(|e| AdminError::Invalid(e.to_string()))
}

/// A description; an empty one is none.
pub fn parse_description(raw: Option<&str>) -> Result<Option<GroupDescription>, AdminError> {
    Ok(raw
        .map(GroupDescription::parse)
        .transpose()
        .map_err(|e| AdminError::Invalid(e.to_string()))?
        .filter(|d| !d.as_str().is_empty()))
}

fn not_found(name: &GroupName) -> AdminError {
    AdminError::NotFound(format!("no group {name}"))
}

pub fn create(
    stores: &AdminStores,
    name: GroupName,
    description: Option<GroupDescription>,
    by: &By,
) -> Result<Group, AdminError> {
    let group = Group {
        name,
        description,
        created_at: by.at,
    };
    let inserted = stores.audited(|tx| {
        let inserted = tx.insert_group(&group)?;
        if inserted {
            tx.record(
                &by.event(AuditKind::GroupCreated)
                    .target(&group.name)
                    .detail(serde_json::json!({ "after": GroupView::of(&group, &[]) })),
            )?;
        }
        Ok(inserted)
    })?;
    if !inserted {
        return Err(AdminError::Conflict(format!(
            "a group {} already exists",
            group.name
        )));
    }
    tracing::info!(group = %group.name, "group created");
    Ok(group)
}

pub fn list(
    stores: &AdminStores,
    page: &PageRequest,
) -> Result<Page<GroupSummaryView>, AdminError> {
    let views = stores
        .groups
        .list_groups()?
        .into_iter()
        .map(|g| GroupSummaryView {
            name: g.group.name.as_str().to_owned(),
            description: g.group.description.as_ref().map(|d| d.as_str().to_owned()),
            built_in: g.group.name.is_built_in(),
            members: g.members,
            created_at: rfc3339(g.group.created_at),
        })
        .collect();
    Ok(paginate(
        views,
        |v: &GroupSummaryView| v.name.as_str(),
        page,
    ))
}

/// The group `name` and its members.
pub fn show(stores: &AdminStores, name: &GroupName) -> Result<(Group, Vec<Username>), AdminError> {
    let group = stores
        .groups
        .get_group(name)?
        .ok_or_else(|| not_found(name))?;
    let members = stores.groups.group_members(name)?;
    Ok((group, members))
}

/// Deletes group `name`: never the built-in one, nor one a client is restricted to.
pub fn delete(stores: &AdminStores, name: &GroupName, by: &By) -> Result<(), AdminError> {
    if name.is_built_in() {
        return Err(AdminError::Invalid(format!(
            "{name} is Usher's built-in group: it cannot be deleted (remove its members instead)"
        )));
    }
    let restricted: Vec<String> = stores
        .clients
        .list_clients()?
        .iter()
        .filter(|c| c.registration.allowed_groups.contains(name))
        .map(|c| c.id.to_string())
        .collect();
    if !restricted.is_empty() {
        return Err(AdminError::Conflict(format!(
            "clients are restricted to group {name}: {}; change them first with `usher client update ID --allowed-group …` or `--no-allowed-groups`",
            restricted.join(", ")
        )));
    }
    let deleted = stores.audited(|tx| {
        let deleted = tx.delete_group(name)?;
        if deleted {
            tx.record(&by.event(AuditKind::GroupDeleted).target(name))?;
        }
        Ok(deleted)
    })?;
    if !deleted {
        return Err(not_found(name));
    }
    tracing::info!(group = %name, "group deleted");
    Ok(())
}

/// Adds (`add`) or removes `username` to or from `group`; idempotent.
pub fn set_member(
    stores: &AdminStores,
    group: &GroupName,
    username: &Username,
    add: bool,
    by: &By,
) -> Result<MembershipView, AdminError> {
    let kind = if add {
        AuditKind::GroupMemberAdded
    } else {
        AuditKind::GroupMemberRemoved
    };
    let mut event = by
        .event(kind)
        .target(group)
        .detail(serde_json::json!({ "username": username.as_str() }));
    if let Some(person) = stores.users.find_user(username)? {
        event = event.person(&person.id);
    }
    let done = stores.audited(|tx| {
        let done = if add {
            tx.add_member(group, username, by.at)?
        } else {
            tx.remove_member(group, username)?
        };
        if done == Membership::Changed {
            tx.record(&event)?;
        }
        Ok(done)
    })?;
    let changed = match done {
        Membership::NoGroup => return Err(not_found(group)),
        Membership::NoPerson => return Err(AdminError::NotFound(format!("no user {username}"))),
        Membership::Changed => true,
        Membership::Unchanged => false,
    };
    if changed {
        tracing::info!(group = %group, user = %username, added = add, "group membership changed");
    }
    Ok(MembershipView {
        group: group.as_str().to_owned(),
        username: username.as_str().to_owned(),
        member: add,
        changed,
    })
}
