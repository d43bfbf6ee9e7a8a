"""`python -m bench.datalab`: the datalab's median of 10 frames of 2k x 2k against numpy's median of the same arrays.

What is timed is the median combine of the Median operation, `datalab.operations.imaging.median_combine`, the step
that turns aligned frames into the median image and its coverage. The rest of the operation (reading the FITS files, WCS
alignment, the FITS and JPG products) and the job framework around it (sessions, Celery) are not built yet, so this
is not the time of a Median request; it is the part issue 8 compares with numpy.

Ten seeded frames (sky with a gradient, noise, the same stars in each) have 100 bad pixels set to NaN in one frame,
as a bad-pixel mask leaves them, so the combine's NaN-aware path runs in most strips, as it will on real frames. The
frames are written as float32 memory maps in a temporary directory, as the pipeline spills aligned frames, and each
timed combine maps them afresh and reads them from there. numpy's `np.median(np.stack(arrays), axis=0)` and
`np.nanmedian` get the same frames as in-memory arrays. The runs are interleaved (ours, numpy's, ...) so that a busy
machine slows them alike; best and median of `--runs`; the ratio is of the best times. One more line times the
combine with a 32-column NaN band in one frame (as a shifted frame aligned onto the grid leaves), so that every strip
has pixels to treat apart. Peak allocation is numpy's own allocations (tracemalloc) in an untimed run: the RSS would
also count the memory-mapped files' pages.
"""

import argparse
import statistics
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import DEFAULT_SEED, add_database_argument, heading, print_table, record, say, verdict
from datalab.operations.imaging import DEFAULT_MEMORY_BUDGET, median_combine

TARGET_RATIO = 1.5
FRAMES = 10
SHAPE = (2048, 2048)
STARS = 300
NAN_FRAME = 3  # 0-based: the fourth frame
NAN_PIXELS = 100
EDGE_BAND_COLUMNS = 32
MB = 1_000_000


def make_frames(seed: int) -> list[np.ndarray]:
    """Sky (a level per frame and a gradient), Gaussian noise, the same stars in every frame, NaN bad pixels in one."""
    rng = np.random.default_rng(seed)
    height, width = SHAPE
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    gradient = 0.01 * rows + 0.005 * columns
    centres = rng.uniform(20, [height - 20, width - 20], size=(STARS, 2))
    fluxes = rng.lognormal(np.log(5000), 1.0, size=STARS)
    stamp_rows, stamp_columns = np.mgrid[-10:11, -10:11]
    frames = []
    for number in range(FRAMES):
        frame = (1000 + 10 * number + gradient + rng.normal(0, 30, size=SHAPE)).astype(np.float32)
        sigma = rng.uniform(1.5, 2.5)  # the seeing of this exposure
        for (row, column), flux in zip(centres, fluxes * rng.uniform(0.9, 1.1), strict=True):
            top, left = int(row) - 10, int(column) - 10
            dy, dx = stamp_rows + top - row, stamp_columns + left - column
            psf = flux / (2 * np.pi * sigma**2) * np.exp(-(dx**2 + dy**2) / (2 * sigma**2))
            frame[top : top + 21, left : left + 21] += psf.astype(np.float32)
        frames.append(frame)
    bad = rng.choice(height * width, size=NAN_PIXELS, replace=False)
    frames[NAN_FRAME].ravel()[bad] = np.nan
    return frames


def spill(frames: list[np.ndarray], directory: Path, name: str) -> list[Path]:
    """Write the frames as float32 memory-mapped files in `directory`, as the pipeline spills aligned frames."""
    paths = []
    for number, frame in enumerate(frames):
        path = directory / f"{name}-{number}.f32"
        written = np.memmap(path, dtype=np.float32, mode="w+", shape=frame.shape)
        written[...] = frame
        written.flush()
        del written
        paths.append(path)
    return paths


def open_maps(paths: list[Path]) -> list[np.memmap]:
    """The spilled frames mapped afresh, read-only: each timed run maps them in as the operation would, once."""
    return [np.memmap(path, dtype=np.float32, mode="r", shape=SHAPE) for path in paths]


def numpy_median(frames: list[np.ndarray]) -> np.ndarray:
    return np.median(np.stack(frames), axis=0)


def numpy_nanmedian(frames: list[np.ndarray]) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": none here, but numpy may warn
        return np.nanmedian(np.stack(frames), axis=0)


def peak_allocation_mb(function: Callable[[], object]) -> float:
    """The largest amount numpy had allocated at once during one call, beyond what existed before (tracemalloc)."""
    tracemalloc.start()
    try:
        function()
        return round(tracemalloc.get_traced_memory()[1] / MB, 1)
    finally:
        tracemalloc.stop()


def summary(seconds: list[float]) -> dict:
    return {"best_s": round(min(seconds), 4), "median_s": round(statistics.median(seconds), 4), "runs": len(seconds)}


