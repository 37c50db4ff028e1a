//! Mail to people and the single-use links it carries: the forgotten password and the
//! verification of an address (issue 15; docs/design/accounts.md has the flows and their
//! threats).
//!
//! - **Forgotten password.** [`forgot`] answers every well-formed request the same way,
//!   whether or not the address has an account: on the request path it only counts the
//!   request against the client address (throttle) and hands the rest to a task,
//!   [`send_reset_links`], which looks the address up, counts it against the address and
//!   each account, and queues a mail per person whose *verified* address it is. The
//!   answer's timing therefore says nothing about the address either.
//! - A link is `ISSUER/password/reset?token=T`: T is 256 random bits; only SHA-256(T) is
//!   stored ([`usher_domain::MailToken`]), for 30 minutes. Opening the link shows a form
//!   ([`reset_form`]) and spends nothing (mail scanners open links); posting it
//!   ([`reset`]) takes the form's CSRF token (bound to the link), checks the new password,
//!   then takes the link with one `DELETE … RETURNING` (of any number of posts, one
//!   wins), sets the password, deletes the person's other reset links, and ends every
//!   session and refresh family ([`crate::everywhere::end_person`]). Second factors stay.
//! - **Verification.** [`send_verification`] mails a link to an unverified address (the
//!   account page calls it when an address is added or changed); [`verify_email`] takes
//!   it and marks the address verified only if it is still the person's, so
//!   `email_verified` in ID tokens and userinfo follows. A link that confirms a NEW
//!   address (purpose `change_email`, mailed by the account page's Profile,
//!   [`crate::account::profile`]) opens the same page; taking it switches the address.
//!
//! Mail goes through [`Mailing`]: the templates ([`Compose`]) and the outbox
//! ([`Outbox`]), which never blocks the request path. Links never reach a log line.

use std::sync::{Arc, Mutex};

use usher_domain::{
    Compose, Email, Letter, Mail, MailError, MailPurpose, MailToken, NewSignIn, Outbox,
    RESET_LINK_TTL, Reservation, SecurityAlert, ThrottlePolicy, User, UserId, VERIFY_LINK_TTL,
};

use crate::Core;
use crate::account::forms::{self, ANONYMOUS, FormPurpose, FormRefusal};
use crate::client_address::ClientAddress;
use crate::everywhere::{self, Why};
use crate::failure::{Failure, blocking};

/// The path a reset link opens (the router serves it at the same constant).
pub const RESET_PATH: &str = "/password/reset";
/// The path "Forgot your password?" leads to.
pub const FORGOT_PATH: &str = "/password/forgot";
/// The path a verification link opens.
pub const VERIFY_PATH: &str = "/account/verify-email";

/// Requests per key (client address, mail address, account) in the throttle's 15-minute
/// window before the key is refused; the lock then starts at 15 minutes.
pub const MAIL_REQUESTS_PER_WINDOW: u32 = 5;
const MAIL_LOCK_SECONDS: i64 = 15 * 60;

/// The length of a link's token: 32 random bytes as base64url without padding.
const TOKEN_LEN: usize = 43;

/// Where mail goes: its templates and its outbox.
#[derive(Clone)]
pub struct Mailing {
    pub compose: Arc<dyn Compose>,
    pub outbox: Arc<dyn Outbox>,
}

impl Mailing {
    /// Composes `letter` for `to` and queues it. A failure is logged (never with the
    /// link) and reported as `false`: mail is best effort, and the person's answer must
    /// not depend on it.
    pub fn post(&self, to: &Email, letter: &Letter) -> bool {
        let sent = self
            .compose
            .compose(to, letter)
            .and_then(|mail| self.outbox.send(mail));
        match sent {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(event = "mail_not_sent", cause = %e, "a mail could not be queued");
                false
            }
        }
    }

    /// For tests: plain composing, and an outbox that keeps every mail
    /// ([`Mailing::sent`]).
    pub fn recording() -> Mailing {
        Mailing {
            compose: Arc::new(PlainCompose),
            outbox: Arc::new(Recorder::default()),
        }
    }
}

