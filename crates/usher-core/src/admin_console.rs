//! The admin console (`/admin`, issue 17, docs/design/admin-console.md): who may use it
//! and what its forms may do, as typed outcomes; the pages themselves are
//! `usher-http`'s (`endpoints/admin_console/`).
//!
//! - **Signing in.** The console signs the operator in through Usher's own
//!   `/authorize`, with PKCE, as the built-in first-party client `usher-account`
//!   (`account/client.rs`), returning to [`CONSOLE_PATH`] ([`ReturnTo::Admin`]); it then
//!   knows the operator by the Usher session cookie alone ([`Core::session`]).
//! - **Who may use it.** [`access`] (a page) and [`post`] (a form) answer
//!   [`Access::NotSignedIn`] (sign in first), [`Access::NotAnAdmin`] (403) or
//!   [`Access::Admin`]: the session's person is a member of the built-in group
//!   `usher-admins`, read from the store at every request (never cached), so removing
//!   a member shuts the console at their next click, not at the session's end.
//! - **Forms.** Every page with a form carries one single-use CSRF token bound to the
//!   session ([`FormPurpose::Admin`], `account/forms.rs`); [`post`] takes it before
//!   anything else is decided, so of any number of posts of one form exactly one
//!   proceeds.
//! - **Operations.** The functions below take an [`Admin`] (which only [`access`] and
//!   [`post`] make: holding one proves the gate was passed) and call the same
//!   operations as the CLI and the admin API ([`crate::admin`]), so the rules and the
//!   error texts are theirs. Updates and deletes carry the entity tag of the view the
//!   form was rendered from: a change by someone else meanwhile is
//!   [`AdminError::Stale`], and nothing is written.

use usher_domain::client::RegistrationInput;
use usher_domain::{
    ClientId, GroupDescription, GroupName, Password, ResourceName, ResourceUri, ScopeSet, Session,
    User, Username,
};

use crate::Core;
use crate::account::forms::{self, FormPurpose, FormRefusal};
use crate::account::login::{self, ReturnTo, SignInStart};
use crate::admin::audit::{self, AuditPage, AuditQuery};
use crate::admin::clients::{self, AccessChange, ClientView, Created};
use crate::admin::families::{self, FamilyView};
use crate::admin::groups::{self, GroupSummaryView, GroupView, MembershipView};
use crate::admin::keys::{self, KeyAdmin, KeyView, Retired};
use crate::admin::page::{Page, PageRequest, paginate};
use crate::admin::people::{
    self, FactorsReset, NewPerson, PasswordSet, PersonDetail, PersonView, SessionsEnded,
};
use crate::admin::resources::{self, ReachView, ResourceChange, ResourceView};
use crate::admin::sessions::{self, SessionEnded, SessionsView};
use crate::admin::token::{self, PersonToken, TokenAccess};
use crate::admin::{AdminError, AdminStores, By, etag, run};
use crate::failure::{Failure, blocking};

#[path = "admin_console_invitations.rs"]
mod invitations_and_tokens;
pub use invitations_and_tokens::*;

/// The console's own path (the sign-in returns here).
pub const CONSOLE_PATH: &str = "/admin";

/// A signed-in member of `usher-admins`, as of this request. Only [`access`] and
/// [`post`] make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    session: Session,
    person: User,
    /// The request's client address, for the audit trail (set by the HTTP layer).
    address: Option<String>,
}

impl Admin {
    /// Notes where the request came from (the audit trail's "from where").
    pub fn from_address(&mut self, address: Option<String>) {
        self.address = address;
    }

    /// The audit trail's "who, from where, when" of a change made now.
    pub fn by(&self, core: &Core) -> By {
        By {
            actor: usher_domain::AuditActor::Person(self.person.id.clone()),
            address: self.address.clone(),
            at: core.now(),
        }
    }

    /// The operator.
    pub fn person(&self) -> &User {
        &self.person
    }

    pub fn username(&self) -> &str {
        self.person.username.as_str()
    }

    /// The browser session the console's forms are bound to.
    pub fn session(&self) -> &Session {
        &self.session
    }
}

/// Who is asking for a console page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No live session (or its person is gone): sign in through `/authorize`.
    NotSignedIn,
    /// Signed in, but not a member of `usher-admins` (now): 403.
    NotAnAdmin { username: String },
    /// A member of `usher-admins`.
    Admin(Box<Admin>),
}

