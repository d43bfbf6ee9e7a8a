"""The datalab's Median operation run as a worker runs it, with each stage timed; and, as `python -m
bench.datalab_worker`, in a process of its own that reports its peak memory.

Frames: seeded synthetic exposures of one field (stars at fixed sky positions, sky, Gaussian noise, a bad-pixel
mask) on TAN WCSs whose reference pixels differ by known sub-pixel shifts, so that the operation really resamples
every frame but the first onto the first one's grid. They are written as the archive stores frames, an empty primary
HDU, SCI and BPM, either tile-compressed (`.fits.fz`: RICE_1 with quantisation level 64, as `fpack -q 64` writes
float images) or plain.

The context is the tests' (`datalab.tests.opcontext.LocalContext`: inputs are local files, no database) except
that products are copied into a directory, as the worker's FileSystemStorage saves them, instead of being read into
memory, which would add the product's size to the memory measured.

Stages are timed by wrapping the public functions the operation calls, without changing its code:
`imaging.load_science` (read: FITS decompression, BPM, WCS), `imaging.align_stack` (read + align: the rest of it is
resampling onto the grid and spilling to scratch files), `median.median_combine`, `products.write_fits_product`,
`products.render_previews`, and the context's `add_file_product` (store).
"""

import argparse
import contextlib
import json
import resource
import shutil
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from datalab.operations import imaging, median, products
from datalab.tests import synthetic
from datalab.tests.opcontext import LocalContext, LocalFile

SCALE_ARCSEC = 0.389  # a 1-m Sinistro's pixel
FWHM_ARCSEC = 2.0
SKY = 1000.0
NOISE = 30.0
MAX_SHIFT_PX = 6.0
BAD_PIXELS = 200
STARS_PER_MEGAPIXEL = 100
RICE_QUANTIZE_LEVEL = 64


# --- frames ---------------------------------------------------------------------------------------------------------


@dataclass
class FrameSet:
    paths: list[Path]
    shifts: list[tuple[float, float]]  # (x, y) in pixels of each frame's reference pixel from the first one's
    shape: tuple[int, int]
    compressed: bool
    stars: int


def shifts_for(count: int, seed: int) -> list[tuple[float, float]]:
    """The first frame on the grid; the others dithered by sub-pixel amounts up to MAX_SHIFT_PX each way."""
    rng = np.random.default_rng([seed, 41])
    drawn = rng.uniform(-MAX_SHIFT_PX, MAX_SHIFT_PX, size=(count, 2)).round(3)
    drawn[0] = 0.0
    return [(float(x), float(y)) for x, y in drawn]


def field_stars(shape: tuple[int, int], seed: int) -> list[synthetic.Star]:
    """Stars at fixed sky positions over the field (and a little beyond it), log-normal fluxes."""
    rng = np.random.default_rng([seed, 42])
    height, width = shape
    count = max(10, round(STARS_PER_MEGAPIXEL * height * width / 1e6))
    wcs = synthetic.make_wcs(shape=shape, scale_arcsec=SCALE_ARCSEC)
    x = rng.uniform(-MAX_SHIFT_PX, width + MAX_SHIFT_PX, count)
    y = rng.uniform(-MAX_SHIFT_PX, height + MAX_SHIFT_PX, count)
    ra, dec = wcs.pixel_to_world_values(x, y)
    fluxes = rng.lognormal(np.log(20_000), 1.0, count)
    return [(float(r), float(d), float(f)) for r, d, f in zip(ra, dec, fluxes, strict=True)]


