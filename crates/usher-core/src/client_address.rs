//! The client address a request's login attempts are counted against.
//!
//! The TCP peer is the client, unless the peer is one of the `trusted_proxies` (CIDR
//! ranges from the settings): then its `X-Forwarded-For` or `Forwarded` (RFC 7239) header
//! is read from the right, each proxy having appended the address it received the request
//! from, and the client is the right-most address that is not a trusted proxy. Everything
//! left of that address was written by the client and is never looked at. A header that
//! cannot be read up to that address, or an `X-Forwarded-For` and a `Forwarded` that name
//! different clients, makes the peer the client again: a broken proxy pools its requests
//! under its own address, and a forged header evades nothing.
//!
//! With no trusted proxies configured, a loopback or private-network peer that sends a
//! forwarding header is most likely a proxy nobody told Usher about: keying by it would
//! put everyone behind it under one lock. Such a request is not counted per address (the
//! per-account count still applies) and Usher warns once that `trusted_proxies` should be
//! set. A peer on a public address is always counted under its own address.
//!
//! IPv4-mapped IPv6 addresses count as the IPv4 address; other IPv6 addresses count per
//! /64 network, the smallest block one subscriber usually gets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};

/// A range of addresses in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a single
/// address). IPv4-mapped IPv6 ranges are kept as the IPv4 range they map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CidrError(String);

impl Cidr {
    /// Reads `ADDRESS/PREFIX` or a bare address (all of its bits). Bits set past the
    /// prefix and a `/0` range are refused: the first is usually a typo, the second
    /// would let any client choose the address it is counted under.
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            CidrError(format!(
                "{text:?} is not an IP address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)"
            ))
        })?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= bits => n,
                _ => {
                    return Err(CidrError(format!(
                        "{text:?}: the prefix must be a number from 0 to {bits}"
                    )));
                }
            },
        };
        let cidr = Cidr {
            network: address,
            prefix,
        };
        let network = cidr.masked(address);
        if network != address {
            return Err(CidrError(format!(
                "{text:?} has bits set past the /{prefix} prefix; the range is {network}/{prefix}"
            )));
        }
        let cidr = match address {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Cidr {
                    network: IpAddr::V4(v4),
                    prefix: prefix - 96,
                },
                None => cidr,
            },
            _ => cidr,
        };
        if cidr.prefix == 0 {
            return Err(CidrError(format!(
                "{text:?} trusts every address: any client could choose the address it is \
                 throttled under; name the proxies' own addresses"
            )));
        }
        Ok(cidr)
    }

    /// `ip` with the bits past this range's prefix cleared.
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }

    /// Whether `ip` (normalised: IPv4-mapped as IPv4) is in this range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = normalise(ip);
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.network
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose forwarding headers are believed (the `trusted_proxies` setting).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn new(ranges: Vec<Cidr>) -> TrustedProxies {
        TrustedProxies(ranges)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[Cidr] {
        &self.0
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }
}

/// Which address a request's login attempts are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAddress {
    /// This address (normalised: IPv4-mapped IPv6 as IPv4).
    Ip(IpAddr),
    /// A loopback or private peer that forwards for others while no proxy is trusted:
    /// not counted per address.
    BehindUntrustedProxy,
    /// No peer address at all (not a TCP connection): not counted per address.
    Unknown,
}

impl ClientAddress {
    /// The throttle key: `ip:` and the IPv4 address, or the IPv6 address's /64 network.
    pub fn throttle_key(&self) -> Option<String> {
        match self {
            ClientAddress::Ip(IpAddr::V4(v4)) => Some(format!("ip:{v4}")),
            ClientAddress::Ip(IpAddr::V6(v6)) => {
                let network = Ipv6Addr::from(u128::from(*v6) & !u128::from(u64::MAX));
                Some(format!("ip:{network}/64"))
            }
            ClientAddress::BehindUntrustedProxy | ClientAddress::Unknown => None,
        }
    }

    /// [`Self::throttle_key`], or one key shared by every request whose address is not
    /// known (`ip:unknown`): for limits with no other backstop (sign-up), an unknown
    /// address must not mean no limit. Behind a proxy nobody configured, all such
    /// requests share one budget until `trusted_proxies` is set.
    pub fn throttle_key_or_shared(&self) -> String {
        self.throttle_key()
            .unwrap_or_else(|| "ip:unknown".to_owned())
    }
}

