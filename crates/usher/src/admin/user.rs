//! `usher user create | list | show | update | disable | enable | delete | set-password |
//! revoke-sessions | sessions | mfa-reset | invite | invitations | uninvite`. `update`,
//! `disable` and `enable` are the shared operations' rules (`usher_core::admin::people`),
//! written with their audit events in one transaction. `show` also lists the person's second factors (docs/design/mfa.md)
//! without their secrets; `mfa-reset` removes them all and ends the person's sessions
//! and refresh-token families, as `revoke-sessions` does.

use serde_json::{Value, json};
use usher_domain::{
    AuditActor, AuditEvent, AuditKind, BackchannelStore, FactorStore, InteractionStore,
    KnownBrowserStore, MailTokenStore, RevokeReason, StoreError, User, UserStore, Username,
};

use usher_core::admin::people::{self, PersonChange};
use usher_core::admin::{AdminError, By};

use super::{print_json, read_password_stdin, refused, usage};
use crate::cli::{UserCommand, UserCreate, UserInvite, UserUpdate};
use crate::clock;
use crate::config::Settings;
use crate::context::Context;

pub fn run(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create(args) => create(settings, args),
        UserCommand::Update(args) => update(settings, args),
        UserCommand::Disable { username, json } => {
            let (username, ctx, user) = open_person(settings, &username)?;
            let by = By::cli(clock::now());
            // Disabled first, so that no sign-in passes from now on; then every session
            // and family ends. Disabling a disabled person ends them again (the retry).
            let changed = ctx.db.audited(|tx| {
                let changed = tx.set_disabled(&user.id, Some(by.at))?;
                if changed {
                    tx.record(&people::disabled_event(&by, &user))?;
                }
                Ok(changed)
            })?;
            if changed {
                tracing::warn!(event = "person_disabled", sub = %user.id, "person disabled by an administrator");
            }
            let (sessions, families) = revoke_sessions(&ctx, &user).map_err(|e| {
                e.context(format!(
                    "{username} is disabled, but their sessions were not all ended: run \
                     `usher user disable {username}` again once the family store answers"
                ))
            })?;
            if json.json {
                let mut out = describe(&reload(&ctx, &username)?);
                out["sessions_ended"] = json!(sessions);
                out["families_revoked"] = json!(families);
                print_json(&out)
            } else {
                println!(
                    "{username} is disabled{}; ended {sessions} session(s) and revoked {families} refresh-token family(ies)",
                    if changed { "" } else { " (it already was)" }
                );
                Ok(())
            }
        }
        UserCommand::Enable { username, json } => {
            let (username, ctx, user) = open_person(settings, &username)?;
            let by = By::cli(clock::now());
            let changed = ctx.db.audited(|tx| {
                let changed = tx.set_disabled(&user.id, None)?;
                if changed {
                    tx.record(&people::enabled_event(&by, &user))?;
                }
                Ok(changed)
            })?;
            if json.json {
                print_json(&describe(&reload(&ctx, &username)?))
            } else {
                println!(
                    "{username} may sign in{}",
                    if changed {
                        " again"
                    } else {
                        " (it was not disabled)"
                    }
                );
                Ok(())
            }
        }
        UserCommand::Invite(args) => invite(settings, args),
        UserCommand::Invitations(flag) => {
            let ctx = Context::open(settings)?;
            let live = usher_core::admin::invitations::live(&ctx.admin_stores(), clock::now())
                .map_err(super::refused)?;
            if flag.json {
                print_json(&Value::Array(
                    live.iter()
                        .map(|i| {
                            json!({
                                "email": i.email.as_str(),
                                "name": i.name.as_ref().map(|n| n.as_str()),
                                "created_at": clock::rfc3339(i.created_at),
                                "expires_at": clock::rfc3339(i.expires_at),
                            })
                        })
                        .collect(),
                ))
            } else {
                if live.is_empty() {
                    println!("no invitations");
                }
                for i in &live {
                    println!(
                        "{}  {}  made {}  expires {}",
                        i.email.as_str(),
                        i.name.as_ref().map_or("-", |n| n.as_str()),
                        clock::rfc3339(i.created_at),
                        clock::rfc3339(i.expires_at)
                    );
                }
                Ok(())
            }
        }
        UserCommand::Uninvite { email, json } => {
            use usher_core::admin::invitations;
            let email = invitations::parse_email(&email).map_err(super::refused)?;
            let ctx = Context::open(settings)?;
            let revoked = invitations::revoke(
                &ctx.admin_stores(),
                &email,
                &usher_core::admin::By::cli(clock::now()),
            )
            .map_err(super::refused)?
            .revoked;
            if json.json {
                print_json(&json!({ "email": email.as_str(), "revoked": revoked }))
            } else {
                println!(
                    "{revoked} invitation{} to {} revoked",
                    if revoked == 1 { "" } else { "s" },
                    email.as_str()
                );
                Ok(())
            }
        }
        UserCommand::List(flag) => {
            let ctx = Context::open(settings)?;
            let users = ctx.db.list_users()?;
            if flag.json {
                print_json(&Value::Array(users.iter().map(describe).collect()))
            } else {
                if users.is_empty() {
                    println!("no users");
                }
                for u in &users {
                    println!(
                        "{}  {}  {}{}",
                        u.id,
                        u.username,
                        u.email.as_ref().map_or("", |e| e.as_str()),
                        if u.may_sign_in() { "" } else { "  (disabled)" }
                    );
                }
                Ok(())
            }
        }
        UserCommand::Show { username, json } => {
            let (_, ctx, user) = open_person(settings, &username)?;
            let factors = Factors::load(&ctx, &user)?;
            if json.json {
                let mut described = describe(&user);
                described["second_factors"] = factors.describe();
                print_json(&described)
            } else {
                print_human(&user);
                factors.print_human();
                Ok(())
            }
        }
        UserCommand::MfaReset { username, json } => {
            let (username, ctx, user) = open_person(settings, &username)?;
            // The factors go first: once they are gone no sign-in can pass with them,
            // and the sessions that did are ended next.
            let removed =
                ctx.db.audited(|tx| {
                    let removed = tx.delete_factors(&user.id)?;
                    tx.record(&cli_event(AuditKind::MfaReset).person(&user.id).detail(
                        json!({"username": username.as_str(), "factors_removed": removed}),
                    ))?;
                    Ok(removed)
                })?;
            tracing::warn!(
                event = "mfa_reset",
                sub = %user.id,
                removed,
                "every second factor of a person removed by an administrator"
            );
            let (sessions, families) = revoke_sessions(&ctx, &user).map_err(|e| {
                e.context(format!(
                    "the second factors of {username} were removed, but their sessions were \
                     not all ended: run `usher user revoke-sessions {username}` once the \
                     family store answers"
                ))
            })?;
            if json.json {
                print_json(&json!({
                    "username": username.as_str(),
                    "factors_removed": removed,
                    "sessions_ended": sessions,
                    "families_revoked": families,
                }))
            } else {
                println!(
                    "removed {removed} second factor(s) (authenticator app and recovery codes) of {username}"
                );
                println!(
                    "ended {sessions} session(s) and revoked {families} refresh-token family(ies) of {username}"
                );
                Ok(())
            }
        }
        UserCommand::Delete { username, json } => {
            let username =
                usher_core::admin::people::parse_username(&username).map_err(super::refused)?;
            let ctx = Context::open(settings)?;
            // The shared operation (as the API's, without ending families in Redis: the
            // CLI has no node; a deleted person's families are refused at their next
            // refresh): the apps are told first (Back-Channel Logout), then the row and
            // its event go in one transaction.
            usher_core::admin::people::delete(
                &ctx.admin_stores(),
                &username,
                &usher_core::admin::By::cli(clock::now()),
            )
            .map_err(super::refused)?;
            if json.json {
                print_json(&json!({ "username": username.as_str(), "deleted": true }))
            } else {
                println!("deleted user {username}");
                Ok(())
            }
        }
        UserCommand::RevokeSessions { username, json } => {
            let (username, ctx, user) = open_person(settings, &username)?;
            let (sessions, families) = revoke_sessions(&ctx, &user)?;
            if json.json {
                print_json(&json!({
                    "username": username.as_str(),
                    "sessions_ended": sessions,
                    "families_revoked": families,
                }))
            } else {
                println!(
                    "ended {sessions} session(s) and revoked {families} refresh-token family(ies) of {username}"
                );
                Ok(())
            }
        }
        UserCommand::Sessions { username, json } => sessions(settings, &username, json.json),
        UserCommand::SetPassword {
            username,
            keep_sessions,
            json,
            ..
        } => {
            let username = Username::parse(&username).map_err(usage)?;
            let password = read_password_stdin()?;
            let ctx = Context::open(settings)?;
            let Some(user) = ctx.db.find_user(&username)? else {
                anyhow::bail!("no user {username}");
            };
            let hash = usher_keys::hash_password(&password)?;
            // A new password usually means the old one may be known to someone else:
            // whoever signed in with it loses their sessions and refresh tokens, unless
            // the operator says otherwise. The password changes first, so nobody can sign
            // in with the old one after their sessions were ended; then the sessions and
            // families end (revoke, delete, revoke: no code exchange racing it keeps a
            // family). If the family store is down, the error says what is left to do.
            let changed = ctx.db.audited(|tx| {
                let changed = tx.set_password_hash(&username, &hash)?;
                if changed {
                    tx.record(&cli_event(AuditKind::PasswordChanged).person(&user.id).detail(
                        json!({"how": "cli", "username": username.as_str(), "keep_sessions": keep_sessions}),
                    ))?;
                }
                Ok(changed)
            })?;
            if !changed {
                anyhow::bail!("no user {username}");
            }
            let ended = if keep_sessions {
                None
            } else {
                Some(revoke_sessions(&ctx, &user).map_err(|e| {
                    e.context(format!(
                        "the password of {username} was changed, but their sessions were not \
                         all ended: run `usher user revoke-sessions {username}` once the \
                         family store answers"
                    ))
                })?)
            };
            if json.json {
                print_json(&json!({
                    "username": username.as_str(),
                    "password_changed": true,
                    "sessions_ended": ended.map(|(s, _)| s),
                    "families_revoked": ended.map(|(_, f)| f),
                }))
            } else {
                println!("password changed for {username}");
                match ended {
                    Some((sessions, families)) => println!(
                        "ended {sessions} session(s) and revoked {families} refresh-token family(ies) of {username}"
                    ),
                    None => println!("sessions and refresh tokens kept (--keep-sessions)"),
                }
                Ok(())
            }
        }
    }
}

