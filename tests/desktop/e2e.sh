#!/usr/bin/env bash
# Desktop end-to-end tests: the real nightjar-desktop binary driven through
# tauri-driver + WebKitWebDriver, its tray menu over D-Bus, its notifications
# captured by a fake notification server, its passwords in GNOME Keyring.
#
#   tests/desktop/e2e.sh                       all desktop tests (tests/desktop_e2e.rs)
#   tests/desktop/e2e.sh FILTERSET             only those, e.g. 'test(tray)' (a nextest -E filterset)
#   NIGHTJAR_SCREENSHOTS_DIR=docs/screenshots tests/desktop/e2e.sh
#                                              also write the view screenshots there
#                                              (default: target/screenshots/e2e)
#   NIGHTJAR_DESKTOP_BIN=path                  another build of the app
#   NIGHTJAR_BIN=path                          another build of the CLI the tests call
#
# Everything runs inside ONE private session bus (dbus-run-session) and ONE
# throwaway X server (xvfb-run); in it: an unlocked gnome-keyring-daemon
# (secrets) with its files under a temp XDG_DATA_HOME, tests/desktop/fake_notifyd.py,
# and tauri-driver on a free port. The tests themselves start the app,
# PostgreSQL and the fake tray host (tests/desktop/tray_click.py) as they need.
# Afterwards every process started here must be gone.
#
# Needs: xvfb xauth dbus gnome-keyring webkit2gtk-driver python3-dbus-next,
# tauri-driver, cargo-nextest (scripts/install-deps.sh installs them all).
set -euo pipefail

readonly DRIVER_TIMEOUT_S=60
readonly TOTAL_TIMEOUT_S=${NIGHTJAR_E2E_TIMEOUT_S:-1200}
readonly PY=${NIGHTJAR_TEST_PYTHON:-/usr/bin/python3}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf 'e2e: %s\n' "$*"; }

