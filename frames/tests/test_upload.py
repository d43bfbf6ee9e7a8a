"""POST /frames/upload/: server-side ingest of FITS files into PostGIS and the store (a moto S3 server or local)."""

import datetime
import hashlib
import io
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import requests
from django.db import OperationalError
from rest_framework.test import APIClient

from archive.filestore import get_filestore, reset_filestore
from conftest import free_port, token_client
from frames import fitsingest, services
from frames.models import Frame, Headers, OutboxMessage, Version
from frames.tests.fitsfiles import make_fits
from frames.tests.shapes import record_read_back

pytestmark = pytest.mark.django_db

ACROSS_ZERO = "lsc1m005-fa15-20240501-0042-e91"
NEAR_POLE = "tfn0m414-kb99-20240501-0007-e91"
RECORD_KEYS = {
    "id", "basename", "area", "related_frames", "version_set", "filename", "url", "reduction_level", "observation_day",
    "observation_date", "proposal_id", "instrument_id", "target_name", "site_id", "telescope_id", "exposure_time",
    "primary_optical_element", "public_date", "configuration_type", "observation_id", "request_id",
}  # fmt: skip


def upload(client, path: Path, **fields):
    with open(path, "rb") as handle:
        return client.post("/frames/upload/", {"file": handle, **fields}, format="multipart")


def names_covering(client, point: str) -> list[str]:
    response = client.get("/frames/", {"covers": point})
    assert response.status_code == 200, response.content
    return [item["basename"] for item in response.json()["results"]]


def stored_versions(bucket) -> list[dict]:
    return bucket["client"].list_object_versions(Bucket=bucket["name"]).get("Versions", [])


def local_files(settings) -> list[Path]:
    root = Path(settings.FILESTORE_LOCAL_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest.fixture
def put_calls(s3_bucket):
    """The parameters of every PutObject the store sends to the moto server."""
    calls = []
    get_filestore().client.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **kw: calls.append(params)
    )
    return calls


# --- footprints found by ?covers= ---------------------------------------------------------------------------------


def test_a_field_across_ra_zero_is_found_at_its_centre_and_not_just_outside(superuser_client, s3_bucket, tmp_path):
    path = make_fits(tmp_path / f"{ACROSS_ZERO}.fits.fz", ra=0.01, dec=-30.0, scale_deg=0.001)
    response = upload(superuser_client, path)
    assert response.status_code == 201, response.json()
    record = response.json()
    assert set(record) == RECORD_KEYS
    assert names_covering(superuser_client, "POINT(0.01 -30)") == [ACROSS_ZERO]
    assert names_covering(superuser_client, "POINT(359.99 -30)") == [ACROSS_ZERO]  # west of RA 0
    assert names_covering(superuser_client, "POINT(-0.01 -30)") == [ACROSS_ZERO]
    assert names_covering(superuser_client, "POINT(0.06 -30)") == []  # 0.037 degrees of RA is the half width
    assert names_covering(superuser_client, "POINT(359.96 -30)") == []
    assert names_covering(superuser_client, "POINT(0.01 -29.96)") == []
    ring = record["area"]["coordinates"][0]
    assert all(0 <= ra < 360 for ra, _ in ring) and {ra > 359 for ra, _ in ring} == {True, False}


def test_a_field_containing_the_pole_encloses_it(superuser_client, tmp_path):
    path = make_fits(tmp_path / f"{NEAR_POLE}.fits.fz", ra=45.0, dec=89.99, scale_deg=0.001)
    response = upload(superuser_client, path)
    assert response.status_code == 201, response.json()
    for inside in ("POINT(45 89.99)", "POINT(0 90)", "POINT(225 89.99)", "POINT(300 89.995)"):
        assert names_covering(superuser_client, inside) == [NEAR_POLE], inside
    for outside in ("POINT(45 89.95)", "POINT(225 89.97)", "POINT(45 80)"):
        assert names_covering(superuser_client, outside) == [], outside


