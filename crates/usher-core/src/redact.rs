//! The one way usher-core keeps secrets out of `Debug` output. A type that holds a
//! token, a code, a client secret, a cookie value, a CSRF token or a sealed form writes
//! its own `Debug` with these helpers instead of deriving it, so a `{:?}` in a log line
//! or a panic message shows only whether a secret is there, never its value. Each such
//! type's module has a test that formats it with known secrets and looks for them.

/// Shown in place of a secret.
pub(crate) const REDACTED: &str = "<redacted>";

/// `Some("<redacted>")` when a secret is there, `None` when not.
pub(crate) fn redacted<T>(value: &Option<T>) -> Option<&'static str> {
    value.as_ref().map(|_| REDACTED)
}
