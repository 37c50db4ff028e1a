//! A person's browser sessions for administrators: list them, and end one —
//! `usher user sessions`, `/admin/api/v1/people/{username}/sessions` and the console's
//! page of a person's sessions.
//!
//! A session is shown as the account page shows it ("Where you are signed in",
//! `account/sessions.rs`): one line per browser (a *lineage*: re-authenticating there
//! replaces the session and keeps the lineage), named by its **handle**, the `sid` of
//! the ID tokens issued through it ([`crate::tokens::sid_of`], a one-way hash of the
//! lineage hash). The handle is stable for the browser's whole sign-in, reveals neither
//! the cookie nor the stored hashes, and is what the account page's "sign out" form
//! carries. Ending one is exactly the account page's "sign out" of that browser
//! ([`crate::lineage::end_lineage`]): its online refresh families revoked (each
//! `family.revoked`, reason `logout`), its sessions deleted, and the apps that got tokens
//! through it told by Back-Channel Logout. Offline families stay, as after a logout;
//! `DELETE …/sessions` (every session and family) ends those too.
//!
//! Of concurrent ends of one handle exactly one succeeds: the one whose `DELETE` of the
//! lineage's sessions removed rows; the others find nothing and are
//! [`AdminError::NotFound`], as a handle that never existed is.

use usher_domain::{AuditKind, Session, SessionStore, UnixTime, Username};

use super::{AdminError, AdminStores, By, rfc3339};
use crate::Core;
use crate::tokens::sid_of;

/// One browser a person is signed in to: never the cookie, the session id or a hash of
/// either.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Names the session in `DELETE …/sessions/{handle}` (the ID tokens' `sid`).
    pub handle: String,
    /// When the person first signed in there (the oldest live session of the lineage).
    pub created_at: String,
    /// When they last signed in completely there (OIDC `auth_time`).
    pub auth_time: String,
    /// When the newest session there ends unless the person signs in again.
    pub expires_at: String,
    /// How they last signed in there (RFC 8176 values).
    pub amr: Vec<String>,
    /// The client address of the last sign-in there, when known.
    pub address: Option<String>,
    /// The user agent the browser announced at the last sign-in there, when sent.
    pub user_agent: Option<String>,
    /// The ids of the clients that got tokens through it, sorted, each once.
    pub clients: Vec<String>,
}

/// The browsers of a person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SessionsView {
    pub username: String,
    /// Newest sign-in first.
    pub sessions: Vec<SessionView>,
}

/// One browser while its sessions are gathered.
struct Line<'a> {
    handle: String,
    created_at: UnixTime,
    expires_at: UnixTime,
    /// The session of the last complete sign-in there.
    last: &'a Session,
}

impl Line<'_> {
    fn view(&self) -> SessionView {
        SessionView {
            handle: self.handle.clone(),
            created_at: rfc3339(self.created_at),
            auth_time: rfc3339(self.last.auth_time),
            expires_at: rfc3339(self.expires_at),
            amr: self
                .last
                .amr
                .wire()
                .iter()
                .map(|m| (*m).to_owned())
                .collect(),
            address: self.last.address.map(|a| a.to_string()),
            user_agent: self.last.user_agent.as_ref().map(|u| u.as_str().to_owned()),
            clients: Vec::new(),
        }
    }
}

/// The browsers of `live` (a person's live sessions), newest sign-in first.
fn lines(live: &[Session]) -> Vec<SessionView> {
    let mut lines: Vec<Line<'_>> = Vec::new();
    for session in live {
        let handle = sid_of(&session.lineage_hash);
        match lines.iter_mut().find(|l| l.handle == handle) {
            Some(line) => {
                line.created_at = line.created_at.min(session.created_at);
                line.expires_at = line.expires_at.max(session.expires_at);
                if session.auth_time > line.last.auth_time {
                    line.last = session;
                }
            }
            None => lines.push(Line {
                handle,
                created_at: session.created_at,
                expires_at: session.expires_at,
                last: session,
            }),
        }
    }
    lines.sort_by(|a, b| {
        b.last
            .auth_time
            .cmp(&a.last.auth_time)
            .then(a.handle.cmp(&b.handle))
    });
    lines.iter().map(Line::view).collect()
}

