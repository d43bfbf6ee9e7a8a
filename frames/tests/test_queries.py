"""GET /frames/: filters and aliases, ordering, spatial searches, pagination, counts, plans; every list's statements."""

import base64
import datetime
import json
import math
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.gis.geos import Polygon
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from conftest import token_client
from frames import selectors
from frames.models import Frame, Thumbnail, Version
from frames.tests.factories import FrameFactory, HeadersFactory, ThumbnailFactory, VersionFactory, box
from frames.tests.shapes import (
    CURSOR_ENVELOPE,
    ITEM_KEYS,
    LEGACY_KEYS,
    LIMIT_ENVELOPE,
    THUMBNAIL_KEYS,
    VERSION_KEYS,
)

pytestmark = pytest.mark.django_db

TOGETHER = {"detail": "ra, dec and radius must be given together."}
COVERS_ERROR = {"covers": ["Error with covers query: Point must be specified with exact format 'POINT(RA DEC)'"]}
DATETIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def get(client, params=None, path="/frames/"):
    return client.get(path, params or {})


def page(client, params=None, path="/frames/") -> dict:
    response = get(client, params, path)
    assert response.status_code == 200, response.content
    return response.json()


def names(client, params=None) -> list[str]:
    """Basenames of the first page, sorted, for filters whose order does not matter."""
    return sorted(item["basename"] for item in page(client, params)["results"])


def ids(client, params=None) -> list[int]:
    """Ids of the first page in the order served."""
    return [item["id"] for item in page(client, params)["results"]]


def bulk_frames(count: int, **fields) -> list[Frame]:
    """`count` frames with one version each, in two statements."""
    frames = Frame.objects.bulk_create([FrameFactory.build(**fields) for _ in range(count)])
    Version.objects.bulk_create([VersionFactory.build(frame=frame) for frame in frames])
    return frames


def link(*pairs: tuple[Frame, Frame]) -> None:
    """Symmetrical related-frame links, one row per direction, as the model keeps them."""
    through = Frame.related_frames.through
    rows = []
    for one, other in pairs:
        rows += [through(from_frame=one, to_frame=other), through(from_frame=other, to_frame=one)]
    through.objects.bulk_create(rows)


def walk(client, url: str, direction: str) -> list[list[int]]:
    """Pages of ids visited by following `direction` links from `url` until there is none."""
    pages = []
    seen_urls = set()
    while url:
        assert url not in seen_urls, "a cursor link repeats"
        seen_urls.add(url)
        response = client.get(url)
        assert response.status_code == 200, response.content
        data = response.json()
        assert set(data) == CURSOR_ENVELOPE
        pages.append([item["id"] for item in data["results"]])
        url = data[direction]
        assert len(pages) < 100
    return pages


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def cursor_token(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# --- what is listed ---------------------------------------------------------------------------------------------


def test_lists_visible_frames_with_a_version_only(api_client):
    FrameFactory(basename="with-version")
    FrameFactory(basename="without-version", version=False)
    FrameFactory(basename="not-yet-public", public_date=at(2999, 1, 1))
    FrameFactory(basename="never-public", public_date=None)
    placeholder = Frame.objects.create(basename="placeholder")
    VersionFactory(frame=placeholder)
    assert names(api_client) == ["with-version"]


@pytest.mark.parametrize("params", [{"id": "123456"}, {"id": "1", "foo": "bar"}, {"format_version": "2", "x": ""}])
def test_unknown_parameters_are_ignored(api_client, params):
    FrameFactory(basename="a")
    FrameFactory(basename="b")
    assert names(api_client, params) == ["a", "b"]


# --- times and days ---------------------------------------------------------------------------------------------


@pytest.fixture
def dated_frames():
    FrameFactory(basename="a", observation_date=at(2024, 5, 1), public_date=at(2024, 6, 1))
    FrameFactory(basename="b", observation_date=at(2024, 5, 2, 12, 30), public_date=at(2024, 6, 2, 8, 15, 30))
    FrameFactory(
        basename="c",
        observation_date=at(2024, 5, 3, 23, 59, 30, 500000),
        public_date=at(2024, 6, 3, 1, 2, 3, 250000),
        observation_day=datetime.date(2024, 5, 3),
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"start": "2024-05-02"}, ["b", "c"]),
        ({"end": "2024-05-02"}, ["a"]),
        ({"start": "2024-05-01", "end": "2024-05-03"}, ["a", "b"]),
        ({"start": "2024-05-02 12:30"}, ["b", "c"]),
        ({"start": "2024-05-02 12:31"}, ["c"]),
        ({"end": "2024-05-02 12:30"}, ["a", "b"]),
        ({"end": "2024-05-02 12:29:59"}, ["a"]),
        ({"start": "2024-05-02 12:30:00", "end": "2024-05-02 12:30:00"}, ["b"]),
        ({"start": "2024-05-02T12:30:00Z"}, ["b", "c"]),
        ({"start": "2024-05-02T12:30:00.000001Z"}, ["c"]),
        ({"start": "2024-05-02T14:30:00+02:00"}, ["b", "c"]),
        ({"start": "2024-05-02T14:30:01+02:00"}, ["c"]),
        ({"end": "2024-05-02T08:30:00-04:00"}, ["a", "b"]),
        ({"start": "2024-05-02T12:30:00"}, ["b", "c"]),  # naive is UTC
        ({"end": "2024-05-03T23:59:30.5Z"}, ["a", "b", "c"]),
        ({"end": "2024-05-03T23:59:30.499Z"}, ["a", "b"]),
        ({"start": "2024-05-04"}, []),
    ],
)
def test_start_and_end_bound_the_observation_date(api_client, dated_frames, params, expected):
    assert names(api_client, params) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"DATE_OBS": "2024-05-02T12:30:00Z"}, ["b"]),
        ({"DATE_OBS": "2024-05-02 12:30"}, ["b"]),
        ({"DATE_OBS": "2024-05-03T23:59:30.500Z"}, ["c"]),
        ({"DATE_OBS": "2024-05-03T23:59:30Z"}, []),
        ({"DATE_OBS": "2024-05-01"}, ["a"]),
        ({"L1PUBDAT": "2024-06-02T08:15:30Z"}, ["b"]),
        ({"L1PUBDAT": "2024-06-03T01:02:03.25Z"}, ["c"]),
        ({"L1PUBDAT": "2024-06-01"}, ["a"]),
        ({"L1PUBDAT": "2024-05-02T12:30:00Z"}, []),
    ],
)
def test_DATE_OBS_and_L1PUBDAT_are_equalities(api_client, dated_frames, params, expected):
    assert names(api_client, params) == expected


@pytest.mark.parametrize("name", ["DAY_OBS", "dayobs"])
@pytest.mark.parametrize(("value", "expected"), [("2024-05-02", ["b"]), ("20240503", ["c"]), ("2024-05-05", [])])
def test_DAY_OBS_and_dayobs_match_the_observing_night(api_client, name, value, expected):
    FrameFactory(basename="a", observation_day=datetime.date(2024, 5, 1))
    FrameFactory(basename="b", observation_day=datetime.date(2024, 5, 2))
    FrameFactory(basename="c", observation_day=datetime.date(2024, 5, 3))
    assert names(api_client, {name: value}) == expected


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({"start": "iamnotadate"}, {"start": ["Enter a valid date/time."]}),
        ({"end": "2024-13-01"}, {"end": ["Enter a valid date/time."]}),
        ({"start": "2024-05-01", "end": "tomorrow"}, {"end": ["Enter a valid date/time."]}),
        ({"DATE_OBS": "yesterday"}, {"DATE_OBS": ["Enter a valid date/time."]}),
        ({"L1PUBDAT": "2024-06-01T25:00:00"}, {"L1PUBDAT": ["Enter a valid date/time."]}),
        ({"DAY_OBS": "2024-02-30"}, {"DAY_OBS": ["Enter a valid date."]}),
        ({"dayobs": "02/05/2024"}, {"dayobs": ["Enter a valid date."]}),
    ],
)
def test_unparseable_dates_are_a_400(api_client, params, body):
    FrameFactory()
    response = get(api_client, params)
    assert response.status_code == 400
    assert response.json() == body


# --- names and targets ------------------------------------------------------------------------------------------


