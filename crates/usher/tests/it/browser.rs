//! The browser tests (`e2e/*.test.js`, headless Chromium driven by playwright-core,
//! with an axe-core audit: `signin.test.js`, `two-step.test.js` for the second sign-in
//! step with otplib as the authenticator app, `passkeys.test.js` with Chromium's virtual
//! authenticator, `passkey-script.test.js`, the page script alone, `password-reset.test.js`
//! with an SMTP server of its own, and `account.test.js`, the account page with an app told
//! of logouts by back-channel, its tokens verified with jose, `signup.test.js`, open
//! sign-up and invitations with an SMTP server, `cors.test.js`, a browser app on
//! another origin using oauth4webapi, `device.test.js`, the device grant with
//! openid-client polling while Chromium approves, and `mcp.test.js`, the MCP TypeScript
//! SDK's client and server with Usher as their authorization server, and `admin.test.js`,
//! the admin console signed in as a member of usher-admins and as a person outside it) run as part of `cargo test`,
//! against this build's `usher` binary; `node --test` finds every `*.test.js`. They
//! need Node.js, `npm ci --prefix e2e` and Debian's `chromium`; `./test` installs them.
//! Missing pieces fail the test with the command that fixes them — never a silent skip.

use std::path::Path;
use std::process::Command;

/// How many browser tests pass: a file that no longer runs (or loses tests) fails this.
const EXPECTED_PASSED: u32 = 7 + 8 + 8 + 4 + 2 + 5 + 3 + 2 + 3 + 9 + 11;

#[test]
fn the_browser_tests_pass_in_headless_chromium() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is needed for the browser tests: run `./test` (it installs it), or `apt-get install -y chromium` (or set CHROMIUM)"
    );
    assert!(
        e2e.join("node_modules/playwright-core").exists(),
        "the browser tests' packages are missing: run `./test` or `npm ci --prefix e2e`"
    );
    let output = Command::new("node")
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .current_dir(&e2e)
        .env("USHER_BIN", env!("CARGO_BIN_EXE_usher"))
        .env("CHROMIUM", &chromium)
        .output()
        .expect("Node.js is needed for the browser tests: run `./test`, or install nodejs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the browser tests failed:\n{report}"
    );
    // "ℹ pass 0" would also contain "pass": read the count.
    let passed = report
        .lines()
        .find_map(|l| {
            l.trim_start_matches(|c: char| !c.is_ascii_alphabetic())
                .strip_prefix("pass ")
        })
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(
        passed >= EXPECTED_PASSED,
        "the browser tests ran {passed} tests, expected {EXPECTED_PASSED} (7 in signin.test.js, 8 in two-step.test.js, 8 in passkeys.test.js, 4 in passkey-script.test.js, 2 in password-reset.test.js, 5 in account.test.js, 3 in signup.test.js, 2 in cors.test.js, 3 in device.test.js, 9 in mcp.test.js, 11 in admin.test.js):\n{report}"
    );
}
