"""The datalab front-end's calls, in the order it makes them, as black-box HTTP against a live server: exact response
keys, a correct Content-Length on every JSON answer, CORS on the product previews, and the bytes behind every URL."""

import base64
import datetime
import io

import numpy as np
import pytest
import requests
from astropy.io import fits
from rest_framework.authtoken.models import Token

from datalab.tests.analysis_frames import gaussian_star, tan_header, write_frame
from datalab.tests.test_api import MENU, OPERATION_KEYS, SESSION_KEYS
from frames.tests.factories import FrameFactory
from frames.tests.storedfiles import store_version

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "https://datalab.example.org"
SHAPE = (48, 64)  # rows, columns
STAR = (40.5, 20.5)  # edge coordinates (x, y) of the frames' one star
PAGE_KEYS = {"count", "next", "previous", "results"}
# An archive item as the front-end sends it, as the server keeps it (no URLs), and as the server returns it (fresh
# download and preview URLs).
SENT_ITEM_KEYS = {"source", "basename", "id", "url", "filter", "target_name", "observation_date"}
STORED_ITEM_KEYS = SENT_ITEM_KEYS - {"url"}
SESSION_ITEM_KEYS = SENT_ITEM_KEYS | {"small_url", "large_url"}
PRODUCT_KEYS = {"basename", "source", "type", "fits_url", "large_url", "small_url"}
ERROR_KEYS = {"detail", "error"}
CATALOG_ROW_KEYS = {"x", "y", "x_win", "y_win", "flux", "mag", "magerr", "flux_fallback", "ra", "dec"}
ANALYSIS_KEYS = {
    "wcs": {"crval", "crpix", "cd1", "cd2", "fits_dimensions"},
    "raw-data": {"data", "width", "height", "zmin", "zmax", "bitdepth", "histogram", "bins"},
    "line-profile": {"line_profile", "arcsec", "start_coords", "end_coords", "position_angle"},
    "centroiding": {"x", "y", "ra", "dec", "background", "peak", "success", "message"},
    "get-tif": {"tif_url"},
    "get-jpg": {"jpg_base64"},
}
JPEG_MAGIC = b"\xff\xd8\xff"
FITS_MAGIC = b"SIMPLE  ="
TIFF_MAGICS = (b"II*\x00", b"MM\x00*")


class FrontEnd:
    """The front-end's HTTP client: its API base, its token, and the Origin a browser adds to cross-origin calls."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.api = f"{base_url}/api/"
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Token {token}", "Origin": ORIGIN})

    def call(self, method: str, path: str, body=None, *, status: int = 200):
        """The JSON answer of one call, after checking what every answer must carry."""
        response = self.http.request(method, self.api + path, json=body, timeout=60)
        assert response.status_code == status, (method, path, response.status_code, response.text[:2000])
        assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN
        if status == 204:
            assert response.content == b""
            return None
        assert response.headers["Content-Type"].startswith("application/json")
        # The front-end takes an OK answer without Content-Length as empty.
        assert "Content-Encoding" not in response.headers
        assert response.headers["Content-Length"] == str(len(response.content))
        return response.json()

    def analysis(self, action: str, body: dict, *, status: int = 200):
        return self.call("POST", f"analysis/{action}/", body, status=status)

    def fetch(self, url: str) -> requests.Response:
        """A product URL as `fetch(url, {mode: "cors"})` reads it: no token, the page's Origin."""
        response = requests.get(url, headers={"Origin": ORIGIN}, timeout=60)
        assert response.status_code == 200, (url, response.status_code)
        assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN
        return response


def make_frame(tmp_path, number: int, *, seed: int):
    """A public archive frame whose stored file has a star, a TAN WCS and a CAT table, all frames on one grid."""
    observed = datetime.datetime(2024, 5, 1, 10, tzinfo=datetime.UTC) + datetime.timedelta(minutes=number)
    basename = f"ogg2m001-ep02-20240501-{number:04d}-e91"
    frame = FrameFactory(
        version=False,
        basename=basename,
        observation_date=observed,
        public_date=observed,
        target_name="NGC 1234",
        primary_optical_element="rp",
    )
    image = np.random.default_rng(seed).normal(100.0, 2.0, SHAPE).astype(np.float32)
    image += gaussian_star(SHAPE, *STAR, amplitude=5000.0).astype(np.float32)
    header = tan_header(SHAPE[1], SHAPE[0])
    header["DATE-OBS"] = observed.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    header["EXPTIME"] = 30.0
    # SExtractor writes 1-based positions: edge + 0.5.
    catalog = {
        "x": [STAR[0] + 0.5, 10.5],
        "y": [STAR[1] + 0.5, 30.5],
        "xwin": [STAR[0] + 0.5, 10.5],
        "ywin": [STAR[1] + 0.5, 30.5],
        "flux": [60000.0, 800.0],
        "fluxerr": [300.0, 40.0],
        "mag": [13.1, 17.8],
        "magerr": [0.01, 0.05],
        "ra": [150.001, 149.999],
        "dec": [30.001, 29.999],
    }
    path = write_frame(
        tmp_path / f"{basename}.fits.fz", image, header=header, compressed=True, catalog=catalog, extname="SCI"
    )
    store_version(frame, path.read_bytes())
    return frame


