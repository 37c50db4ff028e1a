//! Route paths: the one list that the router, discovery and the tests all read.

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// RFC 8414 metadata: the same document, for OAuth-only clients.
pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
pub const JWKS: &str = "/jwks.json";
pub const AUTHORIZE: &str = "/authorize";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = usher_core::USERINFO_PATH;
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const LOGIN: &str = "/authorize/login";
pub const CONSENT: &str = "/authorize/consent";
/// The second step of a sign-in: an authenticator-app or recovery code.
pub const SECOND_FACTOR: &str = "/authorize/second-factor";
/// The second step done with a passkey.
pub const SECOND_FACTOR_PASSKEY: &str = "/authorize/second-factor/passkey";
/// "Continue" after new recovery codes were shown.
pub const RECOVERY_CODES: &str = "/authorize/recovery-codes";
pub const ASSETS_CSS: &str = "/assets/usher.css";
pub const ASSETS_PASSKEY_JS: &str = "/assets/passkey.js";
/// Options for a passkey sign-in (`navigator.credentials.get`), as JSON.
pub const PASSKEY_OPTIONS: &str = "/authorize/passkey/options";
/// A passkey sign-in's answer, posted with the login form's fields.
pub const PASSKEY_LOGIN: &str = "/authorize/passkey";
/// The login page's "Sign in with …" buttons post here (docs/design/upstream.md).
pub const UPSTREAM_START: &str = "/authorize/upstream";
/// Where an upstream provider sends the browser back: `/upstream/{id}/callback`.
pub const UPSTREAM_CALLBACK: &str = "/upstream/{upstream}/callback";
/// RFC 7009 token revocation.
pub const REVOKE: &str = "/revoke";
/// RFC 7662 token introspection.
pub const INTROSPECT: &str = "/introspect";
/// OpenID Connect RP-Initiated Logout 1.0.
pub const LOGOUT: &str = "/logout";
/// Prometheus metrics (text format).
pub const METRICS: &str = "/metrics";
/// The account page (issue 14): the person's Security section.
pub const ACCOUNT: &str = usher_core::account::client::ACCOUNT_PATH;
/// Where `/authorize` returns the account page's sign-in (the built-in client's redirect URI).
pub const ACCOUNT_CALLBACK: &str = usher_core::account::client::CALLBACK_PATH;
/// POST: set up an authenticator app (shows its QR code).
pub const ACCOUNT_TOTP_SETUP: &str = "/account/authenticator-app/setup";
/// POST: confirm the app with a current code.
pub const ACCOUNT_TOTP_CONFIRM: &str = "/account/authenticator-app/confirm";
/// POST: remove the app.
pub const ACCOUNT_TOTP_REMOVE: &str = "/account/authenticator-app/remove";
/// POST: generate new recovery codes.
pub const ACCOUNT_RECOVERY_CODES: &str = "/account/recovery-codes";
/// Options for adding a passkey (`navigator.credentials.create`), as JSON.
pub const ACCOUNT_PASSKEY_OPTIONS: &str = "/account/passkeys/options";
/// A new passkey's registration answer.
pub const ACCOUNT_PASSKEY_ADD: &str = "/account/passkeys/add";
/// Removes one passkey (`id`).
pub const ACCOUNT_PASSKEY_REMOVE: &str = "/account/passkeys/remove";
/// Removes one linked upstream identity (`upstream`, `subject`; issue 18).
pub const ACCOUNT_UPSTREAM_REMOVE: &str = "/account/upstreams/remove";
/// "Remove access" of a connected app (issue 15).
pub const ACCOUNT_APPS_REMOVE: &str = "/account/apps/remove";
/// Sets the person's profile: name, preferred username, phone number, address.
pub const ACCOUNT_PROFILE: &str = "/account/profile";
/// Asks for a new e-mail address (a link to confirm it is mailed to it).
pub const ACCOUNT_EMAIL: &str = "/account/email";
/// Changes the person's password.
pub const ACCOUNT_PASSWORD: &str = "/account/password";
/// Signs one browser of the person out (`sid`).
pub const ACCOUNT_SESSION_SIGN_OUT: &str = "/account/sessions/sign-out";
/// Ends every session and refresh family of the person.
pub const ACCOUNT_SIGN_OUT_EVERYWHERE: &str = "/account/sessions/sign-out-everywhere";
/// "Forgot your password?": GET the form, POST an address.
pub const PASSWORD_FORGOT: &str = usher_core::mail::FORGOT_PATH;
/// A mailed reset link (GET, `?token=`) and its new-password form (POST).
pub const PASSWORD_RESET: &str = usher_core::mail::RESET_PATH;
/// A mailed address-verification link (GET, `?token=`).
pub const VERIFY_EMAIL: &str = usher_core::mail::VERIFY_PATH;
/// The sign-up page (GET the form, `?invite=` for an invitation; POST it). Answers 404
/// unless `signup` is `open` or `invite`.
pub const SIGNUP: &str = usher_core::signup::SIGNUP_PATH;
/// RFC 8628 §3.1: the device authorization endpoint.
pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
/// RFC 8628 §3.3: the verification page (`verification_uri`): GET the form
/// (`?user_code=` prefills it), POST a code.
pub const DEVICE: &str = usher_core::grants::device_code::VERIFICATION_PATH;
/// The device confirmation's Approve / Deny.
pub const DEVICE_DECIDE: &str = "/device/decide";
/// Dynamic client registration (RFC 7591, POST); `/register/{client_id}` is a client's
/// configuration URI (RFC 7592). Answers 404 unless `registration` is `token` or `open`.
pub const REGISTER: &str = usher_core::registration::REGISTRATION_PATH;
/// The admin console (issue 17, docs/design/admin-console.md): its home page.
pub const ADMIN: &str = usher_core::admin_console::CONSOLE_PATH;
/// GET the clients (`?q=` searches, `?after=` pages).
pub const ADMIN_CLIENTS: &str = "/admin/clients";
/// GET the new-client form, POST it.
pub const ADMIN_CLIENT_NEW: &str = "/admin/clients/new";
/// GET one client (`?id=`).
pub const ADMIN_CLIENT: &str = "/admin/clients/show";
/// POST who may use a client (allowed groups and origins), with the view's tag.
pub const ADMIN_CLIENT_ACCESS: &str = "/admin/clients/access";
/// GET the confirmation (`?id=`), POST: a new secret, shown once.
pub const ADMIN_CLIENT_ROTATE: &str = "/admin/clients/rotate-secret";
/// GET the confirmation (`?id=`), POST: delete.
pub const ADMIN_CLIENT_DELETE: &str = "/admin/clients/delete";
/// GET the groups (`?after=`), POST a new group.
pub const ADMIN_GROUPS: &str = "/admin/groups";
/// GET one group and its members (`?name=`).
pub const ADMIN_GROUP: &str = "/admin/groups/show";
/// POST: add a member.
pub const ADMIN_GROUP_ADD_MEMBER: &str = "/admin/groups/add-member";
/// GET the confirmation (`?name=&username=`), POST: remove a member.
pub const ADMIN_GROUP_REMOVE_MEMBER: &str = "/admin/groups/remove-member";
/// GET the confirmation (`?name=`), POST: delete a group.
pub const ADMIN_GROUP_DELETE: &str = "/admin/groups/delete";
/// GET the resource servers (`?after=`), POST a new one.
pub const ADMIN_RESOURCES: &str = "/admin/resources";
/// GET one resource server (`?uri=`).
pub const ADMIN_RESOURCE: &str = "/admin/resources/show";
/// POST: change a resource server's name and scopes, with the view's tag.
pub const ADMIN_RESOURCE_UPDATE: &str = "/admin/resources/update";
/// GET the confirmation (`?uri=`), POST: delete a resource server.
pub const ADMIN_RESOURCE_DELETE: &str = "/admin/resources/delete";
/// GET the people (`?q=` searches, `?after=` pages), POST a new person.
pub const ADMIN_PEOPLE: &str = "/admin/people";
/// GET one person, their second factors and groups (`?username=`).
pub const ADMIN_PERSON: &str = "/admin/people/show";
/// POST: a new password (ends the sessions unless `keep_sessions`).
pub const ADMIN_PERSON_PASSWORD: &str = "/admin/people/password";
/// GET the confirmation (`?username=`), POST: remove every second factor.
pub const ADMIN_PERSON_RESET_FACTORS: &str = "/admin/people/reset-second-factors";
/// GET the confirmation (`?username=`), POST: end every session.
pub const ADMIN_PERSON_END_SESSIONS: &str = "/admin/people/end-sessions";
/// GET the confirmation (`?username=`), POST: delete the person.
pub const ADMIN_PERSON_DELETE: &str = "/admin/people/delete";
/// POST: change a person's name, e-mail address, preferred username and phone number,
/// with the view's tag.
pub const ADMIN_PERSON_UPDATE: &str = "/admin/people/update";
/// GET the confirmation (`?username=`), POST: disable the person.
pub const ADMIN_PERSON_DISABLE: &str = "/admin/people/disable";
/// GET the confirmation (`?username=`), POST: enable the person again.
pub const ADMIN_PERSON_ENABLE: &str = "/admin/people/enable";
/// GET the signing keys.
pub const ADMIN_KEYS: &str = "/admin/keys";
/// POST: rotate on schedule (`when=schedule`) or at once (`when=now`, from the GET
/// confirmation `?alg=`).
pub const ADMIN_KEYS_ROTATE: &str = "/admin/keys/rotate";
/// GET the confirmation (`?kid=`), POST: remove a compromised key from the JWKS.
pub const ADMIN_KEY_REMOVE: &str = "/admin/keys/remove";
/// GET a person's refresh-token families (`?username=&after=`).
pub const ADMIN_FAMILIES: &str = "/admin/families";
/// GET the confirmation (`?id=&username=`), POST: revoke a family.
pub const ADMIN_FAMILY_REVOKE: &str = "/admin/families/revoke";
/// GET a person's browser sessions, one per browser (the username percent-encoded as
/// a path segment: `endpoints::admin_console::sessions::path`).
pub const ADMIN_PERSON_SESSIONS: &str = "/admin/people/{username}/sessions";
/// GET the confirmation (`?handle=`), POST (`handle`): end one browser session.
pub const ADMIN_PERSON_SESSION_END: &str = "/admin/people/{username}/sessions/end";
/// GET the form, POST: an admin API access token for the operator, shown once.
pub const ADMIN_TOKEN: &str = "/admin/token";
/// GET the live invitations (`?after=`), POST a new invitation.
pub const ADMIN_INVITATIONS: &str = "/admin/invitations";
/// GET the confirmation (`?id=`, the invitation's handle: an address never goes in a
/// URL), POST: revoke the invitations to its address.
pub const ADMIN_INVITATIONS_REVOKE: &str = "/admin/invitations/revoke";
/// GET the initial access tokens (`?after=`), POST a new one (shown once).
pub const ADMIN_REGISTRATION_TOKENS: &str = "/admin/registration-tokens";
/// GET the confirmation (`?id=`), POST: revoke an initial access token.
pub const ADMIN_REGISTRATION_TOKEN_REVOKE: &str = "/admin/registration-tokens/revoke";
/// GET the audit trail, newest first (`?person=&client=&kind=&since=&until=&before=`).
pub const ADMIN_AUDIT: &str = "/admin/audit";

#[cfg(test)]
mod tests {
    #[test]
    fn the_core_names_the_same_authorize_path_the_router_serves() {
        assert_eq!(
            super::AUTHORIZE,
            usher_core::account::client::AUTHORIZE_PATH
        );
    }
}
