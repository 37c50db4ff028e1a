//! `grant_type=refresh_token` (RFC 6749 §6, OIDC Core §12): rotates a refresh token
//! through the family store. The tokens themselves are [`crate::refresh_tokens`].
//!
//! Each refresh grants the family's scopes as far as the client's registration still
//! allows them (a scope removed from the client is left out; a lost `offline_access`
//! refuses the refresh). `resource` (RFC 8707) may narrow the family's resources for
//! this one access token, never widen them (`crate::resources`); the family keeps its
//! whole grant. Every use rotates the token, atomically in the family store
//! (docs/design/refresh-families.md).

use usher_domain::scope::OFFLINE_ACCESS;
use usher_domain::{Client, GrantType, ProtocolError, RevokeReason, RotateOutcome, Rotation};

use crate::Core;
use crate::failure::Failure;
use crate::grants::person_tokens::{self, Grant, signing_failed};
use crate::grants::{TokenError, TokenRequest, TokenResponse, require_grant};
use crate::groups::Admission;
use crate::refresh_tokens::{mint, open, recognise, seal};

/// Rotates the presented refresh token; `client` is already authenticated.
pub async fn refresh(
    core: &Core,
    client: Client,
    request: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    require_grant(&client, GrantType::RefreshToken)?;
    let Some(raw) = request.refresh_token.as_deref() else {
        return Err(TokenError::refused(
            ProtocolError::InvalidRequest,
            "refresh_token is missing",
        ));
    };
    let requested = match &request.scope {
        None => None,
        Some(Ok(s)) => Some(s.clone()),
        Some(Err(e)) => {
            return Err(TokenError::refused(
                ProtocolError::InvalidScope,
                e.to_string(),
            ));
        }
    };
    let Some(presented) = recognise(&core.secrets, raw) else {
        return Err(TokenError::invalid_grant("the refresh token is invalid"));
    };
    let families = &core.stores.families;
    // Client and scope never change: check them before the token is spent, so that a
    // wrong request leaves the client its token.
    let Some(family) = families
        .get(&presented.family)
        .await
        .map_err(Failure::from)?
    else {
        return Err(TokenError::invalid_grant(
            "the refresh token is invalid or has expired",
        ));
    };
    if family.client_id != client.id {
        tracing::warn!(event = "refresh_token_wrong_client", family_id = %family.id, client_id = %client.id, "a refresh token was presented by a client it was not issued to");
        return Err(TokenError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let now = core.now();
    // An online family ends with the browser sign-in it came from (crate::lineage).
    if !crate::lineage::family_signed_in(core, &family, now).await? {
        tracing::info!(family_id = %family.id, client_id = %client.id, "a refresh was refused: the sign-in of this online family has ended");
        return Err(TokenError::invalid_grant(
            "the sign-in this refresh token was issued in has ended",
        ));
    }
    // The client's registration as it is now bounds what a refresh grants: a scope
    // removed from the client stops being granted at the next refresh. A family that
    // exists only because of `offline_access` ends when the client may no longer have
    // it (Keycloak refuses such offline tokens too); the token is not spent, so putting
    // the scope back makes the family usable again.
    let allowed = &client.registration.scopes;
    if family.scopes.contains(OFFLINE_ACCESS) && !allowed.contains(OFFLINE_ACCESS) {
        tracing::info!(family_id = %family.id, client_id = %client.id, "a refresh was refused: the client may no longer have offline_access");
        return Err(TokenError::invalid_grant(
            "offline_access is no longer allowed for this client",
        ));
    }
    let scope = match requested {
        Some(s) if !s.is_subset(&family.scopes) => {
            return Err(TokenError::refused(
                ProtocolError::InvalidScope,
                "scope may narrow the original grant, never widen it",
            ));
        }
        Some(s) if !s.is_empty() => s,
        _ => family.scopes.clone(),
    };
    let scope = if scope.is_subset(allowed) {
        scope
    } else {
        tracing::info!(family_id = %family.id, client_id = %client.id, "scopes no longer registered for the client are left out of this refresh");
        scope.intersection(allowed)
    };
    // RFC 8707: this access token's resources (the family's, or fewer) and the scopes
    // they define, decided before the token is spent.
    let target = crate::resources::token_target(
        core,
        &family.resources,
        family.created_at,
        &request.resources,
        &scope,
    )
    .await
    .map_err(TokenError::from)?;
    // A client restricted to groups: a person no longer in any of them loses the whole
    // grant (the family is revoked, as an administrator's revocation would), before
    // the token is spent. Their groups are read afresh at every refresh: the `groups`
    // claim follows the memberships of now.
    let groups = match crate::groups::admit(core, &client, &family.user_id, &target.scope).await? {
        Admission::Admitted { claim } => claim,
        Admission::NotAMember => {
            families
                .revoke(&family.id, RevokeReason::Admin, now)
                .await
                .map_err(Failure::from)?;
            tracing::info!(family_id = %family.id, client_id = %client.id, "a refresh was refused and its family revoked: the person is in none of the client's allowed groups");
            return Err(TokenError::invalid_grant(person_tokens::NOT_A_MEMBER));
        }
    };

    // The person must still be there and not disabled: checked before the token is
    // spent, so a refusal changes nothing (a disabled person's families were revoked
    // when they were disabled; this holds even if that revocation failed).
    let user = match core.active_user(&family.user_id).await? {
        Ok(user) => user,
        Err(why) => {
            tracing::info!(family_id = %family.id, client_id = %client.id, reason = ?why, "a refresh was refused: the person may not sign in");
            return Err(TokenError::invalid_grant(why.to_string()));
        }
    };

    let lifetimes = core.settings.refresh;
    let (next_token, _, next_hash) = mint(&core.secrets, &family.id)?;
    let sealed_next = if lifetimes.grace > 0 {
        Some(seal(&presented.secret, &family.id, &next_token)?)
    } else {
        None
    };
    let rotation = Rotation {
        family: family.id.clone(),
        presented_hash: presented.hash.clone(),
        next_hash,
        sealed_next,
        now,
        idle_ttl: lifetimes.idle_ttl,
        grace: lifetimes.grace,
    };
    let outcome = families.rotate(&rotation).await.map_err(Failure::from)?;
    let (family, refresh_token) = match outcome {
        RotateOutcome::Rotated(f) => (f, next_token),
        RotateOutcome::Grace {
            family,
            sealed_child,
        } => match open(&presented.secret, &family.id, &sealed_child) {
            Some(child) => {
                tracing::info!(family_id = %family.id, client_id = %family.client_id, "a refresh token was presented again within the grace window; the same child is returned");
                (family, child)
            }
            None => {
                return Err(
                    signing_failed("cannot open a grace child", "the seal does not open").into(),
                );
            }
        },
        RotateOutcome::Reused(f) => {
            tracing::warn!(
                event = "refresh_token_reuse",
                family_id = %f.id,
                client_id = %f.client_id,
                subject = %f.user_id,
                "an earlier refresh token of a family was presented again: the family is revoked"
            );
            // Tell the client (Back-Channel Logout): its session may be in a thief's
            // hands. A failure to queue is logged; the refusal stands either way.
            crate::backchannel::queue_reuse(core, &f).await;
            // And the person, by mail (once per family: a revoked family answers
            // `Revoked` from then on).
            crate::mail::alert(
                core,
                &f.user_id,
                usher_domain::SecurityAlert::RefreshTokenReused,
            )
            .await;
            return Err(TokenError::invalid_grant(
                "the refresh token was already used; the grant is revoked",
            ));
        }
        RotateOutcome::Revoked(_) => {
            return Err(TokenError::invalid_grant(
                "the refresh token has been revoked",
            ));
        }
        RotateOutcome::Expired(_) => {
            return Err(TokenError::invalid_grant("the refresh token has expired"));
        }
        RotateOutcome::Unknown => {
            return Err(TokenError::invalid_grant(
                "the refresh token is invalid or has expired",
            ));
        }
    };

    // A new access token, the refresh token, and (for `openid`) a new ID token with the
    // family's `sub` and `auth_time`.
    let sid = family.lineage_hash.as_deref().map(crate::tokens::sid_of);
    let grant = Grant {
        client: &client,
        user: &user,
        scope: &target.scope,
        resources: &target.resources,
        auth_time: family.auth_time,
        amr: &family.amr,
        nonce: None,
        sid: sid.as_deref(),
        groups: groups.as_deref(),
        now,
    };
    let minted = person_tokens::access_token(core, &grant)?;
    tracing::info!(client_id = %client.id, family_id = %family.id, "refresh token rotated");
    Ok(person_tokens::respond(
        core,
        &grant,
        minted,
        Some(refresh_token),
        GrantType::RefreshToken,
    )?)
}

#[cfg(test)]
mod tests {
    use usher_domain::authorize::{RawParams, Rejection};
    use usher_domain::{
        FamilyId, RevokeReason, ScopeSet, Session, SessionStore, UserStore, Username,
    };

    use super::*;
    use crate::grants::authorization_code::exchange;
    use crate::grants::fixtures::*;
    use crate::testing::TestNode;

    /// A node with the web app `app`, alice signed in, and the first refresh token of a
    /// family with `scope` (offline when it has `offline_access`).
    async fn family(node: &TestNode, scope: &str) -> (Client, Session, String) {
        let app = web_app(node, "app");
        let session = sign_in(node, &node.person("alice"));
        let code = code(
            node,
            &app,
            &session,
            CodeFor {
                scope,
                ..CodeFor::default()
            },
        );
        let issued = exchange(&node.core, app.clone(), &request(&exchange_form(&code)))
            .await
            .unwrap();
        (app, session, issued.refresh_token.unwrap())
    }

    const OFFLINE: &str = "openid profile offline_access";

    fn refresh_form(token: &str, extra: &[(&str, &str)]) -> RawParams {
        let mut f = form(&[("grant_type", "refresh_token"), ("refresh_token", token)]);
        f.extend(form(extra));
        f
    }

    fn invalid_grant(description: &str) -> Rejection {
        Rejection {
            error: ProtocolError::InvalidGrant,
            description: description.to_owned(),
        }
    }

    #[tokio::test]
    async fn a_disabled_person_cannot_refresh_and_the_token_is_not_spent() {
        let node = TestNode::new();
        let (app, session, first) = family(&node, OFFLINE).await;
        assert!(
            node.db
                .set_disabled(&session.user_id, Some(node.now()))
                .unwrap()
        );
        node.core.forget_user(&session.user_id);
        let r = refusal(
            refresh(
                &node.core,
                app.clone(),
                &request(&refresh_form(&first, &[])),
            )
            .await,
        );
        assert_eq!(r, invalid_grant("the person's account is disabled"));
        // The refusal changed nothing: enabled again, the same token rotates.
        assert!(node.db.set_disabled(&session.user_id, None).unwrap());
        node.core.forget_user(&session.user_id);
        assert!(
            refresh(&node.core, app, &request(&refresh_form(&first, &[])))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_refresh_rotates_the_token_and_keeps_the_family_s_scope_and_id_token() {
        let node = TestNode::new();
        let (app, _, first) = family(&node, OFFLINE).await;
        let issued = refresh(&node.core, app, &request(&refresh_form(&first, &[])))
            .await
            .unwrap();
        assert_eq!(issued.grant_type, GrantType::RefreshToken);
        assert_eq!(issued.scope.to_string(), "offline_access openid profile");
        let next = issued.refresh_token.unwrap();
        assert_ne!(next, first);
        assert_eq!(claims(&issued.id_token.unwrap())["sub"], "u-alice");
    }

    /// A restricted web app `hr` (group `staff`), alice in `staff` and `eng`, and the
    /// first refresh token of an offline family with the `groups` scope.
    async fn restricted_family(node: &TestNode) -> (Client, String, String) {
        use usher_domain::{Group, GroupName, GroupStore};
        let alice = node.person("alice");
        for name in ["staff", "eng"] {
            let group = Group {
                name: GroupName::parse(name).unwrap(),
                description: None,
                created_at: node.now(),
            };
            node.db.insert_group(&group).unwrap();
            node.db
                .add_member(&group.name, &alice.username, node.now())
                .unwrap();
        }
        let hr = node.client(
            "hr",
            usher_domain::RegistrationInput {
                redirect_uris: vec![REDIRECT.to_owned()],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                scope: Some("openid offline_access groups".into()),
                allowed_groups: vec!["staff".into()],
                ..Default::default()
            },
        );
        let session = sign_in(node, &alice);
        let code = code(
            node,
            &hr,
            &session,
            CodeFor {
                scope: "openid offline_access groups",
                ..CodeFor::default()
            },
        );
        let issued = exchange(&node.core, hr.clone(), &request(&exchange_form(&code)))
            .await
            .unwrap();
        assert_eq!(
            claims(&issued.access_token)["groups"],
            serde_json::json!(["eng", "staff"])
        );
        assert_eq!(
            claims(&issued.id_token.unwrap())["groups"],
            serde_json::json!(["eng", "staff"])
        );
        (
            hr,
            alice.username.as_str().to_owned(),
            issued.refresh_token.unwrap(),
        )
    }

    #[tokio::test]
    async fn each_refresh_reads_the_groups_afresh() {
        use usher_domain::{GroupName, GroupStore};
        let node = TestNode::new();
        let (hr, alice, token) = restricted_family(&node).await;
        node.db
            .remove_member(
                &GroupName::parse("eng").unwrap(),
                &Username::parse(&alice).unwrap(),
            )
            .unwrap();
        let issued = refresh(&node.core, hr, &request(&refresh_form(&token, &[])))
            .await
            .unwrap();
        assert_eq!(
            claims(&issued.access_token)["groups"],
            serde_json::json!(["staff"])
        );
        assert_eq!(
            claims(&issued.id_token.unwrap())["groups"],
            serde_json::json!(["staff"])
        );
    }

    #[tokio::test]
    async fn a_person_removed_from_the_allowed_groups_is_refused_and_the_family_revoked() {
        use usher_domain::{GroupName, GroupStore};
        let node = TestNode::new();
        let (hr, alice, token) = restricted_family(&node).await;
        let (staff, alice) = (
            GroupName::parse("staff").unwrap(),
            Username::parse(&alice).unwrap(),
        );
        node.db.remove_member(&staff, &alice).unwrap();
        let r =
            refusal(refresh(&node.core, hr.clone(), &request(&refresh_form(&token, &[]))).await);
        assert_eq!(r, invalid_grant(person_tokens::NOT_A_MEMBER));
        // Put back, the person needs a new sign-in: the family is gone.
        node.db.add_member(&staff, &alice, node.now()).unwrap();
        let r = refusal(refresh(&node.core, hr, &request(&refresh_form(&token, &[]))).await);
        assert_eq!(r, invalid_grant("the refresh token has been revoked"));
    }

    #[tokio::test]
    async fn a_client_not_registered_for_the_grant_is_unauthorized_client() {
        let node = TestNode::new();
        let code_only = client(&node, "code-only", false, &["authorization_code"], "openid");
        let r = refusal(refresh(&node.core, code_only, &request(&refresh_form("x", &[]))).await);
        assert_eq!(r.error, ProtocolError::UnauthorizedClient);
        assert_eq!(
            r.description,
            "this client is not registered for the refresh_token grant"
        );
    }

    #[tokio::test]
    async fn resource_on_a_family_without_resources_is_refused_and_leaves_the_token_usable() {
        let node = TestNode::new();
        let (app, _, token) = family(&node, OFFLINE).await;
        let f = refresh_form(&token, &[("resource", "https://api.example")]);
        let r = refusal(refresh(&node.core, app.clone(), &request(&f)).await);
        assert_eq!(r.error, ProtocolError::InvalidTarget);
        assert!(
            refresh(&node.core, app, &request(&refresh_form(&token, &[])))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_refresh_may_narrow_the_familys_resources_for_one_token_never_widen_them() {
        const INVOICES: &str = "https://invoices.example/api";
        const REPORTS: &str = "https://reports.example";
        let node = TestNode::new();
        node.resource(INVOICES, None, "api:read");
        node.resource(REPORTS, None, "api:write");
        node.resource("https://other.example", None, "api:read");
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
        let issued = exchange(&node.core, app.clone(), &request(&exchange_form(&code)))
            .await
            .unwrap();
        let token = issued.refresh_token.unwrap();
        // Widening is refused, and the token stays unspent.
        for widening in [
            vec!["https://other.example"],
            vec![REPORTS, "https://other.example"],
        ] {
            let extra: Vec<(&str, &str)> = widening.iter().map(|r| ("resource", *r)).collect();
            let r = refusal(
                refresh(
                    &node.core,
                    app.clone(),
                    &request(&refresh_form(&token, &extra)),
                )
                .await,
            );
            assert_eq!(r.error, ProtocolError::InvalidTarget, "{widening:?}");
        }
        // Narrowed to one resource: that token only.
        let narrowed = refresh(
            &node.core,
            app.clone(),
            &request(&refresh_form(&token, &[("resource", INVOICES)])),
        )
        .await
        .unwrap();
        let access = claims(&narrowed.access_token);
        assert_eq!(access["aud"], INVOICES);
        assert_eq!(access["scope"], "api:read offline_access openid");
        // The family keeps both: the next refresh without resource gets both again.
        let next = refresh(
            &node.core,
            app.clone(),
            &request(&refresh_form(
                narrowed.refresh_token.as_deref().unwrap(),
                &[],
            )),
        )
        .await
        .unwrap();
        assert_eq!(
            claims(&next.access_token)["aud"],
            serde_json::json!([INVOICES, REPORTS])
        );
        // A narrower scope and a narrower resource together.
        let both = refresh(
            &node.core,
            app.clone(),
            &request(&refresh_form(
                next.refresh_token.as_deref().unwrap(),
                &[
                    ("resource", REPORTS),
                    ("scope", "openid api:read api:write"),
                ],
            )),
        )
        .await
        .unwrap();
        let access = claims(&both.access_token);
        assert_eq!(access["aud"], REPORTS);
        assert_eq!(access["scope"], "api:write openid");
        let token = both.refresh_token.unwrap();
        // A resource with none of the token's scopes: refused when named, left out of
        // `aud` when not (no token for an API without one of its scopes).
        let r = refusal(
            refresh(
                &node.core,
                app.clone(),
                &request(&refresh_form(
                    &token,
                    &[("resource", REPORTS), ("scope", "openid api:read")],
                )),
            )
            .await,
        );
        assert_eq!(r.error, ProtocolError::InvalidTarget);
        let only = refresh(
            &node.core,
            app,
            &request(&refresh_form(&token, &[("scope", "openid api:read")])),
        )
        .await
        .unwrap();
        assert_eq!(claims(&only.access_token)["aud"], INVOICES);
    }

    #[tokio::test]
    async fn a_missing_token_is_invalid_request_and_bad_scope_syntax_invalid_scope() {
        let node = TestNode::new();
        let (app, _, token) = family(&node, OFFLINE).await;
        let r = refusal(
            refresh(
                &node.core,
                app.clone(),
                &request(&form(&[("grant_type", "refresh_token")])),
            )
            .await,
        );
        assert_eq!(r.error, ProtocolError::InvalidRequest);
        assert_eq!(r.description, "refresh_token is missing");
        let r = refusal(
            refresh(
                &node.core,
                app.clone(),
                &request(&refresh_form(&token, &[("scope", "openid \"x\"")])),
            )
            .await,
        );
        assert_eq!(r.error, ProtocolError::InvalidScope);
        assert_eq!(
            r.description,
            ScopeSet::parse("openid \"x\"").unwrap_err().to_string()
        );
        assert!(
            refresh(&node.core, app, &request(&refresh_form(&token, &[])))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn an_unrecognised_or_forged_token_is_invalid_and_one_of_no_family_too() {
        let node = TestNode::new();
        let (app, _, token) = family(&node, OFFLINE).await;
        let mut forged = token.clone();
        let last = if forged.ends_with('A') { "B" } else { "A" };
        forged.pop();
        forged.push_str(last);
        for raw in ["garbage", forged.as_str()] {
            let r =
                refusal(refresh(&node.core, app.clone(), &request(&refresh_form(raw, &[]))).await);
            assert_eq!(r, invalid_grant("the refresh token is invalid"), "{raw}");
        }
        let nobody = FamilyId::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let (orphan, _, _) = crate::refresh_tokens::mint(&node.core.secrets, &nobody).unwrap();
        let r = refusal(refresh(&node.core, app, &request(&refresh_form(&orphan, &[]))).await);
        assert_eq!(
            r,
            invalid_grant("the refresh token is invalid or has expired")
        );
    }

    #[tokio::test]
    async fn another_client_s_token_is_refused_and_stays_usable_by_its_own_client() {
        let node = TestNode::new();
        let (app, _, token) = family(&node, OFFLINE).await;
        let other = web_app(&node, "other");
        let r = refusal(refresh(&node.core, other, &request(&refresh_form(&token, &[]))).await);
        assert_eq!(
            r,
            invalid_grant("the refresh token was issued to another client")
        );
        assert!(
            refresh(&node.core, app, &request(&refresh_form(&token, &[])))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn scope_may_narrow_the_grant_but_never_widen_it() {
        let node = TestNode::new();
        let (app, _, token) = family(&node, OFFLINE).await;
        let wider = refresh_form(&token, &[("scope", "openid profile email")]);
        let r = refusal(refresh(&node.core, app.clone(), &request(&wider)).await);
        assert_eq!(r.error, ProtocolError::InvalidScope);
        assert_eq!(
            r.description,
            "scope may narrow the original grant, never widen it"
        );
        let narrower = refresh_form(&token, &[("scope", "openid offline_access")]);
        let issued = refresh(&node.core, app, &request(&narrower)).await.unwrap();
        assert_eq!(issued.scope.to_string(), "offline_access openid");
    }

    #[tokio::test]
    async fn scopes_removed_from_the_client_are_left_out_of_the_refresh() {
        let node = TestNode::new();
        let (mut app, _, token) = family(&node, OFFLINE).await;
        app.registration.scopes = ScopeSet::parse("openid offline_access").unwrap();
        let issued = refresh(&node.core, app, &request(&refresh_form(&token, &[])))
            .await
            .unwrap();
        assert_eq!(issued.scope.to_string(), "offline_access openid");
    }

    #[tokio::test]
    async fn an_offline_family_is_refused_once_offline_access_is_removed_and_not_spent() {
        let node = TestNode::new();
        let (app, _, token) = family(&node, OFFLINE).await;
        let mut narrowed = app.clone();
        narrowed.registration.scopes = ScopeSet::parse("openid profile").unwrap();
        let r = refusal(refresh(&node.core, narrowed, &request(&refresh_form(&token, &[]))).await);
        assert_eq!(
            r,
            invalid_grant("offline_access is no longer allowed for this client")
        );
        assert!(
            refresh(&node.core, app, &request(&refresh_form(&token, &[])))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn reusing_a_rotated_token_revokes_the_family() {
        let node = TestNode::new();
        let (app, _, first) = family(&node, OFFLINE).await;
        let second = refresh(
            &node.core,
            app.clone(),
            &request(&refresh_form(&first, &[])),
        )
        .await
        .unwrap()
        .refresh_token
        .unwrap();
        let r = refusal(
            refresh(
                &node.core,
                app.clone(),
                &request(&refresh_form(&first, &[])),
            )
            .await,
        );
        assert_eq!(
            r,
            invalid_grant("the refresh token was already used; the grant is revoked")
        );
        let r = refusal(refresh(&node.core, app, &request(&refresh_form(&second, &[]))).await);
        assert_eq!(r, invalid_grant("the refresh token has been revoked"));
    }

    #[tokio::test]
    async fn a_reused_refresh_token_leaves_a_reuse_event_naming_the_family() {
        use usher_domain::{AuditActor, AuditKind};
        let node = TestNode::new();
        let (app, session, first) = family(&node, OFFLINE).await;
        refresh(
            &node.core,
            app.clone(),
            &request(&refresh_form(&first, &[])),
        )
        .await
        .unwrap();
        assert!(
            !node
                .audit_kinds()
                .contains(&AuditKind::RefreshReuseDetected),
            "a rotation is no reuse"
        );
        refusal(
            refresh(
                &node.core,
                app.clone(),
                &request(&refresh_form(&first, &[])),
            )
            .await,
        );
        let reuse: Vec<_> = node
            .audit_events()
            .into_iter()
            .map(|e| e.event)
            .filter(|e| e.kind == AuditKind::RefreshReuseDetected)
            .collect();
        assert_eq!(reuse.len(), 1);
        let e = &reuse[0];
        assert_eq!(e.actor, AuditActor::System);
        assert_eq!(e.person.as_ref(), Some(&session.user_id));
        assert_eq!(e.client.as_ref(), Some(&app.id));
        let family_id = first.split('.').next().unwrap();
        assert_eq!(e.target.as_deref(), Some(family_id));
        // The secret part of the token is nowhere in the trail.
        let secret = first.split('.').nth(1).unwrap();
        assert!(!format!("{:?}", node.audit_events()).contains(secret));
        // Presenting it again finds the family revoked: no second reuse event.
        refusal(refresh(&node.core, app, &request(&refresh_form(&first, &[]))).await);
        let count = node
            .audit_kinds()
            .into_iter()
            .filter(|k| *k == AuditKind::RefreshReuseDetected)
            .count();
        assert_eq!(count, 1);
    }

    #[tokio::test]
    async fn a_revoked_or_expired_family_is_refused() {
        let node = TestNode::new();
        let (app, _, token) = family(&node, OFFLINE).await;
        let id = crate::refresh_tokens::recognise(&node.core.secrets, &token)
            .unwrap()
            .family;
        node.core
            .stores
            .families
            .revoke(&id, RevokeReason::Revoked, node.now())
            .await
            .unwrap();
        let r = refusal(refresh(&node.core, app, &request(&refresh_form(&token, &[]))).await);
        assert_eq!(r, invalid_grant("the refresh token has been revoked"));

        let node = TestNode::new();
        let (app, _, token) = family(&node, OFFLINE).await;
        node.advance(node.core.settings.refresh.idle_ttl + 1);
        let r = refusal(refresh(&node.core, app, &request(&refresh_form(&token, &[]))).await);
        assert_eq!(r, invalid_grant("the refresh token has expired"));
    }

    #[tokio::test]
    async fn within_the_grace_window_the_same_child_is_returned() {
        let node = TestNode::with_settings(|s| s.refresh.grace = 30);
        let (app, _, first) = family(&node, OFFLINE).await;
        let child = refresh(
            &node.core,
            app.clone(),
            &request(&refresh_form(&first, &[])),
        )
        .await
        .unwrap()
        .refresh_token;
        node.advance(10);
        let again = refresh(&node.core, app, &request(&refresh_form(&first, &[])))
            .await
            .unwrap()
            .refresh_token;
        assert_eq!(again, child);
    }

    #[tokio::test]
    async fn an_online_family_is_refused_once_its_sign_in_has_ended() {
        let node = TestNode::new();
        let (app, session, token) = family(&node, "api:read").await;
        node.db
            .delete_lineage_sessions(&session.lineage_hash)
            .unwrap();
        let r = refusal(refresh(&node.core, app, &request(&refresh_form(&token, &[]))).await);
        assert_eq!(
            r,
            invalid_grant("the sign-in this refresh token was issued in has ended")
        );
    }

    #[tokio::test]
    async fn an_offline_family_outlives_its_sign_in() {
        let node = TestNode::new();
        let (app, session, token) = family(&node, OFFLINE).await;
        node.db
            .delete_lineage_sessions(&session.lineage_hash)
            .unwrap();
        assert!(
            refresh(&node.core, app, &request(&refresh_form(&token, &[])))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_family_of_a_person_deleted_since_is_refused() {
        let node = TestNode::new();
        let (app, _, token) = family(&node, OFFLINE).await;
        node.db
            .delete_user(&usher_domain::Username::parse("alice").unwrap())
            .unwrap();
        let r = refusal(refresh(&node.core, app, &request(&refresh_form(&token, &[]))).await);
        assert_eq!(r, invalid_grant("the person no longer exists"));
    }
}
