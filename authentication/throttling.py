"""Throttles: DRF's anonymous and user rates (staff exempt), and the counters of failed logins, rejected bearers and
refused portal pushes.

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


class _RateSyntax(throttling.SimpleRateThrottle):
    """DRF's reading of a rate string, for the counters below that are not DRF throttles, so that every rate of the
    archive is read one way."""

    def __init__(self) -> None:  # DRF's looks the rate up for a scope; here the rate is given to parse_rate
        pass


_RATE_SYNTAX = _RateSyntax()


def parse_rate(rate: str) -> tuple[int, int] | None:
    """`"10/hour"` → (10, 3600), by DRF's parser; an empty rate means no limit (None)."""
    if not rate:
        return None
    return _RATE_SYNTAX.parse_rate(rate.strip())


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
        _increment(self._key(ident, int(time.time() // duration)), timeout=duration + 1)

    def _refused_key(self, window: int) -> str:
        return f"throttle:{self.scope}:refused:{window}"

    def note_refused(self, ident: str) -> bool:
        """Count one attempt refused because `ident` is over the rate. True only for the first such attempt of
        `ident` in the current window: that one is worth an audit row, the others are counted here only, so a
        client hammering a closed door cannot fill the audit table."""
        if self.rate is None:
            return True
        duration = self.rate[1]
        window = int(time.time() // duration)
        _increment(self._refused_key(window), timeout=duration + 1)
        return cache.add(f"{self._key(ident, window)}:noted", True, timeout=duration + 1)

    def refused_count(self) -> int:
        """Attempts refused by this throttle in its current window, all identities together (for `showthrottle`)."""
        if self.rate is None:
            return 0
        return cache.get(self._refused_key(int(time.time() // self.rate[1]))) or 0


def _increment(key: str, *, timeout: int) -> None:
    cache.add(key, 0, timeout=timeout)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=timeout)


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


def login_refused_note(*, request, username: str) -> bool:
    """Count a login refused by its throttle; True when it deserves an audit row: the first refused in the window
    for the address, or for the username when only the username is over its rate (guesses from many addresses)."""
    by_address, by_username = _login_counters()
    address = client_address(request)
    if by_address.wait(address):
        return by_address.note_refused(address)
    return by_username.note_refused(username.lower())


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


def _push_counter() -> FailureCounter:
    # Refused server keys are refused credentials like rejected bearers: the same rate, counted apart.
    return FailureCounter("push_refused", settings.THROTTLE_AUTH_FAILURE_RATE)


def push_refusal_wait(*, request) -> int | None:
    return _push_counter().wait(client_address(request))


def push_refusal_record(*, request) -> None:
    _push_counter().record(client_address(request))


def push_refused_note(*, request) -> bool:
    return _push_counter().note_refused(client_address(request))


def refused_counts() -> dict[str, int]:
    """Attempts refused by each failure throttle in its current window, by the throttle's description."""
    by_address, by_username = _login_counters()
    return {
        "logins over the address rate": by_address.refused_count(),
        "logins over the username rate": by_username.refused_count(),
        "portal pushes over the failure rate": _push_counter().refused_count(),
    }
