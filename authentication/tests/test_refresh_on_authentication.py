"""A stale list of proposals is refreshed once, as the request authenticates, whichever way it does (Token, a cached
Bearer, the zip's body token, HTTP Basic, Django's session for DRF and for the admin), and the request sees the new
list; during an outage the request is served from the stored list and the user backs off. Reading the proposals
(visibility, the frames' selectors and aggregates, /profile/) never asks the portal."""

import ast
import base64
import datetime
import inspect

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.http import QueryDict
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from authentication import selectors
from authentication.backends import ThrottledBasicAuthentication
from authentication.models import Profile
from authentication.selectors import user_proposals
from authentication.tests.conftest import client_with, token_login
from authentication.tests.fakeportal import PROFILE_PATH
from frames import aggregates
from frames import selectors as frame_selectors
from frames.models import Frame
from frames.tests.factories import FrameFactory
from frames.tests.storedfiles import store_version

pytestmark = pytest.mark.django_db

User = get_user_model()
START = datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.UTC)
STALE = START + datetime.timedelta(hours=2)
FUTURE = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)
PORTAL_BACKEND = "authentication.backends.PortalPasswordBackend"


def refreshes(portal) -> int:
    """Profile fetches by the portal token: the refreshes (logins and bearers use Bearer)."""
    return sum(1 for r in portal.requests_to(PROFILE_PATH) if r.headers["Authorization"].startswith("Token "))


@pytest.fixture
def member(portal):
    """jdoe, who logged in at START as a member of OLD-1 and has since moved to NEW-2 at the portal; a stored
    proprietary frame in each proposal. Returns (portal user, archive token, frames by proposal)."""
    portal_user = portal.add_user("jdoe", proposals=["OLD-1"])
    with time_machine.travel(START, tick=False):
        response = token_login("jdoe", "portal-pass-1")
        assert response.status_code == 200
    frames = {}
    for proposal in ("OLD-1", "NEW-2"):
        frames[proposal] = FrameFactory(version=False, proposal_id=proposal, public_date=FUTURE)
        store_version(frames[proposal], f"bytes of {proposal}".encode())
    portal_user.proposals = ["NEW-2"]
    portal.reset_counts()
    return portal_user, response.json()["token"], frames


def stored_user():
    return User.objects.select_related("profile").get(username="jdoe")


# --- reading never asks the portal -----------------------------------------------------------------------------------


def test_reading_a_stale_list_never_calls_the_portal(portal, member):
    _, _, frames = member
    with time_machine.travel(STALE, tick=False):
        user = stored_user()
        assert selectors.proposals_are_stale(user.profile)
        assert user_proposals(user=user) == ["OLD-1"]
        visible = set(Frame.objects.visible_to(user).values_list("proposal_id", flat=True))
        assert visible == {"OLD-1"}
        assert list(Frame.objects.visible_to(user).public_filter(user, False)) == [frames["OLD-1"]]
        params = QueryDict("public=false")
        assert [f.id for f in frame_selectors.frame_list(user=user, params=params)] == [frames["OLD-1"].id]
        assert frame_selectors.frame_get(user=stored_user(), frame_id=frames["NEW-2"].id) is None
        aggregates.aggregate_all(user=stored_user())
        day = frames["OLD-1"].observation_date.date()
        window = QueryDict(f"start={day - datetime.timedelta(days=1)}&end={day + datetime.timedelta(days=1)}")
        result, _ = aggregates.aggregate_filtered(user=stored_user(), params=window)
        assert set(result["proposals"]) == {"OLD-1"}
    assert portal.count() == 0
    assert stored_user().profile.proposals_fetched_at == START


def test_requests_that_skip_authentication_never_call_the_portal(portal, member):
    """A user forced onto the request (no authentication class runs) reads the stored list on every endpoint."""
    _, _, frames = member
    client = APIClient()
    client.force_authenticate(stored_user())
    with time_machine.travel(STALE, tick=False):
        assert client.get(f"/frames/{frames['OLD-1'].id}/").status_code == 200
        assert client.get(f"/frames/{frames['NEW-2'].id}/").status_code == 404
        assert client.get("/frames/?public=false").json()["count"] == 1
        assert client.get("/frames/aggregate/").status_code == 200
        assert client.get("/profile/").json()["profile"] == {"proposals": ["OLD-1"]}
    assert portal.count() == 0


