"""Aperture Photometry over synthetic frames of stars of known flux: calibrated magnitudes against the catalogue's
comparison stars, uncertainties, mid-exposure times, per-file diagnostics, the period fields, and the bad inputs
that fail with a message saying what to change."""

import json
import math

import pytest
from astropy.time import Time, TimeDelta

from datalab.operations.aperture_photometry import VALIDATION_HEADER, VALIDATION_ROW, AperturePhotometry
from datalab.operations.base import InputError, OperationError, get_operation
from datalab.operations.inputs import check_input_data
from datalab.tests.opcontext import LocalFile, run_operation
from datalab.tests.synthetic import photometry_frame

RA, DEC = 150.0, 20.0
EXPTIME = 60.0
TARGET_MAG = 15.2


def write(path, *, band="rp", **options):
    """A frame of the target at (RA, DEC) among nine comparison stars (synthetic.photometry_frame)."""
    options.setdefault("target_mag", TARGET_MAG)
    return LocalFile(photometry_frame(path, band=band, exptime=EXPTIME, **options), filter=band)


def run(tmp_path, files, **params):
    params.setdefault("source", {"ra": RA, "dec": DEC, "name": "Target"})
    return run_operation(AperturePhotometry, tmp_path, {"input_files": files}, **params)


def test_registered_with_its_wizard_inputs():
    assert get_operation("Aperture Photometry") is AperturePhotometry
    inputs = AperturePhotometry.wizard_description()["inputs"]
    assert list(inputs) == [
        "source",
        "input_files",
        "aperture_radius",
        "annulus_inner_radius",
        "annulus_outer_radius",
        "min_comparisons",
        "max_comparisons",
    ]
    defaults = {key: inputs[key].get("default") for key in inputs}
    assert defaults["aperture_radius"] == 7.64
    assert (defaults["annulus_inner_radius"], defaults["annulus_outer_radius"]) == (12.73, 19.10)
    assert (defaults["min_comparisons"], defaults["max_comparisons"]) == (5, 10)
    assert inputs["input_files"]["single_filter"] is True


def test_recovers_calibrated_magnitudes(tmp_path):
    """Three frames through changing transparency (zero points 28.0, 27.6, 28.3) of a target varying by 0.3 mag:
    each calibrated magnitude within 0.02 mag of the truth, with a small honest uncertainty."""
    truth = {"a": (28.0, 15.2, "2024-03-01T02:00:00.000"), "b": (27.6, 15.5, "2024-03-02T02:00:00.000")}
    truth["c"] = (28.3, 14.9, "2024-03-01T05:00:00.000")
    files = [
        write(tmp_path / f"{name}.fits", zero_point=zp, target_mag=mag, date_obs=date, seed=number)
        for number, (name, (zp, mag, date)) in enumerate(truth.items())
    ]
    ctx = run(tmp_path, files)
    assert len(ctx.data) == 1
    data = ctx.data[0]
    json.dumps(data, allow_nan=False)
    rows = data["light_curve"]
    assert [row["fits_path"] for row in rows] == ["a", "c", "b"]  # by mid-exposure time
    for row in rows:
        zero_point, mag, date = truth[row["fits_path"]]
        assert row["target_calibrated_apparent_magnitude"] == pytest.approx(mag, abs=0.02)
        assert 0 < row["target_calibrated_apparent_magnitude_uncertainty"] < 0.02
        assert row["zero_point"] == pytest.approx(zero_point, abs=0.02)
        assert row["comparison_stars"] == 9
        mid = Time(date, scale="utc") + TimeDelta(EXPTIME / 2, format="sec")
        assert row["date_obs"] == mid.isot + "Z"
        assert row["julian_date"] == pytest.approx(mid.jd, abs=1e-9)
        # The target sits at the frame's centre: pixel 149.5 0-based, 150 in edge coordinates.
        assert row["target_centroid_x"] == pytest.approx(150.0, abs=0.05)
        assert row["target_centroid_y"] == pytest.approx(150.0, abs=0.05)
        flux = 10 ** (-0.4 * (mag - zero_point))
        assert row["target_net_source_counts"] == pytest.approx(flux, rel=0.01)
        assert row["target_differential_flux"] == pytest.approx(
            row["target_net_source_counts"] / row["comparison_ensemble_total_counts"]
        )

    assert data["excluded_images"] == [] and data["excluded_reasons"] == {}
    assert data["filter"] == "rp"
    assert set(data["diagnostics"]) == {"a", "b", "c"}
    notes = data["diagnostics"]["a"]
    assert VALIDATION_HEADER in notes
    validation = [note for note in notes if note.startswith(VALIDATION_ROW)]
    assert len(validation) == 9
    for note in validation:
        fields = [part.strip() for part in note.removeprefix(VALIDATION_ROW).split("|")]
        assert len(fields) == 7
        flux, catalog_flux, mag, catalog_mag = (float(value) for value in fields[3:])
        assert mag == pytest.approx(catalog_mag, abs=0.02)
        assert flux == pytest.approx(catalog_flux, rel=0.02)
    assert data["pipeline_diagnostics"][0].startswith("Measured 3 of 3 frame(s)")
    # Too few frames for a period: the fields are there, empty, and the reason is noted.
    assert data["period"] is None and data["period_candidates"] == []
    assert any("No period search" in note for note in data["pipeline_diagnostics"])
    fractions = [fraction for fraction, _ in ctx.progress_log]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_frames_without_enough_comparisons_or_the_target_are_excluded_with_reasons(tmp_path):
    good = write(tmp_path / "good.fits")
    sparse = write(tmp_path / "sparse.fits", comparisons=3, seed=2)
    elsewhere = write(tmp_path / "elsewhere.fits", centre=(RA + 1.0, DEC), seed=3)
    data = run(tmp_path, [good, sparse, elsewhere]).data[0]
    assert [row["fits_path"] for row in data["light_curve"]] == ["good"]
    assert data["excluded_images"] == ["sparse", "elsewhere"]
    assert data["excluded_reasons"]["sparse"] == "Only 3 usable comparison star(s) in the frame; at least 5 are needed."
    assert data["excluded_reasons"]["elsewhere"] == "The target's aperture does not lie inside the frame."
    assert data["diagnostics"]["sparse"][-1] == data["excluded_reasons"]["sparse"]
    # max_comparisons caps the ensemble at the brightest ones.
    capped = run(tmp_path, [good], max_comparisons=6).data[0]["light_curve"][0]
    assert capped["comparison_stars"] == 6
    assert capped["target_calibrated_apparent_magnitude"] == pytest.approx(TARGET_MAG, abs=0.02)


