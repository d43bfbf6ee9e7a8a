"""GET /frames/aggregate/: the cached all-frames aggregate, authorised proposals, the filtered one."""

import datetime
import io
import json
import re

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.http import QueryDict
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import token_client
from frames import aggregates
from frames.models import AggregateSnapshot
from frames.tests.factories import FrameFactory, ingest_body

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:.*_after_postgeneration:DeprecationWarning"),
]

KEYS = {"sites", "telescopes", "filters", "instruments", "obstypes", "proposals", "generated_at"}
LISTS = ("sites", "telescopes", "filters", "instruments", "obstypes", "proposals")
GENERATED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
EMPTY = {key: [] for key in LISTS}


@pytest.fixture
def upstream_frames():
    """The reference's three frames, observed 90 days ago (on a whole minute); prop2's is not yet public."""
    now = timezone.now()
    observed = (now - datetime.timedelta(days=90)).replace(second=0, microsecond=0)
    public = now - datetime.timedelta(days=7)
    not_public = now + datetime.timedelta(days=7)
    FrameFactory(
        configuration_type="EXPOSE",
        telescope_id="1m0a",
        site_id="bpl",
        instrument_id="kb46",
        proposal_id="prop1",
        primary_optical_element="rp",
        public_date=public,
        observation_date=observed,
    )
    FrameFactory(
        configuration_type="BIAS",
        telescope_id="0m4a",
        site_id="coj",
        instrument_id="en05",
        proposal_id="prop2",
        primary_optical_element="V",
        public_date=not_public,
        observation_date=observed,
    )
    FrameFactory(
        configuration_type="SKYFLAT",
        telescope_id="2m0b",
        site_id="ogg",
        instrument_id="fl10",
        proposal_id="prop3",
        primary_optical_element="B",
        public_date=public,
        observation_date=observed,
    )
    return observed


def cache_aggregates() -> None:
    call_command("cacheaggregates", stdout=io.StringIO())


def lists_of(response) -> dict:
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == KEYS
    assert GENERATED_AT.match(data["generated_at"]), data["generated_at"]
    for key in LISTS:
        assert data[key] == sorted(data[key]), key
    return {key: data[key] for key in LISTS}


def window(days_before: int = 180, days_after: int = 180, **params) -> dict:
    now = timezone.now()
    return {
        "start": (now - datetime.timedelta(days=days_before)).isoformat(),
        "end": (now + datetime.timedelta(days=days_after)).isoformat(),
        **params,
    }


ALL_VALUES = {
    "sites": ["bpl", "coj", "ogg"],
    "telescopes": ["0m4a", "1m0a", "2m0b"],
    "filters": ["B", "V", "rp"],
    "instruments": ["en05", "fl10", "kb46"],
    "obstypes": ["BIAS", "EXPOSE", "SKYFLAT"],
    "proposals": ["prop1", "prop2", "prop3"],
}
PUBLIC_VALUES = {
    "sites": ["bpl", "ogg"],
    "telescopes": ["1m0a", "2m0b"],
    "filters": ["B", "rp"],
    "instruments": ["fl10", "kb46"],
    "obstypes": ["EXPOSE", "SKYFLAT"],
    "proposals": ["prop1", "prop3"],
}
SKYFLAT_VALUES = {
    "sites": ["ogg"],
    "telescopes": ["2m0b"],
    "filters": ["B"],
    "instruments": ["fl10"],
    "obstypes": ["SKYFLAT"],
    "proposals": ["prop3"],
}
PROP2_VALUES = {
    "sites": ["coj"],
    "telescopes": ["0m4a"],
    "filters": ["V"],
    "instruments": ["en05"],
    "obstypes": ["BIAS"],
    "proposals": ["prop2"],
}


# --- unfiltered ----------------------------------------------------------------------------------------------------


def test_cacheaggregates_feeds_the_unfiltered_aggregate(upstream_frames, superuser_client):
    cache_aggregates()
    assert lists_of(superuser_client.get("/frames/aggregate/")) == ALL_VALUES


