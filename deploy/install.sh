#!/usr/bin/env bash
# Installs everything pgpitr needs to build, test and run on Debian 12, from Debian's packages.
# Run as root. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake pkg-config
  libpq-dev librocksdb-dev libprotobuf-dev protobuf-compiler libabsl-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev libssl-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the Asio proxy; clang and its runtime for the libFuzzer target
  libboost-dev clang-14 libclang-rt-14-dev
  # pg_dump/pg_restore for bases and restores; the server for `pgpitr demo` and the tests.
  postgresql-15 postgresql-client-15
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# PostgreSQL 16, 17 and 18 server programs for the tests' version matrix (Debian 12 has only 15).
bash "$(dirname "$0")/fetch_postgres.sh"
