"""products: FITS products (provenance, headers, bit-exact pixels), JPG previews, TIFFs and colour composites."""

import io
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.visualization import ZScaleInterval
from PIL import Image

from datalab.operations.imaging import read_science, usable_wcs
from datalab.operations.products import (
    Channel,
    Provenance,
    color_composite,
    render_previews,
    render_rgb_previews,
    rgb8,
    science_header,
    tiff_gray16,
    tiff_rgb8,
    write_fits_product,
    zscale_limits,
)
from datalab.tests.synthetic import make_frame, make_wcs

PROVENANCE = Provenance(
    key="ab" * 32,
    operation="Median",
    version=3,
    inputs=("frame-a (md5 0123)", "frame-b (md5 4567)"),
    params={"alignment": "wcs"},
)


def tricky_pixels(shape=(23, 31), seed=5) -> np.ndarray:
    """float32 pixels that a lossy or rescaling writer would change: NaN, infinities, subnormals, huge and tiny
    values, negative zero, full-precision noise."""
    rng = np.random.default_rng(seed)
    data = (rng.normal(0, 1, shape) * 10.0 ** rng.integers(-30, 30, shape)).astype(np.float32)
    data.flat[:7] = [np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38, -1.17e-38]
    return data


def read(path_or_bytes):
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    return fits.open(source)


def test_fits_product_round_trips_bit_for_bit(tmp_path):
    data = tricky_pixels()
    coverage = np.random.default_rng(1).integers(0, 100, data.shape).astype(np.int16)
    path = write_fits_product(tmp_path / "p.fits", data=data, provenance=PROVENANCE, coverage=coverage)
    with read(path) as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "SCI", "COVERAGE"]
        assert isinstance(hdul["SCI"], fits.ImageHDU) and hdul["SCI"].header["BITPIX"] == -32
        stored = hdul["SCI"].data.astype(np.float32)  # native order, same bits
        np.testing.assert_array_equal(stored.view(np.uint32), data.view(np.uint32))
        np.testing.assert_array_equal(hdul["COVERAGE"].data, coverage)
        assert hdul["COVERAGE"].data.dtype.kind == "i" and hdul["COVERAGE"].data.dtype.itemsize == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns of a checksum that does not match
        fits.open(path, checksum=True).close()
    # And through read_science, as a later operation reads the product.
    again, _, name = read_science(path)
    assert name == "SCI"
    np.testing.assert_array_equal(again.view(np.uint32), data.view(np.uint32))


def test_fits_product_primary_cards_record_the_provenance(tmp_path):
    path = write_fits_product(tmp_path / "p.fits", data=np.zeros((4, 5), np.float32), provenance=PROVENANCE)
    header = fits.getheader(path, 0)
    assert header["DLAB_KEY"] == "ab" * 32
    assert header["DLAB_OP"] == "Median"
    assert header["DLAB_VER"] == 3
    assert header["NCOMBINE"] == 2
    assert len(header["DATE"]) == 19 and header["DATE"][10] == "T"
    history = [str(value) for value in header["HISTORY"]]
    assert history == [
        "Input 1: frame-a (md5 0123)",
        "Input 2: frame-b (md5 4567)",
        'Parameter alignment = "wcs"',
    ]
    assert "COVERAGE" not in [hdu.name for hdu in fits.open(path)]


def test_sci_header_keeps_the_grid_inputs_cards_without_structure_and_with_the_output_wcs(tmp_path):
    source = make_frame(tmp_path / "in.fits", shape=(20, 30), compressed=True, header_extra={"GAIN": 1.5})
    with fits.open(source) as hdul:
        header = hdul["SCI"].header.copy()
    header["CHECKSUM"], header["DATASUM"] = "0000", "1"
    header["BSCALE"], header["BZERO"] = 1.0, 0.0
    header["CRPIX1A"] = 1.0  # an alternate WCS: kept
    output_wcs = make_wcs(ra=150.01, dec=20.02, shape=(20, 30), scale_arcsec=0.8, rotation_deg=10)
    path = write_fits_product(
        tmp_path / "p.fits",
        data=np.ones((20, 30), np.float32),
        provenance=PROVENANCE,
        header=header,
        wcs=output_wcs,
        updates={"EXPTIME": 90.0},
        removals=("BUNIT",),
    )
    written = fits.getheader(path, "SCI")
    for keyword in ("BSCALE", "BZERO", "ZIMAGE", "ZCMPTYPE", "ZBITPIX", "CD1_1", "CD2_2", "BUNIT"):
        assert keyword not in written, keyword
    assert written["EXTNAME"] == "SCI"
    assert written["GAIN"] == 1.5 and written["OBJECT"] == "SYNTHETIC" and written["EXPTIME"] == 90.0
    assert written["DATE-OBS"] == header["DATE-OBS"]  # not rewritten by the WCS's own time cards
    assert written["CRPIX1A"] == 1.0
    assert written["CHECKSUM"] != "0000"  # astropy's own checksum of the product
    result = usable_wcs(written)
    x, y = np.meshgrid([0, 29, 14.5], [0, 19, 9.5])
    np.testing.assert_allclose(
        np.array(result.pixel_to_world_values(x, y)), np.array(output_wcs.pixel_to_world_values(x, y)), atol=1e-12
    )


def test_science_header_without_an_output_wcs_keeps_the_inputs():
    header = fits.Header({"NAXIS": 2, "NAXIS1": 3, "NAXIS2": 4, "CTYPE1": "RA---TAN", "WCSERR": 4, "OBJECT": "x"})
    kept = science_header(header, None)
    assert list(kept) == ["CTYPE1", "WCSERR", "OBJECT"]


