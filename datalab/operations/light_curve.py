"""Light Curve: the target's magnitude in each frame, read from the frames' source catalogues."""

import datetime
import logging
import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time, TimeDelta
from astropy.wcs import WCS, FITSFixedWarning

from datalab.operations.base import InputError, Operation, OperationError, fits_input, source_input

logger = logging.getLogger(__name__)

FILTER_OPTIONS = ("rp", "ip", "gp", "zs")
MATCH_RADIUS_ARCSEC = 4.0
# 2.5 / ln(10): the magnitude error of a flux with a small relative error.
MAG_PER_RELATIVE_FLUX = 1.0857

NO_PHOTOMETRY = "No extractable photometry found for this source."
NO_CATALOG = "The image has no source catalogue (CAT)."
NOT_CALIBRATED = "The catalogue has no calibrated magnitude, while other frames have one."
NON_FINITE = "The matched source has no finite magnitude."
NO_SKY_POSITIONS = "The catalogue has no RA/Dec and the image no WCS to place its sources."
NO_TIME = "Neither the header nor the archive gives the observation time."


def photometry_input(*, minimum: int):
    return fits_input(
        "input_files",
        "Input Files",
        "Frames of the target, all in one filter, each with its source catalogue.",
        minimum=minimum,
        maximum=999,
        single_filter=True,
        filter_options=list(FILTER_OPTIONS),
    )


def _item_value(item: Any, key: str) -> Any:
    # Submission checks pass the stored items (dicts); resolved inputs are objects with the same attributes.
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def check_filters(operation_name: str, items: Sequence[Any]) -> None:
    """One allowed filter for every file: a light curve across bands would mix unrelated magnitudes."""
    for item in items:
        band = _item_value(item, "filter")
        if band not in FILTER_OPTIONS:
            shown = f"filter {band}" if band else "no filter"
            raise InputError(
                f"{operation_name} takes frames in {', '.join(FILTER_OPTIONS)} only, "
                f"but {_item_value(item, 'basename')} has {shown}.",
                "input_files",
            )
    bands = sorted({_item_value(item, "filter") for item in items})
    if len(bands) > 1:
        raise InputError(
            f"{operation_name} needs one filter for all input files, but got {', '.join(bands)}.", "input_files"
        )


@dataclass
class Catalog:
    """The columns of a frame's `CAT` table that photometry needs, as float arrays (None when absent)."""

    x: np.ndarray | None
    y: np.ndarray | None
    ra: np.ndarray | None
    dec: np.ndarray | None
    flux: np.ndarray | None
    fluxerr: np.ndarray | None
    mag: np.ndarray | None
    magerr: np.ndarray | None

    @property
    def calibrated(self) -> bool:
        return self.mag is not None and self.magerr is not None


def _science_header(hdul: fits.HDUList) -> fits.Header | None:
    if "SCI" in hdul:
        return hdul["SCI"].header
    for hdu in hdul:
        if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and hdu.header.get("NAXIS") == 2:
            return hdu.header
    return None


def _catalog(hdul: fits.HDUList) -> Catalog | None:
    if "CAT" not in hdul or not isinstance(hdul["CAT"], fits.BinTableHDU):
        return None
    table = hdul["CAT"]
    data = table.data
    names = {name.lower(): name for name in table.columns.names}

    def column(key: str) -> np.ndarray | None:
        if key not in names:
            return None
        if data is None:
            return np.empty(0)
        return np.array(data[names[key]], dtype=float)

    return Catalog(*(column(key) for key in ("x", "y", "ra", "dec", "flux", "fluxerr", "mag", "magerr")))


def read_frame(path) -> tuple[fits.Header, Catalog | None]:
    """The science header (the `SCI` HDU, else the first 2-D image) and the `CAT` table, without reading pixels."""
    with fits.open(path) as hdul:
        header = _science_header(hdul)
        catalog = _catalog(hdul)
        header = header.copy() if header is not None else hdul[0].header.copy()
    return header, catalog


