//! The statements a restore runs about databases (look up, create, rename,
//! swap, drop) go through one psql kept open on the maintenance database.
//! Against a real throwaway cluster: a swap that fails half-way changes no
//! name, a failed statement does not poison the statements after it, the
//! connection is one psql (not one per statement), and the admin psql ends
//! with the restore.

use nightjar_core::db::DbUrl;
use nightjar_core::restore::server::Server;
use nightjar_core::source::postgres::PgTarget;
use nightjar_tests::PgCluster;

fn server(pg: &PgCluster, db: &str) -> Server {
    let url = DbUrl::parse(&pg.url(db)).expect("cluster URL parses");
    Server::connect(PgTarget { url, password: None, docker_container: None }, Some(pg.bin())).expect("connect")
}

fn databases(pg: &PgCluster, prefix: &str) -> Vec<String> {
    pg.psql("postgres", &format!("SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%' ORDER BY 1"))
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Sessions of psql on the maintenance database other than the asking one.
fn admin_sessions(pg: &PgCluster) -> String {
    pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'psql' AND datname = 'postgres' AND pid <> pg_backend_pid()",
    )
    .trim()
    .to_string()
}

#[test]
fn a_swap_that_fails_half_way_changes_no_name_and_later_statements_still_run() {
    let pg = PgCluster::shared();
    let target = pg.fresh_db("admin_swap");
    let restored = format!("{target}_new");
    let keep = format!("{target}_keep");
    pg.create_db(&restored);
    // The name the original is to be kept under is taken: the second rename
    // of the swap fails after the first one ran.
    pg.create_db(&keep);
    pg.psql(&target, "CREATE TABLE marker AS SELECT 'original'::text AS v");
    pg.psql(&restored, "CREATE TABLE marker AS SELECT 'restored'::text AS v");
    let before = databases(pg, &target);

    let s = server(pg, &target);
    let err = s.swap(&target, &keep, &restored, true).expect_err("the kept name is taken");
    assert!(err.to_string().contains(&keep), "the error names the database: {err}");
    assert_eq!(databases(pg, &target), before, "no name changed");
    assert_eq!(pg.psql(&target, "SELECT v FROM marker").trim(), "original");

    // The failure ended the session; the next statements start a new one.
    assert_eq!(s.existing(&[target.as_str(), "no_such_database"]).unwrap(), vec![target.clone()]);
    pg.psql("postgres", &format!("DROP DATABASE {}", nightjar_tests::pg::ident(&keep)));
    assert_eq!(s.swap(&target, &keep, &restored, true).unwrap(), 0);
    assert_eq!(pg.psql(&target, "SELECT v FROM marker").trim(), "restored");
    assert_eq!(pg.psql(&keep, "SELECT v FROM marker").trim(), "original");
    s.drop_database(&keep, true).unwrap();
    s.drop_database(&target, true).unwrap();
    assert!(databases(pg, &target).is_empty());
}

#[test]
fn one_psql_serves_every_statement_and_ends_with_the_server() {
    // A cluster of its own: the session count below must see only this test.
    let pg = &PgCluster::start_new();
    let db = pg.fresh_db("admin_one");
    let s = server(pg, &db);
    let clone = s.clone();
    for i in 0..5 {
        let name = format!("{db}_t{i}");
        s.create_database(&name, None).unwrap();
        assert_eq!(clone.existing(&[name.as_str()]).unwrap(), vec![name.clone()]);
        s.rename(&name, &format!("{name}x")).unwrap();
        clone.drop_database(&format!("{name}x"), false).unwrap();
    }
    // One psql, connected once, served all twenty statements.
    assert_eq!(admin_sessions(pg), "1");
    assert!(databases(pg, &format!("{db}_t")).is_empty());
    drop(s);
    drop(clone);
    let gone = (0..100).any(|_| {
        if admin_sessions(pg) == "0" {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        false
    });
    assert!(gone, "the admin psql disconnected when the server handle was dropped");
}
