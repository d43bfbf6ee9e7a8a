"""Deployment checks of the project's own settings: what `check --deploy` should say before production."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def proxies_configured(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[checks.CheckMessage]:
    """archive.W001: with DEBUG off and NUM_PROXIES 0, behind a reverse proxy every client has the proxy's address.

    The anonymous, login, bearer and push throttles and the audit log key on the client address: one client could
    then throttle everyone, and the audit log names the proxy. A deployment without a proxy sets nothing and ignores
    the warning; with one, NUM_PROXIES must say how many.
    """
    if settings.DEBUG or settings.NUM_PROXIES:
        return []
    return [
        checks.Warning(
            "NUM_PROXIES is 0: X-Forwarded-For is ignored, so behind a reverse proxy every client has the proxy's "
            "address, and the throttles and the audit log see one client.",
            hint="Set NUM_PROXIES to the number of reverse proxies in front of the archive.",
            id="archive.W001",
        )
    ]


@checks.register(checks.Tags.caches, deploy=True)
def shared_cache_configured(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[checks.CheckMessage]:
    """archive.W002: with DEBUG off and no CACHE_LOC, the cache is each process's own memory.

    Throttle counts, the portal's circuit breaker and validated bearers then live per process: every worker counts
    failed logins on its own, so the real limits are the configured ones times the number of processes.
    """
    cache_location: str = getattr(settings, "CACHE_LOC", "")
    if settings.DEBUG or cache_location:
        return []
    return [
        checks.Warning(
            "CACHE_LOC is not set: throttle counts, the portal's state and validated bearers are kept per process, "
            "not shared by the workers.",
            hint="Set CACHE_LOC to the memcached host:port that every web and worker process uses.",
            id="archive.W002",
        )
    ]