def _header_float(header: fits.Header, key: str) -> float | None:
    try:
        value = float(header[key])
    except (KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def mid_exposure(header: fits.Header, observation_date: Any) -> Time | None:
    """Mid-exposure time (UTC) from the header: MJD-OBS, else DATE-OBS, each the start of the exposure, plus half of
    EXPTIME. Without either, the archive's observation date as it is (the frame's only time we know)."""
    start = None
    mjd = _header_float(header, "MJD-OBS")
    if mjd is not None:
        start = Time(mjd, format="mjd", scale="utc")
    elif isinstance(header.get("DATE-OBS"), str) and header["DATE-OBS"].strip():
        try:
            start = Time(header["DATE-OBS"].strip().rstrip("Z"), scale="utc")
        except ValueError:
            start = None
    if start is not None:
        exposure = _header_float(header, "EXPTIME") or 0.0
        return start + TimeDelta(exposure / 2, format="sec")
    return _archive_time(observation_date)


def _archive_time(value: Any) -> Time | None:
    if isinstance(value, str) and value.strip():
        try:
            value = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, datetime.datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return Time(value, scale="utc")


def catalog_positions(catalog: Catalog, header: fits.Header) -> SkyCoord | None:
    """Sky positions of the catalogue's sources: its own RA/Dec, else its 1-based x, y through the header's WCS."""
    if catalog.ra is not None and catalog.dec is not None:
        return SkyCoord(catalog.ra * u.deg, catalog.dec * u.deg)
    if catalog.x is None or catalog.y is None:
        return None
    with warnings.catch_warnings():
        # Archive headers often carry non-standard date or unit cards astropy rewrites; they do not affect the WCS.
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header)
        except (ValueError, KeyError, MemoryError):
            return None
    if not wcs.has_celestial:
        return None
    return wcs.celestial.pixel_to_world(catalog.x - 1, catalog.y - 1)


@dataclass
class Measurement:
    """One frame's match to the target: the matched row's values, or the reason the frame has none."""

    basename: str
    filter: str | None
    time: Time | None = None
    calibrated: bool = False
    mag: float = math.nan
    magerr: float = math.nan
    flux: float = math.nan
    fluxerr: float = math.nan
    reason: str | None = None


def _row_value(column: np.ndarray | None, index: int) -> float:
    return float(column[index]) if column is not None else math.nan


def measure_frame(file: Any, target: SkyCoord) -> Measurement:
    """The catalogue source nearest to the target within the match radius, and the frame's mid-exposure time."""
    try:
        header, catalog = read_frame(file.path)
    except (OSError, ValueError) as error:
        logger.warning("Could not read %s for photometry: %s", file.basename, error)
        return Measurement(file.basename, file.filter, reason=f"The file could not be read: {error}")
    measurement = Measurement(file.basename, file.filter or header.get("FILTER") or None)
    measurement.time = mid_exposure(header, file.observation_date)
    if measurement.time is None:
        measurement.reason = NO_TIME
        return measurement
    if catalog is None:
        measurement.reason = NO_CATALOG
        return measurement
    positions = catalog_positions(catalog, header)
    if positions is None:
        measurement.reason = NO_SKY_POSITIONS
        return measurement
    finite = np.flatnonzero(np.isfinite(positions.spherical.lon.deg) & np.isfinite(positions.spherical.lat.deg))
    if finite.size == 0:
        measurement.reason = f"No catalogue source within {MATCH_RADIUS_ARCSEC} arcsec of the target."
        return measurement
    # Matched as a one-element array: a scalar target comes back with arrays of varying shape.
    nearest, separation, _ = target.reshape((1,)).match_to_catalog_sky(positions[finite])
    separation_arcsec = float(separation[0].to_value(u.arcsec))
    if separation_arcsec > MATCH_RADIUS_ARCSEC:
        measurement.reason = (
            f"No catalogue source within {MATCH_RADIUS_ARCSEC} arcsec of the target "
            f"(the nearest is {separation_arcsec:.1f} arcsec away)."
        )
        return measurement
    row = int(finite[int(nearest[0])])
    measurement.calibrated = catalog.calibrated
    measurement.mag = _row_value(catalog.mag, row)
    measurement.magerr = _row_value(catalog.magerr, row)
    measurement.flux = _row_value(catalog.flux, row)
    measurement.fluxerr = _row_value(catalog.fluxerr, row)
    return measurement


