#!/usr/bin/env bash
# The long run of tests/chaos/chaos.cc: many seeds, each writing for --seconds with every fault on,
# every checkpoint restored by time and by LSN and compared exactly; prints "N/N points exact".
#   bash tests/chaos/long_run.sh --seconds 120 --seeds 20 [--first-seed 1000] [--sessions 8] [--majors 15,16,17,18]
# --majors runs every seed against a server of each major (16+ from deploy/fetch_postgres.sh).
# Builds build/ first when pgpitr_chaos is missing. A seed that is not exact keeps its folders.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=120 seeds=20 first=$(( (RANDOM << 15) | RANDOM )) sessions=8 majors=15
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --first-seed) first=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    --majors) majors=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds S] [--seeds N] [--first-seed SEED] [--sessions N] [--majors 15,16,17,18]" >&2; exit 2 ;;
  esac
done
[ -x build/tests/pgpitr_chaos ] || { bash deploy/build.sh >/dev/null; }
exact=0 total=0 failed_seeds=()
for major in ${majors//,/ }; do
for ((i = 0; i < seeds; i++)); do
  seed=$((first + i))
  line=$(build/tests/pgpitr_chaos --seconds "$seconds" --seed "$seed" --sessions "$sessions" --pg-major "$major" \
           --checkpoints $((seconds / 12 > 4 ? seconds / 12 : 4)) 2> "/tmp/pgpitr-chaos-$major-$seed.log" | tail -1) || true
  echo "PostgreSQL $major, seed $seed: $line"
  grep -E "^chaos: (workload|server streamed)" "/tmp/pgpitr-chaos-$major-$seed.log" | sed 's/^/  /' || true
  if [[ "$line" =~ ^([0-9]+)/([0-9]+)\ points\ exact ]]; then
    exact=$((exact + BASH_REMATCH[1])); total=$((total + BASH_REMATCH[2]))
    # (The log is kept when a point was not exact, or run exited or a backup failed: it says why.)
    if [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [[ "$line" == *"run exited by itself 0 times, 0 backups failed"* ]]; then
      rm -f "/tmp/pgpitr-chaos-$major-$seed.log"
    else
      failed_seeds+=("$seed")
    fi
  else
    failed_seeds+=("$seed")
  fi
done
done
echo "$exact/$total points exact over $seeds seeds of $seconds s (seeds $first..$((first + seeds - 1)); PostgreSQL $majors)"
if [ ${#failed_seeds[@]} -gt 0 ]; then
  echo "not clean: seeds ${failed_seeds[*]} (logs in /tmp/pgpitr-chaos-MAJOR-SEED.log)"
  exit 1
fi
