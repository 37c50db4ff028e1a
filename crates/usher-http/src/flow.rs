//! The authorization flow shared by `/authorize`, the login form and the consent form:
//! deciding whether the person must log in or consent, keeping the pending request in an
//! interaction, and finally issuing the code and redirecting back to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use usher_domain::authorize::{AuthorizationRequest, Rejection};
use usher_domain::{
    AuthorizationCode, Client, ClientId, Interaction, InteractionStep, ProtocolError, ScopeSet,
    Session, UserId,
};
use usher_keys::sha256_b64url;

use crate::cookies;
use crate::id_token_hint::{HintError, IdTokenHint};
use crate::pages::{self, ConsentPage, ErrorPage, LoginPage, ScopeLine};
use crate::respond::{Failure, blocking, redirect, with_query};
use crate::state::AppState;

/// An error page for when the server itself failed mid-flow.
pub fn failure_page(f: Failure) -> HttpResponse {
    let (status, message) = match f {
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable for a moment. Please try again shortly.",
        ),
        Failure::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. Please try again.",
        ),
    };
    pages::error(
        status,
        ErrorPage {
            title: "Sign-in is unavailable",
            message,
        },
    )
}

/// A 400 error page: the request cannot be trusted or continued.
pub fn bad_request_page(title: &str, message: &str) -> HttpResponse {
    pages::error(StatusCode::BAD_REQUEST, ErrorPage { title, message })
}

/// The error response sent back to the client's redirect URI (RFC 6749 §4.1.2.1 with
/// RFC 9207's `iss`).
pub fn redirect_error(
    state: &AppState,
    redirect_uri: &str,
    client_state: Option<&str>,
    rejection: &Rejection,
) -> HttpResponse {
    tracing::info!(error = rejection.error.code(), description = %rejection.description, "authorization request refused");
    let mut pairs = vec![
        ("error", rejection.error.code()),
        ("error_description", rejection.description.as_str()),
    ];
    if let Some(s) = client_state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", state.settings.issuer.as_str()));
    redirect(&with_query(redirect_uri, &pairs))
}

pub fn rejection(error: ProtocolError, description: &str) -> Rejection {
    Rejection {
        error,
        description: description.to_owned(),
    }
}

/// The browser's current session, if its cookie names a live one.
pub async fn current_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<Session>, Failure> {
    let Some(id) = cookies::read(req, &state.settings, cookies::SESSION) else {
        return Ok(None);
    };
    let hash = sha256_b64url(&id);
    let sessions = state.stores.sessions.clone();
    let now = state.now();
    blocking(move || sessions.get_session(&hash, now)).await
}

/// The subject named by an `id_token_hint`, which must be an ID token Usher issued to a
/// registered client (expired ones are fine: OIDC Core §3.1.2.1); see
/// [`IdTokenHint::verify`].
pub async fn hint_subject(state: &AppState, hint: &str) -> Result<String, Rejection> {
    match IdTokenHint::verify(state, hint).await {
        Ok(h) => Ok(h.subject),
        Err(HintError::Invalid) => Err(rejection(
            ProtocolError::InvalidRequest,
            "id_token_hint is not an ID token issued by this server",
        )),
        Err(HintError::Failure(_)) => Err(rejection(
            ProtocolError::TemporarilyUnavailable,
            "the server cannot reach its storage; try again shortly",
        )),
    }
}

/// Whether the person must (again) enter their password for this request.
pub fn login_needed(request: &AuthorizationRequest, session: Option<&Session>, now: i64) -> bool {
    match session {
        None => true,
        Some(_) if request.prompt.login => true,
        // OIDC Core §3.1.2.1: max_age=0 is prompt=login (whole seconds would otherwise
        // let a login within the same second pass).
        Some(s) => request
            .max_age
            .is_some_and(|max| max == 0 || now.saturating_sub(s.auth_time.seconds()) > max as i64),
    }
}

/// Whether the consent page must be shown (first-party clients never see it).
pub async fn consent_needed(
    state: &AppState,
    client: &Client,
    user: &UserId,
    request: &AuthorizationRequest,
) -> Result<bool, Failure> {
    if client.registration.first_party {
        return Ok(false);
    }
    if request.prompt.consent {
        return Ok(true);
    }
    let consents = state.stores.consents.clone();
    let (user, client_id) = (user.clone(), client.id.clone());
    let granted = blocking(move || consents.get_consent(&user, &client_id)).await?;
    Ok(!granted.is_some_and(|g| request.scopes().is_subset(&g)))
}