def test_unfiltered_proposals_are_authorised(upstream_frames, make_user, superuser_client):
    cache_aggregates()
    anonymous = lists_of(APIClient().get("/frames/aggregate/"))
    assert anonymous == {**ALL_VALUES, "proposals": ["prop1", "prop3"]}
    member = lists_of(token_client(make_user("member", proposals=["prop2"])).get("/frames/aggregate/"))
    assert member == ALL_VALUES
    outsider = token_client(make_user("outsider", proposals=["prop9"]))
    assert lists_of(outsider.get("/frames/aggregate/"))["proposals"] == ["prop1", "prop3"]
    assert lists_of(token_client(make_user("nobody")).get("/frames/aggregate/"))["proposals"] == ["prop1", "prop3"]
    staff = token_client(make_user("staffer", staff=True))
    assert lists_of(staff.get("/frames/aggregate/"))["proposals"] == ["prop1", "prop3"]
    assert lists_of(superuser_client.get("/frames/aggregate/"))["proposals"] == ["prop1", "prop2", "prop3"]


def test_unfiltered_aggregate_ignores_placeholders_and_includes_null_public_dates(upstream_frames, superuser_client):
    from frames.models import Frame

    Frame.objects.create(basename="placeholder", site_id="xxx", proposal_id="ghost")
    FrameFactory(site_id="lsc", proposal_id="never", public_date=None)
    cache_aggregates()
    data = lists_of(superuser_client.get("/frames/aggregate/"))
    assert "xxx" not in data["sites"] and "ghost" not in data["proposals"]
    assert "lsc" in data["sites"] and "never" in data["proposals"]
    assert "never" not in lists_of(APIClient().get("/frames/aggregate/"))["proposals"]


def test_empty_cache_is_refilled_from_the_snapshot(upstream_frames, api_client):
    cache_aggregates()
    generated_at = AggregateSnapshot.objects.get().data["generated_at"]
    cache.clear()
    # A frame added after the snapshot, without the ingest's cache update: only a rebuild would show it.
    FrameFactory(site_id="tfn")
    response = api_client.get("/frames/aggregate/")
    data = lists_of(response)
    assert "tfn" not in data["sites"]
    assert data["sites"] == ALL_VALUES["sites"]
    assert response.json()["generated_at"] == generated_at
    assert cache.get(aggregates.AGGREGATE_CACHE_KEY) is not None


def test_without_cache_or_snapshot_the_aggregate_is_built_on_the_spot(upstream_frames, api_client):
    assert not AggregateSnapshot.objects.exists()
    data = lists_of(api_client.get("/frames/aggregate/"))
    assert data == {**ALL_VALUES, "proposals": ["prop1", "prop3"]}
    assert AggregateSnapshot.objects.count() == 1
    assert cache.get(aggregates.AGGREGATE_CACHE_KEY) is not None


def test_empty_archive_builds_an_empty_aggregate(api_client):
    assert lists_of(api_client.get("/frames/aggregate/")) == EMPTY


def test_a_build_in_progress_elsewhere_is_a_503(upstream_frames, api_client):
    import psycopg2
    from django.db import connection

    params = connection.get_connection_params()
    other = psycopg2.connect(**params)  # another process building the aggregate holds the lock
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [aggregates.AGGREGATE_BUILD_LOCK_ID])
        response = api_client.get("/frames/aggregate/")
    finally:
        other.close()
    assert response.status_code == 503
    assert response.json() == {"detail": "Aggregates have not been generated yet; try again later."}
    assert response["Retry-After"] == "60"


def test_an_ingested_frame_shows_its_new_site_at_once(
    upstream_frames, superuser_client, django_capture_on_commit_callbacks
):
    cache_aggregates()
    body = ingest_body("lsc1m005-fa15-20150219-0001-e91", site_id="lsc", related_frame_filenames=[])
    with django_capture_on_commit_callbacks(execute=True):
        assert superuser_client.post("/frames/", json.dumps(body), content_type="application/json").status_code == 201
    assert "lsc" in lists_of(superuser_client.get("/frames/aggregate/"))["sites"]
    anonymous = lists_of(APIClient().get("/frames/aggregate/"))
    assert "lsc" in anonymous["sites"]
    assert "LCOEPO2014B-010" in anonymous["proposals"]  # public at once: its public date is past


