//! Passkeys on the account page: start adding one (the page's script asks for the
//! options), add it, remove one. The ceremonies themselves are
//! [`crate::passkeys`]'; this applies the account page's rules around them: a live
//! session that is recent and, if the person has a second factor, made with it
//! ([`super::strength`]); the first second factor comes with ten recovery codes; adding
//! one ends every earlier session and refresh family (as adding an app does); removing
//! the last second factor removes the recovery codes.

use usher_domain::{PasskeyName, RecoveryCode, Session};

use super::{Change, recovery_codes, strength};
use crate::Core;
use crate::failure::{Failure, blocking};
use crate::mfa::{self, enroll};
use crate::passkeys::{self, PasskeyError, RegistrationOutcome, StartedCeremony};

/// What asking for the options of a new passkey decided.
#[derive(Debug)]
pub enum OptionsOutcome {
    Started(StartedCeremony),
    /// The session may not make changes now: sign in again as the [`Change`] says.
    NotNow(Change),
    /// The issuer cannot have passkeys (its host is an IP address).
    Unavailable,
    /// The person started too many registrations lately: wait this many seconds.
    Busy {
        wait: i64,
    },
    /// The person already has the most passkeys allowed.
    Full,
}

/// Starts adding a passkey for the session's person, in the browser whose binding
/// cookie is `binding`.
pub async fn options(
    core: &Core,
    session: &Session,
    binding: Option<&str>,
) -> Result<OptionsOutcome, Failure> {
    if let Some(refusal) = strength(core, session).await? {
        return Ok(OptionsOutcome::NotNow(refusal));
    }
    let Some(user) = core.user(&session.user_id).await? else {
        return Ok(OptionsOutcome::NotNow(Change::SignedOut));
    };
    match passkeys::start_registration(core, &user, binding).await {
        Ok(started) => Ok(OptionsOutcome::Started(started)),
        Err(PasskeyError::Unavailable) => Ok(OptionsOutcome::Unavailable),
        Err(PasskeyError::Busy { wait }) => Ok(OptionsOutcome::Busy { wait }),
        Err(PasskeyError::Full) => Ok(OptionsOutcome::Full),
        Err(PasskeyError::Failure(f)) => Err(f),
    }
}

/// What adding a passkey decided.
#[derive(Debug)]
pub enum AddOutcome {
    /// Added; `recovery_codes`: new ones to show once (it is the first second factor).
    Added {
        recovery_codes: Option<Vec<RecoveryCode>>,
    },
    /// Not added (expired ceremony, another browser, invalid answer, a passkey already
    /// stored): the page again with a message.
    NotAdded(RegistrationOutcome),
    Unavailable,
}

/// Adds the passkey whose registration answer is `response` (the session passed the
/// account gate: [`super::begin_change`]).
pub async fn add(
    core: &Core,
    session: &Session,
    ceremony: &str,
    binding: Option<&str>,
    response: &str,
    name: &PasskeyName,
) -> Result<AddOutcome, Failure> {
    let Some(user) = core.user(&session.user_id).await? else {
        return Ok(AddOutcome::NotAdded(RegistrationOutcome::Expired));
    };
    if response.len() > passkeys::MAX_RESPONSE_LEN {
        return Ok(AddOutcome::NotAdded(RegistrationOutcome::Invalid));
    }
    let first = !mfa::has_second_factor(core, &user.id).await?;
    let outcome =
        match passkeys::finish_registration(core, &user, ceremony, binding, response, name).await {
            Ok(o) => o,
            Err(PasskeyError::Unavailable | PasskeyError::Busy { .. } | PasskeyError::Full) => {
                return Ok(AddOutcome::Unavailable);
            }
            Err(PasskeyError::Failure(f)) => return Err(f),
        };
    let RegistrationOutcome::Added(_) = outcome else {
        return Ok(AddOutcome::NotAdded(outcome));
    };
    enroll::end_sessions_and_families(core, &user.id).await?;
    crate::mail::alert(core, &user.id, usher_domain::SecurityAlert::FactorAdded).await;
    let recovery_codes = if first && recovery_codes::left(core, &user.id).await? == 0 {
        Some(enroll::new_recovery_codes(core, &user.id).await?.0)
    } else {
        None
    };
    Ok(AddOutcome::Added { recovery_codes })
}

/// Removes the session's person's passkey `id`; the recovery codes go too when no
/// second factor is left. Whether there was such a passkey.
pub async fn remove(core: &Core, session: &Session, id: &str) -> Result<bool, Failure> {
    let user = &session.user_id;
    if !passkeys::remove_passkey(core, user, id).await? {
        return Ok(false);
    }
    if !mfa::has_second_factor(core, user).await? {
        let factors = core.stores.factors.clone();
        let (owner, now) = (user.clone(), core.now());
        blocking(move || factors.replace_recovery_codes(&owner, &[], now)).await?;
    }
    crate::mail::alert(core, user, usher_domain::SecurityAlert::FactorRemoved).await;
    Ok(true)
}
