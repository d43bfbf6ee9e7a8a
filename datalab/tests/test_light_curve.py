"""Light Curve and Variable Star over synthetic catalogued frames: magnitudes, mid-exposure times, exclusions, the
instrumental fallback, the match radius, WCS positions, the period search and its bounded grid, errors, progress."""

import datetime
import json
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time
from astropy.timeseries import LombScargle

from datalab.operations.base import InputError, OperationError
from datalab.operations.light_curve import (
    NO_CATALOG,
    NO_PHOTOMETRY,
    NO_SKY_POSITIONS,
    NO_TIME,
    NON_FINITE,
    NOT_CALIBRATED,
    LightCurve,
)
from datalab.operations.variable_star import MAX_FREQUENCIES, VariableStar, frequency_grid, periodogram
from datalab.tests.catalog_frames import MJD_TO_JD, TARGET_DEC, TARGET_RA, Star, field_stars, offset, write_frame
from datalab.tests.opcontext import LocalFile, run_operation

SOURCE = {"ra": TARGET_RA, "dec": TARGET_DEC, "name": "V* Test"}
PERIOD_DAYS = 2.37
AMPLITUDE_MAG = 0.3
MEAN_MAG = 14.5
EXPTIME = 120.0
FRAMES = 40


def injected_mag(mjd_mid: float) -> float:
    return MEAN_MAG + AMPLITUDE_MAG * math.sin(2 * math.pi * mjd_mid / PERIOD_DAYS)


@pytest.fixture(scope="module")
def variable_frames(tmp_path_factory):
    """Forty frames at random times over thirty nights of a sinusoidal variable among constant stars, with the
    injected magnitude (plus up to 4 mmag of noise) in each catalogue; returns the files and their mid-exposure
    MJDs, in a shuffled order."""
    directory = tmp_path_factory.mktemp("variable")
    rng = np.random.default_rng(7)
    nights = np.sort(rng.choice(30, size=FRAMES))
    mid_mjds = 60000.0 + nights + rng.uniform(0.05, 0.35, size=FRAMES)
    files = []
    for number, mid in enumerate(mid_mjds):
        mag = injected_mag(mid) + rng.uniform(-0.004, 0.004)
        stars = [Star(TARGET_RA, TARGET_DEC, mag), *field_stars()]
        start = mid - EXPTIME / 2 / 86400
        path = write_frame(directory / f"frame{number:02d}.fits", stars, mjd_obs=start, exptime=EXPTIME)
        files.append((LocalFile(path, filter="rp"), float(mid)))
    order = rng.permutation(FRAMES)
    return [files[i] for i in order]


def run(operation, tmp_path, files, source=SOURCE):
    return run_operation(operation, tmp_path, {"input_files": files}, source=dict(source))


def only_data(ctx) -> dict:
    assert len(ctx.data) == 1
    data = ctx.data[0]
    json.dumps(data, allow_nan=False)  # NaN or numpy scalars would break the API's JSON
    return data


def frame(tmp_path, name, stars, **options) -> LocalFile:
    observation_date = options.pop("observation_date", None)
    return LocalFile(write_frame(tmp_path / f"{name}.fits", stars, **options), observation_date=observation_date)


def target(mag=MEAN_MAG, *, east=0.0, north=0.0, magerr=0.01) -> Star:
    return Star(*offset(east_arcsec=east, north_arcsec=north), mag=mag, magerr=magerr)


# --- Declared inputs and submission checks


def test_wizard_descriptions():
    light = LightCurve.wizard_description()
    assert (LightCurve.name, LightCurve.menu_order, VariableStar.name, VariableStar.menu_order) == (
        "Light Curve",
        60,
        "Variable Star",
        70,
    )
    assert list(light["inputs"]) == ["source", "input_files"]
    assert light["inputs"]["source"]["type"] == "source"
    assert light["inputs"]["source"]["name_lookup"] is True
    files = light["inputs"]["input_files"]
    assert files["type"] == "fits"
    assert (files["minimum"], files["maximum"]) == (1, 999)
    assert files["single_filter"] is True
    assert files["filter_options"] == ["rp", "ip", "gp", "zs"]
    assert VariableStar.wizard_description()["inputs"]["input_files"]["minimum"] == 8
    assert LightCurve.archive_only_inputs == VariableStar.archive_only_inputs == ("input_files",)


