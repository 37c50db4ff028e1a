//! The README, read top to bottom, works: this test runs every ```` ```sh ```` block of
//! `README.md`, one command at a time, in order, and fails on the first command that
//! does not exit 0. The commands are the README's own text, so the two cannot drift.
//!
//! What differs from a reader at a terminal, and why (each is a plain text substitution
//! or a stand-in for the reader, nothing else):
//!
//! - `cargo run --release --` becomes this build's `usher` (the debug binary cargo built
//!   for the tests): the same commands, without a release build of several minutes.
//! - Every command runs in a fresh temporary directory (the reader's clone), with a clean
//!   environment plus `USHER_BIND=127.0.0.1:<a free port>`, and `http://127.0.0.1:8080`
//!   becomes that address: on a test machine the README's port may be taken.
//! - `try sign-in` gets `--port <a free port>` for the same reason (its default is 5555).
//! - The placeholders `<NAME_client_id>` and `<NAME_client_secret>` become what the
//!   README's `client create --name "Name"` printed (NAME is the name in lower case, `_`
//!   for anything but letters and digits), as the reader copies them.
//! - What a command asks for on standard input, the reader types: for `--password-stdin`
//!   the password this test chose (and later signs in with), for `--client-secret-stdin`
//!   the secret of the client whose `<NAME_client_id>` the command names.
//! - `serve` runs in the background until the end, as in the reader's first terminal;
//!   `./test` is skipped: it is the command that runs this test.
//! - The URL `try sign-in` prints is opened in headless Chromium, driven by
//!   `e2e/open-and-sign-in.js` as the browser tests drive it (playwright-core, Debian's
//!   `chromium`), which signs in as the person the README created, with that password,
//!   and allows.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);
/// What the reader types when `user create --password-stdin` asks.
const PASSWORD: &str = "a long passphrase, typed";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One command of a shell block: its continuation lines joined, comments dropped.
#[derive(Debug)]
struct Line {
    section: String,
    text: String,
}

/// Every command of every ```` ```sh ```` block, in order, with the section it is in.
fn shell_lines(readme: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut section = String::new();
    let mut in_block = false;
    let mut pending = String::new();
    for raw in readme.lines() {
        if !in_block {
            if let Some(title) = raw.strip_prefix("## ") {
                section = title.trim().to_owned();
            }
            in_block = raw.trim() == "```sh";
            continue;
        }
        if raw.trim() == "```" {
            assert!(
                pending.is_empty(),
                "a continued line ends its block: {pending}"
            );
            in_block = false;
            continue;
        }
        let trimmed = raw.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head.trim_end());
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                lines.push(Line {
                    section: section.clone(),
                    text: std::mem::take(&mut pending),
                });
            }
        }
    }
    assert!(!in_block, "README.md has an unclosed ```sh block");
    lines
}