def archive_item(frame) -> dict:
    """An archive image as the front-end adds it to a session (its URL goes stale; the server sends fresh ones)."""
    return {
        "source": "archive",
        "basename": frame.basename,
        "id": frame.id,
        "url": "https://archive.example.org/expired-link",
        "filter": frame.primary_optical_element,
        "target_name": frame.target_name,
        "observation_date": frame.observation_date.isoformat(),
    }


@pytest.fixture
def frontend(live_server, observer, settings):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    return FrontEnd(live_server.url, Token.objects.get(user=observer).key)


def check_analysis(frontend: FrontEnd, image: dict, *, with_catalog: bool) -> None:
    """Every action the image viewer calls, on one image shown at its own size (so display units are pixels)."""
    width, height = SHAPE[1], SHAPE[0]
    wcs = frontend.analysis("wcs", image)
    assert set(wcs) == ANALYSIS_KEYS["wcs"]
    assert wcs["fits_dimensions"] == [width, height]
    assert wcs["crpix"] == [(width + 1) / 2, (height + 1) / 2]

    # The viewer asks for the picture at the size it shows it, at most 1024 a side.
    raw = frontend.analysis("raw-data", {**image, "max_size": min(max(width, height), 1024)})
    assert set(raw) == ANALYSIS_KEYS["raw-data"]
    assert raw["width"] == raw["height"] == 64 and len(raw["data"]) == 64 * 64
    assert len(raw["histogram"]) == len(raw["bins"]) > 0
    assert raw["bitdepth"] == 32 and raw["zmax"] > raw["zmin"]
    capped = frontend.analysis("raw-data", {**image, "max_size": 1024})
    assert capped["width"] == capped["height"] == 1024 and len(capped["data"]) == 1024 * 1024
    too_big = frontend.analysis("raw-data", {**image, "max_size": 4096}, status=400)
    assert set(too_big) == {*ERROR_KEYS, "fields"} and "max_size" in too_big["fields"]

    display = {**image, "width": width, "height": height}
    if with_catalog:
        rows = frontend.analysis("source-catalog", display)
        assert [set(row) for row in rows] == [CATALOG_ROW_KEYS, CATALOG_ROW_KEYS]
        assert (rows[0]["x"], rows[0]["y"], rows[0]["flux"]) == (STAR[0], STAR[1], 60000)
        assert rows[0]["flux_fallback"] is False
    else:
        missing = frontend.analysis("source-catalog", display, status=400)
        assert set(missing) == ERROR_KEYS and missing["error"] == "This image has no source catalogue"

    # Leaflet latitude is sent as x (vertical), longitude as y (horizontal).
    profile = frontend.analysis("line-profile", {**display, "x1": STAR[1], "y1": 5, "x2": STAR[1], "y2": 60})
    assert set(profile) == ANALYSIS_KEYS["line-profile"]
    assert len(profile["line_profile"]) == 56 and profile["arcsec"] > 0
    assert max(profile["line_profile"]) > 1000  # the line crosses the star

    centroid = frontend.analysis("centroiding", {**display, "x": STAR[0] + 2, "y": STAR[1] - 1})
    assert set(centroid) == ANALYSIS_KEYS["centroiding"]
    assert centroid["success"] is True and centroid["message"] == "Centroid calculation completed."
    assert centroid["x"] == pytest.approx(STAR[0], abs=0.1) and centroid["y"] == pytest.approx(STAR[1], abs=0.1)

    tif = frontend.analysis("get-tif", image)
    assert set(tif) == ANALYSIS_KEYS["get-tif"]
    assert frontend.fetch(tif["tif_url"]).content[:4] in TIFF_MAGICS

    jpg = frontend.analysis("get-jpg", {**image, "zmin": raw["zmin"], "zmax": raw["zmax"]})
    assert set(jpg) == ANALYSIS_KEYS["get-jpg"]
    assert base64.b64decode(jpg["jpg_base64"])[:3] == JPEG_MAGIC


