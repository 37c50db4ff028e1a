//! The pending interaction carried from page to page, and the single-use rules of its
//! forms.
//!
//! The first page (login, or consent for someone already signed in) writes nothing: its
//! form carries the pending request sealed (`SealedInteraction`, AES-256-GCM under a KEK
//! sub-key) with a fresh interaction id, an expiry and the hash of the browser's binding
//! cookie. Posting that form stores the interaction under its id with an insert that
//! fails if the id exists, so the first form works once; later forms carry the id and a
//! one-use CSRF token, spent by compare-and-set. Every form is accepted only from a
//! browser whose binding cookie hashes to the one recorded (docs/design/sign-in.md).

use usher_domain::authorize::AuthorizationRequest;
use usher_domain::{Client, Interaction, InteractionStep, UnixTime, UserId};
use usher_keys::sha256_b64url;

use super::{Form, FormFields, FormRefusal};
use crate::redact::REDACTED;
use crate::{Core, Failure, blocking, secret_pair};

/// What the first page's form carries, sealed: an interaction not stored yet, with
/// everything needed to continue it on any node.
#[derive(serde::Serialize, serde::Deserialize)]
struct SealedInteraction {
    id: String,
    step: String,
    browser_hash: String,
    user_id: Option<String>,
    auth_time: Option<i64>,
    created_at: i64,
    expires_at: i64,
    request: AuthorizationRequest,
}

/// The associated data of a sealed interaction: nothing else sealed with the form key can
/// pass for one.
const SEAL_PURPOSE: &[u8] = b"usher pending interaction v1";

/// The longest sealed interaction a page may carry. The login and consent forms are
/// limited to 64 KiB (`usher_http::params::MAX_FORM_BYTES`); this leaves room for the
/// other fields. Only a request whose values are near the 4 KiB limit each, and full of
/// characters JSON must escape, comes near it.
pub const MAX_SEALED_LEN: usize = 48 * 1024;

/// A first page's form, sealed, and the binding cookie value to set with it.
pub struct Sealed {
    pub sealed: String,
    pub binding: String,
}

/// Seals a new interaction at `step` for `request` (and the signed-in `user`, at the
/// consent step), bound to the browser's binding cookie — the one it has, or a new random
/// one, returned to be set.
pub fn seal(
    core: &Core,
    binding: Option<&str>,
    request: &AuthorizationRequest,
    step: InteractionStep,
    user: Option<&(UserId, UnixTime)>,
) -> Result<Sealed, Failure> {
    let binding = match binding {
        Some(b) => b.to_owned(),
        None => secret_pair()?.0,
    };
    let (id, _) = secret_pair()?;
    let now = core.now();
    let pending = SealedInteraction {
        id,
        step: step.as_str().to_owned(),
        browser_hash: sha256_b64url(&binding),
        user_id: user.map(|(u, _)| u.as_str().to_owned()),
        auth_time: user.map(|(_, t)| t.seconds()),
        created_at: now.seconds(),
        expires_at: now.plus(core.settings.interaction_ttl).seconds(),
        request: request.clone(),
    };
    let json = serde_json::to_vec(&pending).map_err(|_| Failure::Internal)?;
    let sealed = core.sealer.seal(&json, SEAL_PURPOSE).map_err(|e| {
        tracing::error!(cause = %e, "a pending interaction could not be sealed");
        Failure::Internal
    })?;
    Ok(Sealed { sealed, binding })
}

/// Why a posted form cannot continue: refused, or the server failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    Refused(FormRefusal),
    Failure(Failure),
}

impl From<Failure> for FormError {
    fn from(f: Failure) -> FormError {
        FormError::Failure(f)
    }
}

impl From<FormRefusal> for FormError {
    fn from(r: FormRefusal) -> FormError {
        FormError::Refused(r)
    }
}

/// A pending interaction, loaded for a form step. `Debug` does not show the posted
/// form's sealed interaction or token.
#[derive(Debug)]
pub struct Pending {
    pub interaction: Interaction,
    pub request: AuthorizationRequest,
    pub client: Client,
    form: PendingForm,
}

/// Which kind of form was posted. `Debug` shows neither the sealed interaction nor the
/// token.
enum PendingForm {
    /// The first form (the sealed interaction it carried): not stored yet.
    Sealed(String),
    /// A later form, with its token and that token's hash.
    Stored { csrf: String, csrf_hash: String },
}

