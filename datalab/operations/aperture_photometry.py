"""Aperture Photometry: the target's calibrated magnitude in each frame, measured in a circular aperture with a local
background annulus (photutils), and calibrated against comparison stars of the frame's own source catalogue.

The measurement is shared by the family: this fixed-target operation, Non-Sidereal Aperture Photometry (the target's
position from each frame's header) and Moving Target Aperture Photometry (a fitted track, searched around). They
differ only in where the target is in a frame (`AperturePhotometry.locator`) and what the output says about it."""

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.stats import SigmaClip, mad_std
from astropy.time import Time
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture
from photutils.centroids import centroid_com, centroid_sources
from scipy.ndimage import uniform_filter

from datalab.operations.base import InputError, InputSpec, Operation, OperationError, source_input
from datalab.operations.imaging import read_science, usable_wcs
from datalab.operations.light_curve import (
    MAG_PER_RELATIVE_FLUX,
    Catalog,
    _catalog,
    check_filters,
    json_float,
    mid_exposure,
    photometry_input,
    target_of,
)
from datalab.operations.variable_star import MINIMUM_POINTS, periodogram

logger = logging.getLogger(__name__)

APERTURE_ARCSEC, ANNULUS_INNER_ARCSEC, ANNULUS_OUTER_ARCSEC = 7.64, 12.73, 19.10
MIN_COMPARISONS, MAX_COMPARISONS = 5, 10
# A star whose peak reaches this fraction of the header's SATURATE level is not used as a comparison.
SATURATION_FRACTION = 0.9
# The centroid may move the aperture by at most this fraction of its radius from the WCS position.
CENTROID_SHIFT_LIMIT = 0.5
VALIDATION_HEADER = "comparison star identifier | ra | dec | flux | catalog flux | mag | catalog mag"
VALIDATION_ROW = "comparison-star validation row:"


def _radius_input(key: str, name: str, default: float, description: str) -> InputSpec:
    return InputSpec(key, name, description, "float", minimum=0.1, maximum=600.0, default=default)


def _count_input(key: str, name: str, default: int, description: str) -> InputSpec:
    return InputSpec(key, name, description, "int", minimum=1, maximum=100, default=default)


class FrameExcluded(Exception):
    """The target cannot be placed in this frame; the message is the frame's exclusion reason."""


# Where the target is in a frame, (ra, dec) in degrees, from the science header and the mid-exposure time; raises
# FrameExcluded when the frame does not say.
Locate = Callable[[fits.Header, Time], tuple[float, float]]


# The inputs of every operation of the family, after its own way of giving the target.
MEASUREMENT_INPUTS = (
    photometry_input(minimum=1),
    _radius_input("aperture_radius", "Aperture Radius", APERTURE_ARCSEC, "Radius of the source aperture (arcsec)."),
    _radius_input(
        "annulus_inner_radius", "Annulus Inner Radius", ANNULUS_INNER_ARCSEC, "Inner radius of the sky annulus."
    ),
    _radius_input(
        "annulus_outer_radius", "Annulus Outer Radius", ANNULUS_OUTER_ARCSEC, "Outer radius of the sky annulus."
    ),
    _count_input("min_comparisons", "Minimum Comparisons", MIN_COMPARISONS, "Fewest comparison stars per frame."),
    _count_input("max_comparisons", "Maximum Comparisons", MAX_COMPARISONS, "Most comparison stars per frame."),
)


@dataclass
class Aperture:
    """Radii in pixels of one frame."""

    radius: float
    inner: float
    outer: float


@dataclass
class Measured:
    """Background-subtracted counts in the aperture at 0-based pixel positions, with their uncertainties."""

    x: np.ndarray
    y: np.ndarray
    counts: np.ndarray
    error: np.ndarray
    peak: np.ndarray
    complete: np.ndarray  # the aperture lies inside the image with no masked pixel


