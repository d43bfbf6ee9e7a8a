"""The admin: split date and time validated as the API, audit via admin, search, filters, events."""

import datetime
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from downtimes.models import Downtime, DowntimeEvent
from downtimes.tests.conftest import SINISTRO, utc
from downtimes.tests.factories import DowntimeFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/downtimes/downtime/"
UNAVAILABLE = (
    "The configuration database cannot be reached and no copy of its telescope list is cached, so this downtime "
    "cannot be checked. Try again in a few minutes."
)


@pytest.fixture
def staff_browser(make_user):
    """A staff user without any model permission: the API's rule says staff may manage downtimes."""
    client = Client()
    client.force_login(make_user("staffer", staff=True))
    return client


def form(start: datetime.datetime, end: datetime.datetime, **fields) -> dict:
    return {
        "start_0": start.strftime("%Y-%m-%d"),
        "start_1": start.strftime("%H:%M:%S"),
        "end_0": end.strftime("%Y-%m-%d"),
        "end_1": end.strftime("%H:%M:%S"),
        "site": "tst",
        "enclosure": "doma",
        "telescope": "1m0a",
        "instrument_type": "",
        "reason": "Maintenance",
        **fields,
    }


def two_days_ago() -> datetime.datetime:
    return (timezone.now() - datetime.timedelta(days=2)).replace(microsecond=0)


# --- the reference's admin tests, ported -----------------------------------------------------------------------------
def test_add_through_the_split_date_and_time_widgets(staff_browser, topology):
    start = two_days_ago()
    response = staff_browser.post(f"{ADD}add/", form(start, start + datetime.timedelta(hours=1)))
    assert response.status_code == 302, response.content.decode()[:3000]
    downtime = Downtime.objects.get()
    assert (downtime.start, downtime.end) == (start, start + datetime.timedelta(hours=1))
    assert (downtime.site, downtime.enclosure, downtime.telescope, downtime.reason) == (
        "tst",
        "doma",
        "1m0a",
        "Maintenance",
    )
    assert downtime.created_by.username == "staffer"
    event = DowntimeEvent.objects.get()
    assert (event.action, event.via, event.username) == ("created", "admin", "staffer")


def test_end_before_start_creates_nothing_and_says_why(staff_browser, topology):
    start = two_days_ago()
    response = staff_browser.post(f"{ADD}add/", form(start, start - datetime.timedelta(hours=1)))
    assert response.status_code == 200
    assert "End time must be after start time" in response.content.decode()
    assert response.content.decode().count("End time must be after start time") == 1
    assert not Downtime.objects.exists()


# --- our admin -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["start_0", "start_1", "end_0", "end_1"])
def test_a_missing_date_or_time_is_a_field_error_not_a_500(staff_browser, topology, missing):
    start = two_days_ago()
    response = staff_browser.post(f"{ADD}add/", {**form(start, start + datetime.timedelta(hours=1)), missing: ""})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {missing[:-2]: ["This field is required."]}
    assert not Downtime.objects.exists()


def test_the_combination_and_choice_messages(staff_browser, topology):
    start = two_days_ago()
    response = staff_browser.post(
        f"{ADD}add/", form(start, start + datetime.timedelta(hours=1), site="lco", enclosure="doma", telescope="2m0a")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "The site, enclosure, telescope, and instrument_type combination does not exist in Configdb"
    ]
    response = staff_browser.post(f"{ADD}add/", form(start, start + datetime.timedelta(hours=1), site="nop"))
    assert "site" in response.context["adminform"].form.errors
    assert not Downtime.objects.exists()


def test_configdb_down_with_nothing_cached_rerenders_the_form_with_the_503_text(staff_browser, topology):
    topology.status = 503
    start = two_days_ago()
    response = staff_browser.get(f"{ADD}add/")
    assert response.status_code == 200
    response = staff_browser.post(f"{ADD}add/", form(start, start + datetime.timedelta(hours=1)))
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [UNAVAILABLE]
    assert not Downtime.objects.exists()


def test_codes_are_selects_from_the_topology_keeping_a_stored_value(staff_browser, topology):
    retired = DowntimeFactory(site="old", enclosure="domz", telescope="0m4z")
    response = staff_browser.get(f"{ADD}add/")
    form_ = response.context["adminform"].form
    assert [value for value, _ in form_.fields["site"].choices] == ["", "lco", "tst"]
    assert form_.fields["instrument_type"].choices[0] == ("", "— all instruments —")
    assert (SINISTRO, SINISTRO) in form_.fields["instrument_type"].choices
    assert form_.fields["start"].label == "Start (UTC)"
    content = response.content.decode()
    assert 'name="start_0"' in content and 'name="start_1"' in content
    change = staff_browser.get(f"{ADD}{retired.id}/change/").context["adminform"].form
    assert "old" in [value for value, _ in change.fields["site"].choices]


