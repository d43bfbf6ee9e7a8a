"""SIA 2.0 through Django's test client: each parameter's hits and misses on PostGIS, the sky's edges, MAXREC,
visibility, authentication and errors; every response strict-parsed by astropy."""

import datetime

import pytest
from django.contrib.gis.geos import Polygon as GeosPolygon
from django.db import OperationalError
from rest_framework.authtoken.models import Token

from frames.models import Frame
from frames.tests.factories import FrameFactory, ThumbnailFactory, VersionFactory, box
from vo import obscore
from vo.tests.helpers import column, parse_strict, rows, status

pytestmark = pytest.mark.django_db

START = datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.UTC)


def sia(client, method="get", **params):
    response = getattr(client, method)("/vo/sia2/query", params)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, parse_strict(body)


def names(client, **params) -> list[str]:
    response, document = sia(client, **params)
    assert response.status_code == 200, status(document)
    return sorted(column(document, "obs_id"))


def fault(client, expected_status=400, **params) -> str:
    response, document = sia(client, **params)
    assert response.status_code == expected_status
    value, text = status(document)
    assert value == "ERROR"
    return text


@pytest.fixture
def sky():
    """Frames at known places and times, with known filters, levels, instruments and exposures."""
    return {
        "m51": FrameFactory(basename="m51", area=box(202.47, 47.19), observation_date=START, exposure_time=30.0),
        "ra0": FrameFactory(
            basename="ra0",
            area=box(0.05, 10.0),
            observation_date=START + datetime.timedelta(days=1),
            primary_optical_element="V",
            instrument_id="fa03",
            site_id="lsc",
            telescope_id="1m0a",
            reduction_level=0,
            exposure_time=300.0,
            target_name="NGC 7814",
        ),
        "pole": FrameFactory(
            basename="pole",
            area=GeosPolygon(((0, 89.5), (90, 89.5), (180, 89.5), (-90, 89.5), (0, 89.5)), srid=4326),
            observation_date=START + datetime.timedelta(days=2),
            primary_optical_element="Halpha",
            exposure_time=None,
        ),
    }


def test_document_layout_and_values(client, sky):
    response, document = sia(client, POS="CIRCLE 202.47 47.19 0.1")
    assert response["Content-Type"] == "application/x-votable+xml"
    assert {"Authorization", "Cookie"} <= {item.strip() for item in response["Vary"].split(",")}
    assert "X-VO-Authenticated" not in response
    assert status(document) == ("OK", "")
    fields = document.get_first_table().fields
    assert [f.name for f in fields] == [c.name for c in obscore.COLUMNS]
    for field, declared in zip(fields, obscore.COLUMNS, strict=True):
        assert (field.datatype, field.ucd, field.utype or "", str(field.unit or "")) == (
            declared.datatype,
            declared.ucd,
            declared.utype,
            declared.unit,
        )
    [row] = rows(document)
    frame = sky["m51"]
    assert row["dataproduct_type"] == "image"
    assert row["calib_level"] == 2
    assert row["obs_publisher_did"] == f"ivo://archive.example.org/frames?{frame.basename}"
    assert row["access_url"].startswith("http://testserver/download/")
    assert row["access_format"] == "image/fits"
    assert row["s_ra"] == pytest.approx(202.47, abs=1e-6)
    assert row["s_dec"] == pytest.approx(47.19, abs=1e-3)
    # The diagonal of a 0.3-degree box at Dec 47: 0.3 degrees of Dec by 0.3 degrees of RA at Dec 46.85.
    assert row["s_fov"] == pytest.approx(0.3627, abs=1e-3)
    assert row["s_region"].startswith("POLYGON ICRS 202.32")
    assert row["t_min"] == pytest.approx(obscore.mjd(START))
    assert row["t_max"] == pytest.approx(obscore.mjd(START) + 30 / 86400)
    assert (row["em_min"], row["em_max"]) == (560e-9, 700e-9)
    assert row["facility_name"] == "ogg-2m0a"
    assert row["data_rights"] == "public"
    assert row["observation_date"] == "2024-05-01T10:00:00"
    # The service descriptors: this service and DataLink, whose ID comes from obs_publisher_did.
    meta = {r.name: r for r in document.resources if r.type == "meta"}
    assert {p.name: p.value for p in meta["this"].params}["standardID"] == "ivo://ivoa.net/std/SIA#query-2.0"
    datalink = meta["datalink"]
    assert {p.name: p.value for p in datalink.params}["accessURL"] == "http://testserver/vo/datalink"
    [group] = datalink.groups
    assert [(p.name, p.ref) for p in group.entries] == [("ID", "obs_publisher_did")]


