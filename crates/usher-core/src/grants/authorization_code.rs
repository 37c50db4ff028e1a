//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).
//!
//! The code is read first and the request checked against it — the code's own client,
//! its redirect URI, its PKCE verifier — and only then consumed atomically. A request
//! that fails those checks is `invalid_grant` and leaves the code as it was, so whoever
//! intercepts a code without the verifier can neither burn it nor, with another
//! client's id, revoke what it issued. A second redemption by the code's own client is
//! refused and revokes the access tokens and the refresh family the first one issued.
//! PKCE (S256) is `BASE64URL(SHA-256(verifier))` compared in constant time with the
//! challenge, after `CodeVerifier`'s own syntax check. `resource` (RFC 8707) may narrow
//! the resources granted at `/authorize`, never widen them (`crate::resources`); it is
//! checked before the code is spent, so a wrong one leaves the client its code.

use usher_domain::{
    AuthorizationCode, Client, CodeRedemption, CodeVerifier, GrantType, ProtocolError,
    RevokeReason, UnixTime,
};

use crate::Core;
use crate::failure::{Failure, blocking};
use crate::grants::person_tokens::{self, Grant};
use crate::grants::{TokenError, TokenRequest, TokenResponse, require_grant};
use crate::lineage::{self, StartRefused};
use crate::metrics::{self, Counter};
use crate::refresh_tokens;

/// Whether `verifier` matches the S256 `challenge` (RFC 7636 §4.6):
/// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge`, SHA-256 through
/// OpenSSL and the comparison in constant time.
pub fn pkce_matches(challenge: &str, verifier: &CodeVerifier) -> bool {
    let computed = usher_keys::sha256_b64url(verifier.expose());
    // `memcmp::eq` needs equal lengths; the length of a challenge is not a secret.
    computed.len() == challenge.len()
        && openssl::memcmp::eq(computed.as_bytes(), challenge.as_bytes())
}

