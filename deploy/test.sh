#!/usr/bin/env bash
# Installs, builds and runs every test: unit tests (no server) and integration tests (each starts
# its own throwaway PostgreSQL 15 on 127.0.0.1). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh
bash deploy/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 900
