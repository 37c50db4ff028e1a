//! "Where you are signed in" on the account page (issue 15, docs/design/accounts.md):
//! the person's browser sessions, one line per lineage (a browser: re-authenticating
//! there replaces its session and keeps its lineage), with "sign out" per browser and
//! "sign out everywhere".
//!
//! A browser is named on the page and in its form by its `sid` (the ID tokens' session
//! id, [`crate::tokens::sid_of`]): a one-way hash of the lineage hash, which the page may
//! show without revealing the cookie or the lineage. Signing a browser out is exactly an
//! RP-initiated logout of it ([`crate::lineage::end`]: its online families revoked, its
//! sessions deleted, its apps told by back-channel logout); "sign out everywhere" is
//! [`crate::everywhere::end_person`] (every session and every family, offline ones too).
//! Both are account changes behind [`super::begin_change`].
//!
//! Each line also says from which address and browser (user agent) the person last
//! signed in there — what the newest session of the lineage recorded — and which apps
//! got tokens through it (`session_clients`, written at the code exchange; the
//! account page's own client is not listed).

use std::net::IpAddr;

use usher_domain::{AuthMethods, Session, UnixTime, UserAgent};

use crate::Core;
use crate::everywhere::{self, Why};
use crate::failure::{Failure, blocking};
use crate::tokens::sid_of;

/// One browser the person is signed in to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserLine {
    /// Names the browser in the sign-out form.
    pub sid: String,
    /// When the person first signed in there (the oldest live session of the lineage).
    pub since: UnixTime,
    /// When they last signed in completely there.
    pub last_sign_in: UnixTime,
    /// How they last signed in there.
    pub amr: AuthMethods,
    /// The client address of the last sign-in there, when known.
    pub address: Option<IpAddr>,
    /// The user agent of the last sign-in there, when sent.
    pub user_agent: Option<UserAgent>,
    /// The names of the apps that got tokens through it, sorted, each once.
    pub apps: Vec<String>,
    /// This is the browser showing the page.
    pub current: bool,
}

/// The person's browsers, this one first, then the most recent sign-ins.
pub async fn list(core: &Core, current: &Session) -> Result<Vec<BrowserLine>, Failure> {
    let sessions = core.stores.sessions.clone();
    let (owner, now) = (current.user_id.clone(), core.now());
    let live = blocking(move || sessions.list_user_sessions(&owner, now)).await?;
    let mut lines: Vec<BrowserLine> = Vec::new();
    for session in live {
        let sid = sid_of(&session.lineage_hash);
        match lines.iter_mut().find(|l| l.sid == sid) {
            Some(line) => {
                line.since = line.since.min(session.created_at);
                if session.auth_time > line.last_sign_in {
                    line.last_sign_in = session.auth_time;
                    line.amr = session.amr.clone();
                    line.address = session.address;
                    line.user_agent = session.user_agent.clone();
                }
            }
            None => lines.push(BrowserLine {
                sid,
                since: session.created_at,
                last_sign_in: session.auth_time,
                amr: session.amr.clone(),
                address: session.address,
                user_agent: session.user_agent.clone(),
                apps: Vec::new(),
                current: session.lineage_hash == current.lineage_hash,
            }),
        }
    }
    let store = core.stores.backchannel.clone();
    let owner = current.user_id.clone();
    let records = blocking(move || store.list_session_clients(&owner)).await?;
    for record in records {
        if crate::account::client::is_built_in(&record.client_id) {
            continue;
        }
        let Some(line) = lines.iter_mut().find(|l| same(&l.sid, &record.sid)) else {
            continue;
        };
        // A deleted client has no name to show (its records go with it).
        if let Some(client) = core.client(&record.client_id).await? {
            line.apps.push(client.registration.name.as_str().to_owned());
        }
    }
    for line in &mut lines {
        line.apps.sort();
        line.apps.dedup();
    }
    lines.sort_by(|a, b| {
        b.current
            .cmp(&a.current)
            .then(b.last_sign_in.cmp(&a.last_sign_in))
    });
    Ok(lines)
}

/// What "sign out" of one browser did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutOutcome {
    /// That browser is signed out (its online families revoked: this many).
    SignedOut { families: usize, was_current: bool },
    /// No live session of the person has that `sid`: nothing changed.
    NotFound,
}

/// Signs the person out of the browser named `sid` (the form's raw value).
pub async fn sign_out(
    core: &Core,
    session: &Session,
    sid: &str,
) -> Result<SignOutOutcome, Failure> {
    let sessions = core.stores.sessions.clone();
    let (owner, now) = (session.user_id.clone(), core.now());
    let live = blocking(move || sessions.list_user_sessions(&owner, now)).await?;
    let Some(target) = live
        .into_iter()
        .find(|s| same(&sid_of(&s.lineage_hash), sid))
    else {
        return Ok(SignOutOutcome::NotFound);
    };
    let families = crate::lineage::end(core, &target).await?;
    tracing::info!(
        event = "browser_signed_out",
        sub = %session.user_id,
        families_revoked = families,
        "the person signed a browser out from the account page"
    );
    Ok(SignOutOutcome::SignedOut {
        families,
        was_current: target.lineage_hash == session.lineage_hash,
    })
}

