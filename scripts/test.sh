#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: unit tests (GoogleTest), the fuzzers
# for a bounded time (FUZZ_SECONDS each, default 45), and the system tests (pytest, as root,
# with devipd on net_tap devices in network namespaces); then the unit tests and the system
# tests once more against the sanitizer build (build-asan/: ASan with leak checking, UBSan),
# where any report aborts the program and fails its test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
bash scripts/build.sh build-asan
echo "== unit tests"
build/unittests/unittests --gtest_brief=1
echo "== unit tests (ASan+UBSan)"
build-asan/unittests/unittests --gtest_brief=1
echo "== fuzzing"
bash scripts/fuzz.sh
echo "== system tests"
DEVIP_BUILD="$PWD/build" /usr/bin/python3 -m pytest tests -q -p no:cacheprovider
echo "== system tests (ASan+UBSan)"
DEVIP_BUILD="$PWD/build-asan" /usr/bin/python3 -m pytest tests -q -p no:cacheprovider