/// The live browser sessions of `username` (blocking: the stores block).
pub fn list(
    stores: &AdminStores,
    sessions: &dyn SessionStore,
    username: &Username,
    now: UnixTime,
) -> Result<SessionsView, AdminError> {
    let user = super::people::find(stores, username)?;
    let live = sessions.list_user_sessions(&user.id, now)?;
    let mut views = lines(&live);
    for record in stores.backchannel.list_session_clients(&user.id)? {
        if let Some(view) = views.iter_mut().find(|v| same(&v.handle, &record.sid)) {
            view.clients.push(record.client_id.as_str().to_owned());
        }
    }
    for view in &mut views {
        view.clients.sort();
        view.clients.dedup();
    }
    Ok(SessionsView {
        username: user.username.as_str().to_owned(),
        sessions: views,
    })
}

/// [`list`] on a node.
pub async fn list_on(core: &Core, username: &Username) -> Result<SessionsView, AdminError> {
    let stores = AdminStores::of(core);
    let sessions = core.stores.sessions.clone();
    let (who, now) = (username.clone(), core.now());
    super::run(move || list(&stores, sessions.as_ref(), &who, now)).await
}

fn no_session(username: &Username) -> AdminError {
    AdminError::NotFound(format!("{username} has no live session with that handle"))
}

