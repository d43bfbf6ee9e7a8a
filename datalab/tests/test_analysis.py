"""The analysis actions on synthetic frames: exact response keys, pixel conventions, numbers against direct numpy and
astropy computations, request validation and the JSON sanitiser."""

import base64
import io
import json
import math
from unittest import mock

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.visualization import ZScaleInterval
from astropy.wcs import WCS
from PIL import Image

from datalab.analysis import ACTIONS, centroiding, fitsread, get_jpg, json_safe, line_profile, raw_data, wcs
from datalab.analysis import source_catalog as catalog_action
from datalab.operations.base import OperationError
from datalab.tests.analysis_frames import cell_centres, gaussian_star, tan_header, write_frame

RAW_DATA_KEYS = {"data", "width", "height", "zmin", "zmax", "bitdepth", "histogram", "bins"}
CATALOG_KEYS = {"x", "y", "x_win", "y_win", "flux", "mag", "magerr", "flux_fallback", "ra", "dec"}
LINE_KEYS = {"line_profile", "arcsec", "start_coords", "end_coords", "position_angle"}
CENTROID_KEYS = {"x", "y", "ra", "dec", "background", "peak", "success", "message"}


# --- json_safe and the registry -------------------------------------------------------------------------------------


def test_json_safe_maps_non_finite_to_none_and_numpy_to_python():
    value = {
        "nan": float("nan"),
        "inf": np.float32(np.inf),
        "ninf": -math.inf,
        "int": np.int64(3),
        "float": np.float32(1.5),
        "bool": np.bool_(True),
        "array": np.array([[1.0, np.nan], [np.inf, 2.0]]),
        "nested": ({"deep": [np.float64("nan"), "text", None]},),
        np.int32(7): "key",
    }
    safe = json_safe(value)
    assert safe == {
        "nan": None,
        "inf": None,
        "ninf": None,
        "int": 3,
        "float": 1.5,
        "bool": True,
        "array": [[1.0, None], [None, 2.0]],
        "nested": [{"deep": [None, "text", None]}],
        "7": "key",
    }
    assert type(safe["int"]) is int and type(safe["float"]) is float and type(safe["bool"]) is bool
    json.dumps(safe, allow_nan=False)


def test_actions_are_registered_by_wire_name():
    assert set(ACTIONS) == {"wcs", "raw-data", "get-jpg", "source-catalog", "line-profile", "centroiding"}
    for module in ACTIONS.values():
        assert callable(module.run)
        assert "basename" in module.RequestSerializer().fields


# --- request bodies -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body", "missing"),
    [
        ("wcs", {}, "basename"),
        ("raw-data", {}, "basename"),
        ("get-jpg", {"basename": "f", "zmin": 1}, "zmax"),
        ("source-catalog", {"basename": "f", "width": 10}, "height"),
        ("line-profile", {"basename": "f", "width": 10, "height": 10, "x1": 1, "y1": 1, "y2": 2}, "x2"),
        ("centroiding", {"basename": "f", "width": 10, "height": 10, "x": 1}, "y"),
    ],
)
def test_a_missing_field_is_named(action, body, missing):
    serializer = ACTIONS[action].RequestSerializer(data=body)
    assert not serializer.is_valid()
    assert missing in serializer.errors


def test_source_defaults_to_archive_and_rejects_others():
    serializer = wcs.RequestSerializer(data={"basename": "frame"})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"basename": "frame", "source": "archive"}
    serializer = wcs.RequestSerializer(data={"basename": "frame", "source": "elsewhere"})
    assert not serializer.is_valid()
    assert serializer.errors["source"] == ["Source elsewhere not recognized"]


def test_raw_data_bounds_and_defaults():
    serializer = raw_data.RequestSerializer(data={"basename": "f"})
    assert serializer.is_valid()
    assert serializer.validated_data["max_size"] == 500
    assert "width" not in serializer.validated_data
    for size in (15, 2049, "big"):
        assert "max_size" in _errors(raw_data, {"basename": "f", "max_size": size})
    assert "width" in _errors(raw_data, {"basename": "f", "width": 2049, "height": 10})


