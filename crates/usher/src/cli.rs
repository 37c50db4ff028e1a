//! The command line: `usher serve | migrate | client … | resource … | user … | group … | keys … | apply …`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "usher",
    version,
    about = "Usher: an OAuth 2.0 / OpenID Connect authorization server",
    long_about = "Usher: an OAuth 2.0 / OpenID Connect authorization server.\n\nEvery command reads the same configuration: defaults, then --config FILE, then USHER_* environment variables (docs/configuration.md)."
)]
pub struct Cli {
    /// A TOML configuration file (keys as in docs/configuration.md).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates the database, and on an empty database the KEK file and
    /// the first signing key).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit (needs no KEK; creates no key).
    Migrate,
    /// Register and manage clients (relying parties and services).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Register and manage resource servers (RFC 8707): the APIs tokens are for.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Dynamic client registration (RFC 7591): initial access tokens.
    #[command(subcommand)]
    Registration(RegistrationCommand),
    /// Manage the people who sign in.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage groups of people: their members get a `groups` claim, and clients can be
    /// restricted to them (the built-in group usher-admins always exists).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Register and manage upstream identity providers: other OpenID Connect (or plain
    /// OAuth 2.0) providers whose people may sign in to Usher.
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// Inspect and rotate the signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect and revoke refresh-token families.
    #[command(subcommand)]
    Families(FamiliesCommand),
    /// Read the audit trail: administrative changes and security events
    /// (docs/design/audit.md).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Change the key-encryption key (KEK).
    #[command(subcommand)]
    Kek(KekCommand),
    /// Watch a flow work end to end against a running `usher serve`.
    #[command(subcommand)]
    Try(TryCommand),
    /// Create or update the clients and resource servers a TOML file declares
    /// (`[[client]]`, `[[resource]]`; docs/administration.md): idempotent.
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The file: `[[client]]` tables (`id` and the options of `client create`) and
    /// `[[resource]]` tables (`uri`, `scope`, `name`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the operator's clients and the resource servers the file does not
    /// declare (never a client that registered itself, nor the built-in account client).
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// For development: with no smtp_url, print every mail Usher would send (links
    /// included) to standard error instead of logging it with its link redacted.
    #[arg(long)]
    pub dev_mail: bool,
}

