//! Client authentication's decision at the token, revocation and introspection
//! endpoints (RFC 6749 §2.3): which credentials a request presents — `client_secret_basic`
//! (the `Authorization` header, already read by the HTTP crate), `client_secret_post`, or
//! `none` for a public client — and whether they authenticate a registered client. A
//! client must use the method it was registered with.
//!
//! Every refusal is a fixed description; whether the client tried Basic (for the
//! `WWW-Authenticate` challenge) is the HTTP crate's to know: it read the header.

use usher_domain::authorize::{RawParams, single};
use usher_domain::{AuthMethod, Client, ClientId, ProtocolError};

use crate::Core;
use crate::failure::Failure;
use crate::redact::redacted;

/// Why an `Authorization` header is not usable Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicError {
    /// Another scheme (or none).
    NotBasic,
    /// Not base64, not UTF-8, no colon, or a bad form-encoding of either part.
    Malformed,
}

/// The `Authorization` header as the HTTP crate read it: Basic credentials (client id
/// and secret, form-decoded), or why they are not usable.
pub type BasicHeader = Result<(String, String), BasicError>;

/// Credentials as presented: who claims to be the client, with what, by which method.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: AuthMethod,
}

/// Never shows the secret, so a `{:?}` cannot put it in a log.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("secret", &redacted(&self.secret))
            .field("method", &self.method)
            .finish()
    }
}

/// Why a client is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthError {
    /// The request is refused: `invalid_client` or `invalid_request`, with a fixed
    /// description.
    Refused {
        error: ProtocolError,
        description: &'static str,
    },
    /// The server, not the client, failed.
    Failure(Failure),
}

fn refuse(error: ProtocolError, description: &'static str) -> ClientAuthError {
    ClientAuthError::Refused { error, description }
}

/// The description of a refusal of unknown ids, wrong secrets and wrong methods alike.
pub const AUTHENTICATION_FAILED: &str = "client authentication failed";

