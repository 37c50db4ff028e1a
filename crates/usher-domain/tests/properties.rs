//! Property-based tests of the domain's parsers of untrusted input: authorization
//! request parameters, redirect URIs and web origins. They never panic on any input, and they reject
//! what they must (missing PKCE, repeats, non-`code` response types, redirect URIs that
//! differ from the registered one in anything but a loopback port), and whatever a
//! registered redirect URI matches reads back as a `RedirectUri`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use usher_domain::authorize::{
    AuthorizationRequest, MAX_PARAM_LEN, Params, RawParams, identify_client,
};
use usher_domain::client::{ClientRegistration, RegistrationInput};
use usher_domain::{Client, ClientId, Origin, RedirectUri, UnixTime};

const NAMES: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "request",
    "response_mode",
];
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client(pkce_optional: bool) -> Client {
    Client {
        id: ClientId::parse("app").unwrap(),
        secret_hash: None,
        registration: ClientRegistration::new(RegistrationInput {
            name: "App".into(),
            public: false,
            redirect_uris: vec!["https://app.example/cb".into()],
            pkce_optional,
            ..Default::default()
        })
        .unwrap(),
        created_at: UnixTime(0),
    }
}

/// A value: mostly plausible ones, sometimes anything (long, unicode, control chars).
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("code".to_owned()),
        Just("app".to_owned()),
        Just("openid profile".to_owned()),
        Just("S256".to_owned()),
        Just("plain".to_owned()),
        Just(CHALLENGE.to_owned()),
        Just("none login consent".to_owned()),
        Just(String::new()),
        "[0-9]{1,25}",
        ".{0,64}",
        proptest::collection::vec(any::<char>(), 0..3000)
            .prop_map(|v| v.into_iter().collect::<String>()),
    ]
}

fn raw_params() -> impl Strategy<Value = RawParams> {
    proptest::collection::vec(
        (
            prop_oneof![
                proptest::sample::select(NAMES).prop_map(str::to_owned),
                ".{0,12}"
            ],
            value(),
        ),
        0..16,
    )
}

