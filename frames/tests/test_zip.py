"""Zip downloads: streamed as built, every member's bytes, the web client's form, limits and visibility."""

import csv
import hashlib
import io
import zipfile

import numpy as np
import pytest
from astropy.io import fits
from django.utils import timezone

from conftest import token_client
from frames.models import Version
from frames.tests.factories import FrameFactory
from frames.tests.storedfiles import frame_with_file, store_version

pytestmark = pytest.mark.django_db


MANIFEST_FILES = ("MANIFEST.csv", "md5sums.txt")


class FramesZip(zipfile.ZipFile):
    """A zip download whose manifest has been checked against its members; `namelist()` lists the members alone."""

    def namelist(self):
        return [name for name in super().namelist() if name.rsplit("/", 1)[-1] not in MANIFEST_FILES]


def check_manifest(archive: zipfile.ZipFile) -> None:
    """md5sums.txt and MANIFEST.csv follow the members and describe exactly the members written, as md5sum -c
    reads them (names relative to the zip's directory)."""
    names = archive.namelist()
    directory = names[0].split("/", 1)[0]
    members = [name for name in names if name.rsplit("/", 1)[-1] not in (*MANIFEST_FILES, "MISSING.txt")]
    sums = archive.read(f"{directory}/md5sums.txt").decode().splitlines()
    assert sums == [f"{hashlib.md5(archive.read(name)).hexdigest()}  {name.split('/', 1)[1]}" for name in members]
    rows = list(csv.DictReader(io.StringIO(archive.read(f"{directory}/MANIFEST.csv").decode())))
    assert [row["filename"] for row in rows] == [name.split("/", 1)[1] for name in members]
    assert [int(row["size"]) for row in rows] == [archive.getinfo(name).file_size for name in members]


def zip_of(response) -> zipfile.ZipFile:
    assert response.status_code == 200, getattr(response, "content", b"")[:300]
    archive = FramesZip(io.BytesIO(b"".join(response.streaming_content)))
    check_manifest(zipfile.ZipFile(archive.fp))
    return archive


def directory(count: int) -> str:
    return f"ocs_archive_data-{timezone.now():%Y%m%d}-{count}"


def stored_frames(count: int, **fields):
    frames = []
    for index in range(count):
        frame = FrameFactory(version=False, **fields)
        data = f"bytes of frame {index} ".encode() * (index + 1)
        store_version(frame, data)
        frames.append((frame, data))
    return frames


def test_fifty_frames_byte_for_byte(api_client):
    frames = stored_frames(50)
    response = api_client.post("/frames/zip/", {"frame_ids": [f.id for f, _ in frames]}, format="json")
    archive = zip_of(response)
    name = directory(50)
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="{name}.zip"'
    assert response.cookies["fileDownload"].value == "true"
    assert response.cookies["fileDownload"]["path"] == "/"
    assert response["X-Accel-Buffering"] == "no"
    assert "X-Frame-Options" not in response
    assert archive.namelist() == [f"{name}/{frame.basename}.fits.fz" for frame, _ in frames]
    for frame, data in frames:
        assert archive.read(f"{name}/{frame.basename}.fits.fz") == data
    assert archive.testzip() is None


def test_sizes_known_give_a_content_length(api_client):
    frames = stored_frames(3)
    response = api_client.post("/frames/zip/", {"frame_ids": [f.id for f, _ in frames]}, format="json")
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)


@pytest.mark.parametrize("store", ["local", "s3"])
def test_sizes_the_ingest_did_not_give_are_asked_of_the_store_and_kept(api_client, store, request):
    if store == "s3":
        request.getfixturevalue("s3_bucket")
    frames = stored_frames(3)
    Version.objects.filter(frame__in=[f for f, _ in frames]).update(size=None)
    response = api_client.post("/frames/zip/", {"frame_ids": [f.id for f, _ in frames]}, format="json")
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    assert zipfile.ZipFile(io.BytesIO(body)).testzip() is None
    kept = dict(Version.objects.filter(frame__in=[f for f, _ in frames]).values_list("frame_id", "size"))
    assert kept == {frame.id: len(data) for frame, data in frames}


def test_a_size_the_store_cannot_tell_leaves_the_zip_unsized(api_client):
    (present, data), (gone, _) = stored_frames(2)
    Version.objects.filter(frame__in=[present, gone]).update(size=None)
    gone.version_set.update(key="no-such-version")
    response = api_client.post("/frames/zip/", {"frame_ids": [present.id, gone.id]}, format="json")
    assert "Content-Length" not in response
    archive = zip_of(response)
    assert archive.read(f"{directory(2)}/MISSING.txt").decode() == f"{directory(2)}/{gone.basename}.fits.fz\n"
    assert Version.objects.get(frame=present).size == len(data)
    assert Version.objects.get(frame=gone).size is None


def test_uncompressed_members_are_not_sized(api_client, tmp_path):
    frame, _ = frame_with_file(tmp_path)
    Version.objects.filter(frame=frame).update(size=None)
    response = api_client.post("/frames/zip/", {"frame_ids": [frame.id], "uncompress": True}, format="json")
    assert "Content-Length" not in response
    zip_of(response)
    assert Version.objects.get(frame=frame).size is None


