//! Recovery codes on the account page: ten new ones with the first second factor, and
//! "Generate new codes", which replaces the whole set in one transaction
//! (`FactorStore::replace_recovery_codes`: every old code, spent or not, stops working).
//! The codes exist in the clear only in the outcome that shows them once; the store
//! keeps their keyed hashes (`SecretHasher::hash_recovery_code`).

use usher_domain::{RecoveryCode, Session, UserId};

use crate::Core;
use crate::account::{FactorChange, event};
use crate::failure::{Failure, blocking};
use crate::mfa;

/// What "Generate new codes" decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegenerateOutcome {
    /// The new ten, to show once; the old ones no longer work.
    Generated(Vec<RecoveryCode>),
    /// The person has no second factor: recovery codes would recover nothing.
    NoSecondFactor,
}

/// "Generate new codes".
pub async fn regenerate(core: &Core, session: &Session) -> Result<RegenerateOutcome, Failure> {
    let user = &session.user_id;
    if !mfa::has_second_factor(core, user).await? {
        return Ok(RegenerateOutcome::NoSecondFactor);
    }
    let codes = mfa::enroll::new_recovery_codes(core, user).await?.0;
    event(core, user, FactorChange::RecoveryCodesRegenerated).await;
    Ok(RegenerateOutcome::Generated(codes))
}

/// How many of the person's recovery codes are unspent.
pub async fn left(core: &Core, user: &UserId) -> Result<usize, Failure> {
    let factors = core.stores.factors.clone();
    let user = user.clone();
    blocking(move || factors.recovery_codes_left(&user)).await
}
