//! The console's signing keys: the list, rotating (on schedule at once from the list;
//! at once after a confirmation page) and removing a compromised key (confirmed first).
//! A node without key operations (`Core::key_admin` is `None`) says so.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::keys::KeyView;
use usher_core::admin_console;
use usher_domain::SigningAlg;

use super::{ConfirmPage, confirm, csrf, form_admin, link, message, page_admin, query, refused};
use crate::pages;
use crate::params;
use crate::routes;

pub fn routes() -> Vec<actix_web::Resource> {
    vec![
        web::resource(routes::ADMIN_KEYS).route(web::get().to(list)),
        web::resource(routes::ADMIN_KEYS_ROTATE)
            .route(web::get().to(rotate_confirm))
            .route(web::post().to(rotate)),
        web::resource(routes::ADMIN_KEY_REMOVE)
            .route(web::get().to(remove_confirm))
            .route(web::post().to(remove)),
    ]
}

struct KeyLine {
    key: KeyView,
    remove_href: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_keys.html")]
struct ListPage<'a> {
    username: &'a str,
    csrf: &'a str,
    /// `None`: this node cannot manage keys.
    keys: Option<Vec<KeyLine>>,
    algs: Vec<&'static str>,
}

async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let keys = match admin_console::signing_keys(&state, &admin).await {
        Ok(k) => k,
        Err(e) => return refused(&admin, &e, routes::ADMIN, "Admin console"),
    };
    let token = match csrf(&state, &admin).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let keys = keys.map(|keys| {
        keys.into_iter()
            .map(|key| KeyLine {
                remove_href: (key.state != "removed")
                    .then(|| link(routes::ADMIN_KEY_REMOVE, "kid", &key.kid)),
                key,
            })
            .collect()
    });
    pages::render(
        StatusCode::OK,
        &ListPage {
            username: admin.username(),
            csrf: &token,
            keys,
            algs: SigningAlg::ALL.iter().map(|a| a.as_str()).collect(),
        },
    )
}

/// The algorithm field's words on a page.
fn which(alg: &str) -> String {
    if alg.is_empty() || alg == "all" {
        "every algorithm".to_owned()
    } else {
        alg.to_owned()
    }
}

async fn rotate_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let alg = params::single(&query, "alg").unwrap_or("all");
    if let Err(e) = admin_console::key_algs(Some(alg)) {
        return refused(&admin, &e, routes::ADMIN_KEYS, "Signing keys");
    }
    let text = format!(
        "A new key signs at once for {}; the key that signed until now retires. Verifiers that cached the JWKS may reject tokens signed with the new key until they fetch it again.",
        which(alg)
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Rotate the signing keys at once?",
            message: &text,
            action: routes::ADMIN_KEYS_ROTATE,
            fields: vec![("alg", alg), ("when", "now")],
            button: "Rotate at once",
            cancel: routes::ADMIN_KEYS,
        },
    )
    .await
}

async fn rotate(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let alg = params::single(&form, "alg").unwrap_or("all");
    // Only the confirmation page's form says `now`; the list's form rotates on schedule.
    let at_once = params::single(&form, "when") == Some("now");
    match admin_console::rotate_keys(&state, &admin, Some(alg), at_once).await {
        Ok(done) => {
            let keys: Vec<String> = done
                .iter()
                .map(|(alg, kid)| format!("{alg}: {kid}"))
                .collect();
            let text = if at_once {
                format!("These keys sign now: {}.", keys.join(", "))
            } else {
                format!(
                    "These keys are published and sign after the pre-publication period: {}.",
                    keys.join(", ")
                )
            };
            message(
                StatusCode::OK,
                &admin,
                "Signing keys rotated",
                &text,
                routes::ADMIN_KEYS,
                "Signing keys",
            )
        }
        Err(e) => refused(&admin, &e, routes::ADMIN_KEYS, "Signing keys"),
    }
}

async fn remove_confirm(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let kid = params::single(&query, "kid").unwrap_or("");
    let text = format!(
        "The key {kid} leaves the JWKS at once: every token it signed stops verifying. If it signs now, another key signs first. Do this only for a compromised key."
    );
    confirm(
        &state,
        &admin,
        ConfirmPage {
            username: admin.username(),
            csrf: "",
            title: "Remove this signing key?",
            message: &text,
            action: routes::ADMIN_KEY_REMOVE,
            fields: vec![("kid", kid)],
            button: "Remove the key",
            cancel: routes::ADMIN_KEYS,
        },
    )
    .await
}

async fn remove(req: HttpRequest, body: web::Bytes, state: web::Data<Core>) -> HttpResponse {
    let (admin, form) = match form_admin(&req, &body, &state).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let kid = params::single(&form, "kid").unwrap_or("");
    match admin_console::remove_key(&state, &admin, kid).await {
        Ok(done) => {
            let text = match done.active {
                Some(active) => format!(
                    "The key {} was removed; {} signs now.",
                    done.removed, active.kid
                ),
                None => format!("The key {} was removed.", done.removed),
            };
            message(
                StatusCode::OK,
                &admin,
                "Signing key removed",
                &text,
                routes::ADMIN_KEYS,
                "Signing keys",
            )
        }
        Err(e) => refused(&admin, &e, routes::ADMIN_KEYS, "Signing keys"),
    }
}
