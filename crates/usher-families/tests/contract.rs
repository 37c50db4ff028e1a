//! The family-store contract, run against every implementation: Redis (a private key
//! prefix per test on the Redis at `USHER_TEST_REDIS_URL`, default 127.0.0.1:6379), and
//! the embedded store on SQLite (a fresh file per test) and on PostgreSQL (a fresh
//! database per test). A missing Redis or PostgreSQL fails the tests; nothing skips.
//! Each Redis prefix's keys are deleted when its test ends (`TestPrefix`), which
//! `test_prefixes_leave_nothing_behind` proves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

usher_families::family_contract!(redis, usher_families::testing::redis_store());

usher_families::family_contract!(sqlite, {
    let t = usher_store::testing::TestDb::sqlite();
    (t.database(), t)
});

usher_families::family_contract!(postgres, {
    let t = usher_store::testing::TestDb::postgres();
    (t.database(), t)
});

/// Redis only: the index sorted sets hold no family past its absolute end once a family
/// is written after it, and families indexed by an earlier version (plain sets) are
/// still revoked.
mod redis_indexes {
    use usher_domain::{FamilyStore, RevokeReason};
    use usher_families::testing::{TestPrefix, new_family, now, online, redis_url};

    async fn cardinality(prefix: &str, key: &str) -> i64 {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("ZCARD")
            .arg(format!("{prefix}{key}"))
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn indexes_stay_bounded_when_many_families_have_expired() {
        let keep = TestPrefix::new();
        let prefix = keep.as_str();
        let store = keep.store();
        let t = now();
        let first = online(new_family(t));
        let same = |mut f: usher_domain::NewFamily| {
            f.user_id = first.user_id.clone();
            f.lineage_hash = first.lineage_hash.clone();
            f
        };
        // 500 families whose absolute end is t+10 …
        for _ in 0..500 {
            let mut f = same(online(new_family(t)));
            f.expires_at = t.plus(10);
            f.idle_expires_at = t.plus(10);
            store.create(&f).await.unwrap();
        }
        let user = format!("rtz-user:{}", first.user_id.as_str());
        let lineage = format!("rtz-lineage:{}", first.lineage_hash.clone().unwrap());
        assert_eq!(cardinality(prefix, &user).await, 500);
        // … then, after that end, three more writes: only the live ones are indexed.
        for _ in 0..3 {
            store
                .create(&same(online(new_family(t.plus(20)))))
                .await
                .unwrap();
        }
        for key in [user.as_str(), lineage.as_str(), "rtz-all"] {
            assert_eq!(cardinality(prefix, key).await, 3, "{key}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn families_indexed_by_an_earlier_version_are_still_revoked() {
        let keep = TestPrefix::new();
        let (url, prefix) = (keep.url(), keep.as_str());
        let store = keep.store();
        let f = online(new_family(now()));
        store.create(&f).await.unwrap();
        // Move it from the new indexes to the plain sets the previous version wrote.
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let lineage = f.lineage_hash.clone().unwrap();
        let user = f.user_id.as_str();
        redis::pipe()
            .cmd("DEL")
            .arg(format!("{prefix}rtz-user:{user}"))
            .arg(format!("{prefix}rtz-lineage:{lineage}"))
            .cmd("SADD")
            .arg(format!("{prefix}rt-user:{user}"))
            .arg(f.id.as_str())
            .cmd("SADD")
            .arg(format!("{prefix}rt-session:{lineage}"))
            .arg(f.id.as_str())
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        let n = store
            .revoke_online(&lineage, RevokeReason::Logout, now())
            .await
            .unwrap();
        assert_eq!(n, 1);
        let mut g = online(new_family(now()));
        g.user_id = f.user_id.clone();
        store.create(&g).await.unwrap();
        redis::cmd("ZREM")
            .arg(format!("{prefix}rtz-user:{user}"))
            .arg(g.id.as_str())
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        redis::cmd("SADD")
            .arg(format!("{prefix}rt-user:{user}"))
            .arg(g.id.as_str())
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        let n = store
            .revoke_user(&f.user_id, RevokeReason::UserSessions, now())
            .await
            .unwrap();
        assert_eq!(n, 1, "g, found through the plain set");
    }

    /// A test's Redis keys are gone when its prefix is dropped: the store sets each
    /// family's expiry to its absolute end, days away, so anything left would stay.
    #[tokio::test(flavor = "multi_thread")]
    async fn test_prefixes_leave_nothing_behind() {
        let keep = TestPrefix::new();
        let (url, prefix) = (keep.url().to_owned(), keep.as_str().to_owned());
        let store = keep.store();
        let f = online(new_family(now()));
        store.create(&f).await.unwrap();
        store
            .revoke_online(
                f.lineage_hash.as_deref().unwrap(),
                RevokeReason::Logout,
                now(),
            )
            .await
            .unwrap();
        assert!(keep.keys().len() >= 3, "{:?}", keep.keys());
        drop(store);
        drop(keep);
        let left = usher_families::testing::keys_under(&url, &prefix).unwrap();
        assert_eq!(left, Vec::<String>::new(), "keys left under {prefix}");
    }
}
