"""Writes through /downtimes/api/ and the services: validation order and messages, PUT/PATCH, configdb, audit."""

import datetime

import pytest
import time_machine

from conftest import configdb_site, token_client
from downtimes import services
from downtimes.models import Downtime, DowntimeEvent
from downtimes.tests.conftest import MUSCAT, REFERENCE_SITES, SINISTRO, utc
from downtimes.tests.factories import DowntimeFactory

pytestmark = pytest.mark.django_db

API = "/downtimes/api/"
REFERENCE_POST = {
    "start": "2020-10-10T20:10:10Z",
    "end": "2020-10-10T21:22:22Z",
    "site": "tst",
    "enclosure": "doma",
    "telescope": "1m0a",
}
UNAVAILABLE = {
    "detail": "The configuration database cannot be reached and no copy of its telescope list is cached, so this "
    "downtime cannot be checked. Try again in a few minutes."
}
COMBINATION = {
    "non_field_errors": ["The site, enclosure, telescope, and instrument_type combination does not exist in Configdb"]
}
ORDER = {"non_field_errors": ["End time must be after start time"]}


@pytest.fixture
def observer(make_user):
    return make_user("observer")


@pytest.fixture
def observer_client(observer):
    return token_client(observer)


def assert_nothing_written():
    assert Downtime.objects.count() == 0
    assert DowntimeEvent.objects.count() == 0


