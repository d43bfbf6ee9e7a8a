"""fitsmeta: header reading, the cleaning rules in the ingester's order, the public date and the sky footprint."""

import datetime
import io
import logging
import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from frames import fitsmeta, footprints
from frames.fields import footprint_geometry
from frames.fitsmeta import HeaderError, MissingHeadersError, NotFitsError, Rules
from frames.tests.fitsfiles import make_fits
from frames.values import normalise_longitude

RULES = Rules()
LCO_NAME = "coj1m011-kb05-20240501-0125-e91"


def read(path, **overrides):
    with open(path, "rb") as handle:
        return fitsmeta.read_header(handle, required=RULES.required_headers, overrides=overrides)


def raw_header(**values) -> dict:
    """A header with every required keyword, as read from a file."""
    return {
        "PROPID": "LCO2024A-001",
        "DATE-OBS": "2024-05-01T10:00:00.261",
        "DAY-OBS": "20240430",
        "INSTRUME": "kb05",
        "SITEID": "coj",
        "TELID": "1m0a",
        "OBSTYPE": "EXPOSE",
        "BLKUID": 53195954,
        **values,
    }


def clean(extension=".fits.fz", basename=LCO_NAME, tags=None, **values):
    return fitsmeta.clean_header(raw_header(**values), basename=basename, extension=extension, proposal_tags=tags)


# --- names and reading --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected", "fits_name"),
    [
        ("coj1m011-kb05-20240501-0125-e91.fits.fz", ("coj1m011-kb05-20240501-0125-e91", ".fits.fz"), True),
        ("/data/raw/frame.fits", ("frame", ".fits"), True),
        ("frame.fits.gz", ("frame", ".fits.gz"), False),
        ("frame.v2.fits", ("frame", ".v2.fits"), False),
        ("frame.FITS", ("frame", ".FITS"), False),
        (".fits", ("", ".fits"), False),
        ("frame", ("frame", ""), False),
    ],
)
def test_file_names_split_at_the_first_dot(filename, expected, fits_name):
    assert fitsmeta.split_filename(filename) == expected
    assert fitsmeta.is_fits_filename(filename) is fits_name


def test_a_compressed_file_gives_the_decompressed_header_of_hdu_1(tmp_path):
    header = read(make_fits(tmp_path / "a.fits.fz"))
    assert header["XTENSION"] == "IMAGE"  # the image header, not the binary table that carries it
    assert (header["NAXIS"], header["NAXIS1"], header["NAXIS2"]) == (2, 64, 64)
    assert header["EXTNAME"] == "SCI"
    assert header["PROPID"] == "LCOEPO2024A-002"
    assert "ZNAXIS1" not in header


def test_a_file_open_for_update_is_read_and_left_unchanged(tmp_path):
    path = make_fits(tmp_path / "a.fits", compressed=False)
    card = b"OBJECT  = 'M84     '"
    path.write_bytes(path.read_bytes().replace(card, b"OBJECT  = M84".ljust(len(card))))  # astropy fixes it
    before = path.read_bytes()
    with open(path, "r+b") as handle:  # how an upload's spool file is open
        assert fitsmeta.read_header(handle, required=RULES.required_headers)["OBJECT"] == "M84"
        assert not handle.closed
    assert path.read_bytes() == before


def test_a_plain_file_gives_its_primary_header(tmp_path):
    header = read(make_fits(tmp_path / "a.fits", compressed=False))
    assert header["SIMPLE"] is True
    assert header["BLKUID"] == 53195954


def test_the_first_hdu_with_every_required_keyword_is_chosen(tmp_path):
    first = fits.ImageHDU(np.zeros((2, 2), dtype=np.float32), name="FIRST")
    second = fits.ImageHDU(np.zeros((2, 2), dtype=np.float32), name="SECOND")
    third = fits.ImageHDU(np.zeros((2, 2), dtype=np.float32), name="THIRD")
    for hdu in (second, third):
        for key, value in raw_header().items():
            hdu.header[key] = value
    first.header["PROPID"] = "ONLY-THIS"
    fits.HDUList([fits.PrimaryHDU(), first, second, third]).writeto(tmp_path / "multi.fits")
    assert read(tmp_path / "multi.fits")["EXTNAME"] == "SECOND"


