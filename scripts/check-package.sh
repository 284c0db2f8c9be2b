#!/usr/bin/env bash
# Installs dist/nightjar_<version>_<arch>.deb on this machine with apt, checks
# what it installed, runs the installed programs as a user with a home of
# their own (`nightjar --version`, `nightjar status`, `nightjar-tray --hidden`
# under a private session bus, then `nightjar-tray --quit`), removes and
# purges the package, and checks that the user's config, data and backups
# are still there and the programs are gone.
#
#   scripts/check-package.sh            dist/nightjar_<version>_<arch>.deb (scripts/package.sh)
#   scripts/check-package.sh FILE.deb
#
# For CI machines and throwaway ones: it installs and removes a system
# package. It refuses to run when a nightjar package is already installed,
# installs no recommended packages, and purges the package on any failure.
# Runs as root, or as a user with sudo (only apt-get is run through sudo).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n--> %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

version=$(cargo metadata --locked --no-deps --format-version 1 | python3 -c '
import json, sys
print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "nightjar-cli"))')

case "${1:-}" in
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") deb="dist/nightjar_${version}_$(dpkg --print-architecture).deb" ;;
    *) deb=$1 ;;
esac
[[ -f "$deb" ]] || fail "no $deb; run scripts/package.sh first."
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")

if ((EUID == 0)); then
    as_root=(env)
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo env)
else
    fail "installing a package needs root; run as root or with sudo available."
fi
apt_env=(DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a)
apt_get() { "${as_root[@]}" "${apt_env[@]}" apt-get -y -q "$@" </dev/null; }
dpkg_purge() { "${as_root[@]}" dpkg --purge nightjar </dev/null; }
installed() { [[ "$(dpkg-query -W -f='${Status}' nightjar 2>/dev/null || true)" == "install ok installed" ]]; }
known() { dpkg-query -W -f='${Status}' nightjar >/dev/null 2>&1 && [[ "$(dpkg-query -W -f='${Status}' nightjar)" != *not-installed* ]]; }

known && fail "a nightjar package is already on this machine ($(dpkg-query -W -f='${Version} ${Status}' nightjar)); remove it first (apt-get remove nightjar) or use a throwaway machine."

work=$(mktemp -d /tmp/nightjar-package.XXXXXX)
tray_pid=""
ours=false
cleanup() {
    local rc=$?
    [[ -n "$tray_pid" ]] && kill "$tray_pid" 2>/dev/null || true
    if $ours && known; then
        echo "(purging the nightjar package this check installed)" >&2
        dpkg_purge >/dev/null || echo "could not purge nightjar: run dpkg --purge nightjar" >&2
    fi
    if ((rc == 0)); then rm -rf "$work"; else echo "(left for inspection: $work)" >&2; fi
}
trap cleanup EXIT

# --- the package's fields ---------------------------------------------------
step "the package: $(basename "$deb")"
[[ "$(dpkg-deb -f "$deb" Package)" == nightjar ]] || fail "the package is not named nightjar"
[[ "$(dpkg-deb -f "$deb" Version)" == "$version" ]] || fail "the package's version is $(dpkg-deb -f "$deb" Version), the workspace's $version"
depends=$(dpkg-deb -f "$deb" Depends)
recommends=$(dpkg-deb -f "$deb" Recommends)
for d in libwebkit2gtk-4.1-0 libgtk-3-0 libc6; do
    grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
grep -q postgresql-client <<<"$recommends" || fail "Recommends lacks postgresql-client: $recommends"
grep -q postgresql <<<"$depends" && fail "Depends names PostgreSQL (it must only be recommended): $depends"
ok "nightjar $version; Depends: $depends"
ok "Recommends: $recommends"

