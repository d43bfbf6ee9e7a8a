"""Proposals and the portal's state: the stored list read once per request and never refreshed by reading it; the
refresh of a stale list (`services.proposals_refresh_if_stale`, what every authentication path calls) by the portal
token with a TTL, empty results kept, stale lists and back-off during outages, deactivation by a refused confirmed
token, reactivation. The paths themselves are in test_refresh_on_authentication.py."""

import datetime
import logging

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from authentication import services
from authentication.models import AuthEvent, Profile
from authentication.selectors import user_proposals
from authentication.tests.conftest import client_with, push, token_login
from authentication.tests.fakeportal import PROFILE_PATH
from frames.tests.factories import FrameFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
START = datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.UTC)
FUTURE = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)


def refreshes(portal) -> int:
    """Profile fetches by Token: the refreshes (logins and bearers use Bearer)."""
    return sum(1 for r in portal.requests_to(PROFILE_PATH) if r.headers["Authorization"].startswith("Token "))


def portal_member(portal, proposals=("LCO2025A-001",), **fields):
    """A portal user who logged in once at START (so the token is confirmed and proposals fetched)."""
    portal_user = portal.add_user("jdoe", proposals=list(proposals), **fields)
    with time_machine.travel(START, tick=False):
        assert token_login("jdoe", "portal-pass-1").status_code == 200
    return portal_user


def fresh_user():
    return User.objects.select_related("profile").get(username="jdoe")


def refreshed_user():
    """The user as a request authenticates it: read with its profile, then refreshed if its list is stale."""
    user = fresh_user()
    services.proposals_refresh_if_stale(user)
    return user


def test_anonymous_and_local_accounts(make_user):
    assert user_proposals(user=AnonymousUser()) == []
    assert user_proposals(user=None) == []
    assert user_proposals(user=make_user("local", proposals=["B", "", "A", "B"])) == ["A", "B"]


def test_superusers_get_every_proposal_with_frames_and_no_portal_call(portal, superuser, superuser_client):
    from frames.aggregates import aggregates_rebuild

    def profile_proposals():
        return superuser_client.get("/profile/").json()["profile"]["proposals"]

    assert profile_proposals() == []  # no aggregate yet
    FrameFactory(proposal_id="P-1")
    FrameFactory(proposal_id="P-2", public_date=FUTURE)
    aggregates_rebuild()
    assert profile_proposals() == ["P-1", "P-2"]
    assert portal.count() == 0


def test_the_list_is_computed_once_per_user_object(make_user, django_assert_num_queries):
    user = User.objects.get(pk=make_user("local", proposals=["A"]).pk)
    with django_assert_num_queries(1):
        assert user_proposals(user=user) == ["A"]
        assert user_proposals(user=user) == ["A"]


def test_the_refresh_leaves_anonymous_callers_local_accounts_and_profileless_users_alone(portal, make_user):
    local = make_user("local", proposals=["A"])
    Profile.objects.filter(user=local).update(api_token="a-token-the-portal-knows-nothing-of")
    raw = User.objects.create(username="raw")
    Profile.objects.filter(user=raw).delete()
    for user in (None, AnonymousUser(), User.objects.get(pk=local.pk), User.objects.get(pk=raw.pk)):
        services.proposals_refresh_if_stale(user)
    assert portal.count() == 0
    assert Profile.objects.get(user=local).proposals_fetched_at is None


def test_the_refreshed_profile_is_the_one_the_user_object_carries(portal):
    """The request's user object gets the fresh profile, and a list it had already read is read again."""
    portal_user = portal_member(portal)
    portal_user.proposals = ["LCO2026A-002"]
    with time_machine.travel(START + datetime.timedelta(hours=2), tick=False):
        user = fresh_user()
        assert user_proposals(user=user) == ["LCO2025A-001"]  # reading alone never refreshes
        assert refreshes(portal) == 0
        services.proposals_refresh_if_stale(user)
        assert user.profile.proposals == ["LCO2026A-002"]
        assert user_proposals(user=user) == ["LCO2026A-002"]
        services.proposals_refresh_if_stale(user)  # fresh now: a second check asks nothing
    assert refreshes(portal) == 1


def test_fresh_proposals_are_not_refreshed(portal):
    portal_member(portal)
    with time_machine.travel(START + datetime.timedelta(seconds=3599), tick=False):
        assert user_proposals(user=refreshed_user()) == ["LCO2025A-001"]
    assert refreshes(portal) == 0


