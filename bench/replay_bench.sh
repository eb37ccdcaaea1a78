#!/usr/bin/env bash
# replay_bench.sh: how fast `pgpitr restore` replays captured pgbench transactions, against psql
# applying the same row changes as SQL statements in 1000-statement transactions, and against
# pg_restore loading a dump of the final state.
#
# Everything is set up and torn down by the script itself: a throwaway PostgreSQL 15 on 127.0.0.1
# and a free port, `pgpitr run` capturing database bench into a temporary repository (its first
# base is the pgbench -i state), then pgbench -n -t for the workload. The equivalent SQL is made
# from what pgbench wrote: every TPC-B transaction leaves one pgbench_history row (aid, tid, bid,
# delta), which names its three UPDATEs and its INSERT exactly. Each measurement is repeated and
# the table shows medians:
#   replay      `pgpitr restore --latest` into a new database: the replay part it prints
#   psql        psql -f of the equivalent SQL (1000 statements per transaction) into a database
#               restored from a dump of the initial state (the restore itself not timed)
#   pg_restore  pg_restore --jobs 2 of a dump (-Fc) of the final state into a new database, and of
#               the base pgpitr restores from, alone: what a restore costs with no change to replay
# The replay figure is what `pgpitr restore` prints; since it merges the first run of changes into
# the base's rows as they load, the table also shows the whole restore (base + replay) and replay's
# added time (the whole restore minus pg_restore of the base alone). The restored database is
# checked against the source (row counts and balance sums) once.
#
# Usage: bash bench/replay_bench.sh [--full] [-h|--help]
#   --full          1,000,000 pgbench transactions (4M row changes) at scale 10: about an hour here
#
# Environment (all optional):
#   BENCH_TRANSACTIONS  pgbench transactions (default 20000, or 1000000 with --full)
#   BENCH_SCALE         pgbench -i scale factor (default 10)
#   BENCH_CLIENTS       pgbench clients (default 4)
#   BENCH_REPEATS       repetitions of each measurement (default 3)
#   PGPITR_BIN          pgpitr binary (default /tmp/build-bench/cli/pgpitr; built there when missing)
#   PG_BIN              PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#
# Must run as root (PostgreSQL runs as the `postgres` OS user). With the defaults it takes about
# 3 minutes on 2 cores.
set -Eeuo pipefail

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }
FULL=0
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --full) FULL=1 ;;
    *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

if [[ $FULL == 1 ]]; then TRANSACTIONS=${BENCH_TRANSACTIONS:-1000000}; else TRANSACTIONS=${BENCH_TRANSACTIONS:-20000}; fi
SCALE=${BENCH_SCALE:-10}
CLIENTS=${BENCH_CLIENTS:-4}
REPEATS=${BENCH_REPEATS:-3}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGPITR_BIN=${PGPITR_BIN:-/tmp/build-bench/cli/pgpitr}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$SRC_DIR/bench/lib.sh"

for v in TRANSACTIONS SCALE CLIENTS REPEATS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer (got '${!v}')" >&2; exit 2; }
done
bench_require_root

