//! CORS headers (docs/design/cors.md), the HTTP side of [`usher_core::cors`].
//!
//! - Discovery (both documents) and the JWKS are public: `Access-Control-Allow-Origin: *`
//!   for any origin, never credentials ([`public`], [`public_preflight`]).
//! - `/token`, `/userinfo`, `/revoke` and `/introspect` answer a preflight for an origin
//!   that belongs to some client ([`client_preflight`]), and the request itself carries
//!   `Access-Control-Allow-Origin: <origin>` only when the core's check found the origin
//!   to be the client's own ([`answer`]); their answers always carry `Vary: Origin`.
//! - Nothing else sends CORS headers: `/authorize`, the sign-in pages and `/account`
//!   have none, so a browser never lets another origin read them.
//!
//! `Access-Control-Allow-Credentials` is never sent: these endpoints need no cookies, and
//! without it a browser sends none cross-origin and ignores any `Set-Cookie`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::cors::{self as core_cors, Preflight};
use usher_domain::{Origin, PresentedOrigin};

use crate::Core;

/// How long a browser may remember a preflight's answer (seconds; Chromium caps it at
/// 7200, Firefox at 86400).
pub const PREFLIGHT_MAX_AGE: &str = "600";
/// The request headers a browser app may send to the client endpoints: a Bearer token or
/// Basic credentials, and the form's content type.
pub const ALLOWED_HEADERS: &str = "Authorization, Content-Type";
/// The response headers a browser app may read besides the safelisted ones: the RFC 6750
/// challenge and the Basic challenge of `invalid_client`.
pub const EXPOSED_HEADERS: &str = "WWW-Authenticate";

/// The request's `Origin`, parsed.
pub fn presented(req: &HttpRequest) -> PresentedOrigin {
    PresentedOrigin::from_header_values(
        req.headers()
            .get_all(header::ORIGIN)
            .map(|v| v.to_str().ok()),
    )
}

/// Adds `Access-Control-Allow-Origin: *` to a public document's answer.
pub fn public(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The preflight of a public document: any origin, `GET`, and the conditional-request
/// header (`If-None-Match`).
pub async fn public_preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "If-None-Match"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
        .finish()
}

/// The preflight of a client endpoint that allows `methods`: `204` with the CORS headers
/// for an origin that belongs to some client, `403` without them otherwise (the browser
/// then does not send the request). The answer is the same for every client's origin.
pub async fn client_preflight(
    req: &HttpRequest,
    state: &web::Data<Core>,
    methods: &'static str,
) -> HttpResponse {
    let decision = core_cors::preflight(state.get_ref(), &presented(req)).await;
    let mut builder = match &decision {
        Ok(Preflight::Allowed(_)) => HttpResponse::NoContent(),
        Ok(Preflight::Refused) => HttpResponse::Forbidden(),
        Err(usher_core::failure::Failure::Unavailable) => HttpResponse::ServiceUnavailable(),
        Err(usher_core::failure::Failure::Internal) => HttpResponse::InternalServerError(),
    };
    builder.insert_header((header::VARY, "Origin"));
    if let Ok(Preflight::Allowed(origin)) = &decision {
        builder
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str()))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
    }
    builder.finish()
}

/// A client endpoint's answer: `Vary: Origin` always, and when the core's check allowed
/// the request's origin, `Access-Control-Allow-Origin` for it.
pub fn answer(mut response: HttpResponse, allowed: Option<&Origin>) -> HttpResponse {
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed
        && let Ok(value) = HeaderValue::from_str(origin.as_str())
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_origin_header_is_read_once_and_strictly() {
        let req = TestRequest::default().to_http_request();
        assert_eq!(presented(&req), PresentedOrigin::Absent);
        let req = TestRequest::default()
            .insert_header((header::ORIGIN, "HTTPS://App.Example:443"))
            .to_http_request();
        assert_eq!(
            presented(&req),
            PresentedOrigin::Valid(Origin::parse("https://app.example").unwrap())
        );
        for bad in ["null", "https://app.example/", "https://u@app.example"] {
            let req = TestRequest::default()
                .insert_header((header::ORIGIN, bad))
                .to_http_request();
            assert_eq!(presented(&req), PresentedOrigin::Invalid, "{bad}");
        }
        let req = TestRequest::default()
            .append_header((header::ORIGIN, "https://a.example"))
            .append_header((header::ORIGIN, "https://a.example"))
            .to_http_request();
        assert_eq!(presented(&req), PresentedOrigin::Invalid);
    }

    #[test]
    fn an_answer_names_the_allowed_origin_and_always_varies_on_origin() {
        let origin = Origin::parse("https://app.example").unwrap();
        let allowed = answer(HttpResponse::Ok().finish(), Some(&origin));
        let h = allowed.headers();
        assert_eq!(
            h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
            "https://app.example"
        );
        assert_eq!(h.get(header::VARY).unwrap(), "Origin");
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        let refused = answer(HttpResponse::Ok().finish(), None);
        let h = refused.headers();
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(h.get(header::VARY).unwrap(), "Origin");
        let public = public(HttpResponse::Ok().finish());
        assert_eq!(
            public
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .unwrap(),
            "*"
        );
        assert!(
            public
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .is_none()
        );
    }
}
