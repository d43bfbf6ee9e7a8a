"""Authenticating API requests: Token (local key or portal mirror), Bearer (validated at the fake portal and
cached), and the zip body token; header parsing, inactive users, outages, caches and statement counts."""

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authentication import SessionAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from authentication.backends import (
    BodyTokenAuthentication,
    PortalBearerAuthentication,
    PortalTokenAuthentication,
    zip_authentication_classes,
)
from authentication.models import AuthEvent, Profile
from authentication.tests.conftest import client_with, push, token_login
from authentication.tests.fakeportal import PROFILE_PATH
from frames.tests.factories import FrameFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
FUTURE = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)
START = datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.UTC)


def whoami(client) -> tuple[int, str | dict]:
    response = client.get("/profile/")
    body = response.json()
    return response.status_code, body.get("username", body)


def test_the_project_lists_the_classes_in_the_specified_order():
    from rest_framework.settings import api_settings

    classes = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    assert classes == [PortalTokenAuthentication, SessionAuthentication, PortalBearerAuthentication]


# --- Token ------------------------------------------------------------------------------------------------------


def test_the_local_token(make_user):
    user = make_user("local")
    assert whoami(client_with("Token", Token.objects.get(user=user).key)) == (200, "local")


def test_the_portal_token_mirror_works_like_a_local_token(portal):
    portal_user = portal.add_user("jdoe")
    token_login("jdoe", "portal-pass-1")
    portal.reset_counts()
    assert whoami(client_with("Token", portal_user.api_token)) == (200, "jdoe")
    assert portal.count(PROFILE_PATH) == 0  # the token path never asks the portal


def test_token_auth_works_while_the_portal_is_down(portal):
    portal_user = portal.add_user("jdoe")
    local_key = token_login("jdoe", "portal-pass-1").json()["token"]
    portal.refuse()
    assert whoami(client_with("Token", local_key)) == (200, "jdoe")
    assert whoami(client_with("Token", portal_user.api_token)) == (200, "jdoe")