def test_the_selectors_never_import_the_services():
    tree = ast.parse(inspect.getsource(selectors))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    assert "authentication.services" not in imported


# --- every way of authenticating refreshes once -------------------------------------------------------------------


def basic_probe(username: str, password: str) -> Response:
    """A DRF view authenticated by HTTP Basic alone (as /downtimes/api/ may be), answering the request's proposals."""

    class Probe(APIView):
        authentication_classes = [ThrottledBasicAuthentication]
        permission_classes = [AllowAny]

        def get(self, request):
            return Response({"username": request.user.get_username(), "proposals": user_proposals(user=request.user)})

    credential = base64.b64encode(f"{username}:{password}".encode()).decode()
    request = APIRequestFactory().get("/probe/", HTTP_AUTHORIZATION=f"Basic {credential}")
    return Probe.as_view()(request)


def authenticated_client(path: str, portal, member) -> APIClient:
    portal_user, archive_token, _ = member
    if path == "token":
        return client_with("Token", archive_token)
    if path == "mirror":
        return client_with("Token", portal_user.api_token)
    if path == "session":
        client = APIClient()
        with time_machine.travel(START, tick=False):  # the session must not have expired by STALE
            client.force_login(stored_user(), backend=PORTAL_BACKEND)
        return client
    if path == "bearer":
        bearer = portal.issue_bearer("jdoe")
        # Validated (the profile fetched by the bearer) shortly before the list goes stale, then trusted from cache.
        with time_machine.travel(STALE - datetime.timedelta(seconds=60), tick=False):
            Profile.objects.filter(user__username="jdoe").update(proposals_fetched_at=START)
            portal.users["jdoe"].proposals = ["OLD-1"]
            assert client_with("Bearer", bearer).get("/profile/").status_code == 200
            Profile.objects.filter(user__username="jdoe").update(proposals_fetched_at=START)
            portal.users["jdoe"].proposals = ["NEW-2"]
        portal.reset_counts()
        return client_with("Bearer", bearer)
    raise AssertionError(path)


def frame_status(client, frame, via_zip_token: str | None = None) -> int:
    if via_zip_token is None:
        return client.get(f"/frames/{frame.id}/").status_code
    response = client.post("/frames/zip/", {"frame_ids": [frame.id], "auth_token": via_zip_token}, format="json")
    if response.status_code == 200:
        b"".join(response.streaming_content)
    return response.status_code


@pytest.mark.parametrize("path", ["token", "mirror", "bearer", "session", "zip"])
def test_each_path_refreshes_a_stale_list_once_and_the_request_sees_the_new_one(portal, member, path):
    portal_user, _, frames = member
    client = APIClient() if path == "zip" else authenticated_client(path, portal, member)
    zip_token = portal_user.api_token if path == "zip" else None
    with time_machine.travel(STALE, tick=False) as traveller:
        assert frame_status(client, frames["NEW-2"], zip_token) == 200
        assert refreshes(portal) == 1
        assert portal.count() == 1  # nothing else went to the portal: no second check paid for a second call
        profile = Profile.objects.get(user__username="jdoe")
        assert profile.proposals == ["NEW-2"] and profile.proposals_fetched_at == STALE
        traveller.shift(60)
        assert frame_status(client, frames["OLD-1"], zip_token) == 404
        assert frame_status(client, frames["NEW-2"], zip_token) == 200
        assert portal.count() == 1  # fresh now: the next requests do not ask


def test_the_session_is_refreshed_right_after_django_authenticates_it(settings):
    position = settings.MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert settings.MIDDLEWARE[position + 1] == "authentication.middleware.ProposalsRefreshMiddleware"