def test_a_radius_header_gives_a_circle_found_by_covers(superuser_client, tmp_path):
    path = make_fits(tmp_path / "a.fits.fz", wcs=False, RADIUS=360.0, RA="12:25:03.6", DEC="+12:53:13")
    assert upload(superuser_client, path).status_code == 201
    assert names_covering(superuser_client, "POINT(186.265 12.887)") == ["a"]
    assert names_covering(superuser_client, "POINT(186.265 12.98)") == ["a"]  # 0.093 of a 0.1 degree radius
    assert names_covering(superuser_client, "POINT(186.265 12.99)") == []


def test_a_file_without_wcs_is_archived_without_footprint(superuser_client, tmp_path):
    response = upload(superuser_client, make_fits(tmp_path / "nowcs.fits.fz", wcs=False))
    assert response.status_code == 201
    assert response.json()["area"] is None
    assert "area" not in superuser_client.get(f"/frames/{response.json()['id']}/").json()


# --- the stored file and the record -------------------------------------------------------------------------------


def test_the_record_comes_from_the_headers_and_the_bytes_are_stored_as_uploaded(
    superuser_client, s3_bucket, put_calls, tmp_path
):
    path = make_fits(tmp_path / f"{ACROSS_ZERO}.fits.fz", ra=0.01, dec=-30.0, L1IDBIAS="bias-frame.fits.fz")
    data = path.read_bytes()
    response = upload(superuser_client, path)
    assert response.status_code == 201, response.json()
    record = response.json()
    assert record["basename"] == ACROSS_ZERO
    assert record["filename"] == f"{ACROSS_ZERO}.fits.fz"
    assert record["observation_date"] == "2024-05-01T10:00:00.261000Z"
    assert record["observation_day"] == "2024-04-30"
    assert record["public_date"] == "2024-05-01T10:00:00.261000Z"  # an EPO proposal is public at once
    assert (record["proposal_id"], record["instrument_id"], record["site_id"], record["telescope_id"]) == (
        "LCOEPO2024A-002",
        "kb05",
        "coj",
        "1m0a",
    )
    assert (record["configuration_type"], record["reduction_level"], record["target_name"]) == ("EXPOSE", 91, "M84")
    assert (record["observation_id"], record["request_id"], record["exposure_time"]) == (53195954, 296263, 10.032415)
    assert record["primary_optical_element"] == "V"
    frame = Frame.objects.get(pk=record["id"])
    assert list(frame.related_frames.values_list("basename", flat=True)) == ["bias-frame"]
    headers = Headers.objects.get(frame=frame).data
    assert headers["L1PUBDAT"] == "2024-05-01T10:00:00.261" and headers["L1IDBIAS"] == "bias-frame"

    version = Version.objects.get(frame=frame)
    assert version.md5 == hashlib.md5(data).hexdigest() == record["version_set"][0]["md5"]
    assert version.store_path == f"coj/kb05/20240430/processed/{ACROSS_ZERO}.fits.fz"
    assert version.extension == ".fits.fz"
    download = requests.get(record["url"], timeout=10)  # the presigned URL of the version, from moto
    assert download.status_code == 200 and download.content == data

    head = s3_bucket["client"].head_object(Bucket=s3_bucket["name"], Key=version.store_path, VersionId=version.key)
    assert head["ContentType"] == "image/fits"
    assert head["ContentDisposition"] == f"attachment; filename={ACROSS_ZERO}.fits.fz"
    assert head["StorageClass"] == "STANDARD_IA"  # observed over S3_DAYS_TO_IA_STORAGE (60) days ago
    (put,) = put_calls
    assert put["ContentMD5"] and put["ContentLength"] == len(data)


