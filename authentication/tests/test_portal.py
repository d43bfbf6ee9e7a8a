"""The portal client against a fake portal on loopback: the password grant and profile calls as an unmodified portal
expects them, every failure mode as PortalRejected or PortalUnavailable, timeouts and the circuit breaker."""

import datetime
import logging
import time

import pytest
import time_machine

from archive import portal as client
from archive.portal import MalformedProfile, PortalRejected, PortalUnavailable, parse_profile
from authentication.tests.fakeportal import PROFILE_PATH, TOKEN_PATH

pytestmark = pytest.mark.django_db


def test_password_grant_sends_the_five_fields_as_a_form_with_credentials_in_the_body(portal):
    portal.add_user("jdoe", "s3cret pass")
    access = client.password_grant(username="jdoe", password="s3cret pass")
    assert portal.bearers[access] == "jdoe"
    (sent,) = portal.requests_to(TOKEN_PATH)
    assert sent.method == "POST"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in sent.headers  # never HTTP Basic
    assert sent.form == {
        "grant_type": "password",
        "username": "jdoe",
        "password": "s3cret pass",
        "client_id": portal.client_id,
        "client_secret": portal.client_secret,
    }


def test_an_empty_client_secret_is_still_sent(portal, settings):
    settings.OAUTH_CLIENT_SECRET = ""
    portal.add_user("jdoe")
    client.password_grant(username="jdoe", password="portal-pass-1")
    assert portal.requests_to(TOKEN_PATH)[0].form["client_secret"] == ""


@pytest.mark.parametrize("password", ["wrong", ""])
def test_wrong_credentials_are_rejected(portal, password):
    portal.add_user("jdoe")
    with pytest.raises(PortalRejected):
        client.password_grant(username="jdoe", password=password)


def test_an_inactive_portal_account_is_rejected(portal):
    portal.add_user("jdoe", is_active=False)
    with pytest.raises(PortalRejected):
        client.password_grant(username="jdoe", password="portal-pass-1")


@pytest.mark.parametrize(
    ("setting", "value"), [("OAUTH_CLIENT_ID", "someone-else"), ("OAUTH_CLIENT_SECRET", "wrong-secret")]
)
def test_a_misconfigured_client_is_unavailable_and_logged_as_an_error(portal, settings, caplog, setting, value):
    setattr(settings, setting, value)
    portal.add_user("jdoe")
    with caplog.at_level(logging.ERROR, logger="archive.portal"), pytest.raises(PortalUnavailable):
        client.password_grant(username="jdoe", password="portal-pass-1")
    assert "invalid_client" in caplog.text
    assert "portal-pass-1" not in caplog.text


@pytest.mark.parametrize("error", ["unsupported_grant_type", "unauthorized_client"])
def test_other_configuration_errors_are_unavailable(portal, error):
    portal.reply = (400, f'{{"error": "{error}"}}'.encode(), "application/json")
    with pytest.raises(PortalUnavailable):
        client.password_grant(username="jdoe", password="x")


@pytest.mark.parametrize(
    "reply",
    [
        (200, b"<html>maintenance</html>", "text/html"),
        (200, b'{"token_type": "Bearer"}', "application/json"),
        (200, b'{"access_token": 12}', "application/json"),
        (200, b"[]", "application/json"),
        (302, b"", "text/html"),
    ],
)
def test_a_token_answer_without_an_access_token_is_unavailable(portal, reply):
    portal.reply = reply
    with pytest.raises(PortalUnavailable):
        client.password_grant(username="jdoe", password="x")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_unavailable(portal, status):
    portal.fail_status = status
    with pytest.raises(PortalUnavailable):
        client.password_grant(username="jdoe", password="x")
    with pytest.raises(PortalUnavailable):
        client.fetch_profile(api_token="x")


def test_a_hanging_portal_times_out(portal, settings):
    settings.OAUTH_REQUESTS_TIMEOUT_SECONDS = 0.3
    portal.hang = True
    started = time.monotonic()
    with pytest.raises(PortalUnavailable):
        client.fetch_profile(bearer="b")
    assert time.monotonic() - started < 2


def test_a_refused_connection_is_unavailable(portal):
    portal.refuse()
    with pytest.raises(PortalUnavailable):
        client.password_grant(username="jdoe", password="x")


def test_profile_by_bearer_and_by_token(portal):
    user = portal.add_user("jdoe", first_name="Jane", is_staff=True, proposals=["B-2", "A-1"], staff_view=True)
    bearer = portal.issue_bearer("jdoe")
    by_bearer = client.fetch_profile(bearer=bearer)
    by_token = client.fetch_profile(api_token=user.api_token)
    assert by_bearer == by_token
    assert by_bearer.username == "jdoe"
    assert by_bearer.first_name == "Jane"
    assert by_bearer.is_staff is True and by_bearer.is_superuser is False and by_bearer.staff_view is True
    assert by_bearer.api_token == user.api_token
    assert by_bearer.proposals == ("A-1", "B-2")
    headers = [r.headers["Authorization"] for r in portal.requests_to(PROFILE_PATH)]
    assert headers == [f"Bearer {bearer}", f"Token {user.api_token}"]


