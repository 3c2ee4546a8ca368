#!/usr/bin/env bash
# What `npm run bench` needs on a fresh machine of the reference kind:
# node_modules, PostgreSQL and MariaDB up, the Temporal CLI, psql and the
# mariadb client, and pgloader (Debian package) for case 2's baseline.
# A missing pgloader is not fatal: the bench then says the baseline did not run.
set -euo pipefail
cd "$(dirname "$0")/.."
# npm ci: exactly the locked versions, and the lock is never rewritten.
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/services.sh
bash scripts/temporal-cli.sh > /dev/null
for tool in psql mariadb; do
  command -v "$tool" > /dev/null || { echo "bench needs $tool on PATH" >&2; exit 1; }
done
if ! command -v pgloader > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "Installing pgloader (Debian package), once"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q pgloader > /tmp/bench-pgloader-install.log 2>&1 ||
      { apt-get update -q > /dev/null 2>&1 && apt-get install -y -q pgloader >> /tmp/bench-pgloader-install.log 2>&1; } ||
      echo "WARNING: could not install pgloader (see /tmp/bench-pgloader-install.log); case 2 runs without that baseline" >&2
  else
    echo "WARNING: pgloader is not installed and this is not a root Debian shell; case 2 runs without that baseline" >&2
  fi
fi
