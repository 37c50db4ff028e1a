//! Resource indicators (RFC 8707) for a person's grants: which registered resource
//! servers a request may name, which scopes it is then granted, and how the code
//! exchange and a refresh may narrow them. `client_credentials` uses
//! [`registered_for_service`]. The rules are written down in docs/design/resources.md;
//! in short:
//!
//! - Every `resource` must be a registered resource ([`usher_domain::Resource`]), and
//!   the client must be allowed at least one scope it defines; otherwise
//!   `invalid_target`.
//! - A requested scope the client may not ask for is `invalid_target` when a named
//!   resource defines it, and `invalid_scope` (as without resources) otherwise.
//! - The scopes granted are the requested scopes that the named resources define, plus
//!   the requested OpenID Connect scopes (for the ID token and the refresh token).
//!   Requested scopes that no named resource defines are not granted.
//! - The access token's `aud` is the resources; without `resource`, nothing changes.
//! - The code exchange and a refresh may name a subset of the grant's resources (never
//!   another one): that access token is for them, with the grant's scopes that they
//!   define. The grant itself (the code's, the family's) is kept whole.
//!
//! Resources are read from the store on every use (no cache): a deleted resource gets
//! no token from the next request on.

use usher_domain::authorize::{AuthorizationRequest, Rejection};
use usher_domain::scope::OIDC_SCOPES;
use usher_domain::{Client, ProtocolError, Resource, ResourceUri, ScopeSet, UnixTime};

use crate::Core;
use crate::failure::{Failure, blocking};

/// Why no resources were decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// `invalid_target` or `invalid_scope`, with a description that names the fix.
    Refused(Rejection),
    /// The store failed.
    Failure(Failure),
}

impl From<Failure> for TargetError {
    fn from(f: Failure) -> TargetError {
        TargetError::Failure(f)
    }
}

fn refused(error: ProtocolError, description: impl Into<String>) -> TargetError {
    TargetError::Refused(Rejection {
        error,
        description: description.into(),
    })
}

