//! Web origins (RFC 6454): the `Origin` header a browser sends on a cross-origin request,
//! and the origins a client registers as its own (`--allowed-origin`) for CORS
//! (docs/design/cors.md).
//!
//! An [`Origin`] is a scheme, a host and a port, held in its ASCII serialisation
//! (RFC 6454 §6.2): the scheme and host in lower case, an IPv6 host in brackets, and the
//! port only when it is not the scheme's default (`https://app.example:443` is
//! `https://app.example`). Two origins are the same exactly when their serialisations
//! are, so matching is string equality of normalised values.
//!
//! Parsing is strict: only `http` and `https`, a host, no user information, no path (not
//! even `/`), no query or fragment, nothing but the origin. The opaque origin `null` (a
//! sandboxed frame, a `file:` page, a redirect across origins) is never a valid origin.
//! Only ASCII is accepted: browsers send an internationalised host name in punycode
//! (`https://xn--bcher-kva.example`), and so must an operator register it.

use std::fmt;

use url::Url;

use crate::issuer::is_loopback_host;

/// The longest origin accepted (header or registration).
pub const MAX_ORIGIN_LEN: usize = 300;

/// A tuple origin (scheme, host, port), normalised. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(String);

/// Why a string is not an origin. Each message names the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("`null` is an opaque origin, which no client can own")]
    Null,
    #[error("is not an origin; write it like https://app.example.com (scheme, host and port only)")]
    Malformed,
    #[error("an origin is http or https")]
    Scheme,
    #[error("an origin has no path, not even '/'; write it like https://app.example.com")]
    Path,
    #[error("an origin has no user name or password")]
    UserInfo,
    #[error("an origin has no query or fragment")]
    QueryOrFragment,
    #[error("is longer than 300 characters")]
    TooLong,
    #[error("plain http is allowed only for 127.0.0.1, [::1] or localhost; use https")]
    NotHttps,
    #[error("an origin is exact: '*' and wildcards are not supported; list each origin")]
    Wildcard,
    #[error("write an internationalised host in punycode (xn--…), as browsers send it")]
    NotAscii,
}

