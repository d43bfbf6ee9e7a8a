"""Datalab on the S3 store (a moto server): inputs fetched once into the content-named scratch cache, products
stored under `datalab/<key>/` and read through presigned URLs that stay the same between reads, chained products
read back from S3; and the scratch cache's eviction and atomic writes."""

import os
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings

from archive.filestore.s3 import S3FileStore
from datalab.models import OperationRun, RunStatus
from datalab.operations import resolve
from datalab.tests.test_api import archive_item, make_session
from datalab.tests.test_execution import submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_products(s3_bucket, settings):
    """Products in the same moto bucket as the frames, configured as archive/settings.py does for an S3 store."""
    settings.STORAGES = {
        **settings.STORAGES,
        "datalab": {
            "BACKEND": "datalab.storage.ProductS3Storage",
            "OPTIONS": {
                "bucket_name": s3_bucket["name"],
                "region_name": "us-west-2",
                "endpoint_url": s3_bucket["endpoint"],
                "signature_version": "s3v4",
                "querystring_expire": settings.DATALAB_URL_EXPIRY_SECONDS,
                "file_overwrite": True,
                "default_acl": None,
            },
        },
    }
    return s3_bucket


@pytest.fixture
def downloads(monkeypatch):
    """Every (path, version) the archive's S3 store is asked to read."""
    seen = []
    original = S3FileStore.open

    def counting_open(self, path, version_id, **kwargs):
        seen.append((path, version_id))
        return original(self, path, version_id, **kwargs)

    monkeypatch.setattr(S3FileStore, "open", counting_open)
    return seen


def stored_keys(bucket: dict, prefix: str) -> dict[str, bytes]:
    listing = bucket["client"].list_objects_v2(Bucket=bucket["name"], Prefix=prefix)
    return {
        entry["Key"]: bucket["client"].get_object(Bucket=bucket["name"], Key=entry["Key"])["Body"].read()
        for entry in listing.get("Contents", [])
    }


def cache_dir():
    return django_settings.TEMP_FITS_DIR / "cache"


def cache_files() -> set[str]:
    return {path.name for path in cache_dir().iterdir() if not path.name.startswith(".")}


def test_median_on_s3_end_to_end(observer_client, stored_frame, s3_products, downloads):
    frames = [stored_frame(), stored_frame()]
    versions = [frame.version_set.get() for frame in frames]
    session = make_session(observer_client, frames)
    median = submit(observer_client, session, "Median", {"input_files": [archive_item(f) for f in frames]})
    assert median["status"] == "COMPLETED", median["message"]
    key = median["output"]["output_files"][0]["basename"]

    # Each input was read from S3 once, into a cache file named by its content, not by its (guessable) basename.
    assert sorted(downloads) == sorted((v.store_path, v.key) for v in versions)
    assert cache_files() == {f"{v.md5}{v.extension}" for v in versions}
    assert not any((django_settings.TEMP_FITS_DIR / "runs").iterdir())  # the run's own directory is gone

    # A second operation on the same frames reads them from the cache.
    stacked = submit(observer_client, session, "Stacking", {"input_files": [archive_item(f) for f in frames]})
    assert stacked["status"] == "COMPLETED", stacked["message"]
    assert len(downloads) == 2

    # Products are in the bucket under datalab/<key>/, the manifest keeps those storage keys.
    objects = stored_keys(s3_products, f"datalab/{key}/")
    assert set(objects) == {f"datalab/{key}/{key}{suffix}" for suffix in (".fits", "-large.jpg", "-small.jpg")}
    run = OperationRun.objects.get(key=key)
    assert set(run.output["output_files"][0]["keys"].values()) == set(objects)

    # The URLs are presigned S3 URLs of those objects, valid for the configured time, and fetch the bytes.
    (product,) = median["output"]["output_files"]
    endpoint = urlsplit(s3_products["endpoint"])
    for field, suffix in (("fits_url", ".fits"), ("large_url", "-large.jpg"), ("small_url", "-small.jpg")):
        url = urlsplit(product[field])
        assert (url.scheme, url.netloc) == (endpoint.scheme, endpoint.netloc)
        assert url.path == f"/{s3_products['name']}/datalab/{key}/{key}{suffix}"
        query = parse_qs(url.query)
        assert query["X-Amz-Expires"] == [str(django_settings.DATALAB_URL_EXPIRY_SECONDS)]
        assert "X-Amz-Signature" in query
        response = requests.get(product[field], timeout=30)
        assert response.status_code == 200
        assert response.content == objects[f"datalab/{key}/{key}{suffix}"]
    assert objects[f"datalab/{key}/{key}.fits"][:9] == b"SIMPLE  ="
    assert objects[f"datalab/{key}/{key}-small.jpg"][:3] == b"\xff\xd8\xff"

    # Identical across reads: the front-end de-duplicates outputs by deep equality.
    path = f"/api/datasessions/{session['id']}/operations/{median['id']}/"
    first, second = observer_client.get(path).json(), observer_client.get(path).json()
    assert first["output"] == second["output"] == median["output"]


