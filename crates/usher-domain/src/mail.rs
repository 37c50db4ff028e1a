//! Mail Usher sends to people (a password-reset link, an address to verify) and the two
//! ports it goes through: [`Compose`] turns a [`Letter`] (what to say) into a [`Mail`]
//! (subject, text and HTML bodies; the templates live with the pages), and [`Outbox`]
//! takes a mail to deliver off the request path (an SMTP sender, or the log). The
//! single-use links a letter carries are [`MailToken`]s, stored only as hashes
//! ([`MailTokenStore`]).
//!
//! A mail's link is a bearer credential: [`Mail`]'s `Debug` shows neither its bodies nor
//! its link, and an outbox that writes mail to a log writes the link redacted.

use std::fmt;

use crate::ports::StoreError;
use crate::time::UnixTime;
use crate::user::{Email, UserId};

/// How long a password-reset link works, in seconds (30 minutes).
pub const RESET_LINK_TTL: i64 = 30 * 60;
/// How long an address-verification link works, in seconds (24 hours: people read mail
/// late, and the link only proves they can read it).
pub const VERIFY_LINK_TTL: i64 = 24 * 3600;

/// What a letter is about; also what its link may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailPurpose {
    /// Set a new password (`/password/reset`).
    PasswordReset,
    /// Prove the address is the person's (`/account/verify-email`).
    VerifyEmail,
    /// Make the token's address the person's new one, verified, once the link is
    /// confirmed (`/account/verify-email`, the same page): until then the old address
    /// stays.
    ChangeEmail,
}

impl MailPurpose {
    /// The links that hand the account to whoever holds them: a new password, or a new
    /// address (through which the next reset link goes). Every ending of a person's
    /// sign-ins (a reset, a password change, "sign out everywhere", an operator's
    /// `revoke-sessions`) deletes them: an intruder who asked for one while inside must
    /// not use it after being thrown out.
    pub const TAKEOVER: [MailPurpose; 2] = [MailPurpose::PasswordReset, MailPurpose::ChangeEmail];

    /// The word stored beside the token.
    pub fn as_str(self) -> &'static str {
        match self {
            MailPurpose::PasswordReset => "password_reset",
            MailPurpose::VerifyEmail => "verify_email",
            MailPurpose::ChangeEmail => "change_email",
        }
    }

    pub fn parse(raw: &str) -> Option<MailPurpose> {
        match raw {
            "password_reset" => Some(MailPurpose::PasswordReset),
            "verify_email" => Some(MailPurpose::VerifyEmail),
            "change_email" => Some(MailPurpose::ChangeEmail),
            _ => None,
        }
    }
}

/// What to tell a person; [`Compose`] words it.
#[derive(Clone, PartialEq, Eq)]
pub enum Letter {
    /// "Someone asked to reset your password": the link, and for whom.
    PasswordReset { username: String, link: String },
    /// "Confirm this address is yours": the link, and for whom.
    VerifyEmail { username: String, link: String },
    /// "You are invited to create an account": the single-use sign-up link, the name the
    /// operator gave (if any), and how many days the link works.
    Invitation {
        name: Option<String>,
        link: String,
        days: i64,
    },
    /// "Someone tried to create an account with your address": sent instead of saying on
    /// the sign-up page that the address is taken. Carries no secret: the address of the
    /// "Forgot your password?" page.
    SignupAttempt { forgot_page: String },
    /// "Something happened to your account": what, for whom, and the account page's
    /// address (not secret) to look.
    SecurityAlert {
        username: String,
        alert: SecurityAlert,
        account_page: String,
        /// For [`SecurityAlert::NewBrowser`]: when and from where.
        sign_in: Option<NewSignIn>,
    },
}

/// A sign-in the person is told about: when, from which address, with which browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignIn {
    pub at: UnixTime,
    pub address: Option<std::net::IpAddr>,
    pub user_agent: Option<crate::browser::UserAgent>,
}

