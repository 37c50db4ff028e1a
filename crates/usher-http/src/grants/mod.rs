//! One module per grant type of the token endpoint.

pub mod authorization_code;
