//! The MySQL/MariaDB sample database and its table-by-table comparison.
//!
//! The sample holds what a multi-tenant app's database holds and what a
//! dump most easily gets wrong: utf8mb4 text (emoji, Cyrillic, Thai, an
//! NUL-free mix of quotes and backslashes), BLOBs with every byte value,
//! JSON, DECIMAL at full precision, DATETIME and TIMESTAMP written from
//! several session time zones, a foreign key, a view over a view, a
//! trigger, a stored procedure and function, and an event.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::mariadb::{ident, literal, MariaDbServer};

/// Creates the sample's objects and rows in the (empty) database `db`.
pub fn build_sample(server: &MariaDbServer, db: &str) {
    let mut sql = String::from(
        "SET NAMES utf8mb4;
CREATE TABLE tenants (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, plan ENUM('free','pro') NOT NULL DEFAULT 'free') ENGINE=InnoDB;
CREATE TABLE orders (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  tenant_id INT NOT NULL,
  note TEXT,
  amount DECIMAL(20,6) NOT NULL,
  meta JSON,
  placed_at DATETIME(6) NOT NULL,
  seen_at TIMESTAMP NULL DEFAULT NULL,
  photo LONGBLOB,
  CONSTRAINT fk_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(200) NOT NULL) ENGINE=InnoDB;
CREATE TABLE empty_one (k VARCHAR(10) PRIMARY KEY) ENGINE=InnoDB;
CREATE VIEW tenant_totals AS SELECT t.name, SUM(o.amount) AS total, COUNT(*) AS n FROM tenants t JOIN orders o ON o.tenant_id = t.id GROUP BY t.name;
CREATE VIEW big_tenants AS SELECT name FROM tenant_totals WHERE n > 1;
DELIMITER ;;
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW BEGIN INSERT INTO audit(msg) VALUES (CONCAT('order ', NEW.id, ' for ', NEW.tenant_id)); END;;
CREATE PROCEDURE tenant_count(OUT n INT) BEGIN SELECT COUNT(*) INTO n FROM tenants; END;;
CREATE FUNCTION with_tax(x DECIMAL(20,6)) RETURNS DECIMAL(20,6) DETERMINISTIC RETURN x * 1.2;;
DELIMITER ;
CREATE EVENT purge_audit ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' DO DELETE FROM audit WHERE id < 0;
INSERT INTO tenants VALUES (1, 'Привет, мир', 'pro'), (2, 'สวัสดีครับ 😀🎉', 'free'), (3, 'O''Brien \\\\ \"quoted\"', 'pro');
",
    );
    let zones = ["+00:00", "+09:00", "-05:30", "+13:00"];
    for i in 0..40u32 {
        let zone = zones[i as usize % zones.len()];
        let blob: String = (0..=255u32).map(|b| format!("{:02X}", (b + i) % 256)).collect();
        let _ = writeln!(
            sql,
            "SET time_zone = '{zone}'; INSERT INTO orders (tenant_id, note, amount, meta, placed_at, seen_at, photo) VALUES ({t}, {note}, {whole}.{frac:06}, {meta}, '2026-0{m}-1{d} 0{h}:30:15.{us:06}', '2026-03-29 0{h}:59:59', X'{blob}');",
            t = i % 3 + 1,
            note = if i % 7 == 0 { "NULL".to_string() } else { literal(&format!("заказ №{i} — ส่ง 🚚 line\nbreak\ttab")) },
            whole = 12_345_678_901_234u64 + u64::from(i),
            frac = i * 7,
            meta = literal(&format!("{{\"i\": {i}, \"tags\": [\"a\", \"б\", \"😀\"], \"nested\": {{\"ok\": true}}}}")),
            m = i % 9 + 1,
            d = i % 9,
            h = i % 10,
            us = i * 1234,
        );
    }
    sql.push_str("SET time_zone = '+00:00'; INSERT INTO orders (tenant_id, amount, placed_at, photo) VALUES (1, 0, '1970-01-01 00:00:00', '');\n");
    server.sql(db, &sql);
}

/// Creates a fresh database with the sample in it.
#[must_use]
pub fn fresh_sample(server: &MariaDbServer, prefix: &str) -> String {
    let db = server.fresh_db(prefix);
    build_sample(server, &db);
    db
}

/// Everything a user would notice about a database: per table its
/// definition, row count, `CHECKSUM TABLE` and an ordered digest of its
/// rows; views, triggers, routines and events by definition; and what the
/// view and the function compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MySnapshot {
    /// Item → description.
    pub items: BTreeMap<String, String>,
}

