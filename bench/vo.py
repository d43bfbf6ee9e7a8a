"""`python -m bench.vo`: the VO services through gunicorn, beside the equivalent /frames/ query.

As `bench.queries`: each query asked `--requests` times (plus warm-up) anonymously and as a proposal member (token),
with positions and nights drawn from the generated data, against gunicorn with the S3 store (moto), so that every
access_url is a presigned URL. SIA 2.0 with `POS=CIRCLE` of 0.5 degree (MAXREC=100) beside
`/frames/?ra=&dec=&radius=0.5` (100 a page); SIA with a one-night `TIME` and a `BAND` (MAXREC=1000) beside
`/frames/?start=&end=&primary_optical_element=…&limit=1000` over the filters that band selects; the cone search at
0.1 degree; the VOSI documents. p50/p95 against the VO targets; nothing is asserted.
"""

import argparse
import datetime
import time

import requests

from bench import dataset
from bench.common import (
    add_database_argument,
    bench_users,
    gunicorn,
    heading,
    latency_summary,
    moto_s3,
    print_table,
    require_dataset,
    s3_environment,
    say,
    verdict,
)
from bench.queries import WARMUP, _ra, _sample
from bench.report import record

MJD_EPOCH = datetime.datetime(1858, 11, 17, tzinfo=datetime.UTC)
BAND = (500e-9, 600e-9)
# The filters of bench/dataset.py whose passband (vo/obscore.py's defaults) meets BAND.
BAND_FILTERS = ("rp", "gp", "V", "air")


def _mjd(value: datetime.datetime) -> float:
    return (value - MJD_EPOCH).total_seconds() / 86400


def build(cursor, *, user: str, count: int, seed: int, last_id: int) -> list[dict]:
    rng = dataset.generator(seed, 11, 0 if user == "anonymous" else 1)
    total = count + WARMUP
    if user == "anonymous":
        visible, params = "public_date < now()", ()
    else:
        visible, params = "proposal_id = ANY(%s)", (list(dataset.MEMBER_PROPOSALS),)
    frames = _sample(cursor, rng, last_id, f"({visible}) AND area IS NOT NULL", total, params)
    points = [(_ra(row[5]), round(row[6], 5)) for row in frames]
    # The night (noon to noon UTC) each frame was taken in.
    nights = [
        (row[4] - datetime.timedelta(hours=12)).replace(hour=12, minute=0, second=0, microsecond=0) for row in frames
    ]
    filters = "&".join(f"primary_optical_element={name}" for name in BAND_FILTERS)
    return [
        {
            "name": "SIA CIRCLE 0.5 deg",
            "target_ms": 50.0,
            "paths": [f"/vo/sia2/query?POS=CIRCLE+{ra}+{dec}+0.5&MAXREC=100" for ra, dec in points],
        },
        {"name": "/frames/ cone 0.5 deg", "paths": [f"/frames/?ra={ra}&dec={dec}&radius=0.5" for ra, dec in points]},
        {
            "name": "SIA TIME (a night) + BAND",
            "target_ms": 250.0,
            "paths": [
                f"/vo/sia2/query?TIME={_mjd(n)}+{_mjd(n) + 1}&BAND={BAND[0]}+{BAND[1]}&MAXREC=1000" for n in nights
            ],
        },
        {
            "name": "/frames/ a night + filters",
            "paths": [
                f"/frames/?start={n:%Y-%m-%dT%H:%M:%S}&end={n + datetime.timedelta(days=1):%Y-%m-%dT%H:%M:%S}"
                f"&{filters}&limit=1000"
                for n in nights
            ],
        },
        {
            "name": "SCS 0.1 deg",
            "target_ms": 35.0,
            "paths": [f"/vo/scs/query?RA={ra}&DEC={dec}&SR=0.1" for ra, dec in points],
        },
        {"name": "SIA capabilities", "target_ms": 5.0, "paths": ["/vo/sia2/capabilities"] * total},
        {"name": "SIA availability", "target_ms": 5.0, "paths": ["/vo/sia2/availability"] * total},
    ]


def _rows(response: requests.Response) -> int:
    if "json" in response.headers.get("Content-Type", ""):
        return len(response.json().get("results", []))
    return response.text.count("<TR>")


def measure(base_url: str, session: requests.Session, query: dict) -> dict:
    seconds, rows, failures = [], [], {}
    for number, path in enumerate(query["paths"]):
        start = time.perf_counter()
        response = session.get(base_url + path, timeout=60)
        elapsed = time.perf_counter() - start
        if number < WARMUP:
            continue
        if response.status_code != 200:
            failures[response.status_code] = failures.get(response.status_code, 0) + 1
            continue
        seconds.append(elapsed)
        rows.append(_rows(response))
    summary = latency_summary(seconds)
    target = query.get("target_ms")
    return {
        "query": query["name"],
        **{f"http_{key}": value for key, value in summary.items()},
        "rows_mean": round(sum(rows) / len(rows), 1) if rows else 0,
        "failures": failures,
        "target_p95_ms": target,
        "verdict": verdict(summary["p95_ms"], target) if target else "no target",
    }


def run(database: str, *, count: int) -> dict:
    info = require_dataset(database)
    tokens = bench_users(database)
    users = {"anonymous": None, "member": f"Token {tokens['member']}"}
    heading(f"VO services at {info['frames']:,} frames: {count} requests each (+{WARMUP} warm-up), S3 URLs")
    from bench.common import connect

    connection = connect(database)
    try:
        with connection.cursor() as cursor:
            plans = {
                user: build(cursor, user=user, count=count, seed=info["seed"], last_id=info["last_frame_id"])
                for user in users
            }
        connection.rollback()
    finally:
        connection.close()
    rows = []
    with moto_s3() as (endpoint, _), gunicorn(database, name="vo", **s3_environment(endpoint)) as server:
        for user, authorization in users.items():
            session = requests.Session()
            if authorization:
                session.headers["Authorization"] = authorization
            for query in plans[user]:
                row = {"user": user, **measure(server.url, session, query)}
                rows.append(row)
                say(
                    f"  {user:9s} {row['query']:28s} p50 {row['http_p50_ms']:7.1f} ms  p95 {row['http_p95_ms']:7.1f} ms"
                )
    results = {"requests_per_query": count, "rows": rows}
    print_results(results)
    return results


COLUMNS = [
    ("query", "query"),
    ("user", "user"),
    ("http_p50_ms", "HTTP p50 ms"),
    ("http_p95_ms", "HTTP p95 ms"),
    ("target_p95_ms", "target p95"),
    ("verdict", "verdict"),
    ("rows_mean", "rows"),
    ("failures", "failures"),
]


def print_results(results: dict) -> None:
    say("")
    print_table(results["rows"], COLUMNS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="measured requests per query and user")
    add_database_argument(parser)
    args = parser.parse_args(argv)
    results = run(args.database, count=args.requests)
    record("vo", results, database=args.database)


if __name__ == "__main__":
    main()
