#!/usr/bin/env bash
# Stops everything started here, drops the interop database, empties Redis db $REDIS_DB.
source "$(dirname "$0")/env.sh"
"$INTEROP_DIR/stop.sh"
mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS \`$INTEROP_DB\`"
redis-cli -n "$REDIS_DB" flushdb >/dev/null
echo "[interop] dropped $INTEROP_DB, flushed Redis db $REDIS_DB"