@pytest.fixture
def named_frames():
    FrameFactory(basename="coj1m011-kb05-20150219-0125-e90")
    FrameFactory(basename="coj1m011-kb05-20150219-0126-e91")
    FrameFactory(basename="ogg2m001-ep02-20240501-0001-e00")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"basename": "kb05"}, ["coj1m011-kb05-20150219-0125-e90", "coj1m011-kb05-20150219-0126-e91"]),
        ({"basename": "KB05-2015"}, ["coj1m011-kb05-20150219-0125-e90", "coj1m011-kb05-20150219-0126-e91"]),
        ({"basename": "0125"}, ["coj1m011-kb05-20150219-0125-e90"]),
        ({"basename": "OGG2M001-EP02-20240501-0001-E00"}, ["ogg2m001-ep02-20240501-0001-e00"]),
        ({"basename": "nothing"}, []),
        ({"basename_exact": "coj1m011-kb05-20150219-0125-e90"}, ["coj1m011-kb05-20150219-0125-e90"]),
        ({"basename_exact": "COJ1M011-KB05-20150219-0125-E90"}, []),
        ({"basename_exact": "coj1m011-kb05"}, []),
        (
            {"basename_exact": ["coj1m011-kb05-20150219-0125-e90", "ogg2m001-ep02-20240501-0001-e00", "missing"]},
            ["coj1m011-kb05-20150219-0125-e90", "ogg2m001-ep02-20240501-0001-e00"],
        ),
    ],
)
def test_basename_contains_and_basename_exact(api_client, named_frames, params, expected):
    assert names(api_client, params) == expected


@pytest.fixture
def targeted_frames():
    FrameFactory(basename="m51", target_name="M51")
    FrameFactory(basename="ngc", target_name="NGC 5194")
    FrameFactory(basename="melotte", target_name="Melotte 111")
    FrameFactory(basename="zoe", target_name="Zoe")
    FrameFactory(basename="empty", target_name="")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("m51", ["m51"]), ("51", ["m51", "ngc"]), ("ngc 51", ["ngc"]), ("MELOTTE", ["melotte"]), ("x", [])],
)
def test_OBJECT_contains_case_insensitive(api_client, targeted_frames, value, expected):
    assert names(api_client, {"OBJECT": value}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("m51", ["m51"]),
        ("\uff2d51", ["m51"]),  # fullwidth Ｍ51
        ("\uff4d\uff15\uff11", ["m51"]),  # fullwidth ｍ５１
        ("mélotte", ["melotte"]),
        ("MÉLOTTE 1", ["melotte"]),
        ("Zoë", ["zoe"]),
        ("51", ["m51", "ngc"]),
        ("M52", []),
    ],
)
def test_target_name_contains_case_insensitive_after_anyascii(api_client, targeted_frames, value, expected):
    assert names(api_client, {"target_name": value}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("M51", ["m51"]),
        ("\uff2d51", ["m51"]),
        ("Zoë", ["zoe"]),
        ("m51", []),
        ("M5", []),
        (["M51", "Zoë", "nothing"], ["m51", "zoe"]),
    ],
)
def test_target_name_exact_after_anyascii(api_client, targeted_frames, value, expected):
    assert names(api_client, {"target_name_exact": value}) == expected


@pytest.mark.parametrize("value", ["true", "false", "1", "anything"])
def test_empty_target_name_with_any_value(api_client, targeted_frames, value):
    assert names(api_client, {"empty_target_name": value}) == ["empty"]


def test_submitter_matches_the_header_userid_after_anyascii(api_client):
    HeadersFactory(frame=FrameFactory(basename="by-jdoe"), data={"USERID": "jdoe", "OBJECT": "M51"})
    HeadersFactory(frame=FrameFactory(basename="by-asmith"), data={"USERID": "asmith"})
    HeadersFactory(frame=FrameFactory(basename="no-userid"), data={"OBJECT": "M51"})
    FrameFactory(basename="no-headers")
    assert names(api_client, {"submitter": "jdoe"}) == ["by-jdoe"]
    assert names(api_client, {"submitter": "jdöe"}) == ["by-jdoe"]
    assert names(api_client, {"submitter": "JDOE"}) == []
    assert names(api_client, {"submitter": "jdo"}) == []
    assert names(api_client, {"submitter": "nobody"}) == []


# --- numbers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["EXPTIME", "exposure_time"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [("30", ["e30", "e30.5"]), ("30.25", ["e30.5"]), ("0", ["e10", "e30", "e30.5"]), ("31", []), ("-1e3", None)],
)
def test_exposure_time_is_a_minimum(api_client, name, value, expected):
    FrameFactory(basename="e10", exposure_time=10.0)
    FrameFactory(basename="e30", exposure_time=30.0)
    FrameFactory(basename="e30.5", exposure_time=30.5)
    FrameFactory(basename="enull", exposure_time=None)
    if expected is None:  # a valid number: everything with an exposure time
        expected = ["e10", "e30", "e30.5"]
    assert names(api_client, {name: value}) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXPTIME", "abc"),
        ("exposure_time", "ten"),
        ("RLEVEL", "abc"),
        ("reduction_level", "x1"),
        ("BLKUID", "one"),
        ("observation_id", "12a"),
        ("REQNUM", "abc"),
        ("request_id", "--1"),
    ],
)
def test_unparseable_numbers_are_a_400(api_client, name, value):
    FrameFactory()
    response = get(api_client, {name: value})
    assert response.status_code == 400
    assert response.json() == {name: ["Enter a number."]}


EXACT_PARAMETERS = [
    ("OBSTYPE", "configuration_type", ["EXPOSE", "BIAS", "DARK"], "SKYFLAT"),
    ("configuration_type", "configuration_type", ["EXPOSE", "BIAS", "DARK"], "EXPOS"),
    ("PROPID", "proposal_id", ["LCO2024A-001", "LCO2024A-002", "KEY2020B-003"], "LCO2024A"),
    ("proposal_id", "proposal_id", ["LCO2024A-001", "LCO2024A-002", "KEY2020B-003"], "lco2024a-001"),
    ("INSTRUME", "instrument_id", ["ep02", "fa16", "kb05"], "ep0"),
    ("instrument_id", "instrument_id", ["ep02", "fa16", "kb05"], "EP02"),
    ("SITEID", "site_id", ["ogg", "coj", "lsc"], "tfn"),
    ("site_id", "site_id", ["ogg", "coj", "lsc"], "og"),
    ("TELID", "telescope_id", ["2m0a", "1m0a", "0m4a"], "1m0b"),
    ("telescope_id", "telescope_id", ["2m0a", "1m0a", "0m4a"], "1m0"),
    ("FILTER", "primary_optical_element", ["rp", "V", "gp"], "r"),
    ("primary_optical_element", "primary_optical_element", ["rp", "V", "gp"], "v"),
    ("BLKUID", "observation_id", [53195954, 22, 33], 44),
    ("observation_id", "observation_id", [53195954, 22, 33], 5319595),
    ("REQNUM", "request_id", [296263, 22, 33], 44),
    ("request_id", "request_id", [296263, 22, 33], 29626),
    ("RLEVEL", "reduction_level", [91, 0, 90], 1),
    ("reduction_level", "reduction_level", [91, 0, 90], 9),
]


@pytest.mark.parametrize(("name", "field", "values", "missing"), EXACT_PARAMETERS)
def test_exact_parameters_and_aliases(api_client, name, field, values, missing):
    for letter, value in zip("abc", values, strict=True):
        FrameFactory(basename=letter, **{field: value})
    assert names(api_client, {name: values[0]}) == ["a"]
    assert names(api_client, {name: values[2]}) == ["c"]
    assert names(api_client, {name: missing}) == []
    # Repeating an exact parameter means "any of" (the reference kept only the last value).
    assert names(api_client, {name: [values[0], values[1]]}) == ["a", "b"]
    assert names(api_client, {name: [values[2], missing, values[0]]}) == ["a", "c"]
    if isinstance(values[0], int):
        assert names(api_client, {name: f"000{values[0]}"}) == ["a"]  # zero-padded, as headers give them


@pytest.mark.parametrize("name", ["BLKUID", "observation_id", "REQNUM", "request_id", "RLEVEL", "reduction_level"])
def test_integer_parameters_out_of_the_column_range_match_nothing(api_client, name):
    FrameFactory()
    assert names(api_client, {name: str(10**25)}) == []
    assert names(api_client, {name: [str(10**25), "-5"]}) == []


