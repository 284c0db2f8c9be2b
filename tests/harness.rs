//! Self-tests of the harness, independent of the `nightjar` binary: the
//! throwaway cluster, the sample database, the stock-tool restore and the
//! comparison (which must see a one-row difference).

use std::process::{Command, Stdio};

use nightjar_tests::fixture::{self, SAMPLE_TABLES};
use nightjar_tests::restore::restore_with_stock_tools;
use nightjar_tests::wait::{secs, until};
use nightjar_tests::{PgCluster, Snapshot};

#[test]
fn cluster_listens_only_on_its_own_socket() {
    let pg = PgCluster::shared();
    assert_eq!(pg.psql("postgres", "SHOW listen_addresses"), "");
    assert_eq!(pg.psql("postgres", "SHOW unix_socket_directories"), pg.sock_dir().display().to_string());
    assert_eq!(pg.psql("postgres", "SHOW server_encoding"), "UTF8");
    assert!(pg.url("x").starts_with("postgres://postgres@/x?host=/"), "{}", pg.url("x"));
}

#[test]
fn sample_database_is_rich_and_equal_to_itself() {
    let pg = PgCluster::shared();
    let db = fixture::shared_sample();
    let a = Snapshot::take(pg, db);
    for t in SAMPLE_TABLES {
        assert!(a.tables.contains_key(*t), "{t} missing from the snapshot: {:?}", a.tables.keys());
    }
    assert_eq!(a.rows("app.users"), 3000);
    assert_eq!(a.rows("app.audit_log"), 4000, "the audit trigger fired once per order");
    assert_eq!(a.large_objects.len(), 2);
    assert_eq!(a.sequences.get("app.invoice_no").map(String::as_str), Some("424242"));
    assert_eq!(a.sequences.get("app.not_called").map(String::as_str), Some("null"));
    for s in ["app", "public", "магазин", "ร้านค้า", "emoji_😀"] {
        assert!(a.schemas.contains_key(s), "schema {s} missing: {:?}", a.schemas.keys());
    }
    assert!(a.schemas["app"].iter().any(|l| l.starts_with("trigger users.users_touch")), "{:?}", a.schemas["app"]);
    assert!(a.schema_dump.contains("CREATE TABLE \"магазин\".\"Заказы\""), "{}", a.schema_dump);
    let b = Snapshot::take(pg, db);
    a.assert_same(&b, "two snapshots of the same database");
}

#[test]
fn stock_pg_dump_round_trip_compares_equal_and_a_changed_row_is_seen() {
    let pg = PgCluster::shared();
    let src = fixture::shared_sample();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("by-hand.sql.zst");
    let status = Command::new("sh")
        .arg("-c")
        .arg("set -e; \"$1\" --no-password -d \"$2\" | zstd -q -3 -o \"$3\"")
        .arg("sh")
        .arg(pg.tool("pg_dump"))
        .arg(pg.url(src))
        .arg(&file)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let dst = pg.fresh_db("selftest_restore");
    restore_with_stock_tools(pg, &file, &dst);
    let original = Snapshot::take(pg, src);
    let restored = Snapshot::take(pg, &dst);
    original.assert_same(&restored, "pg_dump | zstd, restored with zstd -dc | psql");

    pg.psql(&dst, "UPDATE \"магазин\".\"Заказы\" SET \"примечание\" = 'изменено' WHERE \"номер\" = 7");
    pg.psql(&dst, "SELECT setval('app.invoice_no', 1)");
    let changed = Snapshot::take(pg, &dst);
    let err = std::panic::catch_unwind(|| original.assert_same(&changed, "after a change")).expect_err("the change must be seen");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("table магазин.Заказы"), "{msg}");
    assert!(msg.contains("sequence app.invoice_no"), "{msg}");
    assert!(!msg.contains("table app.users"), "{msg}");
}

#[test]
fn table_lock_blocks_pg_dump_until_released_and_server_restarts() {
    let pg = PgCluster::start_new();
    let db = pg.fresh_db("locktest");
    fixture::build_plain_table(&pg, &db, 10, 64, None);
    let lock = pg.lock_table(&db, "t");
    let mut dump = Command::new(pg.tool("pg_dump"))
        .arg("-d")
        .arg(pg.url(&db))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    pg.wait_for_blocked_pg_dump(&db);
    assert!(dump.try_wait().unwrap().is_none(), "pg_dump waits while the lock is held");
    lock.release();
    let status = until("pg_dump to finish after the lock is released", secs(30), || dump.try_wait().unwrap());
    assert!(status.success());

    pg.stop_immediate();
    assert!(!pg.is_running());
    pg.start();
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM t"), "10");
}