def test_centroiding_defaults_and_radii_rules():
    serializer = centroiding.RequestSerializer(data={"basename": "f", "width": 10, "height": 10, "x": 1, "y": 2})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {
        "basename": "f",
        "source": "archive",
        "width": 10.0,
        "height": 10.0,
        "x": 1.0,
        "y": 2.0,
        "radius": 8.0,
        "r_back1": 10.0,
        "r_back2": 15.0,
        "find_centroid": True,
        "remove_background_stars": True,
        "use_plane_background": False,
    }
    body = {"basename": "f", "width": 10, "height": 10, "x": 1, "y": 2}
    assert "radius" in _errors(centroiding, {**body, "radius": 0})
    assert "r_back2" in _errors(centroiding, {**body, "r_back1": 10, "r_back2": 10})


def test_get_jpg_needs_zmax_above_zmin():
    assert "zmax" in _errors(get_jpg, {"basename": "f", "zmin": 5, "zmax": 5})
    assert get_jpg.RequestSerializer(data={"basename": "f", "zmin": 5, "zmax": 5.5}).is_valid()


def _errors(module, body) -> dict:
    serializer = module.RequestSerializer(data=body)
    assert not serializer.is_valid()
    return serializer.errors


# --- reading --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("compressed", [False, True])
def test_every_bitpix_plain_or_compressed(tmp_path, dtype, compressed):
    rng = np.random.default_rng(1)
    data = (rng.random((12, 17)) * 250).astype(dtype)
    path = write_frame(tmp_path / "frame.fits", data, compressed=compressed, header=tan_header(17, 12))
    answer = raw_data.run(path, {"max_size": 16, "width": 17, "height": 12})
    assert answer["bitdepth"] == np.dtype(dtype).itemsize * 8  # ZBITPIX when compressed
    np.testing.assert_allclose(np.reshape(answer["data"], (12, 17)), data[::-1].astype(np.float32), rtol=6e-6)
    assert wcs.run(path, {})["fits_dimensions"] == [17, 12]


def test_header_only_reads_pick_sci_else_the_first_2d_image(tmp_path):
    hdus = fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(np.zeros((4, 5), np.float32), tan_header(5, 4), name="OTHER"),
            fits.ImageHDU(np.zeros((6, 7), np.float32), tan_header(7, 6), name="SCI"),
        ]
    )
    hdus.writeto(tmp_path / "sci.fits")
    assert wcs.run(tmp_path / "sci.fits", {})["fits_dimensions"] == [7, 6]

    write_frame(tmp_path / "primary.fits", np.zeros((4, 5), np.float32), header=tan_header(5, 4), extname=None)
    assert wcs.run(tmp_path / "primary.fits", {})["fits_dimensions"] == [5, 4]

    fits.HDUList([fits.PrimaryHDU()]).writeto(tmp_path / "empty.fits")
    with pytest.raises(OperationError):
        wcs.run(tmp_path / "empty.fits", {})
    (tmp_path / "junk.fits").write_bytes(b"not a FITS file" * 300)
    with pytest.raises(OperationError):
        catalog_action.run(tmp_path / "junk.fits", {"width": 10, "height": 10})


def test_tif_image_gives_the_image_and_its_zscale_limits(tmp_path):
    data = np.random.default_rng(2).normal(100, 5, (30, 40)).astype(np.float32)
    data[0, 0] = np.nan
    image, zmin, zmax = fitsread.tif_image(write_frame(tmp_path / "f.fits", data))
    np.testing.assert_array_equal(image, data)
    expected = ZScaleInterval(contrast=0.1).get_limits(data[np.isfinite(data)])
    assert (zmin, zmax) == pytest.approx(expected)


# --- wcs ------------------------------------------------------------------------------------------------------------


def test_wcs_of_a_cd_header(tmp_path):
    header = tan_header(60, 40, arcsec_per_pixel=0.4, rotation=20)
    path = write_frame(tmp_path / "f.fits", np.zeros((40, 60), np.float32), header=header)
    header = fits.getheader(path, "SCI")  # the values as written, to the precision of an 80-character card
    assert wcs.run(path, {}) == {
        "crval": [150.0, 30.0],
        "crpix": [30.5, 20.5],
        "cd1": [header["CD1_1"], header["CD1_2"]],
        "cd2": [header["CD2_1"], header["CD2_2"]],
        "fits_dimensions": [60, 40],
    }


