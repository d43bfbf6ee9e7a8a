"""Reads of /downtimes/api/: the object, every filter at its edges, ordering, pagination, errors, query counts."""

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from downtimes import selectors
from downtimes.models import Downtime
from downtimes.tests.conftest import MUSCAT, SINISTRO, utc
from downtimes.tests.factories import DowntimeFactory

pytestmark = pytest.mark.django_db

API = "/downtimes/api/"
KEYS = ["id", "start", "end", "site", "enclosure", "telescope", "instrument_type", "reason"]


def names(response, rows) -> list[str]:
    assert response.status_code == 200, response.content
    by_id = {downtime.id: name for name, downtime in rows.items()}
    return [by_id[item["id"]] for item in response.json()["results"]]


def query(url: str) -> dict:
    return parse_qs(urlsplit(url).query)


# --- the reference's behaviour, kept ---------------------------------------------------------------------------------
def test_list_in_creation_order_with_exactly_the_eight_keys(api_client, abcd):
    response = api_client.get(API)
    body = response.json()
    assert list(body) == ["count", "next", "previous", "results"]
    assert body["count"] == 4
    assert names(response, abcd) == ["A", "B", "C", "D"]
    assert body["results"][0] == {
        "id": abcd["A"].id,
        "start": "2030-01-01T00:00:00Z",
        "end": "2030-01-01T02:00:00Z",
        "site": "tst",
        "enclosure": "doma",
        "telescope": "1m0a",
        "instrument_type": "",
        "reason": "Maintenance",
    }
    assert all(list(item) == KEYS for item in body["results"])
    assert body["results"][1]["instrument_type"] == MUSCAT


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"site": "lco"}, ["C", "D"]),
        ({"site": ["lco", "tst"]}, ["A", "B", "C", "D"]),
        ({"starts_after": "2030-01-01"}, ["A", "B"]),
        ({"starts_after": "2030-01-01 00:00:00"}, ["A", "B"]),
        ({"ends_before": "2030-01-01T02:00:00Z"}, ["A", "C", "D"]),
        # The scheduler's window, touching A's end and B's start: inclusive bounds keep both.
        ({"ends_after": "2030-01-01 02:00:00", "starts_before": "2030-01-02 00:00:00"}, ["A", "B"]),
        ({"reason": "MAINT"}, ["A", "C"]),
        ({"reason_exact": "Maintenance"}, ["A"]),
        ({"reason_exact": "maintenance"}, []),
        ({"instrument_type": MUSCAT}, ["B"]),
        ({"instrument_type": ""}, ["A", "C", "D"]),
        ({"instrument_type": "all"}, ["A", "C", "D"]),
        ({"ordering": "-start"}, ["B", "A", "C", "D"]),
        ({"ordering": "bogus"}, ["A", "B", "C", "D"]),
        ({"order": "-end"}, ["B", "A", "C", "D"]),
        ({"ordering": "-start", "order": "start"}, ["D", "C", "A", "B"]),
        ({"unknown_parameter": "x"}, ["A", "B", "C", "D"]),
    ],
)
def test_reference_filters(api_client, abcd, cached_topology, params, expected):
    assert names(api_client.get(API, params), abcd) == expected


def test_unknown_site_is_a_400_with_the_reference_message(api_client, abcd, topology):
    response = api_client.get(API, {"site": "nop"})
    assert response.status_code == 400
    assert response.json() == {"site": ["Select a valid choice. nop is not one of the available choices."]}


def test_bad_order_is_a_400(api_client, abcd):
    response = api_client.get(API, {"order": "bogus"})
    assert response.status_code == 400
    assert response.json() == {"order": ["Select a valid choice. bogus is not one of the available choices."]}


def test_limit_and_offset_links(api_client, abcd):
    response = api_client.get(API, {"limit": 1, "offset": 1})
    body = response.json()
    assert body["count"] == 4
    assert names(response, abcd) == ["B"]
    assert body["next"].startswith("http://testserver/downtimes/api/?")
    assert query(body["next"]) == {"limit": ["1"], "offset": ["2"]}
    assert query(body["previous"]) == {"limit": ["1"]}


def test_detail_and_missing_ids(api_client, abcd):
    response = api_client.get(f"{API}{abcd['B'].id}/")
    assert response.status_code == 200
    assert list(response.json()) == KEYS
    assert response.json()["instrument_type"] == MUSCAT
    missing = api_client.get(f"{API}999999/")
    assert (missing.status_code, missing.json()) == (404, {"detail": "No Downtime matches the given query."})
    not_integer = api_client.get(f"{API}abc/")
    assert (not_integer.status_code, not_integer.json()) == (404, {"detail": "Not found."})