def test_unfiltered_vary_header(upstream_frames, api_client):
    cache_aggregates()
    vary = {part.strip() for part in api_client.get("/frames/aggregate/")["Vary"].split(",")}
    assert {"Cookie", "Authorization"} <= vary


def test_unknown_parameters_keep_the_unfiltered_aggregate(upstream_frames, api_client):
    cache_aggregates()
    assert lists_of(api_client.get("/frames/aggregate/?query_timeout=10&foo=bar"))["sites"] == ALL_VALUES["sites"]


# --- filtered: input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2024-01-01"},
        {"end": "2024-01-01"},
        {"public": "true"},
        {"site_id": "ogg"},
        {"start": "", "end": "2024-01-01"},
    ],
)
def test_start_and_end_are_required(api_client, params):
    response = api_client.get("/frames/aggregate/", params)
    assert response.status_code == 400
    assert response.json() == {"detail": "both start & end must be specified"}


def test_range_longer_than_a_year(api_client):
    response = api_client.get("/frames/aggregate/", {"start": "2023-01-01", "end": "2024-01-02", "public": "true"})
    assert response.status_code == 400
    assert response.json() == {"detail": "time range must be less than or equal to a year (365 days)"}


def test_range_of_exactly_365_days_is_allowed(api_client):
    response = api_client.get("/frames/aggregate/", {"start": "2023-01-01", "end": "2024-01-01", "public": "true"})
    assert lists_of(response) == EMPTY


# --- filtered: the upstream scenarios ----------------------------------------------------------------------------


def test_filtered_time_public_all(upstream_frames, api_client):
    assert lists_of(api_client.get("/frames/aggregate/", window(public="true"))) == PUBLIC_VALUES


@pytest.mark.parametrize("public", ["false", "False", "0", None])
def test_anonymous_without_public_true_gets_empty_lists(upstream_frames, api_client, public):
    params = window() if public is None else window(public=public)
    assert lists_of(api_client.get("/frames/aggregate/", params)) == EMPTY


@pytest.mark.parametrize("public", ["false", "0"])
def test_member_public_false_gets_own_proprietary_values(upstream_frames, make_user, public):
    client = token_client(make_user("member", proposals=["prop2"]))
    assert lists_of(client.get("/frames/aggregate/", window(public=public))) == PROP2_VALUES


def test_member_public_true_gets_public_and_own_values(upstream_frames, make_user):
    client = token_client(make_user("member", proposals=["prop2"]))
    assert lists_of(client.get("/frames/aggregate/", window(public="true"))) == ALL_VALUES


def test_user_without_proposals_public_false_gets_nothing(upstream_frames, make_user):
    client = token_client(make_user("nobody"))
    assert lists_of(client.get("/frames/aggregate/", window(public="false"))) == EMPTY


def test_superuser_public_false_gets_all_proprietary_values(upstream_frames, superuser_client):
    assert lists_of(superuser_client.get("/frames/aggregate/", window(public="false"))) == PROP2_VALUES
    assert lists_of(superuser_client.get("/frames/aggregate/", window(public="true"))) == ALL_VALUES


def test_private_part_includes_null_public_dates(upstream_frames, make_user):
    FrameFactory(
        proposal_id="prop2",
        site_id="lsc",
        public_date=None,
        observation_date=upstream_frames,
    )
    client = token_client(make_user("member", proposals=["prop2"]))
    assert lists_of(client.get("/frames/aggregate/", window(public="false")))["sites"] == ["coj", "lsc"]


@pytest.mark.parametrize(
    "params",
    [
        {"site_id": "ogg"},
        {"telescope_id": "2m0b"},
        {"instrument_id": "fl10"},
        {"configuration_type": "SKYFLAT"},
        {"primary_optical_element": "B"},
        {"proposal_id": "prop3"},
    ],
)
def test_filtered_by_one_field(upstream_frames, api_client, params):
    assert lists_of(api_client.get("/frames/aggregate/", window(public="true", **params))) == SKYFLAT_VALUES


def test_filter_on_a_proprietary_value_gives_nothing_to_anonymous(upstream_frames, api_client):
    assert lists_of(api_client.get("/frames/aggregate/", window(public="true", site_id="coj"))) == EMPTY


