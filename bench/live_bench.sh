#!/usr/bin/env bash
# live_bench.sh: what live capture costs the source and how far it trails it: pgbench TPS with no
# consumer, with pg_recvlogical attached and with pgpitr attached, in one run; and pgpitr's lag,
# the time from a WAL insert position until the slot's confirmed flush position passes it.
#
# The script sets up and tears down everything: a throwaway PostgreSQL 15 on 127.0.0.1 and a free
# port, pgbench -i, pgpitr's slot and first base. Each repetition runs pgbench TPC-B (8 clients)
# three times, once per mode, rotating the order. While a consumer is attached a sampler reads
# pg_current_wal_insert_lsn() and the slot's confirmed_flush_lsn every 100 ms; the lag of a sample
# is the time until a later sample's confirmed position reached its insert position. pg_recvlogical
# runs with its defaults (it confirms every 10 s), so its lag column says how the peer is used,
# not how fast it could be. The lag's resolution is the sampling period, 100 ms.
#
# Usage: bash bench/live_bench.sh [-h|--help]
#
# Environment (all optional):
#   BENCH_SECONDS   seconds of pgbench per mode and repetition              (default 20)
#   BENCH_REPEATS   repetitions; the table shows medians                    (default 3)
#   BENCH_SCALE     pgbench -i scale factor                                 (default 10)
#   BENCH_CLIENTS   pgbench clients                                         (default 8)
#   PGPITR_BIN      pgpitr binary (default /tmp/build-bench/cli/pgpitr; built there when missing)
#   PG_BIN          PostgreSQL binaries                                     (default /usr/lib/postgresql/15/bin)
#
# Must run as root (PostgreSQL runs as the `postgres` OS user). About 4 minutes with the defaults.
set -Eeuo pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac

SECONDS_PER_RUN=${BENCH_SECONDS:-20}
REPEATS=${BENCH_REPEATS:-3}
SCALE=${BENCH_SCALE:-10}
CLIENTS=${BENCH_CLIENTS:-8}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGPITR_BIN=${PGPITR_BIN:-/tmp/build-bench/cli/pgpitr}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$SRC_DIR/bench/lib.sh"

for v in SECONDS_PER_RUN REPEATS SCALE CLIENTS; do
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
  pkill -TERM -f "pg_recvlogical .*--slot recv" 2> /dev/null
  [[ -n ${SAMPLER_PID:-} ]] && kill "$SAMPLER_PID" 2> /dev/null
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

TMP=$(mktemp -d /tmp/live-bench.XXXXXX)
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

log "pgpitr: first run (publication, slot, base)"
"$PGPITR_BIN" run --source "$SOURCE" --repo "$TMP/repo" > "$TMP/pgpitr-first.log" 2>&1 &
pid=$!
bench_wait_first_base "$TMP/repo" "$pid" || { cat "$TMP/pgpitr-first.log" >&2; exit 1; }
kill -TERM "$pid"; wait "$pid" || { cat "$TMP/pgpitr-first.log" >&2; exit 1; }

slot_flush() { "${PSQL[@]}" -c "SELECT coalesce(confirmed_flush_lsn, '0/0') FROM pg_replication_slots WHERE slot_name = '$1'"; }

# Samples "epoch insert_lsn_bytes confirmed_flush_bytes" every 100 ms into $2 until killed.
SAMPLER_PID=""
start_sampler() {
  local slot=$1 out=$2
  {
    echo "SELECT extract(epoch FROM clock_timestamp()), pg_current_wal_insert_lsn() - '0/0'::pg_lsn,"
    echo "       confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = '$slot' \\watch 0.1"
  } | "$PG_BIN/psql" -X -q -At -F ' ' "$SOURCE" 2> /dev/null | grep --line-buffered ' ' > "$out" &
  SAMPLER_PID=$!
}
stop_sampler() { kill "$SAMPLER_PID" 2> /dev/null; wait "$SAMPLER_PID" 2> /dev/null || true; SAMPLER_PID=""; }

# Lag of each sample, from a sampler file: seconds until a later sample's confirmed position passed
# this sample's insert position. Samples whose position was never confirmed during the run are left
# out (the run's last second); prints "p50 p99 max" in seconds.
lag_quantiles() {
  awk '{t[NR]=$1; ins[NR]=$2; fl[NR]=$3}
    END {
      j = 1
      for (i = 1; i <= NR; i++) {
        if (j < i) j = i
        while (j <= NR && fl[j] < ins[i]) j++
        if (j > NR) break
        printf "%.6f\n", t[j] - t[i]
      }
    }' "$1" | sort -g | awk '{lag[NR]=$1}
    END {
      if (NR == 0) { print "nan nan nan"; exit }
      printf "%.3f %.3f %.3f\n", lag[int((NR - 1) * 0.50) + 1], lag[int((NR - 1) * 0.99) + 1], lag[NR]
    }'
}

run_pgbench() {  # $1 = log file; prints TPS
  "$PG_BIN/pgbench" -n -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" "$SOURCE" > "$1" 2>&1
  sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$1" | tail -n 1
}

