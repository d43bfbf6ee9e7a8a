"""`python -m bench.queries`: searches and single-frame requests through gunicorn, beside their SQL's own time.

Each benchmark query is asked at least 50 times (`--requests`), anonymously and as a proposal member (token auth),
with parameters drawn from the generated data (other days, points, basenames each time) so that no cache flatters
it. The server runs as deployed: the S3 store (a moto endpoint), so that every frame's URL is a presigned S3 URL.
Then the statements each request runs are captured by making the same requests in-process (Django's test client
on the same database and store) and timed with EXPLAIN (ANALYZE): "SQL main" is the request's statement on frames
(the page, the frame), "SQL all" the sum over every statement of the request, "ratio" the HTTP time over the
latter. The plans of the spatial queries are printed, with whether they use the GiST index, and a profile of a list
page shows where the rest of its time goes.
"""

import argparse
import cProfile
import datetime
import pstats
import re
import shutil
import time
from dataclasses import dataclass, field

import numpy as np
import psycopg2
import requests

from bench import dataset
from bench.common import (
    GUNICORN_WORKERS,
    SYNC,
    WORK_DIR,
    Stopwatch,
    add_database_argument,
    bench_users,
    configure_django,
    connect,
    gunicorn,
    heading,
    in_process_store,
    latency_summary,
    moto_s3,
    percentile,
    print_stages,
    print_table,
    profile_cumulative,
    profile_stages,
    require_dataset,
    s3_environment,
    say,
    verdict,
)
from bench.report import record

LIST_TARGET_MS = 35.0
SINGLE_TARGET_MS = 10.0
WARMUP = 5
SPATIAL = ("covers a point", "cone 0.5 deg", "intersects a 1 deg box")


@dataclass
class Query:
    name: str
    kind: str  # "list" (p95 < 35 ms), "single" (p95 < 10 ms) or "aggregate" (no target)
    paths: list[str]
    cached: bool = False  # answered from a cache once warm: warmed in-process too before its SQL is captured
    http: dict = field(default_factory=dict)  # against gunicorn as deployed (gunicorn.conf.py's worker class)
    http_sync: dict = field(default_factory=dict)  # against sync workers, for comparison
    sql: dict = field(default_factory=dict)

    @property
    def target_ms(self) -> float | None:
        return {"list": LIST_TARGET_MS, "single": SINGLE_TARGET_MS}.get(self.kind)


# --- parameters drawn from the data ----------------------------------------------------------------------------------


def _sample(cursor, rng: np.random.Generator, last_id: int, where: str, count: int, params=()) -> list[tuple]:
    """`count` frames matching `where` among random ids (reproducible), with their footprint's centre."""
    rows: list[tuple] = []
    for _ in range(20):
        ids = rng.integers(1, last_id + 1, max(count * 40, 1000)).tolist()
        cursor.execute(
            "SELECT id, basename, target_name, proposal_id, observation_date, "
            "ST_X(ST_Centroid(area)::geometry), ST_Y(ST_Centroid(area)::geometry) "
            f"FROM frames_frame WHERE id = ANY(%s) AND observation_date IS NOT NULL AND ({where})",
            [ids, *params],
        )
        rows.extend(cursor.fetchall())
        if len(rows) >= count:
            break
    order = rng.permutation(len(rows))
    return [rows[i] for i in order[:count]]


def _day(value: datetime.datetime) -> datetime.date:
    return value.date()


def _ra(lon: float) -> float:
    """RA in [0, 360), as users give it (the server maps it back to longitude)."""
    return round(lon % 360.0, 5)


def _box(lon: float, dec: float) -> str:
    lon = max(min(lon, 179.0), -179.0)
    dec = max(min(dec, 88.5), -88.5)
    west, east, south, north = lon - 0.5, lon + 0.5, dec - 0.5, dec + 0.5
    ring = [(west, south), (east, south), (east, north), (west, north), (west, south)]
    return "POLYGON((" + ",".join(f"{x:.5f} {y:.5f}" for x, y in ring) + "))"


