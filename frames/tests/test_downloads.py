"""Signed links of the local store: bytes, headers, ranges, expiry, re-checked visibility."""

import datetime
import hashlib
import io
import time
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from rest_framework.test import APIClient

from archive.filestore import get_filestore
from conftest import token_client
from frames.models import Frame, Version
from frames.tests.factories import FrameFactory, ThumbnailFactory, VersionFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:.*_after_postgeneration:DeprecationWarning"),
]

DATA = bytes(range(256)) * 4 + b"SIMPLE  =                    T"  # 1054 bytes
PAST = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
FUTURE = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)
NOT_FOUND = {"detail": "Not found."}
EXPIRED = {"detail": "This download link has expired."}


def store_version(frame: Frame, data: bytes = DATA, extension: str = ".fits.fz") -> Version:
    """Put real bytes into the local store and record them as a version of `frame`."""
    path = f"{frame.site_id}/{frame.instrument_id}/20240501/processed/{frame.basename}{extension}"
    md5 = hashlib.md5(data).hexdigest()
    key = get_filestore().put(path, io.BytesIO(data), md5=md5, size=len(data))
    return VersionFactory(frame=frame, key=key, store_path=path, md5=md5, extension=extension)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def fetch(url: str, **headers):
    """Download a link as the web client's wget would: no credentials, only the URL."""
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "testserver"
    return APIClient().get(parts.path, **headers)


def head(url: str):
    return APIClient().head(urlsplit(url).path)


@pytest.fixture
def public_frame():
    frame = FrameFactory(basename="ogg2m001-ep02-20240501-0042-e91", public_date=PAST, version=False)
    store_version(frame)
    return frame


@pytest.fixture
def member(make_user):
    return make_user("member", proposals=["LCO2024A-001"])


def url_for(client, frame: Frame) -> str:
    response = client.get(f"/frames/{frame.id}/")
    assert response.status_code == 200, response.content
    return response.json()["url"]


# --- the bytes and their headers -----------------------------------------------------------------------------------


def test_link_downloads_the_exact_bytes(public_frame):
    url = url_for(APIClient(), public_frame)
    path = urlsplit(url).path
    assert path.startswith("/download/")
    assert path.endswith("/ogg2m001-ep02-20240501-0042-e91.fits.fz")
    response = fetch(url)
    assert response.status_code == 200
    assert body(response) == DATA
    assert response["Content-Type"] == "image/fits"
    assert response["Content-Length"] == str(len(DATA))
    assert response["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert response["Accept-Ranges"] == "bytes"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert "ogg2m001-ep02-20240501-0042-e91.fits.fz" in disposition


def test_list_and_version_set_links_download_too(public_frame):
    item = APIClient().get("/frames/").json()["results"][0]
    assert body(fetch(item["url"])) == DATA
    assert body(fetch(item["version_set"][0]["url"])) == DATA


def test_each_version_downloads_its_own_bytes(public_frame):
    newer_data = b"a newer version of the file"
    newer = store_version(public_frame, newer_data, extension=".fits")
    Version.objects.filter(pk=newer.pk).update(created=datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC))
    item = APIClient().get(f"/frames/{public_frame.id}/").json()
    assert item["filename"] == "ogg2m001-ep02-20240501-0042-e91.fits"
    assert body(fetch(item["url"])) == newer_data
    assert [body(fetch(v["url"])) for v in item["version_set"]] == [newer_data, DATA]
    response = fetch(item["url"])
    assert response["Content-Type"] == "image/fits"
    assert response["ETag"] == f'"{hashlib.md5(newer_data).hexdigest()}"'


def test_thumbnail_link(public_frame):
    data = b"\xff\xd8\xff\xe0 a jpeg"
    path = "ogg/ep02/20240501/thumbnails/thumb-small.jpg"
    key = get_filestore().put(path, io.BytesIO(data), md5=hashlib.md5(data).hexdigest(), size=len(data))
    ThumbnailFactory(frame=public_frame, basename="thumb-small", key=key, store_path=path)
    url = APIClient().get("/thumbnails/").json()["results"][0]["url"]
    assert urlsplit(url).path.endswith("/thumb-small.jpg")
    response = fetch(url)
    assert response.status_code == 200
    assert body(response) == data
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Length"] == str(len(data))


