//! People: list, show (with their second factors, never a secret), create, update,
//! disable and enable, delete, set a password, reset the second factors, end every
//! session — `usher user …`, `/admin/api/v1/people` and the console. Ending a person's sign-ins is [`crate::everywhere`]'s, the
//! one place that does it for every reason.

use usher_domain::{
    Email, Password, PersonName, PhoneNumber, PreferredUsername, ProfileClaims, StoreError, User,
    UserId, Username,
};

use super::page::{Page, PageRequest, paginate};
use super::{AdminError, AdminStores, By, rfc3339};
use crate::Core;
use crate::failure::Failure;
use usher_domain::AuditKind;

/// A person as shown: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PersonView {
    pub id: String,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    /// The postal address's members (OIDC Core §5.1.1), when there is one.
    #[schema(value_type = Option<Object>)]
    pub address: Option<serde_json::Value>,
    pub created_at: String,
    /// Disabled by an administrator: refused at every sign-in and token grant.
    pub disabled: bool,
    /// When it was disabled (RFC 3339), while it is.
    pub disabled_at: Option<String>,
}

impl PersonView {
    pub fn of(u: &User) -> PersonView {
        PersonView {
            id: u.id.as_str().to_owned(),
            username: u.username.as_str().to_owned(),
            name: u.name.as_ref().map(|n| n.as_str().to_owned()),
            email: u.email.as_ref().map(|e| e.as_str().to_owned()),
            email_verified: u.email_verified,
            preferred_username: u
                .profile
                .preferred_username
                .as_ref()
                .map(|p| p.as_str().to_owned()),
            phone_number: u
                .profile
                .phone_number
                .as_ref()
                .map(|p| p.as_str().to_owned()),
            phone_number_verified: u.profile.phone_number_verified,
            address: u
                .profile
                .address
                .as_ref()
                .and_then(|a| serde_json::to_value(a.fields()).ok()),
            created_at: rfc3339(u.created_at),
            disabled: !u.may_sign_in(),
            disabled_at: u.disabled_at.map(rfc3339),
        }
    }
}

/// A person's authenticator app as an administrator may see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AuthenticatorAppView {
    pub confirmed: bool,
    pub created_at: String,
}

/// A passkey as an administrator may see it: never its credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PasskeyView {
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// Refused since its signature counter went backwards (a cloned authenticator?).
    pub suspect: bool,
}

/// A person's second factors: never a secret or a code hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FactorsView {
    pub authenticator_app: Option<AuthenticatorAppView>,
    pub recovery_codes_left: usize,
    pub passkeys: Vec<PasskeyView>,
}

/// A person with their second factors and groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PersonDetail {
    #[serde(flatten)]
    pub person: PersonView,
    pub second_factors: FactorsView,
    pub groups: Vec<String>,
}

/// A username as an operator types it (one stored under older rules is still found).
pub fn parse_username(raw: &str) -> Result<Username, AdminError> {
    super::groups::parse_username(raw)
}

fn not_found(username: &Username) -> AdminError {
    AdminError::NotFound(format!("no user {username}"))
}

/// The person `username`.
pub fn find(stores: &AdminStores, username: &Username) -> Result<User, AdminError> {
    stores
        .users
        .find_user(username)?
        .ok_or_else(|| not_found(username))
}

/// One page of the people, by username.
pub fn list(stores: &AdminStores, page: &PageRequest) -> Result<Page<PersonView>, AdminError> {
    let views = stores
        .users
        .list_users()?
        .iter()
        .map(PersonView::of)
        .collect();
    Ok(paginate(views, |v: &PersonView| v.username.as_str(), page))
}

/// The person `username`, their second factors and their groups.
pub fn show(stores: &AdminStores, username: &Username) -> Result<PersonDetail, AdminError> {
    detail_of(stores, &find(stores, username)?)
}

/// `user` with their second factors and groups (the representation whose entity tag
/// `If-Match` names).
fn detail_of(stores: &AdminStores, user: &User) -> Result<PersonDetail, AdminError> {
    let authenticator_app = stores
        .factors
        .get_totp(&user.id)?
        .map(|f| AuthenticatorAppView {
            confirmed: f.confirmed,
            created_at: rfc3339(f.created_at),
        });
    let passkeys = stores
        .passkeys
        .list_passkeys(&user.id)?
        .into_iter()
        .map(|p| PasskeyView {
            name: p.name.as_str().to_owned(),
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
            suspect: p.suspect,
        })
        .collect();
    let groups = stores
        .groups
        .groups_of(&user.id)?
        .iter()
        .map(|g| g.as_str().to_owned())
        .collect();
    Ok(PersonDetail {
        second_factors: FactorsView {
            authenticator_app,
            recovery_codes_left: stores.factors.recovery_codes_left(&user.id)?,
            passkeys,
        },
        person: PersonView::of(user),
        groups,
    })
}

