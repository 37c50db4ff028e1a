//! The authlib interop test (`e2e/authlib`, Python, pinned in its requirements file) runs
//! as part of `cargo test` against this build's `usher` binary. It needs Python 3 and
//! `pip install -r e2e/authlib/requirements.txt` (`.ci/run` does it); without them the
//! test fails with that command, never skips.

use std::path::Path;
use std::process::Command;

#[test]
fn python_authlib_signs_in_refreshes_and_gets_service_tokens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e/authlib");
    let check = Command::new("python3")
        .args(["-c", "import authlib, requests, pytest"])
        .output()
        .expect("Python 3 is needed for the authlib test");
    assert!(
        check.status.success(),
        "the authlib test's packages are missing: run `pip install -r e2e/authlib/requirements.txt`"
    );
    let output = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::DeprecationWarning",
        ])
        .arg(&dir)
        .env("USHER_BIN", env!("CARGO_BIN_EXE_usher"))
        .output()
        .expect("pytest runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the authlib test failed:\n{report}"
    );
    assert!(
        report.contains("passed"),
        "the authlib test ran nothing:\n{report}"
    );
}
