"""The portal's user push, `POST /authprofile/addupdateuser/`: the server key (good, bad, missing,
unconfigured), the raw body, the upsert, the takeover rule, and the recheck that syncs deactivations."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from authentication import tasks
from authentication.models import AuthEvent, Profile
from authentication.tests.conftest import SERVER_KEY, client_with, push, token_login
from authentication.tests.fakeportal import PROFILE_PATH
from frames.tests.factories import FrameFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
OK = {"message": "User account updated"}
FORBIDDEN = {"detail": "Invalid or missing API Key."}


def profile_body(portal, username="jdoe", **fields) -> dict:
    return portal.profile_json(portal.add_user(username, **fields))


def test_a_push_creates_the_user_who_can_use_the_pushed_token_at_once(portal):
    body = profile_body(
        portal, first_name="Jane", email="jdoe@example.org", is_staff=True, staff_view=True, proposals=["P-1"]
    )
    response = push(body)
    assert response.status_code == 200
    assert response.json() == OK
    user = User.objects.get(username="jdoe")
    assert (user.first_name, user.email, user.is_staff, user.is_superuser) == ("Jane", "jdoe@example.org", True, False)
    assert not user.has_usable_password()
    profile = user.profile
    assert profile.portal_linked and profile.staff_view and profile.proposals == ["P-1"]
    assert profile.api_token == body["tokens"]["api_token"]
    assert profile.api_token_confirmed_at is None  # only pushed, not yet seen accepted
    assert profile.proposals_fetched_at is not None
    frame = FrameFactory(proposal_id="P-1", public_date=None)
    assert client_with("Token", body["tokens"]["api_token"]).get(f"/frames/{frame.id}/").status_code == 200
    assert AuthEvent.objects.filter(kind="push", outcome="ok", user=user).exists()


def test_a_push_updates_and_answers_the_same(portal):
    push(profile_body(portal, is_superuser=True, proposals=["P-1"]))
    body = portal.profile_json(portal.users["jdoe"])
    body.update(is_superuser=False, last_name="Doe")
    body["proposals"] = [{"id": "P-2", "title": "t", "current": True}]
    assert push(body).json() == OK
    user = User.objects.get(username="jdoe")
    assert not user.is_superuser and user.last_name == "Doe" and user.profile.proposals == ["P-2"]
    assert User.objects.filter(username="jdoe").count() == 1


def test_a_push_without_proposals_keeps_the_stored_ones(portal):
    push(profile_body(portal, proposals=["P-1"]))
    body = portal.profile_json(portal.users["jdoe"])
    del body["proposals"]
    push(body)
    assert Profile.objects.get(user__username="jdoe").proposals == ["P-1"]


def test_a_push_never_touches_the_password_nor_is_active(portal):
    portal.add_user("jdoe")
    token_login("jdoe", "portal-pass-1")
    User.objects.filter(username="jdoe").update(is_active=False)
    push(portal.profile_json(portal.users["jdoe"]))
    user = User.objects.get(username="jdoe")
    assert not user.is_active and not user.has_usable_password()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json", ""])
def test_the_body_is_read_raw_whatever_its_content_type(portal, content_type):
    assert push(profile_body(portal), content_type=content_type).status_code == 200


def test_a_push_is_never_throttled_nor_needs_csrf(portal, settings):
    settings.THROTTLE_ANON_RATE = "2/day"
    body = profile_body(portal)
    client = APIClient(enforce_csrf_checks=True)
    assert [push(body, client=client).status_code for _ in range(5)] == [200] * 5


# --- the key -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "Server", "Server ", "Server wrong-key", f"Token {SERVER_KEY}", f"Bearer {SERVER_KEY}", SERVER_KEY],
)
def test_a_missing_or_wrong_key_is_a_403(portal, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = APIClient().generic("POST", "/authprofile/addupdateuser/", '{"username": "jdoe"}', "text/plain", **extra)
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert not User.objects.filter(username="jdoe").exists()
    assert AuthEvent.objects.filter(kind="push", outcome="forbidden").count() == 1


@pytest.mark.parametrize("keyword", ["Server", "server", "SERVER"])
def test_the_keyword_is_case_insensitive(portal, keyword):
    response = APIClient().generic(
        "POST",
        "/authprofile/addupdateuser/",
        '{"username": "jdoe"}',
        "text/plain",
        HTTP_AUTHORIZATION=f"{keyword} {SERVER_KEY}",
    )
    assert response.status_code == 200


def test_an_empty_configured_key_turns_the_push_off(portal, settings):
    settings.OAUTH_SERVER_KEY = ""
    assert push({"username": "jdoe"}, key="").status_code == 403
    assert push({"username": "jdoe"}, key="anything").status_code == 403


def test_a_key_that_is_a_prefix_of_the_real_one_is_refused(portal):
    assert push({"username": "jdoe"}, key=SERVER_KEY[:-1]).status_code == 403
    assert push({"username": "jdoe"}, key=SERVER_KEY + "x").status_code == 403


def test_a_non_ascii_key_is_compared_on_utf8_bytes(portal, settings):
    settings.OAUTH_SERVER_KEY = "clé-du-portail"
    assert push({"username": "jdoe"}, key="clé-du-portail").status_code == 200


def test_other_methods_are_405_after_the_key_check(portal):
    good = {"HTTP_AUTHORIZATION": f"Server {SERVER_KEY}"}
    assert APIClient().get("/authprofile/addupdateuser/", **good).status_code == 405
    assert APIClient().put("/authprofile/addupdateuser/", "{}", content_type="text/plain", **good).status_code == 405
    assert APIClient().get("/authprofile/addupdateuser/").status_code == 403


def test_a_bad_token_header_cannot_turn_the_push_into_a_401(portal):
    response = APIClient().generic(
        "POST", "/authprofile/addupdateuser/", "{}", "text/plain", HTTP_AUTHORIZATION="Token nope"
    )
    assert response.status_code == 403


def test_the_path_is_exact(portal):
    assert push({"username": "jdoe"}, client=APIClient()).status_code == 200
    response = APIClient().generic(
        "POST",
        "/authprofile/addupdateuser/extra",
        '{"username": "jdoe"}',
        "text/plain",
        HTTP_AUTHORIZATION=f"Server {SERVER_KEY}",
    )
    assert response.status_code == 404


# --- bodies ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"", "The body must be UTF-8 JSON."),
        (b"not json", "The body must be UTF-8 JSON."),
        (b"\xff\xfe{}", "The body must be UTF-8 JSON."),
        (b"[]", "The body must be a JSON object."),
        (b'{"first_name": "x"}', "username must be a non-empty string."),
        (b'{"username": ""}', "username must be a non-empty string."),
        (b'{"username": 5}', "username must be a non-empty string."),
        (b'{"username": "u", "is_staff": "yes"}', "is_staff must be true or false."),
        (b'{"username": "u", "tokens": {"api_token": 1}}', "tokens.api_token must be a string."),
        (b'{"username": "u", "proposals": "P-1"}', "proposals must be a list."),
    ],
)
def test_malformed_bodies_are_a_400_with_a_message(portal, raw, detail):
    response = push(raw)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}


# --- the takeover rule and the token mirror -------------------------------------------------------------------------


def test_a_push_for_a_local_account_is_a_409(portal, make_user, caplog):
    local = make_user("jdoe")
    response = push(profile_body(portal, is_superuser=True))
    assert response.status_code == 409
    assert "local account" in response.json()["detail"]
    local.refresh_from_db()
    assert not local.is_superuser and not local.profile.portal_linked and local.profile.api_token == ""
    assert AuthEvent.objects.filter(kind="push", outcome="conflict", username="jdoe").exists()
    assert "a local account has that username" in caplog.text


def test_a_pushed_token_taken_from_another_profile_moves(portal, caplog):
    first = profile_body(portal, "first")
    push(first)
    second = profile_body(portal, "second")
    second["tokens"]["api_token"] = first["tokens"]["api_token"]
    assert push(second).status_code == 200
    assert Profile.objects.get(user__username="first").api_token == ""
    assert Profile.objects.get(user__username="second").api_token == first["tokens"]["api_token"]
    assert "moved to second" in caplog.text


def test_a_rotated_portal_token_replaces_the_mirror_at_once(portal):
    portal.add_user("jdoe")
    token_login("jdoe", "portal-pass-1")
    old = portal.users["jdoe"].api_token
    new = portal.rotate_api_token("jdoe")
    push(portal.profile_json(portal.users["jdoe"]))
    assert client_with("Token", old).get("/profile/").status_code == 401
    assert client_with("Token", new).get("/profile/").json()["username"] == "jdoe"
    assert Profile.objects.get(user__username="jdoe").api_token_confirmed_at is None


# --- deactivation sync --------------------------------------------------------------------------------------------


def test_a_deactivation_at_the_portal_reaches_the_archive_through_the_push(portal, django_capture_on_commit_callbacks):
    portal_user = portal.add_user("jdoe", proposals=["P-1"])
    local_key = token_login("jdoe", "portal-pass-1").json()["token"]
    portal.reset_counts()
    portal_user.is_active = False
    # The portal pushes the unchanged profile; the archive rechecks the token, which the portal now refuses.
    with django_capture_on_commit_callbacks(execute=True):
        assert push(portal.profile_json(portal_user)).status_code == 200
    (recheck,) = portal.requests_to(PROFILE_PATH)
    assert recheck.headers["Authorization"] == f"Token {portal_user.api_token}"
    user = User.objects.get(username="jdoe")
    assert not user.is_active and user.profile.portal_rejected_at is not None
    assert client_with("Token", local_key).get("/profile/").status_code == 401
    assert client_with("Token", portal_user.api_token).get("/profile/").status_code == 401
    # Reactivated at the portal (with a new token): the push's recheck brings the account back.
    portal_user.is_active = True
    portal.rotate_api_token("jdoe")
    with django_capture_on_commit_callbacks(execute=True):
        push(portal.profile_json(portal_user))
    assert User.objects.get(username="jdoe").is_active
    assert client_with("Token", local_key).get("/profile/").json()["username"] == "jdoe"


def test_a_push_for_a_user_never_confirmed_does_not_deactivate(portal, django_capture_on_commit_callbacks):
    portal_user = portal.add_user("jdoe", is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        push(portal.profile_json(portal_user))
    assert User.objects.get(username="jdoe").is_active  # its token was never confirmed
    assert User.objects.get(username="jdoe").profile.proposals == []


# --- the broker down ----------------------------------------------------------------------------------------------


def test_a_push_succeeds_while_the_broker_is_down_and_the_recheck_comes_later(
    portal, refusing_broker, django_capture_on_commit_callbacks, caplog
):
    portal_user = portal.add_user("jdoe", proposals=["P-1"])
    token_login("jdoe", "portal-pass-1")  # confirms the token, so a refusal later deactivates
    portal_user.is_active = False
    body = portal.profile_json(portal_user)
    body["first_name"] = "Changed"
    portal.reset_counts()
    with django_capture_on_commit_callbacks(execute=True):
        response = push(body)
    assert response.status_code == 200, response.content
    assert response.json() == OK
    user = User.objects.get(username="jdoe")
    assert user.first_name == "Changed" and user.is_active  # the change is saved; the recheck did not run
    assert AuthEvent.objects.filter(kind="push", outcome="ok", user=user).exists()
    assert portal.requests_to(PROFILE_PATH) == []
    assert "left to the daily revalidation" in caplog.text
    # The daily revalidation rechecks the user: the deactivation at the portal arrives.
    tasks.revalidate_portal_users.apply()
    assert len(portal.requests_to(PROFILE_PATH)) == 1
    assert not User.objects.get(username="jdoe").is_active
