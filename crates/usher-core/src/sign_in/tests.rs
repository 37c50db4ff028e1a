//! The sign-in's rules, each stated by a test on a whole node without HTTP.

use std::net::{IpAddr, Ipv4Addr};

use usher_domain::authorize::{RawParams, UntrustedError};
use usher_domain::{
    Client, CodeStore, ConsentStore, InteractionStep, ProtocolError, RegistrationInput, ScopeSet,
    Session, UnixTime, User,
};
use usher_keys::sha256_b64url;

use super::consent::{Decision, consent};
use super::decision::{authorize, login_needed};
use super::interaction::{self, FormError};
use super::login::{LoginAttempt, LoginOutcome, login};
use super::*;
use crate::client_address::ClientAddress;
use crate::testing::{PASSWORD, TestNode, form};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const HTTPS_CB: &str = "https://app.example/cb";
const LOOPBACK_CB: &str = "http://127.0.0.1/cb";
pub(super) const BINDING: &str = "the-browser-binding";
const ADDRESS: ClientAddress = ClientAddress::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));

pub(super) fn third_party(node: &TestNode) -> Client {
    node.client(
        "app",
        RegistrationInput {
            redirect_uris: vec![HTTPS_CB.to_owned()],
            ..RegistrationInput::default()
        },
    )
}

pub(super) fn first_party(node: &TestNode) -> Client {
    node.client(
        "own",
        RegistrationInput {
            redirect_uris: vec![HTTPS_CB.to_owned()],
            first_party: true,
            ..RegistrationInput::default()
        },
    )
}

fn native(node: &TestNode) -> Client {
    node.client(
        "cli",
        RegistrationInput {
            public: true,
            redirect_uris: vec![LOOPBACK_CB.to_owned()],
            ..RegistrationInput::default()
        },
    )
}

/// A complete request of `client`'s, with `extra` parameters.
pub(super) fn request(client: &Client, extra: &[(&str, &str)]) -> RawParams {
    let redirect = client.registration.redirect_uris[0].as_str().to_owned();
    let mut p = form(&[
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("scope", "openid profile"),
        ("state", "st"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    for (k, v) in extra {
        p.retain(|(name, _)| name != k);
        p.push(((*k).to_owned(), (*v).to_owned()));
    }
    p
}

/// A live session of `user`'s that entered the password `ago` seconds ago; returns its
/// cookie value.
pub(super) fn signed_in(node: &TestNode, user: &User, ago: i64) -> String {
    let cookie = format!("session-of-{}", user.id.as_str());
    node.session(user, &cookie, "lineage", ago);
    cookie
}

pub(super) fn cookies<'a>(session: Option<&'a str>) -> Cookies<'a> {
    Cookies {
        session,
        binding: Some(BINDING),
        ..Cookies::default()
    }
}

fn remember(node: &TestNode, user: &User, client: &Client, scopes: &str) {
    node.db
        .save_consent(
            &user.id,
            &client.id,
            &ScopeSet::parse(scopes).unwrap().into(),
            node.now(),
        )
        .unwrap();
}

fn id_token_of(node: &TestNode, user: &User, client: &Client) -> String {
    node.id_token(user, client.id.as_str())
}

pub(super) fn client_error(outcome: &SignInOutcome) -> ProtocolError {
    match outcome {
        SignInOutcome::ErrorToClient {
            rejection, state, ..
        } => {
            assert_eq!(state.as_deref(), Some("st"));
            rejection.error
        }
        other => panic!("not an error for the client: {other:?}"),
    }
}

pub(super) fn refusal(outcome: &SignInOutcome) -> FormRefusal {
    match outcome {
        SignInOutcome::ErrorPage(ErrorPageKind::Refused(r)) => *r,
        other => panic!("not a refusal: {other:?}"),
    }
}

pub(super) fn sealed_login(outcome: SignInOutcome) -> (LoginForm, String) {
    match outcome {
        SignInOutcome::ShowLogin(form) => match &form.form {
            Form::Sealed(s) => {
                let s = s.clone();
                (form, s)
            }
            other => panic!("not a sealed form: {other:?}"),
        },
        other => panic!("not the login page: {other:?}"),
    }
}

pub(super) fn consent_page(outcome: SignInOutcome) -> ConsentForm {
    match outcome {
        SignInOutcome::ShowConsent(form) => form,
        other => panic!("not the consent page: {other:?}"),
    }
}

pub(super) fn sealed(form: &str) -> FormFields<'_> {
    FormFields {
        pending: Some(form),
        ..FormFields::default()
    }
}

pub(super) fn stored<'a>(form: &'a Form) -> FormFields<'a> {
    match form {
        Form::Stored { interaction, csrf } => FormFields {
            pending: None,
            interaction: Some(interaction),
            csrf: Some(csrf),
        },
        Form::Sealed(s) => sealed(s),
    }
}

pub(super) fn attempt<'a>(fields: FormFields<'a>, password: &str) -> LoginAttempt<'a> {
    LoginAttempt {
        fields,
        username: " alice ",
        password: password.to_owned(),
        address: &ADDRESS,
    }
}

pub(super) fn signed_in_outcome(outcome: LoginOutcome) -> (Session, String, SignInOutcome) {
    match outcome {
        LoginOutcome::SignedIn {
            session,
            session_cookie_value,
            next,
            ..
        } => (session, session_cookie_value, next),
        other => panic!("not signed in: {other:?}"),
    }
}

// ---- /authorize -------------------------------------------------------------------

