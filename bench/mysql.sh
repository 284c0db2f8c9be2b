#!/usr/bin/env bash
# MySQL/MariaDB benchmark: nightjar backup and restore against the stock pipelines,
# interleaved, on a throwaway MariaDB server under bench/out/mariadb.
#
#   bench/mysql.sh
#
# Steps: build the release CLI (copied to bench/out/bin so a rebuild by someone else cannot
# swap it mid-run), start a private mariadbd on a socket in bench/out/mariadb (made with
# mariadb-install-db on the first run; the system's MariaDB service is not used), make the
# ~300 MB fixture database `benchmy` once (orders with text, JSON, DECIMAL, DATETIME;
# incompressible BLOBs), then one warm-up round (not counted) and ROUNDS rounds of
#   A   mariadb-dump OPTS benchmy > /dev/null          (the limit)
#   B   mariadb-dump OPTS benchmy | zstd -3 > f         (the stock backup)
#   D   nightjar backup --db mysql://…/benchmy          (zstd, default level 3)
#   R   zstd -dc f | mariadb restored                   (the stock restore, into a new database)
#   N   nightjar restore f --db …/restored_nj --yes     (into a missing database: validate,
#                                                        load into a scratch schema, move)
#   NR  nightjar restore f --db …/benchmy_copy --yes --no-safety-backup
#                                                       (replace an existing database: the
#                                                        same plus the RENAME TABLE swap and
#                                                        recreating views/routines/events)
# in this order every round, so drift of the machine hits every variant alike. OPTS are the
# options nightjar passes: --single-transaction --routines --triggers --events --hex-blob
# --default-character-set=utf8mb4 --no-tablespaces --skip-dump-date --quick. Prints medians and
# ratios and writes them to bench/out/mysql-results-<date>.md (raw runs: mysql-runs-<date>.csv).
#
# Env: ROUNDS=3, NO_BUILD=1 (use the existing target/release/nightjar), ROWS=1500000 (orders),
#      BLOBS=40000 (2 KiB random BLOBs), KEEP_SERVER=1 (leave the server running).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT="$HERE/out"
ROUNDS="${ROUNDS:-3}"
ROWS="${ROWS:-1500000}"
BLOBS="${BLOBS:-40000}"
DIR="$OUT/mariadb"
SOCK="$DIR/mysqld.sock"
STAMP="$(date +%Y-%m-%d-%H%M%S)"
CSV="$OUT/mysql-runs-$STAMP.csv"
RESULTS="$OUT/mysql-results-$STAMP.md"
RUN="$OUT/myrun"
log() { printf 'bench: %s\n' "$*" >&2; }

mkdir -p "$OUT/bin" "$DIR"
if [[ "${NO_BUILD:-0}" != 1 ]]; then
    log "scripts/install-deps.sh --app-only (what the build and the servers need)"
    "$ROOT/scripts/install-deps.sh" --app-only
    log "cargo build --release -p nightjar-cli"
    (cd "$ROOT" && cargo build --release -p nightjar-cli)
fi
cp "$ROOT/target/release/nightjar" "$OUT/bin/nightjar"
NIGHTJAR="$OUT/bin/nightjar"

# --- server -------------------------------------------------------------------------------
as_root=()
if ((EUID == 0)); then as_root=(--user=root); fi
my() { mariadb --no-defaults --socket="$SOCK" --user=root --default-character-set=utf8mb4 "$@"; }
if [[ ! -d "$DIR/data/mysql" ]]; then
    log "mariadb-install-db into $DIR/data"
    mkdir -p "$DIR/tmp"
    mariadb-install-db --no-defaults --datadir="$DIR/data" --tmpdir="$DIR/tmp" --auth-root-authentication-method=normal \
        --skip-test-db "${as_root[@]}" >"$DIR/install.log" 2>&1
fi
started=0
if ! my -e 'SELECT 1' >/dev/null 2>&1; then
    log "starting mariadbd on $SOCK"
    mkdir -p "$DIR/tmp"
    mariadbd --no-defaults --datadir="$DIR/data" --socket="$SOCK" --pid-file="$DIR/mysqld.pid" --tmpdir="$DIR/tmp" \
        --log-error="$DIR/server.log" --skip-networking --skip-log-bin --innodb-buffer-pool-size=256M \
        --innodb-log-file-size=256M --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --event-scheduler=OFF "${as_root[@]}" >/dev/null 2>&1 &
    started=1
    for _ in $(seq 1 300); do my -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
    my -e 'SELECT 1' >/dev/null
