"""`/health/`: the state of each dependency, cheap enough for a load balancer to call every few seconds."""

import logging
import threading
import time
from collections.abc import Callable

from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse

from archive.filestore import get_filestore
from archive.messaging import get_publisher
from archive.portal import circuit_state

logger = logging.getLogger(__name__)

# The file store and broker checks are network calls: their answers are kept this long per process, so a load
# balancer polling every second costs them one call per interval.
REMOTE_CHECK_SECONDS = 10

_remembered: dict[str, tuple[float, dict]] = {}
_remembered_lock = threading.Lock()


def _remembered_check(name: str, check: Callable[[], dict]) -> dict:
    now = time.monotonic()
    with _remembered_lock:
        known = _remembered.get(name)
        if known is not None and now - known[0] < REMOTE_CHECK_SECONDS:
            return known[1]
    try:
        state = check()
    except Exception as exc:  # any failure is a state to report, never a crash of the health check
        logger.warning("Health: %s check failed: %s", name, exc)
        state = {"ok": False, "error": type(exc).__name__}
    with _remembered_lock:
        _remembered[name] = (now, state)
    return state


def _database() -> dict:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # reported, not raised
        logger.warning("Health: database unavailable: %s", exc)
        return {"ok": False, "error": "database unreachable"}


def _filestore() -> dict:
    store = get_filestore()
    state = store.check()
    return {"ok": bool(state.get("reachable")), "type": store.kind, "versioning": state.get("versioning")}


def _cache() -> dict:
    key = "health:probe"
    cache.set(key, "ok", 30)
    return {"ok": cache.get(key) == "ok"}


def forget_remote_checks() -> None:
    with _remembered_lock:
        _remembered.clear()


def health(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, 503 otherwise; the other dependencies are reported, not required."""
    checks = {
        "database": _database(),
        "filestore": _remembered_check("filestore", _filestore),
        "broker": _remembered_check("broker", get_publisher().check),
        "cache": _remembered_check("cache", _cache),
        # From the portal client's circuit breaker, without calling the portal: it never fails the check.
        "portal": {"state": circuit_state()},
    }
    healthy = checks["database"]["ok"]
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)
