#!/usr/bin/env bash
# Desktop app benchmark: release binary size, launch -> "tray ready", idle
# RSS with the window open and closed, idle CPU with the window closed.
#
#   bench/desktop.sh                     build (release) and measure: 7 launches, 600 s idle
#   bench/desktop.sh --idle 60           shorter idle-CPU period (seconds)
#   bench/desktop.sh --launches 15 --settle 30 --open-idle 120 --hidden-idle 120 --no-build
#   NIGHTJAR_TRAY_BIN=path bench/desktop.sh --no-build   (nightjar-desktop next to it)
#
# The app is two programs: nightjar-tray (the entry point: tray, scheduler,
# runs; no GUI toolkit) and nightjar-desktop (the window, a Tauri web view,
# started by the tray while the window is open). "app" below is the tray
# process; "+ window" adds the window process and its WebKit processes.
#
# Runs the app inside a private session bus (dbus-run-session) and X server
# (xvfb-run 1280x800x24) with an unlocked GNOME Keyring, a temp data dir and a
# config with one scheduled job (so the in-app scheduler is armed, as on a
# user's machine). No tray host is running (the tray falls back as on a bare
# X session). Prints each figure next to its target; the JSON goes to
# target/bench/desktop.json.
#
# Targets (issue 6): tray ready < 1 s; idle RSS with the window closed < 60 MiB;
# idle CPU < 0.1 %.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build=true
py_args=()
while (($#)); do
    case "$1" in
        --no-build) build=false ;;
        --launches | --settle | --idle | --open-idle | --hidden-idle) py_args+=("$1" "$2"); shift ;;
        -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "desktop.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

target_dir=${CARGO_TARGET_DIR:-$root/target}
bin=${NIGHTJAR_TRAY_BIN:-$target_dir/release/nightjar-tray}
window_bin=$(dirname "$bin")/nightjar-desktop
"$root/scripts/install-deps.sh"    # Xvfb, D-Bus, GNOME Keyring, WebKitGTK: what the run needs
if $build && [[ -z "${NIGHTJAR_TRAY_BIN:-}" ]]; then
    echo "== cargo build --release -p nightjar-tray -p nightjar-desktop"
    cargo build --release --locked -p nightjar-tray -p nightjar-desktop
fi
[[ -x "$bin" ]] || { echo "desktop.sh: $bin not found (build it, or drop --no-build)" >&2; exit 1; }
[[ -x "$window_bin" ]] || { echo "desktop.sh: $window_bin not found (build it, or drop --no-build)" >&2; exit 1; }

mkdir -p "$target_dir/bench"
out_json=$target_dir/bench/desktop.json
work=$(mktemp -d "${TMPDIR:-/tmp}/nightjar-bench-desktop.XXXXXX")
marker="NIGHTJAR_BENCH_ID=$$-$RANDOM$RANDOM"
leftovers() {
    local pid env
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}; pid=${pid%/environ}
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        if { tr '\0' '\n' <"$env" | grep -qxF "$marker"; } 2>/dev/null; then echo "$pid"; fi
    done
}
cleanup() {
    local pids
    pids=$(leftovers)
    # shellcheck disable=SC2086
    [[ -n "$pids" ]] && kill -KILL $pids 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

size=$(stat -c %s "$bin")
window_size=$(stat -c %s "$window_bin")

mkdir -p "$work/data" "$work/backups" "$work/xdg-data"
cat >"$work/config.toml" <<EOF
# bench/desktop.sh: one scheduled job, so the scheduler is armed but idle
# (no catch-up run of a missed slot at start)
[[job]]
name = "bench"
database = "postgres://postgres@127.0.0.1:1/bench"
destination = "$work/backups"
schedule = "weekly sun 03:00"
catch_up = "skip"
EOF

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
py=${NIGHTJAR_TEST_PYTHON:-/usr/bin/python3}
env "$marker" NO_AT_BRIDGE=1 \
    NIGHTJAR_CONFIG="$work/config.toml" NIGHTJAR_DATA_DIR="$work/data" \
    XDG_DATA_HOME="$work/xdg-data" XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" \
    dbus-run-session -- \
    xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
    bash -c 'eval "$(printf bench | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
             exec "$0" "$@"' \
    "$py" bench/desktop_bench.py "$bin" --json "$out_json" "${py_args[@]}" </dev/null

"$py" - "$out_json" "$size" "$window_size" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); size, window_size = int(sys.argv[2]), int(sys.argv[3])
mib = lambda kib: kib / 1024
def row(name, value, target, ok):
    print(f"  {name:<44} {value:>16}   target {target:<10} {'OK' if ok else 'MISSED'}")
