"""The image operations (Median, Normalization, Subtraction, Stacking, Color Image) on synthetic frames, against
direct numpy and astropy/reproject computations."""

import io
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs.utils import proj_plane_pixel_area
from PIL import Image
from reproject import reproject_interp

from datalab.operations.base import InputError, OperationError
from datalab.operations.color_image import ColorImage
from datalab.operations.imaging import usable_wcs
from datalab.operations.median import Median
from datalab.operations.normalization import Normalization
from datalab.operations.products import zscale_limits
from datalab.operations.stacking import Stacking
from datalab.operations.subtraction import Subtraction
from datalab.tests.opcontext import LocalContext, LocalFile, run_operation
from datalab.tests.synthetic import aperture_flux, centroid, make_frame, make_wcs, star_pixels

SHAPE = (72, 96)
COMMON = [(150.0030, 20.0021, 40000.0), (149.9962, 19.9975, 25000.0)]
ONLY_A = [(150.0051, 19.9958, 30000.0)]
ONLY_B = [(149.9945, 20.0049, 30000.0)]
# Frame B: shifted by a fraction of a pixel and more, 1.25" pixels instead of 1", rotated by 5 degrees.
GEOMETRY_B = {"crpix": (48.5 + 3.37, 36.5 - 2.61), "scale_arcsec": 1.25, "rotation_deg": 5.0}


def frame(tmp_path, name: str, *, seed: int = 0, **kwargs) -> LocalFile:
    kwargs.setdefault("shape", SHAPE)
    return LocalFile(make_frame(tmp_path / f"{name}.fits", seed=seed, **kwargs))


def pixels(input_file: LocalFile) -> np.ndarray:
    return fits.getdata(input_file.path, "SCI").astype(np.float32)


def product(ctx, number: int = 0) -> fits.HDUList:
    return fits.open(io.BytesIO(ctx.products[number]["fits"]))


def reprojected(input_file: LocalFile, grid_file: LocalFile) -> np.ndarray:
    """An input on another frame's grid by reproject_interp (bilinear), scaled by the pixel areas' ratio."""
    wcs_in = usable_wcs(fits.getheader(input_file.path, "SCI"))
    wcs_out = usable_wcs(fits.getheader(grid_file.path, "SCI"))
    shape = pixels(grid_file).shape
    data = reproject_interp((pixels(input_file), wcs_in), wcs_out, shape_out=shape, return_footprint=False)
    return data * (proj_plane_pixel_area(wcs_out) / proj_plane_pixel_area(wcs_in))


def progress_fractions(ctx) -> list[float]:
    return [round(fraction, 6) for fraction, _ in ctx.progress_log]


def quiet_nanmedian(stack: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(stack, axis=0)


@pytest.fixture
def star_frames(tmp_path):
    """Frame a (the grid) and frame b (offset, rescaled, rotated), with common stars and one star each of their own."""
    a = frame(tmp_path, "a", stars=COMMON + ONLY_A, seed=1, noise=3.0)
    b = frame(tmp_path, "b", stars=COMMON + ONLY_B, seed=2, noise=3.0, exptime=45.0, **GEOMETRY_B)
    return a, b


# The menu


def test_menu_names_order_and_inputs():
    operations = [Median, Normalization, Subtraction, Stacking, ColorImage]
    assert [op.name for op in operations] == ["Median", "Normalization", "Subtraction", "Stacking", "Color Image"]
    assert [op.menu_order for op in operations] == [10, 20, 30, 40, 50]
    assert [op.multiple_outputs for op in operations] == [False, True, True, False, False]
    inputs = Median.wizard_description()["inputs"]
    assert inputs["input_files"] | {"name": None, "description": None} == {
        "name": None,
        "description": None,
        "type": "fits",
        "minimum": 2,
        "maximum": 100,
    }
    assert inputs["alignment"]["options"] == ["wcs", "none"] and inputs["alignment"]["default"] == "wcs"
    stacking = Stacking.wizard_description()["inputs"]
    assert stacking["combine"]["options"] == ["sum", "mean"] and stacking["combine"]["default"] == "sum"
    assert Normalization.wizard_description()["inputs"]["input_files"]["maximum"] == 200
    subtraction = Subtraction.wizard_description()["inputs"]
    assert (subtraction["subtraction_file"]["minimum"], subtraction["subtraction_file"]["maximum"]) == (1, 1)
    channels = ColorImage.wizard_description()["inputs"]["color_channels"]
    assert (channels["minimum"], channels["maximum"]) == (1, 6)
    assert channels["include_custom_scale"] is True and channels["color_picker"] is True


# Median


def test_median_without_alignment_is_numpys_median_bit_for_bit(tmp_path):
    files = [frame(tmp_path, name, seed=seed, stars=COMMON) for seed, name in enumerate("abc")]
    ctx = run_operation(Median, tmp_path, {"input_files": files}, alignment="none")
    with product(ctx) as hdul:
        median = hdul["SCI"].data.astype(np.float32)
        expected = np.median(np.stack([pixels(f) for f in files]), axis=0)
        np.testing.assert_array_equal(median.view(np.uint32), expected.view(np.uint32))
        assert (hdul["COVERAGE"].data == 3).all()
    # The same frames aligned by WCS: they are on one grid already, so nothing is resampled.
    again = run_operation(Median, tmp_path, {"input_files": files})
    with product(again) as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data.astype(np.float32).view(np.uint32), expected.view(np.uint32))


