#!/usr/bin/env bash
# Backup benchmark: nightjar against the hand-written pg_dump pipelines, interleaved.
#
#   bench/backup.sh
#
# Steps: build the release CLI (and copy it to bench/out/bin so a rebuild by someone else
# cannot swap it mid-run), make sure the fixture exists (bench/make-db.sh), wait until the
# machine is quiet, run one warm-up round (not counted), then ROUNDS rounds of
#   A  pg_dump -Fp > /dev/null                 (the limit)
#   B  pg_dump -Fp | zstd -3 -T0 > f
#   C  pg_dump -Fp | gzip -6 > f
#   D  nightjar backup                          (zstd, default level 3)
#   E  nightjar backup --compress gzip
#   D100  nightjar backup on the ~100 MB database (for the RSS-is-flat check)
# in this order every round, so drift of the machine hits every variant alike. Prints a
# Markdown table of medians and ratios and writes it to bench/out/results-<date>.md, with
# the raw runs in bench/out/runs-<date>.csv.
#
# Env:
#   ROUNDS=3            counted rounds
#   VARIANTS="A B C D E D100"   which runs, in round order. Also available: Bs (B plus
#                       `sync f`, i.e. with the fsync nightjar does), DtN (nightjar with
#                       --threads N, the hidden zstd worker-thread flag), D100tN (the same
#                       on the ~100 MB database), J and Jage (a config job without and
#                       with [job.encryption] to one age recipient; needs age-keygen), S
#                       (nightjar backup --dest s3://… to a local S3 server: moto's server mode,
#                       tests/support/moto_s3.py, started by this script; needs moto, which
#                       scripts/install-deps.sh installs; compare it with D of the same rounds),
#                       F (a config job with one folder destination) and F3 (the same job with
#                       destinations = [folder, s3://… on moto, onedrive:/… on the Graph fake]:
#                       one dump fanned out to three copies; compare F3 with F), F2s and F2o (the
#                       folder and S3 alone, the folder and OneDrive alone, to split F3), Dprev (D with
#                       the build at PREV_NIGHTJAR, e.g. the commit before a change, in the
#                       same rounds), Sprev and F3prev (S and F3 with that build)
#   S3_SERVER=moto      the local S3 server of S, F3 and F2s: moto (Python, in memory) or s3s
#                       (s3s-fs from crates.io, a Rust server keeping objects as files; this
#                       script installs it into bench/out/tools on first use, S3S_VERSION=0.14.1,
#                       the newest that builds with Rust 1.95; S3S_FS=path takes another build)
#   PREV_NIGHTJAR=path  the other nightjar binary of variant Dprev
#   FANOUT_URL=…        the database of F and F3 (default: bench1g of the fixture)
#   NO_FIXTURE=1        do not build or start the fixture cluster (only with variants that do
#                       not use it: F and F3 with FANOUT_URL set), e.g. to check F/F3 on a
#                       small database:
#                       NO_FIXTURE=1 NO_BUILD=1 BIN_DIR=target/debug QUIET_WAIT=0 ROUNDS=1 \
#                       VARIANTS="F F3" FANOUT_URL=postgres://… bench/backup.sh
#   BIN_DIR=target/release   where NO_BUILD=1 takes nightjar (and nightjar-fake-graph) from
#   THREADS_SWEEP=1     shorthand: append Dt0 Dt1 Dt2 to VARIANTS
#   CLUSTER_DIR=bench/out/cluster
#   QUIET_WAIT=1200     seconds to wait at most for a quiet machine (0: do not wait)
#   QUIET_LOAD=1.0      the 1-minute load average that counts as quiet
#   KEEP_CLUSTER=1      leave the fixture cluster running at the end (default: stop it if
#                       this script started it)
#   NO_BUILD=1          use the existing target/release/nightjar
#   NICE=-10            run the timed commands, the fixture's PostgreSQL server and the local
#                       S3 server and Graph fake (stand-ins for servers on other machines) at this
#                       niceness (root only; default 0: unchanged). On a shared machine that
#                       never gets quiet this keeps other work from dominating the figures;
#                       every variant gets the same priority. The server is set back to 0 at
#                       the end.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT="$HERE/out"
ROUNDS="${ROUNDS:-3}"
S3_SERVER="${S3_SERVER:-moto}"
S3S_VERSION="${S3S_VERSION:-0.14.1}"
case "$S3_SERVER" in moto | s3s) ;; *) echo "S3_SERVER must be moto or s3s" >&2; exit 2 ;; esac
VARIANTS="${VARIANTS:-A B C D E D100}"
if [[ "${THREADS_SWEEP:-0}" == 1 ]]; then VARIANTS="$VARIANTS Dt0 Dt1 Dt2"; fi
CLUSTER_DIR="${CLUSTER_DIR:-$OUT/cluster}"
QUIET_WAIT="${QUIET_WAIT:-1200}"
QUIET_LOAD="${QUIET_LOAD:-1.0}"
STAMP="$(date +%Y-%m-%d-%H%M%S)"
CSV="$OUT/runs-$STAMP.csv"
RESULTS="$OUT/results-$STAMP.md"
MACHINE="$OUT/machine-$STAMP.md"
RUN="$OUT/run"
T_START=$SECONDS

