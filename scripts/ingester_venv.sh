#!/usr/bin/env bash
# A virtualenv holding the real ocs-ingester 3.2.0 from PyPI, unmodified, for the wire-compatibility test.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.local/ingester-venv
if [ ! -x "$VENV/bin/ocs_ingest_frame" ]; then
    mkdir -p .local
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "ocs-ingester==3.2.0" 2>&1 | { grep -v "^WARNING: Location" || true; }
fi
