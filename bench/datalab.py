"""`python -m bench.datalab`: the datalab's Median against numpy's median, a worker's peak memory, and submission.

Four parts, each printed beside its target (figures only: nothing is asserted):

1. `combine`: the median combine alone (`datalab.operations.imaging.median_combine`) of 10 seeded 2k x 2k frames
   with 100 NaN bad pixels, read from float32 memory maps as the operation spills aligned frames, against
   `np.median(np.stack(arrays), axis=0)` and `np.nanmedian` of the same arrays in memory (target: within 1.5x).
   One more line times it with a 32-column NaN band in one frame (as a shifted frame aligned onto the grid
   leaves), so that every strip has pixels to treat apart. Peak allocation is numpy's own (tracemalloc) in an
   untimed run: the RSS would also count the memory-mapped files' pages.
2. `operation`: the whole Median operation, `Median().run(ctx)`, over 10 synthetic 2k x 2k frames dithered by
   known sub-pixel WCS shifts (so every frame but the first is resampled), read from FITS files (dropped from the
   page cache first, as a worker reads frames it has not read recently), aligned, combined, written as FITS and
   JPGs into a products directory; with the time of each stage (see `bench/datalab_worker.py`), against numpy's
   median of the same 10 frames as in-memory arrays (target: within 5x). Twice: the frames tile-compressed as the
   archive stores them (`.fits.fz`, which decides the verdict) and plain.
3. `memory`: Median over 20 frames of 4k x 4k (`.fits.fz`) in a process of its own, as a worker runs it: how far
   its resident memory rose (ru_maxrss, VmHWM), and of that the anonymous and the file-backed pages (the aligned
   frames are spilled to scratch files and read back by strips, so they stay out of the worker). Target: < 512 MB,
   judged on VmHWM (the kernel's peak RSS, reset just before the run). Memory in MB of 2^20 bytes, as the kernel counts.
4. `submission`: POST /api/datasessions/<id>/operations/ of a Median on 2 archive frames, as a proposal member,
   against gunicorn run as docker-compose runs it (4 gthread workers of 8 threads) with a RabbitMQ node of the
   benchmark's own, so that each new run is published to the broker; no worker consumes the queue. Each measured
   POST asks for a new computation (another pair of frames or the other alignment), interleaved with POSTs of an
   operation already asked for, which take the dedupe path and publish nothing. Target: p95 < 50 ms. Needs the
   generated archive (`python -m bench.generate`); frames, files, sessions and runs it adds are removed.

Runs are interleaved (ours, numpy's, ...) so that a busy machine slows them alike; best and median of `--runs`;
ratios are of the best times (and of the medians, printed beside).
"""

import argparse
import hashlib
import io
import itertools
import json
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import requests

from bench.common import (
    DEFAULT_DATABASE,
    DEFAULT_SEED,
    FILES_DIR,
    GUNICORN_CONFIG,
    RESULTS_DIR,
    ROOT,
    WORK_DIR,
    CpuMeter,
    Stopwatch,
    add_database_argument,
    bench_users,
    configure_django,
    dataset_info,
    gunicorn,
    heading,
    human_bytes,
    latency_summary,
    print_table,
    say,
    verdict,
)
from bench.datalab_worker import MAX_SHIFT_PX, STAGES, run_median, write_frames
from bench.report import record
from datalab.operations.imaging import DEFAULT_MEMORY_BUDGET, median_combine, read_science

PARTS = ("combine", "operation", "memory", "submission")

TARGET_RATIO = 1.5
FRAMES = 10
SHAPE = (2048, 2048)
STARS = 300
NAN_FRAME = 3  # 0-based: the fourth frame
NAN_PIXELS = 100
EDGE_BAND_COLUMNS = 32
MB = 1_000_000

TARGET_OPERATION_RATIO = 5.0

MEMORY_FRAMES = 20
MEMORY_SHAPE = (4096, 4096)
TARGET_MEMORY_GROWTH_MB = 512
# Inputs (~19 MB a 4k x 4k frame compressed), the 20 aligned frames spilled as float32 (64 MB each), the product.
MEMORY_DISK_BYTES = 3 * 1024**3

