#!/usr/bin/env bash
# Installs, builds and runs every test: unit tests (no server), integration tests (each starts
# its own throwaway PostgreSQL 15 on 127.0.0.1; the version matrix and the cross-version restores
# start 16, 17 and 18 too, fetched by deploy/install.sh), a bounded libFuzzer run, short chaos runs
# (15, and 18; tests/chaos: 8 sessions, faults, every checkpoint restored and compared) and PostgreSQL's own
# regression SQL through the proxy and directly (tests/corpus: every point restored and compared,
# schema and rows); then the unit tests
# again under AddressSanitizer and UndefinedBehaviorSanitizer. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh
bash deploy/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 900
cmake -S . -B build-asan -DPGPITR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$(nproc)" --target pgpitr_unit_tests >/dev/null
ctest --test-dir build-asan -L unit --output-on-failure -j2 --timeout 900
