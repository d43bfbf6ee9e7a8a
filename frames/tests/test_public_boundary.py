"""One public/proprietary boundary for lists, counts and aggregates: the instant a frame turns public, the public
proposals of the all-frames aggregate read against the clock, and counts that tell nothing of what a caller may
not see."""

import datetime

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from conftest import token_client
from frames import aggregates
from frames.tests.factories import FrameFactory
from frames.tests.test_queries import bulk_frames

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2030, 6, 1, 12, 0, tzinfo=datetime.UTC)


def test_lists_and_aggregates_agree_at_the_instant_a_frame_turns_public(superuser):
    with time_machine.travel(NOW, tick=False):
        FrameFactory(site_id="lsc", public_date=NOW, observation_date=NOW - datetime.timedelta(days=1))
        anonymous = APIClient()
        assert anonymous.get("/frames/").json()["count"] == 0
        window = {"start": "2030-05-01", "end": "2030-06-02", "public": "true"}
        assert anonymous.get("/frames/aggregate/", window).json()["sites"] == []
        # Still proprietary at that instant: the superuser's proprietary part has it, and `public=false` lists it.
        admin = token_client(superuser)
        assert admin.get("/frames/aggregate/", {**window, "public": "false"}).json()["sites"] == ["lsc"]
        assert admin.get("/frames/", {"public": "false"}).json()["count"] == 1
    cache.clear()  # the public part of a filtered aggregate is cached for an hour
    with time_machine.travel(NOW + datetime.timedelta(microseconds=1), tick=False):
        assert APIClient().get("/frames/").json()["count"] == 1
        assert APIClient().get("/frames/aggregate/", window).json()["sites"] == ["lsc"]


def test_a_proposal_turning_public_is_listed_without_a_rebuild():
    with time_machine.travel(NOW, tick=False):
        FrameFactory(proposal_id="LCO2030A-007", public_date=NOW + datetime.timedelta(hours=1))
        FrameFactory(proposal_id="LCO2030A-008", public_date=None)
        aggregates.aggregates_rebuild()
        assert APIClient().get("/frames/aggregate/").json()["proposals"] == []
    with time_machine.travel(NOW + datetime.timedelta(hours=2), tick=False):
        assert APIClient().get("/frames/aggregate/").json()["proposals"] == ["LCO2030A-007"]


def test_a_count_never_estimates_over_a_proposal_the_caller_cannot_see(settings, make_user):
    """The planner's estimate for `proposal_id=X` is made over every row of X; for a caller who sees only X's public
    frames, the count is theirs exactly (or a lower bound when counting takes too long), never that estimate."""
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 0  # estimates wherever the list allows them
    secret = "LCO2030A-SECRET"
    bulk_frames(3, proposal_id=secret)  # public
    bulk_frames(40, proposal_id=secret, public_date=datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE frames_frame")
    page = APIClient().get("/frames/", {"proposal_id": secret, "limit": 1}).json()
    assert (page["count"], page["count_estimated"]) == (3, False)
    # A member counts over the whole proposal, which they may see.
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 10000
    member = token_client(make_user("member", proposals=[secret]))
    assert member.get("/frames/", {"proposal_id": secret, "limit": 1}).json()["count"] == 43