# Previews


def decode(jpg: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(jpg))
    assert picture.format == "JPEG"
    return np.asarray(picture)


def test_zscale_limits_are_astropys_over_finite_pixels():
    rng = np.random.default_rng(3)
    image = rng.normal(1000, 20, (50, 60)).astype(np.float32)
    expected = ZScaleInterval(contrast=0.1).get_limits(image)
    image[::7, ::3] = np.nan
    image[1, 1] = np.inf
    finite = image[np.isfinite(image)]
    np.testing.assert_allclose(zscale_limits(image), ZScaleInterval(contrast=0.1).get_limits(finite))
    assert abs(zscale_limits(image)[0] - expected[0]) < 20
    assert zscale_limits(np.full((3, 3), np.nan)) == (0.0, 1.0)


def test_large_jpg_is_full_size_flipped_with_gamma_and_nan_black():
    image = np.zeros((64, 96), np.float32)
    image[:8, :8] = 100.0  # FITS row 0: the bottom of the picture
    image[24:40, 40:56] = 50.0
    image[48:, 80:] = np.nan
    large, small = render_previews(image, zmin=0.0, zmax=100.0)
    picture = decode(large)
    assert picture.shape == (64, 96)  # grayscale, full resolution
    assert picture[-4, 4] > 245 and picture[4, 4] < 10  # bright at the bottom left, dark at the top left
    expected = round(255 * 0.5 ** (1 / 2.5))  # 194
    assert abs(int(picture[64 - 32, 48]) - expected) <= 2
    assert picture[64 - 56, 88] < 5  # NaN is black


@pytest.mark.parametrize(
    ("shape", "size"), [((64, 96), (96, 64)), ((600, 300), (100, 200)), ((1000, 1000), (200, 200))]
)
def test_small_jpg_fits_in_200_keeping_the_aspect(shape, size):
    image = np.random.default_rng(0).normal(0, 1, shape).astype(np.float32)
    _, small = render_previews(image)
    assert Image.open(io.BytesIO(small)).size == size


def test_previews_without_limits_use_zscale():
    image = np.random.default_rng(2).normal(500, 10, (40, 40)).astype(np.float32)
    zmin, zmax = zscale_limits(image)
    assert render_previews(image) == render_previews(image, zmin, zmax)
    flat = np.full((10, 10), 7.0, np.float32)  # zscale's range is empty: no division by zero
    assert decode(render_previews(flat)[0]).shape == (10, 10)


def test_tiff_gray16_is_lossless_clipped_and_flipped():
    image = np.linspace(-10, 110, 12 * 9, dtype=np.float32).reshape(12, 9)
    image[0, 0] = np.nan
    tif = tiff_gray16(image, zmin=0.0, zmax=100.0)
    picture = Image.open(io.BytesIO(tif))
    assert picture.format == "TIFF" and picture.mode == "I;16"
    assert "deflate" in picture.info["compression"]
    levels = np.asarray(picture)
    expected = np.rint(np.clip(np.nan_to_num(image / 100.0, nan=0.0), 0, 1) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(levels, expected[::-1])
    assert levels[-1, 0] == 0  # NaN, FITS row 0 at the bottom


def test_tiff_gray16_defaults_to_zscale():
    image = np.random.default_rng(4).normal(100, 5, (30, 30)).astype(np.float32)
    assert tiff_gray16(image) == tiff_gray16(image, *zscale_limits(image))


def test_colour_composite_matches_the_wizard_formula():
    rng = np.random.default_rng(6)
    red, green = rng.uniform(0, 200, (2, 10, 12)).astype(np.float32)
    red[0, 0] = np.nan
    channels = [Channel(red, 50.0, 150.0, (255, 0, 0)), Channel(green, 20.0, 120.0, (0, 200, 100))]
    components = color_composite(channels)
    s_red = np.nan_to_num(np.clip((red - 50) / 100, 0, 1), nan=0.0)
    s_green = np.clip((green - 20) / 100, 0, 1)
    expected = np.stack([s_red * 255 / 255, s_green * 200 / 255, s_green * 100 / 255])
    assert components.dtype == np.float32 and components.shape == (3, 10, 12)
    np.testing.assert_allclose(components, expected, rtol=1e-6, atol=1e-7)
    picture = rgb8(components)
    assert picture.shape == (10, 12, 3) and picture.dtype == np.uint8
    preview = np.round(np.minimum(1, expected) ** (1 / 2.5) * 255)  # the wizard's arithmetic
    assert np.abs(picture.astype(int) - np.moveaxis(preview, 0, -1)).max() <= 1


def test_colour_components_above_one_are_kept_in_the_cube_and_clipped_in_the_picture():
    ones = np.full((2, 2), 10.0, np.float32)
    components = color_composite([Channel(ones, 0, 1, (255, 255, 0)), Channel(ones, 0, 1, (255, 0, 0))])
    assert components[0, 0, 0] == pytest.approx(2.0)
    assert rgb8(components)[0, 0].tolist() == [255, 255, 0]


def test_rgb_tiff_is_lossless_and_flipped_and_jpgs_match():
    picture = np.random.default_rng(7).integers(0, 256, (30, 50, 3)).astype(np.uint8)
    decoded = Image.open(io.BytesIO(tiff_rgb8(picture)))
    assert decoded.mode == "RGB" and "deflate" in decoded.info["compression"]
    np.testing.assert_array_equal(np.asarray(decoded), picture[::-1])
    large, small = render_rgb_previews(picture)
    assert decode(large).shape == (30, 50, 3)
    assert Image.open(io.BytesIO(small)).size == (50, 30)
