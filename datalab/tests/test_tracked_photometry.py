"""The rest of the Aperture Photometry family over synthetic frames: Non-Sidereal (the target's position from each
frame's CAT-RA/CAT-DEC), Moving Target (a linear track fitted to timed positions, searched around), the pull
distribution of the shared measurement's uncertainties, and the bad inputs that fail with advice."""

import json

import numpy as np
import pytest
from astropy.coordinates import Angle
from astropy.time import Time, TimeDelta

from datalab.operations.aperture_photometry import AperturePhotometry
from datalab.operations.base import InputError, OperationError, get_operation
from datalab.operations.inputs import check_input_data
from datalab.operations.moving_target_photometry import MovingTargetAperturePhotometry, Track
from datalab.operations.nonsidereal_photometry import NonSiderealAperturePhotometry
from datalab.tests.opcontext import LocalFile, run_operation
from datalab.tests.synthetic import offset_position, photometry_frame

CENTRE = (150.0, 20.0)
EXPTIME = 60.0
START = Time("2024-03-01T02:00:00", scale="utc")
# The target crosses the frame's empty middle from (-20, -15) px off its centre, 8 px (arcsec) west and 6 px north
# per frame (30 minutes): RA falls by 16 arcsec an hour on the sky, Dec grows by 12.
STEP_PX = (8.0, 6.0)
FRAMES = 6
TARGET_MAG = 14.5


def track_frames(tmp_path, *, target_mag=TARGET_MAG, header=False, count=FRAMES):
    """Frames 30 minutes apart of a target moving on a known linear track, (files, true (ra, dec) per frame)."""
    files, truth = [], []
    for number in range(count):
        start = START + TimeDelta(number * 1800, format="sec")
        dx, dy = -20 + STEP_PX[0] * number, -15 + STEP_PX[1] * number
        position = offset_position(CENTRE, dx, dy)
        extra = {}
        if header:
            extra = {
                "CAT-RA": Angle(position[0], "deg").to_string(unit="hourangle", sep=":", precision=4),
                "CAT-DEC": Angle(position[1], "deg").to_string(unit="deg", sep=":", precision=3, alwayssign=True),
            }
        path = photometry_frame(
            tmp_path / f"t{number}.fits",
            target=position,
            target_mag=target_mag,
            exptime=EXPTIME,
            date_obs=start.isot,
            seed=number,
            header_extra=extra,
        )
        files.append(LocalFile(path, filter="rp"))
        truth.append(position)
    return files, truth


def mid_mjd(number: int) -> float:
    return float((START + TimeDelta(number * 1800 + EXPTIME / 2, format="sec")).mjd)


def test_registered_in_the_menu_after_aperture_photometry():
    assert get_operation("Non-Sidereal Aperture Photometry") is NonSiderealAperturePhotometry
    assert get_operation("Moving Target Aperture Photometry") is MovingTargetAperturePhotometry
    orders = [op.menu_order for op in (AperturePhotometry, NonSiderealAperturePhotometry)]
    assert orders[0] < orders[1] < MovingTargetAperturePhotometry.menu_order
    moving = MovingTargetAperturePhotometry.wizard_description()["inputs"]
    assert list(moving)[:3] == ["target_positions", "track_search_radius", "input_files"]
    assert moving["track_search_radius"]["default"] == 10.0
    assert moving["aperture_radius"]["default"] == 7.64 and moving["max_comparisons"]["default"] == 10
    assert "source" not in NonSiderealAperturePhotometry.wizard_description()["inputs"]


def test_moving_target_found_on_its_track_in_every_frame(tmp_path):
    files, truth = track_frames(tmp_path)
    # Samples of the track at the first and last frames' mid-exposure, 2 arcsec off in Dec: the search finds it.
    samples = [
        {"ra": truth[0][0], "dec": truth[0][1] + 2 / 3600, "mjd": mid_mjd(0)},
        {"ra": truth[-1][0], "dec": truth[-1][1] + 2 / 3600, "mjd": mid_mjd(FRAMES - 1)},
    ]
    ctx = run_operation(MovingTargetAperturePhotometry, tmp_path, {"input_files": files}, target_positions=samples)
    data = ctx.data[0]
    json.dumps(data, allow_nan=False)
    rows = data["light_curve"]
    assert [row["fits_path"] for row in rows] == [f"t{n}" for n in range(FRAMES)]
    assert data["excluded_images"] == []
    for row, (ra, dec) in zip(rows, truth, strict=True):
        assert row["target_calibrated_apparent_magnitude"] == pytest.approx(TARGET_MAG, abs=0.02)
        assert row["target_calibrated_apparent_magnitude_uncertainty"] < 0.02
        # The centroid lands on the true position (1 arcsec pixels; the frame centre is edge coordinate 150).
        east_arcsec = (ra - CENTRE[0]) * 3600 * np.cos(np.radians(CENTRE[1]))
        assert row["target_centroid_x"] == pytest.approx(150 - east_arcsec, abs=0.1)
        assert row["target_centroid_y"] == pytest.approx(150 + (dec - CENTRE[1]) * 3600, abs=0.1)
    assert data["track"]["ra_rate_arcsec_per_hour"] == pytest.approx(-16.0, abs=0.05)
    assert data["track"]["dec_rate_arcsec_per_hour"] == pytest.approx(12.0, abs=0.05)


