//! Usher's cookies: the browser session, the browser binding and the known-browser
//! cookie (`usher-device`, one year: `usher_core::browsers`). Each holds only a
//! random value; `HttpOnly`, `SameSite=Lax`, `Path=/`, and — when the issuer is https —
//! `Secure` with the `__Host-` prefix.
//!
//! The browser binding ties a sign-in's forms to the browser that started it. It is one
//! value per browser, not per sign-in: it is created when a browser first gets a login or
//! consent page and then kept unchanged (each new page only extends its lifetime), so two
//! sign-ins running in two tabs of one browser never overwrite each other's binding.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration};

use crate::Settings;

pub const SESSION: &str = "usher-session";
pub const BROWSER: &str = "usher-browser";
/// The known-browser cookie: names a browser among the person's known browsers, so a
/// sign-in from a new one can be told to them.
pub const DEVICE: &str = "usher-device";
/// The account page's sign-in in progress (state, PKCE verifier, where to return):
/// `Path=/account`, so with https it takes the `__Secure-` prefix (`__Host-` needs
/// `Path=/`).
pub const ACCOUNT_SIGN_IN: &str = "usher-account-signin";
/// The path of [`ACCOUNT_SIGN_IN`].
pub const ACCOUNT_PATH: &str = crate::routes::ACCOUNT;

/// The length of a browser binding: 32 random bytes as base64url without padding.
const BINDING_LEN: usize = 43;

fn name(settings: &Settings, base: &str) -> String {
    if settings.issuer.is_https() {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// A cookie carrying `value` for `max_age` seconds.
pub fn make(settings: &Settings, base: &str, value: String, max_age: i64) -> Cookie<'static> {
    let mut c = Cookie::new(name(settings, base), value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(settings.issuer.is_https());
    c.set_max_age(Duration::seconds(max_age));
    c
}

/// A cookie that removes `base` from the browser.
pub fn clear(settings: &Settings, base: &str) -> Cookie<'static> {
    let mut c = make(settings, base, String::new(), 0);
    c.make_removal();
    c
}

fn scoped_name(settings: &Settings, base: &str) -> String {
    if settings.issuer.is_https() {
        format!("__Secure-{base}")
    } else {
        base.to_owned()
    }
}

/// A cookie carrying `value` for `max_age` seconds, sent only to `path` and below.
pub fn make_scoped(
    settings: &Settings,
    base: &str,
    value: String,
    max_age: i64,
    path: &'static str,
) -> Cookie<'static> {
    let mut c = make(settings, base, value, max_age);
    c.set_name(scoped_name(settings, base));
    c.set_path(path);
    c
}

/// A cookie that removes the scoped cookie `base` of `path`.
pub fn clear_scoped(settings: &Settings, base: &str, path: &'static str) -> Cookie<'static> {
    let mut c = make_scoped(settings, base, String::new(), 0, path);
    c.make_removal();
    c
}

/// The value of the scoped cookie `base`, if the request has it.
pub fn read_scoped(req: &HttpRequest, settings: &Settings, base: &str) -> Option<String> {
    req.cookie(&scoped_name(settings, base))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

/// The value of cookie `base`, if the request has it.
pub fn read(req: &HttpRequest, settings: &Settings, base: &str) -> Option<String> {
    req.cookie(&name(settings, base))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

/// The browser's binding, if it sent one of the right shape (one Usher makes). Anything
/// else is treated as absent: a new binding replaces it.
pub fn browser_binding(req: &HttpRequest, settings: &Settings) -> Option<String> {
    read(req, settings, BROWSER).filter(|v| {
        v.len() == BINDING_LEN
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The known-browser cookie, if the browser sent one of the right shape. Anything else
/// is treated as absent: a new value replaces it at the next sign-in.
pub fn device(req: &HttpRequest, settings: &Settings) -> Option<String> {
    read(req, settings, DEVICE).filter(|v| usher_core::browsers::well_formed(v))
}

#[cfg(test)]
mod tests {
    use usher_domain::Issuer;

    use super::*;

    #[test]
    fn an_https_issuer_in_any_case_gets_secure_host_prefixed_cookies() {
        for raw in [
            "https://auth.example.com",
            "HTTPS://auth.example.com",
            "Https://Auth.Example.com",
        ] {
            let settings = Settings::new(Issuer::parse(raw).unwrap());
            let c = make(&settings, SESSION, "v".to_owned(), 60);
            assert_eq!(c.name(), "__Host-usher-session", "{raw}");
            assert_eq!(c.secure(), Some(true), "{raw}");
            assert_eq!(c.path(), Some("/"));
        }
        let settings = Settings::new(Issuer::parse("http://127.0.0.1:8080").unwrap());
        let c = make(&settings, SESSION, "v".to_owned(), 60);
        assert_eq!(c.name(), "usher-session");
        assert_eq!(c.secure(), Some(false));
    }

    #[test]
    fn the_account_sign_in_cookie_is_scoped_to_the_account_page() {
        let https = Settings::new(Issuer::parse("https://auth.example.com").unwrap());
        let c = make_scoped(&https, ACCOUNT_SIGN_IN, "v".to_owned(), 60, ACCOUNT_PATH);
        assert_eq!(c.name(), "__Secure-usher-account-signin");
        assert_eq!(c.path(), Some("/account"));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        let http = Settings::new(Issuer::parse("http://127.0.0.1:8080").unwrap());
        let c = clear_scoped(&http, ACCOUNT_SIGN_IN, ACCOUNT_PATH);
        assert_eq!(c.name(), "usher-account-signin");
        assert_eq!(c.path(), Some("/account"));
    }
}