def test_missing_keywords_are_those_of_the_closest_hdu_sorted(tmp_path):
    path = make_fits(tmp_path / "a.fits.fz", omit=("BLKUID", "DAY-OBS"))
    with pytest.raises(MissingHeadersError) as caught:
        read(path)
    assert caught.value.missing == ["BLKUID", "DAY-OBS"]
    assert str(caught.value) == "Missing required FITS header keywords: BLKUID, DAY-OBS."


def test_overrides_supply_and_replace_keywords(tmp_path):
    path = make_fits(tmp_path / "a.fits.fz", omit=("BLKUID",))
    header = read(path, BLKUID="42", OBJECT="NGC 4406", EXPTIME=float("nan"))
    assert header["BLKUID"] == "42"
    assert header["OBJECT"] == "NGC 4406"
    assert header["EXPTIME"] is None  # JSON natives: non-finite numbers are null


def test_presence_is_enough_even_with_an_empty_value(tmp_path):
    path = make_fits(tmp_path / "a.fits.fz", extra={"DAY-OBS": ""})
    assert read(path)["DAY-OBS"] == ""


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not a FITS file at all" * 200, b"SIMPLE  =                    T" + b" " * 50],
)
def test_bytes_that_are_not_fits_are_refused(content):
    with pytest.raises(NotFitsError):
        fitsmeta.read_header(io.BytesIO(content), required=RULES.required_headers)


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize("cut", [100, 2880, 9000])
def test_a_file_cut_short_is_not_fits(tmp_path, compressed, cut):
    data = make_fits(tmp_path / "a.fits.fz", compressed=compressed).read_bytes()
    with pytest.raises(NotFitsError):
        fitsmeta.read_header(io.BytesIO(data[:-cut]), required=RULES.required_headers)


def test_non_standard_cards_are_no_damage(tmp_path):
    path = make_fits(tmp_path / "a.fits", compressed=False)
    card = b"OBJECT  = 'M84     '"
    data = path.read_bytes()
    assert card in data
    path.write_bytes(data.replace(card, b"OBJECT  = M84 x".ljust(len(card))))  # an unquoted string
    assert read(path)["OBJECT"] == "M84 x"


def test_repeated_keywords_keep_the_first_value_and_commentary_cards_are_joined():
    header = fits.Header()
    header["FILTER"] = "V"
    header.append(("FILTER", "B"))
    header["HISTORY"] = "one"
    header["HISTORY"] = "two"
    assert fitsmeta.header_values(header) == {"FILTER": "V", "HISTORY": "one\ntwo"}


def test_values_become_json_natives():
    header = fits.Header()
    header["COMMENT"] = "first"
    header["COMMENT"] = "second"
    assert fitsmeta.json_value(fits.card.UNDEFINED) is None
    assert fitsmeta.json_value(float("inf")) is None
    assert fitsmeta.json_value(np.float32(1.5)) == 1.5 and type(fitsmeta.json_value(np.float32(1.5))) is float
    assert fitsmeta.json_value(np.int16(7)) == 7 and type(fitsmeta.json_value(np.int16(7))) is int
    assert fitsmeta.json_value(np.bool_(True)) is True
    assert fitsmeta.json_value(complex(1, 2)) == "(1+2j)"
    assert fitsmeta.json_value("M84\x00\x00") == "M84"
    assert fitsmeta.json_value(header["COMMENT"]) == "first\nsecond"


# --- cleaning -------------------------------------------------------------------------------------------------------


def test_an_empty_day_obs_comes_from_date_obs():
    assert clean(**{"DAY-OBS": ""})["DAY-OBS"] == "20240501"
    assert clean(**{"DAY-OBS": None})["DAY-OBS"] == "20240501"
    assert clean()["DAY-OBS"] == "20240430"


def test_blacklisted_and_empty_keywords_are_dropped():
    header = clean(HISTORY="made by a test", COMMENT="hello", **{"": "blank card"})
    assert not {"HISTORY", "COMMENT", ""} & set(header)


