"""Exports: CSV equal to the JSON, quoted and formula-safe; iCalendar parsed back with `icalendar`."""

import csv
import datetime
import io
import re

import pytest
import time_machine
from django.utils import timezone
from icalendar import Calendar

from downtimes.models import Downtime
from downtimes.tests.conftest import utc
from downtimes.tests.factories import DowntimeFactory

pytestmark = pytest.mark.django_db

API = "/downtimes/api/"
HEADER = ["id", "start", "end", "site", "enclosure", "telescope", "instrument_type", "reason"]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


def calendar(response) -> Calendar:
    assert response.status_code == 200, response.content
    return Calendar.from_ical(response.content)


# --- CSV -------------------------------------------------------------------------------------------------------------
def test_csv_has_the_header_and_the_json_values_in_the_lists_order(api_client, abcd, topology):
    with time_machine.travel(datetime.datetime(2031, 2, 3, 4, 5, 6, tzinfo=datetime.UTC), tick=False):
        response = api_client.get(API, {"format": "csv", "site": ["tst", "lco"], "ordering": "-start"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="downtimes-20310203T040506Z.csv"'
    rows = csv_rows(response)
    assert rows[0] == HEADER
    expected = api_client.get(API, {"site": ["tst", "lco"], "ordering": "-start"}).json()["results"]
    assert rows[1:] == [[str(item[key]) for key in HEADER] for item in expected]
    assert response.content.count(b"\r\n") == len(rows)  # CRLF after every record
    assert not response.content.startswith(b"\xef\xbb\xbf")  # no BOM


def test_csv_quoting_and_the_formula_guard(api_client, topology):
    texts = [
        'Comma, "quotes" and\nnewline',
        '=HYPERLINK("http://evil")',
        "+1",
        "-2",
        "@SUM(A1)",
        "\tTab",
        "\rCR",
        "Ünïcödé ✓",
    ]
    for text in texts:
        DowntimeFactory(reason=text)
    rows = csv_rows(api_client.get(API, {"format": "csv"}))
    assert [row[-1] for row in rows[1:]] == [
        'Comma, "quotes" and\nnewline',
        '\'=HYPERLINK("http://evil")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tTab",
        "'\rCR",
        "Ünïcödé ✓",
    ]
    assert b'"Comma, ""quotes"" and\nnewline"' in api_client.get(API, {"format": "csv"}).content


def test_csv_by_accept_header_suffix_and_for_one_object(api_client, abcd):
    assert csv_rows(api_client.get(API, HTTP_ACCEPT="text/csv"))[0] == HEADER
    assert len(csv_rows(api_client.get(f"{API}.csv"))) == 5
    rows = csv_rows(api_client.get(f"{API}{abcd['B'].id}/", {"format": "csv"}))
    assert rows == [HEADER, [str(abcd["B"].id), "2030-01-02T00:00:00Z", "2030-01-02T03:00:00Z", "tst", "domb", "2m0a",
                             "2M0-SCICAM-MUSCAT", "Education use"]]  # fmt: skip


def test_csv_cap_and_limit_offset(api_client, abcd, settings):
    settings.DOWNTIMES_EXPORT_MAX_ROWS = 3
    response = api_client.get(API, {"format": "csv"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "This export would hold 4 rows, more than the limit of 3; narrow the filters or use limit and offset."
    }
    assert len(csv_rows(api_client.get(API, {"format": "csv", "site": "tst"}))) == 3
    rows = csv_rows(api_client.get(API, {"format": "csv", "limit": 2, "offset": 1}))
    assert [row[0] for row in rows[1:]] == [str(abcd["B"].id), str(abcd["C"].id)]
    rows = csv_rows(api_client.get(API, {"format": "csv", "limit": 2}))
    assert len(rows) == 3


def test_csv_has_no_default_window(api_client, abcd):
    assert len(csv_rows(api_client.get(API, {"format": "csv"}))) == 5  # D ended nine days ago and is included


def test_export_errors_are_json(api_client, abcd, topology):
    for fmt in ("csv", "ics"):
        response = api_client.get(API, {"format": fmt, "site": "nop"})
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert "site" in response.json()
        missing = api_client.get(f"{API}999999/", {"format": fmt})
        assert (missing.status_code, missing["Content-Type"]) == (404, "application/json")


# --- iCalendar -------------------------------------------------------------------------------------------------------
def test_icalendar_feed(api_client, abcd, settings):
    settings.NAVBAR_TITLE_TEXT = "Example Archive"
    response = api_client.get(API, {"format": "ics"}, HTTP_HOST="archive.example.org:8443")
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'inline; filename="downtimes.ics"'
    body = response.content.decode()
    assert "\r\n" in body and "\n" not in body.replace("\r\n", "")
    for line in (
        "VERSION:2.0",
        "PRODID:-//Example Archive//Downtimes//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Telescope downtimes",
        "X-WR-TIMEZONE:UTC",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
    ):
        assert f"\r\n{line}\r\n" in body, line
    parsed = calendar(response)
    events = {str(event["uid"]): event for event in parsed.walk("VEVENT")}
    a, b = abcd["A"], abcd["B"]
    assert set(events) == {f"downtime-{d.id}@archive.example.org" for d in abcd.values()}
    event = events[f"downtime-{a.id}@archive.example.org"]
    assert event.decoded("dtstart") == utc(2030, 1, 1)
    assert event.decoded("dtend") == utc(2030, 1, 1, 2)
    assert "DTSTART:20300101T000000Z" in body
    assert str(event["summary"]) == "Downtime tst.doma.1m0a: Maintenance"
    assert str(event["location"]) == "tst.doma.1m0a"
    detail = f"http://archive.example.org:8443/downtimes/api/{a.id}/"
    assert str(event["url"]) == detail
    assert str(event["description"]) == f"Maintenance\nInstrument: all instruments\n{detail}"
    assert (str(event["status"]), str(event["transp"])) == ("CONFIRMED", "OPAQUE")
    stored = Downtime.objects.get(pk=a.pk)
    assert event.decoded("last-modified") == stored.modified.replace(microsecond=0)
    assert event.decoded("dtstamp") == stored.modified.replace(microsecond=0)
    assert event.decoded("created") == stored.created.replace(microsecond=0)
    muscat = events[f"downtime-{b.id}@archive.example.org"]
    assert str(muscat["summary"]) == "Downtime tst.domb.2m0a (2M0-SCICAM-MUSCAT): Education use"
    assert "Instrument: 2M0-SCICAM-MUSCAT" in str(muscat["description"])


@pytest.mark.parametrize("fmt", ["ics", "csv"])
def test_writes_answer_in_the_export_format_asked_for(superuser_client, topology, fmt):
    """A create or an update asked for with `?format=ics` (or csv) answers with the downtime in that format."""
    body = {"start": "2031-01-01T00:00:00Z", "end": "2031-01-02T00:00:00Z", "site": "tst", "enclosure": "doma"}
    body |= {"telescope": "1m0a", "reason": "Mirror wash"}
    created = superuser_client.post(f"{API}?format={fmt}", body, format="json")
    assert created.status_code == 201, created.content
    downtime = Downtime.objects.get()
    updated = superuser_client.put(f"{API}{downtime.id}/?format={fmt}", body | {"reason": "Recoat"}, format="json")
    patched = superuser_client.patch(f"{API}{downtime.id}/?format={fmt}", {"reason": "Realign"}, format="json")
    assert (updated.status_code, patched.status_code) == (200, 200), (updated.content, patched.content)
    for response, reason in ((created, "Mirror wash"), (updated, "Recoat"), (patched, "Realign")):
        if fmt == "ics":
            [event] = Calendar.from_ical(response.content).walk("VEVENT")
            assert (str(event["uid"]).split("@")[0], str(event["location"])) == (
                f"downtime-{downtime.id}",
                "tst.doma.1m0a",
            )
            assert str(event["summary"]).endswith(reason)
        else:
            rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
            assert (rows[1][0], rows[1][-1]) == (str(downtime.id), reason)


def test_icalendar_escaping_folding_and_summary(api_client):
    reason = "Dome, shutter; motor \\ gear\nSecond line " + "x" * 300
    downtime = DowntimeFactory(start=timezone.now(), end=timezone.now() + datetime.timedelta(hours=1), reason=reason)
    response = api_client.get(f"{API}{downtime.id}/", {"format": "ics"})
    body = response.content
    assert b"Dome\\, shutter\\; motor \\\\ gear\\nSecond line" in body
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    assert re.search(rb"\r\n [x]", body)  # folded continuation lines
    (event,) = calendar(response).walk("VEVENT")
    assert str(event["description"]).startswith(reason)
    assert str(event["summary"]) == "Downtime tst.doma.1m0a: Dome, shutter; motor \\ gear"


def test_icalendar_summary_keeps_the_first_200_characters_of_the_reason(api_client):
    downtime = DowntimeFactory(start=timezone.now(), end=timezone.now() + datetime.timedelta(hours=1), reason="y" * 500)
    (event,) = calendar(api_client.get(f"{API}{downtime.id}/", {"format": "ics"})).walk("VEVENT")
    assert str(event["summary"]) == "Downtime tst.doma.1m0a: " + "y" * 200


def test_icalendar_default_window_and_filters(api_client, settings):
    settings.DOWNTIMES_ICS_PAST_DAYS = 30
    now = timezone.now()
    recent = DowntimeFactory(start=now - datetime.timedelta(days=31), end=now - datetime.timedelta(days=29))
    DowntimeFactory(start=now - datetime.timedelta(days=40), end=now - datetime.timedelta(days=31))
    future = DowntimeFactory(start=now + datetime.timedelta(days=1), end=now + datetime.timedelta(days=2))

    def uids(params):
        return sorted(str(e["uid"]).split("@")[0] for e in calendar(api_client.get(API, params)).walk("VEVENT"))

    assert uids({"format": "ics"}) == sorted([f"downtime-{recent.id}", f"downtime-{future.id}"])
    assert len(uids({"format": "ics", "ends_before": now.isoformat().replace("+00:00", "Z")})) == 2
    assert uids({"format": "ics", "active_now": "false", "limit": 1, "order": "start"}) == [
        f"downtime-{Downtime.objects.order_by('start').first().id}"
    ]
    assert len(uids({"format": "ics", "limit": 1})) == 1
    assert api_client.get(API, HTTP_ACCEPT="text/calendar")["Content-Type"] == "text/calendar; charset=utf-8"


def test_icalendar_export_cap(api_client, settings):
    settings.DOWNTIMES_EXPORT_MAX_ROWS = 1
    for _ in range(2):
        DowntimeFactory(start=timezone.now(), end=timezone.now() + datetime.timedelta(hours=1))
    response = api_client.get(API, {"format": "ics"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("This export would hold 2 rows, more than the limit of 1")
