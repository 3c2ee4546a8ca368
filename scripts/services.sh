#!/usr/bin/env bash
# Makes sure the local PostgreSQL and MariaDB answer, starting them with the
# machine's own commands when they do not. Idempotent.
# cdc mode needs a PostgreSQL with wal_level=logical; rather than change the
# machine's default cluster, a second cluster `cdc` on port 5434 is created
# (once) with logical decoding on and trust for local connections. Likewise a
# second MariaDB on port 3307 with the binary log on (row events, full row
# images and metadata), its own datadir, socket and config under
# /var/lib/mysql-cdc, created once with mariadb-install-db.
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
  # By its pid file: the binlog instance below runs the same binary, which --exec alone would take for this one.
  start-stop-daemon --start --oknodo --background --pidfile /run/mysqld/mysqld.pid --exec /usr/sbin/mariadbd
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
MYSQL_CDC_PORT=${TABLESYNC_MYSQL_CDC_PORT:-3307}
if ! answers "$MYSQL_CDC_PORT"; then
  dir=${TABLESYNC_MYSQL_CDC_DIR:-/var/lib/mysql-cdc}
  cnf=$dir/my.cnf
  if [ ! -d "$dir/data/mysql" ]; then
    echo "Creating MariaDB instance in $dir on port $MYSQL_CDC_PORT (log_bin, binlog_format=ROW)"
    mkdir -p "$dir/data" "$dir/binlog"
    # Its own config file only (--defaults-file): the machine's my.cnf names the default instance's socket and datadir.
    cat > "$cnf" <<CNF
[mysqld]
user = mysql
datadir = $dir/data
socket = $dir/mysqld.sock
pid-file = $dir/mysqld.pid
log-error = $dir/error.log
port = $MYSQL_CDC_PORT
bind-address = 127.0.0.1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
server_id = $MYSQL_CDC_PORT
log_bin = $dir/binlog/mariadb-bin
binlog_format = ROW
binlog_row_image = FULL
binlog_row_metadata = FULL
innodb_buffer_pool_size = 64M
CNF
    chown -R mysql:mysql "$dir"
    mariadb-install-db --defaults-file="$cnf" --auth-root-authentication-method=normal --skip-test-db > "$dir/install.log" 2>&1 ||
      { cat "$dir/install.log" >&2; exit 1; }
  fi
  echo "Starting MariaDB (binlog) on port $MYSQL_CDC_PORT"
  start-stop-daemon --start --oknodo --background --pidfile "$dir/mysqld.pid" --exec /usr/sbin/mariadbd -- --defaults-file="$cnf"
  wait_for "$MYSQL_CDC_PORT" "MariaDB (binlog instance)"
fi