def _substring(name: str, rng: np.random.Generator) -> str:
    """Part of a target name (at least 4 characters) as a user would type it."""
    if len(name) <= 5:
        return name
    start = int(rng.integers(0, 2))
    return name[start : start + max(4, len(name) - 2)]


def build_queries(cursor, *, user: str, count: int, seed: int, last_id: int) -> list[Query]:
    """The benchmark queries with `count` (+ warm-up) parameter sets each, drawn from frames `user` can see."""
    rng = dataset.generator(seed, 7, 0 if user == "anonymous" else 1)
    total = count + WARMUP
    member = list(dataset.MEMBER_PROPOSALS)
    if user == "anonymous":
        visible, params = "public_date < now()", ()
    else:  # the member's own proposals, proprietary frames included
        visible, params = "proposal_id = ANY(%s)", (member,)
    frames = _sample(cursor, rng, last_id, visible, total, params)
    targets = _sample(cursor, rng, last_id, f"({visible}) AND target_name NOT LIKE 'J%%'", total, params)
    days = [_day(row[4]) for row in frames]
    proposals = [member[i % 2] for i in range(total)] if user != "anonymous" else None
    proposals = proposals or [dataset.PROPOSALS[int(i)] for i in rng.integers(0, len(dataset.PROPOSALS), total)]
    windows = [(day, day + datetime.timedelta(days=30)) for day in days]
    one_day = [(day, day + datetime.timedelta(days=1)) for day in days]
    return [
        Query("list default", "list", ["/frames/"] * total),
        Query("1-day window", "list", [f"/frames/?start={a}&end={b}" for a, b in one_day]),
        Query(
            "proposal + 30 days",
            "list",
            [f"/frames/?proposal_id={p}&start={a}&end={b}" for p, (a, b) in zip(proposals, windows, strict=True)],
        ),
        Query("basename_exact", "single", [f"/frames/?basename_exact={row[1]}" for row in frames]),
        Query(SPATIAL[0], "list", [f"/frames/?covers=POINT({_ra(row[5])} {row[6]:.5f})" for row in frames]),
        Query(SPATIAL[1], "list", [f"/frames/?ra={_ra(row[5])}&dec={row[6]:.5f}&radius=0.5" for row in frames]),
        Query(SPATIAL[2], "list", [f"/frames/?intersects={_box(row[5], row[6])}" for row in frames]),
        Query("target_name contains", "list", [f"/frames/?target_name={_substring(row[2], rng)}" for row in targets]),
        Query("detail", "single", [f"/frames/{row[0]}/" for row in frames]),
        Query("headers", "single", [f"/frames/{row[0]}/headers/" for row in frames]),
        Query("related", "single", [f"/frames/{row[0]}/related/" for row in frames]),
        Query("aggregate (cached)", "aggregate", ["/frames/aggregate/"] * total, cached=True),
        Query(
            "aggregate 30 days (cached)",
            "aggregate",
            [f"/frames/aggregate/?start={windows[0][0]}&end={windows[0][1]}&public=true"] * total,
            cached=True,
        ),
        Query(
            "aggregate 30 days (uncached)",
            "aggregate",
            [f"/frames/aggregate/?start={a}&end={b}&public=true" for a, b in windows],
        ),
    ]


# --- HTTP -------------------------------------------------------------------------------------------------------------


def _rows(payload) -> int:
    if isinstance(payload, list):
        return len(payload)
    if isinstance(payload, dict) and isinstance(payload.get("results"), list):
        return len(payload["results"])
    return 1


def measure_http(base_url: str, session: requests.Session, query: Query) -> dict:
    """Time every request of the query (after the warm-up ones) from sending it to the last byte of the answer."""
    seconds, rows, failures = [], [], {}
    for number, path in enumerate(query.paths):
        start = time.perf_counter()
        response = session.get(base_url + path, timeout=60)
        elapsed = time.perf_counter() - start
        if number < WARMUP:
            continue
        if response.status_code != 200:
            failures[response.status_code] = failures.get(response.status_code, 0) + 1
            continue
        seconds.append(elapsed)
        rows.append(_rows(response.json()))
    return {
        **latency_summary(seconds),
        "rows_mean": round(sum(rows) / len(rows), 1) if rows else 0,
        "failures": failures,
    }