@pytest.mark.parametrize("operation", [LightCurve, VariableStar])
def test_validate_needs_one_allowed_filter(operation, tmp_path):
    items = [{"basename": "a", "filter": "rp"}, {"basename": "b", "filter": "ip"}, {"basename": "c", "filter": "rp"}]
    with pytest.raises(InputError) as raised:
        operation.validate({}, {"input_files": items})
    assert raised.value.message == f"{operation.name} needs one filter for all input files, but got ip, rp."
    assert raised.value.field == "input_files"

    with pytest.raises(InputError) as raised:
        operation.validate({}, {"input_files": [{"basename": "a", "filter": "rp"}, {"basename": "b", "filter": "V"}]})
    assert raised.value.message == f"{operation.name} takes frames in rp, ip, gp, zs only, but b has filter V."

    with pytest.raises(InputError, match="but a has no filter"):
        operation.validate({}, {"input_files": [{"basename": "a", "filter": ""}]})

    # Resolved inputs (objects) and stored items (dicts) alike.
    path = tmp_path / "x.fits"
    operation.validate({}, {"input_files": [LocalFile(path, filter="gp"), {"basename": "y", "filter": "gp"}]})


# --- Light Curve


def test_light_curve_recovers_the_injected_magnitudes_at_mid_exposure(variable_frames, tmp_path):
    ctx = run(LightCurve, tmp_path, [file for file, _ in variable_frames])
    data = only_data(ctx)
    assert set(data) == {
        "target_coords",
        "source",
        "filter",
        "flux_fallback",
        "light_curve",
        "excluded_images",
        "excluded_reasons",
    }
    assert data["target_coords"] == data["source"] == SOURCE
    assert data["filter"] == "rp"
    assert data["flux_fallback"] is False
    assert data["excluded_images"] == [] and data["excluded_reasons"] == {}

    rows = data["light_curve"]
    assert len(rows) == FRAMES
    mid_by_basename = {file.basename: mid for file, mid in variable_frames}
    assert [row["julian_date"] for row in rows] == sorted(row["julian_date"] for row in rows)
    for row in rows:
        assert set(row) == {"basename", "observation_date", "julian_date", "mag", "magerr"}
        mid = mid_by_basename[row["basename"]]
        assert row["julian_date"] == pytest.approx(mid + MJD_TO_JD, abs=1e-6)  # 0.1 s
        assert row["mag"] == pytest.approx(injected_mag(mid), abs=0.01)
        assert row["magerr"] == pytest.approx(0.01)
        assert row["observation_date"].endswith("Z")
        stamp = datetime.datetime.fromisoformat(row["observation_date"])
        assert stamp.tzinfo == datetime.UTC
        assert Time(stamp).mjd == pytest.approx(mid, abs=1e-6)

    fractions = [fraction for fraction, _ in ctx.progress_log]
    assert fractions[:-1] == pytest.approx([0.95 * i / FRAMES for i in range(1, FRAMES + 1)])
    assert ctx.progress_log[0][1] == f"Measuring frame 1 of {FRAMES}"
    assert fractions[-1] == 1.0


def test_mid_exposure_from_mjd_obs_date_obs_or_the_archive(tmp_path):
    archive_date = datetime.datetime(2023, 2, 25, 6, tzinfo=datetime.UTC)
    elsewhere = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)  # the header wins over the archive's date
    files = [
        frame(tmp_path, "mjd", [target()], mjd_obs=60000.25, exptime=120.0, observation_date=elsewhere),
        frame(tmp_path, "date", [target()], mjd_obs=None, date_obs="2023-02-26T06:00:00.000", exptime=120.0),
        frame(tmp_path, "noexp", [target()], mjd_obs=60002.25, exptime=None),
        frame(tmp_path, "archive", [target()], mjd_obs=None, observation_date=archive_date.replace(day=28)),
    ]
    rows = {row["basename"]: row for row in only_data(run(LightCurve, tmp_path, files))["light_curve"]}
    assert rows["mjd"]["julian_date"] == pytest.approx(2460000.75 + 60 / 86400, abs=1e-7)
    assert rows["mjd"]["observation_date"] == "2023-02-25T06:01:00.000Z"
    assert rows["date"]["julian_date"] == pytest.approx(2460001.75 + 60 / 86400, abs=1e-7)
    assert rows["date"]["observation_date"] == "2023-02-26T06:01:00.000Z"
    assert rows["noexp"]["julian_date"] == pytest.approx(2460002.75, abs=1e-7)
    assert rows["archive"]["julian_date"] == pytest.approx(2460003.75, abs=1e-7)
    assert rows["archive"]["observation_date"] == "2023-02-28T06:00:00.000Z"