impl std::fmt::Debug for PendingForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PendingForm::Sealed(_) => f.debug_tuple("Sealed").field(&REDACTED).finish(),
            PendingForm::Stored { csrf_hash, .. } => f
                .debug_struct("Stored")
                .field("csrf", &REDACTED)
                .field("csrf_hash", csrf_hash)
                .finish(),
        }
    }
}

impl Pending {
    /// The posted form's own fields, to show the same form again when it was refused
    /// before being spent (a throttled login): it stays good for one more attempt.
    pub fn unspent_form(&self) -> Form {
        match &self.form {
            PendingForm::Sealed(sealed) => Form::Sealed(sealed.clone()),
            PendingForm::Stored { csrf, .. } => Form::Stored {
                interaction: self.interaction.id.clone(),
                csrf: csrf.clone(),
            },
        }
    }
}

fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

/// Loads the interaction a form posts to, at `step`, and checks that the form belongs to
/// this browser: the binding hash it records is that of the browser's binding cookie
/// (`binding`). A first form's sealed interaction must open under the form key and be
/// unexpired; a later form's stored interaction must be live. A form already used is
/// refused here too, by reading only (a first form whose interaction is stored, a later
/// form whose token is not the current one), so a replayed form reaches neither the
/// throttle nor the store. Nothing is spent here: [`renew`] and [`conclude`] do that, and
/// decide races.
pub async fn pending(
    core: &Core,
    fields: FormFields<'_>,
    binding: Option<&str>,
    step: InteractionStep,
) -> Result<Pending, FormError> {
    let binding = binding.map(sha256_b64url);
    let now = core.now();
    let (interaction, form) = match fields.pending {
        Some(sealed) => {
            let binding = binding.ok_or(FormRefusal::OtherBrowser)?;
            let interaction = unseal(core, sealed, &binding, step, now)?;
            // Already stored: this first form was used. Said now, before anything is
            // reserved or written; the insert in `renew`/`conclude` still decides a race.
            let store = core.stores.interactions.clone();
            let lookup = interaction.id.clone();
            if blocking(move || store.get_interaction(&lookup, now))
                .await?
                .is_some()
            {
                return Err(FormRefusal::AlreadySubmitted.into());
            }
            (interaction, PendingForm::Sealed(sealed.to_owned()))
        }
        None => {
            let (Some(id), Some(csrf)) = (fields.interaction, fields.csrf) else {
                return Err(FormRefusal::Incomplete.into());
            };
            let binding = binding.ok_or(FormRefusal::OtherBrowser)?;
            let store = core.stores.interactions.clone();
            let lookup = id.to_owned();
            let interaction = match blocking(move || store.get_interaction(&lookup, now)).await? {
                Some(i) if i.step == step => i,
                _ => return Err(FormRefusal::Expired.into()),
            };
            if !same_hash(&interaction.browser_hash, &binding) {
                return Err(FormRefusal::OtherBrowser.into());
            }
            let csrf_hash = sha256_b64url(csrf);
            // Not this form's current token (used, or never valid): said now, before
            // anything is reserved or written; the compare-and-set still decides a race.
            if !same_hash(&interaction.csrf_hash, &csrf_hash) {
                return Err(FormRefusal::AlreadySubmitted.into());
            }
            let form = PendingForm::Stored {
                csrf: csrf.to_owned(),
                csrf_hash,
            };
            (interaction, form)
        }
    };
    let request: AuthorizationRequest =
        serde_json::from_str(&interaction.request).map_err(|_| Failure::Internal)?;
    let client = core
        .client(&request.client_id)
        .await?
        .ok_or(FormRefusal::Expired)?;
    Ok(Pending {
        interaction,
        request,
        client,
        form,
    })
}

