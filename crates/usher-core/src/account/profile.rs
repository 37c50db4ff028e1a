//! "Profile" on the account page (issue 15, docs/design/accounts.md "Profile"): the
//! person's name, preferred username, phone number and postal address (the standard
//! claims the `profile`, `phone` and `address` scopes give apps, OIDC Core §5.4), and
//! their e-mail address.
//!
//! - [`update`] sets the profile from the form: every field parsed into its domain type
//!   (an empty field clears the claim), nothing written unless all of them pass. A new
//!   phone number is unverified (Usher sends no text messages).
//! - [`request_email_change`] never changes the address itself: it mails a single-use
//!   link (purpose `change_email`, 24 hours, only its hash stored) to the NEW address.
//!   [`apply_email_change`] runs when that link's button is posted (the same
//!   `/account/verify-email` page as a verification, [`crate::mail::verify_email`]):
//!   the address switches, verified, with a compare-and-set on the old one; every other
//!   link of the person dies; the old address, if it was verified, is told by a security
//!   alert. Until then the old address stays, and with it reset mail and the
//!   `email`/`email_verified` claims.
//!
//! Both are account changes behind [`super::begin_change`] (live session, single-use
//! form token, recent sign-in, the second factor if the person has one). Whether the
//! address belongs to another account is never looked at: the answer is the same for
//! any address, so the form tells nothing about who has an account.

use usher_domain::{
    Address, AddressFields, Email, Letter, MailPurpose, MailToken, PersonName, PhoneNumber,
    PreferredUsername, ProfileClaims, SecurityAlert, Session, User, UserError, Username,
};

use crate::Core;
use crate::failure::{Failure, blocking};
use crate::mail::{self, Verified};

/// The Profile section as the form shows it: the stored values as text (what the
/// person typed, when a refusal shows the form again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileView {
    pub name: String,
    /// The person's own preferred username; empty when they have none (apps then get
    /// `login_username`).
    pub preferred_username: String,
    pub login_username: String,
    pub phone_number: String,
    pub phone_number_verified: bool,
    pub street_address: String,
    pub locality: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

impl ProfileView {
    /// The stored profile of `user`.
    pub fn of(user: &User) -> ProfileView {
        let text = |v: Option<&str>| v.unwrap_or_default().to_owned();
        let address = user.profile.address.as_ref().map(Address::fields);
        let part =
            |f: fn(&AddressFields) -> &Option<String>| text(address.and_then(|a| f(a).as_deref()));
        ProfileView {
            name: text(user.name.as_ref().map(PersonName::as_str)),
            preferred_username: text(
                user.profile
                    .preferred_username
                    .as_ref()
                    .map(PreferredUsername::as_str),
            ),
            login_username: user.username.as_str().to_owned(),
            phone_number: text(user.profile.phone_number.as_ref().map(PhoneNumber::as_str)),
            phone_number_verified: user.profile.phone_number_verified,
            street_address: part(|a| &a.street_address),
            locality: part(|a| &a.locality),
            region: part(|a| &a.region),
            postal_code: part(|a| &a.postal_code),
            country: part(|a| &a.country),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            email_verified: user.email_verified,
        }
    }

    /// The same view showing what was typed into the form instead of what is stored.
    pub fn with_typed(mut self, form: &ProfileForm<'_>) -> ProfileView {
        self.name = form.name.to_owned();
        self.preferred_username = form.preferred_username.to_owned();
        self.phone_number = form.phone_number.to_owned();
        self.street_address = form.street_address.to_owned();
        self.locality = form.locality.to_owned();
        self.region = form.region.to_owned();
        self.postal_code = form.postal_code.to_owned();
        self.country = form.country.to_owned();
        self
    }
}

/// The Profile form's fields as posted; an empty one clears its claim.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProfileForm<'a> {
    pub name: &'a str,
    pub preferred_username: &'a str,
    pub phone_number: &'a str,
    pub street_address: &'a str,
    pub locality: &'a str,
    pub region: &'a str,
    pub postal_code: &'a str,
    pub country: &'a str,
}

