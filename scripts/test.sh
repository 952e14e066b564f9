#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: unit tests (GoogleTest), the fuzzers
# for a bounded time (FUZZ_SECONDS each, default 60), and the system tests (pytest, as root,
# with devipd on net_tap devices in network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
echo "== unit tests"
build/unittests/unittests --gtest_brief=1
echo "== fuzzing"
bash scripts/fuzz.sh
echo "== system tests"
DEVIP_BUILD="$PWD/build" /usr/bin/python3 -m pytest tests -q -p no:cacheprovider
