#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (build-fuzz/) and runs each for a bounded time.
# Usage: scripts/fuzz.sh [SECONDS_EACH]   (default $FUZZ_SECONDS, else 45)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-${FUZZ_SECONDS:-45}}
dir=build-fuzz
[ -f "$dir/build.ninja" ] || CC=clang CXX=clang++ meson setup "$dir" -Dfuzz=true -Dtests=false \
    -Dbuildtype=debugoptimized >/dev/null
if ! ninja -C "$dir" >"$dir/build.log" 2>&1; then
    echo "fuzz: build failed:"; grep -E "error|FAILED" "$dir/build.log" | head -20; exit 1
fi
fail=0
for h in fcall_fuzz ctl_fuzz ip_input_fuzz stack_ctl_fuzz fastpath_fuzz tcp_input_fuzz tcp_ctl_fuzz esp_gre_fuzz; do
    corpus=unittests/fuzz/corpus/$h
    work=$dir/corpus-$h
    mkdir -p "$work"
    [ -d "$corpus" ] && cp -n "$corpus"/* "$work"/ 2>/dev/null || true
    if "$dir/unittests/fuzz/$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=0 -artifact_prefix="$dir/$h-" "$work" >"$dir/$h.log" 2>&1; then
        echo "fuzz: $h: ok, $(grep -Eo 'Done [0-9]+ runs' "$dir/$h.log" | tail -1)"
    else
        echo "fuzz: $h: FAILED (crash artifact in $dir/$h-*)"; tail -40 "$dir/$h.log"; fail=1
    fi
done
exit $fail
