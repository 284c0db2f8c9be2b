#!/usr/bin/env bash
# Restore benchmark: `nightjar restore` against the hand-written restore pipelines, interleaved.
#
#   bench/restore.sh                  (DB=bench1g bench/restore.sh for the ~1.1 GB database)
#
# Steps: build the release CLI (copied to bench/out/bin, as bench/backup.sh does), make sure
# the fixture exists (bench/make-db.sh), make one plain and one custom-format zstd backup of
# $DB with nightjar (not timed), wait until the machine is quiet, run one warm-up round (not
# counted), then ROUNDS rounds of
#   R1  createdb t && zstd -dc f.sql.zst | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d t
#   R2  nightjar restore f.sql.zst --as-new t          (the whole restore, checks included)
#   R3  createdb t && zstd -dc f.dump.zst | pg_restore --exit-on-error -d t
#   R4  nightjar restore f.dump.zst --as-new t         (the whole restore, checks included)
#   R5  nightjar verify f.sql.zst                      (the checks alone: one read of the file)
#   R5c nightjar verify f.dump.zst
#   R2e nightjar restore f.sql.zst.age --as-new t      (R2's dump, age-encrypted; VARIANTS="R2 R2e ...")
#   R4e nightjar restore f.dump.zst.age --as-new t     (R4's dump, age-encrypted)
# in this order every round; the restored database is dropped (and `sync` run) after every
# run, outside the timed part. Measurement as in bench/backup.sh (bench/bench.py run): wall
# time, CPU of every client-side process (bash, createdb, zstd, psql/pg_restore, nightjar and
# the psql/pg_restore it runs; not the server), nightjar's peak RSS. Prints a Markdown table
# of medians and the ratios R2/R1, R4/R3 and writes it to bench/out/restore-<date>.md, the raw
# runs to bench/out/restore-runs-<date>.csv.
#
# nightjar restore reads the file once: it checks it (manifest sha256, full decompression,
# the closing line, the psql-command guard) while it loads it into a temporary database, and
# renames that database to t only once every check passed and the loader exited cleanly.
# Those checks are part of what R2/R4 measure; R5/R5c time the same checks without a load.
#
# Env:
#   DB=bench100m        the fixture database to back up and restore (bench100m or bench1g)
#   ROUNDS=3            counted rounds
#   VARIANTS="R1 R2 R3 R4 R5 R5c"   which runs, in round order
#   CLUSTER_DIR=bench/out/cluster
#   QUIET_WAIT=600      seconds to wait at most for a quiet machine (0: do not wait)
#   QUIET_LOAD=1.0      the 1-minute load average that counts as quiet
#   KEEP_CLUSTER=1      leave the fixture cluster running at the end
#   NO_BUILD=1          use the existing target/release/nightjar
#   NICE=-10            timed commands and the fixture's server at this niceness (root only;
#                       default 0), as in bench/backup.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT="$HERE/out"
DB="${DB:-bench100m}"
ROUNDS="${ROUNDS:-3}"
BASE="${BASE:-}"
if [[ -n "$BASE" ]]; then
    BASE="$(cd "$(dirname "$BASE")" && pwd)/$(basename "$BASE")"
    VARIANTS="${VARIANTS:-R1 R2 R2b R3 R4 R4b R5 R5c}"
else
    VARIANTS="${VARIANTS:-R1 R2 R3 R4 R5 R5c}"
fi
CLUSTER_DIR="${CLUSTER_DIR:-$OUT/cluster}"
QUIET_WAIT="${QUIET_WAIT:-600}"
QUIET_LOAD="${QUIET_LOAD:-1.0}"
NICE="${NICE:-0}"
STAMP="$(date +%Y-%m-%d-%H%M%S)"
CSV="$OUT/restore-runs-$STAMP.csv"
RESULTS="$OUT/restore-$STAMP.md"
MACHINE="$OUT/restore-machine-$STAMP.md"
WORK="$OUT/restore-work"      # the two backups and nightjar's data folder
T_START=$SECONDS