def test_exact_parameters_combine_with_and(api_client):
    FrameFactory(basename="ogg-ep02", site_id="ogg", instrument_id="ep02")
    FrameFactory(basename="ogg-fa16", site_id="ogg", instrument_id="fa16")
    FrameFactory(basename="coj-ep02", site_id="coj", instrument_id="ep02")
    assert names(api_client, {"SITEID": "ogg", "instrument_id": "ep02"}) == ["ogg-ep02"]
    assert names(api_client, {"site_id": ["ogg", "coj"], "INSTRUME": "fa16"}) == ["ogg-fa16"]


# --- configuration types ------------------------------------------------------------------------------------------


@pytest.fixture
def typed_frames():
    for configuration_type in ("EXPOSE", "SPECTRUM", "BIAS", "DARK", "SKYFLAT", "STANDARD"):
        FrameFactory(basename=configuration_type.lower(), configuration_type=configuration_type)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"exclude_OBSTYPE": ["BIAS", "DARK"]}, ["expose", "skyflat", "spectrum", "standard"]),
        ({"exclude_configuration_type": "BIAS"}, ["dark", "expose", "skyflat", "spectrum", "standard"]),
        ({"exclude_configuration_type": ["BIAS", "SKYFLAT", "GUIDE"]}, ["dark", "expose", "spectrum", "standard"]),
        ({"include_configuration_type": ["BIAS", "DARK"]}, ["bias", "dark"]),
        ({"include_configuration_type": "GUIDE"}, []),
        ({"include_configuration_type": ["BIAS", "DARK"], "exclude_OBSTYPE": "DARK"}, ["bias"]),
        ({"exclude_calibrations": "true"}, ["expose", "spectrum"]),
        ({"exclude_calibrations": "True"}, ["expose", "spectrum"]),
        ({"exclude_calibrations": "false"}, ["bias", "dark", "expose", "skyflat", "spectrum", "standard"]),
        ({"exclude_calibrations": "true", "OBSTYPE": ["EXPOSE", "BIAS"]}, ["expose"]),
    ],
)
def test_configuration_type_lists_and_exclude_calibrations(api_client, typed_frames, params, expected):
    assert names(api_client, params) == expected


@pytest.mark.parametrize("name", ["exclude_OBSTYPE", "exclude_configuration_type", "include_configuration_type"])
@pytest.mark.parametrize("values", [["NOTATYPE"], ["BIAS", "NOTATYPE"]])
def test_a_configuration_type_that_does_not_exist_is_a_400(api_client, name, values):
    FrameFactory()
    response = get(api_client, {name: values})
    assert response.status_code == 400
    assert response.json() == {name: ["Select a valid choice. NOTATYPE is not one of the available choices."]}


# --- public ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", ["public"]), ("1", ["public"]), ("YES", ["public"]), ("false", []), ("False", []), ("0", []), ("no", [])],
)
def test_public_parameter_for_anonymous_callers(api_client, value, expected):
    FrameFactory(basename="public")
    FrameFactory(basename="private", public_date=at(2999, 1, 1))
    assert names(api_client, {"public": value}) == expected


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("public", "/frames/"),
        ("exclude_calibrations", "/frames/"),
        ("include_related_frames", "/frames/"),
        ("include_thumbnails", "/frames/"),
        ("public", "/frames/aggregate/"),
    ],
)
def test_a_flag_in_no_known_spelling_is_a_400(api_client, name, path):
    response = api_client.get(path, {name: "maybe", "start": "2024-05-01", "end": "2024-05-02"})
    assert response.status_code == 400
    assert "is not a flag" in str(response.json())


def test_exclude_calibrations_takes_every_spelling_of_true(api_client):
    FrameFactory(basename="science", configuration_type="EXPOSE")
    FrameFactory(basename="bias", configuration_type="BIAS")
    for value in ("1", "true", "True", "yes", "on"):
        assert names(api_client, {"exclude_calibrations": value}) == ["science"]
    for value in ("0", "false", "no"):
        assert sorted(names(api_client, {"exclude_calibrations": value})) == ["bias", "science"]


# --- ordering -----------------------------------------------------------------------------------------------------

# Five frames a field each; frames 1 and 3 tie wherever the field allows it, so the id tie-breaker shows.
ORDERING_VALUES = {
    "id": [None] * 5,
    "basename": ["frame-c", "frame-a", "frame-e", "frame-b", "frame-d"],
    "observation_date": [
        at(2024, 5, 1, 13),
        at(2024, 5, 1, 11),
        at(2024, 5, 1, 15),
        at(2024, 5, 1, 11),
        at(2024, 5, 1, 12),
    ],
    "primary_optical_element": ["rp", "gp", "zs", "gp", "ip"],
    "configuration_type": ["EXPOSE", "BIAS", "SKYFLAT", "BIAS", "DARK"],
    "proposal_id": ["propc", "propa", "prope", "propa", "propb"],
    "instrument_id": ["ep03", "ep01", "ep05", "ep01", "ep02"],
    "target_name": ["m51", "m31", "m81", "m31", "m42"],
    "reduction_level": [91, 0, 92, 0, 90],
    "exposure_time": [30.0, 1.5, 300.0, 1.5, 10.0],
}
SCRAMBLED_DATES = [at(2024, 5, 2, 4), at(2024, 5, 2, 2), at(2024, 5, 2, 5), at(2024, 5, 2, 1), at(2024, 5, 2, 3)]


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("field", list(ORDERING_VALUES))
def test_each_ordering_field_both_ways(api_client, field, descending):
    frames = []
    for index, value in enumerate(ORDERING_VALUES[field]):
        fields = {"observation_date": SCRAMBLED_DATES[index], "basename": f"frame-{index}"}
        if field != "id":
            fields[field] = value
        frames.append(FrameFactory(**fields))
    key = (lambda f: f.id) if field == "id" else (lambda f: (getattr(f, field), f.id))
    expected = [frame.id for frame in sorted(frames, key=key, reverse=descending)]
    ordering = f"-{field}" if descending else field
    assert ids(api_client, {"ordering": ordering}) == expected
    assert ids(api_client, {"ordering": ordering, "pagination_style": "cursor"}) == expected


@pytest.mark.parametrize("ordering", ["", "public_date", "-site_id", "area", "nonsense", "id,basename", "-"])
def test_unknown_ordering_falls_back_to_newest_first(api_client, ordering):
    frames = [FrameFactory(observation_date=date) for date in SCRAMBLED_DATES]
    expected = [frame.id for frame in sorted(frames, key=lambda f: f.observation_date, reverse=True)]
    assert ids(api_client, {"ordering": ordering}) == expected


def test_default_order_breaks_date_ties_by_id_newest_first(api_client):
    same = at(2024, 5, 1, 12)
    frames = [FrameFactory(observation_date=date) for date in (same, at(2024, 5, 1, 13), same, same)]
    assert ids(api_client) == [frames[1].id, frames[3].id, frames[2].id, frames[0].id]
    assert ids(api_client, {"ordering": "observation_date"}) == [frames[0].id, frames[2].id, frames[3].id, frames[1].id]


# --- spatial ------------------------------------------------------------------------------------------------------

# Four corners at Dec 89 around all RAs: a footprint enclosing the north pole.
AROUND_NORTH_POLE = Polygon(((0, 89), (90, 89), (180, 89), (-90, 89), (0, 89)), srid=4326)
# A footprint from RA 350 to RA 10, stored with longitudes in [-180, 180].
ACROSS_RA_ZERO = Polygon(((-10, -1), (10, -1), (10, 1), (-10, 1), (-10, -1)), srid=4326)


@pytest.mark.parametrize(
    ("covers", "expected"),
    [
        ("POINT(202.47 47.19)", ["m51"]),
        ("POINT(202.6 47.3)", ["m51"]),
        ("POINT(202.7 47.19)", []),
        ("POINT(202.47 47.4)", []),
        ("POINT(-157.53 47.19)", ["m51"]),  # the same place with RA in [-180, 180]
        (" POINT( 202.47   47.19 ) ", ["m51"]),
        ("POLYGON((202.4 47.1, 202.5 47.1, 202.5 47.2, 202.4 47.2, 202.4 47.1))", ["m51"]),
        ("POLYGON((202.4 47.1, 202.7 47.1, 202.7 47.2, 202.4 47.2, 202.4 47.1))", []),
        ("POINT(0 0)", ["across-zero"]),
        ("POINT(355 0.5)", ["across-zero"]),
        ("POINT(360 0)", ["across-zero"]),
        ("POINT(-5 -0.5)", ["across-zero"]),
        ("POINT(340 0)", []),
        ("POINT(180 0)", []),
        ("POINT(0 90)", ["north-pole"]),
        ("POINT(123 89.5)", ["north-pole"]),
        ("POINT(-123 89.3)", ["north-pole"]),
        ("POINT(123 88.5)", []),
    ],
)
def test_covers(api_client, covers, expected):
    FrameFactory(basename="m51", area=box(202.47, 47.19))
    FrameFactory(basename="across-zero", area=ACROSS_RA_ZERO)
    FrameFactory(basename="north-pole", area=AROUND_NORTH_POLE)
    FrameFactory(basename="no-footprint", area=None)
    assert names(api_client, {"covers": covers}) == expected


