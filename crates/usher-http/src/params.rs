//! Request parameters at the edge: query strings and form bodies become a list of
//! `(name, value)` pairs, with malformed encoding and oversized bodies refused.
//!
//! Repeats are kept, so the protocol layer can refuse them (RFC 6749 §3.1, §3.2) with
//! [`reject_repeats`], which the token, revocation, introspection, userinfo and logout
//! endpoints and client authentication use. The authorization request has its own check
//! inside its parser (`usher_domain::authorize`), and the login and consent forms read
//! their fields with [`single`], which treats a repeated field as absent.

use actix_web::HttpRequest;
use actix_web::http::header::CONTENT_TYPE;
use percent_encoding::percent_decode;
use usher_domain::authorize::RawParams;
use usher_domain::error::{known_parameter, repeated_parameter};

/// The largest form body Usher reads (tokens and hints included, this is generous).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Why parameters could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("the parameters are not valid UTF-8 after percent-decoding")]
    BadEncoding,
    #[error("the request body must be application/x-www-form-urlencoded")]
    NotAForm,
    #[error("the request body is larger than {MAX_FORM_BYTES} bytes")]
    TooLarge,
}

/// Decodes `application/x-www-form-urlencoded` data strictly: `+` is a space, `%XX` is
/// a byte, and the result must be UTF-8.
pub fn decode(raw: &[u8]) -> Result<RawParams, ParamError> {
    let mut out = Vec::new();
    for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        out.push((field(name)?, field(value)?));
    }
    Ok(out)
}

fn field(raw: &[u8]) -> Result<String, ParamError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ParamError::BadEncoding)
}

/// The query string's parameters.
pub fn query(req: &HttpRequest) -> Result<RawParams, ParamError> {
    decode(req.query_string().as_bytes())
}

/// A form body's parameters; the content type must be a form.
pub fn form(req: &HttpRequest, body: &[u8]) -> Result<RawParams, ParamError> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ParamError::NotAForm);
    }
    if body.len() > MAX_FORM_BYTES {
        return Err(ParamError::TooLarge);
    }
    decode(body)
}

/// The single value of `name`, or `None` if absent, empty or repeated (usher-domain owns
/// the rule; the core reads token forms with it too).
pub use usher_domain::authorize::single;

/// A parameter that was sent more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated {
    /// The parameter, when it is one Usher knows ([`KNOWN_PARAMETERS`]); any other name
    /// is request text and is never quoted back.
    ///
    /// [`KNOWN_PARAMETERS`]: usher_domain::error::KNOWN_PARAMETERS
    pub known: Option<&'static str>,
}

impl Repeated {
    /// The fixed `error_description`: it names the parameter only when Usher knows it.
    pub fn description(&self) -> String {
        repeated_parameter(self.known.unwrap_or_default())
    }
}

/// Refuses repeated parameters (RFC 6749 §3.1, §3.2): `Err` names the first repeated one
/// (in name order, so the answer does not depend on the order they were sent in), unless
/// every repeated name is in `may_repeat` (RFC 8707 §2 lets `resource` repeat).
pub fn reject_repeats(params: &RawParams, may_repeat: &[&str]) -> Result<(), Repeated> {
    let mut names: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !may_repeat.contains(k))
        .collect();
    names.sort_unstable();
    match names.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(Repeated {
            known: known_parameter(w[0]),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent_and_keeps_repeats() {
        let p = decode(b"a=1+2&b=%C3%A9&a=3&flag").unwrap();
        assert_eq!(
            p,
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "é".into()),
                ("a".into(), "3".into()),
                ("flag".into(), "".into())
            ]
        );
        assert_eq!(
            single(&p, "a"),
            None,
            "a repeated value is not a single value"
        );
        assert_eq!(single(&p, "b"), Some("é"));
    }

    #[test]
    fn refuses_malformed_utf8() {
        assert_eq!(decode(b"a=%FF"), Err(ParamError::BadEncoding));
        assert_eq!(decode(b"%C3=x"), Err(ParamError::BadEncoding));
    }

    fn params(pairs: &[(&str, &str)]) -> RawParams {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_repeated_known_parameter_is_named() {
        let p = params(&[("scope", "a"), ("code", "x"), ("scope", "b")]);
        let repeated = reject_repeats(&p, &[]).unwrap_err();
        assert_eq!(repeated.known, Some("scope"));
        assert_eq!(
            repeated.description(),
            "the scope parameter is repeated; send it once"
        );
    }

    #[test]
    fn a_repeated_unknown_parameter_is_refused_without_quoting_it() {
        let p = params(&[("x\"<b>", "1"), ("code", "x"), ("x\"<b>", "2")]);
        let repeated = reject_repeats(&p, &[]).unwrap_err();
        assert_eq!(repeated.known, None);
        assert_eq!(
            repeated.description(),
            "a parameter is repeated; send each parameter once"
        );
    }

    #[test]
    fn the_first_repeat_in_name_order_is_reported() {
        let p = params(&[("state", "1"), ("code", "1"), ("state", "2"), ("code", "2")]);
        assert_eq!(reject_repeats(&p, &[]).unwrap_err().known, Some("code"));
    }

    #[test]
    fn names_that_may_repeat_pass_and_others_do_not() {
        let p = params(&[("resource", "https://a"), ("resource", "https://b")]);
        assert_eq!(reject_repeats(&p, &["resource"]), Ok(()));
        assert_eq!(reject_repeats(&p, &[]).unwrap_err().known, Some("resource"));
        let mut q = p.clone();
        q.extend(params(&[("token", "1"), ("token", "2")]));
        assert_eq!(
            reject_repeats(&q, &["resource"]).unwrap_err().known,
            Some("token")
        );
    }

    #[test]
    fn no_repeat_is_no_refusal() {
        assert_eq!(reject_repeats(&Vec::new(), &[]), Ok(()));
        let p = params(&[("a", ""), ("b", ""), ("ab", "")]);
        assert_eq!(reject_repeats(&p, &[]), Ok(()));
    }
}