log() { printf 'bench: %s\n' "$*" >&2; }

mkdir -p "$OUT/bin"

# --- build --------------------------------------------------------------------------------
if [[ "${NO_BUILD:-0}" != 1 ]]; then
    log "scripts/install-deps.sh --app-only (what the build and the servers need)"
    "$ROOT/scripts/install-deps.sh" --app-only
    log "cargo build --release -p nightjar-cli -p nightjar-onedrive-fake"
    (cd "$ROOT" && cargo build --release -p nightjar-cli -p nightjar-onedrive-fake)
fi
BIN_DIR="${BIN_DIR:-target/release}"
[[ "$BIN_DIR" == /* ]] || BIN_DIR="$ROOT/$BIN_DIR"
cp "$BIN_DIR/nightjar" "$OUT/bin/nightjar"
# F3, F2s and F2o use the servers of F3 (moto and the Graph fake).
fan_servers=0
for v in F3 F2s F2o F3prev; do [[ " $VARIANTS " == *" $v "* ]] && fan_servers=1; done
if ((fan_servers)); then cp "$BIN_DIR/nightjar-fake-graph" "$OUT/bin/"; fi
NIGHTJAR="$OUT/bin/nightjar"
if [[ " $VARIANTS " == *" Dprev "* || " $VARIANTS " == *" Sprev "* || " $VARIANTS " == *" F3prev "* ]]; then
    [[ -x "${PREV_NIGHTJAR:-}" ]] || { log "variants Dprev, Sprev and F3prev need PREV_NIGHTJAR=path of another nightjar build"; exit 2; }
    cp "$PREV_NIGHTJAR" "$OUT/bin/nightjar-prev"
fi
T_BUILT=$SECONDS

# --- fixture ------------------------------------------------------------------------------
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
was_running=0
if [[ -f "$CLUSTER_DIR/data/postmaster.pid" ]] \
    && "$PGBIN/pg_isready" -q -h "$CLUSTER_DIR" -U postgres; then was_running=1; fi
if [[ "${NO_FIXTURE:-0}" != 1 ]]; then "$HERE/make-db.sh" "$CLUSTER_DIR"; else was_running=1; fi
NICE="${NICE:-0}"
renice_server() { # renice_server N: the postmaster and every process it started
    local pm
    pm="$(head -n 1 "$CLUSTER_DIR/data/postmaster.pid")"
    renice -n "$1" -p "$pm" $(pgrep -P "$pm") >/dev/null
}
MOTO_IN=""
S3S_PID=""
FAKE_PID=""
stop_cluster() {
    # EOF on its stdin stops the S3 server.
    if [[ -n "$MOTO_IN" ]]; then exec {MOTO_IN}>&-; fi
    if [[ -n "$S3S_PID" ]]; then kill "$S3S_PID" 2>/dev/null || true; fi
    if [[ -n "$FAKE_PID" ]]; then kill "$FAKE_PID" 2>/dev/null || true; fi
    if [[ "$NICE" != 0 ]]; then renice_server 0 || true; fi
    if [[ "$was_running" == 0 && "${KEEP_CLUSTER:-0}" != 1 ]]; then
        "$HERE/make-db.sh" stop "$CLUSTER_DIR" >/dev/null || true
    fi
}
trap stop_cluster EXIT
T_FIXTURE=$SECONDS

dbsize() {
    "$PGBIN/psql" -X -At -h "$CLUSTER_DIR" -U postgres -d "$1" \
        -c "SELECT pg_database_size(current_database())"
}

# --- machine ------------------------------------------------------------------------------
{
    echo "## Benchmark run $STAMP"
    echo
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
    echo "- RAM: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r)"
    echo "- $("$PGBIN/pg_dump" --version); server $("$PGBIN/postgres" --version | awk '{print $3}')"
    echo "- $(zstd --version | sed 's/^\*\*\* //; s/ \*\*\*$//; s/, by .*//'); $(gzip --version | head -n1)"
    echo "- nightjar: $("$NIGHTJAR" --version) (release build, git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [[ -n "$(git status --porcelain -- crates 2>/dev/null)" ]] && echo ', crates/ with uncommitted changes'))"
    if [[ "${NO_FIXTURE:-0}" != 1 ]]; then echo "- databases: bench1g $(( $(dbsize bench1g) / 1048576 )) MiB, bench100m $(( $(dbsize bench100m) / 1048576 )) MiB (pg_database_size)"; fi
} >"$MACHINE"

# --- quiet machine ------------------------------------------------------------------------
# shellcheck source=bench/quiet.sh
source "$HERE/quiet.sh"
wait_for_quiet "$MACHINE"

# --- runs ---------------------------------------------------------------------------------
URL1G="postgres://postgres@/bench1g?host=$CLUSTER_DIR"
URL100M="postgres://postgres@/bench100m?host=$CLUSTER_DIR"
PGDUMP="'$PGBIN/pg_dump' -Fp -h '$CLUSTER_DIR' -U postgres bench1g"

# Jobs for the J (a job) and Jage (the same job, age-encrypted) variants: the
# same database, destination and settings; only [job.encryption] differs.
JOBS="$OUT/jobs.toml"
if [[ " $VARIANTS " == *" Jage "* || " $VARIANTS " == *" J "* ]]; then
    command -v age-keygen >/dev/null || { log "age-keygen is missing: apt install age"; exit 2; }
    rm -f "$OUT/age-key.txt"
    age-keygen -o "$OUT/age-key.txt" 2>/dev/null
    recipient="$(age-keygen -y "$OUT/age-key.txt")"
    cat >"$JOBS" <<TOML
[[job]]
name = "plain"
database = "$URL1G"
destination = "$RUN/dest"

[[job]]
name = "aged"
database = "$URL1G"
destination = "$RUN/dest"

[job.encryption]
recipients = ["$recipient"]
TOML
fi

# The local S3 server of the S variant (in memory; the same machine, as the
# PostgreSQL server is) and a config whose [s3] section points at it.
S3CONF="$OUT/s3.toml"
S3ENV=""
if [[ " $VARIANTS " == *" S "* || " $VARIANTS " == *" Sprev "* ]] || ((fan_servers)); then
    if [[ "$S3_SERVER" == s3s ]]; then
        S3S="${S3S_FS:-$OUT/tools/bin/s3s-fs}"
        if [[ ! -x "$S3S" ]]; then
            log "installing s3s-fs $S3S_VERSION into $OUT/tools (once)"
            cargo install s3s-fs --version "$S3S_VERSION" --features binary --locked --root "$OUT/tools" >"$OUT/s3s-install.log" 2>&1 \
                || { log "could not install s3s-fs: see $OUT/s3s-install.log"; exit 2; }
        fi
        rm -rf "$OUT/s3s"
        mkdir -p "$OUT/s3s/nightjar-bench"
        s3port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        "$S3S" --host 127.0.0.1 --port "$s3port" --access-key nightjar-test --secret-key nightjar-test-secret "$OUT/s3s" >"$OUT/s3s.log" 2>&1 &
        S3S_PID=$!
        for _ in $(seq 1 100); do python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$s3port" 2>/dev/null && break; sleep 0.1; done
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$s3port" 2>/dev/null \
            || { log "the S3 server did not start: $(cat "$OUT/s3s.log")"; exit 2; }
        echo "- S3 server: $("$S3S" --version) on 127.0.0.1:$s3port (a Rust server keeping objects as files under bench/out/s3s, on the disk of the folder destination)" >>"$MACHINE"
    else
        python3 -c 'import moto.server' 2>/dev/null || { log "moto is missing: scripts/install-deps.sh installs it"; exit 2; }
        rm -f "$OUT/moto.json"
        exec {MOTO_IN}> >(exec python3 "$ROOT/tests/support/moto_s3.py" nightjar-bench >"$OUT/moto.json")
        for _ in $(seq 1 300); do [[ -s "$OUT/moto.json" ]] && break; sleep 0.1; done
        [[ -s "$OUT/moto.json" ]] || { log "the S3 server did not start"; exit 2; }
        s3port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$OUT/moto.json")"
        echo "- S3 server: moto $(python3 -c 'import moto; print(moto.__version__)') server mode on 127.0.0.1:$s3port (in memory)" >>"$MACHINE"
    fi
    printf '[s3]\nendpoint = "http://127.0.0.1:%s"\npath_style = true\n' "$s3port" >"$S3CONF"
    S3ENV="AWS_ACCESS_KEY_ID=nightjar-test AWS_SECRET_ACCESS_KEY=nightjar-test-secret"
fi

# The jobs of the F (one folder) and F3 (folder + S3 + OneDrive fake) variants: the same
# database and settings; F3 signs in to the Graph fake once (device code, approved after two
# polls), keeping the sign-in in a credentials file (no keyring needed).
FANOUT_URL="${FANOUT_URL:-$URL1G}"
FAN1="$OUT/fan1.toml"
FAN3="$OUT/fan3.toml"
if [[ " $VARIANTS " == *" F "* ]]; then
    printf '[[job]]\nname = "fan"\ndatabase = "%s"\ndestination = "%s"\n' "$FANOUT_URL" "$RUN/dest" >"$FAN1"
fi
if ((fan_servers)); then
    rm -f "$OUT/fake.out" "$OUT/fan-credentials.toml"
    "$OUT/bin/nightjar-fake-graph" >"$OUT/fake.out" 2>"$OUT/fake.err" &
    FAKE_PID=$!
    for _ in $(seq 1 100); do grep -q '^graph_base_url' "$OUT/fake.out" 2>/dev/null && break; sleep 0.1; done
    grep -q '^graph_base_url' "$OUT/fake.out" || { log "the Graph fake did not start: $(cat "$OUT/fake.err")"; exit 2; }
    cat >"$FAN3" <<TOML
[[job]]
name = "fan"
database = "$FANOUT_URL"
destinations = ["$RUN/dest", "s3://nightjar-bench/fan", "onedrive:/Bench-F3"]

[[job]]
name = "fans"
database = "$FANOUT_URL"
destinations = ["$RUN/dest", "s3://nightjar-bench/fans"]

[[job]]
name = "fano"
database = "$FANOUT_URL"
destinations = ["$RUN/dest", "onedrive:/Bench-F2o"]

[onedrive]
client_id = "00000000-0000-0000-0000-0000000be4c4"
$(grep '^login_base_url' "$OUT/fake.out")
$(grep '^graph_base_url' "$OUT/fake.out")

[secrets]
store = "file"
file = "$OUT/fan-credentials.toml"

$(cat "$S3CONF")
TOML
    NIGHTJAR_DATA_DIR="$OUT/fan-login" NIGHTJAR_CONFIG="$FAN3" "$NIGHTJAR" onedrive login --device-code </dev/null >"$OUT/fan-login.out" 2>&1 \
        || { log "sign-in to the Graph fake failed: $(cat "$OUT/fan-login.out")"; exit 2; }
    echo "- F3: $S3_SERVER for s3://, the Graph fake (nightjar-fake-graph, same build) for onedrive:, both on loopback" >>"$MACHINE"
fi

pipeline() { # pipeline LABEL: prints the shell command of that variant
    local nj="NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$RUN/none.toml' '$NIGHTJAR' backup"
    local njobs="NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$JOBS' '$NIGHTJAR' backup"
    case "$1" in
        A) echo "$PGDUMP > /dev/null" ;;
        B) echo "$PGDUMP | zstd -3 -T0 -q > '$RUN/b.sql.zst'" ;;
        Bs) echo "$PGDUMP | zstd -3 -T0 -q > '$RUN/b.sql.zst' && sync '$RUN/b.sql.zst'" ;;
        C) echo "$PGDUMP | gzip -6 > '$RUN/c.sql.gz'" ;;
        D) echo "$nj --db '$URL1G' --dest '$RUN/dest' --json > '$RUN/record.json'" ;;
        E) echo "$nj --db '$URL1G' --dest '$RUN/dest' --compress gzip --json > '$RUN/record.json'" ;;
        Dprev) echo "NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$RUN/none.toml' '$OUT/bin/nightjar-prev' backup --db '$URL1G' --dest '$RUN/dest' --json > '$RUN/record.json'" ;;
        D100) echo "$nj --db '$URL100M' --dest '$RUN/dest' --json > '$RUN/record.json'" ;;
        J) echo "$njobs --job plain --json > '$RUN/record.json'" ;;
        Jage) echo "$njobs --job aged --json > '$RUN/record.json'" ;;
        F) echo "NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$FAN1' '$NIGHTJAR' backup --job fan --json > '$RUN/record.json'" ;;
        F3) echo "$S3ENV NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_CONFIG='$FAN3' '$NIGHTJAR' backup --job fan --json > '$RUN/record.json'" ;;
        F3prev) echo "$S3ENV NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_CONFIG='$FAN3' '$OUT/bin/nightjar-prev' backup --job fan --json > '$RUN/record.json'" ;;
        F2s) echo "$S3ENV NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_CONFIG='$FAN3' '$NIGHTJAR' backup --job fans --json > '$RUN/record.json'" ;;
        F2o) echo "$S3ENV NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_CONFIG='$FAN3' '$NIGHTJAR' backup --job fano --json > '$RUN/record.json'" ;;
        S) echo "$S3ENV NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$S3CONF' '$NIGHTJAR' backup --db '$URL1G' --dest 's3://nightjar-bench/run' --json > '$RUN/record.json'" ;;
        Sprev) echo "$S3ENV NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$S3CONF' '$OUT/bin/nightjar-prev' backup --db '$URL1G' --dest 's3://nightjar-bench/run' --json > '$RUN/record.json'" ;;
        Dt[0-9]*) echo "$nj --db '$URL1G' --dest '$RUN/dest' --threads ${1#Dt} --json > '$RUN/record.json'" ;;
        D100t[0-9]*) echo "$nj --db '$URL100M' --dest '$RUN/dest' --threads ${1#D100t} --json > '$RUN/record.json'" ;;
        *) log "unknown variant $1"; exit 2 ;;
    esac
}
outputs() { # the files a variant writes
    case "$1" in
        A) ;;
        S | Sprev) echo "--record $RUN/record.json" ;;
        B | Bs) echo "$RUN/b.sql.zst" ;;
        C) echo "$RUN/c.sql.gz" ;;
        *) echo "$RUN/dest" ;;
    esac
}
for v in $VARIANTS; do pipeline "$v" >/dev/null; done