/// What a posted console form may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Post {
    /// No live session: sign in (nothing was done).
    NotSignedIn,
    /// The form's token was refused (sent before, another session's, too old …).
    Refused(FormRefusal),
    /// Signed in, but not a member of `usher-admins` (now): 403, nothing done.
    NotAnAdmin { username: String },
    /// Go ahead: the token is spent and the operator is an admin.
    Admin(Box<Admin>),
}

/// Who the session cookie names, and whether they may use the console.
pub async fn access(core: &Core, session_cookie: Option<&str>) -> Result<Access, Failure> {
    let Some(session) = core.session(session_cookie).await? else {
        return Ok(Access::NotSignedIn);
    };
    admit(core, session).await
}

/// The gate of every console form: the session, then the form's token (taken once,
/// before anything else), then membership of `usher-admins`.
pub async fn post(
    core: &Core,
    session_cookie: Option<&str>,
    form_token: Option<&str>,
) -> Result<Post, Failure> {
    let Some(session) = core.session(session_cookie).await? else {
        return Ok(Post::NotSignedIn);
    };
    if let Err(refusal) = forms::take(core, &session, form_token, FormPurpose::Admin).await? {
        tracing::warn!(event = "admin_form_refused", sub = %session.user_id, reason = ?refusal, "an admin console form was refused");
        return Ok(Post::Refused(refusal));
    }
    Ok(match admit(core, session).await? {
        Access::NotSignedIn => Post::NotSignedIn,
        Access::NotAnAdmin { username } => Post::NotAnAdmin { username },
        Access::Admin(admin) => Post::Admin(admin),
    })
}

/// Membership of `usher-admins`, read from the store now.
async fn admit(core: &Core, session: Session) -> Result<Access, Failure> {
    // A disabled person is signed in nowhere (their sessions ended when disabled).
    let Ok(person) = core.active_user(&session.user_id).await? else {
        return Ok(Access::NotSignedIn);
    };
    let groups = core.stores.groups.clone();
    let who = session.user_id.clone();
    let memberships = blocking(move || groups.groups_of(&who)).await?;
    if !memberships.contains(&GroupName::admins()) {
        tracing::info!(event = "admin_console_refused", sub = %session.user_id, "a person outside usher-admins opened the admin console");
        return Ok(Access::NotAnAdmin {
            username: person.username.as_str().to_owned(),
        });
    }
    Ok(Access::Admin(Box::new(Admin {
        session,
        person,
        address: None,
    })))
}

/// Starts the console's sign-in: `/authorize` as the built-in client, back to
/// [`CONSOLE_PATH`].
pub fn sign_in(core: &Core) -> Result<SignInStart, Failure> {
    login::start(core, ReturnTo::Admin, None)
}

/// A new single-use token for the forms of a page rendered for `admin`.
pub async fn form_token(core: &Core, admin: &Admin) -> Result<String, Failure> {
    forms::issue(core, &admin.session, FormPurpose::Admin).await
}

/// Logs a change by the console, with the operator's `sub` only.
fn note(admin: &Admin, what: &str, target: &str) {
    tracing::info!(sub = %admin.person.id, target, "admin console: {what}");
}

/// A view and the entity tag the page's forms carry back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged<T> {
    pub view: T,
    pub etag: String,
}

impl<T: serde::Serialize> Tagged<T> {
    fn of(view: T) -> Tagged<T> {
        let etag = etag(&view);
        Tagged { view, etag }
    }
}

// ---- Clients ----

/// Whether `view` matches the search `query` (a case-insensitive substring of its name
/// or id; an empty query matches all).
fn client_matches(view: &ClientView, query: &str) -> bool {
    let query = query.trim().to_lowercase();
    query.is_empty()
        || view.name.to_lowercase().contains(&query)
        || view.client_id.to_lowercase().contains(&query)
}

/// One page of the clients whose name or id contains `query`, by id.
pub async fn clients(
    core: &Core,
    _admin: &Admin,
    query: String,
    page: PageRequest,
) -> Result<Page<ClientView>, AdminError> {
    let stores = AdminStores::of(core);
    run(move || {
        let views = stores
            .clients
            .list_clients()?
            .iter()
            .map(ClientView::of)
            .filter(|v| client_matches(v, &query))
            .collect();
        Ok(paginate(
            views,
            |v: &ClientView| v.client_id.as_str(),
            &page,
        ))
    })
    .await
}

