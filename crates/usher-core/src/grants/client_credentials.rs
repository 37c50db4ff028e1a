//! `grant_type=client_credentials` (RFC 6749 §4.4) with resource indicators (RFC 8707):
//! a confidential client registered for this grant gets an RFC 9068 access token about
//! itself (`sub` = `client_id`) for the audiences it asked for and is registered for, or
//! for registered resource servers (`usher resource create`) whose scopes it may ask.
//! No refresh token and no ID token: there is no person.
//!
//! Choosing the audience when no `resource` is sent is written down in
//! `docs/design/key-rotation.md` ("client_credentials and audiences").

use usher_domain::scope::{OFFLINE_ACCESS, OPENID};
use usher_domain::{Audience, Client, GrantType, ProtocolError, ResourceUri, ScopeSet};

use crate::Core;
use crate::grants::person_tokens::signing_failed;
use crate::grants::{TokenError, TokenRequest, TokenResponse, require_grant};
use crate::tokens::{self, AccessTokenInput};

/// The scopes to grant: those asked for, which must all be registered for the client, or
/// (none asked for) every registered scope that makes sense without a person.
fn granted_scopes(client: &Client, request: &TokenRequest) -> Result<ScopeSet, TokenError> {
    let refuse = |d: &str| Err(TokenError::refused(ProtocolError::InvalidScope, d));
    let registered = &client.registration.scopes;
    let Some(asked) = &request.scope else {
        return Ok(registered.without(&[OPENID, OFFLINE_ACCESS]));
    };
    let Ok(asked) = asked.clone() else {
        return refuse("scope is malformed: space-separated tokens without quotes or backslashes");
    };
    if asked.contains(OPENID) {
        return refuse(
            "openid is for signing people in; client_credentials issues no ID token: remove openid from scope",
        );
    }
    if asked.contains(OFFLINE_ACCESS) {
        return refuse(
            "offline_access asks for a refresh token, which client_credentials never issues: remove it from scope",
        );
    }
    if asked.iter().any(|s| !registered.contains(s.as_str())) {
        return refuse(&format!(
            "a requested scope is not registered for this client (its scopes: {registered})"
        ));
    }
    Ok(asked)
}

