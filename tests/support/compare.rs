//! A canonical picture of a database, to compare an original with its restore.
//!
//! - data: per table (and materialized view), the row count and the md5 of
//!   every row's text form, sorted (`string_agg(row::text ORDER BY row::text)`);
//! - schema: per schema, catalog facts (relations, columns with types,
//!   defaults, identity/generated, constraints, indexes, triggers, views,
//!   functions, types, sequence parameters, owners, comments) as sorted lines;
//!   plus the whole `pg_dump --schema-only` text with comments stripped;
//! - sequence values (`last_value`, `NULL` while not called) and large
//!   objects (oid and md5 of the content).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use serde_json::Value;

use crate::pg::PgCluster;

/// What [`Snapshot::take`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The database it was taken of.
    pub db: String,
    /// `schema.table` → "<rows> rows, md5 <hash>".
    pub tables: BTreeMap<String, String>,
    /// schema → its catalog lines.
    pub schemas: BTreeMap<String, Vec<String>>,
    /// `schema.sequence` → last value ("null" when not called yet).
    pub sequences: BTreeMap<String, String>,
    /// large object oid → md5 of its content.
    pub large_objects: BTreeMap<String, String>,
    /// `pg_dump --schema-only`, comments and blank lines stripped.
    pub schema_dump: String,
}

const EXCLUDED_SCHEMAS: &str =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";