def test_post_and_case_insensitive_names(client, sky):
    assert names(client, method="post", pos="CIRCLE 202.47 47.19 0.1") == ["m51"]
    assert names(client, Pos="CIRCLE 202.47 47.19 0.1", target="M51") == ["m51"]


def test_pos_across_ra_zero_and_at_the_pole(client, sky):
    assert names(client, POS="CIRCLE 359.95 10 0.2") == ["ra0"]
    assert names(client, POS="CIRCLE 0 10 0") == ["ra0"]  # radius 0: footprints containing the point
    assert names(client, POS="CIRCLE 0 10.5 0") == []
    assert names(client, POS="CIRCLE 123 89.9 0.1") == ["pole"]
    assert names(client, POS="RANGE 359 1 9 11") == ["ra0"]
    assert names(client, POS="RANGE 1 359 9 11") == []  # from 1 east to 359 misses RA 0
    assert names(client, POS="RANGE 0 360 9 11") == ["ra0"]  # a Dec band
    assert names(client, POS="RANGE -Inf +Inf 89.8 +Inf") == ["pole"]
    assert names(client, POS="RANGE 100 110 89.8 90") == ["pole"]
    assert names(client, POS="POLYGON 359 9 1 9 1 11 359 11") == ["ra0"]
    assert names(client, POS="POLYGON 0 89 90 89 180 89 270 89") == ["pole"]
    assert names(client, POS="POLYGON 10 9 11 9 11 11") == []
    # Several values are OR'ed.
    assert names(client, POS=["CIRCLE 0 10 0.1", "CIRCLE 202.47 47.19 0.1"]) == ["m51", "ra0"]


def test_whole_sky_range_excludes_frames_without_footprint(client, sky):
    FrameFactory(basename="nofootprint", area=None)
    assert names(client, POS="RANGE 0 360 -90 90") == ["m51", "pole", "ra0"]
    assert "nofootprint" in names(client, TARGET="M51")


def test_band_and_specrp(client, sky, settings):
    assert names(client, BAND="5.5e-7") == ["ra0"]  # rp (560-700 nm) misses it, V (500-590) has it
    assert names(client, BAND="6.5e-7") == ["m51"]
    assert names(client, BAND="-Inf 4e-7") == []
    assert names(client, BAND=["5.2e-7", "6.5e-7"]) == ["m51", "ra0"]
    assert names(client, BAND="6.56e-7 6.57e-7") == ["m51"]  # Halpha is not in the default table
    settings.VO_FILTER_BANDS = "Halpha:650:660"
    assert names(client, BAND="6.56e-7 6.57e-7") == ["m51", "pole"]
    assert names(client, SPECRP="60 Inf") == ["pole"]  # 655 / 10
    assert names(client, SPECRP="4 5") == ["m51"]  # rp: 630 / 140 = 4.5
    assert names(client, SPECRP="1000 2000") == []


def test_time_overlaps_the_exposure(client, sky):
    t = obscore.mjd(START)
    assert names(client, TIME=f"{t - 1} {t - 0.5}") == []
    assert names(client, TIME=f"{t + 10 / 86400} {t + 20 / 86400}") == ["m51"]  # inside the 30 s exposure
    assert names(client, TIME=f"{t + 31 / 86400} {t + 0.5}") == []
    assert names(client, TIME=f"{t + 1 + 100 / 86400}") == ["ra0"]  # a point within its 300 s
    assert names(client, TIME=f"{t + 1.5} +Inf") == ["pole"]  # no exposure time: the instant of its start
    assert names(client, TIME=f"-Inf {t}") == ["m51"]


def test_exposure_and_time_resolution(client, sky):
    assert names(client, EXPTIME="100 400") == ["ra0"]
    assert names(client, EXPTIME="-Inf Inf") == ["m51", "ra0"]  # a null exposure never matches
    assert names(client, TIMERES="30") == ["m51"]


def test_fov(client, sky):
    assert names(client, FOV="0.1 0.5") == ["m51", "ra0"]
    assert names(client, FOV="0.5 Inf") == ["pole"]
    assert names(client, FOV="10 20") == []


def test_strings(client, sky):
    did = f"ivo://archive.example.org/frames?{sky['ra0'].basename}"
    assert names(client, ID=did) == ["ra0"]
    assert names(client, ID=did.upper()) == ["ra0"]  # IVOIDs compare case-insensitively
    assert names(client, ID="ivo://elsewhere.org/frames?ra0") == []
    assert names(client, COLLECTION="archive") == ["m51", "pole", "ra0"]
    assert names(client, COLLECTION="other") == []
    assert names(client, FACILITY="lsc-1m0a") == ["ra0"]
    assert names(client, FACILITY="lsc") == []
    assert names(client, INSTRUMENT=["fa03", "nothing"]) == ["ra0"]
    assert names(client, DPTYPE="image") == ["m51", "pole", "ra0"]
    assert names(client, DPTYPE="cube") == []
    assert names(client, TARGET="NGC 7814") == ["ra0"]
    assert names(client, TARGET="ngc 7814") == []  # exact and case-sensitive
    assert names(client, FORMAT="image/fits") == ["m51", "pole", "ra0"]
    assert names(client, FORMAT="image/png") == []
    assert names(client, POL="I") == []
    assert names(client, SPATRES="0 10") == []