/// A new random secret (256 bits) and its stored hash.
pub fn secret_pair() -> Result<(String, String), Failure> {
    let secret = usher_keys::random_token(32).map_err(|e| {
        tracing::error!(cause = %e, "no randomness");
        Failure::Internal
    })?;
    let hash = sha256_b64url(&secret);
    Ok((secret, hash))
}

/// Starts an interaction at `step` and renders its page, setting the interaction cookie.
pub async fn start_interaction(
    state: &AppState,
    client: &Client,
    request: &AuthorizationRequest,
    step: InteractionStep,
    user: Option<(UserId, usher_domain::UnixTime)>,
) -> HttpResponse {
    let result: Result<(Interaction, String), Failure> = async {
        let (id, _) = secret_pair()?;
        let (csrf, csrf_hash) = secret_pair()?;
        let now = state.now();
        let json = serde_json::to_string(request).map_err(|_| Failure::Internal)?;
        let interaction = Interaction {
            id,
            csrf_hash,
            step,
            request: json,
            user_id: user.as_ref().map(|(u, _)| u.clone()),
            auth_time: user.as_ref().map(|(_, t)| *t),
            created_at: now,
            expires_at: now.plus(state.settings.interaction_ttl),
        };
        let store = state.stores.interactions.clone();
        let row = interaction.clone();
        blocking(move || store.insert_interaction(&row)).await?;
        Ok((interaction, csrf))
    }
    .await;
    let (interaction, csrf) = match result {
        Ok(v) => v,
        Err(f) => return failure_page(f),
    };
    let mut response = match step {
        InteractionStep::Login => pages::login(
            StatusCode::OK,
            LoginPage {
                client_name: client.registration.name.as_str(),
                interaction: &interaction.id,
                csrf: &csrf,
                username: request.login_hint.as_deref().unwrap_or(""),
                error: None,
            },
        ),
        InteractionStep::Consent => {
            let username = match &interaction.user_id {
                Some(u) => username_of(state, u).await,
                None => String::new(),
            };
            consent_page(client, request, &username, &interaction.id, &csrf)
        }
    };
    let cookie = cookies::make(
        &state.settings,
        cookies::INTERACTION,
        interaction.id.clone(),
        state.settings.interaction_ttl,
    );
    if response.add_cookie(&cookie).is_err() {
        return failure_page(Failure::Internal);
    }
    response
}

/// The consent page for a request.
pub fn consent_page(
    client: &Client,
    request: &AuthorizationRequest,
    username: &str,
    interaction: &str,
    csrf: &str,
) -> HttpResponse {
    let scopes = request
        .scopes()
        .iter()
        .map(|s| ScopeLine {
            scope: s.as_str().to_owned(),
            description: pages::describe_scope(s.as_str()),
        })
        .collect();
    pages::consent(ConsentPage {
        client_name: client.registration.name.as_str(),
        username,
        scopes,
        interaction,
        csrf,
    })
}

/// The username to show on the consent page ("Signed in as …").
pub async fn username_of(state: &AppState, user: &UserId) -> String {
    match state.user(user).await {
        Ok(Some(u)) => u.username.as_str().to_owned(),
        _ => String::new(),
    }
}