def test_years_before_1000_keep_four_digits(api_client):
    """The C library writes the year 207 as `207`; the wire form (and ISO 8601, and the scheduler's strptime) wants
    `0207`."""
    downtime = DowntimeFactory(start=utc(207, 3, 24, 21, 27, 34), end=utc(2030, 1, 1))
    body = api_client.get(f"{API}{downtime.id}/").json()
    assert (body["start"], body["end"]) == ("0207-03-24T21:27:34Z", "2030-01-01T00:00:00Z")
    assert datetime.datetime.strptime(body["start"], "%Y-%m-%dT%H:%M:%SZ") == datetime.datetime(207, 3, 24, 21, 27, 34)


def test_query_filters_apply_to_the_detail_too(api_client, abcd):
    assert api_client.get(f"{API}{abcd['A'].id}/", {"site": "lco"}).status_code == 404
    assert api_client.get(f"{API}{abcd['C'].id}/", {"site": "lco"}).status_code == 200


def test_format_json_and_suffixes(api_client, abcd):
    assert api_client.get(API, {"format": "json"}).json()["count"] == 4
    assert api_client.get(f"{API}.json").json()["count"] == 4
    assert api_client.get(f"{API}{abcd['A'].id}.json").json()["id"] == abcd["A"].id
    assert api_client.get(API, HTTP_ACCEPT="*/*")["Content-Type"] == "application/json"


def test_browsable_api(api_client, abcd):
    for response in (api_client.get(API, {"format": "api"}), api_client.get(API, HTTP_ACCEPT="text/html")):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        assert b"Downtime List" in response.content


def test_head(api_client, abcd):
    assert api_client.head(API).status_code == 200
    assert api_client.head(f"{API}{abcd['A'].id}/").status_code == 200


def test_other_methods_are_405_with_allow(api_client, superuser_client, abcd):
    response = superuser_client.post(f"{API}{abcd['A'].id}/", {}, format="json")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}
    assert "GET" in response["Allow"] and "DELETE" in response["Allow"]


def test_trailing_slash_is_required(api_client, abcd):
    assert api_client.get("/downtimes/api").status_code in (301, 404)


def test_options_never_ask_configdb_and_list_choices_when_known(api_client, superuser_client, abcd, topology):
    response = api_client.options(API)
    assert response.status_code == 200
    assert response.json()["name"] == "Downtime List"
    assert api_client.options(f"{API}{abcd['A'].id}/").json()["name"] == "Downtime Instance"
    assert "choices" not in superuser_client.options(API).json()["actions"]["POST"]["site"]
    assert topology.count() == 0
    selectors.downtime_topology()  # fetched and cached, as a write or the page would
    post = superuser_client.options(API).json()["actions"]["POST"]
    assert {choice["value"] for choice in post["site"]["choices"]} == {"lco", "tst"}
    assert topology.count() == 1


