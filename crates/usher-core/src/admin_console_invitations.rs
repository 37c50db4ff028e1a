//! The console's invitations and initial access tokens (`/admin/invitations`,
//! `/admin/registration-tokens`): the admin operations of
//! [`crate::admin::invitations`] and [`crate::admin::registration_tokens`], as the
//! signed-in operator, with a log note (never the link or the token).

use super::{Admin, note};
use crate::Core;
use crate::admin::invitations::{self, InvitationInput, InvitationView, RevokedView, Sending};
use crate::admin::page::{Page, PageRequest};
use crate::admin::registration_tokens::{self, TokenInput, TokenView};
use crate::admin::{AdminError, AdminStores, run};

/// A page of the live invitations.
pub async fn invitations(
    core: &Core,
    _admin: &Admin,
    page: PageRequest,
) -> Result<Page<InvitationView>, AdminError> {
    let stores = AdminStores::of(core);
    let now = core.now();
    run(move || invitations::list(&stores, now, &page)).await
}

/// Invites `email` (the form's fields as typed); with `want_link`, the answer holds the
/// link, to show once.
pub async fn invite(
    core: &Core,
    admin: &Admin,
    email: &str,
    name: Option<&str>,
    expires_in: Option<&str>,
    want_link: bool,
) -> Result<invitations::Created, AdminError> {
    let input = InvitationInput::parse(email, name, expires_in)?;
    let stores = AdminStores::of(core);
    let (settings, mailing) = (core.settings.clone(), core.mail.clone());
    let by = admin.by(core);
    let made = run(move || {
        let sending = Sending {
            mode: settings.signup,
            issuer: &settings.issuer,
            mailing: Some(&mailing),
        };
        invitations::create(&stores, &sending, input, want_link, &by)
    })
    .await?;
    note(admin, "invitation created", "an address");
    Ok(made)
}

/// Revokes every invitation to `email`.
pub async fn uninvite(core: &Core, admin: &Admin, email: &str) -> Result<RevokedView, AdminError> {
    let email = invitations::parse_email(email)?;
    let stores = AdminStores::of(core);
    let by = admin.by(core);
    let done = run(move || invitations::revoke(&stores, &email, &by)).await?;
    note(admin, "invitations revoked", "an address");
    Ok(done)
}

/// A page of the initial access tokens (never the tokens).
pub async fn registration_tokens(
    core: &Core,
    _admin: &Admin,
    page: PageRequest,
) -> Result<Page<TokenView>, AdminError> {
    let stores = AdminStores::of(core);
    run(move || registration_tokens::list(&stores, &page)).await
}

/// A new initial access token from the form's fields (seconds and uses, as typed).
pub async fn create_registration_token(
    core: &Core,
    admin: &Admin,
    expires_in: &str,
    max_uses: &str,
) -> Result<registration_tokens::Created, AdminError> {
    let expires_in: u64 = match expires_in.trim() {
        "" => registration_tokens::DEFAULT_EXPIRES_IN,
        raw => raw.parse().map_err(|_| {
            AdminError::Invalid(format!("--expires-in {raw:?} is not a number of seconds"))
        })?,
    };
    let max_uses: u32 = match max_uses.trim() {
        "" => 1,
        raw => raw
            .parse()
            .map_err(|_| AdminError::Invalid(format!("--max-uses {raw:?} is not a number")))?,
    };
    let input = TokenInput::parse(expires_in, max_uses)?;
    let stores = AdminStores::of(core);
    let hasher = core.secrets.clone();
    let by = admin.by(core);
    let created = run(move || registration_tokens::create(&stores, &hasher, input, &by)).await?;
    note(admin, "initial access token created", &created.record.id);
    Ok(created)
}

/// Revokes initial access token `id`.
pub async fn revoke_registration_token(
    core: &Core,
    admin: &Admin,
    id: &str,
) -> Result<(), AdminError> {
    let id = registration_tokens::parse_id(id)?;
    let stores = AdminStores::of(core);
    let by = admin.by(core);
    let target = id.clone();
    run(move || registration_tokens::revoke(&stores, &target, &by)).await?;
    note(admin, "initial access token revoked", &id);
    Ok(())
}

/// The live invitation whose handle is `id` (the revocation's confirmation page names
/// its address without putting the address in a URL).
pub async fn invitation(
    core: &Core,
    _admin: &Admin,
    id: &str,
) -> Result<InvitationView, AdminError> {
    let stores = AdminStores::of(core);
    let now = core.now();
    let id = id.to_owned();
    run(move || {
        invitations::live(&stores, now)?
            .iter()
            .map(InvitationView::of)
            .find(|v| v.id == id)
            .ok_or_else(|| {
                AdminError::NotFound("no such invitation (used, expired or revoked)".to_owned())
            })
    })
    .await
}
