"""`python -m bench.downloads`: a 1 GB zip (20 stored files of 50 MB) from the local store and from S3 (moto).

From the local store the same files are also fetched as a resumable zip by query (GET /frames/zip/?basename_exact=...,
after their size and CRC-32 are recorded): its rate against the raw read, and its second half resumed with Range and
If-Range, checked to join the first half into the same bytes.

For each store, the files are uploaded as the ingester does (local store API / S3 PutObject into a versioned
bucket), their frames are posted to a gunicorn of that store, then POST /frames/zip/ is downloaded: MB/s, and the
peak RSS growth of the gunicorn workers (VmRSS sampled every 20 ms), against the raw read rate of the same files
(read from disk / GetObject, one after the other) and beside the rate of fetching the same files one by one by their
download URL (the server's signed links / presigned from moto). Local files are dropped from the page cache
(posix_fadvise) before each of the three reads, so each reads the disk. moto keeps objects in memory. A last check
downloads the zip slowly from a gunicorn with its default --timeout (30 s), as a remote user would. MB are 10^6
bytes. Frames and files are removed afterwards.

Unlike the other parts, the servers here keep sync workers (`SYNC`), as this part always measured them: its figures
stay comparable with the earlier runs, and the slow-client check shows on purpose what a sync worker does to a long
download (its master kills it after --timeout, mid-stream), which is why the deployment runs gthread workers
(gunicorn.conf.py).
"""

import argparse
import hashlib
import io
import os
import shutil
import time
from pathlib import Path

import requests

from bench import dataset
from bench.common import (
    BUCKET,
    FILES_DIR,
    SYNC,
    RssSampler,
    Stopwatch,
    add_database_argument,
    bench_users,
    configure_django,
    gunicorn,
    heading,
    moto_s3,
    print_table,
    require_dataset,
    s3_environment,
    say,
    verdict,
)
from bench.generate import reset_to_generated
from bench.ingest import batch
from bench.report import record

MB = 1_000_000
FILES = 20
FILE_BYTES = 50 * MB
CHUNK = 1024 * 1024
STREAM = 5  # the night of these frames: after the ingest benchmark's
TARGET_SHARE_OF_RAW = 0.8
TARGET_RSS_GROWTH_MB = 100
ZIP_SERVER_TIMEOUT = 600  # long enough for any store here: the measurement must not be cut short
SLOW_CLIENT_MB_PER_SECOND = 10
SLOW_CLIENT_SECONDS = 60


def file_bytes(seed: int, number: int) -> bytes:
    """The content of one file: random, so that nothing on the way could compress or deduplicate it."""
    return dataset.generator(seed, 9, number).bytes(FILE_BYTES)


# --- putting the files in a store ----------------------------------------------------------------------------------


def store_locally(database: str, info: dict, records: list[dict]) -> list[Path]:
    """Through the local store's own API, as server-side ingest writes; the records get the real md5 and version."""
    configure_django(database)
    from archive.filestore.local import LocalFileStore

    store = LocalFileStore(root=FILES_DIR)
    paths = []
    for number, record_ in enumerate(records):
        content = file_bytes(info["seed"], number)
        record_["md5"] = hashlib.md5(content).hexdigest()
        record_["key"] = store.put(record_["store_path"], io.BytesIO(content), md5=record_["md5"], size=len(content))
        paths.append(FILES_DIR / record_["store_path"] / record_["key"])
    return paths


def store_in_s3(info: dict, records: list[dict], client) -> None:
    """PutObject into the versioned bucket, as the ingester uploads; the records get the real md5 and VersionId."""
    for number, record_ in enumerate(records):
        content = file_bytes(info["seed"], number)
        record_["md5"] = hashlib.md5(content).hexdigest()
        response = client.put_object(Bucket=BUCKET, Key=record_["store_path"], Body=content)
        record_["key"] = response["VersionId"]


