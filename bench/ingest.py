"""`python -m bench.ingest`: POST /frames/ through gunicorn with 1 and 4 clients, against what the database allows.

Bodies are the ingester's (`dataset.ingest_body`: ~150 header keys, 4 related calibration frames, a footprint), for
frames of nights after the generated archive. Besides frames/s and latency through the API, the same rows are
written two other ways, which bound what an ingest could reach:
- the limit: one COPY of all of them (the generator's way, constraints checked, rolled back);
- the floor: one frame per transaction, INSERTs straight from psycopg2 (no HTTP, no Django), 1 and 4 writers.
Where the time goes is shown by the CPU split of the run (client, server, database and the rest) and by a profile
of in-process ingests (cProfile, Django's test client), with the statements one POST runs.
Every frame added is removed again afterwards (`generate.reset_to_generated`).
"""

import argparse
import cProfile
import datetime
import json
import pstats
import queue
import threading
import time

import requests

from bench import dataset
from bench.common import (
    GUNICORN_WORKERS,
    CpuMeter,
    Stopwatch,
    add_database_argument,
    bench_users,
    configure_django,
    connect,
    gunicorn,
    heading,
    latency_summary,
    print_stages,
    print_table,
    profile_cumulative,
    profile_stages,
    profile_top,
    require_dataset,
    say,
    verdict,
)
from bench.generate import copy_into, copy_texts, parse_end, reset_to_generated
from bench.report import record

FRAMES = 2_000
WARMUP_FRAMES = 20
PROFILE_FRAMES = 200
TARGET_FRAMES_PER_SECOND = {1: 80, 4: 150}
# One stream of frames per use, each on a night of its own after the generated archive.
STREAMS = {"warm-up": 1, 1: 2, 4: 3, "profile": 4}
ID_TABLES = ("frames_frame", "frames_version", "frames_headers")


def batch(info: dict, stream: int, count: int, first_id: int = 1) -> list[dict]:
    """`count` frames of one night, `stream` nights after the end of the generated archive."""
    night = parse_end(info["end"]) + datetime.timedelta(days=stream)
    plan = dataset.make_plan(
        count=count,
        seed=info["seed"],
        start=night,
        end=night + datetime.timedelta(days=1),
        first_id=first_id,
        stream=stream,
    )
    targets = dataset.make_targets(info["seed"])
    return [record for chunk in dataset.records(plan, targets) for record in chunk]


# --- through the API ---------------------------------------------------------------------------------------------


def post_all(base_url: str, token: str, bodies: list[dict], clients: int) -> dict:
    """POST every body with `clients` threads, each with its own session; frames/s and latency."""
    work: queue.Queue = queue.Queue()
    for body in bodies:
        work.put(json.dumps(body))
    latencies: list[float] = []
    failures: dict[int, int] = {}
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        session.headers.update({"Authorization": f"Token {token}", "Content-Type": "application/json"})
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            start = time.perf_counter()
            try:
                status = session.post(base_url + "/frames/", data=body, timeout=60).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if status != 201:
                    failures[status] = failures.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    with Stopwatch() as watch:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return {
        "clients": clients,
        "frames": len(bodies),
        "seconds": round(watch.seconds, 2),
        "frames_per_second": round(len(bodies) / watch.seconds, 1),
        **latency_summary(latencies),
        "failures": failures,
    }


# --- straight into the database ------------------------------------------------------------------------------------


def reserve_ids(database: str, count: int) -> int:
    """The first of `count` ids free in the frame, version and headers sequences alike (rows use one id for all)."""
    connection = connect(database, autocommit=True)
    try:
        with connection.cursor() as cursor:
            sequences = [f"pg_get_serial_sequence('{table}', 'id')" for table in ID_TABLES]
            cursor.execute(f"SELECT GREATEST({', '.join(f'nextval({s})' for s in sequences)})")
            first = cursor.fetchone()[0]
            for sequence in sequences:
                cursor.execute(f"SELECT setval({sequence}, %s)", [first + count])
    finally:
        connection.close()
    return first