fn repeated(raw: &RawParams, name: &str) -> bool {
    raw.iter().filter(|(k, _)| k == name).count() > 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn authorization_requests_never_panic_and_reject_what_they_must(
        raw in raw_params(),
        pkce_optional in any::<bool>(),
    ) {
        let params = Params::new(&raw);
        let _ = identify_client(&params);
        let c = client(pkce_optional);
        let result = AuthorizationRequest::parse(&params, &c, RedirectUri::parse("https://app.example/cb").unwrap(), true);
        if let Ok(r) = result {
            let sent = |name: &str| raw.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
            prop_assert_eq!(sent("response_type"), Some("code"));
            for name in NAMES {
                prop_assert!(!repeated(&raw, name), "{} was repeated but accepted", name);
            }
            if !pkce_optional {
                prop_assert!(r.code_challenge.is_some(), "PKCE is required");
            }
            if r.code_challenge.is_some() {
                prop_assert_eq!(sent("code_challenge_method"), Some("S256"));
            }
            prop_assert_eq!(r.state.as_deref(), sent("state").filter(|s| !s.is_empty()));
        }
    }

    #[test]
    fn redirect_uris_never_panic_and_accept_only_safe_shapes(raw in ".{0,200}") {
        if let Ok(uri) = RedirectUri::parse(&raw) {
            prop_assert!(!raw.contains('#'));
            let url = url::Url::parse(&raw).unwrap();
            prop_assert!(url.username().is_empty() && url.password().is_none());
            prop_assert!(matches!(url.scheme(), "https" | "http") || url.scheme().contains('.'));
            prop_assert!(uri.matches(&raw), "a URI matches itself");
        }
    }

    #[test]
    fn an_https_redirect_uri_matches_only_itself(presented in ".{0,80}", suffix in "[a-z/?=&.:0-9]{0,12}") {
        let registered = RedirectUri::parse("https://app.example/cb").unwrap();
        prop_assert_eq!(registered.matches(&presented), presented == "https://app.example/cb");
        let near = format!("https://app.example/cb{suffix}");
        prop_assert_eq!(registered.matches(&near), suffix.is_empty());
    }

    #[test]
    fn a_loopback_redirect_uri_lets_only_the_port_vary(
        port in 1u16..,
        presented in "http://(127\\.0\\.0\\.1|localhost|\\[::1\\]|127\\.0\\.0\\.2|evil\\.example)(:[0-9]{1,5})?/(cb|cb2|cb/x)(\\?a=1)?",
    ) {
        let registered = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        let with_port = format!("http://127.0.0.1:{port}/cb");
        prop_assert!(registered.matches(&with_port));
        if registered.matches(&presented) {
            let url = url::Url::parse(&presented).unwrap();
            prop_assert_eq!(url.host_str(), Some("127.0.0.1"));
            prop_assert_eq!(url.path(), "/cb");
            prop_assert_eq!(url.query(), None);
        }
    }

    /// `resolve_redirect_uri` keeps a presented URI that matches a registered one without
    /// being it (another loopback port, another spelling of the address), and stored
    /// interactions, forms and codes read it back through `FromStr` and serde: whatever a
    /// registered URI matches must parse, and round-trip through JSON unchanged.
    #[test]
    fn whatever_a_registered_uri_matches_parses_and_round_trips(
        registered in prop::sample::select(vec![
            "https://app.example/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "com.example.app:/cb",
        ]),
        presented in prop_oneof![
            "[ \t]?(http|HTTP|hTtP)://(user@)?(127\\.0\\.0\\.1|127\\.1|0x7f\\.0\\.0\\.1|2130706433|\\[::1\\]|\\[0:0::1\\]|localhost)(:[0-9]{0,5})?(/cb|/\\./cb|/x/\\.\\./cb|/c\tb|/%63b)(#)?[ \n]?",
            ".{0,80}",
        ],
        exact in any::<bool>(),
    ) {
        let uri = RedirectUri::parse(registered).unwrap();
        let presented = if exact { registered.to_owned() } else { presented };
        // A longer `redirect_uri` is refused before it is matched.
        if presented.len() <= MAX_PARAM_LEN && uri.matches(&presented) {
            let parsed = presented.parse::<RedirectUri>();
            prop_assert!(parsed.is_ok(), "{:?} matches {} but does not parse", presented, registered);
            let parsed = parsed.unwrap();
            prop_assert_eq!(parsed.as_str(), presented.as_str());
            let json = serde_json::to_string(&parsed).unwrap();
            let back: RedirectUri = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, parsed);
        }
    }

    /// `Origin::parse` (the `Origin` header, `--allowed-origin`) never panics; what it
    /// accepts is scheme://host[:port] only, already normalised (parsing it again gives
    /// itself), and is its own origin as a URL.
    #[test]
    fn origins_never_panic_and_accept_only_normalised_tuple_origins(
        raw in prop_oneof![".{0,120}", "(?i)(https?)://[a-z0-9.:\\[\\]@/?#%-]{0,40}"],
    ) {
        if let Ok(origin) = Origin::parse(&raw) {
            let s = origin.as_str();
            prop_assert!(s.starts_with("https://") || s.starts_with("http://"), "{}", s);
            let rest = s.split_once("://").unwrap().1;
            prop_assert!(!rest.contains('/') && !rest.contains('@') && !rest.contains('?') && !rest.contains('#'), "{}", s);
            prop_assert_eq!(Origin::parse(s), Ok(origin.clone()));
            prop_assert_eq!(Origin::of_url(s), Some(origin.clone()));
            prop_assert!(!s.ends_with(":443") || !s.starts_with("https://"), "{}", s);
            prop_assert!(!s.ends_with(":80") || !s.starts_with("http://"), "{}", s);
        }
    }
}