def test_the_web_clients_form_and_duplicates(api_client):
    frames = stored_frames(3)
    form = {f"frame_ids[{i}]": frame.id for i, (frame, _) in enumerate(frames)}
    form["frame_ids[3]"] = frames[0][0].id
    response = api_client.post("/frames/zip/", {**form, "uncompress": "false", "catalog_only": "false"})
    assert len(zip_of(response).namelist()) == 3
    repeated = api_client.post("/frames/zip/", {"frame_ids": [frames[1][0].id, frames[2][0].id]})
    assert len(zip_of(repeated).namelist()) == 2
    bracketed = api_client.post("/frames/zip/", {"frame_ids[]": [frames[2][0].id]})
    assert len(zip_of(bracketed).namelist()) == 1


def test_uncompress_gives_what_astropy_reads(api_client, tmp_path):
    frame, data = frame_with_file(tmp_path)
    archive = zip_of(api_client.post("/frames/zip/", {"frame_ids": [frame.id], "uncompress": True}, format="json"))
    (name,) = archive.namelist()
    assert name == f"{directory(1)}/{frame.basename}.fits"
    ours = fits.open(io.BytesIO(archive.read(name)))
    assert np.array_equal(ours[1].data, fits.open(io.BytesIO(data))[1].data)


def test_catalog_only(api_client, tmp_path):
    with_catalog, _ = frame_with_file(tmp_path / "a", with_catalog=True) if (tmp_path / "a").mkdir() is None else 0
    without, _ = frame_with_file(tmp_path / "b") if (tmp_path / "b").mkdir() is None else 0
    raw = FrameFactory(version=False, reduction_level=0)
    store_version(raw, b"raw bytes")
    ids = [with_catalog.id, without.id, raw.id]
    archive = zip_of(api_client.post("/frames/zip/", {"frame_ids": ids, "catalog_only": True}, format="json"))
    name = directory(3)
    assert archive.namelist() == [f"{name}/{with_catalog.basename}-catalog.fits", f"{name}/{raw.basename}.fits.fz"]
    catalog = fits.open(io.BytesIO(archive.read(f"{name}/{with_catalog.basename}-catalog.fits")))
    assert catalog[1].name == "CAT"


def test_a_member_missing_from_the_store_is_listed(api_client):
    (present, data), (gone, _) = stored_frames(2)
    gone.version_set.update(key="no-such-version", size=None)
    archive = zip_of(api_client.post("/frames/zip/", {"frame_ids": [present.id, gone.id]}, format="json"))
    name = directory(2)
    assert archive.read(f"{name}/{present.basename}.fits.fz") == data
    assert archive.read(f"{name}/MISSING.txt").decode() == f"{name}/{gone.basename}.fits.fz\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"frame_ids": []}, {"frame_ids": ["This list may not be empty."]}),
        ({}, {"frame_ids": ["This field is required."]}),
        ({"frame_ids": ["x"]}, None),
        ({"frame_ids": [0]}, None),
    ],
)
def test_bad_requests(api_client, body, expected):
    response = api_client.post("/frames/zip/", body, format="json")
    assert response.status_code == 400
    if expected:
        assert response.json() == expected


def test_limits_come_from_settings(api_client, settings):
    settings.ZIP_DOWNLOAD_MAX_FILES = 3
    settings.ZIP_DOWNLOAD_MAX_UNCOMPRESSED_FILES = 2
    response = api_client.post("/frames/zip/", {"frame_ids": [1, 2, 3, 4]}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": [
            "A maximum of 3 frames can be downloaded in one zip file. Please try again with fewer frame_ids."
        ]
    }
    response = api_client.post("/frames/zip/", {"frame_ids": [1, 2, 3], "uncompress": True}, format="json")
    assert response.json() == {
        "non_field_errors": [
            "A maximum of 2 frames can be downloaded with the uncompress flag. Please try again with fewer frame_ids."
        ]
    }


def test_visibility_applies_to_every_frame(api_client, make_user):
    ((public, public_data),) = stored_frames(1)
    secret = FrameFactory(version=False, proposal_id="SECRET-1", public_date="2999-01-01T00:00Z")
    store_version(secret, b"proprietary bytes")
    ids = {"frame_ids": [public.id, secret.id]}
    anonymous = zip_of(api_client.post("/frames/zip/", ids, format="json"))
    assert anonymous.namelist() == [f"{directory(1)}/{public.basename}.fits.fz"]
    assert b"proprietary bytes" not in b"".join(anonymous.read(n) for n in anonymous.namelist())
    outsider = zip_of(token_client(make_user("outsider", ["OTHER"])).post("/frames/zip/", ids, format="json"))
    assert len(outsider.namelist()) == 1
    member = zip_of(token_client(make_user("member", ["SECRET-1"])).post("/frames/zip/", ids, format="json"))
    assert member.read(f"{directory(2)}/{secret.basename}.fits.fz") == b"proprietary bytes"
    only_secret = api_client.post("/frames/zip/", {"frame_ids": [secret.id]}, format="json")
    assert only_secret.status_code == 404