/// Ends every browser session of `user` and revokes all their refresh-token families:
/// what `user revoke-sessions` does, and `user set-password` unless `--keep-sessions`.
/// Returns (sessions ended, families revoked).
fn revoke_sessions(ctx: &Context, user: &User) -> anyhow::Result<(usize, usize)> {
    let store = super::families::open_audited_store(ctx)?;
    // Families first: if the family store is down, nothing is half-done. Then the
    // sessions, then the families again: a code exchange that saw a session before it
    // was deleted started its family before this second pass, and one that did not see
    // it refuses the code (docs/design/sign-in.md).
    let revoke = || {
        super::families::block_on(store.revoke_user(
            &user.id,
            RevokeReason::UserSessions,
            clock::now(),
        ))
    };
    let first = revoke()?;
    let sessions = ctx.db.audited(|tx| {
        let sessions = tx.delete_user_sessions(&user.id)?;
        tx.record(
            &cli_event(AuditKind::SessionsRevoked)
                .person(&user.id)
                .detail(json!({"username": user.username.as_str(), "sessions_ended": sessions})),
        )?;
        Ok(sessions)
    })?;
    let families = first + revoke()?;
    // A reset link or a pending address change asked for by whoever is being thrown out
    // would let them back in; so would a sign-in of theirs waiting at its second step or
    // at consent. And every browser is new again (mailed about at its next sign-in).
    for purpose in usher_domain::MailPurpose::TAKEOVER {
        ctx.db.delete_mail_tokens(&user.id, purpose)?;
    }
    ctx.db.spend_user_interactions(&user.id)?;
    ctx.db.forget_browsers(&user.id)?;
    // Every app that got tokens through those sessions is told (Back-Channel Logout): the
    // queue is in the database, and a serving node delivers it.
    let logouts = ctx.db.queue_user_logouts(&user.id, clock::now())?;
    if logouts > 0 {
        tracing::info!(user_id = %user.id, logouts, "back-channel logouts queued");
    }
    tracing::info!(user_id = %user.id, sessions, families, "every session and refresh-token family of a person revoked");
    Ok((sessions, families))
}

