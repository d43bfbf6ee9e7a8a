"""Zips that resume and verify: `GET /frames/zip/` by ids or by the filters of `GET /frames/`, laid out up front
when every file's size and CRC-32 are recorded, served in ranges; `curl -C -` resumes an interrupted download into
the same bytes, which unzip and pass `md5sum -c`. From the local store and from S3 (the moto server)."""

import datetime
import io
import subprocess
import zipfile

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import token_client
from frames import checksums
from frames.tests.factories import FrameFactory
from frames.tests.storedfiles import frame_with_file, store_version

pytestmark = pytest.mark.django_db(transaction=True)


def measured_frames(tmp_path, count: int, **fields):
    frames = [frame_with_file(tmp_path, seed=n + 1, **fields)[0] for n in range(count)]
    checksums.checksums_sweep()
    return frames


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--fail", *args], capture_output=True, timeout=60, check=True)


def verify(path, tmp_path) -> list[str]:
    """Unzip the archive and run md5sum -c in its directory; the member names."""
    target = tmp_path / "unzipped"
    subprocess.run(["unzip", "-q", "-o", str(path), "-d", str(target)], check=True, timeout=60)
    (directory,) = list(target.iterdir())
    subprocess.run(["md5sum", "--quiet", "-c", "md5sums.txt"], cwd=directory, check=True, timeout=60)
    return sorted(item.name for item in directory.iterdir())


@pytest.fixture(params=["local", "s3"])
def store(request):
    if request.param == "s3":
        request.getfixturevalue("s3_bucket")
    return request.param


def test_an_interrupted_download_resumes_into_the_same_verified_zip(store, live_server, tmp_path):
    frames = measured_frames(tmp_path, 3)
    url = f"{live_server.url}/frames/zip/?frame_ids={','.join(str(frame.id) for frame in frames)}"
    whole = tmp_path / "whole.zip"
    headers = curl("-D", "-", "-o", str(whole), url).stdout.decode().lower()
    assert "accept-ranges: bytes" in headers and 'etag: "' in headers
    length = whole.stat().st_size
    assert f"content-length: {length}" in headers

    resumed = tmp_path / "resumed.zip"
    curl("-r", f"0-{length // 2 - 1}", "-o", str(resumed), url)  # the first half, then the connection is gone
    assert resumed.stat().st_size == length // 2
    curl("-C", "-", "-o", str(resumed), url)
    assert resumed.read_bytes() == whole.read_bytes()
    names = verify(resumed, tmp_path)
    assert names == sorted([*(f"{frame.basename}.fits.fz" for frame in frames), "MANIFEST.csv", "md5sums.txt"])


def test_ranges_if_range_and_unsatisfiable_ranges(client, tmp_path):
    frames = measured_frames(tmp_path, 2)
    url = f"/frames/zip/?frame_ids={frames[0].id},{frames[1].id}"
    first = client.get(url)
    whole = b"".join(first.streaming_content)
    etag = first["ETag"]
    part = client.get(url, HTTP_RANGE="bytes=100-199", HTTP_IF_RANGE=etag)
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert b"".join(part.streaming_content) == whole[100:200]
    tail = client.get(url, HTTP_RANGE="bytes=-50")
    assert b"".join(tail.streaming_content) == whole[-50:]
    refused = client.get(url, HTTP_RANGE=f"bytes={len(whole)}-")
    assert refused.status_code == 416 and refused["Content-Range"] == f"bytes */{len(whole)}"

    # A new version makes the archive another one: a stale If-Range gets the whole of it, under a new ETag.
    store_version(frames[0], b"a newer file" * 50)
    checksums.checksums_sweep()
    stale = client.get(url, HTTP_RANGE="bytes=100-199", HTTP_IF_RANGE=etag)
    assert stale.status_code == 200 and stale["ETag"] != etag
    assert len(b"".join(stale.streaming_content)) == int(stale["Content-Length"])
    head = client.head(url)
    assert head.status_code == 200 and head["Content-Length"] == stale["Content-Length"]


def test_files_not_yet_measured_are_streamed_with_their_manifest(client, tmp_path):
    frames = [frame_with_file(tmp_path, seed=n + 1)[0] for n in range(2)]  # no checksum sweep yet
    response = client.get(f"/frames/zip/?frame_ids={frames[0].id},{frames[1].id}")
    assert response.status_code == 200 and "Accept-Ranges" not in response and "ETag" not in response
    path = tmp_path / "streamed.zip"
    path.write_bytes(b"".join(response.streaming_content))
    assert verify(path, tmp_path) == sorted([*(f"{f.basename}.fits.fz" for f in frames), "MANIFEST.csv", "md5sums.txt"])