def test_change_and_delete_go_through_the_services(staff_browser, topology):
    downtime = DowntimeFactory(start=utc(2030, 1, 1), end=utc(2030, 1, 1, 2))
    data = form(downtime.start, downtime.end, reason="Mirror recoating")
    response = staff_browser.post(f"{ADD}{downtime.id}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    downtime.refresh_from_db()
    assert downtime.reason == "Mirror recoating" and downtime.modified_by.username == "staffer"
    event = DowntimeEvent.objects.get()
    assert (event.action, event.via, event.changes) == (
        "updated",
        "admin",
        {"reason": ["Maintenance", "Mirror recoating"]},
    )
    change_page = staff_browser.get(f"{ADD}{downtime.id}/change/").content.decode()
    assert "<th>At (UTC)</th>" in change_page and "updated" in change_page  # the events inline
    response = staff_browser.post(f"{ADD}{downtime.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Downtime.objects.exists()
    assert DowntimeEvent.objects.latest("id").action == "deleted"


def test_bulk_delete_records_every_deletion(staff_browser):
    rows = [DowntimeFactory() for _ in range(3)]
    response = staff_browser.post(
        ADD, {"action": "delete_selected", "_selected_action": [row.id for row in rows], "post": "yes"}
    )
    assert response.status_code == 302
    assert not Downtime.objects.exists()
    assert sorted(
        DowntimeEvent.objects.filter(action="deleted", via="admin").values_list("downtime_pk", flat=True)
    ) == [row.id for row in rows]


def test_changelist_columns_search_and_filters(staff_browser, make_user):
    now = timezone.now()
    booker = make_user("booker")
    active = DowntimeFactory(start=now - datetime.timedelta(hours=1), end=now + datetime.timedelta(hours=1),
                             reason="r" * 100, created_by=booker)  # fmt: skip
    upcoming = DowntimeFactory(start=now + datetime.timedelta(days=1), end=now + datetime.timedelta(days=2),
                               site="lco", instrument_type=SINISTRO, reason="Recoating")  # fmt: skip
    past = DowntimeFactory(start=now - datetime.timedelta(days=3), end=now - datetime.timedelta(days=2), reason="Old")

    def ids(params):
        response = staff_browser.get(ADD, params)
        assert response.status_code == 200
        return sorted(row.id for row in response.context["cl"].result_list)

    content = staff_browser.get(ADD).content.decode()
    assert "r" * 79 + "…" in content and "r" * 80 not in content
    assert re.search(r'<td class="field-instrument">all</td>', content)
    assert ids({"q": "recoat"}) == [upcoming.id]
    assert ids({"q": "booker"}) == [active.id]
    assert ids({"q": str(past.id)}) == [past.id]
    assert ids({"q": "lco"}) == [upcoming.id]
    assert ids({"state": "active"}) == [active.id]
    assert ids({"state": "upcoming"}) == [upcoming.id]
    assert ids({"state": "past"}) == [past.id]
    assert ids({"instrument_type": "__all__"}) == sorted([active.id, past.id])
    assert ids({"instrument_type": SINISTRO}) == [upcoming.id]
    assert ids({"site": "lco"}) == [upcoming.id]
    assert "All instruments" in content and "Active now" in content


def test_events_are_read_only_and_searchable(staff_browser, superuser):
    Client().force_login(superuser)
    event = DowntimeEvent.objects.create(
        downtime_pk=77, action="created", at=timezone.now(), username="jdoe", via="api", snapshot={}, changes={}
    )
    DowntimeEvent.objects.create(downtime_pk=78, action="deleted", at=timezone.now(), username="other", via="admin")
    events = "/admin/downtimes/downtimeevent/"
    response = staff_browser.get(events, {"q": "77"})
    assert [row.id for row in response.context["cl"].result_list] == [event.id]
    assert [row.username for row in staff_browser.get(events, {"q": "jdoe"}).context["cl"].result_list] == ["jdoe"]
    assert len(staff_browser.get(events, {"action__exact": "deleted"}).context["cl"].result_list) == 1
    assert staff_browser.get(f"{events}add/").status_code == 403
    assert staff_browser.get(f"{events}{event.id}/delete/").status_code == 403
    detail = staff_browser.get(f"{events}{event.id}/change/")
    assert detail.status_code == 200 and 'type="submit" value="Save"' not in detail.content.decode()


def test_non_staff_cannot_use_the_downtime_admin(make_user):
    client = Client()
    client.force_login(make_user("observer"))
    assert client.get(ADD).status_code == 302  # to the admin login


def test_the_list_costs_the_same_queries_for_2_or_12_downtimes(staff_browser, make_user):
    """The creator column comes with the page (list_select_related): no query per row."""
    creator = make_user("planner", staff=True)
    DowntimeFactory.create_batch(2, created_by=creator)
    with CaptureQueriesContext(connection) as few:
        assert staff_browser.get(ADD).status_code == 200
    DowntimeFactory.create_batch(10, created_by=creator)
    with CaptureQueriesContext(connection) as many:
        response = staff_browser.get(ADD)
    assert len(response.context["cl"].result_list) == 12
    assert len(many.captured_queries) == len(few.captured_queries)
