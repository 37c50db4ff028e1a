//! The admin commands. Each one parses and checks its input first, then opens the
//! database; output is text for people, or one JSON document with `--json`.

pub mod apply;
pub mod audit;
pub mod client;
pub mod families;
pub mod group;
pub mod kek;
pub mod keys;
pub mod registration;
pub mod resource;
pub mod upstream;
pub mod user;

use std::io::{BufRead, Write};

use usher_domain::Password;

/// Bad input from the person at the keyboard: exit code 2, nothing written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn usage(message: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.to_string()))
}

/// An administrative operation's refusal as the CLI reports it: bad input, a conflict
/// or a stale precondition exit with 2 (nothing written), a missing thing with 1.
pub fn refused(e: usher_core::admin::AdminError) -> anyhow::Error {
    use usher_core::admin::AdminError;
    match e {
        AdminError::Invalid(_) | AdminError::Conflict(_) | AdminError::Stale => usage(e),
        AdminError::NotFound(_) | AdminError::Incomplete(_) | AdminError::Failure(_) => {
            anyhow::anyhow!("{e}")
        }
    }
}

/// Writes an event of a change that has no transaction to share (a change made through
/// another store, or several): it follows the change. A failure does not undo the
/// change; it is said on stderr and logged (docs/design/audit.md).
pub fn record(db: &usher_store::Database, event: usher_domain::AuditEvent) {
    use usher_domain::AuditStore as _;
    let kind = event.kind;
    if let Err(e) = db.record_event(&event) {
        tracing::warn!(event = "audit_write_failed", kind = kind.as_str(), cause = %e, "a change could not be written to the audit trail");
        eprintln!(
            "warning: the change was made, but it could not be written to the audit trail ({kind}): {e}"
        );
    }
}

/// Prints one JSON document on stdout.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Reads a password from the first line of standard input (without its line ending).
pub fn read_password_stdin() -> anyhow::Result<Password> {
    Password::parse(read_line_stdin("the password")?).map_err(usage)
}

/// Reads a client secret from the first line of standard input, so that it never
/// appears in the process list (`--client-secret-stdin`).
pub fn read_secret_stdin() -> anyhow::Result<String> {
    let secret = read_line_stdin("the client secret")?;
    if secret.is_empty() {
        return Err(usage(
            "--client-secret-stdin: standard input held no secret",
        ));
    }
    Ok(secret)
}

/// The first line of standard input, without its line ending. When standard input is a
/// terminal (a person typing or pasting, which keeps the secret out of the command line
/// and the shell's history), it first says what it waits for and does not show what is
/// typed; piped input is read as it comes, without a prompt.
fn read_line_stdin(what: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    let mut line = String::new();
    let terminal = std::io::stdin().is_terminal();
    let hidden = terminal.then(|| {
        eprint!("{what} (not shown), then Enter: ");
        EchoOff::new()
    });
    let read = std::io::stdin().lock().read_line(&mut line);
    if terminal {
        drop(hidden);
        eprintln!();
    }
    read.map_err(|e| usage(format!("cannot read {what} from standard input: {e}")))?;
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_owned())
}

/// The terminal's echo, off while a secret is typed and on again when dropped. stty(1)
/// does it on the inherited standard input: no unsafe code and no dependency; where
/// stty is missing the input is shown, as before.
struct EchoOff {
    off: bool,
}

impl EchoOff {
    fn new() -> EchoOff {
        let off = std::process::Command::new("stty")
            .arg("-echo")
            .status()
            .is_ok_and(|s| s.success());
        EchoOff { off }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if self.off {
            let _ = std::process::Command::new("stty").arg("echo").status();
        }
    }
}
