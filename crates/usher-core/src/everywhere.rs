//! Ending everything a person is signed in with: every browser session and every
//! refresh-token family. One function serves every reason (a second factor added, a
//! password reset, "sign out everywhere", an operator's request), so that each of them
//! ends the same things in the same order, and whatever more must happen when a person's
//! sign-ins end is added in one place: the apps that got tokens through the ended
//! sessions are told (Back-Channel Logout, `backchannel.rs`).

use usher_domain::{RevokeReason, UserId};

use crate::Core;
use crate::failure::{Failure, blocking};

/// Why a person's sessions and families end; named in the `warn` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// A second factor was added: nothing signed in without it may go on (a password
    /// thief's session among them).
    NewFactor,
    /// The password was reset through a mailed link.
    PasswordReset,
    /// The person chose "sign out everywhere".
    SignOutEverywhere,
    /// An administrator ended them (the admin API: revoke sessions, a new password, the
    /// second factors reset).
    Administrator,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::NewFactor => "new_factor",
            Why::PasswordReset => "password_reset",
            Why::SignOutEverywhere => "sign_out_everywhere",
            Why::Administrator => "administrator",
        }
    }
}

/// What was ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    pub sessions: usize,
}

/// Ends every session and refresh family of `user`. As `usher user revoke-sessions`:
/// families, sessions, families again (a code exchange racing the sessions' end).
/// Unfinished sign-ins of the person that are past their password (waiting at the
/// second step or at consent) are spent first (except when a factor was added: the
/// sign-in adding it goes on), so that one begun with the old password
/// cannot finish after a reset; so are the person's unused password-reset links. Left: a sign-in whose last step passed just before this
/// began, and inserts its session just after the sessions are deleted (docs/design/
/// accounts.md, "Risks").
pub async fn end_person(core: &Core, user: &UserId, why: Why) -> Result<Ended, Failure> {
    let now = core.now();
    let families = core.stores.families.clone();
    families
        .revoke_user(user, RevokeReason::UserSessions, now)
        .await?;
    // Not for a new factor: the sign-in that is adding it (the second step's setup)
    // goes on to show its recovery codes; any other waiting sign-in of the person now
    // needs the new factor anyway.
    if why != Why::NewFactor {
        let interactions = core.stores.interactions.clone();
        let owner = user.clone();
        blocking(move || interactions.spend_user_interactions(&owner)).await?;
    }
    // A reset link mailed earlier could undo this (whoever had the mailbox then), and
    // so could a pending address change an intruder asked for while signed in.
    let mail = core.stores.mail.clone();
    let owner = user.clone();
    blocking(move || {
        usher_domain::MailPurpose::TAKEOVER
            .into_iter()
            .try_for_each(|purpose| mail.delete_mail_tokens(&owner, purpose).map(|_| ()))
    })
    .await?;
    // After a reset or "sign out everywhere" the person suspects someone else: every
    // browser is new again, so whoever signs in next, from wherever, is mailed about
    // (the intruder's browser included). Not for a new factor: nothing was suspected.
    if matches!(
        why,
        Why::PasswordReset | Why::SignOutEverywhere | Why::Administrator
    ) {
        let browsers = core.stores.known_browsers.clone();
        let owner = user.clone();
        blocking(move || browsers.forget_browsers(&owner)).await?;
    }
    let sessions = core.stores.sessions.clone();
    let owner = user.clone();
    let ended = blocking(move || sessions.delete_user_sessions(&owner)).await?;
    families
        .revoke_user(user, RevokeReason::UserSessions, now)
        .await?;
    // Every app that got tokens through one of the ended sessions is told
    // (Back-Channel Logout), whatever the reason.
    let logouts = crate::backchannel::queue_person(core, user).await?;
    tracing::warn!(
        event = "sessions_ended",
        reason = why.as_str(),
        sub = %user,
        sessions = ended,
        logouts,
        "every session and refresh family of the person ended"
    );
    Ok(Ended { sessions: ended })
}
