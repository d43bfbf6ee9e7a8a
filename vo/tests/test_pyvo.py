"""End to end with pyvo itself against a live server: SIA 2.0 (found through the capabilities), Simple Cone Search,
DataLink from the results, proprietary frames through a token session, and errors as pyvo's DALQueryError. Every
document pyvo reads is also fetched and strict-parsed."""

import datetime
import io
import warnings
from xml.etree import ElementTree

import pytest
import pyvo
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time
from django.contrib.gis.geos import Polygon as GeosPolygon
from pyvo.dal import DALQueryError
from pyvo.dal.adhoc import DatalinkResults
from pyvo.dal.sia2 import SIA2Query
from pyvo.io import vosi
from rest_framework.authtoken.models import Token

from frames.tests.factories import FrameFactory, ThumbnailFactory, box
from frames.tests.storedfiles import frame_with_file, store_version
from vo.tests.helpers import parse_scs, parse_strict, status

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime.datetime(2024, 3, 2, 3, 0, tzinfo=datetime.UTC)


@pytest.fixture
def sky(tmp_path):
    """Public frames across RA 0, near the south pole and at M31, one with its file and thumbnail stored, and a
    proprietary one."""
    m31, data = frame_with_file(
        tmp_path,
        basename="m31",
        area=box(10.68, 41.27),
        observation_date=START,
        public_date=START,
        primary_optical_element="V",
        instrument_id="fa03",
        exposure_time=120.0,
    )
    calibration = FrameFactory(
        basename="m31-bias",
        configuration_type="BIAS",
        area=None,
        version=False,
        observation_date=START - datetime.timedelta(days=1),
    )
    store_version(calibration, b"SIMPLE  = T")
    m31.related_frames.add(calibration)
    thumbnail = ThumbnailFactory(frame=m31, size="large")
    frames = {
        "m31": m31,
        "ra0": FrameFactory(basename="ra0", area=box(359.9, -5), observation_date=START + datetime.timedelta(days=3)),
        "south": FrameFactory(
            basename="south",
            area=GeosPolygon(((0, -89.6), (90, -89.6), (180, -89.6), (-90, -89.6), (0, -89.6)), srid=4326),
            observation_date=START + datetime.timedelta(days=4),
        ),
        "secret": FrameFactory(
            basename="secret",
            area=box(10.7, 41.3),
            observation_date=START + datetime.timedelta(hours=1),
            proposal_id="SECRET-1",
            public_date=datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC),
            primary_optical_element="V",
            instrument_id="fa03",
        ),
    }
    return {**frames, "data": data, "thumbnail": thumbnail, "calibration": calibration}


def obs_ids(results) -> list[str]:
    return sorted(str(value) for value in results["obs_id"])


def test_sia2_search_through_pyvo(live_server, sky):
    base = f"{live_server.url}/vo/sia2"
    sia = pyvo.dal.SIA2Service(base)
    assert sia.query_ep == f"{base}/query"
    # Also from the query URL: pyvo finds the sibling capabilities.
    assert pyvo.dal.SIA2Service(f"{base}/query").query_ep == f"{base}/query"
    results = sia.search(
        pos=(10.68, 41.27, 0.1),
        time=(Time("2024-03-01"), Time("2024-03-08")),
        band=(500e-9, 550e-9),
        instrument="fa03",
        calib_level=2,
        maxrec=500,
    )
    assert obs_ids(results) == ["m31"]
    table = results.to_table()
    assert table["access_format"][0] == "image/fits"
    # The file behind access_url is the stored one, downloaded without credentials.
    assert requests.get(results[0].getdataurl(), timeout=10).content == sky["data"]
    # Hits and misses across RA 0 and near the pole, by each shape.
    assert obs_ids(sia.search(pos=(0.0, -5.0, 0.2))) == ["ra0"]
    # pyvo refuses a RANGE that wraps through RA 0 (ra1 > ra2) before sending it; DALI allows it.
    wrapping = SIA2Query(sia.query_ep)
    wrapping["POS"] = "RANGE 359 1 -6 -4"
    assert obs_ids(wrapping.execute()) == ["ra0"]
    assert obs_ids(sia.search(pos=(1 * u.deg, 359 * u.deg, -6 * u.deg, -4 * u.deg))) == []
    assert obs_ids(sia.search(pos=(0, -89, 120, -89, 240, -89))) == ["south"]
    assert obs_ids(sia.search(pos=(45.0, -89.9, 0.05))) == ["south"]
    assert obs_ids(sia.search(pos=(45.0, 89.9, 0.05))) == []
    # Other parameters, OR'ed within one and AND'ed across.
    assert obs_ids(sia.search(target_name="M51", exptime=(100, 200))) == ["m31"]
    assert obs_ids(sia.search(band=[(500e-9, 550e-9), (900e-9, 1000e-9)])) == ["m31"]
    assert obs_ids(sia.search(instrument=["fa03", "ep02"], maxrec=10)) == ["m31", "m31-bias", "ra0", "south"]
    assert obs_ids(sia.search(facility="ogg-2m0a", calib_level=1)) == []
    assert obs_ids(sia.search(publisher_did="ivo://archive.example.org/frames?south")) == ["south"]
    assert obs_ids(sia.search(field_of_view=(0.3, 0.5), collection="archive", data_type="image")) == ["m31", "ra0"]