def test_a_product_input_is_read_back_from_s3(observer_client, stored_frame, s3_products, downloads):
    frames = [stored_frame(), stored_frame()]
    session = make_session(observer_client, frames)
    median = submit(observer_client, session, "Median", {"input_files": [archive_item(f) for f in frames]})
    product = {**median["output"]["output_files"][0], "operation": median["id"]}
    key = product["basename"]
    stored = stored_keys(s3_products, f"datalab/{key}/{key}.fits")[f"datalab/{key}/{key}.fits"]

    normalised = submit(observer_client, session, "Normalization", {"input_files": [product]})
    assert normalised["status"] == "COMPLETED", normalised["message"]
    # The parent's FITS came from the bucket through the cache, under the product's name, byte for byte.
    assert (cache_dir() / f"{key}.fits").read_bytes() == stored
    assert len(downloads) == 2  # the archive frames only; the product is not an archive read
    child = OperationRun.objects.get(key=normalised["output"]["output_files"][0]["basename"].split("-")[0])
    assert child.status == RunStatus.COMPLETED
    assert set(stored_keys(s3_products, f"datalab/{child.key}/")) == {
        f"datalab/{child.key}/{child.key}-1{suffix}" for suffix in (".fits", "-large.jpg", "-small.jpg")
    }

    # The viewer reads the product from the bucket too.
    wcs = observer_client.post("/api/analysis/wcs/", {"basename": key, "source": "datalab"}, format="json")
    assert wcs.status_code == 200, wcs.content
    tif = observer_client.post("/api/analysis/get-tif/", {"basename": key, "source": "datalab"}, format="json").json()
    assert requests.get(tif["tif_url"], timeout=30).content[:4] in (b"II*\x00", b"MM\x00*")
    assert f"datalab/{key}/{key}.tif" in stored_keys(s3_products, f"datalab/{key}/")


# --- The scratch cache ----------------------------------------------------------------------------------------------


def writer(content: bytes, calls: list):
    def fetch(handle):
        calls.append(content)
        handle.write(content)

    return fetch


def set_last_use(name: str, seconds_ago: float) -> None:
    """Set a cached file's last use explicitly: file times are coarse, so files made in one test can tie."""
    moment = time.time() - seconds_ago
    os.utime(cache_dir() / name, (moment, moment))


def test_cache_evicts_least_recently_used_beyond_its_budget(settings):
    settings.FILECACHE_TOTAL_SIZE = 250
    calls: list = []
    resolve.cached_file("a.fits", writer(b"a" * 100, calls))
    set_last_use("a.fits", 300)
    resolve.cached_file("b.fits", writer(b"b" * 100, calls))
    set_last_use("b.fits", 200)

    # A hit is not fetched again, and counts as a use.
    assert resolve.cached_file("a.fits", writer(b"x", calls)).read_bytes() == b"a" * 100
    assert len(calls) == 2

    # Over budget: the least recently used file goes, the one just fetched stays.
    path = resolve.cached_file("c.fits", writer(b"c" * 100, calls))
    assert path.read_bytes() == b"c" * 100
    assert cache_files() == {"a.fits", "c.fits"}

    # A file larger than the whole budget is still kept while it is used; everything else makes room.
    resolve.cached_file("big.fits", writer(b"d" * 400, calls))
    assert cache_files() == {"big.fits"}


def test_cache_never_leaves_partial_files(settings):
    target = resolve.scratch_root() / "cache" / "broken.fits"

    def failing(handle):
        handle.write(b"half a file")
        handle.flush()
        assert not target.exists()  # the file appears under its name only when complete
        raise ConnectionError("the store went away")

    with pytest.raises(ConnectionError):
        resolve.cached_file("broken.fits", failing)
    assert not target.exists()
    assert not [path.name for path in cache_dir().iterdir() if path.name.startswith(".part-")]

    # The next use fetches it whole.
    calls: list = []
    assert resolve.cached_file("broken.fits", writer(b"whole", calls)).read_bytes() == b"whole"
    assert calls == [b"whole"]


def test_cache_fetches_a_file_once_for_concurrent_users(settings):
    calls: list = []
    started = threading.Event()

    def slow(handle):
        calls.append(1)
        started.set()
        time.sleep(0.3)
        handle.write(b"x" * 1000)

    results: list = []
    threads = [threading.Thread(target=lambda: results.append(resolve.cached_file("shared.fits", slow)))]
    threads[0].start()
    started.wait(5)
    threads.append(threading.Thread(target=lambda: results.append(resolve.cached_file("shared.fits", slow))))
    threads[1].start()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1
    assert [path.read_bytes() for path in results] == [b"x" * 1000] * 2
