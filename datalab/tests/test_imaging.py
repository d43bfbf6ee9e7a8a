"""imaging: reading science images, usable WCS, alignment (against reproject), the median and mean combines."""

import itertools
import tracemalloc
import warnings

import numpy as np
import pytest
from astropy.io import fits
from reproject import reproject_interp

from datalab.operations import imaging
from datalab.operations.base import OperationError
from datalab.operations.imaging import (
    Grid,
    Science,
    SpilledFrame,
    _lower_half_network,
    _PixelMapping,
    align_onto,
    align_stack,
    mean_combine,
    median_combine,
    read_science,
    resample_onto,
    same_grid,
    usable_wcs,
)
from datalab.tests.opcontext import LocalFile
from datalab.tests.synthetic import aperture_flux, centroid, make_frame, make_wcs, render_stars, star_pixels

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


# Reading science images


def test_reads_the_sci_extension_as_native_float32(tmp_path):
    path = make_frame(tmp_path / "f.fits", shape=(12, 15), seed=3)
    data, header, name = read_science(path)
    assert name == "SCI" and data.shape == (12, 15)
    assert data.dtype == np.float32 and data.dtype.isnative
    np.testing.assert_array_equal(data, fits.getdata(path, "SCI"))
    assert header["OBJECT"] == "SYNTHETIC"


def test_prefers_sci_to_an_earlier_image(tmp_path):
    path = tmp_path / "f.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(np.zeros((3, 4), np.float32)),
            fits.ImageHDU(np.ones((5, 6, 2), np.float32), name="CUBE"),
            fits.ImageHDU(np.full((7, 8), 2, np.float32), name="SCI"),
        ]
    ).writeto(path)
    data, _, name = read_science(path)
    assert name == "SCI" and data.shape == (7, 8) and (data == 2).all()


def test_falls_back_to_the_first_2d_image(tmp_path):
    path = make_frame(tmp_path / "f.fits", shape=(9, 11), primary=True, noise=0)
    data, header, name = read_science(path)
    assert name == "PRIMARY" and data.shape == (9, 11) and (data == 100).all()
    other = tmp_path / "g.fits"
    fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU(np.ones((2, 2, 2))), fits.ImageHDU(np.ones((3, 3)), name="IMG")]
    ).writeto(other)
    assert read_science(other)[2] == "IMG"


def test_reads_tile_compressed_frames_and_masks_bad_pixels(tmp_path):
    bad = [(0, 0), (4, 7)]
    plain = make_frame(tmp_path / "plain.fits", shape=(10, 12), seed=9)
    packed = make_frame(tmp_path / "packed.fits", shape=(10, 12), seed=9, compressed=True, bpm=bad)
    expected = fits.getdata(plain, "SCI").astype(np.float32)
    data, header, name = read_science(packed)
    assert name == "SCI" and header["NAXIS1"] == 12
    assert np.isnan(data[0, 0]) and np.isnan(data[4, 7]) and np.isfinite(data).sum() == data.size - 2
    expected[0, 0] = expected[4, 7] = np.nan
    np.testing.assert_array_equal(data, expected)


def test_a_bpm_of_another_shape_is_ignored(tmp_path):
    path = make_frame(tmp_path / "f.fits", shape=(10, 12))
    with fits.open(path, mode="append") as hdul:
        hdul.append(fits.ImageHDU(np.ones((5, 5), np.uint8), name="BPM"))
    assert np.isfinite(read_science(path)[0]).all()


def test_scaled_integers_are_scaled_and_blank_is_nan(tmp_path):
    scaled = make_frame(tmp_path / "u16.fits", shape=(6, 6), dtype=np.uint16, noise=0, sky=40000)
    data, _, _ = read_science(scaled)
    assert data.dtype == np.float32 and (data == 40000).all()
    raw = tmp_path / "blank.fits"
    hdu = fits.PrimaryHDU(np.arange(12, dtype=np.int16).reshape(3, 4))
    hdu.header["BLANK"] = 5
    hdu.writeto(raw)
    data, _, _ = read_science(raw)
    assert np.isnan(data[1, 1]) and data[2, 3] == 11


