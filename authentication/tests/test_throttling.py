"""Throttling: anonymous and user rates from the settings, staff exempt, the login throttles per address and
username before any backend runs, refused portal pushes per address, audit rows that an attack cannot multiply, and
client addresses that a spoofed X-Forwarded-For cannot change."""

import datetime
import io

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from authentication.models import AuthEvent
from authentication.tests.conftest import client_with, push, token_login
from authentication.tests.fakeportal import TOKEN_PATH

pytestmark = pytest.mark.django_db

START = datetime.datetime(2030, 1, 1, 12, 0, 5, tzinfo=datetime.UTC)
THROTTLED = "Request was throttled. Expected available in"


def assert_throttled(response):
    assert response.status_code == 429
    assert response.json()["detail"].startswith(THROTTLED)
    assert int(response["Retry-After"]) > 0


# --- anonymous and user rates ----------------------------------------------------------------------------------------


def test_anonymous_requests_are_throttled_per_address(settings):
    settings.THROTTLE_ANON_RATE = "3/min"
    client = APIClient()
    assert [client.get("/frames/").status_code for _ in range(3)] == [200] * 3
    assert_throttled(client.get("/frames/"))
    assert client.get("/frames/", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_a_spoofed_forwarded_for_does_not_reset_the_count(settings):
    settings.THROTTLE_ANON_RATE = "3/min"
    settings.NUM_PROXIES = 0
    client = APIClient()
    for index in range(3):
        assert client.get("/frames/", HTTP_X_FORWARDED_FOR=f"203.0.113.{index}").status_code == 200
    assert_throttled(client.get("/frames/", HTTP_X_FORWARDED_FOR="203.0.113.200"))
    assert_throttled(client.get("/frames/"))


def test_behind_one_trusted_proxy_the_forwarded_client_is_counted(settings):
    settings.THROTTLE_ANON_RATE = "2/min"
    settings.NUM_PROXIES = 1
    client = APIClient()
    # The proxy appends the address it saw; anything further left was written by the client.
    for spoof in ("", "9.9.9.9, ", "8.8.8.8, "):
        client.get("/frames/", HTTP_X_FORWARDED_FOR=f"{spoof}192.0.2.10")
    assert_throttled(client.get("/frames/", HTTP_X_FORWARDED_FOR="7.7.7.7, 192.0.2.10"))
    assert client.get("/frames/", HTTP_X_FORWARDED_FOR="192.0.2.11").status_code == 200


def test_authenticated_users_are_throttled_per_user(settings, make_user):
    settings.THROTTLE_USER_RATE = "2/min"
    settings.THROTTLE_ANON_RATE = "1/min"
    client = client_with("Token", Token.objects.get(user=make_user("local")).key)
    assert [client.get("/frames/").status_code for _ in range(2)] == [200, 200]
    assert_throttled(client.get("/frames/"))
    # Their requests were not counted against their address.
    assert APIClient().get("/frames/").status_code == 200


def test_the_rates_reset_after_their_period(settings):
    settings.THROTTLE_ANON_RATE = "1/min"
    with time_machine.travel(START, tick=False) as traveller:
        assert APIClient().get("/frames/").status_code == 200
        response = APIClient().get("/frames/")
        assert_throttled(response)
        traveller.shift(int(response["Retry-After"]) + 1)
        assert APIClient().get("/frames/").status_code == 200


def test_staff_are_not_throttled(settings, make_user, superuser):
    settings.THROTTLE_USER_RATE = "1/min"
    for user in (make_user("staffer", staff=True), superuser):
        client = client_with("Token", Token.objects.get(user=user).key)
        assert {client.get("/frames/").status_code for _ in range(5)} == {200}


def test_portal_users_are_throttled_by_bearer_too(portal, settings):
    settings.THROTTLE_USER_RATE = "2/min"
    portal.add_user("jdoe")
    client = client_with("Bearer", portal.issue_bearer("jdoe"))
    assert [client.get("/profile/").status_code for _ in range(3)] == [200, 200, 429]


# --- login throttles ---------------------------------------------------------------------------------------------


def test_failed_logins_are_throttled_per_username_before_the_portal_is_asked(portal, settings):
    settings.THROTTLE_LOGIN_USERNAME_RATE = "3/hour"
    portal.add_user("jdoe")
    for _ in range(3):
        assert token_login("jdoe", "wrong").status_code == 400
    grants = portal.count(TOKEN_PATH)
    response = token_login("JDoe", "portal-pass-1", client=APIClient(REMOTE_ADDR="198.51.100.7"))
    assert_throttled(response)
    assert portal.count(TOKEN_PATH) == grants  # no backend ran
    # Another username from the same address is not affected.
    assert token_login("someone", "wrong").status_code == 400
    assert AuthEvent.objects.filter(kind="login", outcome="throttled", username="JDoe").count() == 1


def test_failed_logins_are_throttled_per_address_whatever_the_username(portal, settings):
    settings.THROTTLE_LOGIN_ADDRESS_RATE = "4/hour"
    portal.add_user("jdoe")
    for index in range(4):
        token_login(f"guess-{index}", "wrong")
    assert_throttled(token_login("jdoe", "portal-pass-1"))
    # A spoofed X-Forwarded-For does not make a new address.
    spoofing = APIClient(HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert_throttled(token_login("jdoe", "portal-pass-1", client=spoofing))
    assert token_login("jdoe", "portal-pass-1", client=APIClient(REMOTE_ADDR="198.51.100.7")).status_code == 200


def test_successes_and_outages_do_not_count(portal, settings):
    settings.THROTTLE_LOGIN_USERNAME_RATE = "2/hour"
    settings.THROTTLE_LOGIN_ADDRESS_RATE = "2/hour"
    portal.add_user("jdoe")
    for _ in range(4):
        assert token_login("jdoe", "portal-pass-1").status_code == 200
    portal.fail_status = 500
    for _ in range(4):
        assert token_login("jdoe", "portal-pass-1").status_code == 503
    portal.fail_status = None
    assert token_login("jdoe", "portal-pass-1").status_code == 200


def test_local_accounts_are_throttled_too(superuser, settings):
    settings.THROTTLE_LOGIN_USERNAME_RATE = "2/hour"
    for _ in range(2):
        assert token_login("archive-admin", "wrong").status_code == 400
    assert_throttled(token_login("archive-admin", "admin-pass-123"))


def test_the_login_throttle_lifts_after_its_window(portal, settings):
    settings.THROTTLE_LOGIN_USERNAME_RATE = "1/hour"
    portal.add_user("jdoe")
    with time_machine.travel(START, tick=False) as traveller:
        token_login("jdoe", "wrong")
        response = token_login("jdoe", "portal-pass-1")
        assert_throttled(response)
        assert int(response["Retry-After"]) <= 3600
        traveller.shift(int(response["Retry-After"]))
        assert token_login("jdoe", "portal-pass-1").status_code == 200


def test_the_browsable_login_page_is_throttled_with_a_429(portal, settings):
    settings.THROTTLE_LOGIN_USERNAME_RATE = "2/hour"
    client = Client()
    for _ in range(2):
        assert client.post("/api-auth/login/", {"username": "jdoe", "password": "x"}).status_code == 200
    response = client.post("/api-auth/login/", {"username": "jdoe", "password": "portal-pass-1"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert THROTTLED in response.content.decode()


def test_the_admin_login_page_is_throttled_with_a_429(superuser, settings):
    settings.THROTTLE_LOGIN_ADDRESS_RATE = "2/hour"
    client = Client()
    for _ in range(2):
        client.post("/admin/login/", {"username": "archive-admin", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "archive-admin", "password": "admin-pass-123"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_three_login_pages_share_the_counts(superuser, settings):
    settings.THROTTLE_LOGIN_USERNAME_RATE = "3/hour"
    token_login("archive-admin", "wrong")
    Client().post("/api-auth/login/", {"username": "archive-admin", "password": "wrong"})
    Client().post("/admin/login/", {"username": "archive-admin", "password": "wrong"})
    assert_throttled(token_login("archive-admin", "admin-pass-123"))


# --- audit rows under attack: refused attempts are counted, not each written -------------------------------------

ATTEMPTS = 1000


def test_a_thousand_throttled_logins_write_one_row(portal, settings):
    settings.THROTTLE_LOGIN_USERNAME_RATE = "3/hour"
    portal.add_user("jdoe")
    for _ in range(3):
        assert token_login("jdoe", "wrong").status_code == 400
    client = APIClient()
    statuses = {token_login("jdoe", "portal-pass-1", client=client).status_code for _ in range(ATTEMPTS)}
    assert statuses == {429}
    assert AuthEvent.objects.filter(kind="login", outcome="bad_credentials").count() == 3
    assert AuthEvent.objects.filter(kind="login", outcome="throttled").count() == 1
    out = io.StringIO()
    call_command("showthrottle", stdout=out)
    assert f"logins over the username rate: {ATTEMPTS}" in out.getvalue()


def test_throttled_logins_rotating_usernames_or_addresses_write_one_row(portal, settings):
    settings.THROTTLE_LOGIN_ADDRESS_RATE = "3/hour"
    settings.THROTTLE_LOGIN_USERNAME_RATE = "3/hour"
    for index in range(3):
        token_login(f"guess-{index}", "wrong")
    # One address, a new username each time: the address is over its rate.
    assert {token_login(f"name-{index}", "wrong").status_code for index in range(ATTEMPTS // 2)} == {429}
    # One username, a new address each time: the username is over its rate.
    for index in range(3):
        token_login("target", "wrong", client=APIClient(REMOTE_ADDR=f"198.51.100.{index}"))
    statuses = {
        token_login("target", "wrong", client=APIClient(REMOTE_ADDR=f"10.0.{index // 250}.{index % 250}")).status_code
        for index in range(ATTEMPTS // 2)
    }
    assert statuses == {429}
    assert AuthEvent.objects.filter(outcome="throttled").count() == 2
    assert AuthEvent.objects.count() <= 2 + 6


def test_a_throttled_login_is_audited_again_in_the_next_window(portal, settings):
    settings.THROTTLE_LOGIN_USERNAME_RATE = "1/hour"
    with time_machine.travel(START, tick=False) as traveller:
        token_login("jdoe", "wrong")
        for _ in range(3):
            assert_throttled(token_login("jdoe", "wrong"))
        traveller.shift(3600)
        token_login("jdoe", "wrong")
        for _ in range(3):
            assert_throttled(token_login("jdoe", "wrong"))
    assert AuthEvent.objects.filter(outcome="throttled").count() == 2


def test_a_thousand_refused_pushes_write_a_handful_of_rows(portal, settings):
    settings.THROTTLE_AUTH_FAILURE_RATE = "5/hour"
    client = APIClient()
    statuses = [
        push({"username": "jdoe"}, key="wrong-key" if index % 2 else None, client=client).status_code
        for index in range(ATTEMPTS)
    ]
    assert statuses[:5] == [403] * 5
    assert set(statuses[5:]) == {429}
    assert AuthEvent.objects.filter(kind="push", outcome="forbidden").count() == 5
    assert AuthEvent.objects.filter(kind="push", outcome="throttled").count() == 1
    assert AuthEvent.objects.count() == 6
    out = io.StringIO()
    call_command("showthrottle", stdout=out)
    assert f"portal pushes over the failure rate: {ATTEMPTS - 5}" in out.getvalue()
    assert "refused portal pushes per address: 5/hour" in out.getvalue()


def test_refused_pushes_are_throttled_per_address_before_the_key_is_compared(portal, settings):
    settings.THROTTLE_AUTH_FAILURE_RATE = "2/hour"
    for _ in range(2):
        assert push({"username": "jdoe"}, key="wrong-key").status_code == 403
    assert_throttled(push({"username": "jdoe"}, key="wrong-key"))
    # Even the right key: the address learns nothing more about the key until the window ends.
    assert_throttled(push({"username": "jdoe"}))
    # The portal, from its own address, is not affected; its good pushes are never counted.
    portal_client = APIClient(REMOTE_ADDR="192.0.2.50")
    assert [push({"username": "jdoe"}, client=portal_client).status_code for _ in range(5)] == [200] * 5


# --- showthrottle ------------------------------------------------------------------------------------------------


def test_showthrottle_prints_the_rates_and_the_users_counts(settings, make_user):
    settings.THROTTLE_USER_RATE = "100/hour"
    busy = make_user("busy")
    idle = make_user("idle")
    client = client_with("Token", Token.objects.get(user=busy).key)
    for _ in range(3):
        client.get("/profile/")
    del idle
    out = io.StringIO()
    call_command("showthrottle", stdout=out)
    text = out.getvalue()
    assert "user (per user; staff exempt): 100/hour" in text
    assert "failed logins per username: 10/hour" in text
    lines = [line.split() for line in text.splitlines() if line.strip().endswith(("busy", "idle"))]
    assert lines == [["3", "busy"]]