def test_calib_levels(client, sky, settings):
    assert names(client, CALIB="1") == ["ra0"]
    assert names(client, CALIB="2") == ["m51", "pole"]
    assert names(client, CALIB=["1", "2"]) == ["m51", "pole", "ra0"]
    assert names(client, CALIB="0") == []
    settings.VO_CALIB_LEVELS = "0:0,91:3"
    assert names(client, CALIB="0") == ["ra0"]
    assert names(client, CALIB="3") == ["m51", "pole"]
    assert names(client, CALIB="2") == []


def test_parameters_combine(client, sky):
    assert names(client, POS="CIRCLE 0 10 1", INSTRUMENT="fa03", CALIB="1", BAND="5.5e-7") == ["ra0"]
    assert names(client, POS="CIRCLE 0 10 1", INSTRUMENT="ep02") == []


def test_only_current_fits_versions(client, sky):
    tarball = FrameFactory(basename="tarball", version=False)
    VersionFactory(frame=tarball, extension=".tar.gz")
    replaced = FrameFactory(basename="replaced", version=False)
    VersionFactory(frame=replaced, extension=".fits.fz")
    VersionFactory(frame=replaced, extension=".pdf")  # the newest is not an image
    FrameFactory(basename="noversion", version=False)
    plain = FrameFactory(basename="plain", version=False)
    VersionFactory(frame=plain, extension=".fits", size=2500)
    response, document = sia(client, TARGET="M51")
    assert sorted(column(document, "obs_id")) == ["m51", "plain", "pole"]
    assert [r["access_estsize"] for r in rows(document) if r["obs_id"] == "plain"] == [3]


def test_maxrec_overflow_zero_and_clamp(client, sky, settings):
    response, document = sia(client, MAXREC="2")
    assert status(document)[0] == "OVERFLOW"
    assert column(document, "obs_id") == ["pole", "ra0"]  # newest first
    response, document = sia(client, MAXREC="3")
    assert status(document)[0] == "OK"
    assert len(rows(document)) == 3
    response, document = sia(client, MAXREC="0")
    assert status(document)[0] == "OVERFLOW"
    assert rows(document) == []
    assert len(document.get_first_table().fields) == len(obscore.COLUMNS)
    settings.VO_MAX_MAXREC = 1
    response, document = sia(client, MAXREC="100")
    assert status(document)[0] == "OVERFLOW"
    assert len(rows(document)) == 1
    settings.VO_DEFAULT_MAXREC = 1
    assert len(rows(sia(client)[1])) == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"POS": "CIRCLE 10 20"}, "UsageFault: POS: CIRCLE needs 3 numbers, got 2"),
        ({"POS": "BOX 1 2 3 4"}, "UsageFault: POS: 'BOX' is not CIRCLE, RANGE or POLYGON"),
        ({"MAXREC": "ten"}, "UsageFault: MAXREC: 'ten' is not an integer"),
        ({"MAXREC": ["1", "2"]}, "UsageFault: MAXREC may be given once"),
        ({"TIME": "60010 60000"}, "UsageFault: TIME: lower bound 60010 is above upper bound 60000"),
        ({"BAND": "NaN"}, "UsageFault: BAND: 'NaN' is not a number"),
        ({"CALIB": "7"}, "UsageFault: CALIB must be an integer from 0 to 4"),
        ({"RESPONSEFORMAT": "json"}, "UsageFault: unsupported RESPONSEFORMAT"),
        ({"TARGET": "M\x0051"}, "UsageFault: TARGET: values may not contain a NUL character"),
    ],
)
def test_errors_are_votables(client, params, message):
    assert fault(client, **params).startswith(message)


def test_response_format_named(client, sky):
    response, document = sia(client, RESPONSEFORMAT="text/xml", MAXREC="1")
    assert response["Content-Type"] == "text/xml"