# --- every filter, at its edges --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"starts_after": "2030-01-02T00:00:00Z"}, ["B"]),
        ({"starts_after": "2030-01-02T00:00:01Z"}, []),
        ({"starts_before": "2029-12-31T00:00:00Z"}, ["C", "D"]),
        ({"starts_before": "2029-12-30T23:59:59Z"}, ["D"]),
        ({"ends_after": "2030-01-02T03:00:00Z"}, ["B"]),
        ({"ends_after": "2030-01-02T03:00:01Z"}, []),
        ({"ends_before": "2030-01-01T01:59:59Z"}, ["C", "D"]),
        ({"enclosure": "domb"}, ["B"]),
        ({"enclosure": ["domb", "doma"]}, ["A", "B", "C", "D"]),
        ({"telescope": "2m0a"}, ["B"]),
        ({"telescope": ["1m0a"], "site": "tst"}, ["A"]),
        ({"instrument_type": [MUSCAT, ""]}, ["A", "B", "C", "D"]),
        ({"instrument_type": [SINISTRO]}, []),
        ({"reason": "weekly"}, ["C"]),
        ({"reason": ""}, ["A", "B", "C", "D"]),
        # window_*: the half-open window; touching an edge is not overlapping.
        ({"window_start": "2030-01-01T02:00:00Z"}, ["B"]),
        ({"window_start": "2030-01-01T01:59:59Z"}, ["A", "B"]),
        ({"window_end": "2029-12-31T00:00:00Z"}, ["D"]),
        ({"window_end": "2029-12-31T00:00:01Z"}, ["C", "D"]),
        ({"window_start": "2030-01-01T01:00:00Z", "window_end": "2030-01-02T00:00:01Z"}, ["A", "B"]),
        ({"active_at": "2030-01-01T00:00:00Z"}, ["A"]),
        ({"active_at": "2030-01-01T02:00:00Z"}, []),
        ({"active_at": "2030-01-01 01:00"}, ["A"]),
        # Datetime spellings: a date, minutes, fractions, offsets (a + sent as %2B).
        ({"starts_after": "2030-01-01 00:00"}, ["A", "B"]),
        ({"starts_after": "2030-01-01 00:00:00.000001"}, ["B"]),
        ({"starts_after": "2030-01-01T02:00:00+02:00"}, ["A", "B"]),
        ({"starts_after": "2030-01-01T00:00:00-01:00"}, ["B"]),
        ({"order": "-start,end"}, ["B", "A", "C", "D"]),
        ({"order": "created"}, ["A", "B", "C", "D"]),
        ({"order": "-created"}, ["D", "C", "B", "A"]),
        ({"order": "-modified"}, ["D", "C", "B", "A"]),
        ({"ordering": "site,-start"}, ["C", "D", "B", "A"]),
        ({"ordering": "bogus,-id"}, ["D", "C", "B", "A"]),
        ({"ordering": "reason"}, ["B", "A", "C", "D"]),
    ],
)
def test_filters_at_their_edges(api_client, abcd, cached_topology, params, expected):
    assert names(api_client.get(API, params), abcd) == expected


def test_created_and_modified_filters(api_client, abcd):
    Downtime.objects.filter(pk=abcd["A"].pk).update(created=utc(2025, 1, 1), modified=utc(2025, 6, 1))
    Downtime.objects.filter(pk=abcd["B"].pk).update(created=utc(2025, 2, 1), modified=utc(2025, 2, 1))
    cases = [
        ({"created_before": "2025-01-01T00:00:00Z"}, ["A"]),
        ({"created_after": "2025-02-01T00:00:00Z", "created_before": "2025-12-31"}, ["B"]),
        ({"modified_after": "2025-06-01T00:00:00Z", "modified_before": "2025-06-01T00:00:00Z"}, ["A"]),
        ({"modified_before": "2025-05-31"}, ["B"]),
    ]
    for params, expected in cases:
        assert names(api_client.get(API, params), abcd) == expected, params


def test_active_now(api_client, abcd):
    now = timezone.now()
    active = DowntimeFactory(start=now - datetime.timedelta(hours=1), end=now + datetime.timedelta(hours=1))
    rows = {**abcd, "now": active}
    for value in ("true", "1"):
        assert names(api_client.get(API, {"active_now": value}), rows) == ["now"]
    for value in ("false", "0"):
        assert names(api_client.get(API, {"active_now": value}), rows) == ["A", "B", "C", "D"]
    response = api_client.get(API, {"active_now": "bogus"})
    assert response.status_code == 400
    assert response.json() == {"active_now": ["Select a valid choice. bogus is not one of the available choices."]}


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({"starts_after": "yesterday"}, {"starts_after": ["Enter a valid date/time."]}),
        ({"ends_before": "2030-13-01"}, {"ends_before": ["Enter a valid date/time."]}),
        ({"active_at": "2030-01-01T00:00:00 02:00"}, {"active_at": ["Enter a valid date/time."]}),
        ({"created_after": "x"}, {"created_after": ["Enter a valid date/time."]}),
        (
            {"window_start": "2030-01-02", "window_end": "2030-01-01"},
            {"window_end": ["window_end must be after window_start."]},
        ),
        (
            {"window_start": "2030-01-01", "window_end": "2030-01-01"},
            {"window_end": ["window_end must be after window_start."]},
        ),
        (
            {"enclosure": "nop", "telescope": "9m9z"},
            {
                "enclosure": ["Select a valid choice. nop is not one of the available choices."],
                "telescope": ["Select a valid choice. 9m9z is not one of the available choices."],
            },
        ),
        (
            {"instrument_type": "NOP-CAM"},
            {"instrument_type": ["Select a valid choice. NOP-CAM is not one of the available choices."]},
        ),
    ],
)
def test_filter_errors(api_client, abcd, cached_topology, params, body):
    response = api_client.get(API, params)
    assert response.status_code == 400
    assert response.json() == body


