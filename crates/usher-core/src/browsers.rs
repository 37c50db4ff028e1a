//! Known browsers and the "new sign-in" alert (issue 15, docs/design/accounts.md,
//! "Browsers: where you signed in from, and new-browser alerts").
//!
//! Every browser that completes a sign-in carries a long-lived random cookie
//! (`usher-device`, one year from its last sign-in): the sign-in records SHA-256 of it
//! among the person's known browsers ([`usher_domain::KnownBrowserStore`], at most
//! [`KNOWN_BROWSERS_MAX`] per person). When the person already had known browsers and
//! this one is not among them, they are told by mail ([`SecurityAlert::NewBrowser`]:
//! when, from which address and user agent). The first sign-in of a person since
//! browsers are remembered alerts nobody: there is nothing to compare it with, and an
//! alert on every new account would teach people to ignore them.
//!
//! A session lineage cannot stand in for the cookie: a browser gets a new lineage after
//! every logout. All of this is best effort: a failure is logged and never stops the
//! sign-in. The cookie's value is never logged.

use usher_domain::{BrowserSeen, KNOWN_BROWSERS_MAX, NewSignIn, SecurityAlert, Session, UserAgent};

use crate::client_address::ClientAddress;
use crate::failure::blocking;
use crate::{Core, secret_pair};

/// The length of a browser cookie's value: 32 random bytes as base64url, no padding.
pub const DEVICE_COOKIE_LEN: usize = 43;