@pytest.mark.parametrize(
    ("intersects", "expected"),
    [
        ("POLYGON((202.5 47.3, 203 47.3, 203 48, 202.5 48, 202.5 47.3))", ["m51"]),  # overlaps a corner
        ("POLYGON((202.7 47.3, 203 47.3, 203 48, 202.7 48, 202.7 47.3))", []),
        ("POLYGON((200 40, 210 40, 210 50, 200 50, 200 40))", ["m51"]),  # contains the footprint
        ("POINT(202.47 47.19)", ["m51"]),
        ("LINESTRING(202 47.19, 203 47.19)", ["m51"]),
        ("POLYGON((355 -2, 5 -2, 5 -0.5, 355 -0.5, 355 -2))", ["across-zero"]),
        ("POLYGON((-20 0, -9 0, -9 2, -20 2, -20 0))", ["across-zero"]),
        ("POLYGON((30 88, 60 88, 60 89.9, 30 89.9, 30 88))", ["north-pole"]),
        ("POLYGON((10 -89, 20 -89, 20 -88, 10 -88, 10 -89))", []),
    ],
)
def test_intersects(api_client, intersects, expected):
    FrameFactory(basename="m51", area=box(202.47, 47.19))
    FrameFactory(basename="across-zero", area=ACROSS_RA_ZERO)
    FrameFactory(basename="north-pole", area=AROUND_NORTH_POLE)
    FrameFactory(basename="no-footprint", area=None)
    assert names(api_client, {"intersects": intersects}) == expected


@pytest.mark.parametrize(
    "value", ["POINT(1)", "POINT()", "POINT EMPTY", "garbage", "LINESTRING(0 0, 1 1)", "MULTIPOINT((0 0))", "1 2"]
)
def test_bad_covers_is_a_400(api_client, value):
    FrameFactory()
    response = get(api_client, {"covers": value})
    assert response.status_code == 400
    assert response.json() == COVERS_ERROR


@pytest.mark.parametrize("value", ["garbage", "POLYGON((0 0, 1 0))", "POINT(1)", "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"])
def test_bad_intersects_is_a_400(api_client, value):
    FrameFactory()
    response = get(api_client, {"intersects": value})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"intersects"}
    assert len(body["intersects"]) == 1
    assert body["intersects"][0].startswith("Error with intersects query: ")


def pole_edge_latitude(longitude: float, corner_dec: float = 89.0) -> float:
    """Latitude at `longitude` of the great-circle edge between corners 90 degrees apart at `corner_dec`, midway."""
    highest = math.atan(math.tan(math.radians(corner_dec)) / math.cos(math.radians(45)))
    return math.degrees(math.atan(math.tan(highest) * math.cos(math.radians(longitude))))


# (ra, dec, distance to the nearest footprint edge in degrees, footprint)
CONE_CASES = [
    # box(10, 0, 0.15): east edge at RA 10.15, west edge at RA 9.85, on the equator where RA differences are angles
    (11.0, 0.0, 0.85, "equator"),
    (9.0, 0.0, 0.85, "equator"),
    (10.0, 0.0, 0.0, "equator"),
    # box(0.1, 0, 0.05): RA 0.05 to 0.15, seen from the other side of RA 0/360
    (359.9, 0.0, 0.15, "ra-zero"),
    (-0.1, 0.0, 0.15, "ra-zero"),
    # box(0, 89, 0.1): top edge at Dec 89.1; from RA 180 the way is over the pole: 1 + 0.9 degrees
    (180.0, 89.0, 1.9, "near-pole"),
    # around the north pole: the corner at (0, 89), and the edge's midpoint at RA 45 (Dec 89.29, a great circle)
    (0.0, 85.0, 4.0, "around-pole"),
    (45.0, 80.0, pole_edge_latitude(0) - 80.0, "around-pole"),
]


@pytest.fixture
def cone_frames():
    FrameFactory(basename="equator", area=box(10, 0, 0.15))
    FrameFactory(basename="ra-zero", area=box(0.1, 0, 0.05))
    FrameFactory(basename="near-pole", area=box(0, 89, 0.1))
    FrameFactory(basename="around-pole", area=AROUND_NORTH_POLE)
    FrameFactory(basename="no-footprint", area=None)


@pytest.mark.parametrize(("ra", "dec", "distance", "expected"), CONE_CASES)
def test_cone_hits_just_inside_and_misses_just_outside_the_radius(api_client, cone_frames, ra, dec, distance, expected):
    inside = names(api_client, {"ra": ra, "dec": dec, "radius": distance + 0.0005})
    assert expected in inside
    assert "no-footprint" not in inside
    if distance > 0.001:
        outside = names(api_client, {"ra": ra, "dec": dec, "radius": distance - 0.0005})
        assert expected not in outside


def test_cone_across_ra_zero_and_the_pole(api_client, cone_frames):
    assert names(api_client, {"ra": 359.9, "dec": 0, "radius": 0.5}) == ["ra-zero"]
    assert names(api_client, {"ra": 0.1, "dec": 0, "radius": 0.01}) == ["ra-zero"]
    assert names(api_client, {"ra": 200, "dec": 89.9, "radius": 0.01}) == ["around-pole"]
    assert names(api_client, {"ra": 0, "dec": 90, "radius": 1}) == ["around-pole", "near-pole"]
    assert names(api_client, {"ra": 100, "dec": -45, "radius": 10}) == []


def test_frames_without_a_footprint_never_match_a_spatial_filter(api_client):
    FrameFactory(basename="no-footprint", area=None)
    FrameFactory(basename="footprint", area=box(10, 10, 0.5))
    assert names(api_client) == ["footprint", "no-footprint"]
    assert names(api_client, {"covers": "POINT(10 10)"}) == ["footprint"]
    assert names(api_client, {"intersects": "POLYGON((0 0, 20 0, 20 20, 0 20, 0 0))"}) == ["footprint"]
    assert names(api_client, {"ra": 10, "dec": 10, "radius": 10}) == ["footprint"]


@pytest.mark.parametrize(
    "params",
    [
        {"ra": 10},
        {"dec": 10},
        {"radius": 1},
        {"ra": 10, "dec": 10},
        {"ra": 10, "radius": 1},
        {"dec": 10, "radius": 1},
        {"ra": 10, "dec": 10, "radius": ""},
    ],
)
def test_cone_parameters_must_come_together(api_client, params):
    FrameFactory()
    response = get(api_client, params)
    assert response.status_code == 400
    assert response.json() == TOGETHER


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"ra": 360.5, "dec": 0, "radius": 1}, "ra"),
        ({"ra": -180.5, "dec": 0, "radius": 1}, "ra"),
        ({"ra": 10, "dec": 90.5, "radius": 1}, "dec"),
        ({"ra": 10, "dec": -91, "radius": 1}, "dec"),
        ({"ra": 10, "dec": 0, "radius": 0}, "radius"),
        ({"ra": 10, "dec": 0, "radius": -1}, "radius"),
        ({"ra": 10, "dec": 0, "radius": 10.5}, "radius"),
    ],
)
def test_cone_out_of_range_is_a_400_naming_the_parameter(api_client, params, name):
    FrameFactory()
    response = get(api_client, params)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {name}
    assert len(body[name]) == 1
    assert name in body[name][0]


def test_cone_radius_limit_follows_the_setting(api_client, settings):
    settings.CONE_SEARCH_MAX_RADIUS_DEGREES = 2
    FrameFactory()
    assert get(api_client, {"ra": 1, "dec": 1, "radius": 2}).status_code == 200
    response = get(api_client, {"ra": 1, "dec": 1, "radius": 2.5})
    assert response.status_code == 400
    assert set(response.json()) == {"radius"}


