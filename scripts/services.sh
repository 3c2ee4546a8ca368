#!/usr/bin/env bash
# Makes sure the local PostgreSQL and MariaDB answer, starting them with the
# machine's own commands when they do not. Idempotent.
# cdc mode needs a PostgreSQL with wal_level=logical; rather than change the
# machine's default cluster, a second cluster `cdc` on port 5434 is created
# (once) with logical decoding on and trust for local connections.
set -euo pipefail
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {
  for _ in $(seq 1 60); do answers "$1" && return 0; sleep 0.5; done
  echo "$2 did not start on port $1" >&2; return 1
}
if ! answers 5432; then
  echo "Starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_for 5432 PostgreSQL
fi
if ! answers 3306; then
  echo "Starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for 3306 MariaDB
fi
CDC_PORT=${TABLESYNC_PG_CDC_PORT:-5434}
if ! answers "$CDC_PORT"; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  if [ ! -d "/etc/postgresql/$version/cdc" ]; then
    echo "Creating PostgreSQL cluster $version/cdc on port $CDC_PORT (wal_level=logical)"
    pg_createcluster "$version" cdc -p "$CDC_PORT" -- --auth=trust > /dev/null
    conf=/etc/postgresql/$version/cdc/conf.d/cdc.conf
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "wal_level = logical"
      echo "max_replication_slots = 20"
      echo "max_wal_senders = 20"
    } > "$conf"
  fi
  echo "Starting PostgreSQL cluster $version/cdc"
  pg_ctlcluster --skip-systemctl-redirect "$version" cdc start
  wait_for "$CDC_PORT" "PostgreSQL (cdc cluster)"
fi
