#!/usr/bin/env bash
# Installs what Nightjar needs to build, run and test on Debian/Ubuntu, and
# nothing that is already there. Safe to run again; quick when all is present.
#
#   scripts/install-deps.sh             build + database + test + packaging tools,
#                                       cargo-nextest, tauri-driver, cargo-deb
#   scripts/install-deps.sh --app-only  build + database tools (no test tools, no nextest)
#
# Runs as root, or as a user with sudo (only apt-get is run through sudo).
# Never prompts: DEBIAN_FRONTEND=noninteractive, stdin unused, works with CI=true.
set -euo pipefail

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

app_only=false
for arg in "$@"; do
    case "$arg" in
        --app-only) app_only=true ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install-deps: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

# Tauri v2 on Linux (WebKitGTK 4.1, appindicator for the tray).
build_pkgs=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev
    libxdo-dev build-essential pkg-config libzstd-dev)
# Dump/restore tools and local servers for the integration tests.
db_pkgs=(postgresql postgresql-contrib postgresql-client zstd gzip mariadb-server mariadb-client
    # stock decryption of encrypted backups (tests/encryption.rs, README "Encryption")
    age)
# Headless desktop tests. Deliberately no dbus-x11: with it, GLib autolaunches
# session buses that outlive the app (see docs on the desktop smoke test).
test_pkgs=(xvfb xauth dbus webkit2gtk-driver gnome-keyring keyutils imagemagick procps
    python3 python3-dbus-next
    # answers the window's native save dialog in the E2E tests (tests/support/desktop.rs)
    xdotool
    # pip for the local S3 server of tests/s3.rs (moto, below)
    python3-pip
    # scripts/package.sh: the man page from --help, dpkg-shlibdeps for the .deb's depends
    help2man dpkg-dev
    # Thai glyphs for the window in Thai (tests/desktop_e2e.rs screenshots; DejaVu has none)
    fonts-thai-tlwg)

# Fail fast on the one thing apt cannot provide.
if ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: cargo not found. Install Rust with rustup: https://rustup.rs (curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh), then re-run." >&2
    exit 1
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: this script supports Debian/Ubuntu (apt) only." >&2
    exit 1
fi

wanted=("${build_pkgs[@]}" "${db_pkgs[@]}")
if ! $app_only; then
    wanted+=("${test_pkgs[@]}")
    # npm (for axe-core, below): Debian's, unless Node.js with its npm is here already.
    if ! command -v npm >/dev/null 2>&1; then
        wanted+=(nodejs npm)
    fi
fi

missing=()
for pkg in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} > 0)); then
    if ((EUID == 0)); then
        as_root=(env)
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo env)
    else
        echo "install-deps: missing packages (${missing[*]}) and not root, and sudo is not available." >&2
        exit 1
    fi
    echo "install-deps: installing ${#missing[@]} apt package(s): ${missing[*]}"
    apt_env=(DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a)
    "${as_root[@]}" "${apt_env[@]}" apt-get update -q </dev/null
    "${as_root[@]}" "${apt_env[@]}" apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" </dev/null
else
    echo "install-deps: all ${#wanted[@]} apt packages already installed"
fi

if ! $app_only; then
    if cargo nextest --version >/dev/null 2>&1; then
        echo "install-deps: cargo-nextest already installed"
    else
        echo "install-deps: installing cargo-nextest"
        cargo install cargo-nextest --locked </dev/null
    fi
    # WebDriver front end for the desktop E2E tests (drives WebKitWebDriver).
    if command -v tauri-driver >/dev/null 2>&1; then
        echo "install-deps: tauri-driver already installed"
    else
        echo "install-deps: installing tauri-driver"
        cargo install tauri-driver --locked </dev/null
    fi
    # axe-core, the accessibility checker the desktop E2E tests inject into
    # every view (tests/desktop/package.json, pinned by its lock file).
    e2e_tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/desktop"
    axe_version=$(sed -n 's/.*"axe-core": "\(.*\)".*/\1/p' "$e2e_tools/package.json")
    if grep -qs "\"version\": \"$axe_version\"" "$e2e_tools/node_modules/axe-core/package.json"; then
        echo "install-deps: axe-core already installed"
    else
        echo "install-deps: installing axe-core (npm ci in tests/desktop)"
        npm ci --prefix "$e2e_tools" --no-audit --no-fund </dev/null
    fi
    # The local S3-compatible server of tests/s3.rs: moto's server mode
    # (tests/support/moto_s3.py), from PyPI. --user: Debian's python3 is
    # externally managed, and the tests run as this user.
    if python3 -c 'import moto.server, boto3' >/dev/null 2>&1; then
        echo "install-deps: moto already installed"
    else
        echo "install-deps: installing moto[server]"
        python3 -m pip install --user --quiet 'moto[server]>=5.1,<6' </dev/null \
            || python3 -m pip install --user --quiet --break-system-packages 'moto[server]>=5.1,<6' </dev/null
    fi
    # Builds the .deb (scripts/package.sh). Pinned: CI packages the debug
    # build, which cargo-deb 3.x accepts (with a warning) and may refuse later.
    if cargo deb --version 2>/dev/null | grep -q ' 3\.'; then
        echo "install-deps: cargo-deb already installed"
    else
        echo "install-deps: installing cargo-deb"
        cargo install cargo-deb --version '^3.8' --locked </dev/null
    fi
fi
