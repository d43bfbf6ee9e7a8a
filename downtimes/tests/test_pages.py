"""The /downtimes/ page rendered by Django: default view, table, filters, errors, pagination, links."""

import datetime
import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from downtimes.models import Downtime
from downtimes.tests.conftest import SINISTRO, utc
from downtimes.tests.factories import DowntimeFactory

pytestmark = pytest.mark.django_db

PAGE = "/downtimes/"


def table_rows(response) -> list[list[str]]:
    """The cells of the table body, as text."""
    content = response.content.decode()
    body = content.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if len(cells) > 1:
            rows.append(cells)
    return rows


def links(response) -> dict[str, str]:
    content = response.content.decode()
    return {
        html.unescape(text.strip()): html.unescape(href)
        for href, text in re.findall(r'<a href="([^"]*)"[^>]*>([^<]+)</a>', content)
    }


def test_default_view_shows_what_has_not_ended_by_start(client, abcd):
    response = client.get(PAGE)
    assert response.status_code == 200
    rows = table_rows(response)
    assert [row[:3] for row in rows] == [
        ["2029-12-31 00:00:00", "2029-12-31 04:00:00", "lco"],
        ["2030-01-01 00:00:00", "2030-01-01 02:00:00", "tst"],
        ["2030-01-02 00:00:00", "2030-01-02 03:00:00", "tst"],
    ]  # C, A, B; D ended nine days ago
    assert rows[1] == [
        "2030-01-01 00:00:00",
        "2030-01-01 02:00:00",
        "tst",
        "doma",
        "1m0a",
        "All instruments",
        "Maintenance",
    ]
    content = response.content.decode()
    assert '<time datetime="2030-01-01T00:00:00Z">2030-01-01 00:00:00</time>' in content
    for header in ("Start (UTC)", "End (UTC)", "Site", "Enclosure", "Telescope", "Instrument type", "Reason"):
        assert f">{header}<" in content
    assert "3 downtimes; showing 1–3" in content


def test_the_default_prefills_ends_after_with_now(client, abcd):
    with time_machine.travel(datetime.datetime(2026, 5, 4, 3, 2, 1, 654321, tzinfo=datetime.UTC), tick=False):
        content = client.get(PAGE).content.decode()
    assert 'name="ends_after" value="2026-05-04 03:02:01"' in content
    assert 'placeholder="YYYY-MM-DD HH:MM:SS"' in content


@pytest.mark.parametrize(
    ("query", "sites"),
    [
        ("?site=lco", ["lco", "lco"]),
        ("?ends_after=", ["lco", "lco", "tst", "tst"]),
        ("?reason=", ["lco", "lco", "tst", "tst"]),
        ("?order=-start", ["tst", "tst", "lco"]),
        ("?page=1", ["lco", "tst", "tst"]),
    ],
)
def test_any_filter_parameter_even_empty_turns_the_default_off(client, abcd, topology, query, sites):
    assert [row[2] for row in table_rows(client.get(PAGE + query))] == sites


def test_invalid_input_is_a_400_with_the_error_next_to_its_field(client, abcd, topology):
    response = client.get(PAGE, {"site": "nop", "starts_after": "tomorrow"})
    assert response.status_code == 400
    assert table_rows(response) == []
    content = response.content.decode()
    site_block = content.split('id="id_site"', 1)[1].split("</div>", 1)[0]
    assert "Select a valid choice. nop is not one of the available choices." in site_block
    assert "Enter a valid date/time." in content.split('id="id_starts_after"', 1)[1].split("</div>", 1)[0]
    response = client.get(PAGE, {"window_start": "2030-01-02", "window_end": "2030-01-01"})
    assert response.status_code == 400
    assert "window_end: window_end must be after window_start." in response.content.decode()


@pytest.mark.parametrize("page", ["500", "abc", "0", "-1"])
def test_out_of_range_or_non_integer_pages_are_404(client, abcd, page):
    assert client.get(PAGE, {"page": page}).status_code == 404


def test_an_empty_first_page_is_fine(client):
    response = client.get(PAGE)
    assert response.status_code == 200
    assert "No downtimes match these filters." in response.content.decode()
    assert "0 downtimes" in response.content.decode()


def test_pagination_keeps_every_parameter_but_page(client, topology):
    start = utc(2031, 1, 1)
    Downtime.objects.bulk_create(
        Downtime(start=start + datetime.timedelta(hours=n), end=start + datetime.timedelta(hours=n + 1), site="tst",
                 enclosure="doma", telescope="1m0a", reason=f"row {n}")
        for n in range(120)
    )  # fmt: skip
    response = client.get(PAGE, {"site": "tst", "page": "2"})
    content = response.content.decode()
    assert "120 downtimes; showing 51–100" in content
    found = links(response)
    for label, page in (("First", None), ("Previous", "1"), ("1", "1"), ("3", "3"), ("Next", "3"), ("Last", "3")):
        query = parse_qs(urlsplit(found[label]).query)
        assert query.get("site") == ["tst"], label
        assert query.get("page") == ([page] if page else ["1"]), label
    assert '<span class="current" aria-current="page">2</span>' in content
    assert len(table_rows(response)) == 50
    last = client.get(PAGE, {"site": "tst", "page": "3"})
    assert "showing 101–120" in last.content.decode() and "Next" not in links(last)


