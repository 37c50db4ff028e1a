//! Changing the password on the account page (issue 15, docs/design/accounts.md): the
//! current password, checked under the login throttle (a stolen session cannot guess
//! it faster than a login page), then the new one twice. A change signs every *other*
//! browser out (as a logout of each: online families revoked, apps told) and deletes
//! unused reset links; offline families (apps acting while the person is away) are kept
//! unless the person ticks "also sign out my apps", which revokes every family of the
//! person. This browser stays signed in.

use usher_domain::{MailPurpose, Password, RevokeReason, Session, Username};

use crate::Core;
use crate::client_address::ClientAddress;
use crate::failure::{Failure, blocking};
use crate::throttle::{self, Attempt};

/// What a password change decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Changed; this many other browsers were signed out.
    Changed { browsers_signed_out: usize },
    /// The current password is not right (counted like a failed login).
    WrongCurrent,
    /// The new password is refused (too short, the two differ …): the message says why.
    Refused(String),
    /// Too many wrong current passwords: nothing was checked; wait this many seconds.
    Throttled { wait: i64 },
}

/// The form's fields.
pub struct PasswordChange<'a> {
    pub current: &'a str,
    pub new: &'a str,
    pub confirm: &'a str,
    /// "Also sign out my apps": revoke offline families too.
    pub sign_out_apps: bool,
}

/// Changes the session's person's password (the session passed the account gate).
pub async fn change(
    core: &Core,
    session: &Session,
    form: PasswordChange<'_>,
    address: &ClientAddress,
) -> Result<ChangeOutcome, Failure> {
    // From the store, not the node's cache: a password changed a moment ago (here or on
    // another node) must not pass as "current".
    let users = core.stores.users.clone();
    let id = session.user_id.clone();
    let Some(person) = blocking(move || users.get_user(&id)).await? else {
        return Ok(ChangeOutcome::WrongCurrent);
    };
    let same = form.new.len() == form.confirm.len()
        && openssl::memcmp::eq(form.new.as_bytes(), form.confirm.as_bytes());
    if !same {
        return Ok(ChangeOutcome::Refused(
            "The two new passwords are not the same.".to_owned(),
        ));
    }
    let new = match Password::parse(form.new.to_owned()) {
        Ok(p) => p,
        Err(e) => return Ok(ChangeOutcome::Refused(e.to_string())),
    };
    let reserved =
        match throttle::reserve(core, throttle::keys(person.username.as_str(), address)).await? {
            Attempt::Allowed(r) => r,
            Attempt::Throttled { wait } => return Ok(ChangeOutcome::Throttled { wait }),
        };
    let current = form.current.to_owned();
    let stored = person.password_hash.clone();
    let right = core
        .passwords
        .run(move || match Password::parse(current) {
            Ok(p) => usher_keys::verify_password(&p, &stored),
            Err(_) => false,
        })
        .await?;
    if !right {
        tracing::warn!(event = "password_change_refused", sub = %person.id, "a password change gave a wrong current password");
        return Ok(ChangeOutcome::WrongCurrent);
    }
    throttle::succeeded(core, reserved).await?;
    let hash = core.passwords.hash_new(new).await?;
    let users = core.stores.users.clone();
    let mail = core.stores.mail.clone();
    let interactions = core.stores.interactions.clone();
    let browsers = core.stores.known_browsers.clone();
    let (username, id): (Username, _) = (person.username.clone(), person.id.clone());
    blocking(move || {
        users.set_password_hash(&username, &hash)?;
        // Every browser is new again: whoever signs in next with the new password,
        // from wherever, is mailed about.
        browsers.forget_browsers(&id)?;
        for purpose in MailPurpose::TAKEOVER {
            mail.delete_mail_tokens(&id, purpose)?;
        }
        // A sign-in begun with the old password and waiting at its second step (or
        // consent) cannot finish any more.
        interactions.spend_user_interactions(&id)
    })
    .await?;
    core.forget_user(&person.id);
    let event = usher_domain::AuditEvent::new(
        core.now(),
        usher_domain::AuditKind::PasswordChanged,
        usher_domain::AuditActor::Person(person.id.clone()),
    )
    .person(&person.id)
    .address(crate::audit::address_text(Some(address)))
    .detail(serde_json::json!({"how": "account_page"}));
    crate::audit::record(core, event).await;
    // Every other browser, as a logout of each.
    let sessions = core.stores.sessions.clone();
    let (owner, now) = (person.id.clone(), core.now());
    let live = blocking(move || sessions.list_user_sessions(&owner, now)).await?;
    let mut ended: Vec<String> = Vec::new();
    for other in live {
        if other.lineage_hash == session.lineage_hash || ended.contains(&other.lineage_hash) {
            continue;
        }
        crate::lineage::end(core, &other).await?;
        ended.push(other.lineage_hash);
    }
    if form.sign_out_apps {
        core.stores
            .families
            .revoke_user(&person.id, RevokeReason::UserSessions, core.now())
            .await?;
    }
    crate::mail::alert(
        core,
        &person.id,
        usher_domain::SecurityAlert::PasswordChanged,
    )
    .await;
    tracing::warn!(
        event = "password_changed",
        sub = %person.id,
        browsers_signed_out = ended.len(),
        apps_signed_out = form.sign_out_apps,
        "the person changed their password on the account page"
    );
    Ok(ChangeOutcome::Changed {
        browsers_signed_out: ended.len(),
    })
}