/// A new person: `usher user create`'s options, as text.
#[derive(Debug, Clone, Default)]
pub struct NewPerson {
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
}

/// A parsed [`NewPerson`], ready to be created once a password is hashed.
#[derive(Debug, Clone)]
pub struct CheckedPerson {
    username: Username,
    name: Option<PersonName>,
    email: Option<Email>,
    email_verified: bool,
    profile: ProfileClaims,
}

fn invalid(e: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(e.to_string())
}

impl CheckedPerson {
    pub fn username(&self) -> &Username {
        &self.username
    }
}

impl NewPerson {
    /// Parses every field and checks the rules between them (before anything is opened).
    pub fn check(self) -> Result<CheckedPerson, AdminError> {
        // Today's rules, not the lookup's (which still finds a name stored under older
        // ones): a new name with invisible formatting characters is refused.
        let username = Username::parse(&self.username).map_err(invalid)?;
        let email = self
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(invalid)?;
        let name = self
            .name
            .as_deref()
            .map(PersonName::parse)
            .transpose()
            .map_err(invalid)?;
        if self.email_verified && email.is_none() {
            return Err(invalid("--email-verified needs --email"));
        }
        let profile = ProfileClaims {
            preferred_username: self
                .preferred_username
                .as_deref()
                .map(PreferredUsername::parse)
                .transpose()
                .map_err(invalid)?,
            phone_number: self
                .phone_number
                .as_deref()
                .map(PhoneNumber::parse)
                .transpose()
                .map_err(invalid)?,
            phone_number_verified: self.phone_number_verified,
            address: None,
        };
        if self.phone_number_verified && profile.phone_number.is_none() {
            return Err(invalid("--phone-number-verified needs --phone-number"));
        }
        Ok(CheckedPerson {
            username,
            name,
            email,
            email_verified: self.email_verified,
            profile,
        })
    }
}

fn taken(username: &Username) -> AdminError {
    AdminError::Conflict(format!("username {username} is taken"))
}

/// Whether `username` is free (a cheap check before a password is hashed).
pub fn require_free(stores: &AdminStores, username: &Username) -> Result<(), AdminError> {
    match stores.users.find_user(username)? {
        Some(_) => Err(taken(username)),
        None => Ok(()),
    }
}

/// A person marked verified at an address another person has verified is refused: reset
/// links for both would go to one mailbox (self-service verification refuses the same,
/// `mail::verified_elsewhere`).
fn require_unverified_elsewhere(stores: &AdminStores, user: &User) -> Result<(), AdminError> {
    let (true, Some(email)) = (user.email_verified, &user.email) else {
        return Ok(());
    };
    let owners = stores.mail.find_users_by_email(email)?;
    if owners.iter().any(|o| o.email_verified && o.id != user.id) {
        return Err(AdminError::Conflict(format!(
            "another person has verified {}: an address can be verified for one person only (leave it unverified, or change the other person first)",
            email.as_str()
        )));
    }
    Ok(())
}