def test_median_aligns_onto_the_first_frame(tmp_path, star_frames):
    a, b = star_frames
    c = frame(tmp_path, "c", stars=COMMON, seed=3, noise=3.0, crpix=(47.2, 38.9))
    ctx = run_operation(Median, tmp_path, {"input_files": [a, b, c]})
    assert len(ctx.products) == 1 and ctx.products[0]["basename"] == "0" * 64
    stack = np.stack([pixels(a), reprojected(b, a), reprojected(c, a)])
    expected = quiet_nanmedian(stack)
    with product(ctx) as hdul:
        median, coverage = hdul["SCI"].data.astype(np.float32), hdul["COVERAGE"].data
        header = hdul["SCI"].header
        primary = hdul[0].header
    assert median.shape == SHAPE  # the first frame's whole grid
    np.testing.assert_array_equal(coverage, np.isfinite(stack).sum(axis=0))
    np.testing.assert_array_equal(np.isnan(median), np.isnan(expected))
    # Relative 1e-4: the resampling interpolates its pixel mapping to within 1e-3 px of reproject's exact one.
    np.testing.assert_allclose(median[coverage > 0], expected[coverage > 0], rtol=1e-4)
    grid = make_wcs(shape=SHAPE)
    np.testing.assert_allclose(
        usable_wcs(header).pixel_to_world_values([0, 95], [0, 71]), grid.pixel_to_world_values([0, 95], [0, 71])
    )
    assert (primary["DLAB_OP"], primary["NCOMBINE"], primary["DLAB_KEY"]) == ("Median", 3, "0" * 64)
    assert [str(card) for card in primary["HISTORY"]] == [
        "Input 1: a (test file)",
        "Input 2: b (test file)",
        "Input 3: c (test file)",
        'Parameter alignment = "wcs"',
    ]


def test_median_progress(tmp_path):
    files = [frame(tmp_path, name, seed=seed) for seed, name in enumerate("abc")]
    ctx = run_operation(Median, tmp_path, {"input_files": files})
    assert progress_fractions(ctx) == [0.0, 0.2, 0.4, 0.6, 0.9, 1.0]
    assert [message for _, message in ctx.progress_log[:3]] == [f"Aligning frame {i} of 3" for i in (1, 2, 3)]


def test_previews_are_flipped(tmp_path):
    image = np.zeros(SHAPE, np.float32)
    files = [frame(tmp_path, name, seed=seed, noise=1.0, sky=10.0) for seed, name in enumerate("ab")]
    for input_file in files:
        with fits.open(input_file.path, mode="update") as hdul:
            hdul["SCI"].data[:6, :6] = 5000.0  # FITS row 0
    ctx = run_operation(Median, tmp_path, {"input_files": files}, alignment="none")
    picture = np.asarray(Image.open(io.BytesIO(ctx.products[0]["large_jpg"])))
    assert picture.shape == image.shape
    assert picture[-5:, :5].min() > 240 and picture[:5, :5].max() < 200  # bright at the bottom, not at the top
    assert Image.open(io.BytesIO(ctx.products[0]["small_jpg"])).size == (96, 72)