#[cfg(test)]
mod tests {
    use usher_domain::{FamilyState, SessionStore, UserStore};

    use super::*;
    use crate::testing::{FamilySpec, PASSWORD, TestNode};

    const HERE: ClientAddress =
        ClientAddress::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    fn form<'a>(current: &'a str, new: &'a str, apps: bool) -> PasswordChange<'a> {
        PasswordChange {
            current,
            new,
            confirm: new,
            sign_out_apps: apps,
        }
    }

    #[tokio::test]
    async fn a_change_needs_the_current_password_and_signs_other_browsers_out() {
        let node = TestNode::new();
        let alice = node.person("alice");
        let here = node.session(&alice, "cookie-here", "lineage-here", 0);
        let phone = node.session(&alice, "cookie-phone", "lineage-phone", 0);
        let (online, _) = node
            .family(FamilySpec {
                name: "online",
                scope: "openid",
                lineage: Some("lineage-phone"),
                ..FamilySpec::default()
            })
            .await;
        let (offline, _) = node.family(FamilySpec::default()).await;
        let new = "a much longer new passphrase";
        assert_eq!(
            change(&node.core, &here, form("wrong", new, false), &HERE).await,
            Ok(ChangeOutcome::WrongCurrent)
        );
        let mismatch = PasswordChange {
            confirm: "something else entirely",
            ..form(PASSWORD, new, false)
        };
        assert!(matches!(
            change(&node.core, &here, mismatch, &HERE).await,
            Ok(ChangeOutcome::Refused(_))
        ));
        assert_eq!(
            change(&node.core, &here, form(PASSWORD, new, false), &HERE).await,
            Ok(ChangeOutcome::Changed {
                browsers_signed_out: 1
            })
        );
        let stored = node.db.find_user(&alice.username).unwrap().unwrap();
        assert!(usher_keys::verify_password(
            &Password::parse(new.to_owned()).unwrap(),
            &stored.password_hash
        ));
        // This browser stays, the phone's is gone with its online family; the offline
        // family is kept (the box was not ticked).
        assert!(
            node.db
                .get_session(&here.id_hash, node.now())
                .unwrap()
                .is_some()
        );
        assert!(
            node.db
                .get_session(&phone.id_hash, node.now())
                .unwrap()
                .is_none()
        );
        assert_eq!(node.family_state(&online).await, FamilyState::Revoked);
        assert_eq!(node.family_state(&offline).await, FamilyState::Active);
        // Ticked: the offline family goes too.
        assert!(matches!(
            change(&node.core, &here, form(new, PASSWORD, true), &HERE).await,
            Ok(ChangeOutcome::Changed { .. })
        ));
        assert_eq!(node.family_state(&offline).await, FamilyState::Revoked);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn guessing_the_current_password_is_throttled_even_all_at_once() {
        let node = std::sync::Arc::new(TestNode::new());
        let alice = node.person("alice");
        let here = std::sync::Arc::new(node.session(&alice, "cookie-here", "lineage-here", 0));
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (node, here) = (node.clone(), here.clone());
            tasks.push(tokio::spawn(async move {
                let guess = format!("guess number {i}");
                change(
                    &node.core,
                    &here,
                    form(&guess, "a much longer new passphrase", false),
                    &HERE,
                )
                .await
                .unwrap()
            }));
        }
        let (mut checked, mut throttled) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                ChangeOutcome::WrongCurrent => checked += 1,
                ChangeOutcome::Throttled { .. } => throttled += 1,
                other => panic!("{other:?}"),
            }
        }
        // The login throttle's default: five checked attempts per window.
        assert_eq!((checked, throttled), (5, 15));
        // Even the right password waits now.
        assert!(matches!(
            change(
                &node.core,
                &here,
                form(PASSWORD, "a much longer new passphrase", false),
                &HERE
            )
            .await,
            Ok(ChangeOutcome::Throttled { .. })
        ));
    }
}