fn create(settings: Settings, args: UserCreate) -> anyhow::Result<()> {
    use usher_core::admin::{By, people};
    // The shared operation's rules and texts (as the API's), checked before anything
    // is opened.
    let checked = people::NewPerson {
        username: args.username,
        name: args.name,
        email: args.email,
        email_verified: args.email_verified,
        preferred_username: args.preferred_username,
        phone_number: args.phone_number,
        phone_number_verified: args.phone_number_verified,
    }
    .check()
    .map_err(super::refused)?;
    let password = read_password_stdin()?;

    let ctx = Context::open(settings)?;
    let stores = ctx.admin_stores();
    // Cheap before the (slow) hash; `create` checks again and the store refuses a taken
    // name whoever races it.
    people::require_free(&stores, checked.username()).map_err(super::refused)?;
    let password_hash = usher_keys::hash_password(&password)?;
    let user = people::create(&stores, checked, password_hash, &By::cli(clock::now()))
        .map_err(super::refused)?;
    if args.json.json {
        print_json(&describe(&user))
    } else {
        print_human(&user);
        Ok(())
    }
}

/// An event done by the CLI now.
fn cli_event(kind: AuditKind) -> AuditEvent {
    AuditEvent::new(clock::now(), kind, AuditActor::Cli)
}

