//! `/admin/api/v1/invitations`: invitations to sign up: list the live ones, create one
//! (mailed; its link in the answer only when asked for), revoke those to an address.
//!
//! Revoking is `POST /admin/api/v1/invitations/revoke` with the address in the JSON body,
//! not `DELETE …?email=`: an address is personal data, and a query string ends up in
//! access logs and proxies; and what is revoked is every invitation to the address, not
//! one resource a URL names (docs/design/admin-api.md).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::Core;
use usher_core::admin::auth::Need;
use usher_core::admin::invitations::{self, InvitationInput, InvitationView, RevokedView, Sending};
use usher_core::admin::page::Page;
use usher_core::admin::{AdminStores, rfc3339, run};

use super::{ErrorBody, PREFIX, PageQuery, body, caller, plain, refusal, refused, respond};

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/invitations"))
            .route(web::get().to(list))
            .route(web::post().to(create)),
        web::resource(format!("{PREFIX}/invitations/revoke")).route(web::post().to(revoke)),
    ]
}

/// A new invitation.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationCreateRequest {
    pub email: String,
    /// Prefills the sign-up form.
    pub name: Option<String>,
    /// How long the link works: seconds, or a number with `s`, `m`, `h` or `d` (default
    /// 7d, at most 90d).
    pub expires_in: Option<String>,
    /// Whether the answer holds the link (`usher user invite --print-link`), to hand over
    /// yourself; required when the server has no mail server. Default false: the link
    /// goes only to the address.
    #[serde(default)]
    pub return_link: bool,
}

/// A new invitation. `Debug` hides the link.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct InvitationCreated {
    pub email: String,
    pub name: Option<String>,
    pub expires_at: String,
    /// Whether the mail was handed to the mail server.
    pub mailed: bool,
    /// Only with `return_link`, only in this answer: whoever has it can create the
    /// account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl std::fmt::Debug for InvitationCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationCreated")
            .field("expires_at", &self.expires_at)
            .field("mailed", &self.mailed)
            .finish_non_exhaustive()
    }
}

/// Which address's invitations to revoke.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRevokeRequest {
    pub email: String,
}

/// Lists the live invitations (never their links).
#[utoipa::path(get, path = "/admin/api/v1/invitations", tag = "invitations", operation_id = "invitations_list",
    params(PageQuery),
    responses((status = 200, description = "OK", body = Page<InvitationView>), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let now = state.now();
    super::paged(&req, &state, move |stores, page| {
        invitations::list(stores, now, page)
    })
    .await
}

/// Invites an address to sign up: mails the link (and returns it, once, with
/// `return_link`).
#[utoipa::path(post, path = "/admin/api/v1/invitations", tag = "invitations", operation_id = "invitations_create",
    request_body = InvitationCreateRequest,
    responses((status = 201, description = "Created", body = InvitationCreated), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 409, description = "A person has this address already", body = ErrorBody), (status = 503, description = "Made, but the mail server did not take the mail (nobody has the link)", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn create(req: HttpRequest, bytes: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let request: InvitationCreateRequest = body(&req, &bytes)?;
            let input = InvitationInput::parse(
                &request.email,
                request.name.as_deref(),
                request.expires_in.as_deref(),
            )
            .map_err(refusal)?;
            let stores = AdminStores::of(&state);
            let (settings, mailing) = (state.settings.clone(), state.mail.clone());
            let want_link = request.return_link;
            let made = run(move || {
                let sending = Sending {
                    mode: settings.signup,
                    issuer: &settings.issuer,
                    mailing: Some(&mailing),
                };
                invitations::create(&stores, &sending, input, want_link, &acting)
            })
            .await;
            Ok(match made {
                Ok(made) => {
                    super::note(&by, "invitation created", "an address");
                    plain(
                        StatusCode::CREATED,
                        &InvitationCreated {
                            email: made.email.as_str().to_owned(),
                            name: made.name.as_ref().map(|n| n.as_str().to_owned()),
                            expires_at: rfc3339(made.expires_at),
                            mailed: made.mailed,
                            link: made.link,
                        },
                    )
                }
                Err(e) => refused(e),
            })
        }
        .await,
    )
}

/// Revokes every invitation to an address: their links stop working.
#[utoipa::path(post, path = "/admin/api/v1/invitations/revoke", tag = "invitations", operation_id = "invitations_revoke",
    request_body = InvitationRevokeRequest,
    responses((status = 200, description = "Done (revoked 0: there was none)", body = RevokedView), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn revoke(req: HttpRequest, bytes: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let request: InvitationRevokeRequest = body(&req, &bytes)?;
            let email = invitations::parse_email(&request.email).map_err(refusal)?;
            let stores = AdminStores::of(&state);
            Ok(
                match run(move || invitations::revoke(&stores, &email, &acting)).await {
                    Ok(view) => {
                        super::note(&by, "invitations revoked", "an address");
                        plain(StatusCode::OK, &view)
                    }
                    Err(e) => refused(e),
                },
            )
        }
        .await,
    )
}