/// Opens a first form's sealed interaction: anything that does not open, is expired or is
/// for another step is refused as expired; one bound to another browser as such.
fn unseal(
    core: &Core,
    sealed: &str,
    binding_hash: &str,
    step: InteractionStep,
    now: UnixTime,
) -> Result<Interaction, FormError> {
    let opened = core
        .sealer
        .open(sealed, SEAL_PURPOSE)
        .ok()
        .and_then(|json| serde_json::from_slice::<SealedInteraction>(&json).ok());
    let s = opened.ok_or(FormRefusal::Expired)?;
    if !same_hash(&s.browser_hash, binding_hash) {
        return Err(FormRefusal::OtherBrowser.into());
    }
    if now.seconds() >= s.expires_at || s.step != step.as_str() {
        return Err(FormRefusal::Expired.into());
    }
    let user_id = match s.user_id.as_deref().map(UserId::parse) {
        None => None,
        Some(Some(u)) => Some(u),
        Some(None) => return Err(FormRefusal::Expired.into()),
    };
    let request = serde_json::to_string(&s.request).map_err(|_| Failure::Internal)?;
    Ok(Interaction {
        id: s.id,
        // Set by `renew` or `conclude`, whichever stores it.
        csrf_hash: Interaction::SPENT.to_owned(),
        browser_hash: s.browser_hash,
        step,
        request,
        user_id,
        auth_time: s.auth_time.map(UnixTime),
        created_at: UnixTime(s.created_at),
        expires_at: UnixTime(s.expires_at),
        first_amr: None,
    })
}

/// The token of an interaction's next form, and its hash. `Debug` does not show the
/// token.
pub struct NextForm {
    pub csrf: String,
    pub csrf_hash: String,
}

impl std::fmt::Debug for NextForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextForm")
            .field("csrf", &REDACTED)
            .field("csrf_hash", &self.csrf_hash)
            .finish()
    }
}

/// Spends the posted form and hands out the token of the next form of this interaction:
/// a first form stores the interaction (once: the insert fails if its id exists), a later
/// one replaces its CSRF token by compare-and-set.
pub async fn renew(core: &Core, p: &Pending) -> Result<NextForm, FormError> {
    let (csrf, csrf_hash) = secret_pair()?;
    let next = Interaction {
        csrf_hash: csrf_hash.clone(),
        ..p.interaction.clone()
    };
    let spent = match &p.form {
        PendingForm::Sealed(_) => insert(core, next).await?,
        PendingForm::Stored {
            csrf_hash: expected,
            ..
        } => advance(core, expected, &next).await?,
    };
    if !spent {
        return Err(FormRefusal::AlreadySubmitted.into());
    }
    Ok(NextForm { csrf, csrf_hash })
}

/// Spends the posted form and ends the interaction. A first form stores its interaction
/// already finished, keeping the id so that the sealed form cannot be posted again.
pub async fn conclude(core: &Core, p: &Pending) -> Result<(), FormError> {
    let ended = match &p.form {
        PendingForm::Sealed(_) => {
            let spent = Interaction {
                csrf_hash: Interaction::SPENT.to_owned(),
                request: String::new(),
                ..p.interaction.clone()
            };
            insert(core, spent).await?
        }
        PendingForm::Stored { csrf_hash, .. } => finish(core, &p.interaction.id, csrf_hash).await?,
    };
    if !ended {
        return Err(FormRefusal::AlreadySubmitted.into());
    }
    Ok(())
}

/// Stores a new interaction; `Ok(false)`: its id exists (its sealed form was used).
async fn insert(core: &Core, interaction: Interaction) -> Result<bool, Failure> {
    let store = core.stores.interactions.clone();
    blocking(move || store.insert_interaction(&interaction)).await
}

/// Replaces the interaction's CSRF token (and step/user) if the form's token is still the
/// current one. `Ok(false)`: the token was already used (or never valid).
pub async fn advance(
    core: &Core,
    expected_csrf_hash: &str,
    next: &Interaction,
) -> Result<bool, Failure> {
    let store = core.stores.interactions.clone();
    let (expected, next, now) = (expected_csrf_hash.to_owned(), next.clone(), core.now());
    blocking(move || store.advance_interaction(&expected, &next, now)).await
}

/// Ends the interaction if the form's token is still current.
pub async fn finish(core: &Core, id: &str, expected_csrf_hash: &str) -> Result<bool, Failure> {
    let store = core.stores.interactions.clone();
    let (id, expected, now) = (id.to_owned(), expected_csrf_hash.to_owned(), core.now());
    blocking(move || store.finish_interaction(&id, &expected, now)).await
}
