//! Fuzzes the authorization request: the bytes are a query string, decoded as
//! `/authorize` decodes it, then both parsing phases run against a client that requires
//! PKCE. Any panic is a finding; an accepted request without PKCE is one too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_domain::authorize::{AuthorizationRequest, Params, identify_client};
use usher_domain::client::{ClientRegistration, RegistrationInput};
use usher_domain::{Client, ClientId, RedirectUri, UnixTime};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = usher_http::params::decode(data) else {
        return;
    };
    let params = Params::new(&raw);
    let _ = identify_client(&params);
    let (Some(id), Ok(registration), Ok(redirect_uri)) = (
        ClientId::parse("app"),
        ClientRegistration::new(RegistrationInput {
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Default::default()
        }),
        RedirectUri::parse("https://app.example/cb"),
    ) else {
        return;
    };
    let client = Client {
        id,
        secret_hash: None,
        registration,
        created_at: UnixTime(0),
    };
    if let Ok(r) = AuthorizationRequest::parse(&params, &client, redirect_uri, true) {
        assert!(r.code_challenge.is_some(), "accepted without PKCE");
    }
});
