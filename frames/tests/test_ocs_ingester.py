"""Wire compatibility: the real, unmodified ocs-ingester 3.2.0 CLI ingests into a live archive and an S3 endpoint."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from frames.models import Frame, Version
from frames.tests.fitsfiles import make_fits

INGESTER = Path(__file__).resolve().parents[2] / ".local" / "ingester-venv" / "bin" / "ocs_ingest_frame"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.ingester]


@pytest.fixture
def ingest(live_server, s3_bucket, superuser, tmp_path):
    """Run `ocs_ingest_frame` against the live server and the moto bucket; returns (exit code, output)."""
    if not INGESTER.exists():
        pytest.fail(f"{INGESTER} is missing: `make test` installs it (scripts/ingester_venv.sh)")
    token = Token.objects.get(user=superuser).key
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "API_ROOT": f"{live_server.url}/",
        "AUTH_TOKEN": token,
        "FILESTORE_TYPE": "s3",
        "BUCKET": s3_bucket["name"],
        "S3_ENDPOINT_URL": s3_bucket["endpoint"],
        "AWS_ACCESS_KEY_ID": "testing-access-key",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
        "AWS_DEFAULT_REGION": "us-west-2",
        "OPENTSDB_PYTHON_METRICS_TEST_MODE": "true",
    }

    def run(path: Path, *args: str) -> tuple[int, str]:
        result = subprocess.run([str(INGESTER), str(path), *args], env=env, capture_output=True, text=True, timeout=120)
        return result.returncode, result.stdout + result.stderr

    return run


def test_real_ingester_ingests_a_frame_that_is_queryable_and_downloadable(ingest, tmp_path, superuser_client):
    path = make_fits(tmp_path / "coj1m011-kb05-20240501-0125-e91.fits.fz")
    file_md5 = hashlib.md5(path.read_bytes()).hexdigest()

    code, output = ingest(path, "--check-only")
    assert code == 1 and "False" in output

    code, output = ingest(path)
    assert code == 0, output
    frame = Frame.objects.get(basename="coj1m011-kb05-20240501-0125-e91")
    version = Version.objects.get(frame=frame)
    assert version.md5 == file_md5
    assert len(version.key) > 32  # moto's version ids are UUIDs, longer than the reference's 32 characters
    assert version.store_path == "coj/kb05/20240430/processed/coj1m011-kb05-20240501-0125-e91.fits.fz"
    assert output.strip().startswith("http")

    response = superuser_client.get("/frames/", {"basename_exact": frame.basename})
    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["observation_date"] == "2024-05-01T10:00:00.261000Z"
    assert item["observation_day"] == "2024-04-30"
    assert item["proposal_id"] == "LCOEPO2024A-002"
    assert item["instrument_id"] == "kb05"
    assert item["target_name"] == "M84"
    assert item["site_id"] == "coj"
    assert item["telescope_id"] == "1m0a"
    assert item["configuration_type"] == "EXPOSE"
    assert item["primary_optical_element"] == "V"
    assert item["exposure_time"] == pytest.approx(10.032415)
    assert item["reduction_level"] == 91
    assert item["observation_id"] == 53195954
    assert item["request_id"] == 296263
    assert item["public_date"] == "2024-05-01T10:00:00.261000Z"  # an EPO proposal is public at once
    assert item["filename"] == "coj1m011-kb05-20240501-0125-e91.fits.fz"
    assert item["area"]["type"] == "Polygon"

    downloaded = requests.get(item["url"], timeout=30)
    assert downloaded.status_code == 200
    assert hashlib.md5(downloaded.content).hexdigest() == file_md5

    headers = superuser_client.get(f"/frames/{item['id']}/headers/").json()["data"]
    assert headers["USERID"] == "jdoe"
    centre = superuser_client.get("/frames/", {"covers": "POINT(186.265 12.887)"}).json()
    assert [r["id"] for r in centre["results"]] == [item["id"]]

    code, output = ingest(path, "--check-only")
    assert code == 0 and "True" in output

    code, output = ingest(path)
    assert code == 0, output
    assert "Version with this md5 already exists" in output
    assert Frame.objects.filter(basename=frame.basename).count() == 1
    assert Version.objects.count() == 1