def write_frames(
    directory: Path, *, count: int, shape: tuple[int, int], seed: int, compressed: bool, prefix: str = "frame"
) -> FrameSet:
    """Write `count` dithered frames of one field into `directory` (see the module's docstring)."""
    directory.mkdir(parents=True, exist_ok=True)
    height, width = shape
    stars = field_stars(shape, seed)
    shifts = shifts_for(count, seed)
    sigma_px = FWHM_ARCSEC / synthetic.FWHM_PER_SIGMA / SCALE_ARCSEC
    paths = []
    for number, (dx, dy) in enumerate(shifts):
        rng = np.random.default_rng([seed, 43, number])
        crpix = ((width + 1) / 2 + dx, (height + 1) / 2 + dy)
        wcs = synthetic.make_wcs(shape=shape, scale_arcsec=SCALE_ARCSEC, crpix=crpix)
        positions = synthetic.star_pixels(wcs, stars)
        image = synthetic.render_stars(shape, positions, [flux for _, _, flux in stars], sigma_px=sigma_px)
        image += SKY + 5 * number
        image += rng.normal(0.0, NOISE, size=shape)
        data = image.astype(np.float32)
        del image
        mask = np.zeros(shape, np.uint8)
        mask.ravel()[rng.choice(height * width, size=BAD_PIXELS, replace=False)] = 1
        mask[:, rng.integers(width)] = 1  # a bad column
        header = synthetic.wcs_header(wcs)
        header["OBJECT"] = "BENCH FIELD"
        header["DATE-OBS"] = f"2024-01-01T00:{number:02d}:00.000"
        header["EXPTIME"] = 60.0
        header["FILTER"] = "rp"
        header["BUNIT"] = "counts"
        if compressed:
            path = directory / f"{prefix}-{number:03d}.fits.fz"
            hdus = [
                fits.PrimaryHDU(),
                fits.CompImageHDU(
                    data, header=header, name="SCI", compression_type="RICE_1", quantize_level=RICE_QUANTIZE_LEVEL
                ),
                fits.CompImageHDU(mask, name="BPM", compression_type="RICE_1"),
            ]
        else:
            path = directory / f"{prefix}-{number:03d}.fits"
            hdus = [fits.PrimaryHDU(), fits.ImageHDU(data, header=header, name="SCI"), fits.ImageHDU(mask, name="BPM")]
        fits.HDUList(hdus).writeto(path, overwrite=True)
        paths.append(path)
    return FrameSet(paths, shifts, shape, compressed, len(stars))


# --- the operation, its context and its stages ---------------------------------------------------------------------


@dataclass
class BenchContext(LocalContext):
    """The tests' context, with products copied into `products_dir` as the worker's storage saves them."""

    products_dir: Path = field(default=Path("."))

    def add_file_product(self, *, fits_path, large_jpg, small_jpg, tif=None, kind="fits", index=None) -> dict:
        basename = self.key if index is None else f"{self.key}-{index}"
        self.products_dir.mkdir(parents=True, exist_ok=True)
        stored = self.products_dir / f"{basename}.fits"
        shutil.copyfile(fits_path, stored)
        (self.products_dir / f"{basename}-large.jpg").write_bytes(large_jpg)
        (self.products_dir / f"{basename}-small.jpg").write_bytes(small_jpg)
        product = {"basename": basename, "source": "datalab", "type": kind, "path": stored}
        self.products.append(product)
        return product


# (module, attribute, stage): the functions the Median operation calls, looked up at call time.
TIMED = (
    (imaging, "load_science", "read"),
    (imaging, "align_stack", "read_align"),
    (median, "median_combine", "combine"),
    (products, "write_fits_product", "write_fits"),
    (products, "render_previews", "jpgs"),
)
STAGES = ("read", "align", "combine", "write_fits", "jpgs", "store", "other")


