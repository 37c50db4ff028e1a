//! Client authentication's decision at the token, revocation and introspection
//! endpoints (RFC 6749 §2.3): which credentials a request presents — `client_secret_basic`
//! (the `Authorization` header, already read by the HTTP crate), `client_secret_post`, or
//! `none` for a public client — and whether they authenticate a registered client. A
//! client must use the method it was registered with.
//!
//! Every refusal is a fixed description; whether the client tried Basic (for the
//! `WWW-Authenticate` challenge) is the HTTP crate's to know: it read the header.

use usher_domain::authorize::RawParams;
use usher_domain::{AuthMethod, Client, ClientId, ProtocolError};

use crate::Core;
use crate::failure::Failure;
use crate::grants::single;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: AuthMethod,
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