def test_median_errors(tmp_path):
    good = frame(tmp_path, "a")
    no_wcs = frame(tmp_path, "b", wcs=False)
    with pytest.raises(OperationError) as error:
        run_operation(Median, tmp_path, {"input_files": [good, no_wcs]})
    assert str(error.value).startswith("b has no usable WCS") and "alignment: none" in str(error.value)
    wider = frame(tmp_path, "c", shape=(72, 97))
    with pytest.raises(OperationError) as error:
        run_operation(Median, tmp_path, {"input_files": [good, wider]}, alignment="none")
    assert str(error.value) == (
        "Without alignment the frames must have the same shape: c has shape (72, 97), a has shape (72, 96)."
    )
    junk = tmp_path / "d.fits"
    junk.write_bytes(b"SIMPLE  =  nonsense" * 20)
    with pytest.raises(OperationError, match=r"^Cannot read d: it is not a readable FITS file\.$"):
        run_operation(Median, tmp_path, {"input_files": [good, LocalFile(junk)]})


# Stacking


def test_stacking_sum_and_mean_without_alignment(tmp_path):
    files = [frame(tmp_path, name, seed=seed, exptime=30.0 + 15 * seed) for seed, name in enumerate("abc")]
    stack = np.stack([pixels(f) for f in files]).astype(np.float64)
    total = run_operation(Stacking, tmp_path, {"input_files": files}, alignment="none")
    with product(total) as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data, stack.sum(axis=0).astype(np.float32))
        assert hdul["SCI"].header["EXPTIME"] == 30.0 + 45.0 + 60.0
        assert (hdul["COVERAGE"].data == 3).all()
        assert hdul[0].header["HISTORY"][-1] == 'Parameter combine = "sum"'
    mean = run_operation(Stacking, tmp_path, {"input_files": files}, alignment="none", combine="mean")
    with product(mean) as hdul:
        np.testing.assert_allclose(hdul["SCI"].data, stack.mean(axis=0), rtol=1e-6)
        assert hdul["SCI"].header["EXPTIME"] == 30.0  # the grid frame's
    assert progress_fractions(mean) == [0.0, 0.2, 0.4, 0.6, 0.9, 1.0]


def test_stacked_stars_land_within_half_a_pixel(tmp_path, star_frames):
    """Each frame's own star, and the common ones, at their sky positions on the grid (stated tolerance 0.5 px;
    they land within 0.05 px)."""
    a, b = star_frames
    ctx = run_operation(Stacking, tmp_path, {"input_files": [a, b]})
    with product(ctx) as hdul:
        stacked = hdul["SCI"].data.astype(np.float32)
    grid = make_wcs(shape=SHAPE)
    for x, y in star_pixels(grid, COMMON + ONLY_A + ONLY_B):
        found = centroid(stacked, round(x), round(y), radius=5)
        assert np.hypot(found[0] - x, found[1] - y) < 0.5
        assert np.hypot(found[0] - x, found[1] - y) < 0.05


def test_stacking_preserves_flux_across_pixel_scales(tmp_path, star_frames):
    """Frame b's pixels are 1.56 times larger: its star keeps its counts within 1.5 % on the grid, and its sky
    (100 per 1.25" pixel) is 64 per 1" pixel."""
    a, b = star_frames
    ctx = run_operation(Stacking, tmp_path, {"input_files": [a, b]})
    with product(ctx) as hdul:
        stacked, coverage = hdul["SCI"].data.astype(np.float32), hdul["COVERAGE"].data
        assert hdul["SCI"].header["EXPTIME"] == 30.0 + 45.0
    grid = make_wcs(shape=SHAPE)
    for star in ONLY_A + ONLY_B:
        (x, y) = star_pixels(grid, [star])[0]
        assert aperture_flux(stacked, x, y, radius=9) == pytest.approx(star[2], rel=0.015)
    sky = np.median(stacked[coverage == 2])  # no star covers most pixels
    assert sky == pytest.approx(100 + 64, abs=1.0)


