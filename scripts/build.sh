#!/usr/bin/env bash
# Configures (once) and builds devip into build/. Usage: scripts/build.sh [BUILD_DIR]
# A directory named build-asan gets the sanitizer build (-Dsanitize=true: ASan + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
opts=()
[ "$(basename "$dir")" = build-asan ] && opts+=(-Dsanitize=true)
[ -f "$dir/build.ninja" ] || meson setup "$dir" "${opts[@]}" >/dev/null
ninja -C "$dir"