def test_recent_data_is_stored_standard_and_an_empty_setting_sends_no_class(
    superuser_client, s3_bucket, put_calls, tmp_path, settings
):
    recent = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(days=1)
    assert upload(superuser_client, make_fits(tmp_path / "recent.fits.fz", date_obs=recent)).status_code == 201
    settings.S3_DAYS_TO_IA_STORAGE = ""
    assert upload(superuser_client, make_fits(tmp_path / "old.fits.fz", seed=2)).status_code == 201
    assert [call.get("StorageClass") for call in put_calls] == ["STANDARD", None]
    version = Version.objects.get(frame__basename="old")
    head = s3_bucket["client"].head_object(Bucket=s3_bucket["name"], Key=version.store_path, VersionId=version.key)
    assert head.get("StorageClass", "STANDARD") == "STANDARD"


def test_an_uncompressed_file_is_archived_raw_without_rlevel(superuser_client, tmp_path):
    path = make_fits(tmp_path / "ogg2m001-ep02-20240501-0001-e00.fits", compressed=False, omit=("RLEVEL",))
    response = upload(superuser_client, path)
    assert response.status_code == 201, response.json()
    assert response.json()["reduction_level"] == 0
    version = Version.objects.get(frame_id=response.json()["id"])
    assert version.store_path == "coj/kb05/20240430/raw/ogg2m001-ep02-20240501-0001-e00.fits"
    download = APIClient().get(urlsplit(response.json()["url"]).path)  # the local store's signed link
    assert b"".join(download.streaming_content) == path.read_bytes()


def test_an_upload_writes_its_notification(superuser_client, tmp_path):
    response = upload(superuser_client, make_fits(tmp_path / f"{ACROSS_ZERO}.fits.fz", ra=0.01, dec=-30.0))
    frame_id = response.json()["id"]
    (message,) = OutboxMessage.objects.filter(frame_id=frame_id)
    version = response.json()["version_set"][0]
    assert message.message_id == f"{frame_id}-{version['md5']}"
    payload = message.payload
    assert payload["frameid"] == frame_id
    assert payload["basename"] == ACROSS_ZERO
    assert payload["filename"] == f"{ACROSS_ZERO}.fits.fz"
    assert payload["version_set"] == [{"key": version["key"], "md5": version["md5"], "extension": ".fits.fz"}]
    assert payload["PROPID"] == "LCOEPO2024A-002"
    area = json.loads(payload["area"])
    assert all(0 <= ra < 360 for ra, _ in area["coordinates"][0])


def test_the_md5_comes_from_the_spooling_not_a_second_read(superuser_client, tmp_path, monkeypatch):
    def no_second_read(fileobj):
        raise AssertionError("the upload was read again for its md5")

    monkeypatch.setattr(fitsingest, "file_checksum", no_second_read)
    path = make_fits(tmp_path / "a.fits.fz")
    response = upload(superuser_client, path)
    assert response.status_code == 201, response.json()
    assert response.json()["version_set"][0]["md5"] == hashlib.md5(path.read_bytes()).hexdigest()
    # Its size and CRC-32 were measured on the way too, so its zips can be resumed.
    version = Version.objects.get(md5=response.json()["version_set"][0]["md5"])
    assert (version.size, version.crc32) == (len(path.read_bytes()), zlib.crc32(path.read_bytes()))


def test_metadata_overrides_the_header(superuser_client, tmp_path):
    path = make_fits(tmp_path / "a.fits.fz", omit=("BLKUID",))
    metadata = {"BLKUID": 77, "OBJECT": "NGC 4406", "L1PUBDAT": "2031-01-01T00:00:00"}
    response = upload(superuser_client, path, metadata=json.dumps(metadata))
    assert response.status_code == 201, response.json()
    record = response.json()
    assert (record["observation_id"], record["target_name"]) == (77, "NGC 4406")
    assert record["public_date"] == "2031-01-01T00:00:00Z"


# --- refusals ---------------------------------------------------------------------------------------------------------