def test_stale_proposals_are_refreshed_by_the_portal_token(portal):
    portal_user = portal_member(portal)
    portal_user.proposals = ["LCO2026A-002"]
    portal_user.is_staff = True
    with time_machine.travel(START + datetime.timedelta(seconds=3601), tick=False):
        user = fresh_user()
        services.proposals_refresh_if_stale(user)
        assert user_proposals(user=user) == ["LCO2026A-002"]
        assert user.is_staff  # the flags follow the portal, on the request's user object too
        (refresh,) = [r for r in portal.requests_to(PROFILE_PATH) if r.headers["Authorization"].startswith("Token")]
        assert refresh.headers["Authorization"] == f"Token {portal_user.api_token}"
        profile = Profile.objects.get(user=user)
        assert profile.proposals_fetched_at == START + datetime.timedelta(seconds=3601)
        assert User.objects.get(pk=user.pk).is_staff


def test_a_refresh_through_a_request_opens_new_proposals(portal):
    portal_user = portal_member(portal)
    frame = FrameFactory(proposal_id="LCO2026A-002", public_date=FUTURE)
    client = client_with("Token", portal_user.api_token)
    with time_machine.travel(START + datetime.timedelta(seconds=60), tick=False):
        assert client.get(f"/frames/{frame.id}/").status_code == 404
    portal_user.proposals = ["LCO2026A-002"]
    with time_machine.travel(START + datetime.timedelta(hours=2), tick=False):
        assert client.get(f"/frames/{frame.id}/").status_code == 200


def test_an_empty_list_is_kept_for_the_whole_ttl(portal):
    portal_member(portal, proposals=())
    with time_machine.travel(START + datetime.timedelta(hours=1, seconds=1), tick=False) as traveller:
        assert user_proposals(user=refreshed_user()) == []
        assert refreshes(portal) == 1
        traveller.shift(3500)
        for _ in range(5):
            assert user_proposals(user=refreshed_user()) == []
        assert refreshes(portal) == 1


def test_during_an_outage_the_stale_list_is_served_and_the_user_backs_off(portal, caplog):
    portal_member(portal)
    portal.fail_status = 503
    with time_machine.travel(START + datetime.timedelta(hours=2), tick=False) as traveller:
        with caplog.at_level(logging.WARNING, logger="authentication.services"):
            assert user_proposals(user=refreshed_user()) == ["LCO2025A-001"]
        assert "keeping the stored list" in caplog.text
        assert refreshes(portal) == 1
        assert Profile.objects.get(user__username="jdoe").proposals_fetched_at == START
        traveller.shift(59)
        assert user_proposals(user=refreshed_user()) == ["LCO2025A-001"]
        assert refreshes(portal) == 1  # backing off
        traveller.shift(2)
        portal.fail_status = None
        assert user_proposals(user=refreshed_user()) == ["LCO2025A-001"]
        assert refreshes(portal) == 2


@pytest.mark.parametrize("failure", ["hang", "refuse", "garbage"])
def test_no_failure_of_the_portal_makes_a_request_fail(portal, settings, failure):
    portal_user = portal_member(portal)
    frame = FrameFactory(proposal_id="LCO2025A-001", public_date=FUTURE)
    settings.OAUTH_REQUESTS_TIMEOUT_SECONDS = 0.3
    if failure == "hang":
        portal.hang = True
    elif failure == "refuse":
        portal.refuse()
    else:
        portal.reply = (200, b"<html>", "text/html")
    with time_machine.travel(START + datetime.timedelta(hours=2), tick=False):
        response = client_with("Token", portal_user.api_token).get(f"/frames/{frame.id}/")
    assert response.status_code == 200


def test_a_list_never_fetched_counts_as_empty_until_the_portal_answers(portal):
    portal_user = portal.add_user("jdoe", proposals=["LCO2025A-001"])
    body = portal.profile_json(portal_user)
    del body["proposals"]
    push(body)
    Profile.objects.filter(user__username="jdoe").update(proposals=["LCO2025A-001"])
    portal.fail_status = 500
    assert user_proposals(user=refreshed_user()) == []
    assert refreshes(portal) == 1
    portal.fail_status = None
    services.proposals_refresh(user=fresh_user(), force=True)
    assert user_proposals(user=fresh_user()) == ["LCO2025A-001"]