def copy_limit(database: str, records: list[dict]) -> dict:
    """The rows of these frames in one COPY per table, foreign keys checked as they go, then rolled back."""
    connection = connect(database)
    try:
        with connection.cursor() as cursor, Stopwatch() as watch:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            copy_into(cursor, copy_texts(records))
        connection.rollback()
    finally:
        connection.close()
    rate = round(len(records) / watch.seconds)
    return {"frames": len(records), "seconds": round(watch.seconds, 3), "frames_per_second": rate}


INSERT_FRAME = (
    "INSERT INTO frames_frame (id, basename, area, observation_date, observation_day, proposal_id, instrument_id, "
    "target_name, site_id, telescope_id, primary_optical_element, configuration_type, reduction_level, "
    "exposure_time, public_date, observation_id, request_id, created, modified) VALUES "
    "(%(id)s, %(basename)s, %(area)s::geography, %(observation_date)s, %(observation_day)s, %(proposal_id)s, "
    "%(instrument_id)s, %(target_name)s, %(site_id)s, %(telescope_id)s, %(primary_optical_element)s, "
    "%(configuration_type)s, %(reduction_level)s, %(exposure_time)s, %(public_date)s, %(observation_id)s, "
    "%(request_id)s, now(), now())"
)
INSERT_VERSION = (
    "INSERT INTO frames_version (id, frame_id, key, md5, extension, store_path, created) "
    "VALUES (%(id)s, %(id)s, %(key)s, %(md5)s, '.fits.fz', %(store_path)s, now())"
)
INSERT_HEADERS = "INSERT INTO frames_headers (id, frame_id, data) VALUES (%(id)s, %(id)s, %(headers)s::jsonb)"
INSERT_LINKS = "INSERT INTO frames_frame_related_frames (from_frame_id, to_frame_id) SELECT * FROM unnest(%s, %s)"


def _links_by_transaction(records: list[dict]) -> dict[int, list[tuple[int, int]]]:
    """Each link pair goes in the transaction of its later frame, when both frames exist."""
    links: dict[int, list[tuple[int, int]]] = {}
    for record_ in records:
        for other in record_["related_ids"]:
            later = max(record_["id"], other)
            links.setdefault(later, []).extend([(record_["id"], other), (other, record_["id"])])
    return links


def _write_one_by_one(database: str, records: list[dict], links: dict) -> list[float]:
    connection = connect(database)
    latencies = []
    try:
        with connection.cursor() as cursor:
            for record_ in records:
                start = time.perf_counter()
                row = {**record_, "observation_date": record_["observation_date"] + "Z"}
                row["public_date"] = record_["public_date"] + "Z"
                cursor.execute(INSERT_FRAME, row)
                cursor.execute(INSERT_VERSION, row)
                cursor.execute(INSERT_HEADERS, row)
                pairs = links.get(record_["id"], [])
                if pairs:
                    cursor.execute(INSERT_LINKS, [[a for a, _ in pairs], [b for _, b in pairs]])
                connection.commit()
                latencies.append(time.perf_counter() - start)
    finally:
        connection.close()
    return latencies


def floor(database: str, records: list[dict], writers: int) -> dict:
    """One frame per transaction straight from psycopg2, with `writers` connections; frames of one instrument stay
    with one writer, so that a link never waits for another writer's frame."""
    links = _links_by_transaction(records)
    shares: list[list[dict]] = [[] for _ in range(writers)]
    for record_ in records:
        shares[dataset.INSTRUMENTS.index((record_["site_id"], record_["instrument_id"])) % writers].append(record_)
    latencies: list[float] = []
    errors: list[BaseException] = []

    def writer(part: list[dict]) -> None:
        try:
            latencies.extend(_write_one_by_one(database, part, links))
        except BaseException as exc:  # re-raised below, once every writer has stopped
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(part,)) for part in shares]
    with Stopwatch() as watch:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return {
        "writers": writers,
        "frames": len(latencies),
        "seconds": round(watch.seconds, 2),
        "frames_per_second": round(len(latencies) / watch.seconds, 1),
        **latency_summary(latencies),
    }