def test_a_missing_keyword_is_named_and_nothing_is_stored(superuser_client, s3_bucket, tmp_path):
    response = upload(superuser_client, make_fits(tmp_path / "a.fits.fz", omit=("BLKUID", "DAY-OBS")))
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Missing required FITS header keywords: BLKUID, DAY-OBS.",
        "missing": ["BLKUID", "DAY-OBS"],
    }
    assert not Frame.objects.exists()
    assert stored_versions(s3_bucket) == []


def test_bytes_that_are_not_fits_are_refused(superuser_client, tmp_path, settings):
    path = tmp_path / "frame.fits.fz"
    path.write_bytes(b"GIF89a, not a FITS file" * 100)
    response = upload(superuser_client, path)
    assert response.status_code == 400
    assert response.json() == {"file": ["The file is not a readable FITS file."]}
    assert local_files(settings) == []


@pytest.mark.parametrize("name", ["frame.fits.gz", "frame.jpg", "frame", "frame.v2.fits", ".fits"])
def test_other_names_are_refused(superuser_client, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(make_fits(tmp_path / "real.fits.fz").read_bytes())
    response = upload(superuser_client, path)
    assert response.status_code == 400
    assert response.json() == {"file": ["Only .fits and .fits.fz files can be uploaded."]}


def test_a_missing_or_empty_file_is_refused(superuser_client, tmp_path):
    assert superuser_client.post("/frames/upload/", {}, format="multipart").json() == {
        "file": ["No file was submitted."]
    }
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    assert upload(superuser_client, empty).status_code == 400


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("{not json", "Value must be valid JSON."),
        ("[1, 2]", "metadata must be a JSON object of FITS keywords and values."),
        ('{"OBJECT": {"name": "M84"}}', "The value of OBJECT must be a string, number, boolean or null."),
    ],
)
def test_bad_metadata_is_refused(superuser_client, tmp_path, metadata, message):
    response = upload(superuser_client, make_fits(tmp_path / "a.fits.fz"), metadata=metadata)
    assert response.status_code == 400
    assert response.json() == {"metadata": [message]}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"OBSTYPE": "NOT-A-TYPE"}, {"OBSTYPE": ['"NOT-A-TYPE" is not a valid choice.']}),
        (
            {"DATE-OBS": "yesterday"},
            {"DATE-OBS": ["Datetime has wrong format. Use ISO 8601, e.g. 2015-02-19T13:56:05.261Z."]},
        ),
        ({"BLKUID": "many"}, {"BLKUID": ["A valid integer is required."]}),
        ({"SITEID": "toolong"}, {"SITEID": ["Ensure this field has no more than 3 characters."]}),
        (
            {"OBSTYPE": "UNKNOWN"},
            {"OBSTYPE": ["OBSTYPE is UNKNOWN and could not be inferred from the file name; set it."]},
        ),
    ],
)
def test_an_unusable_value_is_named_by_its_keyword(superuser_client, tmp_path, extra, expected):
    response = upload(superuser_client, make_fits(tmp_path / "frame-z00.fits.fz", extra=extra))
    assert response.status_code == 400
    assert response.json() == expected
    assert not Frame.objects.exists()


def test_an_archived_file_is_a_409_before_anything_is_stored(superuser_client, s3_bucket, tmp_path):
    path = make_fits(tmp_path / "a.fits.fz")
    first = upload(superuser_client, path)
    assert first.status_code == 201
    again = upload(superuser_client, path)
    assert again.status_code == 409
    frame_id = first.json()["id"]
    assert again.json() == {"detail": f"This file is already archived as frame {frame_id}.", "frame": frame_id}
    renamed = tmp_path / "b.fits.fz"
    renamed.write_bytes(path.read_bytes())
    assert upload(superuser_client, renamed).json()["frame"] == frame_id  # the same bytes under another name
    assert len(stored_versions(s3_bucket)) == 1
    assert OutboxMessage.objects.count() == 1