/// The client address of a request that came from `peer` with these `Forwarded` and
/// `X-Forwarded-For` values (each repeated field joined with commas, RFC 9110 §5.3): see
/// the module documentation. The HTTP crate reads them off the request. The first request
/// that comes through a proxy nobody configured is logged at `warn`, once per process.
pub fn of(
    peer: Option<IpAddr>,
    forwarded: Option<&str>,
    x_forwarded_for: Option<&str>,
    trusted: &TrustedProxies,
) -> ClientAddress {
    let address = resolve(peer, forwarded, x_forwarded_for, trusted);
    if address == ClientAddress::BehindUntrustedProxy {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                event = "untrusted_proxy",
                peer = %peer.map(normalise).map(|p| p.to_string()).unwrap_or_default(),
                "a request from a loopback or private address carries X-Forwarded-For or \
                 Forwarded, but trusted_proxies is not set: failed logins through this \
                 proxy are throttled per account only; set USHER_TRUSTED_PROXIES \
                 (trusted_proxies) to the proxy's address"
            );
        }
    }
    address
}

/// The decision of [`of`], from the peer and the joined header values.
pub fn resolve(
    peer: Option<IpAddr>,
    forwarded: Option<&str>,
    x_forwarded_for: Option<&str>,
    trusted: &TrustedProxies,
) -> ClientAddress {
    let Some(peer) = peer.map(normalise) else {
        return ClientAddress::Unknown;
    };
    if trusted.contains(peer) {
        let from_forwarded = forwarded.map(|h| walk(forwarded_from_right(h), trusted));
        let from_xff = x_forwarded_for.map(|h| walk(xff_from_right(h), trusted));
        let client = match (from_forwarded, from_xff) {
            (None, None) => None,
            (Some(Some(a)), None) | (None, Some(Some(a))) => Some(a),
            (Some(Some(a)), Some(Some(b))) if a == b => Some(a),
            // Unreadable, or the two headers disagree: not the proxies' word.
            _ => None,
        };
        return ClientAddress::Ip(client.unwrap_or(peer));
    }
    if trusted.is_empty() && is_internal(peer) && (forwarded.is_some() || x_forwarded_for.is_some())
    {
        return ClientAddress::BehindUntrustedProxy;
    }
    ClientAddress::Ip(peer)
}

/// The right-most hop that is not a trusted proxy (or the left-most, if all are), from
/// hops given right to left; `None` when a hop up to it does not parse. Hops left of the
/// client are never read.
fn walk<'a>(
    hops_from_right: impl Iterator<Item = Option<&'a str>>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let mut client = None;
    for hop in hops_from_right {
        let ip = normalise(node(hop?)?);
        client = Some(ip);
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// `X-Forwarded-For: client, proxy1, proxy2`, from the right.
fn xff_from_right(header: &str) -> impl Iterator<Item = Option<&str>> {
    header
        .rsplit(',')
        .map(|hop| Some(hop.trim_matches([' ', '\t'])))
}

/// The `for=` node of each element of an RFC 7239 `Forwarded` header, from the right,
/// unquoted; `None` for an element whose syntax is broken or that has no (or two) `for`
/// parameters.
fn forwarded_from_right(header: &str) -> impl Iterator<Item = Option<&str>> {
    ElementsFromRight(Some(header)).map(|element| {
        let mut found = None;
        for pair in split_outside_quotes(element?, ';')? {
            let pair = pair.trim_matches([' ', '\t']);
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair.split_once('=')?;
            if name.eq_ignore_ascii_case("for") {
                if found.is_some() {
                    return None;
                }
                found = Some(unquote(value)?);
            }
        }
        found
    })
}

/// The comma-separated elements of a header, from the right, with quoted strings kept
/// whole; `None` for an element with an unterminated quote (and then no more). Scanning
/// from the right means a client's broken quoting on the left cannot hide the elements
/// its proxies appended.
struct ElementsFromRight<'a>(Option<&'a str>);

impl<'a> Iterator for ElementsFromRight<'a> {
    type Item = Option<&'a str>;

    fn next(&mut self) -> Option<Option<&'a str>> {
        let text = self.0.take()?;
        let bytes = text.as_bytes();
        let mut quoted = false;
        for i in (0..bytes.len()).rev() {
            match bytes[i] {
                b'"' if !(quoted && i > 0 && bytes[i - 1] == b'\\') => quoted = !quoted,
                b',' if !quoted => {
                    self.0 = Some(&text[..i]);
                    return Some(Some(&text[i + 1..]));
                }
                _ => {}
            }
        }
        Some((!quoted).then_some(text))
    }
}

/// Splits at `separator` where it is not inside a quoted string; `None` for an
/// unterminated quote.
fn split_outside_quotes(text: &str, separator: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// A token, or a quoted string without escapes (a node has no use for them).
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(inner) => {
            let inner = inner.strip_suffix('"')?;
            (!inner.contains(['"', '\\'])).then_some(inner)
        }
        None => Some(value),
    }
}

