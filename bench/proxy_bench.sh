#!/usr/bin/env bash
# proxy_bench.sh: pgbench throughput and latency direct to PostgreSQL, through the pgpitr proxy
# (`pgpitr run --listen`, capture running as in production) and through pgbouncer (session mode).
#
# Everything is set up and torn down by the script itself, in one run: a throwaway PostgreSQL 15,
# a private pgbouncer, and `pgpitr run`, all on 127.0.0.1 and free ports, in one temporary folder
# that is removed at the end (also on failure or Ctrl-C). Nothing is written into the repository.
#
# Usage: bash bench/proxy_bench.sh [-h|--help]
#
# Environment (all optional):
#   BENCH_SECONDS   duration of each pgbench run, seconds              (default 10)
#   BENCH_REPEATS   repetitions of each cell; the table shows medians  (default 3)
#   BENCH_CLIENTS   client counts                                      (default "1 8 32")
#   BENCH_WORKLOADS workloads, any of: tpcb select                     (default "tpcb select")
#   BENCH_SCALE     pgbench -i scale factor                            (default 10)
#   PGPITR_BIN      pgpitr binary (default /tmp/build-bench/cli/pgpitr; built there when missing)
#   PG_BIN          PostgreSQL server binaries                         (default /usr/lib/postgresql/15/bin)
#   BENCH_LOG_DIR   if set, a folder (outside the repo, created) that receives copies of all logs
#                   (server, pgbouncer, pgpitr, every pgbench run) before the temp folder is removed
#
# Must run as root (it installs pgbouncer when missing and runs PostgreSQL and pgbouncer as the
# `postgres` OS user). Takes about 2 x |clients| x 3 targets x repeats x BENCH_SECONDS plus ~1 min
# (about 10 minutes with the defaults).
set -Eeuo pipefail

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
REPEATS=${BENCH_REPEATS:-3}
CLIENTS=${BENCH_CLIENTS:-"1 8 32"}
WORKLOADS=${BENCH_WORKLOADS:-"tpcb select"}
SCALE=${BENCH_SCALE:-10}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGPITR_BIN=${PGPITR_BIN:-/tmp/build-bench/cli/pgpitr}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$SRC_DIR/bench/lib.sh"
TARGETS=(direct pgpitr pgbouncer)

for v in SECONDS_PER_RUN REPEATS SCALE; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer (got '${!v}')" >&2; exit 2; }
done
for c in $CLIENTS; do [[ $c =~ ^[1-9][0-9]*$ ]] || { echo "bad client count '$c'" >&2; exit 2; }; done
for w in $WORKLOADS; do [[ $w == tpcb || $w == select ]] || { echo "bad workload '$w'" >&2; exit 2; }; done
bench_require_root

# ---------------------------------------------------------------- cleanup (runs on every exit)
TMP=""
PGPITR_PID=""
PGBENCH_PID=""
cleanup() {
  local rc=$?
  set +e
  # No second Ctrl-C or a closed stderr (e.g. `| tee` killed by Ctrl-C) may cut the cleanup short.
  trap '' INT TERM HUP PIPE
  trap - EXIT
  if [[ -n $PGBENCH_PID ]] && kill -0 "$PGBENCH_PID" 2> /dev/null; then
    kill -TERM "$PGBENCH_PID" 2> /dev/null; wait "$PGBENCH_PID" 2> /dev/null
  fi
  if [[ -n $PGPITR_PID ]] && kill -0 "$PGPITR_PID" 2> /dev/null; then
    log "stopping pgpitr (SIGTERM, pid $PGPITR_PID)"
    kill -TERM "$PGPITR_PID" 2> /dev/null
    for _ in $(seq 1 300); do kill -0 "$PGPITR_PID" 2> /dev/null || break; sleep 0.1; done
    if kill -0 "$PGPITR_PID" 2> /dev/null; then
      log "pgpitr did not exit within 30 s of SIGTERM; killing it"
      kill -KILL "$PGPITR_PID" 2> /dev/null
    fi
    wait "$PGPITR_PID" 2> /dev/null
    log "pgpitr exited with status $?"
  fi
  if [[ -n $TMP && -s $TMP/pgbouncer.pid ]]; then
    local pid; pid=$(cat "$TMP/pgbouncer.pid")
    kill -TERM "$pid" 2> /dev/null  # SIGTERM: immediate shutdown
    for _ in $(seq 1 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2> /dev/null && kill -KILL "$pid" 2> /dev/null
  fi
  bench_stop_server "$TMP"
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ -n ${BENCH_LOG_DIR:-} ]]; then
      mkdir -p "$BENCH_LOG_DIR" && cp -r "$TMP"/logs/. "$BENCH_LOG_DIR"/ 2> /dev/null &&
        log "logs copied to $BENCH_LOG_DIR"
    fi
    if [[ $rc != 0 && -d $TMP/logs ]]; then
      for f in pgpitr.log pgbouncer.log postgres.log; do
        [[ -s $TMP/logs/$f ]] || continue
        echo "---- last lines of $f ----" >&2
        tail -n 30 "$TMP/logs/$f" >&2
      done
    fi
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP
trap 'exit 141' PIPE   # stdout/stderr closed: still clean up (a trapped signal is reset in children)

