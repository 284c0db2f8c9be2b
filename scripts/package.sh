#!/usr/bin/env bash
# Builds Nightjar's installable packages into dist/ (README "Packages"):
#   dist/nightjar_<version>_<arch>.deb   nightjar, nightjar-tray and
#       nightjar-desktop in /usr/bin, the icons, a .desktop entry, the systemd
#       user unit, and `man nightjar` + a text file of every command's --help
#   the AppImage: not built (its tools are not packaged by Debian; it says why)
# The Windows installer is built by scripts/check-windows.sh (it has the
# cross-built programs): dist/nightjar-setup-<version>.exe.
#
#   scripts/package.sh              release build, then package
#   scripts/package.sh --debug      debug build (faster to build, larger)
#   scripts/package.sh --no-build   package what target/ already holds
#
# The version is the workspace's ([workspace.package] in Cargo.toml).
# Needs cargo-deb, help2man and dpkg-dev (scripts/install-deps.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

profile=release
build=true
for arg in "$@"; do
    case "$arg" in
        --release) profile=release ;;
        --debug) profile=debug ;;
        --no-build) build=false ;;
        -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package: unknown argument: $arg (see scripts/package.sh --help)" >&2; exit 2 ;;
    esac
done

ok() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'package: %s\n' "$*" >&2
    exit 1
}

cargo deb --version >/dev/null 2>&1 || fail "cargo-deb is missing; run scripts/install-deps.sh (or cargo install cargo-deb --locked)."
command -v help2man >/dev/null 2>&1 || fail "help2man is missing; run scripts/install-deps.sh (or apt-get install help2man)."
command -v dpkg-shlibdeps >/dev/null 2>&1 || fail "dpkg-shlibdeps is missing; run scripts/install-deps.sh (or apt-get install dpkg-dev)."

# --- one version -------------------------------------------------------------
version=$(cargo metadata --locked --no-deps --format-version 1 | python3 -c '
import json, sys
pkgs = {p["name"]: p["version"] for p in json.load(sys.stdin)["packages"]}
names = ["nightjar-cli", "nightjar-tray", "nightjar-desktop"]
versions = {pkgs[n] for n in names}
if len(versions) != 1:
    sys.exit("the three programs have different versions: %s" % {n: pkgs[n] for n in names})
print(versions.pop())
') || fail "could not read the workspace version (cargo metadata)."
# tauri.conf.json has no version: Tauri then takes nightjar-desktop's
# Cargo version, which is the workspace's.
python3 - <<'PY' || fail "tauri.conf.json sets a version; remove it so the window takes the workspace's."
import json, sys
sys.exit(1 if "version" in json.load(open("tauri.conf.json")) else 0)
PY
ok "version $version (workspace)"

# --- build -------------------------------------------------------------------
target_dir=$(cargo metadata --locked --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin_dir="$target_dir/$profile"
if $build; then
    flags=(--locked -p nightjar-cli -p nightjar-tray -p nightjar-desktop)
    [[ $profile == release ]] && flags+=(--release)
    printf '\n--> cargo build %s\n' "${flags[*]}"
    cargo build "${flags[@]}"
fi
for b in nightjar nightjar-tray nightjar-desktop; do
    [[ -x "$bin_dir/$b" ]] || fail "no $bin_dir/$b; run without --no-build (or cargo build first)."
done
built=$("$bin_dir/nightjar" --version)
[[ "$built" == "nightjar $version" ]] || fail "$bin_dir/nightjar says '$built', the workspace is $version; rebuild (run without --no-build)."
ok "the $profile programs in $bin_dir"

# --- the --help of every command: a man page and a text file ------------------
gen="$root/packaging/linux/generated"
rm -rf "$gen"
mkdir -p "$gen"
nj="$bin_dir/nightjar"
# The subcommands a `--help` lists under "Commands:" (clap), without `help`.
subcommands() {
    "$@" --help | awk '/^Commands:/ {on=1; next} on && /^$/ {exit} on && $1 != "help" {print $1}'
}
{
    printf 'nightjar %s: the --help of every command\n\n' "$version"
    "$nj" --help
    while read -r cmd; do
        printf '\n\n==== nightjar %s ====\n\n' "$cmd"
        "$nj" "$cmd" --help
        while read -r sub; do
            printf '\n\n==== nightjar %s %s ====\n\n' "$cmd" "$sub"
            "$nj" "$cmd" "$sub" --help
        done < <(subcommands "$nj" "$cmd")
    done < <(subcommands "$nj")
} >"$gen/nightjar-help.txt"
# The man page: help2man reads the top-level --help and --version; each
# command's --help follows in a COMMANDS section.
{
    echo "[COMMANDS]"
    while read -r cmd; do
        printf '.SS "nightjar %s"\n.nf\n' "$cmd"
        # Backslashes and leading dots/quotes would be roff requests.
        "$nj" "$cmd" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
        printf '.fi\n'
    done < <(subcommands "$nj")
    printf '[FILES]\n.TP\n.I ~/.config/nightjar/config.toml\nThe jobs (or $NIGHTJAR_CONFIG, or --config).\n'
    printf '.TP\n.I ~/.local/share/nightjar/\nThe history of runs and the logs (or $NIGHTJAR_DATA_DIR).\n'
    printf '.TP\n.I /usr/lib/systemd/user/nightjar.service\nThe scheduler as a systemd user service: systemctl --user enable --now nightjar.\n'
    printf '[SEE ALSO]\n/usr/share/doc/nightjar/README.md, /usr/share/doc/nightjar/nightjar-help.txt\n'
} >"$gen/commands.h2m"
help2man --no-info --section 1 --name "scheduled, verified PostgreSQL and MySQL backups to a folder or OneDrive" \
    --include "$gen/commands.h2m" --output "$gen/nightjar.1" "$nj"
gzip -9n "$gen/nightjar.1"
man -l "$gen/nightjar.1.gz" >/dev/null 2>&1 || fail "the generated man page does not render (man -l $gen/nightjar.1.gz)."
ok "man page and nightjar-help.txt ($(grep -c '^==== ' "$gen/nightjar-help.txt") commands)"

# --- .deb --------------------------------------------------------------------
mkdir -p dist
arch=$(dpkg --print-architecture)
deb="dist/nightjar_${version}_${arch}.deb"
rm -f "$deb"
deb_flags=(-p nightjar-cli --no-build --locked --output "$deb")
if [[ $profile == debug ]]; then
    # Debug builds carry hundreds of MB of symbols: strip them in the package,
    # and compress faster (this is a test package).
    deb_flags+=(--profile dev --strip --fast)
fi
printf '\n--> cargo deb %s\n' "${deb_flags[*]}"
cargo deb "${deb_flags[@]}"
[[ -f "$deb" ]] || fail "cargo deb did not write $deb"
ok "$deb ($(du -h "$deb" | cut -f1)): $(dpkg-deb -f "$deb" Depends)"

# --- AppImage ----------------------------------------------------------------
# appimagetool/linuxdeploy and the AppImage runtime are downloaded from their
# GitHub releases; Debian packages neither, and nothing else is fetched here.
if command -v appimagetool >/dev/null 2>&1; then
    echo "note: appimagetool is installed, but Nightjar has no AppImage recipe yet; use the .deb."
else
    echo "note: no AppImage: appimagetool is not packaged by Debian (README \"Packages\"); use the .deb."
fi
