#!/usr/bin/env bash
# Start a throwaway PostgreSQL server (Debian's postgresql, installed if missing) for the
# ledger tests, and print its URL. Used by .ci/run; stop it with
#   pg_ctl -D <dir>/data stop     (the directory is printed on stderr)
set -euo pipefail
port="${1:-55432}"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "start_postgres: installing Debian's postgresql" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/obliviate-pg.XXXXXX)
run() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
run "$bin/initdb -D $dir/data -A trust -U postgres" >/dev/null
run "$bin/pg_ctl -D $dir/data -o '-p $port -k $dir -c listen_addresses=127.0.0.1' -l $dir/log -w start" >/dev/null
echo "start_postgres: server in $dir, port $port" >&2
echo "postgresql://postgres@127.0.0.1:$port/postgres"