/// Ends every session and refresh family of the person, this browser's too.
pub async fn sign_out_everywhere(core: &Core, session: &Session) -> Result<usize, Failure> {
    Ok(
        everywhere::end_person(core, &session.user_id, Why::SignOutEverywhere)
            .await?
            .sessions,
    )
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests {
    use usher_domain::{FamilyState, SessionStore};

    use super::*;
    use crate::testing::{FamilySpec, TestNode};

    #[tokio::test]
    async fn browsers_are_listed_and_one_is_signed_out_alone() {
        let node = TestNode::new();
        let alice = node.person("alice");
        let bob = node.person("bob");
        let here = node.session(&alice, "cookie-here", "lineage-here", 60);
        node.advance(10);
        let phone = node.session(&alice, "cookie-phone", "lineage-phone", 0);
        // A re-authentication in the phone's browser: same lineage, one line.
        node.advance(10);
        node.session(&alice, "cookie-phone-2", "lineage-phone", 0);
        let bobs = node.session(&bob, "cookie-bob", "lineage-bob", 0);
        let (phone_family, _) = node
            .family(FamilySpec {
                scope: "openid",
                lineage: Some("lineage-phone"),
                ..FamilySpec::default()
            })
            .await;
        let lines = list(&node.core, &here).await.unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].current);
        assert_eq!(lines[1].sid, sid_of(&phone.lineage_hash));
        assert_eq!(lines[1].since, phone.created_at);
        assert_eq!(lines[1].last_sign_in, node.now());
        // Bob's browser is not Alice's to end: not found.
        assert_eq!(
            sign_out(&node.core, &here, &sid_of(&bobs.lineage_hash)).await,
            Ok(SignOutOutcome::NotFound)
        );
        assert_eq!(
            sign_out(&node.core, &here, "junk").await,
            Ok(SignOutOutcome::NotFound)
        );
        assert_eq!(
            sign_out(&node.core, &here, &lines[1].sid).await,
            Ok(SignOutOutcome::SignedOut {
                families: 1,
                was_current: false
            })
        );
        assert_eq!(node.family_state(&phone_family).await, FamilyState::Revoked);
        let left = list(&node.core, &here).await.unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].current);
        assert!(
            node.db
                .get_session(&bobs.id_hash, node.now())
                .unwrap()
                .is_some()
        );
        // Signing out of a browser twice finds nothing the second time.
        assert_eq!(
            sign_out(&node.core, &here, &lines[1].sid).await,
            Ok(SignOutOutcome::NotFound)
        );
    }

    #[tokio::test]
    async fn a_browser_line_shows_where_it_signed_in_from_and_the_apps_it_let_in() {
        use usher_domain::{BackchannelStore, SessionClient};
        let node = TestNode::new();
        let alice = node.person("alice");
        let here = node.session(&alice, "cookie-here", "lineage-here", 60);
        // The phone's browser signed in twice: the line shows the last sign-in's
        // address and user agent.
        for (n, ip, ua) in [
            (1, "198.51.100.1", "Old/1"),
            (
                2,
                "2001:db8::2",
                "Mozilla/5.0 (Android 15) Chrome/131.0 Mobile",
            ),
        ] {
            node.advance(10);
            let session = Session {
                id_hash: format!("phone-{n}"),
                lineage_hash: "lineage-phone".into(),
                user_id: alice.id.clone(),
                auth_time: node.now(),
                amr: AuthMethods::password(),
                created_at: node.now(),
                expires_at: node.now().plus(3600),
                address: Some(ip.parse().unwrap()),
                user_agent: UserAgent::parse(ua),
            };
            node.db.insert_session(&session).unwrap();
        }
        let named = |name: &str| usher_domain::RegistrationInput {
            name: name.to_owned(),
            ..crate::testing::registration()
        };
        let shop = node.client("shop", named("The Shop"));
        let wiki = node.client("wiki", named("The Wiki"));
        for (client, lineage) in [
            (&shop, "lineage-phone"),
            (&wiki, "lineage-phone"),
            (&shop, "lineage-here"),
        ] {
            node.db
                .record_session_client(&SessionClient {
                    lineage_hash: lineage.into(),
                    client_id: client.id.clone(),
                    user_id: alice.id.clone(),
                    sid: sid_of(lineage),
                    created_at: node.now(),
                })
                .unwrap();
        }
        let lines = list(&node.core, &here).await.unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].sid, sid_of(&here.lineage_hash));
        assert_eq!(lines[0].address, None);
        assert_eq!(
            lines[0].apps,
            vec![shop.registration.name.as_str().to_owned()]
        );
        let phone = &lines[1];
        assert_eq!(phone.address, Some("2001:db8::2".parse().unwrap()));
        assert_eq!(
            phone.user_agent.as_ref().map(UserAgent::short).as_deref(),
            Some("Chrome on Android")
        );
        assert_eq!(phone.apps, vec!["The Shop", "The Wiki"]);
    }

    #[tokio::test]
    async fn signing_out_everywhere_ends_every_session_and_family_of_the_person_only() {
        let node = TestNode::new();
        let alice = node.person("alice");
        let bob = node.person("bob");
        let here = node.session(&alice, "cookie-here", "lineage-here", 0);
        node.session(&alice, "cookie-phone", "lineage-phone", 0);
        let bobs = node.session(&bob, "cookie-bob", "lineage-bob", 0);
        let (offline, _) = node.family(FamilySpec::default()).await;
        assert_eq!(sign_out_everywhere(&node.core, &here).await, Ok(2));
        assert_eq!(node.family_state(&offline).await, FamilyState::Revoked);
        assert!(list(&node.core, &here).await.unwrap().is_empty());
        assert!(
            node.db
                .get_session(&bobs.id_hash, node.now())
                .unwrap()
                .is_some()
        );
    }
}
