#!/usr/bin/env bash
# run_all.sh: every comparison of issue 5 in one command, each against its peer in the same run:
# capture drain (pg_recvlogical), live capture (pgbench alone and with pg_recvlogical), replay
# (psql and pg_restore), and peak memory on one 5M-row transaction. Each script starts its own
# throwaway PostgreSQL and repeats each measurement (BENCH_REPEATS, default 3; memory runs once);
# their tables of medians are printed at the end, after the machine description. The Google Benchmark microbenchmarks run first when they were built.
#
# Usage: bash bench/run_all.sh [-h|--help]
# Environment: as the scripts it runs (PGPITR_BIN, PG_BIN, BENCH_REPEATS, ...). Must run as root.
# About 20 minutes on 2 cores with the defaults (replay at 20,000 transactions; replay_bench.sh --full,
# 1,000,000, takes about an hour on its own).
set -Eeuo pipefail
case "${1:-}" in
  -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(mktemp -d /tmp/bench-all.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

MICRO=${PGPITR_MICRO_BIN:-$(dirname "${PGPITR_BIN:-/tmp/build-bench/cli/pgpitr}")/../bench/micro/pgpitr_micro_bench}
if [[ -x $MICRO ]]; then
  echo "== microbenchmarks ($MICRO)" >&2
  "$MICRO" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true > "$OUT/micro.txt" 2>&1 || true
fi
for script in capture_bench live_bench replay_bench memory_bench; do
  echo "== $script" >&2
  bash "$DIR/$script.sh" > "$OUT/$script.txt"
done

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), PostgreSQL $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}')"
for f in micro capture_bench live_bench replay_bench memory_bench; do
  [[ -s $OUT/$f.txt ]] || continue
  echo
  cat "$OUT/$f.txt"
done