@pytest.mark.parametrize(
    "params",
    [
        {"ra": 360, "dec": 90, "radius": 10},
        {"ra": -180, "dec": -90, "radius": 0.0001},
        {"ra": 0, "dec": 0, "radius": 10},
    ],
)
def test_cone_range_bounds_are_accepted(api_client, params):
    FrameFactory()
    assert get(api_client, params).status_code == 200


@pytest.mark.parametrize(("name", "value"), [("ra", "east"), ("dec", "1d"), ("radius", "wide")])
def test_unparseable_cone_values_are_a_400(api_client, name, value):
    params = {"ra": 10, "dec": 10, "radius": 1, name: value}
    response = get(api_client, params)
    assert response.status_code == 400
    assert response.json() == {name: ["Enter a number."]}


# --- limit/offset pagination ----------------------------------------------------------------------------------------


def test_defaults_are_100_a_page_and_at_most_1000(api_client, settings):
    assert settings.PAGINATION_DEFAULT_LIMIT == 100
    assert settings.PAGINATION_MAX_LIMIT == 1000
    frames = bulk_frames(101)
    first = page(api_client)
    assert len(first["results"]) == 100
    assert first["count"] == 101 and first["count_estimated"] is False
    assert first["previous"] is None
    assert query_of(first["next"]) == {"limit": ["100"], "offset": ["100"]}
    last = page(api_client, {"limit": 100, "offset": 100})
    assert [item["id"] for item in last["results"]] == [min(frame.id for frame in frames)]
    assert last["next"] is None
    assert query_of(last["previous"]) == {"limit": ["100"]}
    assert len(page(api_client, {"limit": 5000})["results"]) == 101


def test_limit_is_clamped_to_the_maximum(api_client, settings):
    settings.PAGINATION_MAX_LIMIT = 4
    bulk_frames(6)
    for limit in ("1000", "5", "4"):
        data = page(api_client, {"limit": limit})
        assert len(data["results"]) == 4
        assert query_of(data["next"]) == {"limit": ["4"], "offset": ["4"]}
    assert len(page(api_client, {"limit": 3})["results"]) == 3


@pytest.mark.parametrize("limit", [None, "", "abc", "0", "-3", "2.5"])
def test_invalid_limit_gives_the_default(api_client, settings, limit):
    settings.PAGINATION_DEFAULT_LIMIT = 2
    frames = bulk_frames(5)
    data = page(api_client, {} if limit is None else {"limit": limit})
    newest = sorted(frames, key=lambda f: (f.observation_date, f.id), reverse=True)
    assert [item["id"] for item in data["results"]] == [frame.id for frame in newest[:2]]
    assert query_of(data["next"])["limit"] == ["2"]


@pytest.mark.parametrize("offset", ["", "abc", "-5", "1.5"])
def test_invalid_offset_is_zero(api_client, offset):
    bulk_frames(5)
    expected = page(api_client, {"limit": 2})
    data = page(api_client, {"limit": 2, "offset": offset})
    assert data["results"] == expected["results"]
    assert data["previous"] is None
    assert query_of(data["next"])["offset"] == ["2"]


def test_envelope_and_absolute_links_that_keep_the_other_parameters(api_client):
    frames = bulk_frames(7, site_id="ogg")
    FrameFactory(site_id="coj")
    params = {"site_id": "ogg", "ordering": "id", "limit": 2, "offset": 2, "OBJECT": "M 51"}
    FrameFactory(site_id="ogg", target_name="other")
    Frame.objects.filter(pk__in=[f.pk for f in frames]).update(target_name="M 51")
    data = page(api_client, params)
    assert set(data) == LIMIT_ENVELOPE
    assert [item["id"] for item in data["results"]] == sorted(f.id for f in frames)[2:4]
    for link_name, offset in (("next", ["4"]), ("previous", None)):
        url = data[link_name]
        assert url.startswith("http://testserver/frames/?")
        query = query_of(url)
        assert query.pop("offset", None) == offset
        assert query == {"site_id": ["ogg"], "ordering": ["id"], "limit": ["2"], "OBJECT": ["M 51"]}
    following = api_client.get(data["next"]).json()
    assert [item["id"] for item in following["results"]] == sorted(f.id for f in frames)[4:6]
    assert query_of(following["previous"])["offset"] == ["2"]
    back = api_client.get(following["previous"]).json()
    assert back["results"] == data["results"]
    last = api_client.get(following["next"]).json()
    assert [item["id"] for item in last["results"]] == [max(f.id for f in frames)]
    assert last["next"] is None


def test_results_come_at_any_offset(api_client):
    bulk_frames(3)
    data = page(api_client, {"offset": 50})
    assert data["results"] == []
    assert data["next"] is None
    assert (data["count"], data["count_estimated"]) == (3, False)
    assert query_of(data["previous"]) == {"limit": ["100"]}


# --- cursor pagination --------------------------------------------------------------------------------------------


def test_cursor_envelope(api_client):
    bulk_frames(3)
    data = page(api_client, {"pagination_style": "cursor", "limit": 2})
    assert set(data) == CURSOR_ENVELOPE
    assert data["previous"] is None
    assert len(data["results"]) == 2
    assert data["next"].startswith("http://testserver/frames/?")
    assert query_of(data["next"])["pagination_style"] == ["cursor"]
    last = api_client.get(data["next"]).json()
    assert set(last) == CURSOR_ENVELOPE
    assert last["next"] is None and len(last["results"]) == 1
    assert api_client.get(last["previous"]).json()["results"] == data["results"]


def null_order_key(field: str):
    """PostgreSQL's order: ascending puts NULLs last, descending first; ties by id in the same direction."""
    return lambda frame: (getattr(frame, field) is None, getattr(frame, field) or 0, frame.id)


@pytest.mark.parametrize(
    "ordering", [None, "observation_date", "-exposure_time", "exposure_time", "target_name", "-reduction_level", "id"]
)
def test_cursor_walk_over_equal_values_visits_each_frame_once(api_client, ordering):
    same = at(2024, 5, 1, 12)
    frames = bulk_frames(17, observation_date=same, observation_day=datetime.date(2024, 5, 1), target_name="M51")
    frames += bulk_frames(6, observation_date=at(2024, 5, 1, 13), target_name="M31", exposure_time=None)
    frames += bulk_frames(4, observation_date=at(2024, 5, 1, 11), target_name="M31", reduction_level=0)
    for frame, exposure in zip(frames[:17], [10.0, 30.0, 30.0] * 6, strict=False):
        Frame.objects.filter(pk=frame.pk).update(exposure_time=exposure)
        frame.exposure_time = exposure
    field = (ordering or "-observation_date").lstrip("-")
    descending = (ordering or "-observation_date").startswith("-")
    if field in ("exposure_time", "observation_date", "id"):
        key = null_order_key(field)
    else:
        key = lambda frame: (getattr(frame, field), frame.id)  # noqa: E731
    expected = [frame.id for frame in sorted(frames, key=key, reverse=descending)]
    params = {"pagination_style": "cursor", "limit": 4, "site_id": "ogg"}
    if ordering:
        params["ordering"] = ordering
    first_url = "/frames/?" + "&".join(f"{k}={v}" for k, v in params.items())
    forward = walk(api_client, first_url, "next")
    visited = [frame_id for chunk in forward for frame_id in chunk]
    assert visited == expected
    assert len(set(visited)) == len(frames)
    assert all(len(chunk) == 4 for chunk in forward[:-1]) and 1 <= len(forward[-1]) <= 4
    # From the last page, `previous` walks back through the same pages.
    last = api_client.get(first_url).json()
    while last["next"]:
        last_url = last["next"]
        last = api_client.get(last_url).json()
    backward = walk(api_client, last_url, "previous")
    assert backward == list(reversed(forward))


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        "eyJ",
        cursor_token([1, 2]),
        cursor_token({"v": "2024-05-01T12:00:00+00:00", "id": "7", "d": "n"}),
        cursor_token({"v": "2024-05-01T12:00:00+00:00", "id": 7, "d": "sideways"}),
        cursor_token({"v": "not a date", "id": 7, "d": "n"}),
        cursor_token({"v": {"nested": 1}, "id": 7, "d": "p"}),
        cursor_token({"v": [1], "id": 7, "d": "n"}),
    ],
)
def test_invalid_cursor_is_a_404(api_client, cursor):
    bulk_frames(3)
    response = get(api_client, {"pagination_style": "cursor", "cursor": cursor})
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


