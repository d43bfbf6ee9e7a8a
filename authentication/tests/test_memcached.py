"""The app's shared state on a real memcached, as in production: failure counters, the circuit breaker, the bearer
cache and DRF's throttles, with keys memcached accepts and counts that add up across clients."""

import threading

import pytest
from django.core.cache import caches

from archive import portal as client
from archive.portal import PortalUnavailable
from authentication import throttling
from authentication.models import AuthEvent
from authentication.tests.conftest import client_with, push, token_login
from authentication.tests.fakeportal import PROFILE_PATH

pytestmark = pytest.mark.django_db


def test_login_throttles_count_on_memcached(portal, memcached_cache, settings):
    assert "PyMemcacheCache" in type(caches["default"]).__name__
    settings.THROTTLE_LOGIN_USERNAME_RATE = "3/hour"
    portal.add_user("jdoe")
    for _ in range(3):
        assert token_login("jdoe", "wrong").status_code == 400
    response = token_login("jdoe", "portal-pass-1")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_refused_attempts_are_counted_on_memcached_and_audited_once(portal, memcached_cache, settings):
    settings.THROTTLE_LOGIN_USERNAME_RATE = "1/hour"
    settings.THROTTLE_AUTH_FAILURE_RATE = "1/hour"
    token_login("user with spaces", "wrong")
    push({"username": "jdoe"}, key="wrong-key")
    assert {token_login("user with spaces", "wrong").status_code for _ in range(20)} == {429}
    assert {push({"username": "jdoe"}, key="wrong-key").status_code for _ in range(20)} == {429}
    assert AuthEvent.objects.filter(outcome="throttled").count() == 2
    counts = throttling.refused_counts()
    assert counts["logins over the username rate"] == 20
    assert counts["portal pushes over the failure rate"] == 20


def test_concurrent_failures_are_all_counted(memcached_cache):
    """add-then-incr is atomic: parallel guesses from many workers cannot slip under the limit."""
    counter = throttling.FailureCounter("login_username", "1000/hour")

    def fail_many():
        for _ in range(50):
            counter.record("user with spaces and ünïcode")

    threads = [threading.Thread(target=fail_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limited = throttling.FailureCounter("login_username", "200/hour")
    assert limited.wait("user with spaces and ünïcode") is not None
    assert throttling.FailureCounter("login_username", "201/hour").wait("user with spaces and ünïcode") is None


def test_the_circuit_breaker_opens_on_memcached(portal, memcached_cache):
    portal.fail_status = 500
    for _ in range(5):
        with pytest.raises(PortalUnavailable):
            client.fetch_profile(bearer="b")
    assert client.circuit_state() == "unavailable"
    with pytest.raises(PortalUnavailable):
        client.fetch_profile(bearer="b")
    assert portal.count() == 5


def test_the_bearer_cache_and_the_user_throttle_on_memcached(portal, memcached_cache, settings):
    settings.THROTTLE_USER_RATE = "3/min"
    portal.add_user("jdoe")
    bearer_client = client_with("Bearer", portal.issue_bearer("jdoe"))
    assert [bearer_client.get("/profile/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert portal.count(PROFILE_PATH) == 1
