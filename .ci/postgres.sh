# A throw-away PostgreSQL server for the tests of the decision log on PostgreSQL (tests/test_store.py).
# Source it, then start the server; it is stopped and its data removed when the shell exits:
#
#     . .ci/postgres.sh && pmo_postgres_start      # exports PMO_TEST_POSTGRES=postgresql://...
#     python -m pytest tests/test_store.py
#
# Debian's server (apt-get install postgresql, done here when it is missing), run from
# /usr/lib/postgresql/*/bin as the `postgres` user when we are root (initdb refuses root), on a free port
# of its own, listening on 127.0.0.1 only, with its data in a temporary folder. No system cluster is used.

pmo_postgres_start() {
    local sudo="" bin port
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
        $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq postgresql >/dev/null
    fi
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    PMO_POSTGRES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pmo-postgres-XXXXXX")
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$PMO_POSTGRES_DIR"
        as=(runuser -u postgres -- env --chdir=/)  # the postgres user may not enter the current folder
    fi
    PMO_POSTGRES_CTL=("${as[@]}" "$bin/pg_ctl" -D "$PMO_POSTGRES_DIR/data")
    trap pmo_postgres_stop EXIT  # from here on: whatever fails, the server and its folder go
    "${as[@]}" "$bin/initdb" -D "$PMO_POSTGRES_DIR/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
    "${PMO_POSTGRES_CTL[@]}" -l "$PMO_POSTGRES_DIR/server.log" -w -t 60 \
        -o "-p $port -k $PMO_POSTGRES_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    "${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres pmo_test
    export PMO_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/pmo_test"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port: PMO_TEST_POSTGRES=$PMO_TEST_POSTGRES"
}

pmo_postgres_stop() {
    [ -n "${PMO_POSTGRES_DIR:-}" ] || return 0
    "${PMO_POSTGRES_CTL[@]}" stop -m fast -w >/dev/null 2>&1 || true
    rm -rf "$PMO_POSTGRES_DIR"
    unset PMO_POSTGRES_DIR PMO_TEST_POSTGRES
}
