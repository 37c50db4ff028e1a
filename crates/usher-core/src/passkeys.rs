//! Passkeys (WebAuthn; issue 14, docs/design/mfa.md): adding one to a person's account,
//! signing in with one, and the account page's list, rename and remove — each a decision
//! returning a typed outcome. The sign-in flow and the pages call these; this module
//! knows neither.
//!
//! The ceremonies are performed by `webauthn-rs` (its cryptography is OpenSSL's). The
//! relying party is derived from the issuer: its id is the issuer's host, its origin the
//! issuer's origin ([`relying_party`]). WebAuthn refuses IP addresses as relying-party
//! ids, so with an issuer such as `http://127.0.0.1:8080` passkeys are
//! [`PasskeyError::Unavailable`].
//!
//! A ceremony (a registration or a sign-in) is started by one request and finished by
//! another, possibly on another node: its state (the challenge) is stored in the
//! database, sealed under the factor sub-key of the KEK with the ceremony id and kind as
//! associated data, under the hash of a random 256-bit ceremony id that only the page
//! carries, with the hash of the browser-binding cookie and a five-minute expiry.
//! Finishing *takes* the row (one `DELETE … RETURNING`: a challenge is answered at most
//! once, whatever the outcome), then checks the expiry, the browser and the person, and
//! only then verifies the response.
//!
//! After a sign-in the stored credential (signature counter, backup state) is replaced
//! by one compare-and-set on the value it was read as. A counter that went backwards
//! marks the passkey suspect and refuses it from then on. Credentials, challenges,
//! ceremony ids and binding cookies never reach a log line; the security events
//! (`passkey_added`, `passkey_removed`, `passkey_sign_in_failed` with a `reason`,
//! `passkey_counter_regression`) are at `warn`.

mod authentication;
mod registration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use usher_domain::{
    CEREMONY_TTL_SECONDS, CeremonyKind, Passkey, PasskeyName, Reservation, ThrottlePolicy,
    UnixTime, UserId, WebauthnCeremony,
};
use webauthn_rs::prelude::{Url, Uuid, Webauthn, WebauthnBuilder};

use crate::client_address::ClientAddress;
use crate::failure::{Failure, blocking};
use crate::metrics::{self, Counter};
use crate::{Core, Settings, secret_pair};

pub use authentication::{
    AuthenticationOutcome, answer, finish_authentication, start_authentication,
};
pub use registration::{RegistrationOutcome, finish_registration, start_registration};

/// The longest ceremony id accepted (ours are 43 characters); longer text is not looked up.
const MAX_CEREMONY_ID_LEN: usize = 128;

/// The longest response accepted from `navigator.credentials.create/get`, in bytes. A
/// real one is a few kilobytes (an attestation with a certificate chain).
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// The most passkeys one person may have. A cap keeps one account's rows (and the
/// exclusion list sent with every registration) small; nobody needs more.
pub const MAX_PASSKEYS: usize = 25;

/// Ceremonies one address (a sign-in) or one person (a registration) may start in five
/// minutes. Every start stores a row that lives five minutes, and the login page starts
/// one on every load (autofill); a person never needs more than a few.
pub const CEREMONIES_PER_STARTER: u32 = 30;

/// Ceremonies everyone together may start in five minutes: bounds the table when many
/// addresses start ceremonies at once (an IPv6 attacker has many /64 networks). Reaching
/// it delays passkey sign-ins for up to five minutes; passwords are not affected.
pub const CEREMONIES_IN_ALL: u32 = 20_000;

/// Who a new ceremony is counted against.
#[derive(Debug, Clone, Copy)]
pub enum Starter<'a> {
    /// A sign-in: the client address (not counted per address when unknown or behind an
    /// untrusted proxy; then only the total counts).
    Address(&'a ClientAddress),
    /// A registration: the signed-in person.
    Person(&'a UserId),
}

/// Reserves one ceremony start for `starter` and one in the total, or says how long to
/// wait. A start is never given back: what is limited is rows written.
async fn reserve_start(core: &Core, starter: Starter<'_>) -> Result<(), PasskeyError> {
    let own = match starter {
        Starter::Address(address) => address.throttle_key().map(|k| format!("passkey-start:{k}")),
        Starter::Person(user) => Some(format!("passkey-start:user:{user}")),
    };
    let keys = own
        .into_iter()
        .map(|k| (k, CEREMONIES_PER_STARTER))
        .chain([("passkey-start:all".to_owned(), CEREMONIES_IN_ALL)]);
    for (key, most) in keys {
        let policy = ThrottlePolicy {
            max_failures: most,
            first_lock: CEREMONY_TTL_SECONDS,
            window: CEREMONY_TTL_SECONDS,
            max_lock: CEREMONY_TTL_SECONDS,
        };
        let throttle = core.stores.throttle.clone();
        let now = core.now();
        let reserved = blocking(move || throttle.reserve_attempt(&key, now, &policy)).await?;
        if let Reservation::Refused { until } = reserved {
            metrics::inc(Counter::PasskeyEvents, "start_refused");
            tracing::warn!(
                event = "passkey_start_refused",
                "a passkey ceremony was not started: too many started lately"
            );
            return Err(PasskeyError::Busy {
                wait: (until.seconds() - now.seconds()).max(1),
            });
        }
    }
    Ok(())
}

/// Why a passkey ceremony could not run at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// Passkeys cannot be used with this issuer: its host is an IP address, and WebAuthn
    /// needs a domain name as the relying-party id. Offer no passkey on any page.
    #[error("passkeys need an issuer whose host is a domain name")]
    Unavailable,
    /// Too many ceremonies were started lately from this address (a sign-in), by this
    /// person (a registration), or by everyone together: nothing was stored; wait this
    /// many seconds.
    #[error("too many passkey ceremonies started: wait {wait} seconds")]
    Busy { wait: i64 },
    /// The person already has [`MAX_PASSKEYS`] passkeys: remove one to add another.
    #[error("the person has the most passkeys allowed")]
    Full,
    /// A dependency failed.
    #[error("{0:?}")]
    Failure(Failure),
}

