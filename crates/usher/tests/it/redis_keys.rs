//! The tests leave nothing in the developer's Redis: a sandbox on Redis
//! ([`Sandbox::on_redis`]) deletes the keys under its prefix when it is dropped. Usher
//! sets each refresh-token family's expiry to its absolute end (days away), so without
//! this every run of the suite left its families behind.

use crate::helpers::{Backend, Browser, Sandbox};
use crate::refresh::{SCOPE, setup, tokens};

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_on_redis_deletes_its_keys_when_dropped() {
    let sandbox = Sandbox::with_test_db(Backend::Sqlite).on_redis();
    let url = sandbox.env_value("USHER_REDIS_URL").unwrap();
    let prefix = sandbox.env_value("USHER_REDIS_PREFIX").unwrap();
    assert!(
        prefix.starts_with(usher_families::testing::TEST_PREFIX_START),
        "{prefix}"
    );
    let (server, rp) = setup(&sandbox);
    let body = tokens(&server.base, &Browser::new(), &rp, SCOPE).await;
    assert!(body["refresh_token"].is_string(), "{body}");
    let written = usher_families::testing::keys_under(&url, &prefix).unwrap();
    assert!(
        written
            .iter()
            .any(|k| k.starts_with(&format!("{prefix}rt:"))),
        "the family is in Redis under the sandbox's prefix: {written:?}"
    );

    drop(server);
    drop(sandbox);
    let left = usher_families::testing::keys_under(&url, &prefix).unwrap();
    assert_eq!(left, Vec::<String>::new(), "keys left under {prefix}");
}
