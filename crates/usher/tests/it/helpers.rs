//! Running the binary: a sandbox directory, a clean environment, a spawned server.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use usher_store::testing::TestDb;

/// A directory to run `usher` in, with only the environment a test gives it.
pub struct Sandbox {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// Keeps a PostgreSQL test database alive for the sandbox's lifetime.
    _db: Option<TestDb>,
}

/// Which SQL backend a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Sandbox {
    /// Embedded defaults: no configuration at all.
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("a temporary directory"),
            env: Vec::new(),
            _db: None,
        }
    }

    /// The embedded defaults on SQLite, or a fresh PostgreSQL database.
    pub fn on(backend: Backend) -> Sandbox {
        match backend {
            Backend::Sqlite => Sandbox::new(),
            Backend::Postgres => {
                let db = TestDb::postgres();
                let mut sandbox = Sandbox::new().env("USHER_DATABASE_URL", &db.url);
                sandbox._db = Some(db);
                sandbox
            }
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Sandbox {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher"));
        cmd.current_dir(self.dir.path()).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Runs `usher ARGS` to completion, with `stdin` as its standard input.
    pub fn usher(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("usher starts");
        {
            let mut input = child.stdin.take().expect("stdin");
            if let Some(text) = stdin {
                // The command may exit before reading its input (a refused argument):
                // a broken pipe here is not the test's concern.
                let _ = input.write_all(text.as_bytes());
            }
        }
        Run(child.wait_with_output().expect("usher finishes"))
    }

    /// Starts `usher serve` on a loopback port of its own choosing and waits until it
    /// says where it listens.
    pub fn serve(&self) -> Server {
        self.try_serve()
            .unwrap_or_else(|e| panic!("usher serve did not start: {e}"))
    }

    /// Like [`Sandbox::serve`], but returns the stderr of a server that exited instead.
    pub fn try_serve(&self) -> Result<Server, String> {
        let mut cmd = self.command();
        if !self.env.iter().any(|(k, _)| k == "USHER_BIND") {
            cmd.env("USHER_BIND", "127.0.0.1:0");
        }
        cmd.env("USHER_LOG_FORMAT", "json")
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("usher serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                        && v["message"] == "usher is listening"
                    {
                        let base = v["listen"].as_str().expect("listen field").to_owned();
                        let issuer = v["issuer"].as_str().expect("issuer field").to_owned();
                        // Keep draining stderr so the server never blocks on a full pipe.
                        std::thread::spawn(move || for _ in rx {});
                        return Ok(Server {
                            child,
                            base,
                            issuer,
                            listening: v,
                            startup_log: seen,
                        });
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    return Err(format!("exit {status:?}; stderr:\n{}", seen.join("\n")));
                }
            }
        }
    }

    /// The files Usher may create in its directory, for "nothing was written" checks.
    pub fn created_files(&self) -> Vec<PathBuf> {
        ["data", "keys"]
            .iter()
            .map(|d| self.dir.path().join(d))
            .filter(|p| p.exists())
            .collect()
    }

    /// Everything the admin CLI can see, as one string: to compare before and after.
    pub fn snapshot(&self) -> String {
        let mut all = String::new();
        for what in [["client", "list"], ["user", "list"], ["keys", "list"]] {
            let run = self.usher(&[what[0], what[1], "--json"], None);
            assert!(
                run.ok(),
                "{what:?} failed ({:?}): {}",
                run.0.status,
                run.stderr()
            );
            all.push_str(&run.stdout());
        }
        all
    }
}

/// The result of one CLI run.
pub struct Run(pub Output);

impl Run {
    pub fn ok(&self) -> bool {
        self.0.status.success()
    }
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Stdout as one JSON document; panics with both streams if it is not.
    pub fn json(&self) -> serde_json::Value {
        assert!(
            self.ok(),
            "command failed ({:?}): {}",
            self.0.status,
            self.stderr()
        );
        serde_json::from_slice(&self.0.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout()))
    }
}

/// A running `usher serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub issuer: String,
    /// The JSON log line that says where it listens.
    pub listening: serde_json::Value,
    pub startup_log: Vec<String>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server with SIGKILL and waits for it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that never follows redirects.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// Runs a test body once per SQL backend, as separately named tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite)
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::helpers::Backend::Postgres)
                }
            )*
        }
    };
}