def test_exclusions_with_reasons(tmp_path):
    (tmp_path / "corrupt.fits").write_bytes(b"not a FITS file at all" * 200)
    files = [
        frame(tmp_path, "good", [target(14.0), *field_stars()], mjd_obs=60001.0),
        frame(tmp_path, "nocat", [target()], with_cat=False),
        frame(tmp_path, "nomatch", [target(north=10.0), *field_stars()]),
        frame(tmp_path, "nanmag", [target(math.nan)]),
        frame(tmp_path, "uncalibrated", [target()], with_mag=False),
        frame(tmp_path, "notime", [target()], mjd_obs=None),
        frame(tmp_path, "good2", [target(14.2)], mjd_obs=60000.0),
        LocalFile(tmp_path / "corrupt.fits"),
    ]
    data = only_data(run(LightCurve, tmp_path, files))
    assert [row["basename"] for row in data["light_curve"]] == ["good2", "good"]
    assert [row["mag"] for row in data["light_curve"]] == [14.2, 14.0]
    assert data["flux_fallback"] is False
    assert data["excluded_images"] == ["nocat", "nomatch", "nanmag", "uncalibrated", "notime", "corrupt"]
    reasons = data["excluded_reasons"]
    assert reasons["nocat"] == NO_CATALOG
    assert reasons["nomatch"] == (
        "No catalogue source within 4.0 arcsec of the target (the nearest is 10.0 arcsec away)."
    )
    assert reasons["nanmag"] == NON_FINITE
    assert reasons["uncalibrated"] == NOT_CALIBRATED
    assert reasons["notime"] == NO_TIME
    assert reasons["corrupt"].startswith("The file could not be read")


def test_instrumental_magnitudes_only_when_no_frame_is_calibrated(tmp_path):
    files = [
        frame(tmp_path, "a", [target(14.0, magerr=0.02), *field_stars()], with_mag=False, mjd_obs=60000.0),
        frame(tmp_path, "b", [target(15.0, magerr=0.05)], with_mag=False, mjd_obs=60001.0),
        frame(tmp_path, "noflux", [target(math.nan)], with_mag=False, mjd_obs=60002.0),
    ]
    data = only_data(run(LightCurve, tmp_path, files))
    assert data["flux_fallback"] is True
    rows = data["light_curve"]
    # The frames' zero point is 25: the instrumental magnitude is the calibrated one minus 25.
    assert [row["mag"] for row in rows] == pytest.approx([-11.0, -10.0])
    assert [row["magerr"] for row in rows] == pytest.approx([0.02, 0.05])
    assert data["excluded_reasons"] == {"noflux": NON_FINITE}

    # One calibrated frame is enough to exclude the uncalibrated ones rather than mix zero points.
    files.append(frame(tmp_path, "calibrated", [target(14.5)], mjd_obs=60003.0))
    data = only_data(run(LightCurve, tmp_path, files))
    assert data["flux_fallback"] is False
    assert [row["basename"] for row in data["light_curve"]] == ["calibrated"]
    assert data["excluded_reasons"] == {"a": NOT_CALIBRATED, "b": NOT_CALIBRATED, "noflux": NOT_CALIBRATED}


@pytest.mark.parametrize("with_radec", [True, False], ids=["catalogue-radec", "wcs"])
def test_match_radius_boundary_and_nearest_source(tmp_path, with_radec):
    files = [
        frame(tmp_path, "inside", [target(14.0, north=3.9), target(11.0, north=-8)], with_radec=with_radec),
        frame(tmp_path, "outside", [target(14.0, north=4.1), target(11.0, north=-8)], with_radec=with_radec),
        frame(
            tmp_path,
            "nearest",
            # A row without a position (NaN) is never the match.
            [target(13.0, east=2.0), Star(math.nan, math.nan, 10.0), target(12.0, east=-1.0)],
            with_radec=with_radec,
        ),
    ]
    data = only_data(run(LightCurve, tmp_path, files))
    mags = {row["basename"]: row["mag"] for row in data["light_curve"]}
    assert mags == {"inside": 14.0, "nearest": 12.0}
    assert data["excluded_reasons"] == {
        "outside": "No catalogue source within 4.0 arcsec of the target (the nearest is 4.1 arcsec away)."
    }


def test_catalogue_without_radec_uses_the_wcs_of_the_science_header(tmp_path):
    # The image in the primary HDU (no SCI extension): its header carries the WCS.
    primary = frame(tmp_path, "primary", [target(13.5, east=-2.5)], with_radec=False, primary_image=True)
    nowcs = frame(tmp_path, "nowcs", [target(13.5)], with_radec=False)
    with fits.open(nowcs.path, mode="update") as hdul:
        for key in ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2"):
            del hdul["SCI"].header[key]
    data = only_data(run(LightCurve, tmp_path, [primary, nowcs]))
    assert [row["mag"] for row in data["light_curve"]] == [13.5]
    assert data["excluded_reasons"] == {"nowcs": NO_SKY_POSITIONS}