#[tokio::test]
async fn without_a_session_the_login_page_is_shown_with_a_sealed_form_and_nothing_stored() {
    let node = TestNode::new();
    let app = third_party(&node);
    let outcome = authorize(
        &node.core,
        &request(&app, &[("login_hint", "alice")]),
        Cookies::default(),
    )
    .await;
    let (form, _) = sealed_login(outcome);
    assert_eq!(form.username, "alice");
    assert_eq!(form.client_name, "Test app");
    // A new binding is handed out to be set as the browser's cookie.
    assert!(form.binding.as_deref().is_some_and(|b| b.len() >= 43));

    // A browser that has a binding keeps it (other tabs' forms stay valid).
    let outcome = authorize(&node.core, &request(&app, &[]), cookies(None)).await;
    assert_eq!(sealed_login(outcome).0.binding.as_deref(), Some(BINDING));
}

#[tokio::test]
async fn an_untrusted_client_or_redirect_uri_gets_usher_s_own_page() {
    let node = TestNode::new();
    let app = third_party(&node);
    let mut unknown = request(&app, &[]);
    unknown.retain(|(k, _)| k != "client_id");
    unknown.push(("client_id".into(), "nobody".into()));
    assert_eq!(
        authorize(&node.core, &unknown, Cookies::default()).await,
        SignInOutcome::ErrorPage(ErrorPageKind::Untrusted(UntrustedError::UnknownClient))
    );
    let elsewhere = request(&app, &[("redirect_uri", "https://evil.example/cb")]);
    assert_eq!(
        authorize(&node.core, &elsewhere, Cookies::default()).await,
        SignInOutcome::ErrorPage(ErrorPageKind::Untrusted(
            UntrustedError::RedirectUriMismatch
        ))
    );
    // Once the redirect URI is trusted, errors go back to the client with its state.
    let bad = request(&app, &[("response_type", "token")]);
    let outcome = authorize(&node.core, &bad, Cookies::default()).await;
    assert_eq!(
        client_error(&outcome),
        ProtocolError::UnsupportedResponseType
    );
}

#[tokio::test]
async fn prompt_login_asks_for_the_password_again_despite_a_session() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let cookie = signed_in(&node, &alice, 10);
    let outcome = authorize(
        &node.core,
        &request(&app, &[("prompt", "login")]),
        cookies(Some(&cookie)),
    )
    .await;
    sealed_login(outcome);
}

#[test]
fn max_age_zero_or_elapsed_needs_a_login_and_a_recent_one_does_not() {
    let node = TestNode::new();
    let app = first_party(&node);
    let parse = |extra: &[(&str, &str)]| {
        let p = usher_domain::authorize::Params::new(&request(&app, extra));
        usher_domain::authorize::AuthorizationRequest::parse(
            &p,
            &app,
            app.registration.redirect_uris[0].clone(),
            true,
        )
        .unwrap()
    };
    let session = |auth_time: i64| Session {
        id_hash: "h".into(),
        lineage_hash: "l".into(),
        user_id: usher_domain::UserId::parse("u-1").unwrap(),
        auth_time: UnixTime(auth_time),
        amr: usher_domain::AuthMethods::password(),
        created_at: UnixTime(auth_time),
        expires_at: UnixTime(auth_time + 3600),
        address: None,
        user_agent: None,
    };
    let plain = parse(&[]);
    assert!(login_needed(
        &plain,
        None,
        1000,
        usher_domain::Acr::Password
    ));
    assert!(!login_needed(
        &plain,
        Some(&session(0)),
        1000,
        usher_domain::Acr::Password
    ));
    // max_age=0 is prompt=login, even within the same second.
    assert!(login_needed(
        &parse(&[("max_age", "0")]),
        Some(&session(1000)),
        1000,
        usher_domain::Acr::Password
    ));
    let sixty = parse(&[("max_age", "60")]);
    assert!(!login_needed(
        &sixty,
        Some(&session(940)),
        1000,
        usher_domain::Acr::Password
    ));
    assert!(login_needed(
        &sixty,
        Some(&session(939)),
        1000,
        usher_domain::Acr::Password
    ));
    assert!(login_needed(
        &parse(&[("prompt", "login")]),
        Some(&session(1000)),
        1000,
        usher_domain::Acr::Password
    ));
    // A session weaker than the request needs is a sign-in to repeat (step-up).
    assert!(login_needed(
        &plain,
        Some(&session(1000)),
        1000,
        usher_domain::Acr::Mfa
    ));
}

