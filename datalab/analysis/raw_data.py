"""The `raw-data` action: the science image area-averaged to a small grid for the front-end's canvases, with its
display limits, bit depth and a histogram stretched around the zscale range."""

import math
from pathlib import Path

import numpy as np
from rest_framework import serializers
from scipy import sparse

from datalab.analysis.fitsread import ImageRequestSerializer, bitdepth
from datalab.operations.imaging import read_science
from datalab.operations.products import zscale_limits

DEFAULT_SIZE = 500
MAX_SIZE = 2048
SAMPLE_COUNT = 2000
SIGNIFICANT_DIGITS = 6


class RequestSerializer(ImageRequestSerializer):
    max_size = serializers.IntegerField(
        min_value=16, max_value=MAX_SIZE, default=DEFAULT_SIZE, help_text="Side of the square grid returned."
    )
    width = serializers.IntegerField(
        min_value=1, max_value=MAX_SIZE, required=False, help_text="With `height`: the exact shape returned instead."
    )
    height = serializers.IntegerField(
        min_value=1, max_value=MAX_SIZE, required=False, help_text="With `width`: the exact shape returned instead."
    )


def run(path: Path, params: dict) -> dict:
    image, header, _name = read_science(path)
    if params.get("width") and params.get("height"):
        shape = (int(params["height"]), int(params["width"]))
    else:
        size = int(params.get("max_size") or DEFAULT_SIZE)
        # Square whatever the image: the front-end's canvases expect it.
        shape = (size, size)

    finite = image[np.isfinite(image)]
    samples = finite[:: max(1, math.ceil(finite.size / SAMPLE_COUNT))]
    z1, z2 = zscale_limits(samples)
    zmin = float(np.median(samples)) if samples.size else 0.0
    zmax = z2
    if zmax - zmin >= 10:
        zmin, zmax = round(zmin), round(zmax)
    else:
        zmin, zmax = (float(value) for value in significant(np.array([zmin, zmax])))

    if finite.size < image.size:
        image = np.where(np.isfinite(image), image, np.median(finite) if finite.size else 0).astype(np.float32)
    small = area_resample(image, shape)
    histogram, bins = stretched_histogram(finite, z1, z2)
    return {
        "data": significant(small[::-1].ravel()).tolist(),
        "width": shape[1],
        "height": shape[0],
        "zmin": zmin,
        "zmax": zmax,
        "bitdepth": bitdepth(header),
        "histogram": histogram,
        "bins": bins,
    }


def _area_weights(size_in: int, size_out: int) -> sparse.csr_matrix:
    """The (size_out, size_in) matrix averaging input cells over each output cell by the length they overlap it."""
    scale = size_in / size_out
    starts = np.arange(size_out) * scale
    ends = starts + scale
    cells = np.floor(starts).astype(np.int64)[:, np.newaxis] + np.arange(math.ceil(scale) + 1)
    overlap = np.minimum(ends[:, np.newaxis], cells + 1) - np.maximum(starts[:, np.newaxis], cells)
    keep = (overlap > 0) & (cells < size_in)
    rows = np.broadcast_to(np.arange(size_out)[:, np.newaxis], cells.shape)[keep]
    weights = (overlap[keep] / scale).astype(np.float32)
    return sparse.csr_matrix((weights, (rows, cells[keep])), shape=(size_out, size_in))


def area_resample(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The image averaged over the cells of a `shape` grid laid on it (each output pixel the area-weighted mean of
    the input pixels it covers; enlarging repeats them). Separable, with banded matrices, so it is linear in the
    number of input pixels."""
    rows = _area_weights(image.shape[0], shape[0])
    columns = _area_weights(image.shape[1], shape[1])
    partial = rows @ image
    return np.asarray((columns @ partial.T).T, dtype=np.float32)


def significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Values rounded to `digits` significant digits, as float64 whose shortest repr is that rounding."""
    values = np.asarray(values, dtype=np.float64)
    result = values.copy()
    nonzero = np.isfinite(values) & (values != 0)
    chosen = values[nonzero]
    decimals = digits - 1 - np.floor(np.log10(np.abs(chosen))).astype(np.int64)
    factor = 10.0 ** np.abs(decimals)
    # Dividing by an exact power of ten (or multiplying by one) rounds correctly, which keeps the JSON short.
    result[nonzero] = np.where(decimals >= 0, np.round(chosen * factor) / factor, np.round(chosen / factor) * factor)
    return result


def stretched_histogram(finite: np.ndarray, z1: float, z2: float) -> tuple[list[float], list[float]]:
    """log10 counts and bin centres: 10 bins below the zscale range widened by a quarter of it, 100 across it and 10
    above, each from the lowest value (or 0) to the highest; empty segments are dropped."""
    if finite.size == 0:
        return [], []
    low, high = min(float(finite.min()), 0.0), float(finite.max())
    spread = z2 - z1
    lower, upper = z1 - spread / 4, z2 + spread / 4
    edges: list[float] = []
    for start, end, count in ((low, lower, 10), (lower, upper, 100), (upper, high, 10)):
        if end > start:
            segment = np.linspace(start, end, count + 1)
            edges.extend(segment[1:] if edges and edges[-1] == start else segment)
    if len(edges) < 2:
        return [], []
    edges_array = np.array(edges)
    counts, _ = np.histogram(finite, bins=edges_array)
    logs = np.log10(np.maximum(counts, 1))  # log10(1) is 0, the value of an empty bin too
    centres = (edges_array[:-1] + edges_array[1:]) / 2
    return logs.tolist(), centres.tolist()