def test_a_portal_linked_user_without_a_token_is_not_refreshed(portal):
    portal_member(portal)
    Profile.objects.filter(user__username="jdoe").update(api_token="")
    with time_machine.travel(START + datetime.timedelta(hours=2), tick=False):
        assert user_proposals(user=refreshed_user()) == ["LCO2025A-001"]
    assert refreshes(portal) == 0


# --- deactivation and reactivation -----------------------------------------------------------------------------------


def test_a_refused_confirmed_token_deactivates_the_user(portal, caplog):
    portal_user = portal_member(portal)
    portal_user.is_active = False
    later = START + datetime.timedelta(hours=2)
    with time_machine.travel(later, tick=False), caplog.at_level(logging.WARNING, logger="authentication.services"):
        assert user_proposals(user=refreshed_user()) == []
    user = fresh_user()
    assert not user.is_active
    assert user.profile.portal_rejected_at == START + datetime.timedelta(hours=2)
    assert user.profile.proposals == []
    assert "Deactivated jdoe" in caplog.text
    assert AuthEvent.objects.filter(kind="portal_rejected", user=user).exists()
    response = client_with("Token", portal_user.api_token).get("/frames/")
    assert response.status_code == 401


def test_an_unconfirmed_token_refused_by_the_portal_does_not_deactivate(portal):
    portal_member(portal)
    Profile.objects.filter(user__username="jdoe").update(api_token="only-ever-pushed", api_token_confirmed_at=None)
    with time_machine.travel(START + datetime.timedelta(hours=2), tick=False):
        assert user_proposals(user=refreshed_user()) == []
    user = fresh_user()
    assert user.is_active and user.profile.portal_rejected_at is None
    assert user.profile.proposals == [] and user.profile.proposals_fetched_at is not None


def test_a_token_changed_during_the_refused_call_does_not_deactivate(portal):
    portal_member(portal)
    user = fresh_user()
    from authentication.services import _portal_rejected

    Profile.objects.filter(user=user).update(api_token="rotated-meanwhile")
    _portal_rejected(user=user, api_token=user.profile.api_token)
    assert fresh_user().is_active


def test_a_later_successful_refresh_reactivates_only_portal_rejected_accounts(portal):
    portal_user = portal_member(portal)
    portal_user.is_active = False
    services.proposals_refresh(user=fresh_user(), force=True)
    assert not fresh_user().is_active
    portal_user.is_active = True
    services.proposals_refresh(user=fresh_user(), force=True)
    user = fresh_user()
    assert user.is_active and user.profile.portal_rejected_at is None
    assert AuthEvent.objects.filter(kind="portal_reactivated", user=user).exists()
    # Deactivated by archive staff: a refresh never brings it back.
    User.objects.filter(pk=user.pk).update(is_active=False)
    services.proposals_refresh(user=fresh_user(), force=True)
    assert not fresh_user().is_active


def test_a_token_belonging_to_someone_else_at_the_portal_is_not_applied(portal, caplog):
    portal_member(portal)
    other = portal.add_user("someone-else", is_superuser=True)
    Profile.objects.filter(user__username="jdoe").update(api_token=other.api_token)
    with caplog.at_level(logging.ERROR, logger="authentication.services"):
        services.proposals_refresh(user=fresh_user(), force=True)
    assert "belongs to 'someone-else'" in caplog.text
    assert not fresh_user().is_superuser
    assert not User.objects.filter(username="someone-else").exists()


def test_a_refresh_runs_for_portal_staff_too_so_their_flags_follow_the_portal(portal):
    portal_user = portal_member(portal, is_staff=True)
    portal_user.is_staff = False
    with time_machine.travel(START + datetime.timedelta(hours=2), tick=False):
        services.proposals_refresh_if_stale(fresh_user())
    assert not fresh_user().is_staff


def test_the_users_proposals_of_a_request_are_not_recomputed_after_a_deactivation(portal):
    """Deactivated mid-request: the request already has its (empty) list; the next one is refused."""
    portal_user = portal_member(portal)
    portal_user.is_active = False
    with time_machine.travel(START + datetime.timedelta(hours=2), tick=False):
        response = client_with("Token", portal_user.api_token).get("/profile/")
    assert response.status_code == 200
    assert response.json()["profile"] == {"proposals": []}
    assert client_with("Token", portal_user.api_token).get("/profile/").status_code == 401


def test_profiles_missing_for_users_made_without_the_signal(django_user_model):
    user = django_user_model.objects.create(username="raw")
    Profile.objects.filter(user=user).delete()
    user = django_user_model.objects.get(pk=user.pk)
    assert user_proposals(user=user) == []
