"""Operations run end to end in-process (eager execution): products stored and signed, stable URLs, chained
products, analysis actions on frames and products, failures with a message, and visibility on every path."""

import io

import pytest
from astropy.io import fits

from datalab.models import OperationRun, RunStatus
from datalab.tests.test_api import archive_item, assert_error, make_session
from frames.tests.fitsfiles import make_fits
from frames.tests.storedfiles import store_version

pytestmark = pytest.mark.django_db

ANALYSIS_BODIES = {
    "wcs": {},
    "raw-data": {"max_size": 32},
    "get-jpg": {"zmin": 900, "zmax": 1100},
    "get-tif": {},
    "source-catalog": {"width": 64, "height": 48},
    "line-profile": {"width": 64, "height": 48, "x1": 5, "y1": 5, "x2": 40, "y2": 30},
    "centroiding": {"width": 64, "height": 48, "x": 30, "y": 20},
}


def submit(client, session, name, input_data):
    response = client.post(
        f"/api/datasessions/{session['id']}/operations/", {"name": name, "input_data": input_data}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def fetch(client, url: str) -> bytes:
    response = client.get(url.replace("http://testserver", ""))
    assert response.status_code == 200, url
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_median_completes_with_stable_signed_products(observer_client, stored_frame, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://datalab.example.org"]
    frames = [stored_frame(), stored_frame(), stored_frame()]
    session = make_session(observer_client, frames)
    operation = submit(observer_client, session, "Median", {"input_files": [archive_item(f) for f in frames]})
    assert operation["status"] == "COMPLETED", operation["message"]
    assert operation["operation_progress"] == 1.0
    assert operation["started"] and operation["finished"]
    run = OperationRun.objects.get()
    (product,) = operation["output"]["output_files"]
    assert product["basename"] == run.key and product["source"] == "datalab" and product["type"] == "fits"
    assert set(product) == {"basename", "source", "type", "fits_url", "large_url", "small_url"}
    assert operation["output"]["output_data"] == []

    # The front-end de-duplicates by deep equality on every poll: the URLs must not change between reads.
    path = f"/api/datasessions/{session['id']}/operations/{operation['id']}/"
    assert observer_client.get(path).json()["output"] == operation["output"]
    listed = observer_client.get("/api/datasessions/").json()["results"][0]["operations"][0]
    assert listed["output"] == operation["output"]

    with fits.open(io.BytesIO(fetch(observer_client, product["fits_url"]))) as hdus:
        assert hdus[0].header["DLAB_KEY"] == run.key
        assert hdus["SCI"].data.shape == (48, 64)
    preview = observer_client.get(
        product["small_url"].replace("http://testserver", ""), HTTP_ORIGIN="https://datalab.example.org"
    )
    assert preview["Access-Control-Allow-Origin"] == "https://datalab.example.org"
    assert b"".join(preview.streaming_content)[:2] == b"\xff\xd8"  # a JPEG
    tampered = product["fits_url"].replace("/datalab/files/", "/datalab/files/x")
    assert observer_client.get(tampered.replace("http://testserver", "")).status_code == 404


def test_products_chain_and_stay_private(observer_client, stranger_client, stored_frame):
    frames = [stored_frame(), stored_frame()]
    session = make_session(observer_client, frames)
    median = submit(observer_client, session, "Median", {"input_files": [archive_item(f) for f in frames]})
    product = {**median["output"]["output_files"][0], "operation": median["id"]}
    normalised = submit(observer_client, session, "Normalization", {"input_files": [product]})
    assert normalised["status"] == "COMPLETED", normalised["message"]
    assert normalised["input_data"]["input_files"][0]["source"] == "datalab"
    assert "fits_url" not in normalised["input_data"]["input_files"][0]
    run = OperationRun.objects.get(key=normalised["output"]["output_files"][0]["basename"].split("-")[0])
    assert list(run.parents.values_list("key", flat=True)) == [product["basename"]]

    theirs = make_session(stranger_client)
    response = stranger_client.post(
        f"/api/datasessions/{theirs['id']}/operations/",
        {"name": "Normalization", "input_data": {"input_files": [product]}},
        format="json",
    )
    assert_error(response, 404, f"Datalab product {product['basename']} not found")
    body = {"basename": product["basename"], "source": "datalab"}
    assert stranger_client.post("/api/analysis/wcs/", body, format="json").status_code == 404
    assert observer_client.post("/api/analysis/wcs/", body, format="json").status_code == 200


def test_failure_names_the_frame(observer_client, stored_frame, tmp_path):
    frames = [stored_frame(), stored_frame()]
    blind = stored_frame()
    path = make_fits(tmp_path / "blind.fits.fz", wcs=False, shape=(48, 64))
    store_version(blind, path.read_bytes())  # its newest version has no WCS
    session = make_session(observer_client, [*frames, blind])
    operation = submit(observer_client, session, "Median", {"input_files": [archive_item(f) for f in [*frames, blind]]})
    assert operation["status"] == "FAILED"
    assert blind.basename in operation["message"] and "alignment" in operation["message"]
    assert operation["output"] is None
    # Asking again retries the failed run rather than answering the old failure.
    again = submit(observer_client, session, "Median", {"input_files": [archive_item(f) for f in [*frames, blind]]})
    assert again["status"] == "FAILED"
    assert OperationRun.objects.get().attempt == 1


@pytest.mark.parametrize("action", sorted(ANALYSIS_BODIES))
def test_analysis_actions_on_an_archive_frame(observer_client, stranger_client, stored_frame, action):
    frame = stored_frame(public=False)
    body = {"basename": frame.basename, **ANALYSIS_BODIES[action]}
    response = observer_client.post(f"/api/analysis/{action}/", body, format="json")
    assert response.status_code in (200, 400), response.content
    assert response["Content-Length"] == str(len(response.content))
    if action == "source-catalog":  # the test frame has no catalogue
        assert_error(response, 400, "This image has no source catalogue")
    else:
        assert response.status_code == 200, response.content
    assert_error(
        stranger_client.post(f"/api/analysis/{action}/", body, format="json"), 404, f"Frame {frame.basename} not found"
    )


def test_get_tif_is_stored_once(observer_client, stored_frame, settings):
    frame = stored_frame()
    first = observer_client.post("/api/analysis/get-tif/", {"basename": frame.basename}, format="json").json()
    tif = fetch(observer_client, first["tif_url"])
    assert tif[:4] in (b"II*\x00", b"MM\x00*")
    stored = list((settings.STORAGES["datalab"]["OPTIONS"]["location"] / "datalab" / "tif").iterdir())
    observer_client.post("/api/analysis/get-tif/", {"basename": frame.basename}, format="json")
    assert list((settings.STORAGES["datalab"]["OPTIONS"]["location"] / "datalab" / "tif").iterdir()) == stored


def test_analysis_errors(observer_client, stored_frame):
    frame = stored_frame()
    assert_error(
        observer_client.post("/api/analysis/sharpen/", {"basename": "x"}, format="json"),
        404,
        "Analysis action 'sharpen' not found",
    )
    assert observer_client.get("/api/analysis/wcs/").status_code == 405
    missing = assert_error(
        observer_client.post("/api/analysis/line-profile/", {"basename": frame.basename}, format="json"), 400
    )
    assert "width" in missing["fields"]
    assert_error(
        observer_client.post("/api/analysis/wcs/", {"basename": frame.basename, "source": "ftp"}, format="json"), 400
    )


def test_run_state_is_kept_in_the_database(observer_client, stored_frame):
    frames = [stored_frame(), stored_frame()]
    session = make_session(observer_client, frames)
    submit(observer_client, session, "Stacking", {"input_files": [archive_item(f) for f in frames]})
    run = OperationRun.objects.get()
    assert run.status == RunStatus.COMPLETED and run.attempt == 1 and run.worker
    assert run.inputs["params"] == {"alignment": "wcs", "combine": "sum"}
    assert [form["basename"] for form in run.inputs["files"]["input_files"]] == sorted(f.basename for f in frames)
    assert run.enqueued_at and run.started_at and run.finished_at and run.heartbeat_at


def test_session_frames_get_preview_pictures(observer_client, stored_frame, settings):
    from frames.tests.factories import ThumbnailFactory

    plain, thumbed = stored_frame(public=False), stored_frame()
    ThumbnailFactory(frame=thumbed, size="small")
    ThumbnailFactory(frame=thumbed, size="large")
    session = make_session(observer_client, [plain, thumbed])
    items = {item["basename"]: item for item in session["input_data"]}
    assert "/download/" in items[thumbed.basename]["small_url"]  # the frame's own thumbnails
    assert items[thumbed.basename]["small_url"] != items[thumbed.basename]["large_url"]
    small, large = items[plain.basename]["small_url"], items[plain.basename]["large_url"]
    assert "/datalab/previews/" in small and small != large
    picture = observer_client.get(small.replace("http://testserver", ""))
    assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"
    stored = sorted(
        p.name for p in (settings.STORAGES["datalab"]["OPTIONS"]["location"] / "datalab" / "previews").iterdir()
    )
    assert len(stored) == 2  # both sizes rendered once
    assert observer_client.get(large.replace("http://testserver", "")).content[:2] == b"\xff\xd8"
    assert observer_client.get(small.replace("http://testserver", "") + "x").status_code == 404
    # The link names its user: once the frame is out of their sight, it serves nothing.
    plain.proposal_id = "SOMEONE-ELSES"
    plain.save()
    assert observer_client.get(small.replace("http://testserver", "")).status_code == 404
