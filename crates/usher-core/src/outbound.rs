//! The one outgoing HTTP client of Usher. Everything Usher calls on its own (the
//! back-channel logout endpoints of clients, Client ID Metadata Documents; later upstream
//! providers) goes through [`Outbound`], because a URL that someone registered must not
//! make Usher call into the operator's own network (SSRF):
//!
//! - `https` only; plain `http` only to a loopback host, and only when the issuer itself
//!   is on loopback (a development or test node);
//! - every address a name resolves to is checked in the resolver step itself (so a name
//!   cannot resolve to a public address when checked and a private one when connected:
//!   the connection uses exactly the addresses that passed), and an IP literal before
//!   anything is sent: private, loopback, link-local, unique-local, CGNAT, multicast,
//!   documentation, benchmarking and reserved ranges are refused — loopback is allowed
//!   only when the issuer is on loopback;
//! - redirects are never followed (a 3xx is an answer like any other), no proxy from the
//!   environment is used, and connecting and the whole exchange have timeouts.
//!
//! Nothing here logs a request body: callers send tokens.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};
use usher_domain::Issuer;

/// The limits of outgoing requests, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundSettings {
    pub connect_timeout: u64,
    pub timeout: u64,
}

impl Default for OutboundSettings {
    fn default() -> OutboundSettings {
        OutboundSettings {
            connect_timeout: 3,
            timeout: 10,
        }
    }
}

/// Why an outgoing request was not made or did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundError {
    /// The URL may not be called: its scheme, or an address it names or resolves to.
    Refused(&'static str),
    /// The request was made and failed (connection, timeout, TLS), described for the
    /// log (never with a body).
    Failed(String),
}

impl StdError for OutboundError {}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundError::Refused(why) => write!(f, "refused: {why}"),
            OutboundError::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// The resolver's refusal, found again in reqwest's error chain.
#[derive(Debug)]
struct RefusedAddress;

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the name resolves only to addresses Usher may not call")
    }
}

impl StdError for RefusedAddress {}

/// Every lookup permit is held ([`MAX_CONCURRENT_LOOKUPS`]).
#[derive(Debug)]
struct LookupsBusy;

impl fmt::Display for LookupsBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("too many name lookups are under way; try again later")
    }
}

impl StdError for LookupsBusy {}

/// The guarded client. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_loopback", &self.allow_loopback)
            .finish()
    }
}

/// The most name lookups one outgoing client runs at once. A lookup is the system
/// resolver on a blocking thread, which nothing can cancel: a name server that never
/// answers holds the thread until the resolver gives up, also after the request that
/// asked was dropped or timed out. The permit goes with the lookup onto that thread and
/// is released only when it returns, so at most this many threads are ever held, and a
/// lookup that finds none free fails at once (the caller retries later).
const MAX_CONCURRENT_LOOKUPS: usize = 16;

/// The resolver step: the system's resolver, then only the addresses Usher may call.
struct GuardedResolver {
    allow_loopback: bool,
    lookups: Arc<tokio::sync::Semaphore>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        let permit = self.lookups.clone().try_acquire_owned();
        Box::pin(async move {
            let Ok(permit) = permit else {
                return Err(Box::new(LookupsBusy) as Box<dyn StdError + Send + Sync>);
            };
            let host = name.as_str().to_owned();
            let found = tokio::task::spawn_blocking(move || {
                let _held = permit;
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 0))
                    .map(Iterator::collect::<Vec<SocketAddr>>)
            })
            .await
            .map_err(|e| Box::new(e) as Box<dyn StdError + Send + Sync>)??;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| may_call(a.ip(), allow_loopback))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(RefusedAddress) as Box<dyn StdError + Send + Sync>);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

impl Outbound {
    /// The client for a node of `issuer`: loopback addresses and plain `http` to them are
    /// allowed only when the issuer is itself on loopback.
    pub fn new(settings: OutboundSettings, issuer: &Issuer) -> Result<Outbound, String> {
        Outbound::with_loopback(settings, issuer.is_loopback())
    }

