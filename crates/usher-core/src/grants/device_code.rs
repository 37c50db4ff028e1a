//! The device authorization grant (RFC 8628): the device authorization endpoint's
//! decision ([`authorize`]), the verification page's decisions ([`lookup`], [`confirm_form`],
//! [`decide`]) and `grant_type=urn:ietf:params:oauth:grant-type:device_code` at the token
//! endpoint ([`poll`]). The design, the code formats and the threats are in
//! docs/design/device-grant.md.
//!
//! - A client registered for the grant asks for a device authorization (§3.1, client
//!   authentication as at `/token`); it gets a device code (256 bits, only its SHA-256
//!   stored), a user code ([`UserCode`], stored as a keyed hash), the verification URI
//!   `<issuer>/device`, `expires_in` and `interval`.
//! - On the verification page a person types the user code. Each lookup is counted
//!   against the client address and against one global key before the code is looked at
//!   (the login throttle's reserve-then-settle rule; a right code gives its reservations
//!   back), so guessing is bounded per address and in total however many race.
//! - Signed in, the person sees the app, the scopes and the code, with the warning not
//!   to continue on a code someone sent them, and approves or denies: one
//!   compare-and-set of the pending row. The confirmation's form token is bound to the
//!   session *and* the user code, so one looked-up code cannot be used to try others.
//! - The device polls `/token`: `authorization_pending`; `slow_down` when it polls
//!   before its interval has passed (the interval grows by 5 s and is remembered in the
//!   row, so every node enforces it); `expired_token`; `access_denied`. Once approved,
//!   one atomic claim (approved → claimed) lets exactly one poll mint tokens, exactly
//!   as the code grant mints them (`person_tokens`), tied to the browser session the
//!   person approved in (its lineage), as a code is.

use usher_domain::authorize::{RawParams, parse_resources, single};
use usher_domain::scope::OFFLINE_ACCESS;
use usher_domain::{
    AuthorizationCode, Client, CodeChallenge, DeviceApproval, DeviceGrant, DeviceGrantStatus,
    GrantType, LoginFailures, PollGate, ProtocolError, RedirectUri, Reservation, ResourceUri,
    ScopeSet, Session, ThrottlePolicy, UnixTime, UserCode,
};

use crate::Core;
use crate::account::forms::{self, ANONYMOUS, FormPurpose, FormRefusal};
use crate::client_address::ClientAddress;
use crate::failure::{Failure, blocking};
use crate::grants::authorization_code;
use crate::grants::person_tokens::{self, Grant};
use crate::grants::{TokenError, TokenRequest, TokenResponse, require_grant};
use crate::lineage::{self, StartRefused};

/// The verification page (`verification_uri`); the router serves it at this path.
pub const VERIFICATION_PATH: &str = "/device";

/// Wrong user codes per client address in a window before it locks (then one per lock,
/// doubling from [`LOOKUP_LOCK_SECONDS`] up to 15 minutes).
pub const LOOKUPS_PER_ADDRESS: u32 = 10;
/// Wrong user codes from everyone together in a window before every lookup locks: the
/// bound on a guessing campaign spread over many addresses (docs/design/device-grant.md).
pub const LOOKUPS_GLOBAL: u32 = 1000;
/// The first lock of either key, in seconds.
pub const LOOKUP_LOCK_SECONDS: i64 = 60;
/// The throttle key of every lookup together.
pub const GLOBAL_KEY: &str = "device:global";

/// Device authorizations started from one client address in [`AUTHORIZATIONS_WINDOW`]
/// seconds; past it the address waits until the window is over (`429`, `Retry-After`).
/// Each start stores a row until it expires, so this bounds what one address can make
/// the database hold (docs/design/device-grant.md, "Limits").
pub const AUTHORIZATIONS_PER_ADDRESS: u32 = 30;
/// The window of [`AUTHORIZATIONS_PER_ADDRESS`], and the lock after it, in seconds.
pub const AUTHORIZATIONS_WINDOW: i64 = 600;

/// What the device authorization endpoint answers (RFC 8628 §3.2). `Debug` hides both
/// codes.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: UserCode,
    /// `<issuer>/device`.
    pub verification_uri: String,
    /// `<issuer>/device?user_code=XXXX-XXXX`.
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// The keyed hash a user code is stored and looked up by: HMAC under the secret-hashing
/// key (derived from the KEK), with a label of its own.
pub fn user_code_hash(core: &Core, code: &UserCode) -> String {
    core.secrets
        .hash(&format!("usher device user code v1\u{0}{}", code.as_str()))
}

/// A fresh user code from OpenSSL's generator.
fn draw_user_code() -> Result<UserCode, Failure> {
    let mut bytes = [0u8; 32];
    loop {
        openssl::rand::rand_bytes(&mut bytes).map_err(|e| {
            tracing::error!(cause = %e, "no randomness");
            Failure::Internal
        })?;
        if let Some(code) = UserCode::from_random(&bytes) {
            return Ok(code);
        }
    }
}

/// The scopes asked for: all of them registered for the client (none asked: every
/// registered one), `offline_access` only for a client that may refresh.
fn asked_scopes(client: &Client, form: &RawParams) -> Result<ScopeSet, TokenError> {
    let registered = &client.registration.scopes;
    let Some(raw) = single(form, "scope") else {
        return Ok(registered.clone());
    };
    let asked = ScopeSet::parse(raw).map_err(|_| {
        TokenError::refused(
            ProtocolError::InvalidScope,
            "scope is malformed: space-separated tokens without quotes or backslashes",
        )
    })?;
    if asked.contains(OFFLINE_ACCESS) && !client.allows_grant(GrantType::RefreshToken) {
        return Err(TokenError::refused(
            ProtocolError::InvalidScope,
            "offline_access needs a client registered for the refresh_token grant",
        ));
    }
    Ok(asked)
}

