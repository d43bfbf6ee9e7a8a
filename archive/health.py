"""`/health/`: the state of each dependency, cheap enough for a load balancer to call every few seconds."""

import logging

from django.db import connections
from django.http import JsonResponse

from authentication.portal import circuit_state

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
    """200 when the database answers, 503 otherwise. The portal's state (from its circuit breaker, without calling
    it) is reported but never fails the check: the archive serves data while the portal is down."""
    checks = {"database": _database(), "portal": {"state": circuit_state()}}
    status = 200 if checks["database"]["ok"] else 503
    return JsonResponse({"status": "ok" if status == 200 else "unavailable", "checks": checks}, status=status)
