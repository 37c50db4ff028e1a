//! The account page's single-use form tokens (CSRF). Every form the page renders carries
//! a fresh 256-bit token; the store keeps its SHA-256 with the hash of the session the
//! page was rendered for, the form's purpose and an expiry (`interaction_ttl`). Posting
//! the form takes the token with one `DELETE … RETURNING` (`FormTokenStore`), before
//! anything else is decided: of any number of posts of one form, exactly one proceeds.
//! A token shown to another session, for another purpose, or past its expiry is refused
//! (and spent all the same). Expired rows are purged with the other sign-in records.

use usher_domain::{FormToken, Session};

use crate::Core;
use crate::failure::{Failure, blocking};

/// What a form may do. One token per rendered page: every form of that page accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPurpose {
    /// The account page's forms: set up or remove the app, new recovery codes.
    Account,
    /// The authenticator-app setup page's form: confirm with a current code.
    TotpConfirm,
    /// "Forgot your password?": the address to mail a link to (no session: the token is
    /// bound to [`ANONYMOUS`]).
    PasswordForgot,
    /// The new-password form a reset link opens (bound to the link, not a session).
    PasswordReset,
    /// The sign-up form (bound to [`ANONYMOUS`], or to the invitation that opened it).
    SignUp,
    /// The device verification page's code entry (sealed, bound to [`ANONYMOUS`]).
    DeviceEntry,
    /// The device confirmation's Approve / Deny (bound to the session and the code).
    DeviceConfirm,
    /// The admin console's forms (one token per rendered page, bound to the session).
    Admin,
}

/// The binding of a form shown to nobody in particular (no session).
pub const ANONYMOUS: &str = "anonymous";

impl FormPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            FormPurpose::Account => "account",
            FormPurpose::TotpConfirm => "totp_confirm",
            FormPurpose::PasswordForgot => "password_forgot",
            FormPurpose::PasswordReset => "password_reset",
            FormPurpose::SignUp => "sign_up",
            FormPurpose::DeviceEntry => "device_entry",
            FormPurpose::DeviceConfirm => "device_confirm",
            FormPurpose::Admin => "admin",
        }
    }
}

/// Why a posted form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormRefusal {
    /// No token, or not one Usher makes, or spent already (or never issued).
    Unknown,
    /// Issued to another browser session.
    OtherSession,
    /// Issued for another form.
    WrongPurpose,
    /// Too old.
    Expired,
}

/// The length of a token: 32 random bytes as base64url without padding.
const TOKEN_LEN: usize = 43;

/// A new token for a form of `purpose` on a page rendered for `session`.
pub async fn issue(
    core: &Core,
    session: &Session,
    purpose: FormPurpose,
) -> Result<String, Failure> {
    issue_bound(core, &session.id_hash, purpose).await
}

/// A new token for a form of `purpose` bound to `binding`: a session's `id_hash`, the
/// hash of the link that opened the page, or [`ANONYMOUS`].
pub(crate) async fn issue_bound(
    core: &Core,
    binding: &str,
    purpose: FormPurpose,
) -> Result<String, Failure> {
    let (token, token_hash) = crate::secret_pair()?;
    let row = FormToken {
        token_hash,
        session_hash: binding.to_owned(),
        purpose: purpose.as_str().to_owned(),
        expires_at: core.now().plus(core.settings.interaction_ttl),
    };
    let forms = core.stores.forms.clone();
    blocking(move || forms.insert_form_token(&row)).await?;
    Ok(token)
}

/// Takes the posted `token` for a form of `purpose` in `session`: `Ok(Ok(()))` for the
/// one post that may proceed.
pub async fn take(
    core: &Core,
    session: &Session,
    token: Option<&str>,
    purpose: FormPurpose,
) -> Result<Result<(), FormRefusal>, Failure> {
    take_bound(core, &session.id_hash, token, purpose).await
}

/// Takes the posted `token` for a form of `purpose` bound to `binding`
/// ([`issue_bound`]).
pub(crate) async fn take_bound(
    core: &Core,
    binding: &str,
    token: Option<&str>,
    purpose: FormPurpose,
) -> Result<Result<(), FormRefusal>, Failure> {
    let Some(token) = token.filter(|t| well_formed(t)) else {
        return Ok(Err(FormRefusal::Unknown));
    };
    let hash = usher_keys::sha256_b64url(token);
    let forms = core.stores.forms.clone();
    let Some(row) = blocking(move || forms.take_form_token(&hash)).await? else {
        return Ok(Err(FormRefusal::Unknown));
    };
    let same_session = row.session_hash.len() == binding.len()
        && openssl::memcmp::eq(row.session_hash.as_bytes(), binding.as_bytes());
    Ok(if !same_session {
        Err(FormRefusal::OtherSession)
    } else if row.purpose != purpose.as_str() {
        Err(FormRefusal::WrongPurpose)
    } else if row.expires_at <= core.now() {
        Err(FormRefusal::Expired)
    } else {
        Ok(())
    })
}

/// What a sealed form token carries.
#[derive(serde::Serialize, serde::Deserialize)]
struct SealedForm {
    /// A random nonce, spent when the form is posted.
    n: String,
    /// The purpose.
    p: String,
    /// SHA-256 of the binding.
    b: String,
    /// Expiry, Unix seconds.
    e: i64,
}