/// Issues an authorization code for the session and redirects to the client with it.
pub async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &Session,
) -> HttpResponse {
    let result: Result<String, Failure> = async {
        let (code, code_hash) = secret_pair()?;
        let now = state.now();
        let client_id = ClientId::parse(&request.client_id).ok_or(Failure::Internal)?;
        let row = AuthorizationCode {
            code_hash,
            client_id,
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_sent: request.redirect_uri_sent,
            user_id: session.user_id.clone(),
            lineage_hash: session.lineage_hash.clone(),
            scopes: ScopeSet::parse(&request.scope).unwrap_or_default(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: session.auth_time,
            created_at: now,
            expires_at: now.plus(state.settings.code_ttl),
        };
        let codes = state.stores.codes.clone();
        blocking(move || codes.insert_code(&row)).await?;
        Ok(code)
    }
    .await;
    match result {
        Ok(code) => {
            tracing::info!(client_id = %request.client_id, "authorization code issued");
            let mut pairs = vec![("code", code.as_str())];
            if let Some(s) = &request.state {
                pairs.push(("state", s.as_str()));
            }
            pairs.push(("iss", state.settings.issuer.as_str()));
            let mut response = redirect(&with_query(&request.redirect_uri, &pairs));
            // The interaction, if there was one, is over.
            let _ =
                response.add_removal_cookie(&cookies::clear(&state.settings, cookies::INTERACTION));
            response
        }
        Err(f) => failure_page(f),
    }
}

/// Loads a client by its id string, for the form steps.
pub async fn load_client(state: &AppState, id: &str) -> Result<Option<Client>, Failure> {
    let Some(id) = ClientId::parse(id) else {
        return Ok(None);
    };
    state.client(&id).await
}

/// A pending interaction, loaded for a form step.
pub struct Pending {
    pub interaction: Interaction,
    pub request: AuthorizationRequest,
    pub client: Client,
    /// The hash of the CSRF token the form carried.
    pub csrf_hash: String,
}

/// Loads the interaction a form posts to: the form's `interaction` must equal the
/// browser's interaction cookie (the form is bound to the browser that started the
/// request), the interaction must be live and at `step`. The CSRF token is *not* consumed
/// here: the caller's compare-and-set does that.
pub async fn pending(
    state: &AppState,
    req: &HttpRequest,
    form: &usher_domain::authorize::RawParams,
    step: InteractionStep,
) -> Result<Pending, HttpResponse> {
    let expired = || {
        bad_request_page(
            "This page has expired",
            "The sign-in took too long or was already completed. Go back to the application and start again.",
        )
    };
    let (Some(id), Some(csrf)) = (
        crate::params::single(form, "interaction"),
        crate::params::single(form, "csrf"),
    ) else {
        return Err(bad_request_page(
            "This form is incomplete",
            "Go back to the application and start again.",
        ));
    };
    let cookie = cookies::read(req, &state.settings, cookies::INTERACTION);
    let same_browser = cookie
        .is_some_and(|c| c.len() == id.len() && openssl::memcmp::eq(c.as_bytes(), id.as_bytes()));
    if !same_browser {
        return Err(bad_request_page(
            "This form does not belong to this browser",
            "Cookies must be enabled to sign in. Go back to the application and start again.",
        ));
    }
    let store = state.stores.interactions.clone();
    let (lookup, now) = (id.to_owned(), state.now());
    let interaction = match blocking(move || store.get_interaction(&lookup, now)).await {
        Ok(Some(i)) if i.step == step => i,
        Ok(_) => return Err(expired()),
        Err(f) => return Err(failure_page(f)),
    };
    let request: AuthorizationRequest =
        serde_json::from_str(&interaction.request).map_err(|_| failure_page(Failure::Internal))?;
    let client = match load_client(state, &request.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(expired()),
        Err(f) => return Err(failure_page(f)),
    };
    Ok(Pending {
        interaction,
        request,
        client,
        csrf_hash: sha256_b64url(csrf),
    })
}

/// Replaces the interaction's CSRF token (and step/user) if the form's token is still the
/// current one. `Ok(false)`: the token was already used (or never valid).
pub async fn advance(
    state: &AppState,
    expected_csrf_hash: &str,
    next: &Interaction,
) -> Result<bool, Failure> {
    let store = state.stores.interactions.clone();
    let (expected, next, now) = (expected_csrf_hash.to_owned(), next.clone(), state.now());
    blocking(move || store.advance_interaction(&expected, &next, now)).await
}

/// Ends the interaction if the form's token is still current.
pub async fn finish(state: &AppState, id: &str, expected_csrf_hash: &str) -> Result<bool, Failure> {
    let store = state.stores.interactions.clone();
    let (id, expected, now) = (id.to_owned(), expected_csrf_hash.to_owned(), state.now());
    blocking(move || store.finish_interaction(&id, &expected, now)).await
}

/// The page for a form whose CSRF token was already used.
pub fn reused_form_page() -> HttpResponse {
    bad_request_page(
        "This form was already submitted",
        "Each sign-in form can be sent once. Go back to the application and start again.",
    )
}
