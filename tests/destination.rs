//! The destination folder: missing, read-only, full.
//!
//! We run as root here (and in CI), where `chmod` does not stop writes: a
//! read-only or full folder is a small tmpfs mounted for the test (and always
//! unmounted by a guard). Without root, read-only falls back to `chmod 555`
//! and the full-disk case is skipped (it cannot be staged without mounting).

use std::os::unix::fs::PermissionsExt as _;

use nightjar_tests::backup::{assert_mentions, assert_nothing_left, check_failed_run, check_finished_backup, job_toml};
use nightjar_tests::fixture::build_plain_table;
use nightjar_tests::fsutil::file_names;
use nightjar_tests::wait::secs;
use nightjar_tests::{MountGuard, Nightjar, PgCluster};

#[test]
fn missing_destination_with_missing_parent_is_an_error_and_nothing_is_created() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("nodest");
    build_plain_table(pg, &db, 50, 50, None);
    let nj = Nightjar::new();
    let dest = nj.scratch().join("not-mounted").join("OneDrive").join("Backups");
    nj.write_config(&job_toml("nodest", &pg.url(&db), &dest, ""));
    let out = nj.run(["backup", "--job", "nodest"]).assert_failure();
    assert_mentions(&out.error_line(), &["does not exist", &dest.display().to_string()]);
    assert!(!nj.scratch().join("not-mounted").exists(), "no folder was created");
    check_failed_run(&nj.history(Some("nodest")), "destination", "does not exist");

    // A missing leaf under an existing parent is simply created.
    let leaf = nj.scratch().join("new-leaf");
    let out = nj.run(["backup", "--db", &pg.url(&db), "--dest", &leaf.display().to_string(), "--json"]).assert_success();
    check_finished_backup(&out.json(), &leaf, &db);
}

#[test]
fn read_only_destination_fails_before_the_dump_starts() {
    let pg = PgCluster::shared();
    let db = pg.fresh_db("rodest");
    build_plain_table(pg, &db, 50, 50, None);
    let nj = Nightjar::new();
    let mount = MountGuard::tmpfs("1m", &["ro"]);
    let dest = match &mount {
        Some(m) => m.path().to_path_buf(),
        None => {
            let d = nj.scratch().join("read-only");
            std::fs::create_dir(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o555)).unwrap();
            d
        }
    };
    nj.write_config(&job_toml("rodest", &pg.url(&db), &dest, ""));
    // Were pg_dump started, it would wait on this lock; the run must fail
    // while the lock is still held, so it failed before dumping.
    let lock = pg.lock_table(&db, "t");
    let out = nj.cmd(["backup", "--job", "rodest"]).spawn().wait(secs(60)).assert_failure();
    assert_eq!(pg.pg_dumps_waiting(&db), 0, "no pg_dump was started");
    drop(lock);
    let line = out.error_line();
    if mount.is_some() {
        assert_mentions(&line, &["read-only", &dest.display().to_string()]);
    } else {
        assert_mentions(&line, &[&dest.display().to_string()]);
    }
    assert_eq!(file_names(&dest), Vec::<String>::new(), "nothing was written");
    check_failed_run(&nj.history(Some("rodest")), "destination", &dest.display().to_string());
}

#[test]
fn full_destination_fails_and_leaves_nothing() {
    let Some(mount) = MountGuard::tmpfs("256k", &[]) else {
        eprintln!("skipped: filling a folder needs a tmpfs mount, which needs root");
        return;
    };
    let pg = PgCluster::shared();
    let db = pg.fresh_db("fulldest");
    build_plain_table(pg, &db, 3000, 1000, None); // ~3 MB of dump, far over 256 KiB
    let nj = Nightjar::new();
    let dest = mount.path().to_path_buf();
    let free_before = mount.free_bytes();
    nj.write_config(&job_toml("fulldest", &pg.url(&db), &dest, "compression = \"none\"\n"));
    let out = nj.run(["backup", "--job", "fulldest"]).assert_failure();
    assert_mentions(&out.error_line(), &["full", &dest.display().to_string()]);
    assert_nothing_left(&dest);
    assert_eq!(file_names(&dest), Vec::<String>::new(), "nothing at all is left in the full folder");
    assert_eq!(mount.free_bytes(), free_before, "the space is given back");
    check_failed_run(&nj.history(Some("fulldest")), "destination-full", "full");

    // Compressed, the same database fits: the folder works once there is room.
    let db_small = pg.fresh_db("fits");
    build_plain_table(pg, &db_small, 100, 100, None);
    let out = nj.run(["backup", "--db", &pg.url(&db_small), "--dest", &dest.display().to_string(), "--json"]).assert_success();
    check_finished_backup(&out.json(), &dest, &db_small);
}