# --- SQL -------------------------------------------------------------------------------------------------------------


def capture_statements(client, query: Query, headers: dict) -> list[list[str]]:
    """The SQL each measured request runs, from the same request made in-process."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    captured = []
    for path in query.paths[WARMUP:]:
        if query.cached:
            client.get(path, **headers)
        with CaptureQueriesContext(connection) as context:
            response = client.get(path, **headers)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code} in-process")
        captured.append([item["sql"] for item in context.captured_queries])
    return captured


SPLIT_STATEMENTS = re.compile(r";\s+(?=SELECT\b)")


def explain(cursor, statement: str, *, text: bool = False):
    """(milliseconds of planning + execution, JSON plan) of one captured statement, run in a rolled-back transaction.

    Statements that only plan (the count estimate's EXPLAIN) count their planning time; those that are not queries
    (savepoints) count nothing; multi-statement strings (the count under a local timeout) run their first parts as
    they are and explain the last one.
    """
    parts = SPLIT_STATEMENTS.split(statement.strip().rstrip(";"))
    last = parts[-1]
    try:
        for part in parts[:-1]:
            cursor.execute(part)
        if last.upper().startswith("EXPLAIN"):
            inner = re.sub(r"^EXPLAIN\s*(\([^)]*\))?\s*", "", last, flags=re.I)
            cursor.execute("EXPLAIN (SUMMARY ON, FORMAT JSON) " + inner)
            plan = cursor.fetchone()[0][0]
            return plan["Planning Time"], plan
        if not last.upper().startswith(("SELECT", "WITH")):
            return 0.0, None
        if text:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + last)
            return None, "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + last)
        plan = cursor.fetchone()[0][0]
        return plan["Planning Time"] + plan["Execution Time"], plan
    finally:
        cursor.connection.rollback()


def index_names(plan: dict | None) -> set[str]:
    if not plan:
        return set()
    node = plan.get("Plan", plan)
    names = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", []):
        names |= index_names(child)
    return names


def main_statement(statements: list[str]) -> int | None:
    """The request's own statement on frames: the first that reads frames_frame (auth and profile come before)."""
    for number, statement in enumerate(statements):
        if '"frames_frame"' in statement and not statement.lstrip().upper().startswith("EXPLAIN"):
            return number
    return None


def measure_sql(cursor, query: Query, captured: list[list[str]]) -> None:
    totals, mains, indexes, counts, jit = [], [], set(), [], 0
    for statements in captured:
        times = []
        main = main_statement(statements)
        for number, statement in enumerate(statements):
            milliseconds, plan = explain(cursor, statement)
            times.append(milliseconds)
            jit += bool(plan and "JIT" in plan)
            if number == main:
                mains.append(milliseconds)
                indexes |= index_names(plan)
        totals.append(sum(times))
        counts.append(len(statements))
    query.sql = {
        "statements": max(counts) if counts else 0,
        "main_p50_ms": round(percentile(mains, 50), 3) if mains else None,
        "main_p95_ms": round(percentile(mains, 95), 3) if mains else None,
        "all_p50_ms": round(percentile(totals, 50), 3),
        "all_p95_ms": round(percentile(totals, 95), 3),
        "indexes": sorted(indexes),
        "jit_statements": jit,  # statements PostgreSQL compiled with JIT (costly at this size)
    }
    if query.name in SPATIAL and captured and main_statement(captured[0]) is not None:
        _, query.sql["plan"] = explain(cursor, captured[0][main_statement(captured[0])], text=True)


def gist_indexes(cursor) -> set[str]:
    cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'frames_frame' AND indexdef LIKE '%USING gist%'")
    return {row[0] for row in cursor.fetchall()}


# --- the benchmark ----------------------------------------------------------------------------------------------------


def _row(user: str, query: Query) -> dict:
    http, sql = query.http, query.sql
    ratio = round(http["p50_ms"] / sql["all_p50_ms"], 1) if sql.get("all_p50_ms") else None
    return {
        "query": query.name,
        "user": user,
        "kind": query.kind,
        **{f"http_{key}": value for key, value in http.items()},
        **{f"sync_http_{key}": value for key, value in query.http_sync.items()},
        **{f"sql_{key}": value for key, value in sql.items() if key != "plan"},
        "ratio": ratio,
        "target_p95_ms": query.target_ms,
        "verdict": verdict(http["p95_ms"], query.target_ms) if query.target_ms else "no target",
    }


def _measure_all_http(base_url: str, users: dict, plans: dict, *, attribute: str) -> None:
    """Every query of every user against the server at `base_url`, into the queries' `attribute` (http, http_sync)."""
    for user, headers in users.items():
        session = requests.Session()
        if headers:
            session.headers["Authorization"] = headers["HTTP_AUTHORIZATION"]
        for query in plans[user]:
            http = measure_http(base_url, session, query)
            setattr(query, attribute, http)
            say(f"  {user:9s} {query.name:30s} p50 {http['p50_ms']:7.1f} ms  p95 {http['p95_ms']:7.1f} ms")


def _measure_all_sql(cursor, users: dict, plans: dict) -> None:
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    for user, headers in users.items():
        for query in plans[user]:
            measure_sql(cursor, query, capture_statements(client, query, headers))


# --- where a page's time goes ------------------------------------------------------------------------------------

PAGE_STAGES = (
    ("filters (django-filter) and queryset", "frames/selectors.py", "frame_list"),
    ("page query and count", "archive/pagination.py", "paginate_queryset"),
    ("versions and links of the page (2 queries)", "frames/selectors.py", "attach_related"),
    ("download URLs (one signature a frame)", "frames/links.py", "version_url"),
    ("footprints: GeoJSON made by PostGIS, parsed", "frames/representations.py", "area_geojson"),
    ("JSON rendering (orjson)", "archive/renderers.py", "render"),
)
PROFILED_PAGES = 30


def profile_page(path: str = "/frames/") -> dict:
    """In-process cProfile of a list page: where its time goes, besides the SQL."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    for _ in range(WARMUP):
        client.get(path)
    with Stopwatch() as watch:
        for _ in range(PROFILED_PAGES):
            client.get(path)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(PROFILED_PAGES):
        client.get(path)
    profiler.disable()
    return {
        "path": path,
        "ms_per_page_in_process": round(1000 * watch.seconds / PROFILED_PAGES, 2),
        "stages": _page_stages(pstats.Stats(profiler), PROFILED_PAGES),
    }


def _page_stages(stats: pstats.Stats, pages: int) -> list[dict]:
    stages = [(label, profile_cumulative(stats, filename, name)) for label, filename, name in PAGE_STAGES]
    representation = profile_cumulative(stats, "frames/representations.py", "frame_item")
    urls, footprints = stages[3][1], stages[4][1]
    stages.insert(5, ("the rest of each frame's representation", representation - urls - footprints))
    return profile_stages(stats, stages, pages)


def profile_page_deployed(database: str, environment: dict, path: str = "/frames/") -> dict:
    """The same profile of a list page, measured inside gunicorn as deployed (gunicorn.conf.py's worker class, with
    memcached): a server of the same settings whose workers profile each request in the thread that serves it
    (bench/gunicorn_profile.py, which wraps the application without changing it). Also the HTTP time of the same
    requests seen by the client, profiled, and of as many unprofiled ones against a server as deployed."""
    directory = WORK_DIR / "profiles"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    session = requests.Session()

    def pages(url: str) -> list[float]:
        seconds = []
        for _ in range(PROFILED_PAGES):
            with Stopwatch() as watch:
                session.get(url + path, timeout=60).raise_for_status()
            seconds.append(watch.seconds)
        return seconds

    try:
        with gunicorn(database, name="queries-unprofiled", **environment) as server:
            for _ in range(WARMUP * GUNICORN_WORKERS):
                session.get(server.url + path, timeout=60).raise_for_status()
            unprofiled = pages(server.url)
            description = server.description
        with gunicorn(database, name="queries-profiled", profile_dir=directory, **environment) as server:
            for _ in range(WARMUP * GUNICORN_WORKERS):  # each worker's first requests (connections, imports)
                session.get(server.url + path, timeout=60).raise_for_status()
            for warmup in directory.glob("*.prof"):
                warmup.unlink()
            profiled = pages(server.url)
        files = sorted(directory.glob("*.prof"))
        if len(files) != PROFILED_PAGES:
            raise RuntimeError(f"{len(files)} profiles of {PROFILED_PAGES} requests in {directory}")
        stats = pstats.Stats(*map(str, files))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "path": path,
        "server": description,
        "http_p50_ms_unprofiled": round(1000 * percentile(unprofiled, 50), 2),
        "http_p50_ms_profiled": round(1000 * percentile(profiled, 50), 2),
        "ms_per_page_profiled_in_worker": round(1000 * stats.total_tt / PROFILED_PAGES, 2),
        "stages": _page_stages(stats, PROFILED_PAGES),
    }


def per_frame_costs() -> dict:
    """Microseconds of the per-frame work of a page (best of 3 x 2,000): a download URL, a footprint's GeoJSON."""
    from django.test import RequestFactory

    from frames.links import DownloadLinks
    from frames.models import Frame, Version
    from frames.representations import area_geojson as _area_geojson

    version = Version.objects.select_related("frame").first()
    links = DownloadLinks(RequestFactory().get("/frames/", HTTP_HOST="127.0.0.1"))

    def best(function) -> float:
        timings = []
        for _ in range(3):
            with Stopwatch() as watch:
                for _ in range(2000):
                    function()
            timings.append(watch.seconds / 2000 * 1e6)
        return round(min(timings), 1)

    # As a page loads it: the footprint as GeoJSON text made by PostGIS (FrameQuerySet.with_geojson).
    frame = Frame.objects.with_geojson().filter(area__isnull=False).first()
    return {
        f"{links.store.kind}_download_url_us": best(lambda: links.version_url(version.frame, version)),
        "footprint_geojson_us": best(lambda: _area_geojson(frame)),
    }


# --- the benchmark ----------------------------------------------------------------------------------------------------


# The tables a search reads (with their indexes): frames, versions, links. Not the headers (2.9 GB a million
# frames), of which a request reads one row.
PREWARM_TABLES = ("frames_frame", "frames_version", "frames_frame_related_frames")


def prewarm(connection) -> dict:
    """Read the searched tables and their indexes into the page cache (pg_prewarm, 'read'), as they are on a server
    that has been answering for a while: otherwise whichever query runs first pays for the disk reads of all. Returns
    what was read, or why nothing was (the extension needs a superuser or its prior creation)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            cursor.execute(
                "SELECT count(*), coalesce(sum(pg_prewarm(oid, 'read')), 0) * current_setting('block_size')::bigint "
                "FROM (SELECT t.oid FROM pg_class t WHERE t.relname = ANY(%(tables)s) "
                "UNION SELECT i.indexrelid FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                "WHERE t.relname = ANY(%(tables)s)) AS relations",
                {"tables": list(PREWARM_TABLES)},
            )
            relations, size = cursor.fetchone()
            size = int(size)
        connection.commit()
    except psycopg2.Error as exc:  # any refusal only means a cold start, which is said
        connection.rollback()
        say(f"  caches not prewarmed ({type(exc).__name__}: {exc}".strip() + "); the first queries read from disk")
        return {"done": False, "reason": str(exc).strip()}
    say(f"  prewarmed {relations} relations ({size / 1e9:.2f} GB: {', '.join(PREWARM_TABLES)} and their indexes)")
    return {"done": True, "relations": relations, "bytes": size}


def run(database: str, *, count: int) -> dict:
    info = require_dataset(database)
    tokens = bench_users(database)
    users = {"anonymous": {}, "member": {"HTTP_AUTHORIZATION": f"Token {tokens['member']}"}}
    heading(
        f"Queries at {info['frames']:,} frames: {count} requests each (+{WARMUP} warm-up), S3 URLs; gunicorn as "
        "deployed, then with sync workers"
    )
    connection = connect(database)
    try:
        with connection.cursor() as cursor:
            plans = {
                user: build_queries(cursor, user=user, count=count, seed=info["seed"], last_id=info["last_frame_id"])
                for user in users
            }
            connection.rollback()
            warmed = prewarm(connection)
            with moto_s3() as (endpoint, _):
                environment = s3_environment(endpoint)
                with gunicorn(database, name="queries", **environment) as server:
                    say(f"  {server.description} (gunicorn.conf.py's worker class and threads)")
                    _measure_all_http(server.url, users, plans, attribute="http")
                    deployed = server.description
                with gunicorn(database, name="queries-sync", worker_class=SYNC, **environment) as server:
                    say(f"  {server.description}, for comparison")
                    _measure_all_http(server.url, users, plans, attribute="http_sync")
                    sync = server.description
                say("  profiling a page inside gunicorn as deployed")
                deployed_page = profile_page_deployed(database, environment)
                say("  capturing the statements in-process and timing them with EXPLAIN (ANALYZE); profiling a page")
                configure_django(database)
                with in_process_store(environment):
                    _measure_all_sql(cursor, users, plans)
                    page = profile_page()
                    costs = per_frame_costs()
            costs.update(per_frame_costs())  # and the local store's signed links, for comparison
            gist = gist_indexes(cursor)
    finally:
        connection.close()
    rows = [_row(user, query) for user in users for query in plans[user]]
    spatial = {
        query.name: {"plan": query.sql.get("plan"), "uses_gist": bool(gist & set(query.sql["indexes"]))}
        for query in plans["anonymous"]
        if query.name in SPATIAL
    }
    results = {
        "requests_per_query": count,
        "workers": GUNICORN_WORKERS,
        "server": deployed,
        "sync_server": sync,
        "store": "s3 (moto)",
        "prewarmed": warmed,
        "rows": rows,
        "spatial": spatial,
    }
    results.update({"page_profile": page, "deployed_page_profile": deployed_page, "per_frame_us": costs})
    print_results(results)
    return results


def print_results(results: dict) -> None:
    rows, spatial = results["rows"], results["spatial"]
    say("")
    print_table(
        rows,
        [
            ("query", "query"),
            ("user", "user"),
            ("http_p50_ms", "HTTP p50 ms"),
            ("http_p95_ms", "HTTP p95 ms"),
            ("sync_http_p50_ms", "sync p50"),
            ("sync_http_p95_ms", "sync p95"),
            ("target_p95_ms", "target p95"),
            ("verdict", "verdict"),
            ("sql_main_p50_ms", "SQL main p50"),
            ("sql_all_p50_ms", "SQL all p50"),
            ("ratio", "HTTP/SQL"),
            ("sql_statements", "stmts"),
            ("http_rows_mean", "rows"),
        ],
    )
    say("\n  Index use of each request's main statement:")
    for row in rows:
        if row["user"] == "anonymous":
            say(f"    {row['query']:30s} {', '.join(row['sql_indexes']) or '(no index)'}")
    for name, data in spatial.items():
        say(f"\n  Plan of '{name}' (anonymous, first request); GiST index used: {'yes' if data['uses_gist'] else 'NO'}")
        for line in (data["plan"] or "").splitlines():
            say("    " + line)
    page = results["page_profile"]
    say(f"\n  Where a page of {page['path']} goes (anonymous, in-process, {page['ms_per_page_in_process']} ms a page):")
    print_stages(page["stages"])
    page = results["deployed_page_profile"]
    say(
        f"\n  The same page inside {page['server']} (profiled in the worker thread serving it): "
        f"{page['ms_per_page_profiled_in_worker']} ms a page profiled in the worker; HTTP p50 "
        f"{page['http_p50_ms_profiled']} ms profiled, {page['http_p50_ms_unprofiled']} ms unprofiled:"
    )
    print_stages(page["stages"])
    costs = ", ".join(f"{name} {value}" for name, value in results["per_frame_us"].items())
    say(f"  Per frame of a page (microseconds): {costs}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="measured requests per query and user (>= 50)")
    add_database_argument(parser)
    args = parser.parse_args(argv)
    results = run(args.database, count=args.requests)
    record("queries", results, database=args.database)


if __name__ == "__main__":
    main()