@dataclass
class FrameResult:
    basename: str
    diagnostics: list[str] = field(default_factory=list)
    row: dict | None = None
    reason: str | None = None
    comparisons_found: int = 0
    target_inside: bool = False
    target_placed: bool = False  # the frame told where the target is (inside it or not)


def pixel_radii(wcs: WCS, params: Mapping[str, Any]) -> Aperture:
    scale_arcsec = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600
    return Aperture(
        float(params["aperture_radius"]) / scale_arcsec,
        float(params["annulus_inner_radius"]) / scale_arcsec,
        float(params["annulus_outer_radius"]) / scale_arcsec,
    )


def measure(data: np.ndarray, x: np.ndarray, y: np.ndarray, radii: Aperture, gain: float) -> Measured:
    """Aperture sums less the sigma-clipped median of each annulus, with the CCD equation's uncertainty: photon noise
    of the source plus the sky's scatter over the aperture and the uncertainty of the sky level itself (a median's)."""
    bad = ~np.isfinite(data)
    positions = np.column_stack([x, y])
    aperture = CircularAperture(positions, r=radii.radius)
    annulus = CircularAnnulus(positions, r_in=radii.inner, r_out=radii.outer)
    sky = ApertureStats(data, annulus, mask=bad, sigma_clip=SigmaClip(sigma=3.0, maxiters=10))
    sky_level = np.atleast_1d(np.asarray(sky.median, dtype=float))
    sky_sigma = np.atleast_1d(np.asarray(sky.std, dtype=float))
    sky_pixels = np.atleast_1d(np.asarray(_value(sky.sum_aper_area), dtype=float))
    stats = ApertureStats(data, aperture, mask=bad, local_bkg=np.nan_to_num(sky_level))
    counts = np.atleast_1d(np.asarray(stats.sum, dtype=float))
    area = np.atleast_1d(np.asarray(_value(stats.sum_aper_area), dtype=float))
    full_area = math.pi * radii.radius**2
    # The sky level is a median: its variance is pi/2 times that of a mean of the same pixels.
    variance = (
        np.clip(counts, 0, None) / gain
        + area * sky_sigma**2
        + area**2 * sky_sigma**2 * (math.pi / 2) / np.maximum(sky_pixels, 1)
    )
    peak = np.atleast_1d(np.asarray(stats.max, dtype=float)) + sky_level
    complete = np.isclose(area, full_area, rtol=1e-3) & np.isfinite(sky_level) & (sky_pixels > 0)
    return Measured(x, y, counts, np.sqrt(variance), peak, complete)


def _value(quantity: Any) -> Any:
    return getattr(quantity, "value", quantity)


