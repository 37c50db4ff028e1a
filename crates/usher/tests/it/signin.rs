//! "Sign in with Usher" end to end: a certified relying-party library (`openidconnect`)
//! discovers Usher, sends the person to `/authorize`, the person logs in and consents
//! through Usher's real HTML forms, and the library exchanges the code with PKCE,
//! validates the ID token against the JWKS (signature, nonce, `at_hash`) and calls
//! userinfo.

use openidconnect::core::{CoreAuthenticationFlow, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    Scope, TokenResponse,
};
use usher_http::routes;

use crate::helpers::{Backend, Browser, Sandbox};

const CALLBACK: &str = "http://127.0.0.1:9/callback";
const PASSWORD: &str = "correct horse battery staple";

/// Registers a client and Alice; returns (client_id, secret).
pub fn setup(sandbox: &Sandbox, public: bool, extra: &[&str]) -> (String, Option<String>) {
    let mut args = vec![
        "--name",
        "Shop",
        "--redirect-uri",
        CALLBACK,
        "--scope",
        "openid profile email",
    ];
    if public {
        args.push("--public");
    }
    args.extend_from_slice(extra);
    let client = sandbox.client(&args);
    sandbox.user(
        "alice",
        PASSWORD,
        &[
            "--email",
            "alice@example.com",
            "--email-verified",
            "--name",
            "Alice Liddell",
        ],
    );
    (
        client["client_id"].as_str().expect("client_id").to_owned(),
        client["client_secret"].as_str().map(str::to_owned),
    )
}

async fn relying_party_signs_in(backend: Backend, public: bool) {
    let sandbox = Sandbox::with_test_db(backend);
    let server = sandbox.serve();
    let (client_id, secret) = setup(&sandbox, public, &[]);
    let http = usher::tryout::http_client().unwrap();
    let client = usher::tryout::relying_party(
        &http,
        &server.issuer,
        &client_id,
        secret.as_deref(),
        CALLBACK,
    )
    .await
    .expect("discovery");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::new();
    let login = browser.get(url.as_str()).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(
        login.body.contains("Shop"),
        "the login page names the client"
    );
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert_eq!(login.headers["cache-control"], "no-store");
    assert_eq!(
        sandbox.count("sessions"),
        0,
        "showing the login page creates no session"
    );
    let consent = browser
        .submit(
            &server.base,
            &login,
            routes::LOGIN,
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        consent.body.contains("e-mail"),
        "the consent page lists the scopes in words"
    );
    let back = browser
        .submit(
            &server.base,
            &consent,
            routes::CONSENT,
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(back.location.as_deref().unwrap().starts_with(CALLBACK));
    assert_eq!(
        back.redirect_param("state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        back.redirect_param("iss").as_deref(),
        Some(server.issuer.as_str())
    );
    let code = back.redirect_param("code").expect("a code");
    assert_eq!(sandbox.count("sessions"), 1);
    assert_eq!(sandbox.count("authorization_codes"), 1);
    assert_eq!(sandbox.count("sessions"), 1);
    assert_eq!(sandbox.count("authorization_codes"), 1);

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("a valid ID token");
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(
        claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Alice Liddell")
    );
    assert_eq!(
        claims.authorized_party().map(|a| a.as_str()),
        Some(client_id.as_str())
    );

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    // A second sign-in in the same browser: session and consent are remembered, so the
    // code comes back at once — except to a public client on a loopback redirect URI,
    // whose identity nothing proves: it always gets the consent page (RFC 8252 §8.6).
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (again, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let mut direct = browser.get(again.as_str()).await;
    if public {
        assert_eq!(direct.status, 200, "the consent page: {}", direct.body);
        assert!(direct.has_form(routes::CONSENT), "{}", direct.body);
        direct = browser
            .submit(
                &server.base,
                &direct,
                routes::CONSENT,
                &[("decision", "approve")],
            )
            .await;
    }
    assert_eq!(direct.status, 303, "{}", direct.body);
    assert!(direct.redirect_param("code").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_confidential_relying_party_signs_in_through_the_forms() {
    relying_party_signs_in(Backend::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_confidential_relying_party_signs_in_through_the_forms() {
    relying_party_signs_in(Backend::Postgres, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_a_public_relying_party_signs_in_with_pkce() {
    relying_party_signs_in(Backend::Sqlite, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_a_public_relying_party_signs_in_with_pkce() {
    relying_party_signs_in(Backend::Postgres, true).await;
}