def test_other_methods_and_unreachable_database(client, monkeypatch):
    response = client.delete("/vo/sia2/query")
    assert response.status_code == 405
    assert status(parse_strict(response.content))[0] == "ERROR"

    def unreachable(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("vo.selectors.frame_rows", unreachable)
    text = fault(client, expected_status=503, POS="CIRCLE 1 2 3")
    assert text.startswith("TransientFault: the database cannot be reached")


def test_statement_timeout_is_a_transient_fault(client, sky, settings, monkeypatch):
    settings.VO_QUERY_TIMEOUT_MS = 5
    # A row that takes longer than the timeout to compute.
    slow = '(SELECT ST_X(ST_Centroid("frames_frame"."area")::geometry) FROM pg_sleep(0.05))'
    monkeypatch.setattr("vo.selectors.CENTROID_LON_SQL", slow)
    text = fault(client, expected_status=503, POS="CIRCLE 202.47 47.19 1")
    assert text == "TransientFault: the query took longer than 0.005 s; narrow the query (POS, TIME)"


def test_visibility_and_authentication(client, make_user, sky):
    secret = FrameFactory(
        basename="secret",
        proposal_id="SECRET-1",
        public_date=datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC),
        area=box(50, 50),
    )
    did = f"ivo://archive.example.org/frames?{secret.basename}"
    member = make_user("member", proposals=["SECRET-1"])
    outsider = make_user("outsider", proposals=["OTHER"])
    token = Token.objects.get(user=member).key
    assert names(client, POS="CIRCLE 50 50 1") == []
    assert names(client, ID=did) == []
    response = client.get("/vo/sia2/query", {"ID": did}, HTTP_AUTHORIZATION=f"Token {token}")
    document = parse_strict(b"".join(response.streaming_content))
    [row] = rows(document)
    assert (row["obs_id"], row["data_rights"], row["proposal_id"]) == ("secret", "proprietary", "SECRET-1")
    assert row["obs_release_date"] == "2100-01-01T00:00:00"
    assert response["X-VO-Authenticated"] == "member"
    other = Token.objects.get(user=outsider).key
    response = client.get("/vo/sia2/query", {"ID": did}, HTTP_AUTHORIZATION=f"Token {other}")
    assert rows(parse_strict(b"".join(response.streaming_content))) == []
    # HTTP Basic, as TOPCAT sends it.
    basic = client.get("/vo/sia2/query", {"ID": did}, HTTP_AUTHORIZATION=_basic("member", "observer-pass-123"))
    assert basic["X-VO-Authenticated"] == "member"
    assert len(rows(parse_strict(b"".join(basic.streaming_content)))) == 1
    # A session cookie counts for GETs only: a POST with a cookie alone is anonymous (and needs no CSRF token).
    client.force_login(member)
    assert names(client, ID=did) == ["secret"]
    client.handler.enforce_csrf_checks = True
    assert names(client, method="post", ID=did) == []


def test_refused_credentials_are_a_401_votable(client, make_user):
    response = client.get("/vo/sia2/query", HTTP_AUTHORIZATION="Token not-a-token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Token, Bearer, Basic realm="archive"'
    assert status(parse_strict(response.content)) == ("ERROR", "UsageFault: Invalid token.")
    make_user("member")
    response = client.get("/vo/sia2/query", HTTP_AUTHORIZATION=_basic("member", "wrong"))
    assert response.status_code == 401
    assert status(parse_strict(response.content))[0] == "ERROR"


def test_throttled_is_a_429_votable(client, settings):
    settings.THROTTLE_ANON_RATE = "1/minute"
    client.get("/vo/sia2/query", {"MAXREC": "0"})
    response = client.get("/vo/sia2/query", {"MAXREC": "0"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert status(parse_strict(response.content))[1].startswith("TransientFault: request was throttled")


def test_oversized_body_is_a_413_votable(client, settings):
    settings.REQUEST_BODY_MAX_BYTES = 100
    response = client.post("/vo/sia2/query", {"TARGET": "x" * 200})
    assert response.status_code == 413
    assert status(parse_strict(response.content))[1].startswith("UsageFault: The request body is")


def test_control_characters_and_markup_are_escaped(client):
    FrameFactory(basename="odd", target_name='a<b & \x01c"', area=box(1, 1))
    document = sia(client, POS="CIRCLE 1 1 0.1")[1]
    assert column(document, "target_name") == ['a<b & c"']


def test_statements_do_not_grow_with_rows(client, sky, django_assert_max_num_queries):
    for number in range(20):
        ThumbnailFactory(frame=FrameFactory(basename=f"many{number}"))
    # In a test transaction: the statement timeout's set_config and the rows, plus a savepoint and its release.
    with django_assert_max_num_queries(4):
        assert len(rows(sia(client, MAXREC="1")[1])) == 1
    total = Frame.objects.count()
    with django_assert_max_num_queries(4):
        assert len(rows(sia(client)[1])) == total


def _basic(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
