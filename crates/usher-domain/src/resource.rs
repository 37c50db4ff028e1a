//! Resource servers (RFC 8707): the APIs an operator registers with `usher resource
//! create`, each named by its identifier — an absolute URI without a fragment, which is
//! the `aud` of the access tokens issued for it — with an optional display name and the
//! scopes it defines. The port [`ResourceStore`] keeps them; the decisions that use them
//! (which resources and scopes a request gets) are `usher-core`'s `resources` module,
//! written down in docs/design/resources.md.

use std::fmt;

use url::Url;

use crate::ports::StoreError;
use crate::scope::{OIDC_SCOPES, ScopeSet};
use crate::time::UnixTime;

/// The longest resource identifier Usher accepts (the same bound as any parameter).
pub const MAX_RESOURCE_URI_LEN: usize = crate::authorize::MAX_PARAM_LEN;

/// The most distinct `resource` values one request may name.
pub const MAX_RESOURCES_PER_REQUEST: usize = 10;

/// A resource identifier (RFC 8707 §2): an absolute URI (it has a scheme) without a
/// fragment, at most [`MAX_RESOURCE_URI_LEN`] bytes of visible ASCII (RFC 3986 has no
/// other character; so a list of them is stored space-separated). Kept exactly as written: it is compared byte for byte
/// with what clients send and what resource servers expect in `aud`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceUri(String);

/// Why a resource registration was refused. Each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error(
        "the resource identifier must be an absolute URI (with a scheme, such as https://api.example.com) without a fragment (RFC 8707 section 2)"
    )]
    BadUri,
    #[error("the resource name must be 1 to 200 characters without control characters")]
    BadName,
    #[error("a resource needs at least one scope: --scope \"invoices:read invoices:write\"")]
    NoScopes,
    #[error("the scope list is refused: {0}")]
    BadScope(#[from] crate::scope::ScopeError),
    #[error(
        "{0} is an OpenID Connect scope, which belongs to Usher itself, not to a resource server: remove it from --scope"
    )]
    OidcScope(String),
}