/// Exchanges a code for tokens; `client` is already authenticated.
pub async fn exchange(
    core: &Core,
    client: Client,
    request: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    require_grant(&client, GrantType::AuthorizationCode)?;
    let Some(code) = request.code.as_deref() else {
        return Err(TokenError::refused(
            ProtocolError::InvalidRequest,
            "code is missing",
        ));
    };
    let code_hash = usher_keys::sha256_b64url(code);
    let now = core.now();
    // Who presents the code is checked before it is spent: a request that could never
    // have redeemed it (another client, another redirect URI, no or a wrong PKCE
    // verifier) is a plain `invalid_grant` that consumes nothing and revokes nothing.
    let codes = core.stores.codes.clone();
    let hash = code_hash.clone();
    let Some(found) = blocking(move || codes.find_code(&hash)).await? else {
        return Err(TokenError::invalid_grant("the code is invalid"));
    };
    refuse_presenter(&client, &found, request)?;
    // The access token's resources: those of the code, or fewer (RFC 8707 §2), decided
    // before the code is spent. The family keeps the code's whole grant.
    let target = crate::resources::token_target(
        core,
        &found.resources,
        found.created_at,
        &request.resources,
        &found.scopes,
    )
    .await
    .map_err(TokenError::from)?;
    // A client that may get a refresh token needs the family store: if it cannot be
    // reached, answer 503 before the code is spent, so the client can simply retry.
    // The embedded family store is the database the code is redeemed in, so there the
    // redemption itself is the check (and saves a store call per exchange).
    if client.allows_grant(GrantType::RefreshToken)
        && core.stores.families.kind() != "embedded"
        && let Err(e) = core.stores.families.ping().await
    {
        return Err(Failure::from(e).into());
    }
    // The person must still be there and not disabled, before the code is spent.
    let user = match core.active_user(&found.user_id).await? {
        Ok(user) => user,
        Err(why) => return Err(TokenError::invalid_grant(why.to_string())),
    };
    let codes = core.stores.codes.clone();
    let hash = code_hash.clone();
    let code = match blocking(move || codes.redeem_code(&hash, now)).await? {
        CodeRedemption::Redeemed(c) => c,
        // Purged between the two reads: it had expired long ago.
        CodeRedemption::Unknown => return Err(TokenError::invalid_grant("the code is invalid")),
        // Only the code's own client, with its redirect URI and verifier, gets here: a
        // replay by anyone else was refused above without touching the code.
        CodeRedemption::Replayed { code, issued_jtis } => {
            tracing::warn!(event = "code_replayed", client_id = %code.client_id, "an authorization code was redeemed twice; revoking what it issued");
            return Err(refuse_replay(core, &code_hash, issued_jtis, now).await);
        }
    };
    if code.expires_at <= now {
        return Err(TokenError::invalid_grant("the code has expired"));
    }

    // A client restricted to groups: the person must still be in one of them (they were
    // at sign-in; the code is spent either way). Read before any family starts.
    let groups = person_tokens::groups_claim(core, &client, &user, &target.scope).await?;

    // The client is recorded as having got tokens through this browser session before
    // the sign-in's liveness is checked (in `start_family`): a logout either takes the
    // record and tells the client, or ended the sign-in before, and the code is refused.
    let sid = crate::tokens::sid_of(&code.lineage_hash);
    crate::backchannel::record(core, &client, &code, &sid, now).await?;

    // The family is recorded before anything is signed: a token is never issued that
    // the family store does not know. Nothing starts once the sign-in has ended.
    let refresh_token = match lineage::start_family(core, &client, &code, now).await {
        Ok(t) => t,
        Err(StartRefused::SignInEnded) => {
            return Err(TokenError::invalid_grant(
                "the sign-in this code was issued in has ended",
            ));
        }
        Err(StartRefused::Failure(f)) => return Err(f.into()),
    };
    // A code issued just before "Remove access" must not start a family after it.
    if access_removed(core, &client, &code, now).await? {
        tracing::info!(client_id = %client.id, "a code was presented after the person removed the app's access; refused");
        return Err(TokenError::invalid_grant(
            "the person removed this app's access since the code was issued",
        ));
    }

    let grant = Grant {
        client: &client,
        user: &user,
        scope: &target.scope,
        resources: &target.resources,
        auth_time: code.auth_time,
        amr: &code.amr,
        nonce: code.nonce.as_deref(),
        sid: Some(&sid),
        groups: groups.as_deref(),
        now,
    };
    let minted = person_tokens::access_token(core, &grant)?;
    let expires_at = grant.expires_at(core);
    let codes = core.stores.codes.clone();
    let (jti, hash) = (minted.jti.clone(), code_hash.clone());
    if !blocking(move || codes.record_code_token(&hash, &jti, expires_at)).await? {
        // A replay raced this redemption and lost the code's lock to us only after
        // we had redeemed it: what we were about to issue is revoked, not handed out.
        tracing::warn!(event = "code_replayed", client_id = %client.id, "an authorization code was replayed during its redemption; revoking what it issued");
        return Err(refuse_replay(core, &code_hash, vec![(minted.jti, expires_at)], now).await);
    }

    Ok(person_tokens::respond(
        core,
        &grant,
        minted,
        refresh_token,
        GrantType::AuthorizationCode,
    )?)
}

/// Whether the person removed `client`'s access after `code` was issued ("Remove
/// access" deleted the consent): then the family the code started is revoked here.
/// Read after the family started, so either this sees the consent gone, or the
/// removal's revocation, which follows its delete, sees the family. A first-party
/// client has no consent to remove.
pub(crate) async fn access_removed(
    core: &Core,
    client: &Client,
    code: &AuthorizationCode,
    now: UnixTime,
) -> Result<bool, Failure> {
    if client.is_first_party() || consent_stands(core, code).await? {
        return Ok(false);
    }
    if let Some(family) = refresh_tokens::family_of_code(&code.code_hash) {
        core.stores
            .families
            .revoke(&family, RevokeReason::AccessRemoved, now)
            .await
            .map_err(Failure::from)?;
    }
    Ok(true)
}

/// Whether the person's consent to the code's client still stands (every code of a
/// client that is not first-party was preceded by a saved consent).
async fn consent_stands(core: &Core, code: &AuthorizationCode) -> Result<bool, Failure> {
    let consents = core.stores.consents.clone();
    let (user, client) = (code.user_id.clone(), code.client_id.clone());
    Ok(blocking(move || consents.get_consent(&user, &client))
        .await?
        .is_some())
}