def test_target_outside_every_frame_fails_with_advice(tmp_path):
    files = [write(tmp_path / "a.fits"), write(tmp_path / "b.fits", seed=1)]
    with pytest.raises(OperationError) as raised:
        run(tmp_path, files, source={"ra": 10.0, "dec": -30.0})
    assert str(raised.value) == (
        "The target (RA 10.00000, Dec -30.00000) is outside every frame, or too near an edge for the aperture: "
        "check its coordinates, or choose frames that cover it."
    )


def test_too_few_comparison_stars_fails_with_advice(tmp_path):
    files = [write(tmp_path / "a.fits", comparisons=3), write(tmp_path / "b.fits", comparisons=4, seed=1)]
    with pytest.raises(OperationError) as raised:
        run(tmp_path, files)
    assert str(raised.value) == (
        "Too few comparison stars: no frame had more than 4 usable. Lower min_comparisons, use a smaller sky annulus, "
        "or choose frames with more catalogued stars around the target."
    )
    # Lowering min_comparisons as advised measures them.
    data = run(tmp_path, files, min_comparisons=3).data[0]
    assert len(data["light_curve"]) == 2


def test_submission_checks():
    items = [{"basename": "a", "filter": "rp"}, {"basename": "b", "filter": "ip"}]
    params = {"aperture_radius": 7.64, "annulus_inner_radius": 12.73, "annulus_outer_radius": 19.1}
    params |= {"min_comparisons": 5, "max_comparisons": 10}
    with pytest.raises(InputError, match="needs one filter for all input files, but got ip, rp"):
        AperturePhotometry.validate(params, {"input_files": items})
    one_filter = {"input_files": items[:1]}
    with pytest.raises(InputError, match="The radii must grow outwards"):
        AperturePhotometry.validate({**params, "annulus_inner_radius": 5.0}, one_filter)
    with pytest.raises(InputError, match=r"min_comparisons \(11\) may not exceed max_comparisons \(10\)"):
        AperturePhotometry.validate({**params, "min_comparisons": 11}, one_filter)
    AperturePhotometry.validate(params, one_filter)


def test_target_positions_is_another_spelling_of_source():
    files = [{"basename": "a", "source": "archive"}]
    checked, _ = check_input_data(
        AperturePhotometry, {"input_files": files, "target_positions": [{"ra": 10.5, "dec": -3.25}]}
    )
    assert checked["source"] == {"ra": 10.5, "dec": -3.25}
    assert "target_positions" not in checked
    assert checked["aperture_radius"] == 7.64 and checked["max_comparisons"] == 10
    checked, _ = check_input_data(AperturePhotometry, {"input_files": files, "target_positions": {"ra": 1, "dec": 2}})
    assert checked["source"] == {"ra": 1, "dec": 2}
    with pytest.raises(InputError, match="one fixed target"):
        check_input_data(AperturePhotometry, {"input_files": files, "target_positions": [{"ra": 1, "dec": 2}] * 2})
    with pytest.raises(InputError, match="needs 'source'"):
        check_input_data(AperturePhotometry, {"input_files": files})


def test_a_comparison_star_with_a_wrong_catalogue_magnitude_is_left_out(tmp_path):
    data = run(tmp_path, [write(tmp_path / "a.fits", wrong_catalog_mag=3)]).data[0]
    row = data["light_curve"][0]
    assert row["comparison_stars"] == 8
    assert row["target_calibrated_apparent_magnitude"] == pytest.approx(TARGET_MAG, abs=0.02)
    assert "CAT 4 was left out: its zero point is more than 3 sigma off the others'." in data["diagnostics"]["a"]


def test_period_fields_with_enough_frames(tmp_path):
    period = 0.7
    files = []
    for number in range(10):
        mjd_start = 60370.0 + number * 0.37
        date = Time(mjd_start, format="mjd", scale="utc").isot
        mid = mjd_start + EXPTIME / 2 / 86400
        mag = TARGET_MAG + 0.3 * math.sin(2 * math.pi * mid / period)
        files.append(write(tmp_path / f"f{number}.fits", target_mag=mag, date_obs=date, seed=number))
    data = run(tmp_path, files).data[0]
    json.dumps(data, allow_nan=False)
    assert len(data["light_curve"]) == 10
    assert [candidate["kind"] for candidate in data["period_candidates"]] == ["peak", "double"]
    assert data["period"] > 0 and 0 <= data["fap"] <= 1
    assert len(data["frequency"]) == len(data["power"]) > 0