/// Words letters in plain text without templates (tests; the binary uses the templates
/// of `usher-http`).
pub struct PlainCompose;

impl Compose for PlainCompose {
    fn compose(&self, to: &Email, letter: &Letter) -> Result<Mail, MailError> {
        let (subject, text) = match letter {
            Letter::PasswordReset { username, link } => (
                "Reset your password",
                format!("Reset the password of {username}: {link}\n"),
            ),
            Letter::VerifyEmail { username, link } => (
                "Confirm your e-mail address",
                format!("Confirm the address of {username}: {link}\n"),
            ),
            Letter::Invitation { link, days, .. } => (
                "You are invited to create an account",
                format!("Create your account within {days} days: {link}\n"),
            ),
            Letter::SignupAttempt { forgot_page } => (
                "Someone tried to create an account with your address",
                format!(
                    "An account already uses this address. Forgot your password? {forgot_page}\n"
                ),
            ),
            Letter::SecurityAlert {
                username,
                alert,
                account_page,
                sign_in,
            } => (
                alert.subject(),
                match sign_in {
                    Some(s) => format!(
                        "{username}: {} at {} from {} with {} {account_page}\n",
                        alert.sentence(),
                        s.at.seconds(),
                        s.address.map(|a| a.to_string()).unwrap_or_default(),
                        s.user_agent.as_ref().map(|u| u.short()).unwrap_or_default(),
                    ),
                    None => format!("{username}: {} {account_page}\n", alert.sentence()),
                },
            ),
        };
        Ok(Mail {
            to: to.clone(),
            subject: subject.to_owned(),
            html: String::new(),
            text,
            link: letter.link().map(str::to_owned),
        })
    }
}

/// An outbox that keeps what it is given (tests).
#[derive(Default)]
pub struct Recorder {
    pub mails: Mutex<Vec<Mail>>,
}

impl Outbox for Recorder {
    fn send(&self, mail: Mail) -> Result<(), MailError> {
        match self.mails.lock() {
            Ok(mut mails) => mails.push(mail),
            Err(poisoned) => poisoned.into_inner().push(mail),
        }
        Ok(())
    }
}

/// What [`forgot`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgot {
    /// "If that address has an account, a link is on its way" (whether or not it has).
    Accepted,
    /// The form was not one Usher showed, or was used already.
    Refused(FormRefusal),
    /// What was typed is not an e-mail address.
    NotAnAddress,
    /// Too many requests from this client address: wait this many seconds.
    Throttled { wait: i64 },
}

fn mail_policy() -> ThrottlePolicy {
    ThrottlePolicy::new(MAIL_REQUESTS_PER_WINDOW, MAIL_LOCK_SECONDS)
}

/// Counts one request against `key` (the mail policy: [`MAIL_REQUESTS_PER_WINDOW`] in
/// the throttle's window); `Some(wait)` when the key is locked.
pub(crate) async fn count(core: &Core, key: String) -> Result<Option<i64>, Failure> {
    let now = core.now();
    let store = core.stores.throttle.clone();
    let policy = mail_policy();
    blocking(move || {
        Ok(match store.reserve_attempt(&key, now, &policy)? {
            Reservation::Granted(_) => None,
            Reservation::Refused { until } => Some((until.seconds() - now.seconds()).max(1)),
        })
    })
    .await
}

/// A form token for the "Forgot your password?" page.
pub async fn forgot_form(core: &Core) -> Result<String, Failure> {
    forms::issue_sealed(core, ANONYMOUS, FormPurpose::PasswordForgot)
}