def test_a_new_version_of_a_frame_is_added(superuser_client, tmp_path, monkeypatch):
    monkeypatch.setattr("frames.links.time.time", lambda: 1_700_000_000.0)  # links made apart stay equal
    first = upload(superuser_client, make_fits(tmp_path / "a.fits.fz", seed=1))
    second = upload(superuser_client, make_fits(tmp_path / "a.fits.fz", seed=2))
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert len(second.json()["version_set"]) == 2
    assert second.json() == record_read_back(second)


def test_dry_run_returns_the_record_and_stores_nothing(superuser_client, s3_bucket, tmp_path):
    path = make_fits(tmp_path / f"{ACROSS_ZERO}.fits.fz", ra=0.01, dec=-30.0)
    response = upload(superuser_client, path, dry_run="true")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"record", "store_path"}
    assert body["store_path"] == f"coj/kb05/20240430/processed/{ACROSS_ZERO}.fits.fz"
    record = body["record"]
    assert record["basename"] == ACROSS_ZERO
    assert record["observation_date"] == "2024-05-01T10:00:00.261"
    assert record["configuration_type"] == "EXPOSE" and record["observation_id"] == 53195954
    assert record["area"]["type"] == "Polygon"
    assert record["headers"]["PROPID"] == "LCOEPO2024A-002"
    assert record["version_set"] == []
    assert not Frame.objects.exists()
    assert stored_versions(s3_bucket) == []
    assert not OutboxMessage.objects.exists()


def test_dry_run_still_reports_problems(superuser_client, tmp_path):
    response = upload(superuser_client, make_fits(tmp_path / "a.fits.fz", omit=("PROPID",)), dry_run="true")
    assert response.status_code == 400
    assert response.json()["missing"] == ["PROPID"]


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = readinto = read


def test_an_upload_over_the_limit_is_a_413_before_the_body_is_read(superuser_client, settings):
    settings.FRAME_UPLOAD_MAX_BYTES = 1000
    response = superuser_client.generic(
        "POST",
        "/frames/upload/",
        content_type="multipart/form-data; boundary=BoUnDaRy",
        CONTENT_LENGTH="1001",
        **{"wsgi.input": Unreadable()},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "The upload is larger than the limit of 1000 bytes."}


def test_an_upload_at_the_limit_is_read(superuser_client, settings, tmp_path):
    path = make_fits(tmp_path / "a.fits.fz")
    settings.FRAME_UPLOAD_MAX_BYTES = path.stat().st_size + 1000  # room for the multipart envelope
    assert upload(superuser_client, path).status_code == 201
    settings.FRAME_UPLOAD_MAX_BYTES = path.stat().st_size
    assert upload(superuser_client, make_fits(tmp_path / "b.fits.fz", seed=3)).status_code == 413


def test_only_superusers_upload(make_user, tmp_path):
    path = make_fits(tmp_path / "a.fits.fz")
    anonymous = upload(APIClient(), path)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert upload(token_client(make_user("staff", staff=True)), path).status_code == 403
    assert not Frame.objects.exists()


def test_json_bodies_are_not_uploads(superuser_client):
    response = superuser_client.post("/frames/upload/", {"file": "x"}, format="json")
    assert response.status_code == 415


# --- failures of the store and the database -----------------------------------------------------------------------


def test_an_unreachable_store_is_a_503_and_nothing_is_archived(superuser_client, s3_bucket, settings, tmp_path):
    settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    settings.S3_MAX_ATTEMPTS = 1
    settings.S3_CONNECT_TIMEOUT_SECONDS = 1
    reset_filestore()
    response = upload(superuser_client, make_fits(tmp_path / "a.fits.fz"))
    assert response.status_code == 503
    assert response.json() == {"detail": "The file store cannot be reached; nothing was archived."}
    assert not Frame.objects.exists()