def test_null_values_are_null_for_integer_keywords_and_empty_elsewhere():
    header = clean(
        REQNUM="N/A", TRACKNUM="UNSPECIFIED", MOLUID="None", BLKUID="UNKNOWN", OBJECT="N/A", FILTER="UNKNOWN"
    )
    assert header["REQNUM"] is header["TRACKNUM"] is header["MOLUID"] is header["BLKUID"] is None
    assert header["OBJECT"] == header["FILTER"] == ""
    assert clean(OBJECT="NONE")["OBJECT"] == "NONE"  # "NONE" is null only for the integer keywords


def test_related_frames_are_cut_to_basenames_without_n_a():
    header = clean(
        L1IDBIAS="bias-frame.fits.fz", L1IDDARK="N/A", L1IDFLAT="/archive/flat-frame.fits", TARFILE="", GUIDETAR="x"
    )
    assert header["L1IDBIAS"] == "bias-frame"
    assert header["L1IDFLAT"] == "flat-frame"
    assert header["L1IDDARK"] == ""
    assert fitsmeta.related_frames(header) == ["bias-frame", "flat-frame", "x"]


def test_catalog_files_point_at_their_frame_and_are_catalogs():
    header = clean(basename=f"{LCO_NAME}_cat", OBSTYPE="EXPOSE")
    assert header["L1IDCAT"] == LCO_NAME
    assert header["OBSTYPE"] == "CATALOG"
    assert header["RLEVEL"] == 91  # from the name without _cat
    assert clean(basename=f"{LCO_NAME}_cat", L1IDCAT="other")["L1IDCAT"] == "other"
    assert clean(basename=f"{LCO_NAME}_cat", extension=".fits")["OBSTYPE"] == "EXPOSE"  # .fits.fz only


@pytest.mark.parametrize(
    ("basename", "extra", "expected"),
    [
        ("trace-kb05-20240501-0001-x00", {}, "TRACE"),
        ("arc-kb05-20240501-0001-x00", {}, "ARC"),
        ("coj1m011-kb05-20240501-bias-x00", {}, "BIAS"),
        ("coj1m011-kb05-20240501-bpm-x00", {}, "BPM"),
        ("coj1m011-kb05-20240501-0001-e00", {}, "EXPOSE"),
        ("coj1m011-en05-20240501-0001-e00", {}, "SPECTRUM"),
        ("lscnrs01-fa09-20240501-0001-e00", {"ENCID": "igla"}, "TARGET"),
        ("lscnrs01-fa09-20240501-0001-e00", {"TELID": "igla"}, "TARGET"),
        ("lscnrs01-fa09-20240501-0001-a00", {"ENCID": "igla"}, "DOUBLE"),
        ("coj1m011-kb05-20240501-0001-a00", {}, "ARC"),
        ("coj1m011-kb05-20240501-0001-b00", {}, "BIAS"),
        ("coj1m011-kb05-20240501-0001-d00", {}, "DARK"),
        ("coj1m011-kb05-20240501-0001-f00", {}, "SKYFLAT"),
        ("coj1m011-kb05-20240501-0001-g00", {}, "GUIDE"),
        ("coj1m011-kb05-20240501-0001-s00", {}, "STANDARD"),
        ("coj1m011-kb05-20240501-0001-w00", {}, "LAMPFLAT"),
        ("coj1m011-kb05-20240501-0001-x00", {}, "EXPERIMENTAL"),
    ],
)
@pytest.mark.parametrize("unknown", ["", "UNKNOWN", None])
def test_an_unknown_obstype_is_inferred_from_the_file_name(basename, extra, expected, unknown):
    assert clean(basename=basename, OBSTYPE=unknown, **extra)["OBSTYPE"] == expected


def test_a_known_obstype_is_kept():
    assert clean(basename="coj1m011-kb05-20240501-0001-b00", OBSTYPE="SKYFLAT")["OBSTYPE"] == "SKYFLAT"


@pytest.mark.parametrize("basename", ["coj1m011-kb05-20240501-0001-z00", "coj1m011-kb05-20240501", "a-b-c-d-"])
def test_an_obstype_that_cannot_be_inferred_is_named(basename):
    with pytest.raises(HeaderError) as caught:
        clean(basename=basename, OBSTYPE="UNKNOWN")
    assert caught.value.keyword == "OBSTYPE"


