#!/usr/bin/env bash
# Loads the Chinook sample database into the docker-compose `mssql` service,
# with the sqlcmd that ships in the SQL Server image (none needed locally).
#
# The project does not ship Chinook: pass the path of Chinook_SqlServer.sql
# (https://github.com/lerocha/chinook-database, version 1.4.5), relative to
# where you run this or absolute, e.g. from the repository root:
#   docker/mssql/seed.sh ../shared/data/chinook/Chinook_SqlServer.sql
# The script drops and recreates the database [Chinook].
# MSSQL_SA_PASSWORD must match the one the service was started with.
set -euo pipefail

if [[ $# -ne 1 || ! -f $1 ]]; then
  echo "usage: docker/mssql/seed.sh path/to/Chinook_SqlServer.sql" >&2
  exit 2
fi
script=$(realpath "$1")
cd "$(dirname "$0")/../.." # the compose project is the repository root
password=${MSSQL_SA_PASSWORD:-TablesyncDev2022}
# -C: the image's certificate is self-signed; -b: exit non-zero on an error;
# -r1: errors to stderr, so they show while row counts go to /dev/null.
sqlcmd() { docker compose exec -T mssql /opt/mssql-tools18/bin/sqlcmd -C -S localhost -U sa -P "$password" -b -r1 "$@"; }

# A fresh container takes a while before it accepts logins.
for attempt in $(seq 60); do
  if sqlcmd -Q 'SELECT 1' >/dev/null 2>&1; then break; fi
  if [[ $attempt -eq 60 ]]; then
    echo "seed.sh: SQL Server in the mssql service did not accept a login within 2 minutes" >&2
    exit 1
  fi
  sleep 2
done

docker compose cp "$script" mssql:/tmp/chinook.sql
# -f 65001: the script is UTF-8 (names such as "Antônio Carlos Jobim").
sqlcmd -f 65001 -i /tmp/chinook.sql >/dev/null
echo "Chinook loaded into the mssql service"