def json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def target_of(params: dict) -> tuple[dict, SkyCoord]:
    source = params.get("source")
    try:
        ra, dec = float(source["ra"]), float(source["dec"])
    except (TypeError, KeyError, ValueError):
        raise OperationError("The source needs an RA and a Dec in degrees.") from None
    if not (math.isfinite(ra) and math.isfinite(dec) and -90 <= dec <= 90):
        raise OperationError("The source needs an RA and a Dec in degrees.")
    described: dict[str, Any] = {"ra": ra, "dec": dec}
    if source.get("name"):
        described["name"] = str(source["name"])
    return described, SkyCoord(ra * u.deg, dec * u.deg)


def light_curve(ctx, *, progress_until: float) -> dict:
    """The light curve of the source in `ctx.params` over the `input_files`, reporting progress up to
    `progress_until`; OperationError when no frame gives a magnitude."""
    source, target = target_of(ctx.params)
    files = ctx.files("input_files")
    count = len(files)
    measurements = []
    for number, file in enumerate(files, start=1):
        ctx.progress(progress_until * number / count, f"Measuring frame {number} of {count}")
        measurements.append(measure_frame(file, target))

    matched = [m for m in measurements if m.reason is None]
    # Calibrated and instrumental magnitudes differ by a zero point per frame, so they never share one curve: the
    # instrumental ones are used only when no frame could be calibrated.
    flux_fallback = not any(m.calibrated and math.isfinite(m.mag) for m in matched)
    for m in matched:
        if flux_fallback:
            if math.isfinite(m.flux) and m.flux > 0:
                m.mag = -2.5 * math.log10(m.flux)
                m.magerr = MAG_PER_RELATIVE_FLUX * m.fluxerr / m.flux
            else:
                m.reason = NON_FINITE
        elif not m.calibrated:
            m.reason = NOT_CALIBRATED
        elif not math.isfinite(m.mag):
            m.reason = NON_FINITE

    rows = [m for m in measurements if m.reason is None]
    if not rows:
        raise OperationError(NO_PHOTOMETRY)
    rows.sort(key=lambda m: (m.time.utc.jd, m.basename))
    bands = Counter(m.filter for m in rows if m.filter)
    return {
        "target_coords": dict(source),
        "source": dict(source),
        "filter": bands.most_common(1)[0][0] if bands else None,
        "flux_fallback": flux_fallback,
        "light_curve": [
            {
                "basename": m.basename,
                "observation_date": m.time.utc.isot + "Z",
                "julian_date": float(m.time.utc.jd),
                "mag": float(m.mag),
                "magerr": json_float(m.magerr),
            }
            for m in rows
        ],
        "excluded_images": [m.basename for m in measurements if m.reason is not None],
        "excluded_reasons": {m.basename: m.reason for m in measurements if m.reason is not None},
    }


class LightCurve(Operation):
    name = "Light Curve"
    version = 1
    description = (
        "Plots the target's magnitude against time: in each frame, the source of the frame's catalogue nearest to "
        f"the target within {MATCH_RADIUS_ARCSEC:g} arcsec, at mid-exposure. Frames must share one filter; frames "
        "without a match are listed with the reason."
    )
    menu_order = 60
    inputs = (source_input(), photometry_input(minimum=1))
    archive_only_inputs = ("input_files",)

    @classmethod
    def validate(cls, params: dict, files: Mapping[str, list]) -> None:
        check_filters(cls.name, files.get("input_files", []))

    def run(self, ctx) -> None:
        data = light_curve(ctx, progress_until=0.95)
        ctx.set_data(data)
        ctx.progress(1.0, "Light curve complete")
