"""Every datetime and integer parameter of the downtimes reads, fed values at their edges: a 4xx, never a 5xx."""

import pytest

from downtimes.filters import DowntimeEventFilter, DowntimeFilter, UTCDateTimeFilter

pytestmark = pytest.mark.django_db

API = "/downtimes/api/"
HISTORY = "/downtimes/api/history/"
PAGE = "/downtimes/"

# Times at the calendar's edges, with and without an offset that carries them past it, and malformed ones.
EDGE_DATETIMES = (
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01",
    "9999-12-31",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2030-02-30T00:00:00Z",
    "2030-01-01T24:00:00Z",
    "2030-01-01T00:00:00+99:00",
    "2030-01-01T00:00:00\x00",
    "not a date",
)
EDGE_INTEGERS = (
    "99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-99999999999999999999",
    "-1",
    "1e400",
    "nan",
    "1.5",
    "\x00",
)


def datetime_parameters(filterset) -> list[str]:
    return sorted(name for name, field in filterset.base_filters.items() if isinstance(field, UTCDateTimeFilter))


API_DATETIMES = datetime_parameters(DowntimeFilter)
HISTORY_DATETIMES = datetime_parameters(DowntimeEventFilter)


def test_every_datetime_parameter_is_fuzzed():
    assert {"active_at", "starts_after", "ends_before", "window_end", "created_after", "modified_before"} <= set(
        API_DATETIMES
    )
    assert set(HISTORY_DATETIMES) == {"after", "before"}


def assert_no_server_error(response):
    """Never a 5xx; a refusal is JSON with a message (the exports' too)."""
    assert response.status_code < 500, (response.status_code, response.content[:500])
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
        assert response.json(), response.content


@pytest.fixture
def staff_client(superuser_client, abcd):
    return superuser_client


# --- times past the calendar in UTC: a 400 naming the parameter -------------------------------------------------------

# Times whose offset carries them past the calendar's edge once converted to UTC: each a 400 naming its parameter.
OUT_OF_RANGE = ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+23:59")


def assert_named_400(response, name: str):
    assert response.status_code == 400, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    assert "between 0001-01-01" in response.json()[name][0]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("name", API_DATETIMES)
def test_api_datetime_past_the_calendar_is_a_400(api_client, abcd, name, value):
    assert_named_400(api_client.get(API, {name: value}), name)
    assert_named_400(api_client.get(API, {name: value, "format": "ics"}), name)


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("name", HISTORY_DATETIMES)
def test_history_datetime_past_the_calendar_is_a_400(staff_client, name, value):
    assert_named_400(staff_client.get(HISTORY, {name: value}), name)


def test_page_shows_the_range_error_next_to_its_field(client, abcd):
    response = client.get(PAGE, {"starts_after": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400
    assert b"between 0001-01-01" in response.content


def test_calendar_edges_in_utc_still_work(api_client, abcd):
    response = api_client.get(API, {"starts_after": "0001-01-01T00:00:00Z", "starts_before": "9999-12-31T23:59:59Z"})
    assert response.status_code == 200 and response.json()["count"] == 4
    # An offset is converted, not ignored: 2030-01-01T05:00+05:00 is A's start.
    response = api_client.get(API, {"starts_after": "2030-01-01T05:00:00+05:00", "starts_before": "2030-01-01"})
    assert [row["id"] for row in response.json()["results"]] == [abcd["A"].id]


# --- offset and limit -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params"),
    [(API, {}), (API, {"limit": "5"}), (API, {"format": "csv"}), (API, {"format": "ics"}), (HISTORY, {})],
)
def test_offset_beyond_a_bigint_is_a_400(staff_client, url, params):
    response = staff_client.get(url, {"offset": "99999999999999999999", **params})
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"offset": ["Ensure this value is at most 9223372036854775807."]}


def test_largest_offset_is_an_empty_page(api_client, abcd):
    body = api_client.get(API, {"offset": "9223372036854775807"}).json()
    assert (body["count"], body["results"], body["next"]) == (4, [], None)