@contextlib.contextmanager
def timed_stages():
    """Wrap the timed functions for the duration; yields a dict stage -> seconds, summed over calls."""
    seconds: dict[str, float] = defaultdict(float)
    saved = []

    def wrap(function, stage):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[stage] += time.perf_counter() - start

        return timed

    for module, name, stage in TIMED:
        original = getattr(module, name)
        saved.append((module, name, original))
        setattr(module, name, wrap(original, stage))
    try:
        yield seconds
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def run_median(paths: list[Path], work: Path, *, alignment: str = "wcs") -> dict:
    """Run Median().run(ctx) over the files with a fresh scratch and product directory under `work` (removed
    afterwards); the whole time and each stage's, in seconds."""
    scratch, products_dir = work / "scratch", work / "products"
    scratch.mkdir(parents=True, exist_ok=True)
    inputs = {"input_files": [LocalFile(Path(path)) for path in paths]}
    ctx = BenchContext(
        operation=median.Median(),
        scratch=scratch,
        inputs=inputs,
        params={"alignment": alignment},
        products_dir=products_dir,
    )
    store = ctx.add_file_product

    try:
        with timed_stages() as seconds:

            def timed_store(**kwargs):
                start = time.perf_counter()
                try:
                    return store(**kwargs)
                finally:
                    seconds["store"] += time.perf_counter() - start

            ctx.add_file_product = timed_store
            start = time.perf_counter()
            ctx.operation.run(ctx)
            total = time.perf_counter() - start
        coverage = fits.getdata(ctx.products[0]["path"], products.COVERAGE_EXTENSION)
        full = float((coverage == len(paths)).mean())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(products_dir, ignore_errors=True)
    stages = {
        "read": seconds["read"],
        "align": seconds["read_align"] - seconds["read"],
        "combine": seconds["combine"],
        "write_fits": seconds["write_fits"],
        "jpgs": seconds["jpgs"],
        "store": seconds["store"],
    }
    stages["other"] = total - sum(stages.values())
    return {"total": total, **stages, "full_coverage_fraction": full}


# --- in a process of its own: peak memory ----------------------------------------------------------------------------


def status_kb() -> dict[str, int]:
    """This process's memory lines of /proc/self/status (VmRSS, VmHWM, RssAnon, RssFile, ...), in kB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name.startswith(("Vm", "Rss")) and rest.strip().endswith("kB"):
            values[name] = int(rest.split()[0])
    return values


class PeakSampler:
    """The largest VmRSS, RssAnon and RssFile of this process, sampled every `interval` seconds in a thread (the
    kernel keeps a peak of their sum only, VmHWM)."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = status_kb()
            for name in self.peak:
                self.peak[name] = max(self.peak[name], now.get(name, 0))
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: writing 5 to clear_refs); whether the kernel allowed it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure_memory(paths: list[Path], work: Path) -> dict:
    """Warm up on two small frames (imports, first calls), then run Median over `paths` and report how far this
    process's resident memory rose above what it held just before: VmHWM, ru_maxrss (what Celery's
    --max-memory-per-child compares), and the sampled peaks of VmRSS and of its anonymous and file-backed pages."""
    warm = work / "warm-up"
    small = write_frames(warm / "frames", count=2, shape=(64, 64), seed=1, compressed=paths[0].suffix == ".fz")
    run_median(small.paths, warm)
    shutil.rmtree(warm, ignore_errors=True)
    before = status_kb()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm_reset = reset_peak()
    with PeakSampler() as sampler:
        timings = run_median(paths, work)
    after = status_kb()
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = 1 / 1024
    return {
        "rss_before_mb": round(before["VmRSS"] * mb, 1),
        "maxrss_before_mb": round(maxrss_before * mb, 1),
        # Not less ru_maxrss before: a process started by fork and exec inherits its parent's peak in ru_maxrss
        # (the benchmark's own, over a gigabyte after the other parts), so only the peak after the run says anything.
        "maxrss_growth_mb": round((maxrss_after - before["VmRSS"]) * mb, 1),
        "hwm_growth_mb": round((after["VmHWM"] - before["VmRSS"]) * mb, 1) if hwm_reset else None,
        "rss_peak_growth_mb": round((sampler.peak["VmRSS"] - before["VmRSS"]) * mb, 1),
        "anon_peak_growth_mb": round((sampler.peak["RssAnon"] - before["RssAnon"]) * mb, 1),
        "file_peak_growth_mb": round((sampler.peak["RssFile"] - before["RssFile"]) * mb, 1),
        "rss_after_mb": round(after["VmRSS"] * mb, 1),
        "seconds": {key: round(value, 3) for key, value in timings.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run Median over FITS files and print its peak memory as JSON.")
    parser.add_argument("frames", type=Path, help="directory of the input frames (*.fits, *.fits.fz)")
    parser.add_argument("work", type=Path, help="directory for the scratch and the products")
    args = parser.parse_args(argv)
    paths = sorted(args.frames.glob("*.fits*"))
    print(json.dumps(measure_memory(paths, args.work)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