/// Why the request may not redeem `code`; `Ok` when it may: the code's own client
/// (already authenticated), the redirect URI of the authorization request (RFC 6749
/// §4.1.3), and the PKCE verifier of its challenge (RFC 7636 §4.6). Reads nothing and
/// writes nothing.
fn refuse_presenter(
    client: &Client,
    code: &AuthorizationCode,
    request: &TokenRequest,
) -> Result<(), TokenError> {
    if code.client_id != client.id {
        return Err(TokenError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    let presented_redirect = request.redirect_uri.as_deref();
    let redirect_ok = match (code.redirect_uri_sent, presented_redirect) {
        (true, Some(r)) => r == code.redirect_uri.as_str(),
        (true, None) => false,
        (false, Some(r)) => r == code.redirect_uri.as_str(),
        (false, None) => true,
    };
    if !redirect_ok {
        return Err(TokenError::invalid_grant(
            "redirect_uri must be the one sent in the authorization request",
        ));
    }
    let verifier = request.code_verifier.as_deref();
    match (&code.code_challenge, verifier) {
        (Some(_), None) => {
            metrics::inc(Counter::PkceRejections, "");
            Err(TokenError::invalid_grant("code_verifier is missing (PKCE)"))
        }
        (None, Some(_)) => Err(TokenError::invalid_grant(
            "code_verifier was sent but the authorization request had no code_challenge",
        )),
        (Some(challenge), Some(v)) => {
            let Some(v) = CodeVerifier::parse(v) else {
                metrics::inc(Counter::PkceRejections, "");
                return Err(TokenError::invalid_grant(
                    "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]",
                ));
            };
            if pkce_matches(challenge.as_str(), &v) {
                return Ok(());
            }
            metrics::inc(Counter::PkceRejections, "");
            tracing::info!(event = "pkce_rejected", client_id = %client.id, "PKCE verification failed");
            Err(TokenError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ))
        }
        (None, None) => Ok(()),
    }
}

/// A replayed code: revokes the access tokens it issued (`jtis`, with their expiry) and
/// its refresh family (RFC 6749 §4.1.2); the refusal to answer with.
async fn refuse_replay(
    core: &Core,
    code_hash: &str,
    jtis: Vec<(String, UnixTime)>,
    now: UnixTime,
) -> TokenError {
    // One at a time, each noted by this node as soon as the store has it (replays are
    // rare; a failure part-way leaves what was revoked revoked here too).
    for (jti, exp) in &jtis {
        if let Err(f) = core.revoke_jti(jti, *exp).await {
            return f.into();
        }
    }
    if let Some(family) = refresh_tokens::family_of_code(code_hash)
        && let Err(e) = core
            .stores
            .families
            .revoke(&family, RevokeReason::Reuse, now)
            .await
    {
        return Failure::from(e).into();
    }
    TokenError::invalid_grant("the code was already used")
}

#[cfg(test)]
mod tests {
    use usher_domain::authorize::Rejection;
    use usher_domain::{Session, SessionStore};

    use super::*;
    use crate::access_token::{AccessTokenError, Purpose, verify_access_token};
    use crate::grants::fixtures::*;
    use crate::grants::refresh_token;
    use crate::testing::TestNode;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert!(pkce_matches(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            &v
        ));
        let other = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx").unwrap();
        assert!(!pkce_matches(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            &other
        ));
        // A challenge of another length (padded, truncated, empty) never matches.
        for wrong in [
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=",
            "E9Melhoa",
            "",
        ] {
            assert!(!pkce_matches(wrong, &v), "{wrong}");
        }
    }

    /// A node with the web app `app`, alice signed in, and a code for `what`.
    fn arranged(what: CodeFor<'_>) -> (TestNode, Client, Session, String) {
        let node = TestNode::new();
        let app = web_app(&node, "app");
        let alice = node.person("alice");
        let session = sign_in(&node, &alice);
        let code = code(&node, &app, &session, what);
        (node, app, session, code)
    }

    fn invalid_grant(description: &str) -> Rejection {
        Rejection {
            error: ProtocolError::InvalidGrant,
            description: description.to_owned(),
        }
    }

    #[tokio::test]
    async fn a_correct_exchange_issues_the_code_s_scope_for_the_authorization_code_grant() {
        let (node, app, _, code) = arranged(CodeFor::default());
        let issued = exchange(&node.core, app, &request(&exchange_form(&code)))
            .await
            .unwrap();
        assert_eq!(issued.grant_type, GrantType::AuthorizationCode);
        assert_eq!(issued.scope.to_string(), "openid profile");
        assert_eq!(issued.expires_in, node.core.settings.access_token_ttl);
        let access = claims(&issued.access_token);
        assert_eq!(access["sub"], "u-alice");
        assert_eq!(access["client_id"], "app");
    }

    #[tokio::test]
    async fn a_person_removed_from_the_allowed_groups_before_the_exchange_gets_no_tokens() {
        use usher_domain::{Group, GroupName, GroupStore, RegistrationInput};
        let node = TestNode::new();
        let staff = GroupName::parse("staff").unwrap();
        node.db
            .insert_group(&Group {
                name: staff.clone(),
                description: None,
                created_at: node.now(),
            })
            .unwrap();
        let portal = node.client(
            "portal",
            RegistrationInput {
                redirect_uris: vec![REDIRECT.to_owned()],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                scope: Some("openid groups".into()),
                allowed_groups: vec!["staff".into()],
                ..RegistrationInput::default()
            },
        );
        let alice = node.person("alice");
        node.db
            .add_member(&staff, &alice.username, node.now())
            .unwrap();
        let session = sign_in(&node, &alice);
        let issued = code(
            &node,
            &portal,
            &session,
            CodeFor {
                scope: "openid groups",
                ..CodeFor::default()
            },
        );
        node.db.remove_member(&staff, &alice.username).unwrap();
        let r = refusal(exchange(&node.core, portal, &request(&exchange_form(&issued))).await);
        assert_eq!(r, invalid_grant(person_tokens::NOT_A_MEMBER));
    }

    #[tokio::test]
    async fn a_client_not_registered_for_the_grant_is_unauthorized_client() {
        let node = TestNode::new();
        let service = client(&node, "svc", false, &["client_credentials"], "api:read");
        let r = refusal(exchange(&node.core, service, &request(&exchange_form("x"))).await);
        assert_eq!(r.error, ProtocolError::UnauthorizedClient);
        assert_eq!(
            r.description,
            "this client is not registered for the authorization_code grant"
        );
    }

    #[tokio::test]
    async fn resource_on_a_code_without_resources_is_refused_and_leaves_the_code_unspent() {
        let (node, app, _, code) = arranged(CodeFor::default());
        let mut f = exchange_form(&code);
        f.push(("resource".into(), "https://api.example".into()));
        let r = refusal(exchange(&node.core, app.clone(), &request(&f)).await);
        assert_eq!(r.error, ProtocolError::InvalidTarget);
        assert_eq!(
            r.description,
            "this grant was made without resource; resource may narrow the resources of a grant, never add one"
        );
        assert!(
            exchange(&node.core, app, &request(&exchange_form(&code)))
                .await
                .is_ok()
        );
    }

    const INVOICES: &str = "https://invoices.example/api";
    const REPORTS: &str = "https://reports.example";

    /// A code granted for both resources, with their scopes.
    fn arranged_with_resources() -> (TestNode, Client, Session, String) {
        let node = TestNode::new();
        node.resource(INVOICES, Some("Invoices"), "api:read");
        node.resource(REPORTS, None, "api:write");
        let app = web_app(&node, "app");
        let session = sign_in(&node, &node.person("alice"));
        let code = code(
            &node,
            &app,
            &session,
            CodeFor {
                scope: "openid offline_access api:read api:write",
                resources: &[INVOICES, REPORTS],
                ..CodeFor::default()
            },
        );
        (node, app, session, code)
    }

    #[tokio::test]
    async fn the_access_token_is_for_the_codes_resources_or_fewer() {
        let (node, app, _, code) = arranged_with_resources();
        let issued = exchange(&node.core, app, &request(&exchange_form(&code)))
            .await
            .unwrap();
        let access = claims(&issued.access_token);
        assert_eq!(access["aud"], serde_json::json!([INVOICES, REPORTS]));
        assert_eq!(access["scope"], "api:read api:write offline_access openid");

        // Narrowed to one: that one, with the scopes it defines.
        let (node, app, _, code) = arranged_with_resources();
        let mut f = exchange_form(&code);
        f.push(("resource".into(), REPORTS.into()));
        let issued = exchange(&node.core, app.clone(), &request(&f))
            .await
            .unwrap();
        let access = claims(&issued.access_token);
        assert_eq!(access["aud"], REPORTS);
        assert_eq!(access["scope"], "api:write offline_access openid");
        assert_eq!(issued.scope.to_string(), "api:write offline_access openid");
        // The family keeps the whole grant: a refresh without resource gets both.
        let refreshed = crate::grants::refresh_token::refresh(
            &node.core,
            app,
            &request(&form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", issued.refresh_token.as_deref().unwrap()),
            ])),
        )
        .await
        .unwrap();
        assert_eq!(
            claims(&refreshed.access_token)["aud"],
            serde_json::json!([INVOICES, REPORTS])
        );
    }

    #[tokio::test]
    async fn widening_the_resources_at_the_exchange_is_refused_and_spends_nothing() {
        let (node, app, _, code) = arranged_with_resources();
        node.resource("https://other.example", None, "api:read");
        for widening in [
            vec!["https://other.example"],
            vec![INVOICES, "https://other.example"],
            vec!["not-absolute"],
        ] {
            let mut f = exchange_form(&code);
            f.extend(
                widening
                    .iter()
                    .map(|r| ("resource".to_owned(), (*r).to_owned())),
            );
            let r = refusal(exchange(&node.core, app.clone(), &request(&f)).await);
            assert_eq!(r.error, ProtocolError::InvalidTarget, "{widening:?}");
        }
        assert!(
            exchange(&node.core, app, &request(&exchange_form(&code)))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_missing_code_is_invalid_request_and_an_unknown_one_invalid_grant() {
        let (node, app, _, _) = arranged(CodeFor::default());
        let r = refusal(
            exchange(
                &node.core,
                app.clone(),
                &request(&form(&[("grant_type", "authorization_code"), ("code", "")])),
            )
            .await,
        );
        assert_eq!(r.error, ProtocolError::InvalidRequest);
        assert_eq!(r.description, "code is missing");
        let r = refusal(exchange(&node.core, app, &request(&exchange_form("not-a-code"))).await);
        assert_eq!(r, invalid_grant("the code is invalid"));
    }

    #[tokio::test]
    async fn another_client_s_code_is_refused_and_stays_redeemable_by_its_own_client() {
        let (node, app, _, code) = arranged(CodeFor::default());
        let other = web_app(&node, "other");
        let r = refusal(exchange(&node.core, other, &request(&exchange_form(&code))).await);
        assert_eq!(r, invalid_grant("the code was issued to another client"));
        assert!(
            exchange(&node.core, app, &request(&exchange_form(&code)))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn redirect_uri_must_be_the_authorization_request_s_when_it_sent_one() {
        let wrong = invalid_grant("redirect_uri must be the one sent in the authorization request");
        let (node, app, _, code) = arranged(CodeFor::default());
        let mut omitted = exchange_form(&code);
        omitted.retain(|(k, _)| k != "redirect_uri");
        assert_eq!(
            refusal(exchange(&node.core, app.clone(), &request(&omitted)).await),
            wrong
        );
        let mut other = exchange_form(&code);
        other.retain(|(k, _)| k != "redirect_uri");
        other.push(("redirect_uri".into(), "https://app.example/other".into()));
        assert_eq!(
            refusal(exchange(&node.core, app.clone(), &request(&other)).await),
            wrong
        );
        // Neither refusal spent the code.
        assert!(
            exchange(&node.core, app, &request(&exchange_form(&code)))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn redirect_uri_may_be_left_out_when_the_authorization_request_left_it_out() {
        let (node, app, session, code) = arranged(CodeFor {
            redirect_uri_sent: false,
            ..CodeFor::default()
        });
        let mut omitted = exchange_form(&code);
        omitted.retain(|(k, _)| k != "redirect_uri");
        assert!(
            exchange(&node.core, app.clone(), &request(&omitted))
                .await
                .is_ok()
        );
        // Sent anyway, it must still be the code's.
        let second = super::super::fixtures::code(
            &node,
            &app,
            &session,
            CodeFor {
                redirect_uri_sent: false,
                ..CodeFor::default()
            },
        );
        let mut other = exchange_form(&second);
        other.retain(|(k, _)| k != "redirect_uri");
        other.push(("redirect_uri".into(), "https://app.example/other".into()));
        assert_eq!(
            refusal(exchange(&node.core, app.clone(), &request(&other)).await),
            invalid_grant("redirect_uri must be the one sent in the authorization request")
        );
        assert!(
            exchange(&node.core, app, &request(&exchange_form(&second)))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn pkce_refuses_a_missing_malformed_or_wrong_verifier_without_spending_the_code() {
        let (node, app, _, code) = arranged(CodeFor::default());
        let with_verifier = |v: Option<&str>| {
            let mut f = exchange_form(&code);
            f.retain(|(k, _)| k != "code_verifier");
            if let Some(v) = v {
                f.push(("code_verifier".into(), v.into()));
            }
            f
        };
        for (verifier, description) in [
            (None, "code_verifier is missing (PKCE)"),
            (
                Some("short"),
                "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]",
            ),
            (
                Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx"),
                "code_verifier does not match the code_challenge",
            ),
        ] {
            let r = refusal(
                exchange(&node.core, app.clone(), &request(&with_verifier(verifier))).await,
            );
            assert_eq!(r, invalid_grant(description), "{verifier:?}");
        }
        assert!(
            exchange(&node.core, app, &request(&exchange_form(&code)))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_verifier_for_a_code_issued_without_a_challenge_is_refused() {
        let (node, app, _, code) = arranged(CodeFor {
            challenge: None,
            ..CodeFor::default()
        });
        let r = refusal(exchange(&node.core, app.clone(), &request(&exchange_form(&code))).await);
        assert_eq!(
            r,
            invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge"
            )
        );
        let mut plain = exchange_form(&code);
        plain.retain(|(k, _)| k != "code_verifier");
        assert!(exchange(&node.core, app, &request(&plain)).await.is_ok());
    }

    #[tokio::test]
    async fn an_expired_code_is_refused() {
        let (node, app, _, code) = arranged(CodeFor::default());
        node.advance(60);
        let r = refusal(exchange(&node.core, app, &request(&exchange_form(&code))).await);
        assert_eq!(r, invalid_grant("the code has expired"));
    }

    #[tokio::test]
    async fn a_replayed_code_is_refused_and_revokes_the_first_access_token_and_family() {
        let (node, app, _, code) = arranged(CodeFor {
            scope: "openid offline_access",
            ..CodeFor::default()
        });
        let first = exchange(&node.core, app.clone(), &request(&exchange_form(&code)))
            .await
            .unwrap();
        let caller = Purpose::Introspection { caller: &app };
        assert!(
            verify_access_token(&node.core, &first.access_token, caller)
                .await
                .is_ok()
        );
        let r = refusal(exchange(&node.core, app.clone(), &request(&exchange_form(&code))).await);
        assert_eq!(r, invalid_grant("the code was already used"));
        assert_eq!(
            verify_access_token(&node.core, &first.access_token, caller).await,
            Err(AccessTokenError::Revoked)
        );
        let refresh = form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", first.refresh_token.as_deref().unwrap()),
        ]);
        let r = refusal(refresh_token::refresh(&node.core, app, &request(&refresh)).await);
        assert_eq!(r, invalid_grant("the refresh token has been revoked"));
    }

    #[tokio::test]
    async fn a_code_of_a_person_deleted_since_is_refused() {
        let (mut node, app, _, code) = arranged(CodeFor::default());
        forget_people(&mut node);
        let r = refusal(exchange(&node.core, app, &request(&exchange_form(&code))).await);
        assert_eq!(r, invalid_grant("the person no longer exists"));
    }

    #[tokio::test]
    async fn a_code_of_a_person_disabled_since_is_refused_without_being_spent() {
        use usher_domain::UserStore as _;
        let (node, app, session, code) = arranged(CodeFor::default());
        assert!(
            node.db
                .set_disabled(&session.user_id, Some(node.now()))
                .unwrap()
        );
        node.core.forget_user(&session.user_id);
        let r = refusal(exchange(&node.core, app.clone(), &request(&exchange_form(&code))).await);
        assert_eq!(r, invalid_grant("the person's account is disabled"));
        // Nothing was spent: enabled again (within the code's minute), it is redeemed.
        assert!(node.db.set_disabled(&session.user_id, None).unwrap());
        node.core.forget_user(&session.user_id);
        assert!(
            exchange(&node.core, app, &request(&exchange_form(&code)))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_code_whose_sign_in_has_ended_is_refused() {
        let (node, app, session, code) = arranged(CodeFor::default());
        node.db
            .delete_lineage_sessions(&session.lineage_hash)
            .unwrap();
        let r = refusal(exchange(&node.core, app, &request(&exchange_form(&code))).await);
        assert_eq!(
            r,
            invalid_grant("the sign-in this code was issued in has ended")
        );
    }

    #[tokio::test]
    async fn a_refresh_token_comes_with_offline_access_or_without_openid_and_the_grant() {
        let node = TestNode::new();
        let app = web_app(&node, "app");
        let code_only = client(
            &node,
            "code-only",
            false,
            &["authorization_code"],
            "openid offline_access api:read",
        );
        let session = sign_in(&node, &node.person("alice"));
        for (client, scope, gets_one) in [
            (&app, "openid profile", false),
            (&app, "openid offline_access", true),
            (&app, "api:read", true),
            (&code_only, "api:read", false),
        ] {
            let code = code(
                &node,
                client,
                &session,
                CodeFor {
                    scope,
                    ..CodeFor::default()
                },
            );
            let issued = exchange(&node.core, client.clone(), &request(&exchange_form(&code)))
                .await
                .unwrap();
            assert_eq!(
                issued.refresh_token.is_some(),
                gets_one,
                "{} {scope}",
                client.id
            );
        }
    }

    #[tokio::test]
    async fn a_code_issued_before_the_person_removed_the_app_s_access_is_refused() {
        let (node, app, session, code) = arranged(CodeFor {
            scope: "openid offline_access",
            ..CodeFor::default()
        });
        // "Remove access" on the account page deletes the consent first.
        usher_domain::ConsentStore::delete_consent(&node.db, &session.user_id, &app.id).unwrap();
        let r = refusal(exchange(&node.core, app.clone(), &request(&exchange_form(&code))).await);
        assert_eq!(
            r,
            invalid_grant("the person removed this app's access since the code was issued")
        );
        // A code issued after a new consent works.
        let again = super::super::fixtures::code(
            &node,
            &app,
            &session,
            CodeFor {
                scope: "openid offline_access",
                ..CodeFor::default()
            },
        );
        let issued = exchange(&node.core, app, &request(&exchange_form(&again)))
            .await
            .unwrap();
        assert!(issued.refresh_token.is_some());
    }

    #[tokio::test]
    async fn openid_brings_an_id_token_with_the_nonce_and_plain_oauth_none() {
        let (node, app, session, code) = arranged(CodeFor {
            nonce: Some("n-0S6_WzA2Mj"),
            ..CodeFor::default()
        });
        let issued = exchange(&node.core, app.clone(), &request(&exchange_form(&code)))
            .await
            .unwrap();
        let id = claims(issued.id_token.as_deref().unwrap());
        assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(id["aud"], serde_json::json!(["app"]));
        assert_eq!(id["sub"], "u-alice");
        let plain = super::super::fixtures::code(
            &node,
            &app,
            &session,
            CodeFor {
                scope: "api:read",
                ..CodeFor::default()
            },
        );
        let issued = exchange(&node.core, app, &request(&exchange_form(&plain)))
            .await
            .unwrap();
        assert_eq!(issued.id_token, None);
    }
}
