#!/usr/bin/env bash
# Stops what start-a.sh / start-b.sh started (by the pids they recorded), nothing else.
source "$(dirname "$0")/env.sh"
[ -f "$TT_RUN/pids" ] || { echo "[interop] nothing recorded in $TT_RUN/pids"; exit 0; }
while read -r pid name; do
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" && echo "[interop] stopped $name ($pid)"; fi
done <"$TT_RUN/pids"
sleep 2
while read -r pid name; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" && echo "[interop] killed $name ($pid)"; done <"$TT_RUN/pids"
rm -f "$TT_RUN/pids"
