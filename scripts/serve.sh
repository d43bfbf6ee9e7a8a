#!/usr/bin/env bash
# `make run`: the web server with a local RabbitMQ node and a Celery worker beside it, as production runs them.
# Ctrl-C (or the server stopping) stops the worker and the node; the database keeps running (`make stop`).
set -euo pipefail
cd "$(dirname "$0")/.."
LOCAL=.local
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

export DEBUG=${DEBUG:-true}
export SECRET_KEY=${SECRET_KEY:-$(cat "$LOCAL/secret_key")}
export TEMP_FITS_DIR=${TEMP_FITS_DIR:-$LOCAL/scratch}
started_broker=0
if [ -z "${QUEUE_BROKER_URL:-}" ]; then
    scripts/localbroker.sh start
    started_broker=1
    QUEUE_BROKER_URL=$(scripts/localbroker.sh url)
    export QUEUE_BROKER_URL
fi
export CELERY_TASK_ALWAYS_EAGER=${CELERY_TASK_ALWAYS_EAGER:-false}

# A first start on the embedded database archives a small synthetic sample (a few seconds), so that there is something
# to search, combine and download; it does nothing once the archive has any frame. ARCHIVE_SAMPLE_DATA=0 turns it off,
# and a database of its own (DB_HOST) never gets it. The migrations ran before (`make migrate`).
if [ -z "${DB_HOST:-}" ] && [ "${ARCHIVE_SAMPLE_DATA:-1}" != 0 ]; then
    .venv/bin/python manage.py load_sample_data --if-empty || echo "The sample data could not be loaded; serving without it"
fi

worker_pid=""
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
        kill -TERM "$worker_pid" 2>/dev/null || true
        wait "$worker_pid" 2>/dev/null || true
        echo "Stopped the Celery worker"
    fi
    rm -f "$LOCAL/worker.pid"
    [ "$started_broker" = 0 ] || scripts/localbroker.sh stop
}
trap cleanup EXIT INT TERM

if [ "$CELERY_TASK_ALWAYS_EAGER" != true ]; then
    # One worker process for both queues, with beat for the periodic work; its log is .local/worker.log.
    .venv/bin/celery -A archive worker --beat -Q celery,datalab -c "${WORKER_CONCURRENCY:-2}" -l info \
        --schedule "$LOCAL/celerybeat-schedule" >"$LOCAL/worker.log" 2>&1 &
    worker_pid=$!
    echo "$worker_pid" > "$LOCAL/worker.pid"
    echo "Celery worker started (queues celery, datalab; log $LOCAL/worker.log), broker $QUEUE_BROKER_URL"
fi
echo "Serving the archive on http://$HOST:$PORT/  (Ctrl-C stops it, the worker and the broker; 'make stop' the database)"
.venv/bin/python manage.py runserver "$HOST:$PORT"
