//! Property-based tests of JWT verification (`KeyRing::verify_jwt`), the parser that
//! userinfo and introspection run on tokens presented by anyone: it never panics on any
//! string, any three-segment shape or any header, and it rejects every token that is not
//! exactly one the ring signed — one changed character anywhere is enough.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use usher_domain::{KeyState, UnixTime};
use usher_keys::{Kek, KeyRing, generate_signing_key};

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let kek = Kek::generate().unwrap();
        let key =
            generate_signing_key(&kek, 2048, KeyState::Active, UnixTime(1_700_000_000)).unwrap();
        KeyRing::from_records(&[key], &kek).unwrap()
    })
}

fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let Value::Object(claims) =
            json!({"iss": "https://id.example", "sub": "u", "exp": 4_000_000_000u64})
        else {
            unreachable!()
        };
        ring().sign_jwt("at+jwt", &claims).unwrap()
    })
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn header() -> impl Strategy<Value = Value> {
    let alg = prop_oneof![
        Just(json!("RS256")),
        Just(json!("none")),
        Just(json!("HS256")),
        Just(json!("rs256")),
        Just(json!(null)),
        Just(json!(1)),
    ];
    let kid = prop_oneof![
        Just(json!(ring().active_kid())),
        Just(json!("other")),
        Just(json!(null)),
        Just(json!(["a"])),
    ];
    let crit = prop_oneof![Just(None), Just(Some(json!(["exp"])))];
    (alg, kid, crit).prop_map(|(alg, kid, crit)| {
        let mut h = Map::new();
        h.insert("alg".into(), alg);
        h.insert("kid".into(), kid);
        if let Some(c) = crit {
            h.insert("crit".into(), c);
        }
        Value::Object(h)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_string_is_refused_without_panicking(s in ".{0,400}") {
        prop_assert!(ring().verify_jwt(&s).is_err());
    }

    #[test]
    fn any_three_segments_are_refused_without_panicking(
        a in "[A-Za-z0-9_=+/-]{0,80}", b in "[A-Za-z0-9_=+/-]{0,80}", c in "[A-Za-z0-9_=+/-]{0,400}"
    ) {
        let token = format!("{a}.{b}.{c}");
        prop_assert!(ring().verify_jwt(&token).is_err());
    }

    #[test]
    fn forged_headers_with_a_real_signature_are_refused(h in header()) {
        let mut parts = token().split('.');
        let (_, payload, sig) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let forged = format!("{}.{payload}.{sig}", b64(&h));
        prop_assert!(ring().verify_jwt(&forged).is_err(), "{}", h);
    }

    #[test]
    fn one_changed_character_anywhere_is_refused(at in any::<prop::sample::Index>(), c in "[A-Za-z0-9_.-]") {
        let t = token();
        prop_assert!(ring().verify_jwt(t).is_ok());
        let i = at.index(t.len());
        let mut changed = t.to_owned();
        changed.replace_range(i..=i, &c);
        if changed != t {
            // Base64url's last character may carry unused bits; decoding then yields the
            // same bytes, which is the same token, not a forgery.
            let same_bytes = {
                let dec = |s: &str| s.split('.').map(|p| URL_SAFE_NO_PAD.decode(p).ok()).collect::<Vec<_>>();
                dec(&changed) == dec(t)
            };
            if !same_bytes {
                prop_assert!(ring().verify_jwt(&changed).is_err(), "position {}", i);
            }
        }
    }
}