def test_the_front_ends_calls_in_order(frontend, tmp_path, observer):
    first, second = make_frame(tmp_path, 1, seed=1), make_frame(tmp_path, 2, seed=2)

    # The sessions page: the list is used whole.
    assert frontend.call("GET", "datasessions/") == {"count": 0, "next": None, "previous": None, "results": []}

    # Creating a session from the archive's images.
    session = frontend.call(
        "POST", "datasessions/", {"name": "NGC 1234", "input_data": [archive_item(first)]}, status=201
    )
    assert set(session) == SESSION_KEYS
    assert session["user"] == observer.username and session["operations"] == []
    (item,) = session["input_data"]
    assert set(item) == SESSION_ITEM_KEYS
    assert item["url"].startswith(f"{frontend.base_url}/download/")  # fresh, not the stale one sent
    # The image grid shows the frames by their previews, fetched cross-origin.
    for field in ("small_url", "large_url"):
        preview = frontend.fetch(item[field])
        assert preview.headers["Content-Type"] == "image/jpeg" and preview.content[:3] == JPEG_MAGIC

    # Adding images: the old list (as the server sent it) plus the new ones.
    patched = frontend.call(
        "PATCH",
        f"datasessions/{session['id']}/",
        {"name": "NGC 1234", "input_data": [*session["input_data"], archive_item(second)]},
    )
    assert set(patched) == SESSION_KEYS
    assert [entry["basename"] for entry in patched["input_data"]] == [first.basename, second.basename]
    assert all(set(entry) == SESSION_ITEM_KEYS for entry in patched["input_data"])

    listed = frontend.call("GET", "datasessions/")
    assert set(listed) == PAGE_KEYS and listed["count"] == 1
    assert set(listed["results"][0]) == SESSION_KEYS

    # The operation wizard.
    menu = frontend.call("GET", "available_operations/")
    assert list(menu) == MENU
    assert all(set(description) == {"name", "description", "category", "inputs"} for description in menu.values())
    assert set(menu["Median"]["inputs"]) == {"input_files", "alignment"}

    operations = f"datasessions/{session['id']}/operations/"
    inputs = {"input_files": patched["input_data"], "alignment": menu["Median"]["inputs"]["alignment"]["default"]}
    created = frontend.call("POST", operations, {"name": "Median", "input_data": inputs}, status=201)
    assert set(created) == OPERATION_KEYS
    assert set(created["input_data"]) == {"input_files", "alignment"}
    assert all(set(entry) == STORED_ITEM_KEYS for entry in created["input_data"]["input_files"])

    # After a create the list is re-read, then every unfinished operation is polled.
    page = frontend.call("GET", operations)
    assert set(page) == PAGE_KEYS and [op["id"] for op in page["results"]] == [created["id"]]
    polled = None
    for _ in range(50):
        polled = frontend.call("GET", f"{operations}{created['id']}/")
        if polled["status"] != "PENDING" and polled["status"] != "IN_PROGRESS":
            break
    assert set(polled) == OPERATION_KEYS
    assert polled["status"] == "COMPLETED", polled["message"]
    assert polled["operation_progress"] == 1.0 and polled["message"] == ""
    assert set(polled["output"]) == {"output_files", "output_data"} and polled["output"]["output_data"] == []
    (product,) = polled["output"]["output_files"]
    assert set(product) == PRODUCT_KEYS
    assert product["source"] == "datalab" and product["type"] == "fits"
    assert "-small" not in product["basename"] and "-large" not in product["basename"]
    # Deep-equal between reads, or the front-end would show the product twice.
    assert frontend.call("GET", f"{operations}{created['id']}/")["output"] == polled["output"]
    assert frontend.call("GET", "datasessions/")["results"][0]["operations"][0]["output"] == polled["output"]

    # The image grid and viewer read the previews cross-origin; the download is the FITS file.
    for field in ("small_url", "large_url"):
        preview = frontend.fetch(product[field])
        assert preview.headers["Content-Type"] == "image/jpeg" and preview.content[:3] == JPEG_MAGIC
    with fits.open(io.BytesIO(frontend.fetch(product["fits_url"]).content)) as hdus:
        assert hdus[0].header["DLAB_KEY"] == product["basename"]
        assert hdus["SCI"].data.shape == SHAPE
    assert frontend.fetch(product["fits_url"]).content[:9] == FITS_MAGIC

    check_analysis(frontend, {"basename": first.basename, "source": "archive"}, with_catalog=True)
    check_analysis(frontend, {"basename": product["basename"], "source": "datalab"}, with_catalog=False)

    # Deleting operations, then the session (without the trailing slash, as the front-end does).
    assert frontend.call("POST", f"{operations}bulk_delete/", {"ids": [created["id"]]}) == {"deleted": 1}
    assert frontend.call("GET", operations)["results"] == []
    frontend.call("DELETE", f"datasessions/{session['id']}", status=204)
    assert frontend.call("GET", "datasessions/")["count"] == 0
    gone = frontend.call("GET", f"datasessions/{session['id']}/", status=404)
    assert set(gone) == ERROR_KEYS


def test_preflight_allows_the_front_ends_headers(frontend):
    """JSON bodies and the Authorization header make the browser ask first."""
    response = requests.options(
        frontend.api + "datasessions/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