@pytest.mark.parametrize("keyword", ["Token", "token", "TOKEN"])
def test_the_keyword_is_case_insensitive(make_user, keyword):
    user = make_user("local")
    assert whoami(client_with(keyword, Token.objects.get(user=user).key)) == (200, "local")


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Token", "Invalid token header. No credentials provided."),
        ("Token a b", "Invalid token header. Token string should not contain spaces."),
        ("Token " + "0" * 40, "Invalid token."),
        ("Token nope", "Invalid token."),
    ],
)
def test_bad_token_headers_are_401_even_on_public_endpoints(header, detail):
    FrameFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    for path in ("/frames/", "/profile/"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json() == {"detail": detail}
        assert response["WWW-Authenticate"] == "Token"


def test_an_inactive_users_tokens_are_refused(portal):
    portal_user = portal.add_user("jdoe")
    local_key = token_login("jdoe", "portal-pass-1").json()["token"]
    User.objects.filter(username="jdoe").update(is_active=False)
    for key in (local_key, portal_user.api_token):
        response = client_with("Token", key).get("/frames/")
        assert response.status_code == 401
        assert response.json() == {"detail": "User inactive or deleted."}


def test_a_token_request_costs_one_query_for_token_user_and_profile(make_user, django_assert_num_queries):
    user = make_user("member", proposals=["A"])
    client = client_with("Token", Token.objects.get(user=user).key)
    with django_assert_num_queries(1):
        assert client.get("/profile/").json()["profile"] == {"proposals": ["A"]}


def test_the_token_look_up_gives_the_user_and_profile_the_orm_would(make_user, django_assert_num_queries):
    from authentication.selectors import user_by_api_key

    user = make_user("member", proposals=["A", "B"])
    User.objects.filter(pk=user.pk).update(last_login=START, first_name="Ann")
    key = Token.objects.get(user=user).key
    expected = User.objects.select_related("profile").get(pk=user.pk)
    with django_assert_num_queries(1):
        found = user_by_api_key(key=key)
        assert found.profile.proposals == ["A", "B"]  # attached, no second query
        assert found.profile.user is found
    for field in User._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    for field in Profile._meta.concrete_fields:
        assert getattr(found.profile, field.attname) == getattr(expected.profile, field.attname), field.name
    assert found._state.db == "default" and not found._state.adding
    assert user_by_api_key(key="not-a-key") is None


def test_a_token_user_without_a_profile_has_none_without_a_query(make_user, django_assert_num_queries):
    from authentication.selectors import profile_of, user_by_api_key

    user = make_user("bare")
    Profile.objects.filter(user=user).delete()
    key = Token.objects.get(user=user).key
    with django_assert_num_queries(1):
        found = user_by_api_key(key=key)
        assert found == user and profile_of(found) is None


def test_a_mirror_request_costs_two_queries(portal, django_assert_num_queries):
    portal_user = portal.add_user("jdoe", proposals=["A"])
    token_login("jdoe", "portal-pass-1")
    client = client_with("Token", portal_user.api_token)
    with django_assert_num_queries(2):
        assert client.get("/profile/").json()["profile"] == {"proposals": ["A"]}


# --- Bearer -------------------------------------------------------------------------------------------------------


def test_a_bearer_is_validated_at_the_portal_syncs_the_user_and_is_cached(portal):
    portal.add_user("jdoe", is_staff=True, proposals=["LCO2025A-001"], first_name="Jane")
    bearer = portal.issue_bearer("jdoe")
    client = client_with("Bearer", bearer)
    with time_machine.travel(START, tick=False) as traveller:
        assert whoami(client) == (200, "jdoe")
        user = User.objects.get(username="jdoe")
        assert user.is_staff and user.first_name == "Jane" and not user.has_usable_password()
        assert user.profile.proposals == ["LCO2025A-001"] and user.profile.portal_linked
        assert portal.count(PROFILE_PATH) == 1
        traveller.shift(299)
        assert whoami(client) == (200, "jdoe")
        assert portal.count(PROFILE_PATH) == 1  # trusted for OAUTH_BEARER_CACHE_SECONDS
        traveller.shift(2)
        assert whoami(client) == (200, "jdoe")
        assert portal.count(PROFILE_PATH) == 2
    assert AuthEvent.objects.filter(kind="login", outcome="ok", method="bearer").count() == 1


def test_the_bearer_opens_the_users_proprietary_frames(portal):
    portal.add_user("jdoe", proposals=["LCO2025A-001"])
    frame = FrameFactory(proposal_id="LCO2025A-001", public_date=FUTURE)
    assert APIClient().get(f"/frames/{frame.id}/").status_code == 404
    assert client_with("bearer", portal.issue_bearer("jdoe")).get(f"/frames/{frame.id}/").status_code == 200


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer  ", "Bearer\ta\tb"])
def test_malformed_bearer_headers_are_401(portal, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/profile/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert portal.count() == 0


def test_bearer_auth_is_off_without_a_profile_url(settings):
    settings.OAUTH_PROFILE_URL = ""
    response = client_with("Bearer", "whatever").get("/frames/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Bearer authentication is not available."}


def test_a_rejected_bearer_is_a_401_and_is_not_asked_about_again_for_a_minute(portal):
    client = client_with("Bearer", "not-a-bearer")
    with time_machine.travel(START, tick=False) as traveller:
        for _ in range(3):
            response = client.get("/frames/")
            assert response.status_code == 401
            assert response.json() == {"detail": "Invalid bearer token."}
        assert portal.count(PROFILE_PATH) == 1
        traveller.shift(61)
        assert client.get("/frames/").status_code == 401
        assert portal.count(PROFILE_PATH) == 2


def test_a_bearer_revoked_at_the_portal_stops_working_once_the_cache_expires(portal):
    portal.add_user("jdoe")
    bearer = portal.issue_bearer("jdoe")
    client = client_with("Bearer", bearer)
    with time_machine.travel(START, tick=False) as traveller:
        assert whoami(client) == (200, "jdoe")
        del portal.bearers[bearer]
        traveller.shift(301)
        assert client.get("/profile/").status_code == 401
        # The positive entry is gone: an outage now cannot revive it.
        traveller.shift(61)
        portal.fail_status = 500
        assert client.get("/profile/").status_code == 503


def test_bearer_failures_are_throttled_per_address_before_asking_the_portal(portal, settings):
    settings.THROTTLE_AUTH_FAILURE_RATE = "3/hour"
    for index in range(3):
        assert client_with("Bearer", f"guess-{index}").get("/frames/").status_code == 401
    assert portal.count(PROFILE_PATH) == 3
    client = client_with("Bearer", "guess-4")
    response = client.get("/frames/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    # A spoofed X-Forwarded-For is not a new address.
    assert client.get("/frames/", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    assert portal.count(PROFILE_PATH) == 3
    # Another address is not affected.
    assert client.get("/frames/", REMOTE_ADDR="198.51.100.7").status_code == 401


def test_a_validated_bearer_survives_an_outage_for_the_grace_period(portal):
    portal.add_user("jdoe")
    client = client_with("Bearer", portal.issue_bearer("jdoe"))
    with time_machine.travel(START, tick=False) as traveller:
        assert whoami(client) == (200, "jdoe")
        portal.fail_status = 500
        traveller.shift(3600)
        assert whoami(client) == (200, "jdoe")
        traveller.shift(86400 - 3600 + 1)
        response = client.get("/profile/")
        assert response.status_code == 503
        assert response.json() == {"detail": "The observation portal cannot be reached; try again later."}
        assert response["Retry-After"] == "30"


def test_an_unknown_bearer_during_an_outage_is_a_503(portal):
    portal.refuse()
    response = client_with("Bearer", "never-seen").get("/frames/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def test_a_bearer_never_adopts_a_local_account(portal, make_user):
    local = make_user("jdoe")
    portal.add_user("jdoe", is_superuser=True)
    response = client_with("Bearer", portal.issue_bearer("jdoe")).get("/profile/")
    assert response.status_code == 401
    local.refresh_from_db()
    assert not local.is_superuser and not local.profile.portal_linked
    assert AuthEvent.objects.filter(kind="login", outcome="conflict", method="bearer").exists()


def test_a_bearer_validation_never_reactivates(portal):
    portal.add_user("jdoe", is_active=False)
    portal.bearer_accepts_inactive = True
    bearer = portal.issue_bearer("jdoe")
    push(portal.profile_json(portal.users["jdoe"]))
    User.objects.filter(username="jdoe").update(is_active=False)
    Profile.objects.filter(user__username="jdoe").update(portal_rejected_at=timezone.now())
    response = client_with("Bearer", bearer).get("/profile/")
    assert response.status_code == 401
    assert response.json() == {"detail": "User inactive or deleted."}
    assert not User.objects.get(username="jdoe").is_active


def test_the_raw_bearer_is_never_stored(portal):
    portal.add_user("jdoe")
    bearer = portal.issue_bearer("jdoe")
    client_with("Bearer", bearer).get("/profile/")
    client_with("Bearer", "rejected-" + bearer).get("/profile/")
    everything = [key + str(cache.get(key)) for key in cache._cache]
    everything += [str(v) for row in AuthEvent.objects.values() for v in row.values()]
    everything += [str(v) for row in Profile.objects.values() for v in row.values()]
    assert not any(bearer in value for value in everything)


# --- the zip body token -------------------------------------------------------------------------------------------


class ZipProbe(APIView):
    """Stands in for the zip view (not built yet): the project's classes with the body token inserted."""

    authentication_classes = zip_authentication_classes()
    permission_classes = [AllowAny]

    def post(self, request):
        return Response({"username": request.user.get_username() if request.user.is_authenticated else None})


def zip_post(data, fmt="multipart", **extra):
    factory = APIRequestFactory(enforce_csrf_checks=True)
    return ZipProbe.as_view()(factory.post("/frames/zip/", data, format=fmt, **extra))


def test_the_body_token_comes_right_after_the_token_class():
    assert zip_authentication_classes() == [
        PortalTokenAuthentication,
        BodyTokenAuthentication,
        SessionAuthentication,
        PortalBearerAuthentication,
    ]


@pytest.mark.parametrize("fmt", ["multipart", "json"])
def test_a_body_token_authenticates_without_csrf(make_user, fmt):
    user = make_user("local")
    response = zip_post({"frame_ids": [1], "auth_token": Token.objects.get(user=user).key}, fmt)
    assert response.status_code == 200
    assert response.data == {"username": "local"}


def test_a_body_token_may_be_the_portal_mirror(portal):
    portal_user = portal.add_user("jdoe")
    token_login("jdoe", "portal-pass-1")
    assert zip_post({"auth_token": portal_user.api_token}).data == {"username": "jdoe"}


@pytest.mark.parametrize("data", [{}, {"auth_token": ""}, {"frame_ids": [1]}])
def test_no_body_token_is_anonymous(data):
    response = zip_post(data, "json")
    assert response.status_code == 200
    assert response.data == {"username": None}


@pytest.mark.parametrize("value", ["0" * 40, "unknown", 12])
def test_an_unknown_body_token_is_a_404(value):
    assert zip_post({"auth_token": value}, "json").status_code == 404


def test_an_inactive_users_body_token_is_a_404(make_user):
    user = make_user("local")
    key = Token.objects.get(user=user).key
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert zip_post({"auth_token": key}).status_code == 404


def test_a_header_credential_wins_over_the_body(make_user):
    header_user = make_user("header-user")
    key = Token.objects.get(user=header_user).key
    response = zip_post({"auth_token": "unknown"}, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.data == {"username": "header-user"}


def test_a_body_token_request_is_throttled_as_the_user(make_user, settings):
    settings.THROTTLE_USER_RATE = "2/min"
    key = Token.objects.get(user=make_user("local")).key
    assert [zip_post({"auth_token": key}).status_code for _ in range(3)] == [200, 200, 429]
    assert zip_post({}).status_code == 200  # the anonymous count of the same address is separate
