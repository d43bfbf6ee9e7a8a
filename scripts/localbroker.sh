#!/usr/bin/env bash
# The embedded RabbitMQ node of `make run`: a private node under .local/rabbitmq on loopback ports of its own.
# Usage: scripts/localbroker.sh start|stop|url
# `start` prints nothing on success; `url` prints the AMQP URL the archive and the worker use.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE="$ROOT/.local/rabbitmq"
BIN=/usr/lib/rabbitmq/bin
NODE="archive-$(echo -n "$ROOT" | sha1sum | cut -c1-10)@localhost"
mkdir -p "$BASE"

free_port() {
    local port=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    echo "$port"
}

node_env() {
    export HOME="$BASE" RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE="$BASE/mnesia" RABBITMQ_LOG_BASE="$BASE/log"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins" RABBITMQ_CONFIG_FILE="$BASE/rabbitmq"
    export RABBITMQ_PID_FILE="$BASE/pid"
}

running() { node_env; "$BIN/rabbitmqctl" -n "$NODE" status >/dev/null 2>&1; }

start() {
    [ -x "$BIN/rabbitmq-server" ] || { echo "rabbitmq-server is missing: run scripts/bootstrap.sh" >&2; exit 1; }
    if running; then return; fi
    echo "[]." > "$BASE/enabled_plugins"
    # The datalab's runs may take up to DATALAB_TIME_LIMIT_SECONDS unacknowledged (acks_late): a longer consumer
    # timeout than that keeps RabbitMQ from closing the worker's channel mid-run.
    printf 'loopback_users = none\nconsumer_timeout = 3600000\n' > "$BASE/rabbitmq.conf"
    local port dist
    port=$(free_port "${LOCAL_BROKER_PORT:-56729}")
    dist=$(free_port $((port + 1000)))
    echo "$port" > "$BASE/port"
    node_env
    RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$dist nohup "$BIN/rabbitmq-server" >"$BASE/server.out" 2>&1 &
    "$BIN/rabbitmqctl" -n "$NODE" wait "$BASE/pid" --timeout 90 >/dev/null
}

stop() {
    if running; then
        "$BIN/rabbitmqctl" -n "$NODE" stop "$BASE/pid" >/dev/null 2>&1 || true
        echo "Stopped the local RabbitMQ node"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    url) echo "amqp://guest:guest@127.0.0.1:$(cat "$BASE/port")//" ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