def test_stacking_sum_is_depth_consistent_where_frames_do_not_cover(tmp_path, star_frames):
    a, _ = star_frames
    b = frame(tmp_path, "b", stars=COMMON, seed=5, noise=3.0, crpix=(48.5 + 20.3, 36.5 - 7.6))
    ctx = run_operation(Stacking, tmp_path, {"input_files": [a, b]})
    mean_ctx = run_operation(Stacking, tmp_path, {"input_files": [a, b]}, combine="mean")
    with product(ctx) as hdul, product(mean_ctx) as mean_hdul:
        total, coverage = hdul["SCI"].data.astype(np.float32), hdul["COVERAGE"].data
        mean = mean_hdul["SCI"].data.astype(np.float32)
    alone = coverage == 1  # frame b does not reach there (frame a is the grid: it covers everything)
    assert alone.any() and (coverage >= 1).all()
    np.testing.assert_allclose(total[alone], 2 * pixels(a)[alone], rtol=1e-6)
    np.testing.assert_allclose(mean[alone], pixels(a)[alone], rtol=1e-6)
    both = coverage == 2
    expected = (pixels(a).astype(np.float64) + reprojected(b, a))[both]
    np.testing.assert_allclose(total[both], expected, rtol=1e-4)


def test_stacking_maps_the_legacy_stacking_mode():
    assert Stacking.normalise_params({"stacking_mode": "reproject"}) == {"alignment": "wcs"}
    assert Stacking.normalise_params({"stacking_mode": "simple", "combine": "mean"}) == {
        "alignment": "none",
        "combine": "mean",
    }
    assert Stacking.normalise_params({"stacking_mode": "simple", "alignment": "wcs"}) == {"alignment": "wcs"}
    assert Stacking.normalise_params({"stacking_mode": "drizzle"}) == {"alignment": "drizzle"}
    assert Stacking.normalise_params({"combine": "sum"}) == {"combine": "sum"}


# Normalization


class RecordingContext(LocalContext):
    """Records how far progress had gone when each product was published."""

    def add_file_product(self, **kwargs) -> dict:
        self.data.append({"published_after": self.progress_log[-1][0]})
        return super().add_file_product(**kwargs)


def run_recorded(operation, tmp_path, inputs, **params) -> RecordingContext:
    scratch = tmp_path / "recorded"
    scratch.mkdir(exist_ok=True)
    ctx = RecordingContext(operation=operation(), scratch=scratch, inputs=inputs, params=params)
    ctx.operation.run(ctx)
    return ctx


def test_normalization_divides_each_frame_by_its_median(tmp_path):
    files = [
        frame(tmp_path, "a", seed=1, sky=200.0, stars=COMMON, bpm=[(3, 3)]),
        frame(tmp_path, "b", seed=2, sky=50.0, compressed=True, **GEOMETRY_B),
        frame(tmp_path, "c", seed=3, sky=-80.0),
    ]
    ctx = run_recorded(Normalization, tmp_path, {"input_files": files})
    assert [p["basename"] for p in ctx.products] == [f"{'0' * 64}-{i}" for i in (1, 2, 3)]
    for number, input_file in enumerate(files):
        data = pixels(input_file)
        if number == 0:
            data[3, 3] = np.nan
        with product(ctx, number) as hdul:
            normalised, header = hdul["SCI"].data, hdul["SCI"].header
            assert hdul[0].header["NCOMBINE"] == 1
        np.testing.assert_array_equal(np.isnan(normalised), np.isnan(data))
        np.testing.assert_allclose(normalised, data / np.nanmedian(data), rtol=1e-6)
        assert np.nanmedian(normalised) == pytest.approx(1.0, rel=1e-6)
        assert "BUNIT" not in header and header["OBJECT"] == "SYNTHETIC"
        own = usable_wcs(fits.getheader(input_file.path, "SCI"))
        np.testing.assert_allclose(usable_wcs(header).pixel_to_world_values(5, 7), own.pixel_to_world_values(5, 7))
    # Each product published as soon as written, COMPLETED's 1.0 only after the last.
    assert [entry["published_after"] for entry in ctx.data] == pytest.approx([0.0, 0.95 / 3, 0.95 * 2 / 3])
    assert progress_fractions(ctx) == [0.0, 0.316667, 0.316667, 0.633333, 0.633333, 0.95, 1.0]


