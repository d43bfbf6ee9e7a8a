"""GET /frames/: an ordering no index gives is served only when few rows match (ORDERING_SORT_MAX_ROWS)."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import token_client
from frames.models import Frame, Thumbnail, Version
from frames.tests.factories import FrameFactory, ThumbnailFactory, VersionFactory

pytestmark = pytest.mark.django_db

START = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
FUTURE = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)
UNINDEXED = [
    "exposure_time",
    "-exposure_time",
    "target_name",
    "-instrument_id",
    "primary_optical_element",
    "-configuration_type",
    "proposal_id",
    "-reduction_level",
]
INDEXED = ["id", "-id", "observation_date", "-observation_date", "basename", "-basename", "", "nonsense"]
ESTIMATE_MESSAGE = re.compile(r"about ([\d,]+) frames match \(the planner's estimate\)")


def archive(days: int, per_day: int, **fields) -> list[Frame]:
    """`per_day` frames a day for `days` days from START, with varied sort values, analysed as autovacuum would."""
    frames = Frame.objects.bulk_create(
        [
            FrameFactory.build(
                observation_date=START + datetime.timedelta(days=day, hours=1 + hour),
                exposure_time=float((day * 7 + hour * 13) % 11),
                target_name=f"target-{(day + hour) % 4}",
                instrument_id=f"ep0{hour % 3}",
                **fields,
            )
            for day in range(days)
            for hour in range(per_day)
        ]
    )
    Version.objects.bulk_create([VersionFactory.build(frame=frame) for frame in frames])
    analyse()
    return frames


def analyse() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE frames_frame")
        cursor.execute("ANALYZE frames_version")


def expected_ids(frames: list[Frame], ordering: str) -> list[int]:
    field = ordering.lstrip("-")
    return [f.id for f in sorted(frames, key=lambda f: (getattr(f, field), f.id), reverse=ordering.startswith("-"))]


def walk(client, params: dict) -> list[int]:
    """Every id of a cursor walk from the first page, following `next`."""
    served: list[int] = []
    response = client.get("/frames/", {**params, "pagination_style": "cursor"})
    for _ in range(100):
        assert response.status_code == 200, response.content
        data = response.json()
        served += [item["id"] for item in data["results"]]
        if not data["next"]:
            return served
        response = client.get(data["next"])
    raise AssertionError("the walk does not end")


def refusal(response) -> str:
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == ["ordering"] and len(body["ordering"]) == 1, body
    return body["ordering"][0]


def explains(context) -> int:
    return sum(query["sql"].startswith("EXPLAIN") for query in context.captured_queries)


@pytest.mark.parametrize("ordering", UNINDEXED)
def test_an_unindexed_ordering_of_few_matches_is_served_in_both_styles(api_client, settings, ordering):
    settings.ORDERING_SORT_MAX_ROWS = 20
    frames = archive(days=10, per_day=5)
    window = {"start": "2024-05-02", "end": "2024-05-03T23:59:59", "ordering": ordering}
    expected = expected_ids(
        [
            f
            for f in frames
            if START + datetime.timedelta(days=1) <= f.observation_date < START + datetime.timedelta(days=3)
        ],
        ordering,
    )
    assert len(expected) == 10
    data = api_client.get("/frames/", {**window, "limit": 4}).json()
    assert [item["id"] for item in data["results"]] == expected[:4]
    assert (data["count"], data["count_estimated"]) == (10, False)
    assert walk(api_client, {**window, "limit": 3}) == expected


@pytest.mark.parametrize("style", ["limit", "cursor"])
@pytest.mark.parametrize("ordering", UNINDEXED)
def test_an_unindexed_ordering_of_more_matches_than_the_limit_is_a_400(api_client, settings, ordering, style):
    settings.ORDERING_SORT_MAX_ROWS = 20
    archive(days=10, per_day=5)
    message = refusal(api_client.get("/frames/", {"ordering": ordering, "pagination_style": style}))
    assert message.startswith(f"ordering={ordering} needs the database to sort every matching frame"), message
    estimate = ESTIMATE_MESSAGE.search(message)
    assert estimate and int(estimate.group(1).replace(",", "")) > 20, message
    assert "it sorts at most 20 for one request" in message
    assert "a shorter start/end window, a proposal_id, a site_id or an instrument_id" in message
    assert "order by observation_date or id" in message


@pytest.mark.parametrize("ordering", INDEXED)
def test_orderings_an_index_gives_are_never_refused(api_client, settings, ordering):
    settings.ORDERING_SORT_MAX_ROWS = 0
    frames = archive(days=10, per_day=5)
    with CaptureQueriesContext(connection) as context:
        data = api_client.get("/frames/", {"ordering": ordering, "limit": 100}).json()
    assert len(data["results"]) == len(frames)
    assert explains(context) == 0  # no estimate asked for: the last page counts itself
    assert len(walk(api_client, {"ordering": ordering, "limit": 7})) == len(frames)


@pytest.mark.parametrize(
    ("ordering", "params"),
    [
        # One value of the ordering's own exact filter: every match has it, so the order is the id's.
        ("-instrument_id", {"instrument_id": "ep01"}),
        ("instrument_id", {"INSTRUME": "ep01"}),
        ("proposal_id", {"proposal_id": "LCO2024A-001"}),
        ("-proposal_id", {"PROPID": "LCO2024A-001"}),
        ("target_name", {"target_name_exact": "target-1"}),
        ("-primary_optical_element", {"FILTER": "rp"}),
        ("reduction_level", {"RLEVEL": "91"}),
        ("-configuration_type", {"OBSTYPE": "EXPOSE"}),
        # An identifier whose index bounds the rows.
        ("-exposure_time", {"request_id": "PLACEHOLDER"}),
        ("exposure_time", {"BLKUID": "PLACEHOLDER"}),
        ("target_name", {"basename_exact": "PLACEHOLDER"}),
    ],
)
def test_an_ordering_pinned_or_bounded_by_the_filters_is_served_at_any_size(api_client, settings, ordering, params):
    settings.ORDERING_SORT_MAX_ROWS = 0
    frames = archive(days=10, per_day=5)
    first = frames[0]
    identifiers = {"request_id": first.request_id, "BLKUID": first.observation_id, "basename_exact": first.basename}
    params = {name: identifiers.get(name, value) if value == "PLACEHOLDER" else value for name, value in params.items()}
    response = api_client.get("/frames/", {**params, "ordering": ordering, "limit": 2})
    assert response.status_code == 200, response.content
    assert response.json()["results"]
    assert walk(api_client, {**params, "ordering": ordering, "limit": 4})


@pytest.mark.parametrize(
    "params",
    [
        {"proposal_id": "LCO2024A-001"},  # a proposal pins its index, but holds any number of frames
        {"instrument_id": ["ep01", "ep02"]},  # two values do not pin the field
        {"request_id": ["1", "2"]},
    ],
)
def test_filters_that_neither_pin_the_ordering_nor_bound_the_rows_leave_the_rule_to_the_estimate(
    api_client, settings, params
):
    settings.ORDERING_SORT_MAX_ROWS = 0
    frames = archive(days=2, per_day=5)
    if "request_id" in params:
        params = {"request_id": [str(frames[0].request_id), str(frames[1].request_id)]}
    refusal(api_client.get("/frames/", {**params, "ordering": "-exposure_time"}))
    settings.ORDERING_SORT_MAX_ROWS = 100
    assert api_client.get("/frames/", {**params, "ordering": "-exposure_time"}).status_code == 200


@pytest.mark.parametrize("ordering", ["-exposure_time", "exposure_time", "target_name", "-instrument_id"])
def test_the_web_clients_day_and_week_windows_are_served_and_the_whole_archive_refused(api_client, settings, ordering):
    # The benchmark archive's proportions: about 550 frames a day against the default limit of 20,000, so a day or a
    # week is sorted and the whole archive (five years) is not. Here 5 a day, a limit of 180, 120 days.
    settings.ORDERING_SORT_MAX_ROWS = 180
    frames = archive(days=120, per_day=5)
    for start, end, rows in [("2024-06-10", "2024-06-11", 5), ("2024-06-10", "2024-06-17", 35)]:
        window = {"start": start, "end": end, "ordering": ordering}
        data = api_client.get("/frames/", window).json()
        assert (data["count"], data["count_estimated"]) == (rows, False)
        selected = [f for f in frames if f"{start}" <= f.observation_date.date().isoformat() < end]
        assert [item["id"] for item in data["results"]] == expected_ids(selected, ordering)
        assert walk(api_client, {**window, "limit": 10}) == expected_ids(selected, ordering)
    message = refusal(api_client.get("/frames/", {"ordering": ordering}))
    assert "a shorter start/end window" in message


def test_the_estimate_that_allows_the_sort_is_the_count_s_estimate_too(api_client, settings):
    settings.ORDERING_SORT_MAX_ROWS = 1000
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 0  # the list is counted by the estimate
    archive(days=10, per_day=5)
    with CaptureQueriesContext(connection) as context:
        data = api_client.get("/frames/", {"ordering": "-exposure_time", "limit": 2}).json()
    assert data["count_estimated"] is True and data["count"] > 2
    assert explains(context) == 1, [query["sql"] for query in context.captured_queries]


def test_a_proposal_the_caller_may_not_see_is_counted_over_their_rows_never_estimated(api_client, settings, make_user):
    """The planner's estimate for a proposal is made over all of its rows; a caller who sees only its public frames
    is told how many of those they would sort, never the estimate (see the count's rule for the same case)."""
    settings.ORDERING_SORT_MAX_ROWS = 20
    secret = "LCO2030A-SECRET"
    archive(days=3, per_day=4, proposal_id=secret)  # 12 public frames
    archive(days=10, per_day=5, proposal_id=secret, public_date=FUTURE)  # 50 proprietary
    params = {"proposal_id": secret, "ordering": "-exposure_time", "limit": 5}
    with CaptureQueriesContext(connection) as context:
        data = api_client.get("/frames/", params).json()
    assert (data["count"], data["count_estimated"]) == (12, False)
    assert explains(context) == 0
    settings.ORDERING_SORT_MAX_ROWS = 10
    message = refusal(api_client.get("/frames/", params))
    assert "more than 10 frames match;" in message and "estimate" not in message
    # A member sees the whole proposal: its estimate is theirs to see.
    member = token_client(make_user("member", proposals=[secret]))
    assert ESTIMATE_MESSAGE.search(refusal(member.get("/frames/", params)))


@pytest.mark.parametrize("path", ["/thumbnails/", "/versions/"])
def test_thumbnails_and_versions_keep_their_fixed_orderings(api_client, settings, superuser, path):
    settings.ORDERING_SORT_MAX_ROWS = 0
    frames = archive(days=2, per_day=3)
    Thumbnail.objects.bulk_create([ThumbnailFactory.build(frame=frame) for frame in frames])
    analyse()
    api_client.force_authenticate(superuser)
    response = api_client.get(path, {"ordering": "-exposure_time", "limit": 2})
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 2
