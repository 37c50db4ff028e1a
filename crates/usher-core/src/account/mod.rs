//! The account page (`/account`, issue 14, docs/design/mfa.md "The account page and the
//! recent-sign-in rule"): the decisions behind its Security section, as typed outcomes.
//!
//! - `apps.rs`: "Connected apps": the clients the person consented to, and removing one's
//!   access (issue 15);
//! - `client.rs`: the built-in client `usher-account` the page signs in with;
//! - `login.rs`: starting that sign-in and finishing it at `/account/callback`;
//! - `forms.rs`: the single-use CSRF token of every form, bound to the session;
//! - `profile.rs`: "Profile": name, preferred username, phone number, address, and an
//!   e-mail change confirmed through a link mailed to the new address (issue 15);
//! - `totp_setup.rs`: setting up, confirming and removing the authenticator app;
//! - `sessions.rs`: "Where you are signed in": the person's browsers, signing one out,
//!   signing out everywhere (issue 15);
//! - `recovery_codes.rs`: new codes with the first factor, "Generate new codes";
//! - `upstreams.rs`: "Linked sign-in providers": the person's upstream identities,
//!   and removing one unless it is their last way to sign in (issue 18).
//!
//! The page identifies the person by the session cookie alone ([`Core::session`]).
//! Every change goes through [`begin_change`]: a live session, the form's token taken
//! once, and a sign-in at most [`RECENT_SIGN_IN_SECONDS`] old — otherwise the person
//! is sent through `/authorize` again with `max_age=300` (which, once sign-in has its
//! second step, includes the second factor). Every change is a `warn` event with the
//! person's `sub` only, and counted (`usher_factors_changed_total`).

pub mod apps;
pub mod client;
pub mod forms;
pub mod login;
pub mod passkeys;
pub mod password;
pub mod profile;
pub mod recovery_codes;
pub mod sessions;
pub mod totp_setup;
pub mod upstreams;

use usher_domain::mfa::TOTP_STEP_SECONDS;
use usher_domain::{Session, UnixTime, UserId};

use crate::Core;
use crate::failure::{Failure, blocking};
use crate::metrics::{self, Counter};
use forms::{FormPurpose, FormRefusal};

/// How old a sign-in may be for a change to the account (OIDC `max_age` when it is
/// not).
pub const RECENT_SIGN_IN_SECONDS: i64 = 300;

/// Whether a session's sign-in is recent enough for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recency {
    Recent,
    /// Older than [`RECENT_SIGN_IN_SECONDS`]: sign in again (`max_age=300`).
    Stale,
}

/// The recent-sign-in rule: `auth_time` at most [`RECENT_SIGN_IN_SECONDS`] ago.
pub fn recency(core: &Core, session: &Session) -> Recency {
    if core
        .now()
        .seconds()
        .saturating_sub(session.auth_time.seconds())
        <= RECENT_SIGN_IN_SECONDS
    {
        Recency::Recent
    } else {
        Recency::Stale
    }
}

/// Whether a posted account form may make its change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Go ahead, for this session's person.
    Allowed(Session),
    /// No live session: sign in first.
    SignedOut,
    /// The form's token was refused (replayed, another session's, too old …).
    Refused(FormRefusal),
    /// The sign-in is too old: sign in again with `max_age=300`, then come back.
    Stale,
    /// The person has a second factor but this session was made without one (a
    /// password alone, before the factor was added): sign in again completely
    /// (`max_age=0`), with the factor, then come back. A stolen password-only session
    /// can thus neither remove a factor nor make new recovery codes.
    Weak,
}

/// The gate of every account change: the session the cookie names, then the form's
/// token (taken once, before anything else is decided), then the recent-sign-in rule.
pub async fn begin_change(
    core: &Core,
    session_cookie: Option<&str>,
    form_token: Option<&str>,
    purpose: FormPurpose,
) -> Result<Change, Failure> {
    let Some(session) = core.session(session_cookie).await? else {
        return Ok(Change::SignedOut);
    };
    if let Err(refusal) = forms::take(core, &session, form_token, purpose).await? {
        tracing::warn!(event = "account_form_refused", sub = %session.user_id, reason = ?refusal, "an account form was refused");
        return Ok(Change::Refused(refusal));
    }
    Ok(match strength(core, &session).await? {
        Some(refusal) => refusal,
        None => Change::Allowed(session),
    })
}

/// The rules on the session itself for a change: recent enough ([`Change::Stale`]), and
/// made with the person's second factor if they have one ([`Change::Weak`]); `None`
/// when both hold.
pub async fn strength(core: &Core, session: &Session) -> Result<Option<Change>, Failure> {
    if recency(core, session) == Recency::Stale {
        return Ok(Some(Change::Stale));
    }
    if session.amr.acr() < usher_domain::Acr::Mfa
        && crate::mfa::has_second_factor(core, &session.user_id).await?
    {
        return Ok(Some(Change::Weak));
    }
    Ok(None)
}

