"""The JSON shapes (docs/frames.md, "Representations"): exact key sets, datetime formats, what is null or absent."""

import datetime

import pytest

from frames.models import Frame, Version
from frames.tests.factories import FrameFactory, HeadersFactory, ThumbnailFactory, VersionFactory
from frames.tests.shapes import (
    CURSOR_ENVELOPE,
    ITEM_KEYS,
    LEGACY_KEYS,
    LIMIT_ENVELOPE,
    RECORD_KEYS,
    THUMBNAIL_KEYS,
    VERSION_KEYS,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:.*_after_postgeneration:DeprecationWarning"),
]


OBSERVED = datetime.datetime(2015, 2, 19, 13, 56, 5, 261000, tzinfo=datetime.UTC)
PUBLISHED = datetime.datetime(2015, 2, 19, 13, 56, 5, tzinfo=datetime.UTC)


@pytest.fixture
def frame():
    """A public frame with a footprint, the one of the example item in docs/frames.md."""
    return FrameFactory(
        basename="coj1m011-kb05-20150219-0125-e90",
        observation_date=OBSERVED,
        observation_day=datetime.date(2015, 2, 19),
        proposal_id="LCOEPO2014B-010",
        instrument_id="kb05",
        target_name="M84",
        reduction_level=90,
        site_id="coj",
        telescope_id="1m0a",
        exposure_time=10.0,
        primary_optical_element="V",
        public_date=PUBLISHED,
        configuration_type="EXPOSE",
        observation_id=53195954,
        request_id=296263,
    )


@pytest.fixture
def bare_frame():
    """A public frame without footprint."""
    return FrameFactory(basename="ogg2m001-ep02-20240501-0001-e91", area=None)


def without_urls(data: dict) -> dict:
    """Links carry an hour-rounded issue time; compare the rest."""
    return {
        key: ([without_urls(v) for v in value] if key == "version_set" else value)
        for key, value in data.items()
        if key != "url"
    }


def only_item(response) -> dict:
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 1
    return results[0]


# --- list item and detail ---------------------------------------------------------------------------------------


def test_list_item_with_area(frame, api_client):
    item = only_item(api_client.get("/frames/"))
    assert set(item) == ITEM_KEYS | {"area", "related_frames"}


def test_detail_with_area(frame, api_client):
    response = api_client.get(f"/frames/{frame.id}/")
    assert response.status_code == 200
    assert set(response.json()) == ITEM_KEYS | {"area", "related_frames"}


def test_list_item_and_detail_without_area_have_no_area_key(bare_frame, api_client):
    item = only_item(api_client.get("/frames/"))
    assert set(item) == ITEM_KEYS | {"related_frames"}
    detail = api_client.get(f"/frames/{bare_frame.id}/").json()
    assert set(detail) == ITEM_KEYS | {"related_frames"}


def test_area_is_geojson_with_longitudes_in_range(api_client):
    frame = FrameFactory(area=None)
    Frame.objects.filter(pk=frame.pk).update(
        area="SRID=4326;POLYGON((-10 -1, 10 -1, 10 1, -10 1, -10 -1))",
    )
    area = api_client.get(f"/frames/{frame.id}/").json()["area"]
    assert area["type"] == "Polygon"
    ring = area["coordinates"][0]
    assert ring[0] == ring[-1]
    assert sorted({x for x, _ in ring}) == [-10, 10]
    assert all(-180 <= x <= 180 for x, _ in ring)


@pytest.mark.parametrize("value", ["false", "False", "FALSE"])
def test_list_item_without_related_frames(frame, api_client, value):
    item = only_item(api_client.get(f"/frames/?include_related_frames={value}"))
    assert set(item) == ITEM_KEYS | {"area"}


@pytest.mark.parametrize("value", ["false", "False"])
def test_detail_without_related_frames(frame, api_client, value):
    """Clients (BANZAI) ask `/frames/<id>/?include_related_frames=false`; the key is then absent."""
    response = api_client.get(f"/frames/{frame.id}/?include_related_frames={value}")
    assert response.status_code == 200
    assert set(response.json()) == ITEM_KEYS | {"area"}


def test_related_frames_key_kept_with_other_values(frame, api_client):
    for value in ("true", "True", "1"):
        assert "related_frames" in only_item(api_client.get(f"/frames/?include_related_frames={value}"))


@pytest.mark.parametrize("value", ["true", "True", "TRUE"])
def test_list_item_with_thumbnails(frame, api_client, value):
    thumbnail = ThumbnailFactory(frame=frame)
    item = only_item(api_client.get(f"/frames/?include_thumbnails={value}"))
    assert set(item) == ITEM_KEYS | {"area", "related_frames", "thumbnails"}
    assert len(item["thumbnails"]) == 1
    assert set(item["thumbnails"][0]) == THUMBNAIL_KEYS
    assert item["thumbnails"][0]["id"] == thumbnail.id
    assert item["thumbnails"][0]["frame"] == frame.id


