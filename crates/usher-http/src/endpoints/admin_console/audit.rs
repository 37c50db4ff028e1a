//! The console's audit trail: newest first, filtered by person, client, kind and time,
//! paged with the admin API's `next_before` (the core reads the filters as the API
//! does: `usher_core::admin_console::audit`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use usher_core::Core;
use usher_core::admin::AdminError;
use usher_core::admin::audit::AuditEventView;
use usher_core::admin_console::{self, AuditFilters};
use usher_domain::AuditKind;

use super::{page_admin, query, refusal_status};
use crate::flow::failure_page;
use crate::pages;
use crate::params;
use crate::routes;

pub fn routes() -> Vec<actix_web::Resource> {
    vec![web::resource(routes::ADMIN_AUDIT).route(web::get().to(list))]
}

/// One event as a row; `detail` is its JSON text (the template escapes it).
struct EventLine {
    event: AuditEventView,
    detail: String,
}

struct KindChoice {
    value: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage<'a> {
    username: &'a str,
    error: Option<String>,
    person: &'a str,
    client: &'a str,
    kinds: Vec<KindChoice>,
    since: &'a str,
    until: &'a str,
    events: Vec<EventLine>,
    next: Option<String>,
}

async fn list(req: HttpRequest, state: web::Data<Core>) -> HttpResponse {
    let admin = match page_admin(&req, &state).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let query = match query(&req) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let value = |name: &str| params::single(&query, name).map(str::to_owned);
    let filters = AuditFilters {
        person: value("person"),
        client: value("client"),
        kind: value("kind"),
        since: value("since"),
        until: value("until"),
        before: value("before"),
    };
    let (status, error, events, next) = match admin_console::audit(&state, &admin, &filters).await {
        Ok(page) => {
            let next = page.next_before.map(|before| next_link(&filters, before));
            let events = page
                .events
                .into_iter()
                .map(|event| EventLine {
                    detail: event.detail.to_string(),
                    event,
                })
                .collect();
            (StatusCode::OK, None, events, next)
        }
        Err(AdminError::Failure(f)) => return failure_page(f),
        Err(e) => {
            let (status, _) = refusal_status(&e);
            (status, Some(e.to_string()), Vec::new(), None)
        }
    };
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_owned();
    let (person, client, since, until) = (
        text(&filters.person),
        text(&filters.client),
        text(&filters.since),
        text(&filters.until),
    );
    let chosen = filters.kind.as_deref().map(str::trim);
    let kinds = AuditKind::ALL
        .iter()
        .map(|k| KindChoice {
            value: k.as_str(),
            selected: chosen == Some(k.as_str()),
        })
        .collect();
    pages::render(
        status,
        &AuditPage {
            username: admin.username(),
            error,
            person: &person,
            client: &client,
            kinds,
            since: &since,
            until: &until,
            events,
            next,
        },
    )
}

/// The next page's address: the same filters, `before` the last event shown.
fn next_link(filters: &AuditFilters, before: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("person", &filters.person),
        ("client", &filters.client),
        ("kind", &filters.kind),
        ("since", &filters.since),
        ("until", &filters.until),
    ] {
        if let Some(v) = value {
            query.append_pair(name, v);
        }
    }
    query.append_pair("before", &before.to_string());
    format!("{}?{}", routes::ADMIN_AUDIT, query.finish())
}