def test_plain_fits_files_do_not_infer_obstype():
    assert clean(extension=".fits", basename="coj1m011-kb05-20240501-0001-b00", OBSTYPE="UNKNOWN")["OBSTYPE"] == ""


@pytest.mark.parametrize(
    ("extension", "basename", "rlevel", "expected"),
    [
        (".fits.fz", "coj1m011-kb05-20240501-0125-e91", None, 91),
        (".fits.fz", "coj1m011-kb05-20240501-0125-e00", "", 0),
        (".fits.fz", "coj1m011-kb05-20240501-0125-e91_cat", None, 91),
        (".fits.fz", "not-an-lco-name", None, 0),
        (".fits.fz", "coj1m011-kb05-20240501-0125-e91", 11, 11),
        (".fits", "coj1m011-kb05-20240501-0125-e91", None, 0),
        (".fits", "coj1m011-kb05-20240501-0125-e91", 91, 91),
    ],
)
def test_reduction_level(extension, basename, rlevel, expected):
    values = {} if rlevel is None else {"RLEVEL": rlevel}
    assert clean(extension=extension, basename=basename, **values)["RLEVEL"] == expected


# --- public date ----------------------------------------------------------------------------------------------------

OBSERVED = "2024-05-01T10:00:00.261"
NEVER = "3022-09-02T10:00:00.261000"  # 999 × 365 days later
IN_A_YEAR = "2025-05-01T10:00:00.261000"


@pytest.mark.parametrize(
    ("values", "basename", "tags", "expected"),
    [
        ({"L1PUBDAT": "2030-01-01T00:00:00"}, LCO_NAME, ["private"], "2030-01-01T00:00:00"),
        ({}, LCO_NAME, None, IN_A_YEAR),
        ({}, LCO_NAME, [], IN_A_YEAR),
        ({"L1PUBDAT": ""}, LCO_NAME, None, IN_A_YEAR),
        ({}, LCO_NAME, ["private"], NEVER),
        ({}, LCO_NAME, ["internal", "public"], NEVER),
        ({}, LCO_NAME, ["public"], OBSERVED),
        ({"OBSTYPE": "BIAS"}, LCO_NAME, ["private"], NEVER),  # a deciding tag comes first
        ({}, LCO_NAME, ["key-project"], IN_A_YEAR),
        ({"OBSTYPE": "BIAS"}, LCO_NAME, None, OBSERVED),
        ({"OBSTYPE": "DARK"}, LCO_NAME, None, OBSERVED),
        ({"OBSTYPE": "SKYFLAT"}, LCO_NAME, None, OBSERVED),
        ({"OBSTYPE": "EXPERIMENTAL"}, LCO_NAME, None, OBSERVED),
        ({"PROPID": "LCOEPO2024A-002"}, LCO_NAME, None, OBSERVED),
        ({"PROPID": "calibrate"}, LCO_NAME, None, OBSERVED),
        ({"PROPID": "LCOEngineering"}, LCO_NAME, None, NEVER),
        ({"PROPID": "LCOEngineering", "OBSTYPE": "BIAS"}, LCO_NAME, None, OBSERVED),
        ({}, "coj1m011-kb05-20240501-0125-x00", None, NEVER),
        ({}, "coj1m011-kb05-20240501-0125-t00", None, NEVER),
        ({"PROPID": ""}, LCO_NAME, None, IN_A_YEAR),
        ({"DATE-OBS": "2024-05-01T10:00:00.261Z"}, LCO_NAME, None, "2025-05-01T10:00:00.261000+00:00"),
        ({"DATE-OBS": "yesterday"}, LCO_NAME, None, None),
    ],
)
def test_public_date_rules(values, basename, tags, expected):
    assert clean(basename=basename, tags=tags, **values)["L1PUBDAT"] == expected


def test_days_until_public_comes_from_the_rules():
    rules = Rules(days_until_public=30)
    header = fitsmeta.clean_header(raw_header(), basename=LCO_NAME, extension=".fits", rules=rules)
    assert header["L1PUBDAT"] == "2024-05-31T10:00:00.261000"