# ---------------------------------------------------------------- helpers
# Waits until a TCP port on 127.0.0.1 accepts connections; $3 is a pid that must stay alive.
wait_port() {
  local port=$1 what=$2 pid=${3:-} deadline=$((SECONDS + ${4:-60}))
  while ((SECONDS < deadline)); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then return 0; fi
    if [[ -n $pid ]] && ! kill -0 "$pid" 2> /dev/null; then echo "$what exited before listening on $port" >&2; return 1; fi
    sleep 0.2
  done
  echo "$what did not listen on 127.0.0.1:$port in time" >&2; return 1
}

# ---------------------------------------------------------------- pgpitr binary, pgbouncer
bench_build_pgpitr
if ! command -v pgbouncer > /dev/null 2>&1; then
  log "installing pgbouncer (apt-get install -y pgbouncer)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer > /dev/null 2>&1 || {
    apt-get update > /dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer > /dev/null
  }
fi
PGBOUNCER_BIN=$(command -v pgbouncer)

# ---------------------------------------------------------------- temp folder, PostgreSQL
TMP=$(mktemp -d /tmp/proxy-bench.XXXXXX)
mkdir -p "$TMP/logs/pgbench" "$TMP/repo"
PG_PORT=$(free_port); PROXY_PORT=$(free_port); BOUNCER_PORT=$(free_port)
bench_start_server "$TMP" "$PG_PORT" "max_connections = 200" "fsync = off" "synchronous_commit = off" \
  "full_page_writes = off" "shared_buffers = 512MB"

export PGSSLMODE=disable   # plain text on every leg, so the three targets compare alike
unset PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD PGOPTIONS PGSERVICE DATABASE_URL 2> /dev/null || true
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
"${PSQL[@]}" -p "$PG_PORT" -d postgres -c "CREATE DATABASE bench"
log "pgbench -i -s $SCALE (direct)"
"$PG_BIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s "$SCALE" -q bench > "$TMP/logs/pgbench-init.log" 2>&1 ||
  { cat "$TMP/logs/pgbench-init.log" >&2; exit 1; }
"${PSQL[@]}" -p "$PG_PORT" -d bench -c "CHECKPOINT"

# ---------------------------------------------------------------- pgbouncer
printf '"postgres" ""\n' > "$TMP/userlist.txt"
cat > "$TMP/pgbouncer.ini" << EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $TMP/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 100
max_db_connections = 0
logfile = $TMP/logs/pgbouncer.log
pidfile = $TMP/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
EOF
chown postgres: "$TMP/pgbouncer.ini" "$TMP/userlist.txt"
log "starting pgbouncer on 127.0.0.1:$BOUNCER_PORT"
runuser -u postgres -- "$PGBOUNCER_BIN" -d "$TMP/pgbouncer.ini" > "$TMP/logs/pgbouncer.stdout" 2>&1 ||
  { cat "$TMP/logs/pgbouncer.stdout" "$TMP/logs/pgbouncer.log" >&2 2> /dev/null; exit 1; }
wait_port "$BOUNCER_PORT" pgbouncer "" 30

# ---------------------------------------------------------------- pgpitr run --listen
SOURCE="host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"
log "starting pgpitr run --listen 127.0.0.1:$PROXY_PORT (capture into $TMP/repo)"
"$PGPITR_BIN" run --source "$SOURCE" --repo "$TMP/repo" --listen "127.0.0.1:$PROXY_PORT" \
  --pg-bin "$PG_BIN" > "$TMP/logs/pgpitr.log" 2>&1 &
