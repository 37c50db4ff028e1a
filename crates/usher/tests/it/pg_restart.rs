//! PostgreSQL restarts under a running node: requests during the outage fail cleanly
//! (a JSON 503 or 500, never a hang or a crash), `/readyz` says so, and service resumes
//! by itself when the database is back. The test runs its own PostgreSQL cluster
//! (`initdb` + `pg_ctl` on a free port in a temporary directory) so that it never
//! disturbs the shared one the other tests use.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use usher_http::routes;

use crate::helpers::{Browser, Sandbox};
use crate::refresh::{self, SCOPE};

/// A private PostgreSQL cluster, stopped (and deleted) when dropped.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap_or_else(|e| panic!("PostgreSQL server binaries are needed in /usr/lib/postgresql (apt-get install postgresql): {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("pg_ctl in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (initdb refuses root).
fn as_postgres(bin: &Path, tool: &str, args: &[&str]) {
    let program = bin.join(tool);
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let output = if root {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&program)
            .args(args)
            .output()
    } else {
        Command::new(&program).args(args).output()
    }
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{tool} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = dir.path().join("data");
        as_postgres(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        let pg = PrivatePostgres { dir, bin, port };
        pg.up();
        as_postgres(
            &pg.bin,
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "usher",
            ],
        );
        pg
    }

    fn up(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        as_postgres(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    fn down(&self) {
        let data = self.dir.path().join("data");
        as_postgres(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/usher", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"])
            .output();
    }
}

async fn status_of(url: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarting_fails_requests_cleanly_and_service_resumes_by_itself() {
    let pg = PrivatePostgres::start();
    let sandbox = Sandbox::new().env("USHER_DATABASE_URL", &pg.url());
    let (server, rp) = refresh::setup(&sandbox);
    let first = refresh::tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    let token = first["refresh_token"].as_str().unwrap().to_owned();

    pg.down();
    let started = Instant::now();
    let (status, body) = refresh::refresh(&server.base, &rp, &token).await;
    assert!(
        status == 503 || status == 500,
        "a clean failure during the outage: {status} {body}"
    );
    assert!(
        body["error"].is_string(),
        "an RFC-shaped JSON error: {body}"
    );
    assert!(body.get("refresh_token").is_none());
    assert!(started.elapsed() < Duration::from_secs(20), "no hanging");
    let (status, body) = status_of(&server.url(routes::READYZ)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "unavailable");
    // The process is still there and answers.
    assert_eq!(status_of(&server.url(routes::HEALTHZ)).await.0, 200);

    pg.up();
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_of(&server.url(routes::READYZ)).await.0 != 200 {
        assert!(Instant::now() < deadline, "readyz did not recover");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The refresh that failed did not rotate: the same token works now, at the same
    // process, and so does a new sign-in.
    let (status, body) = refresh::refresh(&server.base, &rp, &token).await;
    assert_eq!(status, 200, "{body}");
    let fresh = refresh::tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    assert!(fresh["access_token"].is_string());
}
