//! Self-service sign-up and invitations (issue 15; docs/design/accounts.md, "Sign-up and
//! invitations"). Off unless the operator sets `signup = "open"` or `"invite"`
//! ([`SignupMode`]); off, every answer here is [`SignupForm::NotFound`] /
//! [`SignupOutcome::NotFound`].
//!
//! - **Invitations** ([`crate::admin::invitations`], called by `usher user invite`, the
//!   admin API and the console, in `open` and `invite` mode): a 256-bit token mailed as `ISSUER/signup?invite=T`; only SHA-256(T) is
//!   stored, with the address, an optional name and an expiry. Opening the link shows the
//!   form with the address fixed and spends nothing (mail scanners open links); posting
//!   it spends the invitation and creates the person in one transaction
//!   ([`usher_domain::InvitationStore::redeem`]): one person per link, however many posts
//!   race. The address is verified: the link proved the mailbox.
//! - **Open sign-up**: username, address, password (twice), name optional. A taken
//!   username is said (the only way to pick another, as every peer does); whether the
//!   ADDRESS has an account is not: the person is created either way, with the address
//!   unverified, and the answer is the same "check your mail". A free address gets a
//!   verification link ([`crate::mail::send_verification`]); an address another account
//!   has verified gets a mail saying someone tried (with the "Forgot your password?"
//!   page), and can never be confirmed for the new account. Mail to one address is
//!   limited however many accounts or client addresses ask ([`crate::mail::address_key`]).
//! - Every post takes a single-use form token first (bound to nobody, or to the
//!   invitation), then counts against the client address with the throttle's atomic
//!   reservation ([`crate::mail::count`], key `signup-ip:…`), before any lookup or hash.

use usher_domain::{
    Email, INVITATION_TTL, Invitation, Letter, MAX_INVITATION_TTL, PersonName, Redemption,
    SignupMode, StoreError, User, UserError, UserId, Username,
};

use crate::Core;
use crate::account::forms::{self, ANONYMOUS, FormPurpose, FormRefusal};
use crate::client_address::ClientAddress;
use crate::failure::{Failure, blocking};
use crate::mail::{self, FORGOT_PATH};

/// The sign-up page (the router serves it at the same constant).
pub const SIGNUP_PATH: &str = "/signup";

/// An invitation made on a node (tests): [`crate::admin::invitations::create`], the
/// operation of `usher user invite`, the admin API and the console, by `system`, mailed,
/// its link in the answer.
pub async fn invite(
    core: &Core,
    email: Email,
    name: Option<PersonName>,
    ttl: Option<i64>,
) -> Result<crate::admin::invitations::Created, crate::admin::AdminError> {
    use crate::admin::invitations::{self, InvitationInput, Sending};
    use crate::admin::{AdminError, AdminStores, By};

    let ttl = ttl.unwrap_or(INVITATION_TTL);
    if !(1..=MAX_INVITATION_TTL).contains(&ttl) {
        return Err(AdminError::Invalid(
            "an invitation may work for 1 second to 90 days".to_owned(),
        ));
    }
    let input = InvitationInput { email, name, ttl };
    let (settings, stores, mailing) = (
        core.settings.clone(),
        AdminStores::of(core),
        core.mail.clone(),
    );
    let by = By {
        actor: usher_domain::AuditActor::System,
        address: None,
        at: core.now(),
    };
    crate::admin::run(move || {
        let sending = Sending {
            mode: settings.signup,
            issuer: &settings.issuer,
            mailing: Some(&mailing),
        };
        invitations::create(&stores, &sending, input, true, &by)
    })
    .await
}

/// Whether the sign-in page offers "Create an account": only in `open` mode (in
/// `invite` mode the way in is the mailed link).
pub fn offered(settings: &crate::Settings) -> bool {
    settings.signup == SignupMode::Open
}

/// The binding of a form an invitation opened: the invitation it came from.
fn invite_binding(token: &str) -> String {
    format!("invite:{}", usher_keys::sha256_b64url(token))
}

