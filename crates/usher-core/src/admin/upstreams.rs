//! Upstream identity providers: create, list, update, delete — `usher upstream …`
//! (docs/design/upstream.md, docs/administration.md "Upstream providers").
//!
//! The operations check every setting (an https issuer, a client id, a scope with
//! `openid` unless the provider's endpoints are given by hand, a claim mapping) and seal
//! the client secret under the KEK with the upstream's id as associated data before
//! anything is written. The secret never appears in a view, an audit event or a log;
//! a view says only whether there is one.

use std::fmt;

use url::{Host, Url};
use usher_domain::{
    AuditKind, ClaimMapping, ManualEndpoints, Upstream, UpstreamId, upstream::check_upstream_name,
};
use usher_keys::FactorSealer;

use super::{AdminError, AdminStores, By, rfc3339};
use crate::failure::Failure;

/// The scope asked of an upstream when none is given.
pub const DEFAULT_SCOPE: &str = "openid email profile";

/// The longest client id accepted.
pub const MAX_CLIENT_ID: usize = 255;

/// A client secret as typed: never shown by `Debug`.
#[derive(Clone)]
pub struct UpstreamSecret(String);

impl UpstreamSecret {
    pub fn new(secret: String) -> Result<UpstreamSecret, AdminError> {
        if secret.is_empty() || secret.len() > 1024 || secret.chars().any(char::is_control) {
            return Err(AdminError::Invalid(
                "a client secret is 1 to 1024 characters without control characters".into(),
            ));
        }
        Ok(UpstreamSecret(secret))
    }
}

impl fmt::Debug for UpstreamSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpstreamSecret(<redacted>)")
    }
}

/// The settings of a new upstream, as typed (checked by [`create`]).
#[derive(Debug, Clone, Default)]
pub struct NewUpstream {
    /// `None`: made from the name ([`UpstreamId::from_name`]).
    pub id: Option<String>,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// `None`: Usher is a public client of the upstream (PKCE alone).
    pub client_secret: Option<UpstreamSecret>,
    /// `None`: [`DEFAULT_SCOPE`].
    pub scope: Option<String>,
    /// The text form (`sub=id,username=login`); `None`: the defaults.
    pub claim_mapping: Option<String>,
    /// All three or none: authorization, token and user-info endpoints.
    pub endpoints: Option<EndpointsInput>,
    pub enabled: bool,
    pub trusted_for_mfa: bool,
    pub create_people: bool,
}

/// The three URLs of a plain OAuth 2.0 provider, as typed.
#[derive(Debug, Clone, Default)]
pub struct EndpointsInput {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
}

/// What [`update`] changes: every `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct UpstreamChanges {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// A new secret, sealed anew.
    pub client_secret: Option<UpstreamSecret>,
    pub scope: Option<String>,
    pub claim_mapping: Option<String>,
    pub endpoints: Option<EndpointsInput>,
    pub enabled: Option<bool>,
    pub trusted_for_mfa: Option<bool>,
    pub create_people: Option<bool>,
}

/// An upstream as shown: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpstreamView {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Whether a client secret is stored (sealed); never the secret.
    pub has_client_secret: bool,
    pub scope: String,
    /// The text form of the claim mapping.
    pub claim_mapping: String,
    pub endpoints: Option<ManualEndpoints>,
    pub enabled: bool,
    pub trusted_for_mfa: bool,
    pub create_people: bool,
    pub created_at: String,
}

impl UpstreamView {
    pub fn of(upstream: &Upstream) -> UpstreamView {
        UpstreamView {
            id: upstream.id.as_str().to_owned(),
            name: upstream.name.clone(),
            issuer: upstream.issuer.clone(),
            client_id: upstream.client_id.clone(),
            has_client_secret: upstream.client_secret_sealed.is_some(),
            scope: upstream.scope.clone(),
            claim_mapping: upstream.claim_mapping.to_text(),
            endpoints: upstream.endpoints.clone(),
            enabled: upstream.enabled,
            trusted_for_mfa: upstream.trusted_for_mfa,
            create_people: upstream.create_people,
            created_at: rfc3339(upstream.created_at),
        }
    }
}

fn invalid(e: impl fmt::Display) -> AdminError {
    AdminError::Invalid(e.to_string())
}

pub fn parse_id(raw: &str) -> Result<UpstreamId, AdminError> {
    UpstreamId::parse(raw).map_err(invalid)
}

