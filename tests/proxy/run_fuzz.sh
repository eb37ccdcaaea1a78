#!/usr/bin/env bash
# Builds the libFuzzer target for the proxy's framing, SQL lexing and DDL recording with clang, and runs it for a
# bounded time on a scratch copy of the seed corpus. Usage: run_fuzz.sh SOURCE_DIR BUILD_DIR [SECONDS]
set -euo pipefail
src=$1 out=$2 seconds=${3:-30}
command -v clang++-14 >/dev/null || { echo "clang++-14 not found: run deploy/install.sh" >&2; exit 1; }
mkdir -p "$out/fuzz_work"
clang++-14 -std=c++20 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$src" "$src/proxy/wire.cc" "$src/proxy/sql.cc" "$src/proxy/response_tracker.cc" "$src/proxy/ddl_recorder.cc" \
  "$src/tests/proxy/wire_fuzz.cc" -labsl_statusor -labsl_status -labsl_strings -lfmt -o "$out/wire_fuzz"
"$out/wire_fuzz" -max_total_time="$seconds" -print_final_stats=1 "$out/fuzz_work" "$src/tests/proxy/fuzz_corpus" 2>&1 |
  tail -n 15