/// The client `id` (as the operator typed or followed it).
pub async fn client(
    core: &Core,
    _admin: &Admin,
    id: &str,
) -> Result<Tagged<ClientView>, AdminError> {
    let id = clients::parse_id(id)?;
    let stores = AdminStores::of(core);
    let client = run(move || clients::get(&stores, &id)).await?;
    Ok(Tagged::of(ClientView::of(&client)))
}

/// Registers a client; a confidential one's secret is in the answer, only there.
pub async fn create_client(
    core: &Core,
    admin: &Admin,
    input: RegistrationInput,
) -> Result<Created, AdminError> {
    let stores = AdminStores::of(core);
    let hasher = core.secrets.clone();
    let default_audience = core.settings.default_audience.clone();
    let by = admin.by(core);
    let created =
        run(move || clients::create(&stores, &hasher, default_audience.as_deref(), input, &by))
            .await?;
    note(admin, "client created", created.client.id.as_str());
    Ok(created)
}

/// Sets who may use client `id`, only while its view still has the tag `if_match` (the
/// one the form was rendered with).
pub async fn update_client_access(
    core: &Core,
    admin: &Admin,
    id: &str,
    change: AccessChange,
    if_match: &str,
) -> Result<Tagged<ClientView>, AdminError> {
    let id = clients::parse_id(id)?;
    let stores = AdminStores::of(core);
    let tag = if_match.to_owned();
    let target = id.clone();
    let by = admin.by(core);
    let client =
        run(move || clients::update_access(&stores, &target, &change, Some(&tag), &by)).await?;
    note(admin, "client access changed", id.as_str());
    Ok(Tagged::of(ClientView::of(&client)))
}

/// A new secret for client `id` (the old one stops working at once).
pub async fn rotate_secret(core: &Core, admin: &Admin, id: &str) -> Result<String, AdminError> {
    let id: ClientId = clients::parse_id(id)?;
    let stores = AdminStores::of(core);
    let hasher = core.secrets.clone();
    let target = id.clone();
    let by = admin.by(core);
    let secret = run(move || clients::rotate_secret(&stores, &hasher, &target, &by)).await?;
    note(admin, "client secret rotated", id.as_str());
    Ok(secret)
}

/// Deletes client `id`, only while its view still has the tag `if_match`.
pub async fn delete_client(
    core: &Core,
    admin: &Admin,
    id: &str,
    if_match: &str,
) -> Result<(), AdminError> {
    let id = clients::parse_id(id)?;
    let stores = AdminStores::of(core);
    let tag = if_match.to_owned();
    let target = id.clone();
    let by = admin.by(core);
    run(move || clients::delete(&stores, &target, Some(&tag), &by)).await?;
    note(admin, "client deleted", id.as_str());
    Ok(())
}

// ---- Groups ----

/// Every group's name (for the allowed-groups choices), sorted.
pub async fn group_names(core: &Core, _admin: &Admin) -> Result<Vec<String>, AdminError> {
    let stores = AdminStores::of(core);
    run(move || {
        let mut names: Vec<String> = stores
            .groups
            .list_groups()?
            .into_iter()
            .map(|g| g.group.name.as_str().to_owned())
            .collect();
        names.sort();
        Ok(names)
    })
    .await
}

pub async fn groups(
    core: &Core,
    _admin: &Admin,
    page: PageRequest,
) -> Result<Page<GroupSummaryView>, AdminError> {
    let stores = AdminStores::of(core);
    run(move || groups::list(&stores, &page)).await
}

pub async fn group(core: &Core, _admin: &Admin, name: &str) -> Result<GroupView, AdminError> {
    let name = groups::parse_name(name)?;
    let stores = AdminStores::of(core);
    let (group, members) = run(move || groups::show(&stores, &name)).await?;
    Ok(GroupView::of(&group, &members))
}

pub async fn create_group(
    core: &Core,
    admin: &Admin,
    name: &str,
    description: Option<&str>,
) -> Result<GroupView, AdminError> {
    let name = groups::parse_name(name)?;
    let description: Option<GroupDescription> = groups::parse_description(description)?;
    let stores = AdminStores::of(core);
    let by = admin.by(core);
    let group = run(move || groups::create(&stores, name, description, &by)).await?;
    note(admin, "group created", group.name.as_str());
    Ok(GroupView::of(&group, &[]))
}