def test_profile_rejections(portal):
    user = portal.add_user("jdoe", is_active=False)
    with pytest.raises(PortalRejected):
        client.fetch_profile(bearer="unknown")
    with pytest.raises(PortalRejected):
        client.fetch_profile(api_token=user.api_token)  # inactive accounts' tokens are refused
    portal.reply = (403, b'{"detail": "no"}', "application/json")
    with pytest.raises(PortalRejected):
        client.fetch_profile(api_token=user.api_token)


@pytest.mark.parametrize(
    "reply",
    [
        (200, b"not json", "text/plain"),
        (200, b'{"first_name": "no username"}', "application/json"),
        (200, b'{"username": 7}', "application/json"),
        (404, b'{"detail": "Not found."}', "application/json"),
    ],
)
def test_a_malformed_profile_answer_is_unavailable(portal, reply):
    portal.reply = reply
    with pytest.raises(PortalUnavailable):
        client.fetch_profile(bearer="b")


# --- the circuit breaker -------------------------------------------------------------------------------------------


def test_the_circuit_opens_after_five_consecutive_failures_and_fails_fast(portal):
    portal.fail_status = 500
    for _ in range(5):
        with pytest.raises(PortalUnavailable):
            client.fetch_profile(bearer="b")
    assert portal.count() == 5
    assert client.circuit_state() == "unavailable"
    with pytest.raises(PortalUnavailable) as raised:
        client.password_grant(username="jdoe", password="x")
    assert portal.count() == 5  # no call while open
    assert raised.value.retry_after == 30


def test_the_circuit_half_opens_after_30_seconds(portal):
    portal.fail_status = 500
    start = datetime.datetime.now(tz=datetime.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        for _ in range(5):
            with pytest.raises(PortalUnavailable):
                client.fetch_profile(bearer="b")
        traveller.shift(29)
        with pytest.raises(PortalUnavailable):
            client.fetch_profile(bearer="b")
        assert portal.count() == 5
        traveller.shift(2)
        # One trial call; it fails, so the circuit opens again at once.
        with pytest.raises(PortalUnavailable):
            client.fetch_profile(bearer="b")
        assert portal.count() == 6
        with pytest.raises(PortalUnavailable):
            client.fetch_profile(bearer="b")
        assert portal.count() == 6
        traveller.shift(31)
        portal.fail_status = None
        portal.add_user("jdoe")
        assert client.fetch_profile(bearer=portal.issue_bearer("jdoe")).username == "jdoe"
        assert client.circuit_state() == "ok"


def test_a_success_resets_the_failure_count(portal):
    portal.add_user("jdoe")
    for _ in range(4):
        portal.fail_status = 502
        with pytest.raises(PortalUnavailable):
            client.fetch_profile(bearer="b")
        portal.fail_status = None
        client.fetch_profile(bearer=portal.issue_bearer("jdoe"))
    assert client.circuit_state() == "ok"


def test_wrong_credentials_do_not_count_as_failures(portal):
    portal.add_user("jdoe")
    for _ in range(8):
        with pytest.raises(PortalRejected):
            client.password_grant(username="jdoe", password="wrong")
    assert client.circuit_state() == "ok"


def test_circuit_state_is_disabled_without_a_profile_url(settings):
    settings.OAUTH_PROFILE_URL = ""
    assert client.circuit_state() == "disabled"


# --- the profile's shape --------------------------------------------------------------------------------------------


def test_missing_fields_take_their_defaults_and_missing_proposals_mean_unknown():
    assert parse_profile({"username": "jdoe"}) == client.PortalProfile(username="jdoe", proposals=None)
    parsed = parse_profile({"username": "jdoe", "profile": None, "tokens": None, "proposals": []})
    assert parsed.proposals == () and parsed.api_token == ""


def test_empty_and_repeated_proposal_ids_are_dropped():
    parsed = parse_profile({"username": "u", "proposals": [{"id": "B"}, {"id": ""}, {"id": "A"}, {"id": "B"}]})
    assert parsed.proposals == ("A", "B")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "The body must be a JSON object."),
        ("jdoe", "The body must be a JSON object."),
        ({}, "username must be a non-empty string."),
        ({"username": ""}, "username must be a non-empty string."),
        ({"username": 12}, "username must be a non-empty string."),
        ({"username": "u" * 151}, "username must be at most 150 characters."),
        ({"username": "u", "is_staff": "true"}, "is_staff must be true or false."),
        ({"username": "u", "is_superuser": 1}, "is_superuser must be true or false."),
        ({"username": "u", "email": ["a"]}, "email must be a string."),
        ({"username": "u", "profile": {"staff_view": "no"}}, "profile.staff_view must be true or false."),
        ({"username": "u", "profile": []}, "profile must be an object."),
        ({"username": "u", "tokens": "abc"}, "tokens must be an object."),
        ({"username": "u", "tokens": {"api_token": 5}}, "tokens.api_token must be a string."),
        ({"username": "u", "proposals": {"id": "A"}}, "proposals must be a list."),
        ({"username": "u", "proposals": ["A"]}, "Each proposal must be an object with a string id."),
        ({"username": "u", "proposals": [{"id": 3}]}, "Each proposal must be an object with a string id."),
    ],
)
def test_wrongly_shaped_profiles_are_refused_with_a_message(body, message):
    with pytest.raises(MalformedProfile) as raised:
        parse_profile(body)
    assert str(raised.value) == message
