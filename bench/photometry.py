"""`python -m bench.photometry`: the datalab's Aperture Photometry over 50 frames of 2k x 2k, and cone searches of
the local reference catalogue at a million stars.

Two parts (figures only: nothing is asserted):

1. `aperture`: `AperturePhotometry().run(ctx)` with the tests' run context (`datalab/tests/opcontext.py`, no database,
   no worker) over 50 synthetic 2k x 2k frames written to a temporary directory (`synthetic.photometry_frame`: a
   target and nine comparison stars with a CAT table, sky, photon and read noise); the whole run and per frame, best
   and median of `--runs`. The files are read from the page cache (written just before).
2. `cone`: a database of its own (default `archive_bench_phot`, dropped and created; never the generated archive's),
   migrated, then 1,000,000 synthetic catalogue stars loaded by COPY into the `CatalogStar` table (uniform over a
   10 x 10 degree field around RA 150, Dec 20, about 10,000 a square degree, like a rich Gaia field), ANALYZEd; 50
   cones of 0.5 degree at seeded centres inside the field through the catalogue provider
   (`datalab.catalog.catalog_provider().cone`, what HR Diagram asks), p50/p95 and the rows each returned. The
   database is dropped at the end (`--keep` keeps it). The part runs in a process of its own, configured for that
   database, when called from `python -m bench`.
"""

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import (
    DEFAULT_SEED,
    ROOT,
    Stopwatch,
    check_database_name,
    heading,
    human_bytes,
    latency_summary,
    say,
)

FRAMES = 50
SHAPE = (2048, 2048)
CATALOG_ROWS = 1_000_000
CONES = 50
CONE_RADIUS_DEG = 0.5
FIELD = (150.0, 20.0, 10.0)  # centre RA, Dec and side of the catalogue's field, degrees
DATABASE = "archive_bench_phot"
PARTS = ("aperture", "cone")


def aperture_part(*, runs: int, seed: int, frames: int = FRAMES) -> dict:
    from datalab.operations.aperture_photometry import AperturePhotometry
    from datalab.tests.opcontext import LocalFile, run_operation
    from datalab.tests.synthetic import photometry_frame

    heading(f"Datalab: Aperture Photometry over {frames} frames of {SHAPE[0]} x {SHAPE[1]}")
    with tempfile.TemporaryDirectory(prefix="bench-photometry-") as name:
        directory = Path(name)
        with Stopwatch() as writing:
            paths = [
                photometry_frame(
                    directory / f"frame-{number:03d}.fits",
                    shape=SHAPE,
                    target_mag=16.0,
                    gain=1.5,
                    seed=seed + number,
                    date_obs=f"2024-03-01T{2 + number // 60:02d}:{number % 60:02d}:00.000",
                )
                for number in range(frames)
            ]
        size = sum(path.stat().st_size for path in paths)
        say(f"  {frames} frames written in {writing.seconds:.1f} s ({human_bytes(size)}); runs: {runs}")
        files = [LocalFile(path, filter="rp") for path in paths]
        seconds = []
        measured = 0
        for run in range(runs):
            with tempfile.TemporaryDirectory(prefix="run-", dir=directory) as scratch, Stopwatch() as watch:
                ctx = run_operation(
                    AperturePhotometry, Path(scratch), {"input_files": files}, source={"ra": 150.0, "dec": 20.0}
                )
            seconds.append(watch.seconds)
            measured = len(ctx.data[0]["light_curve"])
            say(f"  run {run + 1}: {watch.seconds:.2f} s, {measured} frames measured")
    best, median = min(seconds), statistics.median(seconds)
    result = {
        "frames": frames,
        "shape": list(SHAPE),
        "file_bytes": size,
        "runs": runs,
        "measured_frames": measured,
        "best_seconds": round(best, 3),
        "median_seconds": round(median, 3),
        "best_ms_per_frame": round(best / frames * 1000, 1),
        "median_ms_per_frame": round(median / frames * 1000, 1),
    }
    say(f"  best {best:.2f} s ({result['best_ms_per_frame']} ms a frame), median {median:.2f} s")
    return result


def synthetic_catalog(rows: int, seed: int) -> io.StringIO:
    """Tab-separated rows source_id, ra, dec, G, BP, RP, BP-RP, parallax, parallax_error over FIELD."""
    rng = np.random.default_rng(seed)
    ra0, dec0, side = FIELD
    dec = np.degrees(
        np.arcsin(rng.uniform(np.sin(np.radians(dec0 - side / 2)), np.sin(np.radians(dec0 + side / 2)), rows))
    )
    ra = ra0 + rng.uniform(-side / 2, side / 2, rows) / np.cos(np.radians(dec0))
    g = rng.uniform(10.0, 21.0, rows)
    colour = rng.normal(1.0, 0.4, rows)
    parallax = rng.exponential(0.5, rows)
    columns = [np.arange(1, rows + 1), ra, dec, g, g + colour / 2, g - colour / 2, colour, parallax]
    columns.append(np.full(rows, 0.05))
    buffer = io.StringIO()
    np.savetxt(buffer, np.column_stack(columns), fmt=["%d"] + ["%.8f"] * 8, delimiter="\t")
    buffer.seek(0)
    return buffer


