"""Password logins: /api-token-auth/, the browsable API's login page and the admin's, against a fake
portal on loopback; local accounts, the takeover rule, deactivations, outages and what is (never) stored."""

import datetime
import logging

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from authentication.models import AuthEvent, Profile
from authentication.tests.conftest import client_with, token_login
from authentication.tests.fakeportal import PROFILE_PATH, TOKEN_PATH
from frames.tests.factories import FrameFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
FUTURE = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)
UNAVAILABLE = {"detail": "The observation portal cannot be reached; try again later."}
INVALID = {"non_field_errors": ["Unable to log in with provided credentials."]}


def events(**filters) -> list[tuple[str, str, str]]:
    return list(AuthEvent.objects.filter(**filters).order_by("id").values_list("kind", "outcome", "method"))


# --- /api-token-auth/ through the portal --------------------------------------------------------------------------


def test_a_portal_login_creates_the_user_and_returns_the_local_token(portal):
    portal_user = portal.add_user(
        "jdoe",
        first_name="Jane",
        last_name="Doe",
        email="jdoe@example.org",
        is_staff=True,
        staff_view=True,
        proposals=["LCO2025A-001", "LCO2022B-014"],
    )
    response = token_login("jdoe", "portal-pass-1")
    assert response.status_code == 200, response.content
    user = User.objects.get(username="jdoe")
    assert response.json() == {"token": Token.objects.get(user=user).key}
    assert len(response.json()["token"]) == 40
    assert (user.first_name, user.last_name, user.email) == ("Jane", "Doe", "jdoe@example.org")
    assert user.is_staff and not user.is_superuser and user.is_active
    assert not user.has_usable_password()
    profile = Profile.objects.get(user=user)
    assert profile.portal_linked and profile.staff_view
    assert profile.api_token == portal_user.api_token
    assert profile.api_token_confirmed_at is not None
    assert profile.proposals == ["LCO2022B-014", "LCO2025A-001"]
    assert profile.proposals_fetched_at is not None
    # One password grant, one profile fetch by the access token it gave.
    (grant,) = portal.requests_to(TOKEN_PATH)
    (fetch,) = portal.requests_to(PROFILE_PATH)
    assert fetch.headers["Authorization"].startswith("Bearer ")
    # The token was made with the user, so none is issued here.
    assert events() == [("login", "ok", "api_token_auth")]


def test_repeated_logins_return_the_same_token_and_follow_the_portal(portal):
    portal_user = portal.add_user("jdoe", proposals=["A"])
    first = token_login("jdoe", "portal-pass-1").json()["token"]
    portal_user.is_superuser = True
    portal_user.proposals = ["B"]
    portal_user.first_name = "Janet"
    second = token_login("jdoe", "portal-pass-1").json()["token"]
    assert first == second
    user = User.objects.get(username="jdoe")
    assert user.is_superuser and user.first_name == "Janet"
    assert user.profile.proposals == ["B"]


@pytest.mark.parametrize("format", ["json", "multipart"])
def test_json_and_multipart_bodies(portal, format):
    portal.add_user("jdoe")
    response = APIClient().post("/api-token-auth/", {"username": "jdoe", "password": "portal-pass-1"}, format=format)
    assert response.status_code == 200