def test_wcs_of_a_pc_cdelt_header_is_the_equivalent_cd(tmp_path):
    header = tan_header(60, 40, arcsec_per_pixel=0.4, rotation=20, style="pc")
    path = write_frame(tmp_path / "f.fits", np.zeros((40, 60), np.float32), header=header)
    answer = wcs.run(path, {})
    pc = np.array([[header["PC1_1"], header["PC1_2"]], [header["PC2_1"], header["PC2_2"]]])
    cd = np.diag([header["CDELT1"], header["CDELT2"]]) @ pc
    np.testing.assert_allclose([answer["cd1"], answer["cd2"]], cd, rtol=1e-12)
    np.testing.assert_allclose(
        [answer["cd1"], answer["cd2"]],
        [
            [-0.4 / 3600 * math.cos(math.radians(20)), 0.4 / 3600 * math.sin(math.radians(20))],
            [0.4 / 3600 * math.sin(math.radians(20)), 0.4 / 3600 * math.cos(math.radians(20))],
        ],
        rtol=1e-12,
    )
    assert answer["fits_dimensions"] == [60, 40]


def test_wcs_reads_a_compressed_header_without_decompressing(tmp_path):
    header = tan_header(30, 20)
    path = write_frame(tmp_path / "f.fits.fz", np.ones((20, 30), np.float32), header=header, compressed=True)
    never = mock.PropertyMock(side_effect=AssertionError("the pixels were decompressed"))
    with mock.patch.object(fits.CompImageHDU, "data", never):
        answer = wcs.run(path, {})
    assert answer["fits_dimensions"] == [30, 20]
    assert answer["crpix"] == [15.5, 10.5]


@pytest.mark.parametrize("broken", ["none", "wcserr"])
def test_wcs_absent_or_failed_is_an_error(tmp_path, broken):
    header = fits.Header() if broken == "none" else tan_header(30, 20)
    if broken == "wcserr":
        header["WCSERR"] = 4
    path = write_frame(tmp_path / "f.fits", np.zeros((20, 30), np.float32), header=header)
    with pytest.raises(OperationError, match="^No WCS solution found for this image$"):
        wcs.run(path, {})


# --- raw-data -------------------------------------------------------------------------------------------------------


