//! The authlib interop test (`e2e/authlib`, Python, pinned in its requirements file) runs
//! as part of `cargo test` against this build's `usher` binary. It runs on the
//! repository's virtual environment, `.venv/bin/python`, which `./test` makes and fills
//! from `e2e/authlib/requirements.txt`; without one, on the `python3` on `PATH` if that
//! has the packages. Without either the test fails with the command to run, never
//! skips.

use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGES: &str = "import authlib, requests, pytest";

/// The Python to run the test with: the repository's `.venv` first, then `python3`.
fn python(repo: &Path) -> PathBuf {
    let venv = repo.join(".venv/bin/python");
    if venv.exists() {
        let check = Command::new(&venv).args(["-c", PACKAGES]).output();
        assert!(
            check.as_ref().is_ok_and(|o| o.status.success()),
            "the repository's virtual environment (.venv) lacks the authlib test's packages: \
             run `./test`, or `.venv/bin/pip install -r e2e/authlib/requirements.txt` ({check:?})"
        );
        return venv;
    }
    let system = PathBuf::from("python3");
    let check = Command::new(&system).args(["-c", PACKAGES]).output();
    assert!(
        check.as_ref().is_ok_and(|o| o.status.success()),
        "the authlib test needs Python 3 with the packages of e2e/authlib/requirements.txt, \
         and found neither .venv/bin/python nor a python3 that has them: run `./test` (it \
         makes .venv), or `python3 -m venv .venv && .venv/bin/pip install -r \
         e2e/authlib/requirements.txt` ({check:?})"
    );
    system
}

#[test]
fn python_authlib_signs_in_refreshes_and_gets_service_tokens() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = repo.join("e2e/authlib");
    let output = Command::new(python(&repo))
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