/// The live invitation of `token` (nothing is spent).
async fn live_invitation(core: &Core, token: &str) -> Result<Option<Invitation>, Failure> {
    if !mail::well_formed(token) {
        return Ok(None);
    }
    let hash = usher_keys::sha256_b64url(token);
    let store = core.stores.invitations.clone();
    let row = blocking(move || store.find_invitation(&hash)).await?;
    let now = core.now();
    Ok(row.filter(|r| r.expires_at > now))
}

/// The invitation a form shows: its token (carried in the form), the fixed address and
/// the name the operator gave.
#[derive(Clone, PartialEq, Eq)]
pub struct Invited {
    pub token: String,
    pub email: String,
    pub name: Option<String>,
}

impl std::fmt::Debug for Invited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invited")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// A sign-up form to render: its single-use CSRF token, and the invitation if one opened
/// it. `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq)]
pub struct FormView {
    pub form_token: String,
    pub invited: Option<Invited>,
}

impl std::fmt::Debug for FormView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormView")
            .field("invited", &self.invited)
            .finish_non_exhaustive()
    }
}

/// What `GET /signup` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupForm {
    /// Sign-up is off: the page does not exist.
    NotFound,
    /// `invite` mode and no invitation: "sign-up is by invitation".
    InvitationNeeded,
    /// The invitation is unknown, used or expired.
    InvitationInvalid,
    Show(FormView),
}

/// The sign-up form: open (no invitation), or the one an invitation opens.
pub async fn form(core: &Core, invite: Option<&str>) -> Result<SignupForm, Failure> {
    let mode = core.settings.signup;
    if mode == SignupMode::Off {
        return Ok(SignupForm::NotFound);
    }
    let Some(token) = invite.filter(|t| !t.is_empty()) else {
        if mode == SignupMode::Invite {
            return Ok(SignupForm::InvitationNeeded);
        }
        let form_token = forms::issue_sealed(core, ANONYMOUS, FormPurpose::SignUp)?;
        return Ok(SignupForm::Show(FormView {
            form_token,
            invited: None,
        }));
    };
    let Some(invitation) = live_invitation(core, token).await? else {
        return Ok(SignupForm::InvitationInvalid);
    };
    let form_token = forms::issue_sealed(core, &invite_binding(token), FormPurpose::SignUp)?;
    Ok(SignupForm::Show(FormView {
        form_token,
        invited: Some(Invited {
            token: token.to_owned(),
            email: invitation.email.as_str().to_owned(),
            name: invitation.name.map(|n| n.as_str().to_owned()),
        }),
    }))
}

/// What the sign-up form posted (as typed; parsed here). No `Debug`: it holds a password.
pub struct SignupRequest<'a> {
    pub form_token: Option<&'a str>,
    /// The invitation's token, when an invitation opened the form.
    pub invite: Option<&'a str>,
    pub username: &'a str,
    /// Ignored when an invitation opened the form (its address is the person's).
    pub email: &'a str,
    /// Optional: empty means none.
    pub name: &'a str,
    pub password: String,
    pub confirm: &'a str,
    pub address: &'a ClientAddress,
}

/// What is wrong with a posted form (shown beside the form, which is shown again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The username is taken (said: the person must pick another).
    UsernameTaken,
    /// Not a username, an address, a name, or an acceptable password: the sentence.
    Username(String),
    Email(String),
    Name(String),
    Password(String),
}

impl Problem {
    /// The sentence to show.
    pub fn message(&self) -> String {
        match self {
            Problem::UsernameTaken => "This username is taken. Please choose another.".to_owned(),
            Problem::Username(m) | Problem::Email(m) | Problem::Name(m) | Problem::Password(m) => {
                m.clone()
            }
        }
    }

    /// The field it is about: `username`, `email`, `name` or `password`.
    pub fn field(&self) -> &'static str {
        match self {
            Problem::UsernameTaken | Problem::Username(_) => "username",
            Problem::Email(_) => "email",
            Problem::Name(_) => "name",
            Problem::Password(_) => "password",
        }
    }
}