def test_public_date_is_decided_on_the_raw_header_before_the_obstype_repair():
    # The name says bias (public at once), but the header said UNKNOWN: the ingester decided on UNKNOWN.
    header = clean(basename="coj1m011-kb05-20240501-0001-b00", OBSTYPE="UNKNOWN")
    assert header["OBSTYPE"] == "BIAS"
    assert header["L1PUBDAT"] == IN_A_YEAR


def test_a_null_public_date_stays_for_the_validation_to_name():
    # "N/A" is a value when the public date is decided, and only afterwards blanked (ocs_archive's order).
    assert clean(L1PUBDAT="N/A")["L1PUBDAT"] == ""


# --- footprint ------------------------------------------------------------------------------------------------------


def header_of(path) -> dict:
    return read(path)


def separation(a, b) -> float:
    return SkyCoord(a[0] * u.deg, a[1] * u.deg).separation(SkyCoord(b[0] * u.deg, b[1] * u.deg)).deg


def winding(vertices) -> float:
    """The sum of longitude steps around the ring: ±360 when it goes round a pole, 0 otherwise."""
    lons = [lon for lon, _ in vertices]
    return sum((b - a + 180) % 360 - 180 for a, b in zip(lons, lons[1:] + lons[:1], strict=True))


def test_a_tan_footprint_is_the_outer_corners_and_edge_midpoints_in_boundary_order(tmp_path):
    header = header_of(make_fits(tmp_path / "a.fits.fz", ra=186.265, dec=12.887, scale_deg=0.001))
    vertices = footprints.footprint_vertices(header)
    assert len(vertices) == 8
    wcs = WCS(fits.Header({k: v for k, v in header.items() if k.startswith(("C", "N"))}))
    pixels = [(0.5, 0.5), (32.5, 0.5), (64.5, 0.5), (64.5, 32.5), (64.5, 64.5), (32.5, 64.5), (0.5, 64.5), (0.5, 32.5)]
    for (lon, lat), (x, y) in zip(vertices, pixels, strict=True):
        ra, dec = wcs.all_pix2world(x, y, 1)
        assert lon == pytest.approx(float(ra) - 360)
        assert lat == pytest.approx(float(dec))
    # 64 pixels of 0.001 degrees: the corners are 0.032 * sqrt(2) degrees from the centre
    for lon, lat in vertices[::2]:
        assert separation((lon, lat), (186.265, 12.887)) == pytest.approx(0.032 * math.sqrt(2), rel=1e-3)
    assert winding(vertices) == pytest.approx(0)


def test_the_ingest_area_is_a_closed_polygon_with_ra_in_0_360(tmp_path):
    area = footprints.footprint(header_of(make_fits(tmp_path / "a.fits.fz", ra=186.265, dec=12.887)))
    ring = area["coordinates"][0]
    assert area["type"] == "Polygon"
    assert len(ring) == 9 and ring[0] == ring[-1]
    assert all(186.2 < ra < 186.3 for ra, _ in ring)


def test_a_field_across_ra_zero_has_longitudes_on_both_sides_of_zero(tmp_path):
    header = header_of(make_fits(tmp_path / "a.fits.fz", ra=0.01, dec=-30.0))
    vertices = footprints.footprint_vertices(header)
    lons = sorted(lon for lon, _ in vertices)
    assert -0.03 < lons[0] < 0 < lons[-1] < 0.05
    assert all(-180 <= lon < 180 for lon in lons)
    ring = footprints.footprint(header)["coordinates"][0]
    assert {ra > 359 for ra, _ in ring} == {True, False}  # RA in [0, 360) for the body
    assert all(0 <= ra < 360 for ra, _ in ring)


def test_a_field_containing_the_pole_keeps_boundary_order_around_it(tmp_path):
    header = header_of(make_fits(tmp_path / "a.fits.fz", ra=45.0, dec=89.99, scale_deg=0.001))
    vertices = footprints.footprint_vertices(header)
    assert abs(winding(vertices)) == pytest.approx(360)
    assert all(-180 <= lon < 180 for lon, _ in vertices)
    assert all(89.94 < lat < 90 for _, lat in vertices)