def test_no_photometry_is_an_operation_error(tmp_path):
    files = [frame(tmp_path, "far", [target(north=30.0)]), frame(tmp_path, "nocat", [target()], with_cat=False)]
    with pytest.raises(OperationError) as raised:
        run(LightCurve, tmp_path, files)
    assert str(raised.value) == NO_PHOTOMETRY


# --- Variable Star


def test_variable_star_recovers_the_period(variable_frames, tmp_path):
    ctx = run(VariableStar, tmp_path, [file for file, _ in variable_frames])
    data = only_data(ctx)
    assert set(data) == {
        "target_coords",
        "source",
        "filter",
        "flux_fallback",
        "light_curve",
        "excluded_images",
        "excluded_reasons",
        "period",
        "fap",
        "frequency",
        "power",
        "period_candidates",
    }
    assert len(data["light_curve"]) == FRAMES
    assert data["period"] == pytest.approx(PERIOD_DAYS, rel=0.01)
    assert data["fap"] < 1e-6
    assert len(data["frequency"]) == len(data["power"]) > 100
    assert data["frequency"] == sorted(data["frequency"])
    assert max(data["power"]) == pytest.approx(data["period_candidates"][0]["power"])

    peak, double = data["period_candidates"]
    assert set(peak) == set(double) == {"kind", "period", "power", "false_alarm_probability", "description"}
    assert (peak["kind"], double["kind"]) == ("peak", "double")
    assert peak["period"] == data["period"] and peak["false_alarm_probability"] == data["fap"]
    assert double["period"] == pytest.approx(2 * data["period"])
    assert double["power"] < peak["power"]
    assert 0 <= double["false_alarm_probability"] <= 1

    fractions = [fraction for fraction, _ in ctx.progress_log]
    assert fractions[FRAMES - 1] == pytest.approx(0.8)
    assert fractions[FRAMES:] == [0.8, 0.95, 1.0]


def test_frequency_grid_is_astropys_capped_at_ten_thousand():
    rng = np.random.default_rng(3)
    small_times = np.sort(rng.uniform(0, 30, 40))
    small = LombScargle(small_times, rng.normal(size=40), 0.1)
    np.testing.assert_array_equal(frequency_grid(small), small.autofrequency())

    times = np.sort(rng.uniform(0, 1000, 2000))
    mags = MEAN_MAG + AMPLITUDE_MAG * np.sin(2 * np.pi * times / PERIOD_DAYS)
    search = LombScargle(times, mags, 0.01)
    automatic = search.autofrequency()
    assert len(automatic) > MAX_FREQUENCIES
    grid = frequency_grid(search)
    assert len(grid) == MAX_FREQUENCIES
    assert (grid[0], grid[-1]) == (automatic[0], automatic[-1])
    assert np.allclose(np.diff(grid), np.diff(grid)[0])

    result = periodogram(times, mags, np.full_like(times, 0.01))
    assert len(result.frequency) == len(result.power) == MAX_FREQUENCIES
    assert result.period == pytest.approx(PERIOD_DAYS, rel=0.01)


def test_too_few_points_suggests_a_longer_date_range(tmp_path):
    files = [frame(tmp_path, f"f{i}", [target(14.0 + 0.1 * i)], mjd_obs=60000.0 + i) for i in range(7)]
    files.append(frame(tmp_path, "far", [target(north=20.0)]))
    files.append(frame(tmp_path, "zeroerr", [target(magerr=0.0)], mjd_obs=60010.0))
    with pytest.raises(OperationError) as raised:
        run(VariableStar, tmp_path, files)
    assert str(raised.value) == (
        "Variable Star needs at least 8 frames with a measured magnitude, but only 7 have one. "
        "Choose a longer date range to include more frames."
    )


def test_failed_period_search_names_the_reason(tmp_path, monkeypatch):
    same_time = [frame(tmp_path, f"s{i}", [target(14.0 + 0.1 * i)], mjd_obs=60000.0) for i in range(8)]
    with pytest.raises(OperationError) as raised:
        run(VariableStar, tmp_path, same_time)
    assert str(raised.value) == "Period search failed: the frames span no time"

    spread = [frame(tmp_path, f"t{i}", [target(14.0 + 0.1 * i)], mjd_obs=60000.0 + i) for i in range(8)]

    def broken(self, frequency, **kwargs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(LombScargle, "power", broken)
    with pytest.raises(OperationError) as raised:
        run(VariableStar, tmp_path, spread)
    assert str(raised.value) == "Period search failed: Singular matrix"