/// An https URL (http only on a loopback host: a provider on this machine, in
/// development), with no user information or fragment.
pub fn check_url(what: &str, raw: &str) -> Result<String, AdminError> {
    let bad = |why: &str| AdminError::Invalid(format!("{what} {raw:?}: {why}"));
    let url = Url::parse(raw).map_err(|_| bad("not an absolute URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("the URL carries user information"));
    }
    if url.fragment().is_some() {
        return Err(bad("the URL has a fragment"));
    }
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(bad("the URL has no host")),
    };
    match url.scheme() {
        "https" => Ok(raw.to_owned()),
        "http" if loopback => Ok(raw.to_owned()),
        "http" => Err(bad(
            "must be https (http only for 127.0.0.1, [::1] or localhost)",
        )),
        _ => Err(bad("must be an https URL")),
    }
}

fn check_client_id(raw: &str) -> Result<String, AdminError> {
    if raw.is_empty() || raw.len() > MAX_CLIENT_ID || raw.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "a client id is 1 to {MAX_CLIENT_ID} bytes without control characters"
        )));
    }
    Ok(raw.to_owned())
}

/// Space-separated scope tokens (RFC 6749 §3.3); `openid` is required of an OpenID
/// Connect upstream (no manual endpoints).
fn check_scope(raw: &str, manual: bool) -> Result<String, AdminError> {
    let tokens: Vec<&str> = raw.split(' ').filter(|t| !t.is_empty()).collect();
    let valid = !tokens.is_empty()
        && raw.len() <= 1024
        && tokens.iter().all(|t| {
            t.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        });
    if !valid {
        return Err(AdminError::Invalid(
            "a scope is one or more space-separated scope tokens".into(),
        ));
    }
    if !manual && !tokens.contains(&"openid") {
        return Err(AdminError::Invalid(
            "the scope of an OpenID Connect upstream must include openid (or give its \
             authorization, token and user-info endpoints for a plain OAuth 2.0 provider)"
                .into(),
        ));
    }
    Ok(tokens.join(" "))
}

fn check_endpoints(input: &EndpointsInput) -> Result<ManualEndpoints, AdminError> {
    Ok(ManualEndpoints {
        authorization_endpoint: check_url(
            "the authorization endpoint",
            &input.authorization_endpoint,
        )?,
        token_endpoint: check_url("the token endpoint", &input.token_endpoint)?,
        userinfo_endpoint: check_url("the user-info endpoint", &input.userinfo_endpoint)?,
    })
}

fn seal(
    sealer: &FactorSealer,
    id: &UpstreamId,
    secret: &UpstreamSecret,
) -> Result<String, AdminError> {
    sealer
        .seal_upstream_secret(id.as_str(), &secret.0)
        .map_err(|e| {
            tracing::error!(cause = %e, "an upstream's client secret could not be sealed");
            AdminError::Failure(Failure::Internal)
        })
}

fn not_found(id: &UpstreamId) -> AdminError {
    AdminError::NotFound(format!("no upstream {id}"))
}

/// Checks `input`, seals its secret and stores the upstream with its `upstream.created`
/// event.
pub fn create(
    stores: &AdminStores,
    sealer: &FactorSealer,
    input: NewUpstream,
    by: &By,
) -> Result<Upstream, AdminError> {
    let name = check_upstream_name(&input.name).map_err(invalid)?;
    let id = match input.id.as_deref() {
        Some(raw) => parse_id(raw)?,
        None => UpstreamId::from_name(&name).ok_or_else(|| {
            AdminError::Invalid(format!(
                "no id can be made from the name {name:?}: give one with --id"
            ))
        })?,
    };
    let issuer = check_url("the issuer", &input.issuer)?;
    let client_id = check_client_id(&input.client_id)?;
    let endpoints = input.endpoints.as_ref().map(check_endpoints).transpose()?;
    let scope = check_scope(
        input.scope.as_deref().unwrap_or(DEFAULT_SCOPE),
        endpoints.is_some(),
    )?;
    let claim_mapping = match input.claim_mapping.as_deref() {
        Some(raw) => ClaimMapping::parse(raw).map_err(invalid)?,
        None => ClaimMapping::default(),
    };
    let client_secret_sealed = input
        .client_secret
        .as_ref()
        .map(|s| seal(sealer, &id, s))
        .transpose()?;
    let upstream = Upstream {
        id,
        name,
        issuer,
        client_id,
        client_secret_sealed,
        scope,
        claim_mapping,
        endpoints,
        enabled: input.enabled,
        trusted_for_mfa: input.trusted_for_mfa,
        create_people: input.create_people,
        created_at: by.at,
    };
    let inserted = stores.audited(|tx| {
        let inserted = tx.insert_upstream(&upstream)?;
        if inserted {
            tx.record(
                &by.event(AuditKind::UpstreamCreated)
                    .target(&upstream.id)
                    .detail(serde_json::json!({ "after": UpstreamView::of(&upstream) })),
            )?;
        }
        Ok(inserted)
    })?;
    if !inserted {
        return Err(AdminError::Conflict(format!(
            "an upstream {} already exists",
            upstream.id
        )));
    }
    tracing::info!(upstream = %upstream.id, "upstream created");
    Ok(upstream)
}