impl Credentials {
    /// The credentials a request presents: the `Authorization` header (`None` when
    /// absent) and the form's `client_id` / `client_secret`. Basic and a body secret
    /// together, a body `client_id` other than Basic's, repeated credentials and no
    /// credentials at all are refused.
    pub fn presented(
        header: Option<BasicHeader>,
        form: &RawParams,
    ) -> Result<Credentials, ClientAuthError> {
        // The endpoints refuse every repeat before they get here; this keeps a future
        // caller that lets other names repeat from reading credentials out of a repeated
        // pair.
        let repeated = |name: &str| form.iter().filter(|(k, _)| k == name).count() > 1;
        if repeated("client_id") || repeated("client_secret") {
            return Err(refuse(
                ProtocolError::InvalidRequest,
                "client_id or client_secret is repeated",
            ));
        }
        let body_id = single(form, "client_id");
        let body_secret = single(form, "client_secret");
        if let Some(header) = header {
            let (id, secret) = header.map_err(|e| {
                refuse(
                    ProtocolError::InvalidClient,
                    match e {
                        BasicError::NotBasic => {
                            "the Authorization header must use the Basic scheme"
                        }
                        BasicError::Malformed => "the Basic credentials are malformed",
                    },
                )
            })?;
            if body_secret.is_some() {
                return Err(refuse(
                    ProtocolError::InvalidRequest,
                    "use one client authentication method, not Basic and client_secret together",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(refuse(
                    ProtocolError::InvalidRequest,
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            return Ok(Credentials {
                client_id: id,
                secret: Some(secret),
                method: AuthMethod::ClientSecretBasic,
            });
        }
        let Some(id) = body_id else {
            return Err(refuse(
                ProtocolError::InvalidClient,
                "client authentication is missing: use HTTP Basic, client_secret_post, or client_id for a public client",
            ));
        };
        Ok(Credentials {
            client_id: id.to_owned(),
            secret: body_secret.map(str::to_owned),
            method: match body_secret {
                Some(_) => AuthMethod::ClientSecretPost,
                None => AuthMethod::None,
            },
        })
    }
}

/// Authenticates the client `presented` names: it must exist, be registered for the
/// method used, and (confidential) the secret must verify, or (public) no secret be sent.
pub async fn authenticate(core: &Core, presented: &Credentials) -> Result<Client, ClientAuthError> {
    let unknown = || refuse(ProtocolError::InvalidClient, AUTHENTICATION_FAILED);
    let Some(id) = ClientId::parse(&presented.client_id) else {
        return Err(unknown());
    };
    let accepts = |client: &Client| {
        client.registration.auth_method == presented.method
            && match (&presented.secret, &client.secret_hash) {
                (None, None) => client.is_public(),
                (Some(secret), Some(hash)) => core.secrets.verify(secret, hash),
                _ => false,
            }
    };
    // This node's copy first (no store call). If it refuses, it may be a moment old (a
    // secret rotated just now): the store decides, exactly as without a copy.
    if let Some(c) = core.remembered_client(&id)
        && accepts(&c)
    {
        return Ok(c);
    }
    let client = match core.reload_client(&id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            // Spend what a real check spends, so timing does not reveal unknown ids.
            if let Some(s) = &presented.secret {
                let _ = core
                    .secrets
                    .verify(s, "hmac-sha256.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
            }
            return Err(unknown());
        }
        Err(f) => return Err(ClientAuthError::Failure(f)),
    };
    if accepts(&client) {
        return Ok(client);
    }
    if client.registration.auth_method != presented.method {
        tracing::info!(client_id = %client.id, "client used an authentication method it is not registered for");
    } else {
        tracing::info!(client_id = %client.id, "client authentication failed");
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use usher_domain::RegistrationInput;

    use super::*;
    use crate::testing::{TestNode, form};

    fn basic(id: &str, secret: &str) -> Option<BasicHeader> {
        Some(Ok((id.to_owned(), secret.to_owned())))
    }

    fn refused(error: ProtocolError, description: &'static str) -> ClientAuthError {
        ClientAuthError::Refused { error, description }
    }

    fn credentials(id: &str, secret: Option<&str>, method: AuthMethod) -> Credentials {
        Credentials {
            client_id: id.to_owned(),
            secret: secret.map(str::to_owned),
            method,
        }
    }

    /// A node with a Basic client `web`, a client_secret_post client `post`, and a
    /// public client `spa`.
    fn node() -> TestNode {
        let node = TestNode::new();
        let code = |public: bool, method: Option<&str>| RegistrationInput {
            public,
            auth_method: method.map(str::to_owned),
            redirect_uris: vec!["https://app.example/cb".to_owned()],
            ..RegistrationInput::default()
        };
        node.client("web", code(false, None));
        node.client("post", code(false, Some("client_secret_post")));
        node.client("spa", code(true, None));
        node
    }

    #[test]
    fn the_method_is_read_from_where_the_credentials_are() {
        assert_eq!(
            Credentials::presented(basic("web", "s"), &form(&[])),
            Ok(credentials("web", Some("s"), AuthMethod::ClientSecretBasic))
        );
        // The body may repeat Basic's client_id.
        assert_eq!(
            Credentials::presented(basic("web", "s"), &form(&[("client_id", "web")])),
            Ok(credentials("web", Some("s"), AuthMethod::ClientSecretBasic))
        );
        assert_eq!(
            Credentials::presented(
                None,
                &form(&[("client_id", "post"), ("client_secret", "s")])
            ),
            Ok(credentials("post", Some("s"), AuthMethod::ClientSecretPost))
        );
        assert_eq!(
            Credentials::presented(None, &form(&[("client_id", "spa")])),
            Ok(credentials("spa", None, AuthMethod::None))
        );
    }

    #[test]
    fn no_credentials_at_all_is_invalid_client() {
        let missing = refused(
            ProtocolError::InvalidClient,
            "client authentication is missing: use HTTP Basic, client_secret_post, or client_id for a public client",
        );
        assert_eq!(Credentials::presented(None, &form(&[])), Err(missing));
        // A secret without an id names no client either.
        assert_eq!(
            Credentials::presented(None, &form(&[("client_secret", "s")])),
            Err(missing)
        );
    }

    #[test]
    fn an_unusable_authorization_header_is_invalid_client() {
        assert_eq!(
            Credentials::presented(Some(Err(BasicError::NotBasic)), &form(&[])),
            Err(refused(
                ProtocolError::InvalidClient,
                "the Authorization header must use the Basic scheme"
            ))
        );
        assert_eq!(
            Credentials::presented(Some(Err(BasicError::Malformed)), &form(&[])),
            Err(refused(
                ProtocolError::InvalidClient,
                "the Basic credentials are malformed"
            ))
        );
    }

    #[test]
    fn basic_with_a_body_secret_or_another_body_client_id_is_invalid_request() {
        assert_eq!(
            Credentials::presented(basic("web", "s"), &form(&[("client_secret", "s")])),
            Err(refused(
                ProtocolError::InvalidRequest,
                "use one client authentication method, not Basic and client_secret together"
            ))
        );
        assert_eq!(
            Credentials::presented(basic("web", "s"), &form(&[("client_id", "other")])),
            Err(refused(
                ProtocolError::InvalidRequest,
                "client_id in the body differs from the Basic credentials"
            ))
        );
    }

    #[test]
    fn repeated_credentials_are_invalid_request() {
        let repeated = refused(
            ProtocolError::InvalidRequest,
            "client_id or client_secret is repeated",
        );
        for f in [
            form(&[("client_id", "spa"), ("client_id", "spa")]),
            form(&[
                ("client_id", "post"),
                ("client_secret", "a"),
                ("client_secret", "b"),
            ]),
        ] {
            assert_eq!(Credentials::presented(None, &f), Err(repeated));
            assert_eq!(Credentials::presented(basic("web", "s"), &f), Err(repeated));
        }
    }

    #[tokio::test]
    async fn a_client_authenticates_with_its_registered_method_and_secret() {
        let node = node();
        for presented in [
            credentials("web", Some("web-secret"), AuthMethod::ClientSecretBasic),
            credentials("post", Some("post-secret"), AuthMethod::ClientSecretPost),
            credentials("spa", None, AuthMethod::None),
        ] {
            let client = authenticate(&node.core, &presented).await.unwrap();
            assert_eq!(client.id.as_str(), presented.client_id);
        }
    }

    #[tokio::test]
    async fn a_wrong_secret_an_unknown_client_or_another_method_fail_alike() {
        let node = node();
        let failed = refused(ProtocolError::InvalidClient, AUTHENTICATION_FAILED);
        for presented in [
            // Wrong secret.
            credentials("web", Some("post-secret"), AuthMethod::ClientSecretBasic),
            // Unknown client, and an id that is no client id at all.
            credentials("nobody", Some("x"), AuthMethod::ClientSecretBasic),
            credentials("", None, AuthMethod::None),
            // The right secret by a method the client is not registered for.
            credentials("web", Some("web-secret"), AuthMethod::ClientSecretPost),
            credentials("post", Some("post-secret"), AuthMethod::ClientSecretBasic),
            // A confidential client without its secret.
            credentials("web", None, AuthMethod::None),
            // A public client with a secret.
            credentials("spa", Some("spa-secret"), AuthMethod::ClientSecretPost),
            credentials("spa", Some(""), AuthMethod::ClientSecretBasic),
        ] {
            assert_eq!(
                authenticate(&node.core, &presented).await,
                Err(failed),
                "{presented:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_rotated_secret_is_checked_against_the_store() {
        use usher_domain::ClientStore;
        let node = node();
        let old = credentials("web", Some("web-secret"), AuthMethod::ClientSecretBasic);
        assert!(authenticate(&node.core, &old).await.is_ok());
        let id = ClientId::parse("web").unwrap();
        node.db
            .set_client_secret_hash(&id, &node.core.secrets.hash("rotated"))
            .unwrap();
        let new = credentials("web", Some("rotated"), AuthMethod::ClientSecretBasic);
        assert!(authenticate(&node.core, &new).await.is_ok());
        assert!(authenticate(&node.core, &old).await.is_err());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let shown = format!(
            "{:?}",
            credentials("web", Some("the-secret"), AuthMethod::ClientSecretBasic)
        );
        assert!(!shown.contains("the-secret"), "{shown}");
    }
}
