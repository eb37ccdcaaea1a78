# lib.sh: what the benchmark scripts share, sourced by them (not run on its own): logging, timing,
# medians, a free port, the pgpitr binary, and a throwaway PostgreSQL 15 run as the postgres user.
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_start_server "$TMP" "$PG_PORT" "shared_buffers = 512MB"   # then bench_stop_server "$TMP"
# Expects PG_BIN, PGPITR_BIN and SRC_DIR to be set by the script.

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }

median() {  # numbers on stdin, one per line -> median (empty when none)
  sort -g | awk '{a[NR]=$1} END {if (NR==0) exit; if (NR%2) printf "%s", a[(NR+1)/2]; else printf "%.6f", (a[NR/2]+a[NR/2+1])/2}'
}

declare -A BENCH_USED_PORTS=()
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    [[ -n ${BENCH_USED_PORTS[$p]:-} ]] && continue
    if [[ -z $(ss -Hltn "sport = :$p" 2> /dev/null) ]]; then BENCH_USED_PORTS[$p]=1; echo "$p"; return 0; fi
  done
  echo "no free port found" >&2; return 1
}

bench_require_root() {
  [[ $(id -u) == 0 ]] || { echo "run as root (PostgreSQL is started as the postgres user)" >&2; exit 2; }
  id postgres > /dev/null 2>&1 || { echo "no 'postgres' OS user (install postgresql-15)" >&2; exit 2; }
  [[ -x $PG_BIN/pgbench ]] || { echo "PostgreSQL client programs not found in $PG_BIN" >&2; exit 2; }
  [[ -x ${PG_SERVER_BIN:-$PG_BIN}/initdb ]] || { echo "PostgreSQL server programs not found in ${PG_SERVER_BIN:-$PG_BIN} (16+: deploy/fetch_postgres.sh)" >&2; exit 2; }
}

# Builds pgpitr into /tmp/build-bench when PGPITR_BIN is missing, and points PGPITR_BIN at it.
bench_build_pgpitr() {
  [[ -x $PGPITR_BIN ]] && return 0
  log "building pgpitr into /tmp/build-bench (PGPITR_BIN=$PGPITR_BIN missing)"
  cmake -S "$SRC_DIR" -B /tmp/build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
  cmake --build /tmp/build-bench -j2 --target pgpitr > /dev/null
  PGPITR_BIN=/tmp/build-bench/cli/pgpitr
}

# initdb into $1/data and start on 127.0.0.1:$2 with wal_level=logical; further arguments are extra
# postgresql.conf lines. Logs go to $1/logs. Sets BENCH_PG_STARTED=1 for bench_stop_server.
BENCH_PG_STARTED=0
bench_start_server() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir/logs"
  chown postgres: "$dir" "$dir/logs"
  chmod 755 "$dir"   # postgres must reach its folders; root reads the logs
  log "initdb in $dir/data"
  runuser -u postgres -- "${PG_SERVER_BIN:-$PG_BIN}/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    > "$dir/logs/initdb.log" 2>&1 || { cat "$dir/logs/initdb.log" >&2; exit 1; }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "wal_level = logical"
    echo "max_wal_senders = 10"
    echo "max_replication_slots = 10"
    echo "max_wal_size = 4GB"
    echo "checkpoint_timeout = 30min"
    echo "logging_collector = off"
    local line
    for line in "$@"; do echo "$line"; done
  } >> "$dir/data/postgresql.conf"
  log "starting PostgreSQL on 127.0.0.1:$port"
  BENCH_PG_STARTED=1
  runuser -u postgres -- "${PG_SERVER_BIN:-$PG_BIN}/pg_ctl" -D "$dir/data" -l "$dir/logs/postgres.log" -w -t 60 start > /dev/null
}

bench_stop_server() {
  [[ $BENCH_PG_STARTED == 1 ]] || return 0
  runuser -u postgres -- "${PG_SERVER_BIN:-$PG_BIN}/pg_ctl" -D "$1/data" -m fast -t 30 -w stop > /dev/null 2>&1 ||
    runuser -u postgres -- "${PG_SERVER_BIN:-$PG_BIN}/pg_ctl" -D "$1/data" -m immediate -w stop > /dev/null 2>&1
  BENCH_PG_STARTED=0
}

# "X/Y" -> the LSN as one number, for comparing.
lsn_to_int() { local hi=${1%/*} lo=${1#*/}; echo $(( (16#$hi << 32) + 16#$lo )); }

# Waits (up to 120 s) until the repository $1 has its first base, while `pgpitr run` (pid $2) takes it.
bench_wait_first_base() {
  local repo=$1 pid=$2
  for _ in $(seq 1 600); do
    [[ $("$PGPITR_BIN" info --repo "$repo" --json 2> /dev/null | jq '.bases | length' 2> /dev/null) == 1 ]] && return 0
    kill -0 "$pid" 2> /dev/null || { echo "pgpitr run exited while taking its first base" >&2; return 1; }
    sleep 0.2
  done
  echo "pgpitr's first base did not finish in 120 s" >&2
  return 1
}
