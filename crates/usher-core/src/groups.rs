//! Groups in decisions (issue 17, docs/design/groups.md): the `groups` claim and who may
//! use a client restricted to some groups.
//!
//! A person's groups are read from the store at the moment they matter — every sign-in,
//! code exchange, refresh and userinfo call — never cached, so a membership change shows
//! in the next token and a removed member's next refresh is refused. They are read only
//! when needed: for a client restricted by `--allowed-group`, or for a grant that holds
//! the `groups` scope.

use usher_domain::scope::GROUPS;
use usher_domain::{Client, GroupName, ScopeSet, UserId};

use crate::{Core, Failure, blocking};

/// Whether a person may have tokens for a client, and their `groups` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Allowed; `claim` holds the person's groups (sorted names) when the grant has the
    /// `groups` scope.
    Admitted { claim: Option<Vec<String>> },
    /// The client is restricted to groups the person is in none of.
    NotAMember,
}

/// The names of the groups a person is in, sorted.
pub async fn groups_of(core: &Core, user: &UserId) -> Result<Vec<GroupName>, Failure> {
    let store = core.stores.groups.clone();
    let user = user.clone();
    let mut groups = blocking(move || store.groups_of(&user)).await?;
    groups.sort();
    Ok(groups)
}

/// The `groups` claim of these groups: their names, sorted (a flat array, as apps
/// expect; never nested objects).
pub fn claim(groups: &[GroupName]) -> Vec<String> {
    let mut names: Vec<String> = groups.iter().map(|g| g.as_str().to_owned()).collect();
    names.sort();
    names
}

/// The rule, given the person's groups: a restricted client admits only members of one
/// of its groups; the claim is there only with the `groups` scope.
pub fn decide(client: &Client, groups: &[GroupName], scope: &ScopeSet) -> Admission {
    if !client.admits(groups) {
        return Admission::NotAMember;
    }
    Admission::Admitted {
        claim: scope.contains(GROUPS).then(|| claim(groups)),
    }
}

/// Whether `user` may have tokens of `scope` for `client`, reading their groups only
/// when the client is restricted or the scope asks for them.
pub async fn admit(
    core: &Core,
    client: &Client,
    user: &UserId,
    scope: &ScopeSet,
) -> Result<Admission, Failure> {
    if !client.is_restricted() && !scope.contains(GROUPS) {
        return Ok(Admission::Admitted { claim: None });
    }
    let groups = groups_of(core, user).await?;
    let admission = decide(client, &groups, scope);
    if admission == Admission::NotAMember {
        tracing::info!(event = "group_access_refused", client_id = %client.id, subject = %user, "the person is in none of the client's allowed groups");
    }
    Ok(admission)
}

/// Whether `user` may use `client` at all (sign-in and device approval).
pub async fn may_use(core: &Core, client: &Client, user: &UserId) -> Result<bool, Failure> {
    Ok(admit(core, client, user, &ScopeSet::default()).await? != Admission::NotAMember)
}

#[cfg(test)]
mod tests {
    use usher_domain::{ClientRegistration, RegistrationInput, UnixTime};

    use super::*;

    fn g(n: &str) -> GroupName {
        GroupName::parse(n).unwrap()
    }

    fn client(groups: &[&str]) -> Client {
        Client {
            id: usher_domain::ClientId::parse("app").unwrap(),
            secret_hash: None,
            registration: ClientRegistration::new(RegistrationInput {
                name: "App".into(),
                redirect_uris: vec!["https://app.example/cb".into()],
                allowed_groups: groups.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            })
            .unwrap(),
            created_at: UnixTime(0),
        }
    }

    fn scope(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn the_claim_comes_only_with_the_groups_scope_and_is_sorted() {
        let open = client(&[]);
        let mine = [g("sales"), g("Ops"), g("eng")];
        assert_eq!(
            decide(&open, &mine, &scope("openid groups")),
            Admission::Admitted {
                claim: Some(vec!["Ops".into(), "eng".into(), "sales".into()])
            }
        );
        assert_eq!(
            decide(&open, &mine, &scope("openid profile")),
            Admission::Admitted { claim: None }
        );
        assert_eq!(
            decide(&open, &[], &scope("openid groups")),
            Admission::Admitted {
                claim: Some(vec![])
            }
        );
    }

    #[test]
    fn a_restricted_client_admits_only_members_of_one_of_its_groups() {
        let hr = client(&["hr", "admins"]);
        assert_eq!(
            decide(&hr, &[g("sales")], &scope("openid")),
            Admission::NotAMember
        );
        assert_eq!(
            decide(&hr, &[], &scope("openid groups")),
            Admission::NotAMember
        );
        assert_eq!(
            decide(&hr, &[g("admins"), g("sales")], &scope("openid groups")),
            Admission::Admitted {
                claim: Some(vec!["admins".into(), "sales".into()])
            }
        );
    }
}