def test_unreadable_files_and_files_without_an_image_name_the_basename(tmp_path):
    junk = tmp_path / "content-addressed-name"
    junk.write_bytes(b"this is not FITS" * 10)
    with pytest.raises(OperationError, match=r"^Cannot read frame-1: it is not a readable FITS file\.$"):
        read_science(junk, basename="frame-1")
    with pytest.raises(OperationError, match=r"^Cannot read missing: "):
        read_science(tmp_path / "missing.fits")
    table = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "D", array=[1.0])])]).writeto(
        table
    )
    with pytest.raises(OperationError, match=r"^frame-2 has no science image"):
        read_science(table, basename="frame-2")


# Usable WCS


def test_usable_wcs(tmp_path):
    header = fits.getheader(make_frame(tmp_path / "a.fits"), "SCI")
    wcs = usable_wcs(header)
    assert wcs is not None and wcs.has_celestial
    assert usable_wcs(fits.getheader(make_frame(tmp_path / "b.fits", wcs=False), "SCI")) is None
    assert usable_wcs(fits.getheader(make_frame(tmp_path / "c.fits", header_extra={"WCSERR": 4}), "SCI")) is None
    assert usable_wcs(fits.getheader(make_frame(tmp_path / "d.fits", header_extra={"WCSERR": 0}), "SCI")) is not None
    singular = header.copy()
    singular["CD1_1"] = singular["CD1_2"] = singular["CD2_1"] = singular["CD2_2"] = 0.0
    assert usable_wcs(singular) is None
    linear = fits.Header({"NAXIS": 2, "NAXIS1": 4, "NAXIS2": 4, "CTYPE1": "X", "CTYPE2": "Y"})
    assert usable_wcs(linear) is None


# Alignment

SHAPE_A = (60, 80)


def science_of(image: np.ndarray, wcs, basename="frame") -> Science:
    return Science(basename, image.astype(np.float32), fits.Header(), "SCI", wcs)


def smooth_image(shape, *, seed=0) -> np.ndarray:
    rows, columns = np.mgrid[0 : shape[0], 0 : shape[1]]
    phase = np.random.default_rng(seed).uniform(0, 6, 2)
    return (200 + 40 * np.sin(columns / 5.0 + phase[0]) * np.cos(rows / 7.0 + phase[1])).astype(np.float32)


def reference_alignment(image, wcs_in, grid: Grid) -> np.ndarray:
    result = reproject_interp((image, wcs_in), grid.wcs, shape_out=grid.shape, order="bilinear", return_footprint=False)
    return result * imaging.pixel_area_ratio(wcs_in, grid.wcs)


@pytest.mark.parametrize(
    "geometry",
    [
        {"crpix": (40.5 + 0.37, 30.5 - 0.61)},  # a sub-pixel shift
        {"crpix": (37.2, 33.9), "scale_arcsec": 1.3, "rotation_deg": 7.0},  # another scale and orientation
        {"crpix": (45.0, 20.0), "scale_arcsec": 0.7, "shape": (90, 70)},  # finer, another shape, partly outside
    ],
)
def test_resampling_matches_reproject_interp(geometry):
    """The alignment is reproject_interp's bilinear resampling, footprint included (relative 1e-4: the pixel
    mapping is interpolated between exactly transformed nodes to within 1e-3 px)."""
    shape_in = geometry.pop("shape", SHAPE_A)
    wcs_in = make_wcs(shape=shape_in, **geometry)
    grid = Grid(SHAPE_A, make_wcs(shape=SHAPE_A))
    image = smooth_image(shape_in)
    image[10, 10] = np.nan  # a bad pixel spreads to its bilinear neighbours in both
    ours = resample_onto(image, wcs_in, grid)
    expected = reference_alignment(image, wcs_in, grid)
    assert ours.shape == SHAPE_A and ours.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    np.testing.assert_allclose(ours[np.isfinite(ours)], expected[np.isfinite(expected)], rtol=1e-4)