def test_codes_are_exact_and_case_sensitive(api_client, abcd, cached_topology):
    assert api_client.get(API, {"site": "LCO"}).status_code == 400


def test_retired_codes_stay_searchable(api_client, abcd, cached_topology):
    retired = DowntimeFactory(site="old", enclosure="domz", telescope="0m4z", instrument_type="OLD-CAM")
    for params in ({"site": "old"}, {"enclosure": "domz"}, {"telescope": "0m4z"}, {"instrument_type": "OLD-CAM"}):
        assert names(api_client.get(API, params), {**abcd, "retired": retired}) == ["retired"], params


def test_filters_work_with_configdb_down_and_nothing_cached(api_client, abcd, topology, settings):
    settings.CONFIGDB_TIMEOUT_SECONDS = 1
    topology.hang_seconds = 5
    assert names(api_client.get(API, {"site": "lco", "enclosure": "doma"}), abcd) == ["C", "D"]
    assert api_client.get(API, {"site": "zzz"}).status_code == 400
    assert api_client.get(API).status_code == 200
    assert topology.count() == 0  # filters never wait for configdb


def test_filters_know_configdb_codes_once_cached(api_client, topology):
    assert api_client.get(API, {"site": "lco"}).status_code == 400  # nothing stored, nothing cached
    selectors.downtime_topology()
    assert api_client.get(API, {"site": "lco"}).status_code == 200


def test_filters_without_configdb_use_the_stored_codes(api_client, abcd, settings):
    settings.CONFIGDB_URL = ""
    assert names(api_client.get(API, {"site": "lco", "instrument_type": "all"}), abcd) == ["C", "D"]
    assert api_client.get(API, {"site": "nop"}).status_code == 400


# --- pagination ------------------------------------------------------------------------------------------------------
def _bulk(count: int) -> None:
    start = utc(2031, 1, 1)
    Downtime.objects.bulk_create(
        Downtime(
            start=start + datetime.timedelta(hours=n),
            end=start + datetime.timedelta(hours=n + 1),
            site="tst",
            enclosure="doma",
            telescope="1m0a",
        )
        for n in range(count)
    )


def test_default_page_of_1000_and_limit_clamped_to_10000(api_client):
    _bulk(10001)
    body = api_client.get(API).json()
    assert (body["count"], len(body["results"])) == (10001, 1000)
    assert query(body["next"]) == {"limit": ["1000"], "offset": ["1000"]}
    body = api_client.get(API, {"limit": 20000}).json()
    assert len(body["results"]) == 10000
    assert query(body["next"]) == {"limit": ["10000"], "offset": ["10000"]}
    body = api_client.get(API, {"limit": 10000, "offset": 10000}).json()
    assert len(body["results"]) == 1 and body["next"] is None


@pytest.mark.parametrize("limit", ["0", "abc", "-5"])
def test_bad_limits_mean_the_default(api_client, settings, limit):
    settings.DOWNTIMES_PAGE_SIZE = 3
    _bulk(5)
    assert len(api_client.get(API, {"limit": limit}).json()["results"]) == 3


def test_offset_past_the_end_and_links_keep_the_other_parameters(api_client, abcd, topology):
    body = api_client.get(API, {"site": "lco", "offset": 10, "limit": 1}).json()
    assert body["results"] == [] and body["count"] == 2
    assert query(body["previous"]) == {"site": ["lco"], "limit": ["1"], "offset": ["9"]}
    body = api_client.get(API, {"site": "lco", "limit": 1}).json()
    assert query(body["next"]) == {"site": ["lco"], "limit": ["1"], "offset": ["1"]}


def test_the_list_costs_two_queries_with_codes_in_the_cached_topology(
    api_client, abcd, topology, django_assert_max_num_queries
):
    selectors.downtime_topology()  # caches configdb's topology, as a write or the page would
    _bulk(50)
    params = {"site": ["tst", "lco"], "enclosure": "doma", "telescope": "1m0a", "instrument_type": [SINISTRO, ""]}
    with django_assert_max_num_queries(2):
        response = api_client.get(API, {**params, "limit": 10, "reason": "a"})
    assert response.status_code == 200
    with django_assert_max_num_queries(2):
        assert api_client.get(API).status_code == 200
