//! The issuer identifier (RFC 8414 §2, OIDC Discovery §4.3).

use std::fmt;
use url::{Host, Url};

/// Usher's issuer: an absolute `https` URL (or `http` on a loopback host) with a host, no
/// query, no fragment, no user information and no trailing slash.
///
/// Relying parties compare it byte for byte with the `iss` of every token and with the
/// discovery document, so it is kept as configured except for the scheme and the host,
/// which are case-insensitive (RFC 3986 §6.2.2.1) and written in lower case:
/// `HTTPS://Auth.Example.com/Tenant` is `https://auth.example.com/Tenant`. Whether it is
/// https is decided from the parsed URL, never from the spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    raw: String,
    https: bool,
}

/// Why a string is not a valid issuer. Each message names the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerError {
    #[error("is not an absolute URL ({0}); write it like https://auth.example.com")]
    NotAUrl(String),
    #[error("must use https (http is allowed only for 127.0.0.1, [::1] or localhost)")]
    NotHttps,
    #[error("must have a host name")]
    NoHost,
    #[error("must not have a query (remove everything from '?')")]
    Query,
    #[error("must not have a fragment (remove everything from '#')")]
    Fragment,
    #[error("must not contain a user name or password")]
    UserInfo,
    #[error("must not end with '/' (relying parties compare it byte for byte)")]
    TrailingSlash,
}

impl Issuer {
    /// Parses and checks an issuer string.
    pub fn parse(raw: &str) -> Result<Issuer, IssuerError> {
        if raw.ends_with('/') {
            return Err(IssuerError::TrailingSlash);
        }
        if raw.contains('#') {
            return Err(IssuerError::Fragment);
        }
        if raw.contains('?') {
            return Err(IssuerError::Query);
        }
        let url = Url::parse(raw).map_err(|e| IssuerError::NotAUrl(e.to_string()))?;
        let host = url.host().ok_or(IssuerError::NoHost)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(IssuerError::UserInfo);
        }
        // `Url` lower-cases the scheme and a domain host while parsing.
        let https = match url.scheme() {
            "https" => true,
            "http" if is_loopback_host(&host) => false,
            _ => return Err(IssuerError::NotHttps),
        };
        Ok(Issuer {
            raw: lower_case_scheme_and_host(raw),
            https,
        })
    }

    /// The issuer exactly as configured.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether the issuer is served over https (cookies then get `Secure` and the
    /// `__Host-` prefix), from the parsed scheme.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Whether the issuer's host is a loopback address or `localhost` (a development or
    /// test node): only then may Usher's outgoing requests reach loopback addresses.
    pub fn is_loopback(&self) -> bool {
        Url::parse(&self.raw)
            .ok()
            .and_then(|u| u.host().map(|h| is_loopback_host(&h)))
            .unwrap_or(false)
    }

    /// The absolute URL of a route path (which starts with `/`) under this issuer.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.raw, path)
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// `raw` (a checked issuer: no user information, query or fragment) with everything
/// before the path in lower case; the path is kept as written.
fn lower_case_scheme_and_host(raw: &str) -> String {
    let authority_start = raw.find("://").map_or(0, |i| i + 3);
    let path_start = raw[authority_start..]
        .find('/')
        .map_or(raw.len(), |i| authority_start + i);
    let (head, path) = raw.split_at(path_start);
    format!("{}{path}", head.to_ascii_lowercase())
}

/// Whether a host is a loopback address or `localhost` (RFC 8252 §7.3, §8.3).
pub(crate) fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http_exactly_as_written() {
        for ok in [
            "https://auth.example.com",
            "https://example.com/tenant/a",
            "http://127.0.0.1:8080",
            "http://[::1]:9000",
            "http://localhost:3000",
        ] {
            assert_eq!(Issuer::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_each_malformed_issuer_with_its_reason() {
        assert_eq!(
            Issuer::parse("https://a.example/"),
            Err(IssuerError::TrailingSlash)
        );
        assert_eq!(
            Issuer::parse("https://a.example?x=1"),
            Err(IssuerError::Query)
        );
        assert_eq!(
            Issuer::parse("https://a.example#f"),
            Err(IssuerError::Fragment)
        );
        assert_eq!(
            Issuer::parse("http://a.example"),
            Err(IssuerError::NotHttps)
        );
        assert_eq!(Issuer::parse("ftp://a.example"), Err(IssuerError::NotHttps));
        assert_eq!(
            Issuer::parse("https://u:p@a.example"),
            Err(IssuerError::UserInfo)
        );
        assert!(matches!(
            Issuer::parse("a.example"),
            Err(IssuerError::NotAUrl(_))
        ));
        assert!(matches!(Issuer::parse(""), Err(IssuerError::NotAUrl(_))));
    }

    #[test]
    fn the_scheme_decides_https_whatever_its_case_and_scheme_and_host_are_lower_cased() {
        let iss = Issuer::parse("HTTPS://Auth.Example.COM/Tenant").unwrap();
        assert!(iss.is_https());
        assert_eq!(iss.as_str(), "https://auth.example.com/Tenant");
        assert_eq!(
            iss.endpoint("/token"),
            "https://auth.example.com/Tenant/token"
        );
        let iss = Issuer::parse("Https://a.example:8443").unwrap();
        assert!(iss.is_https());
        assert_eq!(iss.as_str(), "https://a.example:8443");
        let local = Issuer::parse("HTTP://LOCALHOST:3000").unwrap();
        assert!(!local.is_https());
        assert_eq!(local.as_str(), "http://localhost:3000");
        assert!(!Issuer::parse("http://127.0.0.1:8080").unwrap().is_https());
        assert_eq!(
            Issuer::parse("HTTP://a.example"),
            Err(IssuerError::NotHttps)
        );
    }

    #[test]
    fn endpoint_urls_are_issuer_plus_path() {
        let iss = Issuer::parse("https://a.example/t").unwrap();
        assert_eq!(iss.endpoint("/token"), "https://a.example/t/token");
    }
}
