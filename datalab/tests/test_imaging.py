"""imaging.median_combine: numpy's median and nanmedian bit for bit, coverage, strips, memory maps, errors."""

import itertools
import tracemalloc
import warnings

import numpy as np
import pytest

from datalab.operations.imaging import _lower_half_network, median_combine

SHAPE = (37, 53)


def frames(count: int, *, seed: int = 1, shape: tuple[int, int] = SHAPE) -> list[np.ndarray]:
    """Float32 images with many ties (a few levels plus noise on some pixels) and no zeros (whose sign may vary)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = rng.integers(1, 6, size=shape).astype(np.float32)
        noisy = rng.random(shape) < 0.5
        image[noisy] += rng.normal(100, 30, size=int(noisy.sum())).astype(np.float32)
        images.append(image)
    return images


def with_gaps(images: list[np.ndarray], *, seed: int = 2, fraction: float = 0.3) -> list[np.ndarray]:
    """The images with NaN at random, a row with no input covering it and a pixel covered by one input only."""
    rng = np.random.default_rng(seed)
    for image in images:
        image[rng.random(image.shape) < fraction] = np.nan
        image[3] = np.nan
    images[0][5, 7] = 42.0
    for image in images[1:]:
        image[5, 7] = np.nan
    return images


def nanmedian(images: list[np.ndarray]) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice encountered"
        return np.nanmedian(np.stack(images), axis=0)


def assert_bits_equal(result: np.ndarray, expected: np.ndarray) -> None:
    assert result.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(result.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("count", range(2, 13))
def test_network_orders_the_lower_half_of_every_zero_one_input(count):
    """The 0-1 principle: a comparator network that orders every 0/1 input orders every input."""
    inputs = np.array(list(itertools.product((0, 1), repeat=count)), dtype=np.int8).T
    values = list(inputs)
    for low, high in _lower_half_network(count):
        values[low], values[high] = np.minimum(values[low], values[high]), np.maximum(values[low], values[high])
    wanted = count // 2 + 1
    np.testing.assert_array_equal(np.array(values[:wanted]), np.sort(inputs, axis=0)[:wanted])


@pytest.mark.parametrize("count", [2, 3, 4, 5, 10, 11, 25, 100])
def test_equals_numpy_median_on_finite_inputs(count):
    images = frames(count)
    median, coverage = median_combine(images)
    assert_bits_equal(median, np.median(np.stack(images), axis=0))
    assert coverage.dtype == np.int16
    assert (coverage == count).all()


@pytest.mark.parametrize("count", [2, 3, 4, 7, 10, 11])
def test_equals_numpy_nanmedian_where_inputs_are_nan(count):
    images = with_gaps(frames(count))
    median, coverage = median_combine(images)
    expected = nanmedian(images)
    np.testing.assert_array_equal(np.isnan(median), np.isnan(expected))
    assert_bits_equal(np.nan_to_num(median), np.nan_to_num(expected))
    np.testing.assert_array_equal(coverage, np.isfinite(np.stack(images)).sum(axis=0))
    assert median[5, 7] == 42.0 and coverage[5, 7] == 1


def test_pixels_no_input_covers_are_nan_with_coverage_zero():
    images = with_gaps(frames(4))
    median, coverage = median_combine(images)
    assert np.isnan(median[3]).all()
    assert (coverage[3] == 0).all()
    assert np.isfinite(median[coverage > 0]).all()


def test_coverage_counts_finite_inputs_and_infinities_do_not_cover():
    nan, inf = np.nan, np.inf
    images = [
        np.array([[1.0, nan, 5.0], [nan, 2.0, -inf]], dtype=np.float32),
        np.array([[2.0, nan, 6.0], [nan, 4.0, 7.0]], dtype=np.float32),
        np.array([[4.0, 3.0, inf], [nan, nan, 9.0]], dtype=np.float32),
    ]
    median, coverage = median_combine(images)
    np.testing.assert_array_equal(coverage, [[3, 1, 2], [0, 2, 2]])
    np.testing.assert_array_equal(median, np.array([[2.0, 3.0, 5.5], [nan, 3.0, 8.0]], dtype=np.float32))


@pytest.mark.parametrize("count", [3, 10])
def test_strips_of_one_row_give_the_result_of_one_strip(count):
    images = frames(count, shape=(64, 40))
    for image in images:
        image[10:12, 3] = np.nan  # only some strips have gaps: both ways of finishing a strip are used
    one_row = median_combine(images, memory_budget=1)
    whole = median_combine(images, memory_budget=1 << 30)
    some_rows = median_combine(images, memory_budget=7 * (2 * (count + 1) * 4 + 48) * 40)
    for result in (one_row, some_rows):
        assert_bits_equal(np.nan_to_num(result[0]), np.nan_to_num(whole[0]))
        np.testing.assert_array_equal(np.isnan(result[0]), np.isnan(whole[0]))
        np.testing.assert_array_equal(result[1], whole[1])


def test_memory_maps_and_big_endian_inputs(tmp_path):
    images = with_gaps(frames(6), fraction=0.05)
    maps = []
    for number, image in enumerate(images):
        dtype = ">f4" if number % 2 else np.float32  # as FITS stores them
        mapped = np.memmap(tmp_path / f"{number}.f32", dtype=dtype, mode="w+", shape=image.shape)
        mapped[...] = image
        mapped.flush()
        maps.append(np.memmap(tmp_path / f"{number}.f32", dtype=dtype, mode="r", shape=image.shape))
    median, coverage = median_combine(maps, memory_budget=4096)
    expected, expected_coverage = median_combine(images)
    assert_bits_equal(np.nan_to_num(median), np.nan_to_num(expected))
    np.testing.assert_array_equal(coverage, expected_coverage)


def test_huge_values_keep_an_odd_coverage_middle_value():
    images = [np.full((2, 2), value, dtype=np.float32) for value in (3.0e38, 3.1e38, 3.2e38, np.nan)]
    images[3][0, 0] = 3.3e38
    median, coverage = median_combine(images)
    np.testing.assert_array_equal(coverage, [[4, 3], [3, 3]])
    assert median[0, 1] == np.float32(3.1e38)


def test_inputs_are_left_unchanged():
    images = with_gaps(frames(5))
    copies = [image.copy() for image in images]
    median_combine(images, memory_budget=1)
    for image, copy in zip(images, copies, strict=True):
        np.testing.assert_array_equal(image, copy)


def test_memory_is_bounded_whatever_the_number_of_inputs():
    shape = (256, 256)
    images = with_gaps(frames(40, shape=shape))  # some input misses nearly every pixel: the largest strip buffers
    budget = 256 * 1024
    tracemalloc.start()  # numpy reports its allocations to tracemalloc
    try:
        median_combine(images, memory_budget=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    results = shape[0] * shape[1] * (4 + 2)
    # The budget and a little bookkeeping beside the two results; a stack of the inputs would take 10 MB.
    assert peak - results < budget + 32 * 1024


def test_needs_at_least_two_inputs():
    for images in ([], frames(1)):
        with pytest.raises(ValueError, match=r"^Median needs at least 2 input files\.$"):
            median_combine(images)


def test_unequal_shapes_are_refused_quoting_both():
    images = [*frames(2), frames(1, shape=(37, 52))[0]]
    with pytest.raises(ValueError, match=r"Input 3 has shape \(37, 52\), the first input \(37, 53\)"):
        median_combine(images)


def test_images_must_be_two_dimensional():
    with pytest.raises(ValueError, match=r"2-D images; the first input has shape \(4, 5, 6\)"):
        median_combine([np.zeros((4, 5, 6), np.float32)] * 2)
