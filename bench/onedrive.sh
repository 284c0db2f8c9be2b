#!/usr/bin/env bash
# OneDrive upload benchmark: `nightjar backup` into an onedrive: destination, next to the same
# backup into a folder and the stock pipeline, interleaved.
#
#   bench/onedrive.sh
#
# Microsoft cannot be reached from the test machines, so the destination is the local Graph
# fake (crates/onedrive-fake, release build) on loopback ports, signed in through its device
# code flow with the refresh token in a throwaway GNOME Keyring on a private session bus (the
# script re-runs itself under dbus-run-session for that). What this measures is Nightjar's own
# cost of an upload (quickXorHash, 10 MiB fragments, the spool Graph's up-front fileSize
# needs, the size and hash check at commit), not a network: the fake receives and hashes every
# byte on the same 2 cores, and its CPU is not counted in the CPU column (like the PostgreSQL
# server's). Rounds of, in this order:
#   B   pg_dump -Fp | zstd -3 -T0 > f                  (the stock backup)
#   D   nightjar backup --dest FOLDER                   (zstd, default level 3)
#   O   nightjar backup --dest onedrive:/Bench-O        (spooled past the first MiB to an
#                                                        unlinked temporary file)
#   Os  the same with `staging = true`                  (spooled to a staging file in the data
#                                                        folder, so a crash can resume)
# on the ~1 GB fixture database (bench/make-db.sh). Prints medians and ratios and writes them
# to bench/out/onedrive-results-<date>.md (raw runs: onedrive-runs-<date>.csv).
#
# Env: ROUNDS=3, NO_BUILD=1 (use the existing release binaries), VARIANTS="B D O Os",
#      QUIET_WAIT=600, QUIET_LOAD=1.0 (see bench/quiet.sh), KEEP_CLUSTER=1.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT="$HERE/out"
log() { printf 'bench: %s\n' "$*" >&2; }

if [[ "${NO_BUILD:-0}" != 1 && -z "${NIGHTJAR_BENCH_BUILT:-}" ]]; then
    log "scripts/install-deps.sh (the build, the servers, dbus and gnome-keyring)"
    "$ROOT/scripts/install-deps.sh"
    log "cargo build --release -p nightjar-cli -p nightjar-onedrive-fake"
    (cd "$ROOT" && cargo build --release -p nightjar-cli -p nightjar-onedrive-fake)
    export NIGHTJAR_BENCH_BUILT=1
fi
# The sign-in lives in a keyring: run in a private session bus with its own keyring daemon.
if [[ -z "${NIGHTJAR_BENCH_SESSION:-}" ]]; then
    exec env NIGHTJAR_BENCH_SESSION=1 dbus-run-session -- "$0" "$@"
fi

ROUNDS="${ROUNDS:-3}"
VARIANTS="${VARIANTS:-B D O Os}"
QUIET_WAIT="${QUIET_WAIT:-600}"
CLUSTER_DIR="$OUT/cluster"
STAMP="$(date +%Y-%m-%d-%H%M%S)"
CSV="$OUT/onedrive-runs-$STAMP.csv"
RESULTS="$OUT/onedrive-results-$STAMP.md"
MACHINE="$OUT/onedrive-machine-$STAMP.md"
RUN="$OUT/odrun"
T_START=$SECONDS

mkdir -p "$OUT/bin" "$RUN"
cp "$ROOT/target/release/nightjar" "$ROOT/target/release/nightjar-fake-graph" "$OUT/bin/"
NIGHTJAR="$OUT/bin/nightjar"

# --- keyring and the fake -----------------------------------------------------------------
eval "$(printf 'bench' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
FAKE_PID=""
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
was_running=0
if [[ -f "$CLUSTER_DIR/data/postmaster.pid" ]] \
    && "$PGBIN/pg_isready" -q -h "$CLUSTER_DIR" -U postgres 2>/dev/null; then was_running=1; fi
