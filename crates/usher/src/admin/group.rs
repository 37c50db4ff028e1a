//! `usher group create | list | show | delete | add-member | remove-member`: groups of
//! people (docs/design/groups.md). Their members get the `groups` claim where a client
//! is allowed that scope, and a client may be restricted to the members of some groups
//! (`usher client create|update --allowed-group`). The built-in group `usher-admins`
//! always exists and cannot be deleted.

use serde_json::{Value, json};
use usher_domain::{
    ClientStore, Group, GroupDescription, GroupName, GroupStore, Membership, Username,
};

use super::{print_json, usage};
use crate::cli::GroupCommand;
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

pub fn run(settings: Settings, command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::Create {
            name,
            description,
            json,
        } => {
            let name = parse_name(&name)?;
            let description = description
                .as_deref()
                .map(GroupDescription::parse)
                .transpose()
                .map_err(usage)?
                .filter(|d| !d.as_str().is_empty());
            let group = Group {
                name,
                description,
                created_at: clock::now(),
            };
            let ctx = Context::open(settings)?;
            if !ctx.db.insert_group(&group)? {
                return Err(usage(format!("a group {} already exists", group.name)));
            }
            tracing::info!(group = %group.name, "group created");
            if json.json {
                print_json(&describe(&group, &[]))
            } else {
                println!("created group {}", group.name);
                Ok(())
            }
        }
        GroupCommand::List(flag) => {
            let ctx = Context::open(settings)?;
            let groups = ctx.db.list_groups()?;
            if flag.json {
                return print_json(&Value::Array(
                    groups
                        .iter()
                        .map(|g| {
                            json!({
                                "name": g.group.name.as_str(),
                                "description": g.group.description.as_ref().map(GroupDescription::as_str),
                                "built_in": g.group.name.is_built_in(),
                                "members": g.members,
                                "created_at": clock::rfc3339(g.group.created_at),
                            })
                        })
                        .collect(),
                ));
            }
            for g in &groups {
                println!(
                    "{}  {} member{}  {}",
                    g.group.name,
                    g.members,
                    if g.members == 1 { "" } else { "s" },
                    g.group
                        .description
                        .as_ref()
                        .map(GroupDescription::as_str)
                        .unwrap_or("-")
                );
            }
            Ok(())
        }
        GroupCommand::Show { name, json } => {
            let name = parse_name(&name)?;
            let ctx = Context::open(settings)?;
            let Some(group) = ctx.db.get_group(&name)? else {
                anyhow::bail!("no group {name}");
            };
            let members = ctx.db.group_members(&name)?;
            if json.json {
                return print_json(&describe(&group, &members));
            }
            println!("name:         {}", group.name);
            if let Some(d) = &group.description {
                println!("description:  {}", d.as_str());
            }
            if group.name.is_built_in() {
                println!("built in:     yes (cannot be deleted)");
            }
            if members.is_empty() {
                println!("members:      none");
            }
            for m in &members {
                println!("member:       {m}");
            }
            Ok(())
        }
        GroupCommand::Delete { name, json } => {
            let name = parse_name(&name)?;
            if name.is_built_in() {
                return Err(usage(format!(
                    "{name} is Usher's built-in group: it cannot be deleted (remove its members instead)"
                )));
            }
            let ctx = Context::open(settings)?;
            // A client restricted to this group would admit nobody once it is gone (and
            // anyone who later creates a group of that name): say which, and change
            // nothing.
            let restricted: Vec<String> = ctx
                .db
                .list_clients()?
                .iter()
                .filter(|c| c.registration.allowed_groups.contains(&name))
                .map(|c| c.id.to_string())
                .collect();
            if !restricted.is_empty() {
                return Err(usage(format!(
                    "clients are restricted to group {name}: {}; change them first with `usher client update ID --allowed-group …` or `--no-allowed-groups`",
                    restricted.join(", ")
                )));
            }
            if !ctx.db.delete_group(&name)? {
                anyhow::bail!("no group {name}");
            }
            tracing::info!(group = %name, "group deleted");
            if json.json {
                print_json(&json!({ "name": name.as_str(), "deleted": true }))
            } else {
                println!("deleted group {name}");
                Ok(())
            }
        }
        GroupCommand::AddMember {
            group,
            username,
            json,
        } => {
            let (group, username) = parse_pair(&group, &username)?;
            let ctx = Context::open(settings)?;
            let done = ctx.db.add_member(&group, &username, clock::now())?;
            membership(&group, &username, done, true, json.json)
        }
        GroupCommand::RemoveMember {
            group,
            username,
            json,
        } => {
            let (group, username) = parse_pair(&group, &username)?;
            let ctx = Context::open(settings)?;
            let done = ctx.db.remove_member(&group, &username)?;
            membership(&group, &username, done, false, json.json)
        }
    }
}

fn parse_name(raw: &str) -> anyhow::Result<GroupName> {
    GroupName::parse(raw).map_err(usage)
}

fn parse_pair(group: &str, username: &str) -> anyhow::Result<(GroupName, Username)> {
    let group = parse_name(group)?;
    // A username stored under older rules is still found.
    let username = Username::parse(username)
        .or_else(|_| Username::from_stored(username))
        .map_err(usage)?;
    Ok((group, username))
}

/// Reports what adding (`add`) or removing a member did; an unknown group or person is
/// an error.
fn membership(
    group: &GroupName,
    username: &Username,
    done: Membership,
    add: bool,
    json: bool,
) -> anyhow::Result<()> {
    let changed = match done {
        Membership::NoGroup => anyhow::bail!("no group {group}"),
        Membership::NoPerson => anyhow::bail!("no user {username}"),
        Membership::Changed => true,
        Membership::Unchanged => false,
    };
    if changed {
        tracing::info!(group = %group, user = %username, added = add, "group membership changed");
    }
    if json {
        return print_json(&json!({
            "group": group.as_str(),
            "username": username.as_str(),
            "member": add,
            "changed": changed,
        }));
    }
    match (add, changed) {
        (true, true) => println!("added {username} to {group}"),
        (true, false) => println!("{username} is already a member of {group}"),
        (false, true) => println!("removed {username} from {group}"),
        (false, false) => println!("{username} is not a member of {group}"),
    }
    Ok(())
}

fn describe(group: &Group, members: &[Username]) -> Value {
    json!({
        "name": group.name.as_str(),
        "description": group.description.as_ref().map(GroupDescription::as_str),
        "built_in": group.name.is_built_in(),
        "members": members.iter().map(Username::as_str).collect::<Vec<_>>(),
        "created_at": clock::rfc3339(group.created_at),
    })
}
