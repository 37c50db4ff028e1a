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
pub async fn issue_bound(
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
pub async fn take_bound(
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

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
