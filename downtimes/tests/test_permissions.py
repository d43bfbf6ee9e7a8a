"""Who may do what: the write modes for every kind of caller, HTTP Basic, tokens, CSRF, the throttle."""

import base64

import pytest
from django.urls import Resolver404, resolve
from rest_framework.test import APIClient

from conftest import token_client
from downtimes.models import Downtime
from downtimes.tests.factories import DowntimeFactory

pytestmark = pytest.mark.django_db

API = "/downtimes/api/"
BODY = {
    "start": "2030-03-01T00:00:00Z",
    "end": "2030-03-01T01:00:00Z",
    "site": "tst",
    "enclosure": "doma",
    "telescope": "1m0a",
}
STAFF_ONLY = {"detail": "Only staff may create, change or delete downtimes."}
CREATOR_OR_STAFF = {"detail": "Only staff, superusers and the user who created this downtime may change it."}

# action → caller → mode → status (the table in docs/downtimes.md, "Permissions")
MODES = ("authenticated", "own", "staff")
TABLE = {
    "post": {
        "anonymous": (401, 401, 401),
        "other": (201, 201, 403),
        "staff": (201, 201, 201),
        "superuser": (201, 201, 201),
    },
    "put": {
        "anonymous": (401, 401, 401),
        "other": (403, 403, 403),
        "creator": (200, 200, 403),
        "staff": (200, 200, 200),
        "superuser": (200, 200, 200),
    },
    "patch": {
        "anonymous": (401, 401, 401),
        "other": (403, 403, 403),
        "creator": (200, 200, 403),
        "staff": (200, 200, 200),
        "superuser": (200, 200, 200),
    },
    "delete": {
        "anonymous": (401, 401, 401),
        "other": (204, 403, 403),
        "creator": (204, 204, 403),
        "staff": (204, 204, 204),
        "superuser": (204, 204, 204),
    },
    "history": {
        "anonymous": (401, 401, 401),
        "other": (403, 403, 403),
        "creator": (403, 403, 403),
        "staff": (200, 200, 200),
        "superuser": (200, 200, 200),
    },
}
CASES = [
    (action, caller, mode, statuses[MODES.index(mode)])
    for action, callers in TABLE.items()
    for caller, statuses in callers.items()
    for mode in MODES
]


@pytest.fixture
def callers(make_user, superuser):
    users = {
        "creator": make_user("creator"),
        "other": make_user("other"),
        "staff": make_user("staffer", staff=True),
        "superuser": superuser,
    }
    return {"anonymous": APIClient(), **{name: token_client(user) for name, user in users.items()}}, users


@pytest.mark.parametrize(("action", "caller", "mode", "expected"), CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_the_write_modes(topology, settings, callers, action, caller, mode, expected):
    settings.DOWNTIMES_WRITE_ACCESS = mode
    clients, users = callers
    client = clients[caller]
    downtime = DowntimeFactory(created_by=users["creator"], reason="Maintenance")
    url = f"{API}{downtime.id}/"
    if action == "post":
        response = client.post(API, BODY, format="json")
    elif action == "put":
        response = client.put(url, {**BODY, "reason": "changed"}, format="json")
    elif action == "patch":
        response = client.patch(url, {"reason": "changed"}, format="json")
    elif action == "delete":
        response = client.delete(url)
    else:
        response = client.get(f"{API}history/")
    assert response.status_code == expected, response.content
    if expected == 401:
        assert response["WWW-Authenticate"] == "Token"
    if expected == 403 and action != "history":
        assert response.json() == (STAFF_ONLY if mode == "staff" else CREATOR_OR_STAFF)
    if expected >= 400 and action != "history":
        stored = Downtime.objects.get(pk=downtime.pk)  # nothing changed
        assert stored.reason == "Maintenance" and Downtime.objects.count() == 1


def test_reads_are_open_to_everyone_in_every_mode(api_client, settings, abcd):
    for mode in MODES:
        settings.DOWNTIMES_WRITE_ACCESS = mode
        assert api_client.get(API).status_code == 200
        assert api_client.get(f"{API}{abcd['A'].id}/").status_code == 200
        assert api_client.get(API, {"format": "csv"}).status_code == 200
        assert api_client.get("/downtimes/").status_code == 200


@pytest.mark.parametrize(("mode", "expected"), [("authenticated", 204), ("own", 403)])
def test_a_non_staff_user_deleting_a_staff_created_row(topology, settings, make_user, mode, expected):
    settings.DOWNTIMES_WRITE_ACCESS = mode
    downtime = DowntimeFactory(created_by=make_user("staffer", staff=True))
    assert token_client(make_user("someone")).delete(f"{API}{downtime.id}/").status_code == expected


def test_query_filters_also_guard_writes(cached_topology, superuser_client):
    downtime = DowntimeFactory(site="tst")
    assert superuser_client.delete(f"{API}{downtime.id}/?site=lco").status_code == 404
    assert superuser_client.patch(f"{API}{downtime.id}/?site=lco", {"reason": "x"}, format="json").status_code == 404
    assert Downtime.objects.filter(pk=downtime.pk, reason="Maintenance").exists()


def test_imported_rows_without_a_creator_are_staff_only(topology, make_user):
    downtime = DowntimeFactory(created_by=None)
    assert token_client(make_user("someone")).delete(f"{API}{downtime.id}/").status_code == 403


def test_an_unknown_token_is_401_on_any_method(api_client, abcd):
    api_client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    for response in (api_client.get(API), api_client.post(API, BODY, format="json"), api_client.options(API)):
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid token."}


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_basic_auth_as_the_downtime_service_documents_it(topology, make_user, settings):
    make_user("booker")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic("booker", "wrong"))
    response = client.post(API, BODY, format="json")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid username/password."})
    assert response["WWW-Authenticate"] == "Token"  # never a browser's Basic prompt
    client.credentials(HTTP_AUTHORIZATION=basic("booker", "observer-pass-123"))
    response = client.post(API, BODY, format="json")
    assert response.status_code == 201
    assert Downtime.objects.get().created_by.username == "booker"
    settings.DOWNTIMES_BASIC_AUTH = False
    response = client.post(API, BODY, format="json")
    assert (response.status_code, response.json()) == (401, {"detail": "Authentication credentials were not provided."})