# --- install ----------------------------------------------------------------
step "apt-get install $deb"
before=$(dpkg-query -W -f='${Package}\n' | sort)
ours=true
apt_get install --no-install-recommends "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "apt-get install of the package failed"; }
installed || fail "apt-get install succeeded but nightjar is not installed"
new=$(comm -13 <(echo "$before") <(dpkg-query -W -f='${Package}\n' | sort) | grep -vx nightjar || true)
ok "installed${new:+ (with the dependencies it pulled: $(echo "$new" | paste -sd' '))}"

step "the installed files"
files=(/usr/bin/nightjar /usr/bin/nightjar-tray /usr/bin/nightjar-desktop
    /usr/share/applications/nightjar.desktop /usr/lib/systemd/user/nightjar.service
    /usr/share/icons/hicolor/16x16/apps/nightjar.png /usr/share/icons/hicolor/32x32/apps/nightjar.png
    /usr/share/icons/hicolor/48x48/apps/nightjar.png /usr/share/icons/hicolor/64x64/apps/nightjar.png
    /usr/share/icons/hicolor/128x128/apps/nightjar.png /usr/share/icons/hicolor/256x256/apps/nightjar.png
    /usr/share/man/man1/nightjar.1.gz /usr/share/doc/nightjar/nightjar-help.txt
    /usr/share/doc/nightjar/README.md /usr/share/doc/nightjar/copyright)
listed=$(dpkg -L nightjar)
for f in "${files[@]}"; do
    [[ -f "$f" ]] || fail "$f is not installed"
    grep -qxF "$f" <<<"$listed" || fail "$f is not owned by the package"
done
for b in nightjar nightjar-tray nightjar-desktop; do
    [[ -x /usr/bin/$b ]] || fail "/usr/bin/$b is not executable"
    missing=$(ldd "/usr/bin/$b" | grep 'not found' || true)
    [[ -z "$missing" ]] || fail "/usr/bin/$b needs libraries the package does not pull in: $missing"
done
grep -qx 'Exec=nightjar-desktop' /usr/share/applications/nightjar.desktop || fail "the .desktop entry does not start nightjar-desktop"
grep -qx 'Icon=nightjar' /usr/share/applications/nightjar.desktop || fail "the .desktop entry has not the nightjar icon"
grep -qx 'ExecStart=/usr/bin/nightjar run' /usr/lib/systemd/user/nightjar.service || fail "the user unit does not run /usr/bin/nightjar run"
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify --user /usr/lib/systemd/user/nightjar.service >"$work/verify.log" 2>&1 || true
    grep -i 'nightjar.service' "$work/verify.log" | grep -vi 'bus\|connect' >&2 && fail "systemd-analyze finds faults in the user unit (above)"
fi
zcat /usr/share/man/man1/nightjar.1.gz | grep -q '^\.SS "nightjar backup"' || fail "the man page has no section for nightjar backup"
MANPAGER=cat man nightjar 2>/dev/null | grep -q 'nightjar restore' || fail "man nightjar does not show the commands"
grep -q '^==== nightjar service install ====' /usr/share/doc/nightjar/nightjar-help.txt || fail "nightjar-help.txt lacks the subcommands' help"
ok "${#files[@]} files, all owned by the package; the programs find their libraries; man nightjar works"

# --- run as a user with a home of their own ---------------------------------
step "the installed programs, as a user with a home of their own"
home="$work/home"
mkdir -p "$home/.config/nightjar" "$home/Backups/shop" "$work/run"
chmod 700 "$home" "$work/run"
cat >"$home/.config/nightjar/config.toml" <<TOML
[[job]]
name = "shop"
database = "postgres://nightjar@127.0.0.1:1/shop"
destination = "$home/Backups/shop"
schedule = "daily 03:00"
timezone = "UTC"
TOML
# A backup the user already has, under the name Nightjar gives its files.
head -c 65536 /dev/urandom | zstd -q -o "$home/Backups/shop/shop_2026-01-01_03-00-00_scheduled.sql.zst"
# Only what a login session would have: nothing of this shell's NIGHTJAR_*.
as_user() {
    env -i PATH=/usr/bin:/bin HOME="$home" USER="$(id -un)" LANG=C.UTF-8 \
        XDG_RUNTIME_DIR="$work/run" NIGHTJAR_KEYRING=off "$@"
}
v=$(as_user nightjar --version)
[[ "$v" == "nightjar $version" ]] || fail "nightjar --version says '$v', expected 'nightjar $version'"
ok "$(command -v nightjar): $v"
as_user nightjar status >"$work/status.out" 2>&1 || true
grep -q shop "$work/status.out" || fail "nightjar status does not show the job of ~/.config/nightjar/config.toml: $(cat "$work/status.out")"
ok "nightjar status reads ~/.config/nightjar/config.toml: $(grep -m1 shop "$work/status.out")"