def test_detail_with_thumbnails(frame, api_client):
    ThumbnailFactory(frame=frame)
    data = api_client.get(f"/frames/{frame.id}/?include_thumbnails=true").json()
    assert set(data) == ITEM_KEYS | {"area", "related_frames", "thumbnails"}
    assert [set(t) for t in data["thumbnails"]] == [THUMBNAIL_KEYS]


def test_no_thumbnails_key_by_default_or_when_false(frame, api_client):
    ThumbnailFactory(frame=frame)
    assert "thumbnails" not in only_item(api_client.get("/frames/"))
    assert "thumbnails" not in only_item(api_client.get("/frames/?include_thumbnails=false"))
    assert "thumbnails" not in api_client.get(f"/frames/{frame.id}/").json()


def test_thumbnails_and_no_related_frames_together(frame, api_client):
    ThumbnailFactory(frame=frame)
    item = only_item(api_client.get("/frames/?include_thumbnails=true&include_related_frames=false"))
    assert set(item) == ITEM_KEYS | {"area", "thumbnails"}


def test_values_and_legacy_keys(frame, api_client):
    HeadersFactory(frame=frame)
    item = only_item(api_client.get("/frames/"))
    assert item["basename"] == "coj1m011-kb05-20150219-0125-e90"
    assert item["observation_date"] == "2015-02-19T13:56:05.261000Z"
    assert item["public_date"] == "2015-02-19T13:56:05Z"
    assert item["observation_day"] == "2015-02-19"
    assert item["reduction_level"] == 90
    assert item["exposure_time"] == 10.0
    assert item["observation_id"] == 53195954
    assert item["request_id"] == 296263
    for legacy, name in LEGACY_KEYS.items():
        assert item[legacy] == item[name], legacy
    assert item["DATE_OBS"] == "2015-02-19T13:56:05.261000Z"
    assert item["L1PUBDAT"] == "2015-02-19T13:56:05Z"
    assert item["DAY_OBS"] == "2015-02-19"
    detail = api_client.get(f"/frames/{frame.id}/").json()
    assert without_urls(detail) == without_urls(item)


def test_null_values(api_client):
    frame = FrameFactory(exposure_time=None, observation_id=None, request_id=None, target_name="")
    item = api_client.get(f"/frames/{frame.id}/").json()
    assert item["exposure_time"] is None and item["EXPTIME"] is None
    assert item["observation_id"] is None and item["BLKUID"] is None
    assert item["request_id"] is None and item["REQNUM"] is None
    assert item["target_name"] == "" and item["OBJECT"] == ""


def test_version_set_url_and_filename(frame, api_client):
    older = Version.objects.get(frame=frame)
    newer = VersionFactory(frame=frame, extension=".fits")
    Version.objects.filter(pk=older.pk).update(
        created=datetime.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC)
    )
    Version.objects.filter(pk=newer.pk).update(created=datetime.datetime(2024, 5, 2, 10, 0, tzinfo=datetime.UTC))
    item = api_client.get(f"/frames/{frame.id}/").json()
    versions = item["version_set"]
    assert [v["id"] for v in versions] == [newer.id, older.id]
    for version in versions:
        assert set(version) == VERSION_KEYS
        assert version["url"].startswith("http://testserver/")
    assert versions[0]["created"] == "2024-05-02T10:00:00Z"
    assert versions[1]["created"] == "2024-05-01T10:00:00.123456Z"
    assert versions[0]["md5"] == newer.md5 and versions[0]["key"] == newer.key
    assert versions[0]["extension"] == ".fits"
    assert item["url"] == versions[0]["url"]
    assert item["filename"] == "coj1m011-kb05-20150219-0125-e90.fits"


def test_url_and_filename_are_null_without_a_version(api_client):
    frame = FrameFactory(version=False)
    item = api_client.get(f"/frames/{frame.id}/").json()
    assert set(item) == ITEM_KEYS | {"area", "related_frames"}
    assert item["version_set"] == []
    assert item["url"] is None
    assert item["filename"] is None


def test_related_frames_are_ids(frame, api_client):
    other = FrameFactory()
    placeholder = Frame.objects.create(basename="a-placeholder")
    frame.related_frames.add(other, placeholder)
    item = only_item(api_client.get(f"/frames/?basename_exact={frame.basename}"))
    assert sorted(item["related_frames"]) == sorted([other.id, placeholder.id])


# --- /related/ -----------------------------------------------------------------------------------------------------