/// Counts one device authorization from `address` on the shared throttle (the key
/// `device_authorization:<address>`, one key for every unknown address); `Some(wait)`,
/// in seconds, when the address is over its budget. One atomic reservation per
/// request, never given back, so concurrent requests cannot overshoot.
pub async fn admit(core: &Core, address: &ClientAddress) -> Result<Option<i64>, Failure> {
    let now = core.now();
    let store = core.stores.throttle.clone();
    let key = format!("device_authorization:{}", address.throttle_key_or_shared());
    let rule = ThrottlePolicy {
        max_failures: AUTHORIZATIONS_PER_ADDRESS,
        first_lock: AUTHORIZATIONS_WINDOW,
        window: AUTHORIZATIONS_WINDOW,
        max_lock: AUTHORIZATIONS_WINDOW,
    };
    match blocking(move || store.reserve_attempt(&key, now, &rule)).await? {
        Reservation::Granted(_) => Ok(None),
        Reservation::Refused { until } => {
            let wait = (until.seconds() - now.seconds()).max(1);
            tracing::info!(event = "device_authorization_throttled", address = %address.throttle_key_or_shared(), wait, "a device authorization was refused: too many from this address");
            Ok(Some(wait))
        }
    }
}

/// `POST /device_authorization` of an authenticated `client` (RFC 8628 §3.1–3.2).
pub async fn authorize(
    core: &Core,
    client: &Client,
    form: &RawParams,
) -> Result<DeviceAuthorization, TokenError> {
    require_grant(client, GrantType::DeviceCode)?;
    let asked = asked_scopes(client, form)?;
    let resource_values: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "resource")
        .map(|(_, v)| v.clone())
        .collect();
    let resources: Vec<ResourceUri> =
        parse_resources(Some(resource_values.as_slice())).map_err(TokenError::Refused)?;
    let scopes = if resources.is_empty() {
        if asked
            .iter()
            .any(|s| !client.registration.scopes.contains(s.as_str()))
        {
            return Err(TokenError::refused(
                ProtocolError::InvalidScope,
                "a requested scope is not registered for this client",
            ));
        }
        asked
    } else {
        crate::resources::granted(core, client, &resources, &asked).await?
    };

    let now = core.now();
    let settings = &core.settings;
    let (device_code, device_code_hash) = crate::secret_pair()?;
    // A user code already held by another pending authorization is drawn again (the
    // insert refuses it); with 20⁸ codes this loop almost never turns.
    for _ in 0..8 {
        let user_code = draw_user_code()?;
        let grant = DeviceGrant {
            device_code_hash: device_code_hash.clone(),
            user_code_hash: user_code_hash(core, &user_code),
            client_id: client.id.clone(),
            scopes: scopes.clone(),
            resources: resources.clone(),
            status: DeviceGrantStatus::Pending,
            approval: None,
            interval: settings.device_poll_interval,
            last_poll_at: None,
            created_at: now,
            expires_at: now.plus(settings.device_code_ttl),
        };
        let store = core.stores.devices.clone();
        if blocking(move || store.insert_device_grant(&grant)).await? {
            tracing::info!(client_id = %client.id, "device authorization started");
            let verification_uri = settings.issuer.endpoint(VERIFICATION_PATH);
            let verification_uri_complete =
                format!("{verification_uri}?user_code={}", user_code.display());
            return Ok(DeviceAuthorization {
                device_code,
                user_code,
                verification_uri,
                verification_uri_complete,
                expires_in: settings.device_code_ttl,
                interval: settings.device_poll_interval,
            });
        }
    }
    tracing::error!("no free user code after eight draws");
    Err(Failure::Internal.into())
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4–3.5);
/// `client` is already authenticated.
pub async fn poll(
    core: &Core,
    client: Client,
    request: &TokenRequest,
) -> Result<TokenResponse, TokenError> {
    require_grant(&client, GrantType::DeviceCode)?;
    let Some(device_code) = request.device_code.as_deref() else {
        return Err(TokenError::refused(
            ProtocolError::InvalidRequest,
            "device_code is missing",
        ));
    };
    let hash = usher_keys::sha256_b64url(device_code);
    let now = core.now();
    let store = core.stores.devices.clone();
    let h = hash.clone();
    let Some(grant) = blocking(move || store.find_device_grant(&h)).await? else {
        return Err(TokenError::invalid_grant("the device code is invalid"));
    };
    if grant.client_id != client.id {
        return Err(TokenError::invalid_grant(
            "the device code was issued to another client",
        ));
    }
    if grant.expires_at <= now && grant.status != DeviceGrantStatus::Claimed {
        return Err(TokenError::refused(
            ProtocolError::ExpiredToken,
            "the device code has expired; start a new device authorization",
        ));
    }
    match grant.status {
        DeviceGrantStatus::Denied => Err(TokenError::refused(
            ProtocolError::AccessDenied,
            "the person denied the authorization",
        )),
        DeviceGrantStatus::Claimed => Err(TokenError::invalid_grant(
            "the device code was already used",
        )),
        DeviceGrantStatus::Pending => {
            let store = core.stores.devices.clone();
            match blocking(move || store.poll_device_grant(&hash, now)).await? {
                PollGate::SlowDown { interval } => Err(TokenError::refused(
                    ProtocolError::SlowDown,
                    format!("polling too fast; wait {interval} seconds between requests"),
                )),
                // Decided between the read and the poll: the next poll sees it.
                PollGate::Pending | PollGate::NotPending => Err(TokenError::refused(
                    ProtocolError::AuthorizationPending,
                    "the person has not yet approved the authorization",
                )),
            }
        }
        DeviceGrantStatus::Approved => issue(core, client, request, grant, now).await,
    }
}