#[tokio::test]
async fn max_age_elapsed_shows_the_login_page_and_max_age_zero_too() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let cookie = signed_in(&node, &alice, 61);
    for max_age in ["0", "60"] {
        let outcome = authorize(
            &node.core,
            &request(&app, &[("max_age", max_age)]),
            cookies(Some(&cookie)),
        )
        .await;
        sealed_login(outcome);
    }
    let outcome = authorize(
        &node.core,
        &request(&app, &[("max_age", "61")]),
        cookies(Some(&cookie)),
    )
    .await;
    assert!(
        matches!(outcome, SignInOutcome::IssueCode(_)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_first_party_client_gets_a_code_at_once_carrying_the_typed_request() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let cookie = signed_in(&node, &alice, 10);
    let outcome = authorize(
        &node.core,
        &request(&app, &[("nonce", "n-1")]),
        cookies(Some(&cookie)),
    )
    .await;
    let SignInOutcome::IssueCode(redirect) = outcome else {
        panic!("no code: {outcome:?}");
    };
    assert_eq!(redirect.redirect_uri.as_str(), HTTPS_CB);
    assert_eq!(redirect.state.as_deref(), Some("st"));
    let code = node
        .db
        .find_code(&sha256_b64url(&redirect.code))
        .unwrap()
        .unwrap();
    assert_eq!(code.client_id, app.id);
    assert_eq!(code.redirect_uri, app.registration.redirect_uris[0]);
    assert!(code.redirect_uri_sent);
    assert_eq!(code.scopes, ScopeSet::parse("profile openid").unwrap());
    assert_eq!(
        code.code_challenge.as_ref().map(|c| c.as_str()),
        Some(CHALLENGE)
    );
    assert_eq!(code.nonce.as_deref(), Some("n-1"));
    assert_eq!(code.user_id, alice.id);
    assert_eq!(code.lineage_hash, "lineage");
    assert_eq!(code.auth_time, UnixTime(node.now().seconds() - 10));
    assert_eq!(
        code.expires_at,
        node.now().plus(node.core.settings.code_ttl)
    );
}

#[tokio::test]
async fn remembered_consent_covering_the_scopes_skips_the_page_and_a_smaller_one_does_not() {
    let node = TestNode::new();
    let app = third_party(&node);
    let alice = node.person("alice");
    let cookie = signed_in(&node, &alice, 10);
    let ask = |extra: &'static [(&'static str, &'static str)]| {
        let (core, raw, cookie) = (&node.core, request(&app, extra), cookie.clone());
        async move { authorize(core, &raw, cookies(Some(&cookie))).await }
    };
    let page = consent_page(ask(&[]).await);
    assert_eq!(page.scopes, ScopeSet::parse("openid profile").unwrap());
    assert_eq!(page.username, "alice");
    assert!(!page.unverified);
    assert!(matches!(page.form, Form::Sealed(_)));
    assert_eq!(page.binding.as_deref(), Some(BINDING));

    remember(&node, &alice, &app, "openid");
    consent_page(ask(&[]).await);
    remember(&node, &alice, &app, "openid profile email");
    assert!(matches!(ask(&[]).await, SignInOutcome::IssueCode(_)));
    // prompt=consent asks again anyway.
    consent_page(ask(&[("prompt", "consent")]).await);
}

#[tokio::test]
async fn a_public_client_on_loopback_always_gets_the_consent_page() {
    let node = TestNode::new();
    let cli = native(&node);
    let alice = node.person("alice");
    let cookie = signed_in(&node, &alice, 10);
    remember(&node, &alice, &cli, "openid profile email");
    // Another port on the loopback address is the same redirect URI (RFC 8252 §7.3).
    let raw = request(&cli, &[("redirect_uri", "http://127.0.0.1:51234/cb")]);
    let page = consent_page(authorize(&node.core, &raw, cookies(Some(&cookie))).await);
    assert!(page.unverified);
    // prompt=none cannot be honoured: interaction_required, not consent_required.
    let raw = request(&cli, &[("prompt", "none")]);
    let outcome = authorize(&node.core, &raw, cookies(Some(&cookie))).await;
    assert_eq!(client_error(&outcome), ProtocolError::InteractionRequired);
}