pub async fn delete_group(core: &Core, admin: &Admin, name: &str) -> Result<(), AdminError> {
    let name = groups::parse_name(name)?;
    let stores = AdminStores::of(core);
    let target = name.clone();
    let by = admin.by(core);
    run(move || groups::delete(&stores, &target, &by)).await?;
    note(admin, "group deleted", name.as_str());
    Ok(())
}

/// Adds (`add`) or removes `username` to or from group `name`.
pub async fn set_member(
    core: &Core,
    admin: &Admin,
    name: &str,
    username: &str,
    add: bool,
) -> Result<MembershipView, AdminError> {
    let name = groups::parse_name(name)?;
    let username: Username = groups::parse_username(username.trim())?;
    let stores = AdminStores::of(core);
    let by = admin.by(core);
    let done = run(move || groups::set_member(&stores, &name, &username, add, &by)).await?;
    if done.changed {
        note(
            admin,
            if add {
                "group member added"
            } else {
                "group member removed"
            },
            &format!("{}/{}", done.group, done.username),
        );
    }
    Ok(done)
}

// ---- Resource servers ----

pub async fn resources(
    core: &Core,
    _admin: &Admin,
    page: PageRequest,
) -> Result<Page<ResourceView>, AdminError> {
    let stores = AdminStores::of(core);
    run(move || resources::list(&stores, &page)).await
}

/// A resource server, tagged, and which clients its scopes reach.
pub async fn resource(
    core: &Core,
    _admin: &Admin,
    uri: &str,
) -> Result<(Tagged<ResourceView>, ReachView), AdminError> {
    let uri = resources::parse_uri(uri)?;
    let stores = AdminStores::of(core);
    let (resource, reach) = run(move || {
        let resource = resources::get(&stores, &uri)?;
        let reach = resources::reach(&stores, &resource)?;
        Ok((resource, reach))
    })
    .await?;
    Ok((Tagged::of(ResourceView::of(&resource)), reach))
}

pub async fn create_resource(
    core: &Core,
    admin: &Admin,
    uri: &str,
    name: Option<&str>,
    scopes: &str,
) -> Result<ResourceView, AdminError> {
    let uri: ResourceUri = resources::parse_uri(uri.trim())?;
    let name: Option<ResourceName> = resources::parse_name(name.filter(|n| !n.is_empty()))?;
    let scopes: ScopeSet = resources::parse_scopes(scopes)?;
    let stores = AdminStores::of(core);
    let issuer = core.settings.issuer.clone();
    let by = admin.by(core);
    let resource = run(move || resources::create(&stores, &issuer, uri, name, scopes, &by)).await?;
    note(admin, "resource server registered", resource.uri.as_str());
    Ok(ResourceView::of(&resource))
}

/// Sets a resource server's name (empty: none) and scopes, only while its view still
/// has the tag `if_match`.
pub async fn update_resource(
    core: &Core,
    admin: &Admin,
    uri: &str,
    name: &str,
    scopes: &str,
    if_match: &str,
) -> Result<Tagged<ResourceView>, AdminError> {
    let uri = resources::parse_uri(uri)?;
    let name = resources::parse_name(Some(name).filter(|n| !n.is_empty()))?;
    let scopes = resources::parse_scopes(scopes)?;
    let change = ResourceChange {
        scopes: Some(scopes),
        name: Some(name),
    };
    let stores = AdminStores::of(core);
    let tag = if_match.to_owned();
    let target = uri.clone();
    let by = admin.by(core);
    let resource =
        run(move || resources::update(&stores, &target, change, Some(&tag), &by)).await?;
    note(admin, "resource server changed", uri.as_str());
    Ok(Tagged::of(ResourceView::of(&resource)))
}

/// Deletes resource server `uri`, only while its view still has the tag `if_match`.
pub async fn delete_resource(
    core: &Core,
    admin: &Admin,
    uri: &str,
    if_match: &str,
) -> Result<(), AdminError> {
    let uri = resources::parse_uri(uri)?;
    let stores = AdminStores::of(core);
    let tag = if_match.to_owned();
    let target = uri.clone();
    let by = admin.by(core);
    run(move || resources::delete(&stores, &target, Some(&tag), &by)).await?;
    note(admin, "resource server deleted", uri.as_str());
    Ok(())
}

// ---- People ----