impl MySnapshot {
    /// Reads `db` on `server`.
    #[must_use]
    pub fn take(server: &MariaDbServer, db: &str) -> MySnapshot {
        let mut items = BTreeMap::new();
        let q = |sql: &str| server.sql(db, &format!("SET time_zone = '+00:00'; {sql}"));
        let tables = q(&format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
            literal(db)
        ));
        for t in tables.lines().filter(|l| !l.is_empty()) {
            let create = q(&format!("SHOW CREATE TABLE {}", ident(t)));
            let count = q(&format!("SELECT COUNT(*) FROM {}", ident(t)));
            let checksum = q(&format!("CHECKSUM TABLE {} EXTENDED", ident(t)));
            let checksum = checksum.split('\t').nth(1).unwrap_or_default().to_string();
            let cols = q(&format!(
                "SELECT GROUP_CONCAT(CONCAT('HEX(', '`', REPLACE(COLUMN_NAME, '`', '``'), '`', ')') ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
                literal(db),
                literal(t)
            ));
            let digest = q(&format!("SELECT {cols} FROM {} ORDER BY 1", ident(t)));
            items.insert(format!("table {t}"), format!("{create}\nrows={count} checksum={checksum}\n{}", sha(&digest)));
        }
        let strip = |s: String| s.replace(&format!("`{db}`."), "");
        let views = q(&format!("SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {} ORDER BY 1", literal(db)));
        for l in views.lines().filter(|l| !l.is_empty()) {
            let (name, def) = l.split_once('\t').unwrap_or((l, ""));
            items.insert(format!("view {name}"), strip(def.to_string()));
        }
        let triggers = q(&format!(
            "SELECT TRIGGER_NAME, CONCAT_WS(' ', ACTION_TIMING, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_STATEMENT, SQL_MODE) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {} ORDER BY 1",
            literal(db)
        ));
        for l in triggers.lines().filter(|l| !l.is_empty()) {
            let (name, def) = l.split_once('\t').unwrap_or((l, ""));
            items.insert(format!("trigger {name}"), def.to_string());
        }
        let routines = q(&format!(
            "SELECT ROUTINE_NAME, CONCAT_WS(' ', ROUTINE_TYPE, DTD_IDENTIFIER, ROUTINE_DEFINITION, IS_DETERMINISTIC, SQL_MODE) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {} ORDER BY 1",
            literal(db)
        ));
        for l in routines.lines().filter(|l| !l.is_empty()) {
            let (name, def) = l.split_once('\t').unwrap_or((l, ""));
            items.insert(format!("routine {name}"), def.to_string());
        }
        let events = q(&format!(
            "SELECT EVENT_NAME, CONCAT_WS(' ', EVENT_DEFINITION, INTERVAL_VALUE, INTERVAL_FIELD, STARTS, STATUS) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {} ORDER BY 1",
            literal(db)
        ));
        for l in events.lines().filter(|l| !l.is_empty()) {
            let (name, def) = l.split_once('\t').unwrap_or((l, ""));
            items.insert(format!("event {name}"), def.to_string());
        }
        if items.contains_key("view big_tenants") {
            items.insert("result big_tenants".into(), q("SELECT * FROM big_tenants ORDER BY 1"));
            items.insert("result with_tax".into(), q("SELECT with_tax(10.5)"));
            items.insert("result tenant_count".into(), q("CALL tenant_count(@n); SELECT @n"));
        }
        MySnapshot { items }
    }

    /// Panics with the differences when `other` is not the same.
    #[track_caller]
    pub fn assert_same(&self, other: &MySnapshot, what: &str) {
        if self == other {
            return;
        }
        let mut diff = String::new();
        for (k, v) in &self.items {
            match other.items.get(k) {
                None => {
                    let _ = writeln!(diff, "missing: {k}");
                }
                Some(o) if o != v => {
                    let _ = writeln!(diff, "differs: {k}\n  original: {v}\n  restored: {o}");
                }
                _ => {}
            }
        }
        for k in other.items.keys().filter(|k| !self.items.contains_key(*k)) {
            let _ = writeln!(diff, "extra: {k}");
        }
        panic!("{what}: the databases differ:\n{diff}");
    }

    /// Number of tables.
    #[must_use]
    pub fn table_count(&self) -> usize {
        self.items.keys().filter(|k| k.starts_with("table ")).count()
    }
}

fn sha(text: &str) -> String {
    let out = {
        use std::io::Write as _;
        let mut child = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha256sum runs");
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to sha256sum");
        child.wait_with_output().expect("sha256sum")
    };
    format!("rows sha256 {}", String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default())
}