/// The associated data of a sealed form token: nothing else sealed with the form key
/// passes for one.
const SEALED_FORM_PURPOSE: &[u8] = b"usher sealed form v1";

/// The longest sealed form token accepted (they are about 200 characters).
const MAX_SEALED_FORM_LEN: usize = 1024;

/// A single-use form token for a page anyone may open without a session ("Forgot your
/// password?", a reset link's form, sign-up): sealed under the form key, so showing the
/// page writes nothing — opening it a million times fills no table. Posting spends its
/// nonce ([`take_sealed`]), so it still works once.
pub fn issue_sealed(core: &Core, binding: &str, purpose: FormPurpose) -> Result<String, Failure> {
    let (nonce, _) = crate::secret_pair()?;
    let form = SealedForm {
        n: nonce,
        p: purpose.as_str().to_owned(),
        b: usher_keys::sha256_b64url(binding),
        e: core.now().plus(core.settings.interaction_ttl).seconds(),
    };
    let json = serde_json::to_vec(&form).map_err(|_| Failure::Internal)?;
    core.sealer.seal(&json, SEALED_FORM_PURPOSE).map_err(|e| {
        tracing::error!(cause = %e, "a form token could not be sealed");
        Failure::Internal
    })
}

/// Takes a sealed form token: `Ok(())` for exactly one post of a token [`issue_sealed`]
/// made for `binding` and `purpose` that has not expired, however many race (its nonce
/// is spent by an insert that fails once it exists).
pub async fn take_sealed(
    core: &Core,
    binding: &str,
    token: Option<&str>,
    purpose: FormPurpose,
) -> Result<Result<(), FormRefusal>, Failure> {
    let Some(token) = token.filter(|t| t.len() <= MAX_SEALED_FORM_LEN) else {
        return Ok(Err(FormRefusal::Unknown));
    };
    let Ok(json) = core.sealer.open(token, SEALED_FORM_PURPOSE) else {
        return Ok(Err(FormRefusal::Unknown));
    };
    let Ok(form) = serde_json::from_slice::<SealedForm>(&json) else {
        return Ok(Err(FormRefusal::Unknown));
    };
    let bound = usher_keys::sha256_b64url(binding);
    let same_binding =
        form.b.len() == bound.len() && openssl::memcmp::eq(form.b.as_bytes(), bound.as_bytes());
    if !same_binding {
        return Ok(Err(FormRefusal::OtherSession));
    }
    if form.p != purpose.as_str() {
        return Ok(Err(FormRefusal::WrongPurpose));
    }
    let expires_at = usher_domain::UnixTime(form.e);
    if expires_at <= core.now() {
        return Ok(Err(FormRefusal::Expired));
    }
    let nonce_hash = usher_keys::sha256_b64url(&format!("form:{}", form.n));
    let nonces = core.stores.nonces.clone();
    let spent = blocking(move || nonces.spend_nonce(&nonce_hash, expires_at)).await?;
    Ok(if spent {
        Ok(())
    } else {
        Err(FormRefusal::Unknown)
    })
}

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestNode;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sealed_form_token_works_once_however_many_posts_race() {
        let node = TestNode::new();
        let token = issue_sealed(&node.core, "reset:x", FormPurpose::PasswordReset).unwrap();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (core, token) = (node.core.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                take_sealed(&core, "reset:x", Some(&token), FormPurpose::PasswordReset).await
            }));
        }
        let mut taken = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Ok(()) => taken += 1,
                Err(refusal) => assert_eq!(refusal, FormRefusal::Unknown),
            }
        }
        assert_eq!(taken, 1);
    }

    #[tokio::test]
    async fn a_sealed_form_token_is_refused_for_another_binding_purpose_or_after_it_expires() {
        let node = TestNode::new();
        let core = &node.core;
        let take = |binding: &'static str, token: String, purpose| async move {
            take_sealed(core, binding, Some(&token), purpose)
                .await
                .unwrap()
        };
        let token = issue_sealed(core, "reset:x", FormPurpose::PasswordReset).unwrap();
        assert_eq!(
            take("reset:y", token.clone(), FormPurpose::PasswordReset).await,
            Err(FormRefusal::OtherSession)
        );
        assert_eq!(
            take("reset:x", token.clone(), FormPurpose::PasswordForgot).await,
            Err(FormRefusal::WrongPurpose)
        );
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            take("reset:x", tampered, FormPurpose::PasswordReset).await,
            Err(FormRefusal::Unknown)
        );
        // The refusals above spent nothing: the token still works once.
        assert_eq!(
            take("reset:x", token.clone(), FormPurpose::PasswordReset).await,
            Ok(())
        );
        let late = issue_sealed(core, "reset:x", FormPurpose::PasswordReset).unwrap();
        node.advance(core.settings.interaction_ttl);
        assert_eq!(
            take("reset:x", late, FormPurpose::PasswordReset).await,
            Err(FormRefusal::Expired)
        );
        assert_eq!(
            take_sealed(core, "reset:x", None, FormPurpose::PasswordReset)
                .await
                .unwrap(),
            Err(FormRefusal::Unknown)
        );
    }
}
