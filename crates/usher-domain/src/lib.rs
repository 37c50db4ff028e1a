//! Usher's protocol rules and types.
//!
//! This crate owns the vocabulary of the authorization server: identifiers, redirect
//! URIs, scopes, grant types, clients, users, signing-key records, the RFC error codes,
//! and the storage *ports* (traits) that the storage crates implement. Every raw string
//! that enters Usher is parsed into one of these types at the edge, so that a value that
//! exists is a valid one.
//!
//! It performs no I/O, reads no clock and draws no randomness: time arrives as a
//! [`UnixTime`] parameter and generated values arrive already generated. It must never
//! depend on actix-web, diesel, redis or askama (CI checks this with `cargo tree`).

pub mod audit;
pub mod authorize;
pub mod backchannel;
pub mod browser;
pub mod client;
pub mod client_metadata;
pub mod device;
pub mod error;
pub mod families;
pub mod group;
pub mod issuer;
pub mod keys;
pub mod mail;
pub mod mfa;
pub mod origin;
pub mod passkey;
pub mod pkce;
pub mod ports;
pub mod registration;
pub mod resource;
pub mod rotation;
pub mod scope;
pub mod session;
pub mod signup;
pub mod throttle;
pub mod time;
pub mod upstream;
pub mod user;

pub use audit::{
    AuditActor, AuditDetail, AuditError, AuditEvent, AuditFilter, AuditKind, AuditOrder,
    AuditStore, AuditedChanges, AuditedStore, DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE,
    RecordedAuditEvent, audited,
};
pub use backchannel::{
    BackchannelLogout, BackchannelLogoutUri, BackchannelStore, ClaimedLogout, NewLogout,
    SessionClient,
};
pub use browser::{
    BrowserSeen, KNOWN_BROWSER_TTL, KNOWN_BROWSERS_MAX, KnownBrowserStore, USER_AGENT_MAX_CHARS,
    UserAgent,
};
pub use client::{
    Audience, AuthMethod, Client, ClientId, ClientName, ClientRegistration, GrantType, RedirectUri,
    RegistrationError, RegistrationInput,
};
pub use device::{
    DeviceApproval, DeviceGrant, DeviceGrantStatus, DeviceGrantStore, POLL_TOLERANCE_SECONDS,
    PollGate, SLOW_DOWN_SECONDS, UserCode,
};
pub use error::ProtocolError;
pub use families::{
    Family, FamilyFilter, FamilyFuture, FamilyId, FamilyState, FamilyStore, NewFamily, Revocation,
    RevokeOutcome, RevokeReason, RotateOutcome, Rotation, survives_logout,
};
pub use group::{
    BUILT_IN_ADMINS_GROUP, Group, GroupDescription, GroupError, GroupName, GroupStore,
    GroupSummary, Membership,
};
pub use issuer::{Issuer, IssuerError};
pub use keys::{KeyState, SigningAlg, SigningKeyRecord};
pub use mail::{
    Compose, Letter, Mail, MailError, MailPurpose, MailToken, MailTokenStore, NewSignIn, Outbox,
    RESET_LINK_TTL, SecurityAlert, VERIFY_LINK_TTL,
};
pub use mfa::{
    Acr, Amr, AuthMethods, CodeError, MfaPolicy, RecoveryCode, RecoveryCodeRecord, TotpCode,
    TotpFactor, totp_step,
};
pub use origin::{Origin, OriginError, PresentedOrigin};
pub use passkey::{
    CEREMONY_TTL_SECONDS, CeremonyKind, Passkey, PasskeyName, PasskeyNameError, WebauthnCeremony,
};
pub use pkce::{CodeChallenge, CodeVerifier};
pub use ports::{
    ClientAccess, ClientStore, CodeStore, Consent, ConsentGrant, ConsentStore, FactorStore,
    FormTokenStore, InteractionStore, KeyStore, NonceStore, PasskeyInsert, PasskeyStore, Ping,
    RevocationStore, SessionStore, StoreError, ThrottleStore, UserStore,
};
pub use registration::{
    ClientMetadata, InitialAccessToken, MetadataError, Registered, RegistrationMode,
    RegistrationStore,
};
pub use resource::{
    MAX_RESOURCES_PER_REQUEST, Resource, ResourceError, ResourceName, ResourceStore, ResourceUri,
};
pub use scope::{Scope, ScopeError, ScopeSet};
pub use session::{
    AuthorizationCode, CodeRedemption, FormToken, Interaction, InteractionStep, LoginFailures,
    Session,
};
pub use signup::{
    INVITATION_TTL, Invitation, InvitationStore, MAX_INVITATION_TTL, Redemption, SignupMode,
};
pub use throttle::{Reservation, ThrottlePolicy};
pub use time::UnixTime;
pub use upstream::{
    ClaimMapping, JitInsert, ManualEndpoints, Upstream, UpstreamError, UpstreamId,
    UpstreamIdentity, UpstreamStore,
};
pub use user::{
    Address, AddressFields, Email, NewUser, Password, PersonName, PhoneNumber, PreferredUsername,
    ProfileClaims, User, UserError, UserId, Username, is_invisible_format,
};
