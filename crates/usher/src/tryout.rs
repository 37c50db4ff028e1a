//! `usher try sign-in` and `usher try client-credentials`: watch a flow work end to end
//! from a terminal, in the spirit of `hydra perform authorization-code`.
//!
//! `try sign-in` runs a tiny relying party on a loopback port: it prints the URL to open,
//! sends the browser to Usher with PKCE, state and nonce, takes the code at
//! `http://127.0.0.1:PORT/callback`, exchanges it, validates the ID token against the
//! JWKS (with the `openidconnect` library, as any relying party would), and prints the ID
//! token claims, the access token claims and the refresh token's family id. The client
//! must have `http://127.0.0.1/callback` registered (any port matches, RFC 8252).

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Value, json};

use crate::config::Settings;

/// The decoded (not verified) claims of a JWT, for display.
pub fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// An HTTP client for a relying party: redirects are never followed (an authorization
/// server's redirects are for the browser, not for back-channel calls).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("cannot build an HTTP client")
}

/// What the callback produced, for the terminal.
struct Outcome {
    report: Value,
}

pub struct SignIn {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub port: u16,
    pub scope: String,
}

pub fn sign_in(settings: &Settings, args: SignIn, json_output: bool) -> anyhow::Result<()> {
    let issuer = settings.issuer.as_str().to_owned();
    actix_web::rt::System::new().block_on(async move {
        let http = http_client()?;
        let redirect = format!("http://127.0.0.1:{}/callback", args.port);
        let client = relying_party(
            &http,
            &issuer,
            &args.client_id,
            args.client_secret.as_deref(),
            &redirect,
        )
        .await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in args
            .scope
            .split(' ')
            .filter(|s| !s.is_empty() && *s != "openid")
        {
            request = request.add_scope(Scope::new(s.to_owned()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();

        let listener =
            std::net::TcpListener::bind(("127.0.0.1", args.port)).with_context(|| {
                format!(
                    "cannot listen on 127.0.0.1:{} (choose another with --port)",
                    args.port
                )
            })?;
        eprintln!("Open this URL in your browser to sign in:\n\n  {url}\n");
        eprintln!("(waiting for the browser at {redirect}; Ctrl-C to give up)");

        let done: Arc<Mutex<Option<anyhow::Result<Outcome>>>> = Arc::new(Mutex::new(None));
        let (stop_tx, mut stop_rx) = tokio::sync::mpsc::channel::<()>(1);
        let shared = web::Data::new(Rp {
            client,
            verifier: Mutex::new(Some(verifier)),
            state,
            nonce,
            issuer: issuer.clone(),
            done: done.clone(),
            stop: stop_tx,
            http: http.clone(),
        });
        let start = url.to_string();
        let server = HttpServer::new(move || {
            let start = start.clone();
            App::new()
                .app_data(shared.clone())
                .route(
                    "/",
                    web::get().to(move || {
                        let start = start.clone();
                        async move {
                            HttpResponse::Found()
                                .insert_header(("Location", start))
                                .finish()
                        }
                    }),
                )
                .route("/callback", web::get().to(callback))
        })
        .workers(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        stop_rx.recv().await;
        handle.stop(true).await;
        let outcome = done
            .lock()
            .map_err(|_| anyhow!("the callback failed"))?
            .take()
            .ok_or_else(|| anyhow!("no result from the callback"))??;
        if json_output {
            crate::admin::print_json(&outcome.report)?;
        } else {
            println!("{}", serde_json::to_string_pretty(&outcome.report)?);
        }
        Ok(())
    })
}

/// The relying party's client, as `openidconnect` types it after discovery.
pub type RpClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Discovers `issuer` and builds an `openidconnect` relying-party client for it: what
/// `try sign-in` uses, and what the integration tests use as a certified relying party.
pub async fn relying_party(
    http: &reqwest::Client,
    issuer: &str,
    client_id: &str,
    client_secret: Option<&str>,
    redirect_uri: &str,
) -> anyhow::Result<RpClient> {
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_owned())?, http)
        .await
        .with_context(|| {
            format!("cannot read the discovery document of {issuer}: is `usher serve` running?")
        })?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_owned()),
        client_secret.map(|s| ClientSecret::new(s.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned())?))
}

/// What the callback handler needs.
struct Rp {
    client: RpClient,
    verifier: Mutex<Option<openidconnect::PkceCodeVerifier>>,
    state: CsrfToken,
    nonce: Nonce,
    issuer: String,
    done: Arc<Mutex<Option<anyhow::Result<Outcome>>>>,
    stop: tokio::sync::mpsc::Sender<()>,
    http: reqwest::Client,
}