def run(*, runs: int = 5, seed: int = DEFAULT_SEED) -> dict:
    heading(f"Datalab: median of {FRAMES} frames of 2k x 2k against numpy")
    say(
        "  Times the median combine of the Median operation (datalab.operations.imaging.median_combine); "
        "the operation's alignment,\n  FITS/JPG products and the job framework are not built yet, "
        "so this is not a Median request."
    )
    frames = make_frames(seed)
    say(
        f"  {FRAMES} frames of {SHAPE[0]} x {SHAPE[1]} float32 (seed {seed}): sky 1000-1090 with a gradient, noise 30, "
        f"{STARS} stars;\n  {NAN_PIXELS} NaN bad pixels in frame {NAN_FRAME + 1}, so the NaN-aware path runs too. "
        "Ours reads float32 memory maps in a temporary\n  directory, with its default memory budget of "
        f"{DEFAULT_MEMORY_BUDGET / MB:.1f} MB for a strip;\n  numpy gets the same frames in memory. Runs "
        f"interleaved, {runs} each."
    )
    banded = frames[2].copy()
    banded[:, :EDGE_BAND_COLUMNS] = np.nan
    with tempfile.TemporaryDirectory(prefix="bench-datalab-") as name:
        directory = Path(name)
        paths = spill(frames, directory, "aligned")
        banded_paths = [*paths[:2], *spill([banded], directory, "banded"), *paths[3:]]
        contenders: dict[str, Callable[[], object]] = {
            "combine": lambda: median_combine(open_maps(paths)),
            "combine_band": lambda: median_combine(open_maps(banded_paths)),
            "numpy_median": lambda: numpy_median(frames),
            "numpy_nanmedian": lambda: numpy_nanmedian(frames),
        }
        seconds: dict[str, list[float]] = {key: [] for key in contenders}
        for _ in range(runs):
            for key, function in contenders.items():
                start = time.perf_counter()
                function()
                seconds[key].append(time.perf_counter() - start)
        figures = {key: summary(values) for key, values in seconds.items()}
        for key in ("combine", "numpy_median"):
            figures[key]["peak_allocation_mb"] = peak_allocation_mb(contenders[key])
        median, coverage = median_combine(open_maps(paths))
    expected = numpy_nanmedian(frames)
    identical = bool(
        np.array_equal(np.isnan(median), np.isnan(expected))
        and np.array_equal(np.nan_to_num(median).view(np.uint32), np.nan_to_num(expected).view(np.uint32))
    )
    ratio = round(figures["combine"]["best_s"] / figures["numpy_median"]["best_s"], 3)
    ratio_median = round(figures["combine"]["median_s"] / figures["numpy_median"]["median_s"], 3)
    band_ratio = round(figures["combine_band"]["best_s"] / figures["numpy_median"]["best_s"], 3)
    result = {
        "available": True,
        "timed": "datalab.operations.imaging.median_combine: the median combine of the Median operation "
        "(its alignment, FITS/JPG products and the job framework are not built yet)",
        "frames": FRAMES,
        "shape": list(SHAPE),
        "seed": seed,
        "nan_pixels": NAN_PIXELS,
        "nan_frame": NAN_FRAME + 1,
        "memory_budget_mb": round(DEFAULT_MEMORY_BUDGET / MB, 1),
        **figures,
        "edge_band_columns": EDGE_BAND_COLUMNS,
        "ratio": ratio,
        "ratio_of_medians": ratio_median,
        "band_ratio": band_ratio,
        "target_ratio": TARGET_RATIO,
        "verdict": verdict(ratio, TARGET_RATIO),
        "identical_to_nanmedian": identical,
        "pixels_covered_by_9": int((coverage == FRAMES - 1).sum()),
    }
    print_report(result)
    return result


def print_report(result: dict) -> None:
    rows = [
        {"how": "median_combine, from memory maps", **result["combine"]},
        {
            "how": f"  same, a {EDGE_BAND_COLUMNS}-column NaN band in frame 3 (NaN in every strip)",
            **result["combine_band"],
        },
        {"how": "np.median(np.stack(arrays), axis=0)", **result["numpy_median"]},
        {"how": "np.nanmedian(np.stack(arrays), axis=0)", **result["numpy_nanmedian"]},
    ]
    print_table(
        rows, [("how", "how"), ("best_s", "best s"), ("median_s", "median s"), ("peak_allocation_mb", "peak alloc MB")]
    )
    say(
        f"  median_combine / np.median: {result['ratio']:.3f}x (best), {result['ratio_of_medians']:.3f}x (median); "
        f"target < {TARGET_RATIO}x: {result['verdict']}; with the NaN band {result['band_ratio']:.3f}x"
    )
    same = "yes, bit for bit" if result["identical_to_nanmedian"] else "NO"
    say(f"  same image as np.nanmedian: {same}; {result['pixels_covered_by_9']} pixels covered by 9 frames, not 10")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each contender (default 5)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    add_database_argument(parser)
    args = parser.parse_args(argv)
    record("datalab", run(runs=args.runs, seed=args.seed), database=args.database)


if __name__ == "__main__":
    main()