@pytest.mark.parametrize(
    ("ordering", "value"),
    [
        ("exposure_time", "not-a-number"),
        ("-reduction_level", "x"),
        ("id", "seven"),
        ("basename", [1]),
        (None, "2024-02-30T00:00:00+00:00"),
        ("observation_date", 1.5e300),
    ],
)
def test_cursor_with_a_value_of_the_wrong_type_is_a_404(api_client, ordering, value):
    bulk_frames(3)
    token = cursor_token({"v": value, "id": 7, "d": "n"})
    params = {"pagination_style": "cursor", "cursor": token, **({"ordering": ordering} if ordering else {})}
    response = get(api_client, params)
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


@pytest.mark.parametrize(
    ("ordering", "value", "rest"),
    [("reduction_level", 10**30, False), ("-id", 10**30, True), ("exposure_time", 1e308, False)],
)
def test_cursor_beyond_the_column_range_is_a_plain_keyset(api_client, ordering, value, rest):
    frames = bulk_frames(3)
    token = cursor_token({"v": value, "id": 10**30, "d": "n"})
    response = get(api_client, {"pagination_style": "cursor", "cursor": token, "ordering": ordering})
    assert response.status_code == 200, response.content
    expected = sorted((frame.id for frame in frames), reverse=True) if rest else []
    assert [item["id"] for item in response.json()["results"]] == expected


# --- counts -------------------------------------------------------------------------------------------------------


def test_small_lists_are_counted_exactly(api_client):
    bulk_frames(5)
    data = page(api_client, {"limit": 2})
    assert data["count"] == 5
    assert data["count_estimated"] is False


@pytest.mark.parametrize(("offset", "limit"), [(0, 3), (4, 3), (7, 1), (10, 1)])
def test_estimated_counts_are_never_below_what_was_served(api_client, settings, offset, limit):
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 0
    bulk_frames(12)
    data = page(api_client, {"offset": offset, "limit": limit})
    assert len(data["results"]) == limit
    assert data["count_estimated"] is True
    assert data["count"] >= offset + len(data["results"]) + 1  # a next page exists, and the count says so
    assert data["next"] is not None


def test_the_last_page_tells_the_exact_count(api_client, settings):
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 0
    bulk_frames(12)
    data = page(api_client, {"offset": 9, "limit": 3})
    assert len(data["results"]) == 3
    assert data["next"] is None
    assert data["count"] == 12
    assert data["count_estimated"] is False


def test_an_offset_past_an_estimate_still_answers(api_client, settings):
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 0
    bulk_frames(12)
    data = page(api_client, {"offset": 40, "limit": 5})
    assert data["results"] == []
    assert data["next"] is None
    assert data["count"] >= 40
    assert data["count_estimated"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"public": "false", "offset": 5},
        {"public": "false", "offset": 5, "force_count": "1"},
        {"RLEVEL": str(10**25), "offset": 5},
        {"request_id": str(10**25), "offset": 5},
    ],
)
def test_a_list_that_can_match_nothing_counts_0_past_its_first_page(api_client, params):
    # These filters compile to "nothing" (no SQL): the count must not ask for any.
    bulk_frames(2)
    data = page(api_client, params)
    assert (data["count"], data["count_estimated"], data["results"]) == (0, False, [])


@pytest.mark.parametrize("ordering", ["exposure_time", "-exposure_time", "basename", "-observation_date", "-id"])
def test_a_small_contains_search_takes_its_pages_and_count_from_one_scan(api_client, ordering):
    # Ties and NULLs where the field allows them: the scan's order must be the ORM's.
    times = [30.0, None, 1.5, 30.0, None, 300.0, 1.5]
    for index, exposure in enumerate(times):
        FrameFactory(basename=f"frame-{index % 3}-{index}", exposure_time=exposure, observation_date=at(2024, 5, 1))
    FrameFactory(basename="other")
    prefix = "-" if ordering.startswith("-") else ""
    expected = list(
        Frame.objects.filter(basename__contains="frame").order_by(ordering, f"{prefix}id").values_list("id", flat=True)
    )
    served = []
    for offset in (0, 3, 6):
        with CaptureQueriesContext(connection) as context:
            data = page(api_client, {"basename": "FRAME", "ordering": ordering, "limit": 3, "offset": offset})
        served += [item["id"] for item in data["results"]]
        assert (data["count"], data["count_estimated"]) == (7, False)
        assert (data["next"] is None) == (offset == 6)
        statements = [query["sql"] for query in context.captured_queries]
        assert sum("WITH matches AS MATERIALIZED" in sql for sql in statements) == 1, statements
        assert not any("count(*) AS n FROM" in sql for sql in statements), statements
    assert served == expected


@pytest.mark.parametrize("params", [{"target_name": "m51"}, {"OBJECT": "m51"}, {"basename": "frame"}])
def test_a_contains_search_with_more_matches_than_its_estimate_falls_back_to_the_estimate(
    api_client, settings, monkeypatch, params
):
    # The planner thought 2; the scan for an exact count stops at the threshold (5) and the page is read on its own.
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 5
    monkeypatch.setattr("archive.pagination.planner_estimate", lambda queryset: 2)
    frames = [FrameFactory(basename=f"frame-{index}", target_name="M51") for index in range(12)]
    with CaptureQueriesContext(connection) as context:
        data = page(api_client, {**params, "limit": 3, "ordering": "id"})
    assert [item["id"] for item in data["results"]] == sorted(frame.id for frame in frames)[:3]
    assert (data["count"], data["count_estimated"]) == (5, True)
    assert data["next"] is not None
    statements = [query["sql"] for query in context.captured_queries]
    assert sum("WITH matches AS MATERIALIZED" in sql for sql in statements) == 1, statements


def test_a_contains_search_whose_scan_timed_out_is_estimated_without_counting_again(api_client, monkeypatch):
    monkeypatch.setattr("archive.pagination.counted_page", lambda queryset, **arguments: None)
    frames = bulk_frames(5, target_name="M51")
    with CaptureQueriesContext(connection) as context:
        data = page(api_client, {"target_name": "m5", "limit": 2, "ordering": "id"})
    assert [item["id"] for item in data["results"]] == sorted(frame.id for frame in frames)[:2]
    assert data["count_estimated"] is True and data["count"] >= 3
    assert not any("count(*) AS n FROM" in query["sql"] for query in context.captured_queries)


def test_other_lists_read_their_page_first_and_count_no_further_than_the_threshold(api_client, settings, monkeypatch):
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 5
    monkeypatch.setattr("archive.pagination.planner_estimate", lambda queryset: 2)
    frames = bulk_frames(12, site_id="ogg")
    with CaptureQueriesContext(connection) as context:
        data = page(api_client, {"site_id": "ogg", "limit": 3, "ordering": "id"})
    assert [item["id"] for item in data["results"]] == sorted(frame.id for frame in frames)[:3]
    assert (data["count"], data["count_estimated"]) == (5, True)
    statements = [query["sql"] for query in context.captured_queries]
    assert not any("WITH matches AS MATERIALIZED" in sql for sql in statements), statements
    assert sum("count(*) AS n FROM" in sql and "LIMIT 5" in sql for sql in statements) == 1, statements
    # Under the threshold, the same count is exact.
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 13
    assert page(api_client, {"site_id": "ogg", "limit": 3})["count"] == 12


@pytest.mark.parametrize("value", ["1", "true", "", "0"])
def test_force_count_from_an_authenticated_user_is_exact(api_client, settings, make_user, value):
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 0
    bulk_frames(12)
    member = token_client(make_user("member", proposals=["LCO2024A-001"]))
    data = page(member, {"limit": 2, "force_count": value})
    assert (data["count"], data["count_estimated"]) == (12, False)
    anonymous = page(api_client, {"limit": 2, "force_count": value})
    assert anonymous["count_estimated"] is True
    assert anonymous["count"] >= 3