def test_normalization_refuses_a_zero_or_undefined_median(tmp_path):
    files = [frame(tmp_path, "a", seed=1), frame(tmp_path, "b", sky=0.0, noise=0.0)]
    ctx = RecordingContext(operation=Normalization(), scratch=tmp_path, inputs={"input_files": files})
    with pytest.raises(OperationError, match=r"^Cannot normalise b: its median is 0\.$"):
        ctx.operation.run(ctx)
    assert len(ctx.products) == 1  # the first frame's product was out already
    empty = frame(tmp_path, "c", bpm=np.ones(SHAPE, bool))
    with pytest.raises(OperationError, match=r"^Cannot normalise c: its median is nan\.$"):
        run_operation(Normalization, tmp_path, {"input_files": [empty]})


# Subtraction


def test_subtraction_without_alignment_is_a_plain_difference(tmp_path):
    files = [frame(tmp_path, name, seed=seed, stars=COMMON) for seed, name in enumerate("ab")]
    reference = frame(tmp_path, "ref", seed=9)
    ctx = run_operation(
        Subtraction, tmp_path, {"input_files": files, "subtraction_file": [reference]}, alignment="none"
    )
    assert len(ctx.products) == 2
    for number, input_file in enumerate(files):
        with product(ctx, number) as hdul:
            expected = pixels(input_file) - pixels(reference)
            np.testing.assert_array_equal(hdul["SCI"].data.astype(np.float32).view(np.uint32), expected.view(np.uint32))
            assert [str(card) for card in hdul[0].header["HISTORY"]][:2] == [
                f"Input 1: {input_file.basename} (test file)",
                "Input 2: ref (test file)",
            ]


def test_subtraction_aligns_the_subtrahend_onto_each_input(tmp_path, star_frames):
    a, b = star_frames
    reference = frame(tmp_path, "ref", stars=COMMON, seed=7, noise=3.0, crpix=(46.8, 35.1), scale_arcsec=1.1)
    ctx = run_operation(Subtraction, tmp_path, {"input_files": [a, b], "subtraction_file": [reference]})
    for number, input_file in enumerate([a, b]):
        with product(ctx, number) as hdul:
            difference, header = hdul["SCI"].data.astype(np.float32), hdul["SCI"].header
        data = pixels(input_file)
        assert difference.shape == data.shape  # each output keeps its input's geometry and header
        own = usable_wcs(fits.getheader(input_file.path, "SCI"))
        np.testing.assert_allclose(usable_wcs(header).pixel_to_world_values(3, 4), own.pixel_to_world_values(3, 4))
        assert header["EXPTIME"] == fits.getheader(input_file.path, "SCI")["EXPTIME"]
        expected = data - reprojected(reference, input_file)
        np.testing.assert_array_equal(np.isnan(difference), np.isnan(expected))
        finite = np.isfinite(expected)
        # Absolute: 1e-3 px of mapping error times the steepest star gradient (~2000 counts per pixel).
        np.testing.assert_allclose(difference[finite], expected[finite], rtol=1e-4, atol=2.0)
    # The common stars cancel to 2 % of their counts: what is left is noise and the resampling's smoothing, above the
    # skies' difference (100 counts per 1" pixel less 100 per 1.1" pixel).
    with product(ctx, 0) as hdul:
        difference = hdul["SCI"].data - (100 - 100 / 1.1**2)
    for (x, y), (*_, flux) in zip(star_pixels(make_wcs(shape=SHAPE), COMMON), COMMON, strict=True):
        box = difference[round(y) - 4 : round(y) + 5, round(x) - 4 : round(x) + 5]
        assert abs(np.nansum(box)) < 0.02 * flux


def test_subtraction_progress_stays_within_one(tmp_path):
    files = [frame(tmp_path, name, seed=seed) for seed, name in enumerate("abcd")]
    ctx = run_operation(Subtraction, tmp_path, {"input_files": files, "subtraction_file": [files[0]]})
    fractions = progress_fractions(ctx)
    assert max(fractions) == fractions[-1] == 1.0
    assert fractions == [0.0, 0.1, 0.1, 0.3125, 0.3125, 0.525, 0.525, 0.7375, 0.7375, 0.95, 1.0]


