//! Property-based tests of the HTTP edge's parsers of untrusted input: form and query
//! decoding (`params::decode`), HTTP Basic client credentials, and the client address
//! read from forwarding headers (`client_address::resolve`). They never panic, they
//! round-trip what a correct client sends, and they refuse what is malformed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use usher_http::params::{ParamError, decode};
use usher_http::{BasicError, basic_credentials};

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn decoding_any_bytes_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(pairs) = decode(&raw) {
            // Every `&`-separated non-empty piece became exactly one pair.
            let pieces = raw.split(|b| *b == b'&').filter(|p| !p.is_empty()).count();
            prop_assert_eq!(pairs.len(), pieces);
        }
    }

    #[test]
    fn what_a_client_encodes_decodes_to_the_same_pairs(
        pairs in proptest::collection::vec((".{0,20}", ".{0,40}"), 0..10)
    ) {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            s.append_pair(k, v);
        }
        let encoded = s.finish();
        let decoded = decode(encoded.as_bytes()).unwrap();
        let expected: Vec<(String, String)> = pairs.clone();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn percent_encoded_invalid_utf8_is_refused(prefix in "[a-z]{0,8}", byte in 0x80u8..=0xff) {
        // A lone byte >= 0x80 is never valid UTF-8 on its own.
        let raw = format!("{prefix}=%{byte:02X}");
        prop_assert_eq!(decode(raw.as_bytes()), Err(ParamError::BadEncoding));
    }

    #[test]
    fn basic_credentials_never_panic(header in ".{0,200}") {
        let _ = basic_credentials(&header);
    }

    #[test]
    fn basic_credentials_round_trip(id in ".{0,40}", secret in ".{0,80}", scheme in "(Basic|basic|BASIC)") {
        let encoded = STANDARD.encode(format!("{}:{}", form_encode(&id), form_encode(&secret)));
        prop_assert_eq!(
            basic_credentials(&format!("{scheme} {encoded}")),
            Ok((id, secret))
        );
    }

    #[test]
    fn other_schemes_and_garbage_are_refused(token in "[A-Za-z0-9+/=]{0,60}", scheme in "(Bearer|Digest|Negotiate|)") {
        prop_assert_eq!(basic_credentials(&format!("{scheme} {token}")), Err(BasicError::NotBasic));
        // Base64 of text with no colon is malformed.
        let no_colon = STANDARD.encode(token.replace(':', ""));
        prop_assert_eq!(basic_credentials(&format!("Basic {no_colon}")), Err(BasicError::Malformed));
    }
}

mod client_address {
    use std::net::{IpAddr, Ipv4Addr};

    use proptest::prelude::*;
    use usher_core::client_address::{Cidr, ClientAddress, TrustedProxies, resolve};

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![Cidr::parse("10.0.0.0/24").unwrap()])
    }

    const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    const PUBLIC_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Any header values: no panic; an untrusted peer is always itself.
        #[test]
        fn any_headers_never_panic_and_an_untrusted_peer_is_itself(
            forwarded in proptest::option::of(".{0,120}"),
            xff in proptest::option::of("[0-9a-f:.,\\[\\] \"=;_]{0,120}"),
        ) {
            let _ = resolve(Some(PROXY), forwarded.as_deref(), xff.as_deref(), &proxies());
            prop_assert_eq!(
                resolve(Some(PUBLIC_PEER), forwarded.as_deref(), xff.as_deref(), &proxies()),
                ClientAddress::Ip(PUBLIC_PEER)
            );
        }

        /// Whatever a client writes before the address its proxy appends, the appended
        /// address is the client: in X-Forwarded-For and in Forwarded alike.
        #[test]
        fn a_client_cannot_choose_its_address_through_a_trusted_proxy(
            client_wrote in ".{0,80}",
            a in 11u8..=223, b: u8, c: u8, d in 1u8..=254,
        ) {
            let real = IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            let xff = format!("{client_wrote}, {real}");
            prop_assert_eq!(
                resolve(Some(PROXY), None, Some(&xff), &proxies()),
                ClientAddress::Ip(real)
            );
            let forwarded = format!("{client_wrote}, for={real};proto=https");
            prop_assert_eq!(
                resolve(Some(PROXY), Some(&forwarded), None, &proxies()),
                ClientAddress::Ip(real)
            );
        }
    }
}