wait_pgpitr_caught_up() {  # $1 = pid of pgpitr run
  local target; target=$(lsn_to_int "$("${PSQL[@]}" -c "SELECT pg_current_wal_lsn()")")
  for _ in $(seq 1 1200); do
    kill -0 "$1" 2> /dev/null || { echo "pgpitr run exited" >&2; exit 1; }
    (( $(lsn_to_int "$(slot_flush pgpitr)") >= target )) && return 0
    sleep 0.1
  done
  echo "pgpitr did not catch up with the source in 120 s" >&2; exit 1
}

mode_none() { run_pgbench "$TMP/pgbench-none-$1.log"; }

mode_recv() {  # a fresh slot each time, so no backlog: the peer starts level, as pgpitr does
  "${PSQL[@]}" -c "SELECT pg_drop_replication_slot('recv') FROM pg_replication_slots WHERE slot_name = 'recv'" > /dev/null
  "${PSQL[@]}" -c "SELECT pg_create_logical_replication_slot('recv', 'pgoutput')" > /dev/null
  "$PG_BIN/pg_recvlogical" -d "$SOURCE" --slot recv --start --no-loop -o proto_version=1 \
    -o publication_names="$(publications)" -f "$TMP/recv.out" 2>> "$TMP/recvlogical.log" &
  local rpid=$!
  sleep 1
  start_sampler recv "$TMP/lag-recv-$1.txt"
  local tps; tps=$(run_pgbench "$TMP/pgbench-recv-$1.log")
  sleep 1
  stop_sampler
  kill -TERM "$rpid"; wait "$rpid" 2> /dev/null || true
  rm -f "$TMP/recv.out"
  echo "$tps"
}

mode_pgpitr() {
  "$PGPITR_BIN" run --source "$SOURCE" --repo "$TMP/repo" --no-first-base >> "$TMP/pgpitr.log" 2>&1 &
  local ppid=$!
  wait_pgpitr_caught_up "$ppid"
  start_sampler pgpitr "$TMP/lag-pgpitr-$1.txt"
  local tps; tps=$(run_pgbench "$TMP/pgbench-pgpitr-$1.log")
  sleep 1
  stop_sampler
  kill -TERM "$ppid"; wait "$ppid" || { echo "pgpitr run failed" >&2; exit 1; }
  echo "$tps"
}

declare -a T_NONE T_RECV T_PGPITR L50 L99 LMAX R99
for i in $(seq 1 "$REPEATS"); do
  case $((i % 3)) in
    1) order="none recv pgpitr" ;;
    2) order="recv pgpitr none" ;;
    0) order="pgpitr none recv" ;;
  esac
  for mode in $order; do
    log "run $i: pgbench -c $CLIENTS -T $SECONDS_PER_RUN, consumer: $mode"
    case $mode in
      none) T_NONE+=("$(mode_none "$i")") ;;
      recv) T_RECV+=("$(mode_recv "$i")") ;;
      pgpitr) T_PGPITR+=("$(mode_pgpitr "$i")") ;;
    esac
  done
  read -r p50 p99 pmax < <(lag_quantiles "$TMP/lag-pgpitr-$i.txt")
  read -r _ r99 _ < <(lag_quantiles "$TMP/lag-recv-$i.txt")
  L50+=("$p50"); L99+=("$p99"); LMAX+=("$pmax"); R99+=("$r99")
  log "run $i: TPS none ${T_NONE[-1]}, pg_recvlogical ${T_RECV[-1]}, pgpitr ${T_PGPITR[-1]}; pgpitr lag p50 ${p50}s p99 ${p99}s max ${pmax}s ($(wc -l < "$TMP/lag-pgpitr-$i.txt") samples); pg_recvlogical lag p99 ${r99}s ($(wc -l < "$TMP/lag-recv-$i.txt") samples)"
done

tn=$(printf '%s\n' "${T_NONE[@]}" | median); tr=$(printf '%s\n' "${T_RECV[@]}" | median)
tp=$(printf '%s\n' "${T_PGPITR[@]}" | median)
l50=$(printf '%s\n' "${L50[@]}" | median); l99=$(printf '%s\n' "${L99[@]}" | median)
lmax=$(printf '%s\n' "${LMAX[@]}" | median); r99=$(printf '%s\n' "${R99[@]}" | median)
echo
echo "Live capture, pgbench TPC-B scale $SCALE, $CLIENTS clients, $SECONDS_PER_RUN s per run, medians of $REPEATS"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measure | no consumer | pg_recvlogical | pgpitr | pgpitr/pg_recvlogical |"
echo "|---|---:|---:|---:|---:|"
printf '| source TPS | %.0f | %.0f | %.0f | %.2f |\n' "$tn" "$tr" "$tp" "$(echo "$tp / $tr" | bc -l)"
printf '| confirmed flush lag p99, s (sampled every 100 ms) | | %.3f | %.3f | |\n' "$r99" "$l99"
printf '| pgpitr lag p50 / max, s | | | %.3f / %.3f | |\n' "$l50" "$lmax"