# ---------------------------------------------------------------- cleanup (runs on every exit)
TMP=""
PGPITR_PID=""
cleanup() {
  local rc=$?
  set +e
  trap '' INT TERM HUP PIPE
  trap - EXIT
  if [[ -n $PGPITR_PID ]] && kill -0 "$PGPITR_PID" 2> /dev/null; then
    kill -TERM "$PGPITR_PID" 2> /dev/null
    for _ in $(seq 1 300); do kill -0 "$PGPITR_PID" 2> /dev/null || break; sleep 0.1; done
    kill -0 "$PGPITR_PID" 2> /dev/null && kill -KILL "$PGPITR_PID" 2> /dev/null
    wait "$PGPITR_PID" 2> /dev/null
  fi
  bench_stop_server "$TMP"
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ $rc != 0 ]]; then
      for f in "$TMP"/logs/*.log; do
        [[ -s $f ]] || continue
        echo "---- last lines of $(basename "$f") ----" >&2
        tail -n 20 "$f" >&2
      done
    fi
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# ---------------------------------------------------------------- pgpitr binary
bench_build_pgpitr

# ---------------------------------------------------------------- PostgreSQL
TMP=$(mktemp -d /tmp/replay-bench.XXXXXX)
mkdir -p "$TMP/repo" "$TMP/work"
PG_PORT=$(free_port)
bench_start_server "$TMP" "$PG_PORT" "fsync = off" "synchronous_commit = off" "full_page_writes = off" \
  "shared_buffers = 256MB"
chown postgres: "$TMP/work"

export PGSSLMODE=disable
unset PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD PGOPTIONS PGSERVICE DATABASE_URL 2> /dev/null || true
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
CONN="host=127.0.0.1 port=$PG_PORT user=postgres"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench"
log "pgbench -i -s $SCALE"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s "$SCALE" -q bench > "$TMP/logs/pgbench-init.log" 2>&1 ||
  { cat "$TMP/logs/pgbench-init.log" >&2; exit 1; }
"$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U postgres -Fc -f "$TMP/work/initial.dump" bench

# ---------------------------------------------------------------- capture and workload
log "starting pgpitr run (capture into $TMP/repo)"
# (pgbench_history has no key and takes only INSERTs: REPLICA IDENTITY FULL costs it nothing, and
# without it the restore names it, its UPDATEs and DELETEs not being captured.)
"$PGPITR_BIN" run --source "$CONN dbname=bench" --repo "$TMP/repo" --pg-bin "$PG_BIN" --set-replica-identity-full \
  > "$TMP/logs/pgpitr-run.log" 2>&1 &
PGPITR_PID=$!
deadline=$((SECONDS + 600))
until "$PGPITR_BIN" info --repo "$TMP/repo" --json 2> /dev/null | grep -Eq '"usable": *true'; do
  kill -0 "$PGPITR_PID" 2> /dev/null || { echo "pgpitr run exited while taking its first base" >&2; exit 1; }
  ((SECONDS < deadline)) || { echo "pgpitr's first base dump did not finish in 600 s" >&2; exit 1; }
  sleep 1
done

PER_CLIENT=$(( (TRANSACTIONS + CLIENTS - 1) / CLIENTS ))
TRANSACTIONS=$((PER_CLIENT * CLIENTS))
log "pgbench -n -c $CLIENTS -t $PER_CLIENT ($TRANSACTIONS TPC-B transactions, captured)"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -c "$CLIENTS" -j "$CLIENTS" -t "$PER_CLIENT" bench \
  > "$TMP/logs/pgbench.log" 2>&1 || { cat "$TMP/logs/pgbench.log" >&2; exit 1; }
END_LSN=$("${PSQL[@]}" -d bench -At -c "SELECT pg_current_wal_insert_lsn()")
log "waiting for capture to reach $END_LSN"
deadline=$((SECONDS + 1800))
while :; do
  through=$("$PGPITR_BIN" info --repo "$TMP/repo" --json 2> /dev/null |
    sed -n 's/.*"captured_through_lsn": *"\([0-9A-Fa-f/]*\)".*/\1/p' | head -n 1)
  if [[ -n $through ]] && [[ $("${PSQL[@]}" -d bench -At -c "SELECT '$through'::pg_lsn >= '$END_LSN'::pg_lsn") == t ]]; then break; fi
  kill -0 "$PGPITR_PID" 2> /dev/null || { echo "pgpitr run exited during the workload" >&2; exit 1; }
  ((SECONDS < deadline)) || { echo "capture did not reach $END_LSN in 1800 s" >&2; exit 1; }
  sleep 1
done
kill -TERM "$PGPITR_PID"; wait "$PGPITR_PID" || true; PGPITR_PID=""