def test_the_interpolated_mapping_is_within_its_tolerance_of_the_exact_one():
    shape = (300, 400)
    grid_wcs = make_wcs(shape=shape, scale_arcsec=2.0)
    wcs_in = make_wcs(ra=150.05, dec=20.04, shape=shape, scale_arcsec=1.7, rotation_deg=33)
    mapping = _PixelMapping(grid_wcs, wcs_in, shape)
    assert mapping.node_rows is not None  # interpolated, not exact
    rows, columns = mapping.strip(0, shape[0])
    assert rows.shape == columns.shape == shape
    exact_rows, exact_columns = mapping.exact(np.arange(shape[0], dtype=float), np.arange(shape[1], dtype=float))
    assert np.hypot(rows - exact_rows, columns - exact_columns).max() <= imaging.MAPPING_TOLERANCE_PX


def test_an_exact_mapping_when_interpolation_cannot_meet_the_tolerance(monkeypatch):
    monkeypatch.setattr(imaging, "MAPPING_TOLERANCE_PX", 0.0)
    wcs_in = make_wcs(shape=SHAPE_A, crpix=(40.1, 30.7), rotation_deg=3)
    grid = Grid(SHAPE_A, make_wcs(shape=SHAPE_A))
    assert _PixelMapping(grid.wcs, wcs_in, SHAPE_A).node_rows is None
    image = smooth_image(SHAPE_A)
    expected = reference_alignment(image, wcs_in, grid)
    ours = resample_onto(image, wcs_in, grid)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    np.testing.assert_allclose(ours[np.isfinite(ours)], expected[np.isfinite(expected)], rtol=1e-6)


def test_a_known_shift_moves_stars_by_it():
    """A star at a known sky position lands at its pixel position on the grid within 0.05 px."""
    grid = Grid(SHAPE_A, make_wcs(shape=SHAPE_A))
    wcs_in = make_wcs(shape=SHAPE_A, crpix=(40.5 + 0.3, 30.5 + 0.45), scale_arcsec=1.2, rotation_deg=4)
    stars = [(150.004, 20.003, 5e4), (149.995, 19.996, 3e4)]
    image = 10 + render_stars(SHAPE_A, star_pixels(wcs_in, stars), [f for *_, f in stars], sigma_px=1.6)
    aligned = resample_onto(image.astype(np.float32), wcs_in, grid)
    for x, y in star_pixels(grid.wcs, stars):
        found = centroid(aligned, round(x), round(y), radius=5)
        assert np.hypot(found[0] - x, found[1] - y) < 0.05


@pytest.mark.parametrize("scale_in", [2.0, 0.6])
def test_flux_is_preserved_across_pixel_scales(scale_in):
    """Values are scaled by the pixel areas' ratio: a star's counts stay within 1 % (bilinear resampling smooths
    the profile a little; the aperture is wide enough to hold it)."""
    grid = Grid((100, 100), make_wcs(shape=(100, 100), scale_arcsec=1.0))
    wcs_in = make_wcs(shape=(100, 100), scale_arcsec=scale_in, crpix=(50.3, 50.8))
    flux = 1e5
    star = [(150.002, 20.001, flux)]
    sigma_px = 3.0 / 2.3548 / scale_in
    image = (50 + render_stars((100, 100), star_pixels(wcs_in, star), [flux], sigma_px=sigma_px)).astype(np.float32)
    aligned = resample_onto(image, wcs_in, grid)
    (x, y) = star_pixels(grid.wcs, star)[0]
    assert aperture_flux(aligned, x, y, radius=12) == pytest.approx(flux, rel=0.01)
    rows, columns = np.mgrid[0:100, 0:100]
    far = (np.hypot(columns - x, rows - y) > 25) & np.isfinite(aligned)
    assert np.median(aligned[far]) == pytest.approx(50 / scale_in**2, rel=1e-4)


