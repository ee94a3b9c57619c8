#!/usr/bin/env bash
# Checks a finding of these runs (README.md), now fixed: with scenario A running, restarts the TeamTalk
# msg_server and logs in to it 4.2 s later, when its db links have been silent for longer than db-proxy's
# handshake deadline (CLUSTER_HANDSHAKE_TIMEOUT_MS, 3000) and before msg_server's first heartbeat (5 s).
# db-proxy used to close such links then and the login was refused with result 3 (REFUSE_REASON_NO_DB_SERVER);
# links from DB_PROXY_TRUSTED_PEERS now get the link timeout instead, and the login succeeds.
set -uo pipefail
source "$(dirname "$0")/env.sh"
pid=$(awk '$2=="msg-a"{print $1}' "$TT_RUN/pids")
[ -n "$pid" ] || { echo "scenario A is not running" >&2; exit 1; }
kill "$pid"; sleep 1; sed -i '/ msg-a$/d' "$TT_RUN/pids"
start_tt msg-a msg_server/msg_server "$INTEROP_DIR/conf/msgserver-a.conf"   # returns 1 s after the start
sleep 3.2
cd "$REPO_ROOT"
echo "[probe] login 4.2 s after msg_server started:"
timeout 20 npm run -s client -- --host 127.0.0.1 --port "$A_TT_MSG_PORT" --user xena --password secret --unread 2>&1 | head -2
echo "[probe] db-proxy closed $(grep -c 'did not authenticate in time' "$TT_RUN/db-proxy.log") idle links so far"
