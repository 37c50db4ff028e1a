//! Fuzzes the token endpoint's edge: form decoding of the body, and the Basic
//! credentials of the `Authorization` header (the same bytes as a header value).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = usher_http::params::decode(data);
    if let Ok(header) = std::str::from_utf8(data) {
        let _ = usher_http::basic_credentials(header);
    }
});