/// `usher user invite`: an invitation, mailed through `smtp_url` (sent before the
/// command ends, so a refusal is reported), and with `--print-link` printed. Without
/// `smtp_url`, `--print-link` is required: an invitation nobody receives would be
/// useless. The rules are `usher_core::admin::invitations::create`'s.
fn invite(settings: Settings, args: UserInvite) -> anyhow::Result<()> {
    use usher_core::admin::invitations::{self, InvitationInput, Sending};

    let input = InvitationInput::parse(
        &args.email,
        args.name.as_deref(),
        Some(args.expires_in.as_str()),
    )
    .map_err(super::refused)?;
    // The mail server is only looked at once sign-up is on (the first refusal wins).
    let outbox = if settings.signup.invitations() {
        crate::mail::direct_outbox(&settings.mail, &settings.issuer)?
    } else {
        None
    };
    let ctx = Context::open(settings)?;
    let mailing = outbox.map(|outbox| usher_core::mail::Mailing {
        compose: std::sync::Arc::new(usher_http::mail::Templates),
        outbox,
    });
    let sending = Sending {
        mode: ctx.settings.signup,
        issuer: &ctx.settings.issuer,
        mailing: mailing.as_ref(),
    };
    let made = invitations::create(
        &ctx.admin_stores(),
        &sending,
        input,
        args.print_link,
        &usher_core::admin::By::cli(clock::now()),
    )
    .map_err(super::refused)?;
    let expires_at = clock::rfc3339(made.expires_at);
    if args.json.json {
        let mut out = json!({
            "email": made.email.as_str(),
            "expires_at": expires_at,
            "mailed": made.mailed,
        });
        if let Some(link) = &made.link {
            out["link"] = Value::String(link.clone());
        }
        print_json(&out)
    } else {
        if made.mailed {
            println!(
                "invitation mailed to {}; it works once, until {expires_at}",
                made.email.as_str()
            );
        } else {
            println!(
                "invitation for {} made, not mailed; it works once, until {expires_at}",
                made.email.as_str()
            );
        }
        if let Some(link) = &made.link {
            println!("{link}");
        }
        Ok(())
    }
}