def register(base_url: str, token: str, records: list[dict]) -> tuple[list[int], list[str]]:
    """POST the frames of the stored files; their ids and download URLs, in order."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    ids, urls = [], []
    for record_ in records:
        response = session.post(base_url + "/frames/", json=dataset.ingest_body(record_), timeout=60)
        response.raise_for_status()
        ids.append(response.json()["id"])
        urls.append(response.json()["url"])
    return ids, urls


# --- reading -----------------------------------------------------------------------------------------------------


def evict(paths: list[Path]) -> None:
    """Drop these files (only these) from the page cache, so that the next read comes from the disk."""
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def raw_local(paths: list[Path]) -> dict:
    total = 0
    evict(paths)
    with Stopwatch() as watch:
        for path in paths:
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    total += len(chunk)
    return {"bytes": total, "seconds": round(watch.seconds, 3), "mb_per_second": round(total / MB / watch.seconds, 1)}


def raw_s3(records: list[dict], client) -> dict:
    total = 0
    with Stopwatch() as watch:
        for record_ in records:
            body = client.get_object(Bucket=BUCKET, Key=record_["store_path"], VersionId=record_["key"])["Body"]
            for chunk in body.iter_chunks(CHUNK):
                total += len(chunk)
    return {"bytes": total, "seconds": round(watch.seconds, 3), "mb_per_second": round(total / MB / watch.seconds, 1)}


def download_each(urls: list[str]) -> dict:
    """The same files fetched one by one by their download URL (what the zip is made of, without the zip)."""
    total = 0
    session = requests.Session()
    with Stopwatch() as watch:
        for url in urls:
            with session.get(url, stream=True, timeout=120) as response:
                response.raise_for_status()
                for chunk in response.iter_content(CHUNK):
                    total += len(chunk)
    return {"bytes": total, "seconds": round(watch.seconds, 3), "mb_per_second": round(total / MB / watch.seconds, 1)}


def zip_in_process(token: str, ids: list[int]) -> dict:
    """The same zip built by the view in this process (Django's test client, no HTTP): what the application alone
    streams, so that the difference to the HTTP figure is the transport (gunicorn, sockets, the client)."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
    total = 0
    with Stopwatch() as watch:
        response = client.post("/frames/zip/", {"frame_ids": ids}, content_type="application/json")
        for chunk in response.streaming_content:
            total += len(chunk)
    return {"bytes": total, "seconds": round(watch.seconds, 3), "mb_per_second": round(total / MB / watch.seconds, 1)}


def download_zip(server, token: str, ids: list[int], *, max_mb_per_second=None, limit_s=None) -> dict:
    """POST /frames/zip/ and read the answer to its end (or for `limit_s`), sampling the workers' RSS meanwhile."""
    total = 0
    complete = broken = False
    framing = None
    with RssSampler(server.worker_pids()) as rss, Stopwatch() as watch:
        try:
            response = requests.post(
                server.url + "/frames/zip/",
                json={"frame_ids": ids},
                headers={"Authorization": f"Token {token}"},
                stream=True,
                timeout=120,
            )
            response.raise_for_status()
            framing = "Content-Length" if "Content-Length" in response.headers else "chunked, no Content-Length"
            for chunk in response.iter_content(CHUNK):
                total += len(chunk)
                if max_mb_per_second:
                    time.sleep(max(0.0, total / MB / max_mb_per_second - watch.elapsed))
                if limit_s and watch.elapsed > limit_s:
                    break
            else:
                complete = True
        except requests.RequestException as exc:
            broken = True
            say(f"  the download broke after {total / MB:,.0f} MB and {watch.elapsed:.1f} s: {type(exc).__name__}")
    return {
        "bytes": total,
        "complete": complete,
        "broken": broken,
        "framing": framing,
        "seconds": round(watch.seconds, 2),
        "mb_per_second": round(total / MB / watch.seconds, 1),
        "peak_rss_growth_mb": round(rss.growth_mb, 1),
    }


def measure_checksums(ids: list[int]) -> float:
    """Record the files' size and CRC-32 as the periodic task does (frames.checksums), in this process; seconds."""
    from frames import checksums
    from frames.models import Version

    with Stopwatch() as watch:
        checksums.versions_measure(list(Version.objects.filter(frame_id__in=ids)))
    return round(watch.seconds, 2)


def zip_by_query_and_resume(server, token: str, basenames: list[str]) -> dict:
    """GET /frames/zip/ by a query naming the frames (laid out up front): the whole archive, then its second half
    alone as `curl -C -` asks for it, checked to join the first half into the same bytes."""
    url = server.url + "/frames/zip/?" + "&".join(f"basename_exact={name}" for name in basenames)
    headers = {"Authorization": f"Token {token}"}
    whole = hashlib.sha256()
    with (
        RssSampler(server.worker_pids()) as rss,
        Stopwatch() as watch,
        requests.get(url, headers=headers, stream=True, timeout=120) as response,
    ):
        response.raise_for_status()
        etag, length = response.headers.get("ETag"), int(response.headers.get("Content-Length", 0))
        for chunk in response.iter_content(CHUNK):
            whole.update(chunk)
    half = length // 2
    joined = hashlib.sha256()
    with requests.get(url, headers={**headers, "Range": f"bytes=0-{half - 1}"}, stream=True, timeout=120) as first:
        for chunk in first.iter_content(CHUNK):
            joined.update(chunk)
    resume_headers = {**headers, "Range": f"bytes={half}-", "If-Range": etag or ""}
    with Stopwatch() as resumed, requests.get(url, headers=resume_headers, stream=True, timeout=120) as second:
        status = second.status_code
        for chunk in second.iter_content(CHUNK):
            joined.update(chunk)
    return {
        "bytes": length,
        "ranged": bool(etag) and response.headers.get("Accept-Ranges") == "bytes",
        "mb_per_second": round(length / MB / watch.seconds, 1),
        "peak_rss_growth_mb": round(rss.growth_mb, 1),
        "resume_status": status,
        "resume_mb_per_second": round((length - half) / MB / resumed.seconds, 1),
        "resume_joins_same_bytes": joined.digest() == whole.digest(),
    }


# --- the benchmark ----------------------------------------------------------------------------------------------------


def _compare(store: str, raw: dict, zipped: dict, each: dict) -> dict:
    share = zipped["mb_per_second"] / raw["mb_per_second"]
    ok = zipped["complete"] and share >= TARGET_SHARE_OF_RAW and zipped["peak_rss_growth_mb"] < TARGET_RSS_GROWTH_MB
    return {
        "store": store,
        "zip_bytes": zipped["bytes"],
        "zip_complete": zipped["complete"],
        "zip_framing": zipped["framing"],
        "zip_mb_per_second": zipped["mb_per_second"],
        "raw_mb_per_second": raw["mb_per_second"],
        "urls_mb_per_second": each["mb_per_second"],
        "share_of_raw": round(share, 2),
        "peak_rss_growth_mb": zipped["peak_rss_growth_mb"],
        "verdict": "met" if ok else "not met",
        "throughput_verdict": verdict(share, TARGET_SHARE_OF_RAW, at_least=True),
        "rss_verdict": verdict(zipped["peak_rss_growth_mb"], TARGET_RSS_GROWTH_MB),
    }


def local_run(database: str, info: dict, token: str) -> tuple[dict, dict]:
    records = batch(info, STREAM, FILES)
    paths = store_locally(database, info, records)
    with gunicorn(database, name="downloads-local", worker_class=SYNC, timeout=ZIP_SERVER_TIMEOUT) as server:
        ids, urls = register(server.url, token, records)
        raw = raw_local(paths)
        evict(paths)
        zipped = download_zip(server, token, ids)
        evict(paths)
        each = download_each(urls)
        evict(paths)
        in_process = zip_in_process(token, ids)
        checksum_seconds = measure_checksums(ids)
        evict(paths)
        by_query = zip_by_query_and_resume(server, token, [record_["basename"] for record_ in records])
    # Sync workers on purpose: a sync worker is killed after --timeout even while it streams (see the docstring).
    with gunicorn(database, name="downloads-slow", worker_class=SYNC, expect_errors=True) as server:
        say(f"  slow client: reading at {SLOW_CLIENT_MB_PER_SECOND} MB/s from sync workers with the default --timeout")
        slow = download_zip(
            server, token, ids, max_mb_per_second=SLOW_CLIENT_MB_PER_SECOND, limit_s=SLOW_CLIENT_SECONDS
        )
    local = {**_compare("local", raw, zipped, each), "in_process_mb_per_second": in_process["mb_per_second"]}
    by_query |= {"raw_mb_per_second": raw["mb_per_second"], "checksum_seconds": checksum_seconds}
    by_query["share_of_raw"] = round(by_query["mb_per_second"] / raw["mb_per_second"], 2)
    return local, slow, by_query


def s3_run(database: str, info: dict, token: str) -> dict:
    records = batch(info, STREAM, FILES)
    with moto_s3() as (endpoint, client):
        say("  uploading to moto")
        store_in_s3(info, records, client)
        with gunicorn(
            database, name="downloads-s3", worker_class=SYNC, timeout=ZIP_SERVER_TIMEOUT, **s3_environment(endpoint)
        ) as server:
            ids, urls = register(server.url, token, records)
            raw = raw_s3(records, client)
            zipped = download_zip(server, token, ids)
            each = download_each(urls)
    return _compare("s3 (moto)", raw, zipped, each)


def run(database: str) -> dict:
    info = require_dataset(database)
    token = bench_users(database)["admin"]
    heading(f"Downloads: a zip of {FILES} x {FILE_BYTES // MB} MB files from the local store and from S3 (moto)")
    reset_to_generated(database)
    shutil.rmtree(FILES_DIR, ignore_errors=True)  # files an interrupted run may have left
    try:
        say("  writing the files to the local store")
        local, slow, by_query = local_run(database, info, token)
        reset_to_generated(database)
        s3 = s3_run(database, info, token)
    finally:
        reset_to_generated(database)
        shutil.rmtree(FILES_DIR, ignore_errors=True)
    results = {
        "files": FILES,
        "file_mb": FILE_BYTES // MB,
        "stores": [local, s3],
        "slow_client": slow,
        "zip_by_query": by_query,
    }
    print_results(results)
    return results


def print_results(results: dict) -> None:
    say("")
    print_table(
        results["stores"],
        [
            ("store", "store"),
            ("zip_mb_per_second", "zip MB/s"),
            ("raw_mb_per_second", "raw read MB/s"),
            ("share_of_raw", "zip/raw"),
            ("urls_mb_per_second", "file URLs MB/s"),
            ("in_process_mb_per_second", "zip in-process MB/s"),
            ("peak_rss_growth_mb", "peak RSS growth MB"),
            ("verdict", "verdict (>= 80 % raw, < 100 MB)"),
        ],
    )
    query = results["zip_by_query"]
    say(
        f"  GET /frames/zip/ by query (local, laid out up front: {query['ranged']}): {query['bytes'] / MB:,.0f} MB at "
        f"{query['mb_per_second']} MB/s ({query['share_of_raw']} of the raw read), peak RSS growth "
        f"{query['peak_rss_growth_mb']} MB; its second half resumed at {query['resume_mb_per_second']} MB/s "
        f"(HTTP {query['resume_status']}), joining into the same bytes: {query['resume_joins_same_bytes']}; "
        f"size and CRC-32 of the {FILES} files read in {query['checksum_seconds']} s"
    )
    slow = results["slow_client"]
    outcome = "complete" if slow["complete"] else f"still streaming when the client stopped at {SLOW_CLIENT_SECONDS} s"
    if slow["broken"]:
        outcome = "CUT SHORT by the server"
    say(
        f"  slow client ({SLOW_CLIENT_MB_PER_SECOND} MB/s, sync workers, default --timeout): "
        f"{slow['bytes'] / MB:,.0f} MB in {slow['seconds']} s, {outcome}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_argument(parser)
    args = parser.parse_args(argv)
    results = run(args.database)
    record("downloads", results, database=args.database)


if __name__ == "__main__":
    main()