def test_subtraction_errors(tmp_path):
    good = frame(tmp_path, "a")
    no_wcs = frame(tmp_path, "ref", wcs=False)
    with pytest.raises(OperationError, match=r"^ref has no usable WCS.*alignment: none"):
        run_operation(Subtraction, tmp_path, {"input_files": [good], "subtraction_file": [no_wcs]})
    smaller = frame(tmp_path, "small", shape=(10, 10))
    with pytest.raises(OperationError) as error:
        run_operation(Subtraction, tmp_path, {"input_files": [good], "subtraction_file": [smaller]}, alignment="none")
    assert str(error.value) == (
        "Without alignment the frames must have the same shape: small has shape (10, 10), a has shape (72, 96)."
    )


# Color Image


def channel(tmp_path, name, color, *, zmin=None, zmax=None, **kwargs) -> LocalFile:
    item = {"color": dict(zip("rgb", color, strict=True))}
    if zmin is not None:
        item |= {"zmin": zmin, "zmax": zmax}
    input_file = frame(tmp_path, name, **kwargs)
    input_file.item.update(item)
    return input_file


def expected_components(images_and_channels) -> np.ndarray:
    components = 0
    for image, (zmin, zmax, color) in images_and_channels:
        s = np.nan_to_num(np.clip((image.astype(np.float64) - zmin) / (zmax - zmin), 0, 1), nan=0.0)
        components = components + np.stack([s * level / 255 for level in color])
    return components


def test_color_image_matches_the_wizard_composite(tmp_path):
    limits = {"a": (90.0, 400.0, (255, 0, 0)), "b": (95.0, 300.0, (0, 255, 40)), "c": (80.0, 250.0, (30, 0, 255))}
    channels = [
        channel(tmp_path, name, color, zmin=zmin, zmax=zmax, stars=COMMON, seed=seed, noise=4.0)
        for seed, (name, (zmin, zmax, color)) in enumerate(limits.items())
    ]
    ctx = run_operation(ColorImage, tmp_path, {"color_channels": list(reversed(channels))})
    assert len(ctx.products) == 1
    result = ctx.products[0]
    assert result["type"] == "image" and result["basename"] == "0" * 64
    expected = expected_components([(pixels(c), limits[c.basename]) for c in channels])
    with product(ctx) as hdul:
        cube, header = hdul["SCI"].data, hdul["SCI"].header
        assert hdul[0].header["NCOMBINE"] == 3
        assert str(hdul[0].header["HISTORY"][0]) == "Input 1: a (test file) colour (255, 0, 0) limits 90 to 400"
    assert cube.shape == (3, *SHAPE) and cube.dtype.kind == "f" and cube.dtype.itemsize == 4
    np.testing.assert_allclose(cube, expected, rtol=1e-5, atol=1e-6)
    assert cube.max() > 1  # the unclipped linear components
    np.testing.assert_allclose(
        usable_wcs(header).pixel_to_world_values(7, 9), make_wcs(shape=SHAPE).pixel_to_world_values(7, 9)
    )
    # The picture: within one 8-bit level of the wizard's preview, lossless in the TIFF, FITS row 0 at the bottom.
    preview = np.round(np.minimum(1, expected) ** (1 / 2.5) * 255)
    tif = Image.open(io.BytesIO(result["tif"]))
    assert tif.mode == "RGB" and tif.size == (96, 72) and "deflate" in tif.info["compression"]
    assert np.abs(np.asarray(tif).astype(int) - np.moveaxis(preview, 0, -1)[::-1]).max() <= 1
    large = np.asarray(Image.open(io.BytesIO(result["large_jpg"]))).astype(int)
    assert large.shape == (72, 96, 3)
    assert np.abs(large - np.moveaxis(preview, 0, -1)[::-1]).mean() < 4  # JPEG's own loss on noise, 4:4:4 at q95
    assert Image.open(io.BytesIO(result["small_jpg"])).size == (96, 72)
    # Loading to 0.4, aligning to 0.6, rendering to 0.9, uploading to 1.0.
    assert progress_fractions(ctx) == [0.0, 0.133333, 0.266667, 0.4, 0.4, 0.466667, 0.533333, 0.6, 0.9, 1.0]
    assert ctx.message == ""


