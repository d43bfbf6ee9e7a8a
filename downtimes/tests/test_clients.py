"""The real clients' calls, sent over HTTP to a live server exactly as the scheduler and the portal send
them, and the answers parsed by the clients' own rules."""

import datetime

import pytest
import requests
from django.urls import Resolver404, resolve
from rest_framework.authtoken.models import Token

from downtimes.models import Downtime
from downtimes.tests.conftest import MUSCAT, utc
from downtimes.tests.factories import DowntimeFactory

pytestmark = pytest.mark.django_db(transaction=True)

DOWNTIME_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # what both clients strptime


def scheduler_downtimes(downtime_url: str, start: datetime.datetime, end: datetime.datetime) -> dict:
    """The scheduler's DowntimeInterface: first page only, resources keyed telescope.enclosure.site, lower-cased."""
    if not downtime_url.endswith("/"):
        downtime_url += "/"
    url = downtime_url + "api/?ends_after={}&starts_before={}".format(
        start.strftime("%Y-%m-%d %H:%M:%S"), end.strftime("%Y-%m-%d %H:%M:%S")
    )
    response = requests.get(url, timeout=120)
    if response.status_code != 200:
        return {}  # the scheduler then plans with no downtimes at all
    intervals: dict = {}
    for item in response.json()["results"]:
        resource = ".".join([item["telescope"].lower(), item["enclosure"].lower(), item["site"].lower()])
        instrument_type = item["instrument_type"] or "all"
        intervals.setdefault(resource, {}).setdefault(instrument_type, []).append(
            (
                datetime.datetime.strptime(item["start"], DOWNTIME_DATE_FORMAT),
                datetime.datetime.strptime(item["end"], DOWNTIME_DATE_FORMAT),
            )
        )
    return intervals


def portal_downtimes(downtimedb_url: str) -> list[tuple]:
    """The portal's periodic read: every row on one page, the same six fields, the same parse."""
    response = requests.get(f"{downtimedb_url}api/?limit=10000")
    response.raise_for_status()
    return [
        (
            item["site"],
            item["enclosure"],
            item["telescope"],
            item["instrument_type"],
            datetime.datetime.strptime(item["start"], DOWNTIME_DATE_FORMAT),
            datetime.datetime.strptime(item["end"], DOWNTIME_DATE_FORMAT),
        )
        for item in response.json()["results"]
    ]


@pytest.fixture
def bases(live_server, topology):
    return {
        "scheduler": f"{live_server.url}/downtimes",  # DOWNTIME_URL, no trailing slash: the scheduler adds it
        "portal": f"{live_server.url}/downtimes/",  # DOWNTIMEDB_URL, trailing slash required: it appends api/
    }


