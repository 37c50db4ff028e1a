//! Invitations to sign up (docs/design/accounts.md, "Sign-up and invitations"): create,
//! list, revoke — `usher user invite | invitations | uninvite`,
//! `/admin/api/v1/invitations` and the console's `/admin/invitations`.
//!
//! An invitation is mailed; its link is shown to the operator only when asked (the CLI's
//! `--print-link`, the API's `"return_link": true`, the console's "show me the link"),
//! once, in the answer to its creation. Without a mail server that delivers, asking is
//! required: an invitation nobody receives would be useless. The link is never logged
//! and never in an audit event (only the address, the name and the expiry).

use usher_domain::{
    AuditKind, Email, INVITATION_TTL, Invitation, Issuer, Letter, MAX_INVITATION_TTL, PersonName,
    SignupMode, UnixTime,
};

use super::page::{Page, PageRequest, paginate};
use super::{AdminError, AdminStores, By, rfc3339};
use crate::mail::Mailing;
use crate::signup::SIGNUP_PATH;

/// A live invitation as listed: never its link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct InvitationView {
    /// A handle (the first characters of the link token's SHA-256): tells invitations to
    /// one address apart and pages the list. It opens nothing.
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

impl InvitationView {
    pub fn of(i: &Invitation) -> InvitationView {
        InvitationView {
            id: i.token_hash.chars().take(16).collect(),
            email: i.email.as_str().to_owned(),
            name: i.name.as_ref().map(|n| n.as_str().to_owned()),
            created_at: rfc3339(i.created_at),
            expires_at: rfc3339(i.expires_at),
        }
    }
}

/// A new invitation: its link (to hand over only when asked for) and whether the mail
/// was sent. `Debug` hides the link.
pub struct Created {
    pub email: Email,
    pub name: Option<PersonName>,
    pub expires_at: UnixTime,
    pub mailed: bool,
    /// The link, when the caller asked for it; `None` otherwise.
    pub link: Option<String>,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .field("mailed", &self.mailed)
            .finish_non_exhaustive()
    }
}

/// What an invitation is for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationInput {
    pub email: Email,
    pub name: Option<PersonName>,
    /// Seconds, 1 to 90 days.
    pub ttl: i64,
}

impl InvitationInput {
    /// An address, an optional name, and an optional lifetime (seconds, or a number with
    /// `s`, `m`, `h` or `d`; default 7 days, at most 90).
    pub fn parse(
        email: &str,
        name: Option<&str>,
        expires_in: Option<&str>,
    ) -> Result<InvitationInput, AdminError> {
        let email = parse_email(email)?;
        let name = name
            .map(PersonName::parse)
            .transpose()
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let ttl = match expires_in {
            None => INVITATION_TTL,
            Some(raw) => lifetime(raw)
                .filter(|t| *t <= MAX_INVITATION_TTL)
                .ok_or_else(|| {
                    AdminError::Invalid(
                        "--expires-in: a duration such as 3600, 12h or 7d, at most 90d".to_owned(),
                    )
                })?,
        };
        Ok(InvitationInput { email, name, ttl })
    }
}

/// An address as an operator types it.
pub fn parse_email(raw: &str) -> Result<Email, AdminError> {
    Email::parse(raw.trim()).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// A lifetime: seconds, or a number with `s`, `m`, `h` or `d`.
pub fn lifetime(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (digits, unit) = match raw.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&raw[..i], c),
        _ => (raw, 's'),
    };
    let n: i64 = digits.parse().ok().filter(|n| *n > 0)?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// How an invitation reaches its addressee.
pub struct Sending<'a> {
    pub mode: SignupMode,
    pub issuer: &'a Issuer,
    /// `None`: no mail server is configured (the CLI without `smtp_url`).
    pub mailing: Option<&'a Mailing>,
}

impl Sending<'_> {
    /// Whether a mailed invitation reaches anyone.
    fn delivers(&self) -> bool {
        self.mailing.is_some_and(|m| m.outbox.delivers())
    }
}

