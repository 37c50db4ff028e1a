//! Adding a passkey to a signed-in person's account: the options for
//! `navigator.credentials.create` (their existing passkeys excluded, user verification
//! and a discoverable credential required), then the verified response stored as a
//! passkey.

use usher_domain::{CeremonyKind, Passkey, PasskeyInsert, PasskeyName, User};
use webauthn_rs::prelude::{CredentialID, PasskeyRegistration, RegisterPublicKeyCredential};

use super::{
    MAX_PASSKEYS, MAX_RESPONSE_LEN, PasskeyError, Refusal, StartedCeremony, Starter,
    credential_id_text, relying_party, reserve_start, store_ceremony, take_ceremony, user_handle,
};
use crate::Core;
use crate::failure::{Failure, blocking};
use crate::metrics::{self, Counter};

/// What finishing a registration decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationOutcome {
    /// The passkey was verified and stored.
    Added(Passkey),
    /// The ceremony is unknown, already finished, expired, or was started for another
    /// person: start again.
    Expired,
    /// The ceremony was started in another browser.
    OtherBrowser,
    /// The response does not verify (wrong challenge or origin, no user verification,
    /// malformed): nothing was stored.
    Invalid,
    /// This authenticator's credential is already stored (for this person or another).
    Duplicate,
    /// The person has [`MAX_PASSKEYS`] passkeys (another was added meanwhile): nothing
    /// was stored.
    Full,
}

/// Starts adding a passkey for `user`, in the browser whose binding cookie is `binding`
/// (a new one is made if it has none): the options for `navigator.credentials.create`,
/// with the person's passkeys excluded, `userVerification: "required"` and
/// `residentKey: "required"` (a passkey signs in without a username).
pub async fn start_registration(
    core: &Core,
    user: &User,
    binding: Option<&str>,
) -> Result<StartedCeremony, PasskeyError> {
    let rp = relying_party(&core.settings)?;
    let store = core.stores.passkeys.clone();
    let owner = user.id.clone();
    let existing = blocking(move || store.list_passkeys(&owner)).await?;
    if existing.len() >= MAX_PASSKEYS {
        return Err(PasskeyError::Full);
    }
    reserve_start(core, Starter::Person(&user.id)).await?;
    let mut exclude = Vec::with_capacity(existing.len());
    for passkey in &existing {
        let raw = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &passkey.credential_id,
        )
        .map_err(|_| {
            tracing::error!(passkey = %passkey.id, "a stored passkey's credential id is not base64url");
            Failure::Internal
        })?;
        exclude.push(CredentialID::from(raw));
    }
    let display = user
        .name
        .as_ref()
        .map_or_else(|| user.username.as_str(), |n| n.as_str());
    let (options, state) = rp
        .start_passkey_registration(
            user_handle(&user.id),
            user.username.as_str(),
            display,
            Some(exclude),
        )
        .map_err(|e| {
            tracing::error!(cause = %e, "a passkey registration could not be started");
            Failure::Internal
        })?;
    let mut options = serde_json::to_value(&options).map_err(|_| Failure::Internal)?;
    // webauthn-rs asks for a non-discoverable credential; a passkey that signs in
    // without a username must be discoverable (WebAuthn L3 §5.4.4).
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
        selection.insert("userVerification".into(), "required".into());
    } else {
        tracing::error!("webauthn-rs returned creation options without authenticatorSelection");
        return Err(Failure::Internal.into());
    }
    let challenge = serde_json::to_string(&options).map_err(|_| Failure::Internal)?;
    Ok(store_ceremony(
        core,
        CeremonyKind::Register,
        Some(&user.id),
        binding,
        &state,
        challenge,
    )
    .await?)
}

