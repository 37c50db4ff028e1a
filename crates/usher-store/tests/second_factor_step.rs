//! Migration 2026-12-02-000012_second_factor_step (issue 14): after it an interaction
//! may be stored with step 'second_factor', other steps are still refused, and the rows
//! already there survive it, on both backends.

use usher_store::testing::TestDb;

const SQLITE_UP: &str =
    include_str!("../../../migrations/sqlite/2026-12-02-000012_second_factor_step/up.sql");
const SQLITE_DOWN: &str =
    include_str!("../../../migrations/sqlite/2026-12-02-000012_second_factor_step/down.sql");
const POSTGRES_UP: &str =
    include_str!("../../../migrations/postgres/2026-12-02-000012_second_factor_step/up.sql");
const POSTGRES_DOWN: &str =
    include_str!("../../../migrations/postgres/2026-12-02-000012_second_factor_step/down.sql");

fn insert(step: &str, id: &str) -> String {
    format!(
        "INSERT INTO interactions \
           (id, csrf_hash, step, request, user_id, auth_time, created_at, expires_at, browser_hash) \
         VALUES ('{id}', 'csrf-{id}', '{step}', '{{}}', NULL, 7, 100, 200, 'browser-{id}')"
    )
}

fn refused(t: &TestDb, sql: &str) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.execute(sql))).is_err()
}

fn the_step_is_storable_and_old_rows_survive(backend: &str) {
    let (up, down) = match backend {
        "sqlite" => (SQLITE_UP, SQLITE_DOWN),
        _ => (POSTGRES_UP, POSTGRES_DOWN),
    };
    let t = TestDb::of(backend);
    let _db = t.database();
    // A fresh database accepts the new step.
    t.execute(&insert("second_factor", "fresh"));
    assert!(refused(&t, &insert("bogus", "bogus")));

    // Back to the schema before the migration, with rows an older node wrote.
    t.execute(down);
    assert_eq!(t.count("interactions"), 0, "down drops second_factor rows");
    assert!(refused(&t, &insert("second_factor", "early")));
    t.execute(&insert("login", "old-login"));
    t.execute(&insert("consent", "old-consent"));

    t.execute(up);
    assert_eq!(
        t.count(
            "interactions WHERE id = 'old-login' AND step = 'login' AND csrf_hash = \
             'csrf-old-login' AND request = '{}' AND user_id IS NULL AND auth_time = 7 \
             AND created_at = 100 AND expires_at = 200 AND browser_hash = 'browser-old-login'"
        ),
        1
    );
    assert_eq!(
        t.count("interactions WHERE id = 'old-consent' AND step = 'consent'"),
        1
    );
    t.execute(&insert("second_factor", "after"));
    assert!(refused(&t, &insert("bogus", "bogus")));
    assert_eq!(t.count("interactions"), 3);
    // The default of browser_hash is kept.
    t.execute(
        "INSERT INTO interactions (id, csrf_hash, step, request, created_at, expires_at) \
         VALUES ('defaulted', 'c', 'login', '{}', 1, 2)",
    );
    assert_eq!(
        t.count("interactions WHERE id = 'defaulted' AND browser_hash = ''"),
        1
    );
    if backend == "sqlite" {
        assert_eq!(
            t.count(
                "sqlite_master WHERE type = 'index' AND tbl_name = 'interactions' \
                 AND name IN ('interactions_user_id', 'interactions_expires_at')"
            ),
            2
        );
    }
}

#[test]
fn sqlite_stores_the_second_factor_step_and_keeps_old_rows() {
    the_step_is_storable_and_old_rows_survive("sqlite");
}

#[test]
fn postgres_stores_the_second_factor_step_and_keeps_old_rows() {
    the_step_is_storable_and_old_rows_survive("postgres");
}
