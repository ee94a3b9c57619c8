#!/usr/bin/env bash
# Both scenarios from scratch: fresh database, scenario A and its checks, scenario B and its checks, teardown.
# Needs TeamTalk's servers built under $TT_BUILD (/work/shared/teamtalk-cpp-build.md). About a minute.
set -uo pipefail
source "$(dirname "$0")/env.sh"
trap '"$INTEROP_DIR/teardown.sh"' EXIT
"$INTEROP_DIR/setup-db.sh" || exit 1
rc=0
"$INTEROP_DIR/start-a.sh" || exit 1
(cd "$REPO_ROOT" && node --import tsx scripts/interop/driver.ts a) || rc=1
"$INTEROP_DIR/stop.sh"
"$INTEROP_DIR/start-b.sh" || exit 1
(cd "$REPO_ROOT" && node --import tsx scripts/interop/driver.ts b) || rc=1
exit $rc