@pytest.fixture
def portal_token(live_server, make_user, settings):
    """The booker's token as the portal sends it: a non-staff user's portal API token (pushed through the
    authentication app's /authprofile/addupdateuser/ when this tree has it), else that user's local token, which the
    archive accepts in the same `Authorization: Token <key>` header."""
    try:
        resolve("/authprofile/addupdateuser/")
    except Resolver404:
        return Token.objects.get(user=make_user("rt-booker")).key
    settings.OAUTH_SERVER_KEY = "portal-server-key"
    token = "b" * 40
    body = (
        '{"username": "rt-booker", "is_staff": false, "is_superuser": false, '
        f'"tokens": {{"api_token": "{token}"}}, "proposals": [{{"id": "LCO2030A-001", "current": true}}]}}'
    )
    response = requests.post(
        f"{live_server.url}/authprofile/addupdateuser/",
        data=body,
        headers={"Authorization": "Server portal-server-key"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return token


def test_s1_the_schedulers_window(bases):
    DowntimeFactory(start=utc(2030, 1, 1), end=utc(2030, 1, 1, 2), site="tst", enclosure="doma", telescope="1m0a")
    DowntimeFactory(start=utc(2030, 1, 2), end=utc(2030, 1, 2, 3), enclosure="domb", telescope="2m0a",
                    instrument_type=MUSCAT)  # fmt: skip
    DowntimeFactory(start=utc(2029, 12, 1), end=utc(2029, 12, 2), site="lco")  # outside the window
    intervals = scheduler_downtimes(
        bases["scheduler"], datetime.datetime(2030, 1, 1, 2), datetime.datetime(2030, 1, 2, 0)
    )
    assert intervals == {
        "1m0a.doma.tst": {"all": [(datetime.datetime(2030, 1, 1, 0), datetime.datetime(2030, 1, 1, 2))]},
        "2m0a.domb.tst": {MUSCAT: [(datetime.datetime(2030, 1, 2, 0), datetime.datetime(2030, 1, 2, 3))]},
    }


def test_s1_polling_all_day_is_never_refused(bases):
    DowntimeFactory(start=utc(2030, 1, 10), end=utc(2030, 1, 11))
    for _ in range(30):
        assert scheduler_downtimes(bases["scheduler"], datetime.datetime(2030, 1, 1), datetime.datetime(2030, 2, 1))


def test_p1_the_portals_read_gets_every_row_on_one_page(bases):
    start = utc(2030, 1, 1)
    Downtime.objects.bulk_create(
        Downtime(start=start + datetime.timedelta(hours=n), end=start + datetime.timedelta(hours=n + 1), site="tst",
                 enclosure="doma", telescope="1m0a")
        for n in range(1500)
    )  # fmt: skip
    rows = portal_downtimes(bases["portal"])
    assert len(rows) == 1500
    assert rows[0] == ("tst", "doma", "1m0a", "", datetime.datetime(2030, 1, 1, 0), datetime.datetime(2030, 1, 1, 1))


def test_p2_to_p4_book_find_and_cancel_a_real_time_session(bases, portal_token, make_user):
    headers = {"Authorization": f"Token {portal_token}"}
    api = f"{bases['portal']}api/"
    start = datetime.datetime(2030, 1, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC)
    booking = {
        "site": "tst",
        "enclosure": "doma",
        "telescope": "1m0a",
        "start": start.isoformat(),  # 2030-01-01T10:00:00.123456+00:00
        "end": (start + datetime.timedelta(minutes=30)).isoformat(),
        "reason": "1234567",  # the observation id
    }
    created = requests.post(api, json=booking, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["start"], body["end"], body["instrument_type"]) == ("2030-01-01T10:00:00Z", "2030-01-01T10:30:01Z", "")
    assert created.headers["Location"] == f"{api}{body['id']}/"
    assert any(row[4] == datetime.datetime(2030, 1, 1, 10) for row in portal_downtimes(bases["portal"]))

    found = requests.get(api, params={"site": "tst", "enclosure": "doma", "telescope": "1m0a",
                                      "reason_exact": "1234567"}, headers=headers)  # fmt: skip
    assert found.status_code == 200
    assert found.json()["count"] == 1
    assert found.json()["results"][0]["id"] == body["id"]

    deleted = requests.delete(f"{api}{found.json()['results'][0]['id']}/", headers=headers)
    assert deleted.status_code == 204
    assert requests.get(f"{api}{body['id']}/").status_code == 404


def test_p3_p4_portal_staff_cancel_anothers_booking(bases, portal_token, make_user):
    api = f"{bases['portal']}api/"
    booking = {"site": "lco", "enclosure": "doma", "telescope": "1m0a", "start": "2030-02-01T00:00:00+00:00",
               "end": "2030-02-01T01:00:00+00:00", "reason": "7654321"}  # fmt: skip
    created = requests.post(api, json=booking, headers={"Authorization": f"Token {portal_token}"})
    assert created.status_code == 201
    staff = {"Authorization": f"Token {Token.objects.get(user=make_user('portal-staff', staff=True)).key}"}
    found = requests.get(api, params={"site": "lco", "enclosure": "doma", "telescope": "1m0a",
                                      "reason_exact": "7654321"}, headers=staff).json()  # fmt: skip
    assert found["count"] == 1
    assert requests.delete(f"{api}{found['results'][0]['id']}/", headers=staff).status_code == 204