def test_form_body(portal):
    portal.add_user("jdoe")
    response = APIClient().post(
        "/api-token-auth/", "username=jdoe&password=portal-pass-1", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200


def test_the_email_typed_as_username_logs_in_the_portals_user(portal):
    portal.add_user("jdoe", email="jdoe@example.org")
    response = token_login("jdoe@example.org", "portal-pass-1")
    assert response.status_code == 200
    assert User.objects.filter(username="jdoe").exists()
    assert not User.objects.filter(username="jdoe@example.org").exists()


@pytest.mark.parametrize("password", ["wrong", " portal-pass-1"])
def test_wrong_credentials_are_a_400(portal, password):
    portal.add_user("jdoe")
    response = token_login("jdoe", password)
    assert response.status_code == 400
    assert response.json() == INVALID
    assert not User.objects.filter(username="jdoe").exists()
    assert events() == [("login", "bad_credentials", "api_token_auth")]


def test_an_account_inactive_at_the_portal_cannot_log_in(portal):
    portal.add_user("jdoe", is_active=False)
    assert token_login("jdoe", "portal-pass-1").json() == INVALID


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"password": "x"}, {"username": ["This field is required."]}),
        ({"username": "jdoe"}, {"password": ["This field is required."]}),
        ({}, {"username": ["This field is required."], "password": ["This field is required."]}),
    ],
)
def test_missing_fields_are_a_400(portal, body, errors):
    response = APIClient().post("/api-token-auth/", body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert portal.count() == 0


def test_the_answer_is_json_even_for_a_browser(portal):
    portal.add_user("jdoe")
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = APIClient().post(
        "/api-token-auth/", {"username": "jdoe", "password": "portal-pass-1"}, HTTP_ACCEPT=browser_accept
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_an_authenticated_caller_gets_its_own_token_and_the_body_is_ignored(portal, make_user):
    user = make_user("local-observer")
    key = Token.objects.get(user=user).key
    response = client_with("Token", key).post("/api-token-auth/", {"username": "other", "password": "x"})
    assert response.status_code == 200
    assert response.json() == {"token": key}
    assert portal.count() == 0


def test_a_bad_header_credential_is_a_401(portal):
    response = client_with("Token", "0" * 40).post("/api-token-auth/", {"username": "jdoe", "password": "x"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_is_created_when_the_user_has_none(portal):
    portal.add_user("jdoe")
    token_login("jdoe", "portal-pass-1")
    Token.objects.filter(user__username="jdoe").delete()
    response = token_login("jdoe", "portal-pass-1")
    assert response.json() == {"token": Token.objects.get(user__username="jdoe").key}
    assert ("token_issued", "ok", "api_token_auth") in events()


# --- local accounts and the takeover rule ----------------------------------------------------------------------------


def test_local_accounts_log_in_without_asking_the_portal(portal, superuser):
    response = token_login("archive-admin", "admin-pass-123")
    assert response.json() == {"token": Token.objects.get(user=superuser).key}
    assert token_login("archive-admin", "wrong").status_code == 400
    assert portal.count() == 0


def test_local_accounts_work_with_portal_login_off(superuser, settings):
    settings.OAUTH_TOKEN_URL = settings.OAUTH_PROFILE_URL = settings.OAUTH_CLIENT_ID = ""
    assert token_login("archive-admin", "admin-pass-123").status_code == 200


def test_a_portal_login_never_adopts_a_local_account_of_the_same_name(portal, make_user):
    local = make_user("jdoe")
    portal.add_user("jdoe", password="portal-pass-1", is_superuser=True)
    response = token_login("jdoe", "portal-pass-1")
    assert response.json() == INVALID
    assert portal.count() == 0  # a local account: the portal is not even asked
    local.refresh_from_db()
    assert not local.is_superuser and not local.profile.portal_linked


def test_a_takeover_through_the_email_is_refused_logged_and_audited(portal, make_user, caplog):
    local = make_user("jdoe")
    portal.add_user("jdoe", email="jdoe@example.org", is_superuser=True)
    with caplog.at_level(logging.WARNING, logger="authentication.services"):
        response = token_login("jdoe@example.org", "portal-pass-1")
    assert response.status_code == 400
    assert response.json() == INVALID
    assert "a local account has that username" in caplog.text
    local.refresh_from_db()
    assert not local.is_superuser and local.email == "" and not local.profile.portal_linked
    assert local.has_usable_password()
    assert events() == [("login", "conflict", "api_token_auth")]


def test_portal_users_have_no_local_password(portal):
    portal.add_user("jdoe", password="first-pass")
    token_login("jdoe", "first-pass")
    # Even if staff set a local password, only the portal decides.
    user = User.objects.get(username="jdoe")
    user.set_password("local-pass")
    user.save()
    portal.fail_status = 500
    assert token_login("jdoe", "local-pass").status_code == 503


def test_a_password_changed_at_the_portal_stops_the_old_one_at_once(portal):
    portal_user = portal.add_user("jdoe", password="old-pass")
    assert token_login("jdoe", "old-pass").status_code == 200
    portal_user.password = "new-pass"
    assert token_login("jdoe", "old-pass").status_code == 400
    assert token_login("jdoe", "new-pass").status_code == 200


# --- deactivation ---------------------------------------------------------------------------------------------------


def test_an_account_deactivated_by_archive_staff_stays_inactive(portal):
    portal.add_user("jdoe")
    token_login("jdoe", "portal-pass-1")
    User.objects.filter(username="jdoe").update(is_active=False)
    response = token_login("jdoe", "portal-pass-1")
    assert response.json() == INVALID
    assert not User.objects.get(username="jdoe").is_active
    assert events()[-1] == ("login", "inactive", "api_token_auth")


def test_a_password_login_reactivates_an_account_the_portal_had_refused(portal):
    portal.add_user("jdoe")
    token_login("jdoe", "portal-pass-1")
    User.objects.filter(username="jdoe").update(is_active=False)
    Profile.objects.filter(user__username="jdoe").update(portal_rejected_at=timezone.now())
    assert token_login("jdoe", "portal-pass-1").status_code == 200
    user = User.objects.get(username="jdoe")
    assert user.is_active and user.profile.portal_rejected_at is None
    assert ("portal_reactivated", "ok", "api_token_auth") in events()


# --- outages ----------------------------------------------------------------------------------------------------------


def assert_unavailable(response):
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "30"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_failing_portal_is_a_503_not_a_wrong_password(portal, status):
    portal.add_user("jdoe")
    portal.fail_status = status
    assert_unavailable(token_login("jdoe", "portal-pass-1"))
    assert events() == [("login", "portal_unavailable", "api_token_auth")]


def test_a_hanging_portal_is_a_503_within_the_timeout(portal, settings):
    settings.OAUTH_REQUESTS_TIMEOUT_SECONDS = 0.3
    portal.hang = True
    assert_unavailable(token_login("jdoe", "portal-pass-1"))


def test_an_unreachable_portal_is_a_503(portal):
    portal.refuse()
    assert_unavailable(token_login("jdoe", "portal-pass-1"))


def test_a_misconfigured_client_is_a_503(portal, settings):
    settings.OAUTH_CLIENT_SECRET = "not-the-secret"
    portal.add_user("jdoe")
    assert_unavailable(token_login("jdoe", "portal-pass-1"))


def test_a_failing_profile_fetch_after_a_good_grant_is_a_503(portal):
    portal.add_user("jdoe")
    portal.profile_edit = lambda body: {"no": "username"}
    assert_unavailable(token_login("jdoe", "portal-pass-1"))
    assert not User.objects.filter(username="jdoe").exists()


def test_an_open_circuit_answers_at_once(portal):
    portal.fail_status = 500
    for _ in range(5):
        token_login("jdoe", "portal-pass-1")
    portal.reset_counts()
    assert_unavailable(token_login("jdoe", "portal-pass-1"))
    assert portal.count() == 0


def test_users_whose_tokens_are_known_keep_working_during_an_outage(portal):
    portal.add_user("jdoe", proposals=["LCO2025A-001"])
    key = token_login("jdoe", "portal-pass-1").json()["token"]
    frame = FrameFactory(proposal_id="LCO2025A-001", public_date=FUTURE)
    portal.refuse()
    response = client_with("Token", key).get(f"/frames/{frame.id}/")
    assert response.status_code == 200


# --- nothing secret is kept ---------------------------------------------------------------------------------------


def test_neither_the_password_nor_the_access_token_is_stored_or_logged(portal, caplog):
    portal.add_user("jdoe", password="very-secret-password")
    with caplog.at_level(logging.DEBUG):
        token_login("jdoe", "very-secret-password")
        token_login("jdoe", "wrong-secret-password")
    access_tokens = set(portal.bearers)
    user = User.objects.get(username="jdoe")
    stored = [
        *[str(value) for value in User.objects.filter(pk=user.pk).values().get().values()],
        *[str(value) for value in Profile.objects.filter(user=user).values().get().values()],
        *[str(value) for row in AuthEvent.objects.values() for value in row.values()],
    ]
    from django.core.cache import cache

    cached = [str(cache.get(key)) + key for key in cache._cache]  # locmem: every key and value
    for secret in ["very-secret-password", "wrong-secret-password", *access_tokens]:
        assert not any(secret in value for value in stored), secret
        assert not any(secret in value for value in cached), secret
        assert secret not in caplog.text


# --- the browsable API's login page --------------------------------------------------------------------------------


def test_the_login_page_is_branded(settings):
    settings.NAVBAR_TITLE_TEXT = "Example Observatory Archive"
    response = Client().get("/api-auth/login/")
    assert response.status_code == 200
    assert "Example Observatory Archive" in response.content.decode()


def test_browsable_login_through_the_portal_opens_proprietary_frames_by_session(portal):
    portal.add_user("jdoe", proposals=["LCO2025A-001"])
    frame = FrameFactory(proposal_id="LCO2025A-001", public_date=FUTURE)
    client = Client()
    assert client.get(f"/frames/{frame.id}/").status_code == 404
    response = client.post("/api-auth/login/", {"username": "jdoe", "password": "portal-pass-1", "next": "/profile/"})
    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    assert client.get(f"/frames/{frame.id}/").status_code == 200
    assert client.get("/profile/").json() == {
        "username": "jdoe",
        "profile": {"proposals": ["LCO2025A-001"]},
        "is_staff": False,
    }
    assert events()[-1] == ("login", "ok", "browsable")
    client.post("/api-auth/logout/")
    assert client.get(f"/frames/{frame.id}/").status_code == 404


def test_browsable_login_with_wrong_credentials_rerenders_the_form(portal):
    portal.add_user("jdoe")
    response = Client().post("/api-auth/login/", {"username": "jdoe", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_browsable_login_with_the_portal_down_is_a_503_with_a_message(portal):
    portal.fail_status = 500
    response = Client().post("/api-auth/login/", {"username": "jdoe", "password": "portal-pass-1"})
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert UNAVAILABLE["detail"] in response.content.decode()


def test_local_accounts_use_the_browsable_login_too(superuser):
    client = Client()
    response = client.post("/api-auth/login/", {"username": "archive-admin", "password": "admin-pass-123"})
    assert response.status_code == 302
    assert client.get("/profile/").json()["username"] == "archive-admin"


def test_sessions_need_csrf_for_unsafe_methods(superuser):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser, backend="authentication.backends.LocalAccountBackend")
    response = client.post("/revoke_token/")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_session_stops_working_when_the_user_is_deactivated(portal):
    portal.add_user("jdoe")
    client = Client()
    client.post("/api-auth/login/", {"username": "jdoe", "password": "portal-pass-1"})
    assert client.get("/profile/").json()["username"] == "jdoe"
    User.objects.filter(username="jdoe").update(is_active=False)
    assert client.get("/profile/").json()["username"] == ""


# --- the admin's login page --------------------------------------------------------------------------------------


def test_portal_staff_log_in_to_the_admin(portal):
    portal.add_user("boss", is_staff=True)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "boss", "password": "portal-pass-1"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert events()[-1] == ("login", "ok", "admin")


def test_the_admin_refuses_portal_users_who_are_not_staff(portal):
    portal.add_user("jdoe")
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "jdoe", "password": "portal-pass-1"})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_the_admin_login_with_the_portal_down_is_a_503(portal):
    portal.fail_status = 503
    response = Client().post("/admin/login/", {"username": "boss", "password": "portal-pass-1"})
    assert response.status_code == 503
    assert UNAVAILABLE["detail"] in response.content.decode()