def test_color_image_limits_default_to_zscale(tmp_path):
    red = channel(tmp_path, "a", (255, 0, 0), seed=1, stars=COMMON)
    ctx = run_operation(ColorImage, tmp_path, {"color_channels": [red]})
    zmin, zmax = zscale_limits(pixels(red))
    with product(ctx) as hdul:
        np.testing.assert_allclose(hdul["SCI"].data, expected_components([(pixels(red), (zmin, zmax, (255, 0, 0)))]))


def test_color_image_aligns_channels_onto_the_first_by_basename(tmp_path, star_frames):
    a, b = star_frames
    a.item["color"] = {"r": 255, "g": 0, "b": 0}
    b.item["color"] = {"r": 0, "g": 0, "b": 255}
    ctx = run_operation(ColorImage, tmp_path, {"color_channels": [b, a]})
    with product(ctx) as hdul:
        cube = hdul["SCI"].data
    assert cube.shape == (3, *SHAPE)
    grid = make_wcs(shape=SHAPE)
    (x, y) = star_pixels(grid, ONLY_B)[0]  # frame b's own star, in the blue component on frame a's grid
    found = centroid(cube[2], round(x), round(y), radius=4)
    assert np.hypot(found[0] - x, found[1] - y) < 0.5
    assert cube[0][round(y), round(x)] < 0.2  # not in red


def test_color_image_falls_back_to_unaligned_channels_and_says_so(tmp_path):
    red = channel(tmp_path, "a", (255, 0, 0), seed=1, zmin=90, zmax=200)
    green = channel(tmp_path, "b", (0, 255, 0), seed=2, zmin=90, zmax=200, wcs=False)
    ctx = run_operation(ColorImage, tmp_path, {"color_channels": [red, green]})
    assert ctx.message == "Not aligned: b has no usable WCS, so the channels were combined pixel by pixel."
    expected = expected_components([(pixels(red), (90, 200, (255, 0, 0))), (pixels(green), (90, 200, (0, 255, 0)))])
    with product(ctx) as hdul:
        np.testing.assert_allclose(hdul["SCI"].data, expected, rtol=1e-5, atol=1e-6)
    other_shape = channel(tmp_path, "c", (0, 0, 255), shape=(50, 50), wcs=False)
    with pytest.raises(OperationError, match=r"^c has no usable WCS, so the channels can only be combined"):
        run_operation(ColorImage, tmp_path, {"color_channels": [red, other_shape]})


def test_color_image_drops_empty_slots_and_validates_channels():
    full = {"basename": "a", "color": {"r": 255, "g": 0, "b": 0}}
    params = ColorImage.normalise_params({"color_channels": [full, {"color": {"r": 0, "g": 255, "b": 0}}, {}]})
    assert params == {"color_channels": [full]}
    ColorImage.validate(params, {})
    ColorImage.validate({"color_channels": [full | {"zmin": 1, "zmax": 2.5}]}, {})
    bad = [
        ({"basename": "a"}, "no color"),
        (full | {"color": {"r": 256, "g": 0, "b": 0}}, "color r = 256"),
        (full | {"color": {"r": 1.5, "g": 0, "b": 0}}, "color r = 1.5"),
        (full | {"color": {"r": 0, "g": 0}}, "color b = None"),
        (full | {"zmin": "low", "zmax": 2}, "zmin = 'low'"),
        (full | {"zmin": 2, "zmax": 2}, "zmax 2 not above zmin 2"),
    ]
    for item, fragment in bad:
        with pytest.raises(InputError) as error:
            ColorImage.validate({"color_channels": [item]}, {})
        assert error.value.field == "color_channels" and fragment in error.value.message, error.value.message


def test_color_image_refuses_limits_that_meet_at_run_time(tmp_path):
    flat = channel(tmp_path, "a", (255, 255, 255), zmin=5.0, zmax=None, sky=1.0, noise=0.0)
    flat.item["zmax"] = None  # only zmin set, above the channel's zscale maximum
    with pytest.raises(OperationError, match=r"^Cannot make the colour image: channel a has zmax 1 not above zmin 5"):
        run_operation(ColorImage, tmp_path, {"color_channels": [flat]})