def test_maxrec_overflow_through_pyvo(live_server, sky):
    sia = pyvo.dal.SIA2Service(f"{live_server.url}/vo/sia2")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        results = sia.search(maxrec=2)
    assert len(results) == 2
    assert results._status[0] == "OVERFLOW"
    assert obs_ids(results) == ["ra0", "south"]  # the newest
    assert sia.search(maxrec=4)._status[0] == "OK"  # m31, ra0, south and the calibration frame


def test_proprietary_frames_with_a_token_session(live_server, sky, make_user):
    member = make_user("member", proposals=["SECRET-1"])
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.get(user=member).key}"
    anonymous = pyvo.dal.SIA2Service(f"{live_server.url}/vo/sia2")
    signed_in = pyvo.dal.SIA2Service(f"{live_server.url}/vo/sia2", session=session)
    assert obs_ids(anonymous.search(pos=(10.7, 41.3, 0.2))) == ["m31"]
    results = signed_in.search(pos=(10.7, 41.3, 0.2))
    assert obs_ids(results) == ["m31", "secret"]
    rights = {str(row["obs_id"]): str(row["data_rights"]) for row in results}
    assert rights == {"m31": "public", "secret": "proprietary"}
    response = session.get(f"{live_server.url}/vo/sia2/query", params={"POS": "CIRCLE 10.7 41.3 0.2"}, timeout=10)
    assert response.headers["X-VO-Authenticated"] == "member"
    assert parse_strict(response.content)
    cone = pyvo.dal.SCSService(f"{live_server.url}/vo/scs/query", session=session)
    assert sorted(str(value) for value in cone.search(pos=SkyCoord(10.7, 41.3, unit="deg"), radius=0.2)["id"]) == [
        "m31",
        "secret",
    ]


def test_errors_reach_pyvo_with_their_message(live_server, sky):
    sia = pyvo.dal.SIA2Service(f"{live_server.url}/vo/sia2")
    query = SIA2Query(sia.query_ep, pos=(10.0, 20.0, 1.0))
    query["POS"] = "CIRCLE 10 20"
    with pytest.raises(DALQueryError, match="UsageFault: POS: CIRCLE needs 3 numbers, got 2"):
        query.execute()
    query = SIA2Query(sia.query_ep)
    query["MAXREC"] = "ten"
    with pytest.raises(DALQueryError, match="MAXREC: 'ten' is not an integer"):
        query.execute()
    response = requests.get(f"{live_server.url}/vo/sia2/query", params={"TIME": "60010 60000"}, timeout=10)
    assert response.status_code == 400
    assert status(parse_strict(response.content)) == (
        "ERROR",
        "UsageFault: TIME: lower bound 60010 is above upper bound 60000",
    )
    with pytest.raises(DALQueryError, match="SR 100 is outside"):
        pyvo.dal.SCSService(f"{live_server.url}/vo/scs/query").search(pos=SkyCoord(1, 2, unit="deg"), radius=100)


def test_cone_search_through_pyvo(live_server, sky):
    url = f"{live_server.url}/vo/scs/query"
    cone = pyvo.dal.SCSService(url)
    results = cone.search(pos=SkyCoord(0.0, -5.0, unit="deg"), radius=0.2)
    [record] = list(results)
    assert str(record.id) == "ra0"
    assert record.pos.ra.deg == pytest.approx(359.9, abs=1e-6)
    assert obs_ids_of(cone.search(pos=SkyCoord(20.0, -89.95, unit="deg"), radius=0.1)) == ["south"]
    assert obs_ids_of(cone.search(pos=SkyCoord(20.0, 20.0, unit="deg"), radius=0.1)) == []
    assert len(cone.search(pos=SkyCoord(10.68, 41.27, unit="deg"), radius=1, verbosity=1).to_table().colnames) == 4
    verbose = cone.search(pos=SkyCoord(10.68, 41.27, unit="deg"), radius=1, verbosity=3).to_table().colnames
    assert {"em_min", "obs_release_date", "reduction_level"} <= set(verbose)
    # The metadata query pyvo's SCSService.columns makes: SR=0, every column of the verbosity, no rows.
    assert [c.name for c in cone.columns][:3] == ["id", "ra", "dec"]
    for params in ({"RA": "0", "DEC": "-5", "SR": "0.2"}, {"RA": "0", "DEC": "0", "SR": "0"}):
        assert parse_scs(requests.get(url, params=params, timeout=10).content)
    # /vo/scs/ answers the same; POST too.
    assert parse_scs(requests.post(f"{live_server.url}/vo/scs/", data={"RA": 0, "DEC": -5, "SR": 0.2}).content)