/// Creates the person `checked` with the argon2id `password_hash` (hashed by the caller:
/// the node's bounded password pool, or the CLI's own thread).
pub fn create(
    stores: &AdminStores,
    checked: CheckedPerson,
    password_hash: String,
    by: &By,
) -> Result<User, AdminError> {
    let now = by.at;
    require_free(stores, &checked.username)?;
    let id = UserId::parse(&uuid::Uuid::new_v4().to_string())
        .ok_or(AdminError::Failure(Failure::Internal))?;
    let user = User {
        id,
        username: checked.username,
        password_hash,
        name: checked.name,
        email: checked.email,
        email_verified: checked.email_verified,
        profile: checked.profile,
        created_at: now,
        disabled_at: None,
    };
    require_unverified_elsewhere(stores, &user)?;
    let inserted = stores.audited(|tx| {
        tx.insert_user(&user)?;
        tx.record(
            &by.event(AuditKind::PersonCreated)
                .person(&user.id)
                .detail(serde_json::json!({ "after": PersonView::of(&user) })),
        )
    });
    match inserted {
        Ok(_) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(taken(&user.username)),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the person `username` from a node: every session and refresh-token family
/// ends first (a family in Redis would outlive the row, and other nodes' cached copy of
/// the person would let it refresh for a moment), then the row goes.
pub async fn delete_person(core: &Core, username: &Username, by: &By) -> Result<(), AdminError> {
    let stores = AdminStores::of(core);
    let who = username.clone();
    let user = super::run(move || find(&stores, &who)).await?;
    crate::everywhere::end_person(core, &user.id, crate::everywhere::Why::Administrator)
        .await
        .map_err(AdminError::Failure)?;
    let stores = AdminStores::of(core);
    let who = username.clone();
    let by = by.clone();
    super::run(move || delete(&stores, &who, &by)).await?;
    core.forget_user(&user.id);
    Ok(())
}

/// Deletes the person `username`; the apps that got tokens through their sessions are
/// told first (Back-Channel Logout: deleting the person deletes those records).
pub fn delete(stores: &AdminStores, username: &Username, by: &By) -> Result<(), AdminError> {
    let found = stores.users.find_user(username)?;
    if let Some(user) = &found {
        stores.backchannel.queue_user_logouts(&user.id, by.at)?;
    }
    let deleted = stores.audited(|tx| {
        let deleted = tx.delete_user(username)?;
        if let (true, Some(user)) = (deleted, &found) {
            // Only who it was: the trail outlives the person, and their address, phone
            // and postal address must not (the trail is personal data:
            // docs/design/audit.md).
            tx.record(
                &by.event(AuditKind::PersonDeleted)
                    .person(&user.id)
                    .detail(serde_json::json!({ "username": user.username.as_str() })),
            )?;
        }
        Ok(deleted)
    })?;
    if !deleted {
        return Err(not_found(username));
    }
    tracing::info!(user = %username, "person deleted by an administrator");
    Ok(())
}

/// Writes `event` from an async operation (on the blocking pool; see
/// [`AdminStores::note`]).
async fn note(core: &Core, event: usher_domain::AuditEvent) {
    let stores = AdminStores::of(core);
    let _ = super::run(move || {
        stores.note(event);
        Ok(())
    })
    .await;
}

/// What ending a person's sign-ins did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SessionsEnded {
    pub username: String,
    pub sessions_ended: usize,
}

/// Ends every browser session and refresh-token family of `username`.
pub async fn revoke_sessions(
    core: &Core,
    username: &Username,
    by: &By,
) -> Result<SessionsEnded, AdminError> {
    let stores = AdminStores::of(core);
    let who = username.clone();
    let user = super::run(move || find(&stores, &who)).await?;
    let ended =
        crate::everywhere::end_person(core, &user.id, crate::everywhere::Why::Administrator)
            .await
            .map_err(AdminError::Failure)?;
    core.forget_user(&user.id);
    note(
        core,
        by.event(AuditKind::SessionsRevoked)
            .person(&user.id)
            .detail(serde_json::json!({ "sessions_ended": ended.sessions })),
    )
    .await;
    Ok(SessionsEnded {
        username: username.as_str().to_owned(),
        sessions_ended: ended.sessions,
    })
}

/// What resetting the second factors did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FactorsReset {
    pub username: String,
    /// The authenticator app and recovery codes removed.
    pub factors_removed: usize,
    pub sessions_ended: usize,
}

/// Removes every second factor (authenticator app, recovery codes) of `username`, then
/// ends their sessions: for a person who lost their authenticator app.
pub async fn reset_factors(
    core: &Core,
    username: &Username,
    by: &By,
) -> Result<FactorsReset, AdminError> {
    let stores = AdminStores::of(core);
    let who = username.clone();
    let by_now = by.clone();
    let (user, removed) = super::run(move || {
        let user = find(&stores, &who)?;
        // The factors go first: once they are gone no sign-in can pass with them, and
        // the sessions that did are ended next.
        let removed = stores.audited(|tx| {
            let removed = tx.delete_factors(&user.id)?;
            tx.record(
                &by_now
                    .event(AuditKind::MfaReset)
                    .person(&user.id)
                    .detail(serde_json::json!({ "factors_removed": removed })),
            )?;
            Ok(removed)
        })?;
        Ok((user, removed))
    })
    .await?;
    tracing::warn!(event = "mfa_reset", sub = %user.id, removed, "every second factor of a person removed by an administrator");
    let ended =
        crate::everywhere::end_person(core, &user.id, crate::everywhere::Why::Administrator)
            .await
            .map_err(AdminError::Failure)?;
    Ok(FactorsReset {
        username: username.as_str().to_owned(),
        factors_removed: removed,
        sessions_ended: ended.sessions,
    })
}