/// The authenticator app's state on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpState {
    /// None set up.
    None,
    /// Set up but never confirmed (the setup page was left): offered again.
    Unconfirmed,
    /// Confirmed: since when, and when a code was last accepted (the start of its step).
    Active {
        since: UnixTime,
        last_used: Option<UnixTime>,
    },
}

/// The Security section: what the person has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    pub totp: TotpState,
    /// Unspent recovery codes.
    pub recovery_codes_left: usize,
}

/// The account page for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    pub username: String,
    /// The Profile section.
    pub profile: profile::ProfileView,
    pub security: Security,
    /// The person's passkeys, oldest first.
    pub passkeys: Vec<crate::passkeys::PasskeySummary>,
    /// Whether passkeys can be added here (the issuer's host is a name).
    pub passkeys_available: bool,
    /// The apps the person consented to, most recent grant first.
    pub apps: Vec<apps::ConnectedApp>,
    /// The browsers the person is signed in to, this one first.
    pub browsers: Vec<sessions::BrowserLine>,
    /// The person's linked upstream identities, oldest first.
    pub upstreams: Vec<upstreams::LinkedIdentity>,
    /// Whether a change now would be allowed without signing in again.
    pub recent: bool,
    /// The single-use token of the page's forms.
    pub form_token: String,
}

/// The account page of the session's person; `None` if the person no longer exists.
pub async fn overview(core: &Core, session: &Session) -> Result<Option<Overview>, Failure> {
    let Some(user) = core.user(&session.user_id).await? else {
        return Ok(None);
    };
    let security = security(core, &session.user_id).await?;
    Ok(Some(Overview {
        username: user.username.as_str().to_owned(),
        profile: profile::ProfileView::of(&user),
        security,
        passkeys: crate::passkeys::list_passkeys(core, &session.user_id).await?,
        passkeys_available: crate::passkeys::available(&core.settings),
        apps: apps::list(core, &session.user_id).await?,
        browsers: sessions::list(core, session).await?,
        upstreams: upstreams::list(core, &session.user_id).await?,
        recent: recency(core, session) == Recency::Recent,
        form_token: forms::issue(core, session, FormPurpose::Account).await?,
    }))
}

/// What the person has set up.
pub async fn security(core: &Core, user: &UserId) -> Result<Security, Failure> {
    let factors = core.stores.factors.clone();
    let owner = user.clone();
    let totp = match blocking(move || factors.get_totp(&owner)).await? {
        None => TotpState::None,
        Some(f) if !f.confirmed => TotpState::Unconfirmed,
        Some(f) => TotpState::Active {
            since: f.created_at,
            // The step recorded at confirmation counts as a use: it was one.
            last_used: f
                .last_used_step
                .map(|s| UnixTime(s.saturating_mul(TOTP_STEP_SECONDS))),
        },
    };
    Ok(Security {
        totp,
        recovery_codes_left: recovery_codes::left(core, user).await?,
    })
}

/// A change to a person's factors, for the security event and the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorChange {
    TotpAdded,
    TotpRemoved,
    RecoveryCodesRegenerated,
}

impl FactorChange {
    /// The `change` label of `usher_factors_changed_total`.
    pub fn label(self) -> &'static str {
        match self {
            FactorChange::TotpAdded => "totp_added",
            FactorChange::TotpRemoved => "totp_removed",
            FactorChange::RecoveryCodesRegenerated => "recovery_codes_regenerated",
        }
    }
}

/// The security event of a change (`factor_added`, `factor_removed`,
/// `recovery_codes_regenerated`), with the person's `sub` only, and its count; and its
/// audit event (`mfa.added`, `mfa.removed`: done by the person).
pub(crate) async fn event(core: &Core, user: &UserId, change: FactorChange) {
    metrics::inc(Counter::FactorsChanged, change.label());
    let (kind, factor) = match change {
        FactorChange::TotpAdded => (usher_domain::AuditKind::MfaAdded, "totp"),
        FactorChange::TotpRemoved => (usher_domain::AuditKind::MfaRemoved, "totp"),
        FactorChange::RecoveryCodesRegenerated => {
            (usher_domain::AuditKind::MfaAdded, "recovery_codes")
        }
    };
    let audit = usher_domain::AuditEvent::new(
        core.now(),
        kind,
        usher_domain::AuditActor::Person(user.clone()),
    )
    .person(user)
    .detail(serde_json::json!({"factor": factor, "change": change.label()}));
    crate::audit::record(core, audit).await;
    match change {
        FactorChange::TotpAdded => {
            tracing::warn!(event = "factor_added", sub = %user, kind = "totp", "an authenticator app was added");
        }
        FactorChange::TotpRemoved => {
            tracing::warn!(event = "factor_removed", sub = %user, kind = "totp", "an authenticator app was removed");
        }
        FactorChange::RecoveryCodesRegenerated => {
            tracing::warn!(event = "recovery_codes_regenerated", sub = %user, "new recovery codes replace the old ones");
        }
    }
}

#[cfg(test)]
mod tests;