/// The approved `grant`'s tokens, for the one poll whose claim wins.
async fn issue(
    core: &Core,
    client: Client,
    request: &TokenRequest,
    grant: DeviceGrant,
    now: UnixTime,
) -> Result<TokenResponse, TokenError> {
    let Some(approval) = grant.approval.clone() else {
        return Err(Failure::Internal.into());
    };
    // Only the scopes the client is still registered for (its registration may have
    // shrunk since the approval), and the access token's resources: those of the grant,
    // or fewer (RFC 8707 §2), the same rule as a code's; decided before the claim.
    let scopes = grant.scopes.intersection(&client.registration.scopes);
    let target = crate::resources::token_target(
        core,
        &grant.resources,
        grant.created_at,
        &request.resources,
        &scopes,
    )
    .await
    .map_err(TokenError::from)?;
    // As for a code: a client that may get a refresh token needs the family store, so
    // answer 503 before the device code is spent if it cannot be reached.
    if client.allows_grant(GrantType::RefreshToken)
        && core.stores.families.kind() != "embedded"
        && let Err(e) = core.stores.families.ping().await
    {
        return Err(Failure::from(e).into());
    }
    // The person who approved must still be there and not disabled, before the claim.
    let user = match core.active_user(&approval.user_id).await? {
        Ok(user) => user,
        Err(why) => return Err(TokenError::invalid_grant(why.to_string())),
    };
    let store = core.stores.devices.clone();
    let hash = grant.device_code_hash.clone();
    if !blocking(move || store.claim_device_grant(&hash, now)).await? {
        return Err(TokenError::invalid_grant(
            "the device code was already used",
        ));
    }
    // As at a code exchange: still in one of a restricted client's groups.
    let groups = person_tokens::groups_claim(core, &client, &user, &target.scope).await?;
    // The approval as the code grant's machinery knows a grant: a code issued in the
    // approving browser session, with no redirect and no PKCE (the device code's own
    // hash names the refresh family, as a code's does).
    let as_code = AuthorizationCode {
        code_hash: grant.device_code_hash.clone(),
        client_id: client.id.clone(),
        redirect_uri: device_redirect_marker()?,
        redirect_uri_sent: false,
        user_id: approval.user_id.clone(),
        lineage_hash: approval.lineage_hash.clone(),
        scopes,
        resources: grant.resources.clone(),
        nonce: None,
        code_challenge: None::<CodeChallenge>,
        auth_time: approval.auth_time,
        amr: approval.amr.clone(),
        created_at: grant.created_at,
        expires_at: grant.expires_at,
    };
    let sid = crate::tokens::sid_of(&approval.lineage_hash);
    crate::backchannel::record(core, &client, &as_code, &sid, now).await?;
    let refresh_token = match lineage::start_family(core, &client, &as_code, now).await {
        Ok(t) => t,
        Err(StartRefused::SignInEnded) => {
            return Err(TokenError::invalid_grant(
                "the sign-in this authorization was approved in has ended",
            ));
        }
        Err(StartRefused::Failure(f)) => return Err(f.into()),
    };
    // "Remove access" between the approval and this poll, as for a code.
    if authorization_code::access_removed(core, &client, &as_code, now).await? {
        tracing::info!(client_id = %client.id, "an approved device code was polled after the person removed the app's access; refused");
        return Err(TokenError::invalid_grant(
            "the person removed this app's access since approving the device",
        ));
    }
    let token_grant = Grant {
        client: &client,
        user: &user,
        scope: &target.scope,
        resources: &target.resources,
        auth_time: approval.auth_time,
        amr: &approval.amr,
        nonce: None,
        sid: Some(&sid),
        groups: groups.as_deref(),
        now,
    };
    let minted = person_tokens::access_token(core, &token_grant)?;
    Ok(person_tokens::respond(
        core,
        &token_grant,
        minted,
        refresh_token,
        GrantType::DeviceCode,
    )?)
}

/// The redirect URI the in-memory code of a device approval carries: none is ever used
/// (nothing is redirected), but the type needs one.
fn device_redirect_marker() -> Result<RedirectUri, Failure> {
    "http://127.0.0.1/device"
        .parse::<RedirectUri>()
        .map_err(|_| Failure::Internal)
}

/// A pending authorization as the confirmation page shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingDevice {
    pub user_code: UserCode,
    pub client_name: String,
    pub scopes: ScopeSet,
    /// What the page calls each requested resource.
    pub resources: Vec<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for PendingDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingDevice")
            .field("client_name", &self.client_name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// What a lookup of a typed user code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A pending authorization: show its confirmation.
    Found(PendingDevice),
    /// Not a code of any pending authorization (malformed, unknown, decided, expired).
    NotFound,
    /// Too many wrong codes from this address (or from everyone): wait this long.
    Throttled { wait: i64 },
}

fn policy(max: u32) -> ThrottlePolicy {
    ThrottlePolicy::new(max, LOOKUP_LOCK_SECONDS)
}