/// Finishes adding a passkey for `user`: takes the ceremony `ceremony_id` (once,
/// whatever follows), checks that this browser (`binding`) started it for this person,
/// verifies `response` (the JSON of `navigator.credentials.create`'s credential) and
/// stores the passkey as `name`.
pub async fn finish_registration(
    core: &Core,
    user: &User,
    ceremony_id: &str,
    binding: Option<&str>,
    response: &str,
    name: &PasskeyName,
) -> Result<RegistrationOutcome, PasskeyError> {
    let rp = relying_party(&core.settings)?;
    let taken =
        take_ceremony::<PasskeyRegistration>(core, CeremonyKind::Register, ceremony_id, binding)
            .await?;
    let state = match taken {
        Ok((ceremony, state)) if ceremony.user_id.as_ref() == Some(&user.id) => state,
        Ok(_) | Err(Refusal::Expired) => {
            return Ok(refused(user, "expired", RegistrationOutcome::Expired));
        }
        Err(Refusal::OtherBrowser) => {
            return Ok(refused(
                user,
                "other_browser",
                RegistrationOutcome::OtherBrowser,
            ));
        }
    };
    let credential = if response.len() > MAX_RESPONSE_LEN {
        None
    } else {
        serde_json::from_str::<RegisterPublicKeyCredential>(response).ok()
    };
    let Some(credential) = credential else {
        return Ok(refused(user, "malformed", RegistrationOutcome::Invalid));
    };
    let verified = match rp.finish_passkey_registration(&credential, &state) {
        Ok(verified) => verified,
        Err(e) => {
            // An excluded (already registered) authenticator fails verification too;
            // say so rather than "invalid".
            let id = credential_id_text(credential.raw_id.as_slice());
            let store = core.stores.passkeys.clone();
            if blocking(move || store.find_passkey(&id)).await?.is_some() {
                return Ok(refused(user, "duplicate", RegistrationOutcome::Duplicate));
            }
            tracing::info!(sub = %user.id, cause = %e, "a passkey registration did not verify");
            return Ok(refused(user, "invalid", RegistrationOutcome::Invalid));
        }
    };
    let credential_json = serde_json::to_string(&verified).map_err(|e| {
        tracing::error!(cause = %e, "a verified passkey does not serialise");
        Failure::Internal
    })?;
    let id = usher_keys::random_token(16).map_err(|e| {
        tracing::error!(cause = %e, "no randomness");
        Failure::Internal
    })?;
    let passkey = Passkey {
        id,
        user_id: user.id.clone(),
        credential_id: credential_id_text(verified.cred_id().as_slice()),
        name: name.clone(),
        credential: credential_json,
        created_at: core.now(),
        last_used_at: None,
        suspect: false,
    };
    let store = core.stores.passkeys.clone();
    let row = passkey.clone();
    match blocking(move || store.insert_passkey(&row, MAX_PASSKEYS)).await? {
        PasskeyInsert::Stored => {}
        PasskeyInsert::Duplicate => {
            return Ok(refused(user, "duplicate", RegistrationOutcome::Duplicate));
        }
        PasskeyInsert::Full => return Ok(refused(user, "full", RegistrationOutcome::Full)),
    }
    metrics::inc(Counter::PasskeyEvents, "added");
    tracing::warn!(
        event = "passkey_added",
        sub = %user.id,
        passkey = %passkey.id,
        "a passkey was added"
    );
    let event = usher_domain::AuditEvent::new(
        core.now(),
        usher_domain::AuditKind::MfaAdded,
        usher_domain::AuditActor::Person(user.id.clone()),
    )
    .person(&user.id)
    .target(&passkey.id)
    .detail(serde_json::json!({"factor": "passkey", "name": passkey.name.as_str()}));
    crate::audit::record(core, event).await;
    Ok(RegistrationOutcome::Added(passkey))
}

/// The event of a registration refused (never the response or the ceremony id).
fn refused(user: &User, reason: &'static str, outcome: RegistrationOutcome) -> RegistrationOutcome {
    metrics::inc(Counter::PasskeyEvents, "registration_failed");
    tracing::warn!(
        event = "passkey_registration_failed",
        sub = %user.id,
        reason,
        "a passkey was not added"
    );
    outcome
}
