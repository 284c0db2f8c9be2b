#!/usr/bin/env bash
# The tray process under Wine: `nightjar-tray.exe --hidden` starts and
# listens on its named pipe, `nightjar-tray.exe --quit` (a second process,
# over that pipe) makes it exit cleanly.
#
#   scripts/windows/check-tray.sh <path/to/nightjar-tray.exe> <WINEPREFIX>
#
# The data folder and config are fresh temporary Z:\ paths. Wine 8 lacks
# ProcessPrng, which Rust's std needs: when no bcryptprimitives.dll is next
# to the exe, it is built there from processprng.c (next to this script)
# with mingw. A missing notification area is fine (the tray logs "no tray
# icon" and runs on). Prints one "ok:" line, or one "FAIL:" sentence and
# exits 1. $WINE overrides /usr/lib/wine/wine64.
set -euo pipefail

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
(($# == 2)) || fail "usage: $0 <nightjar-tray.exe> <WINEPREFIX>"
exe=$1
[[ -f "$exe" ]] || fail "$exe does not exist; cross-build nightjar-tray first."
wine=${WINE:-/usr/lib/wine/wine64}
[[ -x "$wine" ]] || fail "$wine is not there; install wine64."
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exe_dir=$(cd "$(dirname "$exe")" && pwd)
exe="$exe_dir/$(basename "$exe")"
if [[ ! -f "$exe_dir/bcryptprimitives.dll" ]]; then
    x86_64-w64-mingw32-gcc -O2 -shared -o "$exe_dir/bcryptprimitives.dll" "$here/processprng.c" -ladvapi32 ||
        fail "the ProcessPrng shim (bcryptprimitives.dll) could not be built from $here/processprng.c."
fi

work=$(mktemp -d /tmp/nightjar-tray-check.XXXXXX)
pid=
cleanup() {
    local rc=$?
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
    fi
    if ((rc == 0)); then rm -rf "$work"; else echo "(left for inspection: $work)" >&2; fi
}
trap cleanup EXIT

# Z: is the Linux root in every Wine prefix.
winpath() { printf 'Z:%s' "${1//\//\\}"; }
mkdir -p "$work/data"
export WINEPREFIX="$2" WINEDEBUG=-all WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree,mshtml="
export NIGHTJAR_DATA_DIR NIGHTJAR_CONFIG NIGHTJAR_KEYRING=off RUST_LOG=info
NIGHTJAR_DATA_DIR=$(winpath "$work/data")
NIGHTJAR_CONFIG=$(winpath "$work/config.toml")
log="$work/tray.log"
# What the tray logged: its stderr and its log files in the data folder.
logged() { cat "$log" "$work"/data/logs/* 2>/dev/null || true; }
# Whether it logged a line matching the extended regex $1.
said() { grep -qsE "$1" "$log" "$work"/data/logs/*; }

# Wine's own start-up (wineserver, its desktop process with the
# notification area) happens with the first program of the prefix; do it
# with a program of Wine's, so the tray process is not the one racing it.
"$wine" cmd.exe /c exit 0 >/dev/null 2>&1 || true

start_tray() {
    "$wine" "$exe" --hidden >"$log" 2>&1 &
    pid=$!
}
start_tray
started_again=false
for ((i = 0; i < 1200; i++)); do
    said "listening for the window" && break
    if ! kill -0 "$pid" 2>/dev/null; then
        # Gone without a word: Wine did not run the program at all (seen
        # once under load, with an empty log). Once more; a program that
        # ran and failed has logged why, and that fails at once.
        if [[ "$started_again" == false && -z "$(logged)" ]]; then
            echo "nightjar-tray.exe --hidden: Wine exited without running it; starting it again" >&2
            started_again=true
            start_tray
            continue
        fi
        fail "nightjar-tray.exe --hidden exited before listening on its pipe: $(logged | tail -n 3 | tr '\n' ' ')"
    fi
    sleep 0.1
done
said "listening for the window" || fail "nightjar-tray.exe --hidden did not listen on its pipe within 120 s."
# Then the icon: made, or its absence logged (no display or notification area).
for ((i = 0; i < 300; i++)); do
    said "tray ready|no tray icon" && break
    sleep 0.1
done
if said "tray ready"; then
    icon="tray icon shown"
elif said "no tray icon"; then
    icon="no tray icon, logged; the schedules run"
else
    fail "nightjar-tray.exe neither showed its tray icon nor logged why not within 30 s."
fi

timeout 60 "$wine" "$exe" --quit >"$work/quit.log" 2>&1 || fail "nightjar-tray.exe --quit failed or hung (status $?): $(tail -n 3 "$work/quit.log" | tr '\n' ' ')"
grep -q "not running" "$work/quit.log" && fail "nightjar-tray.exe --quit did not reach the running tray process over its named pipe."
for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "nightjar-tray.exe did not exit within 30 s of --quit."
status=0
wait "$pid" || status=$?
pid=
((status == 0)) || fail "nightjar-tray.exe exited with status $status after --quit: $(logged | tail -n 3 | tr '\n' ' ')"
said "Nightjar stopped" || fail "nightjar-tray.exe exited after --quit without stopping cleanly: $(logged | tail -n 3 | tr '\n' ' ')"
echo "ok: nightjar-tray.exe --hidden listened on its named pipe ($icon) and --quit stopped it"