/// The registered resources among `uris`, in order; `None` in place of each unknown one.
async fn lookup(core: &Core, uris: &[ResourceUri]) -> Result<Vec<Option<Resource>>, Failure> {
    let store = core.stores.resources.clone();
    let uris = uris.to_vec();
    blocking(move || {
        uris.iter()
            .map(|u| store.get_resource(u))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
}

/// The scopes the OpenID Connect layer gives meaning to (the ID token, userinfo claims,
/// `offline_access`), which belong to no resource server.
fn oidc_scopes(scopes: &ScopeSet) -> ScopeSet {
    scopes.without(
        &scopes
            .iter()
            .map(|s| s.as_str())
            .filter(|s| !OIDC_SCOPES.contains(s))
            .collect::<Vec<_>>(),
    )
}

/// Every scope the `resources` define.
fn defined_by(resources: &[Resource]) -> ScopeSet {
    resources
        .iter()
        .fold(ScopeSet::default(), |all, r| all.union(&r.scopes))
}

/// The decision at `/authorize`, on resources already known to be registered: the
/// scopes granted for them, or the refusal. `allowed` is what the client may ask for.
pub fn decide(
    allowed: &ScopeSet,
    requested: &ScopeSet,
    resources: &[Resource],
) -> Result<ScopeSet, Rejection> {
    let refuse = |error, description: String| Rejection { error, description };
    for r in resources {
        if r.scopes.intersection(allowed).is_empty() {
            return Err(refuse(
                ProtocolError::InvalidTarget,
                "this client may ask for none of the scopes of a requested resource; register the client with one of them (usher client create ... --scope)".into(),
            ));
        }
    }
    let defined = defined_by(resources);
    for s in requested.iter() {
        if allowed.contains(s.as_str()) {
            continue;
        }
        if defined.contains(s.as_str()) {
            return Err(refuse(
                ProtocolError::InvalidTarget,
                "a requested scope of a requested resource is not registered for this client"
                    .into(),
            ));
        }
        return Err(refuse(
            ProtocolError::InvalidScope,
            "a requested scope is not registered for this client".into(),
        ));
    }
    // A resource is an audience only for scopes it defines: naming one without asking
    // for any of its scopes would make a token for an API the consent page never
    // showed a scope of (and that remembered consent to `openid` alone would let
    // through silently).
    if resources
        .iter()
        .any(|r| r.scopes.intersection(requested).is_empty())
    {
        return Err(refuse(
            ProtocolError::InvalidTarget,
            "a requested resource is asked for none of its scopes; add one of them to scope".into(),
        ));
    }
    Ok(requested
        .intersection(&defined)
        .union(&oidc_scopes(requested)))
}

/// `/authorize` with `resource`: each must be registered and open to the client; the
/// request's `scope` becomes the scopes granted ([`decide`]). A request without
/// `resource` is left as it is.
pub async fn authorize(
    core: &Core,
    client: &Client,
    request: &mut AuthorizationRequest,
) -> Result<(), TargetError> {
    if request.resources.is_empty() {
        return Ok(());
    }
    request.scope = granted(core, client, &request.resources, &request.scope).await?;
    Ok(())
}

/// The scopes granted for `scope` asked with the (non-empty) `resources`: each must be
/// registered and open to the client ([`decide`]). `/authorize` and the device
/// authorization endpoint decide through here.
pub async fn granted(
    core: &Core,
    client: &Client,
    resources: &[ResourceUri],
    scope: &ScopeSet,
) -> Result<ScopeSet, TargetError> {
    let mut found = Vec::with_capacity(resources.len());
    // Descriptions never quote the request's text (nor a registered identifier, which
    // the client chose to send): they say which rule refused it.
    for resource in lookup(core, resources).await? {
        match resource {
            Some(r) => found.push(r),
            None => {
                return Err(refused(
                    ProtocolError::InvalidTarget,
                    "a requested resource is not registered at this server",
                ));
            }
        }
    }
    let granted =
        decide(&client.registration.scopes, scope, &found).map_err(TargetError::Refused)?;
    if granted != *scope {
        tracing::info!(client_id = %client.id, "requested scopes that no requested resource defines are not granted");
    }
    Ok(granted)
}

/// The resources named in a token request, checked against those of the grant: each an
/// absolute URI among `granted` (narrowing, never widening); none named: all of them.
pub fn narrow(granted: &[ResourceUri], asked: &[String]) -> Result<Vec<ResourceUri>, Rejection> {
    let refuse = |description: &str| Rejection {
        error: ProtocolError::InvalidTarget,
        description: description.to_owned(),
    };
    if asked.is_empty() {
        return Ok(granted.to_vec());
    }
    if granted.is_empty() {
        return Err(refuse(
            "this grant was made without resource; resource may narrow the resources of a grant, never add one",
        ));
    }
    let mut out: Vec<ResourceUri> = Vec::new();
    for raw in asked {
        let uri = ResourceUri::parse(raw).map_err(|_| {
            refuse("resource must be an absolute URI without a fragment (RFC 8707 section 2)")
        })?;
        if !granted.contains(&uri) {
            return Err(refuse(
                "resource may narrow the resources granted at the authorization endpoint, never add one",
            ));
        }
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    Ok(out)
}

/// What one access token of a person's grant is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTarget {
    /// Its `aud` (empty: the userinfo endpoint, as without resources).
    pub resources: Vec<ResourceUri>,
    /// Its scopes.
    pub scope: ScopeSet,
}

/// The target of an access token of a grant made for `granted` resources, with `scope`
/// (the grant's, or a narrower one asked for on refresh), narrowed by the token
/// request's `resource` values ([`narrow`]). The scope is cut down to what the chosen
/// resources define now (plus the OpenID Connect scopes). A resource named in the
/// request that is no longer registered is `invalid_target`; one of the grant's, when
/// none is named, is left out, and the request refused only when none is left. So is a
/// resource registered after `granted_at` (when the code or family was made): an
/// identifier deleted and registered again is a new resource, which this grant was not
/// given for.
pub async fn token_target(
    core: &Core,
    granted: &[ResourceUri],
    granted_at: UnixTime,
    asked: &[String],
    scope: &ScopeSet,
) -> Result<TokenTarget, TargetError> {
    let chosen = narrow(granted, asked).map_err(TargetError::Refused)?;
    if chosen.is_empty() {
        return Ok(TokenTarget {
            resources: Vec::new(),
            scope: scope.clone(),
        });
    }
    let mut found = Vec::with_capacity(chosen.len());
    for (uri, resource) in chosen.iter().zip(lookup(core, &chosen).await?) {
        let resource = resource.filter(|r| {
            let same = r.created_at <= granted_at;
            if !same {
                tracing::info!(resource = %uri, "a resource of this grant was registered again since; not the one granted");
            }
            same
        });
        match resource {
            Some(r) => found.push(r),
            None if asked.is_empty() => {
                tracing::info!(resource = %uri, "a resource of this grant is no longer registered; left out");
            }
            None => {
                return Err(refused(
                    ProtocolError::InvalidTarget,
                    "a requested resource is no longer registered at this server",
                ));
            }
        }
    }
    if found.is_empty() {
        return Err(refused(
            ProtocolError::InvalidTarget,
            "no resource of this grant is registered any more",
        ));
    }
    // Only resources this token has a scope of (the scope is already cut to what the
    // client may ask for now): a client that lost a resource's scopes, or a narrower
    // refresh scope, gets no token for that resource.
    let has_scope = |r: &Resource| !r.scopes.intersection(scope).is_empty();
    if !asked.is_empty() && !found.iter().all(has_scope) {
        return Err(refused(
            ProtocolError::InvalidTarget,
            "a requested resource defines none of this token's scopes",
        ));
    }
    found.retain(has_scope);
    if found.is_empty() {
        return Err(refused(
            ProtocolError::InvalidTarget,
            "no resource of this grant defines a scope of this token",
        ));
    }
    Ok(TokenTarget {
        scope: scope
            .intersection(&defined_by(&found))
            .union(&oidc_scopes(scope)),
        resources: found.into_iter().map(|r| r.uri).collect(),
    })
}

/// The resources of a grant made at `granted_at` that are still the ones it was given
/// for: registered, and not registered again since (an identifier deleted and
/// registered again is a new resource). What a refresh-token family keeps of its code's
/// (or device grant's) resources: the family is stamped when it starts, later than the
/// grant, so without this a resource re-registered in between would be out of the
/// first access token and within every refresh's reach.
pub async fn still_granted(
    core: &Core,
    granted: &[ResourceUri],
    granted_at: UnixTime,
) -> Result<Vec<ResourceUri>, Failure> {
    if granted.is_empty() {
        return Ok(Vec::new());
    }
    Ok(granted
        .iter()
        .zip(lookup(core, granted).await?)
        .filter(|(_, found)| found.as_ref().is_some_and(|r| r.created_at <= granted_at))
        .map(|(uri, _)| uri.clone())
        .collect())
}

/// For `client_credentials`: the registered resource `uri`, if there is one that
/// `client` may ask at least one scope of.
pub async fn registered_for_service(
    core: &Core,
    client: &Client,
    uri: &ResourceUri,
) -> Result<Option<Resource>, Failure> {
    let found = lookup(core, std::slice::from_ref(uri)).await?;
    Ok(found.into_iter().flatten().find(|r| {
        !r.scopes
            .intersection(&client.registration.scopes)
            .is_empty()
    }))
}

/// What the consent page calls each resource: its name, or else its identifier (also
/// when it cannot be read).
pub async fn labels(core: &Core, uris: &[ResourceUri]) -> Vec<String> {
    if uris.is_empty() {
        return Vec::new();
    }
    match lookup(core, uris).await {
        Ok(found) => uris
            .iter()
            .zip(found)
            .map(|(uri, r)| match r {
                Some(r) => r.label().to_owned(),
                None => uri.as_str().to_owned(),
            })
            .collect(),
        Err(_) => uris.iter().map(|u| u.as_str().to_owned()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use usher_domain::authorize::Rejection;

    use super::*;
    use crate::testing::TestNode;

    const INVOICES: &str = "https://invoices.example/api";
    const REPORTS: &str = "https://reports.example";

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    fn uri(s: &str) -> ResourceUri {
        ResourceUri::parse(s).unwrap()
    }

    fn node_with_resources() -> (TestNode, Resource, Resource) {
        let node = TestNode::new();
        let invoices = node.resource(INVOICES, Some("Invoices"), "invoices:read invoices:write");
        let reports = node.resource(REPORTS, None, "reports:read");
        (node, invoices, reports)
    }

    fn error(r: Result<ScopeSet, Rejection>) -> ProtocolError {
        r.unwrap_err().error
    }

    #[test]
    fn the_scopes_granted_are_those_the_resources_define_plus_the_oidc_ones() {
        let (_, invoices, reports) = node_with_resources();
        let allowed = set("openid profile offline_access invoices:read reports:read other");
        // One resource: its scopes, the OpenID Connect ones, nothing else.
        assert_eq!(
            decide(
                &allowed,
                &set("openid offline_access invoices:read other"),
                std::slice::from_ref(&invoices)
            ),
            Ok(set("openid offline_access invoices:read"))
        );
        // Two resources: the scopes of both.
        assert_eq!(
            decide(
                &allowed,
                &set("openid invoices:read reports:read"),
                &[invoices.clone(), reports.clone()]
            ),
            Ok(set("openid invoices:read reports:read"))
        );
        // No scope of the resource asked for: refused, not a token for an API whose
        // scopes the consent page never showed (remembered consent to `openid` would
        // let it through silently).
        assert_eq!(
            error(decide(
                &allowed,
                &set("openid"),
                std::slice::from_ref(&reports)
            )),
            ProtocolError::InvalidTarget
        );
        assert_eq!(
            error(decide(
                &allowed,
                &set("openid invoices:read"),
                &[invoices.clone(), reports.clone()]
            )),
            ProtocolError::InvalidTarget,
            "each named resource needs one of its scopes"
        );
    }

    #[test]
    fn a_scope_the_client_may_not_ask_for_is_invalid_target_when_a_resource_defines_it() {
        let (_, invoices, reports) = node_with_resources();
        let allowed = set("openid invoices:read reports:read");
        assert_eq!(
            error(decide(
                &allowed,
                &set("openid invoices:write"),
                std::slice::from_ref(&invoices)
            )),
            ProtocolError::InvalidTarget
        );
        // Defined by no named resource: today's rule.
        assert_eq!(
            error(decide(
                &allowed,
                &set("openid admin"),
                std::slice::from_ref(&invoices)
            )),
            ProtocolError::InvalidScope
        );
        // A resource none of whose scopes the client may have is refused outright.
        let only_invoices = set("openid invoices:read");
        assert_eq!(
            error(decide(
                &only_invoices,
                &set("openid"),
                &[invoices.clone(), reports]
            )),
            ProtocolError::InvalidTarget
        );
    }

    #[tokio::test]
    async fn authorize_refuses_an_unknown_resource_and_rewrites_the_scope() {
        let (node, _, _) = node_with_resources();
        let client = crate::grants::fixtures::client(
            &node,
            "app",
            false,
            &["authorization_code"],
            "openid invoices:read reports:read other",
        );
        let mut request = usher_domain::authorize::AuthorizationRequest::parse(
            &usher_domain::authorize::Params::new(&crate::testing::form(&[
                ("response_type", "code"),
                ("client_id", "app"),
                ("scope", "openid invoices:read other"),
                ("resource", INVOICES),
                ("code_challenge", crate::grants::fixtures::CHALLENGE),
                ("code_challenge_method", "S256"),
            ])),
            &client,
            crate::grants::fixtures::REDIRECT.parse().unwrap(),
            true,
        )
        .unwrap();
        let mut unknown = request.clone();
        authorize(&node.core, &client, &mut request).await.unwrap();
        assert_eq!(request.scope, set("openid invoices:read"));
        assert_eq!(request.resources, vec![uri(INVOICES)]);

        unknown.resources.push(uri("https://unknown.example"));
        let Err(TargetError::Refused(r)) = authorize(&node.core, &client, &mut unknown).await
        else {
            panic!("an unknown resource was accepted");
        };
        assert_eq!(r.error, ProtocolError::InvalidTarget);

        // Without resource: nothing changes.
        let mut plain = request.clone();
        plain.resources.clear();
        plain.scope = set("openid other");
        authorize(&node.core, &client, &mut plain).await.unwrap();
        assert_eq!(plain.scope, set("openid other"));
    }

    #[test]
    fn a_token_request_may_narrow_the_resources_never_widen_them() {
        let granted = [uri(INVOICES), uri(REPORTS)];
        assert_eq!(narrow(&granted, &[]), Ok(granted.to_vec()));
        assert_eq!(
            narrow(&granted, &[REPORTS.into(), REPORTS.into()]),
            Ok(vec![uri(REPORTS)])
        );
        for widening in [
            vec!["https://other.example".to_owned()],
            vec![REPORTS.to_owned(), "https://other.example".to_owned()],
            vec!["not a uri".to_owned()],
            vec![String::new()],
        ] {
            assert_eq!(
                narrow(&granted, &widening).unwrap_err().error,
                ProtocolError::InvalidTarget,
                "{widening:?}"
            );
        }
        // A grant without resources takes none.
        assert_eq!(narrow(&[], &[]), Ok(vec![]));
        assert_eq!(
            narrow(&[], &[INVOICES.to_owned()]).unwrap_err().error,
            ProtocolError::InvalidTarget
        );
    }

    #[tokio::test]
    async fn a_narrowed_token_carries_the_scopes_its_resources_define() {
        let (node, _, _) = node_with_resources();
        let granted = [uri(INVOICES), uri(REPORTS)];
        let scope = set("openid offline_access invoices:read reports:read");
        let at = node.now();
        let all = token_target(&node.core, &granted, at, &[], &scope)
            .await
            .unwrap();
        assert_eq!(all.resources, granted.to_vec());
        assert_eq!(all.scope, scope);
        let narrowed = token_target(&node.core, &granted, at, &[REPORTS.into()], &scope)
            .await
            .unwrap();
        assert_eq!(narrowed.resources, vec![uri(REPORTS)]);
        assert_eq!(narrowed.scope, set("openid offline_access reports:read"));
        // No resources: the grant's scope, no audience of a resource.
        let none = token_target(&node.core, &[], at, &[], &scope)
            .await
            .unwrap();
        assert_eq!(none.resources, vec![]);
        assert_eq!(none.scope, scope);
        // A deleted resource: refused when named, left out when not.
        usher_domain::ResourceStore::delete_resource(&node.db, &uri(REPORTS)).unwrap();
        let Err(TargetError::Refused(r)) =
            token_target(&node.core, &granted, at, &[REPORTS.into()], &scope).await
        else {
            panic!("a deleted resource got a token");
        };
        assert_eq!(r.error, ProtocolError::InvalidTarget);
        let rest = token_target(&node.core, &granted, at, &[], &scope)
            .await
            .unwrap();
        assert_eq!(rest.resources, vec![uri(INVOICES)]);
        assert_eq!(rest.scope, set("openid offline_access invoices:read"));
        // Registered again later under the same identifier: a new resource, which this
        // grant was not given for — refused when named, left out when not.
        node.advance(5);
        node.resource(REPORTS, None, "reports:read");
        let Err(TargetError::Refused(r)) =
            token_target(&node.core, &granted, at, &[REPORTS.into()], &scope).await
        else {
            panic!("a re-registered resource got a token of an older grant");
        };
        assert_eq!(r.error, ProtocolError::InvalidTarget);
        let rest = token_target(&node.core, &granted, at, &[], &scope)
            .await
            .unwrap();
        assert_eq!(rest.resources, vec![uri(INVOICES)]);
        // A family started now, for a code of `at`, keeps only what the code was for.
        assert_eq!(
            still_granted(&node.core, &granted, at).await,
            Ok(vec![uri(INVOICES)])
        );
        assert_eq!(
            still_granted(&node.core, &granted, node.now()).await,
            Ok(granted.to_vec())
        );
        // A grant made after the new registration gets it.
        let later = token_target(&node.core, &granted, node.now(), &[REPORTS.into()], &scope)
            .await
            .unwrap();
        assert_eq!(later.resources, vec![uri(REPORTS)]);
    }

    #[tokio::test]
    async fn the_consent_page_names_a_resource_by_its_name_or_its_identifier() {
        let (node, _, _) = node_with_resources();
        assert_eq!(
            labels(&node.core, &[uri(INVOICES), uri(REPORTS)]).await,
            ["Invoices", REPORTS]
        );
        assert!(labels(&node.core, &[]).await.is_empty());
    }
}
