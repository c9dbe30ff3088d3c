#!/usr/bin/env bash
# A PostgreSQL server for a fleet's shared catalogue, from Debian's postgresql
# (scripts/setup.sh installs it; no system service is started).
#
#   scripts/catalog-postgres.sh [DIR] [PORT]     start (DIR default ./pgdata, PORT 5433)
#   scripts/catalog-postgres.sh stop [DIR]
#
# Run as root, the server runs as the postgres user: DIR must be a folder that
# user can reach (/srv/pgdata, /tmp/..., not under /root).
#
# It prints the DARKCRAWL_CATALOG_URL for the workers. It listens on 127.0.0.1
# with trust authentication: for workers on other machines, set a password and
# edit DIR/pg_hba.conf and listen_addresses first.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "catalog-postgres: needs postgresql (apt-get install postgresql)" >&2; exit 2; }
as_owner() {  # postgres refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
  as_owner "$bindir/pg_ctl" -D "$(realpath "${2:-pgdata}")" -m fast stop
  exit
fi
dir=$(realpath -m "${1:-pgdata}")
port=${2:-5433}
if [ ! -s "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_owner "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" start >/dev/null
as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'darkcrawl'" | grep -q 1 ||
  as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres darkcrawl
echo "export DARKCRAWL_CATALOG_URL=postgresql://postgres@127.0.0.1:$port/darkcrawl"