def obs_ids_of(results) -> list[str]:
    return sorted(str(value) for value in results["id"])


def test_scs_errors(live_server):
    url = f"{live_server.url}/vo/scs/query"
    for params, message in (
        ({"RA": "1", "DEC": "2"}, "UsageFault: SR is required"),
        ({"RA": "x", "DEC": "2", "SR": "1"}, "UsageFault: RA: 'x' is not a number"),
        ({"RA": "1", "DEC": "99", "SR": "1"}, "UsageFault: DEC 99 is outside [-90, 90]"),
        ({"RA": "1", "DEC": "2", "SR": "1", "VERB": "4"}, "UsageFault: VERB must be 1, 2 or 3"),
        ({"RA": "1", "DEC": "2", "SR": "1", "MAXREC": "-1"}, "UsageFault: MAXREC must be 0 or more"),
    ):
        response = requests.get(url, params=params, timeout=10)
        assert response.status_code == 400
        assert response.headers["Content-Type"] == "text/xml;content=x-votable"
        document = parse_scs(response.content)
        assert [(i.name, i.value) for i in document.infos] == [("Error", document.infos[0].value)]
        assert document.infos[0].value.startswith(message)
        assert status(document) == ("ERROR", document.infos[0].value)


def test_datalinks_through_pyvo(live_server, sky):
    sia = pyvo.dal.SIA2Service(f"{live_server.url}/vo/sia2")
    results = sia.search(pos=(10.68, 41.27, 0.1))
    [links] = list(results.iter_datalinks())
    this = list(links.bysemantics("#this", include_narrower=False))
    assert len(this) == 1
    assert requests.get(this[0].access_url, timeout=10).content == sky["data"]
    [preview] = links.bysemantics("#preview", include_narrower=False)
    assert preview.content_type == "image/jpeg"
    assert "m31-large.jpg" in preview.access_url
    [calibration] = links.bysemantics("#calibration", include_narrower=False)
    assert requests.get(calibration.access_url, timeout=10).content == b"SIMPLE  = T"
    [headers] = links.bysemantics("#auxiliary", include_narrower=False)
    assert headers.access_url == f"{live_server.url}/frames/{sky['m31'].id}/headers/"
    # Straight from a URL as well, several IDs at once, an unknown one answered by an error row.
    did = "ivo://archive.example.org/frames?"
    url = f"{live_server.url}/vo/datalink?ID={did}ra0&ID={did}SECRET&ID={did}m31"
    document = DatalinkResults.from_result_url(url)
    assert [str(value) for value in document["semantics"]][:2] == ["#this", "#auxiliary"]
    errors = [str(row["error_message"]) for row in document if str(row["ID"]).endswith("SECRET")]
    assert errors == [f"NotFoundFault: {did}SECRET is not a frame you may see"]
    assert parse_strict(requests.get(url, timeout=10).content)


@pytest.mark.filterwarnings("ignore::UserWarning:pyvo.utils.xml.elements")
def test_vosi_documents(live_server, sky):
    for service, standard in (
        ("sia2", "ivo://ivoa.net/std/SIA#query-2.0"),
        ("scs", "ivo://ivoa.net/std/ConeSearch"),
        ("datalink", "ivo://ivoa.net/std/DataLink#links-1.1"),
    ):
        response = requests.get(f"{live_server.url}/vo/{service}/capabilities", timeout=10)
        assert response.headers["Content-Type"] == "text/xml"
        assert response.headers["WWW-Authenticate"] == 'Basic realm="archive"'
        capabilities = vosi.parse_capabilities(io.BytesIO(response.content))
        by_id = {capability.standardid: capability for capability in capabilities}
        assert set(by_id) == {standard, "ivo://ivoa.net/std/VOSI#capabilities", "ivo://ivoa.net/std/VOSI#availability"}
        [interface] = by_id[standard].interfaces
        assert interface.accessurls[0].content.startswith(live_server.url)
        methods = [method.standardid for method in interface.securitymethods]
        assert methods == [None, "ivo://ivoa.net/sso#OAuth", "ivo://ivoa.net/sso#BasicAA"]
        availability = vosi.parse_availability(
            io.BytesIO(requests.get(f"{live_server.url}/vo/{service}/availability", timeout=10).content)
        )
        assert availability.available is True
    # pyvo has no model of cs:ConeSearch's elements: they are read as XML.
    document = ElementTree.fromstring(requests.get(f"{live_server.url}/vo/scs/capabilities", timeout=10).content)
    [search] = [c for c in document if c.get("standardID") == "ivo://ivoa.net/std/ConeSearch"]
    assert (search.findtext("maxSR"), search.findtext("maxRecords"), search.findtext("verbosity")) == (
        "90",
        "10000",
        "true",
    )
    # The newest public frame with a footprint is "south", at the pole.
    assert float(search.findtext("testQuery/dec")) == pytest.approx(-90, abs=0.5)
    assert requests.head(f"{live_server.url}/vo/sia2/capabilities", timeout=10).status_code == 200