/// `<name_client_id>` for a client named `name`: lower case, `_` for anything else.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The value of `--flag VALUE`, `--flag "VALUE"` or `--flag 'VALUE'` in a command.
fn flag(text: &str, name: &str) -> Option<String> {
    let rest = &text[text.find(&format!("{name} "))? + name.len() + 1..];
    let rest = rest.trim_start();
    for quote in ['"', '\''] {
        if let Some(quoted) = rest.strip_prefix(quote) {
            return quoted.split(quote).next().map(str::to_owned);
        }
    }
    rest.split_whitespace().next().map(str::to_owned)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The walkthrough's state: the reader's directory and what the README printed so far.
struct Reader {
    dir: tempfile::TempDir,
    bind: String,
    usher: String,
    placeholders: BTreeMap<String, String>,
    passwords: BTreeMap<String, String>,
    server: Option<Child>,
    done: Vec<&'static str>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl Reader {
    /// The command as this test runs it (see the module's list of substitutions).
    fn substitute(&self, line: &Line) -> String {
        let mut text = line
            .text
            .replace("cargo run --release --", &self.usher)
            .replace("http://127.0.0.1:8080", &format!("http://{}", self.bind));
        if text.contains(" try sign-in ") {
            text = text.replace(
                " try sign-in ",
                &format!(" try sign-in --port {} ", free_port()),
            );
        }
        for (name, value) in &self.placeholders {
            text = text.replace(&format!("<{name}>"), value);
        }
        if let Some(start) = text.find('<')
            && let Some(len) = text[start..].find('>')
            && text[start + 1..start + len]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            panic!(
                "README.md ({}) uses the placeholder {} before any `client create` printed it:\n{}",
                line.section,
                &text[start..=start + len],
                line.text
            );
        }
        text
    }

    fn shell(&self, text: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.args(["-c", &format!("set -euo pipefail\n{text}")])
            .current_dir(self.dir.path())
            .env_clear()
            .env("USHER_BIND", &self.bind);
        for var in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(var) {
                cmd.env(var, value);
            }
        }
        cmd
    }

    /// What the reader types when `line` asks for it on standard input, if it does.
    fn typed(&self, line: &Line) -> Option<String> {
        if line.text.contains("--password-stdin") {
            return Some(format!("{PASSWORD}\n"));
        }
        if line.text.contains("--client-secret-stdin") {
            let id = flag(&line.text, "--client-id").expect("--client-id");
            let name = id
                .strip_prefix('<')
                .and_then(|n| n.strip_suffix("_client_id>"))
                .unwrap_or_else(|| {
                    panic!(
                        "README.md ({}): --client-id {id} names no client created above",
                        line.section
                    )
                });
            let secret = self
                .placeholders
                .get(&format!("{name}_client_secret"))
                .unwrap_or_else(|| panic!("no client_secret was printed for {name}"));
            return Some(format!("{secret}\n"));
        }
        None
    }

    /// Starts `text` with `typed` on its standard input, and both outputs piped.
    fn spawn(&self, text: &str, typed: Option<String>) -> Child {
        let mut child = self
            .shell(text)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bash runs");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(typed) = typed {
            // A command that exits before reading is the command's failure, not this write's.
            let _ = stdin.write_all(typed.as_bytes());
        }
        child
    }

    fn run(&mut self, line: &Line) {
        if line.text == "./test" {
            // The README's test command: the one running this test.
            self.done.push("test command");
            return;
        }
        let text = self.substitute(line);
        if text.ends_with(" serve") {
            self.serve(line, &text);
        } else if text.contains(" try sign-in ") {
            self.sign_in(line, &text);
        } else {
            let stdout = self.finish(line, &text, self.typed(line));
            self.remember(line, &stdout);
        }
    }

    /// Runs `text` to completion within [`LIMIT`], with `typed` on its standard input; its
    /// stdout, or a failure naming the line.
    fn finish(&self, line: &Line, text: &str, typed: Option<String>) -> String {
        let child = self.spawn(text, typed);
        let output = wait_output(child, LIMIT);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        assert!(
            output.status.success(),
            "README.md ({}): this command failed ({}):\n  {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            line.section,
            output.status,
            line.text
        );
        stdout
    }

    /// Keeps what a reader would copy from a command's output.
    fn remember(&mut self, line: &Line, stdout: &str) {
        if line.text.contains(" client create ") {
            let name = flag(&line.text, "--name").expect("client create has a --name");
            let (id, secret) = if line.text.contains("--json") {
                let doc: serde_json::Value = serde_json::from_str(stdout).unwrap_or_else(|e| {
                    panic!("client create --json printed no JSON ({e}): {stdout}")
                });
                (
                    doc["client_id"].as_str().map(str::to_owned),
                    doc["client_secret"].as_str().map(str::to_owned),
                )
            } else {
                let field = |key: &str| {
                    stdout
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|v| v.trim().to_owned())
                };
                (field("client_id:"), field("client_secret:"))
            };
            let slug = slug(&name);
            let id = id.unwrap_or_else(|| panic!("client create printed no client_id: {stdout}"));
            self.placeholders.insert(format!("{slug}_client_id"), id);
            if let Some(secret) = secret {
                self.placeholders
                    .insert(format!("{slug}_client_secret"), secret);
            }
            self.done.push("client create");
        } else if line.text.contains(" user create ") {
            let username = flag(&line.text, "--username").expect("user create has a --username");
            assert!(
                line.text.contains("--password-stdin"),
                "README.md ({}): a password on the command line",
                line.section
            );
            assert!(
                self.passwords
                    .insert(username.clone(), PASSWORD.to_owned())
                    .is_none(),
                "README.md ({}) creates {username} a second time",
                line.section
            );
            self.done.push("user create");
        } else if line.text.starts_with("curl ") {
            serde_json::from_str::<serde_json::Value>(stdout)
                .unwrap_or_else(|e| panic!("{} printed no JSON ({e}): {stdout}", line.text));
            self.done.push("curl");
        } else if line.text.contains(" try client-credentials ") {
            assert!(stdout.contains("access"), "{stdout}");
            self.done.push("try client-credentials");
        } else if line.text.ends_with(" --help") {
            assert!(stdout.contains("Usage"), "{stdout}");
            self.done.push("help");
        }
    }

    /// `serve`, in the background, until the walkthrough ends.
    fn serve(&mut self, line: &Line, text: &str) {
        assert!(self.server.is_none(), "README.md starts serve twice");
        let log = std::fs::File::create(self.dir.path().join("serve.log")).unwrap();
        let child = self
            .shell(&format!("exec {text}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("serve starts");
        self.server = Some(child);
        let url = format!("http://{}/.well-known/openid-configuration", self.bind);
        let deadline = Instant::now() + LIMIT;
        loop {
            if reqwest::blocking::get(&url).is_ok_and(|r| r.status().is_success()) {
                break;
            }
            let exited = self.server.as_mut().unwrap().try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "README.md ({}): `{}` did not start serving ({exited:?}):\n{}",
                    line.section,
                    line.text,
                    std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.done.push("serve");
    }

    /// `try sign-in`: reads the URL it prints, opens it in headless Chromium as the person
    /// the README created, and waits for the command to print the tokens.
    fn sign_in(&mut self, line: &Line, text: &str) {
        // Everything that can fail without the command is checked before it starts, so a
        // failed check never leaves it waiting for a browser.
        assert_eq!(
            self.passwords.len(),
            1,
            "the README signs in as the one person it created"
        );
        let (username, password) = self.passwords.iter().next().unwrap();
        let e2e = repo().join("e2e");
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        assert!(
            Path::new(&chromium).exists() && e2e.join("node_modules/playwright-core").exists(),
            "the README test signs in with Chromium and the e2e packages: run `./test` (or \
             `apt-get install -y chromium` and `npm ci --prefix e2e`)"
        );
        // `exec`: the command itself is the child, so that killing it on failure stops it.
        let mut child = self.spawn(&format!("exec {text}"), self.typed(line));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                if l.trim().starts_with("http") {
                    let _ = tx.send(Ok(l.trim().to_owned()));
                }
                seen.push(l);
            }
            let _ = tx.send(Err(seen.join("\n")));
        });
        let url = match rx.recv_timeout(LIMIT) {
            Ok(Ok(url)) => url,
            other => {
                let _ = child.kill();
                panic!(
                    "README.md ({}): `{}` printed no URL: {other:?}",
                    line.section, line.text
                )
            }
        };
        let mut browser = Command::new("node")
            .arg(e2e.join("open-and-sign-in.js"))
            .args([&url, username])
            .env("CHROMIUM", &chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("Node.js is needed for the README test: run `./test`, or install nodejs");
        writeln!(browser.stdin.take().unwrap(), "{password}").unwrap();
        let opened = wait_output(browser, LIMIT);
        if !opened.status.success() {
            let _ = child.kill();
            panic!(
                "README.md ({}): signing in at the URL `{}` printed failed:\n{}{}",
                line.section,
                line.text,
                String::from_utf8_lossy(&opened.stdout),
                String::from_utf8_lossy(&opened.stderr)
            );
        }
        let output = wait_output(child, LIMIT);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "README.md ({}): `{}` failed after the sign-in ({}):\n{stdout}\n{:?}",
            line.section,
            line.text,
            output.status,
            rx.try_iter().collect::<Vec<_>>()
        );
        // What the README says the terminal then shows.
        for shown in [
            "id_token_claims",
            "access_token_claims",
            "refresh_token_family",
        ] {
            assert!(
                stdout.contains(shown),
                "try sign-in shows no {shown}:\n{stdout}"
            );
        }
        self.done.push("try sign-in");
    }
}