log() { printf 'bench: %s\n' "$*" >&2; }

case "$DB" in
    bench100m | bench1g) ;;
    *) log "DB must be bench100m or bench1g (the fixture of bench/make-db.sh), not '$DB'"; exit 2 ;;
esac
mkdir -p "$OUT/bin"

# --- build --------------------------------------------------------------------------------
if [[ "${NO_BUILD:-0}" != 1 ]]; then
    log "scripts/install-deps.sh --app-only (what the build and the servers need)"
    "$ROOT/scripts/install-deps.sh" --app-only
    log "cargo build --release -p nightjar-cli"
    (cd "$ROOT" && cargo build --release -p nightjar-cli)
fi
mkdir -p "$OUT/bin/restore"
cp "$ROOT/target/release/nightjar" "$OUT/bin/restore/nightjar"
NIGHTJAR="$OUT/bin/restore/nightjar"
T_BUILT=$SECONDS

# --- fixture ------------------------------------------------------------------------------
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
was_running=0
if [[ -f "$CLUSTER_DIR/data/postmaster.pid" ]] \
    && "$PGBIN/pg_isready" -q -h "$CLUSTER_DIR" -U postgres; then was_running=1; fi
"$HERE/make-db.sh" "$CLUSTER_DIR"

PG=(-h "$CLUSTER_DIR" -U postgres)
NEW="${DB}_restore_bench"     # the database every run restores into (dropped after each run)
q() { "$PGBIN/psql" -X -At "${PG[@]}" -d postgres -c "$1"; }
drop_restored() { # the target and anything nightjar may have left under its temporary names
    local d
    for d in $(q "SELECT datname FROM pg_database WHERE datname = '$NEW' OR datname LIKE '${NEW}\\_\\_%'"); do
        q "DROP DATABASE \"$d\" WITH (FORCE)" >/dev/null
    done
}
renice_server() { # renice_server N: the postmaster and every process it started
    local pm
    pm="$(head -n 1 "$CLUSTER_DIR/data/postmaster.pid")"
    renice -n "$1" -p "$pm" $(pgrep -P "$pm") >/dev/null
}
cleanup() {
    drop_restored 2>/dev/null || true
    if [[ "$NICE" != 0 ]]; then renice_server 0 || true; fi
    if [[ "$was_running" == 0 && "${KEEP_CLUSTER:-0}" != 1 ]]; then
        "$HERE/make-db.sh" stop "$CLUSTER_DIR" >/dev/null || true
    fi
}
trap cleanup EXIT
drop_restored
T_FIXTURE=$SECONDS

# --- the two backups (not timed) ----------------------------------------------------------
URL="postgres://postgres@/$DB?host=$CLUSTER_DIR"
NJENV="NIGHTJAR_DATA_DIR='$WORK/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$WORK/none.toml'"
rm -rf "$WORK"
mkdir -p "$WORK/plain" "$WORK/custom" "$WORK/data" "$WORK/data-base"
log "nightjar backup of $DB: plain and custom format (zstd)"
eval "$NJENV '$NIGHTJAR' backup --db '$URL' --dest '$WORK/plain' --json" >"$WORK/plain.json"
eval "$NJENV '$NIGHTJAR' backup --db '$URL' --dest '$WORK/custom' --format custom --json" >"$WORK/custom.json"
PLAIN="$(find "$WORK/plain" -type f -name '*.sql.zst' | head -n 1)"
CUSTOM="$(find "$WORK/custom" -type f -name '*.dump.zst' | head -n 1)"
if [[ -z "$PLAIN" || -z "$CUSTOM" ]]; then
    log "no .sql.zst / .dump.zst backup found under $WORK"; exit 1
fi
# The base build gets a copy of the data folder (history, installation key): it then knows
# both backups as its own, as this build does, and restores them without --trust-file.
if [[ -n "$BASE" ]]; then cp -a "$WORK/data/." "$WORK/data-base/"; fi