def test_a_session_request_to_drf_is_refreshed_once_and_profile_shows_the_new_list(portal, member):
    client = authenticated_client("session", portal, member)
    with time_machine.travel(STALE, tick=False):
        response = client.get("/profile/")
    assert response.json() == {"username": "jdoe", "profile": {"proposals": ["NEW-2"]}, "is_staff": False}
    assert refreshes(portal) == 1 and portal.count() == 1


def test_a_fresh_bearer_validation_is_the_refresh(portal, member):
    """The bearer's profile fetch stores the proposals it carries: no second call by the portal token."""
    _, _, frames = member
    client = client_with("Bearer", portal.issue_bearer("jdoe"))
    with time_machine.travel(STALE, tick=False):
        assert frame_status(client, frames["NEW-2"]) == 200
    assert portal.count() == 1 and refreshes(portal) == 0
    assert Profile.objects.get(user__username="jdoe").proposals_fetched_at == STALE


def test_a_basic_login_is_the_refresh(portal, member):
    """HTTP Basic logs a portal account in at the portal, which fetches the proposals: the request has the new list."""
    with time_machine.travel(STALE, tick=False):
        response = basic_probe("jdoe", "portal-pass-1")
    assert response.status_code == 200
    assert response.data == {"username": "jdoe", "proposals": ["NEW-2"]}
    assert refreshes(portal) == 0 and portal.count(PROFILE_PATH) == 1


def test_a_local_account_by_basic_never_calls_the_portal(portal, make_user):
    make_user("local", proposals=["A"])
    response = basic_probe("local", "observer-pass-123")
    assert response.data == {"username": "local", "proposals": ["A"]}
    assert portal.count() == 0


def test_the_admin_follows_the_portal_as_the_session_is_read(portal):
    """A Django view: portal staff whose list is stale are refreshed before the admin decides, so staff rights the
    portal took away are gone from that request on."""
    portal_user = portal.add_user("boss", is_staff=True)
    with time_machine.travel(START, tick=False):
        assert token_login("boss", "portal-pass-1").status_code == 200
    client = APIClient()
    with time_machine.travel(START, tick=False):
        client.force_login(User.objects.get(username="boss"), backend=PORTAL_BACKEND)
    portal.reset_counts()
    with time_machine.travel(START + datetime.timedelta(minutes=10), tick=False):
        assert client.get("/admin/").status_code == 200
    assert portal.count() == 0
    portal_user.is_staff = False
    with time_machine.travel(STALE, tick=False):
        response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert refreshes(portal) == 1 and portal.count() == 1
    assert not User.objects.get(username="boss").is_staff


def test_a_header_credential_does_not_read_or_refresh_the_session(portal, member, make_user):
    """A Token request carrying a session cookie too: only the token's user is looked at."""
    _, _, frames = member
    other = make_user("local", proposals=[])
    client = APIClient()
    client.force_login(stored_user(), backend=PORTAL_BACKEND)
    from rest_framework.authtoken.models import Token

    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=other).key}")
    with time_machine.travel(STALE, tick=False):
        assert client.get("/profile/").json()["username"] == "local"
        assert frame_status(client, frames["NEW-2"]) == 404
    assert portal.count() == 0


# --- outages during the refresh --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["token", "mirror", "bearer", "session", "zip"])
def test_an_outage_during_the_refresh_serves_the_stored_list_and_backs_off(portal, member, path):
    portal_user, _, frames = member
    client = APIClient() if path == "zip" else authenticated_client(path, portal, member)
    zip_token = portal_user.api_token if path == "zip" else None
    portal.fail_status = 503
    with time_machine.travel(STALE, tick=False) as traveller:
        assert frame_status(client, frames["OLD-1"], zip_token) == 200
        assert frame_status(client, frames["NEW-2"], zip_token) == 404
        assert refreshes(portal) == 1  # the second request was backing off
        assert Profile.objects.get(user__username="jdoe").proposals_fetched_at == START
        traveller.shift(59)
        assert frame_status(client, frames["OLD-1"], zip_token) == 200
        assert refreshes(portal) == 1
        traveller.shift(2)
        portal.fail_status = None
        assert frame_status(client, frames["NEW-2"], zip_token) == 200
        assert refreshes(portal) == 2
