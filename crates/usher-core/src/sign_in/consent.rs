//! The consent form's decision: the person approves or denies. Approval is remembered for
//! the person, the client and the scopes (added to what they granted before) and a code
//! is issued; denial goes back to the client as `access_denied`.

use usher_domain::{InteractionStep, ProtocolError};

use super::decision::rejection;
use super::interaction::{self, FormError};
use super::{Cookies, FormFields, FormRefusal, SignInOutcome};
use crate::{Core, blocking};

/// The person's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    /// The form's `decision` field: `approve` or `deny`.
    pub fn parse(raw: Option<&str>) -> Option<Decision> {
        match raw {
            Some("approve") => Some(Decision::Approve),
            Some("deny") => Some(Decision::Deny),
            _ => None,
        }
    }
}

fn refused(e: FormError) -> SignInOutcome {
    match e {
        FormError::Refused(r) => SignInOutcome::refused(r),
        FormError::Failure(f) => SignInOutcome::failure(f),
    }
}

/// Decides a posted consent form (`decision` as parsed by [`Decision::parse`]).
pub async fn consent(
    core: &Core,
    fields: FormFields<'_>,
    decision: Option<Decision>,
    cookies: Cookies<'_>,
) -> SignInOutcome {
    let p =
        match interaction::pending(core, fields, cookies.binding, InteractionStep::Consent).await {
            Ok(p) => p,
            Err(e) => return refused(e),
        };
    let Some(decision) = decision else {
        return SignInOutcome::refused(FormRefusal::NoDecision);
    };
    // The person who consents must still be the one signed in in this browser.
    let session = match core.session(cookies.session).await {
        Ok(Some(s)) if Some(&s.user_id) == p.interaction.user_id.as_ref() => s,
        Ok(_) => return SignInOutcome::refused(FormRefusal::NoLongerSignedIn),
        Err(f) => return SignInOutcome::failure(f),
    };
    if let Err(e) = interaction::conclude(core, &p).await {
        return refused(e);
    }
    let request = &p.request;
    if decision == Decision::Deny {
        tracing::info!(client_id = %p.client.id, "consent denied");
        return SignInOutcome::error_to_client(
            &request.redirect_uri,
            request.state.as_deref(),
            rejection(ProtocolError::AccessDenied, "the person denied the request"),
        );
    }
    // Membership may have changed while the consent page was open.
    if let Some(refused) =
        super::decision::group_gate(core, &p.client, request, &session.user_id).await
    {
        return refused;
    }
    // A metadata-document client gets its row now, when a person approves it.
    if let Err(f) = core.anchor_metadata_client(&p.client).await {
        return SignInOutcome::failure(f);
    }
    let consents = core.stores.consents.clone();
    let (user, client_id, now) = (session.user_id.clone(), p.client.id.clone(), core.now());
    let (scope, resources) = (request.scope.clone(), request.resources.clone());
    let saved = blocking(move || {
        let granted = consents
            .get_consent(&user, &client_id)?
            .unwrap_or_default()
            .widened(&scope, &resources);
        consents.save_consent(&user, &client_id, &granted, now)
    })
    .await;
    if let Err(f) = saved {
        return SignInOutcome::failure(f);
    }
    super::code::issue_code(core, request, &session).await
}
