"""Funpack and catalog downloads: in-process with astropy, for visible frames only."""

import io

import numpy as np
import pytest
from astropy.io import fits

from conftest import token_client
from frames.tests.factories import FrameFactory
from frames.tests.storedfiles import frame_with_file, store_version

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_funpack_decompresses_the_current_version(api_client, tmp_path):
    frame, data = frame_with_file(tmp_path)
    response = api_client.get(f"/frame-funpack/{frame.id}/funpack/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="{frame.basename}.fits"'
    ours = fits.open(io.BytesIO(body(response)))
    theirs = fits.open(io.BytesIO(data))
    assert [type(h).__name__ for h in ours] == ["PrimaryHDU", "ImageHDU"]
    assert np.array_equal(ours[1].data, theirs[1].data)
    assert ours[1].header["OBJECT"] == theirs[1].header["OBJECT"]


def test_funpack_passes_a_plain_fits_through(api_client, tmp_path):
    frame, data = frame_with_file(tmp_path, compressed=False)
    response = api_client.get(f"/frame-funpack/{frame.id}/funpack/")
    assert response.status_code == 200
    assert body(response) == data
    assert response["Content-Disposition"] == f'attachment; filename="{frame.basename}.fits"'


def test_funpack_of_a_non_fits_file_is_a_400(api_client):
    frame = FrameFactory(version=False)
    store_version(frame, b"%PDF-1.4", extension=".pdf")
    response = api_client.get(f"/frame-funpack/{frame.id}/funpack/")
    assert response.status_code == 400
    assert response.json() == {"detail": f"Frame {frame.id} is not a FITS file."}


def test_funpack_of_a_corrupt_file_is_the_references_message(api_client):
    frame = FrameFactory(version=False)
    store_version(frame, b"SIMPLE  = this is not a fits file" * 100, extension=".fits.fz")
    response = api_client.get(f"/frame-funpack/{frame.id}/funpack/")
    assert response.status_code == 500
    assert response.json() == {
        "detail": "There was a problem downloading your files. Please try again later or select fewer files."
    }


def test_catalog_extracts_the_sci_header_and_cat_table(api_client, tmp_path):
    frame, _ = frame_with_file(tmp_path, with_catalog=True)
    response = api_client.get(f"/frame-catalog/{frame.id}/catalog/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{frame.basename}-catalog.fits"'
    hdus = fits.open(io.BytesIO(body(response)))
    assert hdus[0].data is None
    assert hdus[0].header["OBJECT"] == "M84"
    assert hdus[1].name == "CAT"
    assert list(hdus[1].data["ra"]) == [0.0, 1.0, 2.0]


def test_a_frame_without_a_catalog_is_a_404(api_client, tmp_path):
    frame, _ = frame_with_file(tmp_path)
    response = api_client.get(f"/frame-catalog/{frame.id}/catalog/")
    assert response.status_code == 404
    assert response.json() == {"detail": "This frame has no catalog."}


@pytest.mark.parametrize("route", ["/frame-funpack/{id}/funpack/", "/frame-catalog/{id}/catalog/"])
def test_proprietary_bytes_only_for_members(api_client, make_user, tmp_path, route):
    frame, _ = frame_with_file(tmp_path, with_catalog=True, proposal_id="SECRET-1", public_date="2999-01-01T00:00Z")
    url = route.format(id=frame.id)
    assert api_client.get(url).status_code == 404
    assert token_client(make_user("outsider", ["OTHER"])).get(url).status_code == 404
    assert token_client(make_user("member", ["SECRET-1"])).get(url).status_code == 200
    assert api_client.get(route.format(id=987654)).status_code == 404
    assert api_client.get(route.format(id="nope")).status_code == 404


@pytest.mark.parametrize("route", ["/frame-funpack/{id}/funpack/", "/frame-catalog/{id}/catalog/"])
def test_frames_without_a_version_are_404(api_client, route):
    frame = FrameFactory(version=False)
    assert api_client.get(route.format(id=frame.id)).status_code == 404


def test_funpack_from_s3_reads_the_frames_own_version(api_client, s3_bucket, tmp_path):
    import hashlib

    from archive.filestore import get_filestore
    from frames.tests.fitsfiles import make_fits

    frame, first = frame_with_file(tmp_path, seed=1)
    version = frame.version_set.get()
    # Another upload to the same object path becomes the bucket's current object; this frame keeps its version.
    other = make_fits(tmp_path / "other.fits.fz", seed=2).read_bytes()
    get_filestore().put(version.store_path, io.BytesIO(other), md5=hashlib.md5(other).hexdigest(), size=len(other))
    response = api_client.get(f"/frame-funpack/{frame.id}/funpack/")
    ours = fits.open(io.BytesIO(body(response)))
    assert np.array_equal(ours[1].data, fits.open(io.BytesIO(first))[1].data)
    assert not np.array_equal(ours[1].data, fits.open(io.BytesIO(other))[1].data)