def test_zip_from_s3(api_client, s3_bucket):
    frames = stored_frames(5)
    archive = zip_of(api_client.post("/frames/zip/", {"frame_ids": [f.id for f, _ in frames]}, format="json"))
    for frame, data in frames:
        assert archive.read(f"{directory(5)}/{frame.basename}.fits.fz") == data


class RepeatingReader:
    """A file-like object of `size` bytes of a repeated pattern, so big test files need no memory."""

    def __init__(self, size: int, pattern: bytes):
        self.remaining = size
        self.block = (pattern * (1024 * 1024 // len(pattern) + 1))[: 1024 * 1024]

    def read(self, n: int = -1) -> bytes:
        n = self.remaining if n < 0 else min(n, self.remaining)
        chunk = (self.block * (n // len(self.block) + 1))[:n]
        self.remaining -= n
        return chunk


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_a_gigabyte_zip_streams_in_bounded_memory(api_client):
    from archive.filestore import get_filestore
    from frames.tests.factories import VersionFactory

    size = 50 * 1024 * 1024
    frames = []
    for index in range(20):
        frame = FrameFactory(version=False)
        path = f"ogg/ep02/20240501/processed/{frame.basename}.fits.fz"
        key = get_filestore().put(path, RepeatingReader(size, f"frame {index} ".encode()), md5="0" * 32, size=size)
        VersionFactory(frame=frame, key=key, store_path=path, size=size)
        frames.append(frame)
    response = api_client.post("/frames/zip/", {"frame_ids": [f.id for f in frames]}, format="json")
    assert response.status_code == 200
    baseline = peak = _rss_bytes()
    total = 0
    for chunk in response.streaming_content:
        total += len(chunk)
        peak = max(peak, _rss_bytes())
    assert total == int(response["Content-Length"]) > 20 * size
    print(f"zip of {total / 2**20:.0f} MB: RSS grew by {(peak - baseline) / 2**20:.1f} MB")
    assert peak - baseline < 100 * 1024 * 1024, f"RSS grew by {(peak - baseline) / 2**20:.0f} MB"


def test_auth_token_in_the_body_opens_proprietary_frames(api_client, make_user):
    from rest_framework.authtoken.models import Token

    secret = FrameFactory(version=False, proposal_id="SECRET-1", public_date="2999-01-01T00:00Z")
    store_version(secret, b"proprietary bytes")
    member = make_user("member", ["SECRET-1"])
    token = Token.objects.get(user=member).key
    form = {"frame_ids[0]": secret.id, "auth_token": token, "uncompress": "false"}
    archive = zip_of(api_client.post("/frames/zip/", form))
    assert archive.read(f"{directory(1)}/{secret.basename}.fits.fz") == b"proprietary bytes"
    json_body = api_client.post("/frames/zip/", {"frame_ids": [secret.id], "auth_token": token}, format="json")
    assert len(zip_of(json_body).namelist()) == 1


def test_an_unknown_or_inactive_body_token_is_a_404(api_client, make_user):
    from rest_framework.authtoken.models import Token

    ((frame, _),) = stored_frames(1)
    assert api_client.post("/frames/zip/", {"frame_ids[0]": frame.id, "auth_token": "f" * 40}).status_code == 404
    inactive = make_user("gone", ["SECRET-1"])
    inactive.is_active = False
    inactive.save()
    token = Token.objects.get(user=inactive).key
    assert api_client.post("/frames/zip/", {"frame_ids[0]": frame.id, "auth_token": token}).status_code == 404
    # An empty token is no credential at all: the public frame downloads.
    assert api_client.post("/frames/zip/", {"frame_ids[0]": frame.id, "auth_token": ""}).status_code == 200


def test_a_header_credential_wins_over_the_body(make_user):
    from rest_framework.authtoken.models import Token

    secret = FrameFactory(version=False, proposal_id="SECRET-1", public_date="2999-01-01T00:00Z")
    store_version(secret, b"proprietary bytes")
    outsider = token_client(make_user("outsider", ["OTHER"]))
    member_token = Token.objects.get(user=make_user("member", ["SECRET-1"])).key
    response = outsider.post("/frames/zip/", {"frame_ids": [secret.id], "auth_token": member_token}, format="json")
    assert response.status_code == 404  # the outsider's header decides, and they cannot see the frame


@pytest.mark.parametrize("uncompress", [False, True])
def test_files_that_are_not_fits_are_zipped_with_their_manifest(api_client, tmp_path, uncompress):
    """A spectrum's .tar.gz is zipped as stored (and listed in the manifest) beside FITS files, sized or not."""
    spectrum = FrameFactory(version=False, configuration_type="SPECTRUM")
    store_version(spectrum, b"a tarball of spectra" * 10, extension=".tar.gz")
    fits_frame, _ = frame_with_file(tmp_path)
    body = {"frame_ids": [spectrum.id, fits_frame.id], "uncompress": uncompress}
    archive = zip_of(api_client.post("/frames/zip/", body, format="json"))
    assert f"{directory(2)}/{spectrum.basename}.tar.gz" in archive.namelist()
