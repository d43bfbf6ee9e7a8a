"""The datalab's shared image pipeline: combines of aligned images on row strips (spec §8.2)."""

import functools
from collections.abc import Sequence

import numpy as np

# Memory for a strip, measured on 2k-wide images: smaller strips stay in a core's cache but pay numpy's call overhead
# once per comparator and strip. 16 MB (half of it the strip of inputs, half room for pixels gathered apart) was
# near the fastest from 10 inputs (8-16 MB alike; 64 MB three times slower) to 100 (twice as fast as 4 MB).
DEFAULT_MEMORY_BUDGET = 16 * 1024 * 1024
# Per pixel of a strip, beside the float32 planes (the inputs', a spare one, and as many again when every pixel of
# the strip is gathered as one some input does not cover): the finite mask, the gathered pixels' indices and the
# temporaries of their finish; 43 bytes measured.
_EXTRA_BYTES_PER_PIXEL = 48


@functools.cache
def _lower_half_network(count: int) -> tuple[tuple[int, int], ...]:
    """Comparators (i, j), i < j, after which positions 0 to count // 2 hold the count // 2 + 1 smallest values in
    ascending order.

    Batcher's odd-even merge sort, for any count: the comparators that would reach past the last input are left
    out (as if padded with +inf, which never moves), and so is every comparator that feeds none of the positions
    wanted (walking back from the end).
    """
    network = []
    block = 1
    while block < count:
        step = block
        while step >= 1:
            for start in range(step % block, count - step, 2 * step):
                for offset in range(min(step, count - start - step)):
                    low, high = start + offset, start + offset + step
                    if low // (2 * block) == high // (2 * block):
                        network.append((low, high))
            step //= 2
        block *= 2
    wanted = set(range(count // 2 + 1))
    kept = []
    for low, high in reversed(network):
        if low in wanted or high in wanted:
            kept.append((low, high))
            wanted |= {low, high}
    return tuple(reversed(kept))


def _check_inputs(images: Sequence[np.ndarray]) -> tuple[int, int]:
    if len(images) < 2:
        raise ValueError("Median needs at least 2 input files.")
    if len(images) > np.iinfo(np.int16).max:
        raise ValueError(f"Median can combine at most {np.iinfo(np.int16).max} inputs, not {len(images)}.")
    shape = images[0].shape
    if len(shape) != 2:
        raise ValueError(f"Median needs 2-D images; the first input has shape {shape}.")
    for number, image in enumerate(images[1:], start=2):
        if image.shape != shape:
            raise ValueError(
                f"Input {number} has shape {image.shape}, the first input {shape}: "
                "without alignment the images must have the same shape."
            )
    return shape[0], shape[1]


def median_combine(
    images: Sequence[np.ndarray], *, memory_budget: int = DEFAULT_MEMORY_BUDGET
) -> tuple[np.ndarray, np.ndarray]:
    """The per-pixel median of aligned 2-D images of one shape, and the coverage (number of finite inputs).

    A non-finite input value (NaN outside an aligned frame's footprint or in a bad pixel, or an infinity) does not
    cover its pixel: the median is over the inputs that cover it, NaN where none does. The float32 result equals
    `np.median(stack, axis=0)` bit for bit where every input covers the pixel, and `np.nanmedian` where the others
    are NaN (np.nanmedian would count infinities; this leaves them out, as the coverage does).

    The images (arrays or float32 memory maps) are read a strip of rows at a time into one float32 buffer, so
    memory stays bounded whatever their number: about `memory_budget` bytes (at least one row of every input)
    beside the two results. Each strip is ordered by a sorting network of elementwise minimum/maximum over its
    planes, which measured ten times faster than numpy's median along the first axis (a strided partition per
    pixel), and gives every pixel the middle of all its inputs. Pixels that some input does not cover are gathered
    first and ordered apart, their uncovered values pushed to +inf, so that each gets the middle of its own
    covering values: a few bad pixels cost little, and a strip without any costs nothing more.

    Raises ValueError with a user-facing message for fewer than 2 inputs or unequal shapes.
    """
    height, width = _check_inputs(images)
    count = len(images)
    network = _lower_half_network(count)
    row_bytes = (2 * (count + 1) * np.dtype(np.float32).itemsize + _EXTRA_BYTES_PER_PIXEL) * width
    rows = min(height, max(1, memory_budget // row_bytes))
    buffer = np.empty((count + 1, rows, width), np.float32)  # the inputs' planes and a spare one for the network
    finite = np.empty((rows, width), bool)
    median = np.empty((height, width), np.float32)
    coverage = np.zeros((height, width), np.int16)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        block = buffer[:, : bottom - top]
        strip_finite = finite[: bottom - top]
        strip_coverage = coverage[top:bottom]
        for plane, image in zip(block[:count], images, strict=True):
            plane[...] = image[top:bottom]
            np.isfinite(plane, out=strip_finite)
            strip_coverage += strip_finite
        partial = np.flatnonzero(strip_coverage < count)
        if partial.size:
            partial_median = _median_of_partial(block, partial, strip_coverage, network, finite)
        if partial.size < strip_coverage.size:
            _middle_of_all(block, _sort_lower_half(list(block), network), median[top:bottom])
        if partial.size:
            median[top:bottom].reshape(-1)[partial] = partial_median
    return median, coverage


def _median_of_partial(
    block: np.ndarray, partial: np.ndarray, coverage: np.ndarray, network: tuple[tuple[int, int], ...], mask: np.ndarray
) -> np.ndarray:
    """The median of the strip's pixels at flat indices `partial` (those some input does not cover), over the inputs
    covering each; `mask` is a boolean scratch buffer at least as large as the strip."""
    count = len(block) - 1
    gathered = np.empty((count + 1, partial.size), np.float32)
    uncovered = mask.reshape(-1)[: partial.size]
    for plane, values in zip(block[:count], gathered[:count], strict=True):
        np.take(plane.reshape(-1), partial, out=values)
        np.logical_not(np.isfinite(values, out=uncovered), out=uncovered)
        np.copyto(values, np.float32(np.inf), where=uncovered)
    result = np.empty(partial.size, np.float32)
    _middle_of_covering(gathered, _sort_lower_half(list(gathered), network), coverage.reshape(-1)[partial], result)
    return result


def _sort_lower_half(planes: list[np.ndarray], network: tuple[tuple[int, int], ...]) -> list[int]:
    """Run the network over the planes (the last one is spare); returns, for each position, the plane holding it.

    Each comparator writes its minimum into the spare plane and its maximum over its lower input, then the three
    planes trade roles: nothing is copied.
    """
    slots = list(range(len(planes)))
    for low, high in network:
        a, b, spare = slots[low], slots[high], slots[-1]
        np.minimum(planes[a], planes[b], out=planes[spare])
        np.maximum(planes[a], planes[b], out=planes[a])
        slots[low], slots[high], slots[-1] = spare, a, b
    return slots


def _middle_of_all(block: np.ndarray, slots: list[int], out: np.ndarray) -> None:
    """np.median's own arithmetic, for the pixels all inputs cover: the middle value, or the float32 mean of the two."""
    count = len(block) - 1
    if count % 2:
        out[...] = block[slots[count // 2]]
    else:
        with np.errstate(invalid="ignore", over="ignore"):  # as np.median's inf; garbage where not all cover
            np.add(block[slots[count // 2 - 1]], block[slots[count // 2]], out=out)
        out /= 2


def _middle_of_covering(block: np.ndarray, slots: list[int], coverage: np.ndarray, out: np.ndarray) -> None:
    """Per pixel, the median of its `coverage` finite values, which the network put first (the others are +inf):
    the float32 mean of the two middle ones, which for an odd coverage are one value (v + v) / 2 = v; NaN where none
    covers."""
    plane_of = np.asarray(slots, dtype=np.intp)  # position (coverage - 1) // 2 is -1 where none covers: NaN below
    lower = np.take_along_axis(block, plane_of[(coverage - 1) // 2][np.newaxis], axis=0)[0]
    upper = np.take_along_axis(block, plane_of[coverage // 2][np.newaxis], axis=0)[0]
    with np.errstate(over="ignore"):
        np.add(lower, upper, out=out)
    out /= 2
    overflowed = np.isinf(out)  # beyond 1.7e38, where an odd coverage's middle value must be kept as it is
    if overflowed.any():
        np.copyto(out, lower, where=overflowed & (coverage % 2 == 1))
    out[coverage == 0] = np.nan