dbsize() { "$PGBIN/psql" -X -At "${PG[@]}" -d "$1" -c "SELECT pg_database_size(current_database())"; }

# R2e/R4e: the same two dumps from a config job with [job.encryption] to one age recipient
# (the key made here with age-keygen; the restores pass it with --identity).
PLAINE="" CUSTOME=""
if [[ " $VARIANTS " == *" R2e "* || " $VARIANTS " == *" R4e "* ]]; then
    command -v age-keygen >/dev/null || { log "age-keygen is missing: apt install age"; exit 2; }
    mkdir -p "$WORK/plaine" "$WORK/custome"
    age-keygen -o "$WORK/age-key.txt" 2>/dev/null
    recipient="$(age-keygen -y "$WORK/age-key.txt")"
    cat >"$WORK/jobs.toml" <<TOML
[[job]]
name = "plaine"
database = "$URL"
destination = "$WORK/plaine"

[job.encryption]
recipients = ["$recipient"]

[[job]]
name = "custome"
database = "$URL"
destination = "$WORK/custome"
format = "custom"

[job.encryption]
recipients = ["$recipient"]
TOML
    log "nightjar backup of $DB: plain and custom format (zstd), age-encrypted"
    JOBENV="NIGHTJAR_DATA_DIR='$WORK/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$WORK/jobs.toml'"
    eval "$JOBENV '$NIGHTJAR' backup --job plaine --json" >"$WORK/plaine.json"
    eval "$JOBENV '$NIGHTJAR' backup --job custome --json" >"$WORK/custome.json"
    PLAINE="$(find "$WORK/plaine" -type f -name '*.sql.zst.age' | head -n 1)"
    CUSTOME="$(find "$WORK/custome" -type f -name '*.dump.zst.age' | head -n 1)"
    if [[ -z "$PLAINE" || -z "$CUSTOME" ]]; then
        log "no .sql.zst.age / .dump.zst.age backup found under $WORK"; exit 1
    fi
fi
T_BACKUPS=$SECONDS

# --- machine ------------------------------------------------------------------------------
{
    echo "## Restore benchmark run $STAMP"
    echo
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
    echo "- RAM: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r)"
    echo "- $("$PGBIN/psql" --version), $("$PGBIN/pg_restore" --version); server $("$PGBIN/postgres" --version | awk '{print $3}')"
    echo "- $(zstd --version | sed 's/^\*\*\* //; s/ \*\*\*$//; s/, by .*//')"
    echo "- nightjar: $("$NIGHTJAR" --version) (release build, git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [[ -n "$(git status --porcelain -- crates 2>/dev/null)" ]] && echo ', crates/ with uncommitted changes'))"
    if [[ -n "$BASE" ]]; then echo "- base build (R2b, R4b): $BASE, $("$BASE" --version)"; fi
    echo "- database: $DB $(( $(dbsize "$DB") / 1048576 )) MiB (pg_database_size)"
    echo "- backups (nightjar, zstd level 3): plain $(basename "$PLAIN") $(( $(stat -c %s "$PLAIN") / 1048576 )) MiB ($(( $(zstd -dc "$PLAIN" | wc -c) / 1048576 )) MiB of SQL), custom $(basename "$CUSTOM") $(( $(stat -c %s "$CUSTOM") / 1048576 )) MiB"
} >"$MACHINE"

# --- quiet machine ------------------------------------------------------------------------
# shellcheck source=bench/quiet.sh
source "$HERE/quiet.sh"
wait_for_quiet "$MACHINE"