def test_a_field_near_but_off_the_pole_does_not_go_round_it(tmp_path):
    header = header_of(make_fits(tmp_path / "a.fits.fz", ra=45.0, dec=89.9, scale_deg=0.001))
    assert winding(footprints.footprint_vertices(header)) == pytest.approx(0)


def test_sip_distortion_is_honoured(tmp_path):
    sip = {"CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP", "A_ORDER": 2, "B_ORDER": 2, "A_2_0": 1e-3, "B_0_2": 1e-3}
    plain = footprints.footprint_vertices(header_of(make_fits(tmp_path / "plain.fits.fz")))
    header = header_of(make_fits(tmp_path / "sip.fits.fz", extra=sip))
    distorted = footprints.footprint_vertices(header)
    wcs = WCS(fits.Header({k: v for k, v in header.items() if k.startswith(("C", "N", "A_", "B_"))}))
    assert wcs.sip is not None
    ra, dec = wcs.all_pix2world(0.5, 0.5, 1)
    assert distorted[0] == pytest.approx((float(ra) - 360, float(dec)))
    assert separation(distorted[0], plain[0]) > 1e-4


def test_pc_cdelt_and_crota_describe_the_same_footprint_as_cd(tmp_path):
    cd = footprints.footprint_vertices(header_of(make_fits(tmp_path / "cd.fits.fz")))
    omit = ("CD1_1", "CD1_2", "CD2_1", "CD2_2")
    pc = header_of(make_fits(tmp_path / "pc.fits.fz", omit=omit, CDELT1=-0.001, CDELT2=0.001, PC1_1=1.0, PC2_2=1.0))
    crota = header_of(make_fits(tmp_path / "crota.fits.fz", omit=omit, CDELT1=-0.001, CDELT2=0.001, CROTA2=0.0))
    flat = [value for vertex in cd for value in vertex]
    assert [value for vertex in footprints.footprint_vertices(pc) for value in vertex] == pytest.approx(flat)
    assert [value for vertex in footprints.footprint_vertices(crota) for value in vertex] == pytest.approx(flat)


def test_no_celestial_wcs_or_a_cube_gives_no_footprint(tmp_path):
    assert footprints.footprint(header_of(make_fits(tmp_path / "none.fits.fz", wcs=False))) is None
    assert footprints.footprint({**header_of(make_fits(tmp_path / "cube.fits.fz")), "NAXIS3": 3}) is None
    linear = {**header_of(make_fits(tmp_path / "lin.fits.fz")), "CTYPE1": "LINEAR", "CTYPE2": "LINEAR"}
    assert footprints.footprint(linear) is None


def test_a_broken_wcs_gives_no_footprint_and_is_logged(tmp_path, caplog):
    header = {**header_of(make_fits(tmp_path / "a.fits.fz")), "CD1_1": 0.0, "CD2_2": 0.0}  # a singular matrix
    with caplog.at_level(logging.WARNING, logger="frames.fitsmeta"):
        assert footprints.footprint(header, name="broken") is None
    assert "No footprint for broken" in caplog.text


@pytest.mark.parametrize(("ra", "dec"), [("12:25:03.6", "+12:53:13"), (12.417666666666667, 12.886944444444444)])
def test_radius_ra_dec_give_a_circle_on_the_sphere(ra, dec):
    header = raw_header(RADIUS=600.0, RA=ra, DEC=dec, NAXIS1=64, NAXIS2=64, CTYPE1="RA---TAN")
    vertices = footprints.footprint_vertices(header)
    assert len(vertices) == footprints.CIRCLE_VERTICES
    centre = (186.265, 12.886944444444444)
    for vertex in vertices:
        assert separation(vertex, centre) == pytest.approx(600 / 3600, rel=1e-6)
    assert winding(vertices) == pytest.approx(0)
    # wider in RA than in Dec by 1 / cos(Dec): the ingester's box had no cos Dec
    lons = [lon + 360 for lon, _ in vertices]
    assert (max(lons) - min(lons)) / 2 == pytest.approx(600 / 3600 / math.cos(math.radians(12.887)), rel=1e-3)


