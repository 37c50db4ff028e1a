//! Fuzzes redirect-URI registration and matching: any accepted URI matches itself, a
//! registered https URI matches nothing but itself, and whatever a registered URI matches
//! (within the length a request parameter may have) reads back as a `RedirectUri`, as
//! `resolve_redirect_uri` and the stored interactions need.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_domain::RedirectUri;
use usher_domain::authorize::MAX_PARAM_LEN;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = RedirectUri::parse(s) {
        assert!(uri.matches(s));
    }
    // A request's longer `redirect_uri` is refused before it is matched.
    let reads_back = |registered: &RedirectUri| {
        if s.len() <= MAX_PARAM_LEN && registered.matches(s) {
            assert!(
                s.parse::<RedirectUri>().is_ok(),
                "{s:?} matches {registered} but does not parse"
            );
        }
    };
    if let Ok(registered) = RedirectUri::parse("https://app.example/cb") {
        assert_eq!(registered.matches(s), s == "https://app.example/cb");
        reads_back(&registered);
    }
    if let Ok(loopback) = RedirectUri::parse("http://127.0.0.1/cb") {
        reads_back(&loopback);
        if loopback.matches(s) {
            let url = url::Url::parse(s).ok();
            assert_eq!(url.as_ref().and_then(|u| u.host_str()), Some("127.0.0.1"));
            assert_eq!(url.as_ref().map(|u| u.path()), Some("/cb"));
        }
    }
});
