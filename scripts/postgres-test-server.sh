#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests (the PostgreSQL backend, issue 13) on a free loopback port,
# from Debian's packages, and prints the two lines to eval:
#   export SEL_TEST_POSTGRES_URL=postgres://sel@127.0.0.1:PORT/postgres
#   export SEL_TEST_POSTGRES_DIR=/tmp/...   (pass it to --stop)
# Usage: eval "$(bash scripts/postgres-test-server.sh)"; ...; bash scripts/postgres-test-server.sh --stop "$SEL_TEST_POSTGRES_DIR"
# Trust authentication on 127.0.0.1 only, fsync off: for tests, never for data.
set -euo pipefail

bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
    return 1
}

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = "--stop" ]; then
    dir=${2:?the directory printed at start}
    bin=$(bindir)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    exit 0
fi

if ! bin=$(bindir); then
    export DEBIAN_FRONTEND=noninteractive
    sudo=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo -E"; fi
    { $sudo apt-get install -y -qq postgresql >/dev/null 2>&1 ||
        { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq postgresql >/dev/null; }; } >&2
    bin=$(bindir)
fi

dir=$(mktemp -d /tmp/sel-ci-pg.XXXXXX)
chmod 755 "$dir"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
as_pg "$bin/initdb" -D "$dir/data" -U sel --auth=trust -E UTF8 --no-sync >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$dir/log" >&2; exit 1; }
echo "export SEL_TEST_POSTGRES_URL=postgres://sel@127.0.0.1:$port/postgres"
echo "export SEL_TEST_POSTGRES_DIR=$dir"