if [[ "$NICE" != 0 ]]; then
    renice_server "$NICE"
    # The S3 server and the Graph fake stand for servers on other machines: they get the
    # priority the PostgreSQL server gets, so the timed commands do not starve them.
    stand_ins=""
    if [[ -n "$S3S_PID" ]]; then stand_ins="$S3S_PID"; fi
    if [[ -n "$MOTO_IN" ]]; then stand_ins="$stand_ins $(pgrep -f "tests/support/moto_s3.py nightjar-bench" | tr '\n' ' ')"; fi
    if [[ -n "$FAKE_PID" ]]; then stand_ins="$stand_ins $FAKE_PID"; fi
    # shellcheck disable=SC2086
    if [[ -n "${stand_ins// /}" ]]; then renice -n "$NICE" -p $stand_ins >/dev/null; fi
    log "timed commands, the PostgreSQL server and the S3/Graph stand-ins run at niceness $NICE"
    echo "- priority: timed commands, the fixture's PostgreSQL server and the local S3 server and Graph fake (when used) at niceness $NICE (NICE=$NICE), other processes unchanged" >>"$MACHINE"
fi
log "variants: $VARIANTS; $ROUNDS counted rounds after one warm-up round"
for v in $VARIANTS; do log "  $v: bash -c \"set -o pipefail; $(pipeline "$v")\""; done
T_TIMED=$SECONDS
for ((round = 0; round <= ROUNDS; round++)); do
    if ((round == 0)); then log "warm-up round (not counted)"; else log "round $round of $ROUNDS"; fi
    for v in $VARIANTS; do
        rm -rf "$RUN"
        mkdir -p "$RUN/dest"
        sync
        nice -n "$NICE" "$HERE/bench.py" run "$v" "$round" "$CSV" -- bash -c "set -o pipefail; $(pipeline "$v")"
        # shellcheck disable=SC2046
        "$HERE/bench.py" set-size "$CSV" "$v" "$round" $(outputs "$v")
        if [[ "$v" == S || "$v" == Sprev ]]; then # the server keeps objects in memory: drop this run's
            f="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["file"])' "$RUN/record.json")"
            bash -c "$S3ENV NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_KEYRING=off NIGHTJAR_CONFIG='$S3CONF' '$NIGHTJAR' delete '$f' --force" >/dev/null
        fi
        if [[ "$v" == F3 || "$v" == F3prev || "$v" == F2s || "$v" == F2o ]]; then # the S3 server and the fake keep copies in memory: drop this run's
            want=2; [[ "$v" == F3 || "$v" == F3prev ]] && want=3
            python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); c=r.get("copies") or []; assert len(c)==int(sys.argv[2]) and all(x["status"]=="good" for x in c), r; print("\n".join(x["file"] for x in c[1:]))' "$RUN/record.json" "$want" \
                | while read -r f; do bash -c "$S3ENV NIGHTJAR_DATA_DIR='$RUN/data' NIGHTJAR_CONFIG='$FAN3' '$NIGHTJAR' delete '$f' --force" >/dev/null; done
        fi
        if ((round == 0)) && [[ "$v" == B ]]; then
            plain="$(zstd -dc "$RUN/b.sql.zst" | wc -c)"
            echo "- plain SQL dump of bench1g: $((plain / 1048576)) MiB" >>"$MACHINE"
        fi
    done
done
rm -rf "$RUN"
T_END=$SECONDS
{
    echo "- time: build $((T_BUILT - T_START)) s, fixture check/build $((T_FIXTURE - T_BUILT)) s, waiting for quiet ${waited} s, warm-up + ${ROUNDS} rounds $((T_END - T_TIMED)) s; total $((T_END - T_START)) s"
    echo "- raw runs: bench/out/$(basename "$CSV")"
} >>"$MACHINE"

echo
"$HERE/bench.py" report "$CSV" "$RESULTS" "$MACHINE"
log "written $RESULTS"