/// "Forgot your password?" posted: the form's token, the typed address, the client's
/// address. Accepted requests continue in a task of their own ([`send_reset_links`]);
/// the answer is the same whether or not the address has an account.
pub async fn forgot(
    core: &Core,
    form_token: Option<&str>,
    typed: &str,
    address: &ClientAddress,
) -> Result<Forgot, Failure> {
    if let Err(refusal) =
        forms::take_sealed(core, ANONYMOUS, form_token, FormPurpose::PasswordForgot).await?
    {
        return Ok(Forgot::Refused(refusal));
    }
    let Ok(email) = Email::parse(typed.trim()) else {
        return Ok(Forgot::NotAnAddress);
    };
    if let Some(key) = address.throttle_key()
        && let Some(wait) = count(core, format!("reset-{key}")).await?
    {
        return Ok(Forgot::Throttled { wait });
    }
    let task_core = core.clone();
    tokio::spawn(async move {
        if let Err(e) = send_reset_links(&task_core, &email).await {
            tracing::warn!(event = "reset_mail_failed", cause = ?e, "a reset request could not be completed");
        }
    });
    Ok(Forgot::Accepted)
}

/// The work behind an accepted request: counts it against the address typed and each
/// of its accounts, and mails a reset link to each person whose verified address it
/// is. Returns how many links were queued (nothing of it reaches the person asking).
pub async fn send_reset_links(core: &Core, email: &Email) -> Result<usize, Failure> {
    let lower = email.as_str().to_ascii_lowercase();
    if count(core, format!("reset-mail:{lower}")).await?.is_some() {
        tracing::info!(
            event = "reset_throttled",
            per = "address",
            "a password-reset request was throttled"
        );
        return Ok(0);
    }
    let store = core.stores.mail.clone();
    let wanted = email.clone();
    let people = blocking(move || store.find_users_by_email(&wanted)).await?;
    let mut sent = 0;
    for person in people {
        let Some(address) = person.email.clone().filter(|_| person.email_verified) else {
            continue;
        };
        if count(core, format!("reset-user:{}", person.id))
            .await?
            .is_some()
        {
            tracing::info!(event = "reset_throttled", per = "account", sub = %person.id, "a password-reset request was throttled");
            continue;
        }
        let token = issue_link(core, &person, &address, MailPurpose::PasswordReset).await?;
        let letter = Letter::PasswordReset {
            username: person.username.as_str().to_owned(),
            link: link(core, RESET_PATH, &token),
        };
        if core.mail.post(&address, &letter) {
            tracing::info!(event = "reset_mail_queued", sub = %person.id, "a password-reset link was mailed");
            sent += 1;
        }
    }
    Ok(sent)
}

/// Stores a new link for `person` and returns its token.
pub(crate) async fn issue_link(
    core: &Core,
    person: &User,
    address: &Email,
    purpose: MailPurpose,
) -> Result<String, Failure> {
    let (token, token_hash) = crate::secret_pair()?;
    let ttl = match purpose {
        MailPurpose::PasswordReset => RESET_LINK_TTL,
        MailPurpose::VerifyEmail | MailPurpose::ChangeEmail => VERIFY_LINK_TTL,
    };
    let row = MailToken {
        token_hash,
        user_id: person.id.clone(),
        purpose,
        email: address.clone(),
        expires_at: core.now().plus(ttl),
    };
    let store = core.stores.mail.clone();
    blocking(move || store.insert_mail_token(&row)).await?;
    Ok(token)
}

pub(crate) fn link(core: &Core, path: &str, token: &str) -> String {
    format!("{}?token={token}", core.settings.issuer.endpoint(path))
}

pub(crate) fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The stored link of `token` if it is live and for `purpose` (nothing is spent).
async fn live_link(
    core: &Core,
    token: &str,
    purpose: MailPurpose,
) -> Result<Option<MailToken>, Failure> {
    if !well_formed(token) {
        return Ok(None);
    }
    let hash = usher_keys::sha256_b64url(token);
    let store = core.stores.mail.clone();
    let row = blocking(move || store.find_mail_token(&hash)).await?;
    let now = core.now();
    Ok(row.filter(|r| r.purpose == purpose && r.expires_at > now))
}

