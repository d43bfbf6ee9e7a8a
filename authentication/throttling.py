"""Throttles: DRF's anonymous and user rates (staff exempt), and the counters of failed logins and rejected bearers.

All state lives in the Django cache (memcached in production, so that every worker shares the counts), and every
client address comes from `archive.network.client_address`: a client cannot reset its count with its own
X-Forwarded-For.
"""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import throttling

from archive.network import client_address

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """`"10/hour"` → (10, 3600), DRF's syntax; an empty rate means no limit (None)."""
    if not rate:
        return None
    count, period = rate.split("/")
    return int(count), PERIODS[period.strip()[0]]


class AnonRateThrottle(throttling.AnonRateThrottle):
    """Anonymous requests per client address, at THROTTLE_ANON_RATE."""

    def get_rate(self):
        # Read at request time: DRF's own classes freeze the rates when first imported.
        return settings.THROTTLE_ANON_RATE or None

    def get_ident(self, request):
        return client_address(request)


class StaffExemptUserRateThrottle(throttling.UserRateThrottle):
    """Authenticated requests per user, at THROTTLE_USER_RATE; staff are never throttled."""

    def get_rate(self):
        return settings.THROTTLE_USER_RATE or None

    def get_cache_key(self, request, view):
        user = request.user
        # Anonymous callers are the anonymous throttle's business; staff are exempt.
        if not user or not user.is_authenticated or user.is_staff:
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


def user_throttle_count(user_id: int, history: list[float] | None, now: float | None = None) -> int:
    """How many requests of the user throttle's `history` still count (for `showthrottle`)."""
    parsed = parse_rate(settings.THROTTLE_USER_RATE)
    if not parsed or not history:
        return 0
    now = time.time() if now is None else now
    return sum(1 for moment in history if moment > now - parsed[1])


def user_throttle_key(user_id: int) -> str:
    return StaffExemptUserRateThrottle.cache_format % {"scope": StaffExemptUserRateThrottle.scope, "ident": user_id}


class FailureCounter:
    """Failures per identity (an address, a username) in fixed windows of the rate's period.

    Fixed windows rather than DRF's list of timestamps: add-then-incr is atomic in memcached, so parallel guesses
    from many workers are all counted (a read-modify-write list loses some), at the price of allowing up to twice
    the rate across a window boundary.
    """

    def __init__(self, scope: str, rate: str):
        self.scope = scope
        self.rate = parse_rate(rate)

    def _key(self, ident: str, window: int) -> str:
        # Hashed: usernames and addresses may hold characters memcached keys cannot.
        digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
        return f"throttle:{self.scope}:{digest}:{window}"

    def wait(self, ident: str) -> int | None:
        """Seconds until `ident` may try again, or None when it is under the limit."""
        if self.rate is None:
            return None
        limit, duration = self.rate
        now = time.time()
        window = int(now // duration)
        if (cache.get(self._key(ident, window)) or 0) < limit:
            return None
        return max(1, math.ceil((window + 1) * duration - now))

    def record(self, ident: str) -> None:
        if self.rate is None:
            return
        duration = self.rate[1]
        key = self._key(ident, int(time.time() // duration))
        cache.add(key, 0, timeout=duration + 1)
        try:
            cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout=duration + 1)


def _login_counters() -> tuple[FailureCounter, FailureCounter]:
    return (
        FailureCounter("login_address", settings.THROTTLE_LOGIN_ADDRESS_RATE),
        FailureCounter("login_username", settings.THROTTLE_LOGIN_USERNAME_RATE),
    )


def login_wait(*, request, username: str) -> int | None:
    """Seconds until a login for this address and username may be tried, or None if it may be tried now."""
    by_address, by_username = _login_counters()
    waits = [by_address.wait(client_address(request)), by_username.wait(username.lower())]
    waits = [wait for wait in waits if wait]
    return max(waits) if waits else None


def login_failure_record(*, request, username: str) -> None:
    by_address, by_username = _login_counters()
    by_address.record(client_address(request))
    if username:
        by_username.record(username.lower())


def _bearer_counter() -> FailureCounter:
    return FailureCounter("bearer_failure", settings.THROTTLE_AUTH_FAILURE_RATE)


def bearer_failure_wait(*, request) -> int | None:
    return _bearer_counter().wait(client_address(request))


def bearer_failure_record(*, request) -> None:
    _bearer_counter().record(client_address(request))