/// The security events a person is told about by mail (issue 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityAlert {
    /// The password was changed (on the account page or through a reset link).
    PasswordChanged,
    /// A second factor (an authenticator app or a passkey) was added.
    FactorAdded,
    /// A second factor was removed.
    FactorRemoved,
    /// An app's refresh token was used twice: the app's access was ended, in case it was
    /// stolen.
    RefreshTokenReused,
    /// The account's e-mail address was changed (sent to the old address). The new one is
    /// not named: the old mailbox may be the very reason for the change.
    EmailChanged,
    /// Someone signed in from a browser that had not signed in to the account before
    /// (while other browsers had: the first sign-in of a person alerts nobody).
    NewBrowser,
}

impl SecurityAlert {
    /// The mail's subject.
    pub fn subject(self) -> &'static str {
        match self {
            SecurityAlert::PasswordChanged => "Your password was changed",
            SecurityAlert::FactorAdded => "A second factor was added to your account",
            SecurityAlert::FactorRemoved => "A second factor was removed from your account",
            SecurityAlert::RefreshTokenReused => "An app's access to your account was ended",
            SecurityAlert::EmailChanged => "The e-mail address of your account was changed",
            SecurityAlert::NewBrowser => "A new sign-in to your account",
        }
    }

    /// What happened, in a sentence.
    pub fn sentence(self) -> &'static str {
        match self {
            SecurityAlert::PasswordChanged => "The password of your account was just changed.",
            SecurityAlert::FactorAdded => {
                "An authenticator app or a passkey was just added to your account."
            }
            SecurityAlert::FactorRemoved => {
                "An authenticator app or a passkey was just removed from your account."
            }
            SecurityAlert::NewBrowser => {
                "Someone just signed in to your account from a browser that had not signed in to it before."
            }
            SecurityAlert::RefreshTokenReused => {
                "An app presented a token of yours that had already been used, which happens when a token is stolen. Usher ended that app's access; you may need to sign in to it again."
            }
            SecurityAlert::EmailChanged => {
                "The e-mail address of your account was just changed to another address, which was confirmed through a link mailed to it. This address gets no more mail about the account, and no password-reset links."
            }
        }
    }

    /// The `alert` label of the metric and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityAlert::PasswordChanged => "password_changed",
            SecurityAlert::FactorAdded => "factor_added",
            SecurityAlert::FactorRemoved => "factor_removed",
            SecurityAlert::RefreshTokenReused => "refresh_token_reused",
            SecurityAlert::EmailChanged => "email_changed",
            SecurityAlert::NewBrowser => "new_browser",
        }
    }
}

impl Letter {
    /// The secret link the letter carries, if any (an alert carries none).
    pub fn link(&self) -> Option<&str> {
        match self {
            Letter::PasswordReset { link, .. }
            | Letter::VerifyEmail { link, .. }
            | Letter::Invitation { link, .. } => Some(link),
            Letter::SecurityAlert { .. } | Letter::SignupAttempt { .. } => None,
        }
    }
}

impl fmt::Debug for Letter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Letter::PasswordReset { username, .. } => f
                .debug_struct("PasswordReset")
                .field("username", username)
                .finish_non_exhaustive(),
            Letter::VerifyEmail { username, .. } => f
                .debug_struct("VerifyEmail")
                .field("username", username)
                .finish_non_exhaustive(),
            Letter::Invitation { days, .. } => f
                .debug_struct("Invitation")
                .field("days", days)
                .finish_non_exhaustive(),
            Letter::SignupAttempt { .. } => f.debug_struct("SignupAttempt").finish(),
            Letter::SecurityAlert {
                username, alert, ..
            } => f
                .debug_struct("SecurityAlert")
                .field("username", username)
                .field("alert", alert)
                .finish_non_exhaustive(),
        }
    }
}

/// A mail ready to send. `link` is the secret link the bodies contain (if any), so that
/// an outbox that logs mail can redact it; `Debug` shows only the address and subject.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub link: Option<String>,
}

impl Mail {
    /// The text body with the link replaced by `[link redacted]`.
    pub fn redacted_text(&self) -> String {
        match &self.link {
            Some(link) if !link.is_empty() => self.text.replace(link.as_str(), "[link redacted]"),
            _ => self.text.clone(),
        }
    }
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to.as_str())
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a mail could not be composed or queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The outbox's queue is full (the mail server is slow or down): the mail is dropped,
    /// never waited for on the request path.
    #[error("the outbox is full")]
    Full,
    /// The outbox's sender has stopped.
    #[error("the outbox is closed")]
    Closed,
    /// The mail server did not take the mail (a sender that delivers at once: `usher
    /// user invite`). The server's answer, never the mail.
    #[error("the mail server did not take the mail: {0}")]
    Delivery(String),
    /// A template failed to render.
    #[error("the mail could not be composed: {0}")]
    Compose(String),
}