# --- runs ---------------------------------------------------------------------------------
NURL="postgres://postgres@/$DB?host=$CLUSTER_DIR"   # the server; $DB itself is left alone
pipeline() { # pipeline LABEL: prints the shell command of that variant
    local nj="$NJENV '$NIGHTJAR'"
    local base="NIGHTJAR_DATA_DIR='$WORK/data-base' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$WORK/none.toml' '$BASE'"
    local createdb="'$PGBIN/createdb' -h '$CLUSTER_DIR' -U postgres '$NEW'"
    case "$1" in
        R1) echo "$createdb && zstd -dc -q '$PLAIN' | '$PGBIN/psql' -X -q -v ON_ERROR_STOP=1 --single-transaction -h '$CLUSTER_DIR' -U postgres -d '$NEW' > /dev/null" ;;
        R2) echo "$nj restore '$PLAIN' --db '$NURL' --as-new '$NEW' --no-safety-backup --yes --json > '$WORK/record.json'" ;;
        R2b) echo "$base restore '$PLAIN' --db '$NURL' --as-new '$NEW' --no-safety-backup --yes --json > '$WORK/record.json'" ;;
        R4b) echo "$base restore '$CUSTOM' --db '$NURL' --as-new '$NEW' --no-safety-backup --yes --json > '$WORK/record.json'" ;;
        R3) echo "$createdb && zstd -dc -q '$CUSTOM' | '$PGBIN/pg_restore' --exit-on-error -h '$CLUSTER_DIR' -U postgres -d '$NEW'" ;;
        R4) echo "$nj restore '$CUSTOM' --db '$NURL' --as-new '$NEW' --no-safety-backup --yes --json > '$WORK/record.json'" ;;
        R2e) echo "$nj restore '$PLAINE' --db '$NURL' --as-new '$NEW' --identity '$WORK/age-key.txt' --no-safety-backup --yes --json > '$WORK/record.json'" ;;
        R4e) echo "$nj restore '$CUSTOME' --db '$NURL' --as-new '$NEW' --identity '$WORK/age-key.txt' --no-safety-backup --yes --json > '$WORK/record.json'" ;;
        R5) echo "$nj verify '$PLAIN' --json > '$WORK/record.json'" ;;
        R5c) echo "$nj verify '$CUSTOM' --json > '$WORK/record.json'" ;;
        *) log "unknown variant $1"; exit 2 ;;
    esac
}
for v in $VARIANTS; do pipeline "$v" >/dev/null; done

if [[ "$NICE" != 0 ]]; then
    renice_server "$NICE"
    log "timed commands and the PostgreSQL server run at niceness $NICE"
    echo "- priority: timed commands and the fixture's PostgreSQL server at niceness $NICE (NICE=$NICE), other processes unchanged" >>"$MACHINE"
fi
log "database $DB; variants: $VARIANTS; $ROUNDS counted rounds after one warm-up round"
for v in $VARIANTS; do log "  $v: bash -c \"set -o pipefail; $(pipeline "$v")\""; done
T_TIMED=$SECONDS
for ((round = 0; round <= ROUNDS; round++)); do
    if ((round == 0)); then log "warm-up round (not counted)"; else log "round $round of $ROUNDS"; fi
    for v in $VARIANTS; do
        drop_restored
        sync
        nice -n "$NICE" "$HERE/bench.py" run "$v" "$round" "$CSV" -- bash -c "set -o pipefail; $(pipeline "$v")"
        if ((round == 0)) && [[ "$v" == R1 || "$v" == R3 ]]; then
            echo "- restored database after $v: $(( $(dbsize "$NEW") / 1048576 )) MiB" >>"$MACHINE"
        fi
    done
done
drop_restored
T_END=$SECONDS
{
    echo "- time: build $((T_BUILT - T_START)) s, fixture check $((T_FIXTURE - T_BUILT)) s, backups $((T_BACKUPS - T_FIXTURE)) s, waiting for quiet ${waited} s, warm-up + ${ROUNDS} rounds $((T_END - T_TIMED)) s; total $((T_END - T_START)) s"
    echo "- raw runs: bench/out/$(basename "$CSV")"
} >>"$MACHINE"

echo
"$HERE/restore_report.py" "$CSV" "$RESULTS" "$MACHINE" "$DB"
log "written $RESULTS"
