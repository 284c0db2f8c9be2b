#!/usr/bin/env bash
# The Windows lane, on this Linux machine (README "Windows"):
#   1. installs Debian's Windows toolchain if missing: rustc-web, cargo-web,
#      rust-web-src (the standard library's source), gcc-mingw-w64-x86-64
#      (linker and C compiler), wine64 and nsis (makensis)
#   2. cross-builds nightjar.exe, nightjar-tray.exe and nightjar-desktop.exe
#      for x86_64-pc-windows-gnu with Debian's
#      rustc and a standard library built from that source (nothing is
#      downloaded but crates), and the test stand-ins with mingw
#   3. runs the Windows programs under Wine against real files: backups made
#      by the Linux build, a throwaway PostgreSQL for them, the in-workspace
#      Graph fake, and a stand-in pg_dump.exe (Wine starts Linux programs but
#      cannot wait for them, so the real pg_dump cannot be the child there)
#   4. builds the installer dist/nightjar-setup-<version>.exe with Debian's
#      makensis (packaging/windows/nightjar.nsi) from those programs, and
#      installs and uninstalls it under Wine
#
#   scripts/check-windows.sh            everything
#   scripts/check-windows.sh --no-build  reuse the last build (target/windows)
#
# Needs the Linux build of the workspace (target/debug/nightjar and
# nightjar-fake-graph); scripts/test.sh builds them first. Never prompts.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build=true
for arg in "$@"; do
    case "$arg" in
        --no-build) build=false ;;
        -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "check-windows: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

step() { printf '\n--> %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

target=x86_64-pc-windows-gnu
out="$root/target/windows"
exe_dir="$out/$target/debug"

# --- 1. toolchain -----------------------------------------------------------
step "Windows toolchain (Debian packages)"
wanted=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine64 nsis)
missing=()
for pkg in "${wanted[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]} > 0)); then
    if ((EUID == 0)); then as_root=(env); else as_root=(sudo env); fi
    echo "installing ${missing[*]}"
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
else
    ok "${wanted[*]} installed"
fi
wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver64
[[ -x "$wine" ]] || fail "wine64 is installed but $wine is missing"

# --- 2. cross-build ---------------------------------------------------------
# Debian's rustc (not the rustup one on PATH) with its own std source; the
# standard library is built for the target (-Zbuild-std, allowed on a
# stable compiler by RUSTC_BOOTSTRAP). mingw links.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_DIR="$out"
# No debug info: it would make the three programs ~1 GB and the target
# folder several GB, and slow the link, for symbols nobody reads here.
export CARGO_PROFILE_DEV_DEBUG=0
packages=(-p nightjar-cli -p nightjar-tray -p nightjar-desktop)
if $build; then
    step "cross-build for $target: ${packages[*]}"
    start=$(date +%s)
    /usr/bin/cargo build --locked -Zbuild-std=std,panic_abort --target "$target" "${packages[@]}"
    ok "cross-built in $(($(date +%s) - start)) s"
fi
for exe in nightjar.exe nightjar-tray.exe nightjar-desktop.exe; do
    [[ -f "$exe_dir/$exe" ]] || fail "no $exe_dir/$exe (run without --no-build)"
done

work=$(mktemp -d /tmp/nightjar-windows.XXXXXX)
pg_ctl=""
pgdata=""
fake_pid=""
cleanup() {
    local rc=$?
    [[ -n "$fake_pid" ]] && kill "$fake_pid" 2>/dev/null || true
    if [[ -n "$pg_ctl" && -d "$pgdata" ]]; then
        "$pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
    fi
    WINEPREFIX="$work/prefix" "$wineserver" -k 2>/dev/null || true
    if ((rc == 0)); then rm -rf "$work"; else echo "(left for inspection: $work)" >&2; fi
}
trap cleanup EXIT