def test_filtered_by_time(upstream_frames, api_client):
    observed = upstream_frames
    recent = {"start": (observed + datetime.timedelta(days=1)).isoformat(), "end": timezone.now().isoformat()}
    assert lists_of(api_client.get("/frames/aggregate/", {**recent, "public": "true"})) == EMPTY
    starting_at = {
        "start": observed.isoformat(),
        "end": (observed + datetime.timedelta(minutes=1)).isoformat(),
        "public": "true",
    }
    assert lists_of(api_client.get("/frames/aggregate/", starting_at)) == PUBLIC_VALUES
    # `end` is exclusive.
    ending_at = {
        "start": (observed - datetime.timedelta(days=1)).isoformat(),
        "end": observed.isoformat(),
        "public": "true",
    }
    assert lists_of(api_client.get("/frames/aggregate/", ending_at)) == EMPTY


def test_filtered_seconds_are_truncated(upstream_frames, api_client):
    observed = upstream_frames
    # start 59 s after the observation still includes it once truncated to the minute.
    params = {
        "start": (observed + datetime.timedelta(seconds=59)).strftime("%Y-%m-%dT%H:%M:%S"),
        "end": (observed + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S"),
        "public": "true",
    }
    assert lists_of(api_client.get("/frames/aggregate/", params)) == PUBLIC_VALUES


def test_filtered_vary_and_cache_control(upstream_frames, api_client, make_user):
    response = api_client.get("/frames/aggregate/", window(public="true"))
    vary = {part.strip() for part in response["Vary"].split(",")}
    assert {"Cookie", "Authorization"} <= vary
    assert response["Cache-Control"] == "max-age=3600"  # `end` in the future
    response = api_client.get("/frames/aggregate/", window(days_before=200, days_after=-10, public="true"))
    assert response["Cache-Control"] == "max-age=86400"
    member = token_client(make_user("member", proposals=["prop2"]))
    response = member.get("/frames/aggregate/", window(public="true"))
    assert set(response["Cache-Control"].replace(" ", "").split(",")) == {"private", "max-age=300"}
    vary = {part.strip() for part in response["Vary"].split(",")}
    assert {"Cookie", "Authorization"} <= vary


def test_query_timeout_is_accepted_on_the_wire(upstream_frames, api_client, superuser_client):
    for value in ("0", "1", "999999", "-5", "junk"):
        assert lists_of(api_client.get("/frames/aggregate/", window(public="true", query_timeout=value)))
    assert lists_of(superuser_client.get("/frames/aggregate/", window(public="true", query_timeout="20000")))


# --- query_timeout clamping --------------------------------------------------------------------------------------


def timeout_for(user, value: str | None) -> int:
    params = QueryDict(mutable=True)
    if value is not None:
        params["query_timeout"] = value
    return aggregates.aggregate_timeout_ms(user=user, params=params)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 2000),
        ("0", 2000),
        ("1", 1),
        ("1500", 1500),
        ("5000", 5000),
        ("20000", 20000),
        ("20001", 20000),
        ("999999999", 20000),
        ("-1", 2000),
        ("junk", 2000),
    ],
)
def test_staff_query_timeout(make_user, superuser, value, expected):
    assert timeout_for(make_user("staffer", staff=True), value) == expected
    assert timeout_for(superuser, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 2000),
        ("0", 2000),
        ("1", 1),
        ("1500", 1500),
        ("2000", 2000),
        ("2001", 2000),
        ("20000", 2000),
        ("-1", 2000),
        ("junk", 2000),
    ],
)
def test_non_staff_query_timeout_is_at_most_the_default(make_user, value, expected):
    from django.contrib.auth.models import AnonymousUser

    assert timeout_for(AnonymousUser(), value) == expected
    assert timeout_for(make_user("member", proposals=["prop1"]), value) == expected


def test_a_missing_aggregate_is_a_503_even_with_the_broker_down(api_client, monkeypatch, refusing_broker):
    def not_ready():
        raise aggregates.AggregatesNotReady()

    monkeypatch.setattr(aggregates, "_all_frames_aggregate", not_ready)
    response = api_client.get("/frames/aggregate/")
    assert response.status_code == 503
    assert response.json() == {"detail": "Aggregates have not been generated yet; try again later."}