/// The user as JSON, without the password hash.
fn describe(u: &User) -> Value {
    json!({
        "id": u.id.as_str(),
        "username": u.username.as_str(),
        "name": u.name.as_ref().map(|n| n.as_str()),
        "email": u.email.as_ref().map(|e| e.as_str()),
        "email_verified": u.email_verified,
        "preferred_username": u.profile.preferred_username.as_ref().map(|p| p.as_str()),
        "phone_number": u.profile.phone_number.as_ref().map(|p| p.as_str()),
        "phone_number_verified": u.profile.phone_number_verified,
        "address": u.profile.address.as_ref().map(|a| a.fields()),
        "created_at": clock::rfc3339(u.created_at),
        "disabled": !u.may_sign_in(),
        "disabled_at": u.disabled_at.map(clock::rfc3339),
    })
}

fn print_human(u: &User) {
    println!("id:             {}", u.id);
    println!("username:       {}", u.username);
    if let Some(n) = &u.name {
        println!("name:           {}", n.as_str());
    }
    if let Some(e) = &u.email {
        println!(
            "email:          {} ({})",
            e.as_str(),
            if u.email_verified {
                "verified"
            } else {
                "not verified"
            }
        );
    }
    if let Some(p) = &u.profile.preferred_username {
        println!("preferred name: {}", p.as_str());
    }
    if let Some(p) = &u.profile.phone_number {
        println!(
            "phone number:   {} ({})",
            p.as_str(),
            if u.profile.phone_number_verified {
                "verified"
            } else {
                "not verified"
            }
        );
    }
    if let Some(a) = &u.profile.address {
        let f = a.fields();
        let parts = [
            &f.formatted,
            &f.street_address,
            &f.locality,
            &f.region,
            &f.postal_code,
            &f.country,
        ];
        let line: Vec<String> = parts
            .iter()
            .filter_map(|p| p.as_deref())
            .map(|p| p.replace('\n', ", "))
            .collect();
        println!("address:        {}", line.join("; "));
    }
    println!("created:        {}", clock::rfc3339(u.created_at));
    if let Some(at) = u.disabled_at {
        println!("disabled:       since {}", clock::rfc3339(at));
    }
}

/// The person `username` as stored now.
fn reload(ctx: &Context, username: &Username) -> anyhow::Result<User> {
    ctx.db
        .find_user(username)?
        .ok_or_else(|| anyhow::anyhow!("no user {username}"))
}