    pub(crate) fn with_loopback(
        settings: OutboundSettings,
        allow_loopback: bool,
    ) -> Result<Outbound, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(settings.connect_timeout.max(1)))
            .timeout(Duration::from_secs(settings.timeout.max(1)))
            .user_agent(concat!("usher/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_loopback,
                lookups: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_LOOKUPS)),
            }))
            .build()
            .map_err(|e| format!("cannot build the outgoing HTTP client: {e}"))?;
        Ok(Outbound {
            client,
            allow_loopback,
        })
    }

    /// Whether `raw` may be called at all, before any name is resolved: its scheme, and
    /// the address when the host is an IP literal.
    pub fn check_url(&self, raw: &str) -> Result<Url, OutboundError> {
        let url = Url::parse(raw).map_err(|_| OutboundError::Refused("not an absolute URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Refused("the URL carries user information"));
        }
        let host = url
            .host()
            .ok_or(OutboundError::Refused("the URL has no host"))?;
        let loopback_host = match &host {
            Host::Ipv4(ip) => ip.is_loopback(),
            Host::Ipv6(ip) => ip.is_loopback(),
            Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_loopback && loopback_host => {}
            _ => return Err(OutboundError::Refused("only https URLs are called")),
        }
        let literal = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        };
        if let Some(ip) = literal
            && !may_call(ip, self.allow_loopback)
        {
            return Err(OutboundError::Refused(
                "the URL names an address Usher may not call",
            ));
        }
        Ok(url)
    }

    /// POSTs `form` as `application/x-www-form-urlencoded` to `url`; returns the
    /// response's status (a redirect is returned, never followed). The body is not read.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<u16, OutboundError> {
        let url = self.check_url(url)?;
        let response = self
            .client
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(classify)?;
        Ok(response.status().as_u16())
    }
}

/// The answer to [`Outbound::get_json`]: the status, the two headers a caller of a
/// document needs, and the body read up to the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    /// `None`: the body was larger than the limit (reading stopped there).
    pub body: Option<Vec<u8>>,
}

impl Outbound {
    /// GETs `url` asking for JSON; reads at most `max_bytes` of the body (a longer one,
    /// announced or not, is `body: None`, and the rest is never read). A redirect is
    /// returned, never followed.
    pub async fn get_json(&self, url: &str, max_bytes: usize) -> Result<Fetched, OutboundError> {
        let url = self.check_url(url)?;
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(classify)?;
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = response.status().as_u16();
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let cache_control = header(reqwest::header::CACHE_CONTROL);
        let announced_too_large = response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64);
        let mut body = Vec::new();
        if !announced_too_large {
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > max_bytes {
                    body.clear();
                    return Ok(Fetched {
                        status,
                        content_type,
                        cache_control,
                        body: None,
                    });
                }
                body.extend_from_slice(&chunk);
            }
        }
        Ok(Fetched {
            status,
            content_type,
            cache_control,
            body: (!announced_too_large).then_some(body),
        })
    }
}

impl Outbound {
    /// Sends one request as the `openidconnect` crate builds it (the relying party of an
    /// upstream provider, `crate::upstream`), under the same rules: the URL checked, no
    /// redirect followed, the timeouts; the body read up to `max_bytes` (a longer one is
    /// an error, and the rest is never read).
    pub async fn exchange(
        &self,
        request: openidconnect::HttpRequest,
        max_bytes: usize,
    ) -> Result<openidconnect::HttpResponse, OutboundError> {
        let (parts, body) = request.into_parts();
        let url = self.check_url(&parts.uri.to_string())?;
        let mut outgoing = self.client.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name, value);
        }
        let mut response = outgoing.send().await.map_err(classify)?;
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(OutboundError::Failed("the answer is too large".to_owned()));
        }
        let mut answer = openidconnect::http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(OutboundError::Failed("the answer is too large".to_owned()));
            }
            body.extend_from_slice(&chunk);
        }
        answer
            .body(body)
            .map_err(|_| OutboundError::Failed("the answer could not be read".to_owned()))
    }
}

/// A reqwest error as ours: the resolver's refusal, or a failure described without the
/// URL's query (`without_url`).
fn classify(e: reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.downcast_ref::<RefusedAddress>().is_some() {
            return OutboundError::Refused(
                "the name resolves only to addresses Usher may not call",
            );
        }
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    OutboundError::Failed(format!("{kind}: {}", e.without_url()))
}