# The tray process as a login would start it: a session bus of its own, no
# window. It runs until --quit.
cat >"$work/tray.sh" <<'SH'
set -u
log=$1
nightjar-tray --hidden >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    grep -q 'listening for the window' "$log" && break
    kill -0 "$pid" 2>/dev/null || { echo "nightjar-tray --hidden exited early" >&2; exit 1; }
    sleep 0.1
done
grep -q 'listening for the window' "$log" || { echo "nightjar-tray --hidden did not start listening within 30 s" >&2; kill "$pid"; exit 1; }
sleep 1 # its scheduler and tray thread start
kill -0 "$pid" 2>/dev/null || { echo "nightjar-tray --hidden exited after it started" >&2; exit 1; }
nightjar-tray --quit || { echo "nightjar-tray --quit failed" >&2; kill "$pid"; exit 1; }
for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "nightjar-tray still runs 30 s after --quit" >&2; kill "$pid"; exit 1; fi
wait "$pid"
SH
as_user timeout 120 dbus-run-session -- bash "$work/tray.sh" "$work/tray.log" ||
    fail "the installed tray process did not start and stop: $(tail -n 5 "$work/tray.log")"
sed 's/^/    tray: /' "$work/tray.log"
grep -q 'Nightjar stopped' "$work/tray.log" || fail "nightjar-tray did not stop cleanly: $(tail -n 5 "$work/tray.log")"
grep -q 'scheduler started jobs=1' "$work/tray.log" || fail "the installed tray process did not schedule the job of ~/.config/nightjar/config.toml"
[[ -d "$home/.local/share/nightjar" ]] || fail "the tray process made no data folder at ~/.local/share/nightjar"
ok "nightjar-tray --hidden ran under a session bus, scheduled the job, and stopped on --quit (data in ~/.local/share/nightjar)"

# --- remove, purge: the user's files stay -------------------------------------
snapshot() { (cd "$home" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
snapshot >"$work/before.sums"
n=$(wc -l <"$work/before.sums")
grep -q '\./\.config/nightjar/config\.toml' "$work/before.sums" || fail "no config in the snapshot"
grep -q '\./Backups/shop/' "$work/before.sums" || fail "no backup in the snapshot"
grep -q '\./\.local/share/nightjar/' "$work/before.sums" || fail "no data in the snapshot"

# apt-get remove leaves a package with config files for a purge; this one
# has none, so dpkg --purge (apt-get purge needs it in a repository) only
# makes sure nothing of it is left.
step "apt-get remove nightjar, then dpkg --purge nightjar"
apt_get remove nightjar >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "apt-get remove nightjar failed"; }
installed && fail "nightjar is still installed after apt-get remove"
snapshot | diff "$work/before.sums" - >&2 || fail "apt-get remove changed the user's files (above)"
dpkg_purge >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge nightjar failed"; }
ours=false
known && fail "nightjar is still known to dpkg after the purge: $(dpkg-query -W -f='${Status}' nightjar)"
for f in "${files[@]}"; do
    [[ -e "$f" ]] && fail "$f is still there after the purge"
done
snapshot | diff "$work/before.sums" - >&2 || fail "the purge changed the user's files (above)"
ok "the programs and the package's files are gone; the user's $n files (config, data, backups) are unchanged"

printf '\nPackage checks passed\n'