# Inner half: runs under dbus-run-session + xvfb-run with DISPLAY set.
if [[ "${1:-}" == "--inner" ]]; then
    work=$2 filter=$3 logs=$4
    pids=()
    stop_all() {
        local p
        for p in "${pids[@]}"; do
            kill -TERM "$p" 2>/dev/null || true
        done
        for p in "${pids[@]}"; do
            wait "$p" 2>/dev/null || true
        done
    }
    trap stop_all EXIT

    # Secret Service: GNOME Keyring, its login keyring in a temp dir, unlocked.
    export XDG_DATA_HOME=$work/xdg-data
    mkdir -p "$XDG_DATA_HOME"
    eval "$(printf 'e2e' | gnome-keyring-daemon --unlock --components=secrets)"
    export GNOME_KEYRING_CONTROL
    log "gnome-keyring-daemon unlocked ($GNOME_KEYRING_CONTROL)"

    # Notifications: every Notify call becomes a JSON line in $NIGHTJAR_NOTIFY_LOG.
    export NIGHTJAR_NOTIFY_LOG=$work/notifications.jsonl
    : >"$NIGHTJAR_NOTIFY_LOG"
    "$PY" "$root/tests/desktop/fake_notifyd.py" "$NIGHTJAR_NOTIFY_LOG" >"$work/fake_notifyd.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        grep -q 'fake_notifyd: ready' "$work/fake_notifyd.out" && break
        sleep 0.1
    done
    if ! grep -q 'fake_notifyd: ready' "$work/fake_notifyd.out"; then
        echo "e2e: FAIL: the fake notification server did not start:" >&2
        cat "$work/fake_notifyd.out" >&2
        exit 1
    fi
    log "fake notification server ready"

    # WebDriver: tauri-driver on a free port, WebKitWebDriver on another.
    free_port() {
        "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    }
    port=$(free_port)
    native_port=$(free_port)
    while [[ "$native_port" == "$port" ]]; do native_port=$(free_port); done
    tauri-driver --port "$port" --native-port "$native_port" ${NIGHTJAR_NATIVE_DRIVER:+--native-driver "$NIGHTJAR_NATIVE_DRIVER"} >"$work/tauri-driver.log" 2>&1 &
    pids+=($!)
    up=false
    for _ in $(seq $((DRIVER_TIMEOUT_S * 10))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            up=true
            break
        fi
        sleep 0.1
    done
    if ! $up; then
        echo "e2e: FAIL: tauri-driver did not listen on $port within ${DRIVER_TIMEOUT_S}s:" >&2
        cat "$work/tauri-driver.log" >&2
        exit 1
    fi
    export TAURI_DRIVER_URL=http://127.0.0.1:$port
    log "tauri-driver on $TAURI_DRIVER_URL"

    # The tests: one at a time (one X server, one tray watcher name, 2 cores).
    expr="binary(desktop_e2e)"
    [[ -n "$filter" ]] && expr="$expr & ($filter)"
    rc=0
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run -p nightjar-tests --locked --run-ignored only -E "$expr" \
            --test-threads 1 --no-fail-fast --failure-output final || rc=$?
    else
        cargo test -p nightjar-tests --locked --test desktop_e2e -- --ignored --test-threads 1 || rc=$?
    fi
    # Kept after the run, next to the screenshots, so a failure can be read (CI uploads them).
    mkdir -p "$logs"
    cp "$work/tauri-driver.log" "$work/fake_notifyd.out" "$NIGHTJAR_NOTIFY_LOG" "$logs/" 2>/dev/null || true
    if ((rc != 0)); then
        echo "e2e: tauri-driver's log and the notifications received are in $logs" >&2
    fi
    exit "$rc"
fi

filter=${1:-}
target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac

bin=${NIGHTJAR_DESKTOP_BIN:-$target_dir/debug/nightjar-desktop}
# The tests run from tests/, so paths given relative to here are made absolute.
case "$bin" in /*) ;; *) bin=$PWD/$bin ;; esac
if [[ -n "${NIGHTJAR_BIN:-}" ]]; then
    case "$NIGHTJAR_BIN" in /*) ;; *) export NIGHTJAR_BIN=$PWD/$NIGHTJAR_BIN ;; esac
fi
if [[ ! -x "$bin" ]]; then
    echo "e2e: FAIL: $bin not found; run: cargo build -p nightjar-desktop" >&2
    exit 1
fi
export NIGHTJAR_DESKTOP_BIN=$bin
if [[ ! -x "$(dirname "$bin")/nightjar-tray" && -z "${NIGHTJAR_TRAY_BIN:-}" ]]; then
    echo "e2e: FAIL: nightjar-tray not found next to $bin; run: cargo build -p nightjar-tray" >&2
    exit 1
fi
for tool in dbus-run-session xvfb-run gnome-keyring-daemon tauri-driver WebKitWebDriver "$PY"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "e2e: FAIL: $tool not found; run: scripts/install-deps.sh" >&2
        exit 1
    fi
done
if ! "$PY" -c 'import dbus_next' 2>/dev/null; then
    echo "e2e: FAIL: $PY cannot import dbus_next; run: scripts/install-deps.sh (apt python3-dbus-next)" >&2
    exit 1
fi

shots=${NIGHTJAR_SCREENSHOTS_DIR:-$target_dir/screenshots/e2e}
case "$shots" in /*) ;; *) shots=$PWD/$shots ;; esac
mkdir -p "$shots"
export NIGHTJAR_SCREENSHOTS_DIR=$shots

work=$(mktemp -d "${TMPDIR:-/tmp}/nightjar-e2e.XXXXXX")
# Every process started below inherits this marker, which is how leftovers are
# found afterwards without touching anyone else's processes.
marker="NIGHTJAR_E2E_ID=$$-$RANDOM$RANDOM"

leftovers() {
    local pid env
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}
        pid=${pid%/environ}
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        if { tr '\0' '\n' <"$env" | grep -qxF "$marker"; } 2>/dev/null; then
            echo "$pid"
        fi
    done
}

cleanup() {
    local pids
    pids=$(leftovers)
    if [[ -n "$pids" ]]; then
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

log "app $bin; screenshots in $shots"
rc=0
env "$marker" NO_AT_BRIDGE=1 \
    XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" \
    timeout --kill-after=10 "$TOTAL_TIMEOUT_S" \
    dbus-run-session -- \
    xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
    bash "$root/tests/desktop/e2e.sh" --inner "$work" "$filter" "$target_dir/e2e-logs" </dev/null || rc=$?

# dbus-run-session and xvfb-run tear down their daemons on exit; allow a moment.
pids=""
for _ in $(seq 100); do
    pids=$(leftovers)
    [[ -z "$pids" ]] && break
    sleep 0.1
done
if [[ -n "$pids" ]]; then
    echo "e2e: FAIL: processes left behind:" >&2
    ps -o pid,ppid,comm,args -p "$(echo "$pids" | paste -sd, -)" >&2 || true
    rc=1
fi
if ((rc != 0)); then
    echo "e2e: FAIL (exit $rc)" >&2
    exit 1
fi
log "desktop E2E: ok"