/// Whether `view` matches the search `query` (a case-insensitive substring of its
/// username, name or e-mail address; an empty query matches all).
fn person_matches(view: &PersonView, query: &str) -> bool {
    let query = query.trim().to_lowercase();
    let has = |v: Option<&str>| v.is_some_and(|v| v.to_lowercase().contains(&query));
    query.is_empty()
        || has(Some(&view.username))
        || has(view.name.as_deref())
        || has(view.email.as_deref())
}

/// One page of the people whose username, name or e-mail contains `query`, by username.
pub async fn people(
    core: &Core,
    _admin: &Admin,
    query: String,
    page: PageRequest,
) -> Result<Page<PersonView>, AdminError> {
    let stores = AdminStores::of(core);
    run(move || {
        let views = stores
            .users
            .list_users()?
            .iter()
            .map(PersonView::of)
            .filter(|v| person_matches(v, &query))
            .collect();
        Ok(paginate(views, |v: &PersonView| v.username.as_str(), &page))
    })
    .await
}

/// The person `username`, their second factors and their groups.
pub async fn person(
    core: &Core,
    _admin: &Admin,
    username: &str,
) -> Result<PersonDetail, AdminError> {
    let username = people::parse_username(username.trim())?;
    let stores = AdminStores::of(core);
    run(move || people::show(&stores, &username)).await
}

