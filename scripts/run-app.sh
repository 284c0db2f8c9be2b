#!/usr/bin/env bash
# Installs whatever is missing, builds the desktop app and the CLI (release),
# and starts the app: the tray process (nightjar-tray), which opens the window
# (nightjar-desktop). Extra arguments are passed to nightjar-tray (--hidden:
# tray only).
# Works from any directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/install-deps.sh --app-only
cargo build --release --locked -p nightjar-tray -p nightjar-desktop -p nightjar-cli

target_dir=${CARGO_TARGET_DIR:-target}
echo "run-app: CLI is at $target_dir/release/nightjar; starting $target_dir/release/nightjar-tray"
exec "$target_dir/release/nightjar-tray" "$@"