@pytest.mark.parametrize("value", ["99999999999999999999", "9" * 5000])
def test_huge_limit_is_served_as_the_ceiling(api_client, abcd, value):
    # The downtime service's contract, kept: a larger limit is the largest page, not an error.
    assert api_client.get(API, {"limit": value}).json()["count"] == 4


# --- the fuzz: every parameter, every edge value, never a 5xx ---------------------------------------------------------


@pytest.mark.parametrize("value", EDGE_DATETIMES)
@pytest.mark.parametrize("name", API_DATETIMES)
def test_api_datetimes(api_client, abcd, name, value):
    assert_no_server_error(api_client.get(API, {name: value}))


@pytest.mark.parametrize("value", EDGE_DATETIMES)
@pytest.mark.parametrize("export", ["csv", "ics"])
@pytest.mark.parametrize("name", API_DATETIMES)
def test_export_datetimes(api_client, abcd, name, export, value):
    assert_no_server_error(api_client.get(API, {name: value, "format": export}))


@pytest.mark.parametrize("value", EDGE_DATETIMES)
@pytest.mark.parametrize("name", API_DATETIMES)
def test_page_datetimes(client, abcd, name, value):
    assert client.get(PAGE, {name: value}).status_code < 500


@pytest.mark.parametrize("value", EDGE_DATETIMES)
@pytest.mark.parametrize("name", HISTORY_DATETIMES)
def test_history_datetimes(staff_client, name, value):
    assert_no_server_error(staff_client.get(HISTORY, {name: value}))


@pytest.mark.parametrize("value", EDGE_DATETIMES)
@pytest.mark.parametrize("name", HISTORY_DATETIMES)
def test_history_datetimes_anonymous(api_client, name, value):
    assert_no_server_error(api_client.get(HISTORY, {name: value}))


@pytest.mark.parametrize("value", EDGE_INTEGERS)
@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("url", [API, HISTORY])
def test_pagination_integers(staff_client, url, name, value):
    assert_no_server_error(staff_client.get(url, {name: value}))


@pytest.mark.parametrize("value", EDGE_INTEGERS)
@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("url", [API, HISTORY])
def test_pagination_integers_anonymous(api_client, abcd, url, name, value):
    assert_no_server_error(api_client.get(url, {name: value}))


@pytest.mark.parametrize("value", EDGE_INTEGERS)
@pytest.mark.parametrize("name", ["limit", "offset"])
@pytest.mark.parametrize("export", ["csv", "ics"])
def test_export_integers(api_client, abcd, export, name, value):
    assert_no_server_error(api_client.get(API, {name: value, "format": export}))


@pytest.mark.parametrize("value", EDGE_INTEGERS)
@pytest.mark.parametrize("name", ["page", "limit", "offset"])
def test_page_integers(client, abcd, name, value):
    assert client.get(PAGE, {name: value}).status_code < 500


@pytest.mark.parametrize("value", EDGE_INTEGERS)
def test_history_downtime_id(staff_client, value):
    assert staff_client.get(HISTORY, {"downtime": value}).status_code < 500


@pytest.mark.parametrize("value", EDGE_INTEGERS)
def test_detail_id(api_client, value):
    assert api_client.get(f"{API}{value}/").status_code < 500


STRING_PARAMETERS = ("reason", "reason_exact", "site", "instrument_type", "order", "ordering", "active_now")


@pytest.mark.parametrize("value", ["\x00", "a\x00b", "x" * 10000])
@pytest.mark.parametrize("name", STRING_PARAMETERS)
def test_api_strings(api_client, abcd, name, value):
    assert api_client.get(API, {name: value}).status_code < 500


@pytest.mark.parametrize("value", ["\x00", "a\x00b"])
@pytest.mark.parametrize("name", ["user", "action", "via"])
def test_history_strings(staff_client, name, value):
    assert staff_client.get(HISTORY, {name: value}).status_code < 500