def test_areas_within_a_thousandth_are_not_scaled():
    grid = Grid((20, 20), make_wcs(shape=(20, 20), scale_arcsec=1.0))
    close = make_wcs(shape=(20, 20), scale_arcsec=1.0004, crpix=(10.7, 10.2))
    aligned = resample_onto(np.full((20, 20), 100, np.float32), close, grid)
    assert np.nanmax(np.abs(aligned - 100)) < 1e-4


def test_a_frame_on_the_grid_is_used_unchanged():
    grid = Grid(SHAPE_A, make_wcs(shape=SHAPE_A))
    image = smooth_image(SHAPE_A)
    image[5, 5] = np.nan
    nudged = make_wcs(shape=SHAPE_A, crpix=(40.5 + 0.005, 30.5 - 0.004))  # within 0.01 px: no resampling
    science = science_of(image, nudged)
    assert same_grid(nudged, SHAPE_A, grid)
    assert align_onto(science, grid, alignment="wcs", grid_name="grid") is science.data
    out = np.empty(SHAPE_A, np.float32)
    align_onto(science, grid, alignment="wcs", grid_name="grid", out=out)
    np.testing.assert_array_equal(out, image)  # the bad pixel has not spread
    moved = make_wcs(shape=SHAPE_A, crpix=(40.5 + 0.02, 30.5))
    assert not same_grid(moved, SHAPE_A, grid)
    assert not same_grid(nudged, (60, 81), grid)


def test_nothing_is_cropped_and_outside_the_footprint_is_nan():
    grid = Grid(SHAPE_A, make_wcs(shape=SHAPE_A))
    wcs_in = make_wcs(shape=SHAPE_A, crpix=(40.5 + 10.25, 30.5 - 4.3))  # 10.25 px left, 4.3 px up on the grid
    aligned = resample_onto(np.ones(SHAPE_A, np.float32), wcs_in, grid)
    assert aligned.shape == SHAPE_A
    covered = np.isfinite(aligned)
    # Input columns -0.5..79.5 land at grid columns -10.75..69.25, input rows -0.5..59.5 at grid rows 3.8..63.8.
    assert covered[4:, :70].all()
    assert not covered[:, 70:].any() and not covered[:4].any()
    np.testing.assert_array_equal(aligned[covered], 1)


def test_alignment_none_needs_equal_shapes_and_wcs_needs_wcs():
    grid = Grid(SHAPE_A, make_wcs(shape=SHAPE_A))
    other = science_of(np.ones((60, 81)), make_wcs(shape=(60, 81)), basename="frame-b")
    with pytest.raises(OperationError) as error:
        align_onto(other, grid, alignment="none", grid_name="frame-a")
    assert str(error.value) == (
        "Without alignment the frames must have the same shape: frame-b has shape (60, 81), frame-a has shape (60, 80)."
    )
    same = science_of(np.ones(SHAPE_A), None)
    assert align_onto(same, Grid(SHAPE_A), alignment="none", grid_name="frame-a") is same.data
    with pytest.raises(OperationError, match=r"^frame has no usable WCS.*alignment: none"):
        align_onto(same, grid, alignment="wcs", grid_name="frame-a")
    with pytest.raises(OperationError, match=r"^frame-a has no usable WCS.*alignment: none"):
        align_onto(other, Grid(SHAPE_A), alignment="wcs", grid_name="frame-a")