def test_related_is_a_plain_array_of_records_newest_first(frame, api_client):
    same_time = datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC)
    first = FrameFactory(observation_date=same_time)
    second = FrameFactory(observation_date=same_time)
    newest = FrameFactory(observation_date=same_time + datetime.timedelta(days=1), area=None)
    oldest = FrameFactory(observation_date=datetime.datetime(2010, 1, 1, tzinfo=datetime.UTC), version=False)
    placeholder = Frame.objects.create(basename="related-placeholder")
    frame.related_frames.add(first, second, newest, oldest, placeholder)
    response = api_client.get(f"/frames/{frame.id}/related/")
    assert response.status_code == 200
    data = response.json()
    assert isinstance(data, list)
    assert [item["id"] for item in data] == [newest.id, second.id, first.id, oldest.id]
    for item in data:
        assert set(item) == RECORD_KEYS
    assert data[0]["area"] is None
    assert data[1]["area"]["type"] == "Polygon"
    assert data[3]["url"] is None and data[3]["filename"] is None and data[3]["version_set"] == []
    assert data[0]["url"] == data[0]["version_set"][0]["url"]
    assert set(data[0]["related_frames"]) == {frame.id}
    assert set(data[0]["version_set"][0]) == VERSION_KEYS


def test_related_of_a_frame_without_links_is_an_empty_array(frame, api_client):
    response = api_client.get(f"/frames/{frame.id}/related/")
    assert response.status_code == 200
    assert response.json() == []


# --- headers -----------------------------------------------------------------------------------------------------


def test_headers_shape(frame, api_client):
    data = {"OBJECT": "M84", "EXPTIME": 10.0, "BLKUID": 53195954, "USERID": "jdoe", "NULLED": None}
    HeadersFactory(frame=frame, data=data)
    response = api_client.get(f"/frames/{frame.id}/headers/")
    assert response.status_code == 200
    assert response.json() == {"data": data}


def test_headers_of_a_frame_without_a_headers_row(frame, api_client):
    response = api_client.get(f"/frames/{frame.id}/headers/")
    assert response.status_code == 200
    assert response.json() == {"data": {}}


# --- envelopes, versions and thumbnails ----------------------------------------------------------------------------


def test_list_envelopes(frame, api_client, superuser_client):
    ThumbnailFactory(frame=frame)
    for client, path in ((api_client, "/frames/"), (api_client, "/thumbnails/"), (superuser_client, "/versions/")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert set(response.json()) == LIMIT_ENVELOPE, path
    response = api_client.get("/frames/?pagination_style=cursor")
    assert set(response.json()) == CURSOR_ENVELOPE


def test_version_item_keys(frame, superuser_client):
    version = Version.objects.get(frame=frame)
    results = superuser_client.get("/versions/").json()["results"]
    assert [set(item) for item in results] == [VERSION_KEYS]
    assert results[0]["md5"] == version.md5
    detail = superuser_client.get(f"/versions/{version.id}/").json()
    assert set(detail) == VERSION_KEYS
    assert without_urls(detail) == without_urls(results[0])


def test_thumbnail_item_keys(frame, api_client):
    thumbnail = ThumbnailFactory(frame=frame, size="large")
    results = api_client.get("/thumbnails/").json()["results"]
    assert [set(item) for item in results] == [THUMBNAIL_KEYS]
    item = results[0]
    assert item["id"] == thumbnail.id
    assert item["frame"] == frame.id
    assert item["size"] == "large"
    assert item["basename"] == thumbnail.basename
    assert item["extension"] == ".jpg"
    assert item["key"] == thumbnail.key
    assert item["url"].startswith("http://testserver/")
    assert without_urls(api_client.get(f"/thumbnails/{thumbnail.id}/").json()) == without_urls(item)


# --- methods -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_put_and_patch_on_a_frame_are_405(frame, superuser_client, method):
    response = getattr(superuser_client, method)(f"/frames/{frame.id}/", {"target_name": "X"}, format="json")
    assert response.status_code == 405
    assert Frame.objects.get(pk=frame.pk).target_name == "M84"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_put_and_patch_on_a_thumbnail_are_405(frame, superuser_client, method):
    thumbnail = ThumbnailFactory(frame=frame)
    response = getattr(superuser_client, method)(f"/thumbnails/{thumbnail.id}/", {"size": "large"}, format="json")
    assert response.status_code == 405


def test_answers_vary_on_the_credentials(api_client):
    """A shared cache must never hand one user's list to another."""
    frame = FrameFactory()
    for path in ("/frames/", f"/frames/{frame.id}/", "/thumbnails/", f"/frames/{frame.id}/headers/"):
        vary = {part.strip() for part in api_client.get(path)["Vary"].split(",")}
        assert {"Authorization", "Cookie"} <= vary, path
