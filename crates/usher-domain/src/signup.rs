//! Self-service sign-up (issue 15; docs/design/accounts.md, "Sign-up and invitations"):
//! whether people may create their own accounts ([`SignupMode`]), and the single-use
//! invitations an operator mails with `usher user invite` ([`Invitation`],
//! [`InvitationStore`]).
//!
//! An invitation is a bearer credential: only the SHA-256 of its token is stored, and
//! spending it and creating the person are one transaction ([`InvitationStore::redeem`]),
//! so of any number of posts of one link exactly one creates a person.

use crate::ports::StoreError;
use crate::time::UnixTime;
use crate::user::{Email, PersonName, User};

/// Who may create an account on the sign-up page (`signup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignupMode {
    /// Nobody: `/signup` is not found, the sign-in page offers nothing (the default).
    #[default]
    Off,
    /// Anyone: the address is verified afterwards by a mailed link.
    Open,
    /// Only people holding an invitation (`usher user invite`); the address is verified
    /// by the invitation itself.
    Invite,
}

impl SignupMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SignupMode::Off => "off",
            SignupMode::Open => "open",
            SignupMode::Invite => "invite",
        }
    }

    pub fn parse(raw: &str) -> Option<SignupMode> {
        match raw {
            "off" => Some(SignupMode::Off),
            "open" => Some(SignupMode::Open),
            "invite" => Some(SignupMode::Invite),
            _ => None,
        }
    }

    /// Whether invitations may be made (and spent): in `invite` and in `open` mode.
    pub fn invitations(self) -> bool {
        !matches!(self, SignupMode::Off)
    }
}

/// How long an invitation works unless the operator says otherwise (7 days).
pub const INVITATION_TTL: i64 = 7 * 24 * 3600;
/// The longest an invitation may work (90 days).
pub const MAX_INVITATION_TTL: i64 = 90 * 24 * 3600;

/// An invitation as stored: the hash of its token, the address it was mailed to (the
/// person's address, verified, once they accept), the name the operator gave, and when
/// it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// `base64url(SHA-256(token))`: the token itself travels only in the mail.
    pub token_hash: String,
    pub email: Email,
    pub name: Option<PersonName>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// What [`InvitationStore::redeem`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one value per sign-up, returned once: boxing buys nothing
pub enum Redemption {
    /// The invitation was spent and this person created (address from the invitation,
    /// verified).
    Created(User),
    /// Unknown, spent, or expired at `now` (an expired one is spent all the same).
    Invalid,
    /// The username is taken: nothing was written, the invitation is still live.
    UsernameTaken,
}

/// The invitations.
pub trait InvitationStore: Send + Sync {
    /// Stores a new invitation (its hash is random: a duplicate is a `Conflict`).
    fn insert_invitation(&self, invitation: &Invitation) -> Result<(), StoreError>;
    /// The invitation whose hash is `token_hash`, without spending it (to show the form
    /// the link opens); `None` when unknown or spent.
    fn find_invitation(&self, token_hash: &str) -> Result<Option<Invitation>, StoreError>;
    /// The invitations still live at `now`, oldest first (`usher user invitations`).
    fn list_invitations(&self, now: UnixTime) -> Result<Vec<Invitation>, StoreError>;
    /// Deletes every invitation to `email` (ASCII case folded, as addresses are looked
    /// up everywhere); the number deleted. Their links stop working at once.
    fn revoke_invitations(&self, email: &Email) -> Result<usize, StoreError>;
    /// In ONE transaction: takes the invitation (`DELETE … RETURNING`) and, if it had not
    /// expired at `now`, inserts `person` with the invitation's address, verified (and its
    /// name when `person` has none). A taken username rolls everything back. Of any number
    /// of callers racing for one invitation, at most one gets `Created`.
    fn redeem(
        &self,
        token_hash: &str,
        person: &User,
        now: UnixTime,
    ) -> Result<Redemption, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_and_only_off_refuses_invitations() {
        for m in [SignupMode::Off, SignupMode::Open, SignupMode::Invite] {
            assert_eq!(SignupMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(SignupMode::parse("closed"), None);
        assert_eq!(SignupMode::default(), SignupMode::Off);
        assert!(!SignupMode::Off.invitations());
        assert!(SignupMode::Open.invitations() && SignupMode::Invite.invitations());
    }
}