/// The throttle keys of a lookup from `address`, each with its policy: the address (or
/// the one key of unknown addresses), then every lookup together.
fn lookup_keys(address: &ClientAddress) -> [(String, ThrottlePolicy); 2] {
    [
        (
            format!("device:{}", address.throttle_key_or_shared()),
            policy(LOOKUPS_PER_ADDRESS),
        ),
        (GLOBAL_KEY.to_owned(), policy(LOOKUPS_GLOBAL)),
    ]
}

/// Reserves a lookup against every key; the reservations, or how long to wait (nothing
/// stays reserved then).
async fn reserve(
    core: &Core,
    address: &ClientAddress,
) -> Result<Result<Vec<(String, ThrottlePolicy, LoginFailures)>, i64>, Failure> {
    let now = core.now();
    let keys = lookup_keys(address);
    let store = core.stores.throttle.clone();
    blocking(move || {
        let mut held = Vec::new();
        for (key, policy) in keys {
            match store.reserve_attempt(&key, now, &policy)? {
                Reservation::Granted(f) => held.push((key, policy, f)),
                Reservation::Refused { until } => {
                    for (k, p, f) in &held {
                        store.release_attempt(k, f, p)?;
                    }
                    return Ok(Err((until.seconds() - now.seconds()).max(1)));
                }
            }
        }
        Ok(Ok(held))
    })
    .await
}

/// The person typed `typed` on the verification page, from `address`: counted against
/// the address and globally *before* anything is looked up; a right code gives its
/// reservations back, so only wrong codes count.
pub async fn lookup(core: &Core, typed: &str, address: &ClientAddress) -> Result<Lookup, Failure> {
    let held = match reserve(core, address).await? {
        Ok(held) => held,
        Err(wait) => {
            tracing::info!(
                event = "device_lookup_throttled",
                "a user code lookup was throttled"
            );
            return Ok(Lookup::Throttled { wait });
        }
    };
    let found = match UserCode::parse(typed) {
        Some(code) => pending(core, &code).await?,
        None => None,
    };
    let Some(found) = found else {
        return Ok(Lookup::NotFound);
    };
    let store = core.stores.throttle.clone();
    blocking(move || {
        for (k, p, f) in &held {
            store.release_attempt(k, f, p)?;
        }
        Ok(())
    })
    .await?;
    Ok(Lookup::Found(found))
}

/// The pending, unexpired authorization of `code`, as the page shows it.
async fn pending(core: &Core, code: &UserCode) -> Result<Option<PendingDevice>, Failure> {
    let Some(grant) = pending_grant(core, code).await? else {
        return Ok(None);
    };
    let Some(client) = core.client(&grant.client_id).await? else {
        return Ok(None);
    };
    Ok(Some(PendingDevice {
        user_code: code.clone(),
        client_name: client.registration.name.as_str().to_owned(),
        scopes: grant.scopes.clone(),
        resources: crate::resources::labels(core, &grant.resources).await,
        created_at: grant.created_at,
        expires_at: grant.expires_at,
    }))
}

async fn pending_grant(core: &Core, code: &UserCode) -> Result<Option<DeviceGrant>, Failure> {
    let hash = user_code_hash(core, code);
    let store = core.stores.devices.clone();
    let grant = blocking(move || store.find_device_grant_by_user_code(&hash)).await?;
    let now = core.now();
    Ok(grant.filter(|g| g.status == DeviceGrantStatus::Pending && g.expires_at > now))
}

/// What the confirmation form's token is bound to: the session and the user code.
fn confirm_binding(core: &Core, session: &Session, code: &UserCode) -> String {
    format!("{}:{}", session.id_hash, user_code_hash(core, code))
}

/// The single-use token of the confirmation form for `code`, shown to `session`.
pub async fn confirm_form(
    core: &Core,
    session: &Session,
    code: &UserCode,
) -> Result<String, Failure> {
    forms::issue_bound(
        core,
        &confirm_binding(core, session, code),
        FormPurpose::DeviceConfirm,
    )
    .await
}

/// The single-use token of the code-entry form (sealed: showing the page writes nothing).
pub fn entry_form(core: &Core) -> Result<String, Failure> {
    forms::issue_sealed(core, ANONYMOUS, FormPurpose::DeviceEntry)
}

/// Takes the code-entry form's token.
pub async fn take_entry_form(
    core: &Core,
    token: Option<&str>,
) -> Result<Result<(), FormRefusal>, Failure> {
    forms::take_sealed(core, ANONYMOUS, token, FormPurpose::DeviceEntry).await
}

/// What the person's answer on the confirmation page did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Approved: the device gets its tokens at its next poll.
    Approved { client_name: String },
    /// Denied: the device is told `access_denied`.
    Denied,
    /// The form was not one Usher showed for this session and code, or was used.
    Refused(FormRefusal),
    /// The authorization is no longer pending (decided, expired, or unknown).
    Gone,
    /// The app needs a sign-in with a second factor, and this one had none.
    NeedsSecondFactor,
    /// The signed-in person was disabled (or deleted) since: nothing was decided.
    AccountDisabled,
    /// The app is restricted to groups the person is in none of: the authorization is
    /// denied (the device is told `access_denied`), and the page says why.
    NoAccess { client_name: String },
}