TARGET_POST_P95_MS = 50
POST_FRAMES = 30  # 435 pairs, each with two alignments: enough distinct computations for every measured POST
POST_WARMUP = 20
STREAM = 6  # the night of these frames: after the downloads benchmark's
SESSION_NAME = "bench-datalab"
# The server as the image and the compose stack run it: gunicorn.conf.py's worker count, class and threads.
DEPLOYED_WORKERS = int(runpy.run_path(str(GUNICORN_CONFIG))["workers"])


# --- 1. the median combine alone ------------------------------------------------------------------------------------


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


def combine_part(*, runs: int, seed: int) -> dict:
    heading(f"Datalab: the median combine alone, {FRAMES} frames of 2k x 2k, against numpy")
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
        "timed": "datalab.operations.imaging.median_combine alone: the median combine of the Median operation, "
        "from aligned frames spilled as float32 memory maps",
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
    print_combine(result)
    return result


def print_combine(result: dict) -> None:
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


# --- 2. the whole operation -----------------------------------------------------------------------------------------


def drop_from_page_cache(paths: list[Path]) -> None:
    """Drop these files (only these) from the page cache, so that the next read comes from the disk."""
    from bench.downloads import evict

    evict(paths)


def operation_part(*, runs: int, seed: int) -> dict:
    heading(f"Datalab: the Median operation end to end, {FRAMES} frames of 2k x 2k, against numpy's median")
    with tempfile.TemporaryDirectory(prefix="datalab-operation-", dir=_work_dir()) as name:
        directory = Path(name)
        formats = {
            "fits.fz": write_frames(directory / "fz", count=FRAMES, shape=SHAPE, seed=seed, compressed=True),
            "fits": write_frames(directory / "plain", count=FRAMES, shape=SHAPE, seed=seed, compressed=False),
        }
        first = formats["fits.fz"]
        sizes = {key: sum(path.stat().st_size for path in frames.paths) for key, frames in formats.items()}
        say(
            f"  {FRAMES} frames of {SHAPE[0]} x {SHAPE[1]} (seed {seed}): {first.stars} stars at fixed sky positions, "
            f"sky 1000, noise 30, a BPM\n  (200 pixels and a column each); reference pixels dithered by up to "
            f"{MAX_SHIFT_PX:g} px with fractional parts, so 9 of 10 frames are resampled:\n  "
            + ", ".join(f"({x:+.3f}, {y:+.3f})" for x, y in first.shifts[1:])
            + " px.\n  Files: .fits.fz (RICE_1, "
            f"quantize level 64) {human_bytes(sizes['fits.fz'])}, plain .fits {human_bytes(sizes['fits'])}; dropped "
            "from the page cache before each run.\n  Median().run(ctx) with the tests' context (no database), "
            "products copied to a directory; numpy gets the frames as the operation reads them\n  (NaN at bad "
            f"pixels) in memory. Runs interleaved, {runs} each."
        )
        arrays = [read_science(path)[0] for path in formats["fits"].paths]
        timings: dict[str, list[dict]] = {key: [] for key in formats}
        numpy_seconds = []
        for _ in range(runs):
            for key, frames in formats.items():
                drop_from_page_cache(frames.paths)
                timings[key].append(run_median(frames.paths, directory / "work"))
            start = time.perf_counter()
            numpy_median(arrays)
            numpy_seconds.append(time.perf_counter() - start)
    numpy_figures = summary(numpy_seconds)
    results = {}
    for key, measured in timings.items():
        stages = {stage: summary([run[stage] for run in measured]) for stage in ("total", *STAGES)}
        ratio = round(stages["total"]["best_s"] / numpy_figures["best_s"], 2)
        results[key] = {
            "stages": stages,
            "bytes": sizes[key],
            "ratio": ratio,
            "ratio_of_medians": round(stages["total"]["median_s"] / numpy_figures["median_s"], 2),
            "verdict": verdict(ratio, TARGET_OPERATION_RATIO),
            "full_coverage_fraction": round(measured[-1]["full_coverage_fraction"], 4),
        }
    result = {
        "frames": FRAMES,
        "shape": list(SHAPE),
        "seed": seed,
        "stars": first.stars,
        "shifts_px": [list(shift) for shift in first.shifts],
        "formats": results,
        "numpy_median": numpy_figures,
        "target_ratio": TARGET_OPERATION_RATIO,
        "verdict_format": "fits.fz",
        "verdict": results["fits.fz"]["verdict"],
    }
    print_operation(result)
    return result


