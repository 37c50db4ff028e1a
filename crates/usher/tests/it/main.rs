//! Usher's end-to-end tests: each test runs the real `usher` binary in its own
//! directory, against its own database (a fresh SQLite file, or a fresh PostgreSQL
//! database), and talks to it over HTTP on a loopback port it chose itself.

// Test bodies are plain functions called from generated #[test]s, which clippy's
// allow-in-tests settings do not see; a failed unwrap here is a failed test.
// Tests may read the real clock; the code under test takes time as a parameter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod account;
mod admin_api;
mod admin_people;
mod admin_registration;
mod admin_sessions;
mod algorithms;
mod apply;
mod audit;
mod authlib;
mod backchannel;
mod browser;
mod cli;
mod client_credentials;
mod client_metadata;
mod client_show;
mod cluster;
mod config;
mod cors;
mod device;
mod groups;
mod helpers;
mod kek;
mod limits;
mod logout;
mod mail;
mod mfa_admin;
mod ops;
mod pg_restart;
mod profile;
mod readme;
mod redis_keys;
mod refresh;
mod registration;
mod resources;
mod revoke;
mod rotation;
mod serve;
mod signin;
mod signin_edges;
mod signin_errors;
mod signup;
mod token_edges;
mod tryout;
mod upstream_cli;
mod upstream_signin;