def cone_part(*, database: str, rows: int, cones: int, seed: int, keep: bool) -> dict:
    from bench.common import configure_django, connect
    from bench.generate import drop_database, recreate_database

    heading(f"Datalab: catalogue cones of {CONE_RADIUS_DEG} deg over {rows:,} stars ({database})")
    configure_django(database)
    try:
        with Stopwatch() as migrating:
            recreate_database(database)
        say(f"  database created and migrated in {migrating.seconds:.1f} s")
        from datalab.models import CatalogStar

        table = CatalogStar._meta.db_table
        with Stopwatch() as loading:
            connection = connect(database)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "CREATE TEMP TABLE staging (source_id bigint, ra float8, dec float8, g float8, bp float8, "
                        "rp float8, bp_rp float8, parallax float8, parallax_error float8)"
                    )
                    cursor.copy_expert("COPY staging FROM STDIN", synthetic_catalog(rows, seed))
                    # RA over 180 stored less 360, as load_catalog and the frames' footprints do.
                    cursor.execute(
                        f"INSERT INTO {table} (source_id, ra, dec, position, phot_g_mean_mag, phot_bp_mean_mag, "
                        "phot_rp_mean_mag, bp_rp, parallax, parallax_error) SELECT source_id, ra, dec, "
                        "ST_SetSRID(ST_MakePoint(CASE WHEN ra > 180 THEN ra - 360 ELSE ra END, dec), 4326)::geography, "
                        "g, bp, rp, bp_rp, parallax, parallax_error FROM staging"
                    )
                connection.commit()
            finally:
                connection.close()
            connection = connect(database, autocommit=True)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(f"VACUUM ANALYZE {table}")
                    cursor.execute("SELECT pg_total_relation_size(%s)", [table])
                    table_bytes = cursor.fetchone()[0]
            finally:
                connection.close()
        say(f"  {rows:,} stars loaded in {loading.seconds:.1f} s ({human_bytes(table_bytes)} with indexes)")

        from datalab.catalog import catalog_provider

        provider = catalog_provider()
        rng = np.random.default_rng(seed)
        ra0, dec0, side = FIELD
        reach = side / 2 - 2 * CONE_RADIUS_DEG
        centres = [
            (ra0 + rng.uniform(-reach, reach) / np.cos(np.radians(dec0)), dec0 + rng.uniform(-reach, reach))
            for _ in range(cones)
        ]
        provider.cone(*centres[0], CONE_RADIUS_DEG)  # warm-up: connection, plan cache
        seconds, counts = [], []
        for ra, dec in centres:
            start = time.perf_counter()
            found = provider.cone(float(ra), float(dec), CONE_RADIUS_DEG)
            seconds.append(time.perf_counter() - start)
            counts.append(len(found))
        latency = latency_summary(seconds)
        result = {
            "rows": rows,
            "cones": cones,
            "radius_deg": CONE_RADIUS_DEG,
            "load_seconds": round(loading.seconds, 1),
            "table_bytes": table_bytes,
            "rows_per_cone_median": int(statistics.median(counts)),
            **latency,
        }
        say(
            f"  {cones} cones: p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, max {latency['max_ms']} ms; "
            f"{result['rows_per_cone_median']:,} stars a cone (median)"
        )
        return result
    finally:
        if not keep:
            drop_database(database)
            say(f"  {database} dropped")


def cone_in_own_process(*, database: str = DATABASE, seed: int = DEFAULT_SEED) -> dict:
    """The cone part in a process configured for its own database (`python -m bench` has Django on the archive's)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as output:
        command = [sys.executable, "-m", "bench.photometry", "--parts", "cone", "--database", database]
        command += ["--seed", str(seed), "--output", output.name]
        subprocess.run(command, cwd=ROOT, check=True)
        return json.loads(Path(output.name).read_text())["cone"]


def run(*, runs: int = 1, seed: int = DEFAULT_SEED, database: str = DATABASE, parts: tuple[str, ...] = PARTS) -> dict:
    result: dict = {}
    if "aperture" in parts:
        result["aperture"] = aperture_part(runs=runs, seed=seed)
    if "cone" in parts:
        result["cone"] = cone_in_own_process(database=database, seed=seed)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="timed runs of the operation (default 1)")
    parser.add_argument("--rows", type=int, default=CATALOG_ROWS, help="catalogue stars (default 1,000,000)")
    parser.add_argument("--cones", type=int, default=CONES, help="timed cones (default 50)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--database", default=DATABASE, help=f"the cone part's own database (default {DATABASE})")
    parser.add_argument("--keep", action="store_true", help="keep the cone part's database")
    parser.add_argument("--output", help="write the figures here instead of recording them in bench/results")
    args = parser.parse_args(argv)
    database = check_database_name(args.database)
    parts = tuple(part.strip() for part in args.parts.split(",") if part.strip())
    if set(parts) - set(PARTS):
        parser.error(f"choose parts from {', '.join(PARTS)}")
    result: dict = {}
    if "aperture" in parts:
        result["aperture"] = aperture_part(runs=args.runs, seed=args.seed)
    if "cone" in parts:
        result["cone"] = cone_part(database=database, rows=args.rows, cones=args.cones, seed=args.seed, keep=args.keep)
    if args.output:
        Path(args.output).write_text(json.dumps(result))
        return
    from bench.report import record

    record("photometry", result, database=database)


if __name__ == "__main__":
    main()