/// Waits up to `limit` for `child`, killing it if it takes longer.
fn wait_output(mut child: Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    // Drain the pipes on threads so that a chatty child never blocks on a full pipe.
    let out = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut buf);
            buf
        })
    });
    let err = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut buf);
            buf
        })
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::process::Output {
        status,
        stdout: out.map(|t| t.join().unwrap()).unwrap_or_default(),
        stderr: err.map(|t| t.join().unwrap()).unwrap_or_default(),
    }
}

#[test]
fn the_readme_walkthrough_works_line_by_line() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let lines = shell_lines(&readme);
    let mut reader = Reader {
        dir: tempfile::tempdir().expect("a temporary directory"),
        bind: format!("127.0.0.1:{}", free_port()),
        usher: format!("'{}'", env!("CARGO_BIN_EXE_usher")),
        placeholders: BTreeMap::new(),
        passwords: BTreeMap::new(),
        server: None,
        done: Vec::new(),
    };
    for line in &lines {
        reader.run(line);
    }
    // The walkthrough is still there: a README that lost it would pass trivially.
    for step in [
        "serve",
        "test command",
        "curl",
        "client create",
        "user create",
        "help",
        "try sign-in",
        "try client-credentials",
    ] {
        assert!(
            reader.done.contains(&step),
            "README.md's shell blocks no longer have a {step} step: {:?}",
            reader.done
        );
    }
}

#[test]
fn ci_runs_the_readmes_test_command() {
    let ci = std::fs::read_to_string(repo().join(".ci/run")).expect(".ci/run");
    let last = ci
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    assert_eq!(
        last.trim(),
        "./test",
        ".ci/run ends with the README's test command"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    assert!(
        shell_lines(&readme).iter().any(|l| l.text == "./test"),
        "the README gives ./test as the test command"
    );
}