/// Whether the address a reset link was mailed to is still `person`'s verified one: a
/// link mailed to an address the person has since left (one stored just as a change
/// was confirmed) must not work for whoever holds the old mailbox.
fn still_their_address(person: &User, row: &MailToken) -> bool {
    person.email_verified
        && person
            .email
            .as_ref()
            .is_some_and(|e| e.as_str().eq_ignore_ascii_case(row.email.as_str()))
}

/// The binding of a reset page's form: the link it came from.
pub(crate) fn reset_binding(token: &str) -> String {
    format!("reset:{}", usher_keys::sha256_b64url(token))
}

/// What opening a reset link shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetForm {
    /// The new-password form: for whom, and its CSRF token.
    Show {
        username: String,
        form_token: String,
    },
    /// Unknown, used or expired.
    Invalid,
}

/// Opening a reset link: the form, if the link is live. Spends nothing.
pub async fn reset_form(core: &Core, token: &str) -> Result<ResetForm, Failure> {
    let Some(row) = live_link(core, token, MailPurpose::PasswordReset).await? else {
        return Ok(ResetForm::Invalid);
    };
    let store = core.stores.users.clone();
    let id = row.user_id.clone();
    let Some(person) = blocking(move || store.get_user(&id))
        .await?
        .filter(|p| still_their_address(p, &row))
    else {
        return Ok(ResetForm::Invalid);
    };
    let form_token = forms::issue_sealed(core, &reset_binding(token), FormPurpose::PasswordReset)?;
    Ok(ResetForm::Show {
        username: person.username.as_str().to_owned(),
        form_token,
    })
}

/// What posting the new password did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetOutcome {
    /// The password was changed and every session and refresh family ended.
    Done { username: String },
    /// The new password is not acceptable: show the form again (the link is unspent).
    BadPassword {
        message: String,
        username: String,
        form_token: String,
    },
    /// The form was not the one this link showed, or was used already.
    Refused(FormRefusal),
    /// The link is unknown, used or expired.
    Invalid,
}

/// Posting the reset form: the form's token, then the password's policy (as `usher user
/// set-password`), then the link is taken (one winner), then the change.
pub async fn reset(
    core: &Core,
    token: &str,
    form_token: Option<&str>,
    password: String,
    confirm: &str,
) -> Result<ResetOutcome, Failure> {
    if !well_formed(token) {
        return Ok(ResetOutcome::Invalid);
    }
    let binding = reset_binding(token);
    if let Err(refusal) =
        forms::take_sealed(core, &binding, form_token, FormPurpose::PasswordReset).await?
    {
        return Ok(ResetOutcome::Refused(refusal));
    }
    let password = match crate::passwords::new_password(password, confirm) {
        Ok(p) => p,
        Err(message) => {
            return Ok(match reset_form(core, token).await? {
                ResetForm::Show {
                    username,
                    form_token,
                } => ResetOutcome::BadPassword {
                    message,
                    username,
                    form_token,
                },
                ResetForm::Invalid => ResetOutcome::Invalid,
            });
        }
    };
    let hash = usher_keys::sha256_b64url(token);
    let store = core.stores.mail.clone();
    let Some(row) = blocking(move || store.take_mail_token(&hash)).await? else {
        return Ok(ResetOutcome::Invalid);
    };
    if row.purpose != MailPurpose::PasswordReset || row.expires_at <= core.now() {
        return Ok(ResetOutcome::Invalid);
    }
    let users = core.stores.users.clone();
    let id = row.user_id.clone();
    let Some(person) = blocking(move || users.get_user(&id))
        .await?
        .filter(|p| still_their_address(p, &row))
    else {
        return Ok(ResetOutcome::Invalid);
    };
    let password_hash = core.passwords.hash_new(password).await?;
    // The password first, so nobody signs in with the old one after the sessions end;
    // then the person's other reset links, the login lock, and every sign-in.
    let users = core.stores.users.clone();
    let mail = core.stores.mail.clone();
    let throttle = core.stores.throttle.clone();
    let who = person.clone();
    blocking(move || {
        users.set_password_hash(&who.username, &password_hash)?;
        mail.delete_mail_tokens(&who.id, MailPurpose::PasswordReset)?;
        throttle.clear_failures(&format!("user:{}", who.username.as_str()))
    })
    .await?;
    core.forget_user(&person.id);
    let event = usher_domain::AuditEvent::new(
        core.now(),
        usher_domain::AuditKind::PasswordChanged,
        usher_domain::AuditActor::Person(person.id.clone()),
    )
    .person(&person.id)
    .detail(serde_json::json!({"how": "mailed_reset_link"}));
    crate::audit::record(core, event).await;
    everywhere::end_person(core, &person.id, Why::PasswordReset).await?;
    alert(core, &person.id, SecurityAlert::PasswordChanged).await;
    tracing::info!(event = "password_reset", sub = %person.id, "a password was reset through a mailed link");
    Ok(ResetOutcome::Done {
        username: person.username.as_str().to_owned(),
    })
}

