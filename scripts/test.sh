#!/usr/bin/env bash
# The project's test command (README and CI run exactly this):
#   1. install missing system packages and tools
#   2. build every crate and target, with the committed Cargo.lock
#   3. check the core, the CLI, the shared desktop crate and the tray process
#      stay GUI-free (no tauri, gtk or webkit), and that the window does not
#      link the tray process or its D-Bus libraries
#   4. unit + integration tests (nextest, else cargo test), then doc tests
#   5. the Windows lane (scripts/check-windows.sh): cross-build for Windows
#      with Debian's toolchain, then the Windows programs under Wine
#   6. packages: the .deb of the debug programs built in step 2
#      (scripts/package.sh --debug --no-build), installed, run, removed and
#      purged on this machine (scripts/check-package.sh); the Windows
#      installer is checked in step 5
#   7. desktop tests under Xvfb: smoke test, then the E2E tests (WebDriver, tray
#      over D-Bus, notifications, keyring)
# Works from any directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() {
    printf '\n==> %s\n' "$*"
}

step "1/7 dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh

step "2/7 build (cargo build --workspace --locked --all-targets)"
cargo build --workspace --locked --all-targets

step "3/7 GUI-free check (nightjar-core, nightjar-cli, nightjar-desktop-shared, nightjar-tray)"
# `cargo tree -i tauri` exits 101 with "package ID specification `tauri` did not
# match any packages" when tauri is absent from the package's graph. Any other
# failure must not count as a pass, so we check the message, and we also grep
# the full tree (which must succeed) for GUI crates.
gui_free() {
    local pkg=$1 out rc=0 tree
    out=$(cargo tree --locked -p "$pkg" -e normal -i tauri 2>&1) || rc=$?
    if ((rc == 0)); then
        echo "FAIL: $pkg depends on tauri:" >&2
        echo "$out" >&2
        return 1
    fi
    # shellcheck disable=SC2016 # the backticks are literal cargo output
    if ! grep -qF 'specification `tauri` did not match any packages' <<<"$out"; then
        echo "FAIL: could not check $pkg for tauri (cargo tree exit $rc):" >&2
        echo "$out" >&2
        return 1
    fi
    if ! tree=$(cargo tree --locked -p "$pkg" -e normal --prefix none); then
        echo "FAIL: cargo tree -p $pkg failed" >&2
        return 1
    fi
    if grep -Ei '^(tauri|tao|wry|muda|tray-icon)(-[a-z0-9-]+)? v|gtk|webkit' <<<"$tree" >&2; then
        echo "FAIL: $pkg pulls in GUI crates (lines above)" >&2
        return 1
    fi
    echo "ok: $pkg has no tauri, gtk or webkit in its normal dependencies"
}
gui_free nightjar-core
gui_free nightjar-cli
# Shared by the tray process and the window: neither GUI nor D-Bus tray code.
gui_free nightjar-desktop-shared
# The process that stays running all day: no web engine or GUI toolkit in it.
gui_free nightjar-tray
# The window: the shared crate, not the tray process and its D-Bus libraries
# (the tray icon and the notifications). Tauri's own opener and single-instance
# plugins bring a zbus of their own on Linux; that one is the window's.
no_tray() {
    local pkg=$1 tree
    if ! tree=$(cargo tree --locked -p "$pkg" -e normal --prefix none); then
        echo "FAIL: cargo tree -p $pkg failed" >&2
        return 1
    fi
    if grep -E '^(nightjar-tray|ksni|notify-rust) v' <<<"$tree" >&2; then
        echo "FAIL: $pkg links the tray process or its D-Bus libraries (lines above)" >&2
        return 1
    fi
    echo "ok: $pkg does not link nightjar-tray, ksni or notify-rust"
}
no_tray nightjar-desktop
no_tray nightjar-desktop-shared

step "4/7 tests"
if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doc tests; run them first so the last summary
    # printed is nextest's.
    cargo test --workspace --locked --doc --no-fail-fast
    cargo nextest run --workspace --locked --no-fail-fast
else
    echo "(cargo-nextest not found; using cargo test)"
    cargo test --workspace --locked --no-fail-fast
fi

step "5/7 Windows lane (scripts/check-windows.sh)"
scripts/check-windows.sh

step "6/7 packages (scripts/package.sh --debug --no-build, scripts/check-package.sh)"
scripts/package.sh --debug --no-build
scripts/check-package.sh

step "7/7 desktop tests (tests/desktop/smoke.sh, tests/desktop/e2e.sh)"
tests/desktop/smoke.sh
tests/desktop/e2e.sh

printf '\n==> all checks passed\n'
