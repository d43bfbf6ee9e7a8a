"""`python -m bench` (`make bench`): every benchmark in turn, from a clean state, into bench/results/latest.*.

The bench database is reused when it holds an archive of the same scale and seed (`--regenerate` forces a new one);
whatever earlier runs added to it is removed first. A part that fails is recorded as failed and the others still
run; the exit status says whether all of them ran.
"""

import argparse
import shutil
import sys
import traceback

from bench import datalab, downloads, exports, ingest, photometry, queries, vo
from bench.common import (
    DEFAULT_FRAMES,
    DEFAULT_SEED,
    ROOT,
    Stopwatch,
    add_database_argument,
    check_database_name,
    dataset_info,
    heading,
    human_bytes,
    manage,
    say,
)
from bench.generate import default_end, generate, print_figures, reset_to_generated
from bench.report import record, start_results

# What a generated archive takes on disk per million frames, with room for WAL and the download files.
DISK_PER_MILLION = 8 * 1024**3
DISK_FIXED = 3 * 1024**3


def check_disk(frames: int) -> None:
    needed = DISK_FIXED + DISK_PER_MILLION * frames / 1_000_000
    free = shutil.disk_usage(ROOT).free
    say(f"  disk: {human_bytes(free)} free, about {human_bytes(needed)} needed")
    if free < needed:
        raise SystemExit("Not enough free disk for this scale; free some space or choose a smaller BENCH_FRAMES.")


def prepare(database: str, *, frames: int, seed: int, regenerate: bool) -> None:
    info = dataset_info(database)
    if not regenerate and info and info.get("frames") == frames and info.get("seed") == seed:
        heading(f"Reusing the archive of {frames:,} frames (seed {seed}) generated {info['generated_at']}")
        # Migrations added since it was generated, as an upgrade applies them (a no-op when there are none).
        manage(database, "migrate", "--noinput", "-v", "0")
        reset_to_generated(database)  # says what it removed and how long the VACUUM (ANALYZE) took
        print_figures(info)
        record("generate", {**info, "reused": True}, database=database)
        return
    check_disk(frames)
    info = generate(frames=frames, seed=seed, database=database, end=default_end())
    record("generate", info, database=database)


def run_part(name: str, function, database: str) -> bool:
    """Run one benchmark; a failure is recorded and reported, and does not stop the others."""
    try:
        record(name, function(), database=database)
        return True
    except Exception as exc:  # an unattended run goes on with the next part
        traceback.print_exc()
        record(name, {"error": f"{type(exc).__name__}: {exc}"}, database=database)
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="scale (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--regenerate", action="store_true", help="generate even if an archive of this scale exists")
    parser.add_argument("--requests", type=int, default=50, help="measured requests per query and user")
    add_database_argument(parser)
    args = parser.parse_args(argv)
    database = check_database_name(args.database)
    with Stopwatch() as watch:
        start_results()
        prepare(database, frames=args.frames, seed=args.seed, regenerate=args.regenerate)
        parts = [
            ("queries", lambda: queries.run(database, count=args.requests)),
            ("vo", lambda: vo.run(database, count=args.requests)),
            ("ingest", lambda: ingest.run(database)),
            ("downloads", lambda: downloads.run(database)),
            ("exports", lambda: exports.run(database)),
            ("datalab", lambda: datalab.run(database=database)),
            ("photometry", lambda: photometry.run()),
        ]
        succeeded = [run_part(name, function, database) for name, function in parts]
    heading(f"Done in {watch.seconds / 60:.1f} min: bench/results/latest.md and latest.json")
    sys.exit(0 if all(succeeded) else 1)


if __name__ == "__main__":
    main()
