#!/usr/bin/env bash
# Desktop smoke test: start the app (nightjar-tray, which opens the window
# process nightjar-desktop) headless, wait for the tray, take a screenshot,
# stop it with SIGTERM, and check nothing it started is left running.
#
#   tests/desktop/smoke.sh            uses target/debug/nightjar-tray (else target/release)
#   NIGHTJAR_TRAY_BIN=path tests/desktop/smoke.sh
#
# Everything runs inside ONE private session bus (dbus-run-session) and ONE
# throwaway X server (xvfb-run). Without a session bus, and with dbus-x11
# installed, GLib would autolaunch a bus plus at-spi daemons that outlive the app.
# Needs: xvfb xauth dbus (dbus-run-session) imagemagick (import, best effort) procps.
set -euo pipefail

readonly READY_LINE='tray ready'
readonly READY_TIMEOUT_S=60
readonly TERM_GRACE_S=15

# Inner half: runs under dbus-run-session + xvfb-run with DISPLAY set.
if [[ "${1:-}" == "--inner" ]]; then
    bin=$2 log=$3 shot=$4

    RUST_LOG="${RUST_LOG:-info}" "$bin" >"$log" 2>&1 &
    app=$!

    stop_app() {
        kill -0 "$app" 2>/dev/null || return 0
        kill -TERM "$app" 2>/dev/null || true
        for _ in $(seq $((TERM_GRACE_S * 10))); do
            kill -0 "$app" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$app" 2>/dev/null; then
            echo "smoke: app ignored SIGTERM for ${TERM_GRACE_S}s, sending SIGKILL" >&2
            kill -KILL "$app" 2>/dev/null || true
        fi
        wait "$app" 2>/dev/null || true
    }
    trap stop_app EXIT

    ready=false
    for _ in $(seq $((READY_TIMEOUT_S * 10))); do
        if grep -qF "$READY_LINE" "$log"; then
            ready=true
            break
        fi
        if ! kill -0 "$app" 2>/dev/null; then
            echo "smoke: FAIL: app exited before logging '$READY_LINE'" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if ! $ready; then
        echo "smoke: FAIL: no '$READY_LINE' within ${READY_TIMEOUT_S}s" >&2
        cat "$log" >&2
        exit 1
    fi
    echo "smoke: '$READY_LINE' seen"

    # Give the web view a moment to paint before the screenshot (best effort).
    sleep 3
    if command -v import >/dev/null 2>&1 && import -window root "$shot" 2>/dev/null; then
        echo "smoke: screenshot $shot"
    else
        echo "smoke: (no screenshot taken)"
    fi

    if ! kill -0 "$app" 2>/dev/null; then
        echo "smoke: FAIL: app died after start-up" >&2
        cat "$log" >&2
        exit 1
    fi
    echo "smoke: app still running after start-up"
    stop_app
    trap - EXIT
    exit 0
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac

bin=${NIGHTJAR_TRAY_BIN:-}
if [[ -z "$bin" ]]; then
    # The app's entry point: the tray process, which starts the window process.
    for candidate in "$target_dir/debug/nightjar-tray" "$target_dir/release/nightjar-tray"; do
        if [[ -x "$candidate" ]]; then
            bin=$candidate
            break
        fi
    done
fi
if [[ -z "$bin" || ! -x "$bin" ]]; then
    echo "smoke: FAIL: nightjar-tray binary not found; run: cargo build -p nightjar-tray -p nightjar-desktop" >&2
    exit 1
fi

for tool in dbus-run-session xvfb-run; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "smoke: FAIL: $tool not found; run: scripts/install-deps.sh" >&2
        exit 1
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nightjar-smoke.XXXXXX")
mkdir -p "$work/config" "$work/data" "$work/cache" "$target_dir/screenshots"
# Kept after the run (next to the screenshot) so CI can upload both.
log=$target_dir/screenshots/smoke.log
shot=$target_dir/screenshots/smoke.png
rm -f "$shot" "$log"

# Every process started below inherits this marker, which is how we find
# leftovers afterwards without touching anyone else's processes.
marker="NIGHTJAR_SMOKE_ID=$$-$RANDOM$RANDOM"

leftovers() {
    local pid env
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}
        pid=${pid%/environ}
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        # Unreadable entries (gone, kernel threads, other users) are skipped.
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

echo "smoke: starting $bin"
rc=0
env "$marker" \
    XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_CACHE_HOME="$work/cache" \
    timeout --kill-after=10 $((READY_TIMEOUT_S + 60)) \
    dbus-run-session -- \
    xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
    bash "$root/tests/desktop/smoke.sh" --inner "$bin" "$log" "$shot" </dev/null || rc=$?
if ((rc != 0)); then
    echo "smoke: FAIL (exit $rc)" >&2
    exit 1
fi

# dbus-run-session and xvfb-run tear down their daemons on exit; allow a moment.
pids=""
for _ in $(seq 50); do
    pids=$(leftovers)
    [[ -z "$pids" ]] && break
    sleep 0.1
done
if [[ -n "$pids" ]]; then
    echo "smoke: FAIL: processes left behind:" >&2
    ps -o pid,ppid,comm,args -p "$(echo "$pids" | paste -sd, -)" >&2 || true
    exit 1
fi

echo "desktop smoke: ok"
