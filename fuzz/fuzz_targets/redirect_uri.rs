//! Fuzzes redirect-URI registration and matching: any accepted URI matches itself, and
//! a registered https URI matches nothing but itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_domain::RedirectUri;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = RedirectUri::parse(s) {
        assert!(uri.matches(s));
    }
    if let Ok(registered) = RedirectUri::parse("https://app.example/cb") {
        assert_eq!(registered.matches(s), s == "https://app.example/cb");
    }
    if let Ok(loopback) = RedirectUri::parse("http://127.0.0.1/cb") {
        if loopback.matches(s) {
            let url = url::Url::parse(s).ok();
            assert_eq!(url.as_ref().and_then(|u| u.host_str()), Some("127.0.0.1"));
            assert_eq!(url.as_ref().map(|u| u.path()), Some("/cb"));
        }
    }
});
