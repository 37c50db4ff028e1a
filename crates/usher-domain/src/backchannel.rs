//! OpenID Connect Back-Channel Logout 1.0: a client's back-channel logout endpoint as
//! registered, which clients got tokens through which browser session, and the durable
//! queue of logout tokens still to deliver (docs/design/accounts.md, "Back-channel
//! logout").
//!
//! The logout token itself is minted at delivery time by the core (fresh `iat`, short
//! `exp`, new `jti` per attempt); the queue keeps only whom to tell what: the client, the
//! person's `sub`, and the session's `sid`.

use std::fmt;

use url::Url;

use crate::client::{ClientId, RegistrationError};
use crate::issuer::is_loopback_host;
use crate::ports::StoreError;
use crate::time::UnixTime;
use crate::user::UserId;

/// A registered `backchannel_logout_uri` (Back-Channel Logout 1.0 §2.2): an absolute
/// `https` URI (or `http` on a loopback host, for development), which may carry a port,
/// path and query but no fragment and no user information. Where it may actually be
/// called is decided again at delivery (the outbound client refuses private addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelLogoutUri(String);

impl BackchannelLogoutUri {
    /// The longest URI a client may register.
    pub const MAX_LEN: usize = 2000;

    pub fn parse(raw: &str) -> Result<BackchannelLogoutUri, RegistrationError> {
        let bad = |why: &'static str| RegistrationError::BadBackchannelLogoutUri {
            uri: raw.to_owned(),
            why,
        };
        if raw.len() > Self::MAX_LEN {
            return Err(bad("it is longer than 2000 characters"));
        }
        if raw.contains('#') {
            return Err(bad("it must not contain a fragment ('#')"));
        }
        let url = Url::parse(raw).map_err(|_| bad("it must be an absolute URI"))?;
        match (url.scheme(), url.host()) {
            ("https", Some(_)) => {}
            ("http", Some(h)) if is_loopback_host(&h) => {}
            _ => {
                return Err(bad(
                    "use https (plain http only for 127.0.0.1, [::1] or localhost)",
                ));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it must not contain a user name or password"));
        }
        Ok(BackchannelLogoutUri(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BackchannelLogoutUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client's back-channel logout registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelLogout {
    pub uri: BackchannelLogoutUri,
    /// `backchannel_logout_session_required`: the client needs `sid` in every logout
    /// token (Usher always sends it when the ending has a session, and `sub` always).
    pub session_required: bool,
}

/// That `client` got tokens through the browser session lineage `lineage_hash`
/// (recorded at the code exchange), so the end of that lineage is told to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClient {
    pub lineage_hash: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    /// The `sid` the client's ID tokens carry for that session.
    pub sid: String,
    pub created_at: UnixTime,
}

/// A logout to tell a client about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogout {
    pub client_id: ClientId,
    pub subject: UserId,
    pub sid: Option<String>,
}

/// A queued logout claimed for delivery by one node: until `lease` ends no other node
/// claims it; only the holder of `claim` may settle it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedLogout {
    pub id: String,
    pub claim: String,
    pub client_id: ClientId,
    pub subject: UserId,
    pub sid: Option<String>,
    /// Failed deliveries so far.
    pub attempts: u32,
}

/// The back-channel logout records: which clients got tokens through which session, and
/// the queue of logouts to deliver. Each taking is one statement (or one transaction) so
/// that two nodes never both take the same rows.
pub trait BackchannelStore: Send + Sync {
    /// Records that `row.client_id` got tokens through `row.lineage_hash` (once).
    fn record_session_client(&self, row: &SessionClient) -> Result<(), StoreError>;
    /// Every record of a person (the account page: which apps got tokens through which
    /// browser), oldest first.
    fn list_session_clients(&self, user: &UserId) -> Result<Vec<SessionClient>, StoreError>;
    /// Takes (deletes) every record of the lineage and queues a logout for each of its
    /// clients that has a back-channel logout URI, due at `now`, in one transaction.
    /// Returns how many were queued.
    fn queue_lineage_logouts(&self, lineage_hash: &str, now: UnixTime)
    -> Result<usize, StoreError>;
    /// The same for every lineage of a person.
    fn queue_user_logouts(&self, user: &UserId, now: UnixTime) -> Result<usize, StoreError>;
    /// Queues one logout (a refresh family revoked for reuse), due at `now`, when the
    /// client has a back-channel logout URI. Returns whether it was queued.
    fn queue_logout(&self, logout: &NewLogout, now: UnixTime) -> Result<bool, StoreError>;
    /// Claims up to `limit` logouts due at `now` (oldest first), leasing them to `claim`
    /// until `lease_until`. PostgreSQL skips rows another node is claiming.
    fn claim_logouts(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        claim: &str,
        limit: usize,
    ) -> Result<Vec<ClaimedLogout>, StoreError>;
    /// Removes a delivered (or given up) logout, if `claim` still holds it.
    fn finish_logout(&self, id: &str, claim: &str) -> Result<bool, StoreError>;
    /// Puts a failed logout back, due at `due_at`, with its attempts counted, if `claim`
    /// still holds it.
    fn retry_logout(&self, id: &str, claim: &str, due_at: UnixTime) -> Result<bool, StoreError>;
    /// How many logouts are queued (for operators and tests).
    fn queued_logouts(&self) -> Result<usize, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http_only() {
        for ok in [
            "https://rp.example/logout",
            "https://rp.example:8443/bcl?tenant=a",
            "http://127.0.0.1:9000/bcl",
            "http://localhost/bcl",
        ] {
            assert!(BackchannelLogoutUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://rp.example/logout",
            "https://rp.example/logout#x",
            "https://user:pw@rp.example/logout",
            "/logout",
            "ftp://rp.example/logout",
            "com.example.app:/logout",
        ] {
            assert!(BackchannelLogoutUri::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://rp.example/{}", "a".repeat(2000));
        assert!(BackchannelLogoutUri::parse(&long).is_err());
    }

    #[test]
    fn a_registration_keeps_the_uri_and_needs_one_for_session_required() {
        use crate::client::{ClientRegistration, RegistrationInput};
        let input = || RegistrationInput {
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..RegistrationInput::default()
        };
        let reg = ClientRegistration::new(RegistrationInput {
            backchannel_logout_uri: Some("https://app.example/bcl".into()),
            backchannel_logout_session_required: true,
            ..input()
        })
        .unwrap();
        let bcl = reg.backchannel_logout.unwrap();
        assert_eq!(bcl.uri.as_str(), "https://app.example/bcl");
        assert!(bcl.session_required);
        assert_eq!(
            ClientRegistration::new(RegistrationInput {
                backchannel_logout_session_required: true,
                ..input()
            }),
            Err(RegistrationError::SessionRequiredWithoutUri)
        );
        assert!(matches!(
            ClientRegistration::new(RegistrationInput {
                backchannel_logout_uri: Some("http://app.example/bcl".into()),
                ..input()
            }),
            Err(RegistrationError::BadBackchannelLogoutUri { .. })
        ));
        assert_eq!(
            ClientRegistration::new(input()).unwrap().backchannel_logout,
            None
        );
    }
}
