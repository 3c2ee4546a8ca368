#!/usr/bin/env bash
# One command, fresh machine: install, start services and the Temporal dev
# server, create a demo source, run a sync with an in-process worker, print
# the summary. The dev server (and its Web UI) keeps running afterwards.
# Works from any directory; each clone gets databases of its own, named from
# the clone's path (or TABLESYNC_DEMO_NAME), so two clones' demos never meet.
set -euo pipefail
cd "$(dirname "$0")/.."
# npm ci: exactly the locked versions, and the lock is never rewritten.
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
bash scripts/services.sh
bash scripts/dev-server.sh
export TABLESYNC_DEMO_NAME="${TABLESYNC_DEMO_NAME:-tablesync_demo_$(pwd -P | sha256sum | cut -c1-8)}"
pg="${TABLESYNC_DEMO_PG:-postgres://postgres@127.0.0.1:5432}"
# examples/demo.yaml names the connections; their URLs come from the environment.
export TABLESYNC_CONNECTION_DEMO_SRC="$pg/${TABLESYNC_DEMO_NAME}_src"
export TABLESYNC_CONNECTION_DEMO_DST="$pg/${TABLESYNC_DEMO_NAME}_dst"
# The source is only ever read, the target written (see docs/security.md).
export TABLESYNC_ROLE_DEMO_SRC=source TABLESYNC_ROLE_DEMO_DST=target
node dist/scripts/demo-data.js
code=0
node dist/client/cli.js run --config examples/demo.yaml --local || code=$?
echo
echo "To run it again or verify it:"
echo "  export TABLESYNC_CONNECTION_DEMO_SRC=$TABLESYNC_CONNECTION_DEMO_SRC TABLESYNC_CONNECTION_DEMO_DST=$TABLESYNC_CONNECTION_DEMO_DST"
echo "  export TABLESYNC_ROLE_DEMO_SRC=source TABLESYNC_ROLE_DEMO_DST=target"
echo "  node dist/client/cli.js verify --config examples/demo.yaml --local"
pid="$(cat .temporal/dev-server.pid 2>/dev/null || true)"
echo "Temporal Web UI: http://localhost:${TEMPORAL_UI_PORT:-8233} (the dev server keeps running${pid:+; stop it with: kill $pid})"
exit "$code"
