#!/usr/bin/env bash
# One command, fresh machine: install, start services and the Temporal dev
# server, create a demo source, run a sync with an in-process worker, print
# the summary. The dev server (and its Web UI) keeps running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
# npm ci: exactly the locked versions, and the lock is never rewritten.
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
bash scripts/services.sh
bash scripts/dev-server.sh
node dist/scripts/demo-data.js
node dist/client/cli.js run --config examples/demo.yaml --local
echo
echo "Temporal Web UI: http://localhost:${TEMPORAL_UI_PORT:-8233} (the dev server keeps running; stop it with: pkill -f 'temporal server start-dev')"