def test_a_circle_around_the_south_pole_goes_round_it():
    vertices = footprints.footprint_vertices(raw_header(RADIUS=7200, RA="03:00:00", DEC=-89.5))
    assert abs(winding(vertices)) == pytest.approx(360)
    assert all(lat < -87 for _, lat in vertices)


@pytest.mark.parametrize(
    ("ra", "longitude"), [(180.0, 180.0), (180.0001, -179.9999), (359.9, -0.1), (0.0, 0.0), (-0.1, -0.1)]
)
def test_ra_becomes_the_stored_longitude_the_same_way_everywhere(ra, longitude):
    """RA over 180 less 360, so RA 180 stays 180: in stored footprints, and in those read from a file's WCS."""
    assert normalise_longitude(ra) == pytest.approx(longitude, abs=1e-9)
    ring = [[ra, 0.0], [ra + 0.01, 0.0], [ra + 0.01, 0.01], [ra, 0.01], [ra, 0.0]]
    stored = footprint_geometry({"type": "Polygon", "coordinates": [ring]})
    assert stored.coords[0][0] == pytest.approx((longitude, 0.0), abs=1e-9)
    # A WCS whose reference point is the image's first corner: that vertex is (ra, 0) itself.
    wcs = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 0.5, "CRPIX2": 0.5, "CRVAL1": ra, "CRVAL2": 0.0}
    scale = {"CD1_1": -0.001, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 0.001}
    vertices = footprints.footprint_vertices(raw_header(NAXIS1=64, NAXIS2=64, **wcs, **scale))
    assert vertices[0] == pytest.approx((longitude, 0.0), abs=1e-9)


def test_unreadable_circle_values_give_no_footprint():
    assert footprints.footprint(raw_header(RADIUS=600.0, RA="not an angle", DEC=12.0)) is None
    assert footprints.footprint(raw_header(RADIUS=-5, RA=1.0, DEC=12.0)) is None
    assert footprints.footprint(raw_header(RADIUS="", RA=1.0, DEC=12.0)) is None


# --- the ingest body ------------------------------------------------------------------------------------------------


def test_the_ingest_body_maps_keywords_to_fields(tmp_path):
    header = clean(
        OBJECT="M84",
        FILTER="V",
        EXPTIME=10.5,
        REQNUM=296263,
        RLEVEL=91,
        L1IDBIAS="bias.fits.fz",
        **{"DAY-OBS": 20240430},
    )
    body = fitsmeta.ingest_body(header, basename=LCO_NAME)
    assert body == {
        "basename": LCO_NAME,
        "version_set": [],
        "headers": header,
        "observation_date": "2024-05-01T10:00:00.261",
        "observation_day": "20240430",
        "reduction_level": 91,
        "proposal_id": "LCO2024A-001",
        "instrument_id": "kb05",
        "target_name": "M84",
        "site_id": "coj",
        "telescope_id": "1m0a",
        "exposure_time": 10.5,
        "primary_optical_element": "V",
        "public_date": IN_A_YEAR,
        "configuration_type": "EXPOSE",
        "observation_id": 53195954,
        "request_id": 296263,
        "related_frame_filenames": ["bias"],
        "area": None,
    }


def test_missing_optional_keywords_take_the_ingesters_defaults():
    header = fitsmeta.clean_header(raw_header(), basename="frame", extension=".fits")
    body = fitsmeta.ingest_body(header, basename="frame")
    assert (body["target_name"], body["primary_optical_element"], body["exposure_time"], body["request_id"]) == (
        "",
        "",
        None,
        None,
    )
    assert body["reduction_level"] == 0


def test_rules_come_from_settings(settings):
    settings.DAYS_UNTIL_PUBLIC = 7
    settings.PRIVATE_FILE_TYPES = ["-q00"]
    rules = Rules.from_settings(settings)
    assert rules.days_until_public == 7
    assert rules.private_file_types == ("-q00",)
    assert Rules.from_settings(settings).required_headers == RULES.required_headers


def test_dates_are_parsed_without_a_zone_as_written():
    assert fitsmeta.parse_date_obs("2024-05-01T10:00:00.261") == datetime.datetime(2024, 5, 1, 10, 0, 0, 261000)
    assert fitsmeta.parse_date_obs(20240501) is None