def test_align_stack_spills_frames_onto_the_first_ones_grid(tmp_path):
    frames = [
        make_frame(tmp_path / "a.fits", shape=(30, 40), seed=1),
        make_frame(tmp_path / "b.fits", shape=(36, 44), crpix=(22.9, 18.3), seed=2, compressed=True),
    ]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    seen = []
    stack = align_stack(
        [LocalFile(path) for path in frames],
        alignment="wcs",
        scratch=scratch,
        on_frame=lambda i, n: seen.append((i, n)),
    )
    assert seen == [(1, 2), (2, 2)]
    assert stack.grid.shape == (30, 40) and stack.basenames == ["a", "b"]
    assert stack.header["NAXIS1"] == 40
    assert sorted(path.name for path in scratch.iterdir()) == ["aligned-001.f32", "aligned-002.f32"]
    for frame in stack.frames:
        assert isinstance(frame, SpilledFrame) and frame.dtype == np.float32 and frame.shape == (30, 40)
        np.testing.assert_array_equal(frame[7:19], np.asarray(frame)[7:19])  # strips read back as the whole
    np.testing.assert_array_equal(stack.frames[0], fits.getdata(frames[0], "SCI"))
    wcs_b = make_wcs(shape=(36, 44), crpix=(22.9, 18.3))
    expected = reference_alignment(fits.getdata(frames[1], "SCI").astype(np.float32), wcs_b, stack.grid)
    np.testing.assert_allclose(stack.frames[1], expected, rtol=1e-4)


def test_align_stack_names_the_frame_without_wcs(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    good = LocalFile(make_frame(tmp_path / "a.fits"))
    bad = LocalFile(make_frame(tmp_path / "b.fits", header_extra={"WCSERR": 7}))
    for files, name in (([good, bad], "b"), ([bad, good], "b")):
        with pytest.raises(OperationError, match=rf"^{name} has no usable WCS"):
            align_stack(files, alignment="wcs", scratch=scratch)
    stack = align_stack([bad, good], alignment="none", scratch=scratch)
    assert stack.grid.wcs is None


# Mean and sum


@pytest.mark.parametrize("count", [1, 2, 5, 11])
def test_mean_matches_numpy_and_the_sum_is_depth_consistent(count):
    images = frames(count)
    mean, coverage = mean_combine(images)
    stack = np.stack(images).astype(np.float64)
    np.testing.assert_allclose(mean, stack.mean(axis=0), rtol=1e-6)
    assert (coverage == count).all() and coverage.dtype == np.int16
    total, _ = mean_combine(images, as_sum=True)
    np.testing.assert_array_equal(total, stack.sum(axis=0).astype(np.float32))  # the plain sum where all cover


def test_mean_and_sum_over_covering_inputs():
    images = with_gaps(frames(6))
    mean, coverage = mean_combine(images)
    total, total_coverage = mean_combine(images, as_sum=True)
    stack = np.stack(images).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice"
        expected = np.nanmean(stack, axis=0)
    np.testing.assert_array_equal(np.isnan(mean), np.isnan(expected))
    np.testing.assert_allclose(mean[coverage > 0], expected[coverage > 0], rtol=1e-6)
    np.testing.assert_allclose(total[coverage > 0], 6 * expected[coverage > 0], rtol=1e-6)
    np.testing.assert_array_equal(coverage, np.isfinite(stack).sum(axis=0))
    np.testing.assert_array_equal(total_coverage, coverage)
    assert np.isnan(mean[3]).all() and np.isnan(total[3]).all()
    assert mean[5, 7] == 42.0 and total[5, 7] == 6 * 42.0


def test_mean_in_strips_of_one_row_equals_one_strip():
    images = with_gaps(frames(4, shape=(30, 20)), fraction=0.1)
    one_row = mean_combine(images, memory_budget=1)
    whole = mean_combine(images, memory_budget=1 << 30)
    np.testing.assert_array_equal(one_row[0], whole[0])
    np.testing.assert_array_equal(one_row[1], whole[1])


def test_mean_memory_is_bounded_whatever_the_number_of_inputs():
    shape = (256, 256)
    images = with_gaps(frames(40, shape=shape), fraction=0.05)
    budget = 256 * 1024
    tracemalloc.start()
    try:
        mean_combine(images, memory_budget=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    results = shape[0] * shape[1] * (4 + 2)
    assert peak - results < budget + 64 * 1024  # 40 inputs stacked would take 10 MB


def test_mean_refuses_unequal_shapes():
    with pytest.raises(ValueError, match=r"Input 2 has shape \(37, 52\), the first input \(37, 53\)"):
        mean_combine([frames(1)[0], frames(1, shape=(37, 52))[0]])
