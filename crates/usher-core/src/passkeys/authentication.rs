//! Signing in with a passkey, without a username: the options for
//! `navigator.credentials.get` (discoverable credentials, user verification required),
//! then the assertion, which names the passkey (its credential id) and the person (its
//! user handle).

use usher_domain::{Amr, CeremonyKind, UserId};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey as WebauthnPasskey, PublicKeyCredential,
    WebauthnError,
};

use super::{
    MAX_RESPONSE_LEN, PasskeyError, Refusal, StartedCeremony, credential_id_text, relying_party,
    store_ceremony, take_ceremony, user_handle,
};
use super::{Starter, reserve_start};
use crate::Core;
use crate::client_address::ClientAddress;
use crate::failure::{Failure, blocking};
use crate::metrics::{self, Counter};

/// What finishing a passkey sign-in decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticationOutcome {
    /// The assertion verified: `user_id` signed in with the passkey `passkey_id`, by the
    /// methods `amr` (`hwk` for a device-bound passkey or `swk` for a synced one, `user`,
    /// `mfa`: RFC 8176; the authenticator verified the person, so it is multi-factor on
    /// its own).
    Accepted {
        user_id: UserId,
        passkey_id: String,
        amr: Vec<Amr>,
    },
    /// No stored passkey has this credential (never added, or removed), or the
    /// authenticator's user handle is not its person's. One answer for both, so the
    /// page reveals nothing about who exists.
    NotRecognised,
    /// The signature counter went backwards (a possibly cloned authenticator), now or
    /// before: the passkey is marked suspect and refused until it is removed.
    CounterRegression,
    /// The ceremony is unknown, already finished or expired: start again.
    Expired,
    /// The ceremony was started in another browser.
    OtherBrowser,
    /// The response does not verify (wrong challenge, origin or signature, no user
    /// verification, malformed).
    Invalid,
}

/// Starts a passkey sign-in in the browser whose binding cookie is `binding` (a new one
/// is made if it has none): the options for `navigator.credentials.get`, with no
/// `allowCredentials` (the authenticator offers the person's discoverable passkeys) and
/// `userVerification: "required"`.
pub async fn start_authentication(
    core: &Core,
    binding: Option<&str>,
    address: &ClientAddress,
) -> Result<StartedCeremony, PasskeyError> {
    let rp = relying_party(&core.settings)?;
    reserve_start(core, Starter::Address(address)).await?;
    let (mut options, state) = rp.start_discoverable_authentication().map_err(|e| {
        tracing::error!(cause = %e, "a passkey sign-in could not be started");
        Failure::Internal
    })?;
    // The page decides between a button (modal) and autofill (`"conditional"`).
    options.mediation = None;
    let challenge = serde_json::to_string(&options).map_err(|_| Failure::Internal)?;
    Ok(store_ceremony(
        core,
        CeremonyKind::Authenticate,
        None,
        binding,
        &state,
        challenge,
    )
    .await?)
}

