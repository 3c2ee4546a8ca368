#!/usr/bin/env bash
# Starts `temporal server start-dev` (SQLite file, Web UI on :8233) unless
# something already answers on TEMPORAL_ADDRESS. Leaves it running.
set -euo pipefail
cd "$(dirname "$0")/.."
address="${TEMPORAL_ADDRESS:-localhost:7233}"
host="${address%:*}"; port="${address##*:}"
answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
if answers; then echo "Temporal answers on $address"; exit 0; fi
cli="$(bash scripts/temporal-cli.sh)"
mkdir -p .temporal
echo "Starting the Temporal dev server on $address (Web UI http://localhost:${TEMPORAL_UI_PORT:-8233}, data in .temporal/dev.db)"
nohup setsid "$cli" server start-dev --ip "$host" --port "$port" --ui-port "${TEMPORAL_UI_PORT:-8233}" \
  --db-filename .temporal/dev.db --log-level warn > .temporal/dev-server.log 2>&1 < /dev/null &
# Its own pid, so stopping it never touches another clone's server.
echo $! > .temporal/dev-server.pid
for _ in $(seq 1 120); do
  if answers; then exit 0; fi
  sleep 0.5
done
echo "The Temporal dev server did not answer on $address within 60 s; see .temporal/dev-server.log" >&2
exit 1