impl ResourceUri {
    /// Parses a resource identifier: absolute (a scheme), no fragment, no whitespace.
    pub fn parse(raw: &str) -> Result<ResourceUri, ResourceError> {
        let plain = !raw.is_empty()
            && raw.len() <= MAX_RESOURCE_URI_LEN
            && !raw.contains('#')
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if !plain || Url::parse(raw).is_err() {
            return Err(ResourceError::BadUri);
        }
        Ok(ResourceUri(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for ResourceUri {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ResourceUri {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ResourceUri, D::Error> {
        let raw = String::deserialize(d)?;
        ResourceUri::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A list of resource identifiers as stored: space-separated, in order.
pub fn join_resources(resources: &[ResourceUri]) -> String {
    resources
        .iter()
        .map(ResourceUri::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The stored form back: `None` when an element does not parse.
pub fn split_resources(stored: &str) -> Option<Vec<ResourceUri>> {
    stored
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| ResourceUri::parse(s).ok())
        .collect()
}

/// A resource's display name, shown on the consent page: 1–200 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceName(String);

impl ResourceName {
    pub fn parse(raw: &str) -> Result<ResourceName, ResourceError> {
        let trimmed = raw.trim();
        let ok = !trimmed.is_empty()
            && trimmed.chars().count() <= 200
            && !trimmed.chars().any(char::is_control);
        if ok {
            Ok(ResourceName(trimmed.to_owned()))
        } else {
            Err(ResourceError::BadName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The scopes a resource defines: at least one, none of them an OpenID Connect scope.
pub fn parse_resource_scopes(raw: &str) -> Result<ScopeSet, ResourceError> {
    let scopes = ScopeSet::parse(raw)?;
    if scopes.is_empty() {
        return Err(ResourceError::NoScopes);
    }
    if let Some(oidc) = scopes.iter().find(|s| OIDC_SCOPES.contains(&s.as_str())) {
        return Err(ResourceError::OidcScope(oidc.as_str().to_owned()));
    }
    Ok(scopes)
}

/// A registered resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its identifier: the `resource` clients send and the `aud` of its tokens.
    pub uri: ResourceUri,
    pub name: Option<ResourceName>,
    /// The scopes it defines (never empty, never an OpenID Connect scope).
    pub scopes: ScopeSet,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl Resource {
    /// What the consent page calls it: its name, or else its identifier.
    pub fn label(&self) -> &str {
        match &self.name {
            Some(n) => n.as_str(),
            None => self.uri.as_str(),
        }
    }
}

/// Registered resource servers.
pub trait ResourceStore: Send + Sync {
    /// Registers a resource; `false` when one with this identifier exists (nothing
    /// changed).
    fn insert_resource(&self, resource: &Resource) -> Result<bool, StoreError>;
    fn get_resource(&self, uri: &ResourceUri) -> Result<Option<Resource>, StoreError>;
    /// Every resource, by identifier.
    fn list_resources(&self) -> Result<Vec<Resource>, StoreError>;
    /// Replaces the name, scopes and `updated_at` of the resource `resource.uri`; `false`
    /// when there is none.
    fn update_resource(&self, resource: &Resource) -> Result<bool, StoreError>;
    /// [`ResourceStore::update_resource`], only while its name and scopes are still those
    /// of `expected` (a compare-and-set for the admin API's `If-Match`); `false` when it
    /// is gone or was changed meanwhile (nothing written).
    fn update_resource_if(
        &self,
        resource: &Resource,
        expected: &Resource,
    ) -> Result<bool, StoreError>;
    /// `false` when there was none.
    fn delete_resource(&self, uri: &ResourceUri) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_is_an_absolute_uri_without_fragment() {
        for good in [
            "https://api.example.com",
            "https://api.example.com/v1/",
            "https://api.example.com/v1?tenant=a",
            "urn:example:invoices",
            "http://127.0.0.1:8080/mcp",
        ] {
            assert_eq!(ResourceUri::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "api.example.com",
            "/v1/invoices",
            "https://api.example.com/#x",
            "https://api.example.com/a b",
            "https://api.example.com/\n",
            "https://bücher.example/",
        ] {
            assert_eq!(
                ResourceUri::parse(bad),
                Err(ResourceError::BadUri),
                "{bad:?}"
            );
        }
        assert!(ResourceUri::parse(&format!("https://a.example/{}", "x".repeat(5000))).is_err());
    }

    #[test]
    fn lists_are_stored_space_separated() {
        let list = vec![
            ResourceUri::parse("https://b.example").unwrap(),
            ResourceUri::parse("https://a.example").unwrap(),
        ];
        let stored = join_resources(&list);
        assert_eq!(stored, "https://b.example https://a.example");
        assert_eq!(split_resources(&stored), Some(list));
        assert_eq!(split_resources(""), Some(vec![]));
        assert_eq!(split_resources("nope"), None);
    }

    #[test]
    fn a_resource_defines_scopes_of_its_own() {
        assert_eq!(
            parse_resource_scopes("invoices:write invoices:read")
                .unwrap()
                .to_string(),
            "invoices:read invoices:write"
        );
        assert_eq!(parse_resource_scopes(" "), Err(ResourceError::NoScopes));
        assert_eq!(
            parse_resource_scopes("invoices:read openid"),
            Err(ResourceError::OidcScope("openid".into()))
        );
        assert!(parse_resource_scopes("a\"b").is_err());
    }

    #[test]
    fn a_name_is_short_plain_text() {
        assert_eq!(
            ResourceName::parse(" Invoices ").unwrap().as_str(),
            "Invoices"
        );
        assert!(ResourceName::parse("").is_err());
        assert!(ResourceName::parse("a\u{7}b").is_err());
        assert!(ResourceName::parse(&"x".repeat(201)).is_err());
    }
}