# --- where the time goes ---------------------------------------------------------------------------------------------

# Stages of one POST, by the function whose cumulative time is the stage's (file, function).
PROFILE_STAGES = (
    ("token authentication", "rest_framework/authentication.py", "authenticate"),
    ("input validation (DRF serializer)", "rest_framework/serializers.py", "is_valid"),
    ("frame_ingest: its statements and COMMIT", "frames/services.py", "work"),
    # The relay publishes and deletes on a thread of its own, which the profile (of the request's thread) leaves out.
    ("after commit: notification handed to the outbox relay", "frames/notifications.py", "outbox_publish_later"),
    ("after commit: aggregates cache", "frames/aggregates.py", "aggregates_note_frame"),
    ("JSON rendering (orjson)", "archive/renderers.py", "render"),
)
VIEW = ("frames/views.py", "create")
VALIDATION = ("rest_framework/serializers.py", "is_valid")
INGEST = ("frames/services.py", "frame_ingest")


def profile_in_process(database: str, token: str, bodies: list[dict]) -> dict:
    """Ingest `bodies` in-process: the statements of one POST, the rate without HTTP (first half), and where the
    time goes under cProfile (second half; the profiler slows Python code, so shares lean towards Python)."""
    configure_django(database)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
    payloads = [json.dumps(body) for body in bodies]

    def post(payload: str) -> None:
        response = client.post("/frames/", payload, content_type="application/json")
        if response.status_code != 201:
            raise RuntimeError(f"in-process ingest answered {response.status_code}: {response.content[:300]!r}")

    post(payloads[0])  # the first request of the process loads what later ones reuse
    with CaptureQueriesContext(connection) as context:
        post(payloads[1])
    # Read now: the next request empties Django's query log.
    statements = [" ".join(query["sql"].split())[:110] for query in context.captured_queries]
    commits = statements.count("COMMIT")
    timed, profiled = payloads[2 : len(payloads) // 2], payloads[len(payloads) // 2 :]
    with Stopwatch() as watch:
        for payload in timed:
            post(payload)
    profiler = cProfile.Profile()
    profiler.enable()
    for payload in profiled:
        post(payload)
    profiler.disable()
    stats = pstats.Stats(profiler)
    return {
        "statements_per_post": len(statements),
        "statements": statements,
        "commits_per_post": commits,
        "frames_per_second_in_process": round(len(timed) / watch.seconds, 1),
        "stages": _profile_stages(stats, len(profiled)),
        "top": profile_top(stats),
    }


def _profile_stages(stats: pstats.Stats, posts: int) -> list[dict]:
    """The stages of a POST; the view's remainder is the response (the frame, its versions and links read again,
    and the record built)."""
    stages = [(label, profile_cumulative(stats, filename, name)) for label, filename, name in PROFILE_STAGES]
    view, validation, ingest = (profile_cumulative(stats, *key) for key in (VIEW, VALIDATION, INGEST))
    stages.append(("response: the record and its links", view - validation - ingest))
    return profile_stages(stats, stages, posts)


# --- the benchmark ----------------------------------------------------------------------------------------------------


def run(database: str, *, frames: int = FRAMES) -> dict:
    info = require_dataset(database)
    token = bench_users(database)["admin"]
    heading(f"Ingest at {info['frames']:,} frames: {frames:,} POST /frames/ with 1 and 4 clients, gunicorn as deployed")
    reset_to_generated(database)
    try:
        api, cpu = _api_runs(database, info, token, frames)
        same_rows = batch(info, STREAMS[1], frames, first_id=reserve_ids(database, frames))
        say("  the same rows: one COPY (rolled back), then one frame per transaction with psycopg2")
        limit = copy_limit(database, same_rows)
        floors = {}
        for writers in (1, 4):
            reset_to_generated(database)
            floors[writers] = floor(database, same_rows, writers)
        reset_to_generated(database)
        say(f"  profiling {PROFILE_FRAMES} ingests in-process")
        bodies = [dataset.ingest_body(r) for r in batch(info, STREAMS["profile"], PROFILE_FRAMES)]
        profile = profile_in_process(database, token, bodies)
    finally:
        reset_to_generated(database)
    results = {
        "frames_per_run": frames,
        "workers": GUNICORN_WORKERS,
        "api": api,
        "cpu": cpu,
        "copy_same_rows": limit,
        "generator_copy": info["load"],
        "floor": list(floors.values()),
        "profile": profile,
    }
    print_results(results)
    return results


def _api_runs(database: str, info: dict, token: str, frames: int) -> tuple[list[dict], dict]:
    api, cpu = [], {}
    with gunicorn(database, name="ingest") as server:
        warmup = [dataset.ingest_body(r) for r in batch(info, STREAMS["warm-up"], WARMUP_FRAMES)]
        post_all(server.url, token, warmup, 1)
        for clients in (1, 4):
            bodies = [dataset.ingest_body(r) for r in batch(info, STREAMS[clients], frames)]
            with CpuMeter([server.process.pid, *server.worker_pids()]) as meter:
                result = post_all(server.url, token, bodies, clients)
            result["target_frames_per_second"] = TARGET_FRAMES_PER_SECOND[clients]
            result["verdict"] = verdict(result["frames_per_second"], TARGET_FRAMES_PER_SECOND[clients], at_least=True)
            api.append(result)
            cpu[clients] = meter.shares
            say(f"  {clients} client(s): {result['frames_per_second']} frames/s, p95 {result['p95_ms']} ms")
    reset_to_generated(database)
    return api, cpu


def print_results(results: dict) -> None:
    say("")
    rows = [
        {"how": f"API, {r['clients']} client(s)", **r, "cpu": results["cpu"][r["clients"]]} for r in results["api"]
    ] + [{"how": f"floor: 1 frame a transaction, {r['writers']} writer(s)", **r} for r in results["floor"]]
    rows.append({"how": "limit: COPY of the same rows", **results["copy_same_rows"]})
    generator_rate = results["generator_copy"]["frames_per_second"]
    rows.append({"how": "generator's COPY (whole archive)", "frames_per_second": generator_rate})
    print_table(
        rows,
        [
            ("how", "how"),
            ("frames_per_second", "frames/s"),
            ("p50_ms", "p50 ms"),
            ("p95_ms", "p95 ms"),
            ("target_frames_per_second", "target"),
            ("verdict", "verdict"),
        ],
    )
    for clients, shares in results["cpu"].items():
        say(
            f"  CPU during the {clients}-client run: client {shares['client_percent']} %, gunicorn "
            f"{shares['server_percent']} %, database and rest {shares['rest_percent']} %, "
            f"idle {shares['idle_percent']} %"
        )
    profile = results["profile"]
    say(
        f"\n  In-process (no HTTP, one thread): {profile['frames_per_second_in_process']} frames/s; "
        f"{profile['statements_per_post']} statements and {profile['commits_per_post']} COMMITs per POST. "
        "Where a POST's time goes (cProfile):"
    )
    print_stages(profile["stages"])
    say("  The statements of one POST:")
    for statement in profile["statements"]:
        say(f"    {statement}")
    say("  Top functions by own time:")
    for row in profile["top"]:
        say(f"    {row['own_percent']:5.1f} %  {row['function']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=FRAMES, help="frames per run (default 2,000)")
    add_database_argument(parser)
    args = parser.parse_args(argv)
    results = run(args.database, frames=args.frames)
    record("ingest", results, database=args.database)


if __name__ == "__main__":
    main()
