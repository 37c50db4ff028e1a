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
    /// Whether the test (not Usher) wrote `keys/kek`.
    provisioned: std::sync::atomic::AtomicBool,
    /// The Redis key prefix of [`Sandbox::on_redis`], whose keys are deleted when the
    /// sandbox is dropped (after the servers a test started from it, which it outlives).
    redis: Option<usher_families::testing::TestPrefix>,
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
            provisioned: std::sync::atomic::AtomicBool::new(false),
            redis: None,
        }
    }

    /// The embedded defaults on SQLite, or a fresh PostgreSQL database; with a KEK in
    /// `keys/kek`, as an operator provisions it, so that admin commands may run before
    /// the first `usher serve` (only `serve` creates a missing KEK).
    pub fn on(backend: Backend) -> Sandbox {
        let sandbox = match backend {
            Backend::Sqlite => Sandbox::new(),
            Backend::Postgres => {
                let db = TestDb::postgres();
                let mut sandbox = Sandbox::new().env("USHER_DATABASE_URL", &db.url);
                sandbox._db = Some(db);
                sandbox
            }
        };
        sandbox.provision_kek();
        sandbox
    }

    /// Writes a fresh KEK to `keys/kek` (mode 0600), as `openssl rand -base64 32` would.
    pub fn provision_kek(&self) {
        self.write_kek("keys/kek", &usher_keys::Kek::generate().expect("a KEK"));
    }

    /// Writes `kek` to `relative` (mode 0600), creating its folder.
    pub fn write_kek(&self, relative: &str, kek: &usher_keys::Kek) {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("the KEK folder");
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("the KEK file");
        if relative == "keys/kek" {
            self.provisioned
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        file.write_all(format!("{}\n", kek.to_base64()).as_bytes())
            .expect("the KEK written");
    }

    /// Refresh-token families in the test Redis, on a fresh key prefix that the sandbox
    /// deletes when it is dropped; panics, with instructions, if Redis does not answer.
    pub fn on_redis(self) -> Sandbox {
        self.on_redis_prefix(usher_families::testing::TestPrefix::new())
    }

    /// Refresh-token families in the test Redis under `prefix` (shared with other
    /// sandboxes: see [`Sandbox::redis_prefix`]); this sandbox deletes its keys when it
    /// is dropped.
    pub fn on_redis_prefix(mut self, prefix: usher_families::testing::TestPrefix) -> Sandbox {
        self.set_env("USHER_REDIS_URL", prefix.url());
        self.set_env("USHER_REDIS_PREFIX", prefix.as_str());
        self.redis = Some(prefix);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Sandbox {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sets (or overrides) a variable for the commands run from now on.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// The value this sandbox gives an environment variable, if any.
    pub fn env_value(&self, key: &str) -> Option<String> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
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
                        // Keep draining stderr so the server never blocks on a full pipe,
                        // and keep what it says for the tests that read the log.
                        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
                        let keep = log.clone();
                        std::thread::spawn(move || {
                            for line in rx {
                                keep.lock().unwrap().push(line);
                            }
                        });
                        return Ok(Server {
                            child,
                            base,
                            issuer,
                            listening: v,
                            startup_log: seen,
                            log,
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

    /// The files Usher may create in its directory, for "nothing was written" checks
    /// (a KEK the sandbox provisioned is not one of them).
    pub fn created_files(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = ["data"]
            .iter()
            .map(|d| self.dir.path().join(d))
            .filter(|p| p.exists())
            .collect();
        if let Ok(entries) = std::fs::read_dir(self.dir.path().join("keys")) {
            found.extend(
                entries
                    .map_while(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| !p.ends_with("keys/kek") || !self.kek_provisioned()),
            );
        }
        found
    }

    fn kek_provisioned(&self) -> bool {
        self.provisioned.load(std::sync::atomic::Ordering::Relaxed)
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
    /// Every line the server wrote to stderr after it started listening.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The log lines written since the server started listening.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The log lines, once at least one line contains `needle` (waiting up to 10 s), and
    /// a moment more, so that a line written twice is seen twice. A line the server wrote
    /// before it answered reaches [`Server::log`] through a reader thread, which on a
    /// loaded machine may not have run yet when the test reads the log.
    pub fn log_with(&self, needle: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.log().iter().any(|l| l.contains(needle)) && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        self.log()
    }

    /// Sends `signal` (`TERM`, `KILL`, …) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the process to exit; its status, or `None` if it has not.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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

impl Sandbox {
    /// A sandbox on its own test database (a fresh SQLite file or PostgreSQL database),
    /// which the test can also query directly with [`Sandbox::count`].
    pub fn with_test_db(backend: Backend) -> Sandbox {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => TestDb::postgres(),
        };
        let mut sandbox = Sandbox::new().env("USHER_DATABASE_URL", &db.url);
        sandbox._db = Some(db);
        sandbox.provision_kek();
        sandbox
    }

    /// `SELECT COUNT(*) FROM <from_where>` on the sandbox's test database.
    pub fn count(&self, from_where: &str) -> i64 {
        self._db
            .as_ref()
            .expect("count needs Sandbox::with_test_db")
            .count(from_where)
    }

    /// Registers a client; returns its JSON description (with the secret, if any).
    pub fn client(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["client", "create", "--json"];
        all.extend_from_slice(args);
        self.usher(&all, None).json()
    }

    /// Creates a person with a password.
    pub fn user(&self, username: &str, password: &str, extra: &[&str]) -> serde_json::Value {
        let mut all = vec![
            "user",
            "create",
            "--username",
            username,
            "--password-stdin",
            "--json",
        ];
        all.extend_from_slice(extra);
        self.usher(&all, Some(&format!("{password}\n"))).json()
    }
}

/// A browser stand-in: keeps cookies, never follows redirects on its own, and reads the
/// forms on Usher's pages.
pub struct Browser {
    pub http: reqwest::Client,
}

/// An HTML page as the browser saw it.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a browser"),
        }
    }

    /// A browser that sends `user_agent` with every request.
    pub fn with_user_agent(user_agent: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .user_agent(user_agent)
                .build()
                .expect("a browser"),
        }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        Browser::page(self.http.get(url).send().await.expect("GET")).await
    }

    /// Submits the page's form (the one whose action ends with `action`), with its hidden
    /// fields plus `fields`, to `base` + action.
    pub async fn submit(
        &self,
        base: &str,
        page: &Page,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let form = page.form(action);
        let mut data: Vec<(String, String)> = form
            .hidden
            .into_iter()
            .filter(|(k, _)| !fields.iter().any(|(f, _)| f == k))
            .collect();
        data.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self.post_form(&format!("{base}{}", form.action), &data)
            .await
    }

    pub async fn post_form(&self, url: &str, data: &[(String, String)]) -> Page {
        Browser::page(self.http.post(url).form(data).send().await.expect("POST")).await
    }
}

/// A form found on a page.
pub struct Form {
    pub action: String,
    pub hidden: Vec<(String, String)>,
}

/// The value of attribute `name` in one HTML tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&#47;", "/"),
    )
}