/// What posting the sign-up form did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupOutcome {
    /// Sign-up is off.
    NotFound,
    /// `invite` mode and no invitation posted.
    InvitationNeeded,
    /// The invitation is unknown, used or expired (nothing was created).
    InvitationInvalid,
    /// The form was not one Usher showed, or was used already.
    Refused(FormRefusal),
    /// Too many sign-ups from this client address: wait this many seconds.
    Throttled { wait: i64 },
    /// Show the form again (with a new token) and say what is wrong.
    Again { problem: Problem, form: FormView },
    /// Open sign-up: the account was created, address unverified; "check your mail" —
    /// for a verification link, or, if another account has the address verified, for a
    /// mail saying someone tried. The same answer either way.
    CheckMail,
    /// An invitation was accepted: the person exists, address verified.
    Created { username: String },
}

fn user_error(e: &UserError) -> String {
    let mut s = e.to_string();
    if let Some(first) = s.get(..1) {
        let upper = first.to_uppercase();
        s.replace_range(..1, &upper);
    }
    s.push('.');
    s
}

/// Posting the sign-up form: the form's token, the fields, the throttle, then the
/// account (see the module's documentation for the order and why).
pub async fn sign_up(core: &Core, req: SignupRequest<'_>) -> Result<SignupOutcome, Failure> {
    let mode = core.settings.signup;
    if mode == SignupMode::Off {
        return Ok(SignupOutcome::NotFound);
    }
    let invite = req.invite.filter(|t| !t.is_empty());
    if invite.is_none() && mode == SignupMode::Invite {
        return Ok(SignupOutcome::InvitationNeeded);
    }
    let binding = match invite {
        Some(token) => {
            if !mail::well_formed(token) {
                return Ok(SignupOutcome::InvitationInvalid);
            }
            invite_binding(token)
        }
        None => ANONYMOUS.to_owned(),
    };
    if let Err(refusal) =
        forms::take_sealed(core, &binding, req.form_token, FormPurpose::SignUp).await?
    {
        return Ok(SignupOutcome::Refused(refusal));
    }
    // The form to show again (a new token: the posted one is spent).
    let again = |problem: Problem| async move {
        Ok::<_, Failure>(match form(core, invite).await? {
            SignupForm::Show(form) => SignupOutcome::Again { problem, form },
            SignupForm::NotFound => SignupOutcome::NotFound,
            SignupForm::InvitationNeeded => SignupOutcome::InvitationNeeded,
            SignupForm::InvitationInvalid => SignupOutcome::InvitationInvalid,
        })
    };
    let username = match Username::parse_self_chosen(req.username.trim()) {
        Ok(u) => u,
        Err(e) => return again(Problem::Username(user_error(&e))).await,
    };
    let email = match invite {
        Some(_) => None,
        None => match Email::parse(req.email.trim()) {
            Ok(e) => Some(e),
            Err(_) => {
                return again(Problem::Email(
                    "Type an e-mail address, such as name@example.org.".to_owned(),
                ))
                .await;
            }
        },
    };
    let name = match req.name.trim() {
        "" => None,
        typed => match PersonName::parse(typed) {
            Ok(n) => Some(n),
            Err(e) => return again(Problem::Name(user_error(&e))).await,
        },
    };
    let password = match crate::passwords::new_password(req.password, req.confirm) {
        Ok(p) => p,
        Err(m) => return again(Problem::Password(m)).await,
    };
    // Counted before any lookup or hash: a burst from one address is refused unchecked,
    // however many arrive at once (the reservation is one statement).
    // An unknown client address (a proxy nobody configured) shares one budget: sign-up
    // has no per-account limit to fall back on.
    let key = req.address.throttle_key_or_shared();
    if let Some(wait) = mail::count(core, format!("signup-{key}")).await? {
        tracing::info!(
            event = "signup_throttled",
            "a sign-up was refused: too many from one address"
        );
        return Ok(SignupOutcome::Throttled { wait });
    }
    let users = core.stores.users.clone();
    let wanted = username.clone();
    if blocking(move || users.find_user(&wanted)).await?.is_some() {
        return again(Problem::UsernameTaken).await;
    }
    let password_hash = core.passwords.hash_new(password).await?;
    let id = UserId::parse(&uuid::Uuid::new_v4().to_string()).ok_or(Failure::Internal)?;
    let person = User {
        id,
        username,
        password_hash,
        name,
        email: email.clone(),
        email_verified: false,
        profile: usher_domain::ProfileClaims::default(),
        created_at: core.now(),
        disabled_at: None,
    };
    match (invite, email) {
        (Some(token), _) => accept_invitation(core, token, person, &again).await,
        (None, Some(email)) => open(core, person, email, &again).await,
        (None, None) => Err(Failure::Internal),
    }
}