#[derive(Debug, Subcommand)]
pub enum TryCommand {
    /// Run a tiny relying party on 127.0.0.1:PORT, print the URL to open, and after you
    /// sign in print the ID token claims, the access token claims and the refresh token's
    /// family id. The client needs the redirect URI http://127.0.0.1/callback.
    SignIn {
        #[arg(long)]
        client_id: String,
        /// The client's secret (omit for a public client). Secrets are base64url and may
        /// start with '-', so the value is taken as it is. Visible to every local user in
        /// the process list: prefer --client-secret-stdin.
        #[arg(long, allow_hyphen_values = true)]
        client_secret: Option<String>,
        /// Read the client's secret from the first line of standard input.
        #[arg(long, conflicts_with = "client_secret")]
        client_secret_stdin: bool,
        #[arg(long, default_value_t = 5555)]
        port: u16,
        #[arg(long, default_value = "openid profile email")]
        scope: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Get a client_credentials token and print its decoded claims.
    ClientCredentials {
        #[arg(long)]
        client_id: String,
        /// The client's secret (base64url: it may start with '-'). Visible to every local
        /// user in the process list: prefer --client-secret-stdin.
        #[arg(
            long,
            allow_hyphen_values = true,
            required_unless_present = "client_secret_stdin"
        )]
        client_secret: Option<String>,
        /// Read the client's secret from the first line of standard input.
        #[arg(long, conflicts_with = "client_secret")]
        client_secret_stdin: bool,
        #[arg(long)]
        scope: Option<String>,
        /// An RFC 8707 resource (audience); repeat for more.
        #[arg(long = "resource", value_name = "URI")]
        resources: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum FamiliesCommand {
    /// List refresh-token families: id, client, subject, created, last rotated, state,
    /// and why revoked.
    List {
        /// Only this person's families (a username).
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
        /// Only this client's families (a client id).
        #[arg(long, value_name = "CLIENT_ID")]
        client: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Revoke one family: its refresh tokens stop working at once.
    Revoke {
        /// A family id is base64url and may start with '-'.
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List events, newest first (at most --limit; the last line says how to see the
    /// next page).
    List(AuditListArgs),
    /// Print every event, oldest first, as JSON lines (one event per line) for a SIEM.
    Export(AuditExportArgs),
}

#[derive(Debug, Args)]
pub struct AuditRange {
    /// Only events at or after this time: RFC 3339 (2026-12-03T14:00:00Z) or unix seconds.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this time: RFC 3339 or unix seconds.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only events about this person (a person id, as `usher user list` shows).
    #[arg(long, value_name = "ID")]
    pub person: Option<String>,
    /// Only events about this client (a client id).
    #[arg(long, value_name = "CLIENT_ID")]
    pub client: Option<String>,
    /// Only events of this kind (e.g. sign_in.failed, person.created).
    #[arg(long)]
    pub kind: Option<String>,
    #[command(flatten)]
    pub range: AuditRange,
    /// At most this many events (default 100, at most 500).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Only events older than the event with this id: the next page.
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct AuditExportArgs {
    #[command(flatten)]
    pub range: AuditRange,
    /// Only events newer than the event with this id: to resume an export where the
    /// last one ended.
    #[arg(long, value_name = "ID")]
    pub after: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum KekCommand {
    /// Re-seal every signing key and the client-secret hashing key under the KEK
    /// (USHER_KEK_FILE / USHER_KEK), opening them with the previous one
    /// (USHER_KEK_PREVIOUS_FILE / USHER_KEK_PREVIOUS). Online; client secrets and
    /// refresh tokens keep working. Reads no key from the command line. The procedure
    /// for a cluster is in docs/operations.md.
    Rotate(JsonFlag),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print one JSON document on stdout instead of text for people.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and (confidential clients) its secret, once.
    Create(ClientCreate),
    /// List the registered clients.
    List(JsonFlag),
    /// Show one client.
    Show {
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a client.
    Delete {
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Change a registered client: its allowed origins (CORS for browser apps) or the
    /// groups whose members alone may use it.
    Update(ClientUpdate),
    /// Replace a confidential client's secret; prints the new one, once.
    RotateSecret {
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct ClientCreate {
    /// The name people see on the consent page.
    #[arg(long)]
    pub name: String,
    /// A public client (no secret; same as --auth-method none): PKCE is always required.
    #[arg(long)]
    pub public: bool,
    /// client_secret_basic (default for confidential clients), client_secret_post or none.
    #[arg(long, value_name = "METHOD")]
    pub auth_method: Option<String>,
    /// A redirect URI, matched exactly (repeat for more).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A URI the client may return to after logout (repeat for more).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// authorization_code (default), refresh_token or client_credentials (repeat for more).
    #[arg(long = "grant-type", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// The scopes the client may ask for, space-separated (default "openid profile email"
    /// for sign-in clients).
    #[arg(long)]
    pub scope: Option<String>,
    /// A resource server the client may get tokens for (RFC 8707; repeat for more).
    #[arg(long = "audience", value_name = "URI")]
    pub audiences: Vec<String>,
    /// Confidential clients only: allow the code flow without PKCE (legacy clients that
    /// rely on nonce; RFC 9700 §2.1.1).
    #[arg(long)]
    pub pkce_optional: bool,
    /// Skip the consent page for this client (confidential clients only: a public client
    /// has no secret to prove it is the app, RFC 8252 §8.6).
    #[arg(long)]
    pub first_party: bool,
    /// Every sign-in for this client needs a second factor (an authenticator app, or a
    /// recovery code); people without one set one up after their password.
    #[arg(long)]
    pub require_mfa: bool,
    /// Where Usher tells the client that a session ended (OpenID Connect Back-Channel
    /// Logout 1.0): an https URI (http only on a loopback host).
    #[arg(long, value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in every logout token (needs --backchannel-logout-uri).
    #[arg(long)]
    pub backchannel_logout_session_required: bool,
    /// A web origin (https://app.example.com: scheme, host and port, no path) from which
    /// the client's browser app may call /token, /userinfo, /revoke and /introspect
    /// (CORS; repeat for more). Default: the origins of its https and loopback redirect
    /// URIs.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// The algorithm of this client's ID tokens and logout tokens: RS256, ES256 or EdDSA
    /// (default: the server's id_token_alg).
    #[arg(long, value_name = "ALG")]
    pub id_token_signed_response_alg: Option<String>,
    /// Only members of this group may use the client (repeat for more: a member of any
    /// one of them may). Default: anyone who can sign in.
    #[arg(long = "allowed-group", value_name = "GROUP")]
    pub allowed_groups: Vec<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ClientUpdate {
    pub id: String,
    /// Replace the client's allowed origins with these (repeat for more): see
    /// `usher client create --allowed-origin`.
    #[arg(
        long = "allowed-origin",
        value_name = "ORIGIN",
        conflicts_with = "default_allowed_origins"
    )]
    pub allowed_origins: Vec<String>,
    /// Forget the registered allowed origins: the origins of the client's https and
    /// loopback redirect URIs apply again.
    #[arg(long)]
    pub default_allowed_origins: bool,
    /// Replace the groups whose members alone may use the client with these (repeat for
    /// more): see `usher client create --allowed-group`.
    #[arg(
        long = "allowed-group",
        value_name = "GROUP",
        conflicts_with = "no_allowed_groups"
    )]
    pub allowed_groups: Vec<String>,
    /// Lift the group restriction: anyone who can sign in may use the client again.
    #[arg(long)]
    pub no_allowed_groups: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum RegistrationCommand {
    /// Initial access tokens: what `registration = "token"` asks a registration for.
    #[command(subcommand)]
    Token(RegistrationTokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Make an initial access token (printed once; only its hash is stored).
    Create {
        /// How long it works, in seconds (default 86400, a day; at most 31536000).
        #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
        expires_in: u64,
        /// How many clients it may register (default 1: single use).
        #[arg(long, value_name = "N", default_value_t = 1)]
        max_uses: u32,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List the initial access tokens (never the tokens themselves).
    List(JsonFlag),
    /// Revoke an initial access token by its id.
    Revoke {
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Register a resource server: its identifier (the `resource` clients send and the
    /// `aud` of its tokens) and the scopes it defines.
    Create {
        /// The identifier: an absolute URI without a fragment (RFC 8707 section 2).
        #[arg(long, value_name = "URI")]
        uri: String,
        /// The scopes the resource defines, space-separated.
        #[arg(long)]
        scope: String,
        /// The name people see on the consent page (default: the identifier).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List the registered resource servers.
    List(JsonFlag),
    /// Change a resource server's scopes or name.
    Update {
        /// The resource's identifier.
        uri: String,
        /// The scopes it defines from now on, space-separated (replaces the list).
        #[arg(long)]
        scope: Option<String>,
        /// Its new name.
        #[arg(long, conflicts_with = "no_name")]
        name: Option<String>,
        /// Remove its name (the consent page then shows the identifier).
        #[arg(long)]
        no_name: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a resource server: no token is issued for it from then on.
    Delete {
        /// The resource's identifier.
        uri: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Register an upstream provider; prints its id and the callback URL to register at
    /// the provider. The client secret is read from standard input
    /// (--client-secret-stdin), never from the command line.
    Create(UpstreamCreate),
    /// List the upstream providers.
    List(JsonFlag),
    /// Change an upstream provider (the options not given stay as they are).
    Update(UpstreamUpdate),
    /// Delete an upstream provider and every identity linked through it (the people
    /// stay; they sign in another way).
    Delete {
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

/// The settings of an upstream both `create` and `update` take.
#[derive(Debug, Args)]
pub struct UpstreamSettingsArgs {
    /// The provider's issuer: an https URL (http only for 127.0.0.1, [::1] or localhost).
    #[arg(long)]
    pub issuer: Option<String>,
    /// The client id Usher has at the provider.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Read the client secret from the first line of standard input.
    #[arg(long)]
    pub client_secret_stdin: bool,
    /// The scopes asked for, space-separated (default "openid email profile"; must
    /// include openid unless the endpoints are given).
    #[arg(long)]
    pub scope: Option<String>,
    /// Which upstream claim fills which field: `sub=id,username=login,name=name,
    /// email=email,email_verified=email_verified`, any subset (the rest keep defaults).
    #[arg(long)]
    pub claim_mapping: Option<String>,
    /// For a plain OAuth 2.0 provider (no discovery): its authorization endpoint (with
    /// --token-endpoint and --userinfo-endpoint).
    #[arg(long, requires_all = ["token_endpoint", "userinfo_endpoint"])]
    pub authorization_endpoint: Option<String>,
    #[arg(long, requires_all = ["authorization_endpoint", "userinfo_endpoint"])]
    pub token_endpoint: Option<String>,
    #[arg(long, requires_all = ["authorization_endpoint", "token_endpoint"])]
    pub userinfo_endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpstreamCreate {
    /// Shown on the login page: "Sign in with NAME".
    #[arg(long)]
    pub name: String,
    /// Its id, the path segment of its callback (default: made from the name).
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub settings: UpstreamSettingsArgs,
    /// Accept a second factor done at the provider (its amr) where one is required.
    #[arg(long)]
    pub trusted_for_mfa: bool,
    /// Do not create a person at a first sign-in with no linked person.
    #[arg(long)]
    pub no_create_people: bool,
    /// Register it without offering it on the login page yet.
    #[arg(long)]
    pub disabled: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UpstreamUpdate {
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub settings: UpstreamSettingsArgs,
    /// Offer it on the login page.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Stop offering it on the login page.
    #[arg(long)]
    pub disable: bool,
    /// Accept (true) or not (false) a second factor done at the provider.
    #[arg(long, value_name = "BOOL")]
    pub trusted_for_mfa: Option<bool>,
    /// Whether a first sign-in with no linked person creates one.
    #[arg(long, value_name = "BOOL")]
    pub create_people: Option<bool>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Create {
        /// Its name: 1 to 64 letters, digits and - _ . : (the name apps see in `groups`).
        name: String,
        /// What the group is for (for operators; never in a token).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List the groups, with how many members each has.
    List(JsonFlag),
    /// Show a group and its members.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a group (not usher-admins, and not one a client is restricted to).
    Delete {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Add a person to a group (adding a member again changes nothing).
    AddMember {
        group: String,
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove a person from a group. Their next refresh for a client restricted to the
    /// group is refused, and their next tokens leave the group out.
    RemoveMember {
        group: String,
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a person; the password is read from standard input.
    Create(UserCreate),
    /// List people.
    List(JsonFlag),
    /// Show one person, with their second factors (never a secret).
    Show {
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Change a person's name, e-mail address, preferred username or phone number (the
    /// options not given stay as they are; --no-… removes a value). A new address or
    /// number is not verified unless --email-verified true / --phone-number-verified true.
    Update(UserUpdate),
    /// Disable a person: every sign-in and token grant refuses them from now on, and
    /// their sessions and refresh-token families end (as revoke-sessions). Nothing is
    /// deleted; `user enable` lets them sign in again.
    Disable {
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Enable a disabled person again.
    Enable {
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete a person.
    Delete {
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// End every browser session of a person and revoke all their refresh-token
    /// families (every device and application).
    RevokeSessions {
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List a person's live browser sessions, one per browser, with the handle that
    /// ends one through the admin API or the console (never a session id).
    Sessions {
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove all of a person's second factors (authenticator app and recovery codes),
    /// end their sessions and revoke their refresh-token families, as revoke-sessions
    /// does: for a person who lost their authenticator app.
    MfaReset {
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Invite someone to create an account (signup = "invite" or "open"): mails a
    /// single-use link to ADDRESS that opens the sign-up form with the address fixed and
    /// verified. Needs smtp_url, or --print-link to hand the link over yourself.
    Invite(UserInvite),
    /// List the invitations not yet used and not expired: address, name, made, expires
    /// (never their links: only their hashes are stored).
    Invitations(JsonFlag),
    /// Revoke every invitation to ADDRESS: their links stop working at once.
    Uninvite {
        /// The invited address (compared without regard to ASCII case).
        #[arg(long)]
        email: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Set a new password, read from standard input. Ends the person's sessions and
    /// revokes their refresh-token families, as revoke-sessions does, unless
    /// --keep-sessions.
    SetPassword {
        username: String,
        /// Read the password from standard input (required: it never goes on a command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Keep the person's browser sessions and refresh tokens (by default a new
        /// password signs them out everywhere).
        #[arg(long)]
        keep_sessions: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct UserCreate {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: Option<String>,
    /// Mark the e-mail address as verified.
    #[arg(long)]
    pub email_verified: bool,
    /// The person's display name (the `name` claim).
    #[arg(long)]
    pub name: Option<String>,
    /// The `preferred_username` claim (by default apps get the username).
    #[arg(long)]
    pub preferred_username: Option<String>,
    /// The `phone_number` claim: + and the country code, then the number (spaces and
    /// dashes are removed).
    #[arg(long)]
    pub phone_number: Option<String>,
    /// Mark the phone number as verified (Usher itself cannot verify one).
    #[arg(long)]
    pub phone_number_verified: bool,
    /// Read the password from standard input (required: it never goes on a command line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UserUpdate {
    pub username: String,
    /// The person's display name (the `name` claim).
    #[arg(long, conflicts_with = "no_name")]
    pub name: Option<String>,
    /// Remove the name.
    #[arg(long)]
    pub no_name: bool,
    #[arg(long, conflicts_with = "no_email")]
    pub email: Option<String>,
    /// Remove the e-mail address.
    #[arg(long)]
    pub no_email: bool,
    /// Whether the e-mail address is verified.
    #[arg(long, value_name = "true|false")]
    pub email_verified: Option<bool>,
    /// The `preferred_username` claim.
    #[arg(long, conflicts_with = "no_preferred_username")]
    pub preferred_username: Option<String>,
    /// Remove the preferred username (apps get the username).
    #[arg(long)]
    pub no_preferred_username: bool,
    /// The `phone_number` claim: + and the country code, then the number.
    #[arg(long, conflicts_with = "no_phone_number")]
    pub phone_number: Option<String>,
    /// Remove the phone number.
    #[arg(long)]
    pub no_phone_number: bool,
    /// Whether the phone number is verified.
    #[arg(long, value_name = "true|false")]
    pub phone_number_verified: Option<bool>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct UserInvite {
    /// The address to invite; it becomes the person's address, verified.
    #[arg(long)]
    pub email: String,
    /// The person's display name (the `name` claim), prefilled in the form.
    #[arg(long)]
    pub name: Option<String>,
    /// How long the link works: seconds, or a number with s, m, h or d (default 7d, at
    /// most 90d).
    #[arg(long, default_value = "7d")]
    pub expires_in: String,
    /// Also print the link (a bearer credential: whoever has it can create the
    /// account). Without smtp_url this is the only way to hand it over, and the mail is
    /// not sent.
    #[arg(long)]
    pub print_link: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: kid, algorithm, state, created, activates, activated,
    /// retires, retired, removes.
    List(JsonFlag),
    /// Publish a new key of every algorithm (or of --alg) now; each starts signing once
    /// its pre-publication period ([keys] prepublish) has passed. With --now: they sign at
    /// once (emergency).
    Rotate {
        /// Emergency: sign with the next key (or a brand-new one) at once. Verifiers whose
        /// cached JWKS predates that key reject its tokens until they refetch.
        #[arg(long)]
        now: bool,
        /// Only the keys of this algorithm: RS256, ES256 or EdDSA (default: every one).
        #[arg(long, value_name = "ALG")]
        alg: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove a compromised key from the JWKS at once: tokens it signed stop verifying.
    /// If it is the active key, another key starts signing at once (as with rotate --now).
    Retire {
        /// A kid (RFC 7638 thumbprint, base64url) may start with '-'.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Required: say that the key is compromised (scheduled retirement is automatic).
        #[arg(long, required = true)]
        compromised: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, TryCommand};

    #[test]
    fn a_client_secret_that_starts_with_a_dash_is_a_value_not_an_option() {
        // Secrets are random base64url: about one in 64 starts with '-'.
        let cli = Cli::try_parse_from([
            "usher",
            "try",
            "client-credentials",
            "--client-id",
            "c",
            "--client-secret",
            "-kF3x",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Try(TryCommand::ClientCredentials { client_secret: Some(s), .. }) if s == "-kF3x"
        ));
        let cli = Cli::try_parse_from([
            "usher",
            "try",
            "sign-in",
            "--client-id",
            "c",
            "--client-secret",
            "-x",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Try(TryCommand::SignIn { client_secret: Some(s), .. }) if s == "-x"
        ));
    }

    #[test]
    fn family_ids_and_kids_that_start_with_a_dash_are_values_not_options() {
        // Both are random base64url: about one in 64 starts with '-'.
        let cli =
            Cli::try_parse_from(["usher", "families", "revoke", "-9xQbW0aLrTzK1cPo"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Families(super::FamiliesCommand::Revoke { id, .. }) if id == "-9xQbW0aLrTzK1cPo"
        ));
        let cli =
            Cli::try_parse_from(["usher", "keys", "retire", "-kTh", "--compromised"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Keys(super::KeysCommand::Retire { kid, .. }) if kid == "-kTh"
        ));
    }

    #[test]
    fn the_client_secret_can_come_from_stdin_but_not_from_both_places() {
        let cli = Cli::try_parse_from([
            "usher",
            "try",
            "client-credentials",
            "--client-id",
            "c",
            "--client-secret-stdin",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Try(TryCommand::ClientCredentials {
                client_secret: None,
                client_secret_stdin: true,
                ..
            })
        ));
        for both in [
            vec!["usher", "try", "client-credentials", "--client-id", "c"],
            vec![
                "usher",
                "try",
                "client-credentials",
                "--client-id",
                "c",
                "--client-secret",
                "s",
                "--client-secret-stdin",
            ],
            vec![
                "usher",
                "try",
                "sign-in",
                "--client-id",
                "c",
                "--client-secret",
                "s",
                "--client-secret-stdin",
            ],
        ] {
            assert!(Cli::try_parse_from(&both).is_err(), "{both:?}");
        }
    }
}
