//! Where a person signs in from (issue 15, docs/design/accounts.md, "Browsers: where
//! you signed in from, and new-browser alerts"): the user agent a browser announced,
//! the known browsers of a person (a long-lived random cookie, stored only as a hash)
//! and their port.
//!
//! A user agent is whatever the client sent: it is kept only as a bounded, printable
//! label ([`UserAgent::parse`]), never trusted for a decision, and shown escaped.

use std::fmt;

use crate::ports::StoreError;
use crate::time::UnixTime;
use crate::user::UserId;

/// The most characters of a user agent that are kept (longer ones are cut there).
pub const USER_AGENT_MAX_CHARS: usize = 256;

/// The most browsers a person's list of known browsers holds; a new one beyond it
/// evicts the one seen least recently.
pub const KNOWN_BROWSERS_MAX: usize = 50;

/// How long a known browser (and its cookie) is remembered after it was last seen.
pub const KNOWN_BROWSER_TTL: i64 = 365 * 24 * 60 * 60;

/// A user agent as a label: control and invisible formatting characters
/// ([`crate::user::is_invisible_format`]) removed, surrounding space trimmed, at
/// most [`USER_AGENT_MAX_CHARS`] characters, never empty.
#[derive(Clone, PartialEq, Eq)]
pub struct UserAgent(String);

impl UserAgent {
    /// The label of a raw `User-Agent` value; `None` when nothing printable is left.
    pub fn parse(raw: &str) -> Option<UserAgent> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !c.is_control() && !crate::user::is_invisible_format(*c))
            .take(USER_AGENT_MAX_CHARS)
            .collect();
        let trimmed = cleaned.trim();
        (!trimmed.is_empty()).then(|| UserAgent(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short name for the page and the mail: "Firefox on Linux", "Safari on iPhone";
    /// the first 40 characters when the browser is not one of the common ones.
    pub fn short(&self) -> String {
        let ua = self.0.as_str();
        // Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
        let browser = [
            ("Edg/", "Edge"),
            ("EdgA/", "Edge"),
            ("OPR/", "Opera"),
            ("Firefox/", "Firefox"),
            ("FxiOS/", "Firefox"),
            ("CriOS/", "Chrome"),
            ("Chromium/", "Chromium"),
            ("Chrome/", "Chrome"),
            ("Safari/", "Safari"),
            ("curl/", "curl"),
        ]
        .into_iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| name);
        let system = [
            ("iPhone", "iPhone"),
            ("iPad", "iPad"),
            ("Android", "Android"),
            ("CrOS", "ChromeOS"),
            ("Windows", "Windows"),
            ("Mac OS X", "macOS"),
            ("Macintosh", "macOS"),
            ("Linux", "Linux"),
        ]
        .into_iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| name);
        match (browser, system) {
            (Some(b), Some(s)) => format!("{b} on {s}"),
            (Some(b), None) => b.to_owned(),
            (None, Some(s)) => format!("a browser on {s}"),
            (None, None) => {
                let head: String = ua.chars().take(40).collect();
                if head.len() < ua.len() {
                    format!("{head}…")
                } else {
                    head
                }
            }
        }
    }
}

impl fmt::Debug for UserAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserAgent").field(&self.0).finish()
    }
}

/// What a sign-in from a browser found in the person's known browsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserSeen {
    /// The browser was known: its `last_seen` is now.
    Known,
    /// The browser was not known and is now. `first` when the person never had a known
    /// browser before (their first sign-in since browsers are remembered): not merely
    /// none now, after a year's absence or a reset that forgot them.
    New { first: bool },
}

/// The known browsers of each person: `(user, browser hash)` with when it was first and
/// last seen. The hash is SHA-256 of the browser's random cookie; the cookie itself is
/// never stored.
pub trait KnownBrowserStore: Send + Sync {
    /// Records that `user` signed in from the browser `browser_hash` at `now`, and says
    /// whether it was known. One transaction, serialised per person: of concurrent
    /// sign-ins from one new browser exactly one finds it `New`; and a person never
    /// keeps more than `most` browsers (the least recently seen ones beyond it are
    /// removed), however many sign in at once.
    fn see_browser(
        &self,
        user: &UserId,
        browser_hash: &str,
        now: UnixTime,
        most: usize,
    ) -> Result<BrowserSeen, StoreError>;
    /// Forgets every known browser of `user` (a password reset, "sign out everywhere"):
    /// the next sign-in from any of them is a new browser's, and is mailed about. The
    /// person's history stays, so it is never taken for a first sign-in. The number
    /// forgotten.
    fn forget_browsers(&self, user: &UserId) -> Result<usize, StoreError>;
    /// How many browsers `user` has (tests, operators).
    fn known_browsers(&self, user: &UserId) -> Result<usize, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_is_bounded_printable_and_never_empty() {
        assert_eq!(UserAgent::parse(""), None);
        assert_eq!(UserAgent::parse(" \t\r\n\u{7}"), None);
        let ua = UserAgent::parse("  Mozilla/5.0\r\nX-Evil: 1\u{0}\u{1b}[31m ").unwrap();
        assert_eq!(ua.as_str(), "Mozilla/5.0X-Evil: 1[31m");
        let long = "é".repeat(1000);
        let ua = UserAgent::parse(&long).unwrap();
        assert_eq!(ua.as_str().chars().count(), USER_AGENT_MAX_CHARS);
    }

    #[test]
    fn a_short_user_agent_names_the_browser_and_the_system() {
        let short = |raw: &str| UserAgent::parse(raw).unwrap().short();
        assert_eq!(
            short("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            "Firefox on Linux"
        );
        assert_eq!(
            short(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
            ),
            "Edge on Windows"
        );
        assert_eq!(
            short(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
            ),
            "Safari on iPhone"
        );
        assert_eq!(short("curl/8.5.0"), "curl");
        assert_eq!(short("a-robot"), "a-robot");
        assert_eq!(short(&"x".repeat(50)), format!("{}…", "x".repeat(40)));
    }
}
