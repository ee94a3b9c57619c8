# Shared settings of the interop runs (sourced by start-a.sh, start-b.sh, stop.sh).
# TT_BUILD: where TeamTalk's servers were built (see /work/shared/teamtalk-cpp-build.md).
# TT_RUN:   scratch run directories and logs of every process (outside the repo).
export TT_BUILD=${TT_BUILD:-/tmp/tt-build}
export TT_RUN=${TT_RUN:-/tmp/tt-interop}
export INTEROP_DB=${INTEROP_DB:-tt_interop}
export MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306/$INTEROP_DB}
export REDIS_DB=${REDIS_DB:-7}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/$REDIS_DB}
export SHARDS=${SHARDS:-8}
export CLUSTER_SECRET=${CLUSTER_SECRET:-interop-cluster-secret-0123456789}
export DB_PROXY_TRUSTED_PEERS=127.0.0.1
export ROUTE_TRUSTED_PEERS=127.0.0.1
# Ports (fixed: the conf files under conf/ name them).
export DB_PROXY_PORT=21600 DB_PROXY_HTTP_PORT=21601
# Scenario A: our route-server (links, HTTP, login_server-compatible port), our access server, TeamTalk msg_server
export A_ROUTE_PORT=21700 A_ROUTE_HTTP_PORT=21800 A_ROUTE_LOGIN_PORT=21100
export A_ACCESS_PORT=21000 A_ACCESS_HTTP_PORT=21001 A_TT_MSG_PORT=21008
# Scenario B: TeamTalk login_server (client/http/msg_server ports), route_server, msg_server; our access server
export B_LOGIN_CLIENT_PORT=22008 B_LOGIN_HTTP_PORT=22080 B_LOGIN_MSG_PORT=22100
export B_TT_ROUTE_PORT=22200 B_TT_MSG_PORT=22018
export B_ACCESS_PORT=22000 B_ACCESS_HTTP_PORT=22001
# Nothing listens here: msg_server's push/file server entries point at it.
export CLOSED_PORT=21999

INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$INTEROP_DIR/../.." && pwd)
export INTEROP_DIR REPO_ROOT

# start_ours NAME SCRIPT [VAR=VALUE...]: one of our processes, logs under $TT_RUN/NAME.log, pid in $TT_RUN/pids
start_ours() {
  local name=$1 script=$2; shift 2
  mkdir -p "$TT_RUN"
  (cd "$REPO_ROOT" && exec env "$@" node --import tsx "$script") >"$TT_RUN/$name.log" 2>&1 &
  echo "$! $name" >>"$TT_RUN/pids"
  wait_log "$TT_RUN/$name.log" 'listening' "$name"
}

# start_tt NAME BINARY CONF: a TeamTalk server in its own run dir (conf, log4cxx.properties, log/ beside it)
start_tt() {
  local name=$1 bin=$2 conf=$3 dir="$TT_RUN/$1"
  rm -rf "$dir" && mkdir -p "$dir/log"
  cp "$conf" "$dir/$(basename "$conf" | sed 's/-[ab]\.conf$/.conf/')"
  cp "$TT_BUILD/server/src/msg_server/log4cxx.properties" "$dir/"
  (cd "$dir" && exec env LD_LIBRARY_PATH="$TT_BUILD/server/src/base/slog/lib" "$TT_BUILD/server/src/$bin") >"$dir/stdout.log" 2>&1 &
  echo "$! $name" >>"$TT_RUN/pids"
  sleep 1
}

wait_log() {
  local file=$1 pattern=$2 name=$3
  for _ in $(seq 1 120); do
    if grep -q "$pattern" "$file" 2>/dev/null; then echo "[interop] $name up"; return 0; fi
    sleep 0.5
  done
  echo "[interop] $name did not come up; see $file" >&2; tail -20 "$file" >&2; return 1
}