/// `usher user update`: the change parsed and checked by the shared operation's rules
/// before the database opens, then written as a compare-and-set of the person as read,
/// with its audit event, in one transaction.
fn update(settings: Settings, args: UserUpdate) -> anyhow::Result<()> {
    let value = |set: Option<String>, remove: bool| match (set, remove) {
        (Some(v), _) => Some(Some(v)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let change = PersonChange {
        name: value(args.name, args.no_name),
        email: value(args.email, args.no_email),
        email_verified: args.email_verified,
        preferred_username: value(args.preferred_username, args.no_preferred_username),
        phone_number: value(args.phone_number, args.no_phone_number),
        phone_number_verified: args.phone_number_verified,
    }
    .check()
    .map_err(refused)?;
    let (username, ctx, before) = open_person(settings, &args.username)?;
    let after = change.apply(&before).map_err(refused)?;
    if after != before {
        let by = By::cli(clock::now());
        let written = ctx.db.audited(|tx| {
            if !tx.update_person_if(&before, &after)? {
                return Err(StoreError::Conflict("changed meanwhile".to_owned()));
            }
            tx.record(&people::updated_event(&by, &before, &after))
        });
        match written {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Err(refused(AdminError::Stale)),
            Err(e) => return Err(e.into()),
        }
        // Links mailed to (or asked for from) the old address go with it.
        if after.email != before.email {
            for purpose in usher_domain::MailPurpose::TAKEOVER {
                ctx.db
                    .delete_mail_tokens(&before.id, purpose)
                    .map_err(|e| {
                        anyhow::Error::from(e).context(format!(
                            "the e-mail address of {username} changed, but the links mailed to the old one were not all voided: run `usher user revoke-sessions {username}` once the database answers"
                        ))
                    })?;
            }
        }
        tracing::info!(sub = %before.id, "person updated by an administrator");
    }
    let now = reload(&ctx, &username)?;
    if args.json.json {
        print_json(&describe(&now))
    } else {
        if after == before {
            println!("nothing changed");
        }
        print_human(&now);
        Ok(())
    }
}

/// A person's second factors as an administrator may see them: whether they have an
/// authenticator app (confirmed or not, and since when) and how many unused recovery
/// codes. Never the sealed secret or a code hash.
struct Factors {
    /// (confirmed, created at) of the authenticator app, if any.
    totp: Option<(bool, usher_domain::UnixTime)>,
    recovery_codes_left: usize,
    /// (name, created at, last used, suspect) of each passkey: never its credential.
    passkeys: Vec<(
        String,
        usher_domain::UnixTime,
        Option<usher_domain::UnixTime>,
        bool,
    )>,
}

impl Factors {
    fn load(ctx: &Context, user: &User) -> anyhow::Result<Factors> {
        let totp = ctx
            .db
            .get_totp(&user.id)?
            .map(|f| (f.confirmed, f.created_at));
        let recovery_codes_left = ctx.db.recovery_codes_left(&user.id)?;
        let passkeys = usher_domain::PasskeyStore::list_passkeys(&ctx.db, &user.id)?
            .into_iter()
            .map(|p| {
                (
                    p.name.as_str().to_owned(),
                    p.created_at,
                    p.last_used_at,
                    p.suspect,
                )
            })
            .collect();
        Ok(Factors {
            totp,
            recovery_codes_left,
            passkeys,
        })
    }

    fn describe(&self) -> Value {
        json!({
            "authenticator_app": self.totp.map(|(confirmed, created_at)| json!({
                "confirmed": confirmed,
                "created_at": clock::rfc3339(created_at),
            })),
            "recovery_codes_left": self.recovery_codes_left,
            "passkeys": self.passkeys.iter().map(|(name, created, used, suspect)| json!({
                "name": name,
                "created_at": clock::rfc3339(*created),
                "last_used_at": used.map(clock::rfc3339),
                "suspect": suspect,
            })).collect::<Vec<_>>(),
        })
    }

    fn print_human(&self) {
        match self.totp {
            Some((confirmed, created_at)) => println!(
                "authenticator:  {} (since {})",
                if confirmed {
                    "confirmed"
                } else {
                    "not confirmed"
                },
                clock::rfc3339(created_at)
            ),
            None => println!("authenticator:  none"),
        }
        println!("recovery codes: {} unused", self.recovery_codes_left);
        for (name, created, _, suspect) in &self.passkeys {
            println!(
                "passkey:        {name} (since {}){}",
                clock::rfc3339(*created),
                if *suspect {
                    ", refused: counter went backwards"
                } else {
                    ""
                }
            );
        }
    }
}

/// The person a command names: the username parsed before the database opens (refused
/// input writes nothing), then looked up; an unknown username is an error.
/// `usher user sessions U`: the person's browsers, as the admin API lists them.
fn sessions(settings: Settings, raw: &str, json: bool) -> anyhow::Result<()> {
    let username = Username::parse(raw).map_err(usage)?;
    let ctx = Context::open(settings)?;
    let db = std::sync::Arc::new(ctx.db.clone());
    let stores = usher_core::admin::AdminStores::all_in(db.clone());
    let listed = usher_core::admin::sessions::list(&stores, db.as_ref(), &username, clock::now())?;
    if json {
        return print_json(&serde_json::to_value(&listed)?);
    }
    if listed.sessions.is_empty() {
        println!("{} is not signed in anywhere", listed.username);
    }
    for s in &listed.sessions {
        println!(
            "{}  signed in {}  last {}  ends {}  from {}  {}  amr {}",
            s.handle,
            s.created_at,
            s.auth_time,
            s.expires_at,
            s.address.as_deref().unwrap_or("unknown"),
            s.user_agent.as_deref().unwrap_or("unknown browser"),
            s.amr.join(",")
        );
    }
    Ok(())
}

fn open_person(settings: Settings, raw: &str) -> anyhow::Result<(Username, Context, User)> {
    let username = Username::parse(raw).map_err(usage)?;
    let ctx = Context::open(settings)?;
    let user = ctx
        .db
        .find_user(&username)?
        .ok_or_else(|| anyhow::anyhow!("no user {username}"))?;
    Ok((username, ctx, user))
}
