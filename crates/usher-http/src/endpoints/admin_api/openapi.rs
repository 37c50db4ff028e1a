//! The admin API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the views' schemas, so it cannot say something the code does not do;
//! `it::admin_api` validates it and calls every operation it lists.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header::CACHE_CONTROL;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    audit, clients, families, groups, invitations, keys, people, registration_tokens, resources,
    sessions,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Usher admin API",
        description = "Administration of an Usher authorization server. Every operation needs a bearer access token issued by this server for the audience `<issuer>/admin`, with the scope `admin:read` (reading) or `admin:write` (reading and changing); a token for a person works only while that person is a member of `usher-admins`. Changes need `If-Match` with the `ETag` read; lists are paged with `after` and `limit`.",
        license(name = "Apache-2.0")
    ),
    paths(
        clients::list, clients::create, clients::show, clients::update, clients::delete,
        clients::rotate_secret,
        groups::list, groups::create, groups::show, groups::delete, groups::add_member,
        groups::remove_member,
        resources::list, resources::create, resources::show, resources::update,
        resources::delete,
        people::list, people::create, people::show, people::update, people::delete,
        people::disable, people::enable, people::set_password,
        people::reset_factors, people::revoke_sessions,
        sessions::list, sessions::end,
        families::list, families::revoke,
        keys::list, keys::rotate, keys::retire,
        audit::list, audit::export,
        invitations::list, invitations::create, invitations::revoke,
        registration_tokens::list, registration_tokens::create, registration_tokens::revoke,
    ),
    modifiers(&Bearer),
    tags(
        (name = "clients", description = "OAuth clients registered by the operator"),
        (name = "groups", description = "Groups of people"),
        (name = "resources", description = "Resource servers (RFC 8707)"),
        (name = "people", description = "People who sign in"),
        (name = "families", description = "Refresh-token families"),
        (name = "keys", description = "Signing keys"),
        (name = "audit", description = "The audit trail"),
        (name = "invitations", description = "Invitations to sign up"),
        (name = "registration", description = "Initial access tokens for dynamic client registration"),
    )
)]
pub struct AdminApi;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as JSON, rendered once.
pub fn json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = AdminApi::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
    })
}

/// `GET /admin/api/openapi.json` (no token needed: it describes, it holds no data).
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-cache"))
        .content_type("application/json")
        .body(json())
}
