//! One module per endpoint.

pub mod discovery;
pub mod health;
pub mod jwks;
