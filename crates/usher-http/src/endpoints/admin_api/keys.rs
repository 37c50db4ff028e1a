//! `/admin/api/v1/keys`: the signing keys (never a private half), rotation on schedule or
//! at once, and the removal of a compromised key. Every node, this one included, acts on
//! a transition at its next key poll.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use usher_core::Core;
use usher_core::admin::auth::Need;
use usher_core::admin::keys::{self, KeyAdmin, KeyView, NextKey, Promoted, Retired};
use usher_core::admin::run;

use super::{ErrorBody, PREFIX, body, caller, plain, refusal, refuse, respond};

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(format!("{PREFIX}/keys")).route(web::get().to(list)),
        web::resource(format!("{PREFIX}/keys/rotate")).route(web::post().to(rotate)),
        web::resource(format!("{PREFIX}/keys/{{kid}}/retire")).route(web::post().to(retire)),
    ]
}

/// A rotation: of one algorithm or of all, on schedule or at once.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// `RS256`, `ES256` or `EdDSA`; absent: every algorithm.
    pub alg: Option<String>,
    /// At once (the next key, or a new one, signs now; verifiers with a cached JWKS may
    /// reject its tokens until they refetch), instead of publishing the next key to
    /// sign after the pre-publication period.
    #[serde(default)]
    pub now: bool,
}

/// What a rotation did, per algorithm.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Rotation {
    /// On schedule: the next keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<NextKey>,
    /// At once: the keys that sign now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promoted: Vec<Promoted>,
}

fn ops(state: &Core) -> Result<Arc<dyn KeyAdmin>, super::Refusal> {
    state.key_admin.clone().ok_or_else(|| {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "this node cannot change signing keys",
        )
    })
}

/// Lists the signing keys.
#[utoipa::path(get, path = "/admin/api/v1/keys", tag = "keys", operation_id = "keys_list",
    responses((status = 200, description = "OK", body = Vec<KeyView>), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:read"])))]
pub async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            caller(&req, &state, Need::Read).await?;
            let ops = ops(&state)?;
            let listed = run(move || ops.list()).await.map_err(refusal)?;
            let views: Vec<KeyView> = listed.iter().map(KeyView::of).collect();
            Ok(plain(StatusCode::OK, &views))
        }
        .await,
    )
}

/// Rotates the signing keys of one algorithm or of all.
#[utoipa::path(post, path = "/admin/api/v1/keys/rotate", tag = "keys", operation_id = "keys_rotate",
    request_body = RotateRequest,
    responses((status = 200, description = "OK", body = Rotation), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 409, description = "It exists already, or something depends on it", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn rotate(req: HttpRequest, bytes: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let request: RotateRequest = body(&req, &bytes)?;
            let algs = keys::parse_algs(request.alg.as_deref()).map_err(refusal)?;
            let ops = ops(&state)?;
            let at_once = request.now;
            let rotation = run(move || {
                let mut rotation = Rotation {
                    published: Vec::new(),
                    promoted: Vec::new(),
                };
                for alg in algs {
                    if at_once {
                        rotation.promoted.push(ops.promote_now(alg, &acting)?);
                    } else {
                        rotation.published.push(ops.publish_next(alg, &acting)?);
                    }
                }
                Ok(rotation)
            })
            .await
            .map_err(refusal)?;
            super::note(
                &by,
                if at_once {
                    "keys promoted now"
                } else {
                    "next keys published"
                },
                "keys",
            );
            Ok(plain(StatusCode::OK, &rotation))
        }
        .await,
    )
}

/// Removes a compromised key from the JWKS at once (another signs first if it was the
/// active one).
#[utoipa::path(post, path = "/admin/api/v1/keys/{kid}/retire", tag = "keys", operation_id = "keys_retire",
    params(("kid" = String, Path)),
    responses((status = 200, description = "OK", body = Retired), (status = 400, description = "The input breaks a rule (error_description says which)", body = ErrorBody), (status = 404, description = "Not found", body = ErrorBody), (status = 409, description = "It exists already, or something depends on it", body = ErrorBody), (status = 401, description = "No valid bearer token for the admin API", body = ErrorBody), (status = 403, description = "The token may not do this", body = ErrorBody)),
    security(("bearer" = ["admin:write"])))]
pub async fn retire(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<Core>,
) -> HttpResponse {
    respond(
        async {
            let by = caller(&req, &state, Need::Write).await?;
            let acting = by.clone();
            let kid = path.into_inner();
            keys::check_kid(&kid).map_err(refusal)?;
            let ops = ops(&state)?;
            let target = kid.clone();
            let done = run(move || ops.retire(&target, &acting))
                .await
                .map_err(refusal)?;
            super::note(&by, "signing key removed", &kid);
            Ok(plain(StatusCode::OK, &done))
        }
        .await,
    )
}
