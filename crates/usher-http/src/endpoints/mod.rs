//! One module per endpoint.

pub mod account;
pub mod assets;
pub mod authorize;
pub mod consent;
pub mod discovery;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod metrics;
pub mod revoke;
pub mod token;
pub mod userinfo;