@pytest.mark.parametrize(
    ("params", "estimated"),
    [
        ({"request_id": 777}, False),
        ({"REQNUM": 777}, False),
        ({"observation_id": 888}, False),
        ({"BLKUID": 888}, False),
        ({"basename_exact": ["small-0", "small-1", "small-2", "small-3"]}, False),
        ({"start": "2024-05-01", "end": "2024-05-08"}, False),
        ({"start": "2024-05-01", "end": "2024-05-31"}, True),
        ({"start": "2024-05-01", "end": "2024-05-31", "proposal_id": "LCO2024A-001"}, False),
        ({"start": "2024-05-01", "end": "2024-05-31", "PROPID": "LCO2024A-001"}, False),
        ({"start": "2024-05-01", "end": "2024-05-31", "target_name_exact": "M51"}, False),
        # Named by an anonymous caller, any proposal is counted over what they see: the planner's estimate is made
        # over the proposal's proprietary rows too, and would tell their number.
        ({"start": "2024-05-01", "end": "2024-07-31", "proposal_id": "LCO2024A-001"}, False),
        ({"site_id": "ogg"}, True),
    ],
)
def test_the_references_small_queries_are_counted_exactly(api_client, settings, params, estimated):
    settings.PAGINATION_EXACT_COUNT_THRESHOLD = 0
    for index in range(4):
        FrameFactory(
            basename=f"small-{index}", request_id=777, observation_id=888, observation_date=at(2024, 5, 2, index)
        )
    data = page(api_client, {**params, "limit": 2})
    assert data["count_estimated"] is estimated
    if not estimated:
        assert data["count"] == 4
    else:
        assert data["count"] >= 3


# --- statement counts -----------------------------------------------------------------------------------------------


@pytest.fixture
def busy_archive():
    """101 frames with two versions, related frames (one a placeholder) and thumbnails each."""
    frames = bulk_frames(101)
    Version.objects.bulk_create([VersionFactory.build(frame=frame) for frame in frames])
    Thumbnail.objects.bulk_create([ThumbnailFactory.build(frame=frame) for frame in frames])
    placeholder = Frame.objects.create(basename="bias-placeholder")
    link(*[(frame, placeholder) for frame in frames], *zip(frames[::2], frames[1::2], strict=False))
    return frames


def captured(client, params) -> int:
    with CaptureQueriesContext(connection) as context:
        response = get(client, params)
    assert response.status_code == 200, response.content
    return len(context)


def test_list_statements_anonymous(api_client, busy_archive, django_assert_max_num_queries):
    # The worst path: a full page, a planner estimate below the threshold, then an exact count.
    with django_assert_max_num_queries(8):
        data = page(api_client, {"limit": 100})
    assert len(data["results"]) == 100 and data["next"] and data["count"] == 101
    with django_assert_max_num_queries(8):
        page(api_client, {"limit": 100, "covers": "POINT(202.47 47.19)", "ordering": "basename"})


def test_list_statements_with_a_token(busy_archive, make_user, django_assert_max_num_queries):
    client = token_client(make_user("member", proposals=["LCO2024A-001", "OTHER"]))
    with django_assert_max_num_queries(10):
        data = page(client, {"limit": 100})
    assert len(data["results"]) == 100
    with django_assert_max_num_queries(10):
        page(client, {"limit": 100, "force_count": "1"})
    with django_assert_max_num_queries(10):
        page(client, {"limit": 50, "pagination_style": "cursor"})


@pytest.fixture
def callers(api_client, make_user, superuser_client):
    return {
        "anonymous": api_client,
        "member": token_client(make_user("member", proposals=["LCO2024A-001", "OTHER"])),
        "staff": token_client(make_user("operator", proposals=["LCO2024A-001"], staff=True)),
        "superuser": superuser_client,
    }


# A first page of 100 is the rows in one statement, then the count: thumbnails ask the planner's estimate first and,
# the list being this small, count exactly; versions always count exactly. The exact count runs under its own timeout,
# in a savepoint (three statements). A token costs one more (the user, joined with the profile whose proposals decide
# visibility). A cursor page is the rows alone. Counts measured at 101 frames with two versions and a thumbnail each.
@pytest.mark.parametrize(("caller", "first_page", "cursor_page"), [("staff", 5, 2), ("superuser", 5, 2)])
def test_version_list_statements(busy_archive, callers, caller, first_page, cursor_page, django_assert_max_num_queries):
    client = callers[caller]
    with django_assert_max_num_queries(first_page):
        data = page(client, {"limit": 100}, path="/versions/")
    assert len(data["results"]) == 100 and data["next"] and data["count"] == 202
    with django_assert_max_num_queries(first_page):
        assert len(page(client, {"limit": 100, "offset": 100}, path="/versions/")["results"]) == 100
    with django_assert_max_num_queries(cursor_page):
        assert len(page(client, {"limit": 100, "pagination_style": "cursor"}, path="/versions/")["results"]) == 100


@pytest.mark.parametrize(
    ("caller", "first_page", "cursor_page"), [("anonymous", 5, 1), ("member", 6, 2), ("superuser", 6, 2)]
)
def test_thumbnail_list_statements(
    busy_archive, callers, caller, first_page, cursor_page, django_assert_max_num_queries
):
    client = callers[caller]
    with django_assert_max_num_queries(first_page):
        data = page(client, {"limit": 100}, path="/thumbnails/")
    assert len(data["results"]) == 100 and data["next"] and data["count"] == 101
    with django_assert_max_num_queries(cursor_page):
        assert len(page(client, {"limit": 100, "pagination_style": "cursor"}, path="/thumbnails/")["results"]) == 100


def test_single_frame_statements(api_client, busy_archive, django_assert_num_queries):
    frame = busy_archive[0]
    # The frame, then its versions and its links.
    with django_assert_num_queries(3):
        assert api_client.get(f"/frames/{frame.id}/").status_code == 200
    with django_assert_num_queries(1):
        assert api_client.get(f"/frames/{frame.id}/headers/").status_code == 200
    # The related frames carry whether the frame itself is visible; then their versions and links.
    with django_assert_num_queries(3):
        response = api_client.get(f"/frames/{frame.id}/related/")
    assert [item["id"] for item in response.json()] == [busy_archive[1].id]
    # Without related frames to carry it, visibility costs its own query.
    lonely = FrameFactory()
    with django_assert_num_queries(2):
        assert api_client.get(f"/frames/{lonely.id}/related/").json() == []


@pytest.mark.parametrize("extra", [{}, {"include_thumbnails": "true"}, {"include_related_frames": "false"}])
def test_statements_do_not_depend_on_page_size(api_client, busy_archive, extra, django_assert_num_queries):
    one = captured(api_client, {"limit": 1, **extra})
    hundred = captured(api_client, {"limit": 100, **extra})
    assert one == hundred
    cursor_one = captured(api_client, {"limit": 1, "pagination_style": "cursor", **extra})
    with django_assert_num_queries(cursor_one):
        get(api_client, {"limit": 100, "pagination_style": "cursor", **extra})
    # Thumbnails cost exactly their one prefetch; leaving out related frames saves theirs.
    plain = captured(api_client, {"limit": 100})
    expected = plain + (1 if "include_thumbnails" in extra else 0) - (1 if "include_related_frames" in extra else 0)
    assert hundred == expected


def test_statements_with_a_one_frame_archive_equal_a_full_page(api_client, django_assert_num_queries):
    FrameFactory()
    few = captured(api_client, {"include_thumbnails": "true"})
    bulk_frames(99)
    with django_assert_num_queries(few):
        data = page(api_client, {"include_thumbnails": "true"})
    assert len(data["results"]) == 100


# --- index plans ----------------------------------------------------------------------------------------------------


def gist_index_name() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'frames_frame' AND indexdef ILIKE %s",
            ["%USING gist (area)%"],
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return rows[0][0]