/// Tells the person `user` by mail that `alert` happened to their account, if they have
/// a verified address. Best effort: a failure is logged and never stops what caused the
/// alert. Logged at `info` (`security_alert`) with the person's `sub` only.
pub async fn alert(core: &Core, user: &UserId, alert: SecurityAlert) {
    alert_with(core, user, alert, None).await;
}

/// [`alert`], with the sign-in it is about (when, from which address and browser).
pub async fn alert_with(
    core: &Core,
    user: &UserId,
    alert: SecurityAlert,
    sign_in: Option<NewSignIn>,
) {
    if !alert_allowed(core, user, alert).await {
        return;
    }
    let person = match core.user(user).await {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(_) => {
            tracing::warn!(event = "security_alert_not_sent", sub = %user, alert = alert.as_str(), "the person could not be read");
            return;
        }
    };
    let Some(address) = person.email.clone().filter(|_| person.email_verified) else {
        return;
    };
    post_alert(core, &person, &address, alert, sign_in);
}

/// Tells `person` at `address` (an address they had verified: their old one, when it
/// just changed) that `alert` happened; limited like [`alert`], best effort.
pub(crate) async fn alert_at(core: &Core, person: &User, address: &Email, alert: SecurityAlert) {
    if alert_allowed(core, &person.id, alert).await {
        post_alert(core, person, address, alert, None);
    }
}

/// At most a few alerts of a kind per person in a window (the mail policy): someone
/// repeating a change cannot flood the mailbox and bury the alert that matters.
async fn alert_allowed(core: &Core, user: &UserId, alert: SecurityAlert) -> bool {
    match count(core, format!("alert:{}:{user}", alert.as_str())).await {
        Ok(None) => true,
        Ok(Some(_)) => {
            tracing::info!(event = "security_alert_throttled", sub = %user, alert = alert.as_str(), "a security alert was not mailed: too many lately");
            false
        }
        Err(_) => false,
    }
}

fn post_alert(
    core: &Core,
    person: &User,
    address: &Email,
    alert: SecurityAlert,
    sign_in: Option<NewSignIn>,
) {
    let user = &person.id;
    let letter = Letter::SecurityAlert {
        username: person.username.as_str().to_owned(),
        alert,
        account_page: core
            .settings
            .issuer
            .endpoint(crate::account::client::ACCOUNT_PATH),
        sign_in,
    };
    let sent = core.mail.post(address, &letter);
    tracing::info!(event = "security_alert", sub = %user, alert = alert.as_str(), sent, "the person was told by mail");
}

/// Mails a verification link to `person`'s address, if it has one that is not verified
/// yet (the account page calls this when an address is added or changed; sign-up for a
/// new account). Throttled per account and per address mailed ([`address_key`]): many
/// accounts naming one address cannot flood its mailbox. Returns whether a mail was
/// queued.
pub async fn send_verification(core: &Core, person: &User) -> Result<bool, Failure> {
    let Some(address) = person.email.clone().filter(|_| !person.email_verified) else {
        return Ok(false);
    };
    if count(core, verify_person_key(&person.id)).await?.is_some()
        || count(core, address_key(&address)).await?.is_some()
    {
        tracing::info!(event = "verify_throttled", sub = %person.id, "a verification mail was throttled");
        return Ok(false);
    }
    let token = issue_link(core, person, &address, MailPurpose::VerifyEmail).await?;
    let letter = Letter::VerifyEmail {
        username: person.username.as_str().to_owned(),
        link: link(core, VERIFY_PATH, &token),
    };
    Ok(core.mail.post(&address, &letter))
}