# The equivalent SQL: each pgbench_history row is one TPC-B transaction's three UPDATEs and INSERT.
log "writing the equivalent SQL (1000 statements per transaction)"
"${PSQL[@]}" -d bench -At -c "
  SELECT format('UPDATE pgbench_accounts SET abalance = abalance + %s WHERE aid = %s;', delta, aid) || chr(10) ||
         format('UPDATE pgbench_tellers SET tbalance = tbalance + %s WHERE tid = %s;', delta, tid) || chr(10) ||
         format('UPDATE pgbench_branches SET bbalance = bbalance + %s WHERE bid = %s;', delta, bid) || chr(10) ||
         format('INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%s, %s, %s, %s, %L);',
                tid, bid, aid, delta, mtime)
  FROM pgbench_history ORDER BY mtime" |
  awk 'NR % 1000 == 1 {print "BEGIN;"} {print} NR % 1000 == 0 {print "COMMIT;"} END {if (NR % 1000) print "COMMIT;"}' \
    > "$TMP/work/equivalent.sql"
STATEMENTS=$(grep -cv '^BEGIN;\|^COMMIT;' "$TMP/work/equivalent.sql")
"$PG_BIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U postgres -Fc -f "$TMP/work/final.dump" bench
SOURCE_CHECK=$("${PSQL[@]}" -d bench -At -c "SELECT (SELECT sum(abalance) || '/' || count(*) FROM pgbench_accounts) || ' ' ||
  (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' || (SELECT sum(bbalance) FROM pgbench_branches) || ' ' ||
  (SELECT count(*) || '/' || sum(delta) FROM pgbench_history)")
FINAL_ROWS=$("${PSQL[@]}" -d bench -At -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables")

# ---------------------------------------------------------------- measurements
BASE_DUMP=$(ls "$TMP"/repo/bases/*/base.dump | head -n 1)
timed_pg_restore() {  # $1 = a new database, $2 = a dump; prints seconds
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $1"
  local start; start=$(now)
  "$PG_BIN/pg_restore" -h 127.0.0.1 -p "$PG_PORT" -U postgres --jobs 2 -d "$1" "$2"
  elapsed "$start"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE $1"
}
declare -a T_BASE=() T_REPLAY=() T_TOTAL=() T_PSQL=() T_PGRESTORE=() T_PGRESTORE_BASE=() RSS=()
for r in $(seq 1 "$REPEATS"); do
  log "run $r/$REPEATS: pgpitr restore --latest"
  out=$(/usr/bin/time -f 'maxrss_kib %M' "$PGPITR_BIN" restore --repo "$TMP/repo" --target "$CONN dbname=replay_$r" \
    --latest --pg-bin "$PG_BIN" 2>&1) || { echo "$out" >&2; exit 1; }
  echo "$out" > "$TMP/logs/restore-$r.log"
  T_BASE+=("$(sed -n 's/.*restored in \([0-9.]*\) s.*/\1/p' <<< "$out" | head -n 1)")
  T_REPLAY+=("$(sed -n 's/.*replayed: .* rows in \([0-9.]*\) s.*/\1/p' <<< "$out" | head -n 1)")
  T_TOTAL+=("$(awk -v a="${T_BASE[-1]}" -v b="${T_REPLAY[-1]}" 'BEGIN {printf "%.3f", a + b}')")
  RSS+=("$(sed -n 's/^maxrss_kib \([0-9]*\)$/\1/p' <<< "$out")")
  if [[ $r == 1 ]]; then
    RESTORED_CHECK=$("${PSQL[@]}" -d replay_1 -At -c "SELECT (SELECT sum(abalance) || '/' || count(*) FROM pgbench_accounts) || ' ' ||
      (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' || (SELECT sum(bbalance) FROM pgbench_branches) || ' ' ||
      (SELECT count(*) || '/' || sum(delta) FROM pgbench_history)")
    [[ $RESTORED_CHECK == "$SOURCE_CHECK" ]] ||
      { echo "restored database differs from the source: $RESTORED_CHECK vs $SOURCE_CHECK" >&2; exit 1; }
    REPLAY_SUMMARY=$(grep -m1 'replayed:' <<< "$out" | sed 's/^ *//')
  fi
  "${PSQL[@]}" -d postgres -c "DROP DATABASE replay_$r"

  log "run $r/$REPEATS: psql -f equivalent.sql ($STATEMENTS statements)"
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE psql_$r"
  "$PG_BIN/pg_restore" -h 127.0.0.1 -p "$PG_PORT" -U postgres --jobs 2 -d "psql_$r" "$TMP/work/initial.dump"
  start=$(now)
  "${PSQL[@]}" -d "psql_$r" -f "$TMP/work/equivalent.sql" > /dev/null
  T_PSQL+=("$(elapsed "$start")")
  "${PSQL[@]}" -d postgres -c "DROP DATABASE psql_$r"

  log "run $r/$REPEATS: pg_restore of the final state, and of the base alone"
  T_PGRESTORE+=("$(timed_pg_restore "final_$r" "$TMP/work/final.dump")")
  T_PGRESTORE_BASE+=("$(timed_pg_restore "base_$r" "$BASE_DUMP")")
done

m() { printf '%s\n' "$@" | median | awk '{printf "%.2f", $1}'; }
BASE=$(m "${T_BASE[@]}"); REPLAY=$(m "${T_REPLAY[@]}"); PSQL_T=$(m "${T_PSQL[@]}"); PGR=$(m "${T_PGRESTORE[@]}")
TOTAL=$(m "${T_TOTAL[@]}"); PGR_BASE=$(m "${T_PGRESTORE_BASE[@]}")
ADDED=$(awk -v t="$TOTAL" -v b="$PGR_BASE" 'BEGIN {printf "%.2f", t - b}')
RSS_MIB=$(printf '%s\n' "${RSS[@]}" | sort -g | tail -n 1 | awk '{printf "%.0f", $1 / 1024}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "inf"}'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN {if (t > 0) printf "%.0f", n / t; else print "-"}'; }
ROW_CHANGES=$((TRANSACTIONS * 4))

cat << EOF

# pgpitr replay benchmark

- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); $(nproc) CPUs, shared machine: expect noise
- workload: pgbench -i -s $SCALE, then $TRANSACTIONS TPC-B transactions ($CLIENTS clients) = $ROW_CHANGES row changes captured
- final state: $FINAL_ROWS rows; $REPLAY_SUMMARY
- restored = source: $SOURCE_CHECK (account sum/count, teller sum, branch sum, history count/sum)
- medians of $REPEATS runs; peak RSS of pgpitr restore: $RSS_MIB MiB

| measure | seconds | row changes/s | ratio |
|---|---:|---:|---|
| pgpitr replay (as restore prints it) | $REPLAY | $(rate $ROW_CHANGES "$REPLAY") | |
| psql, equivalent SQL in 1000-statement transactions | $PSQL_T | $(rate $ROW_CHANGES "$PSQL_T") | psql / replay = $(ratio "$PSQL_T" "$REPLAY") (goal >= 10) |
| pg_restore of the final state (--jobs 2) | $PGR | | replay / pg_restore = $(ratio "$REPLAY" "$PGR") (goal <= 2) |
| pgpitr restore, base + replay | $TOTAL | | restore / pg_restore of the final state = $(ratio "$TOTAL" "$PGR") |
| pg_restore of the base alone (--jobs 2) | $PGR_BASE | | |
| replay's added time: restore - pg_restore of the base | $ADDED | | added / pg_restore of the final state = $(ratio "$ADDED" "$PGR") |
| pgpitr's base part (schema, data with the first run merged in, indexes) | $BASE | | |
EOF