PGPITR_PID=$!
wait_port "$PROXY_PORT" "pgpitr" "$PGPITR_PID" 120
# The first base dump runs in the background of `run`; wait for it so that it does not overlap
# the measurements (it is a one-off cost, not part of the steady state being measured).
log "waiting for pgpitr's first base dump"
deadline=$((SECONDS + 600))
until "$PGPITR_BIN" info --repo "$TMP/repo" --json 2> /dev/null | grep -Eq '"usable": *true'; do
  kill -0 "$PGPITR_PID" 2> /dev/null || { echo "pgpitr exited while taking its first base" >&2; exit 1; }
  ((SECONDS < deadline)) || { echo "pgpitr's first base dump did not finish in 600 s" >&2; exit 1; }
  sleep 1
done
for port in "$PG_PORT" "$PROXY_PORT" "$BOUNCER_PORT"; do
  "${PSQL[@]}" -p "$port" -d bench -At -c "SELECT 1" > /dev/null ||
    { echo "SELECT 1 failed on port $port" >&2; exit 1; }
done

# ---------------------------------------------------------------- header
PG_VERSION=$("${PSQL[@]}" -p "$PG_PORT" -d bench -At -c "SELECT version()")
PGB_VERSION=$("$PGBOUNCER_BIN" --version 2> /dev/null | head -n 1)
PGBENCH_VERSION=$("$PG_BIN/pgbench" --version)
PGPITR_VERSION=$("$PGPITR_BIN" --version 2> /dev/null | head -n 1 || true)
GIT_REV=$(git -C "$SRC_DIR" rev-parse --short HEAD 2> /dev/null || echo unknown)
GIT_DIRTY=$(git -C "$SRC_DIR" status --porcelain --untracked-files=no 2> /dev/null | grep -q . && echo " (work tree modified)" || true)
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)
TOTAL_RUNS=$(( $(wc -w <<< "$WORKLOADS") * $(wc -w <<< "$CLIENTS") * ${#TARGETS[@]} * REPEATS ))

cat << EOF

# pgpitr proxy benchmark

- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- machine: $(nproc) CPUs (${CPU_MODEL:-unknown}), ${MEM_GIB} GiB memory, $(uname -sr); shared machine, expect noise
- PostgreSQL: $PG_VERSION
- pgbench: $PGBENCH_VERSION
- pgbouncer: $PGB_VERSION (pool_mode=session, default_pool_size=100, auth_type=trust)
- pgpitr: ${PGPITR_VERSION:-?}, git $GIT_REV$GIT_DIRTY, \`pgpitr run --listen\` (capture into a repo is running during ALL runs, for every target)
- server settings: fsync=off, synchronous_commit=off, full_page_writes=off (to reduce disk noise; not production-realistic), shared_buffers=512MB, wal_level=logical, max_connections=200
- everything on 127.0.0.1 over TCP, sslmode=disable; pgbench scale $SCALE, simple protocol, -n, -T $SECONDS_PER_RUN, -j min(clients,2)
- each cell: median of $REPEATS runs; targets interleaved (order rotated) within each repetition; $TOTAL_RUNS runs in all
- TPS excludes connection time; latency = pgbench "latency average"

EOF

# ---------------------------------------------------------------- the runs
declare -A TPS=() LAT=() FAILS=()
port_of() { case $1 in direct) echo "$PG_PORT" ;; pgpitr) echo "$PROXY_PORT" ;; pgbouncer) echo "$BOUNCER_PORT" ;; esac; }

run_one() {  # workload clients target rep
  local w=$1 c=$2 t=$3 rep=$4 port j out rc tps lat
  port=$(port_of "$t")
  j=$((c < 2 ? c : 2))
  out="$TMP/logs/pgbench/$w-c$c-$t-r$rep.log"
  local args=(-h 127.0.0.1 -p "$port" -U postgres -n -T "$SECONDS_PER_RUN" -c "$c" -j "$j")
  [[ $w == select ]] && args+=(-S)
  timeout --signal=TERM --kill-after=10 $((SECONDS_PER_RUN * 3 + 60)) \
    "$PG_BIN/pgbench" "${args[@]}" bench > "$out" 2>&1 &
  PGBENCH_PID=$!
  rc=0; wait "$PGBENCH_PID" || rc=$?
  PGBENCH_PID=""
  tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$out" | head -n 1)
  lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$out" | head -n 1)
  local failed; failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$out" | head -n 1)
  if [[ $rc != 0 || -z $tps || -z $lat || ${failed:-0} != 0 ]]; then
    FAILS["$w/$c/$t"]=$(( ${FAILS["$w/$c/$t"]:-0} + 1 ))
    local why="exit $rc"; ((rc == 124)) && why="timed out (hung?)"
    log "  FAILED: $w c=$c $t rep $rep: $why, failed transactions ${failed:-?}; pgbench said:"
    grep -v '^pgbench (' "$out" | grep -iE 'error|abort|fatal|fail|could not|timeout' | head -n 5 | sed 's/^/      /' >&2 || true
    [[ -n $tps && $rc == 0 ]] || return 0
  fi
  TPS["$w/$c/$t"]+="$tps "
  LAT["$w/$c/$t"]+="$lat "
  log "  $w c=$c $t rep $rep: tps $tps, latency ${lat} ms"
}

n=0
for rep in $(seq 1 "$REPEATS"); do
  # rotate the target order each repetition so no target is always first or last
  order=()
  for i in "${!TARGETS[@]}"; do order+=("${TARGETS[$(((i + rep - 1) % ${#TARGETS[@]}))]}"); done
  for w in $WORKLOADS; do
    for c in $CLIENTS; do
      for t in "${order[@]}"; do
        n=$((n + 1))
        kill -0 "$PGPITR_PID" 2> /dev/null || { echo "pgpitr is no longer running" >&2; exit 1; }
        log "run $n/$TOTAL_RUNS"
        run_one "$w" "$c" "$t" "$rep"
      done
    done
  done
done

# ---------------------------------------------------------------- table
fmt() { [[ -n $1 ]] && printf "%.${2}f" "$1" || printf 'n/a'; }
ratio() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }' || printf 'n/a'; }
med() { tr ' ' '\n' <<< "$1" | grep . | median || true; }

echo
echo "| workload | clients | direct TPS | pgpitr TPS | pgbouncer TPS | pgpitr/direct | pgpitr/pgbouncer | direct lat ms | pgpitr lat ms | pgbouncer lat ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for w in $WORKLOADS; do
  name=$([[ $w == tpcb ]] && echo "TPC-B (default)" || echo "select-only (-S)")
  for c in $CLIENTS; do
    declare -A mt=() ml=()
    for t in "${TARGETS[@]}"; do
      mt[$t]=$(med "${TPS["$w/$c/$t"]:-}")
      ml[$t]=$(med "${LAT["$w/$c/$t"]:-}")
    done
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$c" \
      "$(fmt "${mt[direct]}" 0)" "$(fmt "${mt[pgpitr]}" 0)" "$(fmt "${mt[pgbouncer]}" 0)" \
      "$(ratio "${mt[pgpitr]}" "${mt[direct]}")" "$(ratio "${mt[pgpitr]}" "${mt[pgbouncer]}")" \
      "$(fmt "${ml[direct]}" 3)" "$(fmt "${ml[pgpitr]}" 3)" "$(fmt "${ml[pgbouncer]}" 3)"
    unset mt ml
  done
done
echo
if ((${#FAILS[@]} > 0)); then
  echo "Failed runs (excluded from the medians above):"
  for k in $(printf '%s\n' "${!FAILS[@]}" | sort); do echo "- $k: ${FAILS[$k]} of $REPEATS"; done
  echo
fi
echo "Per-run TPS (in run order):"
for w in $WORKLOADS; do
  for c in $CLIENTS; do
    for t in "${TARGETS[@]}"; do
      runs=$(tr ' ' '\n' <<< "${TPS["$w/$c/$t"]:-}" | awk 'NF {printf "%s%.0f", (n++ ? " " : ""), $1}')
      printf -- '- %s c=%s %s: %s\n' "$w" "$c" "$t" "${runs:-none}"
    done
  done
done
"$PGPITR_BIN" info --repo "$TMP/repo" 2> /dev/null | sed -n '1,6p' | sed 's/^/    /' > "$TMP/info.txt" || true
if [[ -s $TMP/info.txt ]]; then echo; echo "pgpitr info after the runs:"; cat "$TMP/info.txt"; fi
if grep -qiE 'error|fatal|warn' "$TMP/logs/pgpitr.log"; then
  echo; echo "pgpitr log lines with error/fatal/warn (first 20):"
  grep -iE 'error|fatal|warn' "$TMP/logs/pgpitr.log" | head -n 20 | sed 's/^/    /'
fi