def test_download_by_query_respects_visibility_and_limits(client, make_user, superuser, tmp_path, settings):
    later = timezone.now() + datetime.timedelta(days=300)
    public = measured_frames(tmp_path, 2, site_id="coj")
    secret = frame_with_file(tmp_path, seed=9, site_id="coj", proposal_id="LCO2024A-007", public_date=later)[0]
    checksums.checksums_sweep()
    FrameFactory(site_id="ogg")

    def members(caller, query: str) -> list[str]:
        response = caller.get(f"/frames/zip/?{query}")
        assert response.status_code == 200, response.content
        with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
            return sorted(n.rsplit("/", 1)[-1] for n in archive.namelist() if n.endswith(".fits.fz"))

    public_names = sorted(f"{frame.basename}.fits.fz" for frame in public)
    assert members(client, "site_id=coj") == public_names
    member = token_client(make_user("member", proposals=["LCO2024A-007"]))
    assert members(member, "site_id=coj") == sorted([*public_names, f"{secret.basename}.fits.fz"])
    assert members(token_client(superuser), "site_id=coj&public=false") == [f"{secret.basename}.fits.fz"]

    nothing = client.get("/frames/zip/?site_id=lsc")
    assert nothing.status_code == 400 and "No frames" in nothing.json()["detail"]
    settings.ZIP_DOWNLOAD_MAX_FILES = 1
    too_many = client.get("/frames/zip/?site_id=coj")
    assert too_many.status_code == 400 and "More than 1 frames match" in too_many.json()["detail"]
    settings.ZIP_DOWNLOAD_MAX_FILES, settings.ZIP_DOWNLOAD_MAX_BYTES = 1000, 100
    too_big = client.get("/frames/zip/?site_id=coj")
    assert too_big.status_code == 400 and "a zip holds at most 100" in too_big.json()["detail"]
    bad = client.get("/frames/zip/?frame_ids=1,x")
    assert bad.status_code == 400 and "frame_ids" in bad.json()
    for huge in ("0", str(2**63), "-3"):  # ids no frame can have, by the query string or the body
        assert client.get(f"/frames/zip/?frame_ids={huge}").status_code == 400
        assert (
            client.post("/frames/zip/", {"frame_ids": [int(huge)]}, content_type="application/json").status_code == 400
        )
    unnamed = client.get("/frames/zip/")
    assert unnamed.status_code == 400 and "Name the frames" in unnamed.json()["detail"]


@pytest.fixture
def three_callers(make_user, superuser, tmp_path):
    """Two public frames and one of proposal 007 at coj, one frame elsewhere; anonymous, member and superuser."""
    later = timezone.now() + datetime.timedelta(days=300)
    public = [frame_with_file(tmp_path, seed=n + 1, site_id="coj")[0] for n in range(2)]
    secret = frame_with_file(tmp_path, seed=9, site_id="coj", proposal_id="LCO2024A-007", public_date=later)[0]
    FrameFactory(site_id="ogg")
    callers = {
        "anonymous": APIClient(),
        "member": token_client(make_user("member", proposals=["LCO2024A-007"])),
        "superuser": token_client(superuser),
    }
    return public, secret, callers


def test_the_summary_counts_only_what_the_caller_may_see(three_callers):
    public, secret, callers = three_callers
    sizes = {frame.id: frame.version_set.get().size for frame in [*public, secret]}
    expected = {
        "anonymous": {"count": 2, "bytes": sizes[public[0].id] + sizes[public[1].id], "unknown_sizes": 0},
        "member": {"count": 3, "bytes": sum(sizes.values()), "unknown_sizes": 0},
        "superuser": {"count": 3, "bytes": sum(sizes.values()), "unknown_sizes": 0},
    }
    for name, caller in callers.items():
        assert caller.get("/frames/download-summary/", {"site_id": "coj"}).json() == expected[name], name
    public[0].version_set.update(size=None)
    unknown = callers["anonymous"].get("/frames/download-summary/", {"site_id": "coj"}).json()
    assert unknown == {"count": 2, "bytes": sizes[public[1].id], "unknown_sizes": 1}
    bad = callers["anonymous"].get("/frames/download-summary/", {"start": "not a date"})
    assert bad.status_code == 400


def test_the_download_script_fetches_and_verifies_every_visible_file(three_callers, live_server, tmp_path):
    public, secret, callers = three_callers
    names = {
        "anonymous": sorted(f"{frame.basename}.fits.fz" for frame in public),
        "member": sorted(f"{frame.basename}.fits.fz" for frame in [*public, secret]),
    }
    for caller in ("anonymous", "member"):
        headers = []
        if caller == "member":
            key = callers["member"]._credentials["HTTP_AUTHORIZATION"]
            headers = ["-H", f"Authorization: {key}"]
        script = curl(*headers, f"{live_server.url}/frames/download-script/?site_id=coj").stdout.decode()
        assert script.startswith("#!/bin/sh") and script.count("\nfetch ") == len(names[caller])
        folder = tmp_path / caller
        folder.mkdir()
        (folder / "get.sh").write_text(script)
        first = subprocess.run(["sh", "get.sh"], cwd=folder, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stdout + first.stderr
        assert sorted(p.name for p in folder.iterdir() if p.name != "get.sh") == names[caller]
        # Run again after damaging one file and cutting another short: the first is fetched again, the second
        # resumed, the others skipped as whole; everything matches its md5 afterwards.
        damaged, cut = folder / names[caller][0], folder / names[caller][1]
        whole = {path.name: path.read_bytes() for path in (damaged, cut)}
        damaged.write_bytes(bytes(len(whole[damaged.name])))
        cut.write_bytes(whole[cut.name][:100])
        again = subprocess.run(["sh", "get.sh"], cwd=folder, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.count("(already here)") == len(names[caller]) - 2
        assert {path.name: path.read_bytes() for path in (damaged, cut)} == whole
    refused = callers["anonymous"].get("/frames/download-script/", {"start": "not a date"})
    assert refused.status_code == 400