/// A change made whose sessions could not all be ended (the family store did not
/// answer): the caller must know the change stands and what to retry.
fn incomplete(what: &str, username: &Username) -> AdminError {
    AdminError::Incomplete(format!(
        "{what} of {username} changed, but their sessions were not all ended: end them with DELETE /admin/api/v1/people/{username}/sessions (or `usher user revoke-sessions {username}`) once the family store answers"
    ))
}

/// What setting a password did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PasswordSet {
    pub username: String,
    pub password_changed: bool,
    /// `null` when the sessions were kept.
    pub sessions_ended: Option<usize>,
}

/// Sets the password of `username`; unless `keep_sessions`, then ends their sessions (a
/// new password usually means the old one may be known to someone else). The password
/// changes first, so nobody signs in with the old one after the sessions ended.
pub async fn set_password(
    core: &Core,
    username: &Username,
    password: Password,
    keep_sessions: bool,
    by: &By,
) -> Result<PasswordSet, AdminError> {
    let stores = AdminStores::of(core);
    let who = username.clone();
    let user = super::run(move || find(&stores, &who)).await?;
    // On the node's bounded password pool: argon2id takes memory, and many concurrent
    // requests must queue or be refused, not grow the process.
    let hash = core
        .passwords
        .hash_new(password)
        .await
        .map_err(AdminError::Failure)?;
    let stores = AdminStores::of(core);
    let who = username.clone();
    let id = user.id.clone();
    let event = by
        .event(AuditKind::PasswordChanged)
        .person(&user.id)
        .detail(serde_json::json!({ "by_administrator": true, "sessions_kept": keep_sessions }));
    super::run(move || {
        // The same person as found (not one created under the name meanwhile).
        match stores.users.find_user(&who)? {
            Some(now) if now.id == id => {}
            _ => return Err(not_found(&who)),
        }
        let set = stores.audited(|tx| {
            let set = tx.set_password_hash(&who, &hash)?;
            if set {
                tx.record(&event)?;
            }
            Ok(set)
        })?;
        if !set {
            return Err(not_found(&who));
        }
        Ok(())
    })
    .await?;
    core.forget_user(&user.id);
    tracing::warn!(sub = %user.id, "password set by an administrator");
    let sessions_ended = if keep_sessions {
        None
    } else {
        Some(
            crate::everywhere::end_person(core, &user.id, crate::everywhere::Why::Administrator)
                .await
                .map_err(|_| incomplete("the password", username))?
                .sessions,
        )
    };
    Ok(PasswordSet {
        username: username.as_str().to_owned(),
        password_changed: true,
        sessions_ended,
    })
}

// ---- Update ----

/// A change to a person: `usher user update`'s options and the API's `PATCH`, as text.
/// `None` leaves a field as it is; `Some(None)` removes it (the API's `null`, the CLI's
/// `--no-…`); the username and the password are changed elsewhere (never here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonChange {
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub email_verified: Option<bool>,
    pub preferred_username: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub phone_number_verified: Option<bool>,
}

/// A parsed [`PersonChange`] (every value through the parsers `create` uses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedChange {
    name: Option<Option<PersonName>>,
    email: Option<Option<Email>>,
    email_verified: Option<bool>,
    preferred_username: Option<Option<PreferredUsername>>,
    phone_number: Option<Option<PhoneNumber>>,
    phone_number_verified: Option<bool>,
}

/// `Some(Some(raw))` parsed by `parse`; `None` and `Some(None)` kept.
fn parse_field<T, E: std::fmt::Display>(
    raw: Option<Option<String>>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<Option<T>>, AdminError> {
    match raw {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(v)) => parse(&v).map(|t| Some(Some(t))).map_err(invalid),
    }
}

