//! The family-store contract, run against every implementation: Redis (a private key
//! prefix per test on the Redis at `USHER_TEST_REDIS_URL`, default 127.0.0.1:6379), and
//! the embedded store on SQLite (a fresh file per test) and on PostgreSQL (a fresh
//! database per test). A missing Redis or PostgreSQL fails the tests; nothing skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

usher_families::family_contract!(redis, (usher_families::testing::redis_store(), ()));

usher_families::family_contract!(sqlite, {
    let t = usher_store::testing::TestDb::sqlite();
    (t.database(), t)
});

usher_families::family_contract!(postgres, {
    let t = usher_store::testing::TestDb::postgres();
    (t.database(), t)
});