STAGE_LABELS = {
    "read": "read (load_science: FITS, BPM, WCS)",
    "align": "align (resample onto the grid, spill)",
    "combine": "combine (median_combine)",
    "write_fits": "write FITS (write_fits_product)",
    "jpgs": "JPGs (render_previews)",
    "store": "store the products",
    "other": "the rest",
    "total": "whole operation",
}


def print_operation(result: dict) -> None:
    formats = result["formats"]
    rows = []
    for stage in (*STAGES, "total"):
        row = {"stage": STAGE_LABELS[stage]}
        for key, figures in formats.items():
            row[f"{key}_best"] = figures["stages"][stage]["best_s"]
            row[f"{key}_median"] = figures["stages"][stage]["median_s"]
        rows.append(row)
    rows.append(
        {
            "stage": "np.median(np.stack(arrays), axis=0)",
            **{f"{key}_best": result["numpy_median"]["best_s"] for key in formats},
            **{f"{key}_median": result["numpy_median"]["median_s"] for key in formats},
        }
    )
    columns = [("stage", "stage")]
    for key in formats:
        columns += [(f"{key}_best", f".{key} best s"), (f"{key}_median", "median s")]
    print_table(rows, columns)
    for key, figures in formats.items():
        say(
            f"  Median on .{key} / np.median: {figures['ratio']:.2f}x (best), {figures['ratio_of_medians']:.2f}x "
            f"(median); target < {result['target_ratio']:g}x: {figures['verdict']}"
            + (" (the verdict: the archive's format)" if key == result["verdict_format"] else "")
        )
    say(f"  pixels covered by all {result['frames']} frames: {formats['fits.fz']['full_coverage_fraction']:.1%}")


# --- 3. a worker's peak memory --------------------------------------------------------------------------------------


def _work_dir() -> Path:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    return WORK_DIR