print("\n== results vs targets")
row("launch -> tray ready (median)", f"{r['launch_median_s'] * 1000:.0f} ms", "< 1000 ms", r['launch_median_s'] < 1)
if 'window_shown_median_s' in r:
    row("launch -> window shown (median)", f"{r['window_shown_median_s'] * 1000:.0f} ms", "(info)", True)
row("launch --hidden -> tray ready (median)", f"{r['launch_hidden_median_s'] * 1000:.0f} ms", "< 1000 ms", r['launch_hidden_median_s'] < 1)
row("idle RSS, started --hidden (app)", f"{mib(r['hidden']['app_rss_kib']):.1f} MiB", "< 60 MiB", mib(r['hidden']['app_rss_kib']) < 60)
row("idle PSS, started --hidden (app)", f"{mib(r['hidden']['app_pss_kib']):.1f} MiB", "(info)", True)
if 'app_anon_kib' in r['hidden']:
    row("idle anonymous RSS, started --hidden (app)", f"{mib(r['hidden']['app_anon_kib']):.1f} MiB", "(info)", True)
if 'hidden_cpu' in r:
    h = r['hidden_cpu']
    row(f"idle CPU, started --hidden, {h['seconds']:.0f} s (app)", f"{h['app_pct']:.3f} %", "< 0.1 %", h['app_pct'] < 0.1)
row("idle RSS, window closed (app)", f"{mib(r['closed']['app_rss_kib']):.1f} MiB", "< 60 MiB", mib(r['closed']['app_rss_kib']) < 60)
if 'app_anon_kib' in r['closed']:
    row("idle anonymous RSS, window closed (app)", f"{mib(r['closed']['app_anon_kib']):.1f} MiB", "(info)", True)
row("idle RSS, window closed (app + any children)", f"{mib(r['closed']['all_rss_kib']):.1f} MiB", "(info)", True)
print(f"  processes left under the app with the window closed: {r.get('closed_children') or 'none'}")
row("idle PSS, window closed (app / app+children)", f"{mib(r['closed']['app_pss_kib']):.1f} / {mib(r['closed']['all_pss_kib']):.1f} MiB", "(info)", True)
row("idle RSS, window open (app / + window + WebKit)", f"{mib(r['open']['app_rss_kib']):.1f} / {mib(r['open']['all_rss_kib']):.1f} MiB", "(info)", True)
row("idle PSS, window open (app / + window + WebKit)", f"{mib(r['open']['app_pss_kib']):.1f} / {mib(r['open']['all_pss_kib']):.1f} MiB", "(info)", True)
c = r['closed_cpu']
row(f"idle CPU, window closed, {c['seconds']:.0f} s (app)", f"{c['app_pct']:.3f} %", "< 0.1 %", c['app_pct'] < 0.1)
row(f"idle CPU, window closed, {c['seconds']:.0f} s (app + children)", f"{c['all_pct']:.3f} %", "< 0.1 %", c['all_pct'] < 0.1)
if 'open_cpu' in r:
    o = r['open_cpu']
    row(f"idle CPU, window open, {o['seconds']:.0f} s (app / + window + WebKit)", f"{o['app_pct']:.3f} / {o['all_pct']:.3f} %", "(info)", True)
row("release binary: nightjar-tray", f"{size / 2**20:.1f} MiB", "(info)", True)
row("release binary: nightjar-desktop (window)", f"{window_size / 2**20:.1f} MiB", "(info)", True)
print(f"  launches (ms): {' '.join(f'{t * 1000:.0f}' for t in r['launch_s'])}; --hidden: {' '.join(f'{t * 1000:.0f}' for t in r['launch_hidden_s'])}")
if 'window_shown_s' in r:
    print(f"  window shown (ms): {' '.join(f'{t * 1000:.0f}' for t in r['window_shown_s'])}")
print(f"  load average: start {r['loadavg_start']}, end {r['loadavg_end']}")
EOF
echo "(json: $out_json)"