/// Words a letter: subject, text and HTML bodies (templates).
pub trait Compose: Send + Sync {
    fn compose(&self, to: &Email, letter: &Letter) -> Result<Mail, MailError>;
}

/// Takes a mail to deliver. Never blocks on the network: a sender queues it (bounded)
/// and delivers it from its own thread.
pub trait Outbox: Send + Sync {
    fn send(&self, mail: Mail) -> Result<(), MailError>;

    /// Whether a sent mail reaches its addressee (false: it only goes to the log, links
    /// redacted, so a mailed link would reach nobody).
    fn delivers(&self) -> bool {
        true
    }
}

/// A single-use mailed link, as stored: only the token's hash, whose it is, what it may
/// do, the address it was sent to, and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailToken {
    /// `base64url(SHA-256(token))`: the token itself travels only in the mail.
    pub token_hash: String,
    pub user_id: UserId,
    pub purpose: MailPurpose,
    /// The address the link was mailed to (verification marks this address, and only
    /// while it is still the person's).
    pub email: Email,
    pub expires_at: UnixTime,
}

/// The mailed links.
pub trait MailTokenStore: Send + Sync {
    /// Stores a new token (its hash is random: a duplicate is a `Conflict`).
    fn insert_mail_token(&self, token: &MailToken) -> Result<(), StoreError>;
    /// The token whose hash is `token_hash`, without spending it (to show the form a
    /// link opens); `None` when it is unknown or spent.
    fn find_mail_token(&self, token_hash: &str) -> Result<Option<MailToken>, StoreError>;
    /// Takes the token: ONE `DELETE … WHERE token_hash = ? RETURNING …`, so of any number
    /// of callers racing for one token exactly one gets it. Returned as it was (expired
    /// too): the caller decides, and the token is spent anyway.
    fn take_mail_token(&self, token_hash: &str) -> Result<Option<MailToken>, StoreError>;
    /// Deletes every token of `user` for `purpose` (a reset done: older links die).
    fn delete_mail_tokens(&self, user: &UserId, purpose: MailPurpose) -> Result<usize, StoreError>;
    /// The people whose address is `email` (compared without regard to case).
    fn find_users_by_email(&self, email: &Email) -> Result<Vec<crate::User>, StoreError>;
    /// Marks `user`'s address verified, if it is still `email`; `false` otherwise.
    fn mark_email_verified(&self, user: &UserId, email: &Email) -> Result<bool, StoreError>;
    /// Makes `to` the address of `user`, verified, if their address is still `from`
    /// (`None`: they have none); `false` otherwise (a compare-and-set).
    fn change_email(
        &self,
        user: &UserId,
        from: Option<&Email>,
        to: &Email,
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_never_shows_its_link_in_debug_or_redacted_text() {
        let link = "https://id.example/password/reset?token=SECRET".to_owned();
        let mail = Mail {
            to: Email::parse("a@b.example").unwrap(),
            subject: "Reset".into(),
            text: format!("Open {link} now"),
            html: format!("<a href=\"{link}\">x</a>"),
            link: Some(link),
        };
        assert!(!format!("{mail:?}").contains("SECRET"));
        assert_eq!(mail.redacted_text(), "Open [link redacted] now");
        let letter = Letter::PasswordReset {
            username: "alice".into(),
            link: "https://x/?token=SECRET".into(),
        };
        assert!(!format!("{letter:?}").contains("SECRET"));
        let invitation = Letter::Invitation {
            name: None,
            link: "https://x/signup?invite=SECRET".into(),
            days: 7,
        };
        assert!(!format!("{invitation:?}").contains("SECRET"));
        assert_eq!(invitation.link(), Some("https://x/signup?invite=SECRET"));
    }

    #[test]
    fn purposes_round_trip() {
        for p in [MailPurpose::PasswordReset, MailPurpose::VerifyEmail] {
            assert_eq!(MailPurpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(MailPurpose::parse("other"), None);
    }
}