/// The audiences of the token (RFC 8707 §2), and, when every one of them is a
/// registered resource server (`usher resource create`) rather than one of the client's
/// own audiences, the scopes those resources define (the token's scopes are cut down to
/// them). Every `resource` sent must be registered for the client (`--audience`) or be
/// a registered resource of which the client may ask at least one scope; with none sent:
/// the client's only audience, or the configured default.
async fn audiences(
    core: &Core,
    client: &Client,
    request: &TokenRequest,
) -> Result<(Vec<String>, Option<ScopeSet>), TokenError> {
    let refuse = |d: &str| Err(TokenError::refused(ProtocolError::InvalidTarget, d));
    let registered = &client.registration.audiences;
    let registered_list = || {
        registered
            .iter()
            .map(Audience::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out: Vec<String> = Vec::new();
    // The scopes of the registered resources named, while every one named is one.
    let mut defined = Some(ScopeSet::default());
    for value in &request.resources {
        if Audience::parse(value).is_err() {
            return refuse(
                "resource must be an absolute URI without a fragment (RFC 8707 section 2)",
            );
        }
        if out.contains(value) {
            continue;
        }
        if registered.iter().any(|a| a.as_str() == value) {
            defined = None;
        } else {
            let resource = match ResourceUri::parse(value) {
                Ok(uri) => crate::resources::registered_for_service(core, client, &uri).await?,
                Err(_) => None,
            };
            let Some(resource) = resource else {
                return refuse(
                    "a resource is neither registered for this client nor a registered resource whose scopes it may ask for; register it with `usher client create ... --audience URI`, or give the client a scope of `usher resource create --uri URI`",
                );
            };
            defined = defined.map(|d| d.union(&resource.scopes));
        }
        out.push(value.clone());
    }
    // A token for the admin API is for it alone: one that another API also accepts
    // could be replayed to the admin API by that API (RFC 8725 §3.9).
    let admin = crate::admin::auth::admin_audience(&core.settings.issuer);
    if out.len() > 1 && out.contains(&admin) {
        return refuse(
            "the admin API's audience cannot be asked for together with another: ask for it alone",
        );
    }
    if !out.is_empty() {
        return Ok((out, defined));
    }
    let default = core.settings.default_audience.as_deref();
    let chosen = match (registered.as_slice(), default) {
        ([only], _) => only.as_str().to_owned(),
        ([], Some(d)) => d.to_owned(),
        (several, Some(d)) if several.iter().any(|a| a.as_str() == d) => d.to_owned(),
        ([], None) => {
            return refuse(
                "no resource was sent, the client has no registered audience and no default_audience is configured: send resource=URI for an audience registered with `usher client create ... --audience URI`, or set default_audience",
            );
        }
        (_, _) => {
            return refuse(&format!(
                "no resource was sent and this client is registered for several audiences: send resource=URI, one of {}",
                registered_list()
            ));
        }
    };
    Ok((vec![chosen], None))
}

/// Issues the token; `client` is already authenticated.
pub async fn issue(
    core: &Core,
    client: Client,
    request: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    if client.is_public() {
        return Err(TokenError::refused(
            ProtocolError::UnauthorizedClient,
            "a public client cannot use client_credentials: only a confidential client (one with a secret) can",
        ));
    }
    require_grant(&client, GrantType::ClientCredentials)?;
    let scope = granted_scopes(&client, request)?;
    let (audience, defined) = audiences(core, &client, request).await?;
    // For registered resources only: the scopes they define (RFC 8707, as the person
    // grants do); a client's own audiences define none, so they keep every scope.
    let scope = match defined {
        Some(defined) => scope.intersection(&defined),
        None => scope,
    };

    let settings = &core.settings;
    let now = core.now();
    let keys = core.published_keys();
    let minted = tokens::access_token(
        &keys.ring,
        &AccessTokenInput {
            alg: settings.access_token_alg,
            issuer: settings.issuer.as_str(),
            subject: client.id.as_str(),
            audience: &audience,
            client_id: client.id.as_str(),
            scope: &scope,
            auth_time: None,
            amr: None,
            groups: None,
            issued_at: now,
            expires_at: now.plus(settings.access_token_ttl),
        },
    )
    .map_err(|cause| signing_failed("cannot sign an access token", &cause))?;
    tracing::info!(
        client_id = %client.id,
        grant_type = "client_credentials",
        audiences = audience.len(),
        "access token issued"
    );
    Ok(TokenResponse {
        grant_type: GrantType::ClientCredentials,
        access_token: minted.token,
        expires_in: settings.access_token_ttl,
        scope,
        refresh_token: None,
        id_token: None,
    })
}

#[cfg(test)]
mod tests {
    use usher_domain::RegistrationInput;
    use usher_domain::authorize::RawParams;

    use super::*;
    use crate::grants::fixtures::*;
    use crate::testing::TestNode;

    /// A confidential service registered for client_credentials with `audiences`.
    fn service(node: &TestNode, audiences: &[&str]) -> Client {
        node.client(
            "svc",
            RegistrationInput {
                grant_types: vec!["client_credentials".to_owned()],
                scope: Some("api:read api:write".to_owned()),
                audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
                ..RegistrationInput::default()
            },
        )
    }

    fn cc(extra: &[(&str, &str)]) -> RawParams {
        let mut f = form(&[("grant_type", "client_credentials")]);
        f.extend(form(extra));
        f
    }

    const API: &str = "https://api.example";
    const OTHER: &str = "https://other.example";

    #[tokio::test]
    async fn a_service_gets_a_token_about_itself_without_refresh_or_id_token() {
        let node = TestNode::new();
        let svc = service(&node, &[API]);
        let issued = issue(&node.core, svc, &request(&cc(&[]))).await.unwrap();
        assert_eq!(issued.grant_type, GrantType::ClientCredentials);
        assert_eq!(issued.scope.to_string(), "api:read api:write");
        assert_eq!(issued.refresh_token, None);
        assert_eq!(issued.id_token, None);
        let access = claims(&issued.access_token);
        assert_eq!(access["sub"], "svc");
        assert_eq!(access["aud"], API);
    }

    #[tokio::test]
    async fn a_public_client_or_one_not_registered_for_the_grant_is_unauthorized_client() {
        let node = TestNode::new();
        let public = client(&node, "spa", true, &["authorization_code"], "openid");
        let r = refusal(issue(&node.core, public, &request(&cc(&[]))).await);
        assert_eq!(r.error, ProtocolError::UnauthorizedClient);
        assert_eq!(
            r.description,
            "a public client cannot use client_credentials: only a confidential client (one with a secret) can"
        );
        let app = web_app(&node, "app");
        let r = refusal(issue(&node.core, app, &request(&cc(&[]))).await);
        assert_eq!(r.error, ProtocolError::UnauthorizedClient);
        assert_eq!(
            r.description,
            "this client is not registered for the client_credentials grant"
        );
    }

    #[tokio::test]
    async fn openid_offline_access_malformed_and_unregistered_scopes_are_refused() {
        let node = TestNode::new();
        let svc = service(&node, &[API]);
        for (scope, description) in [
            (
                "api:read openid",
                "openid is for signing people in; client_credentials issues no ID token: remove openid from scope",
            ),
            (
                "offline_access",
                "offline_access asks for a refresh token, which client_credentials never issues: remove it from scope",
            ),
            (
                "api:\"read\"",
                "scope is malformed: space-separated tokens without quotes or backslashes",
            ),
            (
                "api:read api:admin",
                "a requested scope is not registered for this client (its scopes: api:read api:write)",
            ),
        ] {
            let r =
                refusal(issue(&node.core, svc.clone(), &request(&cc(&[("scope", scope)]))).await);
            assert_eq!(r.error, ProtocolError::InvalidScope, "{scope}");
            assert_eq!(r.description, description, "{scope}");
        }
        let issued = issue(&node.core, svc, &request(&cc(&[("scope", "api:read")])))
            .await
            .unwrap();
        assert_eq!(issued.scope.to_string(), "api:read");
    }

    #[tokio::test]
    async fn without_scope_the_registered_scopes_are_granted_less_openid_and_offline_access() {
        let node = TestNode::new();
        let svc = node.client(
            "svc",
            RegistrationInput {
                grant_types: vec!["client_credentials".to_owned()],
                scope: Some("api:read openid offline_access".to_owned()),
                audiences: vec![API.to_owned()],
                ..RegistrationInput::default()
            },
        );
        let issued = issue(&node.core, svc, &request(&cc(&[]))).await.unwrap();
        assert_eq!(issued.scope.to_string(), "api:read");
    }

    #[tokio::test]
    async fn the_admin_audience_is_never_asked_for_beside_another() {
        let node = TestNode::new();
        let admin = crate::admin::auth::admin_audience(&node.core.settings.issuer);
        let svc = service(&node, &[API, &admin]);
        let both = request(&cc(&[("resource", &admin), ("resource", API)]));
        let r = refusal(issue(&node.core, svc.clone(), &both).await);
        assert_eq!(r.error, ProtocolError::InvalidTarget);
        let alone = issue(&node.core, svc, &request(&cc(&[("resource", &admin)])))
            .await
            .unwrap();
        assert_eq!(claims(&alone.access_token)["aud"], admin.as_str());
    }

    #[tokio::test]
    async fn every_resource_sent_must_be_a_registered_absolute_uri() {
        let node = TestNode::new();
        let svc = service(&node, &[API, OTHER]);
        let target = |description: &str| usher_domain::authorize::Rejection {
            error: ProtocolError::InvalidTarget,
            description: description.to_owned(),
        };
        let r = refusal(
            issue(
                &node.core,
                svc.clone(),
                &request(&cc(&[("resource", "api")])),
            )
            .await,
        );
        assert_eq!(
            r,
            target("resource must be an absolute URI without a fragment (RFC 8707 section 2)")
        );
        let r = refusal(
            issue(
                &node.core,
                svc.clone(),
                &request(&cc(&[
                    ("resource", API),
                    ("resource", "https://unknown.example"),
                ])),
            )
            .await,
        );
        assert_eq!(
            r,
            target(
                "a resource is neither registered for this client nor a registered resource whose scopes it may ask for; register it with `usher client create ... --audience URI`, or give the client a scope of `usher resource create --uri URI`"
            )
        );
        let both = cc(&[("resource", API), ("resource", OTHER), ("resource", API)]);
        let issued = issue(&node.core, svc, &request(&both)).await.unwrap();
        assert_eq!(
            claims(&issued.access_token)["aud"],
            serde_json::json!([API, OTHER])
        );
    }

    #[tokio::test]
    async fn without_resource_the_only_audience_or_the_configured_default_is_chosen() {
        // The only registered audience, whatever the default.
        let node = TestNode::with_settings(|s| s.default_audience = Some(OTHER.to_owned()));
        let issued = issue(&node.core, service(&node, &[API]), &request(&cc(&[])))
            .await
            .unwrap();
        assert_eq!(claims(&issued.access_token)["aud"], API);
        // No registered audience: the default.
        let node = TestNode::with_settings(|s| s.default_audience = Some(OTHER.to_owned()));
        let issued = issue(&node.core, service(&node, &[]), &request(&cc(&[])))
            .await
            .unwrap();
        assert_eq!(claims(&issued.access_token)["aud"], OTHER);
        // Several registered, the default among them: the default.
        let node = TestNode::with_settings(|s| s.default_audience = Some(OTHER.to_owned()));
        let issued = issue(
            &node.core,
            service(&node, &[API, OTHER]),
            &request(&cc(&[])),
        )
        .await
        .unwrap();
        assert_eq!(claims(&issued.access_token)["aud"], OTHER);
    }

    #[tokio::test]
    async fn without_resource_and_no_audience_to_choose_the_request_is_invalid_target() {
        let node = TestNode::new();
        let r = refusal(issue(&node.core, service(&node, &[]), &request(&cc(&[]))).await);
        assert_eq!(r.error, ProtocolError::InvalidTarget);
        assert_eq!(
            r.description,
            "no resource was sent, the client has no registered audience and no default_audience is configured: send resource=URI for an audience registered with `usher client create ... --audience URI`, or set default_audience"
        );
        let node = TestNode::with_settings(|s| {
            s.default_audience = Some("https://elsewhere.example".to_owned())
        });
        let r = refusal(
            issue(
                &node.core,
                service(&node, &[API, OTHER]),
                &request(&cc(&[])),
            )
            .await,
        );
        assert_eq!(r.error, ProtocolError::InvalidTarget);
        assert_eq!(
            r.description,
            format!(
                "no resource was sent and this client is registered for several audiences: send resource=URI, one of {API}, {OTHER}"
            )
        );
    }

    #[tokio::test]
    async fn a_registered_resource_is_an_audience_for_a_client_allowed_its_scopes() {
        const INVOICES: &str = "https://invoices.example/api";
        let node = TestNode::new();
        node.resource(INVOICES, Some("Invoices"), "invoices:read invoices:write");
        node.resource("https://closed.example", None, "closed:read");
        // Allowed invoices:read, registered for no audience of its own.
        let svc = node.client(
            "svc-invoices",
            RegistrationInput {
                grant_types: vec!["client_credentials".to_owned()],
                scope: Some("invoices:read api:read".to_owned()),
                ..RegistrationInput::default()
            },
        );
        let issued = issue(
            &node.core,
            svc.clone(),
            &request(&cc(&[("resource", INVOICES)])),
        )
        .await
        .unwrap();
        let access = claims(&issued.access_token);
        assert_eq!(access["aud"], INVOICES);
        // The scopes the resource defines, of those the client may have.
        assert_eq!(access["scope"], "invoices:read");
        assert_eq!(issued.scope.to_string(), "invoices:read");
        // A resource none of whose scopes the client may have, or an unknown one.
        for closed in ["https://closed.example", "https://unknown.example"] {
            let r = refusal(
                issue(
                    &node.core,
                    svc.clone(),
                    &request(&cc(&[("resource", closed)])),
                )
                .await,
            );
            assert_eq!(r.error, ProtocolError::InvalidTarget, "{closed}");
        }
        // Per-client audiences keep working beside it, with every scope.
        let both = service(&node, &[API]);
        let issued = issue(&node.core, both, &request(&cc(&[("resource", API)])))
            .await
            .unwrap();
        assert_eq!(claims(&issued.access_token)["aud"], API);
    }
}