def test_active_rows_are_highlighted_and_marked(client):
    now = timezone.now()
    DowntimeFactory(start=now - datetime.timedelta(hours=1), end=now + datetime.timedelta(hours=1), reason="now")
    DowntimeFactory(start=now + datetime.timedelta(days=1), end=now + datetime.timedelta(days=2), reason="later")
    content = client.get(PAGE).content.decode()
    assert re.search(r'<tr class="active">\s*<td class="time">.*?<span class="badge">active</span>', content, re.S)
    assert content.count('<tr class="active">') == 1
    assert [row[-1] for row in table_rows(client.get(PAGE, {"active_now": "true"}))] == ["now"]


def test_sort_links_on_start_and_end(client, abcd):
    found = links(client.get(PAGE))
    assert parse_qs(urlsplit(found["Start (UTC)"]).query) == {"order": ["start"]}
    assert parse_qs(urlsplit(found["End (UTC)"]).query) == {"order": ["end"]}
    found = links(client.get(PAGE, {"order": "start", "site": "lco", "page": "1"}))
    assert parse_qs(urlsplit(found["Start (UTC)"]).query) == {"order": ["-start"], "site": ["lco"]}


def test_form_fields_and_choices(client, abcd, topology):
    DowntimeFactory(site="old", enclosure="domz", telescope="0m4z")
    content = client.get(PAGE, {"site": ["lco", "old"], "instrument_type": "all"}).content.decode()
    for label in ("Starts after (UTC)", "Starts before (UTC)", "Ends after (UTC)", "Ends before (UTC)", "Site",
                  "Enclosure", "Telescope", "Instrument type", "Reason contains", "Reason exact", "Order"):  # fmt: skip
        assert f">{label}</label>" in content, label
    site_select = content.split('<select id="id_site" name="site" multiple>', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="([^"]*)"', site_select) == ["lco", "old", "tst"]  # configdb ∪ stored, sorted
    assert re.findall(r'<option value="([^"]*)" selected', site_select) == ["lco", "old"]
    instruments = content.split('name="instrument_type" multiple>', 1)[1].split("</select>", 1)[0]
    assert '<option value="all" selected>All instruments (whole telescope)</option>' in instruments
    assert f'<option value="{SINISTRO}">' in instruments
    assert '<button type="submit">Filter</button>' in content
    assert '<a class="reset" href="/downtimes/">Reset</a>' in content


def test_quick_links_and_export_links(client, abcd):
    with time_machine.travel(datetime.datetime(2026, 5, 4, 3, 2, 1, tzinfo=datetime.UTC), tick=False):
        found = links(client.get(PAGE))
    assert found["Not yet ended"] == "/downtimes/"
    assert found["Active now"] == "/downtimes/?active_now=true"
    assert found["All"] == "/downtimes/?ends_after="
    assert parse_qs(urlsplit(found["Download CSV"]).query) == {
        "ends_after": ["2026-05-04 03:02:01"],
        "format": ["csv"],
        "order": ["start"],
    }
    assert urlsplit(found["iCalendar feed"]).path == "/downtimes/api/"
    assert parse_qs(urlsplit(found["iCalendar feed"]).query) == {"format": ["ics"]}
    assert parse_qs(urlsplit(found["API"]).query) == {"ends_after": ["2026-05-04 03:02:01"]}
    found = links(client.get(PAGE, {"site": "lco", "page": "1"}))
    assert parse_qs(urlsplit(found["iCalendar feed"]).query) == {"site": ["lco"], "format": ["ics"]}


def test_a_pages_query_string_works_on_the_api(client, api_client, abcd, topology):
    query = {"site": "lco", "ends_after": "2029-01-01 00:00:00", "reason": "weekly"}
    assert [row[-1] for row in table_rows(client.get(PAGE, query))] == ["maintenance weekly"]
    assert [item["reason"] for item in api_client.get("/downtimes/api/", query).json()["results"]] == [
        "maintenance weekly"
    ]


def test_staff_get_add_and_edit_links(client, abcd, make_user):
    assert "Add downtime" not in links(client.get(PAGE))
    staff = Client()
    staff.force_login(make_user("staffer", staff=True))
    response = staff.get(PAGE)
    assert links(response)["Add downtime"] == "/admin/downtimes/downtime/add/"
    for name in ("A", "B", "C"):
        assert f'<a href="/admin/downtimes/downtime/{abcd[name].id}/change/">Edit</a>' in response.content.decode()


def test_the_page_knows_configdb_codes_on_a_cold_cache(client, topology):
    assert client.get(PAGE, {"site": "lco"}).status_code == 200  # no lco row stored; configdb knows it
    assert topology.count() == 1


def test_the_page_renders_with_configdb_down(client, abcd, topology):
    topology.status = 500
    response = client.get(PAGE, {"site": "lco"})
    assert response.status_code == 200
    assert len(table_rows(response)) == 2


def test_the_base_layout_carries_the_branding(client, settings):
    settings.NAVBAR_TITLE_TEXT = "Example Observatory Archive"
    settings.NAVBAR_TITLE_URL = "https://archive.example.org/"
    content = client.get(PAGE).content.decode()
    assert '<a class="brand" href="https://archive.example.org/">Example Observatory Archive</a>' in content
    assert "<script" not in content and "https://cdn" not in content and "<link" not in content