cleanup() {
    if [[ -n "$FAKE_PID" ]]; then kill "$FAKE_PID" 2>/dev/null || true; fi
    if [[ "$was_running" == 0 && "${KEEP_CLUSTER:-0}" != 1 ]]; then
        "$HERE/make-db.sh" stop "$CLUSTER_DIR" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
"$OUT/bin/nightjar-fake-graph" >"$RUN/fake.out" 2>"$RUN/fake.err" &
FAKE_PID=$!
for _ in $(seq 1 100); do
    grep -q '^graph_base_url' "$RUN/fake.out" 2>/dev/null && break
    sleep 0.1
done
grep -q '^graph_base_url' "$RUN/fake.out" || { log "the Graph fake did not start: $(cat "$RUN/fake.err")"; exit 1; }
LOGIN_BASE="$(sed -n 's/^login_base_url = //p' "$RUN/fake.out")"
GRAPH_BASE="$(sed -n 's/^graph_base_url = //p' "$RUN/fake.out")"
conf() { # conf FILE STAGING
    cat >"$1" <<TOML
[onedrive]
client_id = "00000000-0000-0000-0000-0000000be4c4"
login_base_url = $LOGIN_BASE
graph_base_url = $GRAPH_BASE
staging = $2
TOML
}
conf "$RUN/od.toml" false
conf "$RUN/od-staging.toml" true
export NIGHTJAR_DATA_DIR="$RUN/data"
log "signing in to the fake (device code; it approves after two polls)"
NIGHTJAR_CONFIG="$RUN/od.toml" "$NIGHTJAR" onedrive login --device-code </dev/null >"$RUN/login.out" 2>&1 \
    || { log "sign-in failed: $(cat "$RUN/login.out")"; exit 1; }

# --- fixture ------------------------------------------------------------------------------
"$HERE/make-db.sh" "$CLUSTER_DIR"
T_FIXTURE=$SECONDS
URL="postgres://postgres@/bench1g?host=$CLUSTER_DIR"
{
    echo "## OneDrive upload benchmark run $STAMP"
    echo
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
    echo "- $("$PGBIN/pg_dump" --version); $(zstd --version | sed 's/^\*\*\* //; s/ \*\*\*$//; s/, by .*//')"
    echo "- nightjar: $("$NIGHTJAR" --version) (release build, git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo "- destination: the local Graph fake (release build) on loopback, same machine; 10 MiB fragments"
    echo "- database: bench1g $(( $("$PGBIN/psql" -X -At -h "$CLUSTER_DIR" -U postgres -d bench1g -c 'SELECT pg_database_size(current_database())') / 1048576 )) MiB (pg_database_size)"
} >"$MACHINE"
# shellcheck source=bench/quiet.sh
source "$HERE/quiet.sh"
wait_for_quiet "$MACHINE"

# --- runs ---------------------------------------------------------------------------------
PGDUMP="'$PGBIN/pg_dump' -Fp -h '$CLUSTER_DIR' -U postgres bench1g"
pipeline() { # pipeline LABEL: the shell command of that variant
    local nj="'$NIGHTJAR' backup --db '$URL' --json"
    case "$1" in
        B) echo "$PGDUMP | zstd -3 -T0 -q > '$RUN/b.sql.zst'" ;;
        D) echo "NIGHTJAR_CONFIG='$RUN/od.toml' $nj --dest '$RUN/dest' > '$RUN/record.json'" ;;
        O) echo "NIGHTJAR_CONFIG='$RUN/od.toml' $nj --dest 'onedrive:/Bench-O' > '$RUN/record.json'" ;;
        Os) echo "NIGHTJAR_CONFIG='$RUN/od-staging.toml' $nj --dest 'onedrive:/Bench-Os' > '$RUN/record.json'" ;;
        *) log "unknown variant $1"; exit 2 ;;
    esac
}
for v in $VARIANTS; do pipeline "$v" >/dev/null; done
log "variants: $VARIANTS; $ROUNDS counted rounds after one warm-up round"
for v in $VARIANTS; do log "  $v: bash -c \"set -o pipefail; $(pipeline "$v")\""; done
T_TIMED=$SECONDS
for ((round = 0; round <= ROUNDS; round++)); do
    if ((round == 0)); then log "warm-up round (not counted)"; else log "round $round of $ROUNDS"; fi
    for v in $VARIANTS; do
        rm -rf "$RUN/dest" "$RUN/b.sql.zst" "$RUN/record.json"
        mkdir -p "$RUN/dest"
        sync
        "$HERE/bench.py" run "$v" "$round" "$CSV" -- bash -c "set -o pipefail; $(pipeline "$v")"
        case "$v" in
            B) "$HERE/bench.py" set-size "$CSV" "$v" "$round" "$RUN/b.sql.zst" ;;
            D) "$HERE/bench.py" set-size "$CSV" "$v" "$round" "$RUN/dest" ;;
            # The upload's size as OneDrive committed it (nightjar checks it against the bytes sent).
            *) "$HERE/bench.py" set-size "$CSV" "$v" "$round" --record "$RUN/record.json" ;;
        esac
    done
done
T_END=$SECONDS
{
    echo "- time: fixture check/build $((T_FIXTURE - T_START)) s, waiting for quiet ${waited} s, warm-up + ${ROUNDS} rounds $((T_END - T_TIMED)) s; total $((T_END - T_START)) s"
    echo "- raw runs: bench/out/$(basename "$CSV")"
} >>"$MACHINE"
echo
"$HERE/bench.py" report "$CSV" "$RESULTS" "$MACHINE"
log "written $RESULTS"