def plan_of(params: str, *, ordered: bool = True, keys: bool = False) -> str:
    """EXPLAIN, with sequential scans off, of the page the view reads: frame_list ordered as the view orders it; or
    unordered; or (`keys`) only the ids, as counts read them."""
    query = QueryDict(params)
    queryset = selectors.frame_list(user=AnonymousUser(), params=query)
    if ordered:
        field, descending = selectors.frame_ordering(query)
        prefix = "-" if descending else ""
        queryset = queryset.order_by(f"{prefix}{field}", f"{prefix}id")[:101]
    else:
        queryset = queryset.order_by()
    if keys:
        queryset = queryset.values("pk")
    sql, sql_params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", sql_params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def planned_archive():
    """Enough rows, analysed, that each index is the selective one for its query."""
    bulk_frames(600, area=box(10, 10, 0.1), target_name="NGC 1", proposal_id="LCO2024A-001")
    FrameFactory(
        basename="coj1m011-kb05-20150219-0125-e90",
        target_name="Messier Fifty-One",
        area=box(202.47, 47.19),
        observation_date=at(2015, 2, 19, 13, 56),
        proposal_id="LCOEPO2014B-010",
    )
    with connection.cursor() as cursor:
        # What autovacuum does in a live archive: move the GIN fast-update lists into the trigram indexes, so the
        # planner costs them as it would there (VACUUM itself cannot run inside the test's transaction).
        cursor.execute(
            "SELECT gin_clean_pending_list(indexname::regclass) FROM pg_indexes "
            "WHERE tablename = 'frames_frame' AND indexdef ILIKE '%USING gin%'"
        )
        cursor.execute("ANALYZE frames_frame")
        cursor.execute("ANALYZE frames_version")


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ("covers=POINT(202.47 47.19)", "gist"),
        ("covers=POINT(-157.5 47.2)&ordering=basename", "gist"),
        ("ra=202.47&dec=47.19&radius=0.5", "gist"),
        ("intersects=POLYGON((202 47, 203 47, 203 48, 202 48, 202 47))", "gist"),
        ("basename=kb05-2015", "frame_basename_trgm_idx"),
        ("target_name=messier", "frame_target_trgm_idx"),
        ("OBJECT=fifty", "frame_target_trgm_idx"),
        ("start=2015-02-19&end=2015-02-20", "frame_obsdate_idx"),
        ("start=2015-02-19 13:00&end=2015-02-19 14:00&ordering=-observation_date", "frame_obsdate_idx"),
    ],
)
def test_index_plans(planned_archive, params, index):
    index = gist_index_name() if index == "gist" else index
    plan = plan_of(params)
    assert f" {index} " in plan, plan
    assert "Seq Scan on frames_frame" not in plan, plan


def test_basename_exact_is_an_index_look_up(planned_archive):
    plan = plan_of("basename_exact=coj1m011-kb05-20150219-0125-e90")
    assert re.search(r"Index Scan using \S+ on frames_frame", plan), plan
    assert "Index Cond: ((basename)::text = 'coj1m011-kb05-20150219-0125-e90'::text)" in plan, plan


def test_basename_exact_uses_the_unique_index(planned_archive):
    plan = plan_of("basename_exact=coj1m011-kb05-20150219-0125-e90")
    assert " frame_basename_unique " in plan, plan


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ("covers=POINT(202.47 47.19)", "gist"),
        ("ra=202.47&dec=47.19&radius=0.5", "gist"),
        ("basename=kb05-2015", "frame_basename_trgm_idx"),
    ],
)
def test_count_plans_use_the_same_indexes(planned_archive, params, index):
    index = gist_index_name() if index == "gist" else index
    plan = plan_of(params, ordered=False)
    assert f" {index} " in plan, plan


def test_a_proposals_count_reads_its_index(planned_archive):
    # The count of a proposal over a few weeks (counted exactly) filters on public_date too: the index carries it.
    plan = plan_of("proposal_id=LCOEPO2014B-010&start=2015-02-01&end=2015-03-01", ordered=False, keys=True)
    assert "Index Only Scan using frame_prop_obsdate_idx " in plan, plan


def test_trigram_expressions_keep_fine_statistics():
    # Estimates of contains-searches come from these histograms; 100 buckets made rare names look like 1 % of frames.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attstattarget FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname IN ('frame_basename_trgm_idx', 'frame_target_trgm_idx') AND a.attnum = 1"
        )
        assert dict(cursor.fetchall()) == {"frame_basename_trgm_idx": 1000, "frame_target_trgm_idx": 1000}


# --- shape of an item -----------------------------------------------------------------------------------------------


def test_list_item_keys_and_values(api_client):
    frame = FrameFactory(
        version=False,
        basename="coj1m011-kb05-20150219-0125-e90",
        observation_date=at(2015, 2, 19, 13, 56, 5, 261000),
        observation_day=datetime.date(2015, 2, 19),
        public_date=at(2015, 2, 19, 13, 56, 5),
        area=box(188.3, 12.8, 0.1),
        observation_id=53195954,
        request_id=296263,
        exposure_time=10.0,
        reduction_level=90,
    )
    VersionFactory(frame=frame, extension=".fits")
    newest = VersionFactory(frame=frame, extension=".fits.fz")
    other = FrameFactory(basename="other")
    placeholder = Frame.objects.create(basename="bias-placeholder")
    link((frame, other), (frame, placeholder))
    thumbnail = ThumbnailFactory(frame=frame)
    item = next(i for i in page(api_client)["results"] if i["id"] == frame.id)
    assert set(item) == ITEM_KEYS | {"area", "related_frames"}
    for legacy, name in LEGACY_KEYS.items():
        assert item[legacy] == item[name], legacy
    assert item["observation_date"] == "2015-02-19T13:56:05.261000Z"
    assert item["public_date"] == "2015-02-19T13:56:05Z"
    assert item["observation_day"] == "2015-02-19"
    assert item["observation_id"] == 53195954 and item["request_id"] == 296263
    assert item["exposure_time"] == 10.0 and item["reduction_level"] == 90
    assert sorted(item["related_frames"]) == sorted([other.id, placeholder.id])
    assert item["area"]["type"] == "Polygon"
    assert item["area"]["coordinates"][0][0] == pytest.approx([188.2 - 360, 12.7])
    assert [v["md5"] for v in item["version_set"]] == [newest.md5, frame.version_set.order_by("id")[0].md5]
    assert all(set(v) == VERSION_KEYS for v in item["version_set"])
    assert all(DATETIME_RE.match(v["created"]) and not v["created"].endswith(".000000Z") for v in item["version_set"])
    assert item["url"] == item["version_set"][0]["url"]
    assert item["url"].startswith("http://testserver/")
    assert item["filename"] == "coj1m011-kb05-20150219-0125-e90.fits.fz"

    with_thumbnails = next(
        i for i in page(api_client, {"include_thumbnails": "TRUE"})["results"] if i["id"] == frame.id
    )
    assert set(with_thumbnails) == ITEM_KEYS | {"area", "related_frames", "thumbnails"}
    assert [t["id"] for t in with_thumbnails["thumbnails"]] == [thumbnail.id]
    assert set(with_thumbnails["thumbnails"][0]) == THUMBNAIL_KEYS
    assert with_thumbnails["thumbnails"][0]["frame"] == frame.id


@pytest.mark.parametrize("value", ["false", "False", "FALSE"])
def test_related_frames_absent_when_not_asked(api_client, value):
    FrameFactory(area=None)
    item = page(api_client, {"include_related_frames": value})["results"][0]
    assert set(item) == ITEM_KEYS


@pytest.mark.parametrize(
    ("params", "extra"),
    [
        ({}, set()),
        ({"include_thumbnails": "false"}, set()),
        ({"include_thumbnails": "True"}, {"thumbnails"}),
        ({"include_related_frames": "true"}, set()),
    ],
)
def test_area_absent_without_footprint_and_thumbnails_only_when_asked(api_client, params, extra):
    FrameFactory(area=None)
    item = page(api_client, params)["results"][0]
    assert set(item) == ITEM_KEYS | {"related_frames"} | extra
    assert item["related_frames"] == []
    if extra:
        assert item["thumbnails"] == []


def test_datetimes_carry_microseconds_only_when_not_zero(api_client):
    FrameFactory(basename="whole", observation_date=at(2024, 5, 1, 10, 0, 0), public_date=at(2024, 5, 2, 0, 0, 0, 1))
    FrameFactory(basename="fraction", observation_date=at(2024, 5, 1, 9, 0, 0, 500000), public_date=at(2024, 5, 2))
    items = {item["basename"]: item for item in page(api_client)["results"]}
    assert items["whole"]["observation_date"] == "2024-05-01T10:00:00Z"
    assert items["whole"]["DATE_OBS"] == "2024-05-01T10:00:00Z"
    assert items["whole"]["public_date"] == "2024-05-02T00:00:00.000001Z"
    assert items["fraction"]["observation_date"] == "2024-05-01T09:00:00.500000Z"
    assert items["fraction"]["L1PUBDAT"] == "2024-05-02T00:00:00Z"
    assert items["fraction"]["observation_day"] == "2024-04-30"


def test_only_staff_hold_the_database_for_the_longer_forced_count(settings, make_user):
    from types import SimpleNamespace

    from django.http import QueryDict

    from frames.views import FrameViewSet  # its count policy comes from frames.listing

    settings.PAGINATION_COUNT_TIMEOUT_MS, settings.PAGINATION_FORCE_COUNT_TIMEOUT_MS = 1500, 5000
    for user, expected in ((make_user("member"), 1500), (make_user("operator", staff=True), 5000)):
        request = SimpleNamespace(query_params=QueryDict("force_count=1"), user=user)
        assert FrameViewSet().count_timeout_ms(request) == expected