/// A text field of a form: blank is absent.
fn given(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn password(raw: &str) -> Result<Password, AdminError> {
    Password::parse(raw.to_owned()).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// Creates a person with a password (the new-person form: blank name or e-mail is none).
pub async fn create_person(
    core: &Core,
    admin: &Admin,
    username: &str,
    new_password: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> Result<PersonView, AdminError> {
    let checked = NewPerson {
        username: username.trim().to_owned(),
        name: given(name),
        email: given(email),
        ..NewPerson::default()
    }
    .check()?;
    let new_password = password(new_password)?;
    let stores = AdminStores::of(core);
    let name = checked.username().clone();
    run(move || people::require_free(&stores, &name)).await?;
    let hash = core
        .passwords
        .hash_new(new_password)
        .await
        .map_err(AdminError::Failure)?;
    let stores = AdminStores::of(core);
    let by = admin.by(core);
    let user = run(move || people::create(&stores, checked, hash, &by)).await?;
    note(admin, "person created", user.username.as_str());
    Ok(PersonView::of(&user))
}

/// Sets the password of `username`; ends their sessions unless `keep_sessions`.
pub async fn set_password(
    core: &Core,
    admin: &Admin,
    username: &str,
    new_password: &str,
    keep_sessions: bool,
) -> Result<PasswordSet, AdminError> {
    let username = people::parse_username(username.trim())?;
    let new_password = password(new_password)?;
    let done = people::set_password(
        core,
        &username,
        new_password,
        keep_sessions,
        &admin.by(core),
    )
    .await?;
    note(admin, "password set", username.as_str());
    Ok(done)
}

/// Removes every second factor of `username` and ends their sessions.
pub async fn reset_factors(
    core: &Core,
    admin: &Admin,
    username: &str,
) -> Result<FactorsReset, AdminError> {
    let username = people::parse_username(username.trim())?;
    let done = people::reset_factors(core, &username, &admin.by(core)).await?;
    note(admin, "second factors reset", username.as_str());
    Ok(done)
}

/// Ends every browser session and refresh-token family of `username`.
pub async fn end_sessions(
    core: &Core,
    admin: &Admin,
    username: &str,
) -> Result<SessionsEnded, AdminError> {
    let username = people::parse_username(username.trim())?;
    let done = people::revoke_sessions(core, &username, &admin.by(core)).await?;
    note(admin, "sessions revoked", username.as_str());
    Ok(done)
}

/// The person `username` and the entity tag their edit form carries back.
pub async fn person_tagged(
    core: &Core,
    admin: &Admin,
    username: &str,
) -> Result<Tagged<PersonDetail>, AdminError> {
    person(core, admin, username).await.map(Tagged::of)
}

/// What the edit form of a person sends: every field, as typed (a blank one removes the
/// value), and the two boxes.
#[derive(Debug, Clone, Default)]
pub struct PersonForm<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub email_verified: bool,
    pub preferred_username: &'a str,
    pub phone_number: &'a str,
    pub phone_number_verified: bool,
}

/// Changes the person `username` as the edit form says, only while their view still has
/// the tag `if_match` (the one the form was rendered with).
pub async fn update_person(
    core: &Core,
    admin: &Admin,
    username: &str,
    form: PersonForm<'_>,
    if_match: &str,
) -> Result<Tagged<PersonDetail>, AdminError> {
    let username = people::parse_username(username.trim())?;
    // The boxes were rendered ticked when the stored address (number) is verified: a
    // box left as it was says nothing about a *new* address, which must not become
    // verified because nobody unticked it (a reset link would then be mailed to it). A
    // changed address is unverified unless its box was ticked now, where it was not.
    let current = person(core, admin, username.as_str()).await?.person;
    let email = given(Some(form.email));
    let phone_number = given(Some(form.phone_number));
    let email_changed = email.as_deref() != current.email.as_deref();
    let phone_changed = phone_number.as_deref() != current.phone_number.as_deref();
    let said = |changed: bool, ticked: bool, was: bool| {
        if changed && ticked == was {
            None
        } else {
            Some(ticked)
        }
    };
    let change = people::PersonChange {
        name: Some(given(Some(form.name))),
        email_verified: said(email_changed, form.email_verified, current.email_verified),
        email: Some(email),
        preferred_username: Some(given(Some(form.preferred_username))),
        phone_number_verified: said(
            phone_changed,
            form.phone_number_verified,
            current.phone_number_verified,
        ),
        phone_number: Some(phone_number),
    }
    .check()?;
    let detail = people::update_person(
        core,
        &username,
        change,
        Some(if_match.to_owned()),
        &admin.by(core),
    )
    .await?;
    note(admin, "person updated", username.as_str());
    Ok(Tagged::of(detail))
}

/// Disables the person `username` and ends their sessions.
pub async fn disable_person(
    core: &Core,
    admin: &Admin,
    username: &str,
) -> Result<PersonDetail, AdminError> {
    let username = people::parse_username(username.trim())?;
    if username == admin.person.username {
        return Err(AdminError::Conflict(
            "you cannot disable yourself: ask another administrator".to_owned(),
        ));
    }
    let done = people::disable(core, &username, &admin.by(core)).await?;
    note(admin, "person disabled", username.as_str());
    Ok(done)
}

/// Enables the person `username` again.
pub async fn enable_person(
    core: &Core,
    admin: &Admin,
    username: &str,
) -> Result<PersonDetail, AdminError> {
    let username = people::parse_username(username.trim())?;
    let done = people::enable(core, &username, &admin.by(core)).await?;
    note(admin, "person enabled", username.as_str());
    Ok(done)
}

/// Deletes the person `username` (their sessions end first).
pub async fn delete_person(core: &Core, admin: &Admin, username: &str) -> Result<(), AdminError> {
    let username = people::parse_username(username.trim())?;
    people::delete_person(core, &username, &admin.by(core)).await?;
    note(admin, "person deleted", username.as_str());
    Ok(())
}

// ---- Signing keys ----

/// The key operations of this node, or the refusal when it cannot make them.
fn key_ops(core: &Core) -> Result<std::sync::Arc<dyn KeyAdmin>, AdminError> {
    core.key_admin
        .clone()
        .ok_or_else(|| AdminError::Conflict("this node cannot change signing keys".to_owned()))
}

/// Every signing key, by creation; `None` when this node cannot manage them.
pub async fn signing_keys(core: &Core, _admin: &Admin) -> Result<Option<Vec<KeyView>>, AdminError> {
    let Some(ops) = core.key_admin.clone() else {
        return Ok(None);
    };
    let listed = run(move || ops.list()).await?;
    Ok(Some(listed.iter().map(KeyView::of).collect()))
}

/// The algorithms of the rotate form: blank or `all` is every one.
pub fn key_algs(raw: Option<&str>) -> Result<Vec<usher_domain::SigningAlg>, AdminError> {
    match raw.map(str::trim) {
        None | Some("") | Some("all") => keys::parse_algs(None),
        Some(alg) => keys::parse_algs(Some(alg)),
    }
}

/// What a rotation did: the key ids that now wait to sign (on schedule) or sign (at
/// once), per algorithm.
pub async fn rotate_keys(
    core: &Core,
    admin: &Admin,
    alg: Option<&str>,
    at_once: bool,
) -> Result<Vec<(String, String)>, AdminError> {
    let algs = key_algs(alg)?;
    let ops = key_ops(core)?;
    let by = admin.by(core);
    let done = run(move || {
        let mut done = Vec::new();
        for alg in algs {
            if at_once {
                let p = ops.promote_now(alg, &by)?;
                done.push((p.alg, p.active.kid));
            } else {
                let n = ops.publish_next(alg, &by)?;
                done.push((n.key.alg, n.key.kid));
            }
        }
        Ok(done)
    })
    .await?;
    note(
        admin,
        if at_once {
            "keys promoted now"
        } else {
            "next keys published"
        },
        "keys",
    );
    Ok(done)
}

/// Removes the compromised key `kid` from the JWKS at once.
pub async fn remove_key(core: &Core, admin: &Admin, kid: &str) -> Result<Retired, AdminError> {
    let kid = kid.trim().to_owned();
    keys::check_kid(&kid)?;
    let ops = key_ops(core)?;
    let by = admin.by(core);
    let target = kid.clone();
    let done = run(move || ops.retire(&target, &by)).await?;
    note(admin, "signing key removed", &kid);
    Ok(done)
}

// ---- Refresh-token families ----

/// One page of the refresh-token families of the person `username`.
pub async fn families_of(
    core: &Core,
    _admin: &Admin,
    username: &str,
    page: PageRequest,
) -> Result<Page<FamilyView>, AdminError> {
    let username = people::parse_username(username.trim())?;
    let stores = AdminStores::of(core);
    families::list(
        &stores,
        core.stores.families.as_ref(),
        Some(username),
        None,
        &page,
        core.now(),
    )
    .await
}

/// Revokes the family `id`: its refresh token stops working at once. The trail's one
/// `family.revoked` event (reason `admin`) names the operator, as for the API.
pub async fn revoke_family(core: &Core, admin: &Admin, id: &str) -> Result<(), AdminError> {
    let id = families::parse_id(id.trim())?;
    families::revoke(core.stores.families.as_ref(), &id, &admin.by(core)).await?;
    note(admin, "refresh-token family revoked", id.as_str());
    Ok(())
}

// ---- A person's browser sessions ----

/// The live browser sessions of `username` (one per browser, newest sign-in first).
pub async fn sessions_of(
    core: &Core,
    _admin: &Admin,
    username: &str,
) -> Result<SessionsView, AdminError> {
    let username = people::parse_username(username.trim())?;
    sessions::list_on(core, &username).await
}

/// Ends the browser session `handle` of `username`, as the account page's "sign out"
/// of that browser does.
pub async fn end_session(
    core: &Core,
    admin: &Admin,
    username: &str,
    handle: &str,
) -> Result<SessionEnded, AdminError> {
    let username = people::parse_username(username.trim())?;
    let done = sessions::end(core, &username, handle, &admin.by(core)).await?;
    note(admin, "session ended", username.as_str());
    Ok(done)
}

// ---- The operator's own admin API token ----

/// An admin API token for the operator themselves (`read` or `write`), shown once.
pub async fn admin_token(
    core: &Core,
    admin: &Admin,
    access: &str,
) -> Result<PersonToken, AdminError> {
    let access = TokenAccess::parse(access)?;
    token::mint(core, &admin.person, &admin.session, access, &admin.by(core)).await
}

// ---- The audit trail ----

/// The audit page's filters as the operator typed them (a query string's values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilters {
    pub person: Option<String>,
    pub client: Option<String>,
    pub kind: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// The `next_before` of the previous page.
    pub before: Option<String>,
}

impl AuditFilters {
    /// The admin API's query for these filters: a blank field filters nothing (the
    /// form sends every field); `before` must be an event id.
    pub fn query(&self) -> Result<AuditQuery, AdminError> {
        fn given(v: &Option<String>) -> Option<String> {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        }
        let before = given(&self.before)
            .map(|b| {
                b.parse::<i64>()
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| AdminError::Invalid(format!("{b:?} is not an event id")))
            })
            .transpose()?;
        Ok(AuditQuery {
            person: given(&self.person),
            client: given(&self.client),
            kind: given(&self.kind),
            since: given(&self.since),
            until: given(&self.until),
            before,
            after: None,
            limit: None,
        })
    }
}

/// A page of the audit trail, newest first: the admin API's filters, view and paging.
pub async fn audit(
    core: &Core,
    _admin: &Admin,
    filters: &AuditFilters,
) -> Result<AuditPage, AdminError> {
    let filter = filters
        .query()?
        .filter(usher_domain::AuditOrder::NewestFirst)?;
    let stores = AdminStores::of(core);
    run(move || audit::list(&stores, &filter)).await
}

#[cfg(test)]
#[path = "admin_console_tests.rs"]
mod tests;