/// An address with an optional port: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:8080` (RFC 7239 also allows an obfuscated `_port`).
/// `unknown` and obfuscated identifiers are not addresses.
fn node(text: &str) -> Option<IpAddr> {
    if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(port)) {
            return None;
        }
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    let (v4, p) = text.split_once(':')?;
    if !port(p) {
        return None;
    }
    v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn port(p: &str) -> bool {
    let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    let obfuscated = p.len() > 1
        && p.starts_with('_')
        && p[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    digits || obfuscated
}

/// IPv4-mapped IPv6 (`::ffff:192.0.2.1`) as IPv4.
fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Loopback, private (RFC 1918, RFC 6598 shared, IPv6 unique-local) or link-local: the
/// addresses a proxy in front of Usher usually has.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::new(list.split(',').map(|r| Cidr::parse(r).unwrap()).collect())
    }

    fn via_proxy(xff: &str) -> ClientAddress {
        resolve(
            Some(ip("10.0.0.2")),
            None,
            Some(xff),
            &trusted("10.0.0.0/24"),
        )
    }

    fn via_proxy_forwarded(forwarded: &str) -> ClientAddress {
        resolve(
            Some(ip("10.0.0.2")),
            Some(forwarded),
            None,
            &trusted("10.0.0.0/24"),
        )
    }

    #[test]
    fn cidrs_parse_and_bad_ones_say_why() {
        assert_eq!(Cidr::parse("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            Cidr::parse(" 192.0.2.7 ").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            Cidr::parse("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(Cidr::parse("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            Cidr::parse("::ffff:10.1.0.0/112").unwrap().to_string(),
            "10.1.0.0/16"
        );
        for (bad, says) in [
            ("10.0.0.5/8", "the range is 10.0.0.0/8"),
            ("10.0.0.0/33", "from 0 to 32"),
            ("2001:db8::/129", "from 0 to 128"),
            ("10.0.0.0/x", "from 0 to 32"),
            ("0.0.0.0/0", "trusts every address"),
            ("::/0", "trusts every address"),
            ("::ffff:0:0/96", "trusts every address"),
            ("nginx", "not an IP address"),
            ("10.0.0.0/8/8", "from 0 to 32"),
            ("", "not an IP address"),
        ] {
            let e = Cidr::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn ranges_contain_their_addresses_only() {
        let r = Cidr::parse("172.16.0.0/12").unwrap();
        assert!(r.contains(ip("172.31.255.255")));
        assert!(r.contains(ip("::ffff:172.20.0.1")));
        assert!(!r.contains(ip("172.32.0.0")));
        assert!(!r.contains(ip("::1")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        assert_eq!(
            via_proxy("203.0.113.5"),
            ClientAddress::Ip(ip("203.0.113.5"))
        );
        // The client's own claim on the left is ignored.
        assert_eq!(
            via_proxy("1.2.3.4, 203.0.113.5"),
            ClientAddress::Ip(ip("203.0.113.5"))
        );
        // Trusted hops are skipped from the right.
        assert_eq!(
            via_proxy("1.2.3.4,203.0.113.5, 10.0.0.7,10.0.0.9"),
            ClientAddress::Ip(ip("203.0.113.5"))
        );
        // All trusted: the left-most.
        assert_eq!(
            via_proxy("10.0.0.3, 10.0.0.4"),
            ClientAddress::Ip(ip("10.0.0.3"))
        );
        // Ports, brackets and mapped addresses.
        assert_eq!(
            via_proxy("203.0.113.5:4711"),
            ClientAddress::Ip(ip("203.0.113.5"))
        );
        assert_eq!(
            via_proxy("[2001:db8::17]:4711"),
            ClientAddress::Ip(ip("2001:db8::17"))
        );
        assert_eq!(
            via_proxy("::ffff:203.0.113.5"),
            ClientAddress::Ip(ip("203.0.113.5"))
        );
        // Garbage left of the client does not matter.
        assert_eq!(
            via_proxy("not an address, \u{fffd}, 203.0.113.5"),
            ClientAddress::Ip(ip("203.0.113.5"))
        );
    }

    #[test]
    fn a_header_broken_up_to_the_client_means_the_peer() {
        let peer = ClientAddress::Ip(ip("10.0.0.2"));
        for garbage in [
            "",
            " ",
            "203.0.113.5,",
            "unknown",
            "203.0.113.5, 10.0.0.7 10.0.0.8",
            "203.0.113.5:99999999",
            "[2001:db8::1",
            "2001:db8::1]:80",
            "203.0.113.5:",
            "host.example",
            "203.0.113.5/32",
        ] {
            assert_eq!(via_proxy(garbage), peer, "{garbage:?}");
        }
    }

    #[test]
    fn forwarded_is_read_as_rfc_7239_says() {
        assert_eq!(
            via_proxy_forwarded("for=203.0.113.5"),
            ClientAddress::Ip(ip("203.0.113.5"))
        );
        assert_eq!(
            via_proxy_forwarded(
                "for=192.0.2.60;proto=http;by=203.0.113.43, For=\"[2001:db8:cafe::17]:4711\""
            ),
            ClientAddress::Ip(ip("2001:db8:cafe::17"))
        );
        assert_eq!(
            via_proxy_forwarded("for=\"198.51.100.17:_hidden\"; proto=https, for=10.0.0.9"),
            ClientAddress::Ip(ip("198.51.100.17"))
        );
        // A quoted comma does not split elements.
        assert_eq!(
            via_proxy_forwarded("for=203.0.113.5;x=\"a,b\", for=10.0.0.9"),
            ClientAddress::Ip(ip("203.0.113.5"))
        );
        // A client's broken quoting on the left hides nothing its proxy appended.
        for client_wrote in [
            "for=\"",
            "for=\"1.2.3.4, for=5.6.7.8",
            "x\"\\\"",
            "\u{0}, ,;;",
        ] {
            assert_eq!(
                via_proxy_forwarded(&format!("{client_wrote}, for=203.0.113.5")),
                ClientAddress::Ip(ip("203.0.113.5")),
                "{client_wrote:?}"
            );
        }
        let peer = ClientAddress::Ip(ip("10.0.0.2"));
        for garbage in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=203.0.113.5;for=203.0.113.6",
            "for=\"[2001:db8::1]",
            "for=\"203.0.113.5",
            "for",
            "for=[2001:db8::1]:80x",
            "for=\"203.0.\\113.5\"",
        ] {
            assert_eq!(via_proxy_forwarded(garbage), peer, "{garbage:?}");
        }
    }

    #[test]
    fn both_headers_count_only_when_they_agree() {
        let t = trusted("10.0.0.0/24");
        let peer = Some(ip("10.0.0.2"));
        assert_eq!(
            resolve(peer, Some("for=203.0.113.5"), Some("203.0.113.5"), &t),
            ClientAddress::Ip(ip("203.0.113.5"))
        );
        // A client-sent header the proxy passed through names someone else.
        assert_eq!(
            resolve(peer, Some("for=198.51.100.1"), Some("203.0.113.5"), &t),
            ClientAddress::Ip(ip("10.0.0.2"))
        );
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let t = trusted("10.0.0.0/24");
        assert_eq!(
            resolve(Some(ip("198.51.100.9")), None, Some("203.0.113.5"), &t),
            ClientAddress::Ip(ip("198.51.100.9"))
        );
        // With proxies configured, a private peer outside them is a client like any other.
        assert_eq!(
            resolve(Some(ip("192.168.1.5")), None, Some("203.0.113.5"), &t),
            ClientAddress::Ip(ip("192.168.1.5"))
        );
        assert_eq!(
            resolve(None, None, Some("203.0.113.5"), &t),
            ClientAddress::Unknown
        );
    }

    #[test]
    fn without_trusted_proxies_a_private_forwarding_peer_is_not_counted_per_address() {
        let none = TrustedProxies::default();
        for proxy in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.5",
            "192.168.0.2",
            "100.64.0.1",
            "::1",
            "fd00::5",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(
                resolve(Some(ip(proxy)), None, Some("203.0.113.5"), &none),
                ClientAddress::BehindUntrustedProxy,
                "{proxy}"
            );
            assert_eq!(
                resolve(Some(ip(proxy)), Some("for=203.0.113.5"), None, &none),
                ClientAddress::BehindUntrustedProxy,
                "{proxy}"
            );
            // Without a forwarding header it is a client.
            assert_eq!(
                resolve(Some(ip(proxy)), None, None, &none),
                ClientAddress::Ip(normalise(ip(proxy)))
            );
        }
        // A public peer is always counted under its own address: a forged header from
        // the internet evades nothing.
        assert_eq!(
            resolve(Some(ip("198.51.100.9")), None, Some("203.0.113.5"), &none),
            ClientAddress::Ip(ip("198.51.100.9"))
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_mapped_ones_as_ipv4() {
        let key = |s: &str| ClientAddress::Ip(normalise(ip(s))).throttle_key().unwrap();
        assert_eq!(key("203.0.113.5"), "ip:203.0.113.5");
        assert_eq!(key("::ffff:203.0.113.5"), "ip:203.0.113.5");
        assert_eq!(
            key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "ip:2001:db8:1:2::/64"
        );
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(ClientAddress::BehindUntrustedProxy.throttle_key(), None);
        assert_eq!(ClientAddress::Unknown.throttle_key(), None);
    }
}