async fn callback(
    query: web::Query<std::collections::HashMap<String, String>>,
    rp: web::Data<Rp>,
) -> HttpResponse {
    let result = finish(&rp, &query).await;
    let page = match &result {
        Ok(_) => "<!doctype html><html lang=en><title>Signed in</title><h1>Signed in</h1><p>You can close this tab: the terminal shows the tokens.</p></html>".to_owned(),
        Err(e) => format!("<!doctype html><html lang=en><title>Sign-in failed</title><h1>Sign-in failed</h1><p>{}</p></html>", html_escape(&e.to_string())),
    };
    if let Ok(mut slot) = rp.done.lock() {
        *slot = Some(result);
    }
    let _ = rp.stop.try_send(());
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn finish(
    rp: &Rp,
    query: &std::collections::HashMap<String, String>,
) -> anyhow::Result<Outcome> {
    let (client, state, nonce, issuer) = (&rp.client, &rp.state, &rp.nonce, rp.issuer.as_str());
    if let Some(error) = query.get("error") {
        bail!(
            "Usher answered {error}: {}",
            query.get("error_description").map_or("", String::as_str)
        );
    }
    if query.get("state") != Some(state.secret()) {
        bail!("the state does not match: this callback is not for this sign-in");
    }
    if query.get("iss").map(String::as_str) != Some(issuer) {
        bail!("the iss parameter is not {issuer} (RFC 9207 mix-up protection)");
    }
    let code = query
        .get("code")
        .ok_or_else(|| anyhow!("no code in the callback"))?;
    let verifier = rp
        .verifier
        .lock()
        .map_err(|_| anyhow!("internal error"))?
        .take()
        .ok_or_else(|| anyhow!("this sign-in was already completed"))?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))?
        .set_pkce_verifier(verifier)
        .request_async(&rp.http)
        .await
        .map_err(|e| anyhow!("the code exchange failed: {e}"))?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| anyhow!("no ID token: does the client have the openid scope?"))?;
    // Usher signs ID tokens with RS256, ES256 or EdDSA (the client's choice or the
    // server's default); the verifier still takes each with its key's algorithm only.
    let verifier = client.id_token_verifier().set_allowed_algs(vec![
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::EdDsa,
    ]);
    id_token
        .claims(&verifier, nonce)
        .map_err(|e| anyhow!("the ID token is not valid: {e}"))?;
    let access = tokens.access_token().secret();
    let family = tokens
        .refresh_token()
        .and_then(|r| r.secret().split_once('.').map(|(f, _)| f.to_owned()));
    Ok(Outcome {
        report: json!({
            "id_token_claims": jwt_claims(&id_token.to_string()),
            "access_token_claims": jwt_claims(access),
            "refresh_token_family": family,
            "scope": tokens.scopes().map(|s| s.iter().map(|x| x.as_str().to_owned()).collect::<Vec<_>>()),
            "expires_in": tokens.expires_in().map(|d| d.as_secs()),
        }),
    })
}

pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub scope: Option<String>,
    pub resources: Vec<String>,
}

pub fn client_credentials(
    settings: &Settings,
    args: ClientCredentials,
    json_output: bool,
) -> anyhow::Result<()> {
    let token_endpoint = settings.issuer.endpoint(usher_http::routes::TOKEN);
    actix_web::rt::System::new().block_on(async move {
        let http = http_client()?;
        let mut form: Vec<(&str, String)> = vec![("grant_type", "client_credentials".to_owned())];
        if let Some(s) = &args.scope {
            form.push(("scope", s.clone()));
        }
        for r in &args.resources {
            form.push(("resource", r.clone()));
        }
        let response = http
            .post(&token_endpoint)
            .basic_auth(
                form_encode(&args.client_id),
                Some(form_encode(&args.client_secret)),
            )
            .form(&form)
            .send()
            .await
            .with_context(|| format!("cannot reach {token_endpoint}: is `usher serve` running?"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .context("the token endpoint did not answer JSON")?;
        if !status.is_success() {
            bail!(
                "the token endpoint refused ({status}): {} {}",
                body["error"].as_str().unwrap_or("?"),
                body["error_description"].as_str().unwrap_or("")
            );
        }
        let token = body["access_token"].as_str().unwrap_or("");
        let report = json!({
            "access_token_claims": jwt_claims(token),
            "token_type": body["token_type"],
            "expires_in": body["expires_in"],
            "scope": body["scope"],
        });
        if json_output {
            crate::admin::print_json(&report)
        } else {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    })
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