/// Whether Usher may connect to `ip`: a public unicast address, or a loopback one when
/// `allow_loopback`.
pub fn may_call(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => may_call_v4(v4, allow_loopback),
        IpAddr::V6(v6) => may_call_v6(v6, allow_loopback),
    }
}

fn may_call_v4(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let [a, b, c, _] = ip.octets();
    let refused = a == 0                                  // "this network" 0/8
        || a == 10                                        // private 10/8
        || (a == 100 && (64..128).contains(&b))           // CGNAT 100.64/10
        || (a == 169 && b == 254)                         // link-local 169.254/16
        || (a == 172 && (16..32).contains(&b))            // private 172.16/12
        || (a == 192 && b == 0 && c == 0)                 // IETF protocol 192.0.0/24
        || (a == 192 && b == 0 && c == 2)                 // documentation
        || (a == 192 && b == 88 && c == 99)               // 6to4 relay anycast
        || (a == 192 && b == 168)                         // private 192.168/16
        || (a == 198 && (18..20).contains(&b))            // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100)              // documentation
        || (a == 203 && b == 0 && c == 113)               // documentation
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !refused
}

fn may_call_v6(ip: Ipv6Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return may_call_v4(v4, allow_loopback);
    }
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        // NAT64 64:ff9b::/96: the IPv4 address it reaches.
        return may_call_v4(embedded(s[6], s[7]), false);
    }
    if s[0..5] == [0, 0, 0, 0, 0xffff] && s[5] == 0 {
        // IPv4-translated ::ffff:0:0:0/96 (SIIT): the IPv4 address it reaches.
        return may_call_v4(embedded(s[6], s[7]), false);
    }
    if s[0] == 0x2002 {
        // 6to4 2002::/16: the IPv4 address it reaches.
        return may_call_v4(embedded(s[1], s[2]), false);
    }
    let refused = ip.is_unspecified()
        || s[..6] == [0, 0, 0, 0, 0, 0]                   // IPv4-compatible ::/96 (deprecated)
        || (s[0] & 0xfe00) == 0xfc00                      // unique-local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80                      // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                      // site-local fec0::/10 (deprecated)
        || (s[0] & 0xff00) == 0xff00                      // multicast ff00::/8
        || (s[0] == 0x2001 && s[1] == 0x0db8)             // documentation 2001:db8::/32
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])       // discard 100::/64
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48 (the operator's own translator)
        || (s[0] == 0x2001 && s[1] < 0x0200)              // IETF protocol 2001::/23 (Teredo, ORCHID, …)
        || s[0] == 0x5f00; // SRv6 SIDs 5f00::/16
    !refused
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn a_lookup_without_a_free_permit_fails_at_once_and_a_finished_one_gives_it_back() {
        let lookups = Arc::new(tokio::sync::Semaphore::new(1));
        let resolver = GuardedResolver {
            allow_loopback: true,
            lookups: lookups.clone(),
        };
        let name = |n: &str| n.parse::<Name>().unwrap();
        // Every permit held (a lookup stuck on a silent name server): refused at once.
        let held = lookups.clone().try_acquire_owned().unwrap();
        let busy = resolver.resolve(name("localhost")).await.err().unwrap();
        assert!(busy.is::<LookupsBusy>(), "{busy}");
        drop(held);
        // A lookup that returns gives its permit back, whatever it found.
        let found: Vec<SocketAddr> = resolver.resolve(name("localhost")).await.unwrap().collect();
        assert!(found.iter().all(|a| a.ip().is_loopback()) && !found.is_empty());
        assert_eq!(lookups.available_permits(), 1);
        let refused = GuardedResolver {
            allow_loopback: false,
            lookups: lookups.clone(),
        };
        assert!(refused.resolve(name("localhost")).await.is_err());
        assert_eq!(lookups.available_permits(), 1);
    }

    #[test]
    fn private_loopback_link_local_and_special_addresses_are_refused() {
        for refused in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.2.1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "::10.0.0.1",
            "::ffff:0:a00:1",
            "::ffff:0:7f00:1",
            "64:ff9b:1::808:808",
            "64:ff9b:1:ffff::1",
        ] {
            assert!(!may_call(ip(refused), false), "{refused}");
        }
        for refused_even_on_loopback in ["10.0.0.1", "169.254.169.254", "fd00::1"] {
            assert!(!may_call(ip(refused_even_on_loopback), true));
        }
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "::ffff:0:808:808",
            "64:ff9b::808:808",
        ] {
            assert!(may_call(ip(public), false), "{public}");
        }
        for loopback in ["127.0.0.1", "127.5.6.7", "::1"] {
            assert!(!may_call(ip(loopback), false), "{loopback}");
            assert!(may_call(ip(loopback), true), "{loopback}");
        }
    }

    #[test]
    fn only_https_is_called_and_http_only_to_loopback_from_a_loopback_issuer() {
        let public = Outbound::with_loopback(OutboundSettings::default(), false).unwrap();
        let local = Outbound::with_loopback(OutboundSettings::default(), true).unwrap();
        assert!(public.check_url("https://rp.example/bcl").is_ok());
        for refused in [
            "http://rp.example/bcl",
            "http://127.0.0.1:9/bcl",
            "https://127.0.0.1/bcl",
            "https://[::1]/bcl",
            "https://10.0.0.1/bcl",
            "https://169.254.169.254/latest/meta-data",
            "https://user:pw@rp.example/bcl",
            "ftp://rp.example/bcl",
            "not a url",
        ] {
            assert!(
                matches!(public.check_url(refused), Err(OutboundError::Refused(_))),
                "{refused}"
            );
        }
        assert!(local.check_url("http://127.0.0.1:9/bcl").is_ok());
        assert!(local.check_url("http://localhost:9/bcl").is_ok());
        assert!(local.check_url("http://rp.example/bcl").is_err());
        assert!(local.check_url("https://10.0.0.1/bcl").is_err());
    }

    /// A one-shot listener answering every connection with `response`; returns its port
    /// and a channel of the requests it read.
    pub(crate) fn listener(response: &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(mut s) = stream else { return };
                let mut buf = [0u8; 8192];
                let n = s.read(&mut buf).unwrap_or(0);
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = s.write_all(response.as_bytes());
            }
        });
        (port, rx)
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_for_a_public_issuer_and_nothing_is_sent() {
        let (port, rx) = listener("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let public = Outbound::with_loopback(OutboundSettings::default(), false).unwrap();
        // `localhost` passes the scheme rule only for a loopback issuer: with https it is
        // refused at resolution.
        let refused = public
            .post_form(&format!("https://localhost:{port}/bcl"), &[("a", "b")])
            .await;
        assert!(
            matches!(refused, Err(OutboundError::Refused(_))),
            "{refused:?}"
        );
        let refused = public
            .post_form(&format!("https://127.0.0.1:{port}/bcl"), &[("a", "b")])
            .await;
        assert!(
            matches!(refused, Err(OutboundError::Refused(_))),
            "{refused:?}"
        );
        assert!(rx.try_recv().is_err(), "the listener was called");
    }

    #[tokio::test]
    async fn a_redirect_is_returned_not_followed() {
        let (target, target_rx) = listener("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let redirect: &'static str = Box::leak(
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{target}/x\r\ncontent-length: 0\r\n\r\n")
                .into_boxed_str(),
        );
        let (port, rx) = listener(redirect);
        let local = Outbound::with_loopback(OutboundSettings::default(), true).unwrap();
        let status = local
            .post_form(
                &format!("http://127.0.0.1:{port}/bcl"),
                &[("logout_token", "t")],
            )
            .await;
        assert_eq!(status, Ok(307));
        let request = rx.recv().unwrap();
        assert!(request.starts_with("POST /bcl "), "{request}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains("content-type: application/x-www-form-urlencoded")
        );
        std::thread::sleep(Duration::from_millis(200));
        assert!(target_rx.try_recv().is_err(), "the redirect was followed");
    }

    #[tokio::test]
    async fn an_endpoint_that_does_not_answer_times_out() {
        // Accepts and never answers.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let _held: Vec<_> = l.incoming().take(1).collect();
            std::thread::sleep(Duration::from_secs(5));
        });
        let local = Outbound::with_loopback(
            OutboundSettings {
                connect_timeout: 1,
                timeout: 1,
            },
            true,
        )
        .unwrap();
        let result = local
            .post_form(&format!("http://127.0.0.1:{port}/bcl"), &[("a", "b")])
            .await;
        assert!(
            matches!(result, Err(OutboundError::Failed(_))),
            "{result:?}"
        );
    }
}