def test_a_bucket_without_versioning_is_a_503_naming_it(superuser_client, s3_bucket, settings, tmp_path):
    name = f"{s3_bucket['name']}-unversioned"
    s3_bucket["client"].create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    settings.AWS_BUCKET = name
    reset_filestore()
    response = upload(superuser_client, make_fits(tmp_path / "a.fits.fz"))
    assert response.status_code == 503
    assert "versioning" in response.json()["detail"]
    assert not Frame.objects.exists()


def test_a_database_failure_after_storing_deletes_the_stored_version(
    superuser_client, s3_bucket, tmp_path, monkeypatch
):
    def failing_ingest(*, data):
        raise OperationalError("the database went away")

    monkeypatch.setattr(services, "frame_ingest", failing_ingest)
    response = upload(superuser_client, make_fits(tmp_path / "a.fits.fz"))
    assert response.status_code == 503
    assert stored_versions(s3_bucket) == []
    assert not Frame.objects.exists()


def test_a_real_database_error_after_storing_deletes_the_local_file(superuser_client, tmp_path, settings, monkeypatch):
    real_ingest = services.frame_ingest

    def ingest_past_the_validation(*, data):
        # A name longer than the column: PostgreSQL itself refuses the insert, after the file was stored.
        return real_ingest(data={**data, "related_frame_filenames": ["x" * 1001]})

    monkeypatch.setattr(services, "frame_ingest", ingest_past_the_validation)
    superuser_client.raise_request_exception = False
    response = upload(superuser_client, make_fits(tmp_path / "a.fits.fz"))
    assert response.status_code == 500
    assert local_files(settings) == []
    assert not Version.objects.exists()


def test_a_file_archived_meanwhile_is_a_409_and_our_copy_is_removed(superuser_client, s3_bucket, tmp_path, monkeypatch):
    path = make_fits(tmp_path / "a.fits.fz")
    real_ingest = services.frame_ingest
    checks = iter([None])  # the first md5 check misses: another upload archives the file meanwhile

    def archived_after_the_check(md5):
        return next(checks, None) or Version.objects.filter(md5=md5).values_list("frame_id", flat=True).first()

    def concurrent_ingest(*, data):
        other = {**data, "basename": "other", "version_set": [{**data["version_set"][0], "key": "another-key"}]}
        real_ingest(data=other)
        return real_ingest(data=data)

    monkeypatch.setattr(fitsingest, "_archived_frame", archived_after_the_check)
    monkeypatch.setattr(services, "frame_ingest", concurrent_ingest)
    response = upload(superuser_client, path)
    assert response.status_code == 409
    other = Frame.objects.get(basename="other")
    assert response.json()["frame"] == other.id
    assert stored_versions(s3_bucket) == []  # ours deleted ("another-key" was never stored)


# --- the observation portal decides public dates ------------------------------------------------------------------