fi
stop_server() {
    if [[ "$started" == 1 && "${KEEP_SERVER:-0}" != 1 ]]; then
        kill "$(cat "$DIR/mysqld.pid")" 2>/dev/null || true
    fi
}
trap stop_server EXIT

# --- fixture ------------------------------------------------------------------------------
if [[ -z "$(my -N -e "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'benchmy'")" ]]; then
    log "building the fixture benchmy ($ROWS orders, $BLOBS BLOBs)"
    my -e "CREATE DATABASE benchmy_build CHARACTER SET utf8mb4"
    my benchmy_build <<SQL
CREATE TABLE tenants (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL);
INSERT INTO tenants SELECT seq, CONCAT('tenant ', seq, ' — арендатор ', seq) FROM seq_1_to_500;
CREATE TABLE orders (
  id BIGINT AUTO_INCREMENT PRIMARY KEY, tenant_id INT NOT NULL, note VARCHAR(255), amount DECIMAL(14,4) NOT NULL,
  meta JSON, placed_at DATETIME NOT NULL, KEY (tenant_id), KEY (placed_at),
  CONSTRAINT fk_t FOREIGN KEY (tenant_id) REFERENCES tenants(id)) ENGINE=InnoDB;
INSERT INTO orders (tenant_id, note, amount, meta, placed_at)
  SELECT seq % 500 + 1, CONCAT('заказ ', seq, ' สั่งซื้อ ', LEFT(MD5(seq), 12 + seq % 20)), (seq * 7919 % 1000000) / 100,
         CONCAT('{"n": ', seq, ', "tag": "', CHAR(65 + seq % 26), '", "ok": ', IF(seq % 3, 'true', 'false'), '}'),
         '2024-01-01' + INTERVAL (seq % 63072000) SECOND
  FROM seq_1_to_$ROWS;
CREATE TABLE attachments (id INT PRIMARY KEY, order_id BIGINT NOT NULL, body BLOB NOT NULL);
INSERT INTO attachments SELECT seq, seq * 3, RANDOM_BYTES(1024) FROM seq_1_to_$BLOBS;
INSERT INTO attachments SELECT seq + $BLOBS, seq * 5, RANDOM_BYTES(1024) FROM seq_1_to_$BLOBS;
SQL
    # Built under another name so an interrupted build is never taken for the fixture.
    my -e "CREATE DATABASE benchmy CHARACTER SET utf8mb4"
    tables="$(my -N -e "SELECT GROUP_CONCAT(CONCAT('benchmy_build.', TABLE_NAME, ' TO benchmy.', TABLE_NAME)) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'benchmy_build' AND TABLE_TYPE = 'BASE TABLE'")"
    my -e "RENAME TABLE $tables;"
    my benchmy <<'SQL'
CREATE VIEW tenant_totals AS SELECT tenant_id, SUM(amount) AS total FROM orders GROUP BY tenant_id;
DELIMITER ;;
CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.note = COALESCE(NEW.note, '');;
CREATE PROCEDURE tenant_count(OUT n INT) SELECT COUNT(*) INTO n FROM tenants;;
DELIMITER ;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DO DELETE FROM orders WHERE id < 0;
SQL
    my -e "DROP DATABASE benchmy_build"
fi
size_mib="$(my -N -e "SELECT ROUND(SUM(DATA_LENGTH + INDEX_LENGTH) / 1048576) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'benchmy'")"