impl Page {
    /// The form whose action ends with `action`, with its hidden inputs.
    pub fn form(&self, action: &str) -> Form {
        let mut rest = self.body.as_str();
        while let Some(i) = rest.find("<form") {
            let after = &rest[i..];
            let end = after.find("</form>").unwrap_or(after.len());
            let html = &after[..end];
            let tag_end = html.find('>').unwrap_or(html.len());
            let found = attr(&html[..tag_end], "action").unwrap_or_default();
            if found.ends_with(action) {
                let mut hidden = Vec::new();
                let mut inputs = html;
                while let Some(j) = inputs.find("<input") {
                    let tag = &inputs[j..];
                    let close = tag.find('>').unwrap_or(tag.len());
                    let tag = &tag[..close];
                    if attr(tag, "type").as_deref() == Some("hidden")
                        && let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value"))
                    {
                        hidden.push((n, v));
                    }
                    inputs = &inputs[j + close..];
                }
                return Form {
                    action: found,
                    hidden,
                };
            }
            rest = &after[end..];
        }
        panic!(
            "no form with action {action} on the page (status {}):\n{}",
            self.status, self.body
        );
    }

    /// The query parameters of the redirect this page is.
    pub fn redirect_params(&self) -> Vec<(String, String)> {
        let location = self
            .location
            .as_deref()
            .unwrap_or_else(|| panic!("expected a redirect, got {}:\n{}", self.status, self.body));
        let url = url::Url::parse(location).expect("an absolute Location");
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn redirect_param(&self, name: &str) -> Option<String> {
        self.redirect_params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

// ---------------------------------------------------------------------------------------
// Sign-in helpers: authorization URLs, PKCE pairs, base64 for hand-made tokens, direct
// database access, and a browser that walks the login and consent forms.

impl Sandbox {
    /// Runs raw SQL on the sandbox's test database (e.g. to move a timestamp into the past).
    pub fn execute(&self, sql: &str) {
        self._db
            .as_ref()
            .expect("execute needs Sandbox::with_test_db")
            .execute(sql);
    }

    /// A store handle on the sandbox's test database (already migrated by `usher`), to
    /// plant rows through the store's own ports.
    pub fn database(&self) -> usher_store::Database {
        self._db
            .as_ref()
            .expect("database needs Sandbox::with_test_db")
            .connect()
    }

    /// The server's signing keys, loaded from the test database with the sandbox's KEK
    /// file (`keys/kek`): to sign tokens exactly as Usher would, with chosen claims.
    pub fn key_ring(&self) -> usher_keys::KeyRing {
        use usher_domain::KeyStore as _;
        let db = self
            ._db
            .as_ref()
            .expect("key_ring needs Sandbox::with_test_db")
            .connect();
        let records = db.list_keys().expect("the signing keys");
        let (kek, _) = usher_keys::Kek::load_or_create_file(&self.path().join("keys/kek"))
            .expect("the sandbox's KEK");
        usher_keys::KeyRing::from_records(&records, &kek).expect("a key ring")
    }
}

/// `base` + `/authorize` with `pairs` as its query, form-encoded, repeats kept in order.
pub fn authorize_url<K: AsRef<str>, V: AsRef<str>>(base: &str, pairs: &[(K, V)]) -> String {
    let mut url = url::Url::parse(&format!("{base}{}", usher_http::routes::AUTHORIZE))
        .expect("an absolute URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

/// A PKCE pair: the S256 challenge of a random verifier.
pub struct Pkce {
    pub challenge: String,
    pub verifier: String,
}

pub fn pkce() -> Pkce {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    Pkce {
        challenge: challenge.as_str().to_owned(),
        verifier: verifier.secret().clone(),
    }
}

const B64_STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_encode(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// base64url without padding (JWS segments).
pub fn b64url(bytes: &[u8]) -> String {
    b64_encode(bytes, B64_URL, false)
}

/// Standard base64 with padding (HTTP Basic).
pub fn b64_standard(bytes: &[u8]) -> String {
    b64_encode(bytes, B64_STANDARD, true)
}

/// Decodes base64url without padding; panics on anything else.
pub fn b64url_decode(s: &str) -> Vec<u8> {
    let (mut bits, mut held, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes() {
        let v = B64_URL
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("{s:?} is not base64url"));
        bits = (bits << 6) | v as u32;
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    out
}

/// The header and the claims of a compact JWS, unverified.
pub fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let mut parts = token.split('.');
    let mut json = |what: &str| -> serde_json::Value {
        let segment = parts
            .next()
            .unwrap_or_else(|| panic!("no {what} in {token:?}"));
        serde_json::from_slice(&b64url_decode(segment)).expect("a JSON segment")
    };
    let header = json("header");
    let claims = json("claims");
    (header, claims)
}

impl Page {
    /// Whether the page has a form whose action ends with `action`.
    pub fn has_form(&self, action: &str) -> bool {
        let mut rest = self.body.as_str();
        while let Some(i) = rest.find("<form") {
            let after = &rest[i..];
            let tag_end = after.find('>').unwrap_or(after.len());
            if attr(&after[..tag_end], "action").is_some_and(|a| a.ends_with(action)) {
                return true;
            }
            rest = &after[tag_end..];
        }
        false
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Walks a sign-in from the `/authorize` URL `url` to its end in `browser`: logs in as
/// `username` with `password` if the login page shows, approves if the consent page
/// shows. Returns the last page: normally the redirect back to the client.
pub async fn sign_in(
    browser: &Browser,
    base: &str,
    url: &str,
    username: &str,
    password: &str,
) -> Page {
    use usher_http::routes;
    let mut page = browser.get(url).await;
    if page.status == 200 && page.has_form(routes::LOGIN) {
        page = browser
            .submit(
                base,
                &page,
                routes::LOGIN,
                &[("username", username), ("password", password)],
            )
            .await;
    }
    if page.status == 200 && page.has_form(routes::CONSENT) {
        page = browser
            .submit(base, &page, routes::CONSENT, &[("decision", "approve")])
            .await;
    }
    page
}

/// Runs `async fn name(Backend)` test bodies once per SQL backend (SQLite and
/// PostgreSQL, each with the embedded family store).
#[macro_export]
macro_rules! async_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}