/// What [`update`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Stored.
    Updated,
    /// A field is refused; nothing was stored. The message names the field and the rule.
    Refused(String),
}

/// `None` for an empty (or blank) field, else the parsed value.
fn optional<T>(
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, UserError>,
) -> Result<Option<T>, UserError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        parse(raw).map(Some)
    }
}

/// The form as typed values: the name, and the claims (with the phone number unverified
/// for now), or the message of the first refused field.
fn parse_form(form: &ProfileForm<'_>) -> Result<(Option<PersonName>, ProfileClaims), String> {
    let field = |label: &str, e: UserError| format!("{label}: {e}.");
    let name = optional(form.name, PersonName::parse).map_err(|e| field("Name", e))?;
    let preferred_username = optional(form.preferred_username, PreferredUsername::parse)
        .map_err(|e| field("Preferred username", e))?;
    let phone_number =
        optional(form.phone_number, PhoneNumber::parse).map_err(|e| field("Phone number", e))?;
    let some = |s: &str| Some(s.to_owned());
    let address = Address::from_input(&AddressFields {
        formatted: None,
        street_address: some(form.street_address),
        locality: some(form.locality),
        region: some(form.region),
        postal_code: some(form.postal_code),
        country: some(form.country),
    })
    .map_err(|e| field("Address", e))?;
    Ok((
        name,
        ProfileClaims {
            preferred_username,
            phone_number,
            phone_number_verified: false,
            address,
        },
    ))
}

/// Sets the session's person's profile from the form (the session passed the account
/// gate). All fields or none.
pub async fn update(
    core: &Core,
    session: &Session,
    form: &ProfileForm<'_>,
) -> Result<UpdateOutcome, Failure> {
    let (name, mut claims) = match parse_form(form) {
        Ok(parsed) => parsed,
        Err(message) => return Ok(UpdateOutcome::Refused(message)),
    };
    let users = core.stores.users.clone();
    let id = session.user_id.clone();
    let Some(person) = blocking(move || users.get_user(&id)).await? else {
        return Ok(UpdateOutcome::Refused(
            "Your account no longer exists.".to_owned(),
        ));
    };
    // Not another person's login name: apps that (against OIDC Core §5.7) take
    // `preferred_username` for a local account name would let "admin" be claimed by
    // anyone. Names compare as usernames do: lower case.
    if let Some(wanted) = claims
        .preferred_username
        .as_ref()
        .and_then(|p| Username::parse(p.as_str()).ok())
    {
        let users = core.stores.users.clone();
        let holder = blocking(move || users.find_user(&wanted)).await?;
        if holder.is_some_and(|h| h.id != person.id) {
            return Ok(UpdateOutcome::Refused(
                "Preferred username: this is another account's username; choose another."
                    .to_owned(),
            ));
        }
    }
    // A number that stays keeps its mark (an operator's); a new one is unverified.
    claims.phone_number_verified =
        person.profile.phone_number_verified && person.profile.phone_number == claims.phone_number;
    let users = core.stores.users.clone();
    let id = person.id.clone();
    blocking(move || users.update_profile(&id, name.as_ref(), &claims)).await?;
    core.forget_user(&person.id);
    tracing::info!(event = "profile_updated", sub = %person.id, "the person updated their profile");
    Ok(UpdateOutcome::Updated)
}

/// What [`request_email_change`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailOutcome {
    /// A link was mailed to the new address; the address changes when it is confirmed.
    LinkSent,
    /// It is the person's address already, and verified: nothing to do.
    Unchanged,
    /// It is the person's address already, not verified yet: a verification link was
    /// mailed to it.
    VerificationSent,
    /// What was typed is not an e-mail address.
    NotAnAddress,
    /// Too many links for this person (or to this address) lately: nothing was mailed.
    Throttled,
    /// The mail could not be queued (the outbox is full or closed): try again later.
    NotSent,
}