/// Every upstream, by id.
pub fn list(stores: &AdminStores) -> Result<Vec<Upstream>, AdminError> {
    Ok(stores.upstreams.list_upstreams()?)
}

pub fn show(stores: &AdminStores, id: &UpstreamId) -> Result<Upstream, AdminError> {
    stores
        .upstreams
        .get_upstream(id)?
        .ok_or_else(|| not_found(id))
}

/// Applies `changes` (a new secret sealed anew), checks the result as [`create`] does,
/// and stores it with its `upstream.updated` event (before and after; none when
/// nothing changed).
pub fn update(
    stores: &AdminStores,
    sealer: &FactorSealer,
    id: &UpstreamId,
    changes: UpstreamChanges,
    by: &By,
) -> Result<Upstream, AdminError> {
    let current = show(stores, id)?;
    let mut new = current.clone();
    if let Some(name) = &changes.name {
        new.name = check_upstream_name(name).map_err(invalid)?;
    }
    if let Some(issuer) = &changes.issuer {
        new.issuer = check_url("the issuer", issuer)?;
    }
    if let Some(client_id) = &changes.client_id {
        new.client_id = check_client_id(client_id)?;
    }
    if let Some(endpoints) = &changes.endpoints {
        new.endpoints = Some(check_endpoints(endpoints)?);
    }
    new.scope = check_scope(
        changes.scope.as_deref().unwrap_or(&current.scope),
        new.endpoints.is_some(),
    )?;
    if let Some(mapping) = &changes.claim_mapping {
        new.claim_mapping = ClaimMapping::parse(mapping).map_err(invalid)?;
    }
    if let Some(secret) = &changes.client_secret {
        new.client_secret_sealed = Some(seal(sealer, id, secret)?);
    }
    new.enabled = changes.enabled.unwrap_or(new.enabled);
    new.trusted_for_mfa = changes.trusted_for_mfa.unwrap_or(new.trusted_for_mfa);
    new.create_people = changes.create_people.unwrap_or(new.create_people);
    if new == current {
        return Ok(current);
    }
    let updated = stores.audited(|tx| {
        let updated = tx.update_upstream(&new)?;
        if updated {
            let mut detail = serde_json::json!({
                "before": UpstreamView::of(&current),
                "after": UpstreamView::of(&new),
            });
            if changes.client_secret.is_some() {
                detail["client_secret_replaced"] = serde_json::Value::Bool(true);
            }
            tx.record(
                &by.event(AuditKind::UpstreamUpdated)
                    .target(&new.id)
                    .detail(detail),
            )?;
        }
        Ok(updated)
    })?;
    if !updated {
        return Err(not_found(id));
    }
    tracing::info!(upstream = %id, "upstream updated");
    Ok(new)
}

/// Deletes upstream `id` and every identity linked through it (the people stay).
pub fn delete(stores: &AdminStores, id: &UpstreamId, by: &By) -> Result<(), AdminError> {
    let deleted = stores.audited(|tx| {
        let deleted = tx.delete_upstream(id)?;
        if deleted {
            tx.record(&by.event(AuditKind::UpstreamDeleted).target(id))?;
        }
        Ok(deleted)
    })?;
    if !deleted {
        return Err(not_found(id));
    }
    tracing::info!(upstream = %id, "upstream deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_or_loopback_http() {
        for ok in [
            "https://accounts.google.com",
            "https://login.example/tenant/v2.0",
            "http://127.0.0.1:8080",
            "http://localhost:9000/realms/x",
            "http://[::1]:8080",
        ] {
            assert!(check_url("the issuer", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://accounts.google.com",
            "ftp://x.example",
            "accounts.google.com",
            "https://user:pw@x.example",
            "https://x.example/#frag",
            "http://10.0.0.1",
        ] {
            assert!(check_url("the issuer", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_need_openid_unless_endpoints_are_given() {
        assert_eq!(check_scope("openid  email", false).unwrap(), "openid email");
        assert!(check_scope("email profile", false).is_err());
        assert_eq!(check_scope("read:user", true).unwrap(), "read:user");
        assert!(check_scope("", true).is_err());
        assert!(check_scope("a\"b openid", false).is_err());
    }

    #[test]
    fn a_secret_never_shows_in_debug() {
        let s = UpstreamSecret::new("hunter2".into()).unwrap();
        let input = NewUpstream {
            client_secret: Some(s),
            ..NewUpstream::default()
        };
        assert!(!format!("{input:?}").contains("hunter2"));
        assert!(UpstreamSecret::new(String::new()).is_err());
    }
}
