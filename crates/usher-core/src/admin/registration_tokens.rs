//! Initial access tokens for dynamic registration (RFC 7591 §3;
//! docs/design/registration.md): create, list, revoke — `usher registration token …`,
//! `/admin/api/v1/registration-tokens` and the console's `/admin/registration-tokens`.
//! A token is shown once, in the answer to its creation; only its keyed hash is stored,
//! and neither the log nor the audit trail ever holds it.

use usher_domain::{AuditKind, InitialAccessToken};
use usher_keys::SecretHasher;

use super::page::{Page, PageRequest, paginate};
use super::{AdminError, AdminStores, By, rfc3339};
use crate::failure::Failure;

/// The longest an initial access token may work: a year.
pub const MAX_EXPIRES_IN: u64 = 365 * 24 * 3600;
/// The shortest: a minute.
pub const MIN_EXPIRES_IN: u64 = 60;
/// The most clients one token may register.
pub const MAX_USES: u32 = 1_000_000;
/// How long a token works unless the operator says otherwise: a day.
pub const DEFAULT_EXPIRES_IN: u64 = 86_400;

/// A token as listed: its handle, never the token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// The public handle (a UUID) that `revoke` takes.
    pub id: String,
    pub created_at: String,
    pub expires_at: String,
    pub max_uses: u32,
    pub uses: u32,
}

impl TokenView {
    pub fn of(t: &InitialAccessToken) -> TokenView {
        TokenView {
            id: t.id.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            max_uses: t.max_uses,
            uses: t.uses,
        }
    }
}

/// A new token: the record and the token itself (shown once). `Debug` hides the token.
pub struct Created {
    pub record: InitialAccessToken,
    pub token: String,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("id", &self.record.id)
            .finish_non_exhaustive()
    }
}

/// What a new token may do, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenInput {
    pub expires_in: u64,
    pub max_uses: u32,
}

impl TokenInput {
    /// `expires_in` seconds (60 to a year) and `max_uses` (1 to 1000000).
    pub fn parse(expires_in: u64, max_uses: u32) -> Result<TokenInput, AdminError> {
        if !(MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(&expires_in) {
            return Err(AdminError::Invalid(format!(
                "--expires-in {expires_in} is not between {MIN_EXPIRES_IN} and {MAX_EXPIRES_IN} seconds"
            )));
        }
        if !(1..=MAX_USES).contains(&max_uses) {
            return Err(AdminError::Invalid(format!(
                "--max-uses {max_uses} is not between 1 and {MAX_USES}"
            )));
        }
        Ok(TokenInput {
            expires_in,
            max_uses,
        })
    }
}

/// A token's id as an operator gives it: a UUID.
pub fn parse_id(raw: &str) -> Result<String, AdminError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| AdminError::Invalid(format!("{raw:?} is not an initial access token id")))
}

/// Makes a token; it and its `registration.token_issued` event are written together.
pub fn create(
    stores: &AdminStores,
    hasher: &SecretHasher,
    input: TokenInput,
    by: &By,
) -> Result<Created, AdminError> {
    let token =
        SecretHasher::generate_secret().map_err(|_| AdminError::Failure(Failure::Internal))?;
    let record = InitialAccessToken {
        id: uuid::Uuid::new_v4().to_string(),
        token_hash: hasher.hash(&token),
        created_at: by.at,
        expires_at: by
            .at
            .plus(i64::try_from(input.expires_in).unwrap_or(i64::MAX)),
        max_uses: input.max_uses,
        uses: 0,
    };
    stores.audited(|tx| {
        tx.insert_initial_access_token(&record)?;
        tx.record(
            &by.event(AuditKind::RegistrationTokenIssued)
                .target(&record.id)
                .detail(serde_json::json!({
                    "max_uses": record.max_uses,
                    "expires_at": record.expires_at.seconds(),
                })),
        )
    })?;
    tracing::info!(event = "initial_access_token_created", id = %record.id, max_uses = record.max_uses, expires_at = record.expires_at.seconds(), "initial access token created");
    Ok(Created { record, token })
}

