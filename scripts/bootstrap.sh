#!/usr/bin/env bash
# Installs what the project needs and is missing: Debian packages, then the virtualenv with the pinned packages.
# Safe and fast to re-run: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(postgresql-15 postgresql-15-postgis-3 postgresql-contrib gdal-bin libgdal-dev libgeos-dev libproj-dev
              python3-venv memcached rabbitmq-server)
# The test set-up drives Debian's chromium with Playwright (downtimes' browser test); Playwright never downloads one.
if [ "${WITH_DEV:-0}" = 1 ] || [ "${WITH_BROWSER:-0}" = 1 ]; then DEB_PACKAGES+=(chromium); fi
# The tests validate docker-compose.yml with Debian's docker-compose (`config` needs no Docker engine).
if [ "${WITH_DEV:-0}" = 1 ]; then DEB_PACKAGES+=(docker-compose); fi

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The Debian packages start system-wide services; the project runs its own copies on its own ports.
    for svc in memcached rabbitmq-server; do
        if [[ " ${missing[*]} " == *" $svc "* ]]; then
            $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
        fi
    done
fi

PYTHON=${PYTHON:-python3}
REQS=requirements.txt
[ "${WITH_DEV:-0}" = 1 ] && REQS=requirements-dev.txt
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)-$(basename $REQS .txt)"
if [ ! -f "$stamp" ]; then
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
    .venv/bin/pip install -q --disable-pip-version-check -r "$REQS" 2>&1 | { grep -v "^WARNING: Location" || true; }
    rm -f .venv/.installed-*
    touch "$stamp"
    # The dev set includes the runtime set: mark both as present.
    [ "$REQS" = requirements-dev.txt ] && touch "${stamp%-requirements-dev}-requirements"
fi
exit 0