impl Origin {
    /// Parses an origin as a browser sends it in `Origin`, or as written by hand: any
    /// `http` or `https` origin, normalised.
    pub fn parse(raw: &str) -> Result<Origin, OriginError> {
        if raw.len() > MAX_ORIGIN_LEN {
            return Err(OriginError::TooLong);
        }
        if raw.eq_ignore_ascii_case("null") {
            return Err(OriginError::Null);
        }
        if raw.contains('*') {
            return Err(OriginError::Wildcard);
        }
        if !raw.is_ascii() {
            return Err(OriginError::NotAscii);
        }
        if raw.is_empty() || raw.bytes().any(|b| b <= b' ' || b >= 0x7f || b == b'\\') {
            return Err(OriginError::Malformed);
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(OriginError::Malformed);
        };
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return Err(OriginError::Scheme);
        }
        if rest.contains('@') {
            return Err(OriginError::UserInfo);
        }
        if rest.contains('?') || rest.contains('#') {
            return Err(OriginError::QueryOrFragment);
        }
        if rest.contains('/') {
            return Err(OriginError::Path);
        }
        let url = Url::parse(raw).map_err(|_| OriginError::Malformed)?;
        if url.host().is_none() {
            return Err(OriginError::Malformed);
        }
        match url.origin() {
            o @ url::Origin::Tuple(..) => Ok(Origin(o.ascii_serialization())),
            url::Origin::Opaque(_) => Err(OriginError::Malformed),
        }
    }

    /// An origin a client may register: [`Origin::parse`], and `https` unless the host
    /// is a loopback address or `localhost` (the same rule as redirect URIs).
    pub fn parse_registered(raw: &str) -> Result<Origin, OriginError> {
        let origin = Origin::parse(raw)?;
        if origin.is_https() || origin.is_loopback() {
            Ok(origin)
        } else {
            Err(OriginError::NotHttps)
        }
    }

    /// The origin of an absolute `http`/`https` URL (a redirect URI, the issuer); `None`
    /// for any other scheme.
    pub fn of_url(raw: &str) -> Option<Origin> {
        let url = Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        match url.origin() {
            o @ url::Origin::Tuple(..) => Some(Origin(o.ascii_serialization())),
            url::Origin::Opaque(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host().map(|h| is_loopback_host(&h)))
            .unwrap_or(false)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a request said about its origin: no `Origin` header (not a browser's
/// cross-origin request, or a same-origin `GET`), a valid origin, or a header that is
/// not one (`null`, garbage, several values). Parsed at the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedOrigin {
    Absent,
    Valid(Origin),
    Invalid,
}

impl PresentedOrigin {
    /// From the `Origin` header's values (none, one, or — never from a browser — more).
    pub fn from_header_values<'a>(mut values: impl Iterator<Item = Option<&'a str>>) -> Self {
        let Some(first) = values.next() else {
            return PresentedOrigin::Absent;
        };
        if values.next().is_some() {
            return PresentedOrigin::Invalid;
        }
        match first.map(Origin::parse) {
            Some(Ok(origin)) => PresentedOrigin::Valid(origin),
            _ => PresentedOrigin::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_normalised_to_scheme_host_and_a_non_default_port() {
        for (raw, want) in [
            ("https://app.example", "https://app.example"),
            ("HTTPS://App.Example", "https://app.example"),
            ("https://app.example:443", "https://app.example"),
            ("http://127.0.0.1:80", "http://127.0.0.1"),
            ("https://app.example:8443", "https://app.example:8443"),
            ("http://localhost:5173", "http://localhost:5173"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://[0:0:0:0:0:0:0:1]:8080", "http://[::1]:8080"),
            (
                "https://xn--bcher-kva.example",
                "https://xn--bcher-kva.example",
            ),
        ] {
            assert_eq!(Origin::parse(raw).unwrap().as_str(), want, "{raw}");
        }
        assert_eq!(
            Origin::parse("https://app.example:443").unwrap(),
            Origin::parse("https://APP.example").unwrap()
        );
        assert_ne!(
            Origin::parse("https://app.example").unwrap(),
            Origin::parse("http://app.example").unwrap()
        );
        assert_ne!(
            Origin::parse("http://localhost:1").unwrap(),
            Origin::parse("http://localhost:2").unwrap()
        );
    }

    #[test]
    fn null_paths_user_information_and_other_schemes_are_refused() {
        for (raw, why) in [
            ("null", OriginError::Null),
            ("NULL", OriginError::Null),
            ("", OriginError::Malformed),
            ("app.example", OriginError::Malformed),
            ("https://", OriginError::Malformed),
            ("https:// app.example", OriginError::Malformed),
            ("https://app.example ", OriginError::Malformed),
            ("https://app.example/", OriginError::Path),
            ("https://app.example/cb", OriginError::Path),
            ("https://app.example?x", OriginError::QueryOrFragment),
            ("https://app.example#x", OriginError::QueryOrFragment),
            ("https://user@app.example", OriginError::UserInfo),
            ("https://user:pw@app.example", OriginError::UserInfo),
            ("ftp://app.example", OriginError::Scheme),
            ("file://app.example", OriginError::Scheme),
            ("javascript://app.example", OriginError::Scheme),
            ("https://app.example:99999", OriginError::Malformed),
            ("https://app.example\\evil", OriginError::Malformed),
            // Browsers send a host name in punycode; so must an operator.
            ("https://bücher.example", OriginError::NotAscii),
            // Exact origins only: a wildcard would be a literal that matches nothing.
            ("*", OriginError::Wildcard),
            ("https://*.example", OriginError::Wildcard),
        ] {
            assert_eq!(Origin::parse(raw), Err(why), "{raw:?}");
        }
        let long = format!("https://{}.example", "a".repeat(MAX_ORIGIN_LEN));
        assert_eq!(Origin::parse(&long), Err(OriginError::TooLong));
    }

    #[test]
    fn a_registered_origin_is_https_or_loopback_http() {
        assert!(Origin::parse_registered("https://app.example").is_ok());
        assert!(Origin::parse_registered("http://127.0.0.1:3000").is_ok());
        assert!(Origin::parse_registered("http://localhost:3000").is_ok());
        assert!(Origin::parse_registered("http://[::1]").is_ok());
        assert_eq!(
            Origin::parse_registered("http://app.example"),
            Err(OriginError::NotHttps)
        );
    }

    #[test]
    fn the_origin_of_a_url_drops_the_path_and_the_default_port() {
        assert_eq!(
            Origin::of_url("https://App.example:443/cb?x=1")
                .unwrap()
                .as_str(),
            "https://app.example"
        );
        assert_eq!(
            Origin::of_url("http://127.0.0.1:8080/callback")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(Origin::of_url("com.example.app:/cb"), None);
    }

    #[test]
    fn a_presented_origin_is_absent_valid_or_invalid() {
        assert_eq!(
            PresentedOrigin::from_header_values(std::iter::empty()),
            PresentedOrigin::Absent
        );
        assert_eq!(
            PresentedOrigin::from_header_values([Some("https://a.example")].into_iter()),
            PresentedOrigin::Valid(Origin::parse("https://a.example").unwrap())
        );
        for values in [
            vec![Some("null")],
            vec![None],
            vec![Some("https://a.example/")],
            vec![Some("https://a.example"), Some("https://a.example")],
        ] {
            assert_eq!(
                PresentedOrigin::from_header_values(values.into_iter()),
                PresentedOrigin::Invalid
            );
        }
    }
}