/// Makes an invitation for `input` and mails it; with `want_link`, the answer carries
/// its link. Refused when sign-up is off, when no mail would reach the address and the
/// link is not asked for, and when a person has the address verified. The invitation and
/// its `invitation.created` event are written together; if the mail server then refuses
/// the mail and the link was not asked for, the answer says so ([`AdminError::Incomplete`]):
/// nobody has the link, so the invitation is harmless.
pub fn create(
    stores: &AdminStores,
    sending: &Sending<'_>,
    input: InvitationInput,
    want_link: bool,
    by: &By,
) -> Result<Created, AdminError> {
    if !sending.mode.invitations() {
        return Err(AdminError::Invalid(
            "sign-up is off: set signup = \"invite\" (or \"open\") in the configuration, or USHER_SIGNUP, first".to_owned(),
        ));
    }
    let mail = sending.delivers();
    if !mail && !want_link {
        return Err(AdminError::Invalid(
            "no smtp_url: the invitation cannot be mailed; configure smtp_url and mail_from, or pass --print-link (in the API: \"return_link\": true) and hand the link over yourself".to_owned(),
        ));
    }
    let InvitationInput { email, name, ttl } = input;
    // Only a verified holder: someone who typed the address into an open sign-up
    // without proving it must not keep the operator from inviting its owner.
    let owners = stores.mail.find_users_by_email(&email)?;
    if let Some(owner) = owners.iter().find(|o| o.email_verified) {
        return Err(AdminError::Conflict(format!(
            "{} already has an account (username {})",
            email.as_str(),
            owner.username.as_str()
        )));
    }
    let (token, token_hash) = crate::secret_pair().map_err(AdminError::Failure)?;
    let row = Invitation {
        token_hash,
        email: email.clone(),
        name: name.clone(),
        created_at: by.at,
        expires_at: by.at.plus(ttl),
    };
    stores.audited(|tx| {
        tx.insert_invitation(&row)?;
        tx.record(
            &by.event(AuditKind::InvitationCreated)
                .target(email.as_str())
                .detail(serde_json::json!({
                    "email": email.as_str(),
                    "name": name.as_ref().map(|n| n.as_str()),
                    "expires_at": row.expires_at.seconds(),
                })),
        )
    })?;
    let link = format!("{}?invite={token}", sending.issuer.endpoint(SIGNUP_PATH));
    let mailed = match sending.mailing {
        Some(mailing) if mail => mailing.post(
            &email,
            &Letter::Invitation {
                name: name.as_ref().map(|n| n.as_str().to_owned()),
                link: link.clone(),
                days: (ttl + 86_399) / 86_400,
            },
        ),
        _ => false,
    };
    tracing::info!(
        event = "invitation_created",
        mailed,
        "an invitation to sign up was made"
    );
    if mail && !mailed && !want_link {
        return Err(AdminError::Incomplete(format!(
            "the mail server did not take the invitation to {} (see the log); nobody has its link, so it is harmless: try again, or ask for the link (--print-link; \"return_link\": true)",
            email.as_str()
        )));
    }
    Ok(Created {
        email,
        name,
        expires_at: row.expires_at,
        mailed,
        link: want_link.then_some(link),
    })
}

/// The live invitations, oldest first.
pub fn live(stores: &AdminStores, now: UnixTime) -> Result<Vec<Invitation>, AdminError> {
    Ok(stores.invitations.list_invitations(now)?)
}

/// The live invitations, a page at a time, by id.
pub fn list(
    stores: &AdminStores,
    now: UnixTime,
    page: &PageRequest,
) -> Result<Page<InvitationView>, AdminError> {
    let views = live(stores, now)?.iter().map(InvitationView::of).collect();
    Ok(paginate(views, |v: &InvitationView| v.id.as_str(), page))
}

/// What revoking the invitations to an address did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RevokedView {
    pub email: String,
    /// How many invitations were revoked (0: there were none; nothing changed).
    pub revoked: usize,
}

/// Revokes every invitation to `email` (in any case): their links stop working. With
/// the change, one `invitation.revoked` event (none when there was nothing to revoke).
pub fn revoke(stores: &AdminStores, email: &Email, by: &By) -> Result<RevokedView, AdminError> {
    let revoked = stores.audited(|tx| {
        let revoked = tx.revoke_invitations(email)?;
        if revoked > 0 {
            tx.record(
                &by.event(AuditKind::InvitationRevoked)
                    .target(email.as_str())
                    .detail(serde_json::json!({ "email": email.as_str(), "revoked": revoked })),
            )?;
        }
        Ok(revoked)
    })?;
    tracing::warn!(
        event = "invitations_revoked",
        revoked,
        "invitations to an address were revoked"
    );
    Ok(RevokedView {
        email: email.as_str().to_owned(),
        revoked,
    })
}