def test_head(public_frame):
    response = head(url_for(APIClient(), public_frame))
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(DATA))
    assert response["Content-Type"] == "image/fits"
    assert response["Accept-Ranges"] == "bytes"
    content = body(response) if response.streaming else response.content
    assert content == b""


# --- ranges ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, len(DATA) - 1),
        ("bytes=-5", len(DATA) - 5, len(DATA) - 1),
        ("bytes=100-199", 100, 199),
        ("bytes=1000-999999", 1000, len(DATA) - 1),
        ("bytes=-999999", 0, len(DATA) - 1),
    ],
)
def test_ranges(public_frame, header, first, last):
    response = fetch(url_for(APIClient(), public_frame), HTTP_RANGE=header)
    assert response.status_code == 206
    assert body(response) == DATA[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Content-Type"] == "image/fits"


@pytest.mark.parametrize("header", [f"bytes={len(DATA)}-", "bytes=2000-3000", "bytes=-0", "bytes=9-5"])
def test_unsatisfiable_range(public_frame, header):
    response = fetch(url_for(APIClient(), public_frame), HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"


# --- bad links -----------------------------------------------------------------------------------------------------


def tampered(url: str) -> str:
    parts = urlsplit(url)
    _, _, token, filename = parts.path.split("/")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return f"http://testserver/download/{flipped}/{filename}"


def test_tampered_token_is_404(public_frame):
    response = fetch(tampered(url_for(APIClient(), public_frame)))
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_tokens_not_signed_for_downloads_are_404(public_frame):
    """A payload of our own making, signed with another salt, or naming another object, opens nothing."""
    from django.core import signing

    from archive.filestore.local import make_download_token

    version = Version.objects.get(frame=public_frame)
    issued = int(time.time()) // 3600 * 3600
    other_salt = signing.Signer(salt="another.purpose").sign_object(["v", version.id, None, issued])
    assert fetch(f"http://testserver/download/{other_salt}/x.fits.fz").status_code == 404
    unsigned = signing.Signer(salt="frames.download").sign_object(["v", version.id, None, issued]).rsplit(":", 1)[0]
    assert fetch(f"http://testserver/download/{unsigned}/x.fits.fz").status_code == 404
    for kind, object_id in (("v", 999999999), ("x", version.id)):
        token = make_download_token(kind=kind, object_id=object_id, user_id=None, issued=issued)
        assert fetch(f"http://testserver/download/{token}/x.fits.fz").status_code == 404, kind


def test_links_stay_the_same_within_the_hour(public_frame):
    """The issue time is rounded to the hour, so a page's links do not change from one second to the next."""
    # A frozen clock moved by hand: the test neither sleeps nor depends on which second of the hour it starts in.
    with time_machine.travel(datetime.datetime(2024, 5, 1, 10, 0, 1, tzinfo=datetime.UTC), tick=False) as clock:
        first = APIClient().get(f"/frames/{public_frame.id}/").json()["url"]
        clock.shift(datetime.timedelta(minutes=59, seconds=58))
        assert APIClient().get(f"/frames/{public_frame.id}/").json()["url"] == first
        # The next hour's link differs: the links do follow the clock frozen here.
        clock.shift(datetime.timedelta(seconds=1))
        assert APIClient().get(f"/frames/{public_frame.id}/").json()["url"] != first


def test_garbage_token_is_404(public_frame):
    response = APIClient().get("/download/not-a-token/file.fits.fz")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_link_to_a_deleted_version_is_404(public_frame):
    url = url_for(APIClient(), public_frame)
    Version.objects.filter(frame=public_frame).delete()
    response = fetch(url)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_link_to_a_missing_file_is_404(public_frame):
    url = url_for(APIClient(), public_frame)
    version = Version.objects.get(frame=public_frame)
    get_filestore().delete(version.store_path, version.key)
    assert fetch(url).status_code == 404


def test_expired_link_is_403(public_frame):
    url = url_for(APIClient(), public_frame)
    later = time.time() + settings.DOWNLOAD_URL_EXPIRY_SECONDS + 3601
    with time_machine.travel(later):
        response = fetch(url)
    assert response.status_code == 403
    assert response.json() == EXPIRED


def test_link_works_until_its_expiry(public_frame):
    url = url_for(APIClient(), public_frame)
    # Issue times are rounded down to the hour, so a link lives at least EXPIRY - 1 h.
    with time_machine.travel(time.time() + settings.DOWNLOAD_URL_EXPIRY_SECONDS - 3601):
        response = fetch(url)
        assert response.status_code == 200
        assert body(response) == DATA


def test_short_expiry_setting(public_frame, settings):
    settings.DOWNLOAD_URL_EXPIRY_SECONDS = 60
    issued = datetime.datetime(2030, 1, 1, 12, 0, 30, tzinfo=datetime.UTC)
    with time_machine.travel(issued, tick=False):
        url = url_for(APIClient(), public_frame)
        assert fetch(url).status_code == 200
    with time_machine.travel(issued + datetime.timedelta(seconds=20), tick=False):
        assert fetch(url).status_code == 200
    with time_machine.travel(issued + datetime.timedelta(seconds=31), tick=False):
        response = fetch(url)
        assert response.status_code == 403
        assert response.json() == EXPIRED


def test_expired_and_tampered_is_404(public_frame):
    url = tampered(url_for(APIClient(), public_frame))
    with time_machine.travel(time.time() + settings.DOWNLOAD_URL_EXPIRY_SECONDS + 3601):
        assert fetch(url).status_code == 404


# --- visibility, re-checked at download time ------------------------------------------------------------------------


def test_proprietary_link_is_a_bearer_capability_of_the_member(member):
    frame = FrameFactory(public_date=FUTURE, version=False)
    store_version(frame)
    assert APIClient().get(f"/frames/{frame.id}/").status_code == 404
    url = url_for(token_client(member), frame)
    response = fetch(url)  # no credentials: the link itself is the capability
    assert response.status_code == 200
    assert body(response) == DATA


def test_frame_made_invisible_breaks_anonymous_links_but_not_the_members(public_frame, member):
    anonymous_url = url_for(APIClient(), public_frame)
    member_url = url_for(token_client(member), public_frame)
    assert anonymous_url != member_url
    Frame.objects.filter(pk=public_frame.pk).update(public_date=FUTURE)
    response = fetch(anonymous_url)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert head(anonymous_url).status_code == 404
    response = fetch(member_url)
    assert response.status_code == 200
    assert body(response) == DATA


def test_member_link_stops_working_when_the_member_loses_the_proposal(member):
    frame = FrameFactory(public_date=FUTURE, version=False)
    store_version(frame)
    url = url_for(token_client(member), frame)
    assert fetch(url).status_code == 200
    member.profile.proposals = ["LCO2024A-999"]
    member.profile.save()
    response = fetch(url)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_member_link_stops_working_when_the_frame_changes_proposal(member):
    frame = FrameFactory(public_date=FUTURE, version=False)
    store_version(frame)
    url = url_for(token_client(member), frame)
    Frame.objects.filter(pk=frame.pk).update(proposal_id="LCO2024A-999")
    assert fetch(url).status_code == 404


def test_member_link_stops_working_when_the_member_is_deactivated(member):
    frame = FrameFactory(public_date=FUTURE, version=False)
    store_version(frame)
    url = url_for(token_client(member), frame)
    member.is_active = False
    member.save()
    assert fetch(url).status_code == 404


def test_superuser_link_to_a_frame_that_becomes_a_placeholder_is_404(superuser_client):
    frame = FrameFactory(public_date=FUTURE, version=False)
    store_version(frame)
    url = url_for(superuser_client, frame)
    assert fetch(url).status_code == 200
    Frame.objects.filter(pk=frame.pk).update(observation_date=None)
    assert fetch(url).status_code == 404


def test_thumbnail_link_rechecks_its_frame(public_frame):
    data = b"jpeg bytes"
    path = "ogg/ep02/20240501/thumbnails/thumb-large.jpg"
    key = get_filestore().put(path, io.BytesIO(data), md5=hashlib.md5(data).hexdigest(), size=len(data))
    ThumbnailFactory(frame=public_frame, basename="thumb-large", size="large", key=key, store_path=path)
    url = APIClient().get("/thumbnails/").json()["results"][0]["url"]
    assert fetch(url).status_code == 200
    Frame.objects.filter(pk=public_frame.pk).update(public_date=FUTURE)
    assert fetch(url).status_code == 404


def test_cors_headers_for_allowed_origins(public_frame, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://archive.example.org"]
    url = url_for(APIClient(), public_frame)
    response = fetch(url, HTTP_ORIGIN="https://archive.example.org")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://archive.example.org"
    response = fetch(url, HTTP_ORIGIN="https://elsewhere.example.com")
    assert "Access-Control-Allow-Origin" not in response