/// Every token (live, used up or expired until purged), newest first.
pub fn all(stores: &AdminStores) -> Result<Vec<InitialAccessToken>, AdminError> {
    Ok(stores.registration.list_initial_access_tokens()?)
}

/// The tokens, a page at a time, by id.
pub fn list(stores: &AdminStores, page: &PageRequest) -> Result<Page<TokenView>, AdminError> {
    let views = all(stores)?.iter().map(TokenView::of).collect();
    Ok(paginate(views, |v: &TokenView| v.id.as_str(), page))
}

/// Revokes (deletes) token `id`; it and its `registration.token_revoked` event are
/// written together. Of concurrent revocations one succeeds, the rest find nothing.
pub fn revoke(stores: &AdminStores, id: &str, by: &By) -> Result<(), AdminError> {
    let deleted = stores.audited(|tx| {
        let deleted = tx.delete_initial_access_token(id)?;
        if deleted {
            tx.record(&by.event(AuditKind::RegistrationTokenRevoked).target(id))?;
        }
        Ok(deleted)
    })?;
    if !deleted {
        return Err(AdminError::NotFound(format!(
            "no initial access token with id {id}"
        )));
    }
    tracing::info!(event = "initial_access_token_revoked", id = %id, "initial access token revoked");
    Ok(())
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

    #[test]
    fn the_cli_rules_and_texts() {
        assert_eq!(
            TokenInput::parse(59, 1).unwrap_err().to_string(),
            "--expires-in 59 is not between 60 and 31536000 seconds"
        );
        assert_eq!(
            TokenInput::parse(60, 0).unwrap_err().to_string(),
            "--max-uses 0 is not between 1 and 1000000"
        );
        assert!(TokenInput::parse(MAX_EXPIRES_IN, MAX_USES).is_ok());
        assert_eq!(
            parse_id("x").unwrap_err().to_string(),
            "\"x\" is not an initial access token id"
        );
    }

    #[test]
    fn a_token_is_stored_hashed_with_its_event_and_revoked_once_of_sixteen() {
        let node = TestNode::new();
        let stores = AdminStores::of(&node.core);
        let input = TokenInput::parse(600, 2).unwrap();
        let created = create(&stores, &node.core.secrets, input, &by(&node)).unwrap();
        let hash = node.core.secrets.hash(&created.token);
        assert!(
            node.core
                .stores
                .registration
                .initial_access_token_usable(&hash, node.now())
                .unwrap()
        );
        let listed = list(&stores, &PageRequest::default()).unwrap();
        assert_eq!(listed.items, vec![TokenView::of(&created.record)]);
        assert!(!format!("{created:?}").contains(&created.token));
        let events = node.audit_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.kind, AuditKind::RegistrationTokenIssued);
        assert!(!events[0].event.detail.to_stored().contains(&created.token));

        let id = created.record.id.clone();
        let outcomes: Vec<Result<(), AdminError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    let (stores, id, by) = (stores.clone(), id.clone(), by(&node));
                    s.spawn(move || revoke(&stores, &id, &by))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
        assert!(
            outcomes
                .iter()
                .filter_map(|o| o.as_ref().err())
                .all(|e| matches!(e, AdminError::NotFound(_)))
        );
        assert_eq!(
            node.audit_kinds(),
            [
                AuditKind::RegistrationTokenIssued,
                AuditKind::RegistrationTokenRevoked
            ]
        );
        assert!(
            !node
                .core
                .stores
                .registration
                .initial_access_token_usable(&hash, node.now())
                .unwrap()
        );
    }

    #[test]
    fn without_its_event_no_token_is_made() {
        let node = TestNode::new();
        let stores = AdminStores::of(&node.core);
        node.break_audit_trail();
        let input = TokenInput::parse(600, 1).unwrap();
        assert!(matches!(
            create(&stores, &node.core.secrets, input, &by(&node)),
            Err(AdminError::Failure(_))
        ));
        assert!(all(&stores).unwrap().is_empty());
    }
}
