"""The admin (profile inline, masked tokens, token rotation, read-only audit log), the management commands and the
periodic tasks of the authentication app."""

import datetime
import io

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from authentication import tasks
from authentication.models import AuthEvent, Profile
from authentication.tests.conftest import client_with, token_login

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def admin_client(superuser):
    client = Client()
    client.force_login(superuser, backend="authentication.backends.LocalAccountBackend")
    return client


def test_the_user_page_shows_the_profile_inline_with_the_portal_token_masked(portal, admin_client):
    portal_user = portal.add_user("jdoe", proposals=["LCO2025A-001"])
    token_login("jdoe", "portal-pass-1")
    user = User.objects.get(username="jdoe")
    page = admin_client.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
    assert "LCO2025A-001" in page
    assert f"…{portal_user.api_token[-4:]}" in page
    assert portal_user.api_token not in page
    assert Token.objects.get(user=user).key not in page


def test_the_token_admin_masks_keys(admin_client, superuser):
    key = Token.objects.get(user=superuser).key
    page = admin_client.get("/admin/authtoken/tokenproxy/").content.decode()
    assert f"…{key[-4:]}" in page and key not in page
    assert admin_client.get("/admin/authtoken/tokenproxy/add/").status_code == 403


def test_staff_can_set_a_local_accounts_proposals(admin_client, make_user):
    user = make_user("local")
    page = admin_client.get(f"/admin/auth/user/{user.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(
        {
            "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
            "profile-TOTAL_FORMS": "1",
            "profile-INITIAL_FORMS": "1",
            "profile-MIN_NUM_FORMS": "1",
            "profile-MAX_NUM_FORMS": "1",
            "profile-0-id": str(user.profile.pk),
            "profile-0-user": str(user.pk),
            "profile-0-proposals": "LCO2025A-001,KEY2020B-003",
        }
    )
    data.pop("last_login", None)
    data.pop("password", None)
    response = admin_client.post(f"/admin/auth/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    assert Profile.objects.get(user=user).proposals == ["LCO2025A-001", "KEY2020B-003"]


def test_the_rotate_action(admin_client, make_user):
    user = make_user("local")
    old = Token.objects.get(user=user).key
    response = admin_client.post(
        "/admin/auth/user/", {"action": "rotate_api_token", "_selected_action": [str(user.pk)]}
    )
    assert response.status_code == 302
    assert Token.objects.get(user=user).key != old
    assert AuthEvent.objects.filter(kind="token_revoked", method="admin", user=user).exists()


def _staff_client(make_user, *codenames: str) -> Client:
    staff = make_user("helpdesk", staff=True)
    app_labels = {"view_user": "auth", "change_user": "auth", "change_token": "authtoken", "view_token": "authtoken"}
    for codename in codenames:
        staff.user_permissions.add(
            Permission.objects.get(codename=codename, content_type__app_label=app_labels[codename])
        )
    client = Client()
    client.force_login(staff, backend="authentication.backends.LocalAccountBackend")
    return client


def _rotate(client: Client, user):
    return client.post("/admin/auth/user/", {"action": "rotate_api_token", "_selected_action": [str(user.pk)]})


def test_staff_who_may_only_view_users_cannot_rotate_tokens(make_user):
    client = _staff_client(make_user, "view_user", "view_token")
    user = make_user("local")
    old = Token.objects.get(user=user).key
    page = client.get("/admin/auth/user/")
    assert page.status_code == 200
    assert "rotate_api_token" not in page.content.decode()
    _rotate(client, user)
    assert Token.objects.get(user=user).key == old
    assert not AuthEvent.objects.filter(kind="token_revoked").exists()


@pytest.mark.parametrize("codename", ["change_user", "change_token"])
def test_staff_who_may_change_users_or_tokens_can_rotate_tokens(make_user, codename):
    client = _staff_client(make_user, "view_user", codename)
    user = make_user("local")
    old = Token.objects.get(user=user).key
    assert "rotate_api_token" in client.get("/admin/auth/user/").content.decode()
    assert _rotate(client, user).status_code == 302
    assert Token.objects.get(user=user).key != old


def test_the_audit_log_is_read_only_and_searchable(admin_client):
    AuthEvent.objects.create(kind="login", outcome="bad_credentials", method="api_token_auth", username="jdoe")
    assert admin_client.get("/admin/authentication/authevent/?q=jdoe").status_code == 200
    assert admin_client.get("/admin/authentication/authevent/?kind=login&outcome=bad_credentials").status_code == 200
    assert admin_client.get("/admin/authentication/authevent/add/").status_code == 403
    event = AuthEvent.objects.get()
    assert admin_client.post(f"/admin/authentication/authevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403


# --- commands ---------------------------------------------------------------------------------------------------


def test_rotate_api_tokens_for_one_user_or_all(make_user):
    users = [make_user(f"user{index}") for index in range(3)]
    before = {user.pk: Token.objects.get(user=user).key for user in users}
    out = io.StringIO()
    call_command("rotate_api_tokens", "--user", "user1", stdout=out)
    assert "Rotated 1 API token(s)." in out.getvalue()
    after = {user.pk: Token.objects.get(user=user).key for user in users}
    assert [before[u.pk] == after[u.pk] for u in users] == [True, False, True]
    call_command("rotate_api_tokens", "--all", stdout=io.StringIO())
    assert all(Token.objects.get(user=u).key != after[u.pk] for u in users)
    assert AuthEvent.objects.filter(kind="token_revoked", method="task").count() == 4
    with pytest.raises(CommandError):
        call_command("rotate_api_tokens", "--user", "nobody")


def test_revalidate_portal_users_syncs_deactivations_and_reactivations(portal):
    for name in ("alice", "bob"):
        portal.add_user(name, proposals=["P-1"])
        token_login(name, "portal-pass-1")
    portal.users["alice"].is_active = False
    portal.users["bob"].proposals = ["P-2"]
    out = io.StringIO()
    call_command("revalidate_portal_users", stdout=out)
    assert "Revalidated 2 portal user(s)." in out.getvalue()
    assert not User.objects.get(username="alice").is_active
    assert Profile.objects.get(user__username="bob").proposals == ["P-2"]
    # The daily task re-checks rejected accounts too.
    portal.users["alice"].is_active = True
    tasks.revalidate_portal_users.delay()
    assert User.objects.get(username="alice").is_active


def test_revalidation_skips_accounts_deactivated_by_staff(portal):
    portal.add_user("alice")
    token_login("alice", "portal-pass-1")
    User.objects.filter(username="alice").update(is_active=False)
    portal.reset_counts()
    call_command("revalidate_portal_users", stdout=io.StringIO())
    assert portal.count() == 0
    assert not User.objects.get(username="alice").is_active


def test_revalidation_during_an_outage_changes_nothing(portal):
    portal.add_user("alice", proposals=["P-1"])
    token_login("alice", "portal-pass-1")
    portal.refuse()
    call_command("revalidate_portal_users", stdout=io.StringIO())
    user = User.objects.get(username="alice")
    assert user.is_active and user.profile.proposals == ["P-1"]


def test_the_audit_purge_keeps_the_retention_period(settings):
    settings.AUTH_EVENT_RETENTION_DAYS = 30
    now = datetime.datetime(2030, 6, 1, tzinfo=datetime.UTC)
    for days in (31, 29):
        with time_machine.travel(now - datetime.timedelta(days=days), tick=False):
            AuthEvent.objects.create(kind="login", outcome="ok", method="browsable", username=f"d{days}")
    with time_machine.travel(now, tick=False):
        tasks.purge_auth_events.delay()
    assert list(AuthEvent.objects.values_list("username", flat=True)) == ["d29"]


def test_the_periodic_tasks_are_scheduled(settings):
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"authentication.revalidate_portal_users", "authentication.purge_auth_events"} <= tasks_scheduled


def test_ensure_local_superuser_still_prints_a_working_token():
    out = io.StringIO()
    call_command("ensure_local_superuser", stdout=out)
    key = out.getvalue().split("API token: ")[1].split()[0]
    assert client_with("Token", key).get("/profile/").json()["username"] == "admin"


def users_listed(client, query: str = "") -> list[str]:
    response = client.get(f"/admin/auth/user/{query}")
    assert response.status_code == 200
    return sorted(user.username for user in response.context["cl"].result_list)


@pytest.fixture
def people(make_user):
    linked = make_user("portaluser", proposals=["LCO2025A-001"])
    Profile.objects.filter(user=linked).update(portal_linked=True)
    make_user("helpdesk", staff=True)
    make_user("local", proposals=["LCO2025A-002"])


def test_the_user_admin_searches_names_and_proposals(admin_client, people):
    assert users_listed(admin_client, "?q=help") == ["helpdesk"]
    assert users_listed(admin_client, "?q=LCO2025A-001") == ["portaluser"]
    assert users_listed(admin_client, "?q=LCO2025A") == []  # proposals are matched whole


@pytest.mark.parametrize(
    "query, expected",
    [
        ("?portal_linked=yes", ["portaluser"]),
        ("?portal_linked=no", ["archive-admin", "helpdesk", "local"]),
        ("?is_staff__exact=1", ["archive-admin", "helpdesk"]),
        ("?is_staff__exact=0", ["local", "portaluser"]),
        ("?is_staff__exact=1&portal_linked=no", ["archive-admin", "helpdesk"]),
    ],
)
def test_the_user_admin_filters(admin_client, people, query, expected):
    assert users_listed(admin_client, query) == expected


def test_the_user_list_shows_the_portal_link_without_a_query_per_row(admin_client, people, make_user):
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get("/admin/auth/user/").status_code == 200
    for n in range(5):
        make_user(f"more{n}")
    with CaptureQueriesContext(connection) as more:
        page = admin_client.get("/admin/auth/user/")
    assert len(more.captured_queries) == len(few.captured_queries)
    assert "column-portal_linked" in page.content.decode()


def test_the_profile_inline_shows_the_local_token_masked(admin_client, make_user):
    user = make_user("local")
    key = Token.objects.get(user=user).key
    page = admin_client.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
    assert f"…{key[-4:]}" in page and key not in page


def test_a_token_has_no_page_of_its_own(admin_client, superuser):
    key = Token.objects.get(user=superuser).key
    for suffix in ("change/", "history/", "delete/"):
        response = admin_client.get(f"/admin/authtoken/tokenproxy/{key}/{suffix}")
        assert response.status_code == 403, suffix
        assert key not in response.content.decode()
    assert admin_client.get("/admin/authtoken/tokenproxy/").status_code == 200