impl PersonChange {
    /// Parses every given field (before anything is opened). Nothing given is refused.
    pub fn check(self) -> Result<CheckedChange, AdminError> {
        if self == PersonChange::default() {
            return Err(invalid(
                "nothing to change: give --name, --email, --email-verified, --preferred-username, --phone-number or --phone-number-verified (or --no-name, --no-email, --no-preferred-username, --no-phone-number)",
            ));
        }
        Ok(CheckedChange {
            name: parse_field(self.name, PersonName::parse)?,
            email: parse_field(self.email, Email::parse)?,
            email_verified: self.email_verified,
            preferred_username: parse_field(self.preferred_username, PreferredUsername::parse)?,
            phone_number: parse_field(self.phone_number, PhoneNumber::parse)?,
            phone_number_verified: self.phone_number_verified,
        })
    }
}

impl CheckedChange {
    /// `current` as the change leaves it, under `create`'s rules between the fields (and
    /// its texts): an address or number marked verified must be there. A new or removed
    /// address or number is not verified unless the change says so.
    pub fn apply(&self, current: &User) -> Result<User, AdminError> {
        let mut after = current.clone();
        if let Some(name) = &self.name {
            after.name = name.clone();
        }
        if let Some(email) = &self.email {
            if *email != after.email {
                after.email_verified = false;
            }
            after.email = email.clone();
        }
        if let Some(verified) = self.email_verified {
            after.email_verified = verified;
        }
        if after.email_verified && after.email.is_none() {
            return Err(invalid("--email-verified needs --email"));
        }
        let profile = &mut after.profile;
        if let Some(preferred) = &self.preferred_username {
            profile.preferred_username = preferred.clone();
        }
        if let Some(number) = &self.phone_number {
            if *number != profile.phone_number {
                profile.phone_number_verified = false;
            }
            profile.phone_number = number.clone();
        }
        if let Some(verified) = self.phone_number_verified {
            profile.phone_number_verified = verified;
        }
        if profile.phone_number_verified && profile.phone_number.is_none() {
            return Err(invalid("--phone-number-verified needs --phone-number"));
        }
        Ok(after)
    }
}

/// The audit event of a change from `before` to `after` (their views: never a secret).
pub fn updated_event(by: &By, before: &User, after: &User) -> usher_domain::AuditEvent {
    by.event(AuditKind::PersonUpdated)
        .person(&after.id)
        .detail(serde_json::json!({
            "before": PersonView::of(before),
            "after": PersonView::of(after),
        }))
}

/// Changes the person `username` as `change` says. With `if_match`, only while their
/// representation (the [`PersonDetail`] `show` gives) still has that entity tag; either
/// way the write is a compare-and-set of the profile the change started from, so two
/// administrators never overwrite each other silently ([`AdminError::Stale`]). Returns
/// the person as now stored. A change that changes nothing writes nothing.
pub fn update(
    stores: &AdminStores,
    username: &Username,
    change: &CheckedChange,
    if_match: Option<&str>,
    by: &By,
) -> Result<PersonDetail, AdminError> {
    let before = find(stores, username)?;
    super::check_if_match(if_match, &detail_of(stores, &before)?)?;
    let after = change.apply(&before)?;
    if after == before {
        return detail_of(stores, &before);
    }
    if after.email_verified && (after.email != before.email || !before.email_verified) {
        require_unverified_elsewhere(stores, &after)?;
    }
    let event = updated_event(by, &before, &after);
    let wrote = stores.audited(|tx| {
        let wrote = tx.update_person_if(&before, &after)?;
        if wrote {
            tx.record(&event)?;
        }
        Ok(wrote)
    })?;
    if !wrote {
        // Gone, or changed between the read and the write.
        return match stores.users.get_user(&before.id)? {
            None => Err(not_found(username)),
            Some(_) => Err(AdminError::Stale),
        };
    }
    tracing::info!(sub = %before.id, "person updated by an administrator");
    show(stores, username)
}

/// [`update`] on a node: this node's copy of the person is forgotten, and a changed
/// e-mail address takes the person's unused reset and address-change links with it (they
/// were mailed to, or asked for from, the old one). Other nodes see the change within
/// `cache_ttl`.
pub async fn update_person(
    core: &Core,
    username: &Username,
    change: CheckedChange,
    if_match: Option<String>,
    by: &By,
) -> Result<PersonDetail, AdminError> {
    let stores = AdminStores::of(core);
    let who = username.clone();
    let by = by.clone();
    let email_changed = change.email.is_some();
    let before = {
        let stores = stores.clone();
        let who = who.clone();
        super::run(move || find(&stores, &who)).await?
    };
    let after =
        super::run(move || update(&stores, &who, &change, if_match.as_deref(), &by)).await?;
    core.forget_user(&before.id);
    if email_changed && after.person.email != PersonView::of(&before).email {
        let mail = core.stores.mail.clone();
        let owner = before.id.clone();
        crate::failure::blocking(move || {
            usher_domain::MailPurpose::TAKEOVER
                .into_iter()
                .try_for_each(|purpose| mail.delete_mail_tokens(&owner, purpose).map(|_| ()))
        })
        .await
        .map_err(|_| {
            AdminError::Incomplete(format!(
                "the e-mail address of {username} changed, but the links mailed to the old one were not all voided: end their sessions (DELETE /admin/api/v1/people/{username}/sessions or `usher user revoke-sessions {username}`), which voids them, once the store answers"
            ))
        })?;
    }
    Ok(after)
}