#[tokio::test]
async fn prompt_none_refuses_with_login_required_or_consent_required() {
    let node = TestNode::new();
    let app = third_party(&node);
    let alice = node.person("alice");
    let none = request(&app, &[("prompt", "none")]);
    let outcome = authorize(&node.core, &none, Cookies::default()).await;
    assert_eq!(client_error(&outcome), ProtocolError::LoginRequired);
    let cookie = signed_in(&node, &alice, 100);
    let outcome = authorize(&node.core, &none, cookies(Some(&cookie))).await;
    assert_eq!(client_error(&outcome), ProtocolError::ConsentRequired);
    let too_old = request(&app, &[("prompt", "none"), ("max_age", "10")]);
    let outcome = authorize(&node.core, &too_old, cookies(Some(&cookie))).await;
    assert_eq!(client_error(&outcome), ProtocolError::LoginRequired);
    remember(&node, &alice, &app, "openid profile");
    let outcome = authorize(&node.core, &none, cookies(Some(&cookie))).await;
    assert!(
        matches!(outcome, SignInOutcome::IssueCode(_)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_id_token_hint_must_be_ours_and_name_the_person_signed_in() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    let bob = node.person("bob");
    let cookie = signed_in(&node, &alice, 10);
    let hint_of = |user: &User| id_token_of(&node, user, &app);

    let raw = request(&app, &[("id_token_hint", &hint_of(&bob))]);
    let outcome = authorize(&node.core, &raw, cookies(Some(&cookie))).await;
    assert_eq!(client_error(&outcome), ProtocolError::LoginRequired);

    let raw = request(&app, &[("id_token_hint", "not.a.token")]);
    let outcome = authorize(&node.core, &raw, cookies(Some(&cookie))).await;
    assert_eq!(client_error(&outcome), ProtocolError::InvalidRequest);

    let raw = request(&app, &[("id_token_hint", &hint_of(&alice))]);
    let outcome = authorize(&node.core, &raw, cookies(Some(&cookie))).await;
    assert!(
        matches!(outcome, SignInOutcome::IssueCode(_)),
        "{outcome:?}"
    );

    // Without a session, the hint is checked after the login.
    let raw = request(&app, &[("id_token_hint", &hint_of(&bob))]);
    let (_, form) = sealed_login(authorize(&node.core, &raw, cookies(None)).await);
    let outcome = login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await;
    let (_, _, next) = signed_in_outcome(outcome);
    assert_eq!(client_error(&next), ProtocolError::LoginRequired);
}

#[tokio::test]
async fn a_request_too_large_to_seal_goes_back_to_the_client() {
    let node = TestNode::new();
    let app = third_party(&node);
    // Characters JSON must escape (six bytes each), in three values near the limit.
    let big = "\u{1}".repeat(4000);
    let raw = request(&app, &[("nonce", &big), ("login_hint", &big)]);
    let outcome = authorize(&node.core, &raw, Cookies::default()).await;
    assert_eq!(client_error(&outcome), ProtocolError::InvalidRequest);
    let SignInOutcome::ErrorToClient { rejection, .. } = outcome else {
        unreachable!()
    };
    assert!(
        rejection.description.contains("too large"),
        "{}",
        rejection.description
    );
    // One such value fits.
    let raw = request(&app, &[("nonce", &big)]);
    sealed_login(authorize(&node.core, &raw, Cookies::default()).await);
}

// ---- the forms --------------------------------------------------------------------

#[tokio::test]
async fn a_correct_password_signs_in_with_a_new_session_and_continues_to_consent() {
    let node = TestNode::new();
    let app = third_party(&node);
    let alice = node.person("alice");
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let outcome = login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await;
    let (session, cookie, next) = signed_in_outcome(outcome);
    assert_eq!(session.user_id, alice.id);
    assert_eq!(
        node.core.session(Some(&cookie)).await.unwrap(),
        Some(session)
    );
    let page = consent_page(next);
    assert_eq!(page.username, "alice");
    assert!(page.binding.is_none());
    assert!(matches!(page.form, Form::Stored { .. }));

    // The consent form approves: the consent is remembered (added to what was granted)
    // and the code issued.
    remember(&node, &alice, &app, "email");
    let outcome = consent(
        &node.core,
        stored(&page.form),
        Some(Decision::Approve),
        cookies(Some(&cookie)),
    )
    .await;
    assert!(
        matches!(outcome, SignInOutcome::IssueCode(_)),
        "{outcome:?}"
    );
    assert_eq!(
        node.db.get_consent(&alice.id, &app.id).unwrap(),
        Some(ScopeSet::parse("email openid profile").unwrap().into())
    );
    // The form was spent and its interaction is over: the page has expired.
    let again = consent(
        &node.core,
        stored(&page.form),
        Some(Decision::Approve),
        cookies(Some(&cookie)),
    )
    .await;
    assert_eq!(refusal(&again), FormRefusal::Expired);
}

#[tokio::test]
async fn a_first_party_login_ends_in_a_code() {
    let node = TestNode::new();
    let app = first_party(&node);
    node.person("alice");
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let outcome = login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await;
    let (_, _, next) = signed_in_outcome(outcome);
    assert!(matches!(next, SignInOutcome::IssueCode(_)), "{next:?}");
}

#[tokio::test]
async fn a_wrong_password_shows_a_new_form_and_the_spent_one_is_refused() {
    let node = TestNode::new();
    let app = third_party(&node);
    node.person("alice");
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let outcome = login(&node.core, attempt(sealed(&form), "wrong"), cookies(None)).await;
    let LoginOutcome::WrongPassword(page) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(page.username, "alice");
    let first_stored = page.form.clone();
    assert!(matches!(first_stored, Form::Stored { .. }));
    // The sealed first form is spent: posting it again is refused.
    let outcome = login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await;
    let LoginOutcome::Refused(r) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(refusal(&r), FormRefusal::AlreadySubmitted);

    // The stored form works once; its token cannot be used again.
    let outcome = login(
        &node.core,
        attempt(stored(&first_stored), "wrong"),
        cookies(None),
    )
    .await;
    assert!(matches!(outcome, LoginOutcome::WrongPassword(_)));
    let outcome = login(
        &node.core,
        attempt(stored(&first_stored), PASSWORD),
        cookies(None),
    )
    .await;
    let LoginOutcome::Refused(r) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(refusal(&r), FormRefusal::AlreadySubmitted);
}

#[tokio::test]
async fn a_throttled_attempt_is_refused_unchecked_and_its_form_stays_unspent() {
    let node = TestNode::with_settings(|s| s.login_max_failures = 2);
    let app = third_party(&node);
    node.person("alice");
    let mut fields_form = {
        let (_, f) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
        Form::Sealed(f)
    };
    let mut throttled = None;
    for _ in 0..10 {
        match login(
            &node.core,
            attempt(stored(&fields_form), "wrong"),
            cookies(None),
        )
        .await
        {
            LoginOutcome::WrongPassword(page) => fields_form = page.form,
            LoginOutcome::Throttled { wait, form } => {
                throttled = Some((wait, form));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let (wait, form) = throttled.expect("the throttle never refused");
    assert!(wait > 0);
    // The same form comes back, still good: after the lock, it is checked.
    assert_eq!(form.form, fields_form);
    node.advance(wait + 1);
    let outcome = login(
        &node.core,
        attempt(stored(&form.form), PASSWORD),
        cookies(None),
    )
    .await;
    signed_in_outcome(outcome);
}

#[tokio::test]
async fn a_sealed_form_is_refused_when_expired_tampered_from_another_browser_or_another_step() {
    let node = TestNode::new();
    let app = third_party(&node);
    node.person("alice");
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let pending = |fields, binding, step| {
        let core = &node.core;
        async move {
            interaction::pending(core, fields, binding, step)
                .await
                .map(|_| ())
        }
    };
    let refused = |r| Err(FormError::Refused(r));
    assert_eq!(
        pending(sealed(&form), Some(BINDING), InteractionStep::Login).await,
        Ok(())
    );
    assert_eq!(
        pending(sealed(&form), Some("another"), InteractionStep::Login).await,
        refused(FormRefusal::OtherBrowser)
    );
    assert_eq!(
        pending(sealed(&form), None, InteractionStep::Login).await,
        refused(FormRefusal::OtherBrowser)
    );
    assert_eq!(
        pending(sealed(&form), Some(BINDING), InteractionStep::Consent).await,
        refused(FormRefusal::Expired)
    );
    let mut tampered = form.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        pending(sealed(&tampered), Some(BINDING), InteractionStep::Login).await,
        refused(FormRefusal::Expired)
    );
    assert_eq!(
        pending(FormFields::default(), Some(BINDING), InteractionStep::Login).await,
        refused(FormRefusal::Incomplete)
    );
    node.advance(node.core.settings.interaction_ttl);
    assert_eq!(
        pending(sealed(&form), Some(BINDING), InteractionStep::Login).await,
        refused(FormRefusal::Expired)
    );
}

#[tokio::test]
async fn a_stored_form_is_refused_from_another_browser_at_another_step_or_with_a_spent_token() {
    let node = TestNode::new();
    let app = third_party(&node);
    node.person("alice");
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let LoginOutcome::WrongPassword(page) =
        login(&node.core, attempt(sealed(&form), "wrong"), cookies(None)).await
    else {
        panic!("not refused");
    };
    let pending = |fields, binding, step| {
        let core = &node.core;
        async move {
            interaction::pending(core, fields, binding, step)
                .await
                .map(|_| ())
        }
    };
    let refused = |r| Err(FormError::Refused(r));
    let Form::Stored {
        interaction: id, ..
    } = &page.form
    else {
        panic!("not stored");
    };
    let fields = stored(&page.form);
    assert_eq!(
        pending(fields, Some(BINDING), InteractionStep::Login).await,
        Ok(())
    );
    assert_eq!(
        pending(fields, Some("another"), InteractionStep::Login).await,
        refused(FormRefusal::OtherBrowser)
    );
    assert_eq!(
        pending(fields, Some(BINDING), InteractionStep::Consent).await,
        refused(FormRefusal::Expired)
    );
    let forged = FormFields {
        pending: None,
        interaction: Some(id),
        csrf: Some("a-token-never-issued"),
    };
    assert_eq!(
        pending(forged, Some(BINDING), InteractionStep::Login).await,
        refused(FormRefusal::AlreadySubmitted)
    );
    let no_token = FormFields {
        pending: None,
        interaction: Some(id),
        csrf: None,
    };
    assert_eq!(
        pending(no_token, Some(BINDING), InteractionStep::Login).await,
        refused(FormRefusal::Incomplete)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_concludes_of_one_form_exactly_one_wins() {
    let node = TestNode::new();
    let app = third_party(&node);
    let alice = node.person("alice");
    let cookie = signed_in(&node, &alice, 10);
    // A sealed first form (consent for someone signed in) and a stored one.
    let page =
        consent_page(authorize(&node.core, &request(&app, &[]), cookies(Some(&cookie))).await);
    let Form::Sealed(first) = &page.form else {
        panic!("not sealed");
    };
    let load = || {
        interaction::pending(
            &node.core,
            sealed(first),
            Some(BINDING),
            InteractionStep::Consent,
        )
    };
    let (a, b) = (load().await.unwrap(), load().await.unwrap());
    let (x, y) = tokio::join!(
        interaction::conclude(&node.core, &a),
        interaction::conclude(&node.core, &b)
    );
    let wins = [&x, &y].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{x:?} {y:?}");
    assert!([x, y].contains(&Err(FormError::Refused(FormRefusal::AlreadySubmitted))));

    // Two concurrent renews of one stored form: one new token, one refusal.
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let LoginOutcome::WrongPassword(login_page) =
        login(&node.core, attempt(sealed(&form), "wrong"), cookies(None)).await
    else {
        panic!("not refused");
    };
    let load = || {
        interaction::pending(
            &node.core,
            stored(&login_page.form),
            Some(BINDING),
            InteractionStep::Login,
        )
    };
    let (a, b) = (load().await.unwrap(), load().await.unwrap());
    let (x, y) = tokio::join!(
        interaction::renew(&node.core, &a),
        interaction::renew(&node.core, &b)
    );
    assert_eq!(
        [&x, &y].iter().filter(|r| r.is_ok()).count(),
        1,
        "{x:?} {y:?}"
    );
    let (x, y) = tokio::join!(
        interaction::conclude(&node.core, &a),
        interaction::conclude(&node.core, &b)
    );
    // The token both loaded was replaced by the renew: neither ends the interaction.
    assert!(x.is_err() && y.is_err());
}

#[tokio::test]
async fn consent_is_refused_without_a_decision_or_when_another_person_is_signed_in() {
    let node = TestNode::new();
    let app = third_party(&node);
    let alice = node.person("alice");
    let bob = node.person("bob");
    let alice_cookie = signed_in(&node, &alice, 10);
    let bob_cookie = signed_in(&node, &bob, 10);
    let page = consent_page(
        authorize(
            &node.core,
            &request(&app, &[]),
            cookies(Some(&alice_cookie)),
        )
        .await,
    );
    let fields = stored(&page.form);
    let outcome = consent(&node.core, fields, None, cookies(Some(&alice_cookie))).await;
    assert_eq!(refusal(&outcome), FormRefusal::NoDecision);
    let outcome = consent(
        &node.core,
        fields,
        Some(Decision::Approve),
        cookies(Some(&bob_cookie)),
    )
    .await;
    assert_eq!(refusal(&outcome), FormRefusal::NoLongerSignedIn);
    let outcome = consent(&node.core, fields, Some(Decision::Approve), cookies(None)).await;
    assert_eq!(refusal(&outcome), FormRefusal::NoLongerSignedIn);
    // Nothing was spent: the person can still deny, which goes back as access_denied.
    let outcome = consent(
        &node.core,
        fields,
        Some(Decision::Deny),
        cookies(Some(&alice_cookie)),
    )
    .await;
    assert_eq!(client_error(&outcome), ProtocolError::AccessDenied);
    assert_eq!(node.db.get_consent(&alice.id, &app.id).unwrap(), None);
    assert_eq!(Decision::parse(Some("approve")), Some(Decision::Approve));
    assert_eq!(Decision::parse(Some("deny")), Some(Decision::Deny));
    assert_eq!(Decision::parse(Some("yes")), None);
}

#[tokio::test]
async fn a_login_replaces_the_browser_s_previous_session() {
    let node = TestNode::new();
    let app = third_party(&node);
    let alice = node.person("alice");
    let old = signed_in(&node, &alice, 10);
    let raw = request(&app, &[("prompt", "login")]);
    let (_, form) = sealed_login(authorize(&node.core, &raw, cookies(Some(&old))).await);
    let outcome = login(
        &node.core,
        attempt(sealed(&form), PASSWORD),
        cookies(Some(&old)),
    )
    .await;
    let (session, cookie, _) = signed_in_outcome(outcome);
    assert_ne!(cookie, old);
    assert_eq!(node.core.session(Some(&old)).await.unwrap(), None);
    // Same person: the lineage is inherited.
    assert_eq!(session.lineage_hash, "lineage");
    assert_eq!(session.auth_time, node.now());
}

// ---- Debug output -----------------------------------------------------------------

#[test]
fn debug_output_of_cookies_forms_and_outcomes_never_shows_a_secret() {
    let cookies = Cookies {
        session: Some("the-session-cookie"),
        binding: Some("the-binding-cookie"),
        device: Some("the-device-cookie"),
        ..Cookies::default()
    };
    let fields = FormFields {
        pending: Some("the-sealed-form"),
        interaction: Some("the-interaction"),
        csrf: Some("the-csrf-token"),
    };
    let sealed = Form::Sealed("the-sealed-form".to_owned());
    let stored = Form::Stored {
        interaction: "the-interaction".to_owned(),
        csrf: "the-csrf-token".to_owned(),
    };
    let login_form = LoginForm {
        client_name: "App".to_owned(),
        form: sealed.clone(),
        username: "alice".to_owned(),
        binding: Some("the-binding-cookie".to_owned()),
        passkeys: true,
        signup: false,
        upstreams: vec![],
        link: None,
    };
    let consent_form = ConsentForm {
        client_name: "App".to_owned(),
        username: "alice".to_owned(),
        scopes: ScopeSet::default(),
        resources: vec![],
        unverified: false,
        published_by: None,
        self_registered_host: None,
        form: stored.clone(),
        binding: Some("the-binding-cookie".to_owned()),
    };
    let code = SignInOutcome::IssueCode(CodeRedirect {
        redirect_uri: RedirectUri::parse("https://app.example/cb").unwrap(),
        code: "the-code".to_owned(),
        state: Some("s".to_owned()),
    });
    let outcomes = [
        LoginOutcome::WrongPassword(login_form.clone()),
        LoginOutcome::Throttled {
            wait: 5,
            form: login_form.clone(),
        },
        LoginOutcome::Refused(SignInOutcome::ShowConsent(consent_form.clone())),
    ];
    let next = interaction::NextForm {
        csrf: "the-csrf-token".to_owned(),
        csrf_hash: "the-hash".to_owned(),
    };
    let shown = format!(
        "{cookies:?} {fields:?} {sealed:?} {stored:?} {login_form:?} {consent_form:?} \
         {code:?} {:?} {:?} {outcomes:?} {next:?}",
        SignInOutcome::ShowLogin(login_form.clone()),
        SignInOutcome::ShowConsent(consent_form.clone()),
    );
    for secret in [
        "the-session-cookie",
        "the-binding-cookie",
        "the-device-cookie",
        "the-sealed-form",
        "the-csrf-token",
        "the-code",
    ] {
        assert!(!shown.contains(secret), "{secret}: {shown}");
    }
    // What is not a secret is still there to debug with.
    for shown_value in ["the-interaction", "alice", "the-hash", "<redacted>"] {
        assert!(shown.contains(shown_value), "{shown_value}: {shown}");
    }
}

#[tokio::test]
async fn debug_output_of_a_login_and_its_pending_forms_never_shows_a_secret() {
    let node = TestNode::new();
    let app = third_party(&node);
    node.person("alice");
    let (page, form) =
        sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let first = interaction::pending(
        &node.core,
        sealed(&form),
        Some(BINDING),
        InteractionStep::Login,
    )
    .await
    .unwrap();
    let shown = format!("{page:?} {first:?}");
    assert!(!shown.contains(&form), "{shown}");
    assert!(!shown.contains(BINDING), "{shown}");

    let outcome = login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await;
    let shown = format!("{outcome:?}");
    let (_, cookie, next) = signed_in_outcome(outcome);
    assert!(!shown.contains(&cookie), "{shown}");
    let consent_page = consent_page(next);
    let Form::Stored { csrf, .. } = &consent_page.form else {
        panic!("not a stored form: {consent_page:?}");
    };
    assert!(!shown.contains(csrf.as_str()), "{shown}");

    let later = interaction::pending(
        &node.core,
        stored(&consent_page.form),
        Some(BINDING),
        InteractionStep::Consent,
    )
    .await
    .unwrap();
    let renewed = interaction::renew(&node.core, &later).await.unwrap();
    let shown = format!("{later:?} {renewed:?}");
    assert!(!shown.contains(csrf.as_str()), "{shown}");
    assert!(!shown.contains(&renewed.csrf), "{shown}");
}

/// A client restricted to the group `staff` (first-party unless `consent`).
fn staff_only(node: &TestNode, consent: bool) -> Client {
    use usher_domain::{Group, GroupName, GroupStore};
    node.db
        .insert_group(&Group {
            name: GroupName::parse("staff").unwrap(),
            description: None,
            created_at: node.now(),
        })
        .unwrap();
    node.client(
        "portal",
        RegistrationInput {
            name: "Portal".into(),
            redirect_uris: vec![HTTPS_CB.to_owned()],
            first_party: !consent,
            allowed_groups: vec!["staff".into()],
            ..RegistrationInput::default()
        },
    )
}

fn join_staff(node: &TestNode, user: &User) {
    use usher_domain::{GroupName, GroupStore};
    node.db
        .add_member(
            &GroupName::parse("staff").unwrap(),
            &user.username,
            node.now(),
        )
        .unwrap();
}

fn no_access(outcome: SignInOutcome) -> NoAccess {
    match outcome {
        SignInOutcome::NoAccess(page) => page,
        other => panic!("not the no-access page: {other:?}"),
    }
}

#[tokio::test]
async fn a_signed_in_non_member_gets_the_no_access_page_and_no_code() {
    let node = TestNode::new();
    let portal = staff_only(&node, false);
    let bob = node.person("bob");
    let cookie = signed_in(&node, &bob, 10);
    let page =
        no_access(authorize(&node.core, &request(&portal, &[]), cookies(Some(&cookie))).await);
    assert_eq!(page.client_name, "Portal");
    assert_eq!(page.username, "bob");
    let back = page.back.unwrap();
    assert_eq!(back.redirect_uri.as_str(), HTTPS_CB);
    assert_eq!(back.rejection.error, ProtocolError::AccessDenied);
    assert_eq!(back.state.as_deref(), Some("st"));
    // prompt=none shows no page: access_denied goes to the client at once.
    let silent = authorize(
        &node.core,
        &request(&portal, &[("prompt", "none")]),
        cookies(Some(&cookie)),
    )
    .await;
    assert_eq!(client_error(&silent), ProtocolError::AccessDenied);
    // A member gets the code.
    join_staff(&node, &bob);
    let outcome = authorize(&node.core, &request(&portal, &[]), cookies(Some(&cookie))).await;
    assert!(
        matches!(outcome, SignInOutcome::IssueCode(_)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_non_member_is_refused_after_the_password_before_consent() {
    let node = TestNode::new();
    let portal = staff_only(&node, true);
    node.person("alice");
    let (_, form) =
        sealed_login(authorize(&node.core, &request(&portal, &[]), cookies(None)).await);
    let outcome = login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await;
    let (_, _, next) = signed_in_outcome(outcome);
    assert_eq!(no_access(next).username, "alice");
}

#[tokio::test]
async fn a_member_removed_while_the_consent_page_is_open_gets_no_code() {
    use usher_domain::{GroupName, GroupStore};
    let node = TestNode::new();
    let portal = staff_only(&node, true);
    let alice = node.person("alice");
    join_staff(&node, &alice);
    let (_, form) =
        sealed_login(authorize(&node.core, &request(&portal, &[]), cookies(None)).await);
    let outcome = login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await;
    let (_, cookie, next) = signed_in_outcome(outcome);
    let page = consent_page(next);
    node.db
        .remove_member(&GroupName::parse("staff").unwrap(), &alice.username)
        .unwrap();
    let outcome = consent(
        &node.core,
        stored(&page.form),
        Some(Decision::Approve),
        cookies(Some(&cookie)),
    )
    .await;
    no_access(outcome);
    assert_eq!(node.db.get_consent(&alice.id, &portal.id).unwrap(), None);
}

// ---- the audit trail (docs/design/audit.md) -----------------------------------------

fn events_of(node: &TestNode, kind: usher_domain::AuditKind) -> Vec<usher_domain::AuditEvent> {
    node.audit_events()
        .into_iter()
        .map(|e| e.event)
        .filter(|e| e.kind == kind)
        .collect()
}

#[tokio::test]
async fn a_failed_and_a_successful_sign_in_each_leave_their_event_without_the_password() {
    use usher_domain::{AuditActor, AuditKind};
    let node = TestNode::new();
    let app = third_party(&node);
    let alice = node.person("alice");
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let outcome = login(
        &node.core,
        attempt(sealed(&form), "my-Secret-guess"),
        cookies(None),
    )
    .await;
    let LoginOutcome::WrongPassword(page) = outcome else {
        panic!("{outcome:?}");
    };
    let failed = events_of(&node, AuditKind::SignInFailed);
    assert_eq!(failed.len(), 1);
    let e = &failed[0];
    assert_eq!(e.person.as_ref(), Some(&alice.id));
    assert_eq!(e.client.as_ref(), Some(&app.id));
    assert_eq!(e.actor, AuditActor::Anonymous);
    assert_eq!(e.address.as_deref(), Some("192.0.2.1"));
    assert_eq!(e.detail.as_map()["reason"], "wrong_password");
    assert!(!e.detail.to_stored().contains("my-Secret-guess"));
    assert_eq!(e.at, node.now());

    // An unknown username: no person, and the text typed is not kept.
    let outcome = login(
        &node.core,
        LoginAttempt {
            username: "password-typed-as-a-name",
            ..attempt(stored(&page.form), "x")
        },
        cookies(None),
    )
    .await;
    let LoginOutcome::WrongPassword(page) = outcome else {
        panic!("{outcome:?}");
    };
    let failed = events_of(&node, AuditKind::SignInFailed);
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[1].person, None);
    assert_eq!(failed[1].detail.as_map()["reason"], "unknown_username");
    let stored_text = format!("{:?}", node.audit_events());
    assert!(!stored_text.contains("password-typed-as-a-name"));

    // The right password: a success, done by alice.
    let outcome = login(
        &node.core,
        attempt(stored(&page.form), PASSWORD),
        cookies(None),
    )
    .await;
    signed_in_outcome(outcome);
    let succeeded = events_of(&node, AuditKind::SignInSucceeded);
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].person.as_ref(), Some(&alice.id));
    assert_eq!(succeeded[0].actor, AuditActor::Person(alice.id.clone()));
    assert_eq!(
        succeeded[0].detail.to_value()["amr"],
        serde_json::json!(["pwd"])
    );
    assert!(!format!("{:?}", node.audit_events()).contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lockout_leaves_one_event_naming_the_person_however_many_refusals_follow() {
    use usher_domain::AuditKind;
    let node = TestNode::with_settings(|s| s.login_max_failures = 2);
    let app = third_party(&node);
    let alice = node.person("alice");
    let mut form = {
        let (_, f) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
        Form::Sealed(f)
    };
    let mut wait = None;
    for _ in 0..10 {
        match login(&node.core, attempt(stored(&form), "wrong"), cookies(None)).await {
            LoginOutcome::WrongPassword(page) => form = page.form,
            LoginOutcome::Throttled { wait: w, .. } => {
                wait = Some(w);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let wait = wait.expect("the throttle never refused");
    // Refusals during the lockout cost the sender nothing: they write nothing, however
    // many arrive at once (one row each would let anyone grow the trail without bound).
    let mut racing = Vec::new();
    for _ in 0..40 {
        let (core, form) = (node.core.clone(), form.clone());
        racing.push(tokio::spawn(async move {
            login(&core, attempt(stored(&form), "wrong"), cookies(None)).await
        }));
    }
    for r in racing {
        assert!(matches!(r.await.unwrap(), LoginOutcome::Throttled { .. }));
    }
    let throttled = events_of(&node, AuditKind::SignInThrottled);
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0].person.as_ref(), Some(&alice.id));
    assert_eq!(throttled[0].client.as_ref(), Some(&app.id));
    assert_eq!(throttled[0].detail.as_map()["wait_seconds"], wait);
    // Every checked failure before it left its own event.
    assert!(!events_of(&node, AuditKind::SignInFailed).is_empty());
}

#[tokio::test]
async fn a_sign_in_goes_on_when_the_audit_trail_cannot_be_written() {
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    node.break_audit_trail();
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let outcome = login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await;
    let (session, _, next) = signed_in_outcome(outcome);
    assert_eq!(session.user_id, alice.id);
    assert!(matches!(next, SignInOutcome::IssueCode(_)), "{next:?}");
}

#[tokio::test]
async fn a_disabled_person_is_told_so_after_the_right_password_only_and_signs_in_once_enabled() {
    use usher_domain::{SessionStore, UserStore};
    let node = TestNode::new();
    let app = first_party(&node);
    let alice = node.person("alice");
    assert!(node.db.set_disabled(&alice.id, Some(node.now())).unwrap());
    node.core.forget_user(&alice.id);

    // A wrong password gets the answer anyone gets: nothing says the account is disabled.
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let outcome = login(&node.core, attempt(sealed(&form), "wrong"), cookies(None)).await;
    let LoginOutcome::WrongPassword(page) = outcome else {
        panic!("{outcome:?}");
    };
    // The right one: refused, and nothing starts (no session, no code).
    let outcome = login(
        &node.core,
        attempt(stored(&page.form), PASSWORD),
        cookies(None),
    )
    .await;
    let LoginOutcome::Refused(r) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(refusal(&r), FormRefusal::AccountDisabled);
    assert!(
        node.db
            .list_user_sessions(&alice.id, node.now())
            .unwrap()
            .is_empty()
    );
    let refused = events_of(&node, usher_domain::AuditKind::SignInFailed);
    let last = refused.last().unwrap();
    assert_eq!(last.person.as_ref(), Some(&alice.id));
    assert_eq!(last.detail.as_map()["reason"], "disabled");

    // Enabled again, the same password signs in.
    assert!(node.db.set_disabled(&alice.id, None).unwrap());
    node.core.forget_user(&alice.id);
    let (_, form) = sealed_login(authorize(&node.core, &request(&app, &[]), cookies(None)).await);
    let outcome = login(&node.core, attempt(sealed(&form), PASSWORD), cookies(None)).await;
    let (_, _, next) = signed_in_outcome(outcome);
    assert!(matches!(next, SignInOutcome::IssueCode(_)), "{next:?}");
}