step "test stand-ins (mingw)"
bin="$work/bin"
tools="$work/tools"
mkdir -p "$bin" "$tools"
cp "$exe_dir/nightjar.exe" "$exe_dir/nightjar-tray.exe" "$exe_dir/nightjar-desktop.exe" "$bin/"
# The window links the WebView2 loader dynamically (windows-gnu); the build
# puts the DLL beside the programs.
cp "$exe_dir/WebView2Loader.dll" "$bin/"
# Rust's std needs bcryptprimitives.dll's ProcessPrng, which Wine 8 lacks.
x86_64-w64-mingw32-gcc -O2 -shared -o "$bin/bcryptprimitives.dll" scripts/windows/processprng.c -ladvapi32
x86_64-w64-mingw32-gcc -O2 -Wall -o "$tools/pg_dump.exe" scripts/windows/standin.c
cp "$tools/pg_dump.exe" "$tools/psql.exe"
ok "bcryptprimitives.dll (ProcessPrng), pg_dump.exe and psql.exe stand-ins"

# --- 3. Wine ----------------------------------------------------------------
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree,mshtml="
step "Wine prefix"
start=$(date +%s)
"$wine" wineboot --init >/dev/null 2>&1 || true
ok "wineboot in $(($(date +%s) - start)) s ($("$wine" --version 2>/dev/null || echo wine))"

# Z: is the Linux root in every Wine prefix.
winpath() { printf 'Z:%s' "${1//\//\\}"; }
data="$work/data"
config="$work/config.toml"
mkdir -p "$data"
# The Windows program's own data folder and config, by environment (as a
# user could); the history and logs land there.
export NIGHTJAR_DATA_DIR NIGHTJAR_CONFIG
NIGHTJAR_DATA_DIR=$(winpath "$data")
NIGHTJAR_CONFIG=$(winpath "$config")
export WINEPATH
WINEPATH=$(winpath "$tools")
nj() { "$wine" "$bin/nightjar.exe" "$@"; }

step "nightjar.exe --version"
linux_nj="$root/target/debug/nightjar"
[[ -x "$linux_nj" ]] || fail "no Linux build at $linux_nj (cargo build -p nightjar-cli first)"
v_win=$(nj --version | tr -d '\r')
v_linux=$("$linux_nj" --version)
[[ "$v_win" == "$v_linux" ]] || fail "nightjar.exe --version said '$v_win', the Linux build '$v_linux'"
ok "$v_win"

# --- backups made by the Linux build ----------------------------------------
step "backups made by the Linux build, from a throwaway PostgreSQL"
pgbin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[[ -x "$pgbin/initdb" ]] || fail "PostgreSQL's initdb was not found under /usr/lib/postgresql/*/bin (scripts/install-deps.sh installs it)"
pg_ctl="$pgbin/pg_ctl"
pgdir="$work/pg"
pgdata="$pgdir/data"
mkdir -p "$pgdir"
as_pg=()
if ((EUID == 0)); then
    # initdb refuses to run as root: the server runs as the postgres user.
    chmod 711 "$work"
    chown postgres "$pgdir"
    as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$pgbin/initdb" -U postgres -A trust -E UTF8 --locale=C --no-sync -D "$pgdata" >/dev/null
"${as_pg[@]}" "$pg_ctl" -D "$pgdata" -w -l "$pgdir/log" \
    -o "-c listen_addresses='' -c unix_socket_directories='$pgdir' -c fsync=off" start >/dev/null
"$pgbin/psql" -q -h "$pgdir" -U postgres -c "CREATE DATABASE winlane" postgres
"$pgbin/psql" -q -h "$pgdir" -U postgres winlane \
    -c "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 20000) g"
linux_backups="$work/linux-backups"
# Plain format only: checking a custom-format archive runs pg_restore --list,
# which has no Windows build here.
formats=("--format plain --compress zstd" "--format plain --compress none" "--format plain --compress gzip")
for f in "${formats[@]}"; do
    # shellcheck disable=SC2086 # $f is two flags
    NIGHTJAR_DATA_DIR="$work/linux-data" NIGHTJAR_CONFIG="$work/linux-config.toml" NIGHTJAR_KEYRING=off NIGHTJAR_PG_BIN="$pgbin" \
        "$linux_nj" backup --db "postgres://postgres@/winlane?host=$pgdir" --dest "$linux_backups" $f >/dev/null
    sleep 1.1 # file names carry the second