/// Finishes a passkey sign-in: takes the ceremony `ceremony_id` (once, whatever
/// follows), checks that this browser (`binding`) started it, finds the passkey the
/// assertion `response` (the JSON of `navigator.credentials.get`'s credential) names,
/// checks its user handle, verifies it, and records the new signature counter and
/// backup state with one compare-and-set.
pub async fn finish_authentication(
    core: &Core,
    ceremony_id: &str,
    binding: Option<&str>,
    response: &str,
) -> Result<AuthenticationOutcome, PasskeyError> {
    let rp = relying_party(&core.settings)?;
    let taken = take_ceremony::<DiscoverableAuthentication>(
        core,
        CeremonyKind::Authenticate,
        ceremony_id,
        binding,
    )
    .await?;
    let state = match taken {
        Ok((_, state)) => state,
        Err(Refusal::Expired) => {
            return Ok(refused(None, "expired", AuthenticationOutcome::Expired));
        }
        Err(Refusal::OtherBrowser) => {
            return Ok(refused(
                None,
                "other_browser",
                AuthenticationOutcome::OtherBrowser,
            ));
        }
    };
    let assertion = if response.len() > MAX_RESPONSE_LEN {
        None
    } else {
        serde_json::from_str::<PublicKeyCredential>(response).ok()
    };
    let Some(assertion) = assertion else {
        return Ok(refused(None, "malformed", AuthenticationOutcome::Invalid));
    };
    let Ok((handle, raw_id)) = rp.identify_discoverable_authentication(&assertion) else {
        // No user handle: not a discoverable credential's assertion.
        return Ok(refused(
            None,
            "no_user_handle",
            AuthenticationOutcome::Invalid,
        ));
    };
    let credential_id = credential_id_text(raw_id);
    let store = core.stores.passkeys.clone();
    let Some(stored) = blocking(move || store.find_passkey(&credential_id)).await? else {
        return Ok(refused(
            None,
            "not_recognised",
            AuthenticationOutcome::NotRecognised,
        ));
    };
    let user = stored.user_id.clone();
    if user_handle(&user) != handle {
        return Ok(refused(
            Some(&user),
            "user_handle_mismatch",
            AuthenticationOutcome::NotRecognised,
        ));
    }
    if stored.suspect {
        return Ok(refused(
            Some(&user),
            "suspect",
            AuthenticationOutcome::CounterRegression,
        ));
    }
    let mut credential: WebauthnPasskey =
        serde_json::from_str(&stored.credential).map_err(|e| {
            tracing::error!(passkey = %stored.id, cause = %e, "a stored passkey credential does not parse");
            Failure::Internal
        })?;
    let key = DiscoverableKey::from(&credential);
    let result = match rp.finish_discoverable_authentication(&assertion, state, &[key]) {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            let store = core.stores.passkeys.clone();
            let id = stored.id.clone();
            blocking(move || store.mark_passkey_suspect(&id)).await?;
            metrics::inc(Counter::PasskeyEvents, "counter_regression");
            tracing::warn!(
                event = "passkey_counter_regression",
                sub = %user,
                passkey = %stored.id,
                "a passkey's signature counter went backwards: possibly a cloned authenticator; it is now refused"
            );
            return Ok(refused(
                Some(&user),
                "counter_regression",
                AuthenticationOutcome::CounterRegression,
            ));
        }
        Err(e) => {
            tracing::info!(sub = %user, cause = %e, "a passkey assertion did not verify");
            return Ok(refused(
                Some(&user),
                "invalid",
                AuthenticationOutcome::Invalid,
            ));
        }
    };
    // Required by the ceremony's policy already; checked again because the `amr` says
    // so.
    if !result.user_verified() {
        return Ok(refused(
            Some(&user),
            "no_user_verification",
            AuthenticationOutcome::Invalid,
        ));
    }
    credential.update_credential(&result);
    let updated = serde_json::to_string(&credential).map_err(|_| Failure::Internal)?;
    let store = core.stores.passkeys.clone();
    let (id, credential_id) = (stored.id.clone(), stored.credential_id.clone());
    let (expected, now) = (stored.credential.clone(), core.now());
    let changed_meanwhile = blocking(move || {
        if store.update_passkey_credential(&id, &expected, &updated, now)? {
            Ok(None)
        } else {
            // Removed, marked suspect, or updated by a concurrent sign-in whose counter
            // this one did not see: look again to say which.
            store.find_passkey(&credential_id).map(Some)
        }
    })
    .await?;
    match changed_meanwhile {
        None => {}
        Some(None) => {
            return Ok(refused(
                Some(&user),
                "removed",
                AuthenticationOutcome::NotRecognised,
            ));
        }
        Some(Some(now)) if now.suspect => {
            return Ok(refused(
                Some(&user),
                "suspect",
                AuthenticationOutcome::CounterRegression,
            ));
        }
        Some(Some(_)) => {
            return Ok(refused(
                Some(&user),
                "concurrent_use",
                AuthenticationOutcome::Invalid,
            ));
        }
    }
    let device = if result.backup_eligible() {
        Amr::Swk
    } else {
        Amr::Hwk
    };
    metrics::inc(Counter::PasskeyEvents, "sign_in");
    tracing::info!(
        event = "passkey_sign_in",
        sub = %user,
        passkey = %stored.id,
        "a passkey sign-in was accepted"
    );
    Ok(AuthenticationOutcome::Accepted {
        user_id: user,
        passkey_id: stored.id,
        amr: vec![device, Amr::User, Amr::Mfa],
    })
}

/// The event of a sign-in refused (never the response, the credential or the ceremony
/// id; the person only when the passkey named one).
fn refused(
    user: Option<&UserId>,
    reason: &'static str,
    outcome: AuthenticationOutcome,
) -> AuthenticationOutcome {
    metrics::inc(Counter::PasskeyEvents, "sign_in_failed");
    match user {
        Some(user) => tracing::warn!(
            event = "passkey_sign_in_failed",
            sub = %user,
            reason,
            "a passkey sign-in was refused"
        ),
        None => tracing::warn!(
            event = "passkey_sign_in_failed",
            reason,
            "a passkey sign-in was refused"
        ),
    }
    outcome
}

/// A posted sign-in answer, decided as a form decides it: an answer longer than
/// [`super::MAX_RESPONSE_LEN`], or any answer where passkeys are unavailable, is
/// [`AuthenticationOutcome::Invalid`]; only a failing dependency is an error. The login
/// page and the second step both post answers through here.
pub async fn answer(
    core: &Core,
    ceremony_id: &str,
    binding: Option<&str>,
    response: &str,
) -> Result<AuthenticationOutcome, Failure> {
    if response.len() > super::MAX_RESPONSE_LEN {
        return Ok(AuthenticationOutcome::Invalid);
    }
    match finish_authentication(core, ceremony_id, binding, response).await {
        Ok(outcome) => Ok(outcome),
        // Finishing never counts starts nor passkeys: `Busy` and `Full` do not occur.
        Err(PasskeyError::Unavailable | PasskeyError::Busy { .. } | PasskeyError::Full) => {
            Ok(AuthenticationOutcome::Invalid)
        }
        Err(PasskeyError::Failure(f)) => Err(f),
    }
}
