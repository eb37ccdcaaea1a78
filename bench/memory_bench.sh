#!/usr/bin/env bash
# memory_bench.sh: peak resident memory of `pgpitr run` capturing one large transaction (one
# INSERT ... SELECT of BENCH_ROWS rows into a 4-column table), and of `pgpitr restore` replaying
# it, against issue 5's limit of 256 MiB each. Peak RSS is read by /usr/bin/time -v.
#
# The script sets up and tears down a throwaway PostgreSQL 15 on 127.0.0.1 and a free port.
#
# Usage: bash bench/memory_bench.sh [-h|--help]
#
# Environment (all optional):
#   BENCH_ROWS   rows in the one transaction              (default 5000000)
#   PGPITR_BIN   pgpitr binary (default /tmp/build-bench/cli/pgpitr; built there when missing)
#   PG_BIN       PostgreSQL binaries                      (default /usr/lib/postgresql/15/bin)
#
# Must run as root. About 4 minutes with the defaults on 2 cores.
set -Eeuo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac

ROWS=${BENCH_ROWS:-5000000}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGPITR_BIN=${PGPITR_BIN:-/tmp/build-bench/cli/pgpitr}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$SRC_DIR/bench/lib.sh"
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROWS must be a positive integer (got '$ROWS')" >&2; exit 2; }
bench_require_root

TMP=""
runpid=""
cleanup() {
  local rc=$?
  set +e
  trap - EXIT
  [[ -n $runpid ]] && pkill -TERM -P "$runpid" 2> /dev/null
  bench_stop_server "$TMP"
  if [[ $rc != 0 && -n $TMP ]]; then
    for f in "$TMP"/*.log; do [[ -s $f ]] && { echo "---- last lines of $f ----" >&2; tail -n 20 "$f" >&2; }; done
  fi
  [[ -n $TMP ]] && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

for tool in jq; do
  command -v "$tool" > /dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" > /dev/null
done
[[ -x /usr/bin/time ]] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time > /dev/null
bench_build_pgpitr

TMP=$(mktemp -d /tmp/memory-bench.XXXXXX)
PG_PORT=$(free_port)
bench_start_server "$TMP" "$PG_PORT" "shared_buffers = 256MB"
export PGSSLMODE=disable
unset PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD PGOPTIONS PGSERVICE DATABASE_URL 2> /dev/null || true
SOURCE="host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"
PSQL=("$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$SOURCE")
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE bench"
"${PSQL[@]}" -c "CREATE TABLE bulk (id bigint PRIMARY KEY, grp int, label text, at timestamptz)"

/usr/bin/time -v -o "$TMP/run.time" "$PGPITR_BIN" run --source "$SOURCE" --repo "$TMP/repo" > "$TMP/run.log" 2>&1 &
runpid=$!
bench_wait_first_base "$TMP/repo" "$runpid"
log "base taken; inserting $ROWS rows in one transaction"
start=$(now)
"${PSQL[@]}" -c "INSERT INTO bulk SELECT g, g % 1000, md5(g::text), now() FROM generate_series(1, $ROWS) g"
end=$("${PSQL[@]}" -c "SELECT pg_current_wal_lsn()")
target=$(lsn_to_int "$end")
while :; do
  through=$("${PSQL[@]}" -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'pgpitr'")
  (( $(lsn_to_int "${through:-0/0}") >= target )) && break
  kill -0 "$runpid" 2> /dev/null || { echo "pgpitr run exited" >&2; exit 1; }
  sleep 0.5
done
capture_s=$(elapsed "$start")
log "captured and confirmed in ${capture_s} s since the insert began"
pkill -TERM -P "$runpid"; wait "$runpid" || true; runpid=""
run_kib=$(awk -F': ' '/Maximum resident/ {print $2}' "$TMP/run.time")
bytes_per_row=$("$PGPITR_BIN" info --repo "$TMP/repo" --json | jq '.change_log.size_bytes / .change_log.rows')

"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE restored"
start=$(now)
/usr/bin/time -v -o "$TMP/restore.time" "$PGPITR_BIN" restore --repo "$TMP/repo" \
  --target "host=127.0.0.1 port=$PG_PORT user=postgres dbname=restored" --latest > "$TMP/restore.log" 2>&1
restore_s=$(elapsed "$start")
restore_kib=$(awk -F': ' '/Maximum resident/ {print $2}' "$TMP/restore.time")
restored=$("$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d restored -c "SELECT count(*) FROM bulk")
[[ $restored == "$ROWS" ]] || { echo "restored $restored rows, expected $ROWS" >&2; exit 1; }

echo
echo "Memory, one transaction of $ROWS inserted rows (limit 256 MiB each)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| process | peak RSS, MiB | seconds | note |"
echo "|---|---:|---:|---|"
printf '| pgpitr run (capture) | %.1f | %.1f | %.1f bytes stored per row |\n' "$(echo "$run_kib / 1024" | bc -l)" "$capture_s" "$bytes_per_row"
printf '| pgpitr restore --latest | %.1f | %.1f | %s rows restored |\n' "$(echo "$restore_kib / 1024" | bc -l)" "$restore_s" "$restored"