def test_basic_auth_refuses_inactive_users(topology, make_user):
    user = make_user("gone")
    user.is_active = False
    user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic("gone", "observer-pass-123"))
    assert client.post(API, BODY, format="json").status_code == 401


def test_basic_extends_the_project_defaults_instead_of_replacing_them(settings):
    from rest_framework.authentication import SessionAuthentication
    from rest_framework.settings import api_settings

    from authentication.backends import ThrottledBasicAuthentication
    from downtimes.permissions import downtime_authenticators

    classes = [type(auth) for auth in downtime_authenticators()]
    assert classes == [*api_settings.DEFAULT_AUTHENTICATION_CLASSES, ThrottledBasicAuthentication]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    }
    assert [type(auth) for auth in downtime_authenticators()] == [SessionAuthentication, ThrottledBasicAuthentication]


def test_basic_auth_is_behind_the_login_throttles(topology, make_user, settings):
    """Password guessing through Basic counts like any failed login, per address and per username (429)."""
    make_user("booker")
    settings.THROTTLE_LOGIN_USERNAME_RATE = "3/hour"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic("booker", "wrong"))
    statuses = [client.post(API, BODY, format="json").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    client.credentials(HTTP_AUTHORIZATION=basic("booker", "observer-pass-123"))
    response = client.post(API, BODY, format="json")
    assert response.status_code == 429  # even the right password waits: the account is under attack
    assert "Retry-After" in response


def test_session_writes_need_csrf(topology, make_user):
    make_user("browser")
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="browser", password="observer-pass-123")
    response = client.post(API, BODY, format="json")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed:")


def test_a_portal_pushed_user_writes_and_deletes_with_its_portal_token(topology, settings):
    """The portal's own user push (authentication app) and its token mirror; skipped where that app lacks them."""
    try:
        resolve("/authprofile/addupdateuser/")
    except Resolver404:
        pytest.skip("the authentication app's portal user push (/authprofile/addupdateuser/) is not in this tree")
    settings.OAUTH_SERVER_KEY = "portal-server-key"
    portal_token = "f" * 40
    push = APIClient().post(
        "/authprofile/addupdateuser/",
        data=(
            '{"username": "rt-booker", "is_staff": false, "is_superuser": false, '
            f'"tokens": {{"api_token": "{portal_token}"}}, "proposals": []}}'
        ),
        content_type="text/plain",
        HTTP_AUTHORIZATION="Server portal-server-key",
    )
    assert push.status_code == 200, push.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {portal_token}")
    created = client.post(API, BODY, format="json")
    assert created.status_code == 201
    assert client.delete(f"{API}{created.json()['id']}/").status_code == 204


# --- the throttle ----------------------------------------------------------------------------------------------------
def test_polling_at_the_schedulers_rate_is_never_refused(api_client, abcd):
    params = {"ends_after": "2030-01-01 00:00:00", "starts_before": "2030-01-08 00:00:00"}
    for _ in range(120):
        assert api_client.get(API, params).status_code == 200


def test_the_downtimes_scope_has_its_own_rate_and_exempts_staff(api_client, abcd, settings, make_user):
    settings.THROTTLE_DOWNTIMES_RATE = "3/minute"
    for _ in range(3):
        assert api_client.get(API).status_code == 200
    response = api_client.get(API)
    assert response.status_code == 429
    assert response.json()["detail"].startswith("Request was throttled. Expected available in")
    assert int(response["Retry-After"]) > 0
    assert api_client.get("/downtimes/").status_code == 429  # the page shares the scope
    other_address = APIClient(REMOTE_ADDR="192.0.2.99")
    assert other_address.get(API).status_code == 200
    staff = token_client(make_user("staffer", staff=True))
    for _ in range(5):
        assert staff.get(API).status_code == 200
    settings.THROTTLE_DOWNTIMES_RATE = ""
    for _ in range(5):
        assert api_client.get(API).status_code == 200


def test_the_throttle_cannot_be_dodged_with_x_forwarded_for(api_client, abcd, settings):
    settings.THROTTLE_DOWNTIMES_RATE = "2/minute"
    for n in range(2):
        assert api_client.get(API, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code == 200
    assert api_client.get(API, HTTP_X_FORWARDED_FOR="10.0.0.9").status_code == 429
