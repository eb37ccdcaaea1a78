#!/usr/bin/env bash
# capture_bench.sh: how fast pgpitr drains a slot's backlog into its change log, against
# pg_recvlogical draining the same backlog from a second pgoutput slot, in one run; and how many
# bytes each keeps per row change (pgpitr's change log against the raw pgoutput stream).
#
# Everything is set up and torn down by the script itself: a throwaway PostgreSQL (15, or PG_SERVER_BIN's) on 127.0.0.1
# and a free port, pgbench -i, two slots. Each repetition makes a backlog with pgbench while neither
# consumer runs, then lets each drain it up to the same LSN (alternating which goes first); the
# table shows medians. pgpitr syncs its change log before it confirms; pg_recvlogical writes bytes
# to a file and fsyncs it at the end.
#
# Usage: bash bench/capture_bench.sh [-h|--help]
#
# Environment (all optional):
#   BENCH_TRANSACTIONS  pgbench transactions per backlog, over 8 clients  (default 100000)
#   BENCH_REPEATS       repetitions; the table shows medians              (default 5)
#   BENCH_SCALE         pgbench -i scale factor                           (default 10)
#   PGPITR_BIN          pgpitr binary (default /tmp/build-bench/cli/pgpitr; built there when missing)
#   PG_BIN              PostgreSQL client programs (psql, pgbench, pg_recvlogical; default /usr/lib/postgresql/15/bin)
#   PG_SERVER_BIN       the server's (initdb, pg_ctl; default PG_BIN), e.g. /var/cache/pgpitr/postgresql/17/bin
#
# Must run as root (PostgreSQL runs as the `postgres` OS user). About 4 minutes with the defaults.
set -Eeuo pipefail

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac

TRANSACTIONS=${BENCH_TRANSACTIONS:-100000}
REPEATS=${BENCH_REPEATS:-5}
SCALE=${BENCH_SCALE:-10}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGPITR_BIN=${PGPITR_BIN:-/tmp/build-bench/cli/pgpitr}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$SRC_DIR/bench/lib.sh"

for v in TRANSACTIONS REPEATS SCALE; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer (got '${!v}')" >&2; exit 2; }
done
bench_require_root

