//! The `usher` binary's code, as a library: configuration, logging, wiring and the admin
//! CLI.
//!
//! It owns the process: it reads settings, installs logging, reads the clock, and wires
//! `usher-store`, `usher-keys` and `usher-http` together. Protocol rules live in
//! `usher-domain`; this crate only decides *which* implementations to plug in.
//! `src/main.rs` only calls [`main`]. The library exists so that integration tests can
//! start whole Usher nodes in-process with a clock they control ([`serve::Node`]).

pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod key_admin;
pub mod mail;
pub mod rotation;
pub mod serve;
mod telemetry;
pub mod tryout;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::Settings;
use crate::context::Context;

/// The whole command line program: parse, configure logging, run, map errors to exit
/// codes (2 for bad input, 1 for everything else).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("usher: {e}");
            return ExitCode::from(2);
        }
    };
    // Admin commands log only warnings unless USHER_LOG says otherwise, so their output
    // stays readable; the server logs at the configured level.
    let filter = match (&cli.command, std::env::var_os("USHER_LOG")) {
        (Command::Serve(_), _) | (_, Some(_)) => settings.log.clone(),
        _ => "warn".to_owned(),
    };
    telemetry::init(&filter, settings.log_format);

    match run(cli.command, settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<admin::UsageError>() {
            Some(usage) => {
                eprintln!("usher: {usage}");
                ExitCode::from(2)
            }
            None => {
                eprintln!("usher: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Admin commands check their input before opening anything, so bad input writes
/// nothing: not even a fresh database or KEK.
fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(Context::open_for_serve(settings)?, args.dev_mail),
        // Migrations need no KEK: `migrate` neither reads nor creates one.
        Command::Migrate => {
            let db = context::open_database(&settings)?;
            println!("database {} is up to date", db.display_url());
            Ok(())
        }
        Command::Client(c) => admin::client::run(settings, c),
        Command::Resource(c) => admin::resource::run(settings, c),
        Command::Apply(a) => admin::apply::run(settings, a.file, a.dry_run, a.prune, a.json.json),
        Command::Registration(c) => admin::registration::run(settings, c),
        Command::User(c) => admin::user::run(settings, c),
        Command::Group(c) => admin::group::run(settings, c),
        Command::Upstream(c) => admin::upstream::run(settings, c),
        Command::Keys(c) => admin::keys::run(settings, c),
        Command::Families(c) => admin::families::run(settings, c),
        Command::Audit(c) => admin::audit::run(settings, c),
        Command::Kek(c) => admin::kek::run(settings, c),
        Command::Try(cli::TryCommand::SignIn {
            client_id,
            client_secret,
            client_secret_stdin,
            port,
            scope,
            json,
        }) => tryout::sign_in(
            &settings,
            tryout::SignIn {
                client_id,
                client_secret: match client_secret_stdin {
                    true => Some(admin::read_secret_stdin()?),
                    false => client_secret,
                },
                port,
                scope,
            },
            json.json,
        ),
        Command::Try(cli::TryCommand::ClientCredentials {
            client_id,
            client_secret,
            client_secret_stdin,
            scope,
            resources,
            json,
        }) => tryout::client_credentials(
            &settings,
            tryout::ClientCredentials {
                client_id,
                client_secret: match client_secret {
                    Some(secret) if !client_secret_stdin => secret,
                    _ => admin::read_secret_stdin()?,
                },
                scope,
                resources,
            },
            json.json,
        ),
    }
}
