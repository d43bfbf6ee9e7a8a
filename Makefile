# The two commands: `make run` serves the archive on http://127.0.0.1:8000, `make test` runs the whole suite.
# Both install what is missing first (Debian packages, the virtualenv) and start the embedded database.

SHELL := /bin/bash
PY := .venv/bin/python
LOCAL := .local
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_WORKERS ?= 2

.PHONY: run test test-reliability lint setup setup-dev db stop migrate superuser ingester-venv fmt bench

setup:
	@scripts/bootstrap.sh

setup-dev:
	@WITH_DEV=1 scripts/bootstrap.sh

# The embedded PostGIS cluster, unless DB_HOST points at another database.
db:
	@if [ -z "$$DB_HOST" ]; then scripts/localdb.sh start; fi

$(LOCAL)/secret_key:
	@mkdir -p $(LOCAL) && (umask 077; head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > $@)

migrate: setup db $(LOCAL)/secret_key
	@SECRET_KEY=$$(cat $(LOCAL)/secret_key) $(PY) manage.py migrate --noinput -v 0

superuser: migrate
	@SECRET_KEY=$$(cat $(LOCAL)/secret_key) $(PY) manage.py ensure_local_superuser --url http://$(HOST):$(PORT)

# The web server, a local RabbitMQ node and a Celery worker (scripts/serve.sh); Ctrl-C stops all three.
run: superuser
	@HOST=$(HOST) PORT=$(PORT) scripts/serve.sh

# The real ocs-ingester 3.2.0, in a virtualenv of its own, for the wire-compatibility test.
ingester-venv:
	@scripts/ingester_venv.sh

test: setup-dev db ingester-venv
	@$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The reliability suites alone (they also run in `make test`): faults, concurrency, fuzzing, permissions, bounds.
test-reliability: setup-dev db ingester-venv
	@$(PY) -m pytest -n $(PYTEST_WORKERS) -m reliability $(PYTEST_ARGS)

# Benchmarks (never part of `make test`): BENCH_FRAMES chooses the scale, BENCH_REGENERATE=1 forces a new archive.
# Results go to bench/results/latest.md and latest.json.
BENCH_FRAMES ?= 1000000
bench: setup-dev db
	@$(PY) -m bench --frames $(BENCH_FRAMES) $(if $(filter 1,$(BENCH_REGENERATE)),--regenerate)

# ruff; mypy over archive/ and the apps' services and selectors (pyproject.toml); no model change without a migration.
lint: setup-dev
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(PY) -m mypy
	@$(PY) -W ignore::RuntimeWarning manage.py makemigrations --check --dry-run --settings=test_settings

fmt: setup-dev
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

stop:
	@scripts/localbroker.sh stop
	@scripts/localdb.sh stop