// ---- Disable and enable ----

/// The audit event of disabling `user`.
pub fn disabled_event(by: &By, user: &User) -> usher_domain::AuditEvent {
    by.event(AuditKind::PersonDisabled)
        .person(&user.id)
        .detail(serde_json::json!({ "username": user.username.as_str() }))
}

/// The audit event of enabling `user` again.
pub fn enabled_event(by: &By, user: &User) -> usher_domain::AuditEvent {
    by.event(AuditKind::PersonEnabled)
        .person(&user.id)
        .detail(serde_json::json!({ "username": user.username.as_str() }))
}

/// Sets whether `username` is disabled (`Some(at)`) or not (`None`), writing the event
/// when it changed. Returns the person as found and whether it changed.
fn set_disabled(
    stores: &AdminStores,
    username: &Username,
    at: Option<usher_domain::UnixTime>,
    by: &By,
) -> Result<(User, bool), AdminError> {
    let user = find(stores, username)?;
    let event = match at {
        Some(_) => disabled_event(by, &user),
        None => enabled_event(by, &user),
    };
    let changed = stores.audited(|tx| {
        let changed = tx.set_disabled(&user.id, at)?;
        if changed {
            tx.record(&event)?;
        }
        Ok(changed)
    })?;
    if !changed && stores.users.get_user(&user.id)?.is_none() {
        // Deleted between the read and the write.
        return Err(not_found(username));
    }
    Ok((user, changed))
}

/// Disables the person `username`: from now on every sign-in (after the password, so
/// it enumerates nothing), second step, code exchange, refresh, device approval,
/// userinfo and introspection refuses them (`crate::standing`); then every session and
/// refresh-token family of theirs ends. Disabling a disabled person changes nothing but
/// ends their sessions again (the retry when the family store did not answer). Their
/// access tokens already issued stay valid at resource servers that verify them
/// offline until they expire (at most the access-token lifetime).
pub async fn disable(
    core: &Core,
    username: &Username,
    by: &By,
) -> Result<PersonDetail, AdminError> {
    let stores = AdminStores::of(core);
    let who = username.clone();
    let acting = by.clone();
    let at = by.at;
    let (user, changed) =
        super::run(move || set_disabled(&stores, &who, Some(at), &acting)).await?;
    core.forget_user(&user.id);
    if changed {
        tracing::warn!(event = "person_disabled", sub = %user.id, "person disabled by an administrator");
    }
    crate::everywhere::end_person(core, &user.id, crate::everywhere::Why::Administrator)
        .await
        .map_err(|_| {
            AdminError::Incomplete(format!(
                "{username} is disabled, but their sessions were not all ended: disable them again (POST /admin/api/v1/people/{username}/disable, or `usher user disable {username}`) once the family store answers"
            ))
        })?;
    let stores = AdminStores::of(core);
    let who = username.clone();
    super::run(move || show(&stores, &who)).await
}

/// Enables the person `username` again: they may sign in (with what they had; nothing
/// ended by disabling them comes back). Enabling one who is not disabled changes nothing.
pub async fn enable(core: &Core, username: &Username, by: &By) -> Result<PersonDetail, AdminError> {
    let stores = AdminStores::of(core);
    let who = username.clone();
    let acting = by.clone();
    let (user, changed) = super::run(move || set_disabled(&stores, &who, None, &acting)).await?;
    core.forget_user(&user.id);
    if changed {
        tracing::info!(event = "person_enabled", sub = %user.id, "person enabled by an administrator");
    }
    let stores = AdminStores::of(core);
    let who = username.clone();
    super::run(move || show(&stores, &who)).await
}

#[cfg(test)]
#[path = "people_tests.rs"]
mod tests;
