#!/usr/bin/env bash
# Scenario B: OUR access server (ACCESS_ROUTE_PROTOCOL=teamtalk) under TeamTalk's route_server and login_server,
# next to a TeamTalk msg_server on the same route_server/login_server; both on OUR db-proxy. Stop with stop.sh.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$TT_RUN"

start_ours db-proxy db-proxy/main.ts DB_PROXY_HOST=127.0.0.1 DB_PROXY_PORT=$DB_PROXY_PORT DB_PROXY_HTTP_PORT=$DB_PROXY_HTTP_PORT
start_tt login-b login_server/login_server "$INTEROP_DIR/conf/loginserver-b.conf"
start_tt route-b route_server/route_server "$INTEROP_DIR/conf/routeserver-b.conf"
start_ours access-b access-server/main.ts ACCESS_SERVER_ID=interop-b ACCESS_HOST=127.0.0.1 ACCESS_PORT=$B_ACCESS_PORT \
  ACCESS_HTTP_PORT=$B_ACCESS_HTTP_PORT DB_PROXY_ADDRS=127.0.0.1:$DB_PROXY_PORT ACCESS_ROUTE_PROTOCOL=teamtalk \
  ROUTE_SERVERS=127.0.0.1:$B_TT_ROUTE_PORT LOGIN_SERVERS=127.0.0.1:$B_LOGIN_MSG_PORT
start_tt msg-b msg_server/msg_server "$INTEROP_DIR/conf/msgserver-b.conf"
sleep 2
echo "[interop] scenario B running; logs in $TT_RUN"
