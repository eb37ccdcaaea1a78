#!/usr/bin/env bash
# Configures and builds pgpitr into build/ (the binary is build/cli/pgpitr).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