/// Mails a link that makes `typed` the session's person's address once confirmed (the
/// session passed the account gate). The address itself does not change here.
pub async fn request_email_change(
    core: &Core,
    session: &Session,
    typed: &str,
) -> Result<EmailOutcome, Failure> {
    let Ok(new) = Email::parse(typed.trim()) else {
        return Ok(EmailOutcome::NotAnAddress);
    };
    let users = core.stores.users.clone();
    let id = session.user_id.clone();
    let Some(person) = blocking(move || users.get_user(&id)).await? else {
        return Ok(EmailOutcome::NotSent);
    };
    if person.email.as_ref() == Some(&new) {
        if person.email_verified {
            return Ok(EmailOutcome::Unchanged);
        }
        // `send_verification` counts against the same per-person key.
        return Ok(if mail::send_verification(core, &person).await? {
            EmailOutcome::VerificationSent
        } else {
            EmailOutcome::Throttled
        });
    }
    // Per person (shared with verification mail) and per address mailed: a person
    // cannot make Usher mail a stranger more than a few times, nor can many accounts.
    if mail::count(core, mail::verify_person_key(&person.id))
        .await?
        .is_some()
        || mail::count(core, mail::address_key(&new)).await?.is_some()
    {
        tracing::info!(event = "email_change_throttled", sub = %person.id, "an e-mail change was throttled");
        return Ok(EmailOutcome::Throttled);
    }
    // Only the latest request can take effect.
    let store = core.stores.mail.clone();
    let id = person.id.clone();
    blocking(move || store.delete_mail_tokens(&id, MailPurpose::ChangeEmail)).await?;
    let token = mail::issue_link(core, &person, &new, MailPurpose::ChangeEmail).await?;
    let letter = Letter::VerifyEmail {
        username: person.username.as_str().to_owned(),
        link: mail::link(core, mail::VERIFY_PATH, &token),
    };
    if !core.mail.post(&new, &letter) {
        return Ok(EmailOutcome::NotSent);
    }
    tracing::info!(event = "email_change_requested", sub = %person.id, "a link to confirm a new e-mail address was mailed");
    Ok(EmailOutcome::LinkSent)
}

/// The change a `change_email` link asked for, once its button is posted (the link was
/// taken, once, live and of this purpose, by [`crate::mail::verify_email`]).
pub(crate) async fn apply_email_change(core: &Core, row: &MailToken) -> Result<Verified, Failure> {
    if mail::verified_elsewhere(core, &row.email, &row.user_id).await? {
        tracing::info!(event = "email_not_changed", sub = %row.user_id, "an address change named an address another account has verified");
        return Ok(Verified::TakenElsewhere);
    }
    let mut changed_from = None;
    // A compare-and-set on the address read just before, retried a few times in case
    // an operator changed it in between.
    for _ in 0..3 {
        let users = core.stores.users.clone();
        let id = row.user_id.clone();
        let Some(person) = blocking(move || users.get_user(&id)).await? else {
            return Ok(Verified::Invalid);
        };
        let store = core.stores.mail.clone();
        let (id, old, new) = (person.id.clone(), person.email.clone(), row.email.clone());
        if blocking(move || store.change_email(&id, old.as_ref(), &new)).await? {
            changed_from = Some(person);
            break;
        }
    }
    let Some(before) = changed_from else {
        return Ok(Verified::Invalid);
    };
    // Links mailed to the old address, or for an older request, die with the change.
    let store = core.stores.mail.clone();
    let id = before.id.clone();
    blocking(move || {
        for purpose in [
            MailPurpose::ChangeEmail,
            MailPurpose::VerifyEmail,
            MailPurpose::PasswordReset,
        ] {
            store.delete_mail_tokens(&id, purpose)?;
        }
        Ok(())
    })
    .await?;
    core.forget_user(&before.id);
    tracing::warn!(event = "email_changed", sub = %before.id, "the person's e-mail address was changed through a confirmed link");
    if let Some(old) = before.email.as_ref().filter(|_| before.email_verified)
        && !old.as_str().eq_ignore_ascii_case(row.email.as_str())
    {
        mail::alert_at(core, &before, old, SecurityAlert::EmailChanged).await;
    }
    Ok(Verified::Changed)
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