def centroided(data: np.ndarray, x: np.ndarray, y: np.ndarray, radii: Aperture) -> tuple[np.ndarray, np.ndarray]:
    """Centre-of-light positions near the predicted ones (a box as wide as the aperture, over the image less its
    median); a position that moves more than half the aperture radius, or fails, stays where the WCS put it."""
    box = max(5, 2 * math.ceil(radii.radius) + 1)
    finite = np.isfinite(data)
    residual = np.where(finite, data - np.nanmedian(data), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sources near an edge or without light warn; they keep their positions
        cx, cy = centroid_sources(residual, x, y, box_size=box, mask=~finite, centroid_func=centroid_com)
    shift = np.hypot(cx - x, cy - y)
    keep = ~np.isfinite(shift) | (shift > CENTROID_SHIFT_LIMIT * radii.radius)
    return np.where(keep, x, cx), np.where(keep, y, cy)


def catalog_pixels(catalog: Catalog, wcs: WCS) -> tuple[np.ndarray, np.ndarray] | None:
    """0-based pixel positions of the catalogue's sources: its RA/Dec through the WCS, else its 1-based x, y."""
    if catalog.ra is not None and catalog.dec is not None:
        x, y = wcs.world_to_pixel_values(catalog.ra, catalog.dec)
        return np.asarray(x, float), np.asarray(y, float)
    if catalog.x is not None and catalog.y is not None:
        return catalog.x - 1, catalog.y - 1
    return None


def _inside(x: np.ndarray, y: np.ndarray, shape: tuple[int, ...], margin: float) -> np.ndarray:
    height, width = shape
    return (x - margin >= -0.5) & (x + margin <= width - 0.5) & (y - margin >= -0.5) & (y + margin <= height - 0.5)


def _header_number(header, key: str, default: float | None) -> float | None:
    try:
        value = float(header[key])
    except (KeyError, TypeError, ValueError):
        return default
    return value if math.isfinite(value) and value > 0 else default


def searched(data: np.ndarray, x: float, y: float, radius_px: float, radii: Aperture) -> tuple[float, float]:
    """The brightest aperture-sized patch of light above the local sky within `radius_px` of the predicted (x, y):
    where a moving target is when its track is known only roughly. The prediction when there is no light."""
    height, width = data.shape
    reach = math.ceil(radius_px + radii.radius) + 1
    left, right = max(0, math.floor(x) - reach), min(width, math.floor(x) + reach + 2)
    bottom, top = max(0, math.floor(y) - reach), min(height, math.floor(y) + reach + 2)
    window = data[bottom:top, left:right]
    finite = np.isfinite(window)
    if not finite.any():
        return x, y
    residual = np.where(finite, window - np.nanmedian(window), 0.0)
    smoothed = uniform_filter(residual, size=max(3, 2 * math.ceil(radii.radius / 2) + 1), mode="constant")
    rows, columns = np.mgrid[bottom:top, left:right]
    smoothed[np.hypot(columns - x, rows - y) > radius_px] = -np.inf
    row, column = np.unravel_index(int(np.argmax(smoothed)), smoothed.shape)
    if not smoothed[row, column] > 0:
        return x, y
    return float(column + left), float(row + bottom)


def measure_frame(file: Any, locate: Locate, params: Mapping[str, Any], search_arcsec: float = 0.0) -> FrameResult:
    """One frame: the target (placed by `locate`, searched for within `search_arcsec` when given) and its comparison
    stars measured, the zero point fitted, the target calibrated."""
    result = FrameResult(file.basename)
    notes = result.diagnostics
    try:
        data, header, _ = read_science(file.path, basename=file.basename)
    except OperationError as error:
        result.reason = str(error)
        return result
    wcs = usable_wcs(header)
    if wcs is None:
        result.reason = "The frame has no usable WCS to place the target."
        return result
    radii = pixel_radii(wcs, params)
    scale_arcsec = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600
    notes.append(
        f"Aperture radius {radii.radius:.2f} px, sky annulus {radii.inner:.2f} to {radii.outer:.2f} px "
        f"({scale_arcsec:.3f} arcsec per pixel)."
    )
    time = mid_exposure(header, file.observation_date)
    if time is None:
        result.reason = "Neither the header nor the archive gives the observation time."
        return result
    try:
        ra, dec = locate(header, time)
    except FrameExcluded as excluded:
        result.reason = str(excluded)
        return result
    result.target_placed = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        tx, ty = (float(v) for v in wcs.world_to_pixel_values(ra, dec))
        back_ra, back_dec = (float(v) for v in wcs.pixel_to_world_values(tx, ty))
    roundtrip = math.isfinite(back_ra) and abs(((back_ra - ra + 180) % 360) - 180) < 1e-6 and abs(back_dec - dec) < 1e-6
    if not (roundtrip and _inside(np.array([tx]), np.array([ty]), data.shape, radii.radius)[0]):
        result.reason = "The target's aperture does not lie inside the frame."
        return result
    result.target_inside = True
    if search_arcsec > 0:
        found = searched(data, tx, ty, search_arcsec / scale_arcsec, radii)
        notes.append(
            f"Target predicted at RA {ra:.6f}, Dec {dec:.6f} (pixel {tx + 1:.2f}, {ty + 1:.2f}); the brightest light "
            f"within {search_arcsec:g} arcsec is at pixel {found[0] + 1:.2f}, {found[1] + 1:.2f}."
        )
        if not _inside(np.array([found[0]]), np.array([found[1]]), data.shape, radii.radius)[0]:
            result.reason = "The target's aperture does not lie inside the frame."
            return result
        tx, ty = found

    catalog = _catalog_of(file.path)
    if catalog is None or not catalog.calibrated:
        result.reason = "The frame has no source catalogue (CAT) with calibrated magnitudes for comparison stars."
        return result
    pixels = catalog_pixels(catalog, wcs)
    if pixels is None:
        result.reason = "The catalogue has neither RA/Dec nor x, y to place its sources."
        return result
    gain = _header_number(header, "GAIN", 1.0) or 1.0
    saturation = _header_number(header, "SATURATE", None)

    [tx_c], [ty_c] = centroided(data, np.array([tx]), np.array([ty]), radii)
    target = measure(data, np.array([tx_c]), np.array([ty_c]), radii, gain)
    if not target.complete[0] or not math.isfinite(target.counts[0]):
        result.reason = "The target's aperture or sky annulus has no valid pixels."
        return result
    if target.counts[0] <= 0:
        result.reason = "No light above the sky in the target's aperture."
        return result

    comparisons = _comparisons(data, catalog, pixels, (tx_c, ty_c), radii, gain, saturation, notes)
    chosen = comparisons[: int(params["max_comparisons"])]
    result.comparisons_found = len(chosen)
    if len(chosen) < int(params["min_comparisons"]):
        result.reason = (
            f"Only {len(chosen)} usable comparison star(s) in the frame; at least {int(params['min_comparisons'])} "
            "are needed."
        )
        return result

    # Zero point per comparison star; a star off the median by more than 3 sigma (its own measurement and
    # catalogue errors, or the stars' robust scatter when larger) is left out: a variable, a blend, a bad catalogue row.
    zero_points = np.array([c["catalog_mag"] + 2.5 * math.log10(c["counts"]) for c in chosen])
    expected = np.array(
        [math.hypot(MAG_PER_RELATIVE_FLUX * c["error"] / c["counts"], c["catalog_magerr"]) for c in chosen]
    )
    scatter = float(mad_std(zero_points)) if len(chosen) >= 3 else 0.0
    outlier = np.abs(zero_points - np.median(zero_points)) > 3 * np.maximum(expected, scatter)
    if len(chosen) - np.count_nonzero(outlier) < int(params["min_comparisons"]):
        outlier[:] = False
    used = [c for c, out in zip(chosen, outlier, strict=True) if not out]
    ensemble_counts = sum(c["counts"] for c in used)
    ensemble_error = math.sqrt(sum(c["error"] ** 2 for c in used))
    ensemble_catalog_flux = sum(10 ** (-0.4 * c["catalog_mag"]) for c in used)
    ensemble_mag = -2.5 * math.log10(ensemble_catalog_flux)
    zero_point = ensemble_mag + 2.5 * math.log10(ensemble_counts)
    # The catalogue's own errors, weighted by each star's share of the ensemble, and the stars' scatter about it.
    catalog_term = math.sqrt(
        sum((10 ** (-0.4 * c["catalog_mag"]) / ensemble_catalog_flux * c["catalog_magerr"]) ** 2 for c in used)
    )
    used_zero_points = np.array([c["catalog_mag"] + 2.5 * math.log10(c["counts"]) for c in used])
    scatter_term = float(np.std(used_zero_points, ddof=1) / math.sqrt(len(used))) if len(used) > 1 else 0.0
    zero_point_error = math.sqrt(
        (MAG_PER_RELATIVE_FLUX * ensemble_error / ensemble_counts) ** 2 + max(catalog_term, scatter_term) ** 2
    )

    counts, error = float(target.counts[0]), float(target.error[0])
    ratio = counts / ensemble_counts
    ratio_error = ratio * math.hypot(error / counts, ensemble_error / ensemble_counts)
    magnitude = zero_point - 2.5 * math.log10(counts)
    magnitude_error = math.hypot(MAG_PER_RELATIVE_FLUX * error / counts, zero_point_error)

    notes.append(VALIDATION_HEADER)
    for c in chosen:
        in_use = any(c is u for u in used)
        notes.append(
            f"{VALIDATION_ROW} {c['identifier']} | {c['ra']:.6f} | {c['dec']:.6f} | {c['counts']:.1f} | "
            f"{10 ** (-0.4 * (c['catalog_mag'] - zero_point)):.1f} | "
            f"{zero_point - 2.5 * math.log10(c['counts']):.4f} | {c['catalog_mag']:.4f}"
        )
        if not in_use:
            notes.append(f"{c['identifier']} was left out: its zero point is more than 3 sigma off the others'.")
    notes.append(
        f"Zero point {zero_point:.4f} +/- {zero_point_error:.4f} mag from {len(used)} comparison star(s)"
        f" of {len(comparisons)} usable."
    )
    utc = time.utc
    result.row = {
        "fits_path": file.basename,
        "basename": file.basename,
        "date_obs": utc.isot + "Z",
        "julian_date": float(utc.jd),
        # Edge coordinates: the lower-left corner of the first pixel is (0, 0).
        "target_centroid_x": tx_c + 0.5,
        "target_centroid_y": ty_c + 0.5,
        "target_ra": ra,
        "target_dec": dec,
        "target_net_source_counts": counts,
        "target_source_uncertainty": error,
        "comparison_ensemble_total_counts": ensemble_counts,
        "comparison_ensemble_uncertainty": ensemble_error,
        "comparison_stars": len(used),
        "target_differential_flux": ratio,
        "target_differential_flux_uncertainty": ratio_error,
        "zero_point": zero_point,
        "zero_point_uncertainty": zero_point_error,
        "target_calibrated_apparent_magnitude": magnitude,
        "target_calibrated_apparent_magnitude_uncertainty": magnitude_error,
    }
    return result


def _catalog_of(path) -> Catalog | None:
    with fits.open(path) as hdul:
        return _catalog(hdul)


def _comparisons(
    data: np.ndarray,
    catalog: Catalog,
    pixels: tuple[np.ndarray, np.ndarray],
    target: tuple[float, float],
    radii: Aperture,
    gain: float,
    saturation: float | None,
    notes: list[str],
) -> list[dict]:
    """The catalogue's usable comparison stars, brightest first: a calibrated magnitude, the aperture and annulus
    inside the frame, clear of the target's and of every other source's aperture, measured with valid pixels,
    unsaturated."""
    x, y = pixels
    mag, magerr = catalog.mag, catalog.magerr
    assert mag is not None and magerr is not None
    candidates = np.isfinite(x) & np.isfinite(y) & np.isfinite(mag) & np.isfinite(magerr) & (magerr > 0)
    candidates &= _inside(x, y, data.shape, radii.outer)
    candidates &= np.hypot(x - target[0], y - target[1]) > radii.outer + radii.radius
    # Isolated: no other catalogued source within the sky annulus' outer radius.
    finite = np.isfinite(x) & np.isfinite(y)
    for index in np.flatnonzero(candidates):
        distance = np.hypot(x[finite] - x[index], y[finite] - y[index])
        if np.count_nonzero(distance < radii.outer) > 1:
            candidates[index] = False
    indices = np.flatnonzero(candidates)
    indices = indices[np.argsort(mag[indices], kind="stable")]
    if indices.size == 0:
        return []
    cx, cy = centroided(data, x[indices], y[indices], radii)
    measured = measure(data, cx, cy, radii, gain)
    ras, decs = _sky(catalog, indices)
    chosen = []
    saturated = invalid = 0
    for slot, index in enumerate(indices):
        if not measured.complete[slot] or not (measured.counts[slot] > 0):
            invalid += 1
            continue
        if saturation is not None and measured.peak[slot] >= SATURATION_FRACTION * saturation:
            saturated += 1
            continue
        chosen.append(
            {
                "identifier": f"CAT {int(index) + 1}",
                "ra": ras[slot],
                "dec": decs[slot],
                "counts": float(measured.counts[slot]),
                "error": float(measured.error[slot]),
                "catalog_mag": float(mag[index]),
                "catalog_magerr": float(magerr[index]),
            }
        )
    notes.append(
        f"{indices.size} isolated catalogued star(s) with calibrated magnitudes; {saturated} saturated and {invalid} "
        "without valid pixels or light left out."
    )
    return chosen


def _sky(catalog: Catalog, indices: np.ndarray) -> tuple[list[float], list[float]]:
    if catalog.ra is not None and catalog.dec is not None:
        return [float(v) for v in catalog.ra[indices]], [float(v) for v in catalog.dec[indices]]
    return [math.nan] * indices.size, [math.nan] * indices.size


def period_fields(rows: list[dict], notes: list[str]) -> dict:
    """The Variable Star operation's period fields over the calibrated light curve, None when it is too short or
    the search fails (the photometry stands on its own)."""
    empty: dict[str, Any] = {"period": None, "fap": None, "frequency": [], "power": [], "period_candidates": []}
    points = [
        row
        for row in rows
        if math.isfinite(row["target_calibrated_apparent_magnitude"])
        and row["target_calibrated_apparent_magnitude_uncertainty"] > 0
    ]
    if len(points) < MINIMUM_POINTS:
        notes.append(f"No period search: it needs at least {MINIMUM_POINTS} measured frames, not {len(points)}.")
        return empty
    try:
        result = periodogram(
            np.array([row["julian_date"] for row in points]),
            np.array([row["target_calibrated_apparent_magnitude"] for row in points]),
            np.array([row["target_calibrated_apparent_magnitude_uncertainty"] for row in points]),
        )
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
        notes.append(f"Period search failed: {error}")
        return empty
    return {
        "period": json_float(result.period),
        "fap": json_float(result.fap),
        "frequency": [json_float(value) for value in result.frequency],
        "power": [json_float(value) for value in result.power],
        "period_candidates": [
            {key: json_float(value) if isinstance(value, float) else value for key, value in candidate.items()}
            for candidate in result.candidates
        ],
    }


class AperturePhotometry(Operation):
    name = "Aperture Photometry"
    version = 2
    description = (
        "Measures the target in a circular aperture with a local sky annulus in every frame and calibrates it "
        "against comparison stars of the frame's source catalogue (an ensemble of the brightest isolated, "
        "unsaturated ones). Frames must share one filter; radii are in arcseconds."
    )
    menu_order = 80
    inputs = (source_input(), *MEASUREMENT_INPUTS)
    archive_only_inputs = ("input_files",)

    @classmethod
    def normalise_params(cls, params: dict) -> dict:
        """`target_positions` (a position object, or a list of one) is another spelling of `source`."""
        if "target_positions" not in params:
            return params
        positions = params.pop("target_positions")
        if isinstance(positions, list):
            if len(positions) != 1:
                raise InputError(
                    f"{cls.name} follows one fixed target: give one position in target_positions (or a source), "
                    f"not {len(positions)}.",
                    "target_positions",
                )
            positions = positions[0]
        if params.get("source") not in (None, "", positions):
            raise InputError("Give the target once: as source or as target_positions, not both.", "target_positions")
        params["source"] = positions
        return params

    @classmethod
    def validate(cls, params: dict, files: Mapping[str, list]) -> None:
        check_filters(cls.name, files.get("input_files", []))
        aperture, inner, outer = (
            float(params[key]) for key in ("aperture_radius", "annulus_inner_radius", "annulus_outer_radius")
        )
        if not aperture <= inner < outer:
            raise InputError(
                "The radii must grow outwards: aperture_radius <= annulus_inner_radius < annulus_outer_radius, "
                f"not {aperture:g}, {inner:g}, {outer:g}.",
                "annulus_inner_radius",
            )
        if int(params["min_comparisons"]) > int(params["max_comparisons"]):
            raise InputError(
                f"min_comparisons ({params['min_comparisons']}) may not exceed max_comparisons "
                f"({params['max_comparisons']}).",
                "min_comparisons",
            )

    def locator(self, ctx) -> tuple[dict, Locate]:
        """What the output says about the target, and where it is in each frame: here a fixed position."""
        source, target = target_of(ctx.params)
        position = (float(target.ra.deg), float(target.dec.deg))
        return {"target_coords": dict(source), "source": dict(source)}, lambda header, time: position

    def search_radius(self, ctx) -> float:
        """Arcseconds around the predicted position to search for the target (0: the centroid alone)."""
        return 0.0

    def outside_message(self, described: dict) -> str:
        source = described["source"]
        return (
            f"The target (RA {source['ra']:.5f}, Dec {source['dec']:.5f}) is outside every frame, or too near "
            "an edge for the aperture: check its coordinates, or choose frames that cover it."
        )

    def run(self, ctx) -> None:
        described, locate = self.locator(ctx)
        search = self.search_radius(ctx)
        files = ctx.files("input_files")
        results = []
        for number, file in enumerate(files, start=1):
            ctx.progress(0.9 * (number - 1) / len(files), f"Measuring frame {number} of {len(files)}")
            results.append(measure_frame(file, locate, ctx.params, search))
        ctx.progress(0.9, "Calibrated every frame")

        rows = sorted(
            (r.row for r in results if r.row is not None), key=lambda row: (row["julian_date"], row["fits_path"])
        )
        if not rows:
            raise OperationError(self._nothing_measured(results, described))
        excluded = [r for r in results if r.row is None]
        pipeline = [
            f"Measured {len(rows)} of {len(files)} frame(s) with an aperture of {ctx.params['aperture_radius']:g} "
            f"arcsec and a sky annulus of {ctx.params['annulus_inner_radius']:g} to "
            f"{ctx.params['annulus_outer_radius']:g} arcsec, {ctx.params['min_comparisons']} to "
            f"{ctx.params['max_comparisons']} comparison stars per frame."
        ]
        pipeline += [f"{r.basename}: {r.reason}" for r in excluded]
        periods = period_fields(rows, pipeline)
        bands = sorted({f.filter for f in files if f.filter})
        data = {
            **described,
            "filter": bands[0] if len(bands) == 1 else None,
            "aperture_radius": float(ctx.params["aperture_radius"]),
            "annulus_inner_radius": float(ctx.params["annulus_inner_radius"]),
            "annulus_outer_radius": float(ctx.params["annulus_outer_radius"]),
            "light_curve": [{key: _json(value) for key, value in row.items()} for row in rows],
            "excluded_images": [r.basename for r in excluded],
            "excluded_reasons": {r.basename: r.reason for r in excluded},
            "diagnostics": {r.basename: r.diagnostics + ([r.reason] if r.reason else []) for r in results},
            "pipeline_diagnostics": pipeline,
            **periods,
        }
        ctx.set_data(data)
        ctx.progress(1.0, f"{self.name} complete")

    def _nothing_measured(self, results: list[FrameResult], described: dict) -> str:
        if not any(r.target_inside for r in results):
            unplaced = [r for r in results if not r.target_placed]
            if unplaced and len(unplaced) == len(results) and unplaced[0].reason:
                return "No frame could place the target: " + " ".join(sorted({r.reason or "" for r in unplaced}))
            return self.outside_message(described)
        best = max(r.comparisons_found for r in results)
        if any(r.reason and r.reason.startswith("Only ") for r in results):
            return (
                f"Too few comparison stars: no frame had more than {best} usable. Lower min_comparisons, use a "
                "smaller sky annulus, or choose frames with more catalogued stars around the target."
            )
        reasons = sorted({r.reason for r in results if r.reason})
        return "No frame could be measured: " + " ".join(reasons)


def _json(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return json_float(float(value))
    return value