# --- the reference's tests, ported -----------------------------------------------------------------------------------
def test_superuser_creates_with_an_empty_instrument_type(superuser_client, topology):
    response = superuser_client.post(API, REFERENCE_POST, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {**REFERENCE_POST, "id": body["id"], "instrument_type": "", "reason": ""}
    assert list(body) == ["id", "start", "end", "site", "enclosure", "telescope", "instrument_type", "reason"]
    assert response["Location"] == f"http://testserver/downtimes/api/{body['id']}/"


def test_anonymous_post_is_401_with_the_token_challenge(api_client, topology):
    response = api_client.post(API, REFERENCE_POST, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == "Token"
    assert_nothing_written()


def test_non_staff_user_creates(observer_client, topology):
    assert observer_client.post(API, REFERENCE_POST, format="json").status_code == 201


@pytest.mark.parametrize("field", ["site", "instrument_type", "enclosure", "telescope"])
def test_unknown_code_is_not_a_valid_choice(superuser_client, topology, field):
    response = superuser_client.post(API, {**REFERENCE_POST, field: "nop"}, format="json")
    assert response.status_code == 400
    assert response.json() == {field: ['"nop" is not a valid choice.']}
    assert_nothing_written()


@pytest.mark.parametrize(
    "codes",
    [
        {"site": "lco", "enclosure": "domb", "telescope": "2m0a"},
        {"site": "lco", "enclosure": "doma", "telescope": "2m0a", "instrument_type": SINISTRO},
        {"site": "tst", "enclosure": "doma", "telescope": "1m0a", "instrument_type": MUSCAT},
        {"site": "tst", "enclosure": "domc", "telescope": "2m0a"},
    ],
)
def test_combinations_that_configdb_does_not_have(superuser_client, topology, codes):
    response = superuser_client.post(API, {**REFERENCE_POST, **codes}, format="json")
    assert response.status_code == 400
    assert response.json() == COMBINATION
    assert_nothing_written()


def test_swapped_and_equal_times(superuser_client, topology):
    swapped = {**REFERENCE_POST, "start": REFERENCE_POST["end"], "end": REFERENCE_POST["start"]}
    for body in (swapped, {**REFERENCE_POST, "end": REFERENCE_POST["start"]}):
        response = superuser_client.post(API, body, format="json")
        assert (response.status_code, response.json()) == (400, ORDER)
    assert_nothing_written()


# --- our input rules -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "times",
    [
        {"end": "9999-12-31T23:59:59.5Z"},
        {"end": "9999-12-31T23:59:59-05:00"},
        {"start": "0001-01-01T00:00:00+05:00"},
    ],
)
def test_times_at_the_calendars_edge_are_a_400(superuser_client, topology, times):
    response = superuser_client.post(API, {**REFERENCE_POST, **times}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == list(times)
    assert not Downtime.objects.exists()


def test_the_last_whole_second_of_the_calendar_is_a_valid_end(superuser_client, topology):
    response = superuser_client.post(API, {**REFERENCE_POST, "end": "9999-12-31T23:59:59Z"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["end"] == "9999-12-31T23:59:59Z"


@pytest.mark.parametrize(
    ("start", "end", "stored"),
    [
        ("2031-01-01T02:00:00+02:00", "2031-01-01T03:00:00+02:00", ("2031-01-01T00:00:00Z", "2031-01-01T01:00:00Z")),
        ("2031-01-01 00:00", "2031-01-01 01:30", ("2031-01-01T00:00:00Z", "2031-01-01T01:30:00Z")),
        ("2031-01-01", "2031-01-02", ("2031-01-01T00:00:00Z", "2031-01-02T00:00:00Z")),
        # Python isoformat() with microseconds, as the portal sends: rounded outward to whole seconds.
        (
            "2030-01-01T10:00:00.700000+00:00",
            "2030-01-01T11:00:00.200000+00:00",
            ("2030-01-01T10:00:00Z", "2030-01-01T11:00:01Z"),
        ),
        ("2030-01-01T10:00:00Z", "2030-01-01T10:00:00.5Z", ("2030-01-01T10:00:00Z", "2030-01-01T10:00:01Z")),
    ],
)
def test_time_input_forms(superuser_client, topology, start, end, stored):
    response = superuser_client.post(API, {**REFERENCE_POST, "start": start, "end": end}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["start"], response.json()["end"]) == stored
    downtime = Downtime.objects.get()
    assert downtime.start.microsecond == downtime.end.microsecond == 0
    assert superuser_client.get(f"{API}{downtime.id}/").json()["end"] == stored[1]


def test_posted_id_created_and_unknown_keys_are_ignored(superuser_client, topology):
    body = {**REFERENCE_POST, "id": 4242, "created": "2000-01-01T00:00:00Z", "modified": "x", "colour": "blue"}
    response = superuser_client.post(API, body, format="json")
    assert response.status_code == 201
    assert response.json()["id"] != 4242
    assert Downtime.objects.get().created.year > 2000


def test_explicit_empty_instrument_type_and_trimmed_reason(superuser_client, topology):
    response = superuser_client.post(
        API, {**REFERENCE_POST, "instrument_type": "", "reason": "  Maintenance \n"}, format="json"
    )
    assert response.json()["instrument_type"] == "" and response.json()["reason"] == "Maintenance"


def test_empty_post_names_the_five_fields(superuser_client, topology):
    response = superuser_client.post(API, {}, format="json")
    assert response.status_code == 400
    required = ["This field is required."]
    assert response.json() == dict.fromkeys(("start", "end", "site", "enclosure", "telescope"), required)
    assert topology.count() == 0  # nothing to check against configdb


def test_shape_and_choice_errors_are_reported_together(superuser_client, topology):
    response = superuser_client.post(API, {**REFERENCE_POST, "start": "soon", "site": "nop"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "start": [
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
        ],
        "site": ['"nop" is not a valid choice.'],
    }


@pytest.mark.parametrize(
    ("change", "body"),
    [
        ({"reason": "x" * 3001}, {"reason": ["Ensure this field has no more than 3000 characters."]}),
        ({"site": "lcoo"}, {"site": ["Ensure this field has no more than 3 characters."]}),
        ({"enclosure": "d" * 201}, {"enclosure": ["Ensure this field has no more than 200 characters."]}),
        ({"instrument_type": None}, {"instrument_type": ["This field may not be null."]}),
        ({"reason": None}, {"reason": ["This field may not be null."]}),
        ({"site": ""}, {"site": ["This field may not be blank."]}),
        ({"end": None}, {"end": ["This field may not be null."]}),
    ],
)
def test_length_and_null_errors(superuser_client, topology, change, body):
    response = superuser_client.post(API, {**REFERENCE_POST, **change}, format="json")
    assert (response.status_code, response.json()) == (400, body)
    assert_nothing_written()


def test_form_and_multipart_bodies(superuser_client, topology):
    assert superuser_client.post(API, REFERENCE_POST).status_code == 201  # multipart
    encoded = "&".join(f"{key}={value}" for key, value in REFERENCE_POST.items())
    response = superuser_client.post(API, encoded, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 201
    assert superuser_client.post(API, [REFERENCE_POST], format="json").status_code == 400


def test_codes_are_checked_for_shape_only_without_configdb(superuser_client, settings):
    settings.CONFIGDB_URL = ""
    response = superuser_client.post(API, {**REFERENCE_POST, "site": "zzz", "telescope": "9m9"}, format="json")
    assert response.status_code == 201
    response = superuser_client.post(API, {**REFERENCE_POST, "enclosure": "dom a"}, format="json")
    assert response.json() == {"enclosure": ['"dom a" is not a valid choice.']}


# --- configdb behind the writes --------------------------------------------------------------------------------------
def test_configdb_down_with_nothing_cached_is_a_503_with_retry_after(superuser_client, topology):
    topology.status = 502
    response = superuser_client.post(API, REFERENCE_POST, format="json")
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "60"
    assert_nothing_written()


@pytest.mark.parametrize("failure", ["hang", "refused", "malformed"])
def test_every_kind_of_outage_is_a_503_never_a_500(superuser_client, topology, settings, failure):
    settings.CONFIGDB_TIMEOUT_SECONDS = 1
    if failure == "hang":
        topology.hang_seconds = 5
    elif failure == "refused":
        settings.CONFIGDB_URL = topology.refused_url()
    else:
        topology.body = b'{"results": [{"code": "tst", "enclosure_set": [}'
    response = superuser_client.post(API, REFERENCE_POST, format="json")
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)


def test_stale_copy_serves_writes_during_an_outage(superuser_client, topology, settings):
    settings.CONFIGDB_CACHE_SECONDS = 60
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        assert superuser_client.post(API, REFERENCE_POST, format="json").status_code == 201
        traveller.shift(120)
        topology.status = 500
        assert superuser_client.post(API, REFERENCE_POST, format="json").status_code == 201
        assert superuser_client.post(API, {**REFERENCE_POST, "site": "nop"}, format="json").status_code == 400
    assert topology.count() == 2


def test_one_fetch_serves_many_checks(superuser_client, topology):
    for _ in range(5):
        superuser_client.post(API, REFERENCE_POST, format="json")
    superuser_client.post(API, {**REFERENCE_POST, "site": "nop"}, format="json")
    assert topology.count() == 1


def test_a_new_site_is_accepted_after_the_ttl_without_a_restart(superuser_client, topology, settings):
    settings.CONFIGDB_CACHE_SECONDS = 900
    new_site = {**REFERENCE_POST, "site": "elp", "enclosure": "doma", "telescope": "1m0a"}
    with time_machine.travel(1_900_000_000, tick=False) as traveller:
        assert superuser_client.post(API, new_site, format="json").status_code == 400
        topology.sites = [*REFERENCE_SITES, configdb_site("elp", {"doma": {"1m0a": [SINISTRO]}})]
        traveller.shift(901)
        assert superuser_client.post(API, new_site, format="json").status_code == 201


def test_reads_never_need_configdb(api_client, topology, abcd):
    topology.status = 500
    assert api_client.get(API).status_code == 200
    assert api_client.get(f"{API}{abcd['A'].id}/").status_code == 200
    assert api_client.get("/downtimes/").status_code == 200
    assert topology.count() <= 1


# --- PUT and PATCH ---------------------------------------------------------------------------------------------------
@pytest.fixture
def stored(superuser, topology):
    return DowntimeFactory(
        start=utc(2030, 1, 1), end=utc(2030, 1, 1, 2), instrument_type=SINISTRO, reason="Mirror", created_by=superuser
    )


def test_put_requires_the_post_fields_and_keeps_omitted_instrument_type_and_reason(superuser_client, stored):
    url = f"{API}{stored.id}/"
    response = superuser_client.put(url, {"reason": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"start", "end", "site", "enclosure", "telescope"}
    body = {**REFERENCE_POST, "start": "2030-05-01T00:00:00Z", "end": "2030-05-01T06:00:00Z"}
    response = superuser_client.put(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {**body, "id": stored.id, "instrument_type": SINISTRO, "reason": "Mirror"}


def test_patch_validates_the_merged_result(superuser_client, stored):
    url = f"{API}{stored.id}/"
    response = superuser_client.patch(url, {"end": "2000-01-01T00:00:00Z"}, format="json")
    assert (response.status_code, response.json()) == (400, ORDER)
    response = superuser_client.patch(url, {"telescope": "2m0a"}, format="json")  # SINISTRO is not on tst/doma/2m0a
    assert (response.status_code, response.json()) == (400, COMBINATION)
    response = superuser_client.patch(url, {"telescope": "2m0a", "instrument_type": MUSCAT}, format="json")
    assert response.status_code == 200
    assert response.json()["telescope"] == "2m0a"


def test_editing_a_retired_telescope_needs_no_configdb(superuser_client, topology, superuser):
    retired = DowntimeFactory(
        start=utc(2030, 1, 1),
        end=utc(2030, 1, 1, 2),
        site="old",
        enclosure="domz",
        telescope="0m4z",
        created_by=superuser,
    )
    topology.status = 500
    url = f"{API}{retired.id}/"
    response = superuser_client.patch(url, {"reason": "Decommissioning", "end": "2030-01-05T00:00:00Z"}, format="json")
    assert response.status_code == 200, response.content
    response = superuser_client.put(
        url,
        {"start": "2030-01-01", "end": "2030-01-06", "site": "old", "enclosure": "domz", "telescope": "0m4z"},
        format="json",
    )
    assert response.status_code == 200
    assert topology.count() == 0
    response = superuser_client.patch(url, {"site": "lco"}, format="json")
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)


def test_a_change_of_nothing_writes_nothing(superuser_client, stored):
    before = Downtime.objects.get(pk=stored.pk).modified
    response = superuser_client.patch(
        f"{API}{stored.id}/", {"reason": "Mirror", "start": "2030-01-01T00:00:00.400000Z"}, format="json"
    )
    assert response.status_code == 200
    assert Downtime.objects.get(pk=stored.pk).modified == before
    assert not DowntimeEvent.objects.exists()


def test_delete_is_204_and_then_404(superuser_client, stored):
    url = f"{API}{stored.id}/"
    response = superuser_client.delete(url)
    assert response.status_code == 204 and response.content == b""
    assert superuser_client.get(url).status_code == 404
    assert superuser_client.delete(url).status_code == 404


# --- audit -----------------------------------------------------------------------------------------------------------
def test_api_writes_record_who_and_what(observer, observer_client, topology):
    response = observer_client.post(API, REFERENCE_POST, format="json", REMOTE_ADDR="192.0.2.7")
    downtime = Downtime.objects.get(pk=response.json()["id"])
    assert downtime.created_by == observer and downtime.modified_by == observer
    url = f"{API}{downtime.id}/"
    observer_client.patch(url, {"end": "2020-10-10T22:00:00Z"}, format="json")
    observer_client.delete(url)
    created, updated, deleted = DowntimeEvent.objects.order_by("id")
    assert (created.action, updated.action, deleted.action) == ("created", "updated", "deleted")
    for event in (created, updated, deleted):
        assert (event.downtime_pk, event.user, event.username, event.via) == (downtime.id, observer, "observer", "api")
    assert created.client_address == "192.0.2.7"
    assert created.snapshot == response.json()
    assert created.changes["site"] == [None, "tst"]
    assert updated.changes == {"end": ["2020-10-10T21:22:22Z", "2020-10-10T22:00:00Z"]}
    assert updated.snapshot["end"] == "2020-10-10T22:00:00Z"
    assert deleted.snapshot == updated.snapshot and deleted.changes == {}


def test_the_client_address_behind_trusted_proxies(observer_client, topology, settings):
    settings.NUM_PROXIES = 1
    observer_client.post(
        API, REFERENCE_POST, format="json", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4"
    )
    assert DowntimeEvent.objects.get().client_address == "198.51.100.4"
    observer_client.post(API, REFERENCE_POST, format="json", HTTP_X_FORWARDED_FOR="not-an-address")
    assert DowntimeEvent.objects.latest("id").client_address is None


def test_history_is_staff_only_filtered_and_newest_first(api_client, superuser_client, observer_client, topology):
    first = superuser_client.post(API, REFERENCE_POST, format="json").json()
    second = observer_client.post(API, REFERENCE_POST, format="json").json()
    superuser_client.patch(f"{API}{first['id']}/", {"reason": "Mirror"}, format="json")
    url = f"{API}history/"
    assert api_client.get(url).status_code == 401
    assert observer_client.get(url).status_code == 403
    body = superuser_client.get(url).json()
    assert body["count"] == 3
    newest = body["results"][0]
    assert newest == {
        "id": newest["id"],
        "downtime": first["id"],
        "action": "updated",
        "at": newest["at"],
        "user": "archive-admin",
        "via": "api",
        "changes": {"reason": ["", "Mirror"]},
        "snapshot": {**first, "reason": "Mirror"},
    }
    assert newest["at"].endswith("Z")

    def ids(params):
        return [event["downtime"] for event in superuser_client.get(url, params).json()["results"]]

    assert ids({"downtime": second["id"]}) == [second["id"]]
    assert ids({"action": "updated"}) == [first["id"]]
    assert ids({"action": ["created", "updated"], "user": "observer"}) == [second["id"]]
    assert ids({"via": "admin"}) == []
    assert ids({"after": "2000-01-01", "before": "2000-01-02"}) == []
    assert len(ids({"after": "2000-01-01"})) == 3
    assert superuser_client.get(url, {"limit": 1}).json()["next"]


def test_services_are_keyword_only_and_atomic(superuser, topology):
    with pytest.raises(TypeError):
        services.downtime_create({"start": utc(2030, 1, 1)})  # type: ignore[misc]
    downtime = services.downtime_create(
        data={
            "start": utc(2030, 1, 1),
            "end": utc(2030, 1, 2),
            "site": "lco",
            "enclosure": "doma",
            "telescope": "1m0a",
        },
        user=superuser,
        via="command",
    )
    assert DowntimeEvent.objects.get().via == "command"
    assert DowntimeEvent.objects.get().client_address is None
    assert downtime.end - downtime.start == datetime.timedelta(days=1)
