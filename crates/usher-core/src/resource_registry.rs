//! The operator's side of resource servers (RFC 8707): what registering or changing one
//! must not do, and whom it affects. Used by `usher resource create|update`; the
//! request-time rules are in [`crate::resources`]. docs/design/resources.md.

use usher_domain::{Client, GrantType, Issuer, Resource, ResourceUri};

use crate::USERINFO_PATH;

/// Why `uri` may not be registered as a resource identifier, if it may not: it would be
/// the audience of tokens that already mean something else, so that a token for the one
/// would be taken for the other (RFC 8725 §3.9).
pub fn reserved(uri: &ResourceUri, issuer: &Issuer, clients: &[Client]) -> Option<String> {
    let uri = uri.as_str();
    if uri == issuer.as_str() || uri.trim_end_matches('/') == issuer.as_str() {
        return Some("it is the issuer: ID tokens name it, not an API".to_owned());
    }
    if uri == issuer.endpoint(USERINFO_PATH) {
        return Some("it is the audience of Usher's own userinfo tokens".to_owned());
    }
    // The admin API's audience, and anything under it: a resource server there would
    // let a client that may ask for it (with a scope of its own) reach the admin API.
    let admin = crate::admin::auth::admin_audience(issuer);
    if uri.trim_end_matches('/') == admin || uri.starts_with(&format!("{admin}/")) {
        return Some("it is the audience of Usher's admin API".to_owned());
    }
    clients
        .iter()
        .find(|c| c.registration.audiences.iter().any(|a| a.as_str() == uri))
        .map(|c| {
            format!(
                "it is an --audience of client {}: remove it there first (`usher client update`)",
                c.id
            )
        })
}

/// Whom a resource's scopes already reach: the clients allowed at least one of the
/// scopes it defines, and so able to ask tokens for it at once — without any person when
/// they have `client_credentials` (`service`), after a person's consent otherwise.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reach<'a> {
    /// Clients with `client_credentials`: tokens for the resource with no person asked.
    pub service: Vec<&'a Client>,
    /// Clients that can only act for a person, who consents.
    pub on_behalf: Vec<&'a Client>,
}

/// Which of `clients` may ask for `resource` (see [`Reach`]), in the order given.
pub fn reach<'a>(resource: &Resource, clients: &'a [Client]) -> Reach<'a> {
    let mut reach = Reach::default();
    for client in clients {
        let shares = resource
            .scopes
            .iter()
            .any(|s| client.registration.scopes.contains(s.as_str()));
        if !shares {
            continue;
        }
        if client.allows_grant(GrantType::ClientCredentials) {
            reach.service.push(client);
        } else {
            reach.on_behalf.push(client);
        }
    }
    reach
}

#[cfg(test)]
mod tests {
    use usher_domain::{ClientId, ClientRegistration, RegistrationInput, ScopeSet, UnixTime};

    use super::*;
    use crate::testing::registration;

    fn client(id: &str, input: RegistrationInput) -> Client {
        let registration = ClientRegistration::new(RegistrationInput {
            name: id.to_owned(),
            ..input
        })
        .unwrap();
        Client {
            id: ClientId::parse(id).unwrap(),
            secret_hash: Some("hash".to_owned()),
            registration,
            created_at: UnixTime(0),
        }
    }

    fn service(id: &str, scope: &str, audiences: &[&str]) -> Client {
        client(
            id,
            RegistrationInput {
                grant_types: vec!["client_credentials".to_owned()],
                scope: Some(scope.to_owned()),
                audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
                ..RegistrationInput::default()
            },
        )
    }

    fn resource(uri: &str, scopes: &str) -> Resource {
        Resource {
            uri: ResourceUri::parse(uri).unwrap(),
            name: None,
            scopes: ScopeSet::parse(scopes).unwrap(),
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }

    #[test]
    fn the_issuer_userinfo_and_client_audiences_are_not_resource_identifiers() {
        let issuer = Issuer::parse("https://id.example").unwrap();
        let clients = [service("batch", "jobs:run", &["https://jobs.example"])];
        let uri = |u: &str| ResourceUri::parse(u).unwrap();
        for taken in [
            "https://id.example",
            "https://id.example/",
            "https://id.example/userinfo",
            "https://jobs.example",
        ] {
            assert!(
                reserved(&uri(taken), &issuer, &clients).is_some(),
                "{taken}"
            );
        }
        let why = reserved(&uri("https://jobs.example"), &issuer, &clients).unwrap();
        assert!(why.contains("batch"), "{why}");
        for free in ["https://id.example/api", "https://api.example", "urn:x:api"] {
            assert_eq!(reserved(&uri(free), &issuer, &clients), None, "{free}");
        }
    }

    #[test]
    fn reach_lists_the_clients_that_hold_one_of_the_resources_scopes() {
        let clients = [
            service("batch", "invoices:read jobs:run", &[]),
            service("other", "jobs:run", &[]),
            client(
                "web",
                RegistrationInput {
                    scope: Some("openid invoices:write".to_owned()),
                    ..registration()
                },
            ),
            client("plain", registration()),
        ];
        let r = resource("https://invoices.example", "invoices:read invoices:write");
        let reach = reach(&r, &clients);
        let ids = |v: &[&Client]| v.iter().map(|c| c.id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&reach.service), ["batch"]);
        assert_eq!(ids(&reach.on_behalf), ["web"]);
        assert_eq!(
            super::reach(&resource("https://x.example", "x:y"), &clients),
            Reach::default()
        );
    }
}