def test_raw_data_area_averages_flips_and_fills_nan_with_the_median(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(1000, 50, (32, 48)).astype(np.float32)
    data[5, 7] = np.nan
    answer = raw_data.run(write_frame(tmp_path / "f.fits", data), {"max_size": 16})
    assert set(answer) == RAW_DATA_KEYS
    assert (answer["width"], answer["height"]) == (16, 16)
    filled = np.where(np.isnan(data), np.nanmedian(data), data).astype(np.float64)
    expected = filled.reshape(16, 2, 16, 3).mean(axis=(1, 3))[::-1]
    np.testing.assert_allclose(np.reshape(answer["data"], (16, 16)), expected, rtol=6e-6)
    # Six significant digits: the JSON stays short.
    assert all(len(repr(value).replace("-", "").replace(".", "").lstrip("0")) <= 6 for value in answer["data"])


def test_raw_data_exact_shape_when_width_and_height_are_given(tmp_path):
    data = np.arange(10 * 14, dtype=np.float32).reshape(10, 14) ** 1.5
    answer = raw_data.run(write_frame(tmp_path / "f.fits", data), {"max_size": 500, "width": 6, "height": 4})
    assert (answer["width"], answer["height"]) == (6, 4)
    # Each output cell averages the area it covers: supersample to a common grid, then average blocks.
    fine = np.repeat(np.repeat(data.astype(np.float64), 2, axis=0), 3, axis=1)  # 20 x 42
    expected = fine.reshape(4, 5, 6, 7).mean(axis=(1, 3))[::-1]
    np.testing.assert_allclose(np.reshape(answer["data"], (4, 6)), expected, rtol=6e-6)

    square = raw_data.run(write_frame(tmp_path / "g.fits", data), {"max_size": 20, "width": 6})
    assert (square["width"], square["height"], len(square["data"])) == (20, 20, 400)


def test_raw_data_flip_puts_the_last_fits_row_first(tmp_path):
    data = np.zeros((16, 16), np.float32)
    data[-1] = 7.0
    answer = raw_data.run(write_frame(tmp_path / "f.fits", data), {"max_size": 16})
    assert answer["data"][:16] == [7.0] * 16
    assert answer["data"][16:] == [0.0] * (16 * 15)


def test_raw_data_is_square_by_default_whatever_the_image(tmp_path):
    data = np.zeros((16, 40), np.float32)
    data[-1] = 7.0
    answer = raw_data.run(write_frame(tmp_path / "f.fits", data), {})
    assert (answer["width"], answer["height"], len(answer["data"])) == (500, 500, 250000)
    # The top FITS row covers the top 500 / 16 output rows (31 of them wholly), shown first.
    assert answer["data"][: 31 * 500] == [7.0] * (31 * 500)
    assert answer["data"][32 * 500 :] == [0.0] * (468 * 500)


def _samples(data: np.ndarray) -> np.ndarray:
    finite = data[np.isfinite(data)].ravel()
    return finite[:: max(1, math.ceil(finite.size / 2000))]


def test_raw_data_limits_are_integers_for_a_wide_range(tmp_path):
    data = np.random.default_rng(4).normal(1000, 40, (100, 120)).astype(np.float32)
    answer = raw_data.run(write_frame(tmp_path / "f.fits", data), {"max_size": 16})
    samples = _samples(data)
    assert 1900 <= samples.size <= 2000
    zmax = ZScaleInterval(contrast=0.1).get_limits(samples)[1]
    assert answer["zmin"] == round(float(np.median(samples)))
    assert answer["zmax"] == round(float(zmax))
    assert type(answer["zmin"]) is int and type(answer["zmax"]) is int


def test_raw_data_limits_keep_six_significant_digits_for_a_narrow_range(tmp_path):
    data = np.random.default_rng(5).normal(0.0123, 0.0004, (100, 120)).astype(np.float32)
    answer = raw_data.run(write_frame(tmp_path / "f.fits", data), {"max_size": 16})
    samples = _samples(data)
    zmax = ZScaleInterval(contrast=0.1).get_limits(samples)[1]
    assert answer["zmin"] == float(f"{np.median(samples):.6g}")
    assert answer["zmax"] == float(f"{zmax:.6g}")
    assert answer["zmin"] != round(answer["zmin"])


def _zscale(data):
    samples = _samples(data)
    return tuple(float(limit) for limit in ZScaleInterval(contrast=0.1).get_limits(samples))


def test_raw_data_histogram_has_three_stretched_segments(tmp_path):
    data = np.random.default_rng(6).normal(500, 10, (60, 80)).astype(np.float32)
    data[0, :5] = -50.0
    data[1, :5] = 3000.0
    answer = raw_data.run(write_frame(tmp_path / "f.fits", data), {"max_size": 16})
    z1, z2 = _zscale(data)
    d = z2 - z1
    edges = np.concatenate(
        [
            np.linspace(-50, z1 - d / 4, 11),
            np.linspace(z1 - d / 4, z2 + d / 4, 101)[1:],
            np.linspace(z2 + d / 4, 3000, 11)[1:],
        ]
    )
    counts, _ = np.histogram(data, bins=edges)
    assert len(answer["bins"]) == len(answer["histogram"]) == 120
    np.testing.assert_allclose(answer["bins"], (edges[:-1] + edges[1:]) / 2)
    np.testing.assert_allclose(answer["histogram"], np.where(counts > 0, np.log10(np.maximum(counts, 1)), 0))
    assert answer["histogram"][0] == math.log10(5) and answer["histogram"][-1] == math.log10(5)


def test_raw_data_histogram_drops_empty_segments(tmp_path):
    # Values from 0 to 10 spread evenly: nothing lies below zero or beyond the widened zscale range.
    data = np.linspace(0, 10, 50 * 40, dtype=np.float32).reshape(50, 40)
    answer = raw_data.run(write_frame(tmp_path / "f.fits", data), {"max_size": 16})
    z1, z2 = _zscale(data)
    d = z2 - z1
    assert z1 - d / 4 < 0 and z2 + d / 4 > 10
    edges = np.linspace(z1 - d / 4, z2 + d / 4, 101)
    assert len(answer["bins"]) == 100
    np.testing.assert_allclose(answer["bins"], (edges[:-1] + edges[1:]) / 2)
    counts, _ = np.histogram(data, bins=edges)
    np.testing.assert_allclose(answer["histogram"], np.log10(np.maximum(counts, 1)))


# --- get-jpg --------------------------------------------------------------------------------------------------------


def test_get_jpg_renders_full_resolution_flipped_with_the_given_limits(tmp_path):
    data = np.zeros((64, 48), np.float32)
    data[32:] = 100.0  # the upper half of the sky, shown at the top
    data[:32, :24] = 50.0
    answer = get_jpg.run(write_frame(tmp_path / "f.fits", data), {"zmin": 0.0, "zmax": 100.0})
    assert set(answer) == {"jpg_base64"}
    assert not answer["jpg_base64"].startswith("data:")
    picture = Image.open(io.BytesIO(base64.b64decode(answer["jpg_base64"])))
    assert (picture.format, picture.mode, picture.size) == ("JPEG", "L", (48, 64))
    pixels = np.asarray(picture, dtype=np.float64)
    assert pixels[:28].mean() == pytest.approx(255, abs=2)
    assert pixels[36:, :20].mean() == pytest.approx(255 * 0.5 ** (1 / 2.5), abs=2)
    assert pixels[36:, 28:].mean() == pytest.approx(0, abs=2)


# --- source-catalog -------------------------------------------------------------------------------------------------


def _catalog_frame(tmp_path, columns, *, header=None):
    # 60 wide, 40 high: a swap of width and height shows in every position.
    return write_frame(tmp_path / "cat.fits", np.zeros((40, 60), np.float32), header=header, catalog=columns)


def test_source_catalog_places_1_based_positions_on_the_display(tmp_path):
    columns = {
        "x": [10.5, 1.0],
        "y": [20.5, 40.5],
        "xwin": [11.0, 2.0],
        "ywin": [21.0, 39.5],
        "ra": [150.1, 150.2],
        "dec": [30.1, 30.2],
        "flux": [1234.6, 99.4],
        "fluxerr": [10.0, 5.0],
        "mag": [14.2, 16.5],
        "magerr": [0.01, 0.05],
    }
    # Display 300 x 100: x scales by 300 / 60 = 5, y by 100 / 40 = 2.5.
    rows = catalog_action.run(_catalog_frame(tmp_path, columns), {"width": 300, "height": 100})
    assert [set(row) for row in rows] == [CATALOG_KEYS] * 2
    assert rows[0] == {
        "x": 50.0,
        "y": 50.0,
        "x_win": 52.5,
        "y_win": 51.25,
        "flux": 1235,
        "mag": 14.2,
        "magerr": 0.01,
        "flux_fallback": False,
        "ra": 150.1,
        "dec": 30.1,
    }
    assert (rows[1]["x"], rows[1]["y"], rows[1]["x_win"], rows[1]["y_win"]) == (2.5, 100.0, 7.5, 97.5)
    assert type(rows[0]["flux"]) is int


def test_source_catalog_brightest_first_at_most_1000(tmp_path):
    flux = np.random.default_rng(7).permutation(np.arange(1, 1206, dtype=np.float64))
    flux[3] = np.nan
    columns = {"x": np.full(1205, 5.0), "y": np.full(1205, 5.0), "flux": flux, "fluxerr": np.ones(1205)}
    rows = catalog_action.run(_catalog_frame(tmp_path, columns), {"width": 60, "height": 40})
    assert len(rows) == 1000
    assert [row["flux"] for row in rows[:3]] == [1205, 1204, 1203]
    assert all(a["flux"] > b["flux"] for a, b in zip(rows, rows[1:], strict=False))


def test_source_catalog_magnitudes_fall_back_to_flux(tmp_path):
    columns = {"x": [5.0, 6.0, 7.0], "y": [5.0, 6.0, 7.0], "flux": [1000.0, 10.0, -3.0], "fluxerr": [20.0, 1.0, 1.0]}
    rows = catalog_action.run(_catalog_frame(tmp_path, columns), {"width": 60, "height": 40})
    assert [row["flux_fallback"] for row in rows] == [True] * 3
    assert rows[0]["mag"] == pytest.approx(-7.5) and rows[0]["magerr"] == pytest.approx(1.0857 * 0.02)
    assert rows[1]["mag"] == pytest.approx(-2.5) and rows[1]["magerr"] == pytest.approx(0.10857)
    assert (rows[2]["flux"], rows[2]["mag"], rows[2]["magerr"]) == (-3, None, None)
    # No sky position in the table nor a WCS in the header.
    assert (rows[0]["ra"], rows[0]["dec"]) == (None, None)


def test_source_catalog_sky_positions_from_the_wcs(tmp_path):
    header = tan_header(60, 40, arcsec_per_pixel=2.0, rotation=15)
    columns = {"x": [10.5, 50.0], "y": [20.5, 3.25], "flux": [500.0, 400.0]}
    rows = catalog_action.run(_catalog_frame(tmp_path, columns, header=header), {"width": 60, "height": 40})
    ra, dec = WCS(header).all_pix2world(columns["x"], columns["y"], 1)  # the table's positions are 1-based
    assert [row["ra"] for row in rows] == pytest.approx(ra, abs=1e-10)
    assert [row["dec"] for row in rows] == pytest.approx(dec, abs=1e-10)


def test_source_catalog_needs_a_cat_table(tmp_path):
    path = write_frame(tmp_path / "f.fits", np.zeros((40, 60), np.float32))
    with pytest.raises(OperationError, match="^This image has no source catalogue$"):
        catalog_action.run(path, {"width": 60, "height": 40})
    empty = {"x": np.zeros(0), "y": np.zeros(0), "flux": np.zeros(0)}
    assert catalog_action.run(_catalog_frame(tmp_path, empty), {"width": 60, "height": 40}) == []


# --- line-profile ---------------------------------------------------------------------------------------------------

GRADIENT_SHAPE = (30, 50)  # NAXIS2 = 30 rows, NAXIS1 = 50 columns


def _gradient(tmp_path, header=None):
    """Value 3 per column plus 7 per row: bilinear interpolation of it is exact."""
    xs, ys = cell_centres(GRADIENT_SHAPE)
    data = (3 * (xs - 0.5) + 7 * (ys - 0.5)).astype(np.float32)
    return write_frame(tmp_path / "gradient.fits", data, header=header)


def _value(column_edge, row_edge):
    return 3 * (column_edge - 0.5) + 7 * (row_edge - 0.5)


# Display 200 x 90: a horizontal display unit is 50 / 200 = 0.25 column, a vertical one 30 / 90 = 1/3 row.
DISPLAY = {"width": 200, "height": 90}


def test_line_profile_x_is_vertical_and_y_horizontal(tmp_path):
    path = _gradient(tmp_path)
    # Along a row: x (vertical) fixed at 45 -> row edge 15; y from 40 to 120 -> columns 10 to 30.
    answer = line_profile.run(path, {**DISPLAY, "x1": 45, "y1": 40, "x2": 45, "y2": 120})
    assert set(answer) == LINE_KEYS
    columns = np.linspace(10, 30, 21)
    np.testing.assert_allclose(answer["line_profile"], _value(columns, 15), rtol=1e-6)
    # Along a column: y fixed at 100 -> column 25; x from 15 to 75 -> rows 5 to 25.
    answer = line_profile.run(path, {**DISPLAY, "x1": 15, "y1": 100, "x2": 75, "y2": 100})
    rows = np.linspace(5, 25, 21)
    np.testing.assert_allclose(answer["line_profile"], _value(25, rows), rtol=1e-6)


def test_line_profile_samples_ceil_length_plus_one_bilinearly(tmp_path):
    path = _gradient(tmp_path)
    # From (column 10.3, row 4.2) to (column 27.1, row 19.9): length 22.99 pixels -> 24 samples.
    start, end = (10.3, 4.2), (27.1, 19.9)
    body = {**DISPLAY, "y1": start[0] * 4, "x1": start[1] * 3, "y2": end[0] * 4, "x2": end[1] * 3}
    answer = line_profile.run(path, body)
    length = math.hypot(end[0] - start[0], end[1] - start[1])
    assert len(answer["line_profile"]) == math.ceil(length) + 1 == 24
    steps = np.linspace(0, 1, 24)
    expected = _value(start[0] + (end[0] - start[0]) * steps, start[1] + (end[1] - start[1]) * steps)
    np.testing.assert_allclose(answer["line_profile"], expected, rtol=1e-6)


def test_line_profile_is_null_outside_the_image(tmp_path):
    path = _gradient(tmp_path)
    # Along row 15 from column -5 to column 5: the first five samples are off the image.
    answer = line_profile.run(path, {**DISPLAY, "x1": 45, "y1": -20, "x2": 45, "y2": 20})
    assert answer["line_profile"][:5] == [None] * 5
    assert answer["line_profile"][5:] == pytest.approx([_value(0.5, 15), *_value(np.arange(1, 6), 15)], rel=1e-6)


def test_line_profile_arcsec_and_position_angle_from_the_wcs(tmp_path):
    header = tan_header(50, 30, arcsec_per_pixel=0.5)
    path = _gradient(tmp_path, header)
    sky = WCS(header)

    def sky_at(column, row):
        ra, dec = sky.all_pix2world([column - 0.5], [row - 0.5], 0)
        return SkyCoord(ra[0], dec[0], unit="deg")

    # North is up and east left: up is 0 degrees, left 90, down 180, right 270.
    for (c1, r1, c2, r2), angle in [
        ((25, 5, 25, 25), 0),
        ((40, 15, 10, 15), 90),
        ((25, 25, 25, 5), 180),
        ((10, 15, 40, 15), 270),
    ]:
        answer = line_profile.run(path, {**DISPLAY, "y1": c1 * 4, "x1": r1 * 3, "y2": c2 * 4, "x2": r2 * 3})
        assert answer["position_angle"] == pytest.approx(angle, abs=0.01)
        start, end = sky_at(c1, r1), sky_at(c2, r2)
        assert answer["arcsec"] == pytest.approx(start.separation(end).arcsec, rel=1e-9)
        assert answer["arcsec"] == pytest.approx(0.5 * math.hypot(c2 - c1, r2 - r1), rel=1e-3)
        assert answer["start_coords"] == pytest.approx([start.ra.deg, start.dec.deg], abs=1e-10)
        assert answer["end_coords"] == pytest.approx([end.ra.deg, end.dec.deg], abs=1e-10)


def test_line_profile_arcsec_from_pixscale_without_a_wcs(tmp_path):
    header = fits.Header()
    header["PIXSCALE"] = 0.389
    path = _gradient(tmp_path, header)
    answer = line_profile.run(path, {**DISPLAY, "x1": 45, "y1": 40, "x2": 45, "y2": 120})
    assert answer["arcsec"] == pytest.approx(20 * 0.389)
    assert (answer["start_coords"], answer["end_coords"], answer["position_angle"]) == (None, None, None)

    answer = line_profile.run(_gradient(tmp_path), {**DISPLAY, "x1": 45, "y1": 40, "x2": 45, "y2": 120})
    assert answer["arcsec"] is None


# --- centroiding ----------------------------------------------------------------------------------------------------

# A 60 x 40 image shown as 120 x 160: x display = 2 x edge, y display = 4 x edge; radii scale by (0.5 + 0.25) / 2.
HOT_DISPLAY = {"width": 120, "height": 160}


def _hot_pixel_frame(tmp_path, header=None):
    data = np.full((40, 60), 10.0, np.float32)
    data[13, 21] = 100.0  # row j = 13, column i = 21
    data[13, 25] = 500.0  # 4 pixels away: inside a radius of 8 pixels, in the annulus once radii are converted
    return write_frame(tmp_path / "hot.fits", data, header=header)


def test_a_hot_pixel_centroids_to_its_cell_centre(tmp_path):
    header = tan_header(60, 40, arcsec_per_pixel=1.0, rotation=10)
    path = _hot_pixel_frame(tmp_path, header)
    # Start at edge (20.2, 13.9); radius 8 display units is 3 pixels, the annulus 3.75 to 5.625 pixels.
    answer = centroiding.run(path, {**HOT_DISPLAY, "x": 40.4, "y": 55.6, **_defaults()})
    assert set(answer) == CENTROID_KEYS
    assert answer["success"] is True
    assert answer["message"] == "Centroid calculation completed."
    assert (answer["x"], answer["y"]) == pytest.approx((21.5 * 2, 13.5 * 4), abs=1e-9)
    assert answer["background"] == pytest.approx(10.0)
    assert answer["peak"] == pytest.approx(90.0)
    ra, dec = WCS(header).pixel_to_world_values(21, 13)  # astropy's 0-based position of cell [13, 21]
    assert (answer["ra"], answer["dec"]) == pytest.approx((float(ra), float(dec)), abs=1e-10)


def _defaults() -> dict:
    return {
        "radius": 8,
        "r_back1": 10,
        "r_back2": 15,
        "find_centroid": True,
        "remove_background_stars": True,
        "use_plane_background": False,
    }


def test_centroid_radii_in_pixels_would_take_in_the_neighbour(tmp_path):
    """The same click with a display scaled 1:1: a radius of 8 pixels reaches the brighter neighbour."""
    path = _hot_pixel_frame(tmp_path)
    answer = centroiding.run(path, {"width": 60, "height": 40, "x": 20.2, "y": 13.9, **_defaults()})
    assert answer["x"] > 22


def test_a_gaussian_star_is_recovered_within_a_twentieth_of_a_pixel(tmp_path):
    shape = (64, 64)
    true_x, true_y = 30.37, 20.81
    rng = np.random.default_rng(8)
    data = 200 + gaussian_star(shape, true_x, true_y, amplitude=5000, sigma=1.8) + rng.normal(0, 3, shape)
    path = write_frame(tmp_path / "star.fits", data.astype(np.float32))
    # Shown at twice its size, with radii of 8, 10 and 15 pixels; the click is two pixels off.
    radii = {"radius": 16, "r_back1": 20, "r_back2": 30}
    answer = centroiding.run(path, {"width": 128, "height": 128, "x": 2 * 32.1, "y": 2 * 19.2, **_defaults(), **radii})
    assert answer["success"] is True
    assert abs(answer["x"] / 2 - true_x) < 0.05 and abs(answer["y"] / 2 - true_y) < 0.05
    assert answer["background"] == pytest.approx(200, abs=1)
    assert answer["peak"] == pytest.approx(5000, rel=0.05)
    assert (answer["ra"], answer["dec"]) == (None, None)


def test_plane_background(tmp_path):
    shape = (64, 64)
    xs, ys = cell_centres(shape)
    plane = 100 + 2.0 * xs + 3.0 * ys
    data = plane + gaussian_star(shape, 33.6, 30.2, amplitude=3000, sigma=1.5)
    path = write_frame(tmp_path / "plane.fits", data.astype(np.float64))
    body = {"width": 64, "height": 64, "x": 33.0, "y": 31.0, **_defaults(), "use_plane_background": True}
    answer = centroiding.run(path, body)
    assert answer["success"] is True
    assert (answer["x"], answer["y"]) == pytest.approx((33.6, 30.2), abs=0.02)
    assert answer["background"] == pytest.approx(100 + 2.0 * answer["x"] + 3.0 * answer["y"], abs=0.01)


def test_without_refinement_the_start_is_measured(tmp_path):
    path = _hot_pixel_frame(tmp_path)
    answer = centroiding.run(path, {**HOT_DISPLAY, "x": 40.4, "y": 55.6, **_defaults(), "find_centroid": False})
    assert (answer["x"], answer["y"], answer["success"]) == (40.4, 55.6, True)
    assert answer["peak"] == pytest.approx(90.0)


@pytest.mark.parametrize("case", ["no pixels", "flat", "ramp", "outside"])
def test_centroid_failures_answer_the_start_with_a_message(tmp_path, case):
    data = np.full((40, 60), 10.0, np.float32)
    click = {"x": 30.0, "y": 20.0}
    if case == "no pixels":
        data[:] = np.nan
    elif case == "ramp":
        data = np.broadcast_to(np.arange(60, dtype=np.float32) * 5, (40, 60))
    elif case == "outside":
        click = {"x": 200.0, "y": 20.0}
    path = write_frame(tmp_path / "f.fits", np.ascontiguousarray(data))
    answer = centroiding.run(path, {"width": 60, "height": 40, **click, **_defaults(), "radius": 4})
    assert set(answer) == CENTROID_KEYS
    assert answer["success"] is False
    assert (answer["x"], answer["y"]) == (click["x"], click["y"])
    assert answer["message"] and answer["message"] != "Centroid calculation completed."
    json.dumps(json_safe(answer), allow_nan=False)
