#!/usr/bin/env bash
# Scenario A: TeamTalk msg_server under OUR route-server (with its login_server-compatible port) and OUR db-proxy,
# next to one of OUR access servers. Needs the database migrated (see README.md). Stop with stop.sh.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$TT_RUN"

start_ours db-proxy db-proxy/main.ts DB_PROXY_HOST=127.0.0.1 DB_PROXY_PORT=$DB_PROXY_PORT DB_PROXY_HTTP_PORT=$DB_PROXY_HTTP_PORT
start_ours route-server-a route-server/main.ts ROUTE_SERVER_HOST=127.0.0.1 ROUTE_SERVER_PORT=$A_ROUTE_PORT \
  ROUTE_HTTP_PORT=$A_ROUTE_HTTP_PORT ROUTE_LOGIN_PORT=$A_ROUTE_LOGIN_PORT ROUTE_MSFS_URL=http://127.0.0.1:8700/
start_ours access-a access-server/main.ts ACCESS_SERVER_ID=interop-a ACCESS_HOST=127.0.0.1 ACCESS_PORT=$A_ACCESS_PORT \
  ACCESS_HTTP_PORT=$A_ACCESS_HTTP_PORT DB_PROXY_ADDRS=127.0.0.1:$DB_PROXY_PORT ROUTE_SERVERS=127.0.0.1:$A_ROUTE_PORT
start_tt msg-a msg_server/msg_server "$INTEROP_DIR/conf/msgserver-a.conf"
sleep 2
echo "[interop] scenario A running; logs in $TT_RUN (TeamTalk msg_server: $TT_RUN/msg-a/log/default.log)"
