"""`/health/`: the state of each dependency, cheap enough for a load balancer to call every few seconds."""

import logging

from django.db import connections
from django.http import JsonResponse

logger = logging.getLogger(__name__)


def _database() -> dict:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # any failure is a state to report, not a crash
        logger.warning("Health: database unavailable: %s", exc)
        return {"ok": False, "error": "database unreachable"}


def health(request):
    """200 when the database answers, 503 otherwise."""
    checks = {"database": _database()}
    status = 200 if checks["database"]["ok"] else 503
    return JsonResponse({"status": "ok" if status == 200 else "unavailable", "checks": checks}, status=status)