TMP=""
cleanup() {
  local rc=$?
  set +e
  trap '' INT TERM HUP PIPE
  trap - EXIT
  pkill -TERM -f "$PGPITR_BIN run .*--repo $TMP/repo" 2> /dev/null
  bench_stop_server "$TMP"
  if [[ $rc != 0 && -n $TMP ]]; then
    for f in "$TMP"/*.log "$TMP"/logs/*.log; do [[ -s $f ]] && { echo "---- last lines of $f ----" >&2; tail -n 20 "$f" >&2; }; done
  fi
  [[ -n $TMP ]] && rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

for tool in jq bc; do
  command -v "$tool" > /dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" > /dev/null
done
bench_build_pgpitr

TMP=$(mktemp -d /tmp/capture-bench.XXXXXX)
PG_PORT=$(free_port)
bench_start_server "$TMP" "$PG_PORT" "shared_buffers = 512MB"

export PGSSLMODE=disable
unset PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD PGOPTIONS PGSERVICE DATABASE_URL 2> /dev/null || true
SOURCE="host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"
PSQL=("$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$SOURCE")
# The publications capture decodes, for pg_recvlogical: pgpitr's, and pgpitr_keyed where its
# publication is in two (the UPDATE and DELETE of the tables with a replica identity).
publications() {
  "${PSQL[@]}" -c "SELECT string_agg(pubname, ',' ORDER BY pubname) FROM pg_publication WHERE pubname IN ('pgpitr', 'pgpitr_keyed')"
}
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE bench"
log "pgbench -i -s $SCALE"
"$PG_BIN/pgbench" -i -s "$SCALE" -q "$SOURCE" > "$TMP/pgbench-init.log" 2>&1
# pgbench_history has no key: pgpitr refuses nothing, but UPDATE/DELETE would need one (pgbench only inserts).

# pgpitr makes its publication and slot (no base: the drains do not need one, and a 16+ server
# has no pg_dump here); then it stops and the backlogs begin.
log "pgpitr: first run (publication, slot)"
"$PGPITR_BIN" run --source "$SOURCE" --repo "$TMP/repo" --no-first-base > "$TMP/pgpitr-first.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [[ $("${PSQL[@]}" -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgpitr'") == 1 ]] && break
  kill -0 "$pid" 2> /dev/null || { cat "$TMP/pgpitr-first.log" >&2; exit 1; }
  sleep 0.2
done
sleep 1
kill -TERM "$pid"; wait "$pid" || { cat "$TMP/pgpitr-first.log" >&2; exit 1; }
"${PSQL[@]}" -c "SELECT pg_create_logical_replication_slot('recv', 'pgoutput')" > /dev/null

info() { "$PGPITR_BIN" info --repo "$TMP/repo" --json; }

drain_pgpitr() {  # $1 = end LSN; prints "seconds rows"
  local end=$1 before after start rows0
  before=$(info)
  rows0=$(jq '.change_log.rows' <<< "$before")
  start=$(now)
  "$PGPITR_BIN" run --source "$SOURCE" --repo "$TMP/repo" --no-first-base >> "$TMP/pgpitr.log" 2>&1 &
  local pid=$!
  # Done when the source has the end LSN confirmed as flushed: pgpitr confirms only what it synced.
  # One backend watches the slot every 20 ms (pg_replication_slots reads shared memory, so a loop in
  # one statement sees it move): starting a psql every few ms to ask, as this script once did, took
  # a good part of a core from the server and pgpitr on 2 cores, and only pgpitr's drain paid it.
  "${PSQL[@]}" -c "DO \$\$ BEGIN WHILE coalesce((SELECT confirmed_flush_lsn FROM pg_replication_slots
      WHERE slot_name = 'pgpitr'), '0/0') < '$end'::pg_lsn LOOP PERFORM pg_sleep(0.02); END LOOP; END \$\$" > /dev/null &
  local watch=$!
  while kill -0 "$watch" 2> /dev/null; do
    kill -0 "$pid" 2> /dev/null || { kill "$watch"; echo "pgpitr run exited" >&2; exit 1; }
    sleep 0.02
  done
  wait "$watch" || { echo "watching the slot failed" >&2; exit 1; }
  local seconds; seconds=$(elapsed "$start")
  kill -TERM "$pid"; wait "$pid"
  after=$(info)
  echo "$seconds $(( $(jq '.change_log.rows' <<< "$after") - rows0 ))"
}

drain_recvlogical() {  # $1 = end LSN; prints "seconds bytes"
  local start; start=$(now)
  "$PG_BIN/pg_recvlogical" -d "$SOURCE" --slot recv --start --endpos "$1" --no-loop \
    -o proto_version=1 -o publication_names="$(publications)" -f "$TMP/recv.out" 2>> "$TMP/recvlogical.log"
  local seconds; seconds=$(elapsed "$start")
  echo "$seconds $(stat -c %s "$TMP/recv.out")"
  rm -f "$TMP/recv.out"
}

declare -a P_RATE R_RATE R_BPR
for i in $(seq 1 "$REPEATS"); do
  log "backlog $i: pgbench -c 8 -t $((TRANSACTIONS / 8)) with no consumer"
  "$PG_BIN/pgbench" -n -c 8 -j 2 -t $((TRANSACTIONS / 8)) "$SOURCE" > "$TMP/pgbench-$i.log" 2>&1
  end=$("${PSQL[@]}" -c "SELECT pg_current_wal_lsn()")
  if (( i % 2 )); then order="recv pgpitr"; else order="pgpitr recv"; fi
  for who in $order; do
    if [[ $who == recv ]]; then
      read -r rs rb < <(drain_recvlogical "$end")
    else
      read -r ps prows < <(drain_pgpitr "$end")
    fi
  done
  P_RATE+=("$(echo "$prows / $ps" | bc -l)")
  R_RATE+=("$(echo "$prows / $rs" | bc -l)")   # the same row changes, from the same backlog
  R_BPR+=("$(echo "$rb / $prows" | bc -l)")
  log "run $i: $prows row changes; pgpitr ${ps}s, pg_recvlogical ${rs}s; pgoutput $(printf %.1f "${R_BPR[-1]}") bytes/row"
done

pm=$(printf '%s\n' "${P_RATE[@]}" | median); rm_=$(printf '%s\n' "${R_RATE[@]}" | median)
# pgpitr's bytes per row change: its change log over everything it captured (compactions make the
# growth of one drain meaningless); a clean stop flushes the memtables, so this is what it keeps.
pb=$(info | jq '.change_log.size_bytes / .change_log.rows'); rb=$(printf '%s\n' "${R_BPR[@]}" | median)
echo
echo "Capture drain, $REPEATS backlogs of $TRANSACTIONS pgbench TPC-B transactions (scale $SCALE), medians"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measure | pgpitr | pg_recvlogical | pgpitr/pg_recvlogical |"
echo "|---|---:|---:|---:|"
printf '| row changes drained per second | %.0f | %.0f | %.2f |\n' "$pm" "$rm_" "$(echo "$pm / $rm_" | bc -l)"
printf '| bytes kept per row change | %.1f | %.1f | %.2f |\n' "$pb" "$rb" "$(echo "$pb / $rb" | bc -l)"