/// A handle as an operator sends it: the `sid`'s shape (unpadded base64url of 32
/// bytes). Anything else names no session.
fn plausible(handle: &str) -> bool {
    handle.len() == 43
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What ending one session did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SessionEnded {
    pub username: String,
    pub handle: String,
    /// The online refresh-token families revoked with it.
    pub families_revoked: usize,
}

/// Ends the browser session `handle` of `username`, as the account page's "sign out"
/// of that browser does; writes `person.session_ended` naming `by`.
pub async fn end(
    core: &Core,
    username: &Username,
    handle: &str,
    by: &By,
) -> Result<SessionEnded, AdminError> {
    let stores = AdminStores::of(core);
    let sessions = core.stores.sessions.clone();
    let (who, now) = (username.clone(), core.now());
    let handle = handle.trim().to_owned();
    let wanted = handle.clone();
    let (user, target) = super::run(move || {
        let user = super::people::find(&stores, &who)?;
        if !plausible(&wanted) {
            return Err(no_session(&who));
        }
        let target = sessions
            .list_user_sessions(&user.id, now)?
            .into_iter()
            .find(|s| same(&sid_of(&s.lineage_hash), &wanted))
            .ok_or_else(|| no_session(&who))?;
        Ok((user, target))
    })
    .await?;
    let ended = crate::lineage::end_lineage(core, &target)
        .await
        .map_err(AdminError::Failure)?;
    // Another request ended it between the reading and the deleting: that one answers.
    if ended.sessions == 0 {
        return Err(no_session(username));
    }
    tracing::info!(
        event = "session_ended_by_admin",
        sub = %user.id,
        families_revoked = ended.families,
        "an administrator ended one browser session of a person"
    );
    let event = by
        .event(AuditKind::SessionEnded)
        .person(&user.id)
        .target(&handle)
        .detail(serde_json::json!({ "families_revoked": ended.families }));
    let stores = AdminStores::of(core);
    let _ = super::run(move || {
        stores.note(event);
        Ok(())
    })
    .await;
    Ok(SessionEnded {
        username: user.username.as_str().to_owned(),
        handle,
        families_revoked: ended.families,
    })
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests {
    use usher_domain::{AuditActor, BackchannelStore as _, FamilyState, SessionClient};

    use super::*;
    use crate::testing::{FamilySpec, TestNode};

    fn admin_by(node: &TestNode, admin: &usher_domain::User) -> By {
        By {
            actor: AuditActor::Person(admin.id.clone()),
            address: Some("192.0.2.7".into()),
            at: node.now(),
        }
    }

    #[tokio::test]
    async fn an_admin_lists_a_persons_browsers_and_ends_one_like_the_account_page() {
        let node = TestNode::new();
        let root = node.person("root");
        let alice = node.person("alice");
        let laptop = node.session(&alice, "cookie-laptop", "lineage-laptop", 60);
        node.advance(10);
        node.session(&alice, "cookie-phone", "lineage-phone", 0);
        node.advance(10);
        // A re-authentication on the phone: the same browser, one line.
        let phone = node.session(&alice, "cookie-phone-2", "lineage-phone", 0);
        let (online, _) = node
            .family(FamilySpec {
                name: "online",
                user: alice.id.as_str(),
                scope: "openid",
                lineage: Some("lineage-phone"),
                ..FamilySpec::default()
            })
            .await;
        let (offline, _) = node
            .family(FamilySpec {
                name: "offline",
                user: alice.id.as_str(),
                scope: "openid offline_access",
                lineage: Some("lineage-phone"),
                ..FamilySpec::default()
            })
            .await;
        node.client("app", crate::testing::registration());
        node.db
            .record_session_client(&SessionClient {
                lineage_hash: "lineage-phone".into(),
                client_id: usher_domain::ClientId::parse("app").unwrap(),
                user_id: alice.id.clone(),
                sid: sid_of("lineage-phone"),
                created_at: node.now(),
            })
            .unwrap();
        let name = Username::parse("alice").unwrap();
        let listed = list_on(&node.core, &name).await.unwrap();
        assert_eq!(listed.sessions.len(), 2);
        let first = &listed.sessions[0];
        assert_eq!(first.handle, sid_of(&phone.lineage_hash));
        assert_eq!(first.auth_time, rfc3339(phone.auth_time));
        assert_eq!(first.amr, vec!["pwd"]);
        assert_eq!(first.clients, vec!["app"]);
        assert_eq!(listed.sessions[1].handle, sid_of(&laptop.lineage_hash));
        // Never the session id or a stored hash.
        let json = serde_json::to_string(&listed).unwrap();
        for secret in [
            &laptop.id_hash,
            &phone.id_hash,
            &laptop.lineage_hash,
            &phone.lineage_hash,
        ] {
            assert!(!json.contains(secret.as_str()), "{json}");
        }
        // Unknown, malformed, or another person's handle: not found, nothing ended.
        let by = admin_by(&node, &root);
        let roots = node.session(&root, "cookie-root", "lineage-root", 0);
        for bad in ["junk", &sid_of(&roots.lineage_hash), &"A".repeat(43)] {
            assert!(matches!(
                end(&node.core, &name, bad, &by).await,
                Err(AdminError::NotFound(_))
            ));
        }
        assert!(matches!(
            end(
                &node.core,
                &Username::parse("nobody").unwrap(),
                &first.handle,
                &by
            )
            .await,
            Err(AdminError::NotFound(_))
        ));
        let ended = end(&node.core, &name, &first.handle, &by).await.unwrap();
        assert_eq!(ended.families_revoked, 1);
        assert_eq!(node.family_state(&online).await, FamilyState::Revoked);
        assert_ne!(node.family_state(&offline).await, FamilyState::Revoked);
        let left = list_on(&node.core, &name).await.unwrap();
        assert_eq!(left.sessions.len(), 1);
        assert_eq!(left.sessions[0].handle, sid_of(&laptop.lineage_hash));
        // The trail: one event naming the administrator, the person and the handle.
        let events: Vec<_> = node
            .audit_events()
            .into_iter()
            .filter(|e| e.event.kind == AuditKind::SessionEnded)
            .collect();
        assert_eq!(events.len(), 1);
        let event = &events[0].event;
        assert_eq!(event.actor, AuditActor::Person(root.id.clone()));
        assert_eq!(event.person.as_ref(), Some(&alice.id));
        assert_eq!(event.target.as_deref(), Some(first.handle.as_str()));
        // Twice: not found the second time.
        assert!(matches!(
            end(&node.core, &name, &first.handle, &by).await,
            Err(AdminError::NotFound(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_concurrent_ends_of_one_session_exactly_one_succeeds() {
        let node = TestNode::new();
        let root = node.person("root");
        let alice = node.person("alice");
        node.session(&alice, "cookie-a", "lineage-a", 0);
        node.session(&alice, "cookie-a2", "lineage-a", 0);
        let name = Username::parse("alice").unwrap();
        let handle = sid_of("lineage-a");
        let by = admin_by(&node, &root);
        let core = std::sync::Arc::new(node.core.clone());
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let (core, name, handle, by) =
                    (core.clone(), name.clone(), handle.clone(), by.clone());
                tokio::spawn(async move { end(&core, &name, &handle, &by).await })
            })
            .collect();
        let mut won = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => won += 1,
                Err(AdminError::NotFound(_)) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(won, 1);
        let ended = node
            .audit_kinds()
            .into_iter()
            .filter(|k| *k == AuditKind::SessionEnded)
            .count();
        assert_eq!(ended, 1);
    }
}