impl From<Failure> for PasskeyError {
    fn from(f: Failure) -> PasskeyError {
        PasskeyError::Failure(f)
    }
}

/// A ceremony just started: what the page needs to run it and post its answer.
pub struct StartedCeremony {
    /// The ceremony's id, to post back with the response (random, 256 bits, base64url;
    /// only its hash is stored).
    pub ceremony_id: String,
    /// The options for `navigator.credentials.create` (registration) or `.get` (sign-in),
    /// as JSON: `{"publicKey": {…}}`, binary members in base64url (`assets/passkey.js`
    /// turns them into `ArrayBuffer`s). A sign-in's options carry no `mediation`: the
    /// script adds `"conditional"` for autofill.
    pub challenge: String,
    /// The browser-binding cookie value to set (the browser's own, kept, or a new one).
    pub binding: String,
    /// When the ceremony can no longer be finished.
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for StartedCeremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedCeremony")
            .field("ceremony_id", &crate::redact::REDACTED)
            .field("binding", &crate::redact::REDACTED)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What the account page shows of a passkey (never its credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySummary {
    /// Usher's id of the passkey, for the rename and remove forms.
    pub id: String,
    pub name: PasskeyName,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
    /// Its signature counter went backwards once: it is refused; the person should
    /// remove it (and add the authenticator again).
    pub suspect: bool,
}

impl From<&Passkey> for PasskeySummary {
    fn from(p: &Passkey) -> PasskeySummary {
        PasskeySummary {
            id: p.id.clone(),
            name: p.name.clone(),
            created_at: p.created_at,
            last_used_at: p.last_used_at,
            suspect: p.suspect,
        }
    }
}

/// The relying party of this issuer: id = the issuer's host, origin = the issuer's
/// origin (scheme, host and port; its path is not part of it). `Unavailable` when the
/// host is an IP address.
pub fn relying_party(settings: &Settings) -> Result<Webauthn, PasskeyError> {
    let issuer = Url::parse(settings.issuer.as_str()).map_err(|_| PasskeyError::Unavailable)?;
    let Some(rp_id) = issuer.domain() else {
        return Err(PasskeyError::Unavailable);
    };
    let origin = Url::parse(&issuer.origin().ascii_serialization())
        .map_err(|_| PasskeyError::Unavailable)?;
    WebauthnBuilder::new(rp_id, &origin)
        .map(|b| {
            b.rp_name(rp_id).timeout(std::time::Duration::from_secs(
                CEREMONY_TTL_SECONDS.unsigned_abs(),
            ))
        })
        .and_then(WebauthnBuilder::build)
        .map_err(|e| {
            tracing::error!(cause = %e, "the WebAuthn relying party cannot be built from the issuer");
            PasskeyError::Unavailable
        })
}

/// Whether this node can offer passkeys (its issuer's host is a domain name).
pub fn available(settings: &Settings) -> bool {
    relying_party(settings).is_ok()
}

/// The WebAuthn user handle of a person: their id itself when it is a UUID (as `usher
/// user add` makes them), else a UUID derived from it (the first 16 bytes of
/// `SHA-256("usher webauthn user handle v1:" + id)`, version 8). A sign-in finds the
/// passkey by its credential id and checks that the handle the authenticator returned is
/// the handle of the passkey's person.
pub fn user_handle(user: &UserId) -> Uuid {
    if let Ok(uuid) = Uuid::parse_str(user.as_str())
        && uuid.hyphenated().to_string() == user.as_str()
    {
        return uuid;
    }
    let digest = openssl::sha::sha256(format!("usher webauthn user handle v1:{user}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // RFC 9562 §5.8: version 8 (custom), variant 10.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// A credential id as stored: base64url without padding.
fn credential_id_text(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// The person's passkeys, oldest first, for the account page.
pub async fn list_passkeys(core: &Core, user: &UserId) -> Result<Vec<PasskeySummary>, Failure> {
    let store = core.stores.passkeys.clone();
    let owner = user.clone();
    let found = blocking(move || store.list_passkeys(&owner)).await?;
    Ok(found.iter().map(PasskeySummary::from).collect())
}

/// Renames the person's passkey `id`; `false` if they have no such passkey.
pub async fn rename_passkey(
    core: &Core,
    user: &UserId,
    id: &str,
    name: &PasskeyName,
) -> Result<bool, Failure> {
    let store = core.stores.passkeys.clone();
    let (owner, id, name) = (user.clone(), id.to_owned(), name.clone());
    blocking(move || store.rename_passkey(&owner, &id, &name)).await
}

/// Removes the person's passkey `id` (only theirs); `false` if they have no such
/// passkey. A `warn` event `passkey_removed`.
pub async fn remove_passkey(core: &Core, user: &UserId, id: &str) -> Result<bool, Failure> {
    let store = core.stores.passkeys.clone();
    let (owner, owned_id) = (user.clone(), id.to_owned());
    let removed = blocking(move || store.delete_passkey(&owner, &owned_id)).await?;
    if removed {
        metrics::inc(Counter::PasskeyEvents, "removed");
        tracing::warn!(event = "passkey_removed", sub = %user, passkey = id, "a passkey was removed");
        let event = usher_domain::AuditEvent::new(
            core.now(),
            usher_domain::AuditKind::MfaRemoved,
            usher_domain::AuditActor::Person(user.clone()),
        )
        .person(user)
        .target(id)
        .detail(serde_json::json!({"factor": "passkey"}));
        crate::audit::record(core, event).await;
    }
    Ok(removed)
}

/// Seals `state` and stores a new ceremony of `kind` for `user` (none for a sign-in),
/// bound to the browser's binding cookie (or a new one); its id and the cookie to set.
async fn store_ceremony(
    core: &Core,
    kind: CeremonyKind,
    user: Option<&UserId>,
    binding: Option<&str>,
    state: &impl serde::Serialize,
    challenge: String,
) -> Result<StartedCeremony, Failure> {
    let binding = match binding {
        Some(b) => b.to_owned(),
        None => secret_pair()?.0,
    };
    let (ceremony_id, id_hash) = secret_pair()?;
    let json = serde_json::to_vec(state).map_err(|e| {
        tracing::error!(cause = %e, "a WebAuthn ceremony state does not serialise");
        Failure::Internal
    })?;
    let sealed = core
        .factor_sealer
        .seal_ceremony(&ceremony_id, kind.as_str(), &json)
        .map_err(|e| {
            tracing::error!(cause = %e, "a WebAuthn ceremony state could not be sealed");
            Failure::Internal
        })?;
    let expires_at = core.now().plus(CEREMONY_TTL_SECONDS);
    let ceremony = WebauthnCeremony {
        id_hash,
        kind,
        user_id: user.cloned(),
        state: sealed,
        browser_hash: usher_keys::sha256_b64url(&binding),
        expires_at,
    };
    let store = core.stores.passkeys.clone();
    blocking(move || store.insert_ceremony(&ceremony)).await?;
    Ok(StartedCeremony {
        ceremony_id,
        challenge,
        binding,
        expires_at,
    })
}

/// Why a ceremony taken from the store cannot be finished here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Unknown, already finished, expired, of the other kind or for another person.
    Expired,
    /// Started in another browser (or this one has no binding cookie).
    OtherBrowser,
}

/// Takes the ceremony `ceremony_id` (it is gone afterwards, whatever follows) and checks
/// that it is of `kind`, unexpired, and started by this browser; returns its opened
/// state.
async fn take_ceremony<S: serde::de::DeserializeOwned>(
    core: &Core,
    kind: CeremonyKind,
    ceremony_id: &str,
    binding: Option<&str>,
) -> Result<Result<(WebauthnCeremony, S), Refusal>, Failure> {
    if ceremony_id.is_empty() || ceremony_id.len() > MAX_CEREMONY_ID_LEN {
        return Ok(Err(Refusal::Expired));
    }
    let id_hash = usher_keys::sha256_b64url(ceremony_id);
    let store = core.stores.passkeys.clone();
    let Some(ceremony) = blocking(move || store.take_ceremony(&id_hash)).await? else {
        return Ok(Err(Refusal::Expired));
    };
    if ceremony.kind != kind || ceremony.expires_at <= core.now() {
        return Ok(Err(Refusal::Expired));
    }
    let same_browser = binding.is_some_and(|b| {
        let hash = usher_keys::sha256_b64url(b);
        hash.len() == ceremony.browser_hash.len()
            && openssl::memcmp::eq(hash.as_bytes(), ceremony.browser_hash.as_bytes())
    });
    if !same_browser {
        return Ok(Err(Refusal::OtherBrowser));
    }
    let json = core
        .factor_sealer
        .open_ceremony(ceremony_id, kind.as_str(), &ceremony.state)
        .map_err(|e| {
            tracing::error!(cause = %e, "a stored WebAuthn ceremony state does not open");
            Failure::Internal
        })?;
    let state = serde_json::from_slice(&json).map_err(|e| {
        tracing::error!(cause = %e, "a stored WebAuthn ceremony state does not parse");
        Failure::Internal
    })?;
    Ok(Ok((ceremony, state)))
}

#[cfg(test)]
mod tests;