@pytest.fixture
def portal(settings):
    """A fake observation portal on loopback: `tags` per proposal (unknown → 404), `status` to force one."""
    state = {"tags": {}, "status": {}, "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["requests"].append((self.path, self.headers.get("Authorization")))
            proposal = unquote(self.path.rsplit("/", 1)[-1])
            code = state["status"].get(proposal, 200 if proposal in state["tags"] else 404)
            body = json.dumps({"id": proposal, "tags": state["tags"].get(proposal, [])}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.OBSERVATION_PORTAL_BASE_URL = f"http://127.0.0.1:{server.server_port}"
    settings.OBSERVATION_PORTAL_API_TOKEN = "portal-token"
    yield state
    server.shutdown()
    server.server_close()


def private_frame(tmp_path, name: str = "a", proposal: str = "LCO2024A-001", **kwargs) -> Path:
    return make_fits(tmp_path / f"{name}.fits.fz", extra={"PROPID": proposal}, **kwargs)


@pytest.mark.parametrize(
    ("tags", "public_date"),
    [
        (["private"], "3022-09-02T10:00:00.261000Z"),
        (["internal", "public"], "3022-09-02T10:00:00.261000Z"),
        (["public"], "2024-05-01T10:00:00.261000Z"),
        (["key-project"], "2025-05-01T10:00:00.261000Z"),
    ],
)
def test_portal_tags_decide_the_public_date(superuser_client, portal, tmp_path, tags, public_date):
    portal["tags"]["LCO2024A-001"] = tags
    response = upload(superuser_client, private_frame(tmp_path))
    assert response.status_code == 201, response.json()
    assert response.json()["public_date"] == public_date
    assert portal["requests"] == [("/api/proposals/LCO2024A-001", "Token portal-token")]


def test_only_an_unknown_proposal_means_no_tags(superuser_client, portal, tmp_path):
    # A 404: the portal does not know the proposal, so the rules decide.
    response = upload(superuser_client, private_frame(tmp_path))
    assert response.json()["public_date"] == "2025-05-01T10:00:00.261000Z"  # DAYS_UNTIL_PUBLIC later
    response = upload(superuser_client, make_fits(tmp_path / "b.fits.fz", extra={"PROPID": "LCOEngineering"}))
    assert response.json()["public_date"] == "3022-09-02T10:00:00.261000Z"


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_a_portal_that_refuses_or_fails_stores_nothing(superuser_client, portal, tmp_path, settings, status):
    """An expired token (401/403) or a failing portal leaves the tags unknown: publishing on a guess could open a
    private proposal's data, so the upload is a 503 and nothing is archived."""
    portal["tags"]["LCO2024A-001"] = ["private"]
    portal["status"]["LCO2024A-001"] = status
    response = upload(superuser_client, private_frame(tmp_path))
    assert response.status_code == 503
    assert f"answered {status}" in response.json()["detail"]
    assert not Frame.objects.exists()
    assert local_files(settings) == []


def test_portal_answers_are_cached(superuser_client, portal, tmp_path):
    portal["tags"]["LCO2024A-001"] = ["public"]
    for seed in (1, 2, 3):
        assert upload(superuser_client, private_frame(tmp_path, f"f{seed}", seed=seed)).status_code == 201
    assert len(portal["requests"]) == 1


def test_the_portal_is_not_asked_when_the_file_has_a_public_date(superuser_client, portal, tmp_path):
    path = make_fits(tmp_path / "a.fits.fz", extra={"PROPID": "LCO2024A-001", "L1PUBDAT": "2030-01-01T00:00:00"})
    assert upload(superuser_client, path).json()["public_date"] == "2030-01-01T00:00:00Z"
    assert portal["requests"] == []


def test_the_portal_is_asked_only_with_both_settings(superuser_client, portal, tmp_path, settings):
    settings.OBSERVATION_PORTAL_API_TOKEN = ""
    portal["tags"]["LCO2024A-001"] = ["public"]
    assert upload(superuser_client, private_frame(tmp_path)).json()["public_date"] == "2025-05-01T10:00:00.261000Z"
    assert portal["requests"] == []


def test_an_unreachable_portal_is_a_503_and_nothing_is_stored(superuser_client, tmp_path, settings):
    settings.OBSERVATION_PORTAL_BASE_URL = f"http://127.0.0.1:{free_port()}"
    settings.OBSERVATION_PORTAL_API_TOKEN = "portal-token"
    response = upload(superuser_client, private_frame(tmp_path))
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The observation portal cannot be reached to decide the public date; nothing was archived."
    }
    assert not Frame.objects.exists()
    assert local_files(settings) == []


# --- documentation ------------------------------------------------------------------------------------------------


def test_the_upload_is_documented_as_multipart(api_client):
    schema = api_client.get("/openapi/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/frames/upload/"]["post"]
    content = operation["requestBody"]["content"]
    assert list(content) == ["multipart/form-data"]
    ref = content["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = schema["components"]["schemas"][ref]["properties"]
    assert properties["file"]["format"] == "binary"
    assert {"file", "metadata", "dry_run"} <= set(properties)
    assert {"201", "200", "400", "409", "413", "503"} <= set(operation["responses"])