done
mapfile -t made < <(cd "$linux_backups" && ls -1 | grep -v '\.json$' | sort)
((${#made[@]} == 3)) || fail "the Linux build made ${#made[@]} backups, expected 3: ${made[*]}"
ok "3 backups: ${made[*]}"

step "list, verify and prune --dry-run of them by nightjar.exe"
listing=$(nj list --dest "$(winpath "$linux_backups")" --json | tr -d '\r')
for m in "${made[@]}"; do
    grep -qF "\"$m\"" <<<"$listing" || fail "nightjar.exe list does not show $m: $listing"
done
ok "list shows the 3 backups"
for m in "${made[@]}"; do
    nj verify "$(winpath "$linux_backups/$m")" >"$work/verify.out" 2>&1 || { cat "$work/verify.out" >&2; fail "nightjar.exe verify $m failed"; }
done
ok "verify passes on each (checksum, full decompression, format)"
# A damaged copy is caught.
mkdir -p "$work/damaged"
cp "$linux_backups/${made[0]}" "$work/damaged/"
printf 'X' | dd of="$work/damaged/${made[0]}" bs=1 seek=200 conv=notrunc status=none
if nj verify "$(winpath "$work/damaged/${made[0]}")" >"$work/verify.out" 2>&1; then
    fail "nightjar.exe verify passed a damaged file"
fi
ok "verify fails a damaged copy: $(grep -v '^\s*$' "$work/verify.out" | tr -d '\r' | tail -n 1)"
before=$(ls -1 "$linux_backups" | wc -l)
nj prune --dest "$(winpath "$linux_backups")" --keep-last 1 --dry-run --json >"$work/prune.json"
after=$(ls -1 "$linux_backups" | wc -l)
((before == after)) || fail "prune --dry-run deleted files ($before before, $after after)"
python3 - "$work/prune.json" "${made[@]}" <<'PY' || fail "prune --dry-run planned something else: $(cat "$work/prune.json")"
import json, sys
plan = json.load(open(sys.argv[1]))[0]["plan"]["decisions"]
drop = sorted(d["name"] for d in plan if not d["keep"])
keep = sorted(d["name"] for d in plan if d["keep"])
made = sorted(sys.argv[2:])
assert drop == made[:2] and keep == made[2:], (drop, keep)
PY
ok "prune --dry-run names the 2 older backups and deletes nothing"
cp -r "$linux_backups" "$work/prune-copy"
nj prune --dest "$(winpath "$work/prune-copy")" --keep-last 1 >/dev/null
[[ -f "$work/prune-copy/${made[2]}" && ! -e "$work/prune-copy/${made[0]}" && ! -e "$work/prune-copy/${made[1]}" ]] ||
    fail "prune --keep-last 1 on a copy left: $(ls "$work/prune-copy")"
ok "prune --keep-last 1 (on a copy) deletes the 2 older ones and keeps the newest"

# --- backups by nightjar.exe through the stand-in pg_dump.exe ----------------
win_backups="$work/win-backups"
write_config() {
    cat >"$config" <<TOML
[[job]]
name = "standin"
database = "postgres://nightjar@127.0.0.1:5432/standin"
destination = '$(winpath "$win_backups")'
schedule = "daily 03:00"
timezone = "UTC"
tool_dir = '$(winpath "$tools")'

[job.retention]
keep_last = 5
$1
TOML
}
write_config ""

step "a password stored in and read back from the Windows credential store"
printf 's3cret-for-standin\n' | nj password set --job standin >/dev/null 2>&1
grep -rqF 's3cret-for-standin' "$config" "$data" && fail "the password is in the config or the data folder in plain text"
ok "password set --job standin"

step "nightjar.exe backup through the stand-in pg_dump.exe"
# The stand-in fails like pg_dump on a wrong password: the backup passes
# only if the password reached it from the credential store.
export STANDIN_PASSWORD=s3cret-for-standin
nj backup --job standin --json >"$work/backup.json" 2>"$work/backup.err" || { cat "$work/backup.err" "$work/backup.json" >&2; fail "nightjar.exe backup failed"; }
mapfile -t wb < <(cd "$win_backups" && ls -1 | grep -v '\.json$')
((${#wb[@]} == 1)) || fail "expected one backup in $win_backups, found: $(ls -A "$win_backups")"
ok "backup wrote ${wb[0]} ($(stat -c %s "$win_backups/${wb[0]}") bytes)"
zstd -dc "$win_backups/${wb[0]}" | grep -q -- '-- PostgreSQL database dump complete' ||
    fail "the backup does not hold the stand-in's whole dump"
ok "it decompresses on Linux to the stand-in's whole dump"
nj verify "$(winpath "$win_backups/${wb[0]}")" >/dev/null || fail "nightjar.exe verify of its own backup failed"
ok "nightjar.exe verifies its own backup"
export STANDIN_PASSWORD=another-password
if nj backup --job standin >"$work/backup.out" 2>&1; then fail "a backup with the wrong stored password succeeded"; fi
grep -qi "password" "$work/backup.out" || fail "a rejected password was not reported as such: $(cat "$work/backup.out")"
ok "a password the server rejects is reported: $(grep -i password "$work/backup.out" | tr -d '\r' | head -n 1)"
export STANDIN_PASSWORD=s3cret-for-standin

step "a cancelled backup (Ctrl-C) leaves no .partial and no pg_dump.exe"
count_backups() { find "$win_backups" -maxdepth 1 -type f ! -name '*.json' | wc -l; }
standin_running() { pgrep -f 'tools.pg_dump\.exe' >/dev/null; }
hang_until_started() {
    local marker=$1 i
    for i in $(seq 1 300); do
        [[ -e "$marker" ]] && return 0
        sleep 0.1
    done
    fail "the stand-in pg_dump.exe did not start within 30 s"
}
n_before=$(count_backups)
# Started directly (not through the nj function) so that $! is the Windows
# process itself: Wine turns a SIGINT into the console's Ctrl-C event.
STANDIN_HANG="$(winpath "$work/hang1")" "$wine" "$bin/nightjar.exe" backup --job standin >"$work/cancel.out" 2>&1 &
nj_pid=$!
hang_until_started "$work/hang1"
ls "$win_backups"/*.partial >/dev/null 2>&1 || fail "no .partial while the dump runs (the check would prove nothing)"
kill -INT "$nj_pid"
rc=0
wait "$nj_pid" || rc=$?
((rc != 0)) || fail "a cancelled backup exited 0"
ls "$win_backups"/*.partial >/dev/null 2>&1 && fail "a .partial was left: $(ls "$win_backups")"
(($(count_backups) == n_before)) || fail "a cancelled backup left a file: $(ls "$win_backups")"
for _ in $(seq 1 50); do standin_running || break; sleep 0.1; done
standin_running && fail "pg_dump.exe still runs after the cancel"
ok "exit $rc, no .partial, no new file, no pg_dump.exe: $(grep -v '^\s*$' "$work/cancel.out" | tr -d '\r' | tail -n 1)"

step "nightjar.exe killed outright: the job object ends pg_dump.exe"
STANDIN_HANG="$(winpath "$work/hang2")" "$wine" "$bin/nightjar.exe" backup --job standin >/dev/null 2>&1 &
nj_pid=$!
hang_until_started "$work/hang2"
kill -KILL "$nj_pid"
wait "$nj_pid" 2>/dev/null || true
for _ in $(seq 1 100); do standin_running || break; sleep 0.1; done
standin_running && fail "pg_dump.exe outlived nightjar.exe (no job object kill-on-close)"
ok "no pg_dump.exe left"
# The next run clears what the killed one left (as on Linux).
nj backup --job standin >/dev/null || fail "the backup after a killed one failed"
ls "$win_backups"/*.partial >/dev/null 2>&1 && fail "the .partial of the killed run is still there after the next run"
ok "the next backup succeeds and no .partial remains"

step "nightjar.exe history"
nj history --job standin --json >"$work/history.json"
python3 - "$work/history.json" <<'PY' || fail "history is not what the runs were: $(cat "$work/history.json")"
import json, sys
runs = json.load(open(sys.argv[1]))
runs = runs.get("runs", runs) if isinstance(runs, dict) else runs
outcomes = sorted(r.get("outcome") or r.get("status") for r in runs)
print("history:", outcomes)
assert len(runs) >= 4, runs
assert sum(1 for o in outcomes if o == "success") >= 2, outcomes
assert any(o in ("cancelled", "interrupted") for o in outcomes), outcomes
assert any(o == "failed" for o in outcomes), outcomes
PY
ok "history has the good runs, the rejected password, the cancelled and the killed run"
nj password delete --job standin >/dev/null 2>&1
ok "password delete --job standin"

# --- where Windows users have things ---------------------------------------
step "pg_dump.exe found under Program Files, and a clear sentence when it is not there"
write_config "" # the stand-in job
sed -i '/^tool_dir = /d' "$config"
unset WINEPATH
if nj backup --job standin >"$work/notool.out" 2>&1; then fail "a backup ran with no pg_dump.exe anywhere"; fi
grep -q "postgresql.org" "$work/notool.out" || fail "the missing pg_dump.exe is not explained for Windows: $(cat "$work/notool.out")"
ok "no pg_dump.exe: $(tr -d '\r' <"$work/notool.out" | grep -v '^\s*$' | tail -n 1)"
pf="$WINEPREFIX/drive_c/Program Files/PostgreSQL/16/bin"
mkdir -p "$pf"
cp "$tools/pg_dump.exe" "$tools/psql.exe" "$pf/"
printf 's3cret-for-standin\n' | nj password set --job standin >/dev/null 2>&1
n_before=$(count_backups)
STANDIN_PASSWORD=s3cret-for-standin nj backup --job standin >"$work/pf.out" 2>&1 || { cat "$work/pf.out" >&2; fail "the backup with pg_dump.exe under Program Files failed"; }
(($(count_backups) == n_before + 1)) || fail "no new backup with pg_dump.exe under Program Files"
nj password delete --job standin >/dev/null 2>&1
ok "a job without tool_dir uses C:\\Program Files\\PostgreSQL\\16\\bin\\pg_dump.exe"
export WINEPATH
WINEPATH=$(winpath "$tools")

step "the OneDrive folder from the registry"
od_folder="$work/OneDrive - Contoso"
mkdir -p "$od_folder"
"$wine" reg add 'HKCU\Software\Microsoft\OneDrive\Accounts\Business1' /v UserFolder /t REG_SZ /d "$(winpath "$od_folder")" /f >/dev/null 2>&1 ||
    fail "could not write the OneDrive account key into Wine's registry"
nj onedrive folders >"$work/folders.out" || fail "onedrive folders failed"
grep -qF "OneDrive - Contoso" "$work/folders.out" || fail "onedrive folders does not show the registry's UserFolder: $(cat "$work/folders.out")"
ok "onedrive folders: $(tr -d '\r' <"$work/folders.out" | grep -F 'Contoso')"

# --- OneDrive against the in-workspace Graph fake ---------------------------
step "OneDrive: sign-in, upload, listing and download against the Graph fake"
fake="$root/target/debug/nightjar-fake-graph"
[[ -x "$fake" ]] || fail "no $fake (cargo build -p nightjar-onedrive-fake first)"
"$fake" >"$work/fake.out" 2>&1 &
fake_pid=$!
for _ in $(seq 1 100); do grep -q '^graph_base_url' "$work/fake.out" 2>/dev/null && break; sleep 0.1; done
login_base=$(sed -n 's/^login_base_url = "\(.*\)"$/\1/p' "$work/fake.out")
graph_base=$(sed -n 's/^graph_base_url = "\(.*\)"$/\1/p' "$work/fake.out")
[[ -n "$login_base" && -n "$graph_base" ]] || fail "the Graph fake did not start: $(cat "$work/fake.out")"
write_config "
[[job]]
name = \"cloud\"
database = \"postgres://nightjar@127.0.0.1:5432/standin\"
destination = \"onedrive:/Backups/cloud\"
schedule = \"daily 04:00\"
timezone = \"UTC\"
tool_dir = '$(winpath "$tools")'

[onedrive]
login_base_url = \"$login_base\"
graph_base_url = \"$graph_base\"
"
unset STANDIN_PASSWORD
nj onedrive login --device-code >"$work/login.out" 2>&1 || { cat "$work/login.out" >&2; fail "onedrive login --device-code failed"; }
ok "$(grep -i 'signed in' "$work/login.out" | tr -d '\r' | head -n 1)"
nj onedrive whoami >"$work/whoami.out" || fail "onedrive whoami failed after the sign-in"
ok "whoami: $(tr -d '\r' <"$work/whoami.out" | head -n 1) (the refresh token came back from the credential store)"
nj backup --job cloud >"$work/cloud.out" 2>&1 || { cat "$work/cloud.out" >&2; fail "a backup to onedrive: failed"; }
ok "backup --job cloud uploaded"
nj list --job cloud --json >"$work/cloud-list.json" || fail "list --job cloud failed"
cloud_file=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d.get("backups", d) if isinstance(d, dict) else d; print(d[0]["name"])' "$work/cloud-list.json") ||
    fail "list --job cloud shows no backup: $(cat "$work/cloud-list.json")"
ok "list --job cloud shows $cloud_file"
nj verify "onedrive:/Backups/cloud/$cloud_file" >"$work/cloud-verify.out" 2>&1 || { cat "$work/cloud-verify.out" >&2; fail "verify of the OneDrive copy (download) failed"; }
ok "verify downloads $cloud_file from the fake and checks it"
nj onedrive logout >/dev/null
nj onedrive whoami >/dev/null 2>&1 && fail "whoami still signed in after logout"
ok "logout forgets the sign-in"

# --- the desktop app's processes --------------------------------------------
step "the tray process: --hidden starts it on its named pipe, --quit stops it"
unset NIGHTJAR_DATA_DIR NIGHTJAR_CONFIG
# Under a virtual X display when there is one to start, so Wine has a
# notification area and the icon is really made.
if command -v xvfb-run >/dev/null 2>&1 && [[ -z "${DISPLAY:-}" ]]; then
    # Wine's notification area belongs to its desktop process, started by
    # the first program: stop this prefix's Wine so it starts again there.
    "$wineserver" -k 2>/dev/null || true
    xvfb-run -a scripts/windows/check-tray.sh "$bin/nightjar-tray.exe" "$WINEPREFIX"
    "$wineserver" -k 2>/dev/null || true
else
    scripts/windows/check-tray.sh "$bin/nightjar-tray.exe" "$WINEPREFIX"
fi

step "start at login: nightjar-desktop.exe --hidden starts the tray process and returns"
tray_data="$work/tray-data"
mkdir -p "$tray_data"
export NIGHTJAR_DATA_DIR NIGHTJAR_CONFIG
NIGHTJAR_DATA_DIR=$(winpath "$tray_data")
NIGHTJAR_CONFIG=$(winpath "$work/tray-config.toml")
timeout 120 "$wine" "$bin/nightjar-desktop.exe" --hidden >"$work/desktop.out" 2>&1 ||
    fail "nightjar-desktop.exe --hidden failed: $(tr -d '\r' <"$work/desktop.out" | tail -n 3)"
pgrep -f 'nightjar-tray\.exe' >/dev/null || fail "nightjar-desktop.exe --hidden returned but no nightjar-tray.exe runs"
# At once, as a quick quit after a start at login would: the tray process
# may still be making its pipe, and --quit must wait for it, not say "not
# running" (its single-instance lock shows it runs).
timeout 60 "$wine" "$bin/nightjar-tray.exe" --quit >"$work/quit.out" 2>&1 || fail "nightjar-tray.exe --quit failed: $(tr -d '\r' <"$work/quit.out" | tail -n 3)"
grep -q "not running" "$work/quit.out" && fail "nightjar-tray.exe --quit said it is not running while it was starting"
for _ in $(seq 1 300); do pgrep -f 'nightjar-tray\.exe' >/dev/null || break; sleep 0.1; done
pgrep -f 'nightjar-tray\.exe' >/dev/null && fail "nightjar-tray.exe still runs 30 s after --quit"
ok "nightjar-desktop.exe --hidden started nightjar-tray.exe; --quit stopped it"

# --- the installer (NSIS) ----------------------------------------------------
step "the installer: makensis, then setup.exe /S and uninstall.exe /S"
version=${v_linux#nightjar }
mkdir -p "$root/dist"
setup="$root/dist/nightjar-setup-$version.exe"
rm -f "$setup"
# The debug programs without their symbol tables, and no compression:
# LZMA (the release default) takes minutes on them, this a second or two.
payload="$work/payload"
mkdir -p "$payload"
for exe in nightjar.exe nightjar-tray.exe nightjar-desktop.exe; do
    x86_64-w64-mingw32-strip -o "$payload/$exe" "$exe_dir/$exe"
done
cp "$exe_dir/WebView2Loader.dll" "$payload/"
start=$(date +%s)
makensis -V2 -DNOCOMPRESS -DVERSION="$version" -DSRCDIR="$payload" -DOUTFILE="$setup" packaging/windows/nightjar.nsi ||
    fail "makensis could not build the installer"
ok "$(basename "$setup") ($(du -h "$setup" | cut -f1), uncompressed) from the cross-built programs in $(($(date +%s) - start)) s"
unset NIGHTJAR_DATA_DIR NIGHTJAR_CONFIG
# No menu entries in this machine's desktop for the Wine shortcuts.
export WINEDLLOVERRIDES="$WINEDLLOVERRIDES;winemenubuilder.exe=d"
# The installed programs run from their own folder: give Wine the
# ProcessPrng shim system-wide (see above).
cp "$bin/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
winvar() { "$wine" cmd /c echo "%$1%" 2>/dev/null | tr -d '\r'; }
unixpath() { "$wine" winepath -u "$1" 2>/dev/null | tr -d '\r'; }
appdata=$(unixpath "$(winvar APPDATA)")
localappdata=$(unixpath "$(winvar LOCALAPPDATA)")
profile=$(unixpath "$(winvar USERPROFILE)")
[[ -d "$appdata" && -d "$localappdata" && -d "$profile" ]] || fail "could not find the Wine user's folders ($appdata, $localappdata, $profile)"
appdata=${appdata%/} localappdata=${localappdata%/} profile=${profile%/}
instdir="$localappdata/Programs/Nightjar"
shortcut="$appdata/Microsoft/Windows/Start Menu/Programs/Nightjar.lnk"
# The user's things where Nightjar keeps them (directories' ProjectDirs:
# %APPDATA%\Nightjar\nightjar\{config,data}) and a backup of theirs.
mkdir -p "$appdata/Nightjar/nightjar/config" "$appdata/Nightjar/nightjar/data/logs" "$profile/Backups/shop"
printf '[[job]]\nname = "shop"\n' >"$appdata/Nightjar/nightjar/config/config.toml"
head -c 4096 /dev/urandom >"$appdata/Nightjar/nightjar/data/history.sqlite3"
printf 'a log line\n' >"$appdata/Nightjar/nightjar/data/logs/nightjar.log"
cp "$win_backups/${wb[0]}" "$profile/Backups/shop/"
user_files=("$appdata/Nightjar/nightjar/config/config.toml" "$appdata/Nightjar/nightjar/data/history.sqlite3"
    "$appdata/Nightjar/nightjar/data/logs/nightjar.log" "$profile/Backups/shop/${wb[0]}")
sha256sum "${user_files[@]}" >"$work/user-files.sums"

# fixme+shell: Wine's shortcut property store is a stub that logs the call.
WINEDEBUG=fixme+shell timeout 120 "$wine" "$setup" /S >"$work/setup.out" 2>&1 || fail "setup.exe /S failed: $(tr -d '\r' <"$work/setup.out" | tail -n 3)"
for f in nightjar.exe nightjar-tray.exe nightjar-desktop.exe WebView2Loader.dll uninstall.exe; do
    [[ -f "$instdir/$f" ]] || fail "setup.exe /S did not install $f into $instdir"
done
cmp -s "$instdir/nightjar.exe" "$payload/nightjar.exe" || fail "the installed nightjar.exe is not the one built"
[[ -f "$shortcut" ]] || fail "no Start-menu shortcut at $shortcut"
# Toasts need the AppUserModelID on the shortcut. Wine 8 accepts the value
# but does not store it (its IPropertyStore::SetValue is a stub): there,
# the installer's call reaching it is what can be checked.
if python3 -c 'import sys; sys.exit(0 if "app.nightjar.desktop".encode("utf-16-le") in open(sys.argv[1], "rb").read() else 1)' "$shortcut"; then
    aumid="with the AppUserModelID app.nightjar.desktop"
elif grep -q 'propertystore_SetValue' "$work/setup.out"; then
    aumid="AppUserModelID set; Wine does not store it"
else
    fail "the installer did not set the AppUserModelID on the shortcut: $(tr -d '\r' <"$work/setup.out" | tail -n 3)"
fi
run_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Run'
uninstall_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\Nightjar'
run_value=$("$wine" reg query "$run_key" /v Nightjar 2>/dev/null | tr -d '\r' | grep -i 'Nightjar') || fail "no Run value Nightjar (start at login)"
grep -qi 'Programs\\Nightjar\\nightjar-desktop.exe" --hidden' <<<"$run_value" || fail "the Run value does not start nightjar-desktop.exe --hidden: $run_value"
"$wine" reg query "$uninstall_key" /v DisplayVersion 2>/dev/null | tr -d '\r' | grep -qF "$version" ||
    fail "no Add/Remove Programs entry with version $version"
v_installed=$("$wine" "$instdir/nightjar.exe" --version 2>/dev/null | tr -d '\r')
[[ "$v_installed" == "$v_linux" ]] || fail "the installed nightjar.exe says '$v_installed', expected '$v_linux'"
ok "installed per user into %LOCALAPPDATA%\\Programs\\Nightjar; Start-menu shortcut ($aumid); Run value $(sed 's/.*REG_SZ[[:space:]]*//' <<<"$run_value"); Add/Remove Programs entry; $v_installed"

# The uninstaller copies itself to %TEMP% and returns at once: wait for the
# copy to finish its work.
timeout 60 "$wine" "$instdir/uninstall.exe" /S >"$work/uninstall.out" 2>&1 || fail "uninstall.exe /S failed: $(tr -d '\r' <"$work/uninstall.out" | tail -n 3)"
for _ in $(seq 1 300); do [[ -e "$instdir" ]] || break; sleep 0.1; done
[[ -e "$instdir" ]] && fail "the uninstaller left $instdir: $(ls -A "$instdir")"
[[ -e "$shortcut" ]] && fail "the uninstaller left the Start-menu shortcut"
"$wine" reg query "$run_key" /v Nightjar >/dev/null 2>&1 && fail "the uninstaller left the Run value (start at login)"
"$wine" reg query "$uninstall_key" >/dev/null 2>&1 && fail "the uninstaller left the Add/Remove Programs entry"
sha256sum -c --quiet "$work/user-files.sums" || fail "the uninstaller changed or removed the user's config, history, logs or backups"
ok "uninstall.exe /S removed the programs, the shortcut, the Run value and its entry; the config, history, logs and backups stay"

printf '\nWindows checks passed\n'
