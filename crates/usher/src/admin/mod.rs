//! The admin commands. Each one parses and checks its input first, then opens the
//! database; output is text for people, or one JSON document with `--json`.

pub mod client;
pub mod families;
pub mod kek;
pub mod keys;
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

/// The first line of standard input, without its line ending.
fn read_line_stdin(what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| usage(format!("cannot read {what} from standard input: {e}")))?;
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_owned())
}
