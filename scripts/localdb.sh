#!/usr/bin/env bash
# The embedded PostgreSQL + PostGIS cluster of `make run` and `make test`: created once, started if stopped.
# Usage: scripts/localdb.sh start|stop|status
# PostgreSQL refuses to run as root, so as root the cluster runs as `postgres`; when that user cannot reach the
# clone (a 0700 home folder), the data lives under /var/lib/postgresql and .local/pgdata links to it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOCAL="$ROOT/.local"
PORT=${LOCAL_DB_PORT:-$(cat "$ROOT/.local/db_port" 2>/dev/null || echo 54329)}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
mkdir -p "$LOCAL"

if [ "$(id -u)" -eq 0 ]; then RUNAS=(runuser -u postgres --); else RUNAS=(); fi
as_db() { "${RUNAS[@]}" "$@"; }

datadir() {
    if [ -L "$LOCAL/pgdata" ] || [ -d "$LOCAL/pgdata" ]; then readlink -f "$LOCAL/pgdata"; return; fi
    if [ ${#RUNAS[@]} -eq 0 ] || as_db test -w "$LOCAL" 2>/dev/null; then
        echo "$LOCAL/pgdata"
    else
        echo "/var/lib/postgresql/archive-$(echo -n "$ROOT" | sha1sum | cut -c1-12)"
    fi
}

start() {
    local data; data=$(datadir)
    if [ ! -f "$data/PG_VERSION" ]; then
        echo "Creating the local PostGIS cluster in $data (port $PORT)"
        [ -f "$LOCAL/db_password" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$LOCAL/db_password")
        mkdir -p "$data"
        [ ${#RUNAS[@]} -eq 0 ] || chown postgres: "$data"
        chmod 700 "$data"
        local pwfile; pwfile=$(mktemp)
        cp "$LOCAL/db_password" "$pwfile"
        [ ${#RUNAS[@]} -eq 0 ] || chown postgres: "$pwfile"
        # The socket lives in the 0700 data directory, so only the cluster's own OS user (and root) can reach it:
        # trusted there, it lets this script reset a lost password. TCP connections need the password.
        as_db "$PGBIN/initdb" -D "$data" -U archive --pwfile="$pwfile" --auth-local=trust \
            --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
        rm -f "$pwfile"
    fi
    [ "$data" = "$LOCAL/pgdata" ] || ln -sfn "$data" "$LOCAL/pgdata"
    if as_db "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        PORT=$(sed -n 4p "$data/postmaster.pid")  # already running: its port, whatever .local says
        echo "$PORT" > "$LOCAL/db_port"
    else
        # Another server (another clone's cluster, a system one) may hold the port: take the next free one.
        while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done
        echo "$PORT" > "$LOCAL/db_port"
        as_db "$PGBIN/pg_ctl" -D "$data" -w -t 60 -l "$data/server.log" \
            -o "-p $PORT -k $data -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB -c fsync=${LOCAL_DB_FSYNC:-on}" \
            start >/dev/null
    fi
    if [ ! -s "$LOCAL/db_password" ]; then
        # A cluster kept from an earlier clone at this path: give it a new password through the trusted socket.
        echo "Setting a new password on the existing local cluster"
        (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$LOCAL/db_password")
        as_db "$PGBIN/psql" -w -h "$data" -p "$PORT" -U archive -d postgres -q \
            -c "ALTER ROLE archive PASSWORD '$(cat "$LOCAL/db_password")'"
    fi
    # -w: never prompt for a password (CI has no terminal); a wrong one fails at once.
    PGPASSWORD=$(cat "$LOCAL/db_password") "$PGBIN/psql" -w -h 127.0.0.1 -p "$PORT" -U archive -d postgres -tAq \
        -c "SELECT 1 FROM pg_database WHERE datname = 'archive'" | grep -q 1 || \
        PGPASSWORD=$(cat "$LOCAL/db_password") "$PGBIN/createdb" -w -h 127.0.0.1 -p "$PORT" -U archive archive
}

stop() {
    local data; data=$(datadir)
    if [ -f "$data/PG_VERSION" ] && as_db "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_db "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
        echo "Stopped the local PostGIS cluster"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) as_db "$PGBIN/pg_ctl" -D "$(datadir)" status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
