#!/usr/bin/env bash
# Fresh interop database and Redis db: drops and re-creates $INTEROP_DB (tt_interop), migrates it,
# creates the four users (password "secret"), empties Redis db $REDIS_DB. Touches nothing else.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS \`$INTEROP_DB\`; CREATE DATABASE \`$INTEROP_DB\`"
redis-cli -n "$REDIS_DB" flushdb >/dev/null
cd "$REPO_ROOT"
npm run -s migrate | tail -1
for u in xena yuri xavier yvonne; do npm run -s client -- --create-user "$u" secret | head -1; done
