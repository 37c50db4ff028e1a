//! A bad setting stops `usher` before it writes anything, naming the setting.

use crate::helpers::Sandbox;

fn refused(env: &[(&str, &str)], setting: &str) {
    let mut sandbox = Sandbox::new();
    for (k, v) in env {
        sandbox = sandbox.env(k, v);
    }
    let run = sandbox.usher(&["serve"], None);
    assert_eq!(
        run.code(),
        Some(2),
        "{env:?} should exit 2: {}",
        run.stderr()
    );
    assert!(
        run.stderr().contains(setting),
        "{env:?}: the message should name {setting}: {}",
        run.stderr()
    );
    assert!(sandbox.created_files().is_empty(), "{env:?} wrote files");
}

#[test]
fn serve_refuses_each_bad_setting_naming_it_and_writes_nothing() {
    refused(
        &[("USHER_ISSUER", "http://127.0.0.1:8080/")],
        "USHER_ISSUER",
    );
    refused(
        &[("USHER_ISSUER", "https://a.example?tenant=1")],
        "USHER_ISSUER",
    );
    refused(&[("USHER_ISSUER", "https://a.example#top")], "USHER_ISSUER");
    refused(&[("USHER_BIND", "everywhere")], "USHER_BIND");
    refused(
        &[("USHER_DATABASE_URL", "mysql://db/usher")],
        "USHER_DATABASE_URL",
    );
    refused(&[("USHER_REDIS_URL", "not a url")], "USHER_REDIS_URL");
    refused(&[("USHER_LOG_FORMAT", "yaml")], "USHER_LOG_FORMAT");
    refused(&[("USHER_KEYS__BITS", "1024")], "USHER_KEYS__BITS");
    refused(
        &[("USHER_DATABSE_URL", "sqlite://x.db")],
        "USHER_DATABSE_URL",
    );
}

#[test]
fn an_unreadable_or_malformed_kek_refuses_to_start() {
    let sandbox = Sandbox::new().env("USHER_KEK", "too-short");
    let run = sandbox.usher(&["serve"], None);
    assert!(!run.ok());
    assert!(run.stderr().contains("USHER_KEK"), "{}", run.stderr());

    let sandbox = Sandbox::new().env("USHER_KEK_FILE", "keys/kek");
    std::fs::create_dir_all(sandbox.path().join("keys")).unwrap();
    std::fs::write(sandbox.path().join("keys/kek"), "bm90IGEga2V5\n").unwrap();
    let run = sandbox.usher(&["serve"], None);
    assert!(!run.ok());
    assert!(run.stderr().contains("USHER_KEK_FILE"), "{}", run.stderr());
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path().join("usher.toml"),
        "issuer = \"https://a.example\"\nlisten = \"x\"\n",
    )
    .unwrap();
    let run = sandbox.usher(&["--config", "usher.toml", "serve"], None);
    assert_eq!(run.code(), Some(2));
    assert!(run.stderr().contains("listen"), "{}", run.stderr());
}
