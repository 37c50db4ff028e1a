//! Request parameters at the edge: query strings and form bodies become a list of
//! `(name, value)` pairs, with malformed encoding and oversized bodies refused.
//!
//! Repeats are kept, so the protocol layer can refuse them (RFC 6749 §3.1, §3.2).

use actix_web::HttpRequest;
use actix_web::http::header::CONTENT_TYPE;
use percent_encoding::percent_decode;
use usher_domain::authorize::RawParams;

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

/// The single value of `name`, or `None` if absent, empty or repeated.
pub fn single<'a>(params: &'a RawParams, name: &str) -> Option<&'a str> {
    let mut found = params.iter().filter(|(k, _)| k == name);
    match (found.next(), found.next()) {
        (Some((_, v)), None) if !v.is_empty() => Some(v.as_str()),
        _ => None,
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
}