/// The invitation is spent and the person created in one transaction.
async fn accept_invitation<F, Fut>(
    core: &Core,
    token: &str,
    person: User,
    again: &F,
) -> Result<SignupOutcome, Failure>
where
    F: Fn(Problem) -> Fut,
    Fut: std::future::Future<Output = Result<SignupOutcome, Failure>>,
{
    let hash = usher_keys::sha256_b64url(token);
    let store = core.stores.invitations.clone();
    let now = core.now();
    let redeemed = blocking(move || store.redeem(&hash, &person, now)).await?;
    match redeemed {
        Redemption::Created(person) => {
            tracing::info!(event = "signed_up", by = "invitation", sub = %person.id, "a person accepted an invitation");
            let event = usher_domain::AuditEvent::new(
                now,
                usher_domain::AuditKind::PersonCreated,
                usher_domain::AuditActor::Person(person.id.clone()),
            )
            .person(&person.id)
            .detail(serde_json::json!({"how": "invitation", "username": person.username.as_str()}));
            crate::audit::record(core, event).await;
            Ok(SignupOutcome::Created {
                username: person.username.as_str().to_owned(),
            })
        }
        Redemption::UsernameTaken => again(Problem::UsernameTaken).await,
        Redemption::Invalid => Ok(SignupOutcome::InvitationInvalid),
    }
}

/// Open sign-up once the username is free and the password hashed: the person is
/// created with the address unverified, whoever has the address. If another account has
/// it verified, that address gets "someone tried to create an account with your
/// address" instead of a verification link (which could never succeed:
/// [`mail::verified_elsewhere`]); otherwise a verification link. Both kinds count
/// against the address's one mail budget ([`mail::address_key`]). Creating the account
/// either way is what keeps the address secret: the new username and password work the
/// same, the page is the same, and a second sign-up with the same username says "taken"
/// in both cases.
async fn open<F, Fut>(
    core: &Core,
    person: User,
    email: Email,
    again: &F,
) -> Result<SignupOutcome, Failure>
where
    F: Fn(Problem) -> Fut,
    Fut: std::future::Future<Output = Result<SignupOutcome, Failure>>,
{
    let users = core.stores.users.clone();
    let row = person.clone();
    let inserted = blocking(move || match users.insert_user(&row) {
        Ok(()) => Ok(true),
        // The username was taken since it was looked up (a racing sign-up).
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    })
    .await?;
    if !inserted {
        return again(Problem::UsernameTaken).await;
    }
    tracing::info!(event = "signed_up", by = "open", sub = %person.id, "a person created an account");
    let event = usher_domain::AuditEvent::new(
        core.now(),
        usher_domain::AuditKind::PersonCreated,
        usher_domain::AuditActor::Person(person.id.clone()),
    )
    .person(&person.id)
    .detail(serde_json::json!({"how": "sign_up", "username": person.username.as_str()}));
    crate::audit::record(core, event).await;
    if mail::verified_elsewhere(core, &email, &person.id).await? {
        // Counted exactly as `send_verification` counts (the account's budget, then the
        // mailbox's), so that the new account's budget, which its owner can probe from
        // the account page, is the same in both cases.
        let mailed = mail::count(core, mail::verify_person_key(&person.id))
            .await?
            .is_none()
            && mail::count(core, mail::address_key(&email))
                .await?
                .is_none()
            && core.mail.post(
                &email,
                &Letter::SignupAttempt {
                    forgot_page: core.settings.issuer.endpoint(FORGOT_PATH),
                },
            );
        tracing::info!(
            event = "signup_address_taken",
            mailed,
            sub = %person.id,
            "a sign-up named an address another account has verified: it stays unverified here, and the address was told"
        );
    } else {
        mail::send_verification(core, &person).await?;
    }
    Ok(SignupOutcome::CheckMail)
}

#[cfg(test)]
#[path = "signup_tests.rs"]
mod tests;