def test_moving_target_bad_inputs(tmp_path):
    items = [{"basename": "a", "source": "archive"}]
    with pytest.raises(InputError, match="needs at least 2 positions with ra, dec and mjd, not 1"):
        check_input_data(
            MovingTargetAperturePhotometry, {"input_files": items, "target_positions": [{"ra": 1, "dec": 2, "mjd": 3}]}
        )
    with pytest.raises(InputError, match=r"'target_positions\[2\].mjd' must be a number"):
        check_input_data(
            MovingTargetAperturePhotometry,
            {"input_files": items, "target_positions": [{"ra": 1, "dec": 2, "mjd": 3}, {"ra": 1, "dec": 2}]},
        )
    same_time = [{"ra": 1, "dec": 2, "mjd": 3}, {"ra": 1.1, "dec": 2, "mjd": 3}]
    params, files = check_input_data(
        MovingTargetAperturePhotometry, {"input_files": items, "target_positions": same_time}
    )
    assert params["track_search_radius"] == 10.0
    with pytest.raises(InputError, match="at least two different times"):
        MovingTargetAperturePhotometry.validate(params, {"input_files": [{"basename": "a", "filter": "rp"}]})
    mixed = [{"basename": "a", "filter": "rp"}, {"basename": "b", "filter": "gp"}]
    with pytest.raises(InputError, match="needs one filter for all input files, but got gp, rp"):
        MovingTargetAperturePhotometry.validate(params, {"input_files": mixed})
    # A track that never crosses the frames fails the run with advice.
    files, _ = track_frames(tmp_path, count=2)
    far = [{"ra": 10.0, "dec": -30.0, "mjd": mid_mjd(0)}, {"ra": 10.01, "dec": -30.0, "mjd": mid_mjd(1)}]
    with pytest.raises(OperationError, match="The track fitted to target_positions passes outside every frame"):
        run_operation(MovingTargetAperturePhotometry, tmp_path, {"input_files": files}, target_positions=far)


def test_track_fit_across_ra_zero():
    track = Track.fit([{"ra": 359.99, "dec": 0.0, "mjd": 1.0}, {"ra": 0.01, "dec": 0.02, "mjd": 2.0}])
    ra, dec = track.at(1.5)
    assert ra == pytest.approx(0.0, abs=1e-9) or ra == pytest.approx(360.0, abs=1e-9)
    assert dec == pytest.approx(0.01)


def test_non_sidereal_target_from_the_headers(tmp_path):
    files, truth = track_frames(tmp_path, header=True, count=3)
    bare = LocalFile(photometry_frame(tmp_path / "bare.fits", seed=9, exptime=EXPTIME), filter="rp")
    data = run_operation(NonSiderealAperturePhotometry, tmp_path, {"input_files": [*files, bare]}).data[0]
    rows = data["light_curve"]
    assert [row["fits_path"] for row in rows] == ["t0", "t1", "t2"]
    for row, (ra, dec) in zip(rows, truth, strict=True):
        assert row["target_ra"] == pytest.approx(ra, abs=1e-5) and row["target_dec"] == pytest.approx(dec, abs=1e-5)
        assert row["target_calibrated_apparent_magnitude"] == pytest.approx(TARGET_MAG, abs=0.02)
    assert data["excluded_reasons"] == {"bare": "The header has no CAT-RA/CAT-DEC to place the target."}
    # No frame with the keywords: the run fails saying why.
    with pytest.raises(OperationError, match="No frame could place the target: The header has no CAT-RA/CAT-DEC"):
        run_operation(NonSiderealAperturePhotometry, tmp_path, {"input_files": [bare]})


def test_non_sidereal_too_few_comparisons_and_outside(tmp_path):
    inside = offset_position(CENTRE, 5, 5)
    header = {"CAT-RA": inside[0], "CAT-DEC": inside[1]}
    sparse = photometry_frame(tmp_path / "s.fits", comparisons=3, target=inside, header_extra=header)
    with pytest.raises(OperationError, match="Too few comparison stars: no frame had more than 3 usable"):
        run_operation(NonSiderealAperturePhotometry, tmp_path, {"input_files": [LocalFile(sparse, filter="rp")]})
    away = photometry_frame(tmp_path / "w.fits", header_extra={"CAT-RA": 10.0, "CAT-DEC": -30.0})
    with pytest.raises(OperationError, match="lies outside every frame"):
        run_operation(NonSiderealAperturePhotometry, tmp_path, {"input_files": [LocalFile(away, filter="rp")]})


def test_pull_distribution_of_the_magnitudes(tmp_path):
    """Over 80 frames with photon and read noise, (measured - true) / uncertainty of a target at S/N ~ 30 has a
    standard deviation within 20 % of 1 (and a mean near 0): the uncertainties are honest."""
    target_mag = 18.5
    files = [
        LocalFile(
            photometry_frame(
                tmp_path / f"p{number:02d}.fits",
                target_mag=target_mag,
                gain=1.5,
                noise=5.0,
                catalog_errors=1e-4,
                seed=1000 + number,
                date_obs=(START + TimeDelta(number * 600, format="sec")).isot,
            ),
            filter="rp",
        )
        for number in range(80)
    ]
    source = {"ra": CENTRE[0], "dec": CENTRE[1]}
    data = run_operation(AperturePhotometry, tmp_path, {"input_files": files}, source=source).data[0]
    rows = data["light_curve"]
    assert len(rows) == 80
    pulls = np.array(
        [
            (row["target_calibrated_apparent_magnitude"] - target_mag)
            / row["target_calibrated_apparent_magnitude_uncertainty"]
            for row in rows
        ]
    )
    assert 0.8 <= float(np.std(pulls, ddof=1)) <= 1.2, pulls
    assert abs(float(np.mean(pulls))) < 0.4