/// The person approved (`approve`) or denied the authorization of `code` in `session`.
pub async fn decide(
    core: &Core,
    session: &Session,
    code: &UserCode,
    form_token: Option<&str>,
    approve: bool,
) -> Result<Decided, Failure> {
    let binding = confirm_binding(core, session, code);
    if let Err(refusal) =
        forms::take_bound(core, &binding, form_token, FormPurpose::DeviceConfirm).await?
    {
        return Ok(Decided::Refused(refusal));
    }
    let Some(grant) = pending_grant(core, code).await? else {
        return Ok(Decided::Gone);
    };
    let Some(client) = core.client(&grant.client_id).await? else {
        return Ok(Decided::Gone);
    };
    // A person disabled since they signed in approves nothing (nothing is written).
    if approve && core.active_user(&session.user_id).await?.is_err() {
        return Ok(Decided::AccountDisabled);
    }
    if approve
        && crate::sign_in::decision::policy_requires_mfa(core, &client)
        && session.amr.acr() < usher_domain::Acr::Mfa
    {
        return Ok(Decided::NeedsSecondFactor);
    }
    // A client restricted to groups: a person in none of them cannot approve it; their
    // attempt denies the authorization, so the device stops polling.
    if approve && !crate::groups::may_use(core, &client, &session.user_id).await? {
        let store = core.stores.devices.clone();
        let hash = grant.user_code_hash.clone();
        let now = core.now();
        blocking(move || store.decide_device_grant(&hash, None, now)).await?;
        tracing::info!(client_id = %client.id, "device authorization denied: the person is in none of the client's allowed groups");
        return Ok(Decided::NoAccess {
            client_name: client.registration.name.as_str().to_owned(),
        });
    }
    let approval = approve.then(|| DeviceApproval {
        user_id: session.user_id.clone(),
        lineage_hash: session.lineage_hash.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
    });
    let now = core.now();
    // The approval is the consent: remembered like one, so the account page lists the
    // app and "Remove access" reaches its refresh family. Saved *before* the row turns
    // approved: a poll that claims the approval re-reads the consent after starting its
    // family (as a code's redemption does), and must find it.
    if approve && !client.is_first_party() {
        let consents = core.stores.consents.clone();
        let (user, client_id, scopes, resources) = (
            session.user_id.clone(),
            client.id.clone(),
            grant.scopes.clone(),
            grant.resources.clone(),
        );
        blocking(move || {
            let granted = consents
                .get_consent(&user, &client_id)?
                .unwrap_or_default()
                .widened(&scopes, &resources);
            consents.save_consent(&user, &client_id, &granted, now)
        })
        .await?;
    }
    let store = core.stores.devices.clone();
    let hash = grant.user_code_hash.clone();
    if !blocking(move || store.decide_device_grant(&hash, approval.as_ref(), now)).await? {
        return Ok(Decided::Gone);
    }
    if !approve {
        tracing::info!(client_id = %client.id, "device authorization denied");
        return Ok(Decided::Denied);
    }
    tracing::info!(client_id = %client.id, "device authorization approved");
    Ok(Decided::Approved {
        client_name: client.registration.name.as_str().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use usher_domain::{DeviceGrantStore, ThrottleStore};

    use super::*;
    use crate::grants::fixtures::*;
    use crate::testing::TestNode;

    const DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

    fn tv(node: &TestNode) -> Client {
        client(
            node,
            "tv",
            true,
            &[DEVICE, "refresh_token"],
            "openid profile offline_access",
        )
    }

    fn address(last: u8) -> ClientAddress {
        ClientAddress::Ip(IpAddr::from([192, 0, 2, last]))
    }

    async fn start(node: &TestNode, client: &Client, scope: &str) -> DeviceAuthorization {
        authorize(&node.core, client, &form(&[("scope", scope)]))
            .await
            .unwrap()
    }

    fn poll_form(device_code: &str) -> TokenRequest {
        request(&form(&[
            ("grant_type", DEVICE),
            ("device_code", device_code),
        ]))
    }

    async fn approve(node: &TestNode, session: &Session, code: &UserCode) {
        let token = confirm_form(&node.core, session, code).await.unwrap();
        let done = decide(&node.core, session, code, Some(&token), true)
            .await
            .unwrap();
        assert!(matches!(done, Decided::Approved { .. }), "{done:?}");
    }

    #[tokio::test]
    async fn an_authorization_answers_rfc_8628_fields_and_stores_only_hashes() {
        let node = TestNode::new();
        let tv = tv(&node);
        let a = start(&node, &tv, "openid profile").await;
        assert_eq!(a.device_code.len(), 43);
        assert_eq!(a.expires_in, 600);
        assert_eq!(a.interval, 5);
        assert_eq!(
            a.verification_uri,
            node.core.settings.issuer.endpoint(VERIFICATION_PATH)
        );
        assert_eq!(
            a.verification_uri_complete,
            format!("{}?user_code={}", a.verification_uri, a.user_code.display())
        );
        let stored = node
            .db
            .find_device_grant(&usher_keys::sha256_b64url(&a.device_code))
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, DeviceGrantStatus::Pending);
        assert_eq!(stored.scopes.to_string(), "openid profile");
        assert_ne!(stored.user_code_hash, a.user_code.as_str());
        assert!(!stored.user_code_hash.contains(a.user_code.as_str()));
        assert!(!format!("{a:?}").contains(&a.device_code));
    }

    #[tokio::test]
    async fn only_clients_of_the_grant_and_their_scopes_are_served() {
        let node = TestNode::new();
        let web = web_app(&node, "web");
        let Err(TokenError::Refused(r)) = authorize(&node.core, &web, &form(&[])).await else {
            panic!("a code-only client got a device authorization");
        };
        assert_eq!(r.error, ProtocolError::UnauthorizedClient);
        let tv = tv(&node);
        let Err(TokenError::Refused(r)) =
            authorize(&node.core, &tv, &form(&[("scope", "openid admin")])).await
        else {
            panic!("an unregistered scope was accepted");
        };
        assert_eq!(r.error, ProtocolError::InvalidScope);
        let Err(TokenError::Refused(r)) = authorize(
            &node.core,
            &tv,
            &form(&[("scope", "openid"), ("resource", "https://api.example")]),
        )
        .await
        else {
            panic!("an unregistered resource was accepted");
        };
        assert_eq!(r.error, ProtocolError::InvalidTarget);
    }

    #[tokio::test]
    async fn polls_are_pending_slowed_down_remembered_and_expire() {
        let node = TestNode::new();
        let tv = tv(&node);
        let a = start(&node, &tv, "openid").await;
        let poll_now =
            || async { refusal(poll(&node.core, tv.clone(), &poll_form(&a.device_code)).await) };
        assert_eq!(poll_now().await.error, ProtocolError::AuthorizationPending);
        // Too soon: slow_down, and the interval grows by five seconds each time.
        assert_eq!(poll_now().await.error, ProtocolError::SlowDown);
        let r = poll_now().await;
        assert_eq!(r.error, ProtocolError::SlowDown);
        assert!(r.description.contains("15 seconds"), "{}", r.description);
        // The grown interval is remembered: 10 s is no longer enough, 15 s is.
        node.advance(10);
        assert_eq!(poll_now().await.error, ProtocolError::SlowDown);
        node.advance(20);
        assert_eq!(poll_now().await.error, ProtocolError::AuthorizationPending);
        node.advance(600);
        assert_eq!(poll_now().await.error, ProtocolError::ExpiredToken);
        // Unknown codes, and another client's poll.
        let r = refusal(poll(&node.core, tv.clone(), &poll_form("nope")).await);
        assert_eq!(r.error, ProtocolError::InvalidGrant);
        let r = refusal(poll(&node.core, tv, &request(&form(&[("grant_type", DEVICE)]))).await);
        assert_eq!(r.error, ProtocolError::InvalidRequest);
    }

    #[tokio::test]
    async fn a_disabled_person_neither_approves_nor_gets_the_tokens_of_an_approval() {
        use usher_domain::UserStore as _;
        let node = TestNode::new();
        let tv = tv(&node);
        let alice = node.person("alice");
        let session = sign_in(&node, &alice);
        let a = start(&node, &tv, "openid profile").await;
        let disable = |on: bool| {
            let at = on.then(|| node.now());
            assert!(node.db.set_disabled(&alice.id, at).unwrap());
            node.core.forget_user(&alice.id);
        };
        disable(true);
        let token = confirm_form(&node.core, &session, &a.user_code)
            .await
            .unwrap();
        let done = decide(&node.core, &session, &a.user_code, Some(&token), true)
            .await
            .unwrap();
        assert_eq!(done, Decided::AccountDisabled);
        // Approved while enabled, polled once disabled: refused before the claim.
        disable(false);
        approve(&node, &session, &a.user_code).await;
        disable(true);
        let Err(TokenError::Refused(r)) =
            poll(&node.core, tv.clone(), &poll_form(&a.device_code)).await
        else {
            panic!("a disabled person's device got tokens");
        };
        assert_eq!(r.error, ProtocolError::InvalidGrant);
        assert_eq!(r.description, "the person's account is disabled");
        disable(false);
        assert!(
            poll(&node.core, tv, &poll_form(&a.device_code))
                .await
                .is_ok()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_approval_exactly_one_of_many_parallel_polls_gets_tokens() {
        let node = TestNode::new();
        let tv = tv(&node);
        let alice = node.person("alice");
        let session = sign_in(&node, &alice);
        let a = start(&node, &tv, "openid profile offline_access").await;
        approve(&node, &session, &a.user_code).await;
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (core, tv, code) = (node.core.clone(), tv.clone(), a.device_code.clone());
            tasks.push(tokio::spawn(async move {
                poll(&core, tv, &poll_form(&code)).await
            }));
        }
        let mut issued = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(t) => issued.push(t),
                Err(TokenError::Refused(r)) => {
                    assert_eq!(r.error, ProtocolError::InvalidGrant, "{}", r.description);
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(issued.len(), 1);
        let t = &issued[0];
        assert_eq!(t.grant_type, GrantType::DeviceCode);
        assert!(t.id_token.is_some() && t.refresh_token.is_some());
        let access = claims(&t.access_token);
        assert_eq!(access["sub"], "u-alice");
        assert_eq!(access["client_id"], "tv");
        // The approval was remembered as a consent (the account page lists the app).
        use usher_domain::ConsentStore;
        assert!(node.db.get_consent(&alice.id, &tv.id).unwrap().is_some());
    }

    #[tokio::test]
    async fn removing_access_between_approval_and_poll_refuses_the_poll() {
        use usher_domain::{ConsentStore, FamilyFilter};
        let node = TestNode::new();
        let tv = tv(&node);
        let alice = node.person("alice");
        let session = sign_in(&node, &alice);
        let a = start(&node, &tv, "openid offline_access").await;
        approve(&node, &session, &a.user_code).await;
        // The consent was saved by the approval; "Remove access" deletes it first.
        assert!(node.db.delete_consent(&alice.id, &tv.id).unwrap());
        let r = refusal(poll(&node.core, tv.clone(), &poll_form(&a.device_code)).await);
        assert_eq!(r.error, ProtocolError::InvalidGrant);
        assert!(r.description.contains("removed"), "{}", r.description);
        // The family the poll had started is revoked, not left alive.
        let filter = FamilyFilter {
            user: Some(alice.id.clone()),
            client: Some(tv.id.clone()),
        };
        let families = node.core.stores.families.list(&filter).await.unwrap();
        assert!(!families.is_empty());
        assert!(families.iter().all(|f| f.revoked.is_some()));
        // A new approval works again.
        let b = start(&node, &tv, "openid offline_access").await;
        approve(&node, &session, &b.user_code).await;
        assert!(
            poll(&node.core, tv, &poll_form(&b.device_code))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn remove_access_takes_back_approvals_a_later_approval_cannot_revive() {
        let node = TestNode::new();
        let tv = tv(&node);
        let alice = node.person("alice");
        let session = sign_in(&node, &alice);
        // The attacker's code A, approved by the person; then "Remove access".
        let a = start(&node, &tv, "openid").await;
        approve(&node, &session, &a.user_code).await;
        let removed = crate::account::apps::remove(&node.core, &session, tv.id.as_str())
            .await
            .unwrap();
        assert!(matches!(
            removed,
            crate::account::apps::RemoveOutcome::Removed { .. }
        ));
        // The person approves their own device B of the same app: a consent again.
        let b = start(&node, &tv, "openid").await;
        approve(&node, &session, &b.user_code).await;
        // A stays taken back; B works.
        let r = refusal(poll(&node.core, tv.clone(), &poll_form(&a.device_code)).await);
        assert_eq!(r.error, ProtocolError::AccessDenied);
        assert!(
            poll(&node.core, tv, &poll_form(&b.device_code))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn tokens_keep_to_the_client_s_current_scopes_and_the_asked_resources() {
        let node = TestNode::new();
        node.resource("https://api.example", Some("API"), "api:read");
        node.resource("https://other.example", Some("Other"), "api:read");
        let tv = client(
            &node,
            "tv",
            true,
            &[DEVICE, "refresh_token"],
            "openid profile api:read",
        );
        let alice = node.person("alice");
        let session = sign_in(&node, &alice);
        let started = |node: &TestNode, tv: &Client| {
            let (core, tv) = (node.core.clone(), tv.clone());
            async move {
                authorize(
                    &core,
                    &tv,
                    &form(&[
                        ("scope", "openid profile api:read"),
                        ("resource", "https://api.example"),
                    ]),
                )
                .await
                .unwrap()
            }
        };
        // A resource the grant does not hold is invalid_target, and spends nothing.
        let a = started(&node, &tv).await;
        approve(&node, &session, &a.user_code).await;
        let outside = request(&form(&[
            ("grant_type", DEVICE),
            ("device_code", &a.device_code),
            ("resource", "https://other.example"),
        ]));
        let r = refusal(poll(&node.core, tv.clone(), &outside).await);
        assert_eq!(r.error, ProtocolError::InvalidTarget);
        // The registration shrank since the approval: profile is no longer issued.
        let mut shrunk = tv.clone();
        shrunk.registration.scopes = ScopeSet::parse("openid api:read").unwrap();
        let t = poll(&node.core, shrunk, &poll_form(&a.device_code))
            .await
            .unwrap();
        let access = claims(&t.access_token);
        assert_eq!(access["scope"], "api:read openid");
        assert_eq!(access["aud"], "https://api.example");
    }

    #[tokio::test]
    async fn a_denial_is_access_denied_and_decides_once() {
        let node = TestNode::new();
        let tv = tv(&node);
        let alice = node.person("alice");
        let session = sign_in(&node, &alice);
        let a = start(&node, &tv, "openid").await;
        let token = confirm_form(&node.core, &session, &a.user_code)
            .await
            .unwrap();
        assert_eq!(
            decide(&node.core, &session, &a.user_code, Some(&token), false)
                .await
                .unwrap(),
            Decided::Denied
        );
        let r = refusal(poll(&node.core, tv, &poll_form(&a.device_code)).await);
        assert_eq!(r.error, ProtocolError::AccessDenied);
        // Decided: a new confirmation finds nothing to approve.
        let token = confirm_form(&node.core, &session, &a.user_code)
            .await
            .unwrap();
        assert_eq!(
            decide(&node.core, &session, &a.user_code, Some(&token), true)
                .await
                .unwrap(),
            Decided::Gone
        );
    }

    #[tokio::test]
    async fn a_non_member_s_approval_of_a_restricted_app_denies_it() {
        use usher_domain::{Group, GroupName, GroupStore, RegistrationInput};
        let node = TestNode::new();
        node.db
            .insert_group(&Group {
                name: GroupName::parse("staff").unwrap(),
                description: None,
                created_at: node.now(),
            })
            .unwrap();
        let tv = node.client(
            "tv",
            RegistrationInput {
                public: true,
                grant_types: vec![DEVICE.into(), "refresh_token".into()],
                scope: Some("openid offline_access".into()),
                allowed_groups: vec!["staff".into()],
                ..RegistrationInput::default()
            },
        );
        let bob = node.person("bob");
        let session = sign_in(&node, &bob);
        let a = start(&node, &tv, "openid").await;
        let token = confirm_form(&node.core, &session, &a.user_code)
            .await
            .unwrap();
        assert_eq!(
            decide(&node.core, &session, &a.user_code, Some(&token), true)
                .await
                .unwrap(),
            Decided::NoAccess {
                client_name: "Test app".into()
            }
        );
        let r = refusal(poll(&node.core, tv, &poll_form(&a.device_code)).await);
        assert_eq!(r.error, ProtocolError::AccessDenied);
    }

    #[tokio::test]
    async fn a_confirmation_token_works_only_for_its_session_and_its_code() {
        let node = TestNode::new();
        let tv = tv(&node);
        let alice = node.person("alice");
        let session = sign_in(&node, &alice);
        let other = sign_in(&node, &alice);
        let a = start(&node, &tv, "openid").await;
        let b = start(&node, &tv, "openid").await;
        let token = confirm_form(&node.core, &session, &a.user_code)
            .await
            .unwrap();
        // The token of code A cannot decide code B, nor be used by another session.
        assert_eq!(
            decide(&node.core, &session, &b.user_code, Some(&token), true)
                .await
                .unwrap(),
            Decided::Refused(FormRefusal::OtherSession)
        );
        let token = confirm_form(&node.core, &session, &a.user_code)
            .await
            .unwrap();
        assert_eq!(
            decide(&node.core, &other, &a.user_code, Some(&token), true)
                .await
                .unwrap(),
            Decided::Refused(FormRefusal::OtherSession)
        );
        assert_eq!(
            decide(&node.core, &session, &a.user_code, None, true)
                .await
                .unwrap(),
            Decided::Refused(FormRefusal::Unknown)
        );
    }

    #[tokio::test]
    async fn lookups_read_typed_codes_loosely_and_find_only_pending_ones() {
        let node = TestNode::new();
        let tv = tv(&node);
        let a = start(&node, &tv, "openid").await;
        let typed = a.user_code.as_str().to_ascii_lowercase();
        let typed = format!("{} {}", &typed[..4], &typed[4..]);
        let Lookup::Found(found) = lookup(&node.core, &typed, &address(1)).await.unwrap() else {
            panic!("the typed code was not found");
        };
        assert_eq!(found.client_name, "Test app");
        assert_eq!(found.user_code, a.user_code);
        assert_eq!(
            lookup(&node.core, "BCDF-GHJ", &address(1)).await.unwrap(),
            Lookup::NotFound
        );
        node.advance(600);
        assert_eq!(
            lookup(&node.core, a.user_code.as_str(), &address(1))
                .await
                .unwrap(),
            Lookup::NotFound
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn device_authorizations_are_limited_per_address_even_all_at_once() {
        let node = TestNode::new();
        let mut tasks = Vec::new();
        for _ in 0..(AUTHORIZATIONS_PER_ADDRESS + 12) {
            let core = node.core.clone();
            tasks.push(tokio::spawn(async move {
                admit(&core, &address(21)).await.unwrap()
            }));
        }
        let (mut admitted, mut waiting) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                None => admitted += 1,
                Some(wait) => {
                    assert!(wait > 0 && wait <= AUTHORIZATIONS_WINDOW, "{wait}");
                    waiting += 1;
                }
            }
        }
        assert_eq!(admitted, AUTHORIZATIONS_PER_ADDRESS);
        assert_eq!(waiting, 12);
        // Another address has its own budget; the window's end opens this one again.
        assert_eq!(admit(&node.core, &address(22)).await.unwrap(), None);
        node.advance(AUTHORIZATIONS_WINDOW + 1);
        assert_eq!(admit(&node.core, &address(21)).await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_codes_are_throttled_per_address_even_all_at_once_and_right_ones_count_nothing() {
        let node = TestNode::new();
        let tv = tv(&node);
        let a = start(&node, &tv, "openid").await;
        // Right codes, many times: they never lock the address.
        for _ in 0..(LOOKUPS_PER_ADDRESS + 2) {
            let found = lookup(&node.core, a.user_code.as_str(), &address(7)).await;
            assert!(matches!(found, Ok(Lookup::Found(_))));
        }
        let mut tasks = Vec::new();
        for i in 0..30 {
            let core = node.core.clone();
            tasks.push(tokio::spawn(async move {
                let wrong = format!("BBBB-BB{}", ["BC", "CD", "DF", "FG", "GH", "HJ"][i % 6]);
                lookup(&core, &wrong, &address(9)).await.unwrap()
            }));
        }
        let (mut checked, mut throttled) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Lookup::NotFound => checked += 1,
                Lookup::Throttled { .. } => throttled += 1,
                Lookup::Found(_) => panic!("a wrong code was found"),
            }
        }
        assert_eq!(checked, LOOKUPS_PER_ADDRESS);
        assert_eq!(throttled, 30 - LOOKUPS_PER_ADDRESS);
        // Locked: even the right code waits; another address is not affected.
        assert!(matches!(
            lookup(&node.core, a.user_code.as_str(), &address(9))
                .await
                .unwrap(),
            Lookup::Throttled { .. }
        ));
        assert!(matches!(
            lookup(&node.core, a.user_code.as_str(), &address(10))
                .await
                .unwrap(),
            Lookup::Found(_)
        ));
    }

    #[tokio::test]
    async fn the_global_budget_stops_guessing_spread_over_many_addresses() {
        let node = TestNode::new();
        let tv = tv(&node);
        let a = start(&node, &tv, "openid").await;
        // The wrong codes of a campaign from many addresses, counted on the global key
        // (through the store's own reservation, as lookups count them).
        let policy = policy(LOOKUPS_GLOBAL);
        for _ in 0..LOOKUPS_GLOBAL {
            node.db
                .reserve_attempt(GLOBAL_KEY, node.now(), &policy)
                .unwrap();
        }
        // A fresh address now waits too, and its attempt counted nowhere.
        assert!(matches!(
            lookup(&node.core, a.user_code.as_str(), &address(200))
                .await
                .unwrap(),
            Lookup::Throttled { .. }
        ));
        node.advance(LOOKUP_LOCK_SECONDS);
        assert!(matches!(
            lookup(&node.core, a.user_code.as_str(), &address(200))
                .await
                .unwrap(),
            Lookup::Found(_)
        ));
    }
}