def memory_part(*, seed: int) -> dict:
    height, width = MEMORY_SHAPE
    heading(
        f"Datalab: a worker's peak memory, Median over {MEMORY_FRAMES} frames of {height // 1024}k x {width // 1024}k"
    )
    free = shutil.disk_usage(_work_dir()).free
    say(f"  disk: {human_bytes(free)} free in {WORK_DIR}, about {human_bytes(MEMORY_DISK_BYTES)} needed")
    if free < MEMORY_DISK_BYTES:
        return {
            "available": False,
            "reason": f"{human_bytes(free)} of free disk, {human_bytes(MEMORY_DISK_BYTES)} needed",
        }
    with tempfile.TemporaryDirectory(prefix="datalab-memory-", dir=_work_dir()) as name:
        directory = Path(name)
        start = time.perf_counter()
        frames = write_frames(directory / "frames", count=MEMORY_FRAMES, shape=MEMORY_SHAPE, seed=seed, compressed=True)
        size = sum(path.stat().st_size for path in frames.paths)
        say(
            f"  wrote {MEMORY_FRAMES} dithered .fits.fz frames ({human_bytes(size)}) in "
            f"{time.perf_counter() - start:.0f} s; running Median in a process of its own"
        )
        drop_from_page_cache(frames.paths)
        done = subprocess.run(
            [sys.executable, "-m", "bench.datalab_worker", str(directory / "frames"), str(directory / "work")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the Median process failed ({done.returncode}):\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    result = {
        "available": True,
        "frames": MEMORY_FRAMES,
        "shape": list(MEMORY_SHAPE),
        "format": "fits.fz",
        "input_bytes": size,
        "aligned_spill_bytes": MEMORY_FRAMES * height * width * 4,
        **figures,
        "target_mb": TARGET_MEMORY_GROWTH_MB,
        "verdict": verdict(figures["hwm_growth_mb"] or figures["rss_peak_growth_mb"], TARGET_MEMORY_GROWTH_MB),
        "anon_verdict": verdict(figures["anon_peak_growth_mb"], TARGET_MEMORY_GROWTH_MB),
    }
    print_memory(result)
    return result


def print_memory(result: dict) -> None:
    seconds = result["seconds"]
    say(
        f"  the process held {result['rss_before_mb']} MB before the run (after a warm-up run on two small frames); "
        "during the run its resident memory rose by:"
    )
    rows = [
        ("VmHWM: the kernel's peak RSS, reset just before the run", result["hwm_growth_mb"]),
        ("VmRSS sampled every 5 ms: its peak", result["rss_peak_growth_mb"]),
        ("  anonymous memory (RssAnon, sampled): arrays", result["anon_peak_growth_mb"]),
        ("  file-backed pages (RssFile, sampled)", result["file_peak_growth_mb"]),
        ("ru_maxrss after the run less the RSS before (Celery's --max-memory-per-child)", result["maxrss_growth_mb"]),
    ]
    print_table([{"measure": label, "mb": mb} for label, mb in rows], [("measure", "measure"), ("mb", "growth MB")])
    say(
        f"  target < {result['target_mb']} MB: {result['verdict']} by the peak RSS; {result['anon_verdict']} by the "
        f"anonymous memory alone. The {result['frames']} aligned frames spilled to scratch files are "
        f"{result['aligned_spill_bytes'] / 1024**2:,.0f} MB, read back by strips.\n  ru_maxrss is its value "
        f"after the run less the RSS before: before the run it was {result['maxrss_before_mb']:,.0f} MB, "
        "the benchmark process's own peak, inherited through fork and exec."
    )
    stages = ", ".join(f"{stage} {seconds[stage]:.1f}" for stage in STAGES)
    say(f"  time: {seconds['total']:.1f} s ({stages} s)")


# --- 4. submission --------------------------------------------------------------------------------------------------


def remove_sessions(database: str) -> int:
    """The benchmark's sessions, their operations and the runs no other operation shares; the runs removed."""
    configure_django(database)
    from django.db import transaction

    from datalab.models import DataOperation, DataSession, OperationRun

    with transaction.atomic():
        sessions = DataSession.objects.filter(name=SESSION_NAME, user__username__startswith="bench-")
        runs = list(DataOperation.objects.filter(session__in=sessions).values_list("run_id", flat=True))
        sessions.delete()
        removed, _ = OperationRun.objects.filter(pk__in=runs, operations__isnull=True).delete()
    return removed


def store_frames(database: str, records: list[dict], directory: Path, seed: int) -> list[Path]:
    """Small real FITS files of the records' frames in the local store, through its own API (as server-side ingest
    writes); the records get their md5 and version key."""
    configure_django(database)
    from archive.filestore.local import LocalFileStore

    frames = write_frames(directory, count=len(records), shape=(256, 256), seed=seed, compressed=True)
    store = LocalFileStore(root=FILES_DIR)
    paths = []
    for record_, path in zip(records, frames.paths, strict=True):
        content = path.read_bytes()
        record_["md5"] = hashlib.md5(content).hexdigest()
        record_["key"] = store.put(record_["store_path"], io.BytesIO(content), md5=record_["md5"], size=len(content))
        paths.append(FILES_DIR / record_["store_path"] / record_["key"])
    return paths


def remove_stored(paths: list[Path]) -> None:
    """The stored files, and the directories of the store they leave empty."""
    for path in paths:
        path.unlink(missing_ok=True)
        directory = path.parent
        while directory != FILES_DIR and FILES_DIR in directory.parents and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent


def median_body(basenames: tuple[str, str], alignment: str) -> dict:
    items = [{"source": "archive", "basename": basename} for basename in basenames]
    return {"name": "Median", "input_data": {"input_files": items, "alignment": alignment}}


def submission_part(database: str, *, posts: int, seed: int) -> dict:
    heading("Datalab: submission, POST /api/datasessions/<id>/operations/ (Median of 2 archive frames)")
    info = dataset_info(database)
    if info is None:
        reason = f"no generated archive in {database} (python -m bench.generate --frames N makes one)"
        say(f"  skipped: {reason}")
        return {"available": False, "reason": reason}
    from bench import dataset
    from bench.broker import rabbitmq
    from bench.generate import reset_to_generated
    from bench.ingest import batch

    tokens = bench_users(database)
    reset_to_generated(database)
    remove_sessions(database)
    records = batch(info, STREAM, POST_FRAMES)
    for record_ in records:  # frames of the member's proposal: visible to them through their proposals
        record_["proposal_id"] = dataset.MEMBER_PROPOSALS[0]
    combinations = [
        (pair, alignment)
        for pair in itertools.combinations(sorted(r["basename"] for r in records), 2)
        for alignment in ("wcs", "none")
    ]
    np.random.default_rng([seed, 44]).shuffle(combinations)
    if posts + POST_WARMUP > len(combinations):
        raise SystemExit(
            f"At most {len(combinations) - POST_WARMUP} POSTs of new computations with {POST_FRAMES} frames"
        )
    stored: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(prefix="datalab-post-", dir=_work_dir()) as name:
            stored = store_frames(database, records, Path(name) / "frames", seed)
            with (
                rabbitmq("datalab") as node,
                gunicorn(
                    database,
                    name="datalab-gunicorn",
                    workers=DEPLOYED_WORKERS,
                    QUEUE_BROKER_URL=node.url,
                    TEMP_FITS_DIR=str(Path(name) / "scratch"),
                ) as server,
            ):
                say(
                    f"  gunicorn ({server.description}) against RabbitMQ node {node.name}; "
                    f"posting {POST_FRAMES} frames of {dataset.MEMBER_PROPOSALS[0]} to /frames/, then a session of them"
                )
                result = measure_posts(server, node, tokens, records, combinations, posts)
    finally:
        runs = remove_sessions(database)
        reset_to_generated(database)
        remove_stored(stored)
    result["runs_removed"] = runs
    print_submission(result)
    return result


def measure_posts(server, node, tokens: dict, records: list[dict], combinations: list, posts: int) -> dict:
    from bench import dataset

    admin = requests.Session()
    admin.headers["Authorization"] = f"Token {tokens['admin']}"
    for record_ in records:
        admin.post(server.url + "/frames/", json=dataset.ingest_body(record_), timeout=60).raise_for_status()
    member = requests.Session()
    member.headers["Authorization"] = f"Token {tokens['member']}"
    items = [{"source": "archive", "basename": r["basename"]} for r in records]
    created = member.post(
        server.url + "/api/datasessions/", json={"name": SESSION_NAME, "input_data": items}, timeout=60
    )
    created.raise_for_status()
    url = f"{server.url}/api/datasessions/{created.json()['id']}/operations/"
    fresh = iter(combinations)
    repeated = median_body(*combinations[0])
    failures: dict[str, int] = {}

    def post(body: dict, expect_pending: bool) -> float:
        start = time.perf_counter()
        response = member.post(url, json=body, timeout=60)
        elapsed = time.perf_counter() - start
        if response.status_code != 201 or (expect_pending and response.json()["status"] != "PENDING"):
            key = f"{response.status_code} {response.text[:120]}"
            failures[key] = failures.get(key, 0) + 1
        return elapsed

    for _ in range(POST_WARMUP):  # every gunicorn worker connects to the database and the broker once
        post(median_body(*next(fresh)), True)
        post(repeated, False)
    published_before = node.queue_depths().get("datalab", 0)
    new, deduplicated = [], []
    with CpuMeter([server.process.pid, *server.worker_pids()]) as cpu, Stopwatch() as watch:
        for _ in range(posts):
            new.append(post(median_body(*next(fresh)), True))
            deduplicated.append(post(repeated, False))
    server_cpu_s = cpu.shares["server_percent"] / 100 * watch.seconds * (os.cpu_count() or 1)
    published = node.queue_depths().get("datalab", 0) - published_before
    new_summary, dedupe_summary = latency_summary(new), latency_summary(deduplicated)
    return {
        "available": True,
        "server": f"gunicorn archive.wsgi, gunicorn.conf.py with {DEPLOYED_WORKERS} workers (as the image runs it)",
        "broker": "a RabbitMQ node of the benchmark's own; no worker consumes the queue",
        "frames": len(records),
        "warmup_posts": 2 * POST_WARMUP,
        "new_run": new_summary,
        "deduplicated": dedupe_summary,
        "published_to_broker": published,
        "failures": failures,
        "cpu": cpu.shares,
        "server_cpu_ms_per_post": round(1000 * server_cpu_s / (2 * posts), 1),
        "target_p95_ms": TARGET_POST_P95_MS,
        "verdict": verdict(new_summary["p95_ms"], TARGET_POST_P95_MS),
        "dedupe_verdict": verdict(dedupe_summary["p95_ms"], TARGET_POST_P95_MS),
    }


def print_submission(result: dict) -> None:
    rows = [
        {"post": "a new computation (run created and published)", **result["new_run"]},
        {"post": "the same operation again (deduplicated: nothing published)", **result["deduplicated"]},
    ]
    print_table(
        rows,
        [
            ("post", "POST"),
            ("n", "n"),
            ("p50_ms", "p50 ms"),
            ("p95_ms", "p95 ms"),
            ("mean_ms", "mean ms"),
            ("max_ms", "max ms"),
        ],
    )
    say(
        f"  target p95 < {result['target_p95_ms']} ms: {result['verdict']} for new runs, "
        f"{result['dedupe_verdict']} for deduplicated ones; {result['published_to_broker']} messages reached the "
        f"broker's datalab queue during the {result['new_run']['n']} new-run POSTs"
    )
    cpu = result["cpu"]
    say(
        f"  CPU: client {cpu['client_percent']} %, server {cpu['server_percent']} %, rest (PostgreSQL, RabbitMQ, "
        f"others) {cpu['rest_percent']} %, idle {cpu['idle_percent']} %; the server's CPU "
        f"{result['server_cpu_ms_per_post']} ms a POST (both kinds)"
    )
    if result["failures"]:
        say(f"  FAILED POSTs: {result['failures']}")


# --- all of it ------------------------------------------------------------------------------------------------------


def run(
    *,
    runs: int = 5,
    seed: int = DEFAULT_SEED,
    database: str = DEFAULT_DATABASE,
    posts: int = 200,
    parts: tuple[str, ...] = PARTS,
) -> dict:
    """The parts asked for; the combine's figures at the top level (as before the operation existed), the others
    under "operation", "memory" and "submission"."""
    result = combine_part(runs=runs, seed=seed) if "combine" in parts else {}
    if "operation" in parts:
        result["operation"] = operation_part(runs=runs, seed=seed)
    if "memory" in parts:
        result["memory"] = memory_part(seed=seed)
    if "submission" in parts:
        result["submission"] = submission_part(database, posts=posts, seed=seed)
    return result


SUBSECTIONS = ("operation", "memory", "submission")
RECORDED_BY_COMMON = ("measured_at", "scale_frames", "load_average")


def with_recorded_parts(result: dict, parts: tuple[str, ...]) -> dict:
    """The figures of a partial run with the recorded figures of the parts it did not run, so that running one
    part alone does not erase the others from latest.json."""
    path = RESULTS_DIR / "latest.json"
    if set(parts) == set(PARTS) or not path.exists():
        return result
    previous = json.loads(path.read_text()).get("sections", {}).get("datalab", {})
    if "error" in previous:
        return result
    merged = {}
    if "combine" not in parts:
        skipped = (*SUBSECTIONS, *RECORDED_BY_COMMON)
        merged.update({key: value for key, value in previous.items() if key not in skipped})
    for part in SUBSECTIONS:
        if part not in parts and part in previous:
            merged[part] = previous[part]
    return {**merged, **result}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each contender (default 5)")
    parser.add_argument("--posts", type=int, default=200, help="measured POSTs of each kind (default 200)")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default all)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    add_database_argument(parser)
    args = parser.parse_args(argv)
    parts = tuple(part.strip() for part in args.parts.split(",") if part.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    result = run(runs=args.runs, seed=args.seed, database=args.database, posts=args.posts, parts=parts)
    record("datalab", with_recorded_parts(result, parts), database=args.database)


if __name__ == "__main__":
    main()
