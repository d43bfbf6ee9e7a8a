"""`python -m bench.exports`: a search exported as CSV (`GET /frames/?<filters>&format=csv`), at 10,000 and at
100,000 rows, from a gunicorn as deployed: rows per second, and the peak RSS growth of its workers (sampled every
20 ms), which must not grow with the number of rows (the export walks the rows by keyset, 500 at a time). The
window is the newest frames of the generated archive, as the superuser sees them."""

import argparse

import requests

from bench.common import (
    RssSampler,
    Stopwatch,
    add_database_argument,
    bench_users,
    connect,
    gunicorn,
    heading,
    print_table,
    require_dataset,
    say,
)
from bench.report import record

SIZES = (10_000, 100_000)
CHUNK = 1024 * 1024


def window_start(database: str, rows: int) -> str:
    """The observation date from which the newest `rows` frames are: the export's `start`."""
    with connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT observation_date FROM frames_frame WHERE observation_date IS NOT NULL "
            "ORDER BY observation_date DESC OFFSET %s LIMIT 1",
            [rows - 1],
        )
        return cursor.fetchone()[0].isoformat()


def export(server, token: str, start: str) -> dict:
    rows = 0
    size = 0
    with (
        RssSampler(server.worker_pids()) as rss,
        Stopwatch() as watch,
        requests.get(
            server.url + "/frames/",
            params={"start": start, "format": "csv"},
            headers={"Authorization": f"Token {token}"},
            stream=True,
            timeout=600,
        ) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_content(CHUNK):
            rows += chunk.count(b"\n")
            size += len(chunk)
    rows -= 1  # the header line
    return {
        "rows": rows,
        "mb": round(size / 1e6, 1),
        "seconds": round(watch.seconds, 2),
        "rows_per_second": round(rows / watch.seconds),
        "peak_rss_growth_mb": round(rss.growth_mb, 1),
    }


def run(database: str) -> dict:
    require_dataset(database)
    token = bench_users(database)["admin"]
    heading("Exports: a search as CSV, every row streamed")
    results = []
    with gunicorn(database, name="exports", timeout=600) as server:
        for size in SIZES:
            figures = export(server, token, window_start(database, size))
            results.append({"asked_rows": size, **figures})
            say(f"  {figures['rows']:,} rows in {figures['seconds']} s")
    growth = [item["peak_rss_growth_mb"] for item in results]
    outcome = {"exports": results, "rss_growth_ratio": round(growth[-1] / max(growth[0], 1.0), 2)}
    print_results(outcome)
    return outcome


def print_results(results: dict) -> None:
    say("")
    print_table(
        results["exports"],
        [
            ("rows", "rows"),
            ("mb", "MB"),
            ("seconds", "s"),
            ("rows_per_second", "rows/s"),
            ("peak_rss_growth_mb", "peak RSS growth MB"),
        ],
    )
    say(f"  peak RSS growth at 100,000 rows / at 10,000 rows (floored at 1 MB): {results['rss_growth_ratio']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_argument(parser)
    args = parser.parse_args(argv)
    record("exports", run(args.database), database=args.database)


if __name__ == "__main__":
    main()