/// The throttle key of the verification and address-change mail of a person.
pub(crate) fn verify_person_key(user: &UserId) -> String {
    format!("verify-user:{user}")
}

/// The throttle key of every mail to an address nobody has proven yet (a verification
/// link, an address change's link, sign-up's "someone tried"): one budget per mailbox,
/// however many accounts or client addresses ask. Reset links (to verified addresses
/// only) have their own (`reset-mail:`), so this one cannot be used up to keep a person
/// from their reset link.
pub(crate) fn address_key(email: &Email) -> String {
    format!("verify-mail:{}", email.as_str().to_ascii_lowercase())
}

/// Whether a person other than `except` has `email` as their verified address: an
/// address is confirmed for one account only, so apps that trust `email_verified` never
/// see two people with one verified address through Usher's own flows.
pub(crate) async fn verified_elsewhere(
    core: &Core,
    email: &Email,
    except: &UserId,
) -> Result<bool, Failure> {
    let store = core.stores.mail.clone();
    let wanted = email.clone();
    let owners = blocking(move || store.find_users_by_email(&wanted)).await?;
    Ok(owners.iter().any(|o| o.email_verified && &o.id != except))
}

/// What opening a verification link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The address is verified now.
    Verified,
    /// A `change_email` link: the person's address is now the one it was mailed to,
    /// verified ([`crate::account::profile::apply_email_change`]).
    Changed,
    /// The link was for an address the person no longer has.
    AddressChanged,
    /// Another account has this address, verified: nothing changed (only the
    /// mailbox's owner, who opened the link, learns it).
    TakenElsewhere,
    /// Unknown, used or expired.
    Invalid,
}

/// Opening a verification link: takes it (once) and marks the address verified if it is
/// still the person's, or, for a link that confirms a new address, makes it the
/// person's address.
pub async fn verify_email(core: &Core, token: &str) -> Result<Verified, Failure> {
    if !well_formed(token) {
        return Ok(Verified::Invalid);
    }
    let hash = usher_keys::sha256_b64url(token);
    let store = core.stores.mail.clone();
    let Some(row) = blocking(move || store.take_mail_token(&hash)).await? else {
        return Ok(Verified::Invalid);
    };
    if row.expires_at <= core.now() {
        return Ok(Verified::Invalid);
    }
    match row.purpose {
        MailPurpose::VerifyEmail => {}
        MailPurpose::ChangeEmail => {
            return crate::account::profile::apply_email_change(core, &row).await;
        }
        MailPurpose::PasswordReset => return Ok(Verified::Invalid),
    }
    if verified_elsewhere(core, &row.email, &row.user_id).await? {
        tracing::info!(event = "email_not_verified", sub = %row.user_id, "a verification link named an address another account has verified");
        return Ok(Verified::TakenElsewhere);
    }
    let store = core.stores.mail.clone();
    let (id, email) = (row.user_id.clone(), row.email.clone());
    let marked = blocking(move || store.mark_email_verified(&id, &email)).await?;
    core.forget_user(&row.user_id);
    Ok(if marked {
        tracing::info!(event = "email_verified", sub = %row.user_id, "an e-mail address was verified");
        Verified::Verified
    } else {
        Verified::AddressChanged
    })
}

/// The id of the person a live reset link belongs to (tests and the account page).
pub async fn reset_link_owner(core: &Core, token: &str) -> Result<Option<UserId>, Failure> {
    Ok(live_link(core, token, MailPurpose::PasswordReset)
        .await?
        .map(|r| r.user_id))
}

#[cfg(test)]
#[path = "mail_tests.rs"]
mod tests;