fn catalog_sql() -> String {
    format!(
        r"
WITH objs(schema, kind, name, def) AS (
    SELECT n.nspname, 'schema', n.nspname,
           pg_get_userbyid(n.nspowner) || coalesce(' -- ' || obj_description(n.oid, 'pg_namespace'), '')
    FROM pg_namespace n
  UNION ALL
    SELECT n.nspname, 'relation', c.relname,
           c.relkind::text || ' owner ' || pg_get_userbyid(c.relowner) || ' persistence ' || c.relpersistence::text
           || coalesce(' acl ' || c.relacl::text, '') || coalesce(' -- ' || obj_description(c.oid, 'pg_class'), '')
           || coalesce(' partition ' || pg_get_expr(c.relpartbound, c.oid), '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
  UNION ALL
    SELECT n.nspname, 'column', c.relname || '.' || a.attname,
           '#' || a.attnum || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
           || CASE a.attidentity WHEN '' THEN '' ELSE ' identity ' || a.attidentity::text END
           || CASE a.attgenerated WHEN '' THEN '' ELSE ' generated ' || a.attgenerated::text END
           || coalesce(' -- ' || col_description(c.oid, a.attnum), '')
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
  UNION ALL
    SELECT n.nspname, 'constraint', coalesce(c.relname, t.typname, '') || '.' || con.conname,
           con.contype::text || ' ' || pg_get_constraintdef(con.oid)
    FROM pg_constraint con
    JOIN pg_namespace n ON n.oid = con.connamespace
    LEFT JOIN pg_class c ON c.oid = con.conrelid
    LEFT JOIN pg_type t ON t.oid = con.contypid
  UNION ALL
    SELECT n.nspname, 'index', c.relname, pg_get_indexdef(c.oid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  UNION ALL
    SELECT n.nspname, 'trigger', c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal
  UNION ALL
    SELECT n.nspname, 'view', c.relname, pg_get_viewdef(c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm')
  UNION ALL
    SELECT n.nspname, 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           pg_get_functiondef(p.oid) || ' owner ' || pg_get_userbyid(p.proowner)
           || coalesce(' -- ' || obj_description(p.oid, 'pg_proc'), '')
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind IN ('f', 'p')
  UNION ALL
    SELECT n.nspname, 'type', t.typname,
           t.typtype::text
           || coalesce(' ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
           || CASE WHEN t.typtype = 'd' THEN ' over ' || format_type(t.typbasetype, t.typtypmod) ELSE '' END
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
  UNION ALL
    SELECT n.nspname, 'sequence', c.relname,
           format('%s start %s min %s max %s increment %s cycle %s cache %s',
                  format_type(s.seqtypid, NULL), s.seqstart, s.seqmin, s.seqmax, s.seqincrement, s.seqcycle, s.seqcache)
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
)
SELECT coalesce(json_agg(json_build_array(schema, kind || ' ' || name || ': ' || def) ORDER BY schema, kind, name, def), '[]')
FROM objs o JOIN pg_namespace n ON n.nspname = o.schema
WHERE {EXCLUDED_SCHEMAS}
"
    )
}

fn tables_sql() -> String {
    format!(
        "SELECT coalesce(json_agg(json_build_array(n.nspname || '.' || c.relname, format('%I.%I', n.nspname, c.relname)) \
         ORDER BY n.nspname, c.relname), '[]') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'm') AND {EXCLUDED_SCHEMAS}"
    )
}

const SEQUENCES_SQL: &str = "SELECT coalesce(json_agg(json_build_array(schemaname || '.' || sequencename, coalesce(last_value::text, 'null')) \
     ORDER BY schemaname, sequencename), '[]') FROM pg_sequences";

const LARGE_OBJECTS_SQL: &str =
    "SELECT coalesce(json_agg(json_build_array(oid::text, md5(lo_get(oid))) ORDER BY oid), '[]') FROM pg_largeobject_metadata";

fn json_pairs(text: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("catalog query printed no JSON ({e}): {text}"));
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|p| {
            let a = p.as_array().expect("pairs");
            let s = |i: usize| a[i].as_str().map_or_else(|| a[i].to_string(), str::to_string);
            (s(0), s(1))
        })
        .collect()
}

impl Snapshot {
    /// Takes the picture of `db`.
    #[must_use]
    pub fn take(cluster: &PgCluster, db: &str) -> Snapshot {
        let mut schemas: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (schema, line) in json_pairs(&cluster.psql(db, &catalog_sql())) {
            schemas.entry(schema).or_default().push(line);
        }
        let tables_list = json_pairs(&cluster.psql(db, &tables_sql()));
        let mut tables = BTreeMap::new();
        if !tables_list.is_empty() {
            let parts: Vec<String> = tables_list
                .iter()
                .enumerate()
                .map(|(i, (_, quoted))| {
                    format!(
                        "SELECT {i} AS i, count(*) AS n, \
                         md5(coalesce(string_agg(\"nj row\"::text, E'\\n' ORDER BY \"nj row\"::text COLLATE \"C\"), '')) AS h \
                         FROM {quoted} \"nj row\""
                    )
                })
                .collect();
            let sql = format!("SELECT json_agg(json_build_array(i, n, h) ORDER BY i) FROM ({}) x", parts.join(" UNION ALL "));
            let out: Value = serde_json::from_str(cluster.psql(db, &sql).trim()).expect("table digests as JSON");
            for row in out.as_array().expect("array") {
                let i = usize::try_from(row[0].as_u64().expect("index")).expect("index");
                tables.insert(tables_list[i].0.clone(), format!("{} rows, md5 {}", row[1], row[2].as_str().unwrap_or("")));
            }
        }
        let sequences = json_pairs(&cluster.psql(db, SEQUENCES_SQL)).into_iter().collect();
        let large_objects = json_pairs(&cluster.psql(db, LARGE_OBJECTS_SQL)).into_iter().collect();
        Snapshot { db: db.to_string(), tables, schemas, sequences, large_objects, schema_dump: schema_dump(cluster, db) }
    }

    /// Row count of `table` (`schema.table`), from the digest.
    #[must_use]
    pub fn rows(&self, table: &str) -> u64 {
        self.tables.get(table).and_then(|d| d.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    /// Asserts `restored` equals `self` table by table, schema by schema,
    /// sequence by sequence and large object by large object; the message
    /// names every difference.
    #[track_caller]
    pub fn assert_same(&self, restored: &Snapshot, context: &str) {
        let mut diffs = String::new();
        diff_maps("table", &self.tables, &restored.tables, &mut diffs);
        diff_schemas(&self.schemas, &restored.schemas, &mut diffs);
        diff_maps("sequence", &self.sequences, &restored.sequences, &mut diffs);
        diff_maps("large object", &self.large_objects, &restored.large_objects, &mut diffs);
        if self.schema_dump != restored.schema_dump {
            let _ = writeln!(diffs, "pg_dump --schema-only differs:\n{}", line_diff(&self.schema_dump, &restored.schema_dump));
        }
        assert!(diffs.is_empty(), "{context}: {} (original) and {} (restored) differ:\n{diffs}", self.db, restored.db);
    }

    /// Asserts that `restored` holds exactly `tables` of `self` (with the
    /// same content, and nothing else), and that for each of `schemas` every
    /// catalog line of `restored` is also in `self`.
    #[track_caller]
    pub fn assert_subset(&self, restored: &Snapshot, tables: &[&str], context: &str) {
        let want: BTreeMap<String, String> = tables
            .iter()
            .map(|t| (t.to_string(), self.tables.get(*t).unwrap_or_else(|| panic!("{t} is not a table of {}", self.db)).clone()))
            .collect();
        let mut diffs = String::new();
        diff_maps("table", &want, &restored.tables, &mut diffs);
        for (schema, lines) in &restored.schemas {
            let Some(orig) = self.schemas.get(schema) else {
                let _ = writeln!(diffs, "schema {schema}: only in the restored database");
                continue;
            };
            for l in lines {
                if !orig.contains(l) && !l.starts_with("schema ") {
                    let _ = writeln!(diffs, "schema {schema}: not in the original: {l}");
                }
            }
        }
        assert!(diffs.is_empty(), "{context}: {} (restored) is not the expected part of {}:\n{diffs}", restored.db, self.db);
    }
}

fn diff_maps(what: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>, out: &mut String) {
    for (k, va) in a {
        match b.get(k) {
            None => {
                let _ = writeln!(out, "{what} {k}: missing from the restored database (original: {va})");
            }
            Some(vb) if vb != va => {
                let _ = writeln!(out, "{what} {k}: original {va}, restored {vb}");
            }
            Some(_) => {}
        }
    }
    for (k, vb) in b {
        if !a.contains_key(k) {
            let _ = writeln!(out, "{what} {k}: only in the restored database ({vb})");
        }
    }
}

fn diff_schemas(a: &BTreeMap<String, Vec<String>>, b: &BTreeMap<String, Vec<String>>, out: &mut String) {
    let empty = Vec::new();
    for schema in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        let la = a.get(schema).unwrap_or(&empty);
        let lb = b.get(schema).unwrap_or(&empty);
        if la == lb {
            continue;
        }
        let _ = writeln!(out, "schema {schema}:");
        for l in la.iter().filter(|l| !lb.contains(l)) {
            let _ = writeln!(out, "  - {l}");
        }
        for l in lb.iter().filter(|l| !la.contains(l)) {
            let _ = writeln!(out, "  + {l}");
        }
    }
}

fn line_diff(a: &str, b: &str) -> String {
    let la: Vec<&str> = a.lines().collect();
    let lb: Vec<&str> = b.lines().collect();
    let mut out = String::new();
    for l in la.iter().filter(|l| !lb.contains(l)).take(40) {
        let _ = writeln!(out, "  - {l}");
    }
    for l in lb.iter().filter(|l| !la.contains(l)).take(40) {
        let _ = writeln!(out, "  + {l}");
    }
    if out.is_empty() {
        out.push_str("  (same lines, different order)\n");
    }
    out
}

/// `pg_dump --schema-only` of `db`, without comment lines, `\restrict`
/// keys (random per dump) and blank lines.
#[must_use]
pub fn schema_dump(cluster: &PgCluster, db: &str) -> String {
    let out = Command::new(cluster.tool("pg_dump"))
        .args(["--schema-only", "--no-password", "-h"])
        .arg(cluster.sock_dir())
        .args(["-p", &crate::pg::PORT.to_string(), "-U", "postgres", "-d", db])
        .env("LC_MESSAGES", "C")
        .env_remove("PGPASSWORD")
        .output()
        .expect("run pg_dump --schema-only");
    assert!(out.status.success(), "pg_dump --schema-only {db} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}