# --- runs ---------------------------------------------------------------------------------
OPTS="--single-transaction --routines --triggers --events --hex-blob --default-character-set=utf8mb4 --no-tablespaces --skip-dump-date --quick"
DUMP="mariadb-dump --no-defaults --socket='$SOCK' --user=root $OPTS benchmy"
MYC="mariadb --no-defaults --socket='$SOCK' --user=root"
URL="mysql://root@localhost/benchmy?socket=$SOCK"
NJ="NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$RUN/none.toml' '$NIGHTJAR'"
FILE="$OUT/my-backup.sql.zst"
pipeline() {
    case "$1" in
        A) echo "$DUMP > /dev/null" ;;
        B) echo "$DUMP | zstd -3 -q > '$RUN/b.sql.zst'" ;;
        D) echo "$NJ backup --db '$URL' --dest '$RUN/dest' --json > '$RUN/record.json'" ;;
        R) echo "$MYC -e 'CREATE DATABASE restored_stock' && zstd -dc '$FILE' | $MYC --binary-mode --default-character-set=utf8mb4 restored_stock" ;;
        N) echo "$NJ restore '$FILE' --db 'mysql://root@localhost/restored_nj?socket=$SOCK' --yes --json > '$RUN/restore.json'" ;;
        NR) echo "$NJ restore '$FILE' --db 'mysql://root@localhost/benchmy_copy?socket=$SOCK' --yes --no-safety-backup --json > '$RUN/restore.json'" ;;
    esac
}
reset_between() { # databases a variant creates, dropped before the next one (not timed)
    my -N -e "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('restored_stock', 'restored_nj') OR SCHEMA_NAME LIKE 'benchmy\_copy\_\_%' OR SCHEMA_NAME LIKE 'restored\_nj\_\_%'" \
        | while read -r db; do my -e "DROP DATABASE \`$db\`"; done
}
rm -rf "$RUN" && mkdir -p "$RUN/dest"
log "the backup every restore reads: nightjar backup of benchmy"
eval "$NJ backup --db '$URL' --dest '$RUN/dest' --json" > "$RUN/record.json"
cp "$(python3 -c "import json,sys; print(json.load(open('$RUN/record.json'))['file'])")" "$FILE"
plain_mib=$(($(zstd -dc "$FILE" | wc -c) / 1048576))
# The replace target: a copy of the fixture.
my -e "DROP DATABASE IF EXISTS benchmy_copy; CREATE DATABASE benchmy_copy CHARACTER SET utf8mb4"
zstd -dc "$FILE" | my --binary-mode benchmy_copy
VARIANTS="A B D R N NR"
for v in $VARIANTS; do log "  $v: $(pipeline "$v")"; done
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
T0=$SECONDS
for ((round = 0; round <= ROUNDS; round++)); do
    if ((round == 0)); then log "warm-up round (not counted)"; else log "round $round of $ROUNDS"; fi
    for v in $VARIANTS; do
        reset_between
        rm -rf "$RUN" && mkdir -p "$RUN/dest"
        sync
        "$HERE/bench.py" run "$v" "$round" "$CSV" -- bash -c "set -o pipefail; $(pipeline "$v")"
        case "$v" in B) "$HERE/bench.py" set-size "$CSV" "$v" "$round" "$RUN/b.sql.zst" ;; D) "$HERE/bench.py" set-size "$CSV" "$v" "$round" "$RUN/dest" ;; esac
    done
done
reset_between
rm -rf "$RUN"
my -e "DROP DATABASE IF EXISTS benchmy_copy"

MARIADB_VERSION="$(mariadbd --version | awk '{print $3}')"
NPROC="$(nproc)"
python3 - "$CSV" "$RESULTS" <<PY
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["round"] != "0"]
def med(lab, key):
    vals = [float(r[key]) for r in rows if r["label"] == lab and r.get(key) not in ("", None)]
    return statistics.median(vals) if vals else None
names = {"A": "mariadb-dump > /dev/null", "B": "mariadb-dump \\| zstd -3", "D": "nightjar backup",
         "R": "zstd -dc f \\| mariadb (new database)", "N": "nightjar restore (missing database)",
         "NR": "nightjar restore (replace, no safety backup)"}
base = {"A": None, "B": None, "D": "B", "R": None, "N": "R", "NR": "R"}
def f(x, n=2):
    return "" if x is None else f"{x:.{n}f}"
out = ["## MySQL/MariaDB run $STAMP", "",
       "- fixture benchmy: $size_mib MiB (data + indexes), plain dump $plain_mib MiB; MariaDB $MARIADB_VERSION; nproc $NPROC",
       "- load average before the timed part: $load_before; medians of $ROUNDS rounds after one warm-up",
       "", "| variant | wall s | cpu s | peak RSS MiB (nightjar) | size MiB | wall ÷ stock |", "|---|---|---|---|---|---|"]
for lab in ["A", "B", "D", "R", "N", "NR"]:
    w, c = med(lab, "wall_s"), med(lab, "cpu_s")
    rss, size = med(lab, "nightjar_rss_mib"), med(lab, "out_bytes")
    ratio = (w / med(base[lab], "wall_s")) if base[lab] and w else None
    out.append(f"| {lab}: {names[lab]} | {f(w)} | {f(c)} | {f(rss, 0)} | {f(size / 1048576 if size else None, 1)} | {f(ratio)} |")
text = "\n".join(out) + "\n"
print(text)
open(sys.argv[2], "w").write(text)
PY
log "written $RESULTS ($((SECONDS - T0)) s of timed rounds)"