#[cfg(test)]
mod tests {
    use usher_domain::{AuditActor, AuditKind};

    use super::*;
    use crate::testing::TestNode;

    fn by(node: &TestNode) -> By {
        By {
            actor: AuditActor::Cli,
            address: None,
            at: node.now(),
        }
    }

    fn input(email: &str) -> InvitationInput {
        InvitationInput::parse(email, Some("Guest"), Some("2d")).unwrap()
    }

    #[test]
    fn mailed_with_its_event_the_link_only_when_asked_and_revoked_with_its_event() {
        let node = TestNode::with_settings(|s| s.signup = SignupMode::Invite);
        let stores = AdminStores::of(&node.core);
        let settings = node.core.settings.clone();
        let mailing = node.core.mail.clone();
        let off = Sending {
            mode: SignupMode::Off,
            issuer: &settings.issuer,
            mailing: Some(&mailing),
        };
        assert!(matches!(
            create(&stores, &off, input("a@example.org"), true, &by(&node)),
            Err(AdminError::Invalid(t)) if t.starts_with("sign-up is off")
        ));
        let unmailed = Sending {
            mode: SignupMode::Invite,
            issuer: &settings.issuer,
            mailing: None,
        };
        assert!(matches!(
            create(&stores, &unmailed, input("a@example.org"), false, &by(&node)),
            Err(AdminError::Invalid(t)) if t.starts_with("no smtp_url")
        ));
        assert!(node.audit_events().is_empty(), "refused: nothing written");

        let sending = Sending {
            mode: SignupMode::Invite,
            issuer: &settings.issuer,
            mailing: Some(&mailing),
        };
        let made = create(&stores, &sending, input("a@example.org"), false, &by(&node)).unwrap();
        assert!(made.mailed);
        assert_eq!(made.link, None, "not asked for");
        let asked = create(&stores, &sending, input("A@example.org"), true, &by(&node)).unwrap();
        let link = asked.link.clone().unwrap();
        assert!(link.contains("/signup?invite="));
        assert!(!format!("{asked:?}").contains(&link));
        let token = link.split("invite=").nth(1).unwrap();
        for e in node.audit_events() {
            assert_eq!(e.event.kind, AuditKind::InvitationCreated);
            assert!(
                !e.event.detail.to_stored().contains(token),
                "never the link"
            );
        }
        let listed = list(&stores, node.now(), &PageRequest::default()).unwrap();
        assert_eq!(listed.items.len(), 2);
        assert!(!serde_json::to_string(&listed).unwrap().contains(token));

        let email = parse_email("a@EXAMPLE.org").unwrap();
        assert_eq!(revoke(&stores, &email, &by(&node)).unwrap().revoked, 2);
        assert_eq!(revoke(&stores, &email, &by(&node)).unwrap().revoked, 0);
        assert_eq!(
            node.audit_kinds(),
            [
                AuditKind::InvitationCreated,
                AuditKind::InvitationCreated,
                AuditKind::InvitationRevoked
            ]
        );
    }

    #[test]
    fn without_its_event_no_invitation_is_made() {
        let node = TestNode::with_settings(|s| s.signup = SignupMode::Invite);
        let stores = AdminStores::of(&node.core);
        let settings = node.core.settings.clone();
        let mailing = node.core.mail.clone();
        let sending = Sending {
            mode: SignupMode::Invite,
            issuer: &settings.issuer,
            mailing: Some(&mailing),
        };
        node.break_audit_trail();
        assert!(matches!(
            create(&stores, &sending, input("a@example.org"), true, &by(&node)),
            Err(AdminError::Failure(_))
        ));
        assert!(live(&stores, node.now()).unwrap().is_empty());
    }

    #[test]
    fn lifetimes_take_units_and_refuse_the_rest() {
        assert_eq!(lifetime("3600"), Some(3600));
        assert_eq!(lifetime("12h"), Some(43_200));
        assert_eq!(lifetime("7d"), Some(604_800));
        for bad in ["", "0", "-1", "7w", "d", "1.5h"] {
            assert_eq!(lifetime(bad), None, "{bad:?}");
        }
        assert!(InvitationInput::parse("a@example.org", None, Some("91d")).is_err());
        assert_eq!(
            InvitationInput::parse("a@example.org", None, None)
                .unwrap()
                .ttl,
            INVITATION_TTL
        );
    }
}
