//! `usher group create | list | show | delete | add-member | remove-member`: groups of
//! people (docs/design/groups.md). Their members get the `groups` claim where a client
//! is allowed that scope, and a client may be restricted to the members of some groups
//! (`usher client create|update --allowed-group`). The built-in group `usher-admins`
//! always exists and cannot be deleted.

use serde_json::{Value, json};
use usher_core::admin::{By, groups};
use usher_domain::{Group, GroupDescription, GroupName, GroupStore, Username};

use super::{print_json, refused};
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
            let description = groups::parse_description(description.as_deref()).map_err(refused)?;
            let ctx = Context::open(settings)?;
            let group = groups::create(
                &ctx.admin_stores(),
                name,
                description,
                &By::cli(clock::now()),
            )
            .map_err(refused)?;
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
            let (group, members) = groups::show(&ctx.admin_stores(), &name).map_err(refused)?;
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
            let ctx = Context::open(settings)?;
            groups::delete(&ctx.admin_stores(), &name, &By::cli(clock::now())).map_err(refused)?;
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
            let done = groups::set_member(
                &ctx.admin_stores(),
                &group,
                &username,
                true,
                &By::cli(clock::now()),
            )
            .map_err(refused)?;
            membership(&done, json.json)
        }
        GroupCommand::RemoveMember {
            group,
            username,
            json,
        } => {
            let (group, username) = parse_pair(&group, &username)?;
            let ctx = Context::open(settings)?;
            let done = groups::set_member(
                &ctx.admin_stores(),
                &group,
                &username,
                false,
                &By::cli(clock::now()),
            )
            .map_err(refused)?;
            membership(&done, json.json)
        }
    }
}

fn parse_name(raw: &str) -> anyhow::Result<GroupName> {
    groups::parse_name(raw).map_err(refused)
}

fn parse_pair(group: &str, username: &str) -> anyhow::Result<(GroupName, Username)> {
    let group = parse_name(group)?;
    let username = groups::parse_username(username).map_err(refused)?;
    Ok((group, username))
}

/// Reports what adding or removing a member did.
fn membership(done: &groups::MembershipView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::to_value(done)?);
    }
    let (username, group) = (&done.username, &done.group);
    match (done.member, done.changed) {
        (true, true) => println!("added {username} to {group}"),
        (true, false) => println!("{username} is already a member of {group}"),
        (false, true) => println!("removed {username} from {group}"),
        (false, false) => println!("{username} is not a member of {group}"),
    }
    Ok(())
}

fn describe(group: &Group, members: &[Username]) -> Value {
    serde_json::to_value(groups::GroupView::of(group, members)).unwrap_or(Value::Null)
}
