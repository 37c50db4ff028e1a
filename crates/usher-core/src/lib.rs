//! The authorization server's decisions, without a web framework.
//!
//! This crate owns what Usher decides: the grants of the token endpoint, client
//! authentication given the presented credentials as values, minting access and ID
//! tokens, the sign-in flow's decisions, the login throttle, and the verifiers of access
//! tokens and `id_token_hint`s. Every decision takes the request as values and the node
//! as a [`Core`] (settings, clock, keys, stores), and returns a typed outcome; the HTTP
//! crate (`usher-http`) extracts parameters and cookies, calls in here, and renders JSON,
//! redirects and pages.
//!
//! It depends on `usher-domain`, `usher-keys` and the storage ports, never on actix-web
//! or askama: CI checks that with `cargo tree` (docs/ARCHITECTURE.md).

pub mod access_token;
pub mod account;
pub mod admin;
pub mod admin_console;
pub mod audit;
pub mod backchannel;
pub mod browsers;
pub mod cache;
pub mod client_address;
pub mod client_auth;
pub mod client_metadata;
mod core;
pub mod cors;
pub mod counted;
pub mod everywhere;
pub mod failure;
pub mod grants;
pub mod groups;
pub mod id_token_hint;
pub mod introspection;
pub mod keys;
pub mod lineage;
pub mod logout;
pub mod mail;
pub mod metrics;
pub mod mfa;
pub mod outbound;
pub mod passkeys;
pub mod passwords;
mod redact;
pub mod refresh_tokens;
pub mod registration;
pub mod resource_registry;
pub mod resources;
pub mod revocation;
pub mod sign_in;
pub mod signup;
pub mod throttle;
pub mod tokens;
pub mod upstream;
pub mod userinfo;

#[cfg(test)]
pub mod testing;

pub use crate::core::{
    Clock, Core, Inactive, RefreshSettings, RegistrationSettings, Settings, Stores, SystemClock,
    USERINFO_PATH, secret_pair, standing,
};
pub use failure::{Failure, blocking};
pub use keys::PublishedKeys;
