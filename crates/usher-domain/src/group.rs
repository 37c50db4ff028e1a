//! Groups of people (issue 17, docs/design/groups.md): named sets of people that an
//! operator manages with `usher group …`. A person's groups reach the apps that are
//! allowed the `groups` scope (a flat `groups` claim: the names, sorted), and a client may
//! be restricted to the members of some groups ([`crate::Client::admits`]). The port
//! [`GroupStore`] keeps them; the decisions that use them are `usher-core`'s `groups`
//! module.

use std::fmt;

use crate::ports::StoreError;
use crate::time::UnixTime;
use crate::user::{UserId, Username};

/// The built-in group: created by the migration, never deleted. The admin console (a
/// later change) is open only to its members.
pub const BUILT_IN_ADMINS_GROUP: &str = "usher-admins";

/// The longest group name.
pub const MAX_GROUP_NAME_LEN: usize = 64;

/// A group's name: 1–64 characters of ASCII letters, digits and `-_.:`. No spaces (a
/// list of names is stored space-separated), nothing that needs escaping in a token,
/// and case matters (`Admins` and `admins` are two groups, as the names apps compare).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupName(String);

/// Why a group's input was refused. Each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error(
        "{0:?} is not a group name: use 1 to 64 characters of letters, digits and - _ . : (no spaces)"
    )]
    BadName(String),
    #[error("the description must be at most 200 characters without control characters")]
    BadDescription,
}

impl GroupName {
    pub fn parse(raw: &str) -> Result<GroupName, GroupError> {
        let ok = (1..=MAX_GROUP_NAME_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if ok {
            Ok(GroupName(raw.to_owned()))
        } else {
            Err(GroupError::BadName(raw.to_owned()))
        }
    }

    /// The built-in `usher-admins`.
    pub fn admins() -> GroupName {
        GroupName(BUILT_IN_ADMINS_GROUP.to_owned())
    }

    /// Whether this is the built-in group, which cannot be deleted.
    pub fn is_built_in(&self) -> bool {
        self.0 == BUILT_IN_ADMINS_GROUP
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for GroupName {
    type Err = GroupError;

    fn from_str(raw: &str) -> Result<GroupName, GroupError> {
        GroupName::parse(raw)
    }
}

/// Parses a list of group names (`--allowed-group`), without duplicates, sorted.
pub fn parse_group_names(raw: &[String]) -> Result<Vec<GroupName>, GroupError> {
    let mut names = raw
        .iter()
        .map(|r| GroupName::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    names.dedup();
    Ok(names)
}

/// A group's description, for operators: at most 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription(String);

impl GroupDescription {
    pub fn parse(raw: &str) -> Result<GroupDescription, GroupError> {
        let trimmed = raw.trim();
        if trimmed.chars().count() <= 200 && !trimmed.chars().any(char::is_control) {
            Ok(GroupDescription(trimmed.to_owned()))
        } else {
            Err(GroupError::BadDescription)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: GroupName,
    pub description: Option<GroupDescription>,
    pub created_at: UnixTime,
}

/// A group as listed: with how many members it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub group: Group,
    pub members: usize,
}

/// What removing or adding a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// Done (added, or removed).
    Changed,
    /// Nothing to do: already a member (add), or not a member (remove).
    Unchanged,
    /// There is no such group.
    NoGroup,
    /// There is no such person.
    NoPerson,
}

/// Groups and their members. Memberships go when their group or their person goes (the
/// foreign keys cascade).
pub trait GroupStore: Send + Sync {
    /// Creates a group; `false` when one with this name exists (nothing changed).
    fn insert_group(&self, group: &Group) -> Result<bool, StoreError>;
    fn get_group(&self, name: &GroupName) -> Result<Option<Group>, StoreError>;
    /// Replaces a group's description (`None`: none); `false` when there is no group.
    fn set_group_description(
        &self,
        name: &GroupName,
        description: Option<&GroupDescription>,
    ) -> Result<bool, StoreError>;
    /// Every group, by name, with its member count.
    fn list_groups(&self) -> Result<Vec<GroupSummary>, StoreError>;
    /// Deletes a group and its memberships; `false` when there was none. The built-in
    /// group is never deleted (`false`).
    fn delete_group(&self, name: &GroupName) -> Result<bool, StoreError>;
    /// Adds the person to the group; adding a member twice (even at the same moment)
    /// is [`Membership::Unchanged`].
    fn add_member(
        &self,
        group: &GroupName,
        user: &Username,
        now: UnixTime,
    ) -> Result<Membership, StoreError>;
    fn remove_member(&self, group: &GroupName, user: &Username) -> Result<Membership, StoreError>;
    /// The usernames of a group's members, sorted.
    fn group_members(&self, group: &GroupName) -> Result<Vec<Username>, StoreError>;
    /// The names of the groups a person is in, sorted.
    fn groups_of(&self, user: &UserId) -> Result<Vec<GroupName>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_name_is_short_and_plain() {
        for good in [
            "usher-admins",
            "a",
            "team.ops",
            "org:sales_eu",
            &"x".repeat(64),
        ] {
            assert_eq!(GroupName::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "two words",
            "tab\there",
            "ümlaut",
            "quote\"",
            "slash/",
            &"x".repeat(65),
        ] {
            assert!(GroupName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(GroupName::admins().is_built_in());
        assert!(!GroupName::parse("Usher-Admins").unwrap().is_built_in());
    }

    #[test]
    fn a_list_of_names_is_sorted_without_duplicates() {
        let raw = ["b", "a", "b"].map(String::from);
        let names = parse_group_names(&raw).unwrap();
        assert_eq!(
            names.iter().map(GroupName::as_str).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(parse_group_names(&["a b".to_owned()]).is_err());
    }

    #[test]
    fn a_description_is_plain_text() {
        assert_eq!(
            GroupDescription::parse(" Sales ").unwrap().as_str(),
            "Sales"
        );
        assert!(GroupDescription::parse("a\nb").is_err());
        assert!(GroupDescription::parse(&"x".repeat(201)).is_err());
    }
}
