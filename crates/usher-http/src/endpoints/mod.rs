//! One module per endpoint.

pub mod account;
pub mod account_apps;
pub mod account_password;
pub mod account_profile;
pub mod account_sessions;
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
pub mod passkey_login;
pub mod passkey_options;
pub mod password;
pub mod recovery_codes;
pub mod register;
pub mod revoke;
pub mod second_factor;
pub mod second_factor_passkey;
pub mod signup;
pub mod token;
pub mod userinfo;