/// Whether `value` has the shape of a cookie Usher makes (anything else is ignored and
/// replaced).
pub fn well_formed(value: &str) -> bool {
    value.len() == DEVICE_COOKIE_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The address and user agent of a sign-in's request, as recorded with its session.
pub fn origin(
    address: Option<ClientAddress>,
    user_agent: Option<&str>,
) -> (Option<std::net::IpAddr>, Option<UserAgent>) {
    let address = match address {
        Some(ClientAddress::Ip(ip)) => Some(ip),
        _ => None,
    };
    (address, user_agent.and_then(UserAgent::parse))
}

/// After a completed sign-in (`session` just created): records the browser named by
/// its cookie `device` (a new random one when it has none) among the person's known
/// browsers, and mails the alert when it is new to a person who had others. Returns the
/// cookie value to set (again: its lifetime restarts), or `None` when no value could be
/// drawn.
pub async fn signed_in(core: &Core, session: &Session, device: Option<&str>) -> Option<String> {
    let value = match device.filter(|d| well_formed(d)) {
        Some(d) => d.to_owned(),
        None => secret_pair().ok()?.0,
    };
    let hash = usher_keys::sha256_b64url(&value);
    let store = core.stores.known_browsers.clone();
    let (user, now) = (session.user_id.clone(), core.now());
    let seen = blocking(move || store.see_browser(&user, &hash, now, KNOWN_BROWSERS_MAX)).await;
    match seen {
        Ok(BrowserSeen::New { first: false }) => {
            let sign_in = NewSignIn {
                at: session.auth_time,
                address: session.address,
                user_agent: session.user_agent.clone(),
            };
            crate::mail::alert_with(
                core,
                &session.user_id,
                SecurityAlert::NewBrowser,
                Some(sign_in),
            )
            .await;
        }
        Ok(BrowserSeen::New { first: true }) => {
            tracing::info!(event = "first_browser", sub = %session.user_id, "a person's first known browser");
        }
        Ok(BrowserSeen::Known) => {}
        Err(e) => {
            tracing::warn!(event = "known_browser_not_recorded", sub = %session.user_id, cause = ?e, "the browser of a sign-in could not be recorded");
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use usher_domain::{Email, KnownBrowserStore, Mail, User, UserStore};

    use super::*;
    use crate::mail::{Mailing, PlainCompose, Recorder};
    use crate::testing::TestNode;

    /// A node whose outbox records, and alice with a verified address.
    fn node() -> (TestNode, Arc<Recorder>, User) {
        let mut node = TestNode::new();
        let recorder = Arc::new(Recorder::default());
        node.core.mail = Mailing {
            compose: Arc::new(PlainCompose),
            outbox: recorder.clone(),
        };
        let alice = node.person("alice");
        node.db.delete_user(&alice.username).unwrap();
        let alice = User {
            email: Some(Email::parse("alice@example.org").unwrap()),
            email_verified: true,
            ..alice
        };
        node.db.insert_user(&alice).unwrap();
        (node, recorder, alice)
    }

    fn mails(recorder: &Recorder) -> Vec<Mail> {
        recorder.mails.lock().unwrap().clone()
    }

    fn signed_in_from(node: &TestNode, user: &User, n: usize) -> Session {
        let mut session = node.session(user, &format!("cookie-{n}"), &format!("lineage-{n}"), 0);
        session.address = Some("203.0.113.9".parse().unwrap());
        session.user_agent = UserAgent::parse("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");
        session
    }

    #[tokio::test]
    async fn a_new_browser_alerts_a_person_who_had_others_and_a_known_one_does_not() {
        let (node, recorder, alice) = node();
        let core = &node.core;
        // The first sign-in ever: a cookie is drawn, nobody is told.
        let first = signed_in(core, &signed_in_from(&node, &alice, 1), None)
            .await
            .unwrap();
        assert!(well_formed(&first));
        assert!(mails(&recorder).is_empty());
        // The same browser again (its cookie sent back): known, nobody is told, and the
        // same value is set again (its year starts over).
        let again = signed_in(core, &signed_in_from(&node, &alice, 2), Some(&first)).await;
        assert_eq!(again.as_deref(), Some(first.as_str()));
        assert!(mails(&recorder).is_empty());
        // Another browser: told, with when, where and which browser.
        let other = signed_in(core, &signed_in_from(&node, &alice, 3), None)
            .await
            .unwrap();
        assert_ne!(other, first);
        let sent = mails(&recorder);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to.as_str(), "alice@example.org");
        assert_eq!(sent[0].subject, "A new sign-in to your account");
        for part in [
            "203.0.113.9",
            "Firefox on Linux",
            "https://usher.example/account",
        ] {
            assert!(sent[0].text.contains(part), "{part}: {}", sent[0].text);
        }
        // The cookie's value is in no mail.
        assert!(!sent[0].text.contains(&other) && !sent[0].text.contains(&first));
        // A cookie of a shape Usher never makes is a new browser, and replaced.
        let forged = signed_in(core, &signed_in_from(&node, &alice, 4), Some("short")).await;
        assert_ne!(forged.as_deref(), Some("short"));
        assert_eq!(mails(&recorder).len(), 2);
        assert_eq!(node.db.known_browsers(&alice.id), Ok(3));
        // A browser known to alice is new to bob, but it is bob's first: nobody is told.
        let bob = node.person("bob");
        signed_in(core, &signed_in_from(&node, &bob, 5), Some(&first)).await;
        assert_eq!(mails(&recorder).len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn twenty_concurrent_sign_ins_from_new_browsers_keep_the_cap_and_the_alert_limit() {
        let (node, recorder, alice) = node();
        for n in 0..KNOWN_BROWSERS_MAX - 5 {
            node.db
                .see_browser(
                    &alice.id,
                    &format!("old-{n}"),
                    node.now(),
                    KNOWN_BROWSERS_MAX,
                )
                .unwrap();
        }
        let core = Arc::new(node.core.clone());
        let sessions: Vec<Session> = (0..20).map(|n| signed_in_from(&node, &alice, n)).collect();
        let tasks: Vec<_> = sessions
            .into_iter()
            .map(|session| {
                let core = core.clone();
                tokio::spawn(async move { signed_in(&core, &session, None).await })
            })
            .collect();
        let mut cookies = Vec::new();
        for t in tasks {
            cookies.push(t.await.unwrap().unwrap());
        }
        cookies.sort();
        cookies.dedup();
        assert_eq!(cookies.len(), 20);
        assert_eq!(node.db.known_browsers(&alice.id), Ok(KNOWN_BROWSERS_MAX));
        // Every one was new; the mailbox gets the per-kind limit of alerts, not twenty.
        assert_eq!(mails(&recorder).len(), 5);
    }
}
